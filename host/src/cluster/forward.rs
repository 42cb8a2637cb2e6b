//! Control calls reach the holder: every node writes the URL of its API into the `nodes`
//! table (`[cluster] advertise_url`); a control call made through one host for a session
//! whose lease another node holds is sent on to that node's URL, with the caller's own
//! credentials, and its answer comes back as it is. The API's middleware
//! (`api::forward`) decides which calls go; this file knows who holds what and speaks HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::Row;

use super::{db, now_ms, ClusterError};
use crate::store::Store;

/// The request header a forwarded call carries (the forwarding node's id): the receiving
/// host answers it itself, so a call is forwarded at most once.
pub const FORWARDED_BY: &str = "x-vigil-forwarded-by";
/// The response header naming the node that answered a forwarded call.
pub const ANSWERED_BY: &str = "x-vigil-node";
/// How long a forwarded call may take (a send waits for the page's answer).
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting to the holder may take before it counts as unreachable.
const CONNECT: Duration = Duration::from_secs(3);

/// Who holds a session's lease, as this host sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Holder {
    /// This host: answer here.
    Here,
    /// Another node, at the API URL it advertised (`None`: it advertised none).
    Node { node: String, url: Option<String> },
    /// No live lease: the session is free or being taken over.
    Nobody,
}

/// Looks holders up and forwards calls to them.
#[derive(Clone, Debug)]
pub struct Forwarder {
    store: Store,
    node: String,
    client: reqwest::Client,
}

impl Forwarder {
    /// A forwarder for node `node` on `store`.
    pub fn new(store: Store, node: &str) -> Result<Forwarder, ClusterError> {
        crate::webhooks::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT)
            .timeout(TIMEOUT)
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION"), " (cluster forward)"))
            .build()
            .map_err(|e| ClusterError::Config(format!("cannot build the HTTP client that forwards calls: {e}")))?;
        Ok(Forwarder { store, node: node.to_string(), client })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Writes `url` as this node's API URL in the `nodes` table.
    pub async fn advertise(&self, url: &str) -> Result<(), ClusterError> {
        sqlx::query("UPDATE nodes SET api_url = $2 WHERE id = $1")
            .bind(&self.node)
            .bind(url)
            .execute(self.store.pool())
            .await
            .map_err(db("advertising this node's API URL"))?;
        Ok(())
    }

    /// Who holds `session`'s lease now (judged by the database's clock).
    pub async fn holder(&self, session: &str) -> Result<Holder, ClusterError> {
        let row = sqlx::query(concat!(
            "SELECT l.node, n.api_url FROM leases l LEFT JOIN nodes n ON n.id = l.node \
             WHERE l.session_id = $1 AND l.node IS NOT NULL AND l.expires_ms > ",
            now_ms!()
        ))
        .bind(session)
        .fetch_optional(self.store.pool())
        .await
        .map_err(db("looking up a session's holder"))?;
        Ok(match row {
            None => Holder::Nobody,
            Some(r) => {
                let node: String = r.get(0);
                if node == self.node {
                    Holder::Here
                } else {
                    Holder::Node { node, url: r.get(1) }
                }
            }
        })
    }

    /// Sends the call on to `url` (the holder's API): same method, path, query, headers (the
    /// caller's credentials among them) and body, plus [`FORWARDED_BY`].
    pub async fn forward(
        &self,
        url: &str,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut req = self.client.request(method, format!("{}{path_and_query}", url.trim_end_matches('/')));
        for (name, value) in headers {
            if matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding" | FORWARDED_BY) {
                continue;
            }
            req = req.header(name.as_str(), value.as_bytes());
        }
        req.header(FORWARDED_BY, &self.node).body(body).send().await
    }
}

/// The URL this node advertises: `configured` (checked), else `http://` + the address the
/// API is bound to (the hostname when it listens on every address).
pub fn advertise_url(configured: Option<&str>, bound: SocketAddr) -> Result<String, ClusterError> {
    match configured.map(str::trim) {
        Some(url) => {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && reqwest::Url::parse(url).map(|u| u.host().is_some()).unwrap_or(false);
            if !ok {
                return Err(ClusterError::Config(format!(
                    "advertise_url = \"{}\" is not an http(s) URL with a host: set it to the URL other hosts reach \
                     this host's API at, e.g. \"http://10.0.0.5:8080\" (or VIGIL_CLUSTER__ADVERTISE_URL), or leave \
                     it unset for http://<[api] listen>",
                    url.escape_debug()
                )));
            }
            Ok(url.trim_end_matches('/').to_string())
        }
        None if bound.ip().is_unspecified() => Ok(format!("http://{}:{}", super::hostname(), bound.port())),
        None => Ok(format!("http://{bound}")),
    }
}

#[cfg(test)]
mod tests {
    use super::advertise_url;

    #[test]
    fn the_advertised_url_defaults_to_the_bound_address() {
        let bound = "127.0.0.1:4100".parse().unwrap();
        assert_eq!(advertise_url(None, bound).unwrap(), "http://127.0.0.1:4100");
        let any = "0.0.0.0:8080".parse().unwrap();
        assert!(advertise_url(None, any).unwrap().ends_with(":8080"));
        assert!(!advertise_url(None, any).unwrap().contains("0.0.0.0"));
        assert_eq!(
            advertise_url(Some("https://vigil-b.internal:8443/"), bound).unwrap(),
            "https://vigil-b.internal:8443"
        );
        let e = advertise_url(Some("vigil-b:8080"), bound).unwrap_err().to_string();
        assert!(e.contains("advertise_url") && e.contains("http://10.0.0.5:8080"), "{e}");
    }
}
