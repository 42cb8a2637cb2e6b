//! Send limits per session, in the host, so every sender (the API, behaviours, keepalive) is
//! held to them: a token bucket (`sessions.send_rate`, e.g. `"20/min"`, of size
//! `sessions.send_burst`) and a cap on messages per 24 h to numbers the account never wrote to
//! before (`sessions.new_contacts_per_day`; the numbers written to are kept in
//! `data/sessions/<id>/recipients.txt`). A send over the rate waits for its turn up to the
//! send timeout, else fails naming the limit; over the daily cap it fails at once.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::SessionError;

/// `"<count>/<sec|min|hour|day>"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// Parses `sessions.send_rate`; `""` = no limit.
    pub fn parse(text: &str) -> Result<Option<Rate>, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let bad = || {
            format!(
                "sessions.send_rate = {t:?} is not a rate: write `<count>/<unit>` with unit sec, min, hour or day, \
                 e.g. \"20/min\", or \"\" for no limit"
            )
        };
        let (n, unit) = t.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86400,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(format!(
                "sessions.send_rate = {t:?} allows no send at all: use \"\" for no limit, or a count of 1 or more"
            ));
        }
        Ok(Some(Rate { count, per: Duration::from_secs(per) }))
    }
}

struct Bucket {
    /// May go below zero: each waiting send has reserved its token.
    tokens: f64,
    last: Instant,
}

#[derive(Default)]
struct Contacts {
    loaded: bool,
    known: HashSet<String>,
    /// When sends to new numbers went, within the last 24 h.
    new_sends: VecDeque<Instant>,
}

/// A send that may go; [`SendLimits::sent`] records it once it went.
#[derive(Debug)]
pub struct Permit {
    /// How long it waited for its turn.
    pub waited: Duration,
    /// It goes to a number this session never wrote to.
    pub new_contact: bool,
}

pub struct SendLimits {
    rate: Option<(Rate, u32)>,
    new_per_day: u32,
    buckets: Mutex<BTreeMap<String, Bucket>>,
    contacts: Mutex<BTreeMap<String, Contacts>>,
}

const DAY: Duration = Duration::from_secs(86400);

impl SendLimits {
    pub fn new(rate: Option<Rate>, burst: Option<u32>, new_per_day: u32) -> SendLimits {
        let rate = rate.map(|r| (r, burst.unwrap_or(r.count).max(1)));
        SendLimits { rate, new_per_day, buckets: Mutex::default(), contacts: Mutex::default() }
    }

    pub fn from_settings(s: &super::Settings) -> SendLimits {
        SendLimits::new(s.send_rate, s.send_burst, s.new_contacts_per_day)
    }

    /// [`SendLimits::acquire`] for a session's cell, with its events: `message.send_delayed`
    /// (waited its turn) and `message.send_refused` (over a limit).
    pub(crate) async fn admit(
        &self,
        cell: &super::cell::SessionCell,
        wid: &str,
        timeout: Duration,
    ) -> Result<Permit, SessionError> {
        let out = self.acquire(&cell.id, wid, &cell.dir, timeout).await;
        match &out {
            Ok(p) if !p.waited.is_zero() => cell.publish(
                "message.send_delayed",
                serde_json::json!({ "to": wid, "waited_ms": p.waited.as_millis() as u64 }),
            ),
            Err(e @ SessionError::Limited { limit, .. }) => cell.publish(
                "message.send_refused",
                serde_json::json!({ "to": wid, "limit": limit, "error": e.to_string() }),
            ),
            _ => {}
        }
        out
    }

    fn describe_rate(&self) -> String {
        match self.rate {
            Some((r, b)) => format!("sessions.send_rate ({} per {:?}, burst {b})", r.count, r.per),
            None => "sessions.send_rate".into(),
        }
    }

    /// Waits for the session's turn to send to `wid`, at most `timeout`. `dir` is the
    /// session's folder (for the numbers it wrote to).
    pub async fn acquire(&self, id: &str, wid: &str, dir: &Path, timeout: Duration) -> Result<Permit, SessionError> {
        let new_contact = self.check_new_contact(id, wid, dir)?;
        let Some((rate, burst)) = self.rate else {
            return Ok(Permit { waited: Duration::ZERO, new_contact });
        };
        let per_token = rate.per.as_secs_f64() / rate.count as f64;
        let now = Instant::now();
        let wait = {
            let mut buckets = self.buckets.lock().expect("buckets");
            let b = buckets.entry(id.to_string()).or_insert(Bucket { tokens: burst as f64, last: now });
            b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() / per_token).min(burst as f64);
            b.last = now;
            let wait =
                if b.tokens >= 1.0 { Duration::ZERO } else { Duration::from_secs_f64((1.0 - b.tokens) * per_token) };
            if wait > timeout {
                return Err(SessionError::Limited {
                    id: id.into(),
                    limit: self.describe_rate(),
                    message: format!(
                        "its next turn is in {:.1} s, beyond the send timeout of {timeout:?}: send later, or raise the limit",
                        wait.as_secs_f64()
                    ),
                });
            }
            b.tokens -= 1.0; // reserved: later senders queue behind this one
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(Permit { waited: wait, new_contact })
    }

    /// Fails when `wid` is a new number and today's cap of new numbers is reached.
    fn check_new_contact(&self, id: &str, wid: &str, dir: &Path) -> Result<bool, SessionError> {
        if self.new_per_day == 0 {
            return Ok(false);
        }
        let mut all = self.contacts.lock().expect("contacts");
        let c = all.entry(id.to_string()).or_default();
        if !c.loaded {
            c.loaded = true;
            if let Ok(text) = std::fs::read_to_string(recipients_file(dir)) {
                c.known.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string));
            }
        }
        if c.known.contains(wid) {
            return Ok(false);
        }
        let now = Instant::now();
        while c.new_sends.front().is_some_and(|t| now.duration_since(*t) >= DAY) {
            c.new_sends.pop_front();
        }
        if c.new_sends.len() as u32 >= self.new_per_day {
            return Err(SessionError::Limited {
                id: id.into(),
                limit: format!("sessions.new_contacts_per_day ({})", self.new_per_day),
                message: format!(
                    "{} messages went to numbers this account never wrote to in the last 24 h; {wid} is another one: \
                     send to it later, or raise the limit",
                    c.new_sends.len()
                ),
            });
        }
        Ok(true)
    }

    /// Records a send that went: a new number becomes known (and counts for the day).
    pub fn sent(&self, id: &str, wid: &str, dir: &Path, permit: &Permit) {
        if !permit.new_contact {
            return;
        }
        let mut all = self.contacts.lock().expect("contacts");
        let c = all.entry(id.to_string()).or_default();
        c.new_sends.push_back(Instant::now());
        if c.known.insert(wid.to_string()) {
            let path = recipients_file(dir);
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| writeln!(f, "{wid}"));
            if let Err(e) = written {
                tracing::warn!(session = %id, "cannot record a new recipient in {}: {e}", path.display());
            }
        }
    }
}

fn recipients_file(dir: &Path) -> PathBuf {
    dir.join("recipients.txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_bad_ones_name_the_key_and_the_fix() {
        assert_eq!(Rate::parse("20/min").unwrap(), Some(Rate { count: 20, per: Duration::from_secs(60) }));
        assert_eq!(Rate::parse(" 3 / hour ").unwrap(), Some(Rate { count: 3, per: Duration::from_secs(3600) }));
        assert_eq!(Rate::parse("").unwrap(), None);
        for bad in ["20", "x/min", "20/week", "0/min"] {
            let e = Rate::parse(bad).unwrap_err();
            assert!(e.contains("sessions.send_rate") && e.contains('"'), "{e}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn twenty_five_sends_at_twenty_a_minute_go_twenty_at_once_then_spread() {
        let limits = std::sync::Arc::new(SendLimits::new(Rate::parse("20/min").unwrap(), None, 0));
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..25 {
            let (l, d) = (limits.clone(), dir.path().to_path_buf());
            tasks.push(tokio::spawn(async move {
                l.acquire("a", "34600000002@c.us", &d, Duration::from_secs(120)).await.unwrap();
                Instant::now().duration_since(t0)
            }));
        }
        let mut at = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap());
        }
        at.sort();
        assert!(at[..20].iter().all(|d| d.is_zero()), "20 at once: {at:?}");
        let rest: Vec<u64> = at[20..].iter().map(|d| d.as_secs()).collect();
        assert_eq!(rest, vec![3, 6, 9, 12, 15], "then one every 3 s");
        assert!(at[24] <= Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn over_the_rate_with_a_short_timeout_the_error_names_the_limit() {
        let limits = SendLimits::new(Rate::parse("2/min").unwrap(), Some(1), 0);
        let dir = tempfile::tempdir().unwrap();
        limits.acquire("a", "x@c.us", dir.path(), Duration::from_secs(1)).await.unwrap();
        let e = limits.acquire("a", "x@c.us", dir.path(), Duration::from_secs(1)).await.unwrap_err().to_string();
        assert!(e.contains("sessions.send_rate (2 per 60s, burst 1)") && e.contains("session `a`"), "{e}");
        // Another session has its own bucket.
        limits.acquire("b", "x@c.us", dir.path(), Duration::from_secs(1)).await.unwrap();
        // With a timeout that covers the turn, it waits for it.
        let t0 = Instant::now();
        limits.acquire("a", "x@c.us", dir.path(), Duration::from_secs(40)).await.unwrap();
        assert_eq!(Instant::now().duration_since(t0).as_secs(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn new_numbers_are_capped_per_day_and_known_ones_are_not() {
        let limits = SendLimits::new(None, None, 2);
        let dir = tempfile::tempdir().unwrap();
        let t = Duration::from_secs(1);
        for n in ["1@c.us", "2@c.us"] {
            let p = limits.acquire("a", n, dir.path(), t).await.unwrap();
            assert!(p.new_contact);
            limits.sent("a", n, dir.path(), &p);
        }
        let e = limits.acquire("a", "3@c.us", dir.path(), t).await.unwrap_err().to_string();
        assert!(e.contains("sessions.new_contacts_per_day (2)") && e.contains("3@c.us"), "{e}");
        let p = limits.acquire("a", "1@c.us", dir.path(), t).await.unwrap();
        assert!(!p.new_contact, "a number written to before is not new");
        // Known numbers survive a restart of the host (a new limiter reads the file).
        let again = SendLimits::new(None, None, 2);
        assert!(!again.acquire("a", "2@c.us", dir.path(), t).await.unwrap().new_contact);
        tokio::time::advance(DAY).await;
        assert!(limits.acquire("a", "3@c.us", dir.path(), t).await.unwrap().new_contact, "a day later");
    }
}
