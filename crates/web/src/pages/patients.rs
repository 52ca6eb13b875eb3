//! `/patients` and `/patients/{id}`: the patient list, and one patient's roadmap (own
//! cells, family with the haplotype assignment, national search, then worldwide), the
//! case and its requests.

use crate::extract::{Form, Query};
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use medulla_app::patients::{CaseStatusInput, PatientInput, PatientView};
use medulla_app::roadmap::Roadmap;
use medulla_app::Permission;
use medulla_registry::requests::RequestFilter;
use serde::Deserialize;

use super::{filled, html, html_status, invalid, number, see_other};
use crate::layout::{self, opt};
use crate::session::{url_encode, Session};
use crate::{blocking, Shared, WebError};

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

pub async fn list(
    State(svc): State<Shared>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let status = q.status.clone().filter(|x| !x.trim().is_empty());
    let patients = load(&svc, &s, status.clone()).await?;
    Ok(html(list_page(
        &s,
        &patients,
        status.as_deref(),
        &RegisterForm::default(),
        None,
    )))
}

async fn load(
    svc: &Shared,
    s: &Session,
    status: Option<String>,
) -> Result<Vec<PatientView>, WebError> {
    let (svc, actor) = (svc.clone(), s.actor.clone());
    blocking(move || svc.patients(&actor, status.as_deref())).await
}

fn list_page(
    s: &Session,
    patients: &[PatientView],
    status: Option<&str>,
    form: &RegisterForm,
    error: Option<&WebError>,
) -> Markup {
    let body = html! {
        h1 { "Patients" }
        form.grid method="get" action="/patients" {
            div {
                label for="status" { "Case status" }
                select id="status" name="status" {
                    @for (v, t) in [("", "all"), ("preliminary", "preliminary"), ("active", "active"), ("suspended", "suspended"), ("stopped", "stopped"), ("transplanted", "transplanted")] {
                        option value=(v) selected[status.unwrap_or("") == v] { (t) }
                    }
                }
            }
            div { button type="submit" { "Show" } }
        }
        @if patients.is_empty() { p.muted { "No patient." } }
        @else {
            table id="patients" {
                thead { tr { th { "Patient" } th { "Status" } th { "Diagnosis" } th { "Stage" } th { "Urgency" } th { "Population" } th { "Centre" } th { "Registered" } } }
                tbody {
                    @for p in patients {
                        tr {
                            td { a href={ "/patients/" (url_encode(&p.id)) } { (p.id) } }
                            td { (p.status) }
                            td { (opt(&p.diagnosis)) }
                            td { (opt(&p.stage)) }
                            td { (opt(&p.urgency)) }
                            td { (opt(&p.population)) }
                            td { (opt(&p.centre)) }
                            td { (p.registered_at.get(..10).unwrap_or(&p.registered_at)) }
                        }
                    }
                }
            }
        }
        @if s.may(Permission::ManagePatients) { (register_form(s, form, error)) }
    };
    layout::page(s, "/patients", "Patients", body)
}

/// The registration form's fields as text (kept when the form comes back with an error).
#[derive(Debug, Default, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    id: Option<String>,
    typing: Option<String>,
    birth_date: Option<String>,
    sex: Option<String>,
    weight: Option<String>,
    abo: Option<String>,
    rh: Option<String>,
    cmv: Option<String>,
    population: Option<String>,
    diagnosis: Option<String>,
    stage: Option<String>,
    urgency: Option<String>,
    centre: Option<String>,
    name: Option<String>,
}

fn date(field: &str, v: &Option<String>) -> Result<Option<chrono::NaiveDate>, WebError> {
    filled(v)
        .map(|d| {
            d.parse()
                .map_err(|_| invalid(field, format!("{d:?} is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

impl RegisterForm {
    fn input(&self) -> Result<PatientInput, WebError> {
        let text = |v: &Option<String>| filled(v).map(str::to_string);
        Ok(PatientInput {
            id: text(&self.id).ok_or_else(|| invalid("id", "give the patient an id"))?,
            typing: text(&self.typing)
                .ok_or_else(|| invalid("typing", "enter the patient's typing as a GL String"))?,
            birth_date: date("birth_date", &self.birth_date)?,
            sex: text(&self.sex),
            weight: number("weight", &self.weight)?,
            abo: text(&self.abo),
            rh: text(&self.rh),
            cmv: text(&self.cmv),
            population: text(&self.population),
            diagnosis: text(&self.diagnosis),
            stage: text(&self.stage),
            urgency: text(&self.urgency),
            centre: text(&self.centre),
            name: text(&self.name),
            ..PatientInput::default()
        })
    }
}

fn register_form(s: &Session, f: &RegisterForm, error: Option<&WebError>) -> Markup {
    let v = |x: &Option<String>| filled(x).unwrap_or("").to_string();
    let choice = |id: &str, label: &str, value: &Option<String>, options: &[(&str, &str)]| {
        html! {
            div {
                label for=(id) { (label) }
                select id=(id) name=(id.trim_start_matches("new-")) {
                    @for (o, t) in options { option value=(o) selected[filled(value) == Some(*o)] { (t) } }
                }
            }
        }
    };
    html! {
        h2 id="register" { "Register a patient" }
        @if let Some(e) = error {
            div.error role="alert" id="register-error" { h2 { (e.title) } p { (e.message) } }
        }
        form.grid method="post" action="/patients" aria-label="register a patient" {
            input type="hidden" name="csrf" value=(s.csrf());
            div { label for="new-id" { "Patient id" } input type="text" id="new-id" name="id" value=(v(&f.id)) required; }
            div.wide { label for="new-typing" { "Typing (GL String)" } input type="text" id="new-typing" name="typing" value=(v(&f.typing)) required; }
            div { label for="new-birth_date" { "Birth date" } input type="date" id="new-birth_date" name="birth_date" value=(v(&f.birth_date)); }
            (choice("new-sex", "Sex", &f.sex, &[("", "–"), ("M", "male"), ("F", "female")]))
            div { label for="new-weight" { "Weight, kg" } input type="text" id="new-weight" name="weight" value=(v(&f.weight)); }
            (choice("new-abo", "ABO", &f.abo, &[("", "–"), ("O", "O"), ("A", "A"), ("B", "B"), ("AB", "AB")]))
            (choice("new-rh", "Rh", &f.rh, &[("", "–"), ("pos", "positive"), ("neg", "negative")]))
            (choice("new-cmv", "CMV", &f.cmv, &[("", "–"), ("pos", "positive"), ("neg", "negative")]))
            div { label for="new-population" { "Population" } input type="text" id="new-population" name="population" value=(v(&f.population)) placeholder="EUR, AFA, API, HIS"; }
            div { label for="new-diagnosis" { "Diagnosis" } input type="text" id="new-diagnosis" name="diagnosis" value=(v(&f.diagnosis)); }
            div { label for="new-stage" { "Stage" } input type="text" id="new-stage" name="stage" value=(v(&f.stage)); }
            (choice("new-urgency", "Urgency", &f.urgency, &[("", "–"), ("under-4w", "under 4 weeks"), ("4-6w", "4-6 weeks"), ("7-12w", "7-12 weeks"), ("12w-6m", "12 weeks to 6 months"), ("over-6m", "over 6 months")]))
            div { label for="new-centre" { "Centre" } input type="text" id="new-centre" name="centre" value=(v(&f.centre)); }
            div { label for="new-name" { "Name (identity, kept apart)" } input type="text" id="new-name" name="name" value=(v(&f.name)); }
            div { button type="submit" id="register-patient" { "Register" } }
        }
    }
}

/// Register a patient (a preliminary case); the form comes back with the reason when a
/// field cannot be used.
pub async fn register(
    State(svc): State<Shared>,
    s: Session,
    Form(f): Form<RegisterForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let added = match f.input() {
        Ok(input) => {
            let (svc, actor) = (svc.clone(), s.actor.clone());
            blocking(move || svc.add_patient(&actor, &input)).await
        }
        Err(e) => Err(e),
    };
    match added {
        Ok(p) => Ok(see_other(&format!("/patients/{}", url_encode(&p.id)))),
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::FORBIDDEN => {
            let patients = load(&svc, &s, None).await?;
            Ok(html_status(
                e.status,
                list_page(&s, &patients, None, &f, Some(&e)),
            ))
        }
        Err(e) => Err(e),
    }
}

fn roadmap_part(s: &Session, r: &Roadmap) -> Markup {
    html! {
        h2 { "Roadmap" }
        // viewing the page runs no search: the national step is the last one, searched
        // again when asked
        form method="post" action={ "/patients/" (url_encode(&r.patient)) "/roadmap" } aria-label="search the registry for this patient" {
            input type="hidden" name="csrf" value=(s.csrf());
            button type="submit" id="roadmap-search" { "Search the registry now" }
        }
        p id="next-action" { strong { "Next: " } (r.next_action) }
        ol.timeline id="roadmap" {
            @for step in &r.steps {
                li class=(if step.best.is_some() { "done" } else { "open" }) {
                    strong { (step.step) } ": " (step.summary)
                    @if let Some(b) = &step.best { br; "Best: " (b) }
                }
            }
        }
    }
}

pub async fn show(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let actor = s.actor.clone();
    let may_roadmap = s.may(Permission::Search);
    let (p, roadmap, family, requests) = blocking(move || {
        let p = svc.patient(&actor, &id)?;
        // the roadmap as it stands: no search runs for a page view
        let roadmap = if may_roadmap {
            Some(svc.roadmap(&actor, &id, medulla_registry::products::DEFAULT_CD34_PER_KG)?)
        } else {
            None
        };
        // the patient alone is a family too (an assignment of one): errors are real
        let family = Some(svc.family(&actor, &id)?);
        let requests = svc.requests(
            &actor,
            &RequestFilter {
                patient: Some(id.clone()),
                donor: None,
                open_only: false,
            },
        )?;
        Ok((p, roadmap, family, requests))
    })
    .await?;
    let title = format!("Patient {}", p.id);
    let body = html! {
        h1 { (title) }
        table id="patient-record" {
            tbody {
                tr { th scope="row" { "Case" } td id="case-status" { strong { (p.status) } } }
                tr { th scope="row" { "Typing" } td { code { (p.typing) } } }
                tr { th scope="row" { "Diagnosis / stage" } td { (opt(&p.diagnosis)) " " (opt(&p.stage)) } }
                tr { th scope="row" { "Urgency" } td { (opt(&p.urgency)) } }
                tr { th scope="row" { "Birth date, sex" } td { (opt(&p.birth_date)) ", " (opt(&p.sex)) } }
                tr { th scope="row" { "Weight" } td { (opt(&p.weight)) " kg" } }
                tr { th scope="row" { "ABO / Rh, CMV" } td { (opt(&p.abo)) " " (opt(&p.rh)) ", CMV " (opt(&p.cmv)) } }
                tr { th scope="row" { "Population" } td { (opt(&p.population)) } }
                tr { th scope="row" { "Centre" } td { (opt(&p.centre)) } }
            }
        }
        @match &roadmap {
            Some(r) => (roadmap_part(&s, r)),
            None => p.muted { "The roadmap runs a registry search, which your role (" (s.actor.role.name()) ") may not." },
        }
        h2 { "Family" }
        @match &family {
            Some(f) => {
                p { "Assignment: " strong { (serde_json::to_value(f.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) }
                    @if let Some(pr) = f.probability { " (probability " (format!("{pr:.3}")) ")" } }
                @if !f.identical_siblings.is_empty() { p { "HLA-identical siblings: " strong { (f.identical_siblings.join(", ")) } } }
                @if !f.haploidentical.is_empty() { p { "Haploidentical: " (f.haploidentical.join(", ")) } }
                table id="family" {
                    thead { tr { th { "Member" } th { "Relation" } th { "Haplotypes" } th { "Inherited" } } }
                    tbody {
                        @for m in &f.members {
                            tr {
                                td { (m.member) }
                                td { (m.relation.code()) }
                                td { @for h in &m.haplotypes { code { (h) } br; } }
                                td { (m.labels.join(" + ")) }
                            }
                        }
                    }
                }
                @for n in &f.notes { p.muted { (n) } }
            }
            None => p.muted { "No family typed yet." },
        }
        h2 { "Requests" }
        @if requests.is_empty() { p.muted { "No request." } }
        @else {
            table id="patient-requests" {
                thead { tr { th { "Request" } th { "Type" } th { "Donor" } th { "State" } th { "Opened" } } }
                tbody {
                    @for r in &requests {
                        tr {
                            td { a href={ "/requests/" (url_encode(&r.id)) } { (r.id) } }
                            td { (r.kind) }
                            td { a href={ "/donors/" (url_encode(&r.donor)) } { (r.donor) } }
                            td { (r.state) }
                            td { (r.opened.get(..10).unwrap_or(&r.opened)) }
                        }
                    }
                }
            }
        }
        @if s.may(Permission::ManagePatients) {
            (case_form(&s, &p))
            (crate::pages::requests::open_form(&s, &p.id))
        }
        h2 { "Case history" }
        table {
            thead { tr { th { "When" } th { "Status" } th { "By" } th { "Note" } } }
            tbody { @for h in &p.history { tr { td { (h.at.replace('T', " ")) } td { (h.status) } td { (h.by) } td { (h.note) } } } }
        }
    };
    Ok(html(layout::page(&s, "/patients", &title, body)))
}

fn case_form(s: &Session, p: &PatientView) -> Markup {
    html! {
        h2 { "Move the case" }
        form.grid method="post" action={ "/patients/" (url_encode(&p.id)) "/status" } aria-label="move the case" {
            input type="hidden" name="csrf" value=(s.csrf());
            div {
                label for="case-new-status" { "New status" }
                select id="case-new-status" name="status" {
                    @for v in ["preliminary", "active", "suspended", "stopped", "transplanted"] {
                        option value=(v) selected[p.status == v] { (v) }
                    }
                }
            }
            div { label for="case-reason" { "Reason (required to stop)" } input type="text" id="case-reason" name="reason"; }
            div.wide { label for="case-note" { "Note" } input type="text" id="case-note" name="note"; }
            div { button type="submit" id="move-case" { "Move case" } }
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Search the registry for the patient's roadmap now (the button on the patient's page).
pub async fn refresh_roadmap(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let (actor, i) = (s.actor.clone(), id.clone());
    blocking(move || {
        svc.refresh_roadmap(&actor, &i, medulla_registry::products::DEFAULT_CD34_PER_KG)
    })
    .await?;
    Ok(see_other(&format!("/patients/{}#roadmap", url_encode(&id))))
}

#[derive(Deserialize)]
pub struct CaseForm {
    csrf: String,
    status: String,
    reason: Option<String>,
    #[serde(default)]
    note: String,
}

/// Move a patient's case; a move the lifecycle refuses is an error page with the rule.
pub async fn set_status(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<CaseForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let input = CaseStatusInput {
        status: f.status,
        reason: f.reason.filter(|r| !r.trim().is_empty()),
        note: f.note,
    };
    let (actor, i) = (s.actor.clone(), id.clone());
    blocking(move || svc.set_case_status(&actor, &i, &input)).await?;
    Ok(see_other(&format!("/patients/{}", url_encode(&id))))
}
