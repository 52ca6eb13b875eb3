//! The search index: donors as small integer records over the distinct typings of each
//! locus, so a search grades each distinct typing once and then scans integers.

use medulla_nomenclature::TypingError;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

#[cfg(test)]
use crate::grade::grade_locus;
use crate::typing::{ArdCatalog, PositionTyping};

/// Loci of the index, in order: five that are matched, then DPB1 (scored, not filtered).
pub const SEARCH_LOCI: [&str; 6] = ["A", "B", "C", "DRB1", "DQB1", "DPB1"];

/// What the index is told of a donor besides the typing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DonorFacts {
    pub id: String,
    /// Registry code (the ION or the registry's short name).
    pub registry: String,
    /// Population code (`EUR`, `AFA`, ...), when known.
    pub population: Option<String>,
    pub cord: bool,
    /// Birth date as days since 1970-01-01 (None: unknown).
    pub birth_day: Option<i32>,
    /// Some(true) male, Some(false) female.
    pub male: Option<bool>,
    pub cmv_positive: Option<bool>,
    /// ABO as written (`O`, `A`, `B`, `AB`).
    pub abo: Option<String>,
    /// Cord units: total nucleated cells, x 10^7.
    pub tnc_1e7: Option<f32>,
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

const ABO: [&str; 4] = ["O", "A", "B", "AB"];

/// The facts of one donor as the index keeps them: 16 bytes, no pointers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Packed {
    /// Days since 1970-01-01; `i32::MIN` when unknown.
    pub birth_day: i32,
    /// x 10^7 cells; NaN when unknown.
    pub tnc_1e7: f32,
    pub registry: u16,
    /// `u16::MAX` when unknown.
    pub population: u16,
    flags: u16,
}

const CORD: u16 = 1;
const SEARCHABLE: u16 = 1 << 1;
const SEX_KNOWN: u16 = 1 << 2;
const MALE: u16 = 1 << 3;
const CMV_KNOWN: u16 = 1 << 4;
const CMV_POS: u16 = 1 << 5;
const ABO_SHIFT: u16 = 6; // 3 bits: 0 unknown, 1 + index in ABO

impl Packed {
    pub fn cord(&self) -> bool {
        self.flags & CORD != 0
    }
    pub fn searchable(&self) -> bool {
        self.flags & SEARCHABLE != 0
    }
    pub fn male(&self) -> Option<bool> {
        (self.flags & SEX_KNOWN != 0).then_some(self.flags & MALE != 0)
    }
    pub fn cmv_positive(&self) -> Option<bool> {
        (self.flags & CMV_KNOWN != 0).then_some(self.flags & CMV_POS != 0)
    }
    /// 0 unknown, else 1 + index in `O, A, B, AB`.
    pub fn abo_code(&self) -> u8 {
        ((self.flags >> ABO_SHIFT) & 7) as u8
    }
    pub fn birth_day(&self) -> Option<i32> {
        (self.birth_day != i32::MIN).then_some(self.birth_day)
    }
}

/// The code of an ABO group for `Packed::abo_code` (0 when not one of O, A, B, AB).
pub(crate) fn abo_code(abo: &str) -> u8 {
    ABO.iter()
        .position(|a| a.eq_ignore_ascii_case(abo.trim()))
        .map_or(0, |i| i as u8 + 1)
}

/// Short strings (registries, populations) as small numbers.
#[derive(Default)]
struct Codes {
    names: Vec<String>,
    ids: FxHashMap<String, u16>,
}

impl Codes {
    fn code(&mut self, name: &str) -> u16 {
        if let Some(&c) = self.ids.get(name) {
            return c;
        }
        let c = u16::try_from(self.names.len()).expect("fewer than 65,535 codes");
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), c);
        c
    }
    /// Every code whose name is `name` in any letter case (`synth`, `SYNTH`).
    fn find(&self, name: &str) -> Vec<u16> {
        let name = name.trim();
        self.names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(i, _)| i as u16)
            .collect()
    }
}

/// The maps that turn typings into ids, kept so donors can be added after the build.
#[derive(Default)]
struct Interner {
    text_ids: FxHashMap<String, u32>,
    position_ids: FxHashMap<PositionTyping, u32>,
    locus_ids: Vec<FxHashMap<LocusKey, u32>>,
}

/// Donors over distinct locus typings.
pub struct SearchIndex {
    /// Distinct position typings (ARD form).
    positions: Vec<PositionTyping>,
    /// For each distinct position typing, the first text seen for it (typings that reduce
    /// to the same ARD proteins, antigens and expression share one).
    texts: Vec<Box<str>>,
    /// Per locus: the distinct locus typings.
    loci: Vec<Vec<LocusKey>>,
    /// Per locus typing: its positions as expressed (the null-allele rule and the
    /// homozygous reading of a lone position applied) and whether that is homozygous,
    /// worked out once when the typing is first seen.
    expressed: Vec<Vec<(LocusKey, bool)>>,
    /// Per donor: the distinct locus typing of each locus.
    donors: Vec<[u32; 6]>,
    pub(crate) facts: Vec<Packed>,
    /// Donor ids, end to end, and where each ends.
    id_text: String,
    id_ends: Vec<u64>,
    registries: Codes,
    populations: Codes,
    interner: Interner,
    /// Donor id -> row, built on the first incremental update.
    rows: Option<FxHashMap<Box<str>, u32>>,
    /// Donors whose typing could not be read, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl SearchIndex {
    fn empty() -> Self {
        SearchIndex {
            positions: Vec::new(),
            texts: Vec::new(),
            loci: vec![Vec::new(); 6],
            expressed: vec![Vec::new(); 6],
            donors: Vec::new(),
            facts: Vec::new(),
            id_text: String::new(),
            id_ends: Vec::new(),
            registries: Codes::default(),
            populations: Codes::default(),
            interner: Interner {
                locus_ids: vec![FxHashMap::default(); 6],
                ..Interner::default()
            },
            rows: None,
            skipped: Vec::new(),
        }
    }

    /// Build the index; donors with an unreadable typing are skipped and listed.
    pub fn build(
        catalog: &mut ArdCatalog<'_>,
        donors: impl IntoIterator<Item = IndexedDonor>,
    ) -> Self {
        let mut index = Self::empty();
        for d in donors {
            match index.typing_row(catalog, &d.typing) {
                Ok(row) => index.push(row, &d.facts),
                Err(reason) => index.skipped.push((d.facts.id, reason)),
            }
        }
        index
    }

    /// The distinct locus typings of a donor's typing, interning new ones.
    fn typing_row(
        &mut self,
        catalog: &mut ArdCatalog<'_>,
        typing: &[[Option<String>; 2]; 6],
    ) -> Result<[u32; 6], String> {
        let mut row = [0u32; 6];
        for (li, pair) in typing.iter().enumerate() {
            let mut key: LocusKey = [None, None];
            for (p, text) in pair.iter().enumerate() {
                let Some(text) = text else { continue };
                // a WHO specificity alone (Bw4) names no allele: the position is untyped
                if medulla_nomenclature::names_no_allele(text) {
                    continue;
                }
                let id = match self.interner.text_ids.get(text.as_str()) {
                    Some(&id) => id,
                    None => {
                        let t = catalog
                            .position(text)
                            .map_err(|e| describe(SEARCH_LOCI[li], &e))?;
                        let next = self.positions.len() as u32;
                        let positions = &mut self.positions;
                        let texts = &mut self.texts;
                        let id =
                            *self
                                .interner
                                .position_ids
                                .entry(t.clone())
                                .or_insert_with(|| {
                                    texts.push(text.as_str().into());
                                    positions.push(t);
                                    next
                                });
                        self.interner.text_ids.insert(text.clone(), id);
                        id
                    }
                };
                key[p] = Some(id);
            }
            let next = self.loci[li].len() as u32;
            let loci = &mut self.loci[li];
            let expressed_keys = &mut self.expressed[li];
            let positions = &self.positions;
            row[li] = *self.interner.locus_ids[li].entry(key).or_insert_with(|| {
                loci.push(key);
                expressed_keys.push(crate::grade::expressed(
                    key,
                    |i| positions[i as usize].expression == crate::typing::Expression::Null,
                    |a, b| a == b || positions[a as usize].ard == positions[b as usize].ard,
                ));
                next
            });
        }
        Ok(row)
    }

    fn pack(&mut self, f: &DonorFacts) -> Packed {
        let mut flags = 0;
        if f.cord {
            flags |= CORD;
        }
        if f.searchable {
            flags |= SEARCHABLE;
        }
        if let Some(m) = f.male {
            flags |= SEX_KNOWN | if m { MALE } else { 0 };
        }
        if let Some(c) = f.cmv_positive {
            flags |= CMV_KNOWN | if c { CMV_POS } else { 0 };
        }
        flags |= u16::from(f.abo.as_deref().map_or(0, abo_code)) << ABO_SHIFT;
        Packed {
            birth_day: f.birth_day.unwrap_or(i32::MIN),
            tnc_1e7: f.tnc_1e7.unwrap_or(f32::NAN),
            registry: self.registries.code(&f.registry),
            population: f
                .population
                .as_deref()
                .map_or(u16::MAX, |p| self.populations.code(p)),
            flags,
        }
    }

    fn push(&mut self, row: [u32; 6], f: &DonorFacts) {
        let packed = self.pack(f);
        self.donors.push(row);
        self.facts.push(packed);
        self.id_text.push_str(&f.id);
        self.id_ends.push(self.id_text.len() as u64);
        if let Some(rows) = &mut self.rows {
            rows.insert(f.id.as_str().into(), (self.donors.len() - 1) as u32);
        }
    }

    fn row_of(&mut self, id: &str) -> Option<usize> {
        if self.rows.is_none() {
            let rows = (0..self.len())
                .map(|i| (self.id(i).into(), i as u32))
                .collect();
            self.rows = Some(rows);
        }
        self.rows
            .as_ref()
            .and_then(|r| r.get(id))
            .map(|&i| i as usize)
    }

    /// Add a donor, or replace the indexed record of the same id (typing, facts, status),
    /// without a rebuild. An unreadable typing leaves the index as it was.
    pub fn upsert(
        &mut self,
        catalog: &mut ArdCatalog<'_>,
        donor: &IndexedDonor,
    ) -> Result<(), String> {
        let row = self.typing_row(catalog, &donor.typing)?;
        match self.row_of(&donor.facts.id) {
            Some(i) => {
                self.donors[i] = row;
                self.facts[i] = self.pack(&donor.facts);
            }
            None => self.push(row, &donor.facts),
        }
        Ok(())
    }

    /// Take a donor out of the search (deleted from the registry); false if not indexed.
    /// The row stays, unsearchable, until the next rebuild.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.row_of(id) {
            Some(i) => {
                self.facts[i].flags &= !SEARCHABLE;
                true
            }
            None => false,
        }
    }

    /// The id of donor `i`.
    pub fn id(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.id_ends[i - 1] as usize
        };
        &self.id_text[start..self.id_ends[i] as usize]
    }

    /// The facts of donor `i`, as they were given.
    pub fn facts(&self, i: usize) -> DonorFacts {
        let p = &self.facts[i];
        DonorFacts {
            id: self.id(i).to_string(),
            registry: self.registries.names[p.registry as usize].clone(),
            population: (p.population != u16::MAX)
                .then(|| self.populations.names[p.population as usize].clone()),
            cord: p.cord(),
            birth_day: p.birth_day(),
            male: p.male(),
            cmv_positive: p.cmv_positive(),
            abo: match p.abo_code() {
                0 => None,
                c => Some(ABO[c as usize - 1].to_string()),
            },
            tnc_1e7: (!p.tnc_1e7.is_nan()).then_some(p.tnc_1e7),
            searchable: p.searchable(),
        }
    }

    /// Codes of registries / populations by name (None: no donor has it).
    /// The codes of a registry, its name in any letter case.
    pub(crate) fn registry_codes(&self, name: &str) -> Vec<u16> {
        self.registries.find(name)
    }
    /// The codes of a population, its name in any letter case.
    pub(crate) fn population_codes(&self, name: &str) -> Vec<u16> {
        self.populations.find(name)
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

    /// Bytes the index holds per donor: typing row, packed facts and id.
    pub fn bytes_per_donor(&self) -> usize {
        let n = self.len().max(1);
        std::mem::size_of::<[u32; 6]>()
            + std::mem::size_of::<Packed>()
            + std::mem::size_of::<u64>()
            + self.id_text.len().div_ceil(n)
    }

    /// What the scan needs of every distinct locus typing, in one byte: the mismatches
    /// counted (high four bits) and the potential positions (low four). Each distinct
    /// position typing is graded once against each patient position, and a locus
    /// typing's key is read from a table of every combination of its four position
    /// grades: there are far fewer positions than pairs.
    pub fn grade_keys(
        &self,
        patient: &[[Option<PositionTyping>; 2]; 6],
        count: crate::grade::MismatchCount,
    ) -> Vec<Vec<u8>> {
        use crate::grade::{choose_pairing, expressed, grade_position, PositionGrade};
        use crate::typing::Expression;
        (0..6)
            .into_par_iter()
            .map(|li| {
                let (p, patient_homozygous) = expressed(
                    [patient[li][0].as_ref(), patient[li][1].as_ref()],
                    |x| x.expression == Expression::Null,
                    |a, b| a.ard == b.ard,
                );
                let positions = &self.positions;
                let grade_of = |c: u8| match c {
                    0 => PositionGrade::AlleleMatch,
                    1 => PositionGrade::PotentialMatch,
                    2 => PositionGrade::AntigenMatchAlleleMismatch,
                    _ => PositionGrade::AntigenMismatch,
                };
                // the key of every combination of the four position grades (straight and
                // crossed) and the donor's homozygosity, worked out once: a locus typing
                // is then four memo reads and one table read
                let table: Vec<u8> = (0..512usize)
                    .map(|i| {
                        let g = |shift: usize| grade_of(((i >> shift) & 3) as u8);
                        let lg = choose_pairing(
                            [g(0), g(2)],
                            [g(4), g(6)],
                            patient_homozygous,
                            i >> 8 == 1,
                        );
                        let potential = lg
                            .positions
                            .iter()
                            .filter(|x| **x == PositionGrade::PotentialMatch)
                            .count() as u8;
                        lg.mismatches_counted(count) << 4 | potential
                    })
                    .collect();
                // grades of each position typing against patient positions 1 and 2 (+1;
                // 0 = not yet)
                let mut memo = [vec![0u8; positions.len()], vec![0u8; positions.len()]];
                let potential = PositionGrade::PotentialMatch as usize;
                self.expressed[li]
                    .iter()
                    .map(|&(d, donor_homozygous)| {
                        let mut g = |pi: usize, dj: Option<u32>| -> usize {
                            match (p[pi], dj) {
                                (Some(pt), Some(id)) => {
                                    let slot = &mut memo[pi][id as usize];
                                    if *slot == 0 {
                                        *slot =
                                            grade_position(Some(pt), Some(&positions[id as usize]))
                                                as u8
                                                + 1;
                                    }
                                    usize::from(*slot - 1)
                                }
                                _ => potential,
                            }
                        };
                        let i = g(0, d[0])
                            | g(1, d[1]) << 2
                            | g(0, d[1]) << 4
                            | g(1, d[0]) << 6
                            | usize::from(donor_homozygous) << 8;
                        table[i]
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

    /// The typing of donor `i` at each `SEARCH_LOCI` position, as text (the first spelling
    /// the index saw of each distinct position typing).
    pub fn donor_typing(&self, i: usize) -> [[Option<&str>; 2]; 6] {
        let row = &self.donors[i];
        std::array::from_fn(|l| {
            let key = self.loci[l][row[l] as usize];
            [
                key[0].map(|p| &*self.texts[p as usize]),
                key[1].map(|p| &*self.texts[p as usize]),
            ]
        })
    }

    /// The distinct locus typing ids of donor `i`.
    pub fn donor_loci(&self, i: usize) -> &[u32; 6] {
        &self.donors[i]
    }
}

fn describe(locus: &str, e: &TypingError) -> String {
    format!("{locus}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use medulla_nomenclature::{MacTable, Reducer, Release};

    /// The grades put together from per-position grades are those `grade_locus` gives
    /// for every locus typing: nulls, XX codes, MACs, serology, single positions.
    #[test]
    fn distinct_grades_agree_with_grading_each_locus() {
        let (release, macs) = (Release::shipped(), MacTable::shipped());
        let reducer = Reducer::new(&release, &macs);
        let mut catalog = ArdCatalog::new(&reducer);
        let a = [
            "A*01:01",
            "A*02:01",
            "A*02:XX",
            "A*02:AB",
            "A2",
            "A*01:01:01:02N",
            "A*24:02",
            "A*24:09N",
            "A9",
            "A*11:01/A*11:02",
        ];
        let b = ["B*08:01", "B*44:02", "B*44:XX", "B12", "B*07:02", "B*35:AH"];
        let mut donors = Vec::new();
        for (i, (x, y)) in a
            .iter()
            .flat_map(|x| a.iter().map(move |y| (x, y)))
            .enumerate()
        {
            let mut typing: [[Option<String>; 2]; 6] = Default::default();
            typing[0] = [Some(x.to_string()), (i % 7 != 0).then(|| y.to_string())];
            typing[1] = [
                Some(b[i % b.len()].to_string()),
                Some(b[(i / 3) % b.len()].to_string()),
            ];
            typing[3] = [Some("DRB1*03:01".into()), None];
            donors.push(IndexedDonor {
                facts: DonorFacts {
                    id: format!("D{i}"),
                    searchable: true,
                    ..DonorFacts::default()
                },
                typing,
            });
        }
        let index = SearchIndex::build(&mut catalog, donors);
        for (p1, p2) in [
            ("A*01:01", Some("A*02:01")),
            ("A*02:01", None),
            ("A*01:01:01:02N", Some("A*24:02")),
            ("A*02:XX", Some("A9")),
        ] {
            let mut patient: [[Option<PositionTyping>; 2]; 6] = Default::default();
            patient[0] = [
                Some(catalog.position(p1).unwrap()),
                p2.map(|t| catalog.position(t).unwrap()),
            ];
            patient[1] = [Some(catalog.position("B*08:01").unwrap()), None];
            for li in 0..6 {
                let p = [patient[li][0].as_ref(), patient[li][1].as_ref()];
                for id in 0..index.loci[li].len() {
                    let want = grade_locus(p, index.locus_positions(li, id as u32));
                    let potential = want
                        .positions
                        .iter()
                        .filter(|g| **g == crate::grade::PositionGrade::PotentialMatch)
                        .count() as u8;
                    for count in [
                        crate::grade::MismatchCount::Both,
                        crate::grade::MismatchCount::GraftVersusHost,
                        crate::grade::MismatchCount::HostVersusGraft,
                    ] {
                        let key = index.grade_keys(&patient, count)[li][id];
                        assert_eq!(
                            key,
                            want.mismatches_counted(count) << 4 | potential,
                            "locus {li} typing {id} for {p1}+{p2:?}"
                        );
                    }
                }
            }
        }
    }
}
