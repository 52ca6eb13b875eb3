//! `/`: tasks due and overdue, active patients, the caller's recent searches, and the
//! registry in figures; each part only for the roles that may read it.

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use medulla_app::Permission;

use super::html;
use crate::layout::{self, opt};
use crate::pages::requests::task_table;
use crate::session::{url_encode, Session};
use crate::{blocking, Shared, WebError};

/// Tasks due within this many days are on the dashboard.
const DUE_DAYS: i64 = 14;

pub async fn show(State(svc): State<Shared>, s: Session) -> Result<Response, WebError> {
    let actor = s.actor.clone();
    let (tasks, patients, recent, figures) = blocking(move || {
        let may = |p| medulla_app::auth::allows(actor.role, p);
        let tasks = if may(Permission::ReadPatients) {
            Some(svc.tasks(&actor, Some(DUE_DAYS))?)
        } else {
            None
        };
        let patients = if may(Permission::ReadPatients) {
            Some(svc.patients(&actor, Some("active"))?)
        } else {
            None
        };
        let recent = svc.recent_searches(&actor, 10)?;
        let figures = if may(Permission::ReadDonor) {
            Some(svc.registry_figures(&actor)?)
        } else {
            None
        };
        Ok((tasks, patients, recent, figures))
    })
    .await?;
    let body: Markup = html! {
        h1 { "Dashboard" }
        @if let Some(tasks) = &tasks {
            h2 { "Tasks due in the next " (DUE_DAYS) " days and overdue" }
            @let overdue = tasks.iter().filter(|t| t.overdue).count();
            p { (tasks.len()) " open, " strong { (overdue) " overdue" } ". " a href="/tasks" { "All tasks" } }
            (task_table(tasks))
        }
        @if let Some(patients) = &patients {
            h2 { "Active patients" }
            @if patients.is_empty() {
                p.muted { "No active patient." }
            } @else {
                table {
                    thead { tr { th { "Patient" } th { "Diagnosis" } th { "Urgency" } th { "Population" } th { "Centre" } } }
                    tbody {
                        @for p in patients {
                            tr {
                                td { a href={ "/patients/" (url_encode(&p.id)) } { (p.id) } }
                                td { (opt(&p.diagnosis)) }
                                td { (opt(&p.urgency)) }
                                td { (opt(&p.population)) }
                                td { (opt(&p.centre)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Your recent searches" }
        @if recent.is_empty() {
            p.muted { "No search yet." }
        } @else {
            table id="recent-searches" {
                thead { tr { th { "When" } th { "What" } th { "Patient typing or name" } th.num { "Donors found" } } }
                tbody {
                    @for r in &recent {
                        tr {
                            td { (r.at.get(..16).unwrap_or(&r.at).replace('T', " ")) }
                            td { (r.action) }
                            td {
                                @if r.action == "search" {
                                    a href={ "/search?mismatches=2&patient=" (url_encode(&r.subject)) } { (r.subject) }
                                } @else { (r.subject) }
                            }
                            td.num { (opt(&r.hits)) }
                        }
                    }
                }
            }
        }
        @if let Some(f) = &figures {
            h2 { "The registry" }
            p { strong { (f.total) } " donors; " (f.indexed) " searchable today." }
            div.cards {
                div.card {
                    table id="by-status" {
                        caption { "Donors by status" }
                        thead { tr { th { "Status" } th.num { "Donors" } } }
                        tbody { @for (k, n) in &f.by_status { tr { td { (k) } td.num { (n) } } } }
                    }
                }
                div.card {
                    table id="by-population" {
                        caption { "Donors by population" }
                        thead { tr { th { "Population" } th.num { "Donors" } } }
                        tbody { @for (k, n) in &f.by_population { tr { td { (k) } td.num { (n) } } } }
                    }
                }
            }
        }
    };
    Ok(html(layout::page(&s, "/", "Dashboard", body)))
}
