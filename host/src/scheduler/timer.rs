//! The task behind one timer: wait for each [`Due`], send the [`Fire`], record it, repeat; end
//! when cancelled, on shutdown, when the receiver is gone, or when the plan runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::scheduler::handle::{Fire, Shared, TimerId};
use crate::scheduler::plan::{Due, Plan, Wake};

/// The longest single sleep towards a wall time, so a wall clock that jumps forwards (an NTP
/// step, a resumed machine) is noticed within this long.
const MAX_NAP: Duration = Duration::from_secs(60);

/// The longest single sleep towards a monotonic deadline.
const LONGEST_SLEEP: Duration = Duration::from_secs(365 * 86_400);

pub(crate) struct Timer {
    pub id: TimerId,
    pub owner: Arc<str>,
    pub key: Arc<str>,
    pub plan: Plan,
    pub tx: mpsc::Sender<Fire>,
    pub cancel: CancellationToken,
    pub shared: Arc<Shared>,
}

impl Timer {
    /// Runs until the timer ends, then takes it out of the registry.
    pub(crate) async fn run(mut self, first: Option<Due>) {
        let mut due = first;
        while let Some(next) = due.take() {
            if !self.fire(next).await {
                break;
            }
            due = self.plan.next(&self.shared.clock);
            self.shared.registry.set_next(self.id, due.as_ref().map(|d| d.expected));
        }
        self.shared.registry.remove(self.id);
        tracing::debug!("timer ended");
    }

    /// Waits for `due` and delivers it; `false` when the timer must end instead.
    async fn fire(&mut self, due: Due) -> bool {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => return false,
            () = self.tx.closed() => {
                tracing::debug!("receiver dropped");
                return false;
            }
            () = wait(&self.shared.clock, due.wake) => {}
        }
        if self.shared.skip_if_paused(&self.owner) {
            tracing::trace!(scheduled = %due.scheduled, "fire skipped: the owner is paused");
            return true;
        }
        let fired = self.shared.clock.now();
        let fired_at = Instant::now();
        // Recorded before delivery, so a crash while the handler runs does not re-run it.
        self.shared.registry.record_fire(self.id, fired);
        self.shared.last_runs.set_last_run(&self.owner, &self.key, fired).await;
        tracing::debug!(scheduled = %due.scheduled, %fired, catch_up = due.catch_up, "fire");
        let fire = Fire {
            owner: self.owner.clone(),
            timer: self.id,
            key: self.key.clone(),
            scheduled: due.scheduled,
            fired,
            fired_at,
            catch_up: due.catch_up,
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => false,
            sent = self.tx.send(fire) => sent.is_ok(),
        }
    }
}

/// Sleeps until `wake`. A wall time is re-checked against the clock after every nap: the clock
/// may have jumped either way while tokio's clock ran on.
async fn wait(clock: &Clock, wake: Wake) {
    match wake {
        Wake::At(deadline) => {
            // tokio clamps sleeps past about two years; sleep in laps of at most one.
            while Instant::now() < deadline {
                tokio::time::sleep_until(deadline.min(Instant::now() + LONGEST_SLEEP)).await;
            }
        }
        Wake::Wall(at) => wait_for_wall(clock, at).await,
    }
}

async fn wait_for_wall(clock: &Clock, at: DateTime<Utc>) {
    loop {
        let left = clock.until(at);
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(MAX_NAP)).await;
    }
}
