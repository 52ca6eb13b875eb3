//! The search use case: a search's options (as the CLI's flags and the API's JSON fields
//! carry them), read into a matching request the one way every interface shares, run with
//! match probabilities, and the ranked hits as a coordinator reads them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use medulla_matching::{
    rank_with_probabilities, Dpb1Tce, Filters, LocusGrade, MismatchCount, MismatchDirection,
    PatientFacts, PositionGrade, SearchHit, SearchIndex, SearchRequest, SearchResult, SEARCH_LOCI,
};
use medulla_prediction::Imputer;
use medulla_registry::search_index::day_number;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::freqs::{attach_probabilities, DistributionCache, Frequencies};

/// Which mismatches count against the limits at homozygous loci.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CountMismatches {
    #[default]
    Both,
    Gvh,
    Hvg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DonorKind {
    Adult,
    Cord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SexChoice {
    #[serde(rename = "M", alias = "m")]
    M,
    #[serde(rename = "F", alias = "f")]
    F,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CmvChoice {
    #[serde(alias = "POS", alias = "Pos")]
    Pos,
    #[serde(alias = "NEG", alias = "Neg")]
    Neg,
}

/// A list as JSON carries it (`["A", "B"]`) or as the command line writes it (`"A,B"`).
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<String>),
        One(String),
    }
    Ok(match List::deserialize(d)? {
        List::Many(v) => v,
        List::One(s) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
    })
}

/// Per-locus limits as an object (`{"A": 1}`), a list (`["A=1"]`) or the command line's
/// `"A=1,DRB1=0"`.
fn locus_limits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u8>, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Limits {
        Map(BTreeMap<String, u8>),
        Many(Vec<String>),
        One(String),
    }
    let specs = match Limits::deserialize(d)? {
        Limits::Map(m) => return Ok(m),
        Limits::Many(v) => v,
        Limits::One(s) => s.split(',').map(str::to_string).collect(),
    };
    let mut out = BTreeMap::new();
    for spec in specs.iter().map(|x| x.trim()).filter(|x| !x.is_empty()) {
        let (l, n) = spec
            .split_once('=')
            .ok_or_else(|| D::Error::custom(format!("{spec:?} is not LOCUS=N")))?;
        let n: u8 = n
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("{spec:?}: {n:?} is not a number")))?;
        out.insert(l.trim().to_string(), n);
    }
    Ok(out)
}

fn default_loci() -> Vec<String> {
    ["A", "B", "C", "DRB1", "DQB1"].map(String::from).to_vec()
}
fn default_limit() -> usize {
    20
}
fn default_predict_top() -> usize {
    1000
}

/// A search's options: the flags of `medulla search` as snake_case fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchOptions {
    /// The patient's typing as a GL String (any form the nomenclature reads).
    pub patient: String,
    /// Mismatches allowed in total.
    #[serde(default)]
    pub mismatches: u8,
    /// Mismatches allowed per locus (`{"A": 1, "DRB1": 0}`, or `"A=1,DRB1=0"`; default
    /// 2 each).
    #[serde(default, deserialize_with = "locus_limits")]
    #[schema(value_type = BTreeMap<String, u8>)]
    pub locus_mismatches: BTreeMap<String, u8>,
    /// Loci that count (A, B, DRB1 always; C and DQB1 optional); a list or `"A,B,C"`.
    #[serde(default = "default_loci", deserialize_with = "list")]
    pub loci: Vec<String>,
    #[serde(default)]
    pub count_mismatches: CountMismatches,
    pub donor_type: Option<DonorKind>,
    pub patient_cmv: Option<CmvChoice>,
    /// O, A, B or AB (either case).
    pub patient_abo: Option<String>,
    /// kg, for cord cell doses.
    pub patient_weight: Option<f32>,
    pub min_age: Option<u8>,
    pub max_age: Option<u8>,
    pub sex: Option<SexChoice>,
    pub cmv: Option<CmvChoice>,
    /// Donor ABO groups allowed (a list or `"O,A"`).
    #[serde(default, deserialize_with = "list")]
    pub abo: Vec<String>,
    /// Registry codes (either case; a list or `"R1,R2"`).
    #[serde(default, deserialize_with = "list")]
    pub registry: Vec<String>,
    /// Population codes (either case; a list or `"EUR,AFA"`).
    #[serde(default, deserialize_with = "list")]
    pub population: Vec<String>,
    #[serde(default)]
    pub include_unavailable: bool,
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// Population of the patient for match probabilities (default: the set's mean).
    pub patient_population: Option<String>,
    /// Probabilities are computed for this many of the best hits.
    #[serde(default = "default_predict_top")]
    pub predict_top: usize,
    #[serde(default)]
    pub no_probabilities: bool,
    /// Send the search to every partner registry too and merge their hits into one
    /// ranking (the service and `medulla search --international`).
    #[serde(default)]
    pub international: bool,
    /// Date of the search (ages, lapsing statuses); default today.
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<NaiveDate>,
}

impl SearchOptions {
    pub fn new(patient: impl Into<String>) -> Self {
        SearchOptions {
            patient: patient.into(),
            mismatches: 0,
            locus_mismatches: BTreeMap::new(),
            loci: default_loci(),
            count_mismatches: CountMismatches::Both,
            donor_type: None,
            patient_cmv: None,
            patient_abo: None,
            patient_weight: None,
            min_age: None,
            max_age: None,
            sex: None,
            cmv: None,
            abo: Vec::new(),
            registry: Vec::new(),
            population: Vec::new(),
            include_unavailable: false,
            limit: default_limit(),
            patient_population: None,
            predict_top: default_predict_top(),
            no_probabilities: false,
            international: false,
            date: None,
        }
    }

    /// The day the search is for.
    pub fn today(&self) -> NaiveDate {
        self.date
            .unwrap_or_else(|| chrono::Local::now().date_naive())
    }

    /// The matching request these options stand for; every value checked, with the field
    /// and the reason when it cannot be used.
    pub fn to_request(&self) -> Result<SearchRequest, AppError> {
        let invalid = |field: &str, reason: String| AppError::Invalid {
            field: field.into(),
            reason,
        };
        let caps = crate::caps::Caps::get();
        crate::caps::Caps::check("limit", self.limit, "limit", caps.limit)?;
        crate::caps::Caps::check(
            "predict_top",
            self.predict_top,
            "predict_top",
            caps.predict_top,
        )?;
        let patient = parse_patient(&self.patient)?;
        let mut locus_max = [2u8; 6];
        for (l, n) in &self.locus_mismatches {
            let li = SEARCH_LOCI
                .iter()
                .position(|x| x.eq_ignore_ascii_case(l.trim()))
                .ok_or_else(|| invalid("locus_mismatches", format!("unknown locus {l:?}")))?;
            locus_max[li] = *n;
        }
        let mut loci = Vec::new();
        for l in &self.loci {
            match SEARCH_LOCI[..5]
                .iter()
                .position(|x| x.eq_ignore_ascii_case(l.trim()))
            {
                Some(i) => loci.push(i),
                None => {
                    return Err(invalid(
                        "loci",
                        format!("{l:?} is not one of A, B, C, DRB1, DQB1"),
                    ))
                }
            }
        }
        for required in [0, 1, 3] {
            if !loci.contains(&required) {
                loci.push(required);
            }
        }
        loci.sort_unstable();
        loci.dedup();
        let upper = |a: &String| a.trim().to_ascii_uppercase();
        let request = SearchRequest {
            patient,
            patient_facts: PatientFacts {
                cmv_positive: self.patient_cmv.map(|c| c == CmvChoice::Pos),
                abo: self.patient_abo.as_ref().map(upper),
                weight_kg: self.patient_weight,
            },
            loci,
            max_mismatches: self.mismatches,
            locus_max,
            count: match self.count_mismatches {
                CountMismatches::Both => MismatchCount::Both,
                CountMismatches::Gvh => MismatchCount::GraftVersusHost,
                CountMismatches::Hvg => MismatchCount::HostVersusGraft,
            },
            cord: self.donor_type.map(|t| t == DonorKind::Cord),
            filters: Filters {
                min_age: self.min_age,
                max_age: self.max_age,
                male: self.sex.map(|s| s == SexChoice::M),
                cmv_positive: self.cmv.map(|c| c == CmvChoice::Pos),
                abo: self.abo.iter().map(upper).collect(),
                registries: self.registry.clone(),
                populations: self.population.clone(),
                include_unavailable: self.include_unavailable,
            },
            limit: self.limit,
            today: day_number(self.today()),
            deadline: Some(medulla_matching::Deadline::after_ms(
                crate::caps::Caps::get().search_ms,
            )),
        };
        request.check()?;
        Ok(request)
    }
}

/// The patient's typing by search locus, read as every command reads a typing (`HLA-`
/// prefixes, serology, MACs, XX codes, lists). Loci search does not grade (DRB3/4/5,
/// DQA1...) are left out, and said in the returned notes.
pub fn parse_patient(gl: &str) -> Result<[[Option<String>; 2]; 6], AppError> {
    let invalid = |reason: String| AppError::Invalid {
        field: "patient".into(),
        reason,
    };
    let mut patient: [[Option<String>; 2]; 6] = Default::default();
    let blocks = medulla_nomenclature::split_loci(gl).map_err(|e| invalid(e.to_string()))?;
    if blocks.is_empty() {
        return Err(invalid("the typing is empty".into()));
    }
    for block in blocks {
        let Some(li) = SEARCH_LOCI.iter().position(|l| *l == block.locus) else {
            continue;
        };
        if block.copies.is_empty() {
            return Err(invalid(format!(
                "{:?}: genotype lists (|) are not searched; give the two copies",
                block.text
            )));
        }
        for (p, c) in block.copies.iter().enumerate() {
            patient[li][p] = Some(c.clone());
        }
    }
    Ok(patient)
}

/// Loci of a patient typing that search does not grade.
pub fn ungraded_loci(gl: &str) -> Vec<String> {
    medulla_nomenclature::split_loci(gl)
        .map(|b| {
            b.into_iter()
                .filter(|b| !SEARCH_LOCI.contains(&b.locus.as_str()))
                .map(|b| b.locus)
                .collect()
        })
        .unwrap_or_default()
}

/// A search's result with the notes a searcher should read.
pub struct SearchOutcome {
    pub result: SearchResult,
    /// Warnings: unknown filter values, cords without dose, a set that explains little.
    pub warnings: Vec<String>,
    /// The patient is typed at each search locus.
    pub patient_typed: [bool; 6],
}

/// Put probabilities on the best hits and rank again (the options' `predict_top`), then
/// keep the `limit` best.
pub fn finish(
    mut result: SearchResult,
    options: &SearchOptions,
    index: &SearchIndex,
    probabilities: Option<(&Imputer<'_>, &Frequencies)>,
    cache: Option<&DistributionCache>,
    keep_all: bool,
) -> SearchOutcome {
    let mut warnings = std::mem::take(&mut result.warnings);
    for l in ungraded_loci(&options.patient) {
        warnings.push(format!(
            "patient: locus {l} is not graded by search (A, B, C, DRB1, DQB1, DPB1); left out"
        ));
    }
    if let (Some((imputer, freqs)), false) = (probabilities, options.no_probabilities) {
        let n = options
            .predict_top
            .max(options.limit)
            .min(result.hits.len());
        let attached = attach_probabilities(
            imputer,
            index,
            &mut result.hits[..n],
            &options.patient,
            options.patient_population.as_deref(),
            cache,
        );
        match &attached.patient_error {
            Some(e) => warnings.push(format!(
                "match probabilities: patient: {e}; ranked without them"
            )),
            None => {
                rank_with_probabilities(&mut result.hits[..n], &result.loci);
                if let Some(w) = freqs.unrepresented_warning(attached.unexplained, attached.hits) {
                    warnings.push(w);
                } else if attached.unexplained > 0 {
                    warnings.push(format!(
                        "match probabilities: {} of {} donors have typings no haplotype pair of the set explains",
                        attached.unexplained, attached.hits
                    ));
                }
            }
        }
    }
    if !keep_all {
        result.hits.truncate(options.limit);
    }
    let patient = parse_patient(&options.patient).unwrap_or_default();
    SearchOutcome {
        result,
        warnings,
        patient_typed: std::array::from_fn(|l| patient[l][0].is_some()),
    }
}

/// The per-position grade letters of a locus: M allele match, P potential, a antigen
/// match / allele mismatch, X antigen mismatch.
pub fn grade_code(g: &LocusGrade) -> String {
    g.positions
        .iter()
        .map(|p| match p {
            PositionGrade::AlleleMatch => 'M',
            PositionGrade::PotentialMatch => 'P',
            PositionGrade::AntigenMatchAlleleMismatch => 'a',
            PositionGrade::AntigenMismatch => 'X',
        })
        .collect()
}

pub fn tce_code(t: Dpb1Tce) -> &'static str {
    match t {
        Dpb1Tce::Matched => "",
        Dpb1Tce::Permissive => "p",
        Dpb1Tce::NonPermissiveGvh => "G",
        Dpb1Tce::NonPermissiveHvg => "H",
        Dpb1Tce::Unknown => "?",
    }
}

pub fn tce_name(t: Dpb1Tce) -> &'static str {
    match t {
        Dpb1Tce::Matched => "matched",
        Dpb1Tce::Permissive => "permissive",
        Dpb1Tce::NonPermissiveGvh => "non-permissive (graft-versus-host)",
        Dpb1Tce::NonPermissiveHvg => "non-permissive (host-versus-graft)",
        Dpb1Tce::Unknown => "unknown",
    }
}

pub fn grade_name(p: &PositionGrade) -> &'static str {
    match p {
        PositionGrade::AlleleMatch => "allele match",
        PositionGrade::PotentialMatch => "potential match",
        PositionGrade::AntigenMatchAlleleMismatch => "antigen match, allele mismatch",
        PositionGrade::AntigenMismatch => "antigen mismatch",
    }
}

pub fn direction_name(d: MismatchDirection) -> &'static str {
    match d {
        MismatchDirection::Bidirectional => "bidirectional",
        MismatchDirection::GraftVersusHost => "graft-versus-host",
        MismatchDirection::HostVersusGraft => "host-versus-graft",
    }
}

/// One locus of a hit: the grade per position and the mismatch direction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocusView {
    /// Letters per position (`MM`, `MX`...), or `-` when untyped on a side.
    pub grade: String,
    pub positions: Vec<String>,
    pub mismatches: u8,
    pub direction: Option<String>,
    pub crossed: bool,
}

/// Match probabilities of a hit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProbabilityView {
    pub p_10of10: f64,
    pub p_9of10: f64,
    pub p_8of8: f64,
    /// P(no mismatch) per locus the set has.
    pub p0: BTreeMap<String, f64>,
}

/// One ranked donor with every column a coordinator reads (no identity: search facts
/// only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HitView {
    pub rank: usize,
    pub donor_id: String,
    /// The donor's GRID, when the registry holds one.
    pub grid: Option<String>,
    pub donor_type: String,
    /// The registry the donor comes from: its registry code, or in an international
    /// search the ION of the registry that holds the donor.
    pub registry: String,
    pub population: Option<String>,
    pub age: Option<u8>,
    pub sex: Option<String>,
    pub cmv: Option<String>,
    pub abo: Option<String>,
    /// Positions matched of those counted (`9/10`).
    #[serde(rename = "match")]
    pub matched: String,
    pub match_with_dpb1: Option<String>,
    pub mismatches: u8,
    pub potential: u8,
    /// Grades per locus: A, B, C, DRB1, DQB1, DPB1.
    pub loci: BTreeMap<String, LocusView>,
    pub dpb1_tce: String,
    pub cell_dose_tnc_1e7_per_kg: Option<f32>,
    pub probabilities: Option<ProbabilityView>,
    /// Why the hit ranks where it does, the ranking criteria in order.
    pub explain: String,
    /// The engine's rank key (lower ranks first): hits of several registries are merged
    /// into one ranking by it.
    #[serde(default)]
    pub rank_key: u64,
}

/// The letters of one locus, `-` when the donor or the patient is untyped there.
fn locus_cell(index: &SearchIndex, patient_typed: &[bool; 6], h: &SearchHit, l: usize) -> String {
    let donor_typed = index.donor_typing(h.donor)[l].iter().any(Option::is_some);
    if !donor_typed || !patient_typed[l] {
        return "-".into();
    }
    let mut g = grade_code(&h.grades[l]);
    if l == 5 {
        g.push_str(tce_code(h.dpb1));
    }
    g
}

/// The hits as views, in rank order; `grid` looks up a donor's GRID.
pub fn hit_views(
    index: &SearchIndex,
    outcome: &SearchOutcome,
    grid: &mut dyn FnMut(&str) -> Option<String>,
) -> Vec<HitView> {
    let result = &outcome.result;
    result
        .hits
        .iter()
        .enumerate()
        .map(|(rank, h)| {
            let f = index.facts(h.donor);
            HitView {
                rank: rank + 1,
                grid: grid(&f.id),
                donor_id: f.id,
                donor_type: if f.cord { "cord" } else { "adult" }.into(),
                registry: f.registry,
                population: f.population,
                age: h.age,
                sex: f.male.map(|m| if m { "M" } else { "F" }.into()),
                cmv: f.cmv_positive.map(|c| if c { "pos" } else { "neg" }.into()),
                abo: f.abo,
                matched: format!("{}/{}", h.matched, h.out_of),
                match_with_dpb1: h.with_dpb1().map(|(m, o)| format!("{m}/{o}")),
                mismatches: h.mismatches,
                potential: h.potential,
                loci: SEARCH_LOCI
                    .iter()
                    .enumerate()
                    .map(|(l, name)| {
                        let g = &h.grades[l];
                        (
                            name.to_string(),
                            LocusView {
                                grade: locus_cell(index, &outcome.patient_typed, h, l),
                                positions: g
                                    .positions
                                    .iter()
                                    .map(|p| grade_name(p).to_string())
                                    .collect(),
                                mismatches: g.mismatches(),
                                direction: g.direction().map(|d| direction_name(d).to_string()),
                                crossed: g.crossed,
                            },
                        )
                    })
                    .collect(),
                dpb1_tce: tce_name(h.dpb1).into(),
                cell_dose_tnc_1e7_per_kg: h.cell_dose,
                probabilities: h.probabilities.map(|p| ProbabilityView {
                    p_10of10: p.p_10of10,
                    p_9of10: p.p_9of10,
                    p_8of8: p.p_8of8,
                    p0: SEARCH_LOCI
                        .iter()
                        .zip(p.p0)
                        .filter_map(|(l, v)| v.map(|v| (l.to_string(), v)))
                        .collect(),
                }),
                explain: h.explain(&result.loci).join("; "),
                rank_key: h.rank_key,
            }
        })
        .collect()
}

pub use medulla_registry::csv_format::spreadsheet_cell;

/// The grade summary a stored search keeps per donor.
pub fn grade_summary(h: &SearchHit) -> String {
    let g: Vec<String> = h.grades.iter().map(grade_code).collect();
    format!("{}/{} {}", h.matched, h.out_of, g.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENT: &str = "A*01:01+A*02:01^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01";

    #[test]
    fn csv_cells_a_spreadsheet_would_evaluate_are_quoted() {
        for (cell, out) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-", "-"),
            ("-0.5", "-0.5"),
            ("NL-1", "NL-1"),
            ("10/10", "10/10"),
        ] {
            assert_eq!(spreadsheet_cell(cell.to_string()), out, "{cell:?}");
        }
    }

    #[test]
    fn lists_and_limits_read_as_json_or_as_the_command_line_writes_them() {
        for body in [
            serde_json::json!({"patient": PATIENT, "loci": ["A", "B", "drb1"], "locus_mismatches": {"A": 1}, "population": ["EUR"], "abo": ["o", "A"]}),
            serde_json::json!({"patient": PATIENT, "loci": "A,B,DRB1", "locus_mismatches": "A=1", "population": "EUR", "abo": "o,A"}),
            serde_json::json!({"patient": PATIENT, "loci": ["A", "B", "DRB1"], "locus_mismatches": ["A=1"], "population": "EUR", "abo": ["O", "a"]}),
        ] {
            let o: SearchOptions = serde_json::from_value(body.clone()).unwrap();
            let r = o.to_request().unwrap();
            assert_eq!(r.loci, [0, 1, 3], "{body}");
            assert_eq!(r.locus_max, [1, 2, 2, 2, 2, 2], "{body}");
            assert_eq!(r.filters.populations, ["EUR"]);
            assert_eq!(r.filters.abo, ["O", "A"]);
        }
        let bad: Result<SearchOptions, _> = serde_json::from_value(
            serde_json::json!({"patient": PATIENT, "locus_mismatches": "A:1"}),
        );
        assert!(bad.unwrap_err().to_string().contains("is not LOCUS=N"));
        let o = SearchOptions {
            loci: vec!["A".into(), "Q".into()],
            ..SearchOptions::new(PATIENT)
        };
        match o.to_request() {
            Err(AppError::Invalid { field, reason }) => {
                assert_eq!(field, "loci");
                assert!(reason.contains("\"Q\""), "{reason}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
