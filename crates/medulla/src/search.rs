//! `medulla search`: ranked donors for a patient, from the registry or a donor CSV.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{Local, NaiveDate};
use clap::{Args, ValueEnum};
use medulla_app::search::{
    finish, hit_views, CmvChoice, CountMismatches, DonorKind, SearchOutcome, SexChoice,
};
use medulla_app::{AppError, SearchOptions};
use medulla_matching::{search, ArdCatalog, SearchIndex, TceTable, SEARCH_LOCI};
use medulla_nomenclature::Reducer;
use medulla_registry::saved_search::{Gone, RepeatReport};
use medulla_registry::search_index::{index_csv, index_registry};
use medulla_registry::validate::RecordValidator;
use medulla_registry::Store;

use crate::hla::SourceArgs;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
    Csv,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DonorTypeArg {
    /// Adult volunteer donors.
    Adult,
    /// Cord blood units.
    Cord,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CountArg {
    /// Every mismatch.
    Both,
    /// Graft-versus-host direction only.
    Gvh,
    /// Host-versus-graft direction only.
    Hvg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CmvArg {
    /// Seropositive.
    Pos,
    /// Seronegative.
    Neg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SexArg {
    /// Male.
    #[value(name = "M")]
    M,
    /// Female.
    #[value(name = "F")]
    F,
}

#[derive(Args, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Patient typing as a GL String: `A*01:01+A*02:01^B*08:01+B*44:02^...`.
    #[arg(long, required_unless_present = "repeat")]
    patient: Option<String>,
    /// Registry database to search.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db")]
    db: PathBuf,
    /// Search a donor CSV instead of the database, read and checked as `donors import`
    /// reads it: a header error refuses the file; invalid records are listed on standard
    /// error (line, id, field, reason) and not searched, the valid donors are.
    #[arg(long, conflicts_with_all = ["save", "repeat"])]
    donors: Option<PathBuf>,
    /// The donor CSV's delimiter: `,` `;` or `tab` (default: a comma, or `;` or a tab
    /// when the header line shows no comma but one of them).
    #[arg(long, requires = "donors", value_parser = medulla_registry::csv_reader::parse_delimiter)]
    delimiter: Option<u8>,
    /// Mismatches allowed in total.
    #[arg(long, default_value_t = 0)]
    mismatches: u8,
    /// Mismatches allowed per locus, e.g. `A=1,DRB1=0` (default 2 each).
    #[arg(long, value_delimiter = ',')]
    locus_mismatches: Vec<String>,
    /// Loci that count (A, B, DRB1 always; C and DQB1 optional).
    #[arg(long, value_delimiter = ',', default_value = "A,B,C,DRB1,DQB1")]
    loci: Vec<String>,
    /// Which mismatches count against the limits at homozygous loci.
    #[arg(long, value_enum, ignore_case = true, default_value = "both")]
    count_mismatches: CountArg,
    /// Adult donors or cord blood units only (default both).
    #[arg(long, value_enum, ignore_case = true)]
    donor_type: Option<DonorTypeArg>,
    /// Patient CMV serostatus (ranking prefers the same).
    #[arg(long, value_enum, ignore_case = true)]
    patient_cmv: Option<CmvArg>,
    /// Patient ABO group (ranking prefers the same).
    #[arg(long)]
    patient_abo: Option<String>,
    /// Patient weight in kg (cord units rank by TNC per kg).
    #[arg(long)]
    patient_weight: Option<f32>,
    /// Donor age range in years, inclusive.
    #[arg(long)]
    min_age: Option<u8>,
    /// Oldest donor age in years, inclusive.
    #[arg(long)]
    max_age: Option<u8>,
    /// Donor sex (either case).
    #[arg(long, value_enum, ignore_case = true)]
    sex: Option<SexArg>,
    /// Donor CMV serostatus.
    #[arg(long, value_enum, ignore_case = true)]
    cmv: Option<CmvArg>,
    /// Donor ABO groups allowed, e.g. `O,A`.
    #[arg(long, value_delimiter = ',')]
    abo: Vec<String>,
    /// Registries allowed (codes in either case).
    #[arg(long, value_delimiter = ',')]
    registry: Vec<String>,
    /// Donor populations allowed (codes in either case).
    #[arg(long, value_delimiter = ',')]
    population: Vec<String>,
    /// Also list donors that are not available now.
    #[arg(long)]
    include_unavailable: bool,
    /// Hits shown.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Output: a table to read, or JSON / CSV with every column of the table.
    #[arg(long, value_enum, ignore_case = true, default_value = "table")]
    format: Output,
    /// Date of the search (ages, lapsing statuses); default today.
    #[arg(long)]
    date: Option<NaiveDate>,
    #[command(flatten)]
    freqs: crate::predict::FreqArgs,
    /// Patient population for match probabilities (default: the set's registry-wide one).
    #[arg(long)]
    patient_population: Option<String>,
    /// Match probabilities are computed for this many of the best hits, which are then
    /// ranked again with them.
    #[arg(long, default_value_t = 1000)]
    predict_top: usize,
    /// Skip match probabilities.
    #[arg(long)]
    no_probabilities: bool,
    /// Store this search and its matches under a name, to repeat it later.
    #[arg(long)]
    save: Option<String>,
    /// Run a stored search again and report new, changed and no longer matching donors.
    #[arg(long, conflicts_with = "save")]
    repeat: Option<String>,
    /// Send the search to every partner registry too (`medulla partners add`) and merge
    /// their hits into one ranking; partners that do not answer in time are listed.
    #[arg(long, conflicts_with_all = ["save", "repeat", "donors"])]
    international: bool,
    /// How long an international search waits for each partner, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    partner_timeout_ms: u64,
    #[command(flatten)]
    partner_tls: crate::tls_args::PartnerTlsArgs,
}

/// The search options these arguments stand for (the application layer reads them the
/// one way every interface shares).
fn options_of(args: &SearchArgs) -> Result<SearchOptions> {
    let mut o = SearchOptions::new(args.patient.clone().unwrap_or_default());
    o.mismatches = args.mismatches;
    for spec in &args.locus_mismatches {
        let (l, n) = spec
            .split_once('=')
            .with_context(|| format!("--locus-mismatches: {spec:?} is not LOCUS=N"))?;
        let n: u8 = n
            .trim()
            .parse()
            .with_context(|| format!("--locus-mismatches: {n:?} is not a number"))?;
        o.locus_mismatches.insert(l.trim().to_string(), n);
    }
    o.loci = args.loci.clone();
    o.count_mismatches = match args.count_mismatches {
        CountArg::Both => CountMismatches::Both,
        CountArg::Gvh => CountMismatches::Gvh,
        CountArg::Hvg => CountMismatches::Hvg,
    };
    o.donor_type = args.donor_type.map(|t| match t {
        DonorTypeArg::Adult => DonorKind::Adult,
        DonorTypeArg::Cord => DonorKind::Cord,
    });
    let cmv = |c: CmvArg| match c {
        CmvArg::Pos => CmvChoice::Pos,
        CmvArg::Neg => CmvChoice::Neg,
    };
    o.patient_cmv = args.patient_cmv.map(cmv);
    o.patient_abo = args.patient_abo.clone();
    o.patient_weight = args.patient_weight;
    o.min_age = args.min_age;
    o.max_age = args.max_age;
    o.sex = args.sex.map(|s| match s {
        SexArg::M => SexChoice::M,
        SexArg::F => SexChoice::F,
    });
    o.cmv = args.cmv.map(cmv);
    o.abo = args.abo.clone();
    o.registry = args.registry.clone();
    o.population = args.population.clone();
    o.include_unavailable = args.include_unavailable;
    o.limit = args.limit;
    o.patient_population = args.patient_population.clone();
    o.predict_top = args.predict_top;
    o.no_probabilities = args.no_probabilities;
    o.international = args.international;
    o.date = args.date;
    Ok(o)
}

/// An application error as the command line says it: options by their flag.
pub(crate) fn cli_error(e: AppError) -> anyhow::Error {
    match e {
        AppError::Invalid { field, reason } if field != "patient" && field != "body" => {
            anyhow::anyhow!("--{}: {reason}", field.replace('_', "-"))
        }
        other => anyhow::Error::new(other),
    }
}

/// The options a stored search was saved with: JSON (this version, and the API), or the
/// command-line arguments earlier versions kept.
fn stored_options(name: &str, request: &str) -> Result<SearchOptions> {
    if let Ok(o) = serde_json::from_str::<SearchOptions>(request) {
        return Ok(o);
    }
    let stored: Vec<String> = serde_json::from_str(request)
        .with_context(|| format!("stored search {name:?}: unreadable request"))?;
    #[derive(clap::Parser)]
    struct Stored {
        #[command(flatten)]
        search: SearchArgs,
    }
    let again = <Stored as clap::Parser>::try_parse_from(
        std::iter::once("search".to_string()).chain(stored),
    )
    .with_context(|| format!("stored search {name:?}: arguments no longer valid"))?
    .search;
    options_of(&again)
}

pub fn run(args: SearchArgs) -> Result<()> {
    let open_db = || {
        Store::open_existing(&args.db).with_context(|| {
            format!(
                "opening the registry database {}",
                medulla_registry::store::display_location(&args.db)
            )
        })
    };
    // a repeat runs the stored options (with this run's date, limit and output)
    let (mut options, previous) = match &args.repeat {
        Some(name) => {
            let saved = medulla_app::saved::load(&open_db()?, name)?;
            let mut o = stored_options(name, &saved.request)?;
            o.date = args.date;
            o.limit = args.limit;
            (o, Some(saved))
        }
        None => (options_of(&args)?, None),
    };
    let today = options.today();
    options.date = Some(today);

    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let mut catalog = ArdCatalog::new(&reducer);
    if let Some(dir) = &args.source.imgt {
        // DPB1 TCE groups of the same release, when it has them
        if let Ok(text) = std::fs::read_to_string(dir.join("tce/dpb_tce.csv")) {
            catalog = catalog.with_tce(TceTable::parse(&text));
        }
    }
    let mut request = options.to_request().map_err(cli_error)?;
    let keep_all = args.save.is_some() || args.repeat.is_some();
    let predict_top = if options.no_probabilities {
        0
    } else {
        options.predict_top.max(options.limit)
    };
    request.limit = if keep_all {
        usize::MAX
    } else {
        options.limit.max(predict_top)
    };

    let started = Instant::now();
    let index = match &args.donors {
        Some(path) => {
            let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let name = path.display().to_string();
            let validator = RecordValidator::new(&reducer, today);
            let mut rejected = 0u64;
            let mut listed = 0u64;
            let mut last_line = None;
            let index = index_csv(
                &mut catalog,
                BufReader::with_capacity(1 << 20, f),
                &validator,
                &name,
                args.delimiter,
                today,
                &mut |j| {
                    if listed < 20 {
                        eprintln!(
                            "{name} line {}: {}: {}: {}",
                            j.line, j.id, j.error.field, j.error.reason
                        );
                    }
                    listed += 1;
                    if last_line != Some(j.line) {
                        rejected += 1;
                        last_line = Some(j.line);
                    }
                },
            )?;
            if rejected > 0 {
                eprintln!(
                    "{name}: {rejected} invalid record(s){}, not searched",
                    if listed > 20 {
                        " (the first 20 problems listed)"
                    } else {
                        ""
                    }
                );
            }
            index
        }
        None => index_registry(&args.db, &mut catalog, today, &mut |_| {}).with_context(|| {
            format!(
                "reading the registry database {}",
                medulla_registry::store::display_location(&args.db)
            )
        })?,
    };
    let build = started.elapsed();
    if args.format == Output::Table {
        println!(
            "{} donors indexed in {:.1} s ({} skipped: typing unreadable)",
            index.len(),
            build.as_secs_f64(),
            index.skipped.len()
        );
    }

    let t = Instant::now();
    let result = search(&index, &mut catalog, &request).map_err(|e| cli_error(e.into()))?;
    let freqs = if predict_top > 0 {
        Some(args.freqs.load(&reducer)?)
    } else {
        None
    };
    let imputer = freqs.as_ref().map(|f| f.imputer(&reducer));
    let probabilities = imputer.as_ref().zip(freqs.as_ref());
    let mut outcome = finish(result, &options, &index, probabilities, None, keep_all);
    let took = t.elapsed();

    if keep_all {
        let mut store = open_db()?;
        let now = medulla_app::saved::matches_of(&store, &index, &outcome.result.hits)?;
        let at = Local::now().naive_local();
        if let Some(name) = &args.save {
            crate::journey::cli_change(&mut store, "search-saved", name, "", |s| {
                medulla_app::saved::save(s, name, &options, &now, at)
            })?;
            eprintln!("stored search {name:?}: {} matches", now.len());
        }
        if let (Some(name), Some(saved)) = (&args.repeat, &previous) {
            let report =
                crate::journey::cli_change(&mut store, "search-repeated", name, "", |s| {
                    medulla_app::saved::repeat(s, saved, &now, at)
                })?;
            print_repeat(name, &saved.last_run_at, &report);
        }
        outcome.result.hits.truncate(options.limit);
    }

    if args.international {
        return international(&args, &options, &index, &outcome, took.as_secs_f64());
    }
    print_hits(
        args.format,
        options.mismatches,
        &index,
        &outcome,
        took.as_secs_f64(),
        true,
    )
}

/// The national hits merged with every partner's, printed with the registry of each.
fn international(
    args: &SearchArgs,
    options: &SearchOptions,
    index: &SearchIndex,
    outcome: &SearchOutcome,
    search_s: f64,
) -> Result<()> {
    args.partner_tls.install()?;
    let store = Store::open_existing(&args.db).with_context(|| {
        format!(
            "opening the registry database {}",
            medulla_registry::store::display_location(&args.db)
        )
    })?;
    let ion = medulla_app::exchange::our_ion(store.connection())?.context(
        "an international search needs this registry's ION: start `medulla serve --ion ION` once",
    )?;
    let partners = medulla_registry::exchange::partners(store.connection())?;
    let hits = hit_views(index, outcome, &mut |id| {
        medulla_registry::DonorStore::donor(&store, id)
            .ok()
            .flatten()
            .and_then(|(d, _)| d.grid.map(|g| g.to_string()))
    });
    let national = medulla_app::service::SearchAnswer {
        total: outcome.result.total,
        hits,
        warnings: outcome.warnings.clone(),
        partners_unanswered: None,
    };
    let t = Instant::now();
    let merged = medulla_app::exchange::search::international(
        &partners,
        options,
        national,
        &ion,
        std::time::Duration::from_millis(args.partner_timeout_ms),
    );
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    let unanswered = merged.partners_unanswered.clone().unwrap_or_default();
    match args.format {
        Output::Json => println!("{}", serde_json::to_string_pretty(&merged)?),
        Output::Csv => print_rows(Output::Csv, &merged.hits, true)?,
        Output::Table => {
            println!(
                "{} donors within {} mismatch(es) in {} registries; national search {:.1} ms, \
                 partners {:.0} ms; best {} shown",
                merged.total,
                options.mismatches,
                1 + partners.len() - unanswered.len(),
                search_s * 1000.0,
                t.elapsed().as_secs_f64() * 1000.0,
                merged.hits.len()
            );
            if !unanswered.is_empty() {
                println!("partners that did not answer: {}", unanswered.join(", "));
            }
            print_rows(Output::Table, &merged.hits, true)?;
            println!("{LEGEND}");
        }
    }
    Ok(())
}

fn print_repeat(name: &str, since: &str, r: &RepeatReport) {
    println!(
        "repeat of {name:?} (last run {since}): {} new, {} changed, {} no longer matching, {} unchanged",
        r.new.len(),
        r.changed.len(),
        r.gone.len(),
        r.unchanged
    );
    for m in &r.new {
        println!("  new      {:<16} {}", m.donor_id, m.grade);
    }
    for (b, n) in &r.changed {
        let what = match (b.grade == n.grade, b.content_hash == n.content_hash) {
            (true, false) => "record changed".to_string(),
            (false, true) => format!("grade was {}", b.grade),
            _ => format!("record changed, grade was {}", b.grade),
        };
        println!("  changed  {:<16} {}  ({what})", n.donor_id, n.grade);
    }
    for (m, why) in &r.gone {
        let why = match why {
            Gone::Deleted => "deleted from the registry",
            Gone::NoLongerMatches => {
                "no longer within the search (status, age, typing or facts changed)"
            }
        };
        println!("  gone     {:<16} was {}  ({why})", m.donor_id, m.grade);
    }
    println!();
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or(String::new(), T::to_string)
}

pub(crate) fn print_hits(
    format: Output,
    mismatches: u8,
    index: &SearchIndex,
    outcome: &SearchOutcome,
    search_s: f64,
    legend: bool,
) -> Result<()> {
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    let rows = hit_views(index, outcome, &mut |_| None);
    let result = &outcome.result;
    match format {
        Output::Table => {
            println!(
                "{} of {} donors within {} mismatch(es), searched in {:.1} ms; best {} shown",
                result.total,
                index.len(),
                mismatches,
                search_s * 1000.0,
                result.hits.len()
            );
            print_rows(format, &rows, false)?;
            if legend {
                println!("{LEGEND}");
            }
        }
        Output::Csv => print_rows(format, &rows, false)?,
        Output::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "total": result.total,
                    "scanned": result.scanned,
                    "warnings": outcome.warnings,
                    "hits": rows,
                }))?
            );
        }
    }
    Ok(())
}

/// Hits as a table or CSV; an international search's table names each donor's registry.
fn print_rows(
    format: Output,
    rows: &[medulla_app::search::HitView],
    international: bool,
) -> Result<()> {
    match format {
        Output::Table => {
            println!(
                "{:>4}  {:<16} {:>6} {:>3} {:>5}  {:<4} {:<4} {:<4} {:<4} {:<4} {:<5} {:>5} {:<5} {:<3} {:<3} {:<3}  why",
                "rank", "donor", "match", "pot", "P10", "A", "B", "C", "DRB1", "DQB1", "DPB1", "age", "type", "sex", "CMV", "ABO"
            );
            for r in rows {
                let g = |l: &str| r.loci[l].grade.as_str();
                // an international search's hits name their registry
                let donor = if international {
                    format!("{}/{}", r.registry, r.donor_id)
                } else {
                    r.donor_id.clone()
                };
                println!(
                    "{:>4}  {:<16} {:>6} {:>3} {:>5}  {:<4} {:<4} {:<4} {:<4} {:<4} {:<5} {:>5} {:<5} {:<3} {:<3} {:<3}  {}",
                    r.rank,
                    donor,
                    r.matched,
                    r.potential,
                    r.probabilities
                        .as_ref()
                        .map_or("-".to_string(), |p| format!("{:.2}", p.p_10of10)),
                    g("A"),
                    g("B"),
                    g("C"),
                    g("DRB1"),
                    g("DQB1"),
                    g("DPB1"),
                    r.age.map_or("?".to_string(), |a| a.to_string()),
                    r.donor_type,
                    r.sex.as_deref().unwrap_or("?"),
                    r.cmv.as_deref().unwrap_or("?"),
                    r.abo.as_deref().unwrap_or("?"),
                    r.explain,
                );
            }
        }
        Output::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            let mut header: Vec<&str> = vec![
                "rank",
                "donor_id",
                "donor_type",
                "registry",
                "population",
                "age",
                "sex",
                "cmv",
                "abo",
                "match",
                "match_with_dpb1",
                "mismatches",
                "potential",
            ];
            header.extend(SEARCH_LOCI);
            header.extend([
                "dpb1_tce",
                "cell_dose_tnc_1e7_per_kg",
                "p_10of10",
                "p_9of10",
                "p_8of8",
                "why",
            ]);
            w.write_record(&header)?;
            for r in rows {
                let p = r.probabilities.as_ref();
                let mut rec: Vec<String> = vec![
                    r.rank.to_string(),
                    r.donor_id.clone(),
                    r.donor_type.clone(),
                    r.registry.clone(),
                    opt(&r.population),
                    opt(&r.age),
                    opt(&r.sex),
                    opt(&r.cmv),
                    opt(&r.abo),
                    r.matched.clone(),
                    opt(&r.match_with_dpb1),
                    r.mismatches.to_string(),
                    r.potential.to_string(),
                ];
                rec.extend(SEARCH_LOCI.iter().map(|l| r.loci[*l].grade.clone()));
                rec.extend([
                    r.dpb1_tce.to_string(),
                    r.cell_dose_tnc_1e7_per_kg
                        .map_or(String::new(), |d| format!("{d:.2}")),
                    p.map_or(String::new(), |p| format!("{:.6}", p.p_10of10)),
                    p.map_or(String::new(), |p| format!("{:.6}", p.p_9of10)),
                    p.map_or(String::new(), |p| format!("{:.6}", p.p_8of8)),
                    r.explain.clone(),
                ]);
                // values a registry imported are never evaluated by a spreadsheet
                let rec: Vec<String> = rec
                    .into_iter()
                    .map(medulla_app::search::spreadsheet_cell)
                    .collect();
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        Output::Json => println!("{}", serde_json::to_string_pretty(rows)?),
    }
    Ok(())
}

/// What every column and letter of the table means.
pub(crate) const LEGEND: &str = "\
columns: match = positions matched (certain or potential) of those counted; pot = positions only potentially matched (ambiguous typing);
         P10 = probability of a 10/10 match from haplotype frequencies; A..DPB1 = grade per position; age in years; type adult|cord;
         sex M|F; CMV pos|neg; ABO; ? = not known; why = the ranking criteria in order
grades:  M allele match, P potential match, a antigen match / allele mismatch, X antigen mismatch, - untyped (donor or patient);
         DPB1 TCE: p permissive, G/H non-permissive GvH/HvG, ? TCE group unknown";
