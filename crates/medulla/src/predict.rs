//! `medulla impute` and `medulla predict`: haplotype-frequency imputation and match
//! probabilities, on files of `ID%GL` lines (the format of GRIMM and the WMDA exercises).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use medulla_nomenclature::Reducer;
use medulla_prediction::{match_probabilities, ArdDistribution, ImputeError, Imputer};
use rayon::prelude::*;

use crate::hla::SourceArgs;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolutionArg {
    /// NMDP's own g groups (the NMDP 2007 set), defined by `--g-groups`.
    NmdpG,
    /// IPD-IMGT/HLA G groups.
    #[value(name = "G")]
    G,
    /// IPD-IMGT/HLA small g groups.
    #[value(name = "g")]
    SmallG,
    /// Two-field names.
    TwoField,
}

/// Where the haplotype frequencies come from.
#[derive(Args, Clone, Default)]
pub struct FreqArgs {
    /// Haplotype frequency files: NMDP CSV (population,haplotype,frequency), a plain
    /// `haplotype,frequency` file of one population (named by its file stem), or HF-set
    /// JSON; several side by side. Default: the shipped NMDP 2007 set.
    #[arg(long = "freqs")]
    pub freqs: Vec<PathBuf>,
    /// The set's allele resolution (default: as the file declares, else NMDP g groups for
    /// an NMDP CSV, else guessed from the names).
    #[arg(long, value_enum)]
    pub resolution: Option<ResolutionArg>,
    /// NMDP g-group definitions (`g-groups-mmc1.csv` layout); default: the shipped ones
    /// of the NMDP 2007 set.
    #[arg(long)]
    pub g_groups: Option<PathBuf>,
}

pub use medulla_app::freqs::Frequencies;

/// Say once, with the likely cause and the fix, when most typings of a run were
/// unrepresented.
pub fn warn_if_mostly_unrepresented(unrepresented: usize, total: usize, f: &Frequencies) {
    if let Some(w) = f.unrepresented_warning(unrepresented, total) {
        eprintln!("warning: {w}");
    }
}

impl FreqArgs {
    /// The frequency set these options name, read by the application layer.
    pub fn load(&self, reducer: &Reducer<'_>) -> Result<Frequencies> {
        let f = self.source().load(reducer)?;
        for n in &f.notes {
            eprintln!("{n}");
        }
        Ok(f)
    }

    /// Where these options say the frequencies come from.
    pub fn source(&self) -> medulla_app::freqs::FreqSource {
        use medulla_app::freqs::{FreqSource, ResolutionChoice};
        FreqSource {
            files: self.freqs.clone(),
            resolution: self.resolution.map(|r| match r {
                ResolutionArg::NmdpG => ResolutionChoice::NmdpG,
                ResolutionArg::G => ResolutionChoice::G,
                ResolutionArg::SmallG => ResolutionChoice::SmallG,
                ResolutionArg::TwoField => ResolutionChoice::TwoField,
            }),
            g_groups: self.g_groups.clone(),
        }
    }
}

/// One `ID%GL[%POPULATION]` line.
pub struct Subject {
    pub id: String,
    pub gl: String,
    pub population: Option<String>,
}

/// Subjects from a file: `ID%GL` lines, or a donor CSV (docs/donor-csv.md, per-position
/// columns or one `gl` column), told apart by the first line.
pub fn read_subjects(path: &Path) -> Result<Vec<Subject>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut input = BufReader::new(f);
    let first = {
        let buf = input
            .fill_buf()
            .with_context(|| format!("reading {}", path.display()))?;
        let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).to_string()
    };
    let is_donor_csv =
        !first.contains('%') && first.split(',').any(|c| c.trim() == "id") && first.contains(',');
    if is_donor_csv {
        let today = chrono::Local::now().date_naive();
        let mut out = Vec::new();
        for d in medulla_registry::search_index::read_csv(input, today)? {
            let d = d.with_context(|| format!("reading {}", path.display()))?;
            out.push(subject_of(&d));
        }
        return Ok(out);
    }
    read_subject_lines(input, &path.display().to_string())
}

/// A donor of the registry or of a donor CSV as a subject: its typing at the search loci.
fn subject_of(d: &medulla_matching::IndexedDonor) -> Subject {
    let gl = d
        .typing
        .iter()
        .filter_map(|pair| {
            let parts: Vec<&str> = pair.iter().flatten().map(String::as_str).collect();
            (!parts.is_empty()).then(|| parts.join("+"))
        })
        .collect::<Vec<_>>()
        .join("^");
    Subject {
        id: d.facts.id.clone(),
        gl,
        population: d.facts.population.clone(),
    }
}

/// Every donor of a registry database as a subject.
pub fn registry_subjects(db: &Path) -> Result<Vec<Subject>> {
    let store = medulla_registry::Store::open_existing(db).with_context(|| {
        format!(
            "opening the registry database {}",
            medulla_registry::store::display_location(db)
        )
    })?;
    let today = chrono::Local::now().date_naive();
    let mut out = Vec::new();
    medulla_registry::DonorStore::for_each_donor(&store, &mut |d, s| {
        out.push(subject_of(&medulla_registry::search_index::indexed(
            &d, &s, today,
        )));
        Ok(())
    })?;
    Ok(out)
}

fn read_subject_lines(input: impl BufRead, file: &str) -> Result<Vec<Subject>> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading {file}"))?;
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut f = l.split('%');
        let (Some(id), Some(gl)) = (f.next(), f.next()) else {
            bail!("{file} line {}: expected ID%GL", i + 1);
        };
        out.push(Subject {
            id: id.trim().to_string(),
            gl: gl.trim().to_string(),
            population: f
                .next()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
        });
    }
    Ok(out)
}

#[derive(Args)]
pub struct ImputeArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    freqs: FreqArgs,
    /// Population of the set to impute with (default: a third `%` field of the line, else
    /// the registry-wide default).
    #[arg(long)]
    population: Option<String>,
    /// `ID%GL` lines or a donor CSV (default: standard input, `ID%GL` lines).
    #[arg(long, conflicts_with = "db")]
    input: Option<PathBuf>,
    /// Impute every donor of this registry database instead.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Genotypes listed per typing at most (the probability mass left out is reported).
    #[arg(long, default_value_t = 1000)]
    max_genotypes: usize,
    /// Instead of imputing, write each typing as `ID%GL` in the set's own allele names.
    #[arg(long)]
    convert: bool,
}

fn choose<'a>(cli: Option<&'a str>, line: Option<&'a str>) -> Option<&'a str> {
    cli.or(line)
}

pub fn impute(args: ImputeArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let freqs = args.freqs.load(&reducer)?;
    let imputer = freqs.imputer(&reducer);
    if let Some(p) = &args.population {
        imputer.model(Some(p))?;
    }
    let subjects = match (&args.input, &args.db) {
        (Some(p), _) => read_subjects(p)?,
        (None, Some(db)) => registry_subjects(db)?,
        (None, None) => read_subject_lines(std::io::stdin().lock(), "standard input")?,
    };
    let started = Instant::now();
    if args.convert {
        let mut out = BufWriter::new(std::io::stdout().lock());
        for s in &subjects {
            match imputer.convert_gl(&s.gl) {
                Ok(gl) => writeln!(out, "{}%{gl}", s.id)?,
                Err(e) => eprintln!("{}: {e}", s.id),
            }
        }
        out.flush()?;
        return Ok(());
    }
    let results: Vec<(String, Vec<String>)> = subjects
        .par_iter()
        .map(|s| {
            let run = || -> Result<(Vec<String>, String), ImputeError> {
                let model =
                    imputer.model(choose(args.population.as_deref(), s.population.as_deref()))?;
                let t = imputer.typing(&s.gl)?;
                let r = imputer.impute(model, &t, Some(args.max_genotypes))?;
                let lines = r
                    .genotypes
                    .iter()
                    .enumerate()
                    .map(|(rank, g)| {
                        format!(
                            "{},{},{},{},{:.6e}",
                            s.id,
                            rank + 1,
                            imputer.haplotype_name(model, g.haplotypes[0]),
                            imputer.haplotype_name(model, g.haplotypes[1]),
                            g.probability
                        )
                    })
                    .collect();
                let note = if r.dropped_mass > 0.0 {
                    format!(
                        "{}: {} genotypes, first {} listed, probability mass dropped {:.6}",
                        s.id,
                        r.total_genotypes,
                        r.genotypes.len(),
                        r.dropped_mass
                    )
                } else {
                    String::new()
                };
                Ok((lines, note))
            };
            match run() {
                Ok((lines, note)) => (note, lines),
                Err(e) => (format!("{}: {e}", s.id), Vec::new()),
            }
        })
        .collect();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let (mut failed, mut genotypes) = (0, 0);
    for (note, lines) in &results {
        if lines.is_empty() {
            failed += 1;
        }
        genotypes += lines.len();
        if !note.is_empty() {
            eprintln!("{note}");
        }
        for l in lines {
            writeln!(out, "{l}")?;
        }
    }
    out.flush()?;
    warn_if_mostly_unrepresented(failed, subjects.len(), &freqs);
    let secs = started.elapsed().as_secs_f64();
    crate::hla::tracing_free_log(&format!(
        "imputed {} typings ({} not explained) into {} genotype lines in {:.2} s ({:.0} typings/s)",
        subjects.len(),
        failed,
        genotypes,
        secs,
        subjects.len() as f64 / secs.max(1e-9)
    ));
    Ok(())
}

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    freqs: FreqArgs,
    /// Patients, `ID%GL` lines (or a donor-CSV layout file).
    #[arg(long)]
    patients: PathBuf,
    /// Donors: `ID%GL` lines or a donor CSV.
    #[arg(long, required_unless_present = "db", conflicts_with = "db")]
    donors: Option<PathBuf>,
    /// Donors: every donor of this registry database.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Population of every patient (default: a third `%` field, else the set's mean).
    #[arg(long)]
    patient_population: Option<String>,
    /// Population of every donor (default: the donor's own, else the set's mean).
    #[arg(long)]
    donor_population: Option<String>,
}

/// A subject's ARD genotype distribution, or why there is none.
fn distribution(
    imputer: &Imputer<'_>,
    s: &Subject,
    population: Option<&str>,
) -> Result<ArdDistribution, ImputeError> {
    let model = imputer.model(choose(population, s.population.as_deref()))?;
    imputer.ard_distribution(model, &imputer.typing(&s.gl)?)
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let freqs = args.freqs.load(&reducer)?;
    let imputer = freqs.imputer(&reducer);
    for p in [&args.patient_population, &args.donor_population]
        .into_iter()
        .flatten()
    {
        imputer.model(Some(p))?;
    }
    let patients = read_subjects(&args.patients)?;
    let donors = match (&args.donors, &args.db) {
        (Some(p), _) => read_subjects(p)?,
        (None, Some(db)) => registry_subjects(db)?,
        (None, None) => bail!("--donors FILE or --db PATH is required"),
    };
    let started = Instant::now();
    let impute_all = |subjects: &[Subject], pop: Option<&str>, side: &str| {
        subjects
            .par_iter()
            .map(|s| {
                distribution(&imputer, s, pop).map_err(|e| {
                    eprintln!("{side} {}: {e}", s.id);
                    e
                })
            })
            .collect::<Vec<_>>()
    };
    let pd = impute_all(&patients, args.patient_population.as_deref(), "patient");
    let dd = impute_all(&donors, args.donor_population.as_deref(), "donor");
    let unrepresented = pd
        .iter()
        .chain(&dd)
        .filter(|r| matches!(r, Err(ImputeError::Unrepresented { .. })))
        .count();
    warn_if_mostly_unrepresented(unrepresented, pd.len() + dd.len(), &freqs);
    let imputed = started.elapsed().as_secs_f64();
    let loci = imputer.loci.clone();
    // loci in the one order of every output (search's table, CSV and JSON)
    let order = ["A", "B", "C", "DRB1", "DQB1"];
    let row = |k: usize| -> String {
        let (pi, di) = (k / donors.len(), k % donors.len());
        let (p, d) = (&patients[pi], &donors[di]);
        let status = |e: &ImputeError| match e {
            ImputeError::Unrepresented { .. } => "unrepresented",
            _ => "invalid",
        };
        match (&pd[pi], &dd[di]) {
            (Ok(a), Ok(b)) => {
                let m = match_probabilities(&loci, a, b);
                let p0: Vec<String> = order
                    .iter()
                    .map(|l| m.p0(l).map_or(String::new(), |v| format!("{v:.6}")))
                    .collect();
                format!(
                    "{},{},{},{:.6},{:.6},{:.6},ok",
                    p.id,
                    d.id,
                    p0.join(","),
                    m.p_8of8,
                    m.p_9of10,
                    m.p_10of10
                )
            }
            (a, b) => {
                let side = match (a, b) {
                    (Err(e), Ok(_)) => format!("{}:patient", status(e)),
                    (Ok(_), Err(e)) => format!("{}:donor", status(e)),
                    (Err(e), Err(_)) => format!("{}:both", status(e)),
                    (Ok(_), Ok(_)) => unreachable!("handled above"),
                };
                format!("{},{},,,,,,,,,{side}", p.id, d.id)
            }
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "patient_id,donor_id,p0_a,p0_b,p0_c,p0_drb1,p0_dqb1,p_8of8,p_9of10,p_10of10,status"
    )?;
    // pairs in chunks, each computed on all cores and written in order: memory stays
    // bounded whatever the number of pairs
    let pairs = patients.len() * donors.len();
    const CHUNK: usize = 1 << 16;
    for start in (0..pairs).step_by(CHUNK) {
        let rows: Vec<String> = (start..(start + CHUNK).min(pairs))
            .into_par_iter()
            .map(row)
            .collect();
        for r in &rows {
            writeln!(out, "{r}")?;
        }
    }
    out.flush()?;
    crate::hla::tracing_free_log(&format!(
        "{} patients x {} donors: imputed in {:.2} s, {} pairs in {:.2} s",
        patients.len(),
        donors.len(),
        imputed,
        pairs,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
