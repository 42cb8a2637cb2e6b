//! Webhooks: every event on the bus whose name matches a `[[webhooks]]` entry's prefixes is
//! POSTed to its URL as JSON, signed, retried with backoff, in order.
//!
//! Built into the host, not a plugin, on purpose: delivering needs outbound HTTP and secrets
//! from the environment, which the plugin sandbox deliberately does not grant (a behaviour
//! reaches nothing but the host API); one HTTP client (connection pools, TLS) and one retry
//! queue per receiver serve every event source alike; and deliveries go on while behaviours
//! are reloaded, since nothing here belongs to a behaviour.
//!
//! Per receiver: a dispatcher task writes each of the receiver's events from the bus into the
//! store (`webhook_deliveries`, with its delivery id and body made once), and a sender task
//! delivers them one at a time, oldest first, so one receiver sees its events in order. The
//! dispatcher never waits on the network, so a slow receiver never holds the bus back; past
//! `queue` waiting deliveries the oldest is dropped, with a warning and a count. A delivery is
//! retried on a connection error, a timeout, a 5xx or a 429, after `retry_min`, doubling up to
//! `retry_max`, at most `attempts` times; any other answer outside 2xx is given up at once
//! with a warning. Since the deliveries wait in the store, a restart or a crash of the host
//! loses none: the sender goes on after it where it was, each retry at its time, and every
//! attempt of one event carries the same `X-Vigil-Delivery`, so a receiver can drop the
//! duplicate of a delivery whose answer the host did not live to record.
//!
//! Several hosts on one database (cluster mode) share the queue: each host puts on it only
//! the events of its own bus (the events of the sessions it runs; the other hosts' events
//! reach it only through [`crate::cluster::Feed`], which feeds `/events`, not this), so each
//! event is queued once in the cluster; but every host with the same receiver drains that
//! receiver's one queue. So a sender claims a delivery in the store before it sends it
//! ([`Store::claim_webhook`]: its node id on the receiver's oldest due row, for the request's
//! `timeout` plus [`CLAIM_MARGIN`]), and no other host sends that row, or any later one of
//! that receiver, while the claim lives: one host at a time sends each receiver's deliveries,
//! in order. A host that died mid-attempt holds the row up until its claim expires (the same
//! node id restarted takes it back at once); a sender with nothing to send looks again every
//! [`IDLE_POLL`], so the deliveries a dead host queued are sent by another. Only a host frozen
//! past its claim (or hosts whose clocks differ by more than the margin) can still send a
//! delivery twice: receivers drop the copy by `X-Vigil-Delivery`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::WebhookConfig;
use crate::events::{Event, EventBus};
use crate::store::webhooks::{Claim, Delivery, NewDelivery};
use crate::store::Store;

/// How much longer than the request's `timeout` a claim on a delivery lasts (its outcome
/// written, the hosts' clocks a little apart).
pub const CLAIM_MARGIN: Duration = Duration::from_secs(30);
/// How often a sender with nothing to send looks for deliveries other hosts queued and left.
pub const IDLE_POLL: Duration = Duration::from_secs(5);
/// How often a sender waiting behind another host's claim looks whether it is done.
const BUSY_POLL: Duration = Duration::from_secs(2);

/// What a receiver's deliveries came to so far.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Events the receiver accepted (2xx).
    pub delivered: AtomicU64,
    /// HTTP requests made, retries included.
    pub attempts: AtomicU64,
    /// Events given up: a 4xx other than 429, or `attempts` failures.
    pub given_up: AtomicU64,
    /// Events dropped from a full queue before they were tried (or missed on the bus).
    pub dropped: AtomicU64,
}

/// reqwest is built without a default crypto provider (no aws-lc); this makes ring, which
/// lettre uses too, the process's provider. Call it before building any reqwest client in this
/// process (the tests' HTTP clients too: cargo unifies reqwest's features). Installing fails
/// only when one is installed already, which is as good.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A running receiver: its URL and counters.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub stats: Arc<WebhookStats>,
}

/// Does `name` match one of `prefixes` (none = every event)?
pub fn wanted(prefixes: &[String], name: &str) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| name.starts_with(p.as_str()))
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`, the `X-Vigil-Signature` header.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The wait before retry number `retry` (1 = the first retry).
fn backoff(min: Duration, max: Duration, retry: u32) -> Duration {
    min.saturating_mul(2u32.saturating_pow(retry.saturating_sub(1))).min(max)
}

/// Starts one dispatcher and one sender per receiver; they stop on `shutdown`. Deliveries
/// left pending in `store` by an earlier run are sent first. `node` names this host in the
/// deliveries' claims (the cluster's node id).
pub fn start(
    hooks: &[WebhookConfig],
    bus: &EventBus,
    store: &Store,
    clock: &Clock,
    node: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Vec<Webhook>, Vec<JoinHandle<()>>)> {
    if hooks.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the webhooks' HTTP client: {e}"))?;
    let mut handles = Vec::new();
    let mut running = Vec::new();
    for hook in hooks {
        let lane = Arc::new(Lane {
            hook: hook.clone(),
            store: store.clone(),
            clock: clock.clone(),
            node: node.to_string(),
            stats: Arc::new(WebhookStats::default()),
            ready: Notify::new(),
        });
        handles.push(tokio::spawn(dispatch(lane.clone(), bus.subscribe(), shutdown.clone())));
        handles.push(tokio::spawn(send(lane.clone(), client.clone(), shutdown.clone())));
        tracing::info!(url = %hook.url, events = ?hook.events, signed = hook.secret.is_some(), "webhook ready");
        running.push(Webhook { url: hook.url.clone(), stats: lane.stats.clone() });
    }
    Ok((running, handles))
}

/// What a receiver's two tasks share.
struct Lane {
    hook: WebhookConfig,
    store: Store,
    clock: Clock,
    /// This host in the deliveries' claims.
    node: String,
    stats: Arc<WebhookStats>,
    /// Notified when a delivery is queued.
    ready: Notify,
}

async fn dispatch(lane: Arc<Lane>, mut rx: broadcast::Receiver<Event>, shutdown: CancellationToken) {
    use broadcast::error::RecvError;
    let hook = &lane.hook;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = rx.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    lane.stats.dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(url = %hook.url, "webhook: {n} events were missed: the host made them faster than they could be queued");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        if !wanted(&hook.events, &event.name) {
            continue;
        }
        let body = match serde_json::to_string(&event) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(url = %hook.url, event = %event.name, "webhook: the event cannot be written as JSON: {e}");
                continue;
            }
        };
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let cap = hook.queue.max(1);
        let id = hex(&id);
        let d = NewDelivery { receiver: &hook.url, id: &id, event: &event.name, body: &body };
        match lane.store.queue_webhook(d, lane.clock.now(), cap).await {
            Ok(dropped) => {
                for old in dropped {
                    let n = lane.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(
                        url = %hook.url,
                        event = %old.event,
                        delivery = %old.id,
                        dropped = n,
                        "webhook: the receiver is too slow and {cap} events wait: dropped the oldest (raise `queue` in \
                         [[webhooks]] or fix the receiver)"
                    );
                }
                lane.ready.notify_one();
            }
            Err(e) => {
                lane.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = %hook.url, event = %event.name, "webhook: the event could not be queued, so it is not sent: {e}");
            }
        }
    }
}

async fn send(lane: Arc<Lane>, client: reqwest::Client, shutdown: CancellationToken) {
    let hold = lane.hook.timeout.0 + CLAIM_MARGIN;
    loop {
        let claim = lane.store.claim_webhook(&lane.hook.url, &lane.node, lane.clock.now(), hold).await;
        let wait = match claim {
            Ok(Claim::Got(d)) => {
                // Stopped mid-attempt, the delivery stays pending (claimed by this node, which
                // takes it back when it starts again) and goes again after the restart.
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = attempt(&lane, &client, &d) => {}
                }
                continue;
            }
            // Not due yet, or another host is sending the oldest: look again then (or sooner:
            // the other host may be done before its claim runs out).
            Ok(Claim::Busy(at)) => lane.clock.until(at).clamp(Duration::from_millis(20), BUSY_POLL),
            Ok(Claim::Idle) => IDLE_POLL,
            Err(e) => {
                tracing::warn!(url = %lane.hook.url, "webhook: cannot read the waiting deliveries, trying again in 1s: {e}");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = lane.ready.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// What one attempt came to.
enum Outcome {
    Done,
    Retry(String),
    GiveUp(String),
}

/// One attempt of `d`, and its outcome recorded in the store.
async fn attempt(lane: &Lane, client: &reqwest::Client, d: &Delivery) {
    let hook = &lane.hook;
    let stats = &lane.stats;
    let signed = hook.secret.as_ref().map(|s| signature(s.0.as_bytes(), d.body.as_bytes()));
    let attempts = i64::from(hook.attempts.max(1));
    let attempt = d.attempts + 1;
    stats.attempts.fetch_add(1, Ordering::Relaxed);
    let mut req = client
        .post(&hook.url)
        .timeout(hook.timeout.0)
        .header("Content-Type", "application/json")
        .header("X-Vigil-Event", &d.event)
        .header("X-Vigil-Delivery", &d.id)
        .body(d.body.clone());
    if let Some(sig) = &signed {
        req = req.header("X-Vigil-Signature", sig);
    }
    let outcome = match req.send().await {
        Ok(r) if r.status().is_success() => Outcome::Done,
        Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
            Outcome::Retry(format!("answered {}", r.status()))
        }
        Ok(r) => Outcome::GiveUp(format!("answered {}", r.status())),
        Err(e) => Outcome::Retry(format!("{e}")),
    };
    let delivery = &d.id;
    let recorded = match outcome {
        Outcome::Done => {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(url = %hook.url, event = %d.event, %delivery, attempt, "webhook delivered");
            lane.store.webhook_delivered(d.row).await.map(|()| true)
        }
        Outcome::GiveUp(why) => {
            stats.given_up.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                url = %hook.url,
                event = %d.event,
                %delivery,
                "webhook: the receiver {why}, which a retry will not change: event given up (check the URL \
                 and what the receiver expects)"
            );
            lane.store.webhook_failed(d.row, &lane.node, &why, None).await
        }
        Outcome::Retry(why) if attempt < attempts => {
            let wait = backoff(hook.retry_min.0, hook.retry_max.0, attempt as u32);
            tracing::info!(url = %hook.url, event = %d.event, %delivery, attempt, "webhook: {why}; retrying in {wait:?}");
            let at = lane.clock.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            lane.store.webhook_failed(d.row, &lane.node, &why, Some(at)).await
        }
        Outcome::Retry(why) => {
            stats.given_up.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                url = %hook.url,
                event = %d.event,
                %delivery,
                "webhook: {why} on the last of {attempts} attempts: event given up (is the receiver up?)"
            );
            lane.store.webhook_failed(d.row, &lane.node, &why, None).await
        }
    };
    if let Ok(false) = recorded {
        tracing::warn!(
            url = %hook.url,
            %delivery,
            "webhook: this host's claim on the delivery ran out before its attempt was recorded, and another host \
             took it over: the outcome here is dropped (is this host's clock or database link slow?)"
        );
    }
    if let Err(e) = recorded {
        tracing::warn!(url = %hook.url, %delivery, "webhook: cannot record the attempt, trying again in 1s: {e}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_backoff() {
        assert!(wanted(&[], "anything"));
        let p = vec!["session.".to_string(), "monitor.disconnected".to_string()];
        assert!(wanted(&p, "session.ready") && wanted(&p, "monitor.disconnected"));
        assert!(!wanted(&p, "behaviour.reloaded") && !wanted(&p, "sessions"));
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(300));
        let waits: Vec<u64> = (1..=10).map(|r| backoff(min, max, r).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(min, max, 100), max);
    }

    #[test]
    fn the_signature_is_the_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
