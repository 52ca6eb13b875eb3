//! `medulla search`: ranked donors for a patient, from the registry or a donor CSV.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{Local, NaiveDate};
use clap::{Args, ValueEnum};
use medulla_matching::{
    search, ArdCatalog, Dpb1Tce, LocusGrade, PositionGrade, SearchIndex, SearchRequest, TceTable,
    SEARCH_LOCI,
};
use medulla_nomenclature::Reducer;
use medulla_registry::search_index::{day_number, index_csv, indexed};
use medulla_registry::{DonorStore, SqliteStore};

use crate::hla::SourceArgs;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Csv,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DonorTypeArg {
    Adult,
    Cord,
}

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Patient typing as a GL String: `A*01:01+A*02:01^B*08:01+B*44:02^...`.
    #[arg(long)]
    patient: String,
    /// Registry database to search.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db")]
    db: PathBuf,
    /// Search a donor CSV instead of the database.
    #[arg(long)]
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
    #[arg(long, value_enum)]
    donor_type: Option<DonorTypeArg>,
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: Output,
    /// Date of the search (age bands, lapsing statuses); default today.
    #[arg(long)]
    date: Option<NaiveDate>,
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

pub fn run(args: SearchArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let mut catalog = ArdCatalog::new(&reducer);
    if let Some(dir) = &args.source.imgt {
        // DPB1 TCE groups of the same release, when it has them
        if let Ok(text) = std::fs::read_to_string(dir.join("tce/dpb_tce.csv")) {
            catalog = catalog.with_tce(TceTable::parse(&text));
        }
    }
    let today = args.date.unwrap_or_else(|| Local::now().date_naive());

    // the patient, position by position
    let mut patient: [[Option<String>; 2]; 6] = Default::default();
    for part in args.patient.split('^') {
        let first = part.split(['+', '/']).next().unwrap_or("");
        let Some(li) = SEARCH_LOCI.iter().position(|l| {
            first
                .strip_prefix("HLA-")
                .unwrap_or(first)
                .starts_with(&format!("{l}*"))
        }) else {
            bail!("patient: {part:?} is not a typing of A, B, C, DRB1, DQB1 or DPB1");
        };
        let copies: Vec<&str> = part.split('+').collect();
        if copies.len() > 2 {
            bail!("patient: {part:?} has more than two copies");
        }
        for (p, c) in copies.iter().enumerate() {
            patient[li][p] = Some(c.to_string());
        }
    }

    let started = Instant::now();
    let index = match &args.donors {
        Some(path) => {
            let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            index_csv(&mut catalog, BufReader::with_capacity(1 << 20, f), today)
                .with_context(|| format!("reading {}", path.display()))?
        }
        None => {
            let store = SqliteStore::open(&args.db)
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
    let request = SearchRequest {
        patient,
        loci,
        max_mismatches: args.mismatches,
        locus_max,
        cord: args.donor_type.map(|t| t == DonorTypeArg::Cord),
        limit: args.limit,
        patient_cmv_positive: None,
        patient_abo: None,
        today: day_number(today),
    };
    let t = Instant::now();
    let result = search(&index, &mut catalog, &request)?;
    let took = t.elapsed();

    match args.format {
        Output::Table => {
            println!(
                "{} donors indexed in {:.1} s ({} skipped), searched in {:.1} ms: {} within {} mismatch(es), best {} shown",
                index.len(),
                build.as_secs_f64(),
                index.skipped.len(),
                took.as_secs_f64() * 1000.0,
                result.total,
                args.mismatches,
                result.hits.len()
            );
            println!(
                "{:>4}  {:<16} {:>6} {:>4}  {:<4} {:<4} {:<4} {:<4} {:<4} {:<5} {:>5} {:<4} {:<3} {:<3}",
                "rank", "donor", "match", "pot", "A", "B", "C", "DRB1", "DQB1", "DPB1", "age", "type", "sex", "CMV"
            );
            for (rank, h) in result.hits.iter().enumerate() {
                let f = &index.facts[h.donor];
                let age = if h.age_band == 31 {
                    "?".to_string()
                } else {
                    format!("{}-{}", h.age_band as u32 * 5, h.age_band as u32 * 5 + 4)
                };
                println!(
                    "{:>4}  {:<16} {:>6} {:>4}  {:<4} {:<4} {:<4} {:<4} {:<4} {:<5} {:>5} {:<4} {:<3} {:<3}",
                    rank + 1,
                    f.id,
                    format!("{}/{}", h.matched, h.out_of),
                    h.potential,
                    grade_code(&h.grades[0]),
                    grade_code(&h.grades[1]),
                    grade_code(&h.grades[2]),
                    grade_code(&h.grades[3]),
                    grade_code(&h.grades[4]),
                    format!("{}{}", grade_code(&h.grades[5]), tce_code(h.dpb1)),
                    age,
                    if f.cord { "cord" } else { "adult" },
                    f.male.map_or("?", |m| if m { "M" } else { "F" }),
                    f.cmv_positive.map_or("?", |c| if c { "pos" } else { "neg" }),
                );
            }
            println!("grades: M allele match, P potential match, a antigen match / allele mismatch, X antigen mismatch; DPB1 TCE: p permissive, G/H non-permissive GvH/HvG, ? unknown");
        }
        Output::Csv => {
            println!(
                "rank,donor,matched,out_of,mismatches,potential,A,B,C,DRB1,DQB1,DPB1,dpb1_tce,age_band"
            );
            for (rank, h) in result.hits.iter().enumerate() {
                let g: Vec<String> = h.grades.iter().map(grade_code).collect();
                println!(
                    "{},{},{},{},{},{},{},{},{}",
                    rank + 1,
                    index.facts[h.donor].id,
                    h.matched,
                    h.out_of,
                    h.mismatches,
                    h.potential,
                    g.join(","),
                    tce_name(h.dpb1),
                    h.age_band
                );
            }
        }
        Output::Json => {
            let hits: Vec<serde_json::Value> = result
                .hits
                .iter()
                .enumerate()
                .map(|(rank, h)| {
                    let loci: serde_json::Map<String, serde_json::Value> = SEARCH_LOCI
                        .iter()
                        .zip(&h.grades)
                        .map(|(l, g)| {
                            (
                                l.to_string(),
                                serde_json::json!({
                                    "positions": g.positions.iter().map(grade_name).collect::<Vec<_>>(),
                                    "mismatches": g.mismatches(),
                                    "crossed": g.crossed,
                                }),
                            )
                        })
                        .collect();
                    serde_json::json!({
                        "rank": rank + 1,
                        "donor": index.facts[h.donor].id,
                        "match": format!("{}/{}", h.matched, h.out_of),
                        "mismatches": h.mismatches,
                        "potential": h.potential,
                        "age_band": h.age_band,
                        "dpb1_tce": tce_name(h.dpb1),
                        "loci": loci,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "total": result.total,
                    "scanned": result.scanned,
                    "hits": hits,
                }))?
            );
        }
    }
    Ok(())
}
