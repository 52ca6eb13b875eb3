//! Medulla's one TLS stack: rustls with the ring provider, for every crate (the partner
//! client, the HTTPS listener, PostgreSQL connections).
//!
//! - [`roots`]: the system's trusted roots (webpki-roots' Mozilla set only when the system
//!   has none), plus private CAs read from PEM files.
//! - [`client_config`]: a client verifying servers against those roots.
//! - [`server_config`]: a server presenting a PEM certificate chain and its private key
//!   (PKCS#8, RSA or EC), refused by file name when unreadable or mismatched.
//! - [`verify`]: the looser verifiers libpq's `sslmode` asks for (encrypt only; chain but
//!   not the name).
//! - [`url`]: an URL's scheme and host, and whether the host is loopback.
//!
//! Errors name the file and what is wrong; never the content of a key.

pub mod url;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot be read: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: not a PEM private key (PKCS#8, RSA or EC): {reason}", path.display())]
    NoKey { path: PathBuf, reason: String },
    #[error("{}: certificate not usable as a trusted root: {reason}", path.display())]
    BadRoot { path: PathBuf, reason: String },
    #[error("the private key {} does not belong to the certificate {}: {reason}", key.display(), cert.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("no trusted root certificates: the system store is empty and no CA file was given")]
    NoRoots,
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The one crypto provider of Medulla: ring.
// ring keeps the build free of cmake and nasm; rustls 0.23.48 marks it deprecated only
// because it has no post-quantum key exchange (aws-lc-rs has)
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Every certificate of a PEM file, in order (a chain: the server's first). At least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    // read first, so that a missing file says so (not "no certificate")
    let pem = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::NoKey {
        path: path.to_path_buf(),
        // the parser's message names the section, never the key's bytes
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no private key section found".into(),
            other => other.to_string(),
        },
    })
}

/// The system's trusted roots; webpki-roots' set when the system store has none (or
/// cannot be read). Certificates of the store that rustls cannot use are skipped.
pub fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// The certificates of PEM files as trusted roots (a private CA), nothing else.
pub fn file_roots(files: &[PathBuf]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    add_files(&mut roots, files)?;
    Ok(roots)
}

fn add_files(roots: &mut RootCertStore, files: &[PathBuf]) -> Result<(), TlsError> {
    for f in files {
        for c in read_certificates(f)? {
            roots.add(c).map_err(|e| TlsError::BadRoot {
                path: f.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(())
}

/// The system's roots plus the certificates of `extra` (PEM files of private CAs).
pub fn roots(extra: &[PathBuf]) -> Result<RootCertStore, TlsError> {
    let mut roots = system_roots();
    add_files(&mut roots, extra)?;
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    Ok(roots)
}

/// A client verifying servers (chain and name) against `roots`.
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// A client with its own server certificate verifier (see [`verify`]).
pub fn client_config_with(
    verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>,
) -> Result<Arc<ClientConfig>, TlsError> {
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    ))
}

/// A server presenting the chain of `cert` (PEM, the server's certificate first) with the
/// private key of `key`, offering HTTP/1.1.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certificates(cert)?;
    let private = read_private_key(key)?;
    let mismatch = |reason: String| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason,
    };
    let provider = provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::NoKey {
            path: key.to_path_buf(),
            reason: e.to_string(),
        })?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        mismatch(match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                "the key's public half is not the certificate's".into()
            }
            other => other.to_string(),
        })
    })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether an error (or one of its sources) is a TLS certificate problem; its rustls
/// description then.
pub fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return Some(r.to_string());
                }
            }
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
    }

    fn pki() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let issuer = rcgen::Issuer::new(
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap(),
            &ca_key,
        );
        let cert = params.signed_by(&key, &issuer).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("other.pem"), other.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("empty.pem"), "nothing here\n").unwrap();
        Pki { dir }
    }

    #[test]
    fn a_server_configuration_from_a_matching_pair() {
        let p = pki();
        server_config(&p.path("cert.pem"), &p.path("key.pem")).unwrap();
    }

    #[test]
    fn a_mismatched_key_is_refused_naming_both_files() {
        let p = pki();
        let e = server_config(&p.path("cert.pem"), &p.path("other.pem")).unwrap_err();
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("other.pem") && text.contains("cert.pem"),
            "{text}"
        );
    }

    #[test]
    fn unreadable_and_empty_files_are_named() {
        let p = pki();
        let e = server_config(&p.path("missing.pem"), &p.path("key.pem")).unwrap_err();
        assert!(matches!(e, TlsError::Unreadable { .. }) && e.to_string().contains("missing.pem"));
        let e = server_config(&p.path("empty.pem"), &p.path("key.pem")).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        let e = server_config(&p.path("cert.pem"), &p.path("empty.pem")).unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }) && e.to_string().contains("empty.pem"));
        // a certificate is not a key
        let e = server_config(&p.path("cert.pem"), &p.path("cert.pem")).unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
    }

    #[test]
    fn private_roots_add_to_the_system_ones() {
        let p = pki();
        let system = system_roots().len();
        let all = roots(&[p.path("ca.pem")]).unwrap();
        assert_eq!(all.len(), system + 1);
        assert_eq!(file_roots(&[p.path("ca.pem")]).unwrap().len(), 1);
        assert!(roots(&[p.path("empty.pem")]).is_err());
        client_config(all).unwrap();
    }
}
