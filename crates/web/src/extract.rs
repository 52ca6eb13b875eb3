//! axum's `Form` and `Query`, whose refusals are error pages: a form or query string
//! that does not read (a field missing, twice, of the wrong kind) is answered 400 with
//! the page every other mistake gets, not axum's plain-text rejection.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::WebError;

/// A form body (`application/x-www-form-urlencoded`), refused as a page.
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Form::<T>::from_request(req, state).await {
            Ok(axum::extract::Form(v)) => Ok(Form(v)),
            Err(e) => Err(WebError::new(
                e.status(),
                "This form could not be read",
                format!("{}: send it again from its page", e.body_text()),
            )),
        }
    }
}

/// A query string, refused as a page.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(WebError::new(
                e.status(),
                "This address could not be read",
                e.body_text(),
            )),
        }
    }
}
