//! Routes of match likelihood and recruitment planning: the same use cases as
//! `medulla likelihood` and `medulla recruit`, under `/api/v1`.

use axum::extract::State;
use axum::Json;
use medulla_app::likelihood::{LikelihoodReport, RecruitReport};
use medulla_app::service::population::{LikelihoodInput, RecruitInput};

use super::{blocking, Caller, JsonBody, Shared};
use crate::error::{ApiError, ErrorBody};

/// The likelihood that a patient of each population finds at least one available matched
/// donor (10/10, 8/8, 7/8), in this registry (its searchable adult donors by population)
/// or in a registry of a given mix and sizes (admin, coordinators, auditor); audited.
#[utoipa::path(post, path = "/api/v1/likelihood", tag = "population",
    request_body = LikelihoodInput, security(("bearer" = [])),
    responses((status = 200, body = LikelihoodReport), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn likelihood(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(input): JsonBody<LikelihoodInput>,
) -> Result<Json<LikelihoodReport>, ApiError> {
    Ok(Json(
        blocking(move || svc.likelihood(&actor, &input)).await?,
    ))
}

/// Where to recruit: the allocation of new donors that raises the weighted likelihood
/// most, the gain per population, and the donors a population needs for a target
/// (admin, coordinators, auditor); audited.
#[utoipa::path(post, path = "/api/v1/recruit", tag = "population",
    request_body = RecruitInput, security(("bearer" = [])),
    responses((status = 200, body = RecruitReport), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn recruit(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(input): JsonBody<RecruitInput>,
) -> Result<Json<RecruitReport>, ApiError> {
    Ok(Json(blocking(move || svc.recruit(&actor, &input)).await?))
}
