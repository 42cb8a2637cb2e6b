//! Silences and escalation over time: the worker that queues an alert's held email when the
//! last silence holding it ends (if the alert is still open), and escalates an alert left open
//! past `[alerts.escalation]`'s delay, once per episode, unless a silence holds it. It wakes at
//! the next silence end or escalation due (at most a minute apart), and when a silence is made
//! or expired.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::templates;
use crate::clock::Clock;
use crate::config::EscalationConfig;
use crate::events::{Event, EventBus};
use crate::store::alerts::{Email, LedgerEntry};
use crate::store::silences::Silence;
use crate::store::Store;

/// The session an alert is about (`vars.session`), if any.
pub fn session_of(entry: &LedgerEntry) -> Option<&str> {
    entry.vars.get("session").and_then(|v| v.as_str())
}

/// The silences of `active` that hold `entry`.
pub fn holding<'a>(active: &'a [Silence], entry: &LedgerEntry) -> Vec<&'a Silence> {
    active.iter().filter(|s| s.matches(&entry.key, session_of(entry))).collect()
}

/// When the episode of `entry` is due for escalation; `None` when it never is (not firing,
/// escalated already, or escalation is off for it).
pub fn escalation_due(config: &EscalationConfig, entry: &LedgerEntry) -> Option<DateTime<Utc>> {
    if entry.state != "firing" || entry.escalated.is_some() {
        return None;
    }
    let after = config.after_for(&entry.key)?;
    Some(entry.fired? + chrono::Duration::from_std(after).ok()?)
}

/// What the worker needs.
pub(crate) struct Holds {
    pub store: Store,
    pub clock: Clock,
    pub config: EscalationConfig,
    pub templates: std::path::PathBuf,
    pub bus: EventBus,
    /// Wakes the outbox worker when an email is queued.
    pub outbox: Arc<Notify>,
    /// Wakes this worker (a silence made or expired, an alert held).
    pub wake: Arc<Notify>,
}

/// The longest the worker sleeps between passes.
const MAX_NAP: Duration = Duration::from_secs(60);

impl Holds {
    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let next = match self.pass().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!("alert silences and escalation: {e}");
                    None
                }
            };
            let nap = next.map(|t| self.clock.until(t)).unwrap_or(MAX_NAP).clamp(Duration::from_millis(10), MAX_NAP);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// One pass: releases what no silence holds any more, escalates what is due. Returns when
    /// the next pass is due (a silence ending, an escalation falling due).
    async fn pass(&self) -> Result<Option<DateTime<Utc>>, crate::store::StoreError> {
        let now = self.clock.now();
        let active = self.store.active_silences(now).await?;
        let mut next: Option<DateTime<Utc>> = active.iter().map(|s| s.ends).min();
        for entry in self.store.open_alerts().await? {
            let held = !holding(&active, &entry).is_empty();
            if entry.state == "silenced" {
                if !held {
                    if let Some(id) = self.store.release_alert(&entry.key, now).await? {
                        tracing::info!(alert = %entry.key, "the silence ended: the held alert email is queued");
                        self.publish("alert.released", json!({"key": entry.key, "outbox_id": id}));
                        self.outbox.notify_one();
                        // Its escalation counts from now: look again on the next pass.
                        self.wake.notify_one();
                    }
                }
                continue;
            }
            let Some(due) = escalation_due(&self.config, &entry) else { continue };
            if held {
                continue; // held too: looked at again when the silence ends
            }
            if due > now {
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            let emails: Vec<Email> = self.config.to.iter().map(|to| self.escalation_email(&entry, to)).collect();
            let fired = entry.fired.unwrap_or(now);
            let ids = self.store.escalate_alert(&entry.key, fired, &emails, now).await?;
            if !ids.is_empty() {
                tracing::info!(alert = %entry.key, to = ?self.config.to, "alert escalated");
                self.publish("alert.escalated", json!({"key": entry.key, "to": self.config.to, "outbox_ids": ids}));
                self.outbox.notify_one();
            }
        }
        Ok(next)
    }

    fn publish(&self, name: &str, data: serde_json::Value) {
        self.bus.publish(Event { name: name.into(), source: "host".into(), at: self.clock.now(), data, depth: 0 });
    }

    /// The alert's own template, rendered again for `to`, its subject marked as an escalation
    /// and its text opened by a line saying whom it went to and since when.
    fn escalation_email(&self, entry: &LedgerEntry, to: &str) -> Email {
        escalation_email(&self.templates, entry, to)
    }
}

/// See [`Holds::escalation_email`]; a plain text when the template fails.
pub fn escalation_email(dir: &Path, entry: &LedgerEntry, to: &str) -> Email {
    let since = entry.fired.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default();
    let note = format!("Escalated: this alert went to {} at {since} and is still not resolved.\n\n", entry.recipient);
    let mut vars = entry.vars.clone();
    if let Some(o) = vars.as_object_mut() {
        o.insert("escalated".into(), json!(true));
        o.insert("alert_recipient".into(), json!(entry.recipient));
    }
    match templates::render(dir, &entry.template, &vars, to) {
        Ok(e) => Email {
            to: e.to,
            subject: format!("[escalated] {}", e.subject),
            text: format!("{note}{}", e.text),
            html: e.html.map(|h| format!("<p><strong>{}</strong></p>\n{h}", html_escape(note.trim()))),
        },
        Err(err) => {
            tracing::warn!(alert = %entry.key, "the template failed, the escalation is a plain text: {err}");
            Email {
                to: to.to_string(),
                subject: format!("[escalated] [vigil] {}", entry.key),
                text: format!("{note}Alert: {} ({})\n", entry.key, entry.severity),
                html: None,
            }
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
