//! The value types the file is written in: humane durations, sizes, shares of a core,
//! timezones, and secrets that are never printed.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_duration, parse_duration};

/// A size in bytes, written as a number or with a unit: `65536`, `64KiB`, `1MiB`, `1MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 =
            num.parse().map_err(|_| format!("bad size `{s}`: write bytes or a number with a unit, e.g. `64KiB`"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            u => return Err(format!("bad size `{s}`: unknown unit `{u}` (use B, KiB, MiB, GiB, KB, MB or GB)")),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(|| format!("bad size `{s}`: too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A secret from the environment; never printed.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A duration written the humane way in the file: `"30s"`, `"2m"`, `"1h"`, `"5d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(HumanDuration).map_err(serde::de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// A share of one core, in basis points (1/10 000): written `"10%"`, `"2.5%"` or `0.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Share(pub u32);

impl Share {
    /// As a fraction: 0.1 for 10 %.
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    fn from_fraction(f: f64) -> Result<Share, String> {
        if !(f > 0.0 && f <= 1.0) {
            return Err(format!(
                "a share of one core must be more than 0 and at most 100 % (`\"10%\"` or 0.1), not {f}"
            ));
        }
        Ok(Share((f * 10_000.0).round().max(1.0) as u32))
    }
}

impl FromStr for Share {
    type Err = String;
    fn from_str(s: &str) -> Result<Share, String> {
        let bad = || format!("bad share `{s}`: write a percentage such as `\"10%\"`, or a fraction such as 0.1");
        match s.trim().strip_suffix('%') {
            Some(p) => Share::from_fraction(p.trim().parse::<f64>().map_err(|_| bad())? / 100.0),
            None => Share::from_fraction(s.trim().parse::<f64>().map_err(|_| bad())?),
        }
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", f64::from(self.0) / 100.0)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(f) => Share::from_fraction(f),
            Raw::Text(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// An IANA timezone name, checked when the file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown timezone `{s}`: use an IANA name such as `Europe/Madrid` or `UTC`"
            ))
        })
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Whole numbers with units, largest first: ms, s, m, h, d (e.g. `500ms`, `30s`, `1h30m`, `5d`).",
            "pattern": "^\\s*([0-9]+\\s*(ms|s|m|h|d)\\s*)+$",
            "examples": ["30s", "2m", "1h30m"]
        })
    }
}

impl schemars::JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Bytes, or a number with a unit: B, KiB, MiB, GiB, KB, MB, GB (e.g. `64KiB`).",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*(([KkMmGg][Ii]?)?[Bb])?\\s*$" }
            ],
            "examples": ["64KiB", "1MiB", 65536]
        })
    }
}

impl schemars::JsonSchema for Share {
    fn schema_name() -> Cow<'static, str> {
        "Share".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A share of one core: a percentage (`\"10%\"`) or a fraction (0.1), more than 0 and at most 100 %.",
            "anyOf": [
                { "type": "number", "exclusiveMinimum": 0, "maximum": 1 },
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*%?\\s*$" }
            ],
            "examples": ["10%", 0.1]
        })
    }
}

impl schemars::JsonSchema for TimeZone {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IANA timezone name.",
            "examples": ["UTC", "Europe/Madrid"]
        })
    }
}
