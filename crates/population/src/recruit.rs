//! Where to recruit: the allocation of new donors across populations that raises the
//! weighted likelihood of the patient populations most.
//!
//! Adding `n` donors of population `c` multiplies each genotype's chance of no match by
//! `(1 - a_c p_c(g))^n`; the gain `sum_g W(g) Q(g) (1 - (1 - a_c p_c(g))^n)` (with `W` the
//! weighted patient frequency and `Q` the current chance of no match) shrinks as donors
//! are added: the objective is concave, so taking the best population step by step is
//! optimal up to the step's granularity.

use rayon::prelude::*;

use crate::likelihood::{Availability, Counts, LevelModel};

/// A registry as recruitment starts from it.
#[derive(Debug, Clone)]
pub struct Registry {
    pub availability: Availability,
    /// Weights of the set's populations for donors of other populations.
    pub other_mix: Vec<f64>,
    pub counts: Counts,
}

/// One step of the allocation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecruitStep {
    /// Donor population index.
    pub population: usize,
    pub donors: u64,
    /// Donors added so far, this step included.
    pub cumulative: u64,
    /// The weighted likelihood after this step.
    pub objective: f64,
}

/// The allocation of a budget.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecruitPlan {
    pub steps: Vec<RecruitStep>,
    /// Donors added per donor population.
    pub added: Vec<u64>,
    pub objective_before: f64,
    pub objective_after: f64,
}

struct Rows {
    w: Vec<f64>,
    e: Vec<f64>,
    /// rows x donor populations: ln(1 - a_k p_k)
    lq: Vec<f64>,
    k: usize,
}

fn rows(model: &LevelModel, reg: &Registry, weight: impl Fn(usize) -> f64 + Sync) -> Rows {
    let (avail, mix, base) = (&reg.availability, &reg.other_mix[..], &reg.counts);
    let k = model.donor_pops.len();
    let parts: Vec<(f64, f64, Vec<f64>)> = (0..model.rows())
        .into_par_iter()
        .filter_map(|r| {
            let w = weight(r);
            if w <= 0.0 {
                return None;
            }
            let mut lq = vec![0.0; k + 1];
            model.log_miss(r, avail, mix, &mut lq);
            let e =
                base.donors.iter().zip(&lq).map(|(n, l)| n * l).sum::<f64>() + base.other * lq[k];
            lq.truncate(k);
            Some((w, e, lq))
        })
        .collect();
    let mut out = Rows {
        w: Vec::with_capacity(parts.len()),
        e: Vec::with_capacity(parts.len()),
        lq: Vec::with_capacity(parts.len() * k),
        k,
    };
    for (w, e, lq) in parts {
        out.w.push(w);
        out.e.push(e);
        out.lq.extend(lq);
    }
    out
}

impl Rows {
    fn objective(&self) -> f64 {
        self.w
            .par_iter()
            .zip(&self.e)
            .map(|(w, e)| -w * e.exp_m1())
            .sum()
    }

    /// The gain of `n` more donors of each population.
    fn gains(&self, n: f64) -> Vec<f64> {
        let k = self.k;
        (0..self.w.len())
            .into_par_iter()
            .fold(
                || vec![0.0; k],
                |mut g, r| {
                    let q = self.w[r] * self.e[r].exp();
                    for (c, gc) in g.iter_mut().enumerate() {
                        let l = self.lq[r * k + c];
                        if l < 0.0 {
                            *gc -= q * (n * l).exp_m1();
                        }
                    }
                    g
                },
            )
            .reduce(
                || vec![0.0; k],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
    }

    fn add(&mut self, c: usize, n: f64) {
        let k = self.k;
        let lq = &self.lq;
        self.e
            .par_iter_mut()
            .enumerate()
            .for_each(|(r, e)| *e += n * lq[r * k + c]);
    }
}

/// Allocate `budget` new donors in `steps` steps (at least one donor each) to the donor
/// populations, maximising `sum_x weights[x] * likelihood_x` over the patient populations.
pub fn allocate(
    model: &LevelModel,
    reg: &Registry,
    weights: &[f64],
    budget: u64,
    steps: usize,
) -> RecruitPlan {
    let pp = model.patient_pops.len();
    let mut rows = rows(model, reg, |r| {
        (0..pp).map(|x| weights[x] * model.weight(r, x)).sum()
    });
    let k = rows.k;
    let before = rows.objective();
    let step = budget.div_ceil(steps.max(1) as u64).max(1);
    let mut plan = RecruitPlan {
        steps: Vec::new(),
        added: vec![0; k],
        objective_before: before,
        objective_after: before,
    };
    let mut done = 0u64;
    let mut objective = before;
    while done < budget {
        let n = step.min(budget - done);
        let gains = rows.gains(n as f64);
        let (best, gain) =
            gains
                .iter()
                .enumerate()
                .fold((0, f64::MIN), |b, (c, &g)| if g > b.1 { (c, g) } else { b });
        rows.add(best, n as f64);
        done += n;
        objective += gain;
        plan.added[best] += n;
        plan.steps.push(RecruitStep {
            population: best,
            donors: n,
            cumulative: done,
            objective,
        });
    }
    plan.objective_after = rows.objective();
    plan
}

/// How many more donors of population `donor` the patients of population `patient` need
/// to reach `target`; `None` when no number up to `limit` does (the set lists too few of
/// their genotypes among that population).
pub fn donors_needed(
    model: &LevelModel,
    reg: &Registry,
    patient: usize,
    donor: usize,
    target: f64,
    limit: u64,
) -> Option<u64> {
    let rows = rows(model, reg, |r| model.weight(r, patient));
    let k = rows.k;
    let at = |n: f64| -> f64 {
        (0..rows.w.len())
            .into_par_iter()
            .map(|r| -rows.w[r] * (rows.e[r] + n * rows.lq[r * k + donor]).exp_m1())
            .sum()
    };
    if at(0.0) >= target {
        return Some(0);
    }
    if at(limit as f64) < target {
        return None;
    }
    let (mut lo, mut hi) = (0u64, limit);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if at(mid as f64) >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}
