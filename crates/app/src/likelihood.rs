//! Match likelihood by population and where to recruit, as every interface asks for them:
//! the frequency sets read at the ARD, the registry (the database's searchable adult
//! donors by population, or a size and a population mix), availability, and the report.

use std::path::PathBuf;

use chrono::NaiveDate;
use medulla_nomenclature::Reducer;
use medulla_population::recruit::{self, Registry};
use medulla_population::{
    published_availability, Availability, CompiledSet, Counts, Level, LevelModel, LikelihoodError,
};
use medulla_prediction::Converter;
use medulla_registry::Store;
use serde::Serialize;

use crate::error::AppError;
use crate::freqs::{FreqSource, Frequencies};

/// Registry sizes when none is given: from a national registry to the world's pool.
pub const DEFAULT_SIZES: [u64; 5] = [100_000, 1_000_000, 3_000_000, 10_000_000, 40_000_000];

/// The registry the likelihood is computed for.
#[derive(Debug, Clone)]
pub enum RegistrySource {
    /// The database's searchable adult donors, by declared population.
    Db(PathBuf),
    /// A registry of this mix (population shares); sizes given apart.
    Mix(Vec<(String, f64)>),
}

/// The share of donors available when called.
#[derive(Debug, Clone, Default)]
pub enum AvailabilityChoice {
    /// The published figures (`published_availability`).
    #[default]
    Published,
    /// One share for every population.
    All(f64),
    /// Per population; populations not named take the published figure.
    Per(Vec<(String, f64)>),
}

impl AvailabilityChoice {
    /// `0.5` or `EUR=0.6,AFA=0.3`.
    pub fn parse(s: &str) -> Result<Self, AppError> {
        let bad = |reason: String| AppError::Invalid {
            field: "availability".into(),
            reason,
        };
        let share = |v: &str| -> Result<f64, AppError> {
            let a: f64 = v
                .trim()
                .parse()
                .map_err(|_| bad(format!("{v:?} is not a number")))?;
            if !(0.0..=1.0).contains(&a) {
                return Err(bad(format!("{a} is not a share between 0 and 1")));
            }
            Ok(a)
        };
        if !s.contains('=') {
            return Ok(AvailabilityChoice::All(share(s)?));
        }
        let mut per = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (pop, a) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} is not POP=SHARE")))?;
            per.push((pop.trim().to_string(), share(a)?));
        }
        Ok(AvailabilityChoice::Per(per))
    }
}

/// `POP=NUMBER,...` (a mix, weights).
pub fn parse_pairs(field: &str, s: &str) -> Result<Vec<(String, f64)>, AppError> {
    let bad = |reason: String| AppError::Invalid {
        field: field.into(),
        reason,
    };
    let mut v = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (pop, x) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("{part:?} is not POP=NUMBER")))?;
        let x: f64 = x
            .trim()
            .parse()
            .map_err(|_| bad(format!("{x:?} is not a number")))?;
        if !(x >= 0.0 && x.is_finite()) {
            return Err(bad(format!("{} must be 0 or more", pop.trim())));
        }
        v.push((pop.trim().to_string(), x));
    }
    if v.is_empty() || v.iter().all(|(_, x)| *x == 0.0) {
        return Err(bad("no population with a positive number".into()));
    }
    Ok(v)
}

/// `10/10,8/8,7/8`.
pub fn parse_levels(s: &str) -> Result<Vec<Level>, AppError> {
    let mut v = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let l = Level::parse(part).map_err(|e| AppError::Invalid {
            field: "levels".into(),
            reason: e.to_string(),
        })?;
        if !v.contains(&l) {
            v.push(l);
        }
    }
    if v.is_empty() {
        return Err(AppError::Invalid {
            field: "levels".into(),
            reason: "no level given".into(),
        });
    }
    Ok(v)
}

/// `EUR+AFA,API+HIS`.
pub fn parse_mixed(s: &str) -> Result<Vec<(String, String)>, AppError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('+')
                .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                .ok_or_else(|| AppError::Invalid {
                    field: "mixed".into(),
                    reason: format!("{p:?} is not POP+POP"),
                })
        })
        .collect()
}

/// `1000000,10000000`.
pub fn parse_sizes(s: &str) -> Result<Vec<u64>, AppError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let t = p.trim().replace('_', "");
            t.parse::<u64>().map_err(|_| AppError::Invalid {
                field: "sizes".into(),
                reason: format!("{p:?} is not a whole number of donors"),
            })
        })
        .collect()
}

fn invalid(field: &str, e: LikelihoodError) -> AppError {
    AppError::Invalid {
        field: field.into(),
        reason: e.to_string(),
    }
}

/// A donor population of the registry as the model sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegistryShare {
    pub population: String,
    /// Donors at the registry's own size (for a mix alone: its share of one donor).
    pub donors: f64,
    pub share: f64,
    pub availability: f64,
}

/// A frequency set at the ARD and the registry it is computed for.
pub struct Prepared {
    pub set: CompiledSet,
    pub registry: Registry,
    pub shares: Vec<RegistryShare>,
    pub notes: Vec<String>,
}

/// Read the frequency sets at the ARD and the registry.
pub fn prepare(
    loaded: &Frequencies,
    source: &RegistrySource,
    availability: &AvailabilityChoice,
    reducer: &Reducer<'_>,
    today: NaiveDate,
) -> Result<Prepared, AppError> {
    let mut notes = loaded.notes.clone();
    let converter = Converter::new(reducer, &loaded.resolution);
    let set = CompiledSet::compile(&loaded.set, |n| converter.ard_key(n))
        .map_err(|e| invalid("freqs", e))?;
    let codes = set.codes();
    let k = codes.len();
    let mut counts = Counts {
        donors: vec![0.0; k],
        other: 0.0,
    };
    match source {
        RegistrySource::Db(path) => {
            let store = Store::open_existing(path)?;
            let mut others: Vec<String> = Vec::new();
            for (pop, n) in store.searchable_adults_by_population(today)? {
                match pop.as_deref().and_then(|p| set.population_index(p).ok()) {
                    Some(i) => counts.donors[i] += n as f64,
                    None => {
                        counts.other += n as f64;
                        others.push(format!("{} ({n})", pop.as_deref().unwrap_or("none")));
                    }
                }
            }
            if counts.total() == 0.0 {
                return Err(AppError::Invalid {
                    field: "db".into(),
                    reason: format!(
                        "{} has no searchable adult donors to compute a likelihood for",
                        path.display()
                    ),
                });
            }
            if !others.is_empty() {
                notes.push(format!(
                    "donors of populations without frequencies, counted as a mixture of the set's populations in the registry's proportions: {}",
                    others.join(", ")
                ));
            }
        }
        RegistrySource::Mix(mix) => {
            let total: f64 = mix.iter().map(|(_, s)| s).sum();
            for (pop, share) in mix {
                let i = set.population_index(pop).map_err(|e| invalid("mix", e))?;
                counts.donors[i] += share / total;
            }
        }
    }
    let known: f64 = counts.donors.iter().sum();
    let other_mix: Vec<f64> = if known > 0.0 {
        counts.donors.iter().map(|n| n / known).collect()
    } else {
        vec![1.0 / k as f64; k]
    };
    let mut avail = Availability {
        donors: codes.iter().map(|c| published_availability(c)).collect(),
        other: published_availability(""),
    };
    match availability {
        AvailabilityChoice::Published => notes.push(format!(
            "availability: published figures ({}; other populations {:.2}); Blood Adv 2024;8:2753",
            codes
                .iter()
                .zip(&avail.donors)
                .map(|(c, a)| format!("{c} {a:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            avail.other
        )),
        AvailabilityChoice::All(a) => {
            avail.donors.fill(*a);
            avail.other = *a;
        }
        AvailabilityChoice::Per(per) => {
            for (pop, a) in per {
                let i = set
                    .population_index(pop)
                    .map_err(|e| invalid("availability", e))?;
                avail.donors[i] = *a;
            }
        }
    }
    let total = counts.total();
    let shares = codes
        .iter()
        .enumerate()
        .map(|(i, c)| RegistryShare {
            population: c.clone(),
            donors: counts.donors[i],
            share: counts.donors[i] / total,
            availability: avail.donors[i],
        })
        .chain((counts.other > 0.0).then(|| RegistryShare {
            population: "other".into(),
            donors: counts.other,
            share: counts.other / total,
            availability: avail.other,
        }))
        .collect();
    Ok(Prepared {
        set,
        registry: Registry {
            availability: avail,
            other_mix,
            counts,
        },
        shares,
        notes,
    })
}

/// One figure: the likelihood of a population's patients at a level and registry size.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LikelihoodRow {
    pub population: String,
    #[schema(value_type = String, example = "8/8")]
    pub level: Level,
    pub registry_size: u64,
    pub likelihood: f64,
}

/// A patient population and the frequency mass its set does not list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatientPopulation {
    pub population: String,
    /// The share of the population's genotypes the set does not list, counted unmatched.
    pub unlisted: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LevelGenotypes {
    #[schema(value_type = String, example = "8/8")]
    pub level: Level,
    pub genotypes: usize,
}

/// The likelihood table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LikelihoodReport {
    pub rows: Vec<LikelihoodRow>,
    pub populations: Vec<PatientPopulation>,
    pub registry: Vec<RegistryShare>,
    pub genotypes: Vec<LevelGenotypes>,
    pub notes: Vec<String>,
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct LikelihoodOptions {
    pub freqs: FreqSource,
    pub source: RegistrySource,
    pub availability: AvailabilityChoice,
    pub levels: Vec<Level>,
    /// Registry sizes; empty: the database's own size, or `DEFAULT_SIZES`.
    pub sizes: Vec<u64>,
    pub mixed: Vec<(String, String)>,
    pub today: NaiveDate,
}

/// Compute the likelihood table; `progress` hears of each level as it starts.
pub fn likelihood(
    opts: &LikelihoodOptions,
    reducer: &Reducer<'_>,
    progress: impl FnMut(Level),
) -> Result<LikelihoodReport, AppError> {
    let loaded = opts.freqs.load(reducer)?;
    likelihood_with(&loaded, opts, reducer, progress)
}

/// The likelihood table with frequencies already loaded (`opts.freqs` is not read).
pub fn likelihood_with(
    loaded: &Frequencies,
    opts: &LikelihoodOptions,
    reducer: &Reducer<'_>,
    mut progress: impl FnMut(Level),
) -> Result<LikelihoodReport, AppError> {
    let caps = crate::caps::Caps::get();
    crate::caps::Caps::check(
        "sizes",
        opts.sizes.len(),
        "likelihood_sizes",
        caps.likelihood_sizes,
    )?;
    let prep = prepare(
        loaded,
        &opts.source,
        &opts.availability,
        reducer,
        opts.today,
    )?;
    let mixed = opts
        .mixed
        .iter()
        .map(|(a, b)| {
            Ok((
                prep.set
                    .population_index(a)
                    .map_err(|e| invalid("mixed", e))?,
                prep.set
                    .population_index(b)
                    .map_err(|e| invalid("mixed", e))?,
            ))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let sizes: Vec<u64> = if !opts.sizes.is_empty() {
        opts.sizes.clone()
    } else if matches!(opts.source, RegistrySource::Db(_)) {
        vec![prep.registry.counts.total().round() as u64]
    } else {
        DEFAULT_SIZES.to_vec()
    };
    let pools: Vec<Counts> = sizes
        .iter()
        .map(|&s| prep.registry.counts.scaled(s as f64))
        .collect();
    let mut report = LikelihoodReport {
        rows: Vec::new(),
        populations: Vec::new(),
        registry: prep.shares.clone(),
        genotypes: Vec::new(),
        notes: prep.notes.clone(),
    };
    let mut results: Vec<(Level, Vec<String>, Vec<Vec<f64>>)> = Vec::new();
    // 8/8 before 7/8: the 7/8 model is the 8/8 one with the donors one allele away added
    let mut order = opts.levels.clone();
    order.sort();
    let mut eight: Option<LevelModel> = None;
    for level in order {
        progress(level);
        let model = match (level, eight.take()) {
            (Level::SevenOfEight, Some(m)) => m.seven_of_eight(),
            _ => LevelModel::build(&prep.set, level, &mixed).map_err(|e| invalid("freqs", e))?,
        };
        let l = model.likelihoods(
            &prep.registry.availability,
            &prep.registry.other_mix,
            &pools,
        );
        if report.populations.is_empty() {
            report.populations = model
                .patient_pops
                .iter()
                .zip(&model.listed)
                .map(|(p, listed)| PatientPopulation {
                    population: p.clone(),
                    unlisted: (1.0 - listed).max(0.0),
                })
                .collect();
        }
        report.genotypes.push(LevelGenotypes {
            level,
            genotypes: model.genotypes(),
        });
        results.push((level, model.patient_pops.clone(), l));
        if level == Level::EightOfEight && opts.levels.contains(&Level::SevenOfEight) {
            eight = Some(model);
        }
    }
    results.sort_by_key(|r| opts.levels.iter().position(|l| *l == r.0));
    report
        .genotypes
        .sort_by_key(|g| opts.levels.iter().position(|l| *l == g.level));
    // rows by population, then level, then size
    if let Some((_, pops, _)) = results.first() {
        for (x, pop) in pops.iter().enumerate() {
            for (level, _, l) in &results {
                for (i, &size) in sizes.iter().enumerate() {
                    report.rows.push(LikelihoodRow {
                        population: pop.clone(),
                        level: *level,
                        registry_size: size,
                        likelihood: l[i][x].clamp(0.0, 1.0),
                    });
                }
            }
        }
    }
    for p in &report.populations {
        if p.unlisted >= 5e-5 {
            report.notes.push(format!(
                "{}: the set lists {:.2}% of its patients' genotypes; the other {:.2}% are counted as unmatched",
                p.population,
                100.0 * (1.0 - p.unlisted),
                100.0 * p.unlisted
            ));
        }
    }
    Ok(report)
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct RecruitOptions {
    pub freqs: FreqSource,
    pub source: RegistrySource,
    /// The registry's size when `source` is a mix.
    pub size: u64,
    pub availability: AvailabilityChoice,
    pub budget: u64,
    /// Weight of each patient population in the objective; empty: equal.
    pub weights: Vec<(String, f64)>,
    pub target: Option<(String, f64)>,
    pub level: Level,
    pub steps: usize,
    pub today: NaiveDate,
}

/// Per donor population: donors now and to add.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Allocation {
    pub population: String,
    pub donors_now: u64,
    pub recruit: u64,
}

/// Per patient population: the likelihood before and after.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Gain {
    pub population: String,
    pub weight: f64,
    pub before: f64,
    pub after: f64,
    pub gain: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Target {
    pub population: String,
    pub likelihood: f64,
    pub now: f64,
    /// More donors of the population its patients need; `None`: unreachable with the set.
    pub donors_needed: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanStep {
    pub population: String,
    pub donors: u64,
    pub cumulative: u64,
    /// Weighted likelihood (weights normalised to 1) after the step.
    pub objective: f64,
}

/// The recruitment plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecruitReport {
    #[schema(value_type = String, example = "8/8")]
    pub level: Level,
    pub budget: u64,
    pub registry_size: u64,
    pub allocation: Vec<Allocation>,
    pub gains: Vec<Gain>,
    pub objective_before: f64,
    pub objective_after: f64,
    pub target: Option<Target>,
    pub steps: Vec<PlanStep>,
    pub notes: Vec<String>,
}

/// The largest number of donors `--target` looks at.
const TARGET_LIMIT: u64 = 1 << 36;

/// Plan the recruitment of `budget` donors.
pub fn recruit(opts: &RecruitOptions, reducer: &Reducer<'_>) -> Result<RecruitReport, AppError> {
    let loaded = opts.freqs.load(reducer)?;
    recruit_with(&loaded, opts, reducer)
}

/// The recruitment plan with frequencies already loaded (`opts.freqs` is not read).
pub fn recruit_with(
    loaded: &Frequencies,
    opts: &RecruitOptions,
    reducer: &Reducer<'_>,
) -> Result<RecruitReport, AppError> {
    let caps = crate::caps::Caps::get();
    crate::caps::Caps::check("steps", opts.steps, "recruit_steps", caps.recruit_steps)?;
    let mut prep = prepare(
        loaded,
        &opts.source,
        &opts.availability,
        reducer,
        opts.today,
    )?;
    if let RegistrySource::Mix(_) = opts.source {
        prep.registry.counts = prep.registry.counts.scaled(opts.size as f64);
    }
    let model = LevelModel::build(&prep.set, opts.level, &[]).map_err(|e| invalid("freqs", e))?;
    let pops = model.patient_pops.clone();
    let mut weights = vec![0.0; pops.len()];
    if opts.weights.is_empty() {
        weights.fill(1.0);
    } else {
        for (pop, w) in &opts.weights {
            let i = prep
                .set
                .population_index(pop)
                .map_err(|e| invalid("weights", e))?;
            weights[i] = *w;
        }
    }
    let wsum: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= wsum);
    let plan = recruit::allocate(&model, &prep.registry, &weights, opts.budget, opts.steps);
    let mut after = prep.registry.counts.clone();
    for (n, a) in after.donors.iter_mut().zip(&plan.added) {
        *n += *a as f64;
    }
    let l = model.likelihoods(
        &prep.registry.availability,
        &prep.registry.other_mix,
        &[prep.registry.counts.clone(), after],
    );
    let target = match &opts.target {
        None => None,
        Some((pop, level)) => {
            let i = prep
                .set
                .population_index(pop)
                .map_err(|e| invalid("target", e))?;
            Some(Target {
                population: pops[i].clone(),
                likelihood: *level,
                now: l[0][i],
                donors_needed: recruit::donors_needed(
                    &model,
                    &prep.registry,
                    i,
                    i,
                    *level,
                    TARGET_LIMIT,
                ),
            })
        }
    };
    Ok(RecruitReport {
        level: opts.level,
        budget: opts.budget,
        registry_size: prep.registry.counts.total().round() as u64,
        allocation: pops
            .iter()
            .enumerate()
            .map(|(i, p)| Allocation {
                population: p.clone(),
                donors_now: prep.registry.counts.donors[i].round() as u64,
                recruit: plan.added[i],
            })
            .collect(),
        gains: pops
            .iter()
            .enumerate()
            .map(|(i, p)| Gain {
                population: p.clone(),
                weight: weights[i],
                before: l[0][i],
                after: l[1][i],
                gain: l[1][i] - l[0][i],
            })
            .collect(),
        objective_before: plan.objective_before,
        objective_after: plan.objective_after,
        target,
        steps: plan
            .steps
            .iter()
            .map(|s| PlanStep {
                population: pops[s.population].clone(),
                donors: s.donors,
                cumulative: s.cumulative,
                objective: s.objective,
            })
            .collect(),
        notes: prep.notes,
    })
}
