//! Webhooks: every event on the bus whose name matches a `[[webhooks]]` entry's prefixes is
//! POSTed to its URL as JSON, signed, retried with backoff, in order.
//!
//! Built into the host, not a plugin, on purpose: delivering needs outbound HTTP and secrets
//! from the environment, which the plugin sandbox deliberately does not grant (a behaviour
//! reaches nothing but the host API); one HTTP client (connection pools, TLS) and one retry
//! queue per receiver serve every event source alike; and deliveries go on while behaviours
//! are reloaded, since nothing here belongs to a behaviour.
//!
//! Per receiver: a dispatcher task takes the receiver's events off the bus into a bounded
//! queue (it never waits on the network, so a slow receiver never holds the bus back; when the
//! queue is full the oldest event is dropped, with a warning and a count) and a sender task
//! delivers them one at a time, oldest first, so one receiver sees its events in order. A
//! delivery is retried on a connection error, a timeout, a 5xx or a 429, after `retry_min`,
//! doubling up to `retry_max`, at most `attempts` times; any other answer outside 2xx is given
//! up at once with a warning. Every attempt of one event carries the same `X-Vigil-Delivery`,
//! so a receiver can drop duplicates. The queue is in memory: what waits at shutdown is lost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::WebhookConfig;
use crate::events::{Event, EventBus};

/// What a receiver's deliveries came to so far.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Events the receiver accepted (2xx).
    pub delivered: AtomicU64,
    /// HTTP requests made, retries included.
    pub attempts: AtomicU64,
    /// Events given up: a 4xx other than 429, or `attempts` failures.
    pub given_up: AtomicU64,
    /// Events dropped from a full queue before they were tried.
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

/// Starts one dispatcher and one sender per receiver; they stop on `shutdown`.
pub fn start(
    hooks: &[WebhookConfig],
    bus: &EventBus,
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
        let queue = Arc::new(Queue::new(hook.queue.max(1)));
        let stats = Arc::new(WebhookStats::default());
        handles.push(tokio::spawn(dispatch(
            hook.clone(),
            bus.subscribe(),
            queue.clone(),
            stats.clone(),
            shutdown.clone(),
        )));
        handles.push(tokio::spawn(send(hook.clone(), client.clone(), queue, stats.clone(), shutdown.clone())));
        tracing::info!(url = %hook.url, events = ?hook.events, signed = hook.secret.is_some(), "webhook ready");
        running.push(Webhook { url: hook.url.clone(), stats });
    }
    Ok((running, handles))
}

/// A bounded queue that drops its oldest entry when full.
struct Queue {
    items: Mutex<VecDeque<Event>>,
    cap: usize,
    ready: Notify,
}

impl Queue {
    fn new(cap: usize) -> Self {
        Self { items: Mutex::new(VecDeque::new()), cap, ready: Notify::new() }
    }

    /// Adds `e`; returns the event dropped to make room, if any.
    fn push(&self, e: Event) -> Option<Event> {
        let dropped = {
            let mut q = self.items.lock().expect("webhook queue");
            let dropped = if q.len() >= self.cap { q.pop_front() } else { None };
            q.push_back(e);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Event> {
        self.items.lock().expect("webhook queue").pop_front()
    }
}

async fn dispatch(
    hook: WebhookConfig,
    mut rx: broadcast::Receiver<Event>,
    queue: Arc<Queue>,
    stats: Arc<WebhookStats>,
    shutdown: CancellationToken,
) {
    use broadcast::error::RecvError;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = rx.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    stats.dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(url = %hook.url, "webhook: {n} events were missed: the host made them faster than they could be queued");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        if !wanted(&hook.events, &event.name) {
            continue;
        }
        if let Some(old) = queue.push(event) {
            let n = stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                url = %hook.url,
                event = %old.name,
                dropped = n,
                "webhook: the receiver is too slow and {} events wait: dropped the oldest (raise `queue` in [[webhooks]] \
                 or fix the receiver)",
                queue.cap
            );
        }
    }
}

async fn send(
    hook: WebhookConfig,
    client: reqwest::Client,
    queue: Arc<Queue>,
    stats: Arc<WebhookStats>,
    shutdown: CancellationToken,
) {
    loop {
        let Some(event) = queue.pop() else {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = queue.ready.notified() => continue,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = deliver(&hook, &client, &event, &stats) => {}
        }
    }
}

/// What one attempt came to.
enum Outcome {
    Done,
    Retry(String),
    GiveUp(String),
}

async fn deliver(hook: &WebhookConfig, client: &reqwest::Client, event: &Event, stats: &WebhookStats) {
    let body = match serde_json::to_vec(event) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(url = %hook.url, event = %event.name, "webhook: the event cannot be written as JSON: {e}");
            return;
        }
    };
    let mut id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut id);
    let delivery = hex(&id);
    let signed = hook.secret.as_ref().map(|s| signature(s.0.as_bytes(), &body));
    let attempts = hook.attempts.max(1);
    for attempt in 1..=attempts {
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        let mut req = client
            .post(&hook.url)
            .timeout(hook.timeout.0)
            .header("Content-Type", "application/json")
            .header("X-Vigil-Event", &event.name)
            .header("X-Vigil-Delivery", &delivery)
            .body(body.clone());
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
        match outcome {
            Outcome::Done => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(url = %hook.url, event = %event.name, %delivery, attempt, "webhook delivered");
                return;
            }
            Outcome::GiveUp(why) => {
                stats.given_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    url = %hook.url,
                    event = %event.name,
                    %delivery,
                    "webhook: the receiver {why}, which a retry will not change: event given up (check the URL \
                     and what the receiver expects)"
                );
                return;
            }
            Outcome::Retry(why) if attempt < attempts => {
                let wait = backoff(hook.retry_min.0, hook.retry_max.0, attempt);
                tracing::info!(url = %hook.url, event = %event.name, %delivery, attempt, "webhook: {why}; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
            }
            Outcome::Retry(why) => {
                stats.given_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    url = %hook.url,
                    event = %event.name,
                    %delivery,
                    "webhook: {why} on the last of {attempts} attempts: event given up (is the receiver up?)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> Event {
        Event {
            name: name.into(),
            source: "host".into(),
            at: chrono::Utc::now(),
            data: serde_json::json!({}),
            depth: 0,
        }
    }

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

    #[test]
    fn a_full_queue_drops_its_oldest_event() {
        let q = Queue::new(2);
        assert!(q.push(event("a")).is_none());
        assert!(q.push(event("b")).is_none());
        assert_eq!(q.push(event("c")).map(|e| e.name).as_deref(), Some("a"));
        assert_eq!(q.pop().map(|e| e.name).as_deref(), Some("b"));
        assert_eq!(q.pop().map(|e| e.name).as_deref(), Some("c"));
        assert!(q.pop().is_none());
    }
}
