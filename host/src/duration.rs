//! Humane durations, as users write them in scripts and `vigil.toml`.
//!
//! A duration is one or more whole numbers, each followed by a unit, largest unit first:
//! `500ms`, `30s`, `2m`, `1h`, `5d`, `1h30m`, `1d 12h`. Units: `ms`, `s`, `m`, `h`, `d` (a day
//! is 24 hours). A [`DurationRange`] is either one duration (`30s`, always exactly that) or two
//! joined by `..` (`55m..65m`, uniform between them, both ends included).
//!
//! Errors name the text that was wrong and how to write it instead.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest duration accepted: 100 years of days.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

const UNITS_HINT: &str = "use ms, s, m, h or d, e.g. `30s`, `2m`, `1h`, `5d`";

/// Why a duration or a duration range could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration: write a number and a unit, e.g. `30s`, `2m`, `1h`")]
    Empty,
    #[error("bad duration `{text}`: unknown unit `{unit}` ({UNITS_HINT})")]
    UnknownUnit { text: String, unit: String },
    #[error("bad duration `{text}`: missing number before `{unit}` (e.g. `5{unit}`)")]
    MissingNumber { text: String, unit: String },
    #[error("bad duration `{text}`: missing unit after `{number}` ({UNITS_HINT})")]
    MissingUnit { text: String, number: String },
    #[error("bad duration `{text}`: unexpected `{found}` (write whole numbers with units, e.g. `1h30m`)")]
    Unexpected { text: String, found: char },
    #[error("bad duration `{text}`: `{unit}` comes after a smaller or equal unit (write each unit once, largest first, e.g. `1h30m`)")]
    UnitOrder { text: String, unit: String },
    #[error("bad duration `{text}`: too long (at most {})", format_duration(MAX_DURATION))]
    Overflow { text: String },
    #[error("bad duration range `{text}`: the start is after the end (write `{fix}`)")]
    RangeReversed { text: String, fix: String },
    #[error("bad duration range `{text}`: write both ends around `..`, e.g. `55m..65m`")]
    RangeIncomplete { text: String },
    #[error("bad interval `{text}`: it must be longer than zero, e.g. `30s` or `1m..2m`")]
    ZeroInterval { text: String },
}

/// Reads a duration such as `500ms`, `30s`, `1h30m` or `5d`. Spaces between parts are allowed.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let text = s.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let err_text = || text.to_string();
    let mut total_ms: u64 = 0;
    let mut last_unit_ms: Option<u64> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, after) = rest.split_at(digits);
        let letters = after.len() - after.trim_start_matches(|c: char| c.is_ascii_alphabetic()).len();
        let (unit, after) = after.split_at(letters);
        if number.is_empty() && unit.is_empty() {
            let found = rest.chars().next().unwrap_or(' ');
            return Err(DurationError::Unexpected { text: err_text(), found });
        }
        if number.is_empty() {
            return Err(DurationError::MissingNumber { text: err_text(), unit: unit.to_string() });
        }
        if unit.is_empty() {
            return match after.chars().next() {
                Some(found) if !found.is_whitespace() => Err(DurationError::Unexpected { text: err_text(), found }),
                _ => Err(DurationError::MissingUnit { text: err_text(), number: number.to_string() }),
            };
        }
        let unit_ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(DurationError::UnknownUnit { text: err_text(), unit: unit.to_string() }),
        };
        if last_unit_ms.is_some_and(|last| unit_ms >= last) {
            return Err(DurationError::UnitOrder { text: err_text(), unit: unit.to_string() });
        }
        last_unit_ms = Some(unit_ms);
        let overflow = || DurationError::Overflow { text: err_text() };
        let value: u64 = number.parse().map_err(|_| overflow())?;
        total_ms = value
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .filter(|&ms| ms <= MAX_DURATION.as_millis() as u64)
            .ok_or_else(overflow)?;
        rest = after.trim_start();
    }
    Ok(Duration::from_millis(total_ms))
}

/// Writes a duration the way [`parse_duration`] reads it, largest unit first: `1h30m`, `45s`,
/// `1d2h`, `1500ms` is `1s500ms`, zero is `0s`. Anything below a millisecond is dropped.
pub fn format_duration(d: Duration) -> String {
    format_with_top_unit(d, 0)
}

const UNITS: [(&str, u128); 5] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// The index in [`UNITS`] of the largest unit that fits in `d` (the last for zero).
fn top_unit(d: Duration) -> usize {
    let ms = d.as_millis();
    UNITS.iter().position(|(_, size)| ms >= *size).unwrap_or(UNITS.len() - 1)
}

/// Like [`format_duration`], using no unit larger than `UNITS[top]`.
fn format_with_top_unit(d: Duration, top: usize) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in &UNITS[top.min(UNITS.len() - 1)..] {
        if ms >= *size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A duration that is either fixed (`30s`) or drawn uniformly from `min..max` (`55m..65m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
}

impl DurationRange {
    /// A range that always yields `d`.
    pub fn fixed(d: Duration) -> Self {
        Self { min: d, max: d }
    }

    /// Whether `min == max`.
    pub fn is_fixed(&self) -> bool {
        self.min == self.max
    }

    /// Reads a range that is used as a repeating interval, so it must be longer than zero at
    /// both ends (`0s..1m` could fire twice in the same instant).
    pub fn parse_interval(s: &str) -> Result<Self, DurationError> {
        let range: Self = s.parse()?;
        if range.min.is_zero() {
            return Err(DurationError::ZeroInterval { text: s.trim().to_string() });
        }
        Ok(range)
    }

    /// A duration drawn uniformly from `[min, max]` at millisecond resolution.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Duration {
        let min = self.min.as_millis() as u64;
        let max = (self.max.as_millis() as u64).max(min);
        Duration::from_millis(rng.gen_range(min..=max))
    }
}

impl FromStr for DurationRange {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let Some((start, end)) = text.split_once("..") else {
            return parse_duration(text).map(Self::fixed);
        };
        if start.trim().is_empty() || end.trim().is_empty() {
            return Err(DurationError::RangeIncomplete { text: text.to_string() });
        }
        let min = parse_duration(start)?;
        let max = parse_duration(end)?;
        if min > max {
            return Err(DurationError::RangeReversed {
                text: text.to_string(),
                fix: format!("{}..{}", end.trim(), start.trim()),
            });
        }
        Ok(Self { min, max })
    }
}

impl fmt::Display for DurationRange {
    /// `30s` when fixed, `55m..65m` otherwise; reading it back gives the same range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_fixed() {
            f.write_str(&format_duration(self.min))
        } else {
            // `55m..65m`, not `55m..1h5m`: the end uses no unit larger than the start's,
            // unless it is a whole number of its own largest unit (`30s..2m`).
            let whole = {
                let (_, size) = UNITS[top_unit(self.max)];
                self.max.as_millis().is_multiple_of(size)
            };
            let top = if whole { 0 } else { top_unit(self.min) };
            write!(f, "{}..{}", format_duration(self.min), format_with_top_unit(self.max, top))
        }
    }
}

impl Serialize for DurationRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const MIN: u64 = 60;
    const HOUR: u64 = 3600;

    fn err(s: &str) -> String {
        parse_duration(s).unwrap_err().to_string()
    }

    fn range_err(s: &str) -> String {
        s.parse::<DurationRange>().unwrap_err().to_string()
    }

    #[test]
    fn reads_single_and_compound_durations() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("2m", Duration::from_secs(2 * MIN)),
            ("1h", Duration::from_secs(HOUR)),
            ("5d", Duration::from_secs(5 * 24 * HOUR)),
            ("1h30m", Duration::from_secs(HOUR + 30 * MIN)),
            (" 1d 12h ", Duration::from_secs(36 * HOUR)),
            ("1m30s250ms", Duration::from_millis(90_250)),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_durations_name_the_text_and_the_fix() {
        assert_eq!(
            err("5x"),
            "bad duration `5x`: unknown unit `x` (use ms, s, m, h or d, e.g. `30s`, `2m`, `1h`, `5d`)"
        );
        assert_eq!(
            err("10mins"),
            "bad duration `10mins`: unknown unit `mins` (use ms, s, m, h or d, e.g. `30s`, `2m`, `1h`, `5d`)"
        );
        assert_eq!(err("   "), "empty duration: write a number and a unit, e.g. `30s`, `2m`, `1h`");
        assert_eq!(err("m"), "bad duration `m`: missing number before `m` (e.g. `5m`)");
        assert_eq!(
            err("1h30"),
            "bad duration `1h30`: missing unit after `30` (use ms, s, m, h or d, e.g. `30s`, `2m`, `1h`, `5d`)"
        );
        assert_eq!(err("1.5h"), "bad duration `1.5h`: unexpected `.` (write whole numbers with units, e.g. `1h30m`)");
        assert_eq!(err("-5m"), "bad duration `-5m`: unexpected `-` (write whole numbers with units, e.g. `1h30m`)");
        assert_eq!(
            err("30m1h"),
            "bad duration `30m1h`: `h` comes after a smaller or equal unit (write each unit once, largest first, e.g. `1h30m`)"
        );
        assert_eq!(err("36501d"), "bad duration `36501d`: too long (at most 36500d)");
        assert_eq!(
            err("99999999999999999999999s"),
            "bad duration `99999999999999999999999s`: too long (at most 36500d)"
        );
    }

    #[test]
    fn formats_largest_unit_first_and_round_trips() {
        assert_eq!(format_duration(Duration::from_secs(HOUR + 30 * MIN)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_secs(26 * HOUR)), "1d2h");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        for text in ["1d2h3m4s5ms", "500ms", "59m59s", "36500d"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
    }

    #[test]
    fn ranges_read_fixed_and_spans_and_display_canonically() {
        let fixed: DurationRange = "30s".parse().unwrap();
        assert_eq!(fixed, DurationRange::fixed(Duration::from_secs(30)));
        assert_eq!(fixed.to_string(), "30s");

        let span: DurationRange = " 55m .. 1h5m ".parse().unwrap();
        assert_eq!(span.min, Duration::from_secs(55 * MIN));
        assert_eq!(span.max, Duration::from_secs(65 * MIN));
        assert_eq!(span.to_string(), "55m..65m");
        assert_eq!(span.to_string().parse::<DurationRange>(), Ok(span));
        for (text, shown) in [
            ("30s..2m", "30s..2m"),
            ("1h..1h30m", "1h..1h30m"),
            ("23h..25h", "23h..25h"),
            ("500ms..1500ms", "500ms..1500ms"),
            ("1m..10m", "1m..10m"),
        ] {
            let range: DurationRange = text.parse().unwrap();
            assert_eq!(range.to_string(), shown);
            assert_eq!(shown.parse::<DurationRange>(), Ok(range));
        }

        let same: DurationRange = "60m..1h".parse().unwrap();
        assert_eq!(same.to_string(), "1h");
    }

    #[test]
    fn bad_ranges_name_the_text_and_the_fix() {
        assert_eq!(
            range_err("65m..55m"),
            "bad duration range `65m..55m`: the start is after the end (write `55m..65m`)"
        );
        assert_eq!(range_err("55m.."), "bad duration range `55m..`: write both ends around `..`, e.g. `55m..65m`");
        assert_eq!(
            range_err("55m..65x"),
            "bad duration `65x`: unknown unit `x` (use ms, s, m, h or d, e.g. `30s`, `2m`, `1h`, `5d`)"
        );
        assert_eq!(
            DurationRange::parse_interval("0s").unwrap_err().to_string(),
            "bad interval `0s`: it must be longer than zero, e.g. `30s` or `1m..2m`"
        );
        assert_eq!(
            DurationRange::parse_interval("0s..5m").unwrap_err().to_string(),
            "bad interval `0s..5m`: it must be longer than zero, e.g. `30s` or `1m..2m`"
        );
        assert!(DurationRange::parse_interval("1ms..5m").is_ok());
    }

    #[test]
    fn samples_stay_in_range_and_cover_it() {
        let range: DurationRange = "1s..1s10ms".parse().unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = [false; 11];
        for _ in 0..2_000 {
            let d = range.sample(&mut rng);
            assert!(d >= range.min && d <= range.max, "{d:?}");
            seen[(d.as_millis() - 1000) as usize] = true;
        }
        assert!(seen.iter().all(|&hit| hit), "every millisecond drawn: {seen:?}");

        let fixed = DurationRange::fixed(Duration::from_secs(5));
        assert_eq!(fixed.sample(&mut rng), Duration::from_secs(5));
    }

    #[test]
    fn deserializes_from_the_display_form() {
        use serde::de::value::{Error, StrDeserializer};
        let range: DurationRange = "55m..65m".parse().unwrap();
        let text = range.to_string();
        let back = DurationRange::deserialize(StrDeserializer::<Error>::new(&text)).unwrap();
        assert_eq!(back, range);
        let bad = DurationRange::deserialize(StrDeserializer::<Error>::new("5x")).unwrap_err();
        assert!(bad.to_string().contains("unknown unit `x`"), "{bad}");
    }
}
