//! Medulla's web application for coordinators: server-rendered HTML pages, served by
//! `medulla serve` beside the API, over the same application layer ([`Service`]) and so
//! under the same roles, permissions and audit trail. No domain logic here: each handler
//! reads a form or a query, calls one use case and renders its answer.
//!
//! Sessions are the service's login sessions, carried in an HttpOnly, SameSite=Lax
//! cookie (`Secure` over TLS); every form that changes something carries a CSRF token derived from the
//! session. The pages need no JavaScript; the stylesheet is embedded in the binary.

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use medulla_app::{AppError, Service};

mod error;
mod extract;
mod grades;
mod layout;
mod pages;
mod session;
pub mod webdriver;

pub use error::WebError;
pub use session::{ClientAddr, WebConfig};

type Shared = Arc<Service>;

/// Every page of the web application (state: the service).
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(pages::dashboard::show))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route(
            "/logout",
            get(pages::login::logout_page).post(pages::login::logout),
        )
        .route("/search", get(pages::search::show))
        .route("/search.csv", get(pages::search::csv))
        .route("/search/save", post(pages::search::save))
        .route("/searches/{name}/repeat", post(pages::search::repeat))
        .route("/donors/{id}", get(pages::donors::show))
        .route("/donors/{id}/status", post(pages::donors::set_status))
        .route(
            "/donors/{id}/identity",
            get(pages::donors::identity_page).post(pages::donors::identity),
        )
        .route(
            "/patients",
            get(pages::patients::list).post(pages::patients::register),
        )
        .route("/patients/{id}", get(pages::patients::show))
        .route("/patients/{id}/status", post(pages::patients::set_status))
        .route(
            "/patients/{id}/roadmap",
            post(pages::patients::refresh_roadmap),
        )
        .route("/requests", post(pages::requests::open))
        .route("/requests/{id}", get(pages::requests::show))
        .route("/requests/{id}/action", post(pages::requests::action))
        .route("/requests/{id}/record", post(pages::requests::record))
        .route("/requests/{id}/plan", post(pages::requests::plan))
        .route("/tasks", get(pages::requests::tasks))
        .route("/likelihood", get(pages::likelihood::show))
        .route("/audit", get(pages::audit::show))
        .route(
            "/account/mfa",
            get(pages::mfa::show).post(pages::mfa::enable),
        )
        .route("/assets/medulla.css", get(stylesheet))
        .layer(axum::middleware::map_response(secure_headers))
}

/// The page for a path no route serves.
pub fn not_found(path: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    WebError::new(
        axum::http::StatusCode::NOT_FOUND,
        "Page not found",
        format!("There is no page at {path}."),
    )
    .into_response()
}

/// Pages are never cached (they may show identity) nor framed, and run no script.
async fn secure_headers(mut res: axum::response::Response) -> axum::response::Response {
    let h = res.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

async fn stylesheet() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        grades::stylesheet(),
    )
}

/// Run a use case on a blocking thread (SQLite, the index, argon2 all block).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| {
            eprintln!("a page's work failed (panic); answered 500");
            WebError::internal()
        })?
        .map_err(WebError::from)
}
