//! What a trigger is: [`TriggerSpec`], the missed-run policy [`Missed`], and [`SpecError`].

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize, Serializer};

use crate::duration::{DurationError, DurationRange};
use crate::scheduler::cron::CronSchedule;

/// When a timer fires.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TriggerSpec {
    /// Repeatedly, each gap a fresh uniform sample of `every`; the first fire after a sample of
    /// `first` (or of `every` when `first` is absent).
    Every { every: DurationRange, first: Option<DurationRange> },
    /// At each occurrence of a cron expression in the time zone `tz`. Five fields (minute hour
    /// day-of-month month day-of-week), or six with seconds first; `@daily` and friends work.
    Cron { expr: String, tz: Tz, missed: Missed },
    /// Once, after a sample of `delay`.
    After { delay: DurationRange },
}

impl TriggerSpec {
    /// `every("55m..65m", Some("1m..10m"))`: a jittered interval with an optional first delay.
    pub fn every(every: &str, first: Option<&str>) -> Result<Self, SpecError> {
        let every = DurationRange::parse_interval(every).map_err(SpecError::Every)?;
        let first = first.map(|f| f.parse::<DurationRange>().map_err(SpecError::First)).transpose()?;
        Ok(Self::Every { every, first })
    }

    /// `cron("0 2 * * *", "Europe/Madrid", Missed::Skip)`.
    pub fn cron(expr: &str, tz: &str, missed: Missed) -> Result<Self, SpecError> {
        let tz = parse_tz(tz)?;
        let expr = expr.trim().to_string();
        CronSchedule::parse(&expr, tz)?;
        Ok(Self::Cron { expr, tz, missed })
    }

    /// `after("5m")`: one fire after the delay (a range such as `1m..2m` is sampled).
    pub fn after(delay: &str) -> Result<Self, SpecError> {
        let delay = delay.parse().map_err(SpecError::After)?;
        Ok(Self::After { delay })
    }

    /// Checks a spec built by hand (the fields are public): an `every` longer than zero, a cron
    /// expression that parses and fires. The constructors above already did this.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self {
            Self::Every { every, .. } if every.min.is_zero() => {
                Err(SpecError::Every(DurationError::ZeroInterval { text: every.to_string() }))
            }
            Self::Cron { expr, tz, .. } => CronSchedule::parse(expr, *tz).map(|_| ()),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for TriggerSpec {
    /// `every 55m..65m (first 1m..10m)`, `cron `0 2 * * *` Europe/Madrid (missed: skip)`,
    /// `after 5m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every { every, first: None } => write!(f, "every {every}"),
            Self::Every { every, first: Some(first) } => write!(f, "every {every} (first {first})"),
            Self::Cron { expr, tz, missed } => {
                write!(f, "cron `{expr}` {} (missed: {missed})", tz.name())
            }
            Self::After { delay } => write!(f, "after {delay}"),
        }
    }
}

impl Serialize for TriggerSpec {
    /// As its display text, for the API and logs.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a cron trigger does about occurrences that passed while the host was down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Nothing: wait for the next occurrence.
    #[default]
    Skip,
    /// Fire once at start-up (with `catch_up: true`), however many were missed.
    RunOnce,
}

impl FromStr for Missed {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "skip" => Ok(Self::Skip),
            "run_once" => Ok(Self::RunOnce),
            other => Err(SpecError::UnknownMissed { text: other.to_string() }),
        }
    }
}

impl fmt::Display for Missed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Skip => "skip",
            Self::RunOnce => "run_once",
        })
    }
}

/// Why a trigger could not be built. Each message names the bad text and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("in `every`: {0}")]
    Every(DurationError),
    #[error("in `first`: {0}")]
    First(DurationError),
    #[error("in `after`: {0}")]
    After(DurationError),
    #[error("unknown timezone `{text}`: use an IANA name such as `{suggestion}`")]
    UnknownTimezone { text: String, suggestion: String },
    #[error("bad cron expression `{expr}`: {why}")]
    BadCron { expr: String, why: String },
    #[error("cron expression `{expr}` never fires: {why}")]
    NeverFires { expr: String, why: String },
    #[error("unknown missed-run policy `{text}`: use `skip` or `run_once`")]
    UnknownMissed { text: String },
}

/// Reads an IANA time zone name; on a miss, suggests the closest real one.
pub(crate) fn parse_tz(text: &str) -> Result<Tz, SpecError> {
    let trimmed = text.trim();
    trimmed.parse::<Tz>().map_err(|_| SpecError::UnknownTimezone {
        text: trimmed.to_string(),
        suggestion: closest_tz(trimmed).unwrap_or("Europe/Madrid").to_string(),
    })
}

/// The time zone name nearest to `text` (case-insensitive edit distance of at most 3).
fn closest_tz(text: &str) -> Option<&'static str> {
    let wanted = text.to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| (edit_distance(&wanted, &tz.name().to_ascii_lowercase()), tz.name()))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn constructors_read_their_text_and_display_it_back() {
        let every = TriggerSpec::every("55m..65m", Some("1m..10m")).unwrap();
        assert_eq!(
            every,
            TriggerSpec::Every { every: "55m..65m".parse().unwrap(), first: Some("1m..10m".parse().unwrap()) }
        );
        assert_eq!(every.to_string(), "every 55m..65m (first 1m..10m)");
        assert_eq!(TriggerSpec::every("30s", None).unwrap().to_string(), "every 30s");

        let cron = TriggerSpec::cron(" 0 2 * * * ", "Europe/Madrid", Missed::Skip).unwrap();
        assert_eq!(cron.to_string(), "cron `0 2 * * *` Europe/Madrid (missed: skip)");
        let with_seconds = TriggerSpec::cron("30 0 2 * * *", "UTC", Missed::RunOnce).unwrap();
        assert_eq!(with_seconds.to_string(), "cron `30 0 2 * * *` UTC (missed: run_once)");

        let after = TriggerSpec::after("5m").unwrap();
        assert_eq!(after, TriggerSpec::After { delay: DurationRange::fixed(Duration::from_secs(300)) });
        assert_eq!(after.to_string(), "after 5m");
    }

    #[test]
    fn bad_specs_name_the_text_and_the_fix() {
        let msg = |r: Result<TriggerSpec, SpecError>| r.unwrap_err().to_string();
        assert_eq!(
            msg(TriggerSpec::cron("0 2 * * *", "Europe/Madird", Missed::Skip)),
            "unknown timezone `Europe/Madird`: use an IANA name such as `Europe/Madrid`"
        );
        assert_eq!(
            msg(TriggerSpec::cron("0 2 * * *", "europe/paris", Missed::Skip)),
            "unknown timezone `europe/paris`: use an IANA name such as `Europe/Paris`"
        );
        assert_eq!(
            msg(TriggerSpec::cron("0 2 * * *", "CEST", Missed::Skip)),
            "unknown timezone `CEST`: use an IANA name such as `CET`"
        );
        assert_eq!(
            msg(TriggerSpec::cron("0 2 * * *", "Mars/Olympus_Mons", Missed::Skip)),
            "unknown timezone `Mars/Olympus_Mons`: use an IANA name such as `Europe/Madrid`"
        );
        assert_eq!(
            msg(TriggerSpec::cron("0 2 * *", "UTC", Missed::Skip)),
            "bad cron expression `0 2 * *`: it has 4 fields; write 5 (minute hour day-of-month \
             month day-of-week, e.g. `0 2 * * *`) or 6 with seconds first"
        );
        assert_eq!(
            msg(TriggerSpec::cron("61 2 * * *", "UTC", Missed::Skip)),
            "bad cron expression `61 2 * * *`: Component error: Number out of bounds. \
             (fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7)"
        );
        assert_eq!(
            msg(TriggerSpec::cron("0 0 30 2 *", "UTC", Missed::Skip)),
            "cron expression `0 0 30 2 *` never fires: no date matches its day and month \
             fields; check them"
        );
        assert_eq!(
            msg(TriggerSpec::every("0s", None)),
            "in `every`: bad interval `0s`: it must be longer than zero, e.g. `30s` or `1m..2m`"
        );
        assert_eq!(
            msg(TriggerSpec::every("55m..65m", Some("10m..1m"))),
            "in `first`: bad duration range `10m..1m`: the start is after the end (write `1m..10m`)"
        );
        assert_eq!(
            msg(TriggerSpec::after("5x")),
            "in `after`: bad duration `5x`: unknown unit `x` (use ms, s, m, h or d, e.g. \
             `30s`, `2m`, `1h`, `5d`)"
        );
    }

    #[test]
    fn missed_reads_its_two_names() {
        assert_eq!("skip".parse::<Missed>(), Ok(Missed::Skip));
        assert_eq!("run_once".parse::<Missed>(), Ok(Missed::RunOnce));
        assert_eq!(Missed::default(), Missed::Skip);
        assert_eq!(Missed::RunOnce.to_string(), "run_once");
        assert_eq!(
            "runonce".parse::<Missed>().unwrap_err().to_string(),
            "unknown missed-run policy `runonce`: use `skip` or `run_once`"
        );
    }

    #[test]
    fn validate_catches_hand_built_specs() {
        let zero = TriggerSpec::Every { every: DurationRange::fixed(Duration::ZERO), first: None };
        assert!(matches!(zero.validate(), Err(SpecError::Every(_))));
        let bad_cron = TriggerSpec::Cron { expr: "nope".into(), tz: Tz::UTC, missed: Missed::Skip };
        assert!(matches!(bad_cron.validate(), Err(SpecError::BadCron { .. })));
        assert_eq!(TriggerSpec::after("0s").unwrap().validate(), Ok(()));
    }
}
