//! The self-signed certificate for `web.whatsapp.com`, made at start (nothing on disk).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why the TLS setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not make the certificate.
    #[error("generating the certificate for web.whatsapp.com: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A rustls server configuration with a fresh certificate for `web.whatsapp.com`, offering
/// HTTP/1.1 only.
pub(crate) fn server_config() -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certified = rcgen::generate_simple_self_signed(vec!["web.whatsapp.com".to_owned()])?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
