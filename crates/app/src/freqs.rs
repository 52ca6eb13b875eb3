//! Haplotype frequency sets for match prediction: where they come from, the resolution
//! they are read at, and probabilities put on search hits.

use std::path::PathBuf;

use medulla_haplotypes::{DeclaredResolution, FrequencySet};
use medulla_matching::{SearchHit, SearchIndex};
use medulla_nomenclature::Reducer;
use medulla_prediction::{match_probabilities, ArdDistribution, Imputer, NmdpGroups, Resolution};
use rayon::prelude::*;

use crate::error::AppError;

/// The resolution a set is written at, when the user says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum ResolutionChoice {
    /// NMDP's own g groups (the NMDP 2007 set).
    #[serde(rename = "nmdp-g")]
    NmdpG,
    /// IPD-IMGT/HLA G groups.
    #[serde(rename = "G")]
    G,
    /// IPD-IMGT/HLA small g groups.
    #[serde(rename = "g")]
    SmallG,
    /// Two-field names.
    #[serde(rename = "two-field")]
    TwoField,
}

/// Where the haplotype frequencies come from.
#[derive(Debug, Clone, Default)]
pub struct FreqSource {
    /// NMDP CSV, plain `haplotype,frequency` (one population, named by the file stem) or
    /// HF-set JSON files; none: the shipped NMDP 2007 set.
    pub files: Vec<PathBuf>,
    pub resolution: Option<ResolutionChoice>,
    /// NMDP g-group definitions; default the shipped ones.
    pub g_groups: Option<PathBuf>,
}

/// A loaded frequency set and its resolution.
pub struct Frequencies {
    pub set: FrequencySet,
    pub resolution: Resolution,
    /// What the loading decided that a user should know (a guessed resolution).
    pub notes: Vec<String>,
}

impl FreqSource {
    pub fn load(&self, reducer: &Reducer<'_>) -> Result<Frequencies, AppError> {
        let bad = |file: &str, reason: String| AppError::Invalid {
            field: file.to_string(),
            reason,
        };
        let mut set: Option<FrequencySet> = None;
        let mut nmdp_layout = self.files.is_empty();
        if self.files.is_empty() {
            set = Some(FrequencySet::nmdp_2007());
        }
        for path in &self.files {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| bad(&file, e.to_string()))?;
            let stem = path
                .file_stem()
                .map_or("default".into(), |s| s.to_string_lossy().to_string());
            let one = FrequencySet::parse_any(&text, &file, &stem)
                .map_err(|e| bad(&file, e.to_string()))?;
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            nmdp_layout |= first.split(',').count() >= 3 && !first.starts_with('{');
            match &mut set {
                None => set = Some(one),
                Some(s) => s.merge(one).map_err(|e| bad(&file, e.to_string()))?,
            }
        }
        let set = set.unwrap_or_else(FrequencySet::nmdp_2007);
        let groups = || -> Result<NmdpGroups, AppError> {
            Ok(match &self.g_groups {
                Some(p) => {
                    let file = p.display().to_string();
                    let text = std::fs::read_to_string(p).map_err(|e| bad(&file, e.to_string()))?;
                    NmdpGroups::parse(&text, &file).map_err(|e| bad(&file, e.to_string()))?
                }
                None => NmdpGroups::nmdp_2007(),
            })
        };
        let mut notes = Vec::new();
        let resolution = match (self.resolution, set.declared) {
            (Some(ResolutionChoice::NmdpG), _) => Resolution::NmdpG(groups()?),
            (Some(ResolutionChoice::G), _) => Resolution::GGroup,
            (Some(ResolutionChoice::SmallG), _) => Resolution::SmallG,
            (Some(ResolutionChoice::TwoField), _) => Resolution::TwoField,
            (None, Some(DeclaredResolution::GGroup)) => Resolution::GGroup,
            (None, Some(DeclaredResolution::SmallG)) => Resolution::SmallG,
            (None, Some(DeclaredResolution::TwoField)) => Resolution::TwoField,
            (None, None) if nmdp_layout => Resolution::NmdpG(groups()?),
            (None, None) => {
                let names: Vec<&str> = set
                    .populations
                    .iter()
                    .flat_map(|p| p.haplotypes.iter().flat_map(|h| h.alleles.iter()))
                    .map(|a| &**a)
                    .take(10_000)
                    .collect();
                let guessed = Resolution::guess(&names, reducer, groups()?);
                notes.push(format!(
                    "frequency set: resolution guessed from its names: {} (--resolution to say otherwise)",
                    guessed.name()
                ));
                guessed
            }
        };
        Ok(Frequencies {
            set,
            resolution,
            notes,
        })
    }
}

impl Frequencies {
    /// The imputer, with a registry-wide default population: the only one, or `ALL`, the
    /// populations' mean.
    pub fn imputer<'r>(&'r self, reducer: &'r Reducer<'r>) -> Imputer<'r> {
        let mut imp = Imputer::new(reducer, &self.resolution, &self.set);
        if self.set.populations.len() == 1 {
            imp.default_population = Some(self.set.populations[0].code.clone());
        } else {
            imp.add_population(&self.set.pooled("ALL", &[]));
            imp.default_population = Some("ALL".into());
        }
        imp
    }

    /// The warning to give, once, when most typings of a run were unrepresented: the
    /// usual reason is a set read at the wrong resolution.
    pub fn unrepresented_warning(&self, unrepresented: usize, total: usize) -> Option<String> {
        (total > 0 && unrepresented * 2 > total).then(|| {
            format!(
                "{unrepresented} of {total} typings are unrepresented in the frequency set (no haplotype pair explains them). \
                 The set is read at {} resolution; if its names are written otherwise, say so with --resolution nmdp-g|G|g|two-field",
                self.resolution.name()
            )
        })
    }
}

/// The GL String of an indexed donor over A, B, C, DRB1, DQB1 (the loci of a set).
fn donor_gl(index: &SearchIndex, donor: usize) -> String {
    index.donor_typing(donor)[..5]
        .iter()
        .filter_map(|pair| {
            let parts: Vec<&str> = pair.iter().flatten().copied().collect();
            (!parts.is_empty()).then(|| parts.join("+"))
        })
        .collect::<Vec<_>>()
        .join("^")
}

/// What attaching probabilities to search hits did.
pub struct Attached {
    pub hits: usize,
    /// Hits whose typing no haplotype pair of the set explains (left without).
    pub unexplained: usize,
    /// The patient's typing could not be explained: nothing attached.
    pub patient_error: Option<String>,
}

/// A typing and population, as a distribution is cached under.
type DistributionKey = (String, Option<String>);
type Distribution = Option<std::sync::Arc<ArdDistribution>>;

/// Genotype distributions kept between searches (a typing and population give the same
/// distribution every time): a long-running service keeps one, so the donors that come
/// back search after search are imputed once. Emptied when full.
pub struct DistributionCache {
    map: std::sync::RwLock<rustc_hash::FxHashMap<DistributionKey, Distribution>>,
    capacity: usize,
}

impl DistributionCache {
    pub fn new(capacity: usize) -> Self {
        DistributionCache {
            map: Default::default(),
            capacity,
        }
    }

    fn get_or(
        &self,
        key: &DistributionKey,
        compute: impl FnOnce() -> Distribution,
    ) -> Distribution {
        if let Some(hit) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return hit.clone();
        }
        let d = compute();
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(key.clone(), d.clone());
        d
    }
}

/// Attach match probabilities to search hits: the patient imputed once, each distinct
/// donor typing (and population) once, on all cores; with a cache, distributions seen by
/// earlier searches are not imputed again.
pub fn attach_probabilities(
    imputer: &Imputer<'_>,
    index: &SearchIndex,
    hits: &mut [SearchHit],
    patient_gl: &str,
    patient_population: Option<&str>,
    cache: Option<&DistributionCache>,
) -> Attached {
    use medulla_matching::{HitProbabilities, SEARCH_LOCI};
    use rustc_hash::FxHashMap;
    let patient = match imputer
        .model(patient_population)
        .and_then(|m| imputer.ard_distribution(m, &imputer.typing(patient_gl)?))
    {
        Ok(d) => d,
        Err(e) => {
            return Attached {
                hits: hits.len(),
                unexplained: 0,
                patient_error: Some(e.to_string()),
            }
        }
    };
    let keys: Vec<(String, Option<String>)> = hits
        .iter()
        .map(|h| (donor_gl(index, h.donor), index.facts(h.donor).population))
        .collect();
    let mut distinct: Vec<&(String, Option<String>)> = keys.iter().collect();
    distinct.sort();
    distinct.dedup();
    let loci = imputer.loci.clone();
    let computed: FxHashMap<&(String, Option<String>), Option<HitProbabilities>> = distinct
        .par_iter()
        .map(|k| {
            let impute = || -> Distribution {
                let model = imputer
                    .model(k.1.as_deref())
                    .or_else(|_| imputer.model(None));
                model
                    .and_then(|m| imputer.ard_distribution(m, &imputer.typing(&k.0)?))
                    .ok()
                    .map(std::sync::Arc::new)
            };
            let d = match cache {
                Some(c) => c.get_or(k, impute),
                None => impute(),
            };
            let p = d.map(|d| {
                let m = match_probabilities(&loci, &patient, &d);
                HitProbabilities {
                    p0: std::array::from_fn(|i| m.p0(SEARCH_LOCI[i])),
                    p_10of10: m.p_10of10,
                    p_9of10: m.p_9of10,
                    p_8of8: m.p_8of8,
                    p_8of10: m.overall[2],
                }
            });
            (*k, p)
        })
        .collect();
    let mut unexplained = 0;
    for (h, k) in hits.iter_mut().zip(&keys) {
        h.probabilities = computed[k];
        unexplained += usize::from(h.probabilities.is_none());
    }
    Attached {
        hits: hits.len(),
        unexplained,
        patient_error: None,
    }
}
