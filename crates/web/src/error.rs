//! Errors as pages: what went wrong in words (a bad typing with its token and position,
//! an unknown donor, a refused role), with the status that fits; never a stack trace.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use medulla_app::AppError;

use crate::layout;

/// An error page.
#[derive(Debug, thiserror::Error)]
#[error("{title}: {message}")]
pub struct WebError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl WebError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        WebError {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "This cannot be done", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not finish this; its log has the details.",
        )
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        let (status, title) = match &e {
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Please log in again"),
            AppError::Forbidden { .. } => (StatusCode::FORBIDDEN, "Not allowed for your role"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            AppError::Invalid { .. } => (StatusCode::BAD_REQUEST, "Please check what you entered"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "This conflicts with the records"),
            AppError::Rule { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "A rule refuses this"),
            AppError::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts"),
            AppError::MfaRequired(_) => (StatusCode::UNAUTHORIZED, "One-time code needed"),
            AppError::MfaNotEnabled(_) => {
                (StatusCode::FORBIDDEN, "Multi-factor authentication needed")
            }
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Not possible just now"),
            AppError::Store(_) | AppError::Internal(_) => {
                // the details go to the server's log (no identity in them), not the page
                eprintln!("internal error: {e}");
                return WebError::internal();
            }
        };
        WebError::new(status, title, e.to_string())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let body = layout::bare(
            self.title,
            html! {
                div.error role="alert" {
                    h1 { (self.title) }
                    p.message { (self.message) }
                }
                p { a href="/" { "Back to the dashboard" } }
            },
        );
        (self.status, Html(body.into_string())).into_response()
    }
}
