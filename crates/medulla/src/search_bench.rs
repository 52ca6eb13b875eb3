//! `medulla bench-search`: index build time and search latency over a donor CSV.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use medulla_haplotypes::FrequencySet;
use medulla_matching::{search, ArdCatalog, SearchRequest};
use medulla_nomenclature::Reducer;
use medulla_nomenclature::{MacTable, Release};
use medulla_registry::search_index::{day_number, index_csv, indexed};
use medulla_registry::synth::{Resolution, SynthDonor};
use medulla_registry::{Status, SynthConfig, Synthesizer};

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct SearchBenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Donor CSV to index (e.g. from `medulla synth`).
    #[arg(long)]
    donors: PathBuf,
    /// Patients: high-resolution donors of a synthetic pool with this seed (not the pool's).
    #[arg(long, default_value_t = 100)]
    patients: usize,
    /// Seed of the patients drawn from the NMDP 2007 haplotypes.
    #[arg(long, default_value_t = 777)]
    patient_seed: u64,
    /// Date of the searches (donor ages, lapsing statuses).
    #[arg(long, default_value = "2026-01-01")]
    date: NaiveDate,
    /// Also time attaching match probabilities (NMDP 2007 set) to this many best hits of
    /// each 2-mismatch search (0: skip).
    #[arg(long, default_value_t = 0)]
    predict_top: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(args: SearchBenchArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let mut catalog = ArdCatalog::new(&reducer);
    let started = Instant::now();
    let f =
        File::open(&args.donors).with_context(|| format!("opening {}", args.donors.display()))?;
    // the donors read and checked as `donors import` reads them
    let name = args.donors.display().to_string();
    let validator = medulla_registry::validate::RecordValidator::new(&reducer, args.date);
    let mut rejected = std::collections::BTreeSet::new();
    let index = index_csv(
        &mut catalog,
        BufReader::with_capacity(1 << 20, f),
        &validator,
        &name,
        None,
        args.date,
        &mut |j| {
            rejected.insert(j.line);
        },
    )?;
    if !rejected.is_empty() {
        eprintln!("{name}: {} invalid record(s), not indexed", rejected.len());
    }
    let build = started.elapsed().as_secs_f64();
    let distinct = index.distinct_per_locus();
    println!(
        "{} donors indexed in {:.1} s ({} skipped); distinct typings A {} B {} C {} DRB1 {} DQB1 {} DPB1 {}; index {} bytes per donor",
        index.len(),
        build,
        index.skipped.len(),
        distinct[0],
        distinct[1],
        distinct[2],
        distinct[3],
        distinct[4],
        distinct[5],
        index.bytes_per_donor()
    );

    let drawn = draw_patients(&release, &macs, args.patient_seed, args.patients)?;
    let patients: Vec<[[Option<String>; 2]; 6]> = drawn
        .iter()
        .map(|d| indexed(&d.donor, &Status::Available, args.date).typing)
        .collect();
    println!(
        "{:<11} {:>9} {:>9} {:>9} {:>12}",
        "mismatches", "p50 ms", "p95 ms", "max ms", "mean found"
    );
    for mm in [0u8, 1, 2] {
        let mut times = Vec::new();
        let mut found = 0usize;
        for p in &patients {
            let mut req = SearchRequest::ten_of_ten(p.clone(), mm, day_number(args.date));
            req.limit = 1000;
            let t = Instant::now();
            let r = search(&index, &mut catalog, &req)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            found += r.total;
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{:<11} {:>9.1} {:>9.1} {:>9.1} {:>12.0}",
            mm,
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            times.last().copied().unwrap_or(0.0),
            found as f64 / patients.len() as f64
        );
    }
    if args.predict_top > 0 {
        let freqs = crate::predict::FreqArgs::default().load(&reducer)?;
        let t = Instant::now();
        let imputer = freqs.imputer(&reducer);
        println!(
            "match probabilities: frequency set compiled in {:.0} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
        let (mut times, mut hits, mut unexplained) = (Vec::new(), 0, 0);
        for (p, d) in patients.iter().zip(&drawn) {
            let mut req = SearchRequest::ten_of_ten(p.clone(), 2, day_number(args.date));
            req.limit = args.predict_top;
            let mut r = search(&index, &mut catalog, &req)?;
            let gl = p[..5]
                .iter()
                .map(|pair| pair.iter().flatten().cloned().collect::<Vec<_>>().join("+"))
                .collect::<Vec<_>>()
                .join("^");
            let t = Instant::now();
            let a = medulla_app::freqs::attach_probabilities(
                &imputer,
                &index,
                &mut r.hits,
                &gl,
                d.donor.population.as_deref(),
                None,
            );
            medulla_matching::rank_with_probabilities(&mut r.hits, &r.loci);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            hits += a.hits;
            unexplained += a.unexplained;
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "probabilities on the best {} hits of each 2-mismatch search: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({:.0} hits per search, {} without probabilities)",
            args.predict_top,
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            times.last().copied().unwrap_or(0.0),
            hits as f64 / patients.len() as f64,
            unexplained
        );
    }
    Ok(())
}

/// Patients for the benchmarks: the first `n` high-resolution draws of a synthetic pool
/// (NMDP 2007 haplotypes, population mix as `synth`'s default) with seed `seed`.
pub(crate) fn draw_patients(
    release: &Release,
    macs: &MacTable,
    seed: u64,
    n: usize,
) -> Result<Vec<SynthDonor>> {
    let freqs = FrequencySet::nmdp_2007();
    let synth = Synthesizer::new(
        SynthConfig {
            seed,
            ..SynthConfig::default()
        },
        &freqs,
        release,
        macs,
    )?;
    Ok((0..)
        .map(|i| synth.donor(i))
        .filter(|d| d.resolution == Resolution::High)
        .take(n)
        .collect())
}
