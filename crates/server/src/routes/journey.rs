//! Routes of patients, requests, the workup and tasks: the same operations as
//! `medulla patients|requests|workup|tasks`, under `/api/v1`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use medulla_app::patients::{CaseStatusInput, PatientInput, PatientView};
use medulla_app::workflow::{
    EndInput, OpenInput, PlanAnswer, PlanInput, RecordInput, RequestView, ResultInput,
};
use medulla_registry::requests::RequestFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{blocking, Caller, JsonBody, PathParam, QueryParams, Shared};
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct PatientList {
    patients: Vec<PatientView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientQuery {
    /// Only cases with this status.
    status: Option<String>,
}

/// Register a patient (admin, search-coordinator); identity fields are kept apart.
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", request_body = PatientInput,
    security(("bearer" = [])),
    responses((status = 201, body = PatientView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_patient(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(input): JsonBody<PatientInput>,
) -> Result<(axum::http::StatusCode, Json<PatientView>), ApiError> {
    let p = blocking(move || svc.add_patient(&actor, &input)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(p)))
}

/// Patients, optionally with one case status.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", params(PatientQuery),
    security(("bearer" = [])), responses((status = 200, body = PatientList)))]
pub async fn patients(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    QueryParams(q): QueryParams<PatientQuery>,
) -> Result<Json<PatientList>, ApiError> {
    let patients = blocking(move || svc.patients(&actor, q.status.as_deref())).await?;
    Ok(Json(PatientList { patients }))
}

/// One patient: the record and the case history (never identity).
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = String, Path, description = "the patient's id")),
    security(("bearer" = [])),
    responses((status = 200, body = PatientView), (status = 404, body = ErrorBody)))]
pub async fn patient(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<PatientView>, ApiError> {
    Ok(Json(blocking(move || svc.patient(&actor, &id)).await?))
}

#[derive(Serialize, ToSchema)]
pub struct PatientIdentityView {
    patient_id: String,
    name: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

/// A patient's name and contact details (admin, search-coordinator); every read audited.
#[utoipa::path(get, path = "/api/v1/patients/{id}/identity", tag = "patients",
    params(("id" = String, Path, description = "the patient's id")),
    security(("bearer" = [])),
    responses((status = 200, body = PatientIdentityView), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn patient_identity(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<PatientIdentityView>, ApiError> {
    let patient_id = id.clone();
    let i = blocking(move || svc.patient_identity(&actor, &id)).await?;
    Ok(Json(PatientIdentityView {
        patient_id,
        name: i.name,
        address: i.address,
        phone: i.phone,
        email: i.email,
    }))
}

/// Move a patient's search case (preliminary, active, suspended, stopped with a reason,
/// transplanted).
#[utoipa::path(post, path = "/api/v1/patients/{id}/status", tag = "patients",
    params(("id" = String, Path, description = "the patient's id")),
    request_body = CaseStatusInput, security(("bearer" = [])),
    responses((status = 200, body = PatientView), (status = 422, body = ErrorBody)))]
pub async fn set_case_status(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<CaseStatusInput>,
) -> Result<Json<PatientView>, ApiError> {
    Ok(Json(
        blocking(move || svc.set_case_status(&actor, &id, &input)).await?,
    ))
}

/// Open a request for a patient-donor pair (admin, search-coordinator). A rule that
/// refuses it answers 422 with the rule's name in the message.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = OpenInput,
    security(("bearer" = [])),
    responses((status = 201, body = RequestView), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn open_request(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    JsonBody(input): JsonBody<OpenInput>,
) -> Result<(axum::http::StatusCode, Json<RequestView>), ApiError> {
    let r = blocking(move || svc.open_request(&actor, &input)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(r)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    patient: Option<String>,
    donor: Option<String>,
    /// Only open requests.
    #[serde(default)]
    open: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RequestList {
    requests: Vec<RequestView>,
}

/// Requests, optionally of one patient or donor, or only open ones.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(RequestQuery),
    security(("bearer" = [])), responses((status = 200, body = RequestList)))]
pub async fn requests(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    QueryParams(q): QueryParams<RequestQuery>,
) -> Result<Json<RequestList>, ApiError> {
    let f = RequestFilter {
        patient: q.patient,
        donor: q.donor,
        open_only: q.open,
    };
    let requests = blocking(move || svc.requests(&actor, &f)).await?;
    Ok(Json(RequestList { requests }))
}

/// One request with its history, flags and (for a workup) every step and deadline.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "the request's id")),
    security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 404, body = ErrorBody)))]
pub async fn request(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(blocking(move || svc.request(&actor, &id)).await?))
}

/// The donor's registry acknowledges a request (admin, donor-coordinator).
#[utoipa::path(post, path = "/api/v1/requests/{id}/acknowledge", tag = "requests",
    params(("id" = String, Path, description = "the request's id")),
    security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 422, body = ErrorBody)))]
pub async fn acknowledge(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        blocking(move || svc.acknowledge_request(&actor, &id)).await?,
    ))
}

/// A result to a request (admin, donor-coordinator); a ct typing that disagrees with the
/// registry's is flagged and blocks the pair's workup.
#[utoipa::path(post, path = "/api/v1/requests/{id}/result", tag = "requests",
    params(("id" = String, Path, description = "the request's id")),
    request_body = ResultInput, security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 422, body = ErrorBody)))]
pub async fn result(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ResultInput>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        blocking(move || svc.request_result(&actor, &id, &input)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// donor-unavailable, medical, withdrew, unreachable, patient-died,
    /// patient-transplanted, other.
    reason: String,
    #[serde(default)]
    note: String,
}

/// Cancel a request with a reason (a reservation releases the donor).
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests",
    params(("id" = String, Path, description = "the request's id")),
    request_body = CancelInput, security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 422, body = ErrorBody)))]
pub async fn cancel(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<CancelInput>,
) -> Result<Json<RequestView>, ApiError> {
    let end = EndInput::Cancel {
        reason: input.reason,
    };
    Ok(Json(
        blocking(move || svc.end_request(&actor, &id, end)).await?,
    ))
}

/// Reject a request: no result, with a reason code.
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "requests",
    params(("id" = String, Path, description = "the request's id")),
    request_body = RejectInput, security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 422, body = ErrorBody)))]
pub async fn reject(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<RejectInput>,
) -> Result<Json<RequestView>, ApiError> {
    let end = EndInput::Reject {
        reason: input.reason,
        note: input.note,
    };
    Ok(Json(
        blocking(move || svc.end_request(&actor, &id, end)).await?,
    ))
}

/// Set or move a workup's planned dates (admin, donor-coordinator); every rule is
/// re-checked and steps a move invalidates are reopened.
#[utoipa::path(post, path = "/api/v1/requests/{id}/workup/plan", tag = "workup",
    params(("id" = String, Path, description = "the workup request's id")),
    request_body = PlanInput, security(("bearer" = [])),
    responses((status = 200, body = PlanAnswer), (status = 422, body = ErrorBody)))]
pub async fn workup_plan(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<PlanInput>,
) -> Result<Json<PlanAnswer>, ApiError> {
    Ok(Json(
        blocking(move || svc.workup_plan(&actor, &id, &input)).await?,
    ))
}

/// Record a workup step (admin, donor-coordinator); never a future date.
#[utoipa::path(post, path = "/api/v1/requests/{id}/workup/record", tag = "workup",
    params(("id" = String, Path, description = "the workup request's id")),
    request_body = RecordInput, security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 422, body = ErrorBody)))]
pub async fn workup_record(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<RecordInput>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        blocking(move || svc.workup_record(&actor, &id, &input)).await?,
    ))
}

/// The donor's appointments as an iCalendar file.
#[utoipa::path(get, path = "/api/v1/requests/{id}/workup/calendar", tag = "workup",
    params(("id" = String, Path, description = "the workup request's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "iCalendar", content_type = "text/calendar")))]
pub async fn workup_calendar(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let text = blocking(move || svc.workup_calendar(&actor, &id)).await?;
    Ok(([(CONTENT_TYPE, "text/calendar; charset=utf-8")], text))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only tasks due within this many days (overdue ones always).
    due: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskList {
    #[schema(value_type = Vec<Object>)]
    tasks: Vec<medulla_app::workflow::Task>,
}

/// Every open task with its deadline, donor, patient and request, overdue ones first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "workup", params(TaskQuery),
    security(("bearer" = [])), responses((status = 200, body = TaskList)))]
pub async fn tasks(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    QueryParams(q): QueryParams<TaskQuery>,
) -> Result<Json<TaskList>, ApiError> {
    let tasks = blocking(move || svc.tasks(&actor, q.due)).await?;
    Ok(Json(TaskList { tasks }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThresholdQuery {
    /// CD34+ x10^6 per kg an autologous product needs (default 2.0).
    threshold: Option<f64>,
}

fn threshold(q: &ThresholdQuery) -> f64 {
    q.threshold
        .unwrap_or(medulla_registry::products::DEFAULT_CD34_PER_KG)
}

fn json_of<T: Serialize>(v: &T) -> Json<serde_json::Value> {
    Json(serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
}

/// Search the registry for the patient's roadmap now (on the live index; the result kept
/// with the case as the saved search `patient-ID`): the roadmap with it.
#[utoipa::path(post, path = "/api/v1/patients/{id}/roadmap/refresh", tag = "patients",
    params(("id" = String, Path, description = "the patient's id"), ThresholdQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the roadmap, as GET returns it", body = Object), (status = 404, body = ErrorBody)))]
pub async fn refresh_roadmap(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ThresholdQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = threshold(&q);
    let r = blocking(move || svc.refresh_roadmap(&actor, &id, t)).await?;
    Ok(json_of(&r))
}

/// The patient's stem cell roadmap: own cells, family, unrelated national (as last
/// searched: viewing runs no search; `POST .../roadmap/refresh` searches), unrelated
/// international, the next action.
#[utoipa::path(get, path = "/api/v1/patients/{id}/roadmap", tag = "patients",
    params(("id" = String, Path, description = "the patient's id"), ThresholdQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "{patient, status, steps: [{step, summary, best, details}], next_action}", body = Object), (status = 404, body = ErrorBody)))]
pub async fn roadmap(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ThresholdQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = threshold(&q);
    let r = blocking(move || svc.roadmap(&actor, &id, t)).await?;
    Ok(json_of(&r))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelativeBody {
    member: String,
    /// father, mother, sibling, half-sibling, child, other.
    relation: String,
    /// The relative's typing as a GL String (empty or absent: not typed yet).
    #[serde(default)]
    gl: String,
}

/// The patient's family, assigned: haplotypes, identical siblings, haploidentical
/// relatives (the JSON of `medulla family assign`, one family).
#[utoipa::path(get, path = "/api/v1/patients/{id}/family", tag = "patients",
    params(("id" = String, Path, description = "the patient's id")),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn family(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = blocking(move || svc.family(&actor, &id)).await?;
    Ok(json_of(&a))
}

/// Add (or replace) a relative; answers the family assigned again.
#[utoipa::path(post, path = "/api/v1/patients/{id}/family", tag = "patients",
    params(("id" = String, Path, description = "the patient's id")),
    request_body = RelativeBody, security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_relative(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(b): JsonBody<RelativeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let input = medulla_app::roadmap::RelativeInput {
        patient: id,
        member: b.member,
        relation: b.relation,
        gl: b.gl,
    };
    let a = blocking(move || svc.add_relative(&actor, &input)).await?;
    Ok(json_of(&a))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    id: String,
    /// Collection dates of the mobilisation.
    #[schema(value_type = Vec<String>)]
    collected: Vec<chrono::NaiveDate>,
    agents: Option<String>,
    volume_ml: Option<f64>,
    tnc_1e8: Option<f64>,
    cd34_1e6: f64,
    viability: Option<f64>,
    bags: Option<u32>,
    tank: Option<String>,
    rack: Option<String>,
    position: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    expires: Option<chrono::NaiveDate>,
}

/// The patient's own stored cells with their verdict, one by one and together.
#[utoipa::path(get, path = "/api/v1/patients/{id}/products", tag = "patients",
    params(("id" = String, Path, description = "the patient's id"), ThresholdQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn products(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ThresholdQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = threshold(&q);
    let v = blocking(move || svc.products(&actor, &id, t)).await?;
    Ok(json_of(&v))
}

/// Store an autologous product of the patient.
#[utoipa::path(post, path = "/api/v1/patients/{id}/products", tag = "patients",
    params(("id" = String, Path, description = "the patient's id"), ThresholdQuery),
    request_body = ProductBody, security(("bearer" = [])),
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_product(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ThresholdQuery>,
    JsonBody(b): JsonBody<ProductBody>,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), ApiError> {
    let t = threshold(&q);
    let input = medulla_app::roadmap::ProductInput {
        id: b.id,
        patient: id,
        collected: b.collected,
        agents: b.agents,
        volume_ml: b.volume_ml,
        tnc_1e8: b.tnc_1e8,
        cd34_1e6: b.cd34_1e6,
        viability: b.viability,
        bags: b.bags,
        tank: b.tank,
        rack: b.rack,
        position: b.position,
        expires: b.expires,
    };
    let v = blocking(move || svc.add_product(&actor, &input, t)).await?;
    Ok((axum::http::StatusCode::CREATED, json_of(&v)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductStatusBody {
    /// stored, reserved, thawed, infused, discarded, expired.
    status: String,
    #[serde(default)]
    note: String,
}

/// Change a product's status (kept in its history).
#[utoipa::path(post, path = "/api/v1/products/{id}/status", tag = "patients",
    params(("id" = String, Path, description = "the product's id"), ThresholdQuery),
    request_body = ProductStatusBody, security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub async fn product_status(
    State(svc): State<Shared>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ThresholdQuery>,
    JsonBody(b): JsonBody<ProductStatusBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = threshold(&q);
    let v = blocking(move || svc.set_product_status(&actor, &id, &b.status, &b.note, t)).await?;
    Ok(json_of(&v))
}
