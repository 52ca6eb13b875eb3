//! `/audit`: the audit trail for auditors, newest first, filtered by user, action and
//! time.

use crate::extract::Query;
use axum::extract::State;
use axum::response::Response;
use maud::html;
use medulla_registry::audit::AuditFilter;
use serde::Deserialize;

use super::{filled, html, number};
use crate::layout;
use crate::session::Session;
use crate::{blocking, Shared, WebError};

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
}

fn set(v: &Option<String>) -> Option<String> {
    filled(v).map(str::to_string)
}

pub async fn show(
    State(svc): State<Shared>,
    s: Session,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let limit = number::<u32>("limit", &q.limit)?
        .unwrap_or(200)
        .clamp(1, 10_000);
    let filter = AuditFilter {
        actor: set(&q.user),
        action: set(&q.action),
        from: set(&q.from),
        to: set(&q.to),
        limit: Some(limit),
        newest_first: true,
    };
    let actor = s.actor.clone();
    let (entries, verified) = blocking(move || {
        let e = svc.audit_entries(&actor, &filter)?;
        Ok((e, svc.verify_audit()?))
    })
    .await?;
    let v = |x: &Option<String>| set(x).unwrap_or_default();
    let body = html! {
        h1 { "Audit trail" }
        @match &verified {
            Ok(n) => p id="chain" { "The chain of " (n) " entries is intact." },
            Err(b) => div.error role="alert" id="chain" { p { "The chain is broken: " (b) } },
        }
        form.grid method="get" action="/audit" {
            div { label for="user" { "User" } input type="text" id="user" name="user" value=(v(&q.user)); }
            div { label for="action" { "Action" } input type="text" id="action" name="action" value=(v(&q.action)) placeholder="search, identity-read, login"; }
            div { label for="from" { "From" } input type="text" id="from" name="from" value=(v(&q.from)) placeholder="2026-12-01T00:00:00"; }
            div { label for="to" { "To" } input type="text" id="to" name="to" value=(v(&q.to)); }
            div { label for="limit" { "Entries" } input type="number" id="limit" name="limit" value=(limit); }
            div { button type="submit" { "Filter" } }
        }
        table id="audit" {
            thead { tr { th.num { "#" } th { "When" } th { "User" } th { "Action" } th { "Subject" } th { "Detail" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td.num { (e.seq) }
                        td { (e.at.replace('T', " ")) }
                        td { (e.actor) }
                        td { (e.action) }
                        td { (e.subject) }
                        td { code { (e.detail) } }
                    }
                }
            }
        }
    };
    Ok(html(layout::page(&s, "/audit", "Audit", body)))
}
