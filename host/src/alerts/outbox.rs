//! The outbox worker: sends due emails, retries failures with exponential backoff, marks each
//! sent once. Woken when something is queued; otherwise it sleeps until the next retry.
//!
//! Several hosts on one database (cluster mode) drain one outbox, so before each attempt the
//! worker claims the email in the store ([`Store::outbox_claim`]: its next attempt moved
//! [`CLAIM`] ahead, only while it is due): a host that lost the race skips it, and an email
//! whose sender died mid-attempt is due again, for any host, when the claim runs out. Only a
//! host frozen past its claim, or clocks more than [`CLAIM`] apart, can still send one twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::mailer::Mailer;
use crate::clock::Clock;
use crate::events::{Event, EventBus};
use crate::store::Store;

/// How long a claim on an email lasts: longer than any SMTP attempt (`[smtp] timeout`, 30 s
/// by default, per step) takes.
pub const CLAIM: Duration = Duration::from_secs(5 * 60);

/// Retry timing.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `attempts`-th failure: min, 2·min, 4·min, … up to max.
    pub fn after(&self, attempts: i64) -> Duration {
        let factor = 1u32.checked_shl(attempts.clamp(0, 20) as u32).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }
}

/// Runs until `shutdown`. Emails in flight when it comes are finished.
pub async fn run(
    store: Store,
    mut mailer: Mailer,
    clock: Clock,
    backoff: Backoff,
    wake: Arc<Notify>,
    bus: EventBus,
    shutdown: CancellationToken,
) {
    loop {
        let due = match store.outbox_due(clock.now(), 50).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("outbox: {e}");
                Vec::new()
            }
        };
        for e in &due {
            if shutdown.is_cancelled() {
                return;
            }
            let now = clock.now();
            let until = now + chrono::Duration::from_std(CLAIM).unwrap_or_default();
            match store.outbox_claim(e.id, now, until).await {
                Ok(true) => {}
                Ok(false) => continue, // another host's worker sends it
                Err(err) => {
                    tracing::warn!("outbox: {err}");
                    continue;
                }
            }
            match mailer.send(&e.email, &e.idempotency_key).await {
                Ok(()) => {
                    match store.outbox_sent(e.id, clock.now()).await {
                        Ok(true) => tracing::info!(to = %e.email.to, subject = %e.email.subject, "email sent"),
                        Ok(false) => {}
                        Err(err) => tracing::error!(id = e.id, "email sent but not marked: {err}"),
                    }
                    bus.publish(Event {
                        name: "email.sent".into(),
                        source: "host".into(),
                        at: clock.now(),
                        data: serde_json::json!({"id": e.id, "key": e.idempotency_key, "to": e.email.to, "subject": e.email.subject}),
                        depth: 0,
                    });
                }
                Err(err) => {
                    let wait = backoff.after(e.attempts);
                    let next = clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    tracing::warn!(to = %e.email.to, attempt = e.attempts + 1, retry_in = ?wait, "email not sent: {err}");
                    if let Err(se) = store.outbox_failed(e.id, &err.to_string(), next).await {
                        tracing::error!("outbox: {se}");
                    }
                    bus.publish(Event {
                        name: "email.failed".into(),
                        source: "host".into(),
                        at: clock.now(),
                        data: serde_json::json!({"id": e.id, "key": e.idempotency_key, "error": err.to_string(), "attempts": e.attempts + 1}),
                        depth: 0,
                    });
                }
            }
        }
        if due.len() == 50 {
            continue; // more are waiting
        }
        let sleep = match store.outbox_next_due().await {
            Ok(Some(t)) => (t - clock.now()).to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(60)),
            _ => Duration::from_secs(60),
        };
        if sleep.is_zero() && !due.is_empty() {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(10))) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff { min: Duration::from_secs(5), max: Duration::from_secs(600) };
        let waits: Vec<u64> = (0..9).map(|a| b.after(a).as_secs()).collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(b.after(1000).as_secs(), 600);
    }
}
