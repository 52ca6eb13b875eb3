//! Browser sessions: the service's login session token in an HttpOnly, SameSite=Lax
//! cookie (`Secure` when [`WebConfig::secure_cookies`]), and CSRF tokens for forms
//! (derived from the session, so nothing more is stored; the login form, before any
//! session, uses a double-submit cookie).
//!
//! Lax, not Strict: a link to a page of Medulla from webmail or an intranet arrives with
//! the session (a top-level GET, which changes nothing), instead of asking for a login
//! in every tab. Cross-site POSTs still arrive without the cookie, and every form that
//! changes something checks its CSRF token besides.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medulla_app::auth::secret_hash;
use medulla_app::{Actor, Permission};
use std::net::{IpAddr, SocketAddr};

use crate::{blocking, Shared, WebError};

pub const SESSION_COOKIE: &str = "medulla_session";
pub const LOGIN_CSRF_COOKIE: &str = "medulla_login_csrf";

/// A value of the request's `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// How the web layer meets the network, set by `medulla serve` (a request extension):
/// whether cookies are `Secure` (the service is reached over TLS) and which proxies'
/// `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Cookies carry `Secure` (sent over HTTPS only). Also on when
    /// `MEDULLA_COOKIE_SECURE` is set to anything but `0`.
    pub secure_cookies: bool,
    /// Peers whose `X-Forwarded-For` names the client (a reverse proxy in front of the
    /// service). None by default: the header is then ignored, and the client is the
    /// connecting socket's address.
    pub trusted_proxies: Vec<IpAddr>,
}

impl WebConfig {
    /// The configuration of a request (the default when none was installed).
    pub fn of(parts: &Parts) -> WebConfig {
        parts
            .extensions
            .get::<WebConfig>()
            .cloned()
            .unwrap_or_default()
    }

    fn secure(&self) -> bool {
        static ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        self.secure_cookies
            || *ENV.get_or_init(|| {
                std::env::var("MEDULLA_COOKIE_SECURE").is_ok_and(|v| !v.is_empty() && v != "0")
            })
    }

    /// `; Secure` or nothing.
    pub fn secure_attribute(&self) -> &'static str {
        if self.secure() {
            "; Secure"
        } else {
            ""
        }
    }

    /// The client's address: the connecting socket's, or, when that is a trusted proxy,
    /// the right-most address of `X-Forwarded-For` that is not a trusted proxy itself.
    pub fn client_addr(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|a| !self.trusted_proxies.contains(a))
                .unwrap_or(peer),
        )
    }
}

/// The address a request came from (see [`WebConfig::client_addr`]).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(WebConfig::of(parts).client_addr(parts)))
    }
}

/// The request's [`WebConfig`], as an extractor.
pub struct Config(pub WebConfig);

impl<S: Send + Sync> FromRequestParts<S> for Config {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Config(WebConfig::of(parts)))
    }
}

/// The `Set-Cookie` value of a session lasting at most `max_age` seconds (or, with
/// `None`, of its removal): HttpOnly, SameSite=Lax, `Secure` over TLS.
pub fn session_cookie(token: Option<&str>, cfg: &WebConfig, max_age: u64) -> String {
    let secure = cfg.secure_attribute();
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// The CSRF token of a session's forms.
pub fn csrf_of(token: &str) -> String {
    secret_hash(&format!("medulla-csrf:{token}"))
}

/// Two secrets compared in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The logged-in caller of a page.
pub struct Session {
    pub actor: Actor,
    pub token: String,
}

impl Session {
    pub fn csrf(&self) -> String {
        csrf_of(&self.token)
    }

    /// A form's CSRF token must be this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), WebError> {
        if same_secret(given, &self.csrf()) {
            Ok(())
        } else {
            Err(WebError::new(
                StatusCode::FORBIDDEN,
                "The form has expired",
                "This form was not issued to your session (CSRF check): open the page again and resend it.",
            ))
        }
    }

    pub fn may(&self, p: Permission) -> bool {
        medulla_app::auth::allows(self.actor.role, p)
    }
}

/// Where a page without a session sends the browser: the login form, then back. The
/// cookie is removed only when one came and was refused (expired, ended): a request that
/// came without it (a cross-site POST, say) leaves the browser's session alone.
pub struct ToLogin {
    here: String,
    clear: Option<WebConfig>,
}

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let next: String = url_encode(&self.here);
        let mut res = (
            StatusCode::SEE_OTHER,
            [(LOCATION, format!("/login?next={next}"))],
        )
            .into_response();
        if let Some(cfg) = self.clear {
            if let Ok(v) = session_cookie(None, &cfg, 0).parse() {
                res.headers_mut().append(axum::http::header::SET_COOKIE, v);
            }
        }
        res
    }
}

/// Percent-encoding of a path segment or a query value (everything but the unreserved
/// characters of RFC 3986).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromRequestParts<Shared> for Session {
    type Rejection = ToLogin;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ToLogin> {
        let here = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(ToLogin { here, clear: None });
        };
        let svc = state.clone();
        let t = token.clone();
        // a login session only: an API key (a partner's) is never a browser session
        match blocking(move || svc.authenticate_session(&t)).await {
            Ok(actor) => Ok(Session { actor, token }),
            Err(_) => Err(ToLogin {
                here,
                clear: Some(WebConfig::of(parts)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encode_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(url_encode("P-1001 9/10"), "P-1001%209%2F10");
        assert_eq!(url_encode("A*01:01+A*02"), "A%2A01%3A01%2BA%2A02");
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "a=1; medulla_session=mt_x; b=".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("mt_x"));
        assert_eq!(cookie(&h, "b"), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
        let c = session_cookie(Some("t"), &WebConfig::default(), 60);
        assert!(c.contains("HttpOnly; SameSite=Lax; Max-Age=60"), "{c}");
        let tls = WebConfig {
            secure_cookies: true,
            ..WebConfig::default()
        };
        assert!(session_cookie(Some("t"), &tls, 60).ends_with("; Secure"));
    }
}
