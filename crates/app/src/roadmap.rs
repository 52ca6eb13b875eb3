//! The patient's roadmap: own cells, family, unrelated national, unrelated international,
//! each step with what exists, the best option and its grade, and the one next action.
//! Also the use cases of the first two steps: autologous products and relatives.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use medulla_family::{FamilyAssignment, Status as FamilyStatus};
use medulla_matching::{search, ArdCatalog};
use medulla_nomenclature::Reducer;
use medulla_registry::family::Relative;
use medulla_registry::products::{total_verdict, Product, ProductStatus, Verdict};
use medulla_registry::search_index::index_registry;
use medulla_registry::{DonorStore, Store};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::family::{assign_rows, FamilyRow};
use crate::freqs::Frequencies;
use crate::search::{finish, hit_views, HitView, SearchOptions};

fn invalid(field: &str, reason: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn patient_weight(store: &Store, patient: &str) -> Result<Option<f64>, AppError> {
    Ok(store
        .patient(patient)?
        .ok_or_else(|| AppError::NotFound(format!("patient {patient} is not registered")))?
        .patient
        .weight_kg)
}

// ------------------------------------------------------------------ products

/// A product to store, as `medulla products add` takes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductInput {
    pub id: String,
    pub patient: String,
    pub collected: Vec<NaiveDate>,
    pub agents: Option<String>,
    pub volume_ml: Option<f64>,
    pub tnc_1e8: Option<f64>,
    pub cd34_1e6: f64,
    pub viability: Option<f64>,
    pub bags: Option<u32>,
    pub tank: Option<String>,
    pub rack: Option<String>,
    pub position: Option<String>,
    pub expires: Option<NaiveDate>,
}

/// A product with its verdict for the patient's current weight.
#[derive(Debug, Clone, Serialize)]
pub struct ProductView {
    #[serde(flatten)]
    pub product: Product,
    pub verdict: Verdict,
    pub history: Vec<medulla_registry::products::ProductChange>,
}

pub fn add_product(
    store: &mut Store,
    input: &ProductInput,
    by: &str,
    at: NaiveDateTime,
    threshold: f64,
) -> Result<ProductView, AppError> {
    if input.collected.is_empty() {
        return Err(invalid("collected", "at least one collection date"));
    }
    if !(input.cd34_1e6.is_finite() && input.cd34_1e6 >= 0.0) {
        return Err(invalid(
            "cd34",
            format!("{} is not a CD34+ count", input.cd34_1e6),
        ));
    }
    if let Some(v) = input.viability {
        if !(0.0..=100.0).contains(&v) {
            return Err(invalid("viability", format!("{v} is not a percentage")));
        }
    }
    medulla_workflow::ids::check_identifier(
        "id",
        input.id.trim(),
        medulla_workflow::ids::MAX_TYPED_ID,
    )?;
    let p = Product {
        id: input.id.trim().to_string(),
        patient: input.patient.clone(),
        collected: input.collected.clone(),
        agents: input.agents.clone(),
        volume_ml: input.volume_ml,
        tnc_1e8: input.tnc_1e8,
        cd34_1e6: input.cd34_1e6,
        viability: input.viability,
        bags: input.bags,
        tank: input.tank.clone(),
        rack: input.rack.clone(),
        position: input.position.clone(),
        expires: input.expires,
        status: ProductStatus::Stored,
    };
    store.add_product(&p, at, by)?;
    product(store, &p.id, threshold, at.date())
}

pub fn product(
    store: &Store,
    id: &str,
    threshold: f64,
    today: NaiveDate,
) -> Result<ProductView, AppError> {
    let p = store
        .product(id)?
        .ok_or_else(|| AppError::NotFound(format!("product {id} is not registered")))?;
    let weight = patient_weight(store, &p.patient)?;
    Ok(ProductView {
        verdict: p.verdict(weight, threshold, today),
        history: store.product_history(id)?,
        product: p,
    })
}

/// A patient's products and the verdict on them together.
#[derive(Debug, Clone, Serialize)]
pub struct ProductsView {
    pub patient: String,
    pub weight: Option<f64>,
    pub products: Vec<ProductView>,
    pub total: Verdict,
}

pub fn products(
    store: &Store,
    patient: &str,
    threshold: f64,
    today: NaiveDate,
) -> Result<ProductsView, AppError> {
    let weight = patient_weight(store, patient)?;
    let list = store.products_of(patient)?;
    let total = total_verdict(&list, weight, threshold, today);
    Ok(ProductsView {
        patient: patient.into(),
        weight,
        products: list
            .into_iter()
            .map(|p| ProductView {
                verdict: p.verdict(weight, threshold, today),
                history: Vec::new(),
                product: p,
            })
            .collect(),
        total,
    })
}

pub fn set_product_status(
    store: &mut Store,
    id: &str,
    status: &str,
    by: &str,
    note: &str,
    at: NaiveDateTime,
    threshold: f64,
) -> Result<ProductView, AppError> {
    let next: ProductStatus = status.parse().map_err(|e: String| invalid("status", e))?;
    store
        .set_product_status(id, next, at, by, note)
        .map_err(|e| match e {
            medulla_registry::StoreError::Status { id, reason } => AppError::Rule {
                rule: "product-lifecycle".into(),
                message: format!("product {id}: {reason}"),
            },
            other => other.into(),
        })?;
    product(store, id, threshold, at.date())
}

// ------------------------------------------------------------------ family

/// A relative to add, as `medulla family add` takes it.
#[derive(Debug, Clone, Deserialize)]
pub struct RelativeInput {
    pub patient: String,
    pub member: String,
    pub relation: String,
    /// The typing (empty: not typed yet).
    #[serde(default)]
    pub gl: String,
}

/// Add a relative of a registered patient; the typing (if any) is validated.
pub fn add_relative(
    store: &mut Store,
    reducer: &Reducer<'_>,
    input: &RelativeInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let (patient, member, relation, gl) = (
        input.patient.as_str(),
        input.member.as_str(),
        input.relation.as_str(),
        input.gl.as_str(),
    );
    let rel = medulla_family::Relation::parse(relation).map_err(|e| invalid("relation", e))?;
    if rel == medulla_family::Relation::Patient {
        return Err(invalid(
            "relation",
            "the patient is the patient record itself",
        ));
    }
    medulla_workflow::ids::check_identifier(
        "member",
        member.trim(),
        medulla_workflow::ids::MAX_TYPED_ID,
    )?;
    if member.trim().is_empty() || member == patient {
        return Err(invalid(
            "member",
            format!("{member:?} is not a relative's id"),
        ));
    }
    let gl = medulla_nomenclature::strip_prefixes(gl.trim()).into_owned();
    if !gl.is_empty() {
        reducer
            .validate(&gl)
            .map_err(|e| invalid("typing", e.to_string()))?;
    }
    store
        .put_relative(
            patient,
            &Relative {
                member: member.trim().into(),
                relation: rel.code().into(),
                gl,
                added_at: String::new(),
                added_by: by.into(),
            },
            at,
        )
        .map_err(AppError::from)
}

/// A registered patient's family, assigned.
pub fn assign_patient_family(
    store: &Store,
    reducer: &Reducer<'_>,
    patient: &str,
    freqs: Option<(&medulla_haplotypes::FrequencySet, &str)>,
) -> Result<FamilyAssignment, AppError> {
    let rec = store
        .patient(patient)?
        .ok_or_else(|| AppError::NotFound(format!("patient {patient} is not registered")))?;
    let mut rows = vec![FamilyRow {
        family: patient.into(),
        member: patient.into(),
        relation: "patient".into(),
        gl: rec.patient.hla.clone(),
        origin: format!("patient {patient}"),
    }];
    for r in store.relatives(patient)? {
        rows.push(FamilyRow {
            family: patient.into(),
            origin: format!("relative {}", r.member),
            member: r.member,
            relation: r.relation,
            gl: r.gl,
        });
    }
    let (mut out, _) = assign_rows(reducer, &rows, freqs);
    Ok(out.remove(0))
}

// ------------------------------------------------------------------ roadmap

/// One step of the roadmap.
#[derive(Debug, Clone, Serialize)]
pub struct RoadmapStep {
    pub step: &'static str,
    /// What exists at this step, in words.
    pub summary: String,
    /// The best option of the step and its grade, if any.
    pub best: Option<String>,
    pub details: serde_json::Value,
}

/// The roadmap of one patient.
#[derive(Debug, Clone, Serialize)]
pub struct Roadmap {
    pub patient: String,
    pub status: String,
    pub steps: Vec<RoadmapStep>,
    pub next_action: String,
}

/// What the national search found for the roadmap.
#[derive(Debug, Clone)]
pub struct National {
    pub searched: usize,
    pub by_mismatches: [usize; 3],
    pub best: Vec<HitView>,
    pub warnings: Vec<String>,
    /// What changed since the patient's last roadmap search.
    pub changes: Option<String>,
    /// When the search ran (`None`: never).
    pub searched_at: Option<String>,
}

/// The national step as the patient's last roadmap search left it, without searching
/// (viewing a page never runs or saves a search): the counts of the matches kept with the
/// case, or a word that it has not been searched yet.
pub fn national_as_saved(store: &Store, patient: &str) -> Result<National, AppError> {
    let saved = store.saved_search(&format!("patient-{patient}"))?;
    Ok(match saved {
        None => National {
            searched: 0,
            by_mismatches: [0; 3],
            best: Vec::new(),
            warnings: vec!["not searched yet: search the registry for this patient".into()],
            changes: None,
            searched_at: None,
        },
        Some(s) => {
            let mut by = [0usize; 3];
            for m in &s.matches {
                // the grade reads `MATCHED/OUT_OF ...`
                let mismatches = m
                    .grade
                    .split_whitespace()
                    .next()
                    .and_then(|g| g.split_once('/'))
                    .and_then(|(a, b)| Some(b.parse::<usize>().ok()? - a.parse::<usize>().ok()?));
                if let Some(slot) = mismatches.and_then(|n| by.get_mut(n)) {
                    *slot += 1;
                }
            }
            National {
                searched: 0,
                by_mismatches: by,
                best: Vec::new(),
                warnings: vec![format!(
                    "as last searched, {}: search again for the ranking",
                    s.last_run_at
                )],
                changes: Some(format!("last searched {}", s.last_run_at)),
                searched_at: Some(s.last_run_at),
            }
        }
    })
}

/// The national search of the roadmap: up to two mismatches, the best five with
/// probabilities.
pub fn national_options(
    patient: &medulla_registry::patient::Patient,
    today: NaiveDate,
) -> SearchOptions {
    let mut options = SearchOptions::new(patient.hla.clone());
    options.mismatches = 2;
    options.limit = 5;
    options.predict_top = 50;
    options.patient_population = patient.population.clone();
    options.patient_weight = patient.weight_kg.map(|w| w as f32);
    options.date = Some(today);
    options
}

/// Keep the roadmap's search with the patient's case (saved search `patient-ID`), and
/// say what changed since the last one.
pub fn keep_with_case(
    store: &mut Store,
    patient: &str,
    options: &SearchOptions,
    now: &[medulla_registry::saved_search::SavedMatch],
    at: NaiveDateTime,
) -> Result<Option<String>, AppError> {
    let name = format!("patient-{patient}");
    Ok(match store.saved_search(&name)? {
        Some(saved) => {
            let r = crate::saved::repeat(store, &saved, now, at)?;
            Some(format!(
                "since {}: {} new, {} changed, {} gone",
                saved.last_run_at,
                r.new.len(),
                r.changed.len(),
                r.gone.len()
            ))
        }
        None => {
            crate::saved::save(store, &name, options, now, at)?;
            None
        }
    })
}

/// The national step from the registry database (the command line).
pub fn national_from_db(
    store: &mut Store,
    db: &Path,
    reducer: &Reducer<'_>,
    freqs: Option<&Frequencies>,
    patient: &medulla_registry::patient::Patient,
    today: NaiveDate,
    at: NaiveDateTime,
) -> Result<National, AppError> {
    let mut catalog = ArdCatalog::new(reducer);
    let index = index_registry(db, &mut catalog, today, &mut |_| {})?;
    let options = national_options(patient, today);
    let mut request = options.to_request()?;
    request.limit = usize::MAX;
    let result = search(&index, &mut catalog, &request)?;
    let mut by = [0usize; 3];
    for h in &result.hits {
        if let Some(slot) = by.get_mut(h.mismatches as usize) {
            *slot += 1;
        }
    }
    let imputer = freqs.map(|f| f.imputer(reducer));
    let probabilities = imputer.as_ref().zip(freqs);
    let outcome = finish(result, &options, &index, probabilities, None, true);
    // the search is kept with the case: a later roadmap reports what changed
    let now = crate::saved::matches_of(store, &index, &outcome.result.hits)?;
    let changes = keep_with_case(store, &patient.id, &options, &now, at)?;
    let mut trimmed = outcome;
    trimmed.result.hits.truncate(options.limit);
    let reader: &Store = store;
    let best = hit_views(&index, &trimmed, &mut |id| {
        reader
            .donor(id)
            .ok()
            .flatten()
            .and_then(|(d, _)| d.grid.map(|g| g.to_string()))
    });
    Ok(National {
        searched: index.len(),
        by_mismatches: by,
        best,
        warnings: trimmed.warnings,
        changes,
        searched_at: Some(at.format("%Y-%m-%dT%H:%M:%S").to_string()),
    })
}

/// The patient's roadmap on `at`'s day. `national` runs the national search (from the
/// registry database, or the service's live index); `threshold` is the CD34+/kg an
/// autologous product needs.
pub fn roadmap(
    store: &mut Store,
    reducer: &Reducer<'_>,
    family_freqs: Option<(&medulla_haplotypes::FrequencySet, &str)>,
    patient_id: &str,
    threshold: f64,
    at: NaiveDateTime,
    national: impl FnOnce(&mut Store, &medulla_registry::patient::Patient) -> Result<National, AppError>,
) -> Result<Roadmap, AppError> {
    let today = at.date();
    let rec = store
        .patient(patient_id)?
        .ok_or_else(|| AppError::NotFound(format!("patient {patient_id} is not registered")))?;
    let p = rec.patient.clone();

    // 1. own cells
    let own = products(store, patient_id, threshold, today)?;
    let usable: Vec<&ProductView> = own
        .products
        .iter()
        .filter(|x| x.verdict.viable && x.verdict.in_date && x.verdict.in_store)
        .collect();
    let own_step = RoadmapStep {
        step: "own-cells",
        summary: if own.products.is_empty() {
            "no stored autologous product".into()
        } else {
            format!(
                "{} product(s), {} in store; together {}",
                own.products.len(),
                usable.len(),
                match own.total.cd34_per_kg {
                    Some(x) => format!(
                        "{x:.2} x10^6 CD34+/kg ({} the {:.1} needed)",
                        if own.total.enough { "enough:" } else { "under" },
                        threshold
                    ),
                    None => "CD34+/kg unknown (no patient weight)".into(),
                }
            )
        },
        best: usable
            .iter()
            .max_by(|a, b| a.product.cd34_1e6.total_cmp(&b.product.cd34_1e6))
            .map(|x| {
                format!(
                    "{} ({})",
                    x.product.id,
                    x.verdict
                        .cd34_per_kg
                        .map(|v| format!("{v:.2} x10^6 CD34+/kg"))
                        .unwrap_or_else(|| "CD34+/kg unknown".into())
                )
            }),
        details: serde_json::json!({
            "products": own.products.iter().map(|x| serde_json::json!({
                "id": x.product.id, "status": x.product.status,
                "cd34_per_kg": x.verdict.cd34_per_kg, "usable": x.verdict.usable,
                "reasons": x.verdict.reasons,
            })).collect::<Vec<_>>(),
            "verdict": own.total,
        }),
    };

    // 2. family
    let relatives = store.relatives(patient_id)?;
    let fam = assign_patient_family(store, reducer, patient_id, family_freqs)?;
    let mut worth: Vec<String> = relatives
        .iter()
        .filter(|r| r.gl.is_empty() && r.relation == "sibling")
        .map(|r| format!("{} (sibling: 1 in 4 chance of being identical)", r.member))
        .collect();
    if fam.status == FamilyStatus::Ambiguous {
        for r in relatives
            .iter()
            .filter(|r| r.gl.is_empty() && (r.relation == "father" || r.relation == "mother"))
        {
            worth.push(format!("{} ({}: to prove descent)", r.member, r.relation));
        }
    }
    worth.extend(
        relatives
            .iter()
            .filter(|r| r.gl.is_empty() && matches!(r.relation.as_str(), "child" | "half-sibling"))
            .map(|r| format!("{} ({}: haploidentical at best)", r.member, r.relation)),
    );
    let typed = relatives.iter().filter(|r| !r.gl.is_empty()).count();
    let family_best = fam
        .identical_siblings
        .first()
        .map(|s| format!("{s} (HLA-identical sibling, by descent)"))
        .or_else(|| {
            fam.identical_by_typing
                .first()
                .map(|s| format!("{s} (identical by typing; descent not proven)"))
        })
        .or_else(|| {
            fam.haploidentical
                .first()
                .map(|h| format!("{h} (haploidentical)"))
        });
    let fam_step = RoadmapStep {
        step: "family",
        summary: if relatives.is_empty() {
            "no relative registered".into()
        } else {
            format!(
                "{} relative(s), {typed} typed; assignment {:?}; {} identical sibling(s), {} haploidentical",
                relatives.len(),
                fam.status,
                fam.identical_siblings.len(),
                fam.haploidentical.len()
            )
            .replace("Ok", "ok")
            .replace("Ambiguous", "ambiguous")
            .replace("Inconsistent", "inconsistent")
            .replace("Recombination", "recombination")
        },
        best: family_best.clone(),
        details: serde_json::json!({
            "relatives": relatives.len(),
            "typed": typed,
            "status": fam.status,
            "identical_siblings": fam.identical_siblings,
            "identical_by_typing": fam.identical_by_typing,
            "haploidentical": fam.haploidentical,
            "worth_typing": worth,
            "notes": fam.notes,
        }),
    };

    // 3. unrelated, national
    let nat = national(store, &p)?;
    let best_hit = nat.best.first();
    let nat_step = RoadmapStep {
        step: "unrelated-national",
        summary: format!(
            "{}: {} at 0, {} at 1, {} at 2 mismatches{}",
            match (&nat.searched_at, nat.searched) {
                (None, _) => "not searched yet".to_string(),
                (Some(_), 0) => "donors kept with the case".to_string(),
                (Some(_), n) => format!("{n} donors searched"),
            },
            nat.by_mismatches[0],
            nat.by_mismatches[1],
            nat.by_mismatches[2],
            nat.changes
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        ),
        best: best_hit.map(|h| {
            format!(
                "{} ({} match{})",
                h.donor_id,
                h.matched,
                h.probabilities
                    .as_ref()
                    .map(|p| format!(", P(10/10) {:.2}", p.p_10of10))
                    .unwrap_or_default()
            )
        }),
        details: serde_json::json!({
            "donors_searched": nat.searched,
            "mismatches": {"0": nat.by_mismatches[0], "1": nat.by_mismatches[1], "2": nat.by_mismatches[2]},
            "best": nat.best,
            "warnings": nat.warnings,
            "since_last_search": nat.changes,
            "searched_at": nat.searched_at,
        }),
    };

    // 4. unrelated, international
    let partners = medulla_registry::exchange::partners(store.connection())?;
    let abroad: Vec<serde_json::Value> = store
        .requests(&medulla_registry::requests::RequestFilter {
            patient: Some(patient_id.to_string()),
            ..Default::default()
        })?
        .into_iter()
        .filter_map(|r| {
            let link = medulla_registry::exchange::request_link(store.connection(), &r.id).ok()?;
            let partner = link.partner.filter(|_| link.origin.is_none())?;
            Some(serde_json::json!({
                "request": r.id, "type": r.kind().code(), "donor": r.donor,
                "partner": partner, "state": r.state.describe(),
            }))
        })
        .collect();
    let int_step = RoadmapStep {
        step: "unrelated-international",
        summary: if partners.is_empty() {
            "no partner registry is connected yet (medulla partners add): no international \
             search possible"
                .into()
        } else {
            format!(
                "{} partner registr{} connected ({}); search them with an international \
                 search (medulla search --international); {} request(s) with partners",
                partners.len(),
                if partners.len() == 1 { "y" } else { "ies" },
                partners
                    .iter()
                    .map(|p| match &p.ion {
                        Some(ion) => format!("{} ION {ion}", p.name),
                        None => p.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                abroad.len()
            )
        },
        best: None,
        details: serde_json::json!({
            "partners": partners.iter().map(|p| serde_json::json!({"name": p.name, "ion": p.ion})).collect::<Vec<_>>(),
            "requests": abroad,
        }),
    };

    // the one next action
    let zero = nat.by_mismatches[0];
    let next_action = if own.total.usable {
        format!(
            "consider the patient's own cells: {} stored product(s) with {:.2} x10^6 CD34+/kg \
             (needs {:.1}), if an autologous transplant suits the diagnosis",
            usable.len(),
            own.total.cd34_per_kg.unwrap_or(0.0),
            threshold
        )
    } else if let Some(s) = fam.identical_siblings.first() {
        format!("work up sibling {s}: HLA-identical to the patient by descent")
    } else if let Some(s) = fam.identical_by_typing.first() {
        format!(
            "confirm sibling {s}: identical by typing, descent not proven (type both parents or \
             more siblings, then verification typing of {s})"
        )
    } else if relatives.is_empty() {
        "register and type the patient's full siblings (each has a 1 in 4 chance of being \
         HLA-identical) and parents"
            .into()
    } else if let Some(w) = worth.first() {
        format!("type {w}")
    } else if zero > 0 {
        format!(
            "request verification typing (ct) of donor {}: the best of {zero} national donor(s) \
             matched at every counted position",
            best_hit.map(|h| h.donor_id.as_str()).unwrap_or("-")
        )
    } else if nat.by_mismatches[1] > 0 {
        format!(
            "search worldwide for a fully matched donor; meanwhile request verification typing \
             of the best one-mismatch national donor {}",
            best_hit.map(|h| h.donor_id.as_str()).unwrap_or("-")
        )
    } else if let Some(h) = fam.haploidentical.first() {
        format!("search worldwide; haploidentical relative {h} is the fallback")
    } else {
        "search worldwide (foreign registries) and consider cord blood".into()
    };

    Ok(Roadmap {
        patient: patient_id.into(),
        status: rec.status.to_string(),
        steps: vec![own_step, fam_step, nat_step, int_step],
        next_action,
    })
}
