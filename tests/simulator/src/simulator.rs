//! Starting and stopping a simulator: binds both ports, serves the page over TLS and the control
//! API over plain HTTP, and stops them on request.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::ControlClient;
use crate::control_types::Ready;
use crate::hub::Hub;
use crate::options::Options;
use crate::tls::{self, TlsError};
use crate::{control, page};

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port could not be bound.
    #[error("binding the {what} port on {addr}: {source}")]
    Bind {
        /// `"https"` or `"control"`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The certificate or TLS setup failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A running simulator. Dropping it stops the servers abruptly; [`Simulator::stop`] stops them
/// cleanly.
pub struct Simulator {
    https: SocketAddr,
    control: SocketAddr,
    shutdown: CancellationToken,
    https_handle: axum_server::Handle<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    let listener = TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| StartError::Bind { what, addr, source })?;
    Ok(listener)
}

impl Simulator {
    /// Binds both ports and starts serving. Must be called inside a tokio runtime.
    pub async fn start(options: Options) -> Result<Simulator, StartError> {
        let hub = Hub::new(&options);
        let shutdown = CancellationToken::new();
        let tls = RustlsConfig::from_config(tls::server_config()?);

        let https_listener = bind("https", SocketAddr::new(options.bind, options.https_port))?;
        let control_listener = bind("control", SocketAddr::new(options.bind, options.control_port))?;
        let https = https_listener.local_addr().map_err(|source| StartError::Bind {
            what: "https",
            addr: SocketAddr::new(options.bind, options.https_port),
            source,
        })?;
        let control = control_listener.local_addr().map_err(|source| StartError::Bind {
            what: "control",
            addr: SocketAddr::new(options.bind, options.control_port),
            source,
        })?;

        let https_handle = axum_server::Handle::new();
        let page_app = page::router(Arc::clone(&hub), shutdown.clone());
        let server = axum_server::from_tcp_rustls(https_listener, tls).map_err(|source| StartError::Bind {
            what: "https",
            addr: https,
            source,
        })?;
        let handle = https_handle.clone();
        let https_task = tokio::spawn(async move {
            if let Err(e) = server.handle(handle).serve(page_app.into_make_service()).await {
                tracing::error!(error = %e, "https server failed");
            }
        });

        let control_listener = tokio::net::TcpListener::from_std(control_listener)
            .map_err(|source| StartError::Bind { what: "control", addr: control, source })?;
        let control_app = control::router(hub);
        let stop = shutdown.clone();
        let control_task = tokio::spawn(async move {
            let serve = axum::serve(control_listener, control_app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "control server failed");
            }
        });
        tracing::info!(https = %https, control = %control, "simulator listening");
        Ok(Simulator { https, control, shutdown, https_handle, tasks: vec![https_task, control_task] })
    }

    /// The HTTPS port (serve it to Chromium as `web.whatsapp.com`).
    pub fn https_port(&self) -> u16 {
        self.https.port()
    }

    /// The control API's port.
    pub fn control_port(&self) -> u16 {
        self.control.port()
    }

    /// Both ports, as `wa-sim` prints them.
    pub fn ready(&self) -> Ready {
        Ready { https: self.https_port(), control: self.control_port() }
    }

    /// `http://127.0.0.1:<control>`.
    pub fn control_url(&self) -> String {
        format!("http://{}", reachable(self.control))
    }

    /// A client for the control API.
    pub fn client(&self) -> ControlClient {
        ControlClient::new(self.control_url())
    }

    /// The Chromium switches that make `https://web.whatsapp.com/` this simulator:
    /// `--host-resolver-rules=…` and `--ignore-certificate-errors`.
    pub fn chromium_switches(&self) -> Vec<String> {
        vec![
            format!("--host-resolver-rules=MAP web.whatsapp.com {}, MAP * ~NOTFOUND", reachable(self.https)),
            "--ignore-certificate-errors".to_owned(),
        ]
    }

    /// Stops both servers: open event streams end, requests in flight get two seconds.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.https_handle.graceful_shutdown(Some(Duration::from_secs(2)));
        for task in self.tasks.drain(..) {
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                tracing::warn!("a server did not stop within 5 s");
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.https_handle.shutdown();
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// An address a local client can connect to (the unspecified address becomes loopback).
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

/// Runs a simulator until `shutdown` is cancelled, printing the [`Ready`] line
/// (`{"https": P, "control": Q}`) on stdout once both ports listen.
pub async fn run(options: Options, shutdown: CancellationToken) -> Result<(), StartError> {
    let simulator = Simulator::start(options).await?;
    let line = serde_json::to_string(&simulator.ready()).unwrap_or_default();
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the simulator.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
    shutdown.cancelled().await;
    simulator.stop().await;
    Ok(())
}
