//! [`ApiState`]: the handles of the host the routes use, cheap to clone.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::behaviours::Behaviours;
use crate::clock::Clock;
use crate::events::EventBus;
use crate::sessions::SessionControl;
use crate::store::Store;

/// What an API is built from.
pub struct ApiParts {
    /// The bearer token (`VIGIL_API_TOKEN`); `None` = every protected route answers 401.
    pub token: Option<String>,
    pub sessions: Arc<dyn SessionControl>,
    pub store: Store,
    pub behaviours: Behaviours,
    pub bus: EventBus,
    pub clock: Clock,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// WebSocket streams end when this is cancelled (the host's shutdown).
    pub shutdown: CancellationToken,
    /// Session id → owner email from `[owners."<email>"] sessions` (what owner tokens reach,
    /// beside the links in the store).
    pub config_owners: std::collections::BTreeMap<String, String>,
    /// The host's alerts (silences wake its worker; escalation settings for `/api/alerts`).
    pub alerts: Arc<crate::alerts::Alerts>,
}

/// The state shared by the routes.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub token: Option<String>,
    pub sessions: Arc<dyn SessionControl>,
    pub store: Store,
    pub behaviours: Behaviours,
    pub bus: EventBus,
    pub clock: Clock,
    pub max_body: usize,
    pub shutdown: CancellationToken,
    pub metrics: Metrics,
    pub config_owners: std::collections::BTreeMap<String, String>,
    pub alerts: Arc<crate::alerts::Alerts>,
    /// This host's part in the cluster, when cluster mode is on (set once at start).
    pub cluster: std::sync::OnceLock<crate::cluster::Cluster>,
    /// Cluster mode: every host's events, which `/events` streams (with ids to resume from).
    pub feed: std::sync::OnceLock<crate::cluster::Feed>,
    /// Cluster mode: control calls for sessions another host holds go there.
    pub forward: std::sync::OnceLock<crate::cluster::Forwarder>,
}

impl ApiState {
    /// The state, and the task that counts events for `/metrics` (it subscribes now, so
    /// every event from here on is counted).
    pub fn new(parts: ApiParts) -> Self {
        let metrics = Metrics::start(&parts.bus, parts.shutdown.clone());
        ApiState {
            inner: Arc::new(Inner {
                token: parts.token,
                sessions: parts.sessions,
                store: parts.store,
                behaviours: parts.behaviours,
                bus: parts.bus,
                clock: parts.clock,
                max_body: parts.max_body,
                shutdown: parts.shutdown,
                metrics,
                config_owners: parts.config_owners,
                alerts: parts.alerts,
                cluster: std::sync::OnceLock::new(),
                feed: Default::default(),
                forward: Default::default(),
            }),
        }
    }

    /// Cluster mode: `GET /api/cluster` answers from `cluster` (set once; later calls are
    /// ignored).
    pub fn set_cluster(&self, cluster: crate::cluster::Cluster) {
        let _ = self.inner.cluster.set(cluster);
    }

    /// The state of a running host: its store, behaviours, bus and clock, with `sessions`
    /// (the host's session manager, or memory sessions in tests).
    pub fn for_host(
        host: &crate::Host,
        sessions: Arc<dyn SessionControl>,
        token: Option<String>,
        max_body: usize,
        shutdown: CancellationToken,
    ) -> Self {
        let state = Self::new(ApiParts {
            token,
            sessions,
            store: host.store().clone(),
            behaviours: host.behaviour_manager().clone(),
            bus: host.bus().clone(),
            clock: host.clock().clone(),
            max_body,
            shutdown,
            config_owners: host
                .config()
                .owners
                .iter()
                .flat_map(|(email, o)| o.sessions.iter().map(move |id| (id.to_string(), email.clone())))
                .collect(),
            alerts: host.alerts().clone(),
        });
        if let Some(feed) = host.feed() {
            let _ = state.inner.feed.set(feed.clone());
        }
        state
    }

    /// Cluster mode: control calls for sessions other nodes hold are forwarded to them.
    pub fn forward_with(&self, forwarder: crate::cluster::Forwarder) {
        let _ = self.inner.forward.set(forwarder);
    }
}
