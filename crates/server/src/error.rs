//! Errors as the API answers them: `{"error": {"code": "...", "message": "..."}}` with
//! the status that fits, never a panic or a stack trace.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use medulla_app::AppError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = match &e {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Rule { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::MfaRequired(_) => StatusCode::UNAUTHORIZED,
            AppError::MfaNotEnabled(_) => StatusCode::FORBIDDEN,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // the details go to the server's log (no identity in them), not to the caller
            eprintln!("internal error: {e}");
            "internal error; the server's log has the details".to_string()
        } else {
            e.to_string()
        };
        ApiError::new(status, e.code(), message)
    }
}

/// Seconds a client is told to wait before trying a 503 again.
pub const RETRY_AFTER_SECONDS: u32 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Json(serde_json::json!({ "error": { "code": self.code, "message": self.message } }));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // a fault of the moment: when to try again
            let retry = [(
                axum::http::header::RETRY_AFTER,
                RETRY_AFTER_SECONDS.to_string(),
            )];
            return (self.status, retry, body).into_response();
        }
        (self.status, body).into_response()
    }
}

/// The error body's schema, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`,
    /// `too_many_attempts`, `mfa_required` (the password was right: send `totp` too),
    /// `mfa_not_enabled` (the role needs MFA: an administrator enables it),
    /// `payload_too_large`, `unavailable` (503, with `Retry-After`), `internal`.
    pub code: String,
    pub message: String,
}
