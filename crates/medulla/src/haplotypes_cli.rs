//! `medulla haplotypes estimate` and `medulla haplotypes compare`: parsing and formatting;
//! the estimation is the application layer's (`medulla_app::haplotypes`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medulla_app::haplotypes::{self, DonorSource, EstimateOptions};
use medulla_haplotypes::FrequencySet;
use medulla_nomenclature::Reducer;
use medulla_population::em::EmOptions;

use crate::hla::SourceArgs;
use crate::likelihood_cli::LikelihoodFormat;
use crate::table;

#[derive(Args)]
pub struct HaplotypesArgs {
    #[command(subcommand)]
    command: HaplotypesCommand,
}

#[derive(Subcommand)]
enum HaplotypesCommand {
    /// Estimate haplotype frequencies by expectation-maximisation from the donors'
    /// unphased, ambiguous typings, at two-field ARD names.
    Estimate(EstimateArgs),
    /// Compare an estimate with a reference set at two-field ARD names: total variation
    /// distance and the reference's most frequent haplotypes side by side.
    Compare(CompareArgs),
}

#[derive(Args)]
struct EstimateArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The registry database's donors.
    #[arg(long, conflicts_with = "donors", required_unless_present = "donors")]
    db: Option<PathBuf>,
    /// A donor CSV.
    #[arg(long)]
    donors: Option<PathBuf>,
    /// Only donors of this declared population.
    #[arg(long)]
    population: Option<String>,
    /// Loci, in the order the haplotypes are written.
    #[arg(long, default_value = "A,C,B,DRB1,DQB1")]
    loci: String,
    /// Output: `haplotype,frequency` lines, read back by every `--freqs`.
    #[arg(long)]
    out: PathBuf,
    /// Haplotypes below this frequency are left out of the file (their mass is reported).
    #[arg(long, default_value_t = 1e-7)]
    min_frequency: f64,
    /// Haplotype pairs listed in full per donor at most; more ambiguous donors are
    /// explained by the haplotypes the others made likely.
    #[arg(long, default_value_t = 4096)]
    max_pairs: usize,
    /// Stop when the log-likelihood rises by less than this.
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// Iterations at most per round.
    #[arg(long, default_value_t = 1000)]
    max_iterations: usize,
}

#[derive(Args)]
struct CompareArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The reference set (any layout `--freqs` reads; default the shipped NMDP 2007 set).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Population of the reference set.
    #[arg(long)]
    population: Option<String>,
    /// The estimate (`haplotype,frequency`).
    #[arg(long)]
    estimate: PathBuf,
    /// Population of the estimate when its file has several.
    #[arg(long)]
    estimate_population: Option<String>,
    /// The reference's most frequent haplotypes to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Output: a table, CSV (the listed haplotypes) or JSON (with the distance).
    #[arg(long, value_enum, default_value = "table")]
    format: LikelihoodFormat,
}

pub fn run(args: HaplotypesArgs) -> Result<()> {
    match args.command {
        HaplotypesCommand::Estimate(a) => estimate(a),
        HaplotypesCommand::Compare(a) => compare(a),
    }
}

fn estimate(args: EstimateArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let source = match (&args.db, &args.donors) {
        (Some(db), _) => DonorSource::Db(db.clone()),
        (None, Some(csv)) => DonorSource::Csv(csv.clone()),
        (None, None) => anyhow::bail!("say where the donors are: --db PATH or --donors FILE.csv"),
    };
    let opts = EstimateOptions {
        source,
        population: args.population.clone(),
        loci: haplotypes::parse_loci(&args.loci)?,
        em: EmOptions {
            max_pairs: args.max_pairs,
            tolerance: args.tolerance,
            max_iterations: args.max_iterations,
            ..EmOptions::default()
        },
    };
    let started = Instant::now();
    let pb = crate::likelihood_cli::spinner("reading the donors");
    let report = haplotypes::estimate(
        &opts,
        &reducer,
        chrono::Local::now().date_naive(),
        |i, ll| pb.set_message(format!("iteration {i}: log-likelihood {ll:.3}")),
    );
    pb.finish_and_clear();
    let report = report?;
    let (written, left) =
        haplotypes::write_plain(&args.out, &report.haplotypes, args.min_frequency)?;
    let secs = started.elapsed().as_secs_f64();
    println!("Donors");
    let mut rows = vec![
        vec!["read".to_string(), report.donors_read.to_string()],
        vec!["used".to_string(), report.used.to_string()],
        vec![
            "  pairs listed in full".to_string(),
            report.listed_in_full.to_string(),
        ],
        vec![
            "  explained by known haplotypes".to_string(),
            report.explained_by_known.to_string(),
        ],
    ];
    for (what, n) in [
        (
            "skipped: another population",
            report.skipped_other_population,
        ),
        ("skipped: typing unreadable", report.skipped_invalid),
        (
            "skipped: no known pair explains it",
            report.skipped_unexplained,
        ),
        ("skipped: too ambiguous", report.skipped_too_ambiguous),
    ] {
        rows.push(vec![what.to_string(), n.to_string()]);
    }
    rows.push(vec![
        "untyped loci (any allele)".to_string(),
        report.untyped_loci.to_string(),
    ]);
    table::print(&["donors", "count"], &rows);
    println!();
    println!(
        "Log-likelihood ({} iterations; the first {} on the donors listed in full)",
        report.iterations, report.first_round_iterations
    );
    let ll = &report.log_likelihood;
    let mut shown: Vec<usize> = [1usize, 2, 3, 5, 10, 20, 50, 100, 200, 500]
        .into_iter()
        .filter(|&i| i <= ll.len())
        .collect();
    if report.first_round_iterations > 0 && !shown.contains(&report.first_round_iterations) {
        shown.push(report.first_round_iterations);
    }
    if !shown.contains(&ll.len()) && !ll.is_empty() {
        shown.push(ll.len());
    }
    shown.sort_unstable();
    table::print(
        &["iteration", "log-likelihood"],
        &shown
            .iter()
            .map(|&i| vec![i.to_string(), format!("{:.4}", ll[i - 1])])
            .collect::<Vec<_>>(),
    );
    println!();
    println!(
        "{} haplotypes written to {} ({} below {} left out, {:.2e} of the mass); {:.1} s",
        written,
        args.out.display(),
        report.haplotypes.len() - written,
        args.min_frequency,
        left,
        secs
    );
    println!("Most frequent");
    table::print(
        &["haplotype", "frequency"],
        &report
            .haplotypes
            .iter()
            .take(10)
            .map(|(h, f)| vec![h.clone(), format!("{f:.5}")])
            .collect::<Vec<_>>(),
    );
    for n in &report.notes {
        println!("note: {n}");
    }
    Ok(())
}

fn load_set(path: Option<&PathBuf>) -> Result<FrequencySet> {
    match path {
        None => Ok(FrequencySet::nmdp_2007()),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let stem = p
                .file_stem()
                .map_or("default".into(), |s| s.to_string_lossy().to_string());
            Ok(FrequencySet::parse_any(
                &text,
                &p.display().to_string(),
                &stem,
            )?)
        }
    }
}

fn compare(args: CompareArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let reference = load_set(args.reference.as_ref())?;
    let estimate = load_set(Some(&args.estimate))?;
    let r = haplotypes::at_ard(&reference, args.population.as_deref(), &reducer)?;
    let e = haplotypes::at_ard(&estimate, args.estimate_population.as_deref(), &reducer)?;
    let c = haplotypes::compare(&r, &e, args.top);
    match args.format {
        LikelihoodFormat::Json => println!("{}", serde_json::to_string_pretty(&c)?),
        LikelihoodFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(["haplotype", "reference", "estimate"])?;
            for t in &c.top {
                w.write_record([
                    t.haplotype.clone(),
                    format!("{:.6}", t.reference),
                    format!("{:.6}", t.estimate),
                ])?;
            }
            w.flush()?;
            eprintln!("total variation distance {:.4}", c.total_variation);
        }
        LikelihoodFormat::Table => {
            table::print(
                &["haplotype", "reference", "estimate"],
                &c.top
                    .iter()
                    .map(|t| {
                        vec![
                            t.haplotype.clone(),
                            format!("{:.5}", t.reference),
                            format!("{:.5}", t.estimate),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            println!(
                "total variation distance {:.4} ({} reference haplotypes, {} estimated)",
                c.total_variation, c.reference_haplotypes, c.estimate_haplotypes
            );
        }
    }
    Ok(())
}
