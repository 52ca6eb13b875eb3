//! Haplotype frequencies from the registry's own donors (expectation-maximisation over
//! their unphased, ambiguous typings at two-field ARD names), written in the plain
//! `haplotype,frequency` layout every `--freqs` reads; and two sets compared at the ARD.

use std::io::Write;
use std::path::{Path, PathBuf};

use medulla_haplotypes::FrequencySet;
use medulla_matching::{IndexedDonor, SEARCH_LOCI};
use medulla_nomenclature::{Reducer, Reduction};
use medulla_population::em::{self, EmOptions, Subject};
use medulla_registry::{DonorStore, Store};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::AppError;

/// The loci estimated when none are named, in the sets' order.
pub const DEFAULT_LOCI: [&str; 5] = ["A", "C", "B", "DRB1", "DQB1"];

/// Where the donors come from.
#[derive(Debug, Clone)]
pub enum DonorSource {
    Db(PathBuf),
    /// A donor CSV (docs/donor-csv.md).
    Csv(PathBuf),
}

#[derive(Debug, Clone)]
pub struct EstimateOptions {
    pub source: DonorSource,
    /// Only donors of this declared population (any case).
    pub population: Option<String>,
    pub loci: Vec<String>,
    pub em: EmOptions,
}

/// What the estimation used, skipped and found.
#[derive(Debug, Clone, Serialize)]
pub struct EstimateReport {
    pub loci: Vec<String>,
    pub donors_read: usize,
    pub used: usize,
    /// Used with their haplotype pairs listed in full.
    pub listed_in_full: usize,
    /// Used, explained by haplotypes the others made likely (MACs or XX codes at many loci).
    pub explained_by_known: usize,
    pub skipped_other_population: usize,
    /// Untyped loci among the donors used (any allele there).
    pub untyped_loci: usize,
    /// A typing the nomenclature does not read (first few named in `notes`).
    pub skipped_invalid: usize,
    pub skipped_unexplained: usize,
    pub skipped_too_ambiguous: usize,
    pub iterations: usize,
    pub first_round_iterations: usize,
    pub log_likelihood: Vec<f64>,
    /// Haplotypes (`A*01:01~C*07:01~...`) and frequencies, most frequent first.
    pub haplotypes: Vec<(String, f64)>,
    pub notes: Vec<String>,
}

fn bad(field: &str, reason: String) -> AppError {
    AppError::Invalid {
        field: field.into(),
        reason,
    }
}

/// The loci named, checked.
pub fn parse_loci(s: &str) -> Result<Vec<String>, AppError> {
    let mut v: Vec<String> = Vec::new();
    for l in s.split(',').map(|l| l.trim().to_ascii_uppercase()) {
        if l.is_empty() {
            continue;
        }
        if !SEARCH_LOCI.contains(&l.as_str()) {
            return Err(bad(
                "loci",
                format!("{l} is not one of {}", SEARCH_LOCI.join(", ")),
            ));
        }
        if v.contains(&l) {
            return Err(bad("loci", format!("{l} is named twice")));
        }
        v.push(l);
    }
    if v.is_empty() {
        return Err(bad("loci", "no locus named".into()));
    }
    Ok(v)
}

/// Position typings read at two-field ARD names, as allele ids per locus.
struct Reader<'r> {
    reducer: &'r Reducer<'r>,
    names: Vec<Vec<String>>,
    ids: Vec<FxHashMap<String, u32>>,
    memo: Vec<FxHashMap<String, Result<Vec<u32>, String>>>,
}

impl Reader<'_> {
    fn position(&mut self, l: usize, text: &str) -> Result<Vec<u32>, String> {
        if let Some(r) = self.memo[l].get(text) {
            return r.clone();
        }
        let r = match self.reducer.reduce(text, Reduction::Lgx) {
            Ok(s) => {
                let mut v: Vec<u32> = Vec::new();
                for name in s.split(['/', '|', '+']).filter(|n| !n.is_empty()) {
                    let next = self.names[l].len() as u32;
                    let id = *self.ids[l].entry(name.to_string()).or_insert(next);
                    if id == next {
                        self.names[l].push(name.to_string());
                    }
                    v.push(id);
                }
                v.sort_unstable();
                v.dedup();
                Ok(v)
            }
            Err(e) => Err(e.to_string()),
        };
        self.memo[l].insert(text.to_string(), r.clone());
        r
    }
}

/// Estimate haplotype frequencies from a registry's donors; `progress` hears each
/// iteration and its log-likelihood.
pub fn estimate(
    opts: &EstimateOptions,
    reducer: &Reducer<'_>,
    today: chrono::NaiveDate,
    progress: impl FnMut(usize, f64),
) -> Result<EstimateReport, AppError> {
    let columns: Vec<usize> = opts
        .loci
        .iter()
        .map(|l| SEARCH_LOCI.iter().position(|x| x == l).unwrap_or(0))
        .collect();
    let mut reader = Reader {
        reducer,
        names: vec![Vec::new(); columns.len()],
        ids: vec![FxHashMap::default(); columns.len()],
        memo: vec![FxHashMap::default(); columns.len()],
    };
    let mut report = EstimateReport {
        loci: opts.loci.clone(),
        donors_read: 0,
        used: 0,
        listed_in_full: 0,
        explained_by_known: 0,
        skipped_other_population: 0,
        untyped_loci: 0,
        skipped_invalid: 0,
        skipped_unexplained: 0,
        skipped_too_ambiguous: 0,
        iterations: 0,
        first_round_iterations: 0,
        log_likelihood: Vec::new(),
        haplotypes: Vec::new(),
        notes: Vec::new(),
    };
    let mut subjects: Vec<Subject> = Vec::new();
    let mut take = |d: &IndexedDonor, report: &mut EstimateReport| {
        report.donors_read += 1;
        if let Some(p) = &opts.population {
            if !d
                .facts
                .population
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(p))
            {
                report.skipped_other_population += 1;
                return;
            }
        }
        let mut loci = Vec::with_capacity(columns.len());
        for (l, &c) in columns.iter().enumerate() {
            let [p1, p2] = &d.typing[c];
            let mut pos = [Vec::new(), Vec::new()];
            let Some(p1) = p1.as_deref().filter(|t| !t.trim().is_empty()) else {
                // untyped: any allele, weighed by the haplotypes the others made likely
                report.untyped_loci += 1;
                loci.push(pos);
                continue;
            };
            for (i, text) in [Some(p1), p2.as_deref()].into_iter().enumerate() {
                let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
                    continue;
                };
                match reader.position(l, text) {
                    Ok(v) if !v.is_empty() => pos[i] = v,
                    Ok(_) => {}
                    Err(reason) => {
                        report.skipped_invalid += 1;
                        if report.skipped_invalid <= 5 {
                            report.notes.push(format!(
                                "donor {}: {}: {reason}; skipped",
                                d.facts.id, opts.loci[l]
                            ));
                        }
                        return;
                    }
                }
            }
            loci.push(pos);
        }
        subjects.push(Subject { loci });
    };
    match &opts.source {
        DonorSource::Db(path) => {
            let store = Store::open_existing(path)?;
            store.for_each_donor(&mut |d, s| {
                take(
                    &medulla_registry::search_index::indexed(&d, &s, today),
                    &mut report,
                );
                Ok(())
            })?;
        }
        DonorSource::Csv(path) => {
            let file = path.display().to_string();
            let f = std::fs::File::open(path).map_err(|e| bad(&file, e.to_string()))?;
            let rows = medulla_registry::search_index::read_csv(
                std::io::BufReader::with_capacity(1 << 20, f),
                today,
            )
            .map_err(|e| bad(&file, e.to_string()))?;
            for (i, d) in rows.enumerate() {
                match d {
                    Ok(d) => take(&d, &mut report),
                    Err(e) => {
                        report.donors_read += 1;
                        report.skipped_invalid += 1;
                        if report.skipped_invalid <= 5 {
                            report
                                .notes
                                .push(format!("{file} record {}: {e}; skipped", i + 1));
                        }
                    }
                }
            }
        }
    }
    if subjects.is_empty() {
        return Err(bad(
            "donors",
            format!(
                "no donor to estimate from ({} read, {} of another population, {} unreadable)",
                report.donors_read, report.skipped_other_population, report.skipped_invalid
            ),
        ));
    }
    let est = em::estimate(&subjects, &opts.em, progress);
    report.listed_in_full = est.listed;
    report.explained_by_known = est.by_known;
    report.used = est.listed + est.by_known;
    report.skipped_unexplained = est.unexplained;
    report.skipped_too_ambiguous = est.too_ambiguous;
    report.iterations = est.log_likelihood.len();
    report.first_round_iterations = est.first_round;
    report.log_likelihood = est.log_likelihood;
    report.haplotypes = est
        .haplotypes
        .into_iter()
        .map(|(h, f)| {
            let name = h
                .iter()
                .enumerate()
                .map(|(l, &a)| reader.names[l][a as usize].as_str())
                .collect::<Vec<_>>()
                .join("~");
            (name, f)
        })
        .collect();
    Ok(report)
}

/// Write `haplotypes` with frequency at least `min` as `haplotype,frequency` lines (with a
/// header); returns how many were written and the frequency mass left out.
pub fn write_plain(
    path: &Path,
    haplotypes: &[(String, f64)],
    min: f64,
) -> Result<(usize, f64), AppError> {
    let file = path.display().to_string();
    let io = |e: std::io::Error| bad(&file, e.to_string());
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    writeln!(w, "haplotype,frequency").map_err(io)?;
    let (mut n, mut left) = (0, 0.0);
    for (h, f) in haplotypes {
        if *f >= min {
            writeln!(w, "{h},{f:.10e}").map_err(io)?;
            n += 1;
        } else {
            left += f;
        }
    }
    w.flush().map_err(io)?;
    Ok((n, left))
}

/// One haplotype of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub haplotype: String,
    pub reference: f64,
    pub estimate: f64,
}

/// Two frequency sets at two-field ARD names.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Half the sum of absolute differences (0: the same, 1: disjoint).
    pub total_variation: f64,
    /// The reference's most frequent haplotypes.
    pub top: Vec<Compared>,
    pub reference_haplotypes: usize,
    pub estimate_haplotypes: usize,
}

/// A set's population (the only one, or `population`) at two-field ARD (lgx) names,
/// merged, scaled to sum to 1.
pub fn at_ard(
    set: &FrequencySet,
    population: Option<&str>,
    reducer: &Reducer<'_>,
) -> Result<FxHashMap<String, f64>, AppError> {
    let pop = match population {
        Some(p) => set
            .populations
            .iter()
            .find(|x| x.code.eq_ignore_ascii_case(p))
            .ok_or_else(|| bad("population", format!("the set has no population {p}")))?,
        None if set.populations.len() == 1 => &set.populations[0],
        None => {
            return Err(bad(
                "population",
                "the set has several populations: name one".into(),
            ))
        }
    };
    let mut memo: FxHashMap<String, String> = FxHashMap::default();
    let mut out: FxHashMap<String, f64> = FxHashMap::default();
    let total = pop.total();
    for (h, f) in pop.haplotypes.iter().zip(&pop.frequencies) {
        let mut names = Vec::with_capacity(h.alleles.len());
        for a in &h.alleles {
            let n = match memo.get(&**a) {
                Some(n) => n.clone(),
                None => {
                    // NMDP's g groups are named by their first two-field member
                    let plain = a.strip_prefix("HLA-").unwrap_or(a);
                    let plain = plain.strip_suffix('g').unwrap_or(plain);
                    let n = reducer
                        .reduce(plain, Reduction::Lgx)
                        .map(|s| s.split('/').next().unwrap_or(&s).to_string())
                        .unwrap_or_else(|_| plain.to_string());
                    memo.insert(a.to_string(), n.clone());
                    n
                }
            };
            names.push(n);
        }
        *out.entry(names.join("~")).or_default() += f / total;
    }
    Ok(out)
}

/// Compare `estimate` with `reference` (both at the ARD): total variation distance and the
/// reference's `top` most frequent haplotypes side by side.
pub fn compare(
    reference: &FxHashMap<String, f64>,
    estimate: &FxHashMap<String, f64>,
    top: usize,
) -> Comparison {
    let mut tv = 0.0;
    for (h, f) in reference {
        tv += (f - estimate.get(h).copied().unwrap_or(0.0)).abs();
    }
    for (h, f) in estimate {
        if !reference.contains_key(h) {
            tv += f;
        }
    }
    let mut r: Vec<(&String, &f64)> = reference.iter().collect();
    r.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    Comparison {
        total_variation: tv / 2.0,
        top: r
            .into_iter()
            .take(top)
            .map(|(h, f)| Compared {
                haplotype: h.clone(),
                reference: *f,
                estimate: estimate.get(h).copied().unwrap_or(0.0),
            })
            .collect(),
        reference_haplotypes: reference.len(),
        estimate_haplotypes: estimate.len(),
    }
}
