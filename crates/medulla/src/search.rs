//! `medulla search`: ranked donors for a patient, from the registry or a donor CSV.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{Local, NaiveDate};
use clap::{Args, ValueEnum};
use medulla_matching::{
    rank_with_probabilities, search, ArdCatalog, Dpb1Tce, Filters, LocusGrade, MismatchCount,
    MismatchDirection, PatientFacts, PositionGrade, SearchHit, SearchIndex, SearchRequest,
    SearchResult, TceTable, SEARCH_LOCI,
};
use medulla_nomenclature::Reducer;
use medulla_registry::saved_search::{Gone, RepeatReport, SavedMatch};
use medulla_registry::search_index::{day_number, index_csv, indexed};
use medulla_registry::{DonorStore, SqliteStore};

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
    /// Search a donor CSV instead of the database.
    #[arg(long, conflicts_with_all = ["save", "repeat"])]
    donors: Option<PathBuf>,
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
}

/// The search's own command-line arguments, as stored with a saved search.
fn stored_arguments() -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in std::env::args().skip(2) {
        if skip {
            skip = false;
            continue;
        }
        if a == "--save" || a == "--date" || a == "--format" || a == "--limit" {
            skip = true;
            continue;
        }
        if a.starts_with("--save=")
            || a.starts_with("--date=")
            || a.starts_with("--format=")
            || a.starts_with("--limit=")
        {
            continue;
        }
        out.push(a);
    }
    out
}

fn grade_code(g: &LocusGrade) -> String {
    g.positions
        .iter()
        .map(|p| match p {
            PositionGrade::AlleleMatch => 'M',
            PositionGrade::PotentialMatch => 'P',
            PositionGrade::AntigenMatchAlleleMismatch => 'a',
            PositionGrade::AntigenMismatch => 'X',
        })
        .collect()
}

fn tce_code(t: Dpb1Tce) -> &'static str {
    match t {
        Dpb1Tce::Matched => "",
        Dpb1Tce::Permissive => "p",
        Dpb1Tce::NonPermissiveGvh => "G",
        Dpb1Tce::NonPermissiveHvg => "H",
        Dpb1Tce::Unknown => "?",
    }
}

fn tce_name(t: Dpb1Tce) -> &'static str {
    match t {
        Dpb1Tce::Matched => "matched",
        Dpb1Tce::Permissive => "permissive",
        Dpb1Tce::NonPermissiveGvh => "non-permissive (graft-versus-host)",
        Dpb1Tce::NonPermissiveHvg => "non-permissive (host-versus-graft)",
        Dpb1Tce::Unknown => "unknown",
    }
}

fn grade_name(p: &PositionGrade) -> &'static str {
    match p {
        PositionGrade::AlleleMatch => "allele match",
        PositionGrade::PotentialMatch => "potential match",
        PositionGrade::AntigenMatchAlleleMismatch => "antigen match, allele mismatch",
        PositionGrade::AntigenMismatch => "antigen mismatch",
    }
}

/// The patient's typing by search locus, read as every command reads a typing
/// (`HLA-` prefixes, serology, MACs, XX codes, lists...). Loci search does not grade
/// (DRB3/4/5, DQA1...) are named on standard error and left out.
pub(crate) fn parse_patient(gl: &str) -> Result<[[Option<String>; 2]; 6]> {
    let mut patient: [[Option<String>; 2]; 6] = Default::default();
    let blocks =
        medulla_nomenclature::split_loci(gl).map_err(|e| anyhow::anyhow!("patient: {e}"))?;
    if blocks.is_empty() {
        bail!("patient: the typing is empty");
    }
    for block in blocks {
        let Some(li) = SEARCH_LOCI.iter().position(|l| *l == block.locus) else {
            eprintln!(
                "patient: locus {} is not graded by search (A, B, C, DRB1, DQB1, DPB1); left out",
                block.locus
            );
            continue;
        };
        if block.copies.is_empty() {
            bail!(
                "patient: {:?}: genotype lists (|) are not searched; give the two copies",
                block.text
            );
        }
        for (p, c) in block.copies.iter().enumerate() {
            patient[li][p] = Some(c.clone());
        }
    }
    Ok(patient)
}

fn build_request(args: &SearchArgs, today: NaiveDate) -> Result<SearchRequest> {
    let patient = parse_patient(args.patient.as_deref().unwrap_or_default())?;
    let mut locus_max = [2u8; 6];
    for spec in &args.locus_mismatches {
        let (l, n) = spec
            .split_once('=')
            .with_context(|| format!("--locus-mismatches: {spec:?} is not LOCUS=N"))?;
        let li = SEARCH_LOCI
            .iter()
            .position(|x| *x == l.trim())
            .with_context(|| format!("--locus-mismatches: unknown locus {l:?}"))?;
        locus_max[li] = n
            .trim()
            .parse()
            .with_context(|| format!("--locus-mismatches: {n:?}"))?;
    }
    let mut loci = Vec::new();
    for l in &args.loci {
        match SEARCH_LOCI[..5].iter().position(|x| *x == l.trim()) {
            Some(i) => loci.push(i),
            None => bail!("--loci: {l:?} is not one of A, B, C, DRB1, DQB1"),
        }
    }
    for required in [0, 1, 3] {
        if !loci.contains(&required) {
            loci.push(required);
        }
    }
    loci.sort_unstable();
    Ok(SearchRequest {
        patient,
        patient_facts: PatientFacts {
            cmv_positive: args.patient_cmv.map(|c| c == CmvArg::Pos),
            abo: args
                .patient_abo
                .as_ref()
                .map(|a| a.trim().to_ascii_uppercase()),
            weight_kg: args.patient_weight,
        },
        loci,
        max_mismatches: args.mismatches,
        locus_max,
        count: match args.count_mismatches {
            CountArg::Both => MismatchCount::Both,
            CountArg::Gvh => MismatchCount::GraftVersusHost,
            CountArg::Hvg => MismatchCount::HostVersusGraft,
        },
        cord: args.donor_type.map(|t| t == DonorTypeArg::Cord),
        filters: Filters {
            min_age: args.min_age,
            max_age: args.max_age,
            male: args.sex.map(|s| s == SexArg::M),
            cmv_positive: args.cmv.map(|c| c == CmvArg::Pos),
            abo: args
                .abo
                .iter()
                .map(|a| a.trim().to_ascii_uppercase())
                .collect(),
            registries: args.registry.clone(),
            populations: args.population.clone(),
            include_unavailable: args.include_unavailable,
        },
        limit: args.limit,
        today: day_number(today),
    })
}

/// The grade summary a stored search keeps per donor.
fn grade_summary(h: &SearchHit) -> String {
    let g: Vec<String> = h.grades.iter().map(grade_code).collect();
    format!("{}/{} {}", h.matched, h.out_of, g.join(" "))
}

pub fn run(args: SearchArgs) -> Result<()> {
    let today = args.date.unwrap_or_else(|| Local::now().date_naive());
    // a repeat runs the stored arguments (with this run's database, date and output)
    let (args, previous) = match &args.repeat {
        Some(name) => {
            let store = SqliteStore::open_existing(&args.db)
                .with_context(|| format!("opening the registry database {}", args.db.display()))?;
            let saved = store
                .saved_search(name)?
                .with_context(|| format!("no stored search named {name:?}"))?;
            let stored: Vec<String> = serde_json::from_str(&saved.request)
                .with_context(|| format!("stored search {name:?}: unreadable request"))?;
            #[derive(clap::Parser)]
            struct Stored {
                #[command(flatten)]
                search: SearchArgs,
            }
            let mut again = <Stored as clap::Parser>::try_parse_from(
                std::iter::once("search".to_string()).chain(stored),
            )
            .with_context(|| format!("stored search {name:?}: arguments no longer valid"))?
            .search;
            again.db = args.db.clone();
            again.format = args.format;
            again.limit = args.limit;
            again.repeat = Some(name.clone());
            (again, Some(saved))
        }
        None => (args, None),
    };

    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let mut catalog = ArdCatalog::new(&reducer);
    if let Some(dir) = &args.source.imgt {
        // DPB1 TCE groups of the same release, when it has them
        if let Ok(text) = std::fs::read_to_string(dir.join("tce/dpb_tce.csv")) {
            catalog = catalog.with_tce(TceTable::parse(&text));
        }
    }
    let mut request = build_request(&args, today)?;
    let keep_all = args.save.is_some() || args.repeat.is_some();
    let predict_top = if args.no_probabilities {
        0
    } else {
        args.predict_top.max(args.limit)
    };
    request.limit = if keep_all {
        usize::MAX
    } else {
        args.limit.max(predict_top)
    };

    let started = Instant::now();
    let index = match &args.donors {
        Some(path) => {
            let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            index_csv(&mut catalog, BufReader::with_capacity(1 << 20, f), today)
                .with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            let store = SqliteStore::open_existing(&args.db)
                .with_context(|| format!("opening the registry database {}", args.db.display()))?;
            let mut donors = Vec::new();
            store.for_each_donor(&mut |d, s| {
                donors.push(indexed(&d, &s, today));
                Ok(())
            })?;
            SearchIndex::build(&mut catalog, donors)
        }
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
    let mut result = search(&index, &mut catalog, &request)?;
    if predict_top > 0 {
        let freqs = args.freqs.load(&reducer)?;
        let imputer = freqs.imputer(&reducer);
        let n = predict_top.min(result.hits.len());
        let attached = crate::predict::attach_probabilities(
            &imputer,
            &index,
            &mut result.hits[..n],
            args.patient.as_deref().unwrap_or_default(),
            args.patient_population.as_deref(),
        );
        match &attached.patient_error {
            Some(e) => eprintln!("match probabilities: patient: {e}; ranked without them"),
            None => {
                rank_with_probabilities(&mut result.hits[..n], &result.loci);
                crate::predict::warn_if_mostly_unrepresented(
                    attached.unexplained,
                    attached.hits,
                    &freqs,
                );
                if attached.unexplained > 0 {
                    eprintln!(
                        "match probabilities: {} of {} donors have typings no haplotype pair of the set explains",
                        attached.unexplained, attached.hits
                    );
                }
            }
        }
    }
    let took = t.elapsed();
    if !keep_all {
        result.hits.truncate(args.limit);
    }

    if keep_all {
        let mut store = SqliteStore::open_existing(&args.db)
            .with_context(|| format!("opening the registry database {}", args.db.display()))?;
        let mut now = Vec::with_capacity(result.hits.len());
        for h in &result.hits {
            let id = index.id(h.donor);
            now.push(SavedMatch {
                donor_id: id.to_string(),
                grade: grade_summary(h),
                content_hash: store.content_hash_of(id)?.unwrap_or_default(),
            });
        }
        let at = Local::now().naive_local();
        if let Some(name) = &args.save {
            store.save_search(name, &serde_json::to_string(&stored_arguments())?, at, &now)?;
            eprintln!("stored search {name:?}: {} matches", now.len());
        }
        if let (Some(name), Some(saved)) = (&args.repeat, &previous) {
            let report = RepeatReport::compare(&saved.matches, &now, &mut |id| {
                Ok(store.content_hash_of(id)?.is_some())
            })?;
            print_repeat(name, &saved.last_run_at, &report);
            store.save_search(name, &saved.request, at, &now)?;
        }
        result.hits.truncate(args.limit);
    }

    let patient_typed: [bool; 6] = std::array::from_fn(|l| request.patient[l][0].is_some());
    print_hits(
        args.format,
        args.mismatches,
        &index,
        &result,
        &patient_typed,
        took.as_secs_f64(),
        true,
    )
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

/// One hit with every column a coordinator reads, as the table, CSV and JSON carry it.
#[derive(serde::Serialize)]
pub(crate) struct HitRow {
    rank: usize,
    donor: String,
    donor_type: &'static str,
    registry: String,
    population: Option<String>,
    age: Option<u8>,
    sex: Option<&'static str>,
    cmv: Option<&'static str>,
    abo: Option<String>,
    #[serde(rename = "match")]
    matched: String,
    match_with_dpb1: Option<String>,
    mismatches: u8,
    potential: u8,
    /// Grade letters per locus (A, B, C, DRB1, DQB1, DPB1); `-` untyped on a side.
    grades: Vec<(&'static str, String)>,
    dpb1_tce: &'static str,
    cell_dose_tnc_1e7_per_kg: Option<f32>,
    p_10of10: Option<f64>,
    p_9of10: Option<f64>,
    p_8of8: Option<f64>,
    why: Vec<String>,
}

/// The letters of one locus, `-` when the donor or the patient is untyped there (an
/// untyped locus is a potential match, not a grade to read).
fn locus_cell(index: &SearchIndex, patient_typed: &[bool; 6], h: &SearchHit, l: usize) -> String {
    let donor_typed = index.donor_typing(h.donor)[l].iter().any(Option::is_some);
    if !donor_typed || !patient_typed[l] {
        return "-".into();
    }
    let mut g = grade_code(&h.grades[l]);
    if l == 5 {
        g.push_str(tce_code(h.dpb1));
    }
    g
}

pub(crate) fn hit_rows(
    index: &SearchIndex,
    result: &SearchResult,
    patient_typed: &[bool; 6],
) -> Vec<HitRow> {
    result
        .hits
        .iter()
        .enumerate()
        .map(|(rank, h)| {
            let f = index.facts(h.donor);
            HitRow {
                rank: rank + 1,
                donor: f.id,
                donor_type: if f.cord { "cord" } else { "adult" },
                registry: f.registry,
                population: f.population,
                age: h.age,
                sex: f.male.map(|m| if m { "M" } else { "F" }),
                cmv: f.cmv_positive.map(|c| if c { "pos" } else { "neg" }),
                abo: f.abo,
                matched: format!("{}/{}", h.matched, h.out_of),
                match_with_dpb1: h.with_dpb1().map(|(m, o)| format!("{m}/{o}")),
                mismatches: h.mismatches,
                potential: h.potential,
                grades: SEARCH_LOCI
                    .iter()
                    .enumerate()
                    .map(|(l, name)| (*name, locus_cell(index, patient_typed, h, l)))
                    .collect(),
                dpb1_tce: tce_name(h.dpb1),
                cell_dose_tnc_1e7_per_kg: h.cell_dose,
                p_10of10: h.probabilities.map(|p| p.p_10of10),
                p_9of10: h.probabilities.map(|p| p.p_9of10),
                p_8of8: h.probabilities.map(|p| p.p_8of8),
                why: h.explain(&result.loci),
            }
        })
        .collect()
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or(String::new(), T::to_string)
}

pub(crate) fn print_hits(
    format: Output,
    mismatches: u8,
    index: &SearchIndex,
    result: &SearchResult,
    patient_typed: &[bool; 6],
    search_s: f64,
    legend: bool,
) -> Result<()> {
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    let rows = hit_rows(index, result, patient_typed);
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
            println!(
                "{:>4}  {:<16} {:>6} {:>3} {:>5}  {:<4} {:<4} {:<4} {:<4} {:<4} {:<5} {:>5} {:<5} {:<3} {:<3} {:<3}  why",
                "rank", "donor", "match", "pot", "P10", "A", "B", "C", "DRB1", "DQB1", "DPB1", "age", "type", "sex", "CMV", "ABO"
            );
            for r in &rows {
                let g = |l: usize| r.grades[l].1.as_str();
                println!(
                    "{:>4}  {:<16} {:>6} {:>3} {:>5}  {:<4} {:<4} {:<4} {:<4} {:<4} {:<5} {:>5} {:<5} {:<3} {:<3} {:<3}  {}",
                    r.rank,
                    r.donor,
                    r.matched,
                    r.potential,
                    r.p_10of10.map_or("-".to_string(), |p| format!("{p:.2}")),
                    g(0),
                    g(1),
                    g(2),
                    g(3),
                    g(4),
                    g(5),
                    r.age.map_or("?".to_string(), |a| a.to_string()),
                    r.donor_type,
                    r.sex.unwrap_or("?"),
                    r.cmv.unwrap_or("?"),
                    r.abo.as_deref().unwrap_or("?"),
                    r.why.join("; "),
                );
            }
            if legend {
                println!("{LEGEND}");
            }
        }
        Output::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            let mut header: Vec<&str> = vec![
                "rank",
                "donor",
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
            for r in &rows {
                let mut rec: Vec<String> = vec![
                    r.rank.to_string(),
                    r.donor.clone(),
                    r.donor_type.into(),
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
                rec.extend(r.grades.iter().map(|(_, g)| g.clone()));
                rec.extend([
                    r.dpb1_tce.to_string(),
                    r.cell_dose_tnc_1e7_per_kg
                        .map_or(String::new(), |d| format!("{d:.2}")),
                    r.p_10of10.map_or(String::new(), |p| format!("{p:.6}")),
                    r.p_9of10.map_or(String::new(), |p| format!("{p:.6}")),
                    r.p_8of8.map_or(String::new(), |p| format!("{p:.6}")),
                    r.why.join("; "),
                ]);
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        Output::Json => {
            let hits: Vec<serde_json::Value> = rows
                .iter()
                .zip(&result.hits)
                .map(|(r, h)| {
                    let mut v = serde_json::to_value(r).expect("a hit row serializes");
                    let loci: serde_json::Map<String, serde_json::Value> = SEARCH_LOCI
                        .iter()
                        .zip(&h.grades)
                        .map(|(l, g)| {
                            (
                                l.to_string(),
                                serde_json::json!({
                                    "positions": g.positions.iter().map(grade_name).collect::<Vec<_>>(),
                                    "mismatches": g.mismatches(),
                                    "direction": g.direction().map(direction_name),
                                    "crossed": g.crossed,
                                }),
                            )
                        })
                        .collect();
                    v["grades"] = serde_json::Value::Object(
                        r.grades
                            .iter()
                            .map(|(l, g)| (l.to_string(), serde_json::json!(g)))
                            .collect(),
                    );
                    v["loci"] = serde_json::Value::Object(loci);
                    v["probabilities"] = serde_json::json!(h.probabilities.map(|p| serde_json::json!({
                        "p_10of10": p.p_10of10,
                        "p_9of10": p.p_9of10,
                        "p_8of8": p.p_8of8,
                        "p0": SEARCH_LOCI.iter().zip(p.p0).filter_map(|(l, v)| v.map(|v| (l.to_string(), serde_json::json!(v)))).collect::<serde_json::Map<_, _>>(),
                    })));
                    v
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "total": result.total,
                    "scanned": result.scanned,
                    "warnings": result.warnings,
                    "hits": hits,
                }))?
            );
        }
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

fn direction_name(d: MismatchDirection) -> &'static str {
    match d {
        MismatchDirection::Bidirectional => "bidirectional",
        MismatchDirection::GraftVersusHost => "graft-versus-host",
        MismatchDirection::HostVersusGraft => "host-versus-graft",
    }
}
