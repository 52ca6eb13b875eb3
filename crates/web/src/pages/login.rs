//! `/login` and `/logout`.

use axum::extract::{Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use medulla_app::auth::new_secret;
use serde::Deserialize;

use super::{html, html_status, see_other, CsrfForm};
use crate::layout;
use crate::session::{
    cookie, same_secret, session_cookie, Session, LOGIN_CSRF_COOKIE, SESSION_COOKIE,
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
    csrf: String,
    next: Option<String>,
}

/// Only a path of this site (never `//host` or a URL) is followed after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
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
                p { button type="submit" id="login" { "Log in" } }
            }
        },
    )
}

fn login_csrf_cookie(value: &str) -> String {
    format!("{LOGIN_CSRF_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600")
}

fn fresh_login_csrf() -> Result<String, WebError> {
    Ok(new_secret("lc_")?)
}

/// The login form.
pub async fn form(headers: HeaderMap, Query(q): Query<NextQuery>) -> Result<Response, WebError> {
    let csrf = match cookie(&headers, LOGIN_CSRF_COOKIE) {
        Some(c) => c,
        None => fresh_login_csrf()?,
    };
    let next = safe_next(q.next.as_deref());
    Ok((
        [(SET_COOKIE, login_csrf_cookie(&csrf))],
        html(login_form(&csrf, &next, "", None)),
    )
        .into_response())
}

/// Check the password; on success a session cookie and the page asked for.
pub async fn submit(
    State(svc): State<Shared>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(f.next.as_deref());
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&expected, &f.csrf) {
        let csrf = fresh_login_csrf()?;
        return Ok((
            [(SET_COOKIE, login_csrf_cookie(&csrf))],
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
    let username = f.username.clone();
    match blocking(move || svc.login(&f.username, &f.password)).await {
        Ok((token, _)) => {
            let mut res = see_other(&next);
            res.headers_mut().append(
                SET_COOKIE,
                session_cookie(Some(&token))
                    .parse()
                    .map_err(|_| WebError::internal())?,
            );
            Ok(res)
        }
        Err(e) => {
            let status = if e.status == StatusCode::TOO_MANY_REQUESTS {
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
        session_cookie(None)
            .parse()
            .map_err(|_| WebError::internal())?,
    );
    Ok(res)
}
