//! The email about a suspended behaviour: raised through the alert ledger under a key naming
//! the behaviour and its streak, so every suspension of one streak (the backoff doubling while
//! the trial runs keep failing) sends one email, and the next streak (after a successful run)
//! sends another. It goes to the first of `[alerts] to`, with the template
//! `behaviour_suspended` of the templates folder, or a plain built-in text when that template
//! is missing.

use std::time::Duration;

use serde_json::json;

use super::host_calls::Services;
use super::suspension::{Reason, Suspended};
use crate::alerts::templates::TemplateError;
use crate::alerts::AlertError;
use crate::store::alerts::{Alert, Email};

/// The template's name in the templates folder.
pub const TEMPLATE: &str = "behaviour_suspended";

/// Long enough that one streak never emails twice (a streak's key is never raised again).
const REPEAT_AFTER: Duration = Duration::from_secs(365 * 86_400);

/// Raises the alert of `name`'s suspension `s`, whose streak began at `streak_started`.
/// Problems are logged, never returned: a missing recipient must not stop the suspension.
pub(crate) async fn raise(
    svc: Services,
    to: Vec<String>,
    name: String,
    s: Suspended,
    streak_started: chrono::DateTime<chrono::Utc>,
) {
    let Some(to) = to.first().cloned() else {
        tracing::warn!(behaviour = %name, "no email about the suspension: [alerts] to is empty (set [alerts] to = [\"ops@example.com\"])");
        return;
    };
    let key = format!("behaviour.suspended:{name}:{}", streak_started.timestamp_millis());
    let reason = match s.reason {
        Reason::Failures => format!("{} runs failed in a row", s.failures),
        Reason::CpuShare => "it used too much CPU".to_string(),
    };
    let vars = json!({
        "to": to,
        "behaviour": name,
        "reason": reason,
        "failures": s.failures,
        "last_error": s.last_error,
        "since": s.since.to_rfc3339(),
        "until": s.until.to_rfc3339(),
        "streak": s.streak,
    });
    let raised = match svc.alerts.raise(&key, "warning", TEMPLATE, &vars, REPEAT_AFTER).await {
        Err(AlertError::Template(TemplateError::Missing { .. })) => {
            let email = Email {
                to: to.clone(),
                subject: format!("[vigil] behaviour `{name}` suspended"),
                text: format!(
                    "The behaviour `{name}` is suspended until {} because {reason}.\n\nLast error: {}\n\n\
                     It runs again when its file changes, when the suspension ends, or on\n\
                     POST /api/behaviours/{name}/resume.\n\n(Write {TEMPLATE}.subject and {TEMPLATE}.txt in the \
                     templates folder to change this email.)\n",
                    s.until.to_rfc3339(),
                    s.last_error
                ),
                html: None,
            };
            let alert = Alert {
                key: &key,
                severity: "warning",
                template: TEMPLATE,
                vars: &vars,
                repeat_after: REPEAT_AFTER,
                email,
            };
            svc.alerts.record(alert, None).await
        }
        other => other,
    };
    match raised {
        Ok(r) => tracing::debug!(behaviour = %name, alert = %key, "suspension alert: {r:?}"),
        Err(e) => tracing::warn!(behaviour = %name, alert = %key, "the suspension alert was not queued: {e}"),
    }
}
