//! Every event of a bus, recorded from the moment the recorder subscribes: tests count what
//! happened without reading a receiver that an earlier wait already drained.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;
use vigil::events::Event;

/// Records every event it receives, in order, until dropped.
pub struct Recorder {
    seen: Arc<Mutex<Vec<Event>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Starts recording from `rx` (subscribe it before anything can publish).
    pub fn start(mut rx: broadcast::Receiver<Event>) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => into.lock().unwrap().push(e),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the event recorder lagged by {n} events: counts would be wrong")
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Recorder { seen, task }
    }

    /// How many recorded events match.
    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.seen.lock().unwrap().iter().filter(|e| pred(e)).count()
    }

    /// How many events named `name` about session `id` were recorded.
    pub fn count_of(&self, name: &str, id: &str) -> usize {
        self.count(|e| e.name == name && e.data["session"] == id)
    }

    /// Waits until at least `n` recorded events match, then `settle` longer so that a duplicate
    /// would have arrived too; returns the count.
    pub async fn count_after(
        &self,
        n: usize,
        within: Duration,
        settle: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        while self.count(&pred) < n {
            assert!(tokio::time::Instant::now() < deadline, "fewer than {n} matching events within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(settle).await;
        self.count(&pred)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
