//! The page shell: the navigation (only the pages the role may use), the user and the
//! logout button, and the content.

use maud::{html, Markup, DOCTYPE};
use medulla_app::Permission;

use crate::session::Session;

/// The sections of the navigation: (path, label, the permission that shows it).
const NAV: [(&str, &str, Option<Permission>); 6] = [
    ("/", "Dashboard", None),
    ("/search", "Search", Some(Permission::Search)),
    ("/patients", "Patients", Some(Permission::ReadPatients)),
    ("/tasks", "Tasks", Some(Permission::ReadPatients)),
    ("/likelihood", "Likelihood", Some(Permission::Likelihood)),
    ("/audit", "Audit", Some(Permission::ReadAudit)),
];

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Medulla" }
        link rel="stylesheet" href="/assets/medulla.css";
    }
}

/// A page of a logged-in user; `active` is the navigation entry it belongs to.
pub fn page(s: &Session, active: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                header.top {
                    a.brand href="/" { "Medulla" }
                    nav aria-label="main" {
                        @for (path, label, need) in NAV {
                            @if need.is_none_or(|p| s.may(p)) {
                                a href=(path) aria-current=[(path == active).then_some("page")] { (label) }
                            }
                        }
                    }
                    span.who { (s.actor.user) " (" (s.actor.role.name()) ")" }
                    a.account href="/account/mfa" { "Two-factor login" }
                    form method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(s.csrf());
                        button type="submit" { "Log out" }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// A page without a session (login, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                header.top { a.brand href="/" { "Medulla" } }
                main id="main" { (body) }
            }
        }
    }
}

/// An optional value, or a dash.
pub fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "–".to_string(), |x| x.to_string())
}

/// A share as a percentage with one decimal.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}
