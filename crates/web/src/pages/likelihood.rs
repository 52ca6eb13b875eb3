//! `/likelihood`: the chance that a patient of each population finds a donor, by registry
//! size and match level, as a table and a plot (the same use case as `medulla likelihood`
//! and `POST /api/v1/likelihood`, on the service's frequency set).

use std::collections::BTreeMap;

use crate::extract::Query;
use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use medulla_app::likelihood::{parse_pairs, parse_sizes, LikelihoodReport};
use medulla_app::service::population::{AvailabilityInput, LikelihoodInput};
use serde::Deserialize;

use super::{filled, html_status, invalid};
use crate::layout::{self, pct};
use crate::session::Session;
use crate::{blocking, Shared, WebError};

#[derive(Debug, Default, Deserialize)]
pub struct LikelihoodQuery {
    levels: Option<String>,
    sizes: Option<String>,
    mix: Option<String>,
    availability: Option<String>,
    mixed: Option<String>,
    run: Option<String>,
}

fn items(v: &Option<String>) -> Option<Vec<String>> {
    filled(v).map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// `POP=SHARE,...` read as the command line reads it.
fn shares(field: &str, v: &str) -> Result<BTreeMap<String, f64>, WebError> {
    Ok(parse_pairs(field, v)?.into_iter().collect())
}

impl LikelihoodQuery {
    fn input(&self) -> Result<LikelihoodInput, WebError> {
        let sizes = filled(&self.sizes).map(parse_sizes).transpose()?;
        let availability = match filled(&self.availability) {
            None => None,
            Some(a) if a.contains('=') => Some(AvailabilityInput::Per(shares("availability", a)?)),
            Some(a) => Some(AvailabilityInput::All(a.parse().map_err(|_| {
                invalid(
                    "availability",
                    format!("{a:?} is not a share or POP=SHARE,..."),
                )
            })?)),
        };
        Ok(LikelihoodInput {
            levels: items(&self.levels),
            sizes,
            mix: filled(&self.mix).map(|m| shares("mix", m)).transpose()?,
            availability,
            mixed: items(&self.mixed),
        })
    }
}

fn field(name: &str, label: &str, v: &Option<String>, placeholder: &str) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            input type="text" id=(name) name=(name) value=(filled(v).unwrap_or("")) placeholder=(placeholder);
        }
    }
}

/// 1234567 as `1,234,567`.
fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn table(report: &LikelihoodReport) -> Markup {
    // a modelled mix carries shares of one donor, not the registry's own counts
    let own = report.registry.iter().map(|r| r.donors).sum::<f64>() > 1.0 + 1e-9;
    let mut sizes: Vec<u64> = report.rows.iter().map(|r| r.registry_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in &report.rows {
        let k = (r.population.clone(), r.level.name().to_string());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    html! {
        table id="likelihood" {
            thead {
                tr {
                    th { "Patient population" } th { "Level" }
                    @for s in &sizes { th.num { (thousands(*s)) " donors" } }
                }
            }
            tbody {
                @for (p, l) in &keys {
                    tr {
                        td { (p) } td { (l) }
                        @for s in &sizes {
                            td.num {
                                @match report.rows.iter().find(|r| &r.population == p && &r.level.name().to_string() == l && r.registry_size == *s) {
                                    Some(r) => (pct(r.likelihood)),
                                    None => "–",
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "The registry modelled" }
        table id="registry-shares" {
            thead { tr { th { "Population" } th.num { "Donors" } th.num { "Share" } th.num { "Available when called" } } }
            tbody {
                @for r in &report.registry {
                    tr { td { (r.population) } td.num { @if own { (thousands(r.donors.round() as u64)) } @else { "modelled" } } td.num { (pct(r.share)) } td.num { (pct(r.availability)) } }
                }
            }
        }
        @for n in &report.notes { p.muted { (n) } }
    }
}

pub async fn show(
    State(svc): State<Shared>,
    s: Session,
    Query(q): Query<LikelihoodQuery>,
) -> Result<Response, WebError> {
    s.actor.require(medulla_app::Permission::Likelihood)?;
    let result = if q.run.is_some() {
        match q.input() {
            Ok(input) => {
                let actor = s.actor.clone();
                Some(
                    blocking(move || {
                        let report = svc.likelihood(&actor, &input)?;
                        let plot = medulla_app::plots::likelihood_svg(&report).ok();
                        Ok((report, plot))
                    })
                    .await,
                )
            }
            Err(e) => Some(Err(e)),
        }
    } else {
        None
    };
    let status = match &result {
        Some(Err(e)) => e.status,
        _ => axum::http::StatusCode::OK,
    };
    let body = html! {
        h1 { "Match likelihood by population" }
        p.muted { "The chance that a patient of each population finds at least one matched, available donor, on the service's haplotype frequencies. Empty fields: the registry's own searchable donors, published availability." }
        form.grid method="get" action="/likelihood" {
            input type="hidden" name="run" value="1";
            (field("levels", "Levels", &q.levels, "10/10,8/8,7/8"))
            (field("sizes", "Registry sizes", &q.sizes, "100000,1000000,10000000"))
            (field("mix", "Registry mix (else the registry's own)", &q.mix, "EUR=0.6,HIS=0.2,AFA=0.1,API=0.1"))
            (field("availability", "Availability", &q.availability, "0.54 or AFA=0.33,EUR=0.6"))
            (field("mixed", "Patients of mixed origin", &q.mixed, "EUR+AFA"))
            div { button type="submit" id="run-likelihood" { "Compute" } }
        }
        @match &result {
            Some(Err(e)) => div.error role="alert" { h2 { (e.title) } p { (e.message) } },
            Some(Ok((report, plot))) => {
                h2 { "Likelihood" }
                (table(report))
                @if let Some(svg) = plot {
                    h2 { "Curves" }
                    figure.plot {
                        (PreEscaped(svg.as_str()))
                        figcaption.muted { "Likelihood against registry size, one curve per population and level (the table above has the same figures)." }
                    }
                }
            },
            None => p.muted { "Choose the levels and sizes and press Compute (a full table takes a few seconds)." },
        }
    };
    Ok(html_status(
        status,
        layout::page(&s, "/likelihood", "Likelihood", body),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(10_000_000), "10,000,000");
    }
}
