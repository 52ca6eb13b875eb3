//! A frequency set read at the ARD: every allele name replaced by the protein it stands for
//! (an id per locus), haplotypes that are the same proteins merged.

use medulla_haplotypes::FrequencySet;
use rustc_hash::FxHashMap;

use crate::LikelihoodError;

/// The loci of the likelihood levels, in the order of the sets (`A~C~B~DRB1~DQB1`). 8/8
/// uses the first four.
pub const LOCI: [&str; 5] = ["A", "C", "B", "DRB1", "DQB1"];

/// One population's haplotypes as ARD ids.
#[derive(Debug, Clone)]
pub struct CompiledPopulation {
    pub code: String,
    /// Distinct ARD haplotypes (id per locus of `LOCI`) and their summed frequencies.
    pub haplotypes: Vec<([u16; 5], f64)>,
    /// The sum of the listed frequencies (under 1 for a truncated set).
    pub listed: f64,
}

/// A frequency set at the ARD.
#[derive(Debug, Clone)]
pub struct CompiledSet {
    /// Per locus the ARD identities by id; id 0 is the null allele (expresses nothing).
    pub alleles: [Vec<String>; 5],
    pub populations: Vec<CompiledPopulation>,
}

impl CompiledSet {
    /// Read `set` through `ard` (a set allele name to its ARD identity, `None` for a null
    /// allele).
    pub fn compile(
        set: &FrequencySet,
        mut ard: impl FnMut(&str) -> Option<String>,
    ) -> Result<Self, LikelihoodError> {
        let mut columns = [0usize; 5];
        for (l, locus) in LOCI.iter().enumerate() {
            columns[l] = set
                .loci
                .iter()
                .position(|x| x == locus)
                .ok_or(LikelihoodError::MissingLocus(locus))?;
        }
        let mut alleles: [Vec<String>; 5] = std::array::from_fn(|_| vec!["null".to_string()]);
        let mut ids: [FxHashMap<String, u16>; 5] = Default::default();
        let mut memo: [FxHashMap<Box<str>, u16>; 5] = Default::default();
        let mut populations = Vec::with_capacity(set.populations.len());
        for pop in &set.populations {
            let mut merged: FxHashMap<[u16; 5], f64> = FxHashMap::default();
            for (h, &f) in pop.haplotypes.iter().zip(&pop.frequencies) {
                let mut key = [0u16; 5];
                for l in 0..5 {
                    let name = &h.alleles[columns[l]];
                    let id = match memo[l].get(name) {
                        Some(&id) => id,
                        None => {
                            let id = match ard(name) {
                                None => 0,
                                Some(k) => match ids[l].get(&k) {
                                    Some(&id) => id,
                                    None => {
                                        let id = u16::try_from(alleles[l].len()).map_err(|_| {
                                            LikelihoodError::TooManyAlleles(
                                                LOCI[l],
                                                alleles[l].len(),
                                            )
                                        })?;
                                        alleles[l].push(k.clone());
                                        ids[l].insert(k, id);
                                        id
                                    }
                                },
                            };
                            memo[l].insert(name.clone(), id);
                            id
                        }
                    };
                    key[l] = id;
                }
                *merged.entry(key).or_default() += f;
            }
            let mut haplotypes: Vec<([u16; 5], f64)> = merged.into_iter().collect();
            haplotypes.sort_unstable_by_key(|a| a.0);
            populations.push(CompiledPopulation {
                code: pop.code.clone(),
                listed: pop.total(),
                haplotypes,
            });
        }
        Ok(CompiledSet {
            alleles,
            populations,
        })
    }

    /// The index of a population by code (any case).
    pub fn population_index(&self, code: &str) -> Result<usize, LikelihoodError> {
        self.populations
            .iter()
            .position(|p| p.code.eq_ignore_ascii_case(code))
            .ok_or_else(|| {
                LikelihoodError::UnknownPopulation(
                    code.to_string(),
                    self.populations
                        .iter()
                        .map(|p| p.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
    }

    /// Population codes in the set's order.
    pub fn codes(&self) -> Vec<String> {
        self.populations.iter().map(|p| p.code.clone()).collect()
    }
}

/// `haplotypes` restricted to the first `loci` loci, merged.
pub(crate) fn collapse(haplotypes: &[([u16; 5], f64)], loci: usize) -> Vec<([u16; 5], f64)> {
    let mut merged: FxHashMap<[u16; 5], f64> = FxHashMap::default();
    for (h, f) in haplotypes {
        let mut k = *h;
        k[loci..].fill(0);
        *merged.entry(k).or_default() += f;
    }
    let mut v: Vec<_> = merged.into_iter().collect();
    v.sort_unstable_by_key(|a| a.0);
    v
}
