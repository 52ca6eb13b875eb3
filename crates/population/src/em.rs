//! Haplotype frequencies estimated by expectation-maximisation from unphased, ambiguous
//! typings (Excoffier and Slatkin 1995).
//!
//! Each subject's typing is, per locus, the alleles each of its two positions may be.
//! The haplotype pairs that explain it are listed once: in full when there are few enough
//! (`max_pairs`), otherwise (MACs or XX codes at many loci) among the haplotypes the
//! subjects listed in full have made likely, so a very ambiguous typing weighs what is
//! known without inventing haplotypes nobody carries. Then, until the log-likelihood stops
//! rising: E, every pair's share of its subject in proportion to `f(h1) f(h2)` (doubled
//! for two different haplotypes); M, each haplotype's frequency the mean of those shares.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// One subject: per locus, the allele ids each position may be (an empty second position
/// repeats the first; both empty: the locus is untyped, any allele).
#[derive(Debug, Clone)]
pub struct Subject {
    pub loci: Vec<[Vec<u32>; 2]>,
}

#[derive(Debug, Clone)]
pub struct EmOptions {
    /// Pairs listed in full at most per subject; more ambiguous subjects are explained
    /// by the haplotypes the others made likely.
    pub max_pairs: usize,
    /// Candidate haplotypes at most for such a subject (more: skipped).
    pub max_candidates: usize,
    /// A haplotype counts as known from this frequency on.
    pub known_from: f64,
    pub max_iterations: usize,
    /// Stop when the log-likelihood rises by less than this.
    pub tolerance: f64,
}

impl Default for EmOptions {
    fn default() -> Self {
        EmOptions {
            max_pairs: 4096,
            max_candidates: 4000,
            known_from: 1e-7,
            max_iterations: 1000,
            tolerance: 1e-4,
        }
    }
}

/// The estimate.
#[derive(Debug, Clone, Default)]
pub struct Estimate {
    /// Haplotypes (allele ids per locus) and frequencies, most frequent first.
    pub haplotypes: Vec<(Vec<u32>, f64)>,
    /// Subjects whose pairs were listed in full.
    pub listed: usize,
    /// Subjects explained by known haplotypes.
    pub by_known: usize,
    /// Subjects no pair of known haplotypes explains (skipped).
    pub unexplained: usize,
    /// Subjects too ambiguous even among known haplotypes (skipped).
    pub too_ambiguous: usize,
    /// Log-likelihood after each iteration (both rounds).
    pub log_likelihood: Vec<f64>,
    /// Iterations of the first round (subjects listed in full only).
    pub first_round: usize,
}

/// Pairs of haplotype ids explaining each subject, flattened.
#[derive(Default)]
struct Pairs {
    offsets: Vec<usize>,
    pairs: Vec<(u32, u32)>,
}

impl Pairs {
    fn push(&mut self, mut p: Vec<(u32, u32)>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        p.sort_unstable();
        p.dedup();
        self.pairs.extend(p);
        self.offsets.push(self.pairs.len());
    }

    fn subjects(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn of(&self, s: usize) -> &[(u32, u32)] {
        &self.pairs[self.offsets[s]..self.offsets[s + 1]]
    }
}

#[derive(Default)]
struct Interner {
    ids: FxHashMap<Vec<u32>, u32>,
    haps: Vec<Vec<u32>>,
}

impl Interner {
    fn id(&mut self, h: &[u32]) -> u32 {
        if let Some(&i) = self.ids.get(h) {
            return i;
        }
        let i = self.haps.len() as u32;
        self.haps.push(h.to_vec());
        self.ids.insert(h.to_vec(), i);
        i
    }
}

fn second(pos: &[Vec<u32>; 2]) -> &[u32] {
    if pos[1].is_empty() {
        &pos[0]
    } else {
        &pos[1]
    }
}

/// How many haplotype pairs listing `s` in full would give (an upper bound).
fn pair_count(s: &Subject) -> f64 {
    if s.loci.iter().any(|p| p[0].is_empty()) {
        return f64::INFINITY;
    }
    s.loci
        .iter()
        .map(|p| (p[0].len() * second(p).len()) as f64 * 2.0)
        .product::<f64>()
        / 2.0
}

/// Every haplotype pair explaining `s`.
fn list_pairs(s: &Subject, interner: &mut Interner) -> Vec<(u32, u32)> {
    let l = s.loci.len();
    let mut out = Vec::new();
    let mut h1 = vec![0u32; l];
    let mut h2 = vec![0u32; l];
    fn walk(
        s: &Subject,
        at: usize,
        h1: &mut Vec<u32>,
        h2: &mut Vec<u32>,
        interner: &mut Interner,
        out: &mut Vec<(u32, u32)>,
    ) {
        if at == s.loci.len() {
            let (a, b) = (interner.id(h1), interner.id(h2));
            out.push((a.min(b), a.max(b)));
            return;
        }
        let p = &s.loci[at];
        for &x in &p[0] {
            for &y in second(p) {
                h1[at] = x;
                h2[at] = y;
                walk(s, at + 1, h1, h2, interner, out);
                if x != y {
                    h1[at] = y;
                    h2[at] = x;
                    walk(s, at + 1, h1, h2, interner, out);
                }
            }
        }
    }
    walk(s, 0, &mut h1, &mut h2, interner, &mut out);
    out
}

/// Run EM rounds on `pairs` from `freq` (indexed by haplotype id) until converged.
fn iterate(
    pairs: &Pairs,
    freq: &mut [f64],
    opts: &EmOptions,
    log: &mut Vec<f64>,
    progress: &mut impl FnMut(usize, f64),
) {
    let n = pairs.subjects();
    if n == 0 {
        return;
    }
    let h = freq.len();
    let mut last = f64::NEG_INFINITY;
    for _ in 0..opts.max_iterations {
        let f: &[f64] = freq;
        let (counts, ll) = (0..n)
            .into_par_iter()
            // one accumulator per chunk of subjects, not per split
            .with_min_len(4096)
            .fold(
                || (vec![0.0f64; h], 0.0f64),
                |(mut c, mut ll), s| {
                    let ps = pairs.of(s);
                    let w = |&(a, b): &(u32, u32)| {
                        let p = f[a as usize] * f[b as usize];
                        if a == b {
                            p
                        } else {
                            2.0 * p
                        }
                    };
                    let total: f64 = ps.iter().map(w).sum();
                    if total > 0.0 {
                        ll += total.ln();
                        for pr in ps {
                            let share = w(pr) / total;
                            c[pr.0 as usize] += share;
                            c[pr.1 as usize] += share;
                        }
                    }
                    (c, ll)
                },
            )
            .reduce(
                || (vec![0.0f64; h], 0.0f64),
                |(mut a, la), (b, lb)| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    (a, la + lb)
                },
            );
        let denom = 2.0 * n as f64;
        for (fi, c) in freq.iter_mut().zip(counts) {
            *fi = c / denom;
        }
        log.push(ll);
        progress(log.len(), ll);
        if (ll - last).abs() < opts.tolerance {
            break;
        }
        last = ll;
    }
}

/// Estimate haplotype frequencies from `subjects`; `progress` hears each iteration and its
/// log-likelihood.
pub fn estimate(
    subjects: &[Subject],
    opts: &EmOptions,
    mut progress: impl FnMut(usize, f64),
) -> Estimate {
    let mut est = Estimate::default();
    let mut interner = Interner::default();
    let mut first = Pairs::default();
    let mut deferred: Vec<&Subject> = Vec::new();
    for s in subjects {
        if pair_count(s) <= opts.max_pairs as f64 {
            first.push(list_pairs(s, &mut interner));
        } else {
            deferred.push(s);
        }
    }
    est.listed = first.subjects();
    // start: each subject's pairs equally likely
    let mut freq = vec![0.0; interner.haps.len()];
    for s in 0..first.subjects() {
        let ps = first.of(s);
        let share = 1.0 / ps.len() as f64;
        for &(a, b) in ps {
            freq[a as usize] += share;
            freq[b as usize] += share;
        }
    }
    let denom = (2 * first.subjects().max(1)) as f64;
    freq.iter_mut().for_each(|f| *f /= denom);
    iterate(
        &first,
        &mut freq,
        opts,
        &mut est.log_likelihood,
        &mut progress,
    );
    est.first_round = est.log_likelihood.len();

    if !deferred.is_empty() {
        let known: Vec<u32> = (0..freq.len() as u32)
            .filter(|&i| freq[i as usize] >= opts.known_from)
            .collect();
        let loci = deferred[0].loci.len();
        // known haplotypes by the allele they carry at each locus
        let mut by_allele: Vec<FxHashMap<u32, Vec<u32>>> = vec![FxHashMap::default(); loci];
        for &k in &known {
            for (l, &a) in interner.haps[k as usize].iter().enumerate() {
                by_allele[l].entry(a).or_default().push(k);
            }
        }
        let haps = &interner.haps;
        let found: Vec<Result<Vec<(u32, u32)>, bool>> = deferred
            .par_iter()
            .map(|s| pairs_among_known(s, haps, &by_allele, opts))
            .collect();
        let mut all = first;
        for f in found {
            match f {
                Ok(p) => {
                    all.push(p);
                    est.by_known += 1;
                }
                Err(true) => est.too_ambiguous += 1,
                Err(false) => est.unexplained += 1,
            }
        }
        if est.by_known > 0 {
            iterate(
                &all,
                &mut freq,
                opts,
                &mut est.log_likelihood,
                &mut progress,
            );
        }
    }
    let mut out: Vec<(Vec<u32>, f64)> = interner
        .haps
        .into_iter()
        .zip(freq)
        .filter(|(_, f)| *f > 0.0)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    est.haplotypes = out;
    est
}

/// The pairs of known haplotypes that explain `s`; `Err(true)`: too many candidates,
/// `Err(false)`: none.
fn pairs_among_known(
    s: &Subject,
    haps: &[Vec<u32>],
    by_allele: &[FxHashMap<u32, Vec<u32>>],
    opts: &EmOptions,
) -> Result<Vec<(u32, u32)>, bool> {
    let sets: Vec<(&[u32], &[u32])> = s.loci.iter().map(|p| (&p[0][..], second(p))).collect();
    let untyped = |l: usize| sets[l].0.is_empty();
    if (0..sets.len()).all(untyped) {
        return Err(true);
    }
    let allowed = |l: usize, a: u32| untyped(l) || sets[l].0.contains(&a) || sets[l].1.contains(&a);
    // the locus whose alleles reach the fewest known haplotypes drives the scan
    let reach = |l: usize| -> usize {
        if untyped(l) {
            return usize::MAX;
        }
        let mut alleles: Vec<u32> = sets[l].0.iter().chain(sets[l].1).copied().collect();
        alleles.sort_unstable();
        alleles.dedup();
        alleles
            .iter()
            .map(|a| by_allele[l].get(a).map_or(0, Vec::len))
            .sum()
    };
    let drive = (0..sets.len()).min_by_key(|&l| reach(l)).unwrap_or(0);
    let mut drive_alleles: Vec<u32> = sets[drive].0.iter().chain(sets[drive].1).copied().collect();
    drive_alleles.sort_unstable();
    drive_alleles.dedup();
    let candidates: Vec<u32> = drive_alleles
        .iter()
        .flat_map(|a| by_allele[drive].get(a).into_iter().flatten().copied())
        .filter(|&k| {
            haps[k as usize]
                .iter()
                .enumerate()
                .all(|(l, &a)| allowed(l, a))
        })
        .collect();
    if candidates.len() > opts.max_candidates {
        return Err(true);
    }
    let fits = |h1: &[u32], h2: &[u32]| {
        (0..sets.len()).all(|l| {
            let (p, q) = sets[l];
            if p.is_empty() {
                return true;
            }
            (p.contains(&h1[l]) && q.contains(&h2[l])) || (q.contains(&h1[l]) && p.contains(&h2[l]))
        })
    };
    let mut out = Vec::new();
    for (i, &a) in candidates.iter().enumerate() {
        for &b in &candidates[i..] {
            if fits(&haps[a as usize], &haps[b as usize]) {
                out.push((a.min(b), a.max(b)));
                if out.len() > opts.max_pairs * 4 {
                    return Err(true);
                }
            }
        }
    }
    if out.is_empty() {
        Err(false)
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subj(loci: &[(&[u32], &[u32])]) -> Subject {
        Subject {
            loci: loci.iter().map(|(a, b)| [a.to_vec(), b.to_vec()]).collect(),
        }
    }

    #[test]
    fn phase_is_resolved_by_the_homozygous() {
        // haplotypes 1~1 and 2~2: ten homozygous 1~1/1~1, ten 2~2/2~2, ten
        // double heterozygous 1,2 ~ 1,2 (phase unknown: 1~1+2~2 or 1~2+2~1)
        let mut s = Vec::new();
        for _ in 0..10 {
            s.push(subj(&[(&[1], &[1]), (&[1], &[1])]));
            s.push(subj(&[(&[2], &[2]), (&[2], &[2])]));
            s.push(subj(&[(&[1], &[2]), (&[1], &[2])]));
        }
        let e = estimate(&s, &EmOptions::default(), |_, _| {});
        let f = |h: &[u32]| {
            e.haplotypes
                .iter()
                .find(|(x, _)| x == h)
                .map_or(0.0, |x| x.1)
        };
        assert!((f(&[1, 1]) - 0.5).abs() < 1e-3, "{:?}", e.haplotypes);
        assert!((f(&[2, 2]) - 0.5).abs() < 1e-3);
        assert!(f(&[1, 2]) < 1e-3);
        assert_eq!(e.listed, 30);
        // the log-likelihood never falls
        assert!(e.log_likelihood.windows(2).all(|w| w[1] >= w[0] - 1e-9));
    }

    #[test]
    fn ambiguous_typings_are_explained_by_known_haplotypes() {
        // forty typed in full as 1~1/2~2; one typed {1,2,3,...,9} at both loci and
        // positions: too many pairs to list, explained by 1~1 and 2~2
        let mut s: Vec<Subject> = (0..40)
            .map(|_| subj(&[(&[1], &[2]), (&[1], &[2])]))
            .collect();
        let wide: Vec<u32> = (1..10).collect();
        s.push(Subject {
            loci: vec![[wide.clone(), wide.clone()], [wide.clone(), wide.clone()]],
        });
        let opts = EmOptions {
            max_pairs: 16,
            ..EmOptions::default()
        };
        let e = estimate(&s, &opts, |_, _| {});
        assert_eq!((e.listed, e.by_known), (40, 1));
        let total: f64 = e.haplotypes.iter().map(|h| h.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
        // an untyped locus is any allele: explained by the known haplotypes
        s.push(subj(&[(&[1], &[2]), (&[], &[])]));
        let e = estimate(&s, &opts, |_, _| {});
        assert_eq!((e.listed, e.by_known, e.unexplained), (40, 2, 0));
        // an ambiguous typing no known pair explains is skipped and counted
        s.push(subj(&[(&[7], &[8]), (&[7], &[8])]));
        s.push(subj(&[(&[7, 8, 9], &[7, 8, 9]), (&[7, 8, 9], &[7, 8, 9])]));
        let e = estimate(&s, &opts, |_, _| {});
        assert_eq!(e.unexplained, 0);
        assert!(e.by_known >= 2);
    }
}
