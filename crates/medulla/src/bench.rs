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
    let is_gl = |t: &&str| t.contains(['/', '+', '^', '~', '|']);
    let singles: Vec<&str> = inputs.iter().copied().filter(|t| !is_gl(t)).collect();
    let gls: Vec<&str> = inputs.iter().copied().filter(is_gl).collect();
    println!(
        "IPD-IMGT/HLA {} loaded in {:.0} ms; {} inputs: {} single typings, {} GL strings; {} threads",
        release.version(),
        load_ms,
        inputs.len(),
        singles.len(),
        gls.len(),
        rayon::current_num_threads()
    );
    println!(
        "{:<6} {:>12} {:>12} {:>12} {:>14} {:>7}",
        "redux", "singles/s", "GL/s", "all/s", "all/s, cores", "errors"
    );
    // a new reducer for every pass: its expansion memo starts cold, as py-ard's caches do
    let time_one = |items: &[&str], to: Reduction| -> (f64, usize) {
        let reducer = Reducer::new(&release, &macs);
        let t = Instant::now();
        let errors = items
            .iter()
            .filter(|i| reducer.reduce(i, to).is_err())
            .count();
        (t.elapsed().as_secs_f64(), errors)
    };
    for to in &args.to {
        let (mut s_best, mut g_best, mut p_best) = (f64::MAX, f64::MAX, f64::MAX);
        let mut errors = 0;
        for _ in 0..args.repeat.max(1) {
            let (s, e1) = time_one(&singles, *to);
            let (g, e2) = time_one(&gls, *to);
            s_best = s_best.min(s);
            g_best = g_best.min(g);
            errors = e1 + e2;
            let reducer = Reducer::new(&release, &macs);
            let t = Instant::now();
            let e3 = inputs
                .par_iter()
                .filter(|i| reducer.reduce(i, *to).is_err())
                .count();
            p_best = p_best.min(t.elapsed().as_secs_f64());
            assert_eq!(errors, e3);
        }
        println!(
            "{:<6} {:>12.0} {:>12.0} {:>12.0} {:>14.0} {:>7}",
            to.to_string(),
            singles.len() as f64 / s_best,
            gls.len() as f64 / g_best,
            inputs.len() as f64 / (s_best + g_best),
            inputs.len() as f64 / p_best,
            errors
        );
    }
    Ok(())
}
