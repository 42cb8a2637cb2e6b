//! Keepalive: every 55–65 minutes (the first time after 1–10), sends a random short message
//! through the first `ready` session whose WhatsApp state is `CONNECTED`, to the number in
//! `[behaviours.keepalive.params] to`. With no such session it skips with a warning.
//!
//! `[behaviours.keepalive.params]` may set `every` (default `"55m..65m"`) and `first` (default
//! `"1m..10m"`), as the rhai keepalive does. Needs `grants = ["sessions.read", "sessions.send"]`.

use vigil_sdk::{config, every, pick, send_text, sessions, state, warn, Behaviour, TimerFire};

const MESSAGES: &[&str] = &[
    "✅ Comprobación de conexión",
    "🟢 Conexión activa",
    "👋 Sigo aquí",
    "🔄 Mantener sesión",
];

struct Keepalive;

impl Behaviour for Keepalive {
    fn init() -> Result<(), String> {
        let spec: String = config("every").unwrap_or_else(|| "55m..65m".into());
        let first: String = config("first").unwrap_or_else(|| "1m..10m".into());
        every(&spec, "keepalive", Some(&first))?;
        Ok(())
    }

    fn on_timer(handler: &str, _fire: TimerFire) -> Result<(), String> {
        match handler {
            "keepalive" => keepalive(),
            other => Err(vigil_sdk::no_handler(other)),
        }
    }
}

fn keepalive() -> Result<(), String> {
    let to: String = config("to").ok_or(
        "no target number: set it in vigil.toml under [behaviours.keepalive.params] as to = \"+34 600 000 000\"",
    )?;
    let mut through = None;
    for s in sessions()?.into_iter().filter(|s| s.status == "ready") {
        match state(&s.id, None) {
            Ok(st) if st == "CONNECTED" => {
                through = Some(s.id);
                break;
            }
            Ok(_) => {}
            Err(e) => warn(&format!("session {}: no state: {}", s.id, e.message)),
        }
    }
    let Some(id) = through else {
        warn("no ready session is CONNECTED: keepalive skipped");
        return Ok(());
    };
    let text = pick(MESSAGES).unwrap_or(MESSAGES[0]);
    send_text(&id, &to, text, None)?;
    Ok(())
}

vigil_sdk::behaviour!(Keepalive);
