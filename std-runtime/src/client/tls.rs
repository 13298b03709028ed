//! The rustls client configuration for `wss`: the webpki roots by default, or only the CAs
//! of a PEM file (a private CA, a self-signed test certificate). The crypto provider is
//! ring, named explicitly so no process-wide default is needed.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::error::ConfigError;

/// Which certificates to trust.
pub(crate) enum Roots {
    /// The Mozilla roots of `webpki-roots`.
    Webpki,
    /// Only the certificates of this PEM text.
    Pem(Vec<u8>),
}

/// A rustls client configuration trusting `roots`.
pub(crate) fn client_config(roots: Roots) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::Webpki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::Pem(pem) => {
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| ConfigError::CaCertificate(e.to_string()))?;
                store
                    .add(cert)
                    .map_err(|e| ConfigError::CaCertificate(e.to_string()))?;
            }
            if store.is_empty() {
                return Err(ConfigError::CaCertificate(
                    "no certificate in the PEM".to_owned(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::CaCertificate(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
