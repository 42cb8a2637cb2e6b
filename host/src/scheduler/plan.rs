//! When a timer fires next: one [`Plan`] per timer, turning its [`TriggerSpec`] into a sequence
//! of [`Due`] fires. The task in `timer.rs` waits for each and delivers it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::duration::DurationRange;
use crate::scheduler::cron::CronSchedule;
use crate::scheduler::spec::{Missed, SpecError, TriggerSpec};

/// One fire to come.
#[derive(Clone, Debug)]
pub(crate) struct Due {
    /// The occurrence it stands for (for a catch-up, the missed one).
    pub scheduled: DateTime<Utc>,
    /// The wall time it is expected to fire at, for `next_fire`.
    pub expected: DateTime<Utc>,
    /// What to wait for.
    pub wake: Wake,
    pub catch_up: bool,
}

/// What a timer waits for before it fires.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wake {
    /// A point on tokio's monotonic clock: intervals and delays, immune to wall-clock jumps.
    At(Instant),
    /// A wall time: cron occurrences, re-checked against the [`Clock`] on every wake.
    Wall(DateTime<Utc>),
}

/// The per-kind state that yields each next [`Due`].
pub(crate) enum Plan {
    Every {
        every: DurationRange,
        rng: StdRng,
        /// The previous scheduled deadline: the next is counted from it, not from delivery.
        deadline: Instant,
    },
    Cron {
        schedule: CronSchedule,
        /// Occurrences up to here (inclusive unless `inclusive`) are done with.
        cursor: DateTime<Utc>,
        inclusive: bool,
    },
    After,
}

impl Plan {
    /// The plan for `spec` and its first fire, if any. `last_run` is the persisted last fire,
    /// which decides a cron trigger's missed-run catch-up.
    pub(crate) fn start(
        spec: &TriggerSpec,
        mut rng: StdRng,
        clock: &Clock,
        last_run: Option<DateTime<Utc>>,
    ) -> Result<(Self, Option<Due>), SpecError> {
        spec.validate()?;
        let now = Instant::now();
        match spec {
            TriggerSpec::Every { every, first } => {
                let deadline = now + first.as_ref().unwrap_or(every).sample(&mut rng);
                let due = monotonic_due(clock, deadline);
                let plan = Self::Every { every: *every, rng, deadline };
                Ok((plan, Some(due)))
            }
            TriggerSpec::After { delay } => {
                let due = monotonic_due(clock, now + delay.sample(&mut rng));
                Ok((Self::After, Some(due)))
            }
            TriggerSpec::Cron { expr, tz, missed } => {
                let schedule = CronSchedule::parse(expr, *tz)?;
                let wall_now = clock.now();
                let mut plan = Self::Cron { schedule: schedule.clone(), cursor: wall_now, inclusive: true };
                // An occurrence exactly at `now` is not missed: it is the next one.
                let missed_at =
                    last_run.and_then(|last| schedule.previous_before(wall_now).filter(|&previous| previous > last));
                let due = match (missed_at, missed) {
                    (Some(scheduled), Missed::RunOnce) => {
                        Some(Due { scheduled, expected: wall_now, wake: Wake::At(now), catch_up: true })
                    }
                    (Some(scheduled), Missed::Skip) => {
                        tracing::info!(%scheduled, ?last_run, "missed run skipped (missed: skip)");
                        plan.next(clock)
                    }
                    (None, _) => plan.next(clock),
                };
                Ok((plan, due))
            }
        }
    }

    /// The fire after the one just delivered.
    pub(crate) fn next(&mut self, clock: &Clock) -> Option<Due> {
        match self {
            Self::Every { every, rng, deadline } => {
                // Drift-free: count from the previous deadline. If delivery took longer than a
                // whole gap, fire now rather than in a burst.
                *deadline = (*deadline + every.sample(rng)).max(Instant::now());
                Some(monotonic_due(clock, *deadline))
            }
            Self::After => None,
            Self::Cron { schedule, cursor, inclusive } => {
                // If the wall clock jumped forwards past several occurrences, the one due fired
                // late and the rest are skipped; if it jumped back, nothing fires twice.
                let now = clock.now();
                let (from, incl) = if now > *cursor { (now, true) } else { (*cursor, *inclusive) };
                let Some(at) = schedule.next_from(from, incl) else {
                    tracing::warn!("cron expression has no further occurrence; timer ends");
                    return None;
                };
                *cursor = at;
                *inclusive = false;
                Some(Due { scheduled: at, expected: at, wake: Wake::Wall(at), catch_up: false })
            }
        }
    }
}

fn monotonic_due(clock: &Clock, deadline: Instant) -> Due {
    let wall = wall_at(clock, deadline);
    Due { scheduled: wall, expected: wall, wake: Wake::At(deadline), catch_up: false }
}

/// The wall time at which tokio's clock will read (or read) `instant`.
fn wall_at(clock: &Clock, instant: Instant) -> DateTime<Utc> {
    let now = Instant::now();
    let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
    let wall = clock.now();
    if instant >= now {
        wall.checked_add_signed(delta(instant - now))
    } else {
        wall.checked_sub_signed(delta(now - instant))
    }
    .unwrap_or(wall)
}
