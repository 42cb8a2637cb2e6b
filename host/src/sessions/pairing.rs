//! Linking a session by phone number: the site's alternative device linking flow
//! (`setPairingType('ALT_DEVICE_LINKING')`, `initializeAltDeviceLinking()`,
//! `startAltLinkingFlow(phone)`) gives an 8-character code the user types on the phone
//! (WhatsApp → Linked devices → Link with phone number). The bridge renews it while the page is
//! unlinked and pushes each code (`session.pairing_code`).

use std::time::Duration;

use super::manager::SessionManager;
use super::{phone, SessionError, SessionStatus};
use crate::sites::whatsapp::bridge::js_pairing_code;

/// How long the site may take to give a code.
const CODE_WITHIN: Duration = Duration::from_secs(30);

/// Asks the session's page for a pairing code for `phone`.
pub(super) async fn request(
    manager: &SessionManager,
    id: &super::SessionId,
    phone_number: &str,
    renew: Duration,
) -> Result<String, SessionError> {
    let wid = phone::person_wid(phone_number)?;
    let digits = wid.trim_end_matches("@c.us").to_string();
    let (cell, page) = manager.running_page(id, "pairing_code")?;
    let (linked, status) = cell.with(|l| (l.record.linked, l.record.status));
    if linked || status == SessionStatus::Ready {
        return Err(SessionError::Conflict {
            id: id.into(),
            message: "it is already linked to an account: log it out first to link another".into(),
        });
    }
    if !matches!(status, SessionStatus::Qr | SessionStatus::LoggedOut) {
        return Err(SessionError::Conflict {
            id: id.into(),
            message: format!(
                "it is {status}: a pairing code needs the page on its linking screen (status qr); wait for session.qr"
            ),
        });
    }
    let v = manager.eval(id, &page, "pairing_code", &js_pairing_code(&digits, renew.as_millis()), CODE_WITHIN).await?;
    match v.as_str() {
        Some(code) if !code.is_empty() => {
            cell.with(|l| l.pairing_code = Some(code.to_string()));
            Ok(code.to_string())
        }
        _ => Err(SessionError::Failed { id: id.into(), message: format!("pairing_code: the page answered {v}") }),
    }
}
