//! Synthetic donor pools: donors drawn from population haplotype frequencies, with realistic
//! demographics and a realistic mix of typing resolutions.
//!
//! Every donor is a pure function of (seed, donor number): donor `i` comes from its own
//! ChaCha8 stream, so a pool is identical for a seed however it is generated, in order or in
//! parallel, and nothing is held in memory but the current donor.
//!
//! Typing resolutions (per donor):
//! - 40% high resolution: two fields at A, B, C, DRB1, DQB1;
//! - 25% intermediate: every allele written as an NMDP MAC that contains it (an allele list
//!   under the same first field when no suitable code exists);
//! - 20% typed only at A, B (first field, XX) and DRB1 (two fields);
//! - 15% low resolution: XX codes at A, B, DRB1.
//!
//! DPB1 is never typed (the haplotype set has five loci). Alleles of the set that are not
//! names of the loaded release (renamed since 2007) are written as XX codes.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;

use chrono::{Datelike, Days, Months, NaiveDate};
use medulla_haplotypes::{FrequencySet, HaplotypeSampler};
use medulla_nomenclature::{MacTable, Release};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::csv_format::EXPORT_HEADER;
use crate::donor::{CordUnit, Donor, Typing, DONOR_LOCI};
use crate::grid::Grid;
use crate::io::csv_row;
use crate::model::{Abo, Cmv, DonorType, Rh, Sex};
use crate::status::Status;

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("population mix: {0}")]
    Mix(String),
    #[error("population {0} is not in the haplotype frequency set (it has {1})")]
    UnknownPopulation(String, String),
    #[error(transparent)]
    Haplotypes(#[from] medulla_haplotypes::HaplotypeError),
    #[error("writing the donor file: {0}")]
    Csv(#[from] csv::Error),
}

/// Population shares of a pool, e.g. `EUR=0.6,AFA=0.15,API=0.15,HIS=0.1`.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationMix(pub Vec<(String, f64)>);

impl std::str::FromStr for PopulationMix {
    type Err = SynthError;
    fn from_str(s: &str) -> Result<Self, SynthError> {
        let mut v = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (code, share) = part
                .split_once('=')
                .ok_or_else(|| SynthError::Mix(format!("{part:?} is not POP=SHARE")))?;
            let share: f64 = share
                .trim()
                .parse()
                .map_err(|_| SynthError::Mix(format!("share {share:?} is not a number")))?;
            if !(share >= 0.0 && share.is_finite()) {
                return Err(SynthError::Mix(format!("share of {code} must be >= 0")));
            }
            v.push((code.trim().to_string(), share));
        }
        let total: f64 = v.iter().map(|(_, s)| s).sum();
        if v.is_empty() || total <= 0.0 {
            return Err(SynthError::Mix(
                "no population with a positive share".into(),
            ));
        }
        Ok(PopulationMix(
            v.into_iter().map(|(c, s)| (c, s / total)).collect(),
        ))
    }
}

impl Default for PopulationMix {
    fn default() -> Self {
        "EUR=0.6,AFA=0.15,API=0.15,HIS=0.1"
            .parse()
            .expect("default mix")
    }
}

#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub seed: u64,
    pub mix: PopulationMix,
    /// Ages and dates are computed at this date (a fixed default keeps pools reproducible).
    pub as_of: NaiveDate,
    /// Share of cord blood units.
    pub cord_share: f64,
    /// Registry code written on every donor.
    pub registry: String,
    /// ION of the GRIDs given to the donors.
    pub ion: u16,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            mix: PopulationMix::default(),
            as_of: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            cord_share: 0.03,
            registry: "SYNTH".into(),
            ion: 9999,
        }
    }
}

/// How one donor was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    High,
    Intermediate,
    AbDrb1,
    Low,
}

/// One synthetic donor and how it was typed.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthDonor {
    pub donor: Donor,
    pub resolution: Resolution,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resolution::High => "high",
            Resolution::Intermediate => "intermediate",
            Resolution::AbDrb1 => "A-B-DRB1",
            Resolution::Low => "low",
        })
    }
}

/// Generates donors of a pool.
pub struct Synthesizer<'a> {
    config: SynthConfig,
    samplers: Vec<(String, f64, HaplotypeSampler<'a>)>,
    loci: Vec<&'static str>,
    /// allele of the set -> its two-field name, when the release knows it
    high_res: HashMap<&'a str, Option<String>>,
    /// two-field allele -> MAC typings containing it (`A*02:AB`)
    macs: HashMap<String, Vec<String>>,
    /// two-field allele -> other two-field names under its first field
    siblings: HashMap<String, Vec<String>>,
}

/// Position of a locus of the frequency set in a donor's typing.
fn csv_slot(locus: &str) -> Option<usize> {
    DONOR_LOCI.iter().position(|l| *l == locus)
}

impl<'a> Synthesizer<'a> {
    pub fn new(
        config: SynthConfig,
        freqs: &'a FrequencySet,
        release: &Release,
        mac_table: &MacTable,
    ) -> Result<Self, SynthError> {
        let have = || {
            freqs
                .populations
                .iter()
                .map(|p| p.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut samplers = Vec::new();
        for (code, share) in &config.mix.0 {
            let pop = freqs
                .population(code)
                .ok_or_else(|| SynthError::UnknownPopulation(code.clone(), have()))?;
            samplers.push((code.clone(), *share, pop.sampler()?));
        }
        // two-field names of the set's alleles on this release
        let mut high_res = HashMap::new();
        for pop in &freqs.populations {
            for h in &pop.haplotypes {
                for a in &h.alleles {
                    high_res.entry(&**a).or_insert_with(|| {
                        let two = a.strip_suffix('g').unwrap_or(a);
                        release.is_valid_name(two).then(|| two.to_string())
                    });
                }
            }
        }
        let wanted: Vec<String> = high_res.values().flatten().cloned().collect();
        let (macs, siblings) = mac_index(&wanted, release, mac_table);
        Ok(Synthesizer {
            config,
            samplers,
            loci: freqs.loci.clone(),
            high_res,
            macs,
            siblings,
        })
    }

    /// Donor number `index` of the pool (0-based).
    pub fn donor(&self, index: u64) -> SynthDonor {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(index);
        let c = &self.config;

        // population
        let mut x: f64 = rng.random();
        let mut which = self.samplers.len() - 1;
        for (i, (_, share, _)) in self.samplers.iter().enumerate() {
            if x < *share {
                which = i;
                break;
            }
            x -= share;
        }
        let (population, _, sampler) = &self.samplers[which];
        let h1 = sampler.sample(&mut rng);
        let h2 = sampler.sample(&mut rng);

        // demographics
        let donor_type = if rng.random_bool(c.cord_share) {
            DonorType::Cord
        } else {
            DonorType::Adult
        };
        let sex = if rng.random_bool(0.55) {
            Sex::Female
        } else {
            Sex::Male
        };
        let years = |d: NaiveDate, n: u32| d.checked_sub_months(Months::new(12 * n)).expect("date");
        let (birth_date, recruitment_date) = match donor_type {
            DonorType::Adult => {
                // aged 18 to 60 on the as-of date; recruited between 18 and 40
                let latest = years(c.as_of, 18);
                let earliest = years(c.as_of, 61) + Days::new(1);
                let span = (latest - earliest).num_days() as u64;
                let birth = earliest + Days::new(rng.random_range(0..=span));
                let at18 = birth + Months::new(12 * 18);
                let last40 = (birth + Months::new(12 * 41) - Days::new(1)).min(c.as_of);
                let window = (last40 - at18).num_days().max(0) as u64;
                (birth, at18 + Days::new(rng.random_range(0..=window)))
            }
            DonorType::Cord => {
                let collected = c.as_of - Days::new(rng.random_range(0..25 * 365));
                (collected, collected)
            }
        };
        let age_days = (c.as_of - birth_date).num_days();
        let since = (c.as_of - recruitment_date).num_days().max(0) as u64;
        let typing_date = recruitment_date + Days::new(rng.random_range(0..=since.min(90)));
        let abo = match rng.random_range(0..100) {
            0..45 => Abo::O,
            45..85 => Abo::A,
            85..96 => Abo::B,
            _ => Abo::AB,
        };
        let rh = if rng.random_bool(0.85) {
            Rh::Positive
        } else {
            Rh::Negative
        };
        // CMV seroprevalence rises with age
        let age_years = age_days as f64 / 365.25;
        let cmv = if rng.random_bool((0.3 + age_years * 0.006).min(0.9)) {
            Cmv::Positive
        } else {
            Cmv::Negative
        };
        let cord = (donor_type == DonorType::Cord).then(|| {
            let tnc = rng.random_range(80.0..260.0_f64);
            let cd34 = tnc * rng.random_range(0.02..0.06_f64);
            let volume = rng.random_range(60.0..160.0_f64);
            (
                (tnc * 10.0).round() / 10.0,
                (cd34 * 10.0).round() / 10.0,
                volume.round(),
            )
        });

        // typing
        let resolution = match rng.random_range(0..100) {
            0..40 => Resolution::High,
            40..65 => Resolution::Intermediate,
            65..85 => Resolution::AbDrb1,
            _ => Resolution::Low,
        };
        let mut typing = Typing {
            date: Some(typing_date),
            ..Typing::default()
        };
        for (li, locus) in self.loci.iter().enumerate() {
            let Some(slot) = csv_slot(locus) else {
                continue;
            };
            let typed = match resolution {
                Resolution::High | Resolution::Intermediate => true,
                Resolution::AbDrb1 | Resolution::Low => matches!(*locus, "A" | "B" | "DRB1"),
            };
            if !typed {
                continue;
            }
            for (pos, h) in [h1, h2].into_iter().enumerate() {
                typing.positions[slot][pos] =
                    Some(self.write_allele(&h.alleles[li], locus, resolution, &mut rng));
            }
        }

        let id = format!("SYN{index:010}");
        SynthDonor {
            donor: Donor {
                grid: Some(Grid::new(c.ion, &id).expect("13-character synthetic ids")),
                id,
                registry: c.registry.clone(),
                donor_type,
                sex: Some(sex),
                birth_date: Some(birth_date),
                abo: Some(abo),
                rh: Some(rh),
                cmv: Some(cmv),
                population: Some(population.clone()),
                recruitment_date: Some(recruitment_date),
                cord: cord.map(|(tnc, cd34, volume)| CordUnit {
                    tnc_1e7: Some(tnc),
                    cd34_1e6: Some(cd34),
                    volume_ml: Some(volume),
                }),
                typing,
            },
            resolution,
        }
    }

    /// How a typing of `resolution` writes one allele of the set at `locus` (two fields, a
    /// MAC or an allele list, an XX code).
    pub fn write_allele(
        &self,
        allele: &str,
        locus: &str,
        resolution: Resolution,
        rng: &mut ChaCha8Rng,
    ) -> String {
        let Some(Some(two)) = self.high_res.get(allele) else {
            return xx_of(allele);
        };
        let low =
            resolution == Resolution::Low || (resolution == Resolution::AbDrb1 && locus != "DRB1");
        if low {
            return xx_of(two);
        }
        if resolution != Resolution::Intermediate {
            return two.clone();
        }
        if let Some(codes) = self.macs.get(two) {
            return codes[rng.random_range(0..codes.len())].clone();
        }
        match self.siblings.get(two) {
            Some(sib) if !sib.is_empty() => {
                let other = &sib[rng.random_range(0..sib.len())];
                let mut pair = [two.as_str(), other.as_str()];
                pair.sort_by(|a, b| medulla_nomenclature::name::natural_cmp(a, b));
                pair.join("/")
            }
            _ => two.clone(),
        }
    }

    /// Write donors `0..count` as donor CSV, calling `progress` every 65,536 donors.
    pub fn write_csv<W: Write>(
        &self,
        out: W,
        count: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<(), SynthError> {
        let mut w = csv::WriterBuilder::new().from_writer(out);
        w.write_record(EXPORT_HEADER)?;
        for i in 0..count {
            w.write_record(csv_row(self.donor(i).donor, &Status::Available))?;
            if i % 65_536 == 65_535 {
                progress(i + 1);
            }
        }
        w.flush().map_err(csv::Error::from)?;
        progress(count);
        Ok(())
    }
}

fn xx_of(name: &str) -> String {
    format!("{}:XX", name.split(':').next().unwrap_or(name))
}

/// For each wanted two-field allele: the generic MACs (2 to 8 alleles, all names of the
/// release) that contain it, written under its first field; and its siblings under that
/// first field, for allele lists.
type MacIndex = (HashMap<String, Vec<String>>, HashMap<String, Vec<String>>);

fn mac_index(wanted: &[String], release: &Release, table: &MacTable) -> MacIndex {
    let mut by_second: HashMap<&str, Vec<(&str, Vec<&str>)>> = HashMap::new();
    for (code, expansion) in table.iter() {
        if expansion.contains(':') {
            continue;
        }
        let items: Vec<&str> = expansion.split('/').collect();
        if !(2..=8).contains(&items.len()) {
            continue;
        }
        for item in &items {
            by_second
                .entry(item)
                .or_default()
                .push((code, items.clone()));
        }
    }
    let mut macs = HashMap::new();
    let mut siblings = HashMap::new();
    for two in wanted {
        let Some((first, second)) = two.rsplit_once(':') else {
            continue;
        };
        let mut codes: Vec<String> = by_second
            .get(second)
            .map(|cands| {
                cands
                    .iter()
                    .filter(|(_, items)| {
                        items
                            .iter()
                            .all(|i| release.is_valid_name(&format!("{first}:{i}")))
                    })
                    .map(|(code, _)| format!("{first}:{code}"))
                    .collect()
            })
            .unwrap_or_default();
        codes.sort();
        codes.truncate(16);
        if !codes.is_empty() {
            macs.insert(two.clone(), codes);
        }
        let sib: Vec<String> = (1..=20)
            .map(|n| format!("{first}:{n:02}"))
            .filter(|n| n != two && release.is_valid_name(n))
            .collect();
        siblings.insert(two.clone(), sib);
    }
    (macs, siblings)
}

/// Age in whole years on `date`.
pub fn age_on(birth: NaiveDate, date: NaiveDate) -> i32 {
    let mut years = date.year() - birth.year();
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}
