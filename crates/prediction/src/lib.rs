//! Match prediction: which genotypes a typing may be, given population haplotype
//! frequencies, and the probability that a patient and a donor match.
//!
//! - `resolution`: the set's allele resolution (NMDP g groups, G, small g, two-field) and
//!   the conversion of any typing the nomenclature crate reads to it;
//! - `impute`: the genotypes (haplotype pairs) that explain a typing, with posteriors;
//! - `probability`: P(0/1/2 mismatches) per locus and overall, P(8/8), P(9/10), P(10/10).

pub mod impute;
pub mod probability;
pub mod resolution;

pub use impute::{
    ArdDistribution, Genotype, Imputation, ImputeError, Imputer, Model, Typing, MAX_LOCI,
};
pub use probability::{match_probabilities, LocusCategory, MatchProbabilities};
pub use resolution::{Converter, NmdpGroups, Resolution};
