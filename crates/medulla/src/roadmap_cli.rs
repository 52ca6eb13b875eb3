//! `medulla family|products` and `medulla patients roadmap`: the first steps of the
//! patient's roadmap (own cells, family) and the roadmap itself. Parsing and printing;
//! the use cases are `medulla_app::family` and `medulla_app::roadmap`.

use std::fs::File;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{Local, NaiveDate};
use clap::{Args, Subcommand};
use medulla_app::family::{assign_rows, read_csv};
use medulla_app::roadmap::{self, ProductInput, ProductView, Roadmap};
use medulla_family::FamilyAssignment;
use medulla_nomenclature::Reducer;
use medulla_registry::products::DEFAULT_CD34_PER_KG;
use medulla_registry::Store;

use crate::hla::SourceArgs;
use crate::journey::{cli_error, Format};
use crate::predict::FreqArgs;
use crate::table;

fn by_default(by: Option<String>) -> String {
    by.unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "cli".into()))
}

fn open(db: &std::path::Path) -> Result<Store> {
    Store::open_existing(db).with_context(|| {
        format!(
            "opening the registry database {}",
            medulla_registry::store::display_location(db)
        )
    })
}

// ------------------------------------------------------------------ family

#[derive(Args)]
pub struct FamilyArgs {
    /// Registry database: a SQLite file, or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    #[command(subcommand)]
    command: FamilyCommand,
}

#[derive(Subcommand)]
enum FamilyCommand {
    /// Add (or replace) a relative of a registered patient.
    Add {
        /// The patient's id.
        #[arg(long)]
        patient: String,
        /// The relative's id.
        #[arg(long)]
        member: String,
        /// father, mother, sibling, half-sibling, child, other.
        #[arg(long)]
        relation: String,
        /// The relative's typing as a GL String (empty: not typed yet).
        #[arg(long, default_value = "")]
        typing: String,
        /// Who adds it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Assign haplotypes: families from a CSV (family,member,relation,gl), or a
    /// registered patient's family (--patient).
    Assign {
        /// The families CSV (header family,member,relation,gl).
        file: Option<PathBuf>,
        /// A registered patient's family instead of a file.
        #[arg(long, conflicts_with = "file")]
        patient: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Population of the haplotype frequencies that weigh open assignments (default:
        /// the patient's, else the set's populations pooled).
        #[arg(long)]
        population: Option<String>,
        #[command(flatten)]
        freqs: FreqArgs,
    },
}

pub fn family(args: FamilyArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    match args.command {
        FamilyCommand::Add {
            patient,
            member,
            relation,
            typing,
            by,
        } => {
            let mut store = open(&args.db)?;
            let by = by_default(by);
            let input = roadmap::RelativeInput {
                patient: patient.clone(),
                member: member.clone(),
                relation: relation.clone(),
                gl: typing,
            };
            crate::journey::cli_change(&mut store, "relative-add", &patient, &by, |s| {
                roadmap::add_relative(s, &reducer, &input, &by, Local::now().naive_local())
            })?;
            println!("{member}");
            eprintln!("{relation} {member} of patient {patient} kept");
            Ok(())
        }
        FamilyCommand::Assign {
            file,
            patient,
            format,
            population,
            freqs,
        } => {
            let f = freqs.load(&reducer)?;
            let (answers, bad) = match (&file, &patient) {
                (Some(path), _) => {
                    let rows = read_csv(
                        File::open(path).with_context(|| format!("opening {}", path.display()))?,
                    )
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    let pop = population.clone().unwrap_or_else(|| "pooled".into());
                    assign_rows(&reducer, &rows, Some((&f.set, pop.as_str())))
                }
                (None, Some(p)) => {
                    let store = open(&args.db)?;
                    let pop = population
                        .clone()
                        .or_else(|| {
                            store
                                .patient(p)
                                .ok()
                                .flatten()
                                .and_then(|r| r.patient.population)
                        })
                        .unwrap_or_else(|| "pooled".into());
                    let a = roadmap::assign_patient_family(
                        &store,
                        &reducer,
                        p,
                        Some((&f.set, pop.as_str())),
                    )
                    .map_err(cli_error)?;
                    (vec![a], 0)
                }
                (None, None) => anyhow::bail!("give a families CSV file or --patient ID"),
            };
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "families": answers }))?
                ),
                Format::Table => answers.iter().for_each(print_family),
            }
            if bad > 0 {
                anyhow::bail!("{bad} families could not be read (their notes say why)");
            }
            Ok(())
        }
    }
}

fn print_family(a: &FamilyAssignment) {
    println!(
        "family {}: {}",
        a.family,
        serde_json::to_value(a.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    );
    println!(
        "  identical siblings: {}",
        if a.identical_siblings.is_empty() {
            "none".into()
        } else {
            a.identical_siblings.join(", ")
        }
    );
    println!(
        "  haploidentical:     {}",
        if a.haploidentical.is_empty() {
            "none".into()
        } else {
            a.haploidentical.join(", ")
        }
    );
    if let Some(p) = a.probability {
        println!("  probability of this assignment: {p:.3}");
    }
    table::print(
        &["  member", "relation", "labels", "haplotypes"],
        &a.members
            .iter()
            .map(|m| {
                vec![
                    format!("  {}", m.member),
                    m.relation.code().to_string(),
                    m.labels.join(" "),
                    m.haplotypes.join("  |  "),
                ]
            })
            .collect::<Vec<_>>(),
    );
    for n in &a.notes {
        println!("  note: {n}");
    }
    println!();
}

// ------------------------------------------------------------------ products

#[derive(Args)]
pub struct ProductsArgs {
    /// Registry database: a SQLite file, or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    /// CD34+ x10^6 per kg of the patient's current weight a transplant needs.
    #[arg(long, default_value_t = DEFAULT_CD34_PER_KG, global = true)]
    threshold: f64,
    #[command(subcommand)]
    command: ProductsCommand,
}

#[derive(Subcommand)]
enum ProductsCommand {
    /// Store an autologous product (the patient's own cells).
    Add(Box<AddProduct>),
    /// One product with its verdict and history.
    Show {
        /// The product's id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// A patient's products and the verdict on them together.
    List {
        /// The patient's id.
        #[arg(long)]
        patient: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Change a product's status (stored, reserved, thawed, infused, discarded, expired).
    SetStatus {
        /// The product's id.
        id: String,
        /// The new status.
        status: String,
        /// Who makes the change (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// A note kept in the history.
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Args)]
struct AddProduct {
    /// The product's id.
    id: String,
    /// The patient's id.
    #[arg(long)]
    patient: String,
    /// Collection date(s) of the mobilisation, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    collected: Vec<NaiveDate>,
    /// Mobilising agents (G-CSF, plerixafor, chemotherapy...).
    #[arg(long)]
    agents: Option<String>,
    /// Volume, ml.
    #[arg(long)]
    volume: Option<f64>,
    /// Total nucleated cells, x10^8.
    #[arg(long)]
    tnc: Option<f64>,
    /// CD34+ cells, x10^6 (total).
    #[arg(long)]
    cd34: f64,
    /// Viability, percent.
    #[arg(long)]
    viability: Option<f64>,
    /// Number of bags.
    #[arg(long)]
    bags: Option<u32>,
    /// Storage tank.
    #[arg(long)]
    tank: Option<String>,
    /// Rack in the tank.
    #[arg(long)]
    rack: Option<String>,
    /// Position in the rack.
    #[arg(long)]
    position: Option<String>,
    /// Expiry date.
    #[arg(long)]
    expires: Option<NaiveDate>,
    /// Who stores it (default: $USER).
    #[arg(long)]
    by: Option<String>,
}

fn print_product(v: &ProductView) {
    let p = &v.product;
    println!("product     {} (patient {})", p.id, p.patient);
    println!("status      {}", p.status);
    println!(
        "collected   {}",
        p.collected
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "cells       CD34+ {} x10^6, TNC {} x10^8, viability {}",
        p.cd34_1e6,
        p.tnc_1e8.map(|x| x.to_string()).unwrap_or("-".into()),
        p.viability.map(|x| format!("{x}%")).unwrap_or("-".into())
    );
    println!(
        "stored      tank {} rack {} position {} ({} bags)",
        p.tank.as_deref().unwrap_or("-"),
        p.rack.as_deref().unwrap_or("-"),
        p.position.as_deref().unwrap_or("-"),
        p.bags.map(|b| b.to_string()).unwrap_or("-".into())
    );
    println!(
        "verdict     {} ({})",
        if v.verdict.usable {
            "USABLE"
        } else {
            "NOT USABLE"
        },
        match v.verdict.cd34_per_kg {
            Some(x) => format!("{x:.2} x10^6 CD34+/kg, needs {:.1}", v.verdict.threshold),
            None => "no weight".into(),
        }
    );
    for r in &v.verdict.reasons {
        println!("            {r}");
    }
    if !v.history.is_empty() {
        table::print(
            &["when", "by", "status", "note"],
            &v.history
                .iter()
                .map(|h| vec![h.at.clone(), h.by.clone(), h.status.clone(), h.note.clone()])
                .collect::<Vec<_>>(),
        );
    }
}

pub fn products(args: ProductsArgs) -> Result<()> {
    let mut store = open(&args.db)?;
    let now = Local::now().naive_local();
    let t = args.threshold;
    match args.command {
        ProductsCommand::Add(a) => {
            let input = ProductInput {
                id: a.id,
                patient: a.patient,
                collected: a.collected,
                agents: a.agents,
                volume_ml: a.volume,
                tnc_1e8: a.tnc,
                cd34_1e6: a.cd34,
                viability: a.viability,
                bags: a.bags,
                tank: a.tank,
                rack: a.rack,
                position: a.position,
                expires: a.expires,
            };
            let by = by_default(a.by);
            let subject = input.patient.clone();
            let v = crate::journey::cli_change(&mut store, "product-add", &subject, &by, |s| {
                roadmap::add_product(s, &input, &by, now, t)
            })?;
            print_product(&v);
        }
        ProductsCommand::Show { id, format } => {
            let v = roadmap::product(&store, &id, t, now.date()).map_err(cli_error)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                Format::Table => print_product(&v),
            }
        }
        ProductsCommand::List { patient, format } => {
            let v = roadmap::products(&store, &patient, t, now.date()).map_err(cli_error)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                Format::Table => {
                    table::print(
                        &[
                            "product",
                            "status",
                            "collected",
                            "CD34+ 1e6",
                            "CD34+/kg",
                            "usable",
                            "why not",
                        ],
                        &v.products
                            .iter()
                            .map(|p| {
                                vec![
                                    p.product.id.clone(),
                                    p.product.status.to_string(),
                                    p.product
                                        .collected
                                        .first()
                                        .map(|d| d.to_string())
                                        .unwrap_or_default(),
                                    format!("{}", p.product.cd34_1e6),
                                    p.verdict
                                        .cd34_per_kg
                                        .map(|x| format!("{x:.2}"))
                                        .unwrap_or("-".into()),
                                    if p.verdict.usable { "yes" } else { "no" }.into(),
                                    p.verdict.reasons.join("; "),
                                ]
                            })
                            .collect::<Vec<_>>(),
                    );
                    println!(
                        "together: {} ({})",
                        if v.total.usable {
                            "enough"
                        } else {
                            "not enough"
                        },
                        v.total.reasons.join("; ")
                    );
                }
            }
        }
        ProductsCommand::SetStatus {
            id,
            status,
            by,
            note,
        } => {
            let by = by_default(by);
            let v = crate::journey::cli_change(&mut store, "product-status", &id, &by, |s| {
                roadmap::set_product_status(s, &id, &status, &by, &note, now, t)
            })?;
            println!("{}: {}", v.product.id, v.product.status);
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ roadmap

/// `medulla patients roadmap ID`.
#[allow(clippy::too_many_arguments)]
pub fn roadmap(
    db: &std::path::Path,
    source: &SourceArgs,
    freqs: &FreqArgs,
    id: &str,
    threshold: f64,
    format: Format,
) -> Result<()> {
    let mut store = open(db)?;
    let (release, macs) = source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let f = freqs.load(&reducer)?;
    let pop = store
        .patient(id)?
        .and_then(|r| r.patient.population)
        .unwrap_or_else(|| "pooled".into());
    let at = Local::now().naive_local();
    // the command searches (it was asked to): the search kept with the case
    let r = crate::journey::cli_change(&mut store, "roadmap-search", id, "", |s| {
        roadmap::roadmap(
            s,
            &reducer,
            Some((&f.set, pop.as_str())),
            id,
            threshold,
            at,
            |store, patient| {
                roadmap::national_from_db(store, db, &reducer, Some(&f), patient, at.date(), at)
            },
        )
    })?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        Format::Table => print_roadmap(&r),
    }
    Ok(())
}

fn print_roadmap(r: &Roadmap) {
    println!("patient {} (case {})", r.patient, r.status);
    println!();
    table::print(
        &["step", "what exists", "best option"],
        &r.steps
            .iter()
            .map(|s| {
                vec![
                    s.step.to_string(),
                    s.summary.clone(),
                    s.best.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect::<Vec<_>>(),
    );
    println!();
    println!("next action: {}", r.next_action);
}
