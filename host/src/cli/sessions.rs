//! `vigil session …`, `vigil backup`, `vigil restore`: the sessions of a stopped host.

use super::*;

type SessionsResult<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SessionError>> + 'a>>;

/// Opens the sessions (starting none), runs `f`, closes them.
pub(super) async fn with_sessions(config: &Config, f: impl FnOnce(&SessionManager) -> SessionsResult<'_>) -> ExitCode {
    let store = match crate::store::Store::open(config.database_url.as_deref(), &config.data_dir).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::FAILURE;
        }
    };
    let records: std::sync::Arc<dyn crate::sessions::SessionRecords> = std::sync::Arc::new(store.clone());
    let manager = match SessionManager::open(config, EventBus::new(), Clock::system(), Some(records)).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = f(&manager).await;
    manager.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(super) async fn session_action(m: &SessionManager, action: SessionAction) -> Result<(), SessionError> {
    match action {
        SessionAction::Add { id, label } => {
            m.add(&id, label.as_deref()).await?;
            println!("added session `{id}`: start the host (`vigil run`) and scan its QR to link it");
        }
        SessionAction::List { json, backups } => {
            let list = m.list().await?;
            if json {
                let mut out = Vec::new();
                for s in &list {
                    let mut v = serde_json::to_value(s).expect("serializable");
                    v["in_use_by_pid"] = in_use(m, &s.id).map(Into::into).unwrap_or(serde_json::Value::Null);
                    if backups {
                        v["backups"] = serde_json::to_value(m.backups(&s.id)?).expect("serializable");
                    }
                    out.push(v);
                }
                println!("{}", serde_json::to_string_pretty(&out).expect("serializable"));
                return Ok(());
            }
            if list.is_empty() {
                println!("no sessions: add one with `vigil session add <id>`");
            }
            for s in &list {
                let running = match in_use(m, &s.id) {
                    Some(pid) => format!("  (Chromium pid {pid})"),
                    None => String::new(),
                };
                println!(
                    "{}  {}{}  {}  {}  {}{}",
                    s.id,
                    s.status,
                    s.wa_state.as_deref().map(|w| format!(" ({w})")).unwrap_or_default(),
                    s.phone.as_deref().map(|p| format!("+{p}")).unwrap_or_else(|| "-".into()),
                    s.label.as_deref().unwrap_or("-"),
                    s.last_seen.map(|t| t.format("last seen %Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default(),
                    running
                );
                if let Some(e) = &s.error {
                    println!("  ! {e}");
                }
                if backups {
                    for b in m.backups(&s.id)? {
                        println!("  backup {}  {} bytes", b.name, b.bytes);
                    }
                }
            }
        }
        SessionAction::Remove { id } => {
            m.remove(&id).await?;
            println!("removed session `{id}` (record, profile and backups)");
        }
        SessionAction::Logout { id } => {
            m.logout(&id).await?;
            println!("session `{id}` is logged out of WhatsApp");
        }
        SessionAction::Link { id, phone } => {
            if let Some(pid) = in_use(m, &id) {
                return Err(SessionError::Conflict {
                    id: id.to_string(),
                    message: format!("a running host has it open (Chromium pid {pid}): use POST /api/sessions/{{id}}/pairing-code there"),
                });
            }
            crate::cli::link::link(m, &id, &phone).await?;
        }
    }
    Ok(())
}

/// The pid of a Chromium running on the session's profile (a running host's).
fn in_use(m: &SessionManager, id: &str) -> Option<i32> {
    let profile = m.settings().session_dir(id).join("profile");
    crate::sessions::chromium::strays(&profile).first().map(|p| p.pid)
}
