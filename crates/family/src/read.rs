//! Typings read for family assignment: per locus, each position as the set of two-field
//! ARD (lgx) names it may be.

use medulla_nomenclature::{Reducer, Reduction};
use rustc_hash::FxHashMap;

/// The loci assigned, in the order haplotypes are written.
pub const FAMILY_LOCI: [&str; 11] = [
    "A", "C", "B", "DRB1", "DQB1", "DPB1", "DRB3", "DRB4", "DRB5", "DQA1", "DPA1",
];

/// Allele names as small numbers.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), i);
        i
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// The two positions of one locus, each a sorted set of allele ids (a single position
/// given counts for both).
pub type LocusSets = [Vec<u32>; 2];

/// A member's typing: per locus of [`FAMILY_LOCI`], the positions or `None` (untyped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyTyping {
    pub loci: [Option<LocusSets>; 11],
}

impl FamilyTyping {
    pub fn is_empty(&self) -> bool {
        self.loci.iter().all(Option::is_none)
    }
}

/// Reads GL Strings into [`FamilyTyping`]s through the nomenclature.
pub struct TypingReader<'r> {
    reducer: &'r Reducer<'r>,
    pub interner: Interner,
}

impl<'r> TypingReader<'r> {
    pub fn new(reducer: &'r Reducer<'r>) -> Self {
        TypingReader {
            reducer,
            interner: Interner::default(),
        }
    }

    /// The two-field ARD names a typing of one position may be.
    pub fn position(&mut self, text: &str) -> Result<Vec<u32>, String> {
        let reduced = self
            .reducer
            .reduce(text, Reduction::Lgx)
            .map_err(|e| e.to_string())?;
        let mut ids: Vec<u32> = reduced
            .split(['/', '|', '+'])
            .filter(|s| !s.is_empty())
            .map(|n| self.interner.id(n))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// A whole GL String (empty: untyped).
    pub fn read(&mut self, gl: &str) -> Result<FamilyTyping, String> {
        let mut t = FamilyTyping::default();
        if gl.trim().is_empty() {
            return Ok(t);
        }
        self.reducer.validate(gl).map_err(|e| e.to_string())?;
        let blocks = medulla_nomenclature::split_loci(gl).map_err(|e| e.to_string())?;
        for b in blocks {
            let Some(li) = FAMILY_LOCI.iter().position(|l| *l == b.locus) else {
                continue;
            };
            if b.copies.is_empty() {
                return Err(format!(
                    "{}: genotype lists (|) are not assigned; give the two copies",
                    b.text
                ));
            }
            let mut sets = Vec::new();
            for c in &b.copies {
                let s = self.position(c)?;
                if !s.is_empty() {
                    sets.push(s);
                }
            }
            t.loci[li] = match sets.len() {
                0 => None,
                1 => Some([sets[0].clone(), sets[0].clone()]),
                _ => Some([sets[0].clone(), sets[1].clone()]),
            };
        }
        Ok(t)
    }
}
