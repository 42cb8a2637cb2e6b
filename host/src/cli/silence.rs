//! `vigil silence …`: alert silences, made, listed and expired through the running host's API
//! (`/api/silences`), so the host checks them (the session exists, an owner token silences
//! only its owner's sessions) and its worker hears of the change at once. The API is found at
//! `[api] listen` (or `--url`), the token in `VIGIL_API_TOKEN` (the admin's, or an owner's).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum SilenceAction {
    /// Hold the alert emails of a session, or of alerts by key, for a while; they are sent when
    /// the silence ends if the alert is still open.
    Add {
        /// Silence the alerts about this session.
        #[arg(long, conflicts_with = "alert", required_unless_present = "alert")]
        session: Option<String>,
        /// Silence the alerts whose key is this or starts with it (`disconnected`,
        /// `inactive:main`).
        #[arg(long)]
        alert: Option<String>,
        /// How long, from now (`2h`, `30m`, `1d`).
        #[arg(long = "for", conflicts_with = "until", required_unless_present = "until")]
        duration: Option<String>,
        /// Until when (RFC 3339, e.g. `2027-01-04T18:00:00Z`).
        #[arg(long)]
        until: Option<String>,
        /// Why (shown in the list and kept in the store).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the active silences and those that ended in the last 24 h.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// End a silence now; the alert emails it held go out if their alerts are still open.
    Expire {
        /// The silence's id (see `vigil silence list`).
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

/// Where the running host is.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The host's API, e.g. `http://127.0.0.1:8080`. Default: from `[api] listen`.
    #[arg(long)]
    url: Option<String>,
}

impl SilenceAction {
    fn target(&self) -> &Target {
        match self {
            SilenceAction::Add { target, .. }
            | SilenceAction::List { target, .. }
            | SilenceAction::Expire { target, .. } => target,
        }
    }
}

/// `vigil silence …`: loads the config (for `[api] listen`), runs `action`, prints the outcome.
pub async fn main(config: Option<Config>, action: SilenceAction) -> ExitCode {
    let Some(config) = config else { return ExitCode::from(2) };
    match run(&config, action).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil silence: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The API's base URL: `--url`, else `[api] listen` (a wildcard address read as this machine).
fn base_url(config: &Config, target: &Target) -> String {
    if let Some(u) = &target.url {
        return u.trim_end_matches('/').to_string();
    }
    let listen = config.api.listen.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    format!("http://{listen}")
}

async fn run(config: &Config, action: SilenceAction) -> anyhow::Result<()> {
    let base = base_url(config, action.target());
    let token = crate::api::token_from_env().ok_or_else(|| {
        anyhow::anyhow!(
            "no token: set VIGIL_API_TOKEN to the host's token (or to an owner token, for that owner's sessions)"
        )
    })?;
    crate::webhooks::install_crypto_provider();
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    let call = |method: reqwest::Method, path: &str| http.request(method, format!("{base}{path}")).bearer_auth(&token);
    match action {
        SilenceAction::Add { session, alert, duration, until, reason, .. } => {
            let matcher = match (session, alert) {
                (Some(s), None) => json!({ "session": s }),
                (None, Some(a)) => json!({ "alert": a }),
                _ => anyhow::bail!("give --session ID or --alert KEY (one of them)"),
            };
            let until = duration.or(until).ok_or_else(|| anyhow::anyhow!("give --for 2h or --until TIME"))?;
            let body = json!({ "matcher": matcher, "until": until, "reason": reason });
            let s = answer(
                call(reqwest::Method::POST, "/api/silences")
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
                    .send()
                    .await,
                &base,
            )
            .await?;
            println!("silence {} made: {}", s["id"], line(&s));
        }
        SilenceAction::List { json, .. } => {
            let list = answer(call(reqwest::Method::GET, "/api/silences").send().await, &base).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.as_array().is_none_or(|l| l.is_empty()) {
                println!("no silences (active, or ended in the last 24 h)");
            } else {
                for s in list.as_array().into_iter().flatten() {
                    println!("{:>4}  {}", s["id"], line(s));
                }
            }
        }
        SilenceAction::Expire { id, .. } => {
            let s = answer(call(reqwest::Method::DELETE, &format!("/api/silences/{id}")).send().await, &base).await?;
            println!("silence {} ended at {}", s["id"], s["ends"].as_str().unwrap_or("?"));
        }
    }
    Ok(())
}

/// One silence on one line.
fn line(s: &Value) -> String {
    let matcher = match (&s["matcher"]["session"], &s["matcher"]["alert"]) {
        (Value::String(id), _) => format!("session {id}"),
        (_, Value::String(a)) => format!("alerts {a}*"),
        _ => s["matcher"].to_string(),
    };
    format!(
        "{}  {matcher}  until {}  by {}  \"{}\"",
        s["state"].as_str().unwrap_or("?"),
        s["ends"].as_str().unwrap_or("?"),
        s["created_by"].as_str().unwrap_or("?"),
        s["reason"].as_str().unwrap_or("")
    )
}

/// The JSON of a 2xx answer, or an error with the API's own message.
async fn answer(r: reqwest::Result<reqwest::Response>, base: &str) -> anyhow::Result<Value> {
    let r = r.with_context(|| {
        format!(
            "cannot reach the host's API at {base}: is `vigil run` running there? (the address comes from [api] \
             listen; pass --url otherwise)"
        )
    })?;
    let status = r.status();
    let bytes = r.bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"].as_str().map(str::to_string).unwrap_or_else(|| body.to_string());
    match status.as_u16() {
        401 => anyhow::bail!("the host refused the token ({message}): set VIGIL_API_TOKEN to the host's token"),
        _ => anyhow::bail!("{message} (HTTP {status})"),
    }
}
