//! `medulla synth`: write a synthetic donor pool as donor CSV.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medulla_haplotypes::FrequencySet;
use medulla_registry::{PopulationMix, SynthConfig, Synthesizer};

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct SynthArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Number of donors.
    #[arg(long)]
    donors: u64,
    /// Seed: the same seed gives the same pool, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Population shares (codes of the haplotype set; normalised).
    #[arg(long, default_value = "EUR=0.6,AFA=0.15,API=0.15,HIS=0.1")]
    mix: PopulationMix,
    /// Output CSV (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Date at which ages are computed.
    #[arg(long, default_value = "2026-01-01")]
    as_of: NaiveDate,
    /// Share of cord blood units.
    #[arg(long, default_value_t = 0.03)]
    cords: f64,
    /// ION of the registry the donors belong to (the head of their GRIDs).
    #[arg(long, default_value_t = 9999)]
    ion: u16,
    /// Registry code written on every donor.
    #[arg(long, default_value = "SYNTH")]
    registry: String,
}

pub fn run(args: SynthArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let freqs = FrequencySet::nmdp_2007();
    let config = SynthConfig {
        seed: args.seed,
        mix: args.mix,
        as_of: args.as_of,
        cord_share: args.cords.clamp(0.0, 1.0),
        ion: args.ion,
        registry: args.registry.clone(),
    };
    let synth = Synthesizer::new(config, &freqs, &release, &macs)?;
    let started = Instant::now();
    let out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let bar = if args.out.is_some() {
        ProgressBar::new(args.donors)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} donors {per_sec} eta {eta}")
            .expect("progress template"),
    );
    synth.write_csv(BufWriter::with_capacity(1 << 20, out), args.donors, |n| {
        bar.set_position(n)
    })?;
    bar.finish_and_clear();
    if let Some(p) = &args.out {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "wrote {} donors to {} in {:.1} s ({:.0} donors/s)",
            args.donors,
            p.display(),
            secs,
            args.donors as f64 / secs
        );
    }
    Ok(())
}
