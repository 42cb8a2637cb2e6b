//! Timers for behaviours: jittered intervals, cron expressions in a time zone, and one-shot
//! delays.
//!
//! A behaviour registers triggers when it loads; the host turns each into a timer with
//! [`Scheduler::add`], owned by the behaviour (so a reload can [`Scheduler::cancel_owner`]) and
//! keyed by a stable string (so the last run survives restarts through [`LastRuns`]). Each fire
//! arrives as a [`Fire`] on the owner's bounded channel; the scheduler decides nothing else.
//!
//! Time is read only through the [`Clock`](crate::clock::Clock) and waited on only with
//! `tokio::time`, so tests run days of timers on a paused clock in milliseconds.
//!
//! - `every`: the first fire after a sample of `first` (or of `every`), then each gap a fresh
//!   uniform sample of `every`, counted from the previous *scheduled* deadline so slow delivery
//!   does not drift the cycle. Runs on tokio's monotonic clock: wall-clock jumps do not move it.
//! - `cron`: the next occurrence in the trigger's time zone, from the wall clock; the timer
//!   sleeps towards it in naps of at most a minute and re-reads the clock before firing. Each
//!   matching local time fires exactly once across daylight-saving changes: a repeated local time
//!   fires at its first pass, a skipped one at the first instant after the gap (`0 2 * * *` in
//!   `Europe/Madrid` runs at 03:00 summer time on the last Sunday of March). See `cron.rs`.
//!   Missed runs: at [`Scheduler::add`], if a last run is recorded and an occurrence fell after
//!   it and before now, `missed: run_once` fires once at once with `catch_up: true`; `skip` does
//!   not. With no recorded run nothing is caught up.
//! - `after`: one fire, then the timer is gone.
//!
//! [`Scheduler::pause_owner`] skips (and counts) the fires of an owner's timers until
//! [`Scheduler::resume_owner`], without changing their schedules: a suspended behaviour costs
//! a timer wake-up per due fire, nothing more.
//!
//! Every fire is recorded with [`LastRuns::set_last_run`] before it is delivered. A timer ends
//! when cancelled, when the shutdown token is cancelled, when its receiver is dropped, or when
//! it has nothing left to fire; it then leaves [`Scheduler::timers`].
//!
//! Layout:
//! - `spec.rs`: [`TriggerSpec`], [`Missed`], [`SpecError`] — what a trigger is, parsed and shown.
//! - `cron.rs`: cron occurrences as instants, with the daylight-saving rules.
//! - `plan.rs`: per-timer state that yields each next fire.
//! - `timer.rs`: the task behind one timer: wait, record, deliver.
//! - `handle.rs`: [`Scheduler`], [`TimerId`], [`Fire`], [`TimerInfo`] and the registry.
//! - `last_runs.rs`: [`LastRuns`] and [`MemoryLastRuns`].

mod cron;
mod handle;
mod last_runs;
mod plan;
mod spec;
mod timer;

#[cfg(test)]
mod tests;

pub use handle::{Fire, Scheduler, TimerId, TimerInfo};
pub use last_runs::{LastRuns, MemoryLastRuns};
pub use spec::{Missed, SpecError, TriggerSpec};
