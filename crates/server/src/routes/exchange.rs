//! Routes of the exchange with foreign registries, for partner accounts (API keys): a
//! partner learns our ION, delivers messages and compares the requests both sides hold.
//! The international search is `POST /api/v1/search` with `"international": true`.

use axum::extract::State;
use axum::Json;
use medulla_app::exchange::message::{Batch, BatchAnswer, Info, LinkedRequest};
use serde::Serialize;
use utoipa::ToSchema;

use super::{blocking, Caller, JsonBody, Shared};
use crate::error::{ApiError, ErrorBody};

/// This registry's ION and size (partner).
#[utoipa::path(get, path = "/api/v1/exchange/info", tag = "exchange",
    security(("bearer" = [])),
    responses((status = 200, body = Info), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn info(
    State(svc): State<Shared>,
    Caller(actor): Caller,
) -> Result<Json<Info>, ApiError> {
    Ok(Json(blocking(move || svc.exchange_info(&actor)).await?))
}

/// Deliver messages (partner): each is stored before it is answered, applied once and
/// in the sender's sequence order. The answer per message is `ack`, `warn`, `deny` (with
/// the reason) or `held` (waiting for an earlier message); `missing` names a gap to send
/// again. 503 when the sender is not yet registered here as a partner (send again later).
#[utoipa::path(post, path = "/api/v1/exchange/messages", tag = "exchange",
    request_body = Batch, security(("bearer" = [])),
    responses((status = 200, body = BatchAnswer), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn messages(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(batch): JsonBody<Batch>,
) -> Result<Json<BatchAnswer>, ApiError> {
    Ok(Json(
        blocking(move || svc.exchange_receive(&actor, &batch)).await?,
    ))
}

/// The requests held with the calling partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedRequests {
    pub requests: Vec<LinkedRequest>,
}

/// The requests this registry holds with the calling partner, by reference and state
/// (partner; for reconciliation).
#[utoipa::path(get, path = "/api/v1/exchange/requests", tag = "exchange",
    security(("bearer" = [])),
    responses((status = 200, body = LinkedRequests), (status = 403, body = ErrorBody)))]
pub async fn requests(
    State(svc): State<Shared>,
    Caller(actor): Caller,
) -> Result<Json<LinkedRequests>, ApiError> {
    let requests = blocking(move || svc.exchange_requests(&actor)).await?;
    Ok(Json(LinkedRequests { requests }))
}
