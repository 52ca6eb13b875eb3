//! Haplotype frequencies of a population as a [`FrequencyModel`]: each haplotype of the
//! set read at two-field ARD names with the same interner as the typings.

use medulla_haplotypes::Population;

use crate::read::{TypingReader, FAMILY_LOCI};
use crate::solve::FrequencyModel;

/// One haplotype of the set: (family locus, allele set) pairs and its frequency.
type SetHaplotype = (Vec<(usize, Vec<u32>)>, f64);

/// A population's haplotypes, allele sets by family locus.
pub struct PopulationModel {
    haplotypes: Vec<SetHaplotype>,
}

impl PopulationModel {
    /// Read `population` (over `loci`, the set's loci) with `reader`; alleles the release
    /// does not know (or NMDP g names it cannot read) are left unconstrained.
    pub fn new(population: &Population, loci: &[&str], reader: &mut TypingReader<'_>) -> Self {
        let mut cache: rustc_hash::FxHashMap<String, Option<Vec<u32>>> = Default::default();
        let haplotypes = population
            .haplotypes
            .iter()
            .zip(&population.frequencies)
            .map(|(h, &f)| {
                let alleles = loci
                    .iter()
                    .zip(&h.alleles)
                    .filter_map(|(l, a)| {
                        let li = FAMILY_LOCI.iter().position(|x| x == l)?;
                        let set = cache
                            .entry(a.to_string())
                            .or_insert_with(|| {
                                let name = a.strip_suffix('g').unwrap_or(a);
                                reader.position(name).ok().filter(|s| !s.is_empty())
                            })
                            .clone()?;
                        Some((li, set))
                    })
                    .collect();
                (alleles, f)
            })
            .collect();
        PopulationModel { haplotypes }
    }
}

impl FrequencyModel for PopulationModel {
    fn frequency(&self, hap: &[Option<&[u32]>; 11]) -> f64 {
        self.haplotypes
            .iter()
            .filter(|(alleles, _)| {
                // the typing's set is sorted and may be large (low resolution): look the
                // set haplotype's few alleles up in it
                alleles.iter().all(|(l, set)| match hap[*l] {
                    Some(h) => set.iter().any(|x| h.binary_search(x).is_ok()),
                    None => true,
                })
            })
            .map(|(_, f)| f)
            .sum()
    }
}
