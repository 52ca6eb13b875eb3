//! Browser sessions: the service's login session token in an HttpOnly, SameSite=Strict
//! cookie, and CSRF tokens for forms (derived from the session, so nothing more is
//! stored; the login form, before any session, uses a double-submit cookie).

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medulla_app::auth::secret_hash;
use medulla_app::service::SESSION_HOURS;
use medulla_app::{Actor, Permission};

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

static SECURE_COOKIES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Mark the cookies `Secure` from now on: the service itself is reached over TLS
/// (`medulla serve --tls-cert`).
pub fn set_secure_cookies(on: bool) {
    SECURE_COOKIES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// `; Secure` when the service serves HTTPS itself ([`set_secure_cookies`]) or when
/// `MEDULLA_COOKIE_SECURE` is set (to anything but `0`): behind a TLS proxy the browser
/// then sends the cookies over HTTPS only. Plain HTTP on loopback (the default) needs it
/// unset.
pub fn secure_attribute() -> &'static str {
    static SECURE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let on = *SECURE.get_or_init(|| {
        std::env::var("MEDULLA_COOKIE_SECURE").is_ok_and(|v| !v.is_empty() && v != "0")
    }) || SECURE_COOKIES.load(std::sync::atomic::Ordering::Relaxed);
    if on {
        "; Secure"
    } else {
        ""
    }
}

/// The `Set-Cookie` value of a session (or, with `None`, of its removal).
pub fn session_cookie(token: Option<&str>) -> String {
    let secure = secure_attribute();
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_HOURS * 3600
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
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

/// Where a page without a session sends the browser: the login form, then back.
pub struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let next: String = url_encode(&self.0);
        (
            StatusCode::SEE_OTHER,
            [
                (LOCATION, format!("/login?next={next}")),
                (axum::http::header::SET_COOKIE, session_cookie(None)),
            ],
        )
            .into_response()
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
            return Err(ToLogin(here));
        };
        let svc = state.clone();
        let t = token.clone();
        match blocking(move || svc.authenticate(&t)).await {
            Ok(actor) => Ok(Session { actor, token }),
            Err(_) => Err(ToLogin(here)),
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
        assert!(session_cookie(Some("t")).contains("HttpOnly; SameSite=Strict; Max-Age="));
    }
}
