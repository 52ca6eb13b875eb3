//! The routes: each parses its input, authenticates the caller, calls one use case of the
//! application layer on a blocking thread, and answers JSON.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use medulla_app::auth::Permission;
use medulla_app::search::SearchOptions;
use medulla_app::service::{
    DonorView, ImportAnswer, ImportFormat, RepeatAnswer, SearchAnswer, StatusRequest,
};
use medulla_app::{Actor, AppError, Service};
use medulla_nomenclature::Reduction;
use medulla_registry::audit::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};

mod exchange;
mod journey;
mod population;

type Shared = Arc<Service>;

/// JSON bodies up to this size (imports stream and have their own limit).
pub const JSON_LIMIT: usize = 1 << 20;
/// An import body up to this size.
pub const IMPORT_LIMIT: u64 = 8 << 30;

#[derive(OpenApi)]
#[openapi(
    info(title = "Medulla", description = "Stem cell donor registry and HLA matching engine"),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document `GET /api/v1/openapi.json` serves, set once when the router is built.
static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();

/// Every route, registered with the router and the OpenAPI document together.
pub fn api() -> (axum::Router<Shared>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi))
        .routes(routes!(health))
        .routes(routes!(login))
        .routes(routes!(search))
        .routes(routes!(import))
        .routes(routes!(donor))
        .routes(routes!(identity))
        .routes(routes!(set_status))
        .routes(routes!(save_search))
        .routes(routes!(repeat_search))
        .routes(routes!(reduce))
        .routes(routes!(validate))
        .routes(routes!(audit))
        .routes(routes!(journey::add_patient, journey::patients))
        .routes(routes!(journey::patient))
        .routes(routes!(journey::patient_identity))
        .routes(routes!(journey::set_case_status))
        .routes(routes!(journey::open_request, journey::requests))
        .routes(routes!(journey::request))
        .routes(routes!(journey::acknowledge))
        .routes(routes!(journey::result))
        .routes(routes!(journey::cancel))
        .routes(routes!(journey::reject))
        .routes(routes!(journey::workup_plan))
        .routes(routes!(journey::workup_record))
        .routes(routes!(journey::workup_calendar))
        .routes(routes!(journey::tasks))
        .routes(routes!(journey::roadmap))
        .routes(routes!(journey::refresh_roadmap))
        .routes(routes!(journey::family, journey::add_relative))
        .routes(routes!(journey::products, journey::add_product))
        .routes(routes!(journey::product_status))
        .routes(routes!(population::likelihood))
        .routes(routes!(population::recruit))
        .routes(routes!(exchange::info))
        .routes(routes!(exchange::messages))
        .routes(routes!(exchange::requests))
        .split_for_parts();
    let _ = DOCUMENT.set(doc.clone());
    (router, doc)
}

/// This document: the OpenAPI 3 description of every route (no login).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "the OpenAPI 3 document", content_type = "application/json")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(DOCUMENT.get().cloned().unwrap_or_else(|| api().1))
}

/// No route: JSON under `/api/`, a page elsewhere.
pub async fn not_found(uri: Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !uri.path().starts_with("/api/") {
        return medulla_web::not_found(uri.path());
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {} (see /api/v1/openapi.json)", uri.path()),
    )
    .into_response()
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not served at {}", uri.path()),
    )
}

/// Run a use case on a blocking thread (SQLite, the index, argon2 all block).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| {
            eprintln!("a request's work failed (panic); answered 500");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        })?
        .map_err(ApiError::from)
}

/// Searches run a few at a time, in the order they came (a fair queue): each already
/// uses every core, so more at once only stretch them all and make the slowest wait
/// longest. `MEDULLA_SEARCH_SLOTS` sets how many (default: the number of cores).
async fn search_slot() -> tokio::sync::SemaphorePermit<'static> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let n = std::env::var("MEDULLA_SEARCH_SLOTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        tokio::sync::Semaphore::new(n)
    });
    slots
        .acquire()
        .await
        .expect("the search semaphore is never closed")
}

/// The authenticated caller (`Authorization: Bearer TOKEN`, a session token or an API key).
pub struct Caller(pub Actor);

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "log in (POST /api/v1/login) and send Authorization: Bearer TOKEN",
                )
            })?
            .to_string();
        let svc = state.clone();
        Ok(Caller(blocking(move || svc.authenticate(&token)).await?))
    }
}

/// Query parameters, their problems answered as API errors (`invalid`, naming the
/// parameter) rather than axum's plain-text rejection.
pub struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::bad_request(
                "query: a NUL character (%00) is not accepted",
            ));
        }
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(QueryParams(v)),
            Err(rej) => Err(ApiError::bad_request(format!(
                "query: {}",
                rej.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
            ))),
        }
    }
}

/// Path segments, their problems (bytes that are not UTF-8...) answered as API errors.
pub struct PathParam<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // a NUL is never part of an id or name (PostgreSQL could not even look it up)
        if parts.uri.path().contains("%00") {
            return Err(ApiError::bad_request(
                "path: a NUL character (%00) is not accepted",
            ));
        }
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PathParam(v)),
            Err(rej) => Err(ApiError::bad_request(format!("path: {}", rej.body_text()))),
        }
    }
}

/// A JSON body, its problems answered as API errors.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // an announced length over the limit is refused before anything is read
        let announced = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > JSON_LIMIT as u64) {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("a JSON body may hold at most {JSON_LIMIT} bytes"),
            ));
        }
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(rej) => {
                let status = rej.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "payload_too_large"
                } else {
                    "invalid"
                };
                Err(ApiError::new(status, code, rej.body_text()))
            }
        }
    }
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// `ok`, or `degraded` (answered 503) when the database is read-only or unreachable.
    status: &'static str,
    /// Why the service is degraded (absent when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Donors in the live search index.
    donors: usize,
}

/// Whether the service can work, and how many donors its index holds (no login): 200
/// `ok`, or 503 `degraded` with the reason and a `Retry-After`.
#[utoipa::path(get, path = "/api/v1/health", tag = "service",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(svc): State<Shared>) -> Response {
    let svc2 = svc.clone();
    let verdict = tokio::task::spawn_blocking(move || svc2.health())
        .await
        .unwrap_or_else(|_| Err("the health check failed".to_string()));
    let donors = svc.donors();
    match verdict {
        Ok(()) => Json(Health {
            status: "ok",
            reason: None,
            donors,
        })
        .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                axum::http::header::RETRY_AFTER,
                crate::error::RETRY_AFTER_SECONDS.to_string(),
            )],
            Json(Health {
                status: "degraded",
                reason: Some(reason),
                donors,
            }),
        )
            .into_response(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
    /// The 6-digit one-time code of an account with multi-factor authentication.
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct LoginAnswer {
    /// Send as `Authorization: Bearer TOKEN`.
    token: String,
    /// RFC 3339.
    expires_at: String,
}

/// Log in with a user name and password (and the one-time code `totp` of an account
/// with MFA): a session token. It ends at `expires_at`, or earlier after the server's
/// idle time without use. Failed attempts slow down the address they come from, and
/// the account for addresses that failed on it (429 with the seconds to wait);
/// `mfa_required` (401) asks for the code, `mfa_not_enabled` (403) says the role needs
/// MFA enabled first.
#[utoipa::path(post, path = "/api/v1/login", tag = "service", request_body = LoginRequest,
    responses((status = 200, body = LoginAnswer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(svc): State<Shared>,
    medulla_web::ClientAddr(source): medulla_web::ClientAddr,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginAnswer>, ApiError> {
    let (token, expires) = blocking(move || {
        svc.login(&medulla_app::service::LoginAttempt {
            username: &req.username,
            password: &req.password,
            totp: req.totp.as_deref(),
            source,
        })
    })
    .await?;
    let expires_at = expires
        .and_local_timezone(chrono::Local)
        .single()
        .map_or_else(|| expires.to_string(), |d| d.to_rfc3339());
    Ok(Json(LoginAnswer { token, expires_at }))
}

/// Search the registry for a patient: graded, ranked donors with match probabilities
/// (admin, search-coordinator, partner).
#[utoipa::path(post, path = "/api/v1/search", tag = "search", request_body = SearchOptions,
    security(("bearer" = [])),
    responses((status = 200, body = SearchAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn search(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(options): JsonBody<SearchOptions>,
) -> Result<Json<SearchAnswer>, ApiError> {
    // the national search in a slot; the wait for partners (international) outside it
    let slot = search_slot().await;
    let (svc2, actor2, options2) = (svc.clone(), actor.clone(), options.clone());
    let national = blocking(move || svc2.search_national(&actor2, &options2)).await?;
    drop(slot);
    Ok(Json(
        blocking(move || svc.search_finish(&actor, &options, national)).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// A name for the import in the log (default `api`).
    name: Option<String>,
    /// Apply nothing when any record is invalid.
    #[serde(default)]
    strict: bool,
}

/// Reads a request body streamed from the async side, on the blocking import thread.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    buf: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        let _ = self.buf.split_to(n);
        Ok(n)
    }
}

/// Import donors (admin): a donor CSV (`text/csv`) or donor-update JSON
/// (`application/json`) body, streamed, applied in one transaction and to the live
/// index; the report names every reject.
#[utoipa::path(post, path = "/api/v1/donors/import", tag = "donors", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "a donor CSV (docs/donor-csv.md) or donor-update JSON"),
    security(("bearer" = [])),
    responses((status = 200, body = ImportAnswer), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn import(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    QueryParams(q): QueryParams<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportAnswer>, ApiError> {
    actor.require(Permission::Import)?;
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = if ct.starts_with("text/csv") {
        ImportFormat::Csv
    } else if ct.starts_with("application/json") {
        ImportFormat::Json
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a donor CSV as text/csv or donor-update JSON as application/json",
        ));
    };
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let name = q.name.unwrap_or_else(|| "api".into());
    let work = tokio::task::spawn_blocking(move || {
        svc.import(
            &actor,
            ChannelReader {
                rx,
                buf: Bytes::new(),
            },
            format,
            &name,
            q.strict,
        )
    });
    let mut body = body;
    let mut total: u64 = 0;
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => Ok(d),
                Err(_) => continue,
            },
            Err(e) => Err(format!("reading the request body: {e}")),
        };
        if let Ok(d) = &chunk {
            total += d.len() as u64;
            if total > IMPORT_LIMIT {
                too_large = true;
                let _ = tx
                    .send(Err(format!("the body is larger than {IMPORT_LIMIT} bytes")))
                    .await;
                break;
            }
        }
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break; // the import stopped reading (it failed): its answer says why
        }
    }
    drop(tx);
    let answer = work.await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    })?;
    if too_large {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("an import body may hold at most {IMPORT_LIMIT} bytes; nothing was imported"),
        ));
    }
    Ok(Json(answer?))
}

/// A donor's record, status and history, without identity (admin, search-coordinator,
/// donor-coordinator).
#[utoipa::path(get, path = "/api/v1/donors/{id}", tag = "donors",
    params(("id" = String, Path, description = "the donor's id in this registry")),
    security(("bearer" = [])),
    responses((status = 200, body = DonorView), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn donor(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<DonorView>, ApiError> {
    Ok(Json(blocking(move || svc.donor(&actor, &id)).await?))
}

#[derive(Serialize, ToSchema)]
struct IdentityView {
    donor_id: String,
    name: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

/// A donor's name and contact details (admin, donor-coordinator); every read is audited.
#[utoipa::path(get, path = "/api/v1/donors/{id}/identity", tag = "donors",
    params(("id" = String, Path, description = "the donor's id in this registry")),
    security(("bearer" = [])),
    responses((status = 200, body = IdentityView), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn identity(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<IdentityView>, ApiError> {
    let donor_id = id.clone();
    let i = blocking(move || svc.identity(&actor, &id)).await?;
    Ok(Json(IdentityView {
        donor_id,
        name: i.name,
        address: i.address,
        phone: i.phone,
        email: i.email,
    }))
}

/// Change a donor's status, as `medulla donors set-status` does (admin,
/// donor-coordinator); the next search sees it.
#[utoipa::path(post, path = "/api/v1/donors/{id}/status", tag = "donors",
    params(("id" = String, Path, description = "the donor's id in this registry")),
    request_body = StatusRequest,
    security(("bearer" = [])),
    responses((status = 200, body = DonorView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_status(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(req): JsonBody<StatusRequest>,
) -> Result<Json<DonorView>, ApiError> {
    Ok(Json(
        blocking(move || svc.set_status(&actor, &id, &req)).await?,
    ))
}

/// Run a search and keep it, with its matches, under a name (admin, search-coordinator).
#[utoipa::path(put, path = "/api/v1/searches/{name}", tag = "search",
    params(("name" = String, Path, description = "the saved search's name")),
    request_body = SearchOptions,
    security(("bearer" = [])),
    responses((status = 200, body = SearchAnswer), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn save_search(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(name): PathParam<String>,
    JsonBody(options): JsonBody<SearchOptions>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let _slot = search_slot().await;
    Ok(Json(
        blocking(move || svc.save_search(&actor, &name, &options)).await?,
    ))
}

/// Run a saved search again: new matches, changed donors, donors no longer matching.
#[utoipa::path(post, path = "/api/v1/searches/{name}/repeat", tag = "search",
    params(("name" = String, Path, description = "the saved search's name")),
    security(("bearer" = [])),
    responses((status = 200, body = RepeatAnswer), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn repeat_search(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(name): PathParam<String>,
) -> Result<Json<RepeatAnswer>, ApiError> {
    let _slot = search_slot().await;
    Ok(Json(
        blocking(move || svc.repeat_search(&actor, &name)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReduceRequest {
    typings: Vec<String>,
    /// G, P, lg, lgx, W, exon, U2 or S.
    to: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidateRequest {
    typings: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct TypingResult {
    input: String,
    /// The result (reductions: a GL String; validation: `ok`).
    result: Option<String>,
    /// Why the typing is invalid: the token, its position and the reason.
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TypingResults {
    results: Vec<TypingResult>,
}

fn typing_results(inputs: Vec<String>, out: Vec<Result<String, String>>) -> TypingResults {
    TypingResults {
        results: inputs
            .into_iter()
            .zip(out)
            .map(|(input, r)| match r {
                Ok(v) => TypingResult {
                    input,
                    result: Some(v),
                    error: None,
                },
                Err(e) => TypingResult {
                    input,
                    result: None,
                    error: Some(e),
                },
            })
            .collect(),
    }
}

/// Reduce typings (any form the nomenclature reads) to a level.
#[utoipa::path(post, path = "/api/v1/hla/reduce", tag = "nomenclature", request_body = ReduceRequest,
    security(("bearer" = [])),
    responses((status = 200, body = TypingResults), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn reduce(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(req): JsonBody<ReduceRequest>,
) -> Result<Json<TypingResults>, ApiError> {
    let to: Reduction = req
        .to
        .parse()
        .map_err(|e: String| ApiError::bad_request(format!("to: {e}")))?;
    let typings = req.typings.clone();
    let out = blocking(move || svc.reduce(&actor, &req.typings, to)).await?;
    Ok(Json(typing_results(typings, out)))
}

/// Validate typings: `ok` or the error for each.
#[utoipa::path(post, path = "/api/v1/hla/validate", tag = "nomenclature", request_body = ValidateRequest,
    security(("bearer" = [])),
    responses((status = 200, body = TypingResults), (status = 403, body = ErrorBody)))]
async fn validate(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(req): JsonBody<ValidateRequest>,
) -> Result<Json<TypingResults>, ApiError> {
    let typings = req.typings.clone();
    let out = blocking(move || svc.validate(&actor, &req.typings)).await?;
    Ok(Json(typing_results(typings, out)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Entries of this user only.
    user: Option<String>,
    /// Entries of this action only (`login`, `login-failed`, `search`, `identity-read`,
    /// `status-change`, `import`...).
    action: Option<String>,
    /// From this time (ISO 8601, `2026-12-01T00:00:00`), inclusive.
    from: Option<String>,
    /// Up to this time, inclusive.
    to: Option<String>,
    /// At most this many entries, oldest first (default 1000).
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
struct AuditView {
    seq: i64,
    at: String,
    user: String,
    action: String,
    subject: String,
    /// The entry's details (JSON).
    #[schema(value_type = Object)]
    detail: serde_json::Value,
    prev_hash: String,
    hash: String,
}

#[derive(Serialize, ToSchema)]
struct AuditAnswer {
    entries: Vec<AuditView>,
}

/// The audit trail, filterable by user, action and time (admin, auditor).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = AuditAnswer), (status = 403, body = ErrorBody)))]
async fn audit(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<AuditAnswer>, ApiError> {
    let filter = AuditFilter {
        actor: q.user,
        action: q.action,
        from: q.from,
        to: q.to,
        limit: Some(q.limit.unwrap_or(1000).min(100_000)),
        newest_first: false,
    };
    let entries = blocking(move || svc.audit_entries(&actor, &filter)).await?;
    Ok(Json(AuditAnswer {
        entries: entries
            .into_iter()
            .map(|e| AuditView {
                seq: e.seq,
                at: e.at,
                user: e.actor,
                action: e.action,
                subject: e.subject,
                detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
                prev_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect(),
    }))
}
