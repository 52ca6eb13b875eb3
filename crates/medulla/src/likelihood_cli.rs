//! `medulla likelihood` and `medulla recruit`: parsing and formatting; the model is the
//! application layer's (`medulla_app::likelihood`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use medulla_app::likelihood::{
    self, parse_levels, parse_mixed, parse_pairs, parse_sizes, AvailabilityChoice,
    LikelihoodOptions, LikelihoodReport, RecruitOptions, RecruitReport, RegistrySource,
};
use medulla_app::plots;
use medulla_nomenclature::Reducer;
use medulla_population::Level;

use crate::hla::SourceArgs;
use crate::predict::FreqArgs;
use crate::table;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LikelihoodFormat {
    /// Columns for a person: one row per population and level, one column per size.
    Table,
    /// `population,level,registry_size,likelihood`, one row per population, level, size.
    Csv,
    /// The whole report.
    Json,
}

/// Frequency sets, several after one `--freqs` (`--freqs EUR.csv NAF.csv`) or repeated.
#[derive(Args, Clone)]
pub struct SetsArgs {
    /// Haplotype frequency files: NMDP CSV (population,haplotype,frequency), plain
    /// `haplotype,frequency` files of one population each (named by the file stem, as
    /// `medulla haplotypes estimate` writes them), or HF-set JSON. Default: the shipped
    /// NMDP 2007 set.
    #[arg(long = "freqs", num_args = 1..)]
    freqs: Vec<PathBuf>,
    /// The sets' allele resolution (default: as the file declares, else NMDP g groups for
    /// an NMDP CSV, else guessed from the names).
    #[arg(long, value_enum)]
    resolution: Option<crate::predict::ResolutionArg>,
    /// NMDP g-group definitions (`g-groups-mmc1.csv` layout); default: the shipped ones.
    #[arg(long)]
    g_groups: Option<PathBuf>,
}

impl SetsArgs {
    fn source(&self) -> medulla_app::freqs::FreqSource {
        FreqArgs {
            freqs: self.freqs.clone(),
            resolution: self.resolution,
            g_groups: self.g_groups.clone(),
        }
        .source()
    }
}

/// The registry the figures are for.
#[derive(Args, Clone)]
pub struct RegistryArgs {
    /// The registry database: its searchable adult donors, by declared population.
    #[arg(long, conflicts_with_all = ["size", "mix"])]
    db: Option<PathBuf>,
    /// Registry size (donors).
    #[arg(long)]
    size: Option<u64>,
    /// Population mix of the registry, `POP=SHARE,...` (default
    /// EUR=0.6,AFA=0.15,API=0.15,HIS=0.1, the mix `medulla synth` draws).
    #[arg(long)]
    mix: Option<String>,
    /// Share of donors available when called: one number, or `POP=A,...` (others keep
    /// the published figure). Default: published figures (0.54; 0.33 for AFA).
    #[arg(long)]
    availability: Option<String>,
}

impl RegistryArgs {
    fn source(&self) -> Result<RegistrySource> {
        Ok(match &self.db {
            Some(db) => RegistrySource::Db(db.clone()),
            None => RegistrySource::Mix(parse_pairs(
                "mix",
                self.mix
                    .as_deref()
                    .unwrap_or("EUR=0.6,AFA=0.15,API=0.15,HIS=0.1"),
            )?),
        })
    }

    fn availability(&self) -> Result<AvailabilityChoice> {
        Ok(match &self.availability {
            Some(a) => AvailabilityChoice::parse(a)?,
            None => AvailabilityChoice::Published,
        })
    }
}

#[derive(Args)]
pub struct LikelihoodArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    freqs: SetsArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Levels: 10/10 (A, C, B, DRB1, DQB1), 8/8 (A, C, B, DRB1), 7/8 (at most one
    /// mismatch among those eight).
    #[arg(long, default_value = "10/10,8/8,7/8")]
    levels: String,
    /// Registry sizes, at the registry's mix (default: --size, the database's own size,
    /// or 100k, 1M, 3M, 10M, 40M).
    #[arg(long)]
    sizes: Option<String>,
    /// Patients of mixed origin, one haplotype from each population: `EUR+AFA,...`.
    #[arg(long)]
    mixed: Option<String>,
    /// Output: a table for a person, CSV (`population,level,registry_size,likelihood`)
    /// or JSON (the whole report).
    #[arg(long, value_enum, default_value = "table")]
    format: LikelihoodFormat,
    /// Draw likelihood against registry size (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
}

pub(crate) fn spinner(what: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn size_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        format!("{}M", n as f64 / 1e6)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn write_plot(path: &std::path::Path, svg: &str) -> Result<()> {
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("plot written to {}", path.display());
    Ok(())
}

pub fn likelihood(args: LikelihoodArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let mut sizes = match &args.sizes {
        Some(s) => parse_sizes(s)?,
        None => Vec::new(),
    };
    if sizes.is_empty() {
        if let Some(n) = args.registry.size {
            sizes.push(n);
        }
    }
    let opts = LikelihoodOptions {
        freqs: args.freqs.source(),
        source: args.registry.source()?,
        availability: args.registry.availability()?,
        levels: parse_levels(&args.levels)?,
        sizes,
        mixed: match &args.mixed {
            Some(m) => parse_mixed(m)?,
            None => Vec::new(),
        },
        today: chrono::Local::now().date_naive(),
    };
    let started = Instant::now();
    let pb = spinner("likelihood");
    let report = likelihood::likelihood(&opts, &reducer, |level| {
        pb.set_message(format!("likelihood at {}", level.name()))
    });
    pb.finish_and_clear();
    let report = report?;
    eprintln!("computed in {:.2} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.plot {
        write_plot(path, &plots::likelihood_svg(&report)?)?;
    }
    match args.format {
        LikelihoodFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(["population", "level", "registry_size", "likelihood"])?;
            for r in &report.rows {
                w.write_record([
                    r.population.clone(),
                    r.level.name().to_string(),
                    r.registry_size.to_string(),
                    format!("{:.6}", r.likelihood),
                ])?;
            }
            w.flush()?;
            for n in &report.notes {
                eprintln!("note: {n}");
            }
        }
        LikelihoodFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        LikelihoodFormat::Table => print_table(&report),
    }
    Ok(())
}

fn print_table(report: &LikelihoodReport) {
    let mut sizes: Vec<u64> = report.rows.iter().map(|r| r.registry_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut headers: Vec<String> = vec!["population".into(), "level".into()];
    headers.extend(sizes.iter().map(|s| size_label(*s)));
    let mut rows = Vec::new();
    for p in &report.populations {
        for g in &report.genotypes {
            let mut row = vec![p.population.clone(), g.level.name().to_string()];
            for s in &sizes {
                let v = report
                    .rows
                    .iter()
                    .find(|r| {
                        r.population == p.population && r.level == g.level && r.registry_size == *s
                    })
                    .map_or("-".to_string(), |r| pct(r.likelihood));
                row.push(v);
            }
            rows.push(row);
        }
    }
    println!("Likelihood that a patient finds at least one available matched donor");
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    table::print(&h, &rows);
    println!();
    println!("Registry (donor populations)");
    table::print(
        &["population", "share", "availability"],
        &report
            .registry
            .iter()
            .map(|r| vec![r.population.clone(), pct(r.share), pct(r.availability)])
            .collect::<Vec<_>>(),
    );
    println!();
    println!("Patient populations");
    table::print(
        &[
            "population",
            "genotypes listed",
            "unlisted (counted unmatched)",
        ],
        &report
            .populations
            .iter()
            .map(|p| {
                vec![
                    p.population.clone(),
                    format!("{:.2}%", 100.0 * (1.0 - p.unlisted)),
                    format!("{:.2}%", 100.0 * p.unlisted),
                ]
            })
            .collect::<Vec<_>>(),
    );
    for n in &report.notes {
        println!("note: {n}");
    }
}

#[derive(Args)]
pub struct RecruitArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    freqs: SetsArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// New donors to recruit.
    #[arg(long)]
    budget: u64,
    /// Weight of each patient population in the objective, `POP=W,...` (default equal).
    #[arg(long)]
    weights: Option<String>,
    /// How many more donors of a population its patients need to reach a likelihood:
    /// `POP=L` (L a fraction, e.g. AFA=0.5).
    #[arg(long)]
    target: Option<String>,
    /// The level the plan raises.
    #[arg(long, default_value = "8/8")]
    level: String,
    /// Steps of the greedy allocation (each recruits budget/steps donors).
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Output: a table for a person, CSV (one row per population) or JSON (the plan with
    /// its steps).
    #[arg(long, value_enum, default_value = "table")]
    format: LikelihoodFormat,
    /// Draw the gain against donors recruited (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
}

pub fn recruit(args: RecruitArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let level = Level::parse(&args.level).map_err(|e| anyhow::anyhow!("--level: {e}"))?;
    let target = match &args.target {
        None => None,
        Some(t) => {
            let v = parse_pairs("target", t)?;
            let (pop, l) = v.into_iter().next().context("--target POP=L")?;
            if !(0.0..1.0).contains(&l) {
                anyhow::bail!("--target: {l} is not a likelihood between 0 and 1 (a fraction)");
            }
            Some((pop, l))
        }
    };
    let size = match (&args.registry.db, args.registry.size) {
        (None, None) => anyhow::bail!("say which registry: --db PATH, or --size N [--mix ...]"),
        (_, n) => n.unwrap_or(0),
    };
    let opts = RecruitOptions {
        freqs: args.freqs.source(),
        source: args.registry.source()?,
        size,
        availability: args.registry.availability()?,
        budget: args.budget,
        weights: match &args.weights {
            Some(w) => parse_pairs("weights", w)?,
            None => Vec::new(),
        },
        target,
        level,
        steps: args.steps.max(1),
        today: chrono::Local::now().date_naive(),
    };
    let started = Instant::now();
    let pb = spinner(&format!(
        "planning {} donors at {}",
        args.budget,
        level.name()
    ));
    let report = likelihood::recruit(&opts, &reducer);
    pb.finish_and_clear();
    let report = report?;
    eprintln!("planned in {:.2} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.plot {
        write_plot(path, &plots::recruit_svg(&report)?)?;
    }
    match args.format {
        LikelihoodFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        LikelihoodFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "population",
                "donors_now",
                "recruit",
                "weight",
                "likelihood_before",
                "likelihood_after",
                "gain",
            ])?;
            for (a, g) in report.allocation.iter().zip(&report.gains) {
                w.write_record([
                    a.population.clone(),
                    a.donors_now.to_string(),
                    a.recruit.to_string(),
                    format!("{:.4}", g.weight),
                    format!("{:.6}", g.before),
                    format!("{:.6}", g.after),
                    format!("{:.6}", g.gain),
                ])?;
            }
            w.flush()?;
        }
        LikelihoodFormat::Table => print_recruit(&report),
    }
    Ok(())
}

fn print_recruit(r: &RecruitReport) {
    println!(
        "Recruiting {} donors into a registry of {}: {} likelihood by patient population",
        r.budget,
        r.registry_size,
        r.level.name()
    );
    table::print(
        &[
            "population",
            "donors now",
            "recruit",
            "weight",
            "before",
            "after",
            "gain",
        ],
        &r.allocation
            .iter()
            .zip(&r.gains)
            .map(|(a, g)| {
                vec![
                    a.population.clone(),
                    a.donors_now.to_string(),
                    a.recruit.to_string(),
                    format!("{:.2}", g.weight),
                    pct(g.before),
                    pct(g.after),
                    format!("{:+.2} pts", 100.0 * g.gain),
                ]
            })
            .collect::<Vec<_>>(),
    );
    println!(
        "weighted likelihood: {} -> {} ({:+.3} pts)",
        pct(r.objective_before),
        pct(r.objective_after),
        100.0 * (r.objective_after - r.objective_before)
    );
    if let Some(t) = &r.target {
        match t.donors_needed {
            Some(n) => println!(
                "{} patients reach {} with {} more {} donors (now {})",
                t.population,
                pct(t.likelihood),
                n,
                t.population,
                pct(t.now)
            ),
            None => println!(
                "{} patients cannot reach {} with {} donors alone: the frequency set lists too few of their genotypes among {} donors (now {})",
                t.population,
                pct(t.likelihood),
                t.population,
                t.population,
                pct(t.now)
            ),
        }
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}
