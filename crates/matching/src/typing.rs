//! One position's typing at the ARD: the proteins it may be, and the antigens.

use medulla_nomenclature::{Reducer, Reduction, TypingError};
use rustc_hash::FxHashMap;

use crate::tce::TceTable;

/// Whether a position may be a null (non-expressed) allele.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expression {
    /// Every interpretation is expressed.
    Expressed,
    /// Some interpretations are null alleles, some expressed (`A*02:XX` holds `A*02:15N`).
    MaybeNull,
    /// Every interpretation is a null allele.
    Null,
}

/// A position typing reduced to ARD identities (interned), with its split-level antigens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PositionTyping {
    /// Sorted ids of the ARD proteins (P groups or P-less expressed alleles) it may be.
    pub ard: Vec<u32>,
    /// Sorted ids of the split-level serological antigens it may express.
    pub antigens: Vec<u32>,
    pub expression: Expression,
}

impl PositionTyping {
    /// Exactly one ARD protein, certainly expressed.
    pub fn is_unambiguous(&self) -> bool {
        self.ard.len() == 1 && self.expression == Expression::Expressed
    }
}

/// Reduces typings to ARD identities and interns them, so matching compares integers.
pub struct ArdCatalog<'r> {
    reducer: &'r Reducer<'r>,
    tce: TceTable,
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    cache: FxHashMap<Box<str>, PositionTyping>,
}

fn intersects(a: &[u32], b: &[u32]) -> bool {
    // a high-resolution side (one or two ids) against an XX code or serology (hundreds):
    // look the few up in the many
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() * 8 < large.len() {
        return small.iter().any(|x| large.binary_search(x).is_ok());
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    false
}

impl PositionTyping {
    /// Whether the two typings may be the same ARD protein.
    pub fn shares_ard(&self, other: &PositionTyping) -> bool {
        intersects(&self.ard, &other.ard)
    }

    /// Whether the two typings may express the same split-level antigen.
    pub fn shares_antigen(&self, other: &PositionTyping) -> bool {
        intersects(&self.antigens, &other.antigens)
    }
}

impl<'r> ArdCatalog<'r> {
    pub fn new(reducer: &'r Reducer<'r>) -> Self {
        ArdCatalog {
            reducer,
            tce: TceTable::shipped(),
            ids: FxHashMap::default(),
            names: Vec::new(),
            cache: FxHashMap::default(),
        }
    }

    /// Use another release's DPB1 TCE assignments (default: the shipped release's).
    pub fn with_tce(mut self, tce: TceTable) -> Self {
        self.tce = tce;
        self
    }

    /// The DPB1 TCE group of a position typing, when all its ARD proteins agree.
    pub fn tce_group(&self, t: &PositionTyping) -> Option<u8> {
        let names: Vec<&str> = t
            .ard
            .iter()
            .map(|&id| self.name(id).trim_end_matches('P'))
            .collect();
        if names.is_empty() {
            return None;
        }
        self.tce.group_of(&names)
    }

    /// The name behind an id (a P group, an allele or an antigen).
    /// Ids of names a shared lookup did not intern have no name here: empty.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| &**n)
    }

    /// Reduce one position's typing without changing the catalog: names it has not
    /// interned (no indexed donor carries them) get ids of their own far above the
    /// interned ones, so they match nothing indexed.
    pub fn position_shared(&self, typing: &str) -> Result<PositionTyping, TypingError> {
        if let Some(hit) = self.cache.get(typing) {
            return Ok(hit.clone());
        }
        let ids = &self.ids;
        self.compute(typing, &mut |name: &str| {
            ids.get(name).copied().unwrap_or_else(|| {
                // FNV-1a into the top of the id space
                let mut h: u32 = 0x811c_9dc5;
                for b in name.bytes() {
                    h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
                }
                0xF000_0000 | (h & 0x0FFF_FFFF)
            })
        })
    }

    /// Reduce one position's typing (allele, list, MAC, XX code, serology).
    pub fn position(&mut self, typing: &str) -> Result<PositionTyping, TypingError> {
        if let Some(hit) = self.cache.get(typing) {
            return Ok(hit.clone());
        }
        let mut interned = std::mem::take(&mut self.ids);
        let mut names = std::mem::take(&mut self.names);
        let t = self.compute(typing, &mut |name: &str| {
            if let Some(&id) = interned.get(name) {
                return id;
            }
            let id = names.len() as u32;
            names.push(name.into());
            interned.insert(name.into(), id);
            id
        });
        self.ids = interned;
        self.names = names;
        let t = t?;
        self.cache.insert(typing.into(), t.clone());
        Ok(t)
    }

    fn compute(
        &self,
        typing: &str,
        intern: &mut dyn FnMut(&str) -> u32,
    ) -> Result<PositionTyping, TypingError> {
        // one reading for every form: `HLA-` prefixes go, so the ARD names interned are
        // the same whichever way the typing was written
        let bare = medulla_nomenclature::strip_prefixes(typing);
        let p = self.reducer.reduce(&bare, Reduction::P)?;
        let (mut ard, mut nulls) = (Vec::new(), 0);
        for name in p.split('/').filter(|n| !n.is_empty()) {
            if name.ends_with('N') {
                nulls += 1;
            } else {
                ard.push(intern(name));
            }
        }
        let expression = match (ard.is_empty(), nulls > 0) {
            (true, _) => Expression::Null,
            (false, true) => Expression::MaybeNull,
            (false, false) => Expression::Expressed,
        };
        let s = self.reducer.reduce(&bare, Reduction::S)?;
        let all: Vec<&str> = s.split('/').filter(|n| !n.is_empty()).collect();
        let release = self.reducer.release();
        let mut antigens: Vec<u32> = all
            .iter()
            .filter(|a| !release.is_broad_antigen(a) || all.len() == 1)
            .map(|a| intern(a))
            .collect();
        ard.sort_unstable();
        ard.dedup();
        antigens.sort_unstable();
        antigens.dedup();
        Ok(PositionTyping {
            ard,
            antigens,
            expression,
        })
    }
}
