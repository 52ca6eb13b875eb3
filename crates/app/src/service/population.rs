//! The service's match likelihood and recruitment planning: the same use cases as
//! `medulla likelihood` and `medulla recruit`, on the service's frequency set and its
//! registry's own donors (or a size and mix), one computation at a time, audited.

use std::collections::BTreeMap;

use chrono::Local;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{lock, Service};
use crate::auth::{Actor, Permission};
use crate::error::AppError;
use crate::likelihood::{
    self, parse_levels, parse_mixed, AvailabilityChoice, LikelihoodOptions, LikelihoodReport,
    RecruitOptions, RecruitReport, RegistrySource,
};

/// The share of donors available when called: one number, or per population.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AvailabilityInput {
    All(f64),
    Per(BTreeMap<String, f64>),
}

/// A likelihood table as the API takes it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LikelihoodInput {
    /// `10/10`, `8/8`, `7/8` (default all three).
    pub levels: Option<Vec<String>>,
    /// Registry sizes (default: the registry's own size, or with `mix` 100k to 40M).
    pub sizes: Option<Vec<u64>>,
    /// Population shares of a registry to model; none: the registry's own searchable
    /// adult donors by population.
    pub mix: Option<BTreeMap<String, f64>>,
    /// Default: the published figures (0.54; 0.33 for AFA).
    pub availability: Option<AvailabilityInput>,
    /// Patients of mixed origin, `EUR+AFA`.
    pub mixed: Option<Vec<String>>,
}

/// A recruitment plan as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecruitInput {
    /// New donors to recruit.
    pub budget: u64,
    /// The level the plan raises (default `8/8`).
    pub level: Option<String>,
    /// Weight of each patient population (default equal).
    pub weights: Option<BTreeMap<String, f64>>,
    /// `{"population": "AFA", "likelihood": 0.5}`: the donors that population needs.
    pub target: Option<TargetInput>,
    /// Steps of the greedy allocation (default 40).
    pub steps: Option<usize>,
    /// With `size`: a registry of this mix instead of the registry's own donors.
    pub mix: Option<BTreeMap<String, f64>>,
    pub size: Option<u64>,
    pub availability: Option<AvailabilityInput>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    pub population: String,
    /// A fraction between 0 and 1.
    pub likelihood: f64,
}

fn availability(a: &Option<AvailabilityInput>) -> Result<AvailabilityChoice, AppError> {
    let bad = |reason: String| AppError::Invalid {
        field: "availability".into(),
        reason,
    };
    let check = |x: f64| {
        if (0.0..=1.0).contains(&x) {
            Ok(x)
        } else {
            Err(bad(format!("{x} is not a share between 0 and 1")))
        }
    };
    Ok(match a {
        None => AvailabilityChoice::Published,
        Some(AvailabilityInput::All(x)) => AvailabilityChoice::All(check(*x)?),
        Some(AvailabilityInput::Per(m)) => AvailabilityChoice::Per(
            m.iter()
                .map(|(p, x)| Ok((p.clone(), check(*x)?)))
                .collect::<Result<_, AppError>>()?,
        ),
    })
}

fn pairs(field: &str, m: &BTreeMap<String, f64>) -> Result<Vec<(String, f64)>, AppError> {
    if m.values().any(|x| !(x.is_finite() && *x >= 0.0)) || m.values().all(|x| *x == 0.0) {
        return Err(AppError::Invalid {
            field: field.into(),
            reason: "every number must be 0 or more, and one positive".into(),
        });
    }
    Ok(m.iter().map(|(k, v)| (k.clone(), *v)).collect())
}

impl Service {
    fn registry_source(
        &self,
        mix: &Option<BTreeMap<String, f64>>,
    ) -> Result<RegistrySource, AppError> {
        Ok(match mix {
            Some(m) => RegistrySource::Mix(pairs("mix", m)?),
            None => RegistrySource::Db(self.db.clone()),
        })
    }

    /// The likelihood table on the service's frequency set (audited with its options).
    pub fn likelihood(
        &self,
        actor: &Actor,
        input: &LikelihoodInput,
    ) -> Result<LikelihoodReport, AppError> {
        actor.require(Permission::Likelihood)?;
        let opts = LikelihoodOptions {
            freqs: Default::default(),
            source: self.registry_source(&input.mix)?,
            availability: availability(&input.availability)?,
            levels: match &input.levels {
                Some(l) => parse_levels(&l.join(","))?,
                None => parse_levels("10/10,8/8,7/8")?,
            },
            sizes: input.sizes.clone().unwrap_or_default(),
            mixed: match &input.mixed {
                Some(m) => parse_mixed(&m.join(","))?,
                None => Vec::new(),
            },
            today: Local::now().date_naive(),
        };
        let report = {
            let _one = lock(&self.population_work);
            likelihood::likelihood_with(self.freqs, &opts, self.reducer, |_| {})?
        };
        self.audit(
            &actor.user,
            "likelihood",
            "registry",
            serde_json::json!({
                "levels": input.levels, "sizes": input.sizes, "mix": input.mix,
                "mixed": input.mixed, "rows": report.rows.len(),
            }),
        )?;
        Ok(report)
    }

    /// A recruitment plan on the service's frequency set (audited with its options).
    pub fn recruit(&self, actor: &Actor, input: &RecruitInput) -> Result<RecruitReport, AppError> {
        actor.require(Permission::Likelihood)?;
        if input.mix.is_some() != input.size.is_some() {
            return Err(AppError::Invalid {
                field: "size".into(),
                reason: "a modelled registry needs both mix and size".into(),
            });
        }
        let target = match &input.target {
            None => None,
            Some(t) if (0.0..1.0).contains(&t.likelihood) => {
                Some((t.population.clone(), t.likelihood))
            }
            Some(t) => {
                return Err(AppError::Invalid {
                    field: "target".into(),
                    reason: format!("{} is not a likelihood between 0 and 1", t.likelihood),
                })
            }
        };
        let level = input.level.as_deref().unwrap_or("8/8");
        let opts = RecruitOptions {
            freqs: Default::default(),
            source: self.registry_source(&input.mix)?,
            size: input.size.unwrap_or(0),
            availability: availability(&input.availability)?,
            budget: input.budget,
            weights: match &input.weights {
                Some(w) => pairs("weights", w)?,
                None => Vec::new(),
            },
            target,
            level: parse_levels(level)?[0],
            steps: input.steps.unwrap_or(40).clamp(1, 1000),
            today: Local::now().date_naive(),
        };
        let report = {
            let _one = lock(&self.population_work);
            likelihood::recruit_with(self.freqs, &opts, self.reducer)?
        };
        self.audit(
            &actor.user,
            "recruit",
            "registry",
            serde_json::json!({
                "budget": input.budget, "level": level, "mix": input.mix, "size": input.size,
            }),
        )?;
        Ok(report)
    }
}
