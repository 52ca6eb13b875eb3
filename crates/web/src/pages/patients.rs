//! `/patients` and `/patients/{id}`: the patient list, and one patient's roadmap (own
//! cells, family with the haplotype assignment, national search, then worldwide), the
//! case and its requests.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{html, Markup};
use medulla_app::roadmap::Roadmap;
use medulla_app::Permission;
use medulla_registry::requests::RequestFilter;
use serde::Deserialize;

use super::html;
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
    let actor = s.actor.clone();
    let status = q.status.clone().filter(|x| !x.trim().is_empty());
    let st = status.clone();
    let patients = blocking(move || svc.patients(&actor, st.as_deref())).await?;
    let body = html! {
        h1 { "Patients" }
        form.grid method="get" action="/patients" {
            div {
                label for="status" { "Case status" }
                select id="status" name="status" {
                    @for (v, t) in [("", "all"), ("preliminary", "preliminary"), ("active", "active"), ("suspended", "suspended"), ("stopped", "stopped"), ("transplanted", "transplanted")] {
                        option value=(v) selected[status.as_deref().unwrap_or("") == v] { (t) }
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
                    @for p in &patients {
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
    };
    Ok(html(layout::page(&s, "/patients", "Patients", body)))
}

fn roadmap_part(r: &Roadmap) -> Markup {
    html! {
        h2 { "Roadmap" }
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
        // the roadmap runs the national search (audited as such)
        let roadmap = if may_roadmap {
            Some(svc.roadmap(&actor, &id, medulla_registry::products::DEFAULT_CD34_PER_KG)?)
        } else {
            None
        };
        let family = svc.family(&actor, &id).ok();
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
            Some(r) => (roadmap_part(r)),
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
        @if s.may(Permission::ManagePatients) { (crate::pages::requests::open_form(&s, &p.id)) }
        h2 { "Case history" }
        table {
            thead { tr { th { "When" } th { "Status" } th { "By" } th { "Note" } } }
            tbody { @for h in &p.history { tr { td { (h.at.replace('T', " ")) } td { (h.status) } td { (h.by) } td { (h.note) } } } }
        }
    };
    Ok(html(layout::page(&s, "/patients", &title, body)))
}
