//! `/requests/{id}`: one request and, for a workup, the donor's journey as a timeline with
//! every deadline, overdue steps flagged, and the forms to record the next step or change
//! the plan; `/tasks`: every open task, overdue first.

use crate::extract::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use maud::{html, Markup};
use medulla_app::workflow::{
    EndInput, OpenInput, PlanInput, RecordInput, RequestView, ResultInput, WorkupView,
};
use medulla_app::Permission;
use medulla_workflow::Task;
use serde::Deserialize;

use super::{html_status, see_other};
use crate::layout::{self, opt};
use crate::session::{url_encode, Session};
use crate::{blocking, Shared, WebError};

/// The open tasks as a table; overdue rows flagged in words and colour.
pub fn task_table(tasks: &[Task]) -> Markup {
    html! {
        @if tasks.is_empty() { p.muted { "No open task." } }
        @else {
            table id="tasks" {
                thead { tr { th { "Due" } th { "Task" } th { "Request" } th { "Patient" } th { "Donor" } th { "" } } }
                tbody {
                    @for t in tasks {
                        tr class=[t.overdue.then_some("overdue")] {
                            td { (t.due) }
                            td { (t.task) }
                            td { a href={ "/requests/" (url_encode(&t.request)) } { (t.request) } }
                            td { a href={ "/patients/" (url_encode(&t.patient)) } { (t.patient) } }
                            td { a href={ "/donors/" (url_encode(&t.donor)) } { (t.donor) } }
                            td { @if t.overdue { span.flag { "OVERDUE" } } }
                        }
                    }
                }
            }
        }
    }
}

pub async fn tasks(State(svc): State<Shared>, s: Session) -> Result<Response, WebError> {
    let actor = s.actor.clone();
    let tasks = blocking(move || svc.tasks(&actor, None)).await?;
    let overdue = tasks.iter().filter(|t| t.overdue).count();
    let body = html! {
        h1 { "Tasks" }
        p { (tasks.len()) " open, " strong { (overdue) " overdue" } "." }
        (task_table(&tasks))
    };
    Ok(html_status(
        StatusCode::OK,
        layout::page(&s, "/tasks", "Tasks", body),
    ))
}

fn timeline(w: &WorkupView) -> Markup {
    html! {
        h2 { "Workup journey" }
        table id="workup-plan" {
            tbody {
                tr { th scope="row" { "Collection" } td id="plan-collection" { (opt(&w.collection)) } }
                tr { th scope="row" { "Medical exam" } td { (opt(&w.planned_exam)) } }
                tr { th scope="row" { "Infectious disease markers" } td { (opt(&w.planned_idm)) } }
                tr { th scope="row" { "Patient conditioning" } td { (opt(&w.conditioning)) } }
                @if let Some(r) = &w.review { tr.overdue { th scope="row" { "Review" } td { (r) } } }
                @if let Some(a) = &w.available_from { tr { th scope="row" { "Donor available again" } td { (a) } } }
            }
        }
        ol.timeline id="journey" {
            @for st in &w.steps {
                @let class = if st.overdue { "overdue" } else { st.state.as_str() };
                li class=(class) data-step=(st.step) {
                    strong { (st.step) } " — " (st.state)
                    @if let Some(d) = &st.date { ", on " (d) }
                    @if let Some(d) = &st.due { ", due " span.due { (d) } }
                    @if st.overdue { " " span.flag { "OVERDUE" } }
                    @if let Some(b) = &st.by { span.muted { " (" (b) ")" } }
                    @if let Some(n) = &st.note { @if !n.is_empty() { br; span.muted { (n) } } }
                }
            }
        }
    }
}

fn record_form(s: &Session, r: &RequestView, w: &WorkupView) -> Markup {
    let ready: Vec<&str> = w
        .steps
        .iter()
        .filter(|st| st.state == "open" || st.state == "reopened")
        .map(|st| st.step.as_str())
        .collect();
    let today = chrono::Local::now().date_naive().to_string();
    html! {
        h2 { "Record the next step" }
        @if ready.is_empty() { p.muted { "No step is ready to record." } }
        @else {
            form.grid method="post" action={ "/requests/" (url_encode(&r.id)) "/record" } aria-label="record a workup step" {
                input type="hidden" name="csrf" value=(s.csrf());
                div {
                    label for="step" { "Step" }
                    select id="step" name="step" { @for st in &ready { option value=(st) { (st) } } }
                }
                div { label for="date" { "Date" } input type="date" id="date" name="date" value=(today) required; }
                div {
                    label for="outcome" { "Outcome" }
                    select id="outcome" name="outcome" { option value="ok" { "ok" } option value="failed" { "failed" } }
                }
                div { label for="typing" { "Verification typing (typing step)" } input type="text" id="typing" name="typing"; }
                div.wide { label for="note" { "Note" } input type="text" id="note" name="note"; }
                div { button type="submit" id="record-step" { "Record step" } }
            }
        }
        h2 { "Change the plan" }
        form.grid method="post" action={ "/requests/" (url_encode(&r.id)) "/plan" } aria-label="change the workup plan" {
            input type="hidden" name="csrf" value=(s.csrf());
            div { label for="collection" { "Collection" } input type="date" id="collection" name="collection" value=[w.collection.as_deref()]; }
            div { label for="exam" { "Medical exam" } input type="date" id="exam" name="exam" value=[w.planned_exam.as_deref()]; }
            div { label for="idm" { "IDM sample" } input type="date" id="idm" name="idm" value=[w.planned_idm.as_deref()]; }
            div { label for="conditioning" { "Conditioning" } input type="date" id="conditioning" name="conditioning" value=[w.conditioning.as_deref()]; }
            div { button type="submit" id="save-plan" { "Save plan" } }
        }
    }
}

/// The states a request can still be answered or ended in.
fn is_open(state: &str) -> bool {
    matches!(state, "open" | "acknowledged" | "partially-resulted")
}

/// The answers the donor's side gives (acknowledge, a result) and the ends a request
/// can be given (rejected with a reason code, cancelled), as the role and state allow.
fn actions(s: &Session, r: &RequestView) -> Markup {
    let open = is_open(&r.state);
    let answer = open && r.kind != "workup" && s.may(Permission::Workup);
    let cancel = open && s.may(Permission::ManagePatients);
    let action = format!("/requests/{}/action", url_encode(&r.id));
    html! {
        @if answer {
            h2 { "Answer the request" }
            @if r.state == "open" {
                form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(s.csrf());
                    input type="hidden" name="action" value="acknowledge";
                    button type="submit" id="acknowledge" { "Acknowledge" }
                }
            }
            form.grid method="post" action=(action) aria-label="enter a result" {
                input type="hidden" name="csrf" value=(s.csrf());
                input type="hidden" name="action" value="result";
                @if r.kind == "ct" {
                    div.wide { label for="result-typing" { "Typing (GL String)" } input type="text" id="result-typing" name="typing"; }
                }
                div.wide { label for="result-note" { "Note" } input type="text" id="result-note" name="note"; }
                div { label for="partial" { input type="checkbox" id="partial" name="partial" value="on"; " more results follow" } }
                div { button type="submit" id="enter-result" { "Enter result" } }
            }
        }
        @if cancel {
            h2 { "Reject the request" }
            form.grid method="post" action=(action) aria-label="reject the request" {
                input type="hidden" name="csrf" value=(s.csrf());
                input type="hidden" name="action" value="reject";
                div {
                    label for="reject-reason" { "Reason code" }
                    select id="reject-reason" name="reason" {
                        @for code in ["donor-unavailable", "medical", "withdrew", "unreachable", "patient-died", "patient-transplanted", "other"] {
                            option value=(code) { (code) }
                        }
                    }
                }
                div.wide { label for="reject-note" { "Note" } input type="text" id="reject-note" name="note"; }
                div { button type="submit" id="reject-request" { "Reject request" } }
            }
            h2 { "Cancel the request" }
            form.grid method="post" action=(action) aria-label="cancel the request" {
                input type="hidden" name="csrf" value=(s.csrf());
                input type="hidden" name="action" value="cancel";
                div.wide { label for="cancel-reason" { "Reason" } input type="text" id="cancel-reason" name="reason" required; }
                div { button type="submit" id="cancel-request" { "Cancel request" } }
            }
        }
    }
}

fn request_page(
    s: &Session,
    r: &RequestView,
    error: Option<&WebError>,
    notes: &[String],
) -> Markup {
    html! {
        h1 { "Request " (r.id) }
        @if let Some(e) = error {
            div.error role="alert" id="request-error" { h2 { (e.title) } p { (e.message) } }
        }
        @for n in notes { div.notice role="status" { p { (n) } } }
        table id="request" {
            tbody {
                tr { th scope="row" { "Type" } td { (r.kind) } }
                tr { th scope="row" { "State" } td id="request-state" { strong { (r.state) } } }
                // a partner's patient, or a partner's donor: the record is the partner's
                @match &r.origin {
                    Some(o) => tr { th scope="row" { "Patient" } td { (r.patient) " (patient of partner registry " (o) ")" } },
                    None => tr { th scope="row" { "Patient" } td { a href={ "/patients/" (url_encode(&r.patient)) } { (r.patient) } } },
                }
                @match (&r.origin, &r.partner) {
                    (None, Some(p)) => tr { th scope="row" { "Donor" } td { (r.donor) " (donor of partner registry " (p) ")" } },
                    _ => tr { th scope="row" { "Donor" } td { a href={ "/donors/" (url_encode(&r.donor)) } { (r.donor) } } },
                }
                @if let Some(reference) = &r.reference { tr { th scope="row" { "Reference" } td { (reference) } } }
                @if let Some(l) = &r.loci { tr { th scope="row" { "Loci" } td { (l.join(", ")) } } }
                @if let Some(e) = &r.expires { tr { th scope="row" { "Expires" } td { (e) } } }
                tr { th scope="row" { "Opened" } td { (r.opened.replace('T', " ")) " by " (r.opened_by) } }
                @if !r.note.is_empty() { tr { th scope="row" { "Note" } td { (r.note) } } }
            }
        }
        @for f in &r.flags { p.flag { (f) } }
        (actions(s, r))
        @if let Some(w) = &r.workup {
            (timeline(w))
            @if s.may(Permission::Workup) { (record_form(s, r, w)) }
            @else { p.muted { "Your role (" (s.actor.role.name()) ") may not record workup steps." } }
        }
        h2 { "History" }
        table id="request-events" {
            thead { tr { th { "When" } th { "By" } th { "Event" } th { "Detail" } } }
            tbody { @for e in &r.events { tr { td { (e.at.replace('T', " ")) } td { (e.by) } td { (e.event) } td { (e.detail) } } } }
        }
    }
}

async fn render(
    svc: Shared,
    s: &Session,
    id: String,
    error: Option<WebError>,
    notes: Vec<String>,
) -> Result<Response, WebError> {
    let actor = s.actor.clone();
    let r = blocking(move || svc.request(&actor, &id)).await?;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let title = format!("Request {}", r.id);
    Ok(html_status(
        status,
        layout::page(
            s,
            "/tasks",
            &title,
            request_page(s, &r, error.as_ref(), &notes),
        ),
    ))
}

pub async fn show(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    render(svc, &s, id, None, Vec::new()).await
}

#[derive(Deserialize)]
pub struct RecordForm {
    csrf: String,
    step: String,
    date: String,
    outcome: Option<String>,
    typing: Option<String>,
    #[serde(default)]
    note: String,
}

fn date(field: &str, v: &str) -> Result<NaiveDate, WebError> {
    v.trim().parse().map_err(|_| {
        medulla_app::AppError::Invalid {
            field: field.into(),
            reason: format!("{v:?} is not a date (YYYY-MM-DD)"),
        }
        .into()
    })
}

fn optional_date(field: &str, v: &Option<String>) -> Result<Option<NaiveDate>, WebError> {
    v.as_deref()
        .filter(|x| !x.trim().is_empty())
        .map(|x| date(field, x))
        .transpose()
}

/// Record a step; a refusal is shown on the request's page with the reason.
pub async fn record(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<RecordForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let input = match date("date", &f.date) {
        Ok(d) => RecordInput {
            step: f.step,
            date: d,
            outcome: f.outcome.filter(|x| !x.is_empty()),
            typing: f.typing.filter(|x| !x.trim().is_empty()),
            note: f.note,
        },
        Err(e) => return render(svc, &s, id, Some(e), Vec::new()).await,
    };
    let actor = s.actor.clone();
    let (svc2, id2) = (svc.clone(), id.clone());
    let done = blocking(move || svc2.workup_record(&actor, &id2, &input)).await;
    back_to_request(svc, &s, id, done).await
}

/// A refusal the user can act on (a rule, a bad field), shown on the request's page;
/// anything else (no such request, an internal error) is an error page.
fn refusal(e: &WebError) -> bool {
    e.status.is_client_error() && e.status != StatusCode::NOT_FOUND
}

/// After a change to a request: back to its page, or its page with the refusal.
async fn back_to_request<T>(
    svc: Shared,
    s: &Session,
    id: String,
    done: Result<T, WebError>,
) -> Result<Response, WebError> {
    match done {
        Ok(_) => Ok(see_other(&format!("/requests/{}", url_encode(&id)))),
        Err(e) if refusal(&e) => render(svc, s, id, Some(e), Vec::new()).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct PlanForm {
    csrf: String,
    collection: Option<String>,
    exam: Option<String>,
    idm: Option<String>,
    conditioning: Option<String>,
}

/// Change the plan's dates; steps reopened and dates dropped are reported.
pub async fn plan(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<PlanForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let input = (|| {
        Ok::<_, WebError>(PlanInput {
            collection: optional_date("collection", &f.collection)?,
            exam: optional_date("exam", &f.exam)?,
            idm: optional_date("idm", &f.idm)?,
            conditioning: optional_date("conditioning", &f.conditioning)?,
        })
    })();
    let input = match input {
        Ok(i) => i,
        Err(e) => return render(svc, &s, id, Some(e), Vec::new()).await,
    };
    let actor = s.actor.clone();
    let (svc2, id2) = (svc.clone(), id.clone());
    match blocking(move || svc2.workup_plan(&actor, &id2, &input)).await {
        Ok(answer) => {
            let mut notes: Vec<String> = vec!["The plan is saved.".into()];
            notes.extend(answer.reopened.iter().map(|x| format!("Reopened: {x}")));
            notes.extend(answer.dropped.iter().map(|x| format!("Dropped: {x}")));
            render(svc, &s, id, None, notes).await
        }
        Err(e) if refusal(&e) => render(svc, &s, id, Some(e), Vec::new()).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    action: String,
    typing: Option<String>,
    partial: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    note: String,
}

/// Acknowledge, enter a result, reject or cancel; a refusal is shown on the request's
/// page.
pub async fn action(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let actor = s.actor.clone();
    let (svc2, id2) = (svc.clone(), id.clone());
    let done = blocking(move || match f.action.as_str() {
        "acknowledge" => svc2.acknowledge_request(&actor, &id2),
        "result" => svc2.request_result(
            &actor,
            &id2,
            &ResultInput {
                partial: f.partial.is_some(),
                typing: f.typing.filter(|t| !t.trim().is_empty()),
                note: f.note,
            },
        ),
        "reject" => svc2.end_request(
            &actor,
            &id2,
            EndInput::Reject {
                reason: f.reason.unwrap_or_default(),
                note: f.note,
            },
        ),
        "cancel" => svc2.end_request(
            &actor,
            &id2,
            EndInput::Cancel {
                reason: f.reason.unwrap_or_default(),
            },
        ),
        other => Err(medulla_app::AppError::Invalid {
            field: "action".into(),
            reason: format!("{other:?} is not acknowledge, result, reject or cancel"),
        }),
    })
    .await;
    back_to_request(svc, &s, id, done).await
}

#[derive(Deserialize)]
pub struct OpenForm {
    csrf: String,
    patient: String,
    donor: String,
    #[serde(rename = "type")]
    kind: String,
    loci: Option<String>,
    expires: Option<String>,
    #[serde(default)]
    note: String,
}

/// The form that opens a request for a patient (on the patient's page).
pub fn open_form(s: &Session, patient: &str) -> Markup {
    html! {
        h2 { "Open a request" }
        form.grid method="post" action="/requests" aria-label="open a request" {
            input type="hidden" name="csrf" value=(s.csrf());
            input type="hidden" name="patient" value=(patient);
            div { label for="open-donor" { "Donor (id in this registry)" } input type="text" id="open-donor" name="donor" required; }
            div {
                label for="open-type" { "Type" }
                select id="open-type" name="type" {
                    @for (v, t) in [("ct", "confirmatory typing (ct)"), ("idm", "infectious disease markers (idm)"), ("sample", "sample"), ("reservation", "reservation"), ("workup", "workup")] {
                        option value=(v) { (t) }
                    }
                }
            }
            div { label for="open-loci" { "Loci (ct)" } input type="text" id="open-loci" name="loci" placeholder="A,B,C,DRB1,DQB1"; }
            div { label for="open-expires" { "Expires (reservation)" } input type="date" id="open-expires" name="expires"; }
            div.wide { label for="open-note" { "Note" } input type="text" id="open-note" name="note"; }
            div { button type="submit" id="open-request" { "Open request" } }
        }
    }
}

/// Open a request; the rules (one open request of a type per pair, disjoint typing
/// loci) refuse with their name.
pub async fn open(
    State(svc): State<Shared>,
    s: Session,
    Form(f): Form<OpenForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let input = OpenInput {
        patient: f.patient,
        donor: f.donor.trim().to_string(),
        kind: f.kind,
        loci: f.loci.filter(|l| !l.trim().is_empty()),
        expires: optional_date("expires", &f.expires)?,
        note: f.note,
    };
    let actor = s.actor.clone();
    let r = blocking(move || svc.open_request(&actor, &input)).await?;
    Ok(see_other(&format!("/requests/{}", url_encode(&r.id))))
}
