//! TLS for every connection the SDK makes: rustls, trusting the operating system's certificate
//! store (rustls-platform-verifier, as reqwest's own rustls backend does, so portals behind a
//! corporate CA work), with the crypto provider the application chose.
//!
//! The provider: one the application installed for the whole process
//! (`rustls::crypto::CryptoProvider::install_default`) wins; otherwise the one this crate's
//! features name, `tls-aws-lc` (aws-lc-rs) when enabled, else `tls-ring` (ring, the default: no
//! C toolchain needed, and a fraction of aws-lc's build time). The library never installs a
//! provider process-wide: that is the application's decision. With neither feature and none
//! installed, building a client is a configuration error, not a panic.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls_platform_verifier::Verifier;

/// A rustls configuration for HTTP/1.1 that trusts the system's certificates and those in
/// `roots` (PEM).
pub(crate) fn client_config(roots: &[Vec<u8>]) -> Result<ClientConfig, String> {
    let provider = match CryptoProvider::get_default() {
        Some(installed) => installed.clone(),
        None => Arc::new(built_in().ok_or(
            "no TLS crypto provider: enable the feature tls-ring or tls-aws-lc of bitrix24, \
             or install a rustls CryptoProvider for the process",
        )?),
    };
    let verifier = if roots.is_empty() {
        Verifier::new(provider.clone()).map_err(store_error)?
    } else {
        let mut certs = Vec::new();
        for pem in roots {
            for cert in CertificateDer::pem_slice_iter(pem) {
                certs.push(cert.map_err(|e| format!("root certificate: {e}"))?);
            }
        }
        with_extra_roots(certs, provider.clone())?
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest is built without HTTP/2: offer only what it speaks.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn store_error(e: rustls::Error) -> String {
    format!("the system's certificate store: {e}")
}

#[cfg(any(all(unix, not(target_os = "android")), windows))]
fn with_extra_roots(
    certs: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<Verifier, String> {
    Verifier::new_with_extra_roots(certs, provider).map_err(store_error)
}

#[cfg(not(any(all(unix, not(target_os = "android")), windows)))]
fn with_extra_roots(
    _certs: Vec<CertificateDer<'static>>,
    _provider: Arc<CryptoProvider>,
) -> Result<Verifier, String> {
    Err("extra root certificates are not supported on this platform".to_owned())
}

/// The provider of the enabled feature.
#[cfg(feature = "tls-aws-lc")]
fn built_in() -> Option<CryptoProvider> {
    Some(rustls::crypto::aws_lc_rs::default_provider())
}

/// The provider of the enabled feature.
#[cfg(all(feature = "tls-ring", not(feature = "tls-aws-lc")))]
fn built_in() -> Option<CryptoProvider> {
    Some(rustls::crypto::ring::default_provider())
}

/// No provider feature: only one the application installed can be used.
#[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc")))]
fn built_in() -> Option<CryptoProvider> {
    None
}

#[cfg(all(test, any(feature = "tls-ring", feature = "tls-aws-lc")))]
mod tests {
    use super::*;

    #[test]
    fn a_bad_root_certificate_is_a_typed_error() {
        let pem = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_vec();
        let e = client_config(&[pem]).unwrap_err();
        assert!(e.starts_with("root certificate"), "{e}");
    }

    #[test]
    fn the_client_offers_http_1_1() {
        let config = client_config(&[]).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
}
