//! One module per page (or family of pages).

pub mod audit;
pub mod dashboard;
pub mod donors;
pub mod likelihood;
pub mod login;
pub mod mfa;
pub mod patients;
pub mod requests;
pub mod search;

use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::Markup;

/// A rendered page.
pub fn html(m: Markup) -> Response {
    Html(m.into_string()).into_response()
}

/// A page with a status other than 200 (a form shown again with its error).
pub fn html_status(status: StatusCode, m: Markup) -> Response {
    (status, Html(m.into_string())).into_response()
}

/// After a form that changed something: see the result with GET.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

/// A form field as text, `None` when left empty.
pub fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A field that cannot be used, and why (shown on the page with the field's name).
pub fn invalid(field: &str, reason: impl Into<String>) -> crate::WebError {
    medulla_app::AppError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
    .into()
}

/// A number field, `None` when left empty.
pub fn number<T: std::str::FromStr>(
    field: &str,
    v: &Option<String>,
) -> Result<Option<T>, crate::WebError> {
    filled(v)
        .map(|s| {
            s.parse::<T>()
                .map_err(|_| invalid(field, format!("{s:?} is not a number")))
        })
        .transpose()
}

/// The form field of a CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}
