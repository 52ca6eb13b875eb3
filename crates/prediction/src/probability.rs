//! Match probabilities of a patient-donor pair from their ARD genotype distributions.
//!
//! Every pair of genotypes (one the patient's, one the donor's) contributes the product of
//! their posteriors; at each locus it has 0, 1 or 2 mismatches (the better of the two ways
//! to pair the alleles; a null allele already counts as the other allele of its locus).
//! Summing gives P(0/1/2 mismatches) per locus and overall over A, C, B, DRB1, DQB1 (ten
//! alleles), P(8/8) (no mismatch at A, B, C, DRB1), P(9/10) and P(10/10).

use crate::impute::{ArdDistribution, ArdGenotype};

/// What a locus is, from its probability of no mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocusCategory {
    /// P(0 mismatches) = 1.
    CertainMatch,
    /// 0 < P(0 mismatches) < 1.
    Potential,
    /// P(0 mismatches) = 0.
    CertainMismatch,
}

/// Match probabilities of one patient-donor pair.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchProbabilities {
    /// Loci in the set's order (`A, C, B, DRB1, DQB1[, DPB1]`).
    pub loci: Vec<&'static str>,
    /// P(exactly 0, 1, 2 mismatches) per locus.
    pub per_locus: Vec<[f64; 3]>,
    /// P(exactly 0, 1, 2 mismatches) over A, C, B, DRB1, DQB1.
    pub overall: [f64; 3],
    pub p_8of8: f64,
    pub p_9of10: f64,
    pub p_10of10: f64,
    /// Posterior mass left out of either side's distribution (0 unless truncated).
    pub dropped_mass: f64,
}

/// Tolerance for calling a probability 0 or 1.
const EPS: f64 = 1e-9;

impl MatchProbabilities {
    pub fn p0(&self, locus: &str) -> Option<f64> {
        self.loci
            .iter()
            .position(|l| *l == locus)
            .map(|i| self.per_locus[i][0])
    }

    pub fn category(&self, locus: &str) -> Option<LocusCategory> {
        self.p0(locus).map(|p| {
            if p >= 1.0 - EPS {
                LocusCategory::CertainMatch
            } else if p <= EPS {
                LocusCategory::CertainMismatch
            } else {
                LocusCategory::Potential
            }
        })
    }
}

fn locus_mismatches(p: &ArdGenotype, d: &ArdGenotype, l: usize) -> usize {
    let (a, b) = (p[2 * l], p[2 * l + 1]);
    let (c, e) = (d[2 * l], d[2 * l + 1]);
    let straight = usize::from(a == c) + usize::from(b == e);
    let crossed = usize::from(a == e) + usize::from(b == c);
    2 - straight.max(crossed)
}

/// The probabilities of a pair, over the loci `loci` (the imputer's).
pub fn match_probabilities(
    loci: &[&'static str],
    patient: &ArdDistribution,
    donor: &ArdDistribution,
) -> MatchProbabilities {
    let idx = |name: &str| loci.iter().position(|l| *l == name);
    let ten: Vec<usize> = ["A", "C", "B", "DRB1", "DQB1"]
        .iter()
        .filter_map(|l| idx(l))
        .collect();
    let eight: Vec<usize> = ["A", "C", "B", "DRB1"]
        .iter()
        .filter_map(|l| idx(l))
        .collect();
    let mut per_locus = vec![[0.0f64; 3]; loci.len()];
    let mut overall = [0.0f64; 3];
    let mut p8 = 0.0;
    let mut mm = vec![0usize; loci.len()];
    for (pg, pp) in &patient.genotypes {
        for (dg, dp) in &donor.genotypes {
            let w = pp * dp;
            for (l, m) in mm.iter_mut().enumerate() {
                *m = locus_mismatches(pg, dg, l);
                per_locus[l][*m] += w;
            }
            let total: usize = ten.iter().map(|&l| mm[l]).sum();
            if total <= 2 {
                overall[total] += w;
            }
            if eight.iter().all(|&l| mm[l] == 0) {
                p8 += w;
            }
        }
    }
    MatchProbabilities {
        loci: loci.to_vec(),
        per_locus,
        overall,
        p_8of8: p8,
        p_9of10: overall[1],
        p_10of10: overall[0],
        dropped_mass: patient.dropped_mass + donor.dropped_mass,
    }
}
