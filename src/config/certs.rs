//! The DNS over TLS certificate: a PEM chain and its private key, read and checked at every
//! (re)load. The listener asks the serving snapshot for it at every handshake
//! (`dns::tls::ServingCert`), so a reload that reads a renewed certificate is a restart-free swap.
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Reads a PEM certificate chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or
/// SEC1), and checks that the key is the certificate's. The error names the file.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: cannot read: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no CERTIFICATE block", cert.display()));
    }
    let der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: no usable PEM private key: {e}", key.display()))?;
    // The ring provider: the one hickory-server's `tls-ring` listener is built with.
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, der, &provider)
        .map(Arc::new)
        .map_err(|e| format!("{}: does not go with {}: {e}", key.display(), cert.display()))
}
