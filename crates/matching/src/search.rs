//! A search: grade the patient against every distinct typing, scan the donors, rank.

use rayon::prelude::*;

use crate::grade::{LocusGrade, PositionGrade};
use crate::index::{SearchIndex, SEARCH_LOCI};
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
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The patient's typing at each `SEARCH_LOCI` position.
    pub patient: [[Option<String>; 2]; 6],
    /// Loci (indices into `SEARCH_LOCI`, among A, B, C, DRB1, DQB1) that count as matches.
    pub loci: Vec<usize>,
    /// Mismatches allowed in total over `loci`.
    pub max_mismatches: u8,
    /// Mismatches allowed per locus (by `SEARCH_LOCI` index).
    pub locus_max: [u8; 6],
    /// Some(true): cord units only; Some(false): adults only.
    pub cord: Option<bool>,
    pub limit: usize,
    pub patient_cmv_positive: Option<bool>,
    pub patient_abo: Option<String>,
    /// Today, as days since 1970-01-01 (for age bands).
    pub today: i32,
}

impl SearchRequest {
    /// A 10/10 search (A, B, C, DRB1, DQB1) allowing `mismatches` in total, 2 per locus.
    pub fn ten_of_ten(patient: [[Option<String>; 2]; 6], mismatches: u8, today: i32) -> Self {
        SearchRequest {
            patient,
            loci: vec![0, 1, 2, 3, 4],
            max_mismatches: mismatches,
            locus_max: [2; 6],
            cord: None,
            limit: 100,
            patient_cmv_positive: None,
            patient_abo: None,
            today,
        }
    }
}

/// One ranked donor.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// Index of the donor in the search index.
    pub donor: usize,
    /// Grades at every `SEARCH_LOCI` locus (DPB1 scored, not filtered).
    pub grades: [LocusGrade; 6],
    pub mismatches: u8,
    /// Positions matched (certain or potential) over the counted loci, of `out_of`.
    pub matched: u8,
    pub out_of: u8,
    /// Positions whose match is only potential.
    pub potential: u8,
    /// Donor age band (5 years); 31 when unknown.
    pub age_band: u8,
    /// DPB1 T-cell epitope verdict (scored, not filtered).
    pub dpb1: Dpb1Tce,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    /// Donors within the allowed mismatches (all of them, not only the `limit` returned).
    pub total: usize,
    pub scanned: usize,
}

fn grade_key(g: &LocusGrade) -> (u8, u8) {
    let potential = g
        .positions
        .iter()
        .filter(|p| **p == PositionGrade::PotentialMatch)
        .count() as u8;
    (g.mismatches(), potential)
}

/// Run a search.
pub fn search(
    index: &SearchIndex,
    catalog: &mut ArdCatalog<'_>,
    request: &SearchRequest,
) -> Result<SearchResult, SearchError> {
    let mut patient: [[Option<PositionTyping>; 2]; 6] = Default::default();
    for (li, pair) in request.patient.iter().enumerate() {
        for (p, t) in pair.iter().enumerate() {
            if let Some(t) = t {
                patient[li][p] =
                    Some(catalog.position(t).map_err(|source| SearchError::Typing {
                        locus: SEARCH_LOCI[li],
                        position: p + 1,
                        source,
                    })?);
            }
        }
    }
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
    let graded = index.grade_distinct(&patient);
    // per locus and distinct typing: (mismatches, potential positions)
    let keys: Vec<Vec<(u8, u8)>> = graded
        .iter()
        .map(|l| l.iter().map(grade_key).collect())
        .collect();
    let patient_abo = request.patient_abo.as_deref();
    // DPB1: the TCE verdict of each distinct donor DPB1 typing
    let patient_tce = [
        patient[5][0].as_ref().and_then(|t| catalog.tce_group(t)),
        patient[5][1].as_ref().and_then(|t| catalog.tce_group(t)),
    ];
    let patient_has_dpb1 = patient[5][0].is_some();
    let dpb1: Vec<Dpb1Tce> = graded[5]
        .iter()
        .enumerate()
        .map(|(id, g)| {
            let d = index.locus_positions(5, id as u32);
            if !patient_has_dpb1 || d[0].is_none() {
                return Dpb1Tce::Unknown;
            }
            let donor_tce = [
                d[0].and_then(|t| catalog.tce_group(t)),
                d[1].and_then(|t| catalog.tce_group(t)),
            ];
            dpb1_tce(g.mismatches() == 0, patient_tce, donor_tce)
        })
        .collect();

    let mut found: Vec<(u64, u32)> = (0..index.len())
        .into_par_iter()
        .filter_map(|i| {
            let f = &index.facts[i];
            if !f.searchable || request.cord.is_some_and(|c| c != f.cord) {
                return None;
            }
            let row = index.donor_loci(i);
            let (mut mm, mut pot) = (0u8, 0u8);
            for &l in &loci {
                let (m, p) = keys[l][row[l] as usize];
                if m > request.locus_max[l] {
                    return None;
                }
                mm += m;
                pot += p;
            }
            if mm > request.max_mismatches {
                return None;
            }
            let age_band = f
                .birth_day
                .map(|b| (((request.today - b).max(0) as f64 / 365.25) / 5.0) as u64)
                .unwrap_or(31)
                .min(31);
            let cmv = match (request.patient_cmv_positive, f.cmv_positive) {
                (Some(p), Some(d)) if p == d => 0,
                (None, _) => 0,
                _ => 1,
            };
            let sex = u64::from(f.male != Some(true));
            let abo = match (patient_abo, f.abo.as_deref()) {
                (Some(p), Some(d)) if p == d => 0,
                (None, _) => 0,
                _ => 1,
            };
            let key = (u64::from(mm) << 20)
                | (u64::from(pot.min(31)) << 15)
                | (age_band << 10)
                | (cmv << 2)
                | (sex << 1)
                | abo;
            Some((key, i as u32))
        })
        .collect();
    let total = found.len();
    let limit = request.limit.min(total);
    if limit > 0 && limit < total {
        found.select_nth_unstable(limit - 1);
        found.truncate(limit);
    }
    found.sort_unstable();
    let out_of = (loci.len() * 2) as u8;
    let hits = found
        .into_iter()
        .map(|(key, i)| {
            let row = index.donor_loci(i as usize);
            let grades: [LocusGrade; 6] = std::array::from_fn(|l| graded[l][row[l] as usize]);
            let mismatches = ((key >> 20) & 0xff) as u8;
            let potential = ((key >> 15) & 31) as u8;
            SearchHit {
                donor: i as usize,
                grades,
                mismatches,
                matched: out_of - mismatches,
                out_of,
                potential,
                age_band: ((key >> 10) & 31) as u8,
                dpb1: dpb1[row[5] as usize],
            }
        })
        .collect();
    Ok(SearchResult {
        hits,
        total,
        scanned: index.len(),
    })
}
