//! `medulla bench`: throughput of the hot paths, for BENCHMARKS.md.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use medulla_nomenclature::{Reducer, Reduction};
use rayon::prelude::*;

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// One typing per line (default: bench/reduce-inputs.txt).
    #[arg(long, default_value = "bench/reduce-inputs.txt")]
    input: PathBuf,
    /// Reductions to time, comma separated.
    #[arg(long, default_value = "G,P,lg,lgx,W,exon,U2,S", value_delimiter = ',')]
    to: Vec<Reduction>,
    /// Passes over the input per reduction (the best pass is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let load_start = Instant::now();
    let (release, macs) = args.source.load()?;
    let load_ms = load_start.elapsed().as_secs_f64() * 1000.0;
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let inputs: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let reducer = Reducer::new(&release, &macs);
    let singles = inputs
        .iter()
        .filter(|t| !t.contains(['/', '+', '^', '~', '|']))
        .count();
    println!(
        "release load {:.0} ms; {} inputs ({} single names, {} GL strings); {} threads",
        load_ms,
        inputs.len(),
        singles,
        inputs.len() - singles,
        rayon::current_num_threads()
    );
    println!(
        "{:<6} {:>14} {:>14} {:>8}",
        "redux", "1 thread/s", "all cores/s", "errors"
    );
    for to in &args.to {
        let mut best1 = f64::MAX;
        let mut bestn = f64::MAX;
        let mut errors = 0;
        for _ in 0..args.repeat.max(1) {
            let t = Instant::now();
            errors = inputs
                .iter()
                .filter(|i| reducer.reduce(i, *to).is_err())
                .count();
            best1 = best1.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let e2 = inputs
                .par_iter()
                .filter(|i| reducer.reduce(i, *to).is_err())
                .count();
            bestn = bestn.min(t.elapsed().as_secs_f64());
            assert_eq!(errors, e2);
        }
        println!(
            "{:<6} {:>14.0} {:>14.0} {:>8}",
            to.to_string(),
            inputs.len() as f64 / best1,
            inputs.len() as f64 / bestn,
            errors
        );
    }
    Ok(())
}
