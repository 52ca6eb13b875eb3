//! `medulla bench-adversarial`: the nomenclature parsers on issue 25's adversarial input
//! (`A*` and a run of N digits, a GL String of N alleles), timed per input, for
//! BENCHMARKS.md. Every input past a limit must be refused by name, in time flat in N.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use medulla_nomenclature::{split_loci, Reducer};

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct AdversarialBenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Sizes N to time: `A*` + N nines, `A*01:` + N digits, and a GL String of N alleles.
    #[arg(long, default_value = "10,100,1000,10000,60000", value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Calls per input (the mean is reported).
    #[arg(long, default_value_t = 200)]
    repeat: usize,
}

/// Mean time of `f` over `repeat` calls, in microseconds.
fn mean_us(repeat: usize, mut f: impl FnMut()) -> f64 {
    let repeat = repeat.max(1);
    let t = Instant::now();
    for _ in 0..repeat {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / repeat as f64
}

pub fn run(args: AdversarialBenchArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    println!(
        "IPD-IMGT/HLA {}; mean of {} calls per input",
        release.version(),
        args.repeat
    );
    println!(
        "{:<28} {:>7} {:>10} {:>12} {:>12}  result",
        "input", "N", "bytes", "validate µs", "split_loci µs"
    );
    for &n in &args.sizes {
        let inputs = [
            ("A* + N nines", format!("A*{}", "9".repeat(n))),
            ("A*01: + N digits", format!("A*01:{}", "7".repeat(n))),
            ("N alleles A*01:01/...", vec!["A*01:01"; n.max(1)].join("/")),
            ("N alleles A1/... (short)", vec!["A1"; n.max(1)].join("/")),
        ];
        for (what, text) in &inputs {
            let v = mean_us(args.repeat, || {
                let _ = std::hint::black_box(reducer.validate(std::hint::black_box(text)));
            });
            let s = mean_us(args.repeat, || {
                let _ = std::hint::black_box(split_loci(std::hint::black_box(text)));
            });
            let result = match reducer.validate(text) {
                Ok(_) => "valid".to_string(),
                Err(e) => e.reason.to_string(),
            };
            println!(
                "{:<28} {:>7} {:>10} {:>12.2} {:>12.2}  {}",
                what,
                n,
                text.len(),
                v,
                s,
                result
            );
        }
    }
    Ok(())
}
