//! `/login` and `/logout`.

use crate::extract::{Form, Query};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use medulla_app::auth::new_secret;
use serde::Deserialize;

use super::{html, html_status, see_other, CsrfForm};
use crate::layout;
use crate::session::{
    cookie, same_secret, session_cookie, ClientAddr, Config, Session, WebConfig, LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
};
use crate::{blocking, Shared, WebError};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    /// The one-time code of an account with multi-factor authentication.
    totp: Option<String>,
    /// The login form's token (a script posting only the user name and password sends
    /// none; then the request's origin is checked instead).
    csrf: Option<String>,
    next: Option<String>,
}

/// A login without the form's token comes from this site or from no browser at all:
/// a browser's cross-site POST carries an `Origin` (or `Sec-Fetch-Site`) that says so.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) == Some(host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Only a path of this site is followed after login: it starts with one `/` (never
/// `//host` nor `/\host`, which browsers read as another host), and has no backslash,
/// no space and no control character (a browser drops tabs and newlines, so that
/// `/\t/evil.example` would become `//evil.example`), only printable ASCII (the path
/// of a page comes percent-encoded). Anything else goes to the dashboard.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.len() <= 2048
                && n.starts_with('/')
                && !n[1..].starts_with(['/', '\\'])
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_form(csrf: &str, next: &str, username: &str, message: Option<&str>) -> Markup {
    layout::bare(
        "Log in",
        html! {
            h1 { "Log in to Medulla" }
            @if let Some(m) = message {
                div.error role="alert" id="login-error" { p { (m) } }
            }
            form.stack.narrow method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                label for="username" { "User name" }
                input type="text" id="username" name="username" value=(username)
                    autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input type="password" id="password" name="password"
                    autocomplete="current-password" required;
                label for="totp" { "One-time code " small { "(accounts with multi-factor authentication)" } }
                input type="text" id="totp" name="totp" inputmode="numeric"
                    autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6";
                p { button type="submit" id="login" { "Log in" } }
            }
        },
    )
}

fn login_csrf_cookie(value: &str, cfg: &WebConfig) -> String {
    format!(
        "{LOGIN_CSRF_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        cfg.secure_attribute()
    )
}

fn fresh_login_csrf() -> Result<String, WebError> {
    Ok(new_secret("lc_")?)
}

/// The login form.
pub async fn form(
    Config(cfg): Config,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let csrf = match cookie(&headers, LOGIN_CSRF_COOKIE) {
        Some(c) => c,
        None => fresh_login_csrf()?,
    };
    let next = safe_next(q.next.as_deref());
    Ok((
        [(SET_COOKIE, login_csrf_cookie(&csrf, &cfg))],
        html(login_form(&csrf, &next, "", None)),
    )
        .into_response())
}

/// Check the password; on success a session cookie and the page asked for.
pub async fn submit(
    State(svc): State<Shared>,
    Config(cfg): Config,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(f.next.as_deref());
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let genuine = match f.csrf.as_deref().filter(|c| !c.is_empty()) {
        Some(given) => !expected.is_empty() && same_secret(&expected, given),
        None => same_origin(&headers),
    };
    if !genuine {
        let csrf = fresh_login_csrf()?;
        return Ok((
            [(SET_COOKIE, login_csrf_cookie(&csrf, &cfg))],
            html_status(
                StatusCode::FORBIDDEN,
                login_form(
                    &csrf,
                    &next,
                    &f.username,
                    Some("The login form had expired; please log in again."),
                ),
            ),
        )
            .into_response());
    }
    let expected = if expected.is_empty() {
        fresh_login_csrf()?
    } else {
        expected
    };
    let username = f.username.clone();
    let max_age = svc.auth_policy().session_absolute.as_secs();
    let login = move || {
        svc.login(&medulla_app::service::LoginAttempt {
            username: &f.username,
            password: &f.password,
            totp: f.totp.as_deref(),
            source,
        })
    };
    match blocking(login).await {
        Ok((token, _)) => {
            let mut res = see_other(&next);
            res.headers_mut().append(
                SET_COOKIE,
                session_cookie(Some(&token), &cfg, max_age)
                    .parse()
                    .map_err(|_| WebError::internal())?,
            );
            Ok(res)
        }
        Err(e) => {
            let status = if matches!(
                e.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN
            ) {
                e.status
            } else {
                StatusCode::UNAUTHORIZED
            };
            Ok(html_status(
                status,
                login_form(&expected, &next, &username, Some(&e.message)),
            ))
        }
    }
}

/// A page with the logout button (a GET changes nothing).
pub async fn logout_page(s: Session) -> Response {
    html(layout::page(
        &s,
        "",
        "Log out",
        html! {
            h1 { "Log out" }
            form method="post" action="/logout" {
                input type="hidden" name="csrf" value=(s.csrf());
                button type="submit" { "Log out now" }
            }
        },
    ))
}

/// End the session: the token stops working and the cookie is removed.
pub async fn logout(
    State(svc): State<Shared>,
    Config(cfg): Config,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let s = Session {
            actor: medulla_app::Actor::local("-"),
            token: token.clone(),
        };
        s.check_csrf(&f.csrf)?;
        blocking(move || svc.logout(&token)).await?;
    }
    let mut res = see_other("/login");
    res.headers_mut().append(
        SET_COOKIE,
        session_cookie(None, &cfg, 0)
            .parse()
            .map_err(|_| WebError::internal())?,
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_login_without_the_token_must_not_come_from_another_site() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
    }

    #[test]
    fn only_paths_of_this_site_are_followed_after_login() {
        assert_eq!(safe_next(Some("/search?x=1")), "/search?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(None), "/");
        for bad in [
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\\evil.example",
            "/\\/evil.example",
            "//evil.example",
            "/ /evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/\u{7f}/x",
            "/é",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(
            safe_next(Some("/patients/P%201?x=1")),
            "/patients/P%201?x=1"
        );
    }
}
