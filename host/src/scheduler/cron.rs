//! Cron occurrences as instants, with daylight-saving time handled once, here.
//!
//! croner matches the pattern against local wall-clock times ("naive" times, with no zone); this
//! file turns each matching wall time into the one instant it fires at:
//!
//! - A wall time that exists once fires then.
//! - A wall time that occurs twice (the clocks go back, e.g. 02:00–02:59 on the last Sunday of
//!   October in `Europe/Madrid`) fires once, at its first occurrence (summer time). So a
//!   `0 2 * * *` job runs once that night, and a `*/15 * * * *` job is quiet during the repeated
//!   hour (use an `every` trigger for real-time intervals).
//! - A wall time that does not exist (the clocks go forward, e.g. 02:00–02:59 on the last Sunday
//!   of March in `Europe/Madrid`) fires at the first instant after the gap: `0 2 * * *` runs at
//!   03:00 summer time that day. Several wall times in one gap (`*/15`) fire together, once.
//!
//! So each matching wall time fires exactly once, and the instants never go backwards.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use crate::scheduler::spec::SpecError;

/// How many wall-clock matches one search may skip (they are skipped when they map to instants
/// already passed, which happens for at most the length of a repeated hour).
const MAX_SKIPPED: usize = 20_000;

/// A parsed cron expression in a time zone.
#[derive(Clone, Debug)]
pub(crate) struct CronSchedule {
    cron: Cron,
    tz: Tz,
}

impl CronSchedule {
    /// Parses `expr` (5 fields, or 6 with seconds first, or an `@nickname`) and checks that it
    /// fires at all.
    pub(crate) fn parse(expr: &str, tz: Tz) -> Result<Self, SpecError> {
        let bad = |why: String| SpecError::BadCron { expr: expr.to_string(), why };
        let fields = expr.split_whitespace().count();
        if !expr.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(bad(format!(
                "it has {fields} fields; write 5 (minute hour day-of-month month day-of-week, \
                 e.g. `0 2 * * *`) or 6 with seconds first"
            )));
        }
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(expr).map_err(|e| {
            bad(format!(
                "{e} (fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, \
                 day-of-week 0-7)"
            ))
        })?;
        let schedule = Self { cron, tz };
        // A pattern such as `0 0 30 2 *` parses but never matches: croner gives up searching.
        let probe = NaiveDateTime::default();
        if let Err(e) = schedule.cron.find_next_occurrence(&probe, true) {
            return Err(SpecError::NeverFires {
                expr: expr.to_string(),
                why: match e {
                    CronError::TimeSearchLimitExceeded => {
                        "no date matches its day and month fields; check them".to_string()
                    }
                    other => other.to_string(),
                },
            });
        }
        Ok(schedule)
    }

    /// The first occurrence after `t` (or at `t` when `inclusive`), or `None` if there is none
    /// that croner can find.
    pub(crate) fn next_from(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        // Start one second early, in wall time: when `t` is the very end of a gap, the wall
        // times inside the gap map to `t` itself.
        let mut local = self.local(t - TimeDelta::seconds(1));
        for _ in 0..MAX_SKIPPED {
            local = self.cron.find_next_occurrence(&local, false).ok()?;
            let at = self.instant(local);
            if at > t || (inclusive && at == t) {
                return Some(at);
            }
        }
        None
    }

    /// The latest occurrence strictly before `t`.
    pub(crate) fn previous_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut local = self.local(t);
        // During the repeated hour, wall times later than `t`'s mapped to the first pass, which
        // is before `t`: start the search from where the same wall time falls on that pass.
        if let LocalResult::Ambiguous(earlier, later) = self.tz.from_local_datetime(&local) {
            if later.to_utc() == t {
                local += later.to_utc() - earlier.to_utc();
            }
        }
        let mut inclusive = true;
        for _ in 0..MAX_SKIPPED {
            local = self.cron.find_previous_occurrence(&local, inclusive).ok()?;
            inclusive = false;
            let at = self.instant(local);
            if at < t {
                return Some(at);
            }
        }
        None
    }

    /// The wall time in this schedule's zone.
    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.tz).naive_local()
    }

    /// The instant a matching wall time fires at (see the module docs).
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.to_utc(),
            LocalResult::Ambiguous(earlier, _) => earlier.to_utc(),
            LocalResult::None => self.end_of_gap(local),
        }
    }

    /// The first instant whose wall time is after `local`, which lies in a gap. The wall time
    /// only moves forwards within two days of a gap, so a binary search over seconds finds it.
    fn end_of_gap(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let guess = local.and_utc().timestamp();
        let (mut lo, mut hi) = (guess - 2 * 86_400, guess + 2 * 86_400);
        let after = |secs: i64| DateTime::from_timestamp(secs, 0).is_some_and(|t| self.local(t) > local);
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if after(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        DateTime::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Offset, Timelike};

    fn madrid(expr: &str) -> CronSchedule {
        CronSchedule::parse(expr, chrono_tz::Europe::Madrid).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// Each occurrence from `start` on, `n` of them.
    fn walk(schedule: &CronSchedule, start: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = start;
        for _ in 0..n {
            t = schedule.next_from(t, false).unwrap();
            out.push(t);
        }
        out
    }

    #[test]
    fn spring_forward_gap_fires_at_the_end_of_the_gap() {
        // 2027-03-28: Madrid goes from 02:00 CET straight to 03:00 CEST (01:00 UTC).
        let fires = walk(&madrid("0 2 * * *"), utc("2027-03-26T12:00:00Z"), 3);
        assert_eq!(
            fires,
            [
                utc("2027-03-27T01:00:00Z"), // 02:00 CET
                utc("2027-03-28T01:00:00Z"), // 03:00 CEST: the first instant after the gap
                utc("2027-03-29T00:00:00Z"), // 02:00 CEST
            ]
        );
        // Every wall time in the gap fires once, together, at the gap's end.
        let quarterly = walk(&madrid("*/15 * * * *"), utc("2027-03-28T00:40:00Z"), 3);
        assert_eq!(
            quarterly,
            [
                utc("2027-03-28T00:45:00Z"), // 01:45 CET
                utc("2027-03-28T01:00:00Z"), // 02:00..02:45 and 03:00 CEST, once
                utc("2027-03-28T01:15:00Z"), // 03:15 CEST
            ]
        );
        // Asking from the gap's end itself, inclusively, still finds it.
        assert_eq!(madrid("0 2 * * *").next_from(utc("2027-03-28T01:00:00Z"), true), Some(utc("2027-03-28T01:00:00Z")));
    }

    #[test]
    fn fall_back_repeated_hour_fires_once_at_its_first_pass() {
        // 2027-10-31: Madrid goes from 03:00 CEST back to 02:00 CET (01:00 UTC).
        let schedule = madrid("0 2 * * *");
        let fires = walk(&schedule, utc("2027-10-29T12:00:00Z"), 3);
        assert_eq!(
            fires,
            [
                utc("2027-10-30T00:00:00Z"), // 02:00 CEST
                utc("2027-10-31T00:00:00Z"), // 02:00 CEST, first pass; not again at 01:00 UTC
                utc("2027-11-01T01:00:00Z"), // 02:00 CET
            ]
        );
        // From inside the second pass, the next is tomorrow and the previous is the first pass.
        let second_pass = utc("2027-10-31T01:30:00Z"); // 02:30 CET
        assert_eq!(schedule.next_from(second_pass, true), Some(utc("2027-11-01T01:00:00Z")));
        assert_eq!(schedule.previous_before(second_pass), Some(utc("2027-10-31T00:00:00Z")));
        let half_hourly = madrid("30 * * * *");
        assert_eq!(
            half_hourly.previous_before(second_pass + TimeDelta::minutes(1)),
            Some(utc("2027-10-31T00:30:00Z")) // 02:30 CEST; quiet during the second pass
        );
    }

    #[test]
    fn next_and_previous_agree_across_a_year() {
        let schedule = madrid("0 2 * * *");
        let fires = walk(&schedule, utc("2027-01-01T00:00:00Z"), 365);
        for pair in fires.windows(2) {
            let local = pair[1].with_timezone(&chrono_tz::Europe::Madrid);
            let gap_day = local.date_naive().to_string() == "2027-03-28";
            assert_eq!(local.hour(), if gap_day { 3 } else { 2 }, "{local}");
            assert_eq!(local.minute(), 0);
            assert_eq!(schedule.previous_before(pair[1]), Some(pair[0]));
            assert_eq!(schedule.next_from(pair[0], false), Some(pair[1]));
        }
        let offsets: std::collections::BTreeSet<i32> = fires
            .iter()
            .map(|t| t.with_timezone(&chrono_tz::Europe::Madrid).offset().fix().local_minus_utc())
            .collect();
        assert_eq!(offsets.into_iter().collect::<Vec<_>>(), [3600, 7200]);
    }

    #[test]
    fn seconds_field_and_nicknames_work() {
        let utc_tz = chrono_tz::UTC;
        let every_ten = CronSchedule::parse("*/10 * * * * *", utc_tz).unwrap();
        assert_eq!(every_ten.next_from(utc("2027-01-01T00:00:01Z"), false), Some(utc("2027-01-01T00:00:10Z")));
        let daily = CronSchedule::parse("@daily", utc_tz).unwrap();
        assert_eq!(daily.next_from(utc("2027-01-01T00:00:00Z"), true), Some(utc("2027-01-01T00:00:00Z")));
        assert_eq!(daily.next_from(utc("2027-01-01T00:00:00Z"), false), Some(utc("2027-01-02T00:00:00Z")));
    }
}
