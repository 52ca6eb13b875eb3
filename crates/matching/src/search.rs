//! A search: grade the patient against every distinct typing, scan the donors, rank.

use rayon::prelude::*;

use crate::grade::{LocusGrade, MismatchCount, MismatchDirection, PositionGrade};
use crate::index::{abo_code, Packed, SearchIndex, SEARCH_LOCI};
use crate::tce::{dpb1_tce, Dpb1Tce};
use crate::typing::{ArdCatalog, PositionTyping};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("patient {locus}_{position}: {source}")]
    Typing {
        locus: &'static str,
        position: usize,
        #[source]
        source: medulla_nomenclature::TypingError,
    },
    #[error("the patient must be typed at {0} (position 1)")]
    Required(&'static str),
    /// A request that could return nothing whatever the registry holds.
    #[error("{option}: {reason}")]
    Request {
        option: &'static str,
        reason: String,
    },
    /// The search ran past its deadline and was stopped.
    #[error("the search was stopped at its deadline of {ms} ms")]
    Deadline { ms: u64 },
}

impl SearchRequest {
    /// Refuse what no donor could satisfy: an age range upside down, more mismatches than
    /// the counted loci have positions, an ABO group that does not exist.
    pub fn check(&self) -> Result<(), SearchError> {
        let bad = |option, reason: String| Err(SearchError::Request { option, reason });
        if let (Some(min), Some(max)) = (self.filters.min_age, self.filters.max_age) {
            if min > max {
                return bad(
                    "--min-age",
                    format!("{min} is above --max-age {max}: no donor can be both"),
                );
            }
        }
        let positions = 2 * self.loci.len().max(3);
        if usize::from(self.max_mismatches) > positions {
            return bad(
                "--mismatches",
                format!(
                    "{} is more than the {positions} positions of the {} loci counted",
                    self.max_mismatches,
                    self.loci.len().max(3)
                ),
            );
        }
        for a in self.filters.abo.iter().chain(&self.patient_facts.abo) {
            if crate::index::abo_code(a) == 0 {
                return bad("--abo", format!("{a:?} is not one of O, A, B, AB"));
            }
        }
        if self
            .patient_facts
            .weight_kg
            .is_some_and(|w| !(w > 0.0 && w < 500.0))
        {
            return bad(
                "--patient-weight",
                "must be a body weight in kg, above 0".into(),
            );
        }
        Ok(())
    }
}

/// Who may be returned, besides the HLA limits.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Donor age in whole years on the search date, inclusive.
    pub min_age: Option<u8>,
    pub max_age: Option<u8>,
    /// Some(true): male donors only; Some(false): female only.
    pub male: Option<bool>,
    /// Some(true): CMV-positive donors only; Some(false): negative only.
    pub cmv_positive: Option<bool>,
    /// ABO groups allowed (`O`, `A`, `B`, `AB`); empty: any.
    pub abo: Vec<String>,
    /// Registries allowed; empty: any.
    pub registries: Vec<String>,
    /// Populations allowed; empty: any.
    pub populations: Vec<String>,
    /// Also return donors that are not searchable now (unavailable, reserved, past the
    /// age limit): by default only available donors are.
    pub include_unavailable: bool,
}

/// What is known of the patient besides the typing (for ranking).
#[derive(Debug, Clone, Default)]
pub struct PatientFacts {
    pub cmv_positive: Option<bool>,
    /// ABO as written (`O`, `A`, `B`, `AB`).
    pub abo: Option<String>,
    /// Body weight, for cord unit cell doses.
    pub weight_kg: Option<f32>,
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The patient's typing at each `SEARCH_LOCI` position.
    pub patient: [[Option<String>; 2]; 6],
    pub patient_facts: PatientFacts,
    /// Loci (indices into `SEARCH_LOCI`, among A, B, C, DRB1, DQB1) that count as matches.
    pub loci: Vec<usize>,
    /// Mismatches allowed in total over `loci`.
    pub max_mismatches: u8,
    /// Mismatches allowed per locus (by `SEARCH_LOCI` index).
    pub locus_max: [u8; 6],
    /// Which mismatches count against the limits (direction at homozygous loci).
    pub count: MismatchCount,
    /// Some(true): cord units only; Some(false): adults only.
    pub cord: Option<bool>,
    pub filters: Filters,
    /// Hits returned (best first); `usize::MAX` for every match.
    pub limit: usize,
    /// Today, as days since 1970-01-01 (for ages).
    pub today: i32,
    /// When the search is stopped ([`SearchError::Deadline`]) if it has not finished;
    /// `None`: no deadline.
    pub deadline: Option<Deadline>,
}

/// A search's deadline: the instant, and the allowance it was set from (for the error).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: std::time::Instant,
    pub ms: u64,
}

impl Deadline {
    /// `ms` milliseconds from now.
    pub fn after_ms(ms: u64) -> Self {
        Deadline {
            at: std::time::Instant::now() + std::time::Duration::from_millis(ms),
            ms,
        }
    }

    fn passed(&self) -> bool {
        std::time::Instant::now() >= self.at
    }
}

/// Donors scanned between two looks at the clock (about a millisecond of work).
const DEADLINE_CHUNK: usize = 1 << 16;

impl SearchRequest {
    /// A 10/10 search (A, B, C, DRB1, DQB1) allowing `mismatches` in total, 2 per locus.
    pub fn ten_of_ten(patient: [[Option<String>; 2]; 6], mismatches: u8, today: i32) -> Self {
        SearchRequest {
            patient,
            patient_facts: PatientFacts::default(),
            loci: vec![0, 1, 2, 3, 4],
            max_mismatches: mismatches,
            locus_max: [2; 6],
            count: MismatchCount::Both,
            cord: None,
            filters: Filters::default(),
            limit: 100,
            today,
            deadline: None,
        }
    }
}

/// How a hit compares on the things ranking looks at after HLA, patient against donor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Same,
    Different,
    /// One side unknown.
    Unknown,
}

/// One ranked donor.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// Index of the donor in the search index.
    pub donor: usize,
    /// Grades at every `SEARCH_LOCI` locus (DPB1 scored, not filtered).
    pub grades: [LocusGrade; 6],
    /// Mismatches counted (in the request's direction) over the counted loci.
    pub mismatches: u8,
    /// Positions matched (certain or potential) over the counted loci, of `out_of`.
    pub matched: u8,
    pub out_of: u8,
    /// Positions whose match is only potential.
    pub potential: u8,
    /// Donor age in whole years on the search date.
    pub age: Option<u8>,
    /// A cord blood unit (else an adult donor).
    pub cord: bool,
    /// Cord units: TNC x 10^7 per kg of patient weight (none without the weight).
    pub cell_dose: Option<f32>,
    pub cmv: Comparison,
    pub abo: Comparison,
    pub male: Option<bool>,
    /// DPB1 T-cell epitope verdict (scored, not filtered).
    pub dpb1: Dpb1Tce,
    /// Match probabilities from haplotype frequencies, when they were computed.
    pub probabilities: Option<HitProbabilities>,
    /// The rank key (lower ranks first).
    pub rank_key: u64,
}

/// Match probabilities of a hit (from the match-prediction layer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HitProbabilities {
    /// P(no mismatch) at each `SEARCH_LOCI` locus the set has.
    pub p0: [Option<f64>; 6],
    pub p_10of10: f64,
    pub p_9of10: f64,
    pub p_8of8: f64,
    /// P(exactly 2 mismatches over the ten alleles).
    pub p_8of10: f64,
}

/// Rank hits again after their match probabilities are known: mismatches first, then the
/// probability that the donor is really at least as good as its grade, in 10% bands (with
/// C and DQB1 counted: P(10/10) for a 10/10, P(10/10) + P(9/10) for a 9/10, and so on;
/// else P(8/8)), then certainty (potential positions) and the rest of the rank key (age
/// or cell dose, CMV, sex, ABO). A certain match has probability 1, so certainty still
/// leads where the probabilities agree; a hit without probabilities (a typing the set
/// cannot explain) comes after those with any.
pub fn rank_with_probabilities(hits: &mut [SearchHit], loci: &[usize]) {
    let ten = loci.contains(&4);
    for h in hits.iter_mut() {
        // a hit without probabilities (typing the set cannot explain) ranks after those
        // with any
        let mm = h.mismatches;
        // a hit certain at every counted position is what its grade says, whatever a
        // frequency set makes of it (P = 1, also when the set cannot explain the typing)
        let certain = h.potential == 0;
        let slot = if certain {
            0
        } else {
            h.probabilities.map_or(UNKNOWN_BAND, |p| {
                let prob = match (ten, mm) {
                    (false, _) => p.p_8of8,
                    (true, 0) => p.p_10of10,
                    (true, 1) => p.p_10of10 + p.p_9of10,
                    (true, _) => p.p_10of10 + p.p_9of10 + p.p_8of10,
                };
                // 100% is band 0, 90-99.99% band 1, ..., under 10% band 10 (rounding noise
                // of a sum of probabilities must not drop a certain match a band)
                10 - ((prob.clamp(0.0, 1.0) + 1e-9) * 10.0).floor().min(10.0) as u64
            })
        };
        h.rank_key = (h.rank_key & !(0x1f << PROB_SHIFT)) | (slot << PROB_SHIFT);
    }
    hits.sort_by_key(|h| (h.rank_key, h.donor));
}

impl SearchHit {
    /// The match count with DPB1 added (`x/12` for a 10/10 search), when both sides are
    /// typed at DPB1.
    pub fn with_dpb1(&self) -> Option<(u8, u8)> {
        (self.dpb1 != Dpb1Tce::Unknown).then(|| {
            (
                self.matched + 2 - self.grades[5].mismatches(),
                self.out_of + 2,
            )
        })
    }

    /// Why the hit ranks where it does: the ranking criteria in order, as a coordinator
    /// reads them.
    pub fn explain(&self, loci: &[usize]) -> Vec<String> {
        let mut why = Vec::new();
        let mut mm: Vec<String> = Vec::new();
        for &l in loci {
            let g = &self.grades[l];
            for p in g.positions.iter().filter(|p| p.is_mismatch()) {
                let kind = if *p == PositionGrade::AntigenMismatch {
                    "antigen"
                } else {
                    "allele"
                };
                let dir = match g.direction() {
                    Some(MismatchDirection::GraftVersusHost) => " GvH only",
                    Some(MismatchDirection::HostVersusGraft) => " HvG only",
                    _ => "",
                };
                mm.push(format!("{kind} mm {}{dir}", SEARCH_LOCI[l]));
            }
        }
        why.push(if mm.is_empty() {
            format!("{}/{}", self.matched, self.out_of)
        } else {
            format!("{}/{}: {}", self.matched, self.out_of, mm.join(", "))
        });
        if self.potential > 0 {
            let at: Vec<&str> = loci
                .iter()
                .filter(|&&l| {
                    self.grades[l]
                        .positions
                        .contains(&PositionGrade::PotentialMatch)
                })
                .map(|&l| SEARCH_LOCI[l])
                .collect();
            why.push(format!("{} potential ({})", self.potential, at.join(" ")));
        } else {
            why.push("all certain".into());
        }
        match (self.cell_dose, self.age) {
            (Some(d), _) => why.push(format!("{d:.1}e7 TNC/kg")),
            (None, _) if self.cord => why.push("cord, cell dose ? (no patient weight)".into()),
            (None, Some(a)) => {
                let band = a / 5 * 5;
                why.push(format!("age {band}-{}", band + 4))
            }
            _ => why.push("age ?".into()),
        }
        let cmp = |name: &str, c: Comparison| match c {
            Comparison::Same => format!("{name} same"),
            Comparison::Different => format!("{name} differs"),
            Comparison::Unknown => format!("{name} ?"),
        };
        why.push(cmp("CMV", self.cmv));
        why.push(
            match self.male {
                Some(true) => "male",
                Some(false) => "female",
                None => "sex ?",
            }
            .into(),
        );
        why.push(cmp("ABO", self.abo));
        if let Some(p) = &self.probabilities {
            let text = if loci.contains(&4) {
                format!("P(10/10) {:.2}, P(9/10) {:.2}", p.p_10of10, p.p_9of10)
            } else {
                format!("P(8/8) {:.2}", p.p_8of8)
            };
            why.insert(2, text);
        }
        why
    }
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    /// Donors within the allowed mismatches (all of them, not only the `limit` returned).
    pub total: usize,
    pub scanned: usize,
    /// Loci counted (the requested ones the patient is typed at).
    pub loci: Vec<usize>,
    /// What the searcher should know about this result (an unknown filter value, cord
    /// units whose cell dose could not be judged...).
    pub warnings: Vec<String>,
}

fn compare<T: PartialEq>(a: Option<T>, b: Option<T>) -> Comparison {
    match (a, b) {
        (Some(a), Some(b)) if a == b => Comparison::Same,
        (Some(_), Some(_)) => Comparison::Different,
        _ => Comparison::Unknown,
    }
}

/// Whole years from `birth` to `today` (days since 1970).
fn age_years(birth: i32, today: i32) -> u8 {
    ((today - birth).max(0) as f64 / 365.2425)
        .floor()
        .min(255.0) as u8
}

// Rank key, most significant first: mismatches (4 bits), match-probability band (5 bits;
// 0 until probabilities are attached), potential positions (5), then age band (adults) or
// inverse cell dose (cords) in 20 bits, CMV, sex, ABO.
const MM_SHIFT: u32 = 56;
const PROB_SHIFT: u32 = 51;
const POT_SHIFT: u32 = 46;
const SECOND_SHIFT: u32 = 15;
/// The age-or-dose slot of a cord unit when the patient's weight is not known.
const CORD_WITHOUT_DOSE: u64 = 32;
/// The probability band of a hit without probabilities.
const UNKNOWN_BAND: u64 = 11;

/// The patient's positions read through `position` (a catalog, mutable or shared).
fn resolve_patient(
    request: &SearchRequest,
    mut position: impl FnMut(&str) -> Result<PositionTyping, medulla_nomenclature::TypingError>,
) -> Result<[[Option<PositionTyping>; 2]; 6], SearchError> {
    request.check()?;
    let mut patient: [[Option<PositionTyping>; 2]; 6] = Default::default();
    for (li, pair) in request.patient.iter().enumerate() {
        for (p, t) in pair.iter().enumerate() {
            if let Some(t) = t
                .as_ref()
                .filter(|t| !medulla_nomenclature::names_no_allele(t))
            {
                patient[li][p] = Some(position(t).map_err(|source| SearchError::Typing {
                    locus: SEARCH_LOCI[li],
                    position: p + 1,
                    source,
                })?);
            }
        }
    }
    Ok(patient)
}

/// Run a search.
pub fn search(
    index: &SearchIndex,
    catalog: &mut ArdCatalog<'_>,
    request: &SearchRequest,
) -> Result<SearchResult, SearchError> {
    let patient = resolve_patient(request, |t| catalog.position(t))?;
    search_resolved(index, catalog, patient, request)
}

/// Run a search with a catalog shared with other searches (a service's live index):
/// nothing is interned, so any number of searches run side by side under a read lock.
pub fn search_shared(
    index: &SearchIndex,
    catalog: &ArdCatalog<'_>,
    request: &SearchRequest,
) -> Result<SearchResult, SearchError> {
    let patient = resolve_patient(request, |t| catalog.position_shared(t))?;
    search_resolved(index, catalog, patient, request)
}

fn search_resolved(
    index: &SearchIndex,
    catalog: &ArdCatalog<'_>,
    patient: [[Option<PositionTyping>; 2]; 6],
    request: &SearchRequest,
) -> Result<SearchResult, SearchError> {
    for li in [0, 1, 3] {
        if patient[li][0].is_none() {
            return Err(SearchError::Required(SEARCH_LOCI[li]));
        }
    }
    // loci the patient is typed at count; the others cannot be judged
    let loci: Vec<usize> = request
        .loci
        .iter()
        .copied()
        .filter(|&l| l < 5 && patient[l][0].is_some())
        .collect();
    // per locus and distinct typing: mismatches and potential positions in one byte
    // (the scan looks these up at random: small tables stay in cache)
    let keys: Vec<Vec<u8>> = index.grade_keys(&patient, request.count);
    // the full grade of a locus typing, for the hits
    let grade = |l: usize, id: u32| {
        crate::grade::grade_locus(
            [patient[l][0].as_ref(), patient[l][1].as_ref()],
            index.locus_positions(l, id),
        )
    };
    // DPB1: the TCE verdict of each distinct donor DPB1 typing
    let patient_tce = [
        patient[5][0].as_ref().and_then(|t| catalog.tce_group(t)),
        patient[5][1].as_ref().and_then(|t| catalog.tce_group(t)),
    ];
    let patient_has_dpb1 = patient[5][0].is_some();
    let dpb1 = |id: u32, g: &LocusGrade| -> Dpb1Tce {
        let d = index.locus_positions(5, id);
        if !patient_has_dpb1 || d[0].is_none() {
            return Dpb1Tce::Unknown;
        }
        let donor_tce = [
            d[0].and_then(|t| catalog.tce_group(t)),
            d[1].and_then(|t| catalog.tce_group(t)),
        ];
        dpb1_tce(g.mismatches() == 0, patient_tce, donor_tce)
    };

    // scan the most selective locus first (fewest distinct typings within its limit), so
    // most donors are rejected after one lookup
    let mut scan_order = loci.clone();
    scan_order.sort_by_key(|&l| {
        let limit = request.locus_max[l].min(request.max_mismatches);
        let ok = keys[l].iter().filter(|k| *k >> 4 <= limit).count();
        (ok as f64 / keys[l].len().max(1) as f64 * 1e9) as u64
    });
    let f = &request.filters;
    let mut warnings = Vec::new();
    let mut code_set = |option: &str,
                        what: &str,
                        names: &[String],
                        find: &dyn Fn(&str) -> Vec<u16>|
     -> Option<Vec<u16>> {
        (!names.is_empty()).then(|| {
            let mut codes = Vec::new();
            for n in names {
                let found = find(n);
                if found.is_empty() {
                    warnings.push(format!(
                        "{option}: no donor of {what} {n:?} in the registry searched"
                    ));
                }
                codes.extend(found);
            }
            codes
        })
    };
    let registries = code_set("--registry", "registry", &f.registries, &|n| {
        index.registry_codes(n)
    });
    let populations = code_set("--population", "population", &f.populations, &|n| {
        index.population_codes(n)
    });
    let abo_allowed: Option<Vec<u8>> =
        (!f.abo.is_empty()).then(|| f.abo.iter().map(|a| abo_code(a)).collect());
    let patient_abo = request.patient_facts.abo.as_deref().map(abo_code);
    let patient_cmv = request.patient_facts.cmv_positive;
    let weight = request.patient_facts.weight_kg.filter(|w| *w > 0.0);
    let today = request.today;
    let cell_dose = |p: &Packed| -> Option<f32> {
        let w = weight?;
        (p.cord() && !p.tnc_1e7.is_nan()).then(|| p.tnc_1e7 / w)
    };

    // the loci in scan order with their tables and limits, in one small array the hot
    // loop walks without indirection
    let order: Vec<(usize, &[u8], u8)> = scan_order
        .iter()
        .map(|&l| (l, keys[l].as_slice(), request.locus_max[l]))
        .collect();
    let max_mismatches = request.max_mismatches;
    let scan_one = |i: usize| -> Option<(u64, u32)> {
        // the typing first: it turns most donors away, and then their facts are
        // never read
        let row = index.donor_loci(i);
        let (mut mm, mut pot) = (0u8, 0u8);
        for &(l, table, locus_max) in &order {
            let k = table[row[l] as usize];
            let (m, pt) = (k >> 4, k & 15);
            mm += m;
            if m > locus_max || mm > max_mismatches {
                return None;
            }
            pot += pt;
        }
        let p = &index.facts[i];
        if !(p.searchable() || f.include_unavailable) || request.cord.is_some_and(|c| c != p.cord())
        {
            return None;
        }
        let age = p.birth_day().map(|b| age_years(b, today));
        if f.min_age.is_some() || f.max_age.is_some() {
            let a = age?;
            if f.min_age.is_some_and(|m| a < m) || f.max_age.is_some_and(|m| a > m) {
                return None;
            }
        }
        if f.male.is_some_and(|m| p.male() != Some(m))
            || f.cmv_positive.is_some_and(|c| p.cmv_positive() != Some(c))
            || abo_allowed
                .as_ref()
                .is_some_and(|a| !a.contains(&p.abo_code()))
            || registries
                .as_ref()
                .is_some_and(|r| !r.contains(&p.registry))
            || populations
                .as_ref()
                .is_some_and(|r| !r.contains(&p.population))
        {
            return None;
        }
        let second: u64 = match cell_dose(p) {
            // higher dose first: 0.01e7/kg steps, capped
            Some(d) => (1 << 20) - 1 - ((d * 100.0).round() as u64).min((1 << 20) - 1),
            // a cord unit whose dose cannot be judged (no patient weight) comes after
            // the adult donors of the same grade, whatever their age
            None if p.cord() => CORD_WITHOUT_DOSE,
            None => age.map_or(31, |a| u64::from(a / 5).min(30)),
        };
        let cmv = u64::from(compare(patient_cmv, p.cmv_positive()) != Comparison::Same);
        let sex = u64::from(p.male() != Some(true));
        let abo = u64::from(
            compare(patient_abo, (p.abo_code() != 0).then_some(p.abo_code())) != Comparison::Same,
        );
        let key = (u64::from(mm) << MM_SHIFT)
            | (u64::from(pot.min(31)) << POT_SHIFT)
            | (second << SECOND_SHIFT)
            | (cmv << 2)
            | (sex << 1)
            | abo;
        Some((key, i as u32))
    };
    // in chunks: before each, a look at the clock (once the deadline has passed, the
    // chunks left are skipped and the search answers Deadline)
    let expired = std::sync::atomic::AtomicBool::new(false);
    let deadline = request.deadline;
    let n = index.len();
    let mut found: Vec<(u64, u32)> = (0..n.div_ceil(DEADLINE_CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| {
            use std::sync::atomic::Ordering::Relaxed;
            let stop = deadline.is_some_and(|d| expired.load(Relaxed) || d.passed());
            if stop {
                expired.store(true, Relaxed);
            }
            let range = if stop {
                0..0
            } else {
                c * DEADLINE_CHUNK..((c + 1) * DEADLINE_CHUNK).min(n)
            };
            range.filter_map(scan_one)
        })
        .collect();
    if let Some(d) = deadline.filter(|_| expired.into_inner()) {
        return Err(SearchError::Deadline { ms: d.ms });
    }
    let total = found.len();

    let limit = request.limit.min(total);
    if limit > 0 && limit < total {
        found.select_nth_unstable(limit - 1);
        found.truncate(limit);
    }
    found.sort_unstable();
    let out_of = (loci.len() * 2) as u8;
    let hits: Vec<SearchHit> = found
        .into_iter()
        .map(|(key, i)| {
            let i = i as usize;
            let p = &index.facts[i];
            let row = index.donor_loci(i);
            let grades: [LocusGrade; 6] = std::array::from_fn(|l| grade(l, row[l]));
            let mismatches = ((key >> MM_SHIFT) & 0xf) as u8;
            let all_mismatches: u8 = loci.iter().map(|&l| grades[l].mismatches()).sum();
            SearchHit {
                donor: i,
                grades,
                mismatches,
                matched: out_of - all_mismatches,
                out_of,
                potential: ((key >> POT_SHIFT) & 31) as u8,
                age: p.birth_day().map(|b| age_years(b, today)),
                cord: p.cord(),
                cell_dose: cell_dose(p),
                cmv: compare(patient_cmv, p.cmv_positive()),
                abo: compare(patient_abo, (p.abo_code() != 0).then_some(p.abo_code())),
                male: p.male(),
                dpb1: dpb1(row[5], &grades[5]),
                probabilities: None,
                rank_key: key,
            }
        })
        .collect();
    if weight.is_none() && request.cord != Some(false) {
        let cords = hits.iter().filter(|h: &&SearchHit| h.cord).count();
        if cords > 0 {
            warnings.push(format!(
                "{cords} cord unit(s) listed: their cell dose could not be judged without the patient's weight (--patient-weight); they rank after the adult donors of the same grade"
            ));
        }
    }
    Ok(SearchResult {
        hits,
        total,
        scanned: index.len(),
        loci,
        warnings,
    })
}
