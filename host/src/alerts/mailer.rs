//! Sending one email over SMTP with lettre.

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
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

/// An SMTP client for the configured server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
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
        let builder = match c.security {
            SmtpSecurity::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| MailError::Config(format!("starttls to {host}: {e}")))?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| MailError::Config(format!("tls to {host}: {e}")))?,
        };
        let mut builder = builder.port(c.port.unwrap_or(c.security.default_port())).timeout(Some(c.timeout.0));
        if let Some(user) = &c.username {
            let pass = c.password.clone().ok_or_else(|| {
                MailError::Config(
                    "username is set but no password: put it in the environment variable VIGIL_SMTP__PASSWORD".into(),
                )
            })?;
            builder = builder.credentials(Credentials::new(user.clone(), pass));
        }
        Ok(Mailer { transport: builder.build(), from })
    }

    /// Sends `e`, with `message_id` as its Message-ID (the outbox's idempotency key, so a
    /// receiving system can drop a duplicate).
    pub async fn send(&self, e: &Email, message_id: &str) -> Result<(), MailError> {
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
        self.transport.send(msg).await.map(|_| ()).map_err(|err| MailError::Send(err.to_string()))
    }
}
