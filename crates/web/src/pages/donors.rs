//! `/donors/{id}`: a donor's record, status and history; identity only for the roles
//! that may read it, behind a button whose every use is in the audit trail.

use crate::extract::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup};
use medulla_app::service::{DonorView, StatusRequest};
use medulla_app::Permission;
use medulla_registry::Identity;
use serde::Deserialize;

use super::{html, CsrfForm};
use crate::layout::{self, opt};
use crate::session::{url_encode, Session};
use crate::{blocking, Shared, WebError};

fn record(d: &DonorView) -> Markup {
    html! {
        table id="donor-record" {
            tbody {
                tr { th scope="row" { "Donor" } td { (d.id) } }
                tr { th scope="row" { "GRID" } td { (opt(&d.grid)) } }
                tr { th scope="row" { "Registry" } td { (d.registry) } }
                tr { th scope="row" { "Type" } td { (d.donor_type) } }
                tr { th scope="row" { "Status" } td id="donor-status" { strong { (d.status) } } }
                tr { th scope="row" { "Sex" } td { (opt(&d.sex)) } }
                tr { th scope="row" { "Birth date" } td { (opt(&d.birth_date)) } }
                tr { th scope="row" { "ABO / Rh" } td { (opt(&d.abo)) " " (opt(&d.rh)) } }
                tr { th scope="row" { "CMV" } td { (opt(&d.cmv)) } }
                tr { th scope="row" { "Population" } td { (opt(&d.population)) } }
            }
        }
        h2 { "Typing" }
        table id="donor-typing" {
            thead { tr { th { "Locus" } th { "First" } th { "Second" } } }
            tbody {
                @for (l, p) in &d.typing {
                    tr {
                        th scope="row" { (l) }
                        @for i in 0..2 { td { (p.get(i).cloned().flatten().unwrap_or_else(|| "–".into())) } }
                    }
                }
            }
        }
        h2 { "Status history" }
        @if d.history.is_empty() { p.muted { "No change since it was imported." } }
        @else {
            table id="donor-history" {
                thead { tr { th { "When" } th { "By" } th { "Status" } th { "Note" } } }
                tbody {
                    @for h in &d.history {
                        tr { td { (h.changed_at.replace('T', " ")) } td { (h.changed_by) } td { (h.status) } td { (h.note) } }
                    }
                }
            }
        }
    }
}

fn identity_part(s: &Session, d: &DonorView, shown: Option<&Identity>) -> Markup {
    html! {
        h2 { "Identity" }
        @if let Some(i) = shown {
            div.notice role="status" { p { "This read is recorded in the audit trail under your name." } }
            table id="donor-identity" {
                tbody {
                    tr { th scope="row" { "Name" } td { (opt(&i.name)) } }
                    tr { th scope="row" { "Address" } td { (opt(&i.address)) } }
                    tr { th scope="row" { "Phone" } td { (opt(&i.phone)) } }
                    tr { th scope="row" { "E-mail" } td { (opt(&i.email)) } }
                }
            }
        } @else if s.may(Permission::ReadIdentity) {
            form method="post" action={ "/donors/" (url_encode(&d.id)) "/identity" } {
                input type="hidden" name="csrf" value=(s.csrf());
                p.muted { "Name and contact details are kept apart from the record; reading them is recorded in the audit trail." }
                button type="submit" id="show-identity" { "Show identity (recorded)" }
            }
        } @else {
            p id="identity-refused" { "Your role (" (s.actor.role.name()) ") may not read donor identity." }
        }
    }
}

fn status_form(s: &Session, d: &DonorView) -> Markup {
    html! {
        h2 { "Change the status" }
        form.grid method="post" action={ "/donors/" (url_encode(&d.id)) "/status" } aria-label="change the donor's status" {
            input type="hidden" name="csrf" value=(s.csrf());
            div {
                label for="new-status" { "Status" }
                select id="new-status" name="status" {
                    @for v in ["available", "temporarily-unavailable", "reserved", "permanently-unavailable"] {
                        option value=(v) selected[d.status.replace(" ", "-").starts_with(v)] { (v) }
                    }
                }
            }
            div { label for="status-reason" { "Reason" } input type="text" id="status-reason" name="reason"; }
            div { label for="status-until" { "Until" } input type="date" id="status-until" name="until"; }
            div { label for="status-patient" { "For patient (reserved)" } input type="text" id="status-patient" name="patient"; }
            div.wide { label for="status-note" { "Note" } input type="text" id="status-note" name="note"; }
            div { button type="submit" id="change-status" { "Change status" } }
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    status: String,
    reason: Option<String>,
    until: Option<String>,
    patient: Option<String>,
    #[serde(default)]
    note: String,
}

/// Change a donor's status (kept in the history; the next search sees it).
pub async fn set_status(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<StatusForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let filled = |v: Option<String>| v.filter(|x| !x.trim().is_empty());
    let until = filled(f.until)
        .map(|u| {
            u.trim()
                .parse()
                .map_err(|_| super::invalid("until", format!("{u:?} is not a date (YYYY-MM-DD)")))
        })
        .transpose()?;
    let req = StatusRequest {
        status: f.status,
        reason: filled(f.reason),
        until,
        patient: filled(f.patient),
        note: f.note,
    };
    let actor = s.actor.clone();
    let i = id.clone();
    blocking(move || svc.set_status(&actor, &i, &req)).await?;
    Ok(super::see_other(&format!("/donors/{}", url_encode(&id))))
}

async fn render(
    svc: Shared,
    s: &Session,
    id: String,
    read_identity: bool,
) -> Result<Response, WebError> {
    let actor = s.actor.clone();
    let (d, identity) = blocking(move || {
        let d = svc.donor(&actor, &id)?;
        let i = if read_identity {
            Some(svc.identity(&actor, &id)?)
        } else {
            None
        };
        Ok((d, i))
    })
    .await?;
    let title = format!("Donor {}", d.id);
    let body = html! {
        h1 { (title) }
        (record(&d))
        (identity_part(s, &d, identity.as_ref()))
        @if s.may(Permission::ChangeStatus) { (status_form(s, &d)) }
    };
    Ok(html(layout::page(s, "/search", &title, body)))
}

pub async fn show(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    render(svc, &s, id, false).await
}

/// The identity's own address: refused in words for a role that may not read it; for
/// one that may, the donor's page with the button (a GET reads nothing).
pub async fn identity_page(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    s.actor.require(Permission::ReadIdentity)?;
    render(svc, &s, id, false).await
}

/// Read the identity (audited) and show it.
pub async fn identity(
    State(svc): State<Shared>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    render(svc, &s, id, true).await
}
