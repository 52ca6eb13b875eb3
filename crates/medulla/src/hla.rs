//! `medulla hla ...`: reduce, validate and expand typings, one per argument or per line.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medulla_nomenclature::{MacTable, Reducer, Reduction, Release, TypingError};
use rayon::prelude::*;

/// Where the release and the MAC table come from.
#[derive(Args, Clone)]
pub struct SourceArgs {
    /// IPD-IMGT/HLA release folder (Allelelist.txt, wmda/...); default: the shipped 3.58.0.
    #[arg(long, env = "MEDULLA_IMGT", global = true)]
    pub imgt: Option<PathBuf>,
    /// NMDP MAC table in numer.v3.txt layout; default: the shipped subset of 12,520 codes.
    #[arg(long, env = "MEDULLA_MAC", global = true)]
    pub mac: Option<PathBuf>,
}

impl SourceArgs {
    pub fn load(&self) -> Result<(Release, MacTable)> {
        let started = Instant::now();
        let release = match &self.imgt {
            Some(dir) => Release::from_dir(dir).with_context(|| {
                format!("loading the IPD-IMGT/HLA release in {}", dir.display())
            })?,
            None => Release::shipped(),
        };
        let macs = match &self.mac {
            Some(path) => MacTable::from_path(path)
                .with_context(|| format!("loading the MAC table {}", path.display()))?,
            None => MacTable::shipped(),
        };
        tracing_free_log(&format!(
            "loaded IPD-IMGT/HLA {} ({} alleles) and {} MAC codes in {:.0} ms",
            release.version(),
            release.allele_count(),
            macs.len(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
        Ok((release, macs))
    }
}

pub(crate) fn tracing_free_log(msg: &str) {
    if std::env::var_os("MEDULLA_QUIET").is_none() {
        eprintln!("{msg}");
    }
}

#[derive(Args)]
pub struct HlaArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(subcommand)]
    command: HlaCommand,
}

#[derive(Subcommand)]
enum HlaCommand {
    /// Reduce typings (names, MACs, XX codes, serology, GL Strings) to a level.
    Reduce {
        /// G, P, lg, lgx, W, exon, U2 or S.
        #[arg(long)]
        to: Reduction,
        /// Typings; none: read one per line from standard input.
        typings: Vec<String>,
    },
    /// Check typings; prints `ok` or the error for each.
    Validate {
        /// Typings; none: read one per line from standard input.
        typings: Vec<String>,
    },
    /// Expand MACs, XX codes, serology and short nulls into allele lists.
    Expand {
        /// Typings; none: read one per line from standard input.
        typings: Vec<String>,
    },
}

/// One line's work: a typing in, its result or its error out.
type TypingOp<'a> = dyn Fn(&str) -> Result<String, TypingError> + Sync + 'a;

pub fn run(args: HlaArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let (typings, op): (Vec<String>, Box<TypingOp>) = match args.command {
        HlaCommand::Reduce { to, typings } => {
            (typings, Box::new(move |t: &str| reducer.reduce(t, to)))
        }
        HlaCommand::Validate { typings } => (
            typings,
            Box::new(|t: &str| reducer.validate(t).map(|_| "ok".to_string())),
        ),
        HlaCommand::Expand { typings } => (typings, Box::new(|t: &str| reducer.expand(t))),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut errors = 0usize;
    if !typings.is_empty() {
        for t in &typings {
            errors += usize::from(write_line(&mut out, t, op(t))?);
        }
    } else {
        // stream standard input in ordered batches, each batch reduced on all cores
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        loop {
            let batch: Vec<String> = lines.by_ref().take(16_384).collect::<Result<_, _>>()?;
            if batch.is_empty() {
                break;
            }
            let results: Vec<_> = batch
                .par_iter()
                .map(|l| op(l.trim_end_matches('\r')))
                .collect();
            for (l, r) in batch.iter().zip(results) {
                errors += usize::from(write_line(&mut out, l.trim_end_matches('\r'), r)?);
            }
        }
    }
    out.flush()?;
    if errors > 0 {
        // every line is written; the exit status tells scripts that some were errors
        eprintln!("{errors} typing(s) with errors");
        std::process::exit(1);
    }
    Ok(())
}

/// Write one line; true when it was an error.
fn write_line(
    out: &mut impl Write,
    input: &str,
    result: Result<String, TypingError>,
) -> Result<bool> {
    match result {
        Ok(r) => writeln!(out, "{input}\t{r}")?,
        Err(e) => {
            writeln!(out, "{input}\terror: {e}")?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// The README's main job for now: show the hla commands on the shipped release.
pub fn demo(reducer: &Reducer<'_>) -> Result<()> {
    println!(
        "Medulla: HLA nomenclature on IPD-IMGT/HLA {}\n",
        reducer.release().version()
    );
    let examples = [
        "A*01:01:01:01",
        "A*01:01:01:02N",
        "A*24:02:01:01",
        "B*35:AH",
        "A*02:AB",
        "DRB1*15:01",
        "A*0101",
        "Cw10",
        "A*01:01+A*02:01^B*08:01+B*44:02^DRB1*03:01+DRB1*15:01",
        "A*01:04N",
        "A*99:99",
        "A*02:01+",
    ];
    let levels = [
        Reduction::G,
        Reduction::P,
        Reduction::Lgx,
        Reduction::U2,
        Reduction::S,
    ];
    for t in examples {
        println!("{t}");
        for r in levels {
            let shown = match reducer.reduce(t, r) {
                Ok(s) if s.len() > 100 => {
                    format!("{}... ({} names)", &s[..97], s.split('/').count())
                }
                Ok(s) => s,
                Err(e) => format!("error: {e}"),
            };
            println!("  {:<5} {}", r.to_string(), shown);
        }
    }
    println!("\nTry: medulla hla reduce --to lgx 'A*02:AB+A*24:02' or pipe one typing per line.");
    Ok(())
}
