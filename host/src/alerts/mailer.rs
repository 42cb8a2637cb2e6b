//! Sending one email over SMTP with lettre.
//!
//! lettre writes a message's body and its closing `.` in two writes before it reads the
//! reply; with Nagle's algorithm on, the second small write waits for the server's delayed ACK
//! (~40 ms on Linux), which capped lettre at ~50 ms per email. For plain and STARTTLS
//! connections vigil opens the TCP connection itself with `TCP_NODELAY` and hands it to lettre's
//! connection (`AsyncSmtpConnection::connect_with_transport`), keeping it open between emails.
//! Implicit TLS (port 465) goes through lettre's pooled transport unchanged.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpSecurity};
use crate::store::alerts::Email;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("[smtp] {0}")]
    Config(String),
    #[error("bad address `{addr}`: {why}")]
    Address { addr: String, why: String },
    #[error("SMTP: {0}")]
    Send(String),
}

/// An SMTP client for the configured server. Used by one task at a time (`&mut self`).
pub struct Mailer {
    route: Route,
    from: Mailbox,
}

enum Route {
    /// Our own TCP connection (`TCP_NODELAY`), kept open between emails.
    Direct(Box<Direct>),
    /// lettre's pooled transport (implicit TLS).
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

/// Our own connection's settings and state.
struct Direct {
    host: String,
    port: u16,
    starttls: bool,
    timeout: Duration,
    credentials: Option<Credentials>,
    conn: Option<AsyncSmtpConnection>,
}

impl Mailer {
    pub fn new(c: &SmtpConfig) -> Result<Mailer, MailError> {
        let host = c.host.as_deref().ok_or_else(|| MailError::Config("host is not set".into()))?;
        let from: Mailbox = c
            .from
            .as_deref()
            .ok_or_else(|| MailError::Config("from is not set (e.g. from = \"vigil <vigil@example.com>\")".into()))?
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Address {
                addr: c.from.clone().unwrap_or_default(),
                why: e.to_string(),
            })?;
        let credentials = match &c.username {
            Some(user) => Some(Credentials::new(
                user.clone(),
                c.password.clone().ok_or_else(|| {
                    MailError::Config(
                        "username is set but no password: put it in the environment variable VIGIL_SMTP__PASSWORD"
                            .into(),
                    )
                })?,
            )),
            None => None,
        };
        let port = c.port.unwrap_or(c.security.default_port());
        let route = match c.security {
            SmtpSecurity::Plain | SmtpSecurity::Starttls => Route::Direct(Box::new(Direct {
                host: host.to_string(),
                port,
                starttls: c.security == SmtpSecurity::Starttls,
                timeout: c.timeout.0,
                credentials,
                conn: None,
            })),
            SmtpSecurity::Tls => {
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                    .map_err(|e| MailError::Config(format!("tls to {host}: {e}")))?
                    .port(port)
                    .timeout(Some(c.timeout.0));
                if let Some(cr) = credentials {
                    b = b.credentials(cr);
                }
                Route::Lettre(b.build())
            }
        };
        Ok(Mailer { route, from })
    }

    async fn connect(
        host: &str,
        port: u16,
        starttls: bool,
        timeout: Duration,
        credentials: Option<&Credentials>,
    ) -> Result<AsyncSmtpConnection, MailError> {
        let net = |e: std::io::Error| MailError::Send(format!("connecting to {host}:{port}: {e}"));
        let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port)))
            .await
            .map_err(|_| MailError::Send(format!("connecting to {host}:{port}: no answer within {timeout:?}")))?
            .map_err(net)?;
        tcp.set_nodelay(true).map_err(net)?;
        let hello = ClientId::default();
        let mut conn =
            tokio::time::timeout(timeout, AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello))
                .await
                .map_err(|_| MailError::Send(format!("{host}:{port} sent no greeting within {timeout:?}")))?
                .map_err(|e| MailError::Send(format!("greeting {host}:{port}: {e}")))?;
        if starttls {
            let params =
                TlsParameters::new(host.to_string()).map_err(|e| MailError::Config(format!("tls to {host}: {e}")))?;
            conn.starttls(params, &hello)
                .await
                .map_err(|e| MailError::Send(format!("STARTTLS with {host}:{port}: {e}")))?;
        }
        if let Some(cr) = credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], cr)
                .await
                .map_err(|e| MailError::Send(format!("login at {host}:{port}: {e}")))?;
        }
        Ok(conn)
    }

    /// Sends `e`, with `message_id` as its Message-ID (the outbox's idempotency key, so a
    /// receiving system can drop a duplicate).
    pub async fn send(&mut self, e: &Email, message_id: &str) -> Result<(), MailError> {
        let to: Mailbox = e.to.parse().map_err(|err: lettre::address::AddressError| MailError::Address {
            addr: e.to.clone(),
            why: err.to_string(),
        })?;
        let builder =
            Message::builder().from(self.from.clone()).to(to).subject(e.subject.clone()).message_id(Some(format!(
                "<{}@vigil>",
                message_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.', ".")
            )));
        let msg = match &e.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(e.text.clone(), html.clone())),
            None => builder.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(e.text.clone())),
        }
        .map_err(|err| MailError::Send(format!("building the message: {err}")))?;
        match &mut self.route {
            Route::Lettre(t) => t.send(msg).await.map(|_| ()).map_err(|err| MailError::Send(err.to_string())),
            Route::Direct(d) => {
                let Direct { host, port, starttls, timeout, credentials, conn } = &mut **d;
                if conn.as_ref().is_some_and(|c| c.has_broken()) {
                    *conn = None;
                }
                if conn.is_none() {
                    *conn = Some(Self::connect(host, *port, *starttls, *timeout, credentials.as_ref()).await?);
                }
                let c = conn.as_mut().expect("connected");
                let sent = tokio::time::timeout(*timeout, c.send(msg.envelope(), &msg.formatted())).await;
                match sent {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => {
                        *conn = None;
                        Err(MailError::Send(e.to_string()))
                    }
                    Err(_) => {
                        *conn = None;
                        Err(MailError::Send(format!("{host}:{port} did not answer within {timeout:?}")))
                    }
                }
            }
        }
    }
}
