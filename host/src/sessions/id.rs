//! Session ids: chosen by users and used in paths, so only `^[a-z0-9][a-z0-9_-]{0,62}$`.
//!
//! A [`SessionId`] is checked once, where an id comes in (an HTTP path, a command-line
//! argument, a host function's argument, `vigil.toml`, a stored record); everything inside
//! takes a `&SessionId` and never checks again.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::SessionError;

/// A valid session id (`sales-1`): 1 to 63 lowercase letters, digits, `_` or `-`, starting
/// with a letter or a digit. It names a folder, so nothing else is allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// Checks `id` before anything touches the disk.
    pub fn parse(id: &str) -> Result<SessionId, SessionError> {
        if valid(id) {
            Ok(SessionId(id.to_string()))
        } else {
            Err(SessionError::BadInput(format!(
                "bad session id `{}`: use 1 to 63 lowercase letters, digits, `_` or `-`, starting with a letter or a \
                 digit (e.g. `sales-1`); ids name folders, so nothing else is allowed",
                id.escape_debug()
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn valid(id: &str) -> bool {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    first_ok && rest_ok && id.len() <= 63
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SessionId {
    type Err = SessionError;
    fn from_str(s: &str) -> Result<Self, SessionError> {
        SessionId::parse(s)
    }
}

impl TryFrom<String> for SessionId {
    type Error = SessionError;
    fn try_from(s: String) -> Result<Self, SessionError> {
        if valid(&s) {
            Ok(SessionId(s))
        } else {
            SessionId::parse(&s)
        }
    }
}

impl TryFrom<&str> for SessionId {
    type Error = SessionError;
    fn try_from(s: &str) -> Result<Self, SessionError> {
        SessionId::parse(s)
    }
}

impl schemars::JsonSchema for SessionId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SessionId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$",
            "description": "A session id: 1 to 63 lowercase letters, digits, `_` or `-`, starting with a letter or a digit (e.g. `sales-1`).",
        })
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SessionId::try_from(s).map_err(serde::de::Error::custom)
    }
}

impl std::ops::Deref for SessionId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for SessionId {
    fn as_ref(&self) -> &std::path::Path {
        self.0.as_ref()
    }
}

impl Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&SessionId> for String {
    fn from(id: &SessionId) -> String {
        id.0.clone()
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

impl PartialEq<str> for SessionId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SessionId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for SessionId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<SessionId> for str {
    fn eq(&self, other: &SessionId) -> bool {
        self == other.0
    }
}

impl PartialEq<SessionId> for &str {
    fn eq(&self, other: &SessionId) -> bool {
        *self == other.0
    }
}

impl PartialEq<SessionId> for String {
    fn eq(&self, other: &SessionId) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::SessionId;

    #[test]
    fn ids() {
        for ok in ["a", "0", "sales-1", "ab_c", &"a".repeat(63)] {
            assert_eq!(SessionId::parse(ok).unwrap().as_str(), ok);
            assert!(ok.parse::<SessionId>().is_ok(), "{ok}");
            assert!(SessionId::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        for bad in ["", "../etc", "../x", "-a", "_a", "A", "a/b", "a.b", "a b", "ñ", &"a".repeat(64), ".", ".."] {
            let e = SessionId::parse(bad).unwrap_err().to_string();
            assert!(e.contains("bad session id"), "{bad}: {e}");
            assert!(SessionId::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn deserializing_checks_the_id() {
        let id: SessionId = serde_json::from_str("\"sales-1\"").unwrap();
        assert_eq!(id, "sales-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"sales-1\"");
        let e = serde_json::from_str::<SessionId>("\"../etc\"").unwrap_err().to_string();
        assert!(e.contains("bad session id `../etc`"), "{e}");
    }
}
