//! What a behaviour may be granted: the capabilities `[behaviours.<name>] grants` lists and
//! every host call checks.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a behaviour may be granted. Calls that change nothing outside the behaviour (`log`,
/// `now`, `random`, `config`, its own `kv_*`, `emit`, trigger registration) need no grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// `sessions()`, `state`, `ping`: read sessions and ask their pages.
    SessionsRead,
    /// `send_text`: send WhatsApp messages.
    SessionsSend,
    /// `activity`, `restart`, `mark`, `touch`, `backup`, `remove_orphan_folders`: act on sessions.
    SessionsControl,
    /// `raise`, `resolve`: alerts to session owners, deduplicated in the ledger.
    Alerts,
    /// `email`: a templated email that is no alert.
    Email,
    /// `health`, `prune_events`: host housekeeping.
    Host,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::SessionsRead,
        Capability::SessionsSend,
        Capability::SessionsControl,
        Capability::Alerts,
        Capability::Email,
        Capability::Host,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::SessionsRead => "sessions.read",
            Capability::SessionsSend => "sessions.send",
            Capability::SessionsControl => "sessions.control",
            Capability::Alerts => "alerts",
            Capability::Email => "email",
            Capability::Host => "host",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let all: Vec<_> = Capability::ALL.iter().map(|c| format!("`{c}`")).collect();
            format!("unknown capability `{s}`: use one of {}", all.join(", "))
        })
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl schemars::JsonSchema for Capability {
    fn schema_name() -> Cow<'static, str> {
        "Capability".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "A capability a behaviour may be granted.",
            "enum": names
        })
    }
}
