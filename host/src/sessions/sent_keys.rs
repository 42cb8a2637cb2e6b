//! The idempotency keys of `send_text`: the first send with a (session, key) sends; another send
//! with the same key — later, or at the same time — waits for it and answers its message id
//! instead of sending again. A send that failed leaves the key free for a retry. With a
//! [`SentLog`] (cluster mode) the keys are also looked up in and recorded to the store, under
//! the lease epoch, and a host whose epoch is stale does not send.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::sent_log::{SentLog, SentLogError};

/// One key's outcome: `None` until a send with it succeeded. The async lock is held for the
/// whole send, so a second send with the key waits instead of checking before the first ends.
type Slot = Arc<tokio::sync::Mutex<Option<String>>>;

/// The last `cap` keys of a host, oldest first.
pub(crate) struct SentKeys {
    cap: usize,
    slots: Mutex<VecDeque<((String, String), Slot)>>,
    /// The durable record (cluster mode), set once.
    durable: OnceLock<Arc<dyn SentLog>>,
}

impl SentKeys {
    pub(crate) fn new(cap: usize) -> SentKeys {
        SentKeys { cap, slots: Mutex::new(VecDeque::new()), durable: OnceLock::new() }
    }

    /// Records keys in `log` too from now on (set once; later calls are ignored).
    pub(crate) fn set_durable(&self, log: Arc<dyn SentLog>) {
        let _ = self.durable.set(log);
    }

    fn slot(&self, session: &str, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, slot)) = slots.iter().find(|((s, k), _)| s == session && k == key) {
            return slot.clone();
        }
        if slots.len() == self.cap {
            slots.pop_front();
        }
        let slot = Slot::default();
        slots.push_back(((session.to_string(), key.to_string()), slot.clone()));
        slot
    }

    /// Runs `send` unless a send with `key` on `session` already succeeded (then its message id);
    /// without a key, always sends.
    pub(crate) async fn once<E, F, Fut>(&self, session: &str, key: Option<&str>, send: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
        E: From<SentLogError>,
    {
        let durable = self.durable.get();
        let Some(key) = key else {
            if let Some(log) = durable {
                log.check(session).await?;
            }
            return send().await;
        };
        let slot = self.slot(session, key);
        let mut done = slot.lock().await;
        if let Some(id) = done.as_ref() {
            return Ok(id.clone());
        }
        if let Some(log) = durable {
            if let Some(id) = log.find(session, key).await? {
                *done = Some(id.clone());
                return Ok(id);
            }
            log.check(session).await?;
        }
        let id = send().await?;
        *done = Some(id.clone());
        if let Some(log) = durable {
            log.record(session, key, &id).await?;
        }
        Ok(id)
    }
}

/// Keys recorded in `log` (tests of the cluster's record).
#[cfg(test)]
pub(crate) fn with_log(cap: usize, log: Arc<dyn SentLog>) -> SentKeys {
    let keys = SentKeys::new(cap);
    keys.set_durable(log);
    keys
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    async fn send(count: &AtomicUsize, fail: bool) -> Result<String, String> {
        let n = count.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if fail {
            Err("down".into())
        } else {
            Ok(format!("msg-{n}"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_sends_with_one_key_send_once() {
        let keys = SentKeys::new(8);
        let count = AtomicUsize::new(0);
        let (a, b) = tokio::join!(
            keys.once("s", Some("k"), || send(&count, false)),
            keys.once("s", Some("k"), || send(&count, false))
        );
        assert_eq!(a.unwrap(), b.unwrap());
        assert_eq!(count.load(Ordering::SeqCst), 1, "one send for one key");
        // Another session, or no key: a send of its own.
        keys.once("t", Some("k"), || send(&count, false)).await.unwrap();
        keys.once::<String, _, _>("s", None, || send(&count, false)).await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_send_leaves_the_key_for_a_retry_and_old_keys_are_forgotten() {
        let keys = SentKeys::new(2);
        let count = AtomicUsize::new(0);
        assert!(keys.once("s", Some("k"), || send(&count, true)).await.is_err());
        let id = keys.once("s", Some("k"), || send(&count, false)).await.unwrap();
        assert_eq!(id, "msg-1");
        keys.once("s", Some("k2"), || send(&count, false)).await.unwrap();
        keys.once("s", Some("k3"), || send(&count, false)).await.unwrap();
        // k was the oldest of three keys with room for two.
        assert_eq!(keys.once("s", Some("k"), || send(&count, false)).await.unwrap(), "msg-4");
    }
}
