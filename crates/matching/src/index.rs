//! The search index: donors as small integer records over the distinct typings of each
//! locus, so a search grades each distinct typing once and then scans integers.

use medulla_nomenclature::TypingError;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::grade::{grade_locus, LocusGrade};
use crate::typing::{ArdCatalog, PositionTyping};

/// Loci of the index, in order: five that are matched, then DPB1 (scored, not filtered).
pub const SEARCH_LOCI: [&str; 6] = ["A", "B", "C", "DRB1", "DQB1", "DPB1"];

/// What the index keeps of a donor besides the typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorFacts {
    pub id: String,
    pub cord: bool,
    /// Birth date as days since 1970-01-01 (None: unknown).
    pub birth_day: Option<i32>,
    /// Some(true) male, Some(false) female.
    pub male: Option<bool>,
    pub cmv_positive: Option<bool>,
    /// ABO as written (`O`, `A`, `B`, `AB`).
    pub abo: Option<String>,
    /// Searchable now (status and age already applied by the caller).
    pub searchable: bool,
}

/// A donor to index: facts and the typing of each `SEARCH_LOCI` position as written.
#[derive(Debug, Clone)]
pub struct IndexedDonor {
    pub facts: DonorFacts,
    pub typing: [[Option<String>; 2]; 6],
}

/// The two positions of one locus, as ids of distinct position typings.
type LocusKey = [Option<u32>; 2];

/// Donors over distinct locus typings.
pub struct SearchIndex {
    /// Distinct position typings (ARD form).
    positions: Vec<PositionTyping>,
    /// Per locus: the distinct locus typings.
    loci: Vec<Vec<LocusKey>>,
    /// Per donor: the distinct locus typing of each locus.
    donors: Vec<[u32; 6]>,
    pub facts: Vec<DonorFacts>,
    /// Donors whose typing could not be read, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl SearchIndex {
    /// Build the index; donors with an unreadable typing are skipped and listed.
    pub fn build(
        catalog: &mut ArdCatalog<'_>,
        donors: impl IntoIterator<Item = IndexedDonor>,
    ) -> Self {
        let mut position_ids: FxHashMap<PositionTyping, u32> = FxHashMap::default();
        let mut positions = Vec::new();
        let mut loci: Vec<Vec<LocusKey>> = vec![Vec::new(); 6];
        let mut locus_ids: Vec<FxHashMap<LocusKey, u32>> = vec![FxHashMap::default(); 6];
        let mut text_ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut index = SearchIndex {
            positions: Vec::new(),
            loci: Vec::new(),
            donors: Vec::new(),
            facts: Vec::new(),
            skipped: Vec::new(),
        };
        'donor: for d in donors {
            let mut row = [0u32; 6];
            for (li, pair) in d.typing.iter().enumerate() {
                let mut key: LocusKey = [None, None];
                for (p, text) in pair.iter().enumerate() {
                    let Some(text) = text else { continue };
                    let id = match text_ids.get(text.as_str()) {
                        Some(&id) => id,
                        None => {
                            let t = match catalog.position(text) {
                                Ok(t) => t,
                                Err(e) => {
                                    index
                                        .skipped
                                        .push((d.facts.id.clone(), describe(SEARCH_LOCI[li], &e)));
                                    continue 'donor;
                                }
                            };
                            let next = positions.len() as u32;
                            let id = *position_ids.entry(t.clone()).or_insert_with(|| {
                                positions.push(t);
                                next
                            });
                            text_ids.insert(text.clone(), id);
                            id
                        }
                    };
                    key[p] = Some(id);
                }
                let next = loci[li].len() as u32;
                row[li] = *locus_ids[li].entry(key).or_insert_with(|| {
                    loci[li].push(key);
                    next
                });
            }
            index.donors.push(row);
            index.facts.push(d.facts);
        }
        index.positions = positions;
        index.loci = loci;
        index
    }

    pub fn len(&self) -> usize {
        self.donors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.donors.is_empty()
    }

    /// Distinct typings per locus (what a search grades).
    pub fn distinct_per_locus(&self) -> [usize; 6] {
        let mut out = [0; 6];
        for (i, l) in self.loci.iter().enumerate() {
            out[i] = l.len();
        }
        out
    }

    /// Bytes the index holds per donor, typing and facts (approximate).
    pub fn bytes_per_donor(&self) -> usize {
        let facts: usize = self
            .facts
            .iter()
            .take(1000)
            .map(|f| {
                std::mem::size_of::<DonorFacts>()
                    + f.id.len()
                    + f.abo.as_ref().map_or(0, |a| a.len())
            })
            .sum::<usize>()
            / self.facts.len().clamp(1, 1000);
        std::mem::size_of::<[u32; 6]>() + facts
    }

    /// Grade every distinct typing of each locus against the patient's.
    pub fn grade_distinct(
        &self,
        patient: &[[Option<PositionTyping>; 2]; 6],
    ) -> Vec<Vec<LocusGrade>> {
        (0..6)
            .into_par_iter()
            .map(|li| {
                let p = [patient[li][0].as_ref(), patient[li][1].as_ref()];
                self.loci[li]
                    .iter()
                    .map(|key| {
                        let d = [
                            key[0].map(|i| &self.positions[i as usize]),
                            key[1].map(|i| &self.positions[i as usize]),
                        ];
                        grade_locus(p, d)
                    })
                    .collect()
            })
            .collect()
    }

    /// The position typings of distinct locus typing `id` of locus `li`.
    pub fn locus_positions(&self, li: usize, id: u32) -> [Option<&PositionTyping>; 2] {
        let key = self.loci[li][id as usize];
        [
            key[0].map(|i| &self.positions[i as usize]),
            key[1].map(|i| &self.positions[i as usize]),
        ]
    }

    /// The distinct locus typing ids of donor `i`.
    pub fn donor_loci(&self, i: usize) -> &[u32; 6] {
        &self.donors[i]
    }
}

fn describe(locus: &str, e: &TypingError) -> String {
    format!("{locus}: {e}")
}
