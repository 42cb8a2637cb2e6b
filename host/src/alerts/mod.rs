//! Alerts: `raise` / `resolve` from behaviours, templated emails, and the outbox worker that
//! delivers them over SMTP.
//!
//! - [`templates`]: minijinja templates in `scripts/templates/` (`<name>.subject`,
//!   `<name>.txt`, optional `<name>.html`), read at each render, so edits apply at once.
//! - [`mailer`]: the SMTP side (lettre): STARTTLS, TLS or plain, credentials from the
//!   environment.
//! - [`outbox`]: the worker: sends what is due, retries with backoff while the server is down,
//!   marks each email sent once.
//! - [`holds`]: silences and escalation over time: held emails sent when their silence ends,
//!   alerts left open escalated to `[alerts.escalation] to`.
//! - [`Alerts`]: what the host API calls: enriches vars (session, owner, time in the owner's
//!   timezone, login URL), renders, and records through the store.

pub mod holds;
pub mod mailer;
pub mod outbox;
pub mod templates;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::sessions::Sessions;
use crate::store::alerts::{Alert, Email, Raised};
use crate::store::Store;

/// Errors of `raise`, `resolve` and `email`.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("{0}")]
    Template(#[from] templates::TemplateError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("no recipient for alert `{key}`: the session has no owner and [alerts] to is empty; set one (vigil owner set, or [alerts] to = [\"ops@example.com\"])")]
    NoRecipient { key: String },
    #[error("bad severity `{0}`: use info, warning or critical")]
    Severity(String),
}

/// The alerting service shared by behaviours.
pub struct Alerts {
    store: Store,
    config: AlertsConfig,
    templates: PathBuf,
    sessions: Arc<dyn Sessions>,
    clock: Clock,
    tz: chrono_tz::Tz,
    /// Session id → owner email, from `[owners."<email>"] sessions = [...]`.
    owners: std::collections::BTreeMap<String, String>,
    /// Wakes the outbox worker when something is queued.
    pub(crate) wake: Arc<Notify>,
    /// Wakes the silences-and-escalation worker ([`holds`]).
    pub(crate) holds_wake: Arc<Notify>,
}

impl Alerts {
    pub fn new(
        store: Store,
        config: AlertsConfig,
        templates: PathBuf,
        sessions: Arc<dyn Sessions>,
        clock: Clock,
        tz: chrono_tz::Tz,
    ) -> Self {
        Self {
            store,
            config,
            templates,
            sessions,
            clock,
            tz,
            owners: Default::default(),
            wake: Arc::new(Notify::new()),
            holds_wake: Arc::new(Notify::new()),
        }
    }

    /// The worker of [`holds`], to spawn once per host.
    pub fn holds_worker(
        &self,
        bus: crate::events::EventBus,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        holds::Holds {
            store: self.store.clone(),
            clock: self.clock.clone(),
            config: self.config.escalation.clone(),
            templates: self.templates.clone(),
            bus,
            outbox: self.wake.clone(),
            wake: self.holds_wake.clone(),
        }
        .run(shutdown)
    }

    /// `[alerts.escalation]`.
    pub fn escalation(&self) -> &crate::config::EscalationConfig {
        &self.config.escalation
    }

    /// Tells the worker of [`holds`] that silences changed.
    pub fn silences_changed(&self) {
        self.holds_wake.notify_one();
    }

    /// Records `a` (about `session`, if any) in the ledger: held when an active silence
    /// matches it, else queued or deduplicated.
    pub(crate) async fn record(&self, a: Alert<'_>, session: Option<&str>) -> Result<Raised, AlertError> {
        let now = self.clock.now();
        let silences = self.store.active_silences(now).await?;
        if let Some(s) = silences.iter().find(|s| s.matches(a.key, session)) {
            tracing::info!(
                alert = a.key,
                silence = s.id,
                "alert held by a silence: its email waits until the silence ends"
            );
            let out = self.store.hold_alert(a, now).await?;
            self.holds_wake.notify_one();
            return Ok(out);
        }
        let out = self.store.raise_alert(a, now).await?;
        if matches!(out, Raised::Queued { .. }) {
            self.wake.notify_one();
        }
        Ok(out)
    }

    /// Owners of sessions by config: `[owners."<email>"] sessions = ["main"]`.
    pub fn with_owners(mut self, owners: &std::collections::BTreeMap<String, crate::config::OwnerConfig>) -> Self {
        for (email, o) in owners {
            for id in &o.sessions {
                self.owners.insert(id.to_string(), email.clone());
            }
        }
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn templates_dir(&self) -> &std::path::Path {
        &self.templates
    }

    /// The vars a template sees: the caller's, plus `session_*`, `owner_*`, `time` and
    /// `login_url` when `vars.session` names a session. Returns the vars and the recipient.
    async fn enrich(&self, vars: &Value) -> (Value, Option<String>) {
        let mut v = vars.as_object().cloned().unwrap_or_default();
        let mut recipient = v.get("to").and_then(Value::as_str).map(str::to_string);
        let mut tz = self.tz;
        if let Some(id) = v.get("session").and_then(Value::as_str).map(str::to_string) {
            if let Ok(list) = self.sessions.list().await {
                if let Some(s) = list.into_iter().find(|s| s.id == id) {
                    v.entry("session_label").or_insert(json!(s.label.clone().unwrap_or_else(|| s.id.to_string())));
                    v.entry("phone_number").or_insert(json!(s
                        .phone
                        .clone()
                        .map(|p| format!("+{p}"))
                        .unwrap_or_else(|| "N/A".into())));
                    v.entry("status").or_insert(json!(s.status.as_str()));
                    v.entry("wa_state").or_insert(json!(s.wa_state.clone().unwrap_or_default()));
                    let linked = match s.owner.clone() {
                        Some(o) => Some(o),
                        None => self.store.session_owner(&s.id).await.ok().flatten(),
                    };
                    if let Some(email) = linked.or_else(|| self.owners.get(s.id.as_str()).cloned()) {
                        if let Ok(Some(o)) = self.store.owner(&email).await {
                            v.entry("user_name").or_insert(json!(o.full_name));
                            if let Some(t) = o.timezone.as_deref().and_then(|t| t.parse().ok()) {
                                tz = t;
                            }
                        }
                        v.entry("owner_email").or_insert(json!(email.clone()));
                        recipient.get_or_insert(email);
                    }
                }
            }
            v.entry("session_label").or_insert(json!(id));
        }
        let now = self.clock.now().with_timezone(&tz);
        v.entry("time").or_insert(json!(now.format("%Y-%m-%d %H:%M %Z").to_string()));
        v.entry("login_url").or_insert(json!(self.config.login_url.clone().unwrap_or_default()));
        v.entry("user_name").or_insert(json!("Usuario"));
        v.entry("phone_number").or_insert(json!("N/A"));
        if recipient.is_none() {
            recipient = self.config.to.first().cloned();
        }
        (Value::Object(v), recipient)
    }

    /// Records an alert and queues its email, or deduplicates it within `repeat_after`.
    pub async fn raise(
        &self,
        key: &str,
        severity: &str,
        template: &str,
        vars: &Value,
        repeat_after: Duration,
    ) -> Result<Raised, AlertError> {
        if !["info", "warning", "critical"].contains(&severity) {
            return Err(AlertError::Severity(severity.into()));
        }
        let (mut vars, to) = self.enrich(vars).await;
        let to = to.ok_or_else(|| AlertError::NoRecipient { key: key.into() })?;
        if let Some(o) = vars.as_object_mut() {
            o.insert("severity".into(), json!(severity));
            o.insert("alert_key".into(), json!(key));
        }
        let email = templates::render(&self.templates, template, &vars, &to)?;
        let session = vars.get("session").and_then(Value::as_str).map(str::to_string);
        self.record(Alert { key, severity, template, vars: &vars, repeat_after, email }, session.as_deref()).await
    }

    /// Resolves an alert; a "resolved" notice goes out when it had fired. Returns whether
    /// one was queued.
    pub async fn resolve(&self, key: &str) -> Result<bool, AlertError> {
        // A silence holds the resolved notice too: resolved, and nothing sent.
        if let Some(entry) = self.store.alert(key).await? {
            let silences = self.store.active_silences(self.clock.now()).await?;
            if !holds::holding(&silences, &entry).is_empty() {
                if self.store.resolve_alert_quietly(key, self.clock.now()).await? {
                    tracing::info!(alert = key, "resolved while silenced: no email");
                }
                return Ok(false);
            }
        }
        let dir = self.templates.clone();
        let now_text = self.clock.now().with_timezone(&self.tz).format("%Y-%m-%d %H:%M %Z").to_string();
        let mut failure = None;
        let queued = self
            .store
            .resolve_alert(key, self.clock.now(), |entry| {
                let mut vars = entry.vars.clone();
                if let Some(o) = vars.as_object_mut() {
                    o.insert("resolved_time".into(), json!(now_text));
                    o.insert("alert_template".into(), json!(entry.template));
                }
                templates::render(&dir, "resolved", &vars, &entry.recipient).unwrap_or_else(|e| {
                    failure = Some(e.to_string());
                    Email {
                        to: entry.recipient.clone(),
                        subject: format!("[vigil] resolved: {}", entry.key),
                        text: format!("The alert {} is resolved.\n", entry.key),
                        html: None,
                    }
                })
            })
            .await?;
        if let Some(f) = failure {
            tracing::warn!(alert = key, "the resolved template failed, a plain notice was sent instead: {f}");
        }
        if queued.is_some() {
            self.wake.notify_one();
        }
        Ok(queued.is_some())
    }

    /// A templated email that is no alert, to `to` (or the default recipients).
    pub async fn email(
        &self,
        to: Option<&str>,
        template: &str,
        vars: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<i64, AlertError> {
        let (vars, fallback) = self.enrich(vars).await;
        let to = to.map(str::to_string).or(fallback).ok_or_else(|| AlertError::NoRecipient { key: template.into() })?;
        let email = templates::render(&self.templates, template, &vars, &to)?;
        let now = self.clock.now();
        let key = match idempotency_key {
            Some(k) => format!("email:{k}"),
            None => {
                format!("email:{template}:{}:{}", now.timestamp_nanos_opt().unwrap_or_default(), rand::random::<u32>())
            }
        };
        let id = self.store.queue_email(&key, &email, now).await?;
        self.wake.notify_one();
        Ok(id)
    }
}
