//! The chance that a patient finds at least one matched, available donor (Gragert et al.,
//! NEJM 2014): for a patient genotype `g` and donor population `k`, `p_k(g)` is the chance
//! that one random donor of `k` matches `g` at the level; with `N_k` donors of `k`, of
//! whom a share `a_k` is available when called, `P(g) = 1 - prod_k (1 - a_k p_k(g))^N_k`;
//! a patient population's likelihood is `sum_g F(g) P(g)` over its genotypes. Genotypes
//! the frequency set does not list (a truncated set) count as unmatched.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::compile::{collapse, CompiledSet};
use crate::genotype::KeyLayout;
use crate::LikelihoodError;

/// A match level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Level {
    /// A, C, B, DRB1, DQB1 all matched.
    #[serde(rename = "10/10")]
    TenOfTen,
    /// A, C, B, DRB1 matched.
    #[serde(rename = "8/8")]
    EightOfEight,
    /// At most one mismatch among A, C, B, DRB1.
    #[serde(rename = "7/8")]
    SevenOfEight,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::TenOfTen, Level::EightOfEight, Level::SevenOfEight];

    pub fn name(self) -> &'static str {
        match self {
            Level::TenOfTen => "10/10",
            Level::EightOfEight => "8/8",
            Level::SevenOfEight => "7/8",
        }
    }

    pub fn parse(s: &str) -> Result<Level, LikelihoodError> {
        match s.trim() {
            "10/10" => Ok(Level::TenOfTen),
            "8/8" => Ok(Level::EightOfEight),
            "7/8" => Ok(Level::SevenOfEight),
            other => Err(LikelihoodError::Invalid(format!(
                "level {other:?} is not one of 10/10, 8/8, 7/8"
            ))),
        }
    }

    /// How many loci of `LOCI` the level compares.
    pub fn loci(self) -> usize {
        match self {
            Level::TenOfTen => 5,
            _ => 4,
        }
    }
}

/// The share of donors available when called.
#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    /// Per donor population of the model.
    pub donors: Vec<f64>,
    /// Donors of no population of the set.
    pub other: f64,
}

/// A registry: donors per population of the model, and donors of other or unknown
/// populations (counted as a mixture of the set's populations in proportion to `mix`).
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub donors: Vec<f64>,
    pub other: f64,
}

impl Counts {
    pub fn total(&self) -> f64 {
        self.donors.iter().sum::<f64>() + self.other
    }

    /// The same mix at `size` donors.
    pub fn scaled(&self, size: f64) -> Counts {
        let t = self.total();
        let f = if t > 0.0 { size / t } else { 0.0 };
        Counts {
            donors: self.donors.iter().map(|n| n * f).collect(),
            other: self.other * f,
        }
    }
}

/// Unphased genotypes at a level's loci, with their frequency in each population.
struct Table {
    layout: KeyLayout,
    keys: Vec<u128>,
    /// rows x populations
    freq: Vec<f64>,
    k: usize,
    index: FxHashMap<u128, u32>,
}

impl Table {
    fn row(&mut self, key: u128) -> usize {
        let next = self.keys.len() as u32;
        let r = *self.index.entry(key).or_insert(next);
        if r == next {
            self.keys.push(key);
            self.freq.extend(std::iter::repeat_n(0.0, self.k));
        }
        r as usize
    }

    fn build(set: &CompiledSet, loci: usize) -> Result<Table, LikelihoodError> {
        let counts = std::array::from_fn(|l| set.alleles[l].len());
        let layout = KeyLayout::new(counts, loci)?;
        let k = set.populations.len();
        let mut t = Table {
            layout,
            keys: Vec::new(),
            freq: Vec::new(),
            k,
            index: FxHashMap::default(),
        };
        for (pk, pop) in set.populations.iter().enumerate() {
            let haps = collapse(&pop.haplotypes, loci);
            // the pairs of this population, generated on all cores, added in one pass
            let pairs: Vec<(u128, f64)> = (0..haps.len())
                .into_par_iter()
                .flat_map_iter(|i| {
                    let (h1, f1) = haps[i];
                    let layout = &t.layout;
                    haps[i..].iter().enumerate().map(move |(j, (h2, f2))| {
                        let w = if j == 0 { f1 * f2 } else { 2.0 * f1 * f2 };
                        (layout.key(&h1, h2), w)
                    })
                })
                .collect();
            t.index.reserve(pairs.len() / 2);
            for (key, w) in pairs {
                let r = t.row(key);
                t.freq[r * k + pk] += w;
            }
        }
        Ok(t)
    }

    /// Per row and population, the frequency of the genotypes exactly one allele away at
    /// one locus (the rest identical): the donors a 7/8 search adds to the 8/8 ones.
    fn one_mismatch(&self) -> Vec<f64> {
        let k = self.k;
        let rows = self.keys.len();
        let mut out = vec![0.0; rows * k];
        for l in 0..self.layout.loci {
            let rest = !self.layout.mask(l);
            let mut order: Vec<(u128, u32)> = self
                .keys
                .par_iter()
                .enumerate()
                .map(|(r, &key)| (key & rest, r as u32))
                .collect();
            order.par_sort_unstable_by_key(|x| x.0);
            // groups of genotypes that differ at locus l only, split across cores at group
            // boundaries
            let mut bounds = vec![0usize];
            let chunk = (order.len() / (4 * rayon::current_num_threads()).max(1)).max(1);
            let mut at = chunk;
            while at < order.len() {
                while at < order.len() && order[at].0 == order[at - 1].0 {
                    at += 1;
                }
                if at < order.len() {
                    bounds.push(at);
                }
                at += chunk;
            }
            bounds.push(order.len());
            let parts: Vec<Vec<(u32, Vec<f64>)>> = bounds
                .par_windows(2)
                .map(|w| self.group_sums(&order[w[0]..w[1]], l))
                .collect();
            for part in parts {
                for (r, v) in part {
                    let r = r as usize;
                    for (o, x) in out[r * k..(r + 1) * k].iter_mut().zip(v) {
                        *o += x;
                    }
                }
            }
        }
        out
    }

    fn group_sums(&self, order: &[(u128, u32)], l: usize) -> Vec<(u32, Vec<f64>)> {
        let k = self.k;
        let mut res = Vec::with_capacity(order.len());
        let mut alleles: Vec<u16> = Vec::new();
        let mut sums: Vec<f64> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && order[end].0 == order[start].0 {
                end += 1;
            }
            if end - start > 1 {
                alleles.clear();
                sums.clear();
                let slot = |a: u16, alleles: &mut Vec<u16>, sums: &mut Vec<f64>| -> usize {
                    match alleles.iter().position(|&x| x == a) {
                        Some(i) => i,
                        None => {
                            alleles.push(a);
                            sums.extend(std::iter::repeat_n(0.0, k));
                            alleles.len() - 1
                        }
                    }
                };
                for &(_, r) in &order[start..end] {
                    let r = r as usize;
                    let (a, b) = self.layout.pair(self.keys[r], l);
                    let f = &self.freq[r * k..(r + 1) * k];
                    let ia = slot(a, &mut alleles, &mut sums);
                    for (s, x) in sums[ia * k..(ia + 1) * k].iter_mut().zip(f) {
                        *s += x;
                    }
                    if b != a {
                        let ib = slot(b, &mut alleles, &mut sums);
                        for (s, x) in sums[ib * k..(ib + 1) * k].iter_mut().zip(f) {
                            *s += x;
                        }
                    }
                }
                for &(_, r) in &order[start..end] {
                    let r = r as usize;
                    let (a, b) = self.layout.pair(self.keys[r], l);
                    let f = &self.freq[r * k..(r + 1) * k];
                    let ia = alleles.iter().position(|&x| x == a).unwrap_or(0);
                    let ib = alleles.iter().position(|&x| x == b).unwrap_or(0);
                    let v: Vec<f64> = (0..k)
                        .map(|pk| {
                            let d = if a == b {
                                sums[ia * k + pk] - f[pk]
                            } else {
                                sums[ia * k + pk] + sums[ib * k + pk] - 2.0 * f[pk]
                            };
                            d.max(0.0)
                        })
                        .collect();
                    if v.iter().any(|&x| x > 0.0) {
                        res.push((r as u32, v));
                    }
                }
            }
            start = end;
        }
        res
    }
}

/// Every genotype of the patient populations at one level, with the chance that one donor
/// of each population matches it.
pub struct LevelModel {
    pub level: Level,
    /// Donor populations (the set's).
    pub donor_pops: Vec<String>,
    /// Patient populations: the set's, then each mixed one (`EUR+AFA`).
    pub patient_pops: Vec<String>,
    /// Per patient population, the frequency mass the set lists (1 when not truncated).
    pub listed: Vec<f64>,
    rows: usize,
    k: usize,
    /// rows x donor populations: genotype frequency (exact match chance).
    freq: Vec<f64>,
    /// rows x donor populations: the one-mismatch chance added at 7/8.
    extra: Option<Vec<f64>>,
    /// rows x mixed populations.
    mixed: Vec<f64>,
    mixed_count: usize,
}

impl LevelModel {
    /// The model of `set` at `level`, with patients of mixed origin `mixed` (pairs of
    /// population indices: one haplotype from each).
    pub fn build(
        set: &CompiledSet,
        level: Level,
        mixed: &[(usize, usize)],
    ) -> Result<LevelModel, LikelihoodError> {
        let loci = level.loci();
        let mut t = Table::build(set, loci)?;
        let m = mixed.len();
        let mut mixed_w: Vec<Vec<(usize, f64)>> = Vec::with_capacity(m);
        let mut patient_pops = set.codes();
        let mut listed: Vec<f64> = set.populations.iter().map(|p| p.listed.powi(2)).collect();
        for &(a, b) in mixed {
            let (pa, pb) = (&set.populations[a], &set.populations[b]);
            let ha = collapse(&pa.haplotypes, loci);
            let hb = collapse(&pb.haplotypes, loci);
            let pairs: Vec<(u128, f64)> = ha
                .par_iter()
                .flat_map_iter(|(h1, f1)| {
                    let layout = &t.layout;
                    hb.iter().map(move |(h2, f2)| (layout.key(h1, h2), f1 * f2))
                })
                .collect();
            let mut w = Vec::with_capacity(pairs.len());
            for (key, f) in pairs {
                w.push((t.row(key), f));
            }
            mixed_w.push(w);
            patient_pops.push(format!("{}+{}", pa.code, pb.code));
            listed.push(pa.listed * pb.listed);
        }
        let rows = t.keys.len();
        let mut mixed_flat = vec![0.0; rows * m];
        for (j, w) in mixed_w.into_iter().enumerate() {
            for (r, f) in w {
                mixed_flat[r * m + j] += f;
            }
        }
        let extra = (level == Level::SevenOfEight).then(|| t.one_mismatch());
        Ok(LevelModel {
            level,
            donor_pops: set.codes(),
            patient_pops,
            listed,
            rows,
            k: t.k,
            freq: t.freq,
            extra,
            mixed: mixed_flat,
            mixed_count: m,
        })
    }

    /// Distinct genotypes at this level.
    pub fn genotypes(&self) -> usize {
        self.rows
    }

    /// The chance that one random donor of population `k` matches genotype row `r`.
    #[inline]
    pub(crate) fn p(&self, r: usize, k: usize) -> f64 {
        let f = self.freq[r * self.k + k];
        match &self.extra {
            Some(e) => f + e[r * self.k + k],
            None => f,
        }
    }

    /// The frequency of genotype row `r` among patients of patient population `x`.
    #[inline]
    pub(crate) fn weight(&self, r: usize, x: usize) -> f64 {
        if x < self.k {
            self.freq[r * self.k + x]
        } else {
            self.mixed[r * self.mixed_count + (x - self.k)]
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// `ln(1 - a_k p_k)` per donor population, then for the other donors, of row `r`.
    #[inline]
    pub(crate) fn log_miss(&self, r: usize, avail: &Availability, mix: &[f64], out: &mut [f64]) {
        let mut other = 0.0;
        for k in 0..self.k {
            let p = self.p(r, k);
            other += mix[k] * p;
            out[k] = (-avail.donors[k] * p).ln_1p();
        }
        out[self.k] = (-avail.other * other).ln_1p();
    }

    /// Per registry of `pools`, per patient population: the chance of at least one
    /// available donor at this level. `mix` weighs the set's populations for donors of
    /// other populations.
    pub fn likelihoods(
        &self,
        avail: &Availability,
        mix: &[f64],
        pools: &[Counts],
    ) -> Vec<Vec<f64>> {
        let pp = self.patient_pops.len();
        let k = self.k;
        let acc = (0..self.rows)
            .into_par_iter()
            .fold(
                || (vec![0.0; pools.len() * pp], vec![0.0; k + 1]),
                |(mut acc, mut lq), r| {
                    self.log_miss(r, avail, mix, &mut lq);
                    for (i, pool) in pools.iter().enumerate() {
                        let e: f64 = pool.donors.iter().zip(&lq).map(|(n, l)| n * l).sum::<f64>()
                            + pool.other * lq[k];
                        let hit = -e.exp_m1();
                        for x in 0..pp {
                            let w = self.weight(r, x);
                            if w > 0.0 {
                                acc[i * pp + x] += w * hit;
                            }
                        }
                    }
                    (acc, lq)
                },
            )
            .map(|(acc, _)| acc)
            .reduce(
                || vec![0.0; pools.len() * pp],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            );
        acc.chunks(pp).map(|c| c.to_vec()).collect()
    }
}
