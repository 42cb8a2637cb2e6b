//! `vigil session link <id> --phone …`: links a session by phone number from the terminal. It
//! opens the session here (the host must not be running it), asks the site for a pairing code,
//! prints it — and each renewed one — and waits until the phone entered it and the session is
//! `ready`, then closes the browser cleanly so the profile keeps the link.

use std::time::Duration;

use crate::sessions::{phone, SessionError, SessionId, SessionManager, SessionStatus, Sessions};

/// How long the terminal waits for the linking screen, then for the phone.
const SCREEN_WITHIN: Duration = Duration::from_secs(90);
const PHONE_WITHIN: Duration = Duration::from_secs(15 * 60);
const POLL: Duration = Duration::from_millis(300);

/// `ABCD1234` as WhatsApp shows it: `ABCD-1234`.
pub fn display_code(code: &str) -> String {
    if code.len() == 8 && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

pub(crate) async fn link(m: &SessionManager, id: &SessionId, phone_number: &str) -> Result<(), SessionError> {
    phone::person_wid(phone_number)?;
    let info = m.info(id)?;
    if info.status == SessionStatus::Ready {
        return Err(SessionError::Conflict { id: id.into(), message: "it is already linked".into() });
    }
    m.start(id)?;
    let deadline = tokio::time::Instant::now() + SCREEN_WITHIN;
    loop {
        let status = m.info(id)?.status;
        if matches!(status, SessionStatus::Qr | SessionStatus::LoggedOut) && m.qr(id).is_some() {
            break;
        }
        if status == SessionStatus::Ready {
            println!("session `{id}` is already linked");
            return Ok(());
        }
        if status == SessionStatus::Error || tokio::time::Instant::now() >= deadline {
            let why = m.info(id)?.error.unwrap_or_else(|| format!("it is {status}"));
            return Err(SessionError::Failed { id: id.into(), message: format!("no linking screen: {why}") });
        }
        tokio::time::sleep(POLL).await;
    }
    let mut shown = m.pairing_code(id, phone_number).await?;
    println!(
        "On the phone of {phone_number}: WhatsApp → Linked devices → Link a device → Link with phone number instead, and type:\n\n    {}\n",
        display_code(&shown)
    );
    let deadline = tokio::time::Instant::now() + PHONE_WITHIN;
    loop {
        let info = m.info(id)?;
        if info.status == SessionStatus::Ready {
            println!("session `{id}` is linked as +{}", info.phone.unwrap_or_default());
            return Ok(());
        }
        if let Some(code) = m.pairing_code_shown(id).filter(|c| *c != shown) {
            println!("a new code (the previous one expired):\n\n    {}\n", display_code(&code));
            shown = code;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SessionError::Timeout {
                id: id.into(),
                what: "linking by phone number".into(),
                after: PHONE_WITHIN,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_show_as_whatsapp_shows_them() {
        assert_eq!(super::display_code("ABCD1234"), "ABCD-1234");
        assert_eq!(super::display_code("odd"), "odd");
    }
}
