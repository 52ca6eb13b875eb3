//! How this registry reaches its partners: over TLS (rustls, the system's roots plus the
//! private CAs it was given), and over plain `http://` only to a partner on this machine
//! (loopback) or when plain HTTP was allowed explicitly. Set once by the interface
//! (`medulla serve --ca-cert FILE --allow-plain-http`, the partner commands), before any
//! partner is called; until then the system's roots and no plain HTTP off loopback.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use medulla_tls::rustls::ClientConfig;
use medulla_tls::TlsError;

/// The TLS client configuration and the plain-HTTP rule of every call to a partner.
#[derive(Debug)]
pub struct Transport {
    pub tls: Arc<ClientConfig>,
    pub allow_plain_http: bool,
}

static CURRENT: RwLock<Option<Arc<Transport>>> = RwLock::new(None);

/// Trust the system's roots plus the certificates of `ca_certs` (PEM files), and allow
/// plain `http://` partners off loopback only when `allow_plain_http`.
pub fn configure(ca_certs: &[PathBuf], allow_plain_http: bool) -> Result<(), TlsError> {
    let tls = medulla_tls::client_config(medulla_tls::roots(ca_certs)?)?;
    install(Transport {
        tls,
        allow_plain_http,
    });
    Ok(())
}

/// Use `t` from now on.
pub fn install(t: Transport) {
    let mut cur = CURRENT.write().unwrap_or_else(|p| p.into_inner());
    *cur = Some(Arc::new(t));
}

/// The transport in force (the default one, made on first use, when none was set).
pub fn current() -> Result<Arc<Transport>, TlsError> {
    if let Some(t) = CURRENT.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return Ok(t.clone());
    }
    let mut cur = CURRENT.write().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = cur.as_ref() {
        return Ok(t.clone());
    }
    let t = Arc::new(Transport {
        tls: medulla_tls::client_config(medulla_tls::roots(&[])?)?,
        allow_plain_http: false,
    });
    *cur = Some(t.clone());
    Ok(t)
}

/// Whether plain `http://` partners off loopback are allowed now.
pub fn plain_http_allowed() -> bool {
    CURRENT
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|t| t.allow_plain_http)
}

/// Why a partner's URL is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("partner {partner}: {url:?} is not an http:// or https:// URL")]
    Scheme { partner: String, url: String },
    #[error("partner {partner}: {url:?} names no host")]
    NoHost { partner: String, url: String },
    #[error(
        "partner {partner}: plain {scheme}:// to {host} is refused (off this machine a \
         partner is reached over TLS): use an https:// URL, or allow plain HTTP with \
         --allow-plain-http"
    )]
    PlainHttp {
        partner: String,
        scheme: String,
        host: String,
    },
}

/// Whether the partner `partner` may be called at `url` (plain HTTP off loopback only
/// when `allow_plain_http`).
pub fn check_url(allow_plain_http: bool, partner: &str, url: &str) -> Result<(), UrlRefused> {
    let url = url.trim();
    let scheme = medulla_tls::url::scheme(url).unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(UrlRefused::Scheme {
            partner: partner.into(),
            url: url.into(),
        });
    }
    let Some(host) = medulla_tls::url::host(url) else {
        return Err(UrlRefused::NoHost {
            partner: partner.into(),
            url: url.into(),
        });
    };
    if scheme == "http" && !allow_plain_http && !medulla_tls::url::is_loopback_host(host) {
        return Err(UrlRefused::PlainHttp {
            partner: partner.into(),
            scheme,
            host: host.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        let strict = false;
        for ok in [
            "https://registry.example:8443",
            "http://127.0.0.1:8081",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert_eq!(check_url(strict, "p", ok), Ok(()), "{ok}");
        }
        let e = check_url(strict, "p1", "http://192.0.2.1:8080").unwrap_err();
        assert!(matches!(e, UrlRefused::PlainHttp { .. }));
        let text = e.to_string();
        assert!(
            text.contains("p1") && text.contains("http://") && text.contains("192.0.2.1"),
            "{text}"
        );
        assert_eq!(check_url(true, "p1", "http://192.0.2.1:8080"), Ok(()));
        assert!(matches!(
            check_url(true, "p", "ftp://x"),
            Err(UrlRefused::Scheme { .. })
        ));
        assert!(matches!(
            check_url(true, "p", "https://"),
            Err(UrlRefused::NoHost { .. })
        ));
    }
}
