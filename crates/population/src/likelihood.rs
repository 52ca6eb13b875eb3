//! The chance that a patient finds at least one matched, available donor (Gragert et al.,
//! NEJM 2014): for a patient genotype `g` and donor population `k`, `p_k(g)` is the chance
//! that one random donor of `k` matches `g` at the level; with `N_k` donors of `k`, of
//! whom a share `a_k` is available when called, `P(g) = 1 - prod_k (1 - a_k p_k(g))^N_k`;
//! a patient population's likelihood is `sum_g F(g) P(g)` over its genotypes. Genotypes
//! the frequency set does not list (a truncated set) count as unmatched.

use rayon::prelude::*;

use crate::compile::{collapse, CompiledSet};
use crate::genotype::{Key, KeyLayout};
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

/// One row of pair generation: a haplotype, the haplotypes it pairs with, the column, whether
/// it is a population's own triangle (heterozygotes doubled), and where the pairs go.
type PairJob<'a, K> = (
    &'a [([u16; 5], f64)],
    &'a [([u16; 5], f64)],
    u32,
    bool,
    &'a mut [(K, u32, f64)],
);

/// Unphased genotypes at a level's loci, sorted by key, with their frequency among the
/// patients of each population (donor populations first, then the mixed ones).
struct Table {
    layout: KeyLayout,
    keys: Vec<u128>,
    /// rows x set populations
    freq: Vec<f64>,
    k: usize,
    /// rows x mixed populations
    mixed: Vec<f64>,
    m: usize,
}

impl Table {
    /// Every haplotype pair of every population (and of each mixed pair of populations)
    /// generated on all cores, sorted by genotype and summed.
    fn build(
        set: &CompiledSet,
        loci: usize,
        mixed: &[(usize, usize)],
    ) -> Result<Table, LikelihoodError> {
        let counts = std::array::from_fn(|l| set.alleles[l].len());
        let layout = KeyLayout::new(counts, loci)?;
        Ok(if layout.bits <= 64 {
            Self::build_with::<u64>(set, layout, mixed)
        } else {
            Self::build_with::<u128>(set, layout, mixed)
        })
    }

    fn build_with<K: Key + Into<u128>>(
        set: &CompiledSet,
        layout: KeyLayout,
        mixed: &[(usize, usize)],
    ) -> Table {
        let loci = layout.loci;
        let k = set.populations.len();
        let m = mixed.len();
        let collapsed: Vec<Vec<([u16; 5], f64)>> = set
            .populations
            .iter()
            .map(|p| collapse(&p.haplotypes, loci))
            .collect();
        // every pair written straight into its place: population by population, row `i`
        // of the pair triangle after the rows before it
        let tri: usize = collapsed.iter().map(|h| h.len() * (h.len() + 1) / 2).sum();
        let rect: usize = mixed
            .iter()
            .map(|&(a, b)| collapsed[a].len() * collapsed[b].len())
            .sum();
        let mut entries: Vec<(K, u32, f64)> = vec![(K::from_u128(0), 0, 0.0); tri + rect];
        {
            let mut jobs: Vec<PairJob<'_, K>> = Vec::new();
            let mut rest: &mut [(K, u32, f64)] = &mut entries;
            for (pk, haps) in collapsed.iter().enumerate() {
                for i in 0..haps.len() {
                    let (mine, tail) = rest.split_at_mut(haps.len() - i);
                    rest = tail;
                    jobs.push((&haps[i..i + 1], &haps[i..], pk as u32, true, mine));
                }
            }
            for (j, &(a, b)) in mixed.iter().enumerate() {
                let (ha, hb) = (&collapsed[a], &collapsed[b]);
                for i in 0..ha.len() {
                    let (mine, tail) = rest.split_at_mut(hb.len());
                    rest = tail;
                    jobs.push((&ha[i..i + 1], &hb[..], (k + j) as u32, false, mine));
                }
            }
            let layout = &layout;
            jobs.into_par_iter()
                .for_each(|(one, others, col, triangle, out)| {
                    let (h1, f1) = one[0];
                    for (idx, ((h2, f2), slot)) in others.iter().zip(out.iter_mut()).enumerate() {
                        let w = if triangle && idx > 0 {
                            2.0 * f1 * f2
                        } else {
                            f1 * f2
                        };
                        *slot = (K::from_u128(layout.key(&h1, h2)), col, w);
                    }
                });
        }
        entries.par_sort_unstable_by_key(|e| e.0);
        // one row per distinct genotype, filled on all cores
        let mut starts: Vec<usize> = (0..entries.len())
            .into_par_iter()
            .filter(|&i| i == 0 || entries[i].0 != entries[i - 1].0)
            .collect();
        let rows = starts.len();
        starts.push(entries.len());
        let keys: Vec<u128> = starts[..rows]
            .par_iter()
            .map(|&i| entries[i].0.into())
            .collect();
        let mut freq = vec![0.0; rows * k];
        let mut mixed_w = vec![0.0; rows * m];
        let fill = |r: usize, f: &mut [f64], mw: &mut [f64]| {
            for &(_, col, w) in &entries[starts[r]..starts[r + 1]] {
                let col = col as usize;
                if col < k {
                    f[col] += w;
                } else {
                    mw[col - k] += w;
                }
            }
        };
        if m == 0 {
            freq.par_chunks_mut(k)
                .enumerate()
                .for_each(|(r, f)| fill(r, f, &mut []));
        } else {
            freq.par_chunks_mut(k)
                .zip(mixed_w.par_chunks_mut(m))
                .enumerate()
                .for_each(|(r, (f, mw))| fill(r, f, mw));
        }
        Table {
            layout,
            keys,
            freq,
            k,
            mixed: mixed_w,
            m,
        }
    }
}

/// Per row and population, the frequency of the genotypes exactly one allele away at one
/// locus (the rest identical): the donors a 7/8 search adds to the 8/8 ones.
fn one_mismatch(layout: &KeyLayout, keys: &[u128], freq: &[f64], k: usize) -> Vec<f64> {
    if layout.bits <= 64 {
        one_mismatch_with::<u64>(layout, keys, freq, k)
    } else {
        one_mismatch_with::<u128>(layout, keys, freq, k)
    }
}

fn one_mismatch_with<K: Key>(
    layout: &KeyLayout,
    keys: &[u128],
    freq: &[f64],
    k: usize,
) -> Vec<f64> {
    let rows = keys.len();
    let mut out = vec![0.0; rows * k];
    for l in 0..layout.loci {
        let rest = !layout.mask(l);
        // keys are sorted, and the first locus holds the lowest bits: genotypes differing
        // there alone are already next to each other
        // the pair at locus l travels with the row: the groups then read only `freq`
        let mut order: Vec<(K, u32, (u16, u16))> = keys
            .par_iter()
            .enumerate()
            .map(|(r, &key)| (K::from_u128(key & rest), r as u32, layout.pair(key, l)))
            .collect();
        if l != 0 {
            order.par_sort_unstable_by_key(|x| x.0);
        }

        // groups split across cores at group boundaries
        let mut bounds = vec![0usize];
        let chunk = (order.len() / (8 * rayon::current_num_threads()).max(1)).max(1);
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
        let sink = RowSink(out.as_mut_ptr(), out.len());
        bounds
            .par_windows(2)
            .for_each(|w| group_sums(layout, freq, k, &order[w[0]..w[1]], l, &sink));
    }
    out
}

/// The one-mismatch sums, written by every core at once: each row appears once in the
/// order of one locus, so no two cores ever write the same row.
struct RowSink(*mut f64, usize);

// SAFETY: `RowSink` is only used by `one_mismatch_with`, where the rows written by the
// groups of one locus are pairwise distinct (every row is in exactly one group).
unsafe impl Sync for RowSink {}

impl RowSink {
    fn add(&self, at: usize, v: f64) {
        assert!(at < self.1);
        // SAFETY: in bounds (checked above); no other thread writes this row (see `Sync`).
        unsafe { *self.0.add(at) += v }
    }
}

/// For each group of genotypes equal but at locus `l`: per allele, the frequency of the
/// genotypes carrying it; a genotype `{a, b}` is one allele away from those carrying `a`
/// or `b` but not both (`{a, a}`: those carrying `a` but another too).
fn group_sums<K: Key>(
    layout: &KeyLayout,
    freq: &[f64],
    k: usize,
    order: &[(K, u32, (u16, u16))],
    l: usize,
    sink: &RowSink,
) {
    // allele id -> its slot in `sums` (u32::MAX: none yet), reset after each group
    let mut slot_of: Vec<u32> = vec![u32::MAX; layout.alleles(l)];
    let mut alleles: Vec<u16> = Vec::new();
    let mut sums: Vec<f64> = Vec::new();
    let slot =
        |a: u16, slot_of: &mut Vec<u32>, alleles: &mut Vec<u16>, sums: &mut Vec<f64>| -> usize {
            let s = slot_of[a as usize];
            if s != u32::MAX {
                return s as usize;
            }
            slot_of[a as usize] = alleles.len() as u32;
            alleles.push(a);
            sums.extend(std::iter::repeat_n(0.0, k));
            alleles.len() - 1
        };
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && order[end].0 == order[start].0 {
            end += 1;
        }
        if end - start > 1 {
            for &a in &alleles {
                slot_of[a as usize] = u32::MAX;
            }
            alleles.clear();
            sums.clear();
            for &(_, r, (a, b)) in &order[start..end] {
                let r = r as usize;
                let f = &freq[r * k..(r + 1) * k];
                let ia = slot(a, &mut slot_of, &mut alleles, &mut sums);
                sums[ia * k..(ia + 1) * k]
                    .iter_mut()
                    .zip(f)
                    .for_each(|(s, x)| *s += x);
                if b != a {
                    let ib = slot(b, &mut slot_of, &mut alleles, &mut sums);
                    sums[ib * k..(ib + 1) * k]
                        .iter_mut()
                        .zip(f)
                        .for_each(|(s, x)| *s += x);
                }
            }
            for &(_, r, (a, b)) in &order[start..end] {
                let r = r as usize;
                let f = &freq[r * k..(r + 1) * k];
                let ia = slot_of[a as usize] as usize;
                let ib = slot_of[b as usize] as usize;
                for pk in 0..k {
                    let d = if a == b {
                        sums[ia * k + pk] - f[pk]
                    } else {
                        sums[ia * k + pk] + sums[ib * k + pk] - 2.0 * f[pk]
                    };
                    if d > 0.0 {
                        sink.add(r * k + pk, d);
                    }
                }
            }
        }
        start = end;
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
    layout: KeyLayout,
    keys: Vec<u128>,
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
        let t = Table::build(set, level.loci(), mixed)?;
        let mut patient_pops = set.codes();
        let mut listed: Vec<f64> = set.populations.iter().map(|p| p.listed.powi(2)).collect();
        for &(a, b) in mixed {
            let (pa, pb) = (&set.populations[a], &set.populations[b]);
            patient_pops.push(format!("{}+{}", pa.code, pb.code));
            listed.push(pa.listed * pb.listed);
        }
        let model = LevelModel {
            level: if level == Level::SevenOfEight {
                Level::EightOfEight
            } else {
                level
            },
            donor_pops: set.codes(),
            patient_pops,
            listed,
            layout: t.layout,
            keys: t.keys,
            k: t.k,
            freq: t.freq,
            extra: None,
            mixed: t.mixed,
            mixed_count: t.m,
        };
        Ok(if level == Level::SevenOfEight {
            model.seven_of_eight()
        } else {
            model
        })
    }

    /// The 8/8 model turned into the 7/8 one (the same genotypes; donors one allele away
    /// added). Any other model is returned as it is.
    pub fn seven_of_eight(mut self) -> LevelModel {
        if self.level == Level::EightOfEight {
            self.extra = Some(one_mismatch(&self.layout, &self.keys, &self.freq, self.k));
            self.level = Level::SevenOfEight;
        }
        self
    }

    /// Distinct genotypes at this level.
    pub fn genotypes(&self) -> usize {
        self.keys.len()
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
        self.keys.len()
    }

    /// `ln(1 - a_k p_k)` per donor population, then for the other donors, of row `r`.
    #[inline]
    pub(crate) fn log_miss(&self, r: usize, avail: &Availability, mix: &[f64], out: &mut [f64]) {
        let mut other = 0.0;
        for k in 0..self.k {
            let p = self.p(r, k);
            if p > 0.0 {
                other += mix[k] * p;
                out[k] = (-avail.donors[k] * p).ln_1p();
            } else {
                out[k] = 0.0;
            }
        }
        out[self.k] = if other > 0.0 {
            (-avail.other * other).ln_1p()
        } else {
            0.0
        };
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
        let acc = (0..self.rows())
            .into_par_iter()
            .fold(
                || (vec![0.0; pools.len() * pp], vec![0.0; k + 1]),
                |(mut acc, mut lq), r| {
                    self.log_miss(r, avail, mix, &mut lq);
                    for (i, pool) in pools.iter().enumerate() {
                        let e: f64 = pool.donors.iter().zip(&lq).map(|(n, l)| n * l).sum::<f64>()
                            + pool.other * lq[k];
                        if e == 0.0 {
                            continue;
                        }
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
