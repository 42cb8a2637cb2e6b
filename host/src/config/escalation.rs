//! `[alerts.escalation]`: alerts still open a while after their first email go, once, to a
//! second list of recipients (see [`crate::alerts::holds`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::HumanDuration;
use crate::duration::{format_duration, parse_duration};

/// `[alerts.escalation]`: an alert not resolved `after` its first email is sent again, once
/// per episode (until it is resolved), to every address of `to`, and the ledger records it
/// (`escalated`). A silence that holds the alert holds its escalation too. Off while `to` is
/// empty (the default).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    /// Who is told of alerts left open, e.g. `["oncall@example.com"]`. Default empty: no
    /// escalation.
    pub to: Vec<String>,
    /// How long an alert may stay open after its first email before it is escalated. Default
    /// `1h`.
    pub after: HumanDuration,
    /// Per alert: an alert key or key prefix (`"disconnected"`, `"inactive:main"`) → its own
    /// `after` (`"30m"`), or `"off"` never to escalate those alerts. The longest matching
    /// prefix wins; alerts no entry matches use `after`.
    pub per_alert: BTreeMap<String, EscalateAfter>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig { to: Vec::new(), after: HumanDuration(Duration::from_secs(3600)), per_alert: BTreeMap::new() }
    }
}

impl EscalationConfig {
    /// How long the alert `key` may stay open before it is escalated; `None`: it never is
    /// (no `to`, or `"off"` for it).
    pub fn after_for(&self, key: &str) -> Option<Duration> {
        if self.to.is_empty() {
            return None;
        }
        let rule = self
            .per_alert
            .iter()
            .filter(|(prefix, _)| key.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, r)| *r);
        match rule {
            Some(EscalateAfter::Off) => None,
            Some(EscalateAfter::After(d)) => Some(d),
            None => Some(self.after.0),
        }
    }
}

/// A per-alert escalation delay: a duration, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalateAfter {
    Off,
    After(Duration),
}

impl<'de> Deserialize<'de> for EscalateAfter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "off" {
            return Ok(EscalateAfter::Off);
        }
        parse_duration(&s)
            .map(EscalateAfter::After)
            .map_err(|e| serde::de::Error::custom(format!("{e} (or \"off\" never to escalate these alerts)")))
    }
}

impl Serialize for EscalateAfter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EscalateAfter::Off => s.serialize_str("off"),
            EscalateAfter::After(d) => s.serialize_str(&format_duration(*d)),
        }
    }
}

impl schemars::JsonSchema for EscalateAfter {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EscalateAfter".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration (`30m`, `2h`) or `off` never to escalate these alerts.",
            "pattern": "^\\s*(off|([0-9]+\\s*(ms|s|m|h|d)\\s*)+)\\s*$",
            "examples": ["30m", "off"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_and_off_turns_it_off() {
        let c: EscalationConfig = toml::from_str(
            "to = [\"oncall@example.com\"]\nafter = \"2h\"\n[per_alert]\n\"disconnected\" = \"30m\"\n\
             \"disconnected:lab\" = \"off\"\n",
        )
        .unwrap();
        assert_eq!(c.after_for("disconnected:main"), Some(Duration::from_secs(1800)));
        assert_eq!(c.after_for("disconnected:lab-2"), None);
        assert_eq!(c.after_for("inactive:main"), Some(Duration::from_secs(7200)));
        let off = EscalationConfig { to: Vec::new(), ..c };
        assert_eq!(off.after_for("inactive:main"), None, "no `to`, no escalation");
    }

    #[test]
    fn a_bad_delay_is_named() {
        let e = toml::from_str::<EscalationConfig>("[per_alert]\n\"x\" = \"soon\"\n").unwrap_err().to_string();
        assert!(e.contains("soon") && e.contains("off"), "{e}");
        let e = toml::from_str::<EscalationConfig>("escalate_to = []\n").unwrap_err().to_string();
        assert!(e.contains("escalate_to"), "{e}");
    }
}
