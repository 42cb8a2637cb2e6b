//! Session ids: chosen by users and used in paths, so only `^[a-z0-9][a-z0-9_-]{0,62}$`.

use super::SessionError;

/// Checks a session id before anything touches the disk.
pub fn check_id(id: &str) -> Result<(), SessionError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && id.len() <= 63 {
        Ok(())
    } else {
        Err(SessionError::BadInput(format!(
            "bad session id `{}`: use 1 to 63 lowercase letters, digits, `_` or `-`, starting with a letter or a digit \
             (e.g. `sales-1`); ids name folders, so nothing else is allowed",
            id.escape_debug()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::check_id;

    #[test]
    fn ids() {
        for ok in ["a", "0", "sales-1", "ab_c", &"a".repeat(63)] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../etc", "../x", "-a", "_a", "A", "a/b", "a.b", "a b", "ñ", &"a".repeat(64), ".", ".."] {
            let e = check_id(bad).unwrap_err().to_string();
            assert!(e.contains("bad session id"), "{bad}: {e}");
        }
    }
}
