//! What a session learns about the site itself, from the bridge: the version the page runs
//! (stored with the session; a change is `site.version_changed` {from, to}) and the canary's
//! report (`site.incompatible` {version, missing, problems}: status `error` with a reason that
//! names what is missing). Who is told, and how often, is a behaviour's call (`monitor`).

use serde_json::json;

use super::cell::SessionCell;
use super::SessionStatus;

/// The page said it runs `version`: store it; publish `site.version_changed` when it differs
/// from the one stored before.
pub(crate) async fn on_version(cell: &SessionCell, version: Option<&str>) {
    let Some(version) = version.map(str::trim).filter(|v| !v.is_empty()) else { return };
    let previous = cell.with(|l| l.record.site_version.replace(version.to_string()));
    if previous.as_deref() == Some(version) {
        return;
    }
    tracing::info!(from = previous.as_deref().unwrap_or(""), to = version, "WhatsApp Web version");
    if let Some(from) = previous {
        cell.publish("site.version_changed", json!({ "from": from, "to": version }));
    }
    cell.save().await;
}

/// The reason a session is in `error` when the site lacks what the bridge needs.
pub(crate) fn incompatible_reason(version: Option<&str>, missing: &[String]) -> String {
    format!(
        "WhatsApp Web {} changed: the bridge cannot find {}. Update vigil, or put a fixed bridge at \
         sessions.bridge (it is reloaded without a restart)",
        version.unwrap_or("(unknown version)"),
        if missing.is_empty() { "what it needs".to_string() } else { missing.join(", ") }
    )
}

/// The canary found internals missing: status `error` and `site.incompatible`.
pub(crate) async fn on_incompatible(
    cell: &SessionCell,
    bridge: Option<&str>,
    version: Option<&str>,
    missing: &[String],
    problems: &[String],
) {
    on_version(cell, version).await;
    let reason = incompatible_reason(version, missing);
    tracing::error!(problems = ?problems, "{reason}");
    cell.set_status(SessionStatus::Error, Some(reason.clone())).await;
    cell.publish(
        "site.incompatible",
        json!({ "version": version, "missing": missing, "problems": problems, "bridge": bridge, "reason": reason }),
    );
}

#[cfg(test)]
mod tests {
    use super::incompatible_reason;

    #[test]
    fn the_reason_names_the_version_and_what_is_missing() {
        let r = incompatible_reason(Some("2.3000.9"), &["WAWebCmd.Cmd".into(), "WAWebCollections.Msg".into()]);
        assert!(r.contains("2.3000.9") && r.contains("WAWebCmd.Cmd, WAWebCollections.Msg"), "{r}");
        assert!(r.contains("sessions.bridge"), "{r}");
    }
}
