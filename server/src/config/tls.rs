//! The `[tls]` section: where the agent's certificate chain and private key are, and loading
//! them (PEM) into the rustls server configuration. The config loader loads them when it reads
//! the file, so that a bad one stops the agent with the setting named; startup loads them again
//! for `crate::tls` to serve with. Errors name the setting and never contain key material.
//! Nothing here knows HTTP: the listener is `crate::tls`, which depends on this, not the reverse.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// The `[tls]` section: where the certificate chain and its private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM: the server certificate first, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// A `[tls]` setting that cannot be used: which one (`tls.cert_file`, `tls.key_file`, `tls`) and
/// why. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[error("bad setting `{key}`: {message}")]
pub struct TlsError {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: String) -> TlsError {
    TlsError { key, message }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| bad(key, format!("cannot read {}: {e}", path.display())))
}

/// Loads the certificate chain and key and checks that they belong together. Errors name the
/// setting (`tls.cert_file` or `tls.key_file`) and never contain key material.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read("tls.cert_file", &tls.cert_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            bad(
                "tls.cert_file",
                format!("{}: not PEM certificates: {e}", tls.cert_file.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(bad(
            "tls.cert_file",
            format!("{}: no PEM certificate found", tls.cert_file.display()),
        ));
    }
    let key_pem = read("tls.key_file", &tls.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        bad(
            "tls.key_file",
            format!("{}: no PEM private key found", tls.key_file.display()),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            bad(
                "tls.key_file",
                format!("does not match tls.cert_file or is unusable: {e}"),
            )
        })?;
    let mut config = config;
    // The agent speaks HTTP/1.1 only (axum's `http2` feature is off).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
