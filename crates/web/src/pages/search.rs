//! `/search`: the search form, and with `?patient=GL&mismatches=K&...` the ranked donors:
//! grades per position in letters and colour, mismatch directions, the DPB1 verdict,
//! probabilities, donor facts and the reasons for the rank; sortable; exportable as CSV
//! (`/search.csv` with the same query); kept as a saved search and repeated with what
//! changed (new, changed, gone).

use std::cmp::Ordering;

use crate::extract::{Form, Query};
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use medulla_app::search::{CmvChoice, CountMismatches, DonorKind, HitView, SexChoice};
use medulla_app::service::dashboard::SavedSearchView;
use medulla_app::service::{RepeatAnswer, SearchAnswer};
use medulla_app::{Permission, SearchOptions};
use serde::{Deserialize, Serialize};

use super::{filled, html, html_status, invalid, number};
use crate::grades;
use crate::layout::{self, opt, pct};
use crate::session::{url_encode, Session};
use crate::{blocking, Shared, WebError};

/// The search form's fields as the query carries them (empty fields are unset).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SearchQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatches: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loci: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub donor_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_cmv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_abo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_weight: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_population: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_unavailable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub international: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

fn list(v: &Option<String>) -> Vec<String> {
    filled(v)
        .map(|s| {
            s.split([',', ' '])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn cmv(field: &str, v: &Option<String>) -> Result<Option<CmvChoice>, WebError> {
    match filled(v).map(str::to_ascii_lowercase).as_deref() {
        None | Some("any") => Ok(None),
        Some("pos") => Ok(Some(CmvChoice::Pos)),
        Some("neg") => Ok(Some(CmvChoice::Neg)),
        Some(x) => Err(invalid(field, format!("{x:?} is not pos or neg"))),
    }
}

impl SearchQuery {
    /// The search these fields ask for; every field checked, named when wrong.
    pub fn options(&self) -> Result<SearchOptions, WebError> {
        let patient = filled(&self.patient)
            .ok_or_else(|| invalid("patient", "enter the patient's typing as a GL String"))?;
        let mut o = SearchOptions::new(patient);
        o.mismatches = number("mismatches", &self.mismatches)?.unwrap_or(0);
        if filled(&self.loci).is_some() {
            o.loci = list(&self.loci);
        }
        o.count_mismatches = match filled(&self.count).map(str::to_ascii_lowercase).as_deref() {
            None | Some("both") => CountMismatches::Both,
            Some("gvh") => CountMismatches::Gvh,
            Some("hvg") => CountMismatches::Hvg,
            Some(x) => return Err(invalid("count", format!("{x:?} is not both, gvh or hvg"))),
        };
        o.donor_type = match filled(&self.donor_type)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("any") => None,
            Some("adult") => Some(DonorKind::Adult),
            Some("cord") => Some(DonorKind::Cord),
            Some(x) => return Err(invalid("donor_type", format!("{x:?} is not adult or cord"))),
        };
        o.sex = match filled(&self.sex).map(str::to_ascii_uppercase).as_deref() {
            None | Some("ANY") => None,
            Some("M") => Some(SexChoice::M),
            Some("F") => Some(SexChoice::F),
            Some(x) => return Err(invalid("sex", format!("{x:?} is not M or F"))),
        };
        o.cmv = cmv("cmv", &self.cmv)?;
        o.patient_cmv = cmv("patient_cmv", &self.patient_cmv)?;
        o.abo = list(&self.abo);
        o.registry = list(&self.registry);
        o.population = list(&self.population);
        o.min_age = number("min_age", &self.min_age)?;
        o.max_age = number("max_age", &self.max_age)?;
        o.patient_abo = filled(&self.patient_abo).map(str::to_string);
        o.patient_weight = number("patient_weight", &self.patient_weight)?;
        o.patient_population = filled(&self.patient_population).map(str::to_string);
        o.include_unavailable = filled(&self.include_unavailable).is_some();
        o.international = filled(&self.international).is_some();
        if let Some(l) = number::<usize>("limit", &self.limit)? {
            if !(1..=1000).contains(&l) {
                return Err(invalid("limit", "show between 1 and 1000 donors"));
            }
            o.limit = l;
        }
        Ok(o)
    }

    fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }

    fn with_sort(&self, key: &str) -> String {
        let mut q = self.clone();
        let asc = q.sort.as_deref() == Some(key) && q.dir.as_deref() != Some("desc");
        q.sort = Some(key.to_string());
        q.dir = Some(if asc { "desc" } else { "asc" }.to_string());
        format!("/search?{}", q.query_string())
    }
}

/// The columns the table sorts by.
const SORT_KEYS: [&str; 7] = [
    "rank",
    "donor",
    "mismatches",
    "p10",
    "p8",
    "age",
    "registry",
];

/// The query's sort column, checked before any search runs.
fn sort_key(q: &SearchQuery) -> Result<&str, WebError> {
    let key = filled(&q.sort).unwrap_or("rank");
    if SORT_KEYS.contains(&key) {
        Ok(key)
    } else {
        Err(invalid(
            "sort",
            format!("{key:?} is not one of {}", SORT_KEYS.join(", ")),
        ))
    }
}

/// A hit's probability (`-1` without one, so those sort last in descending order).
fn probability(h: &HitView, f: fn(&medulla_app::search::ProbabilityView) -> f64) -> f64 {
    h.probabilities.as_ref().map_or(-1.0, f)
}

/// Sort the hits by one of [`SORT_KEYS`] (anything else keeps the rank order); ties
/// keep the rank order.
fn sort_hits(hits: &mut [HitView], key: &str, desc: bool) {
    let by: fn(&HitView, &HitView) -> Ordering = match key {
        "rank" => |a, b| a.rank.cmp(&b.rank),
        "donor" => |a, b| a.donor_id.cmp(&b.donor_id),
        "mismatches" => |a, b| a.mismatches.cmp(&b.mismatches),
        "age" => |a, b| a.age.cmp(&b.age),
        "registry" => |a, b| a.registry.cmp(&b.registry),
        "p10" => |a, b| probability(a, |x| x.p_10of10).total_cmp(&probability(b, |x| x.p_10of10)),
        "p8" => |a, b| probability(a, |x| x.p_8of8).total_cmp(&probability(b, |x| x.p_8of8)),
        _ => |_, _| Ordering::Equal,
    };
    hits.sort_by(|a, b| {
        let o = by(a, b);
        if desc { o.reverse() } else { o }.then(a.rank.cmp(&b.rank))
    });
}

fn selected(v: &Option<String>, option: &str) -> bool {
    filled(v).unwrap_or("").eq_ignore_ascii_case(option)
}

fn choice(name: &str, label: &str, v: &Option<String>, options: &[(&str, &str)]) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[selected(v, value)] { (text) }
                }
            }
        }
    }
}

fn text(name: &str, label: &str, v: &Option<String>, placeholder: &str) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            input type="text" id=(name) name=(name) value=(filled(v).unwrap_or("")) placeholder=(placeholder);
        }
    }
}

fn search_form(q: &SearchQuery) -> Markup {
    html! {
        form.grid method="get" action="/search" role="search" aria-label="donor search" {
            div.wide {
                label for="patient" { "Patient typing (GL String: alleles, MACs, XX codes, serology)" }
                textarea id="patient" name="patient" rows="2" required
                    placeholder="A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01" {
                    (filled(&q.patient).unwrap_or(""))
                }
            }
            (choice("mismatches", "Mismatches allowed", &q.mismatches, &[("0", "0"), ("1", "1"), ("2", "2")]))
            (text("loci", "Loci counted (A, B, DRB1 always)", &q.loci, "A,B,C,DRB1,DQB1"))
            (choice("count", "Count at homozygous loci", &q.count, &[("both", "both directions"), ("gvh", "graft-versus-host"), ("hvg", "host-versus-graft")]))
            (choice("donor_type", "Donor type", &q.donor_type, &[("any", "adult and cord"), ("adult", "adult"), ("cord", "cord")]))
            (text("min_age", "Donor age from", &q.min_age, "18"))
            (text("max_age", "Donor age to", &q.max_age, "60"))
            (choice("sex", "Donor sex", &q.sex, &[("any", "any"), ("M", "male"), ("F", "female")]))
            (choice("cmv", "Donor CMV", &q.cmv, &[("any", "any"), ("neg", "negative"), ("pos", "positive")]))
            (text("abo", "Donor ABO groups", &q.abo, "O,A"))
            (text("registry", "Registries", &q.registry, "all"))
            (text("population", "Donor populations", &q.population, "all"))
            (text("patient_population", "Patient population (probabilities)", &q.patient_population, "EUR, AFA, API, HIS"))
            (choice("patient_cmv", "Patient CMV", &q.patient_cmv, &[("any", "unknown"), ("neg", "negative"), ("pos", "positive")]))
            (text("patient_abo", "Patient ABO", &q.patient_abo, "A"))
            (text("patient_weight", "Patient weight, kg (cord doses)", &q.patient_weight, "70"))
            (text("limit", "Donors shown", &q.limit, "20"))
            div {
                label for="include_unavailable" {
                    input type="checkbox" id="include_unavailable" name="include_unavailable" value="on" checked[filled(&q.include_unavailable).is_some()];
                    " include unavailable donors"
                }
            }
            div {
                label for="international" {
                    input type="checkbox" id="international" name="international" value="on" checked[filled(&q.international).is_some()];
                    " search partner registries too (international)"
                }
            }
            div { button type="submit" id="run-search" { "Search" } }
        }
    }
}

fn grade_cell(grade: &str) -> Markup {
    if grade == "-" {
        return html! { td.grade.g-none { "–" span.visually-hidden { "not typed" } } };
    }
    let words: Vec<&str> = grade.chars().map(grades::meaning).collect();
    let worst = ['X', 'a', 'P', 'M']
        .into_iter()
        .find(|w| grade.contains(*w))
        .unwrap_or('-');
    html! {
        td class={ "grade " (grades::class(worst)) } title=(words.join(", ")) {
            (grade)
            span.visually-hidden { " (" (words.join(", ")) ")" }
        }
    }
}

/// The results table (also on a saved search's repeat).
pub fn hits_table(hits: &[HitView], q: Option<&SearchQuery>) -> Markup {
    hits_table_of(hits, q, None)
}

/// The results table; with `ours` (this registry's ION, in an international search) the
/// donors of partner registries are named by GRID, without a link (their records are
/// the partner's).
pub fn hits_table_of(hits: &[HitView], q: Option<&SearchQuery>, ours: Option<&str>) -> Markup {
    let loci = ["A", "B", "C", "DRB1", "DQB1", "DPB1"];
    let head = |key: &str, label: &str| -> Markup {
        match q {
            Some(q) => {
                let current = q.sort.as_deref().unwrap_or("rank") == key;
                let sort = if !current {
                    None
                } else if q.dir.as_deref() == Some("desc") {
                    Some("descending")
                } else {
                    Some("ascending")
                };
                html! { th aria-sort=[sort] { a href=(q.with_sort(key)) { (label) } } }
            }
            None => html! { th { (label) } },
        }
    };
    html! {
        p.legend aria-hidden="true" {
            "Grades: "
            @for (letter, meaning, _, _) in grades::GRADES {
                span class=(grades::class(letter)) { (letter) } (meaning) " "
            }
            " · DPB1: p permissive, G/H non-permissive (GvH/HvG), ? unknown"
        }
        table id="hits" {
            caption.visually-hidden { "Ranked donors" }
            thead {
                tr {
                    (head("rank", "Rank"))
                    (head("donor", "Donor"))
                    (head("registry", "Registry"))
                    th { "Type" }
                    (head("mismatches", "Match"))
                    @for l in loci { th { (l) } }
                    th { "Mismatch directions" }
                    th { "DPB1 TCE" }
                    (head("p10", "P(10/10)"))
                    th { "P(9/10)" }
                    (head("p8", "P(8/8)"))
                    (head("age", "Age"))
                    th { "Sex" } th { "CMV" } th { "ABO" }
                    th.why { "Why this rank" }
                }
            }
            tbody {
                @for h in hits {
                    tr data-donor=(h.donor_id) {
                        td.num { (h.rank) }
                        @if ours.is_some_and(|ion| h.registry != ion) {
                            td { (h.grid.as_deref().unwrap_or(&h.donor_id)) br;
                                 span.muted { "at partner registry " (h.registry) } }
                        } @else {
                            td { a href={ "/donors/" (url_encode(&h.donor_id)) } { (h.donor_id) }
                                 @if let Some(g) = &h.grid { br; span.muted { (g) } } }
                        }
                        td { (h.registry) }
                        td { (h.donor_type) }
                        td { (h.matched) @if h.potential > 0 { " (" (h.potential) " potential)" } }
                        @for l in loci {
                            @match h.loci.get(l) {
                                Some(v) => (grade_cell(&v.grade)),
                                None => (grade_cell("-")),
                            }
                        }
                        td {
                            @for (l, v) in &h.loci {
                                @if let Some(d) = &v.direction { (l) ": " (d) br; }
                            }
                        }
                        td { (h.dpb1_tce) }
                        @match &h.probabilities {
                            Some(p) => {
                                td.num { (pct(p.p_10of10)) }
                                td.num { (pct(p.p_9of10)) }
                                td.num { (pct(p.p_8of8)) }
                            }
                            None => { td.num { "–" } td.num { "–" } td.num { "–" } }
                        }
                        td.num { (opt(&h.age)) }
                        td { (opt(&h.sex)) }
                        td { (opt(&h.cmv)) }
                        td { (opt(&h.abo)) }
                        td.why { (h.explain) }
                    }
                }
            }
        }
    }
}

fn saved_list(saved: &[SavedSearchView], csrf: &str) -> Markup {
    html! {
        h2 { "Saved searches" }
        @if saved.is_empty() {
            p.muted { "None yet: run a search and keep it under a name." }
        } @else {
            table id="saved-searches" {
                thead { tr { th { "Name" } th { "Kept" } th { "Last run" } th.num { "Donors then" } th { "Run again" } } }
                tbody {
                    @for s in saved {
                        tr {
                            td { (s.name) }
                            td { (s.created_at.replace('T', " ")) }
                            td { (s.last_run_at.replace('T', " ")) }
                            td.num { (s.matches) }
                            td {
                                form method="post" action={ "/searches/" (url_encode(&s.name)) "/repeat" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" aria-label={ "Repeat " (s.name) } { "Repeat" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn answer_summary(a: &SearchAnswer, shown: usize) -> Markup {
    html! {
        p id="summary" { strong { (a.total) } " donors match; the best " (shown) " are shown." }
        @for w in &a.warnings { div.notice role="status" { p { (w) } } }
    }
}

/// The form, and the results when the query has a patient.
pub async fn show(
    State(svc): State<Shared>,
    s: Session,
    Query(q): Query<SearchQuery>,
) -> Result<Response, WebError> {
    s.actor.require(Permission::Search)?;
    let actor = s.actor.clone();
    let may_save = s.may(Permission::SavedSearches);
    let svc2 = svc.clone();
    let saved = if may_save {
        blocking(move || svc2.saved_searches(&actor)).await?
    } else {
        Vec::new()
    };
    let ours = if filled(&q.international).is_some() {
        let svc3 = svc.clone();
        blocking(move || Ok(svc3.ion())).await?
    } else {
        None
    };
    let (status, results) = if filled(&q.patient).is_some() {
        match run(&svc, &s, &q).await {
            Ok((answer, options)) => (StatusCode::OK, Some(Ok((answer, options)))),
            Err(e) => (e.status, Some(Err(e))),
        }
    } else {
        (StatusCode::OK, None)
    };
    let body = html! {
        h1 { "Search the registry" }
        @if let Some(Err(e)) = &results {
            div.error role="alert" id="search-error" { h2 { (e.title) } p { (e.message) } }
        }
        (search_form(&q))
        @if let Some(Ok((answer, options))) = &results {
            h2 { "Donors" }
            (answer_summary(answer, answer.hits.len()))
            p {
                a href={ "/search.csv?" (q.query_string()) } download="medulla-search.csv" { "Export as CSV" }
            }
            @if let Some(missing) = answer.partners_unanswered.as_ref().filter(|m| !m.is_empty()) {
                p.notice role="status" id="partners-unanswered" {
                    "Partner registries that did not answer in time (their donors are not in this list): "
                    (missing.join(", "))
                }
            }
            (hits_table_of(&answer.hits, Some(&q), ours.as_deref()))
            @if may_save {
                form.grid method="post" action="/search/save" aria-label="keep this search" {
                    input type="hidden" name="csrf" value=(s.csrf());
                    input type="hidden" name="options" value=(serde_json::to_string(options).unwrap_or_default());
                    div {
                        label for="save-name" { "Keep this search as" }
                        input type="text" id="save-name" name="name" required placeholder="patient P-123 9/10";
                    }
                    div { button type="submit" id="save-search" { "Save search" } }
                }
            }
        }
        @if may_save { (saved_list(&saved, &s.csrf())) }
    };
    Ok(html_status(
        status,
        layout::page(&s, "/search", "Search", body),
    ))
}

/// Run the query's search and sort the hits as asked.
async fn run(
    svc: &Shared,
    s: &Session,
    q: &SearchQuery,
) -> Result<(SearchAnswer, SearchOptions), WebError> {
    let options = q.options()?;
    let key = sort_key(q)?;
    let actor = s.actor.clone();
    let svc = svc.clone();
    let o = options.clone();
    let mut answer = blocking(move || svc.search(&actor, &o)).await?;
    sort_hits(&mut answer.hits, key, q.dir.as_deref() == Some("desc"));
    Ok((answer, options))
}

/// The results as CSV, in the order shown.
pub async fn csv(
    State(svc): State<Shared>,
    s: Session,
    Query(q): Query<SearchQuery>,
) -> Result<Response, WebError> {
    let (answer, _) = run(&svc, &s, &q).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let head = [
        "rank",
        "donor_id",
        "grid",
        "registry",
        "donor_type",
        "match",
        "mismatches",
        "A",
        "B",
        "C",
        "DRB1",
        "DQB1",
        "DPB1",
        "dpb1_tce",
        "p_10of10",
        "p_9of10",
        "p_8of8",
        "age",
        "sex",
        "cmv",
        "abo",
        "population",
        "explain",
    ];
    let io = |_| WebError::internal();
    w.write_record(head).map_err(io)?;
    for h in &answer.hits {
        let grade = |l: &str| h.loci.get(l).map_or("-".to_string(), |v| v.grade.clone());
        let p = |f: fn(&medulla_app::search::ProbabilityView) -> f64| {
            h.probabilities
                .as_ref()
                .map_or(String::new(), |x| format!("{:.4}", f(x)))
        };
        let row = [
            h.rank.to_string(),
            h.donor_id.clone(),
            h.grid.clone().unwrap_or_default(),
            h.registry.clone(),
            h.donor_type.to_string(),
            h.matched.clone(),
            h.mismatches.to_string(),
            grade("A"),
            grade("B"),
            grade("C"),
            grade("DRB1"),
            grade("DQB1"),
            grade("DPB1"),
            h.dpb1_tce.to_string(),
            p(|x| x.p_10of10),
            p(|x| x.p_9of10),
            p(|x| x.p_8of8),
            h.age.map(|a| a.to_string()).unwrap_or_default(),
            h.sex.clone().unwrap_or_default(),
            h.cmv.clone().unwrap_or_default(),
            h.abo.clone().unwrap_or_default(),
            h.population.clone().unwrap_or_default(),
            h.explain.clone(),
        ];
        // values a registry imported are never evaluated by a spreadsheet
        w.write_record(row.map(medulla_app::search::spreadsheet_cell))
            .map_err(io)?;
    }
    let body = w.into_inner().map_err(|_| WebError::internal())?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"medulla-search.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SaveForm {
    csrf: String,
    name: String,
    options: String,
}

/// Keep a search with its matches under a name.
pub async fn save(
    State(svc): State<Shared>,
    s: Session,
    Form(f): Form<SaveForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let name = f.name.trim().to_string();
    if name.is_empty() {
        return Err(invalid("name", "give the saved search a name"));
    }
    let options: SearchOptions = serde_json::from_str(&f.options)
        .map_err(|e| invalid("options", format!("the search could not be read back: {e}")))?;
    let actor = s.actor.clone();
    let n = name.clone();
    let (answer, saved) = blocking(move || {
        let a = svc.save_search(&actor, &n, &options)?;
        Ok((a, svc.saved_searches(&actor)?))
    })
    .await?;
    let body = html! {
        h1 { "Search kept" }
        div.notice role="status" id="saved-notice" {
            p { "The search is kept as " strong { (name) } " with its " (answer.total)
                " donors. Repeat it to see new, changed and gone donors." }
        }
        (answer_summary(&answer, answer.hits.len()))
        (hits_table(&answer.hits, None))
        (saved_list(&saved, &s.csrf()))
    };
    Ok(html(layout::page(&s, "/search", "Search kept", body)))
}

fn repeat_page(r: &RepeatAnswer) -> Markup {
    html! {
        h1 { "Saved search " (r.name) ", run again" }
        p { "Last run " (r.last_run_at.replace('T', " ")) ". "
            strong { (r.new.len()) " new" } ", " strong { (r.changed.len()) " changed" } ", "
            strong { (r.gone.len()) " gone" } ", " (r.unchanged) " unchanged." }
        div.cards id="differences" {
            div.card {
                h2 { "New" }
                @if r.new.is_empty() { p.muted { "none" } }
                ul { @for d in &r.new { li { a href={ "/donors/" (url_encode(d)) } { (d) } } } }
            }
            div.card {
                h2 { "Changed" }
                @if r.changed.is_empty() { p.muted { "none" } }
                ul { @for d in &r.changed { li { a href={ "/donors/" (url_encode(d)) } { (d) } } } }
            }
            div.card {
                h2 { "Gone" }
                @if r.gone.is_empty() { p.muted { "none" } }
                ul { @for g in &r.gone { li { a href={ "/donors/" (url_encode(&g.donor_id)) } { (g.donor_id) } ": " (g.reason) } } }
            }
        }
        h2 { "Donors now" }
        (answer_summary(&r.search, r.search.hits.len()))
        (hits_table(&r.search.hits, None))
    }
}

/// Run a saved search again and show what changed.
pub async fn repeat(
    State(svc): State<Shared>,
    s: Session,
    Path(name): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let actor = s.actor.clone();
    let r = blocking(move || svc.repeat_search(&actor, &name)).await?;
    Ok(html(layout::page(
        &s,
        "/search",
        "Saved search",
        repeat_page(&r),
    )))
}
