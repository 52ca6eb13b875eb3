//! `medulla bench-likelihood`: the likelihood model against a simulation. Registries and
//! patients are drawn from the same haplotype frequencies, every patient is searched with
//! Medulla's own search (`matching::search`), and the share of patients with at least one
//! available match is set beside the model's figure with its sampling error.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use medulla_haplotypes::FrequencySet;
use medulla_matching::{search, ArdCatalog, DonorFacts, IndexedDonor, SearchIndex, SearchRequest};
use medulla_nomenclature::Reducer;
use medulla_population::{Availability, CompiledSet, Counts, Level, LevelModel};
use medulla_prediction::{Converter, NmdpGroups, Resolution};
use medulla_registry::synth::Resolution as Typed;
use medulla_registry::{SynthConfig, Synthesizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::hla::SourceArgs;
use crate::likelihood_cli::LikelihoodFormat;
use crate::table;

#[derive(Args)]
pub struct LikelihoodBenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Populations of the NMDP 2007 set to simulate (patients and donors of the same one).
    #[arg(long, default_value = "EUR,AFA,API,HIS")]
    populations: String,
    /// Registry sizes.
    #[arg(long, default_value = "1000,10000,100000")]
    sizes: String,
    /// Patients per population and size, spread over the registries.
    #[arg(long, default_value_t = 2000)]
    patients: usize,
    /// Independent registries drawn per population and size.
    #[arg(long, default_value_t = 4)]
    registries: usize,
    /// Share of donors available (each donor drawn searchable with this chance).
    #[arg(long, default_value_t = 1.0)]
    availability: f64,
    /// Levels searched and modelled.
    #[arg(long, default_value = "10/10,8/8,7/8")]
    levels: String,
    /// Seed of the registries and patients drawn.
    #[arg(long, default_value_t = 2014)]
    seed: u64,
    /// Output: a table, CSV or JSON (one record per population, level and size).
    #[arg(long, value_enum, default_value = "table")]
    format: LikelihoodFormat,
}

/// One comparison.
#[derive(Debug, serde::Serialize)]
pub struct Agreement {
    pub population: String,
    pub level: Level,
    pub registry_size: u64,
    pub model: f64,
    pub simulated: f64,
    pub patients: usize,
    /// Binomial standard error of the simulated share.
    pub standard_error: f64,
    /// (simulated - model) / standard error.
    pub z: f64,
}

/// The set with each population's frequencies scaled to sum to 1: the simulation draws
/// from the listed haplotypes only, so the model must not count unlisted mass.
fn normalised(mut set: FrequencySet) -> FrequencySet {
    for p in &mut set.populations {
        let t = p.total();
        p.frequencies.iter_mut().for_each(|f| *f /= t);
    }
    set
}

fn level_request(level: Level, patient: [[Option<String>; 2]; 6]) -> SearchRequest {
    let mut r = SearchRequest::ten_of_ten(patient, 0, 20_000);
    // SEARCH_LOCI: A, B, C, DRB1, DQB1, DPB1
    match level {
        Level::TenOfTen => {}
        Level::EightOfEight => r.loci = vec![0, 1, 2, 3],
        Level::SevenOfEight => {
            r.loci = vec![0, 1, 2, 3];
            r.max_mismatches = 1;
        }
    }
    r.limit = 1;
    r
}

/// A typing drawn from a population: two haplotypes, each allele written at two fields
/// as `medulla synth` writes a high-resolution typing.
fn draw(
    sampler: &medulla_haplotypes::HaplotypeSampler<'_>,
    synth: &Synthesizer<'_>,
    loci: &[&str],
    rng: &mut ChaCha8Rng,
) -> [[Option<String>; 2]; 6] {
    let h1 = sampler.sample(rng);
    let h2 = sampler.sample(rng);
    let mut t: [[Option<String>; 2]; 6] = Default::default();
    for (li, locus) in medulla_matching::SEARCH_LOCI.iter().enumerate() {
        let Some(col) = loci.iter().position(|l| l == locus) else {
            continue;
        };
        for (p, h) in [h1, h2].iter().enumerate() {
            t[li][p] = Some(synth.write_allele(&h.alleles[col], locus, Typed::High, rng));
        }
    }
    t
}

pub fn run(args: LikelihoodBenchArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let levels = medulla_app::likelihood::parse_levels(&args.levels)?;
    let sizes = medulla_app::likelihood::parse_sizes(&args.sizes)?;
    let set = normalised(FrequencySet::nmdp_2007());
    let resolution = Resolution::NmdpG(NmdpGroups::nmdp_2007());
    let converter = Converter::new(&reducer, &resolution);
    let compiled = CompiledSet::compile(&set, |n| converter.ard_key(n))?;
    let synth = Synthesizer::new(SynthConfig::default(), &set, &release, &macs)?;
    let started = Instant::now();
    let mut out: Vec<Agreement> = Vec::new();
    let models: Vec<LevelModel> = levels
        .iter()
        .map(|&l| LevelModel::build(&compiled, l, &[]))
        .collect::<Result<_, _>>()?;
    let mut catalog = ArdCatalog::new(&reducer);
    for code in args.populations.split(',').map(str::trim) {
        let pi = compiled.population_index(code)?;
        let pop = set.population(code).context("population")?;
        let sampler = pop.sampler()?;
        for &size in &sizes {
            let per = args.patients.div_ceil(args.registries.max(1));
            let mut found = vec![0usize; levels.len()];
            let mut searched = 0usize;
            for r in 0..args.registries.max(1) {
                let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ (size << 8) ^ r as u64);
                rng.set_stream(pi as u64);
                let donors: Vec<IndexedDonor> = (0..size)
                    .map(|i| IndexedDonor {
                        typing: draw(&sampler, &synth, &set.loci, &mut rng),
                        facts: DonorFacts {
                            id: format!("D{i}"),
                            registry: "SIM".into(),
                            population: Some(code.to_string()),
                            cord: false,
                            birth_day: None,
                            male: None,
                            cmv_positive: None,
                            abo: None,
                            tnc_1e7: None,
                            searchable: rng.random::<f64>() < args.availability,
                        },
                    })
                    .collect();
                let index = SearchIndex::build(&mut catalog, donors);
                for _ in 0..per {
                    let patient = draw(&sampler, &synth, &set.loci, &mut rng);
                    for (li, &level) in levels.iter().enumerate() {
                        let req = level_request(level, patient.clone());
                        let res = search(&index, &mut catalog, &req)?;
                        if !res.hits.is_empty() {
                            found[li] += 1;
                        }
                    }
                    searched += 1;
                }
            }
            for (li, model) in models.iter().enumerate() {
                let mut donors = vec![0.0; compiled.populations.len()];
                donors[pi] = size as f64;
                let m = model.likelihoods(
                    &Availability {
                        donors: vec![args.availability; compiled.populations.len()],
                        other: args.availability,
                    },
                    &vec![0.0; compiled.populations.len()],
                    &[Counts { donors, other: 0.0 }],
                )[0][pi];
                let sim = found[li] as f64 / searched as f64;
                let se = (m * (1.0 - m) / searched as f64).sqrt().max(1e-12);
                out.push(Agreement {
                    population: code.to_string(),
                    level: levels[li],
                    registry_size: size,
                    model: m,
                    simulated: sim,
                    patients: searched,
                    standard_error: se,
                    z: (sim - m) / se,
                });
            }
            eprintln!(
                "{code} at {size} donors: {searched} patients searched ({:.0} s so far)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    match args.format {
        LikelihoodFormat::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        LikelihoodFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            for a in &out {
                w.serialize(a)?;
            }
            w.flush()?;
        }
        LikelihoodFormat::Table => {
            println!(
                "Model against simulation (availability {}, {} registries per size, seed {})",
                args.availability, args.registries, args.seed
            );
            table::print(
                &[
                    "population",
                    "level",
                    "donors",
                    "model",
                    "simulated",
                    "patients",
                    "s.e.",
                    "z",
                ],
                &out.iter()
                    .map(|a| {
                        vec![
                            a.population.clone(),
                            a.level.name().to_string(),
                            a.registry_size.to_string(),
                            format!("{:.2}%", 100.0 * a.model),
                            format!("{:.2}%", 100.0 * a.simulated),
                            a.patients.to_string(),
                            format!("{:.2}", 100.0 * a.standard_error),
                            format!("{:+.2}", a.z),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            let within = out.iter().filter(|a| a.z.abs() <= 2.0).count();
            println!(
                "{within} of {} within two standard errors; {:.0} s",
                out.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
