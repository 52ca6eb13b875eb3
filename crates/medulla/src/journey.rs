//! `medulla patients|requests|workup|tasks`: patients and their search cases, requests
//! between a patient and a donor, the workup journey and the task list. Parsing and
//! printing only: the use cases are `medulla_app::patients` and `medulla_app::workflow`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{Local, NaiveDate, NaiveDateTime};
use clap::{Args, Subcommand, ValueEnum};
use medulla_app::patients::{self, CaseStatusInput, PatientInput, PatientView};
use medulla_app::workflow::{
    self, EndInput, OpenInput, PlanInput, RecordInput, RequestView, ResultInput,
};
use medulla_nomenclature::Reducer;
use medulla_registry::requests::RequestFilter;
use medulla_registry::Store;

use crate::hla::SourceArgs;
use crate::table;

/// The registry database, as every registry command takes it.
#[derive(Args, Clone)]
pub struct DbArg {
    /// Registry database: a SQLite file, or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    pub db: PathBuf,
}

impl DbArg {
    fn open(&self) -> Result<Store> {
        Store::open_existing(&self.db).with_context(|| {
            format!(
                "opening the registry database {}",
                medulla_registry::store::display_location(&self.db)
            )
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Columns for a person.
    Table,
    /// JSON for programs.
    Json,
}

fn now() -> NaiveDateTime {
    Local::now().naive_local()
}

fn default_by() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".into())
}

/// Run a change as the command line's use case `action` on `subject`: recorded in the
/// audit trail as `cli:USER` in the change's own transaction, `--by` kept as a note.
pub(crate) fn cli_change<T>(
    store: &mut Store,
    action: &str,
    subject: &str,
    by: &str,
    f: impl FnOnce(&mut Store) -> Result<T, medulla_app::AppError>,
) -> Result<T> {
    medulla_app::audit::change(
        store,
        &medulla_registry::audit::default_actor(),
        action,
        subject,
        if by.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "by": by })
        },
        f,
    )
    .map_err(cli_error)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

// ---------------------------------------------------------------- patients

#[derive(Args)]
pub struct PatientsArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    source: SourceArgs,
    #[command(subcommand)]
    command: PatientsCommand,
}

#[derive(Subcommand)]
enum PatientsCommand {
    /// Register a patient (the search case starts preliminary).
    Add(Box<AddPatient>),
    /// One patient: the record and the case history.
    Show {
        /// The patient's id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Every patient, optionally with one case status.
    List {
        /// Only cases with this status (preliminary, active, suspended, stopped,
        /// transplanted).
        #[arg(long)]
        status: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The stem cell roadmap: own cells, family, national and international unrelated
    /// donors, and the next action.
    Roadmap {
        /// The patient's id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// CD34+ x10^6 per kg an autologous product needs.
        #[arg(long, default_value_t = medulla_registry::products::DEFAULT_CD34_PER_KG)]
        threshold: f64,
        #[command(flatten)]
        freqs: crate::predict::FreqArgs,
    },
    /// Move a search case: preliminary -> active -> suspended -> active, stopped (with a
    /// reason) or transplanted.
    SetStatus {
        /// The patient's id.
        id: String,
        /// The new status.
        status: String,
        /// Why (required to stop a case).
        #[arg(long)]
        reason: Option<String>,
        /// Who makes the change (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// A note kept in the case history.
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Args)]
struct AddPatient {
    /// The patient's id.
    id: String,
    /// HLA typing as a GL String.
    #[arg(long)]
    typing: String,
    /// Birth date (YYYY-MM-DD).
    #[arg(long)]
    birth_date: Option<NaiveDate>,
    /// M or F.
    #[arg(long)]
    sex: Option<String>,
    /// Current weight in kg.
    #[arg(long)]
    weight: Option<f64>,
    /// ABO group: O, A, B, AB.
    #[arg(long)]
    abo: Option<String>,
    /// Rhesus D: pos or neg.
    #[arg(long)]
    rh: Option<String>,
    /// CMV serostatus: pos or neg.
    #[arg(long)]
    cmv: Option<String>,
    /// Population for match probabilities (EUR, AFA, API, HIS with the shipped set).
    #[arg(long)]
    population: Option<String>,
    /// Diagnosis.
    #[arg(long)]
    diagnosis: Option<String>,
    /// Disease stage.
    #[arg(long)]
    stage: Option<String>,
    /// Transplant timeline: under-4w, 4-6w, 7-12w, 12w-6m, over-6m.
    #[arg(long)]
    urgency: Option<String>,
    /// Transplant centre.
    #[arg(long)]
    centre: Option<String>,
    /// Date of the HLA typing.
    #[arg(long)]
    typing_date: Option<NaiveDate>,
    /// Laboratory that typed the patient.
    #[arg(long)]
    typing_lab: Option<String>,
    /// Name (identity, stored apart from the medical facts).
    #[arg(long)]
    name: Option<String>,
    /// Who registers the patient (default: $USER).
    #[arg(long)]
    by: Option<String>,
}

pub fn patients(args: PatientsArgs) -> Result<()> {
    match args.command {
        PatientsCommand::Add(a) => {
            // a patient joins an existing registry: a mistyped --db creates nothing
            let mut store = args.db.open()?;
            let (release, macs) = args.source.load()?;
            let reducer = Reducer::new(&release, &macs);
            let input = PatientInput {
                id: a.id,
                typing: a.typing,
                birth_date: a.birth_date,
                sex: a.sex,
                weight: a.weight,
                abo: a.abo,
                rh: a.rh,
                cmv: a.cmv,
                population: a.population,
                diagnosis: a.diagnosis,
                stage: a.stage,
                urgency: a.urgency,
                centre: a.centre,
                typing_date: a.typing_date,
                typing_lab: a.typing_lab,
                name: a.name,
                ..Default::default()
            };
            let by = a.by.unwrap_or_else(default_by);
            let p = cli_change(&mut store, "patient-add", &input.id.clone(), &by, |s| {
                patients::add(s, &reducer, &input, &by, now())
            })?;
            println!("{}", p.id);
            eprintln!("patient {} registered (case {})", p.id, p.status);
        }
        PatientsCommand::Show { id, format } => {
            let store = args.db.open()?;
            let p = patients::show(&store, &id).map_err(cli_error)?;
            match format {
                Format::Json => print_json(&p)?,
                Format::Table => print_patient(&p),
            }
        }
        PatientsCommand::List { status, format } => {
            let store = args.db.open()?;
            let list = patients::list(&store, status.as_deref()).map_err(cli_error)?;
            match format {
                Format::Json => print_json(&serde_json::json!({ "patients": list }))?,
                Format::Table => table::print(
                    &[
                        "id",
                        "status",
                        "urgency",
                        "population",
                        "diagnosis",
                        "typing",
                    ],
                    &list
                        .iter()
                        .map(|p| {
                            vec![
                                p.id.clone(),
                                p.status.clone(),
                                p.urgency.clone().unwrap_or_default(),
                                p.population.clone().unwrap_or_default(),
                                p.diagnosis.clone().unwrap_or_default(),
                                p.typing.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        PatientsCommand::Roadmap {
            id,
            format,
            threshold,
            freqs,
        } => {
            crate::roadmap_cli::roadmap(&args.db.db, &args.source, &freqs, &id, threshold, format)?;
        }
        PatientsCommand::SetStatus {
            id,
            status,
            reason,
            by,
            note,
        } => {
            let mut store = args.db.open()?;
            let by = by.unwrap_or_else(default_by);
            let input = CaseStatusInput {
                status,
                reason,
                note,
            };
            let p = cli_change(&mut store, "case-status", &id, &by, |s| {
                patients::set_status(s, &id, &input, &by, now())
            })?;
            println!("{}: {}", p.id, p.status);
        }
    }
    Ok(())
}

fn print_patient(p: &PatientView) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("patient      {}", p.id);
    println!("case         {}", p.status);
    println!("typing       {}", p.typing);
    println!(
        "typed        {} {}",
        opt(&p.typing_date),
        p.typing_lab.as_deref().unwrap_or("")
    );
    println!(
        "born         {}   sex {}   weight {}",
        opt(&p.birth_date),
        opt(&p.sex),
        p.weight.map(|w| format!("{w} kg")).unwrap_or("-".into())
    );
    println!(
        "ABO/Rh       {} {}   CMV {}",
        opt(&p.abo),
        opt(&p.rh),
        opt(&p.cmv)
    );
    println!(
        "diagnosis    {} (stage {})",
        opt(&p.diagnosis),
        opt(&p.stage)
    );
    println!(
        "urgency      {}   centre {}   population {}",
        opt(&p.urgency),
        opt(&p.centre),
        opt(&p.population)
    );
    println!();
    table::print(
        &["when", "by", "status", "note"],
        &p.history
            .iter()
            .map(|h| vec![h.at.clone(), h.by.clone(), h.status.clone(), h.note.clone()])
            .collect::<Vec<_>>(),
    );
}

/// Errors of the use cases as the command line says them (a rule keeps its name).
pub(crate) fn cli_error(e: medulla_app::AppError) -> anyhow::Error {
    match e {
        medulla_app::AppError::Invalid { field, reason } => {
            anyhow::anyhow!("--{}: {reason}", field.replace('_', "-"))
        }
        other => other.into(),
    }
}

// ---------------------------------------------------------------- requests

#[derive(Args)]
pub struct RequestsArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    partner_tls: crate::tls_args::PartnerTlsArgs,
    #[command(subcommand)]
    command: RequestsCommand,
}

#[derive(Subcommand)]
enum RequestsCommand {
    /// Open a request for a patient-donor pair; prints the new request's id.
    Open {
        /// The patient's id.
        #[arg(long)]
        patient: String,
        /// The donor's id or GRID; the GRID of a partner registry's donor sends the
        /// request to that registry (`medulla partners`).
        #[arg(long)]
        donor: String,
        /// ct, idm, sample, reservation or workup.
        #[arg(long = "type")]
        kind: String,
        /// Loci of a verification typing (ct), e.g. A,B,C,DRB1,DQB1 (the default).
        #[arg(long)]
        loci: Option<String>,
        /// Expiry date of a reservation.
        #[arg(long)]
        expires: Option<NaiveDate>,
        /// Who opens it (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// A note kept with the request.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// One request: state, history, flags and (for a workup) every step.
    Show {
        /// The request's id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Requests, optionally of one patient or donor, or only open ones.
    List {
        /// Only this patient's requests.
        #[arg(long)]
        patient: Option<String>,
        /// Only this donor's requests.
        #[arg(long)]
        donor: Option<String>,
        /// Only open requests (open, acknowledged, partially resulted).
        #[arg(long)]
        open: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The donor's registry has received the request.
    Acknowledge {
        /// The request's id.
        id: String,
        /// Who records it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Record a result (a later one is an update, kept in the history).
    Result {
        /// The request's id.
        id: String,
        /// The typing a ct request returns (GL String); compared with the registry's.
        #[arg(long)]
        typing: Option<String>,
        /// More results will follow.
        #[arg(long)]
        partial: bool,
        /// Who records it (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// A note kept with the result.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// No result: donor-unavailable, medical, withdrew, unreachable, patient-died,
    /// patient-transplanted, other.
    Reject {
        /// The request's id.
        id: String,
        /// The reason code.
        #[arg(long)]
        reason: String,
        /// Who records it (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// A note kept with the rejection.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Remind a partner registry of a result due for a request sent to it.
    Remind {
        /// The request's id.
        id: String,
        /// What to say.
        #[arg(long, default_value = "a result is due")]
        note: String,
        /// Who sends it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Withdraw a request (a reservation releases the donor).
    Cancel {
        /// The request's id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who cancels it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
}

pub fn requests(args: RequestsArgs) -> Result<()> {
    let mut store = args.db.open()?;
    let at = now();
    cli_change(&mut store, "requests-expired", "-", "system", |s| {
        workflow::expire_due(s, at)
    })?;
    let today = at.date();
    let view = match args.command {
        RequestsCommand::Open {
            patient,
            donor,
            kind,
            loci,
            expires,
            by,
            note,
        } => {
            let input = OpenInput {
                patient,
                donor,
                kind,
                loci,
                expires,
                note,
            };
            let by = by.unwrap_or_else(default_by);
            args.partner_tls.install()?;
            medulla_app::exchange::learn_route(&store, &input.donor).map_err(cli_error)?;
            let r = cli_change(&mut store, "request-open", &input.donor.clone(), &by, |s| {
                workflow::open(s, &input, &by, at)
            })?;
            println!("{}", r.id);
            for f in &r.flags {
                eprintln!("flag: {f}");
            }
            eprintln!(
                "request {} ({}) opened for patient {} and donor {}",
                r.id, r.kind, r.patient, r.donor
            );
            return Ok(());
        }
        RequestsCommand::Show { id, format } => {
            let r = workflow::show(&store, &id, today).map_err(cli_error)?;
            if format == Format::Json {
                return print_json(&r);
            }
            r
        }
        RequestsCommand::List {
            patient,
            donor,
            open,
            format,
        } => {
            let list = workflow::list(
                &store,
                &RequestFilter {
                    patient,
                    donor,
                    open_only: open,
                },
                today,
            )
            .map_err(cli_error)?;
            if format == Format::Json {
                return print_json(&serde_json::json!({ "requests": list }));
            }
            table::print(
                &[
                    "request", "type", "patient", "donor", "state", "opened", "partner", "detail",
                ],
                &list
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.clone(),
                            r.kind.clone(),
                            r.patient.clone(),
                            r.donor.clone(),
                            r.state.clone(),
                            r.opened.clone(),
                            match (&r.origin, &r.partner) {
                                (Some(o), _) => format!("from {o}"),
                                (None, Some(p)) => format!("to {p}"),
                                _ => String::new(),
                            },
                            r.loci
                                .as_ref()
                                .map(|l| l.join(","))
                                .or(r.expires.as_ref().map(|e| format!("expires {e}")))
                                .unwrap_or_default(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            return Ok(());
        }
        RequestsCommand::Acknowledge { id, by } => {
            let by = by.unwrap_or_else(default_by);
            cli_change(&mut store, "request-acknowledge", &id, &by, |s| {
                workflow::acknowledge(s, &id, &by, at)
            })?
        }
        RequestsCommand::Result {
            id,
            typing,
            partial,
            by,
            note,
        } => {
            let (release, macs) = args.source.load()?;
            let reducer = Reducer::new(&release, &macs);
            let by = by.unwrap_or_else(default_by);
            let input = ResultInput {
                partial,
                typing,
                note,
            };
            cli_change(&mut store, "request-result", &id, &by, |s| {
                workflow::result(s, &reducer, &id, &input, &by, at)
            })?
        }
        RequestsCommand::Reject {
            id,
            reason,
            by,
            note,
        } => {
            let by = by.unwrap_or_else(default_by);
            cli_change(&mut store, "request-end", &id, &by, |s| {
                workflow::end(s, &id, EndInput::Reject { reason, note }, &by, at)
            })?
        }
        RequestsCommand::Remind { id, note, by } => {
            let by = by.unwrap_or_else(default_by);
            cli_change(&mut store, "request-remind", &id, &by, |s| {
                workflow::remind(s, &id, &note, &by, at)
            })?
        }
        RequestsCommand::Cancel { id, reason, by } => {
            let by = by.unwrap_or_else(default_by);
            cli_change(&mut store, "request-end", &id, &by, |s| {
                workflow::end(s, &id, EndInput::Cancel { reason }, &by, at)
            })?
        }
    };
    print_request(&view);
    Ok(())
}

fn print_request(r: &RequestView) {
    println!("request   {} ({})", r.id, r.kind);
    println!("patient   {}   donor {}", r.patient, r.donor);
    match (&r.origin, &r.partner, &r.reference) {
        (Some(o), _, Some(reference)) => {
            println!("from      partner {o} (its patient), reference {reference}")
        }
        (None, Some(p), Some(reference)) => {
            println!("sent to   partner {p} (its donor), reference {reference}")
        }
        _ => {}
    }
    println!("state     {}", r.state);
    println!("opened    {} by {}", r.opened, r.opened_by);
    if let Some(l) = &r.loci {
        println!("loci      {}", l.join(", "));
    }
    if let Some(e) = &r.expires {
        println!("expires   {e}");
    }
    for f in &r.flags {
        println!("FLAG      {f}");
    }
    if let Some(w) = &r.workup {
        println!();
        if let Some(c) = &w.collection {
            println!("collection {c}");
        }
        if let Some(c) = &w.conditioning {
            println!("conditioning starts {c}");
        }
        if let Some(rv) = &w.review {
            println!("BLOCKED FOR REVIEW: {rv}");
        }
        if let Some(a) = &w.available_from {
            println!("donor available to others from {a}");
        }
        table::print(
            &["step", "state", "date", "due", "by", "note"],
            &w.steps
                .iter()
                .map(|s| {
                    vec![
                        s.step.clone(),
                        if s.overdue {
                            format!("{} (OVERDUE)", s.state)
                        } else {
                            s.state.clone()
                        },
                        s.date.clone().unwrap_or_default(),
                        s.due.clone().unwrap_or_default(),
                        s.by.clone().unwrap_or_default(),
                        s.note.clone().unwrap_or_default(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    if !r.events.is_empty() {
        println!();
        table::print(
            &["when", "by", "event", "detail"],
            &r.events
                .iter()
                .map(|e| {
                    vec![
                        e.at.clone(),
                        e.by.clone(),
                        e.event.clone(),
                        e.detail.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
}

// ---------------------------------------------------------------- workup

#[derive(Args)]
pub struct WorkupArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    source: SourceArgs,
    #[command(subcommand)]
    command: WorkupCommand,
}

#[derive(Subcommand)]
enum WorkupCommand {
    /// Set or move the planned dates (every rule re-checked; steps a move invalidates
    /// are reopened).
    Plan {
        /// The workup request's id.
        #[arg(long)]
        request: String,
        /// Planned collection date.
        #[arg(long)]
        collection: NaiveDate,
        /// Planned medical exam (at least 21 days before the collection).
        #[arg(long)]
        exam: Option<NaiveDate>,
        /// Planned IDM sample (at most 30 days before the collection).
        #[arg(long)]
        idm: Option<NaiveDate>,
        /// When the patient's conditioning starts (the donor is cleared before).
        #[arg(long)]
        conditioning: Option<NaiveDate>,
        /// Who plans (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Record a step done (never a future date).
    Record {
        /// The workup request's id.
        #[arg(long)]
        request: String,
        /// consent, sample, typing, exam, idm, clearance, mobilisation, collection,
        /// shipment, infusion, followup-1w, followup-1m, followup-1y, followup-5y.
        #[arg(long)]
        step: String,
        /// When it was done.
        #[arg(long)]
        date: NaiveDate,
        /// ok or failed.
        #[arg(long, value_parser = ["ok", "failed"])]
        outcome: Option<String>,
        /// The verification typing (step typing), compared with the registry's.
        #[arg(long)]
        typing: Option<String>,
        /// Who records it (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// A note kept with the step.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The donor's appointments as an iCalendar file.
    Calendar {
        /// The workup request's id.
        #[arg(long)]
        request: String,
        /// The .ics file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn workup(args: WorkupArgs) -> Result<()> {
    let mut store = args.db.open()?;
    let at = now();
    match args.command {
        WorkupCommand::Plan {
            request,
            collection,
            exam,
            idm,
            conditioning,
            by,
        } => {
            let by = by.unwrap_or_else(default_by);
            let input = PlanInput {
                collection: Some(collection),
                exam,
                idm,
                conditioning,
            };
            let a = cli_change(&mut store, "workup-plan", &request, &by, |s| {
                workflow::plan(s, &request, &input, &by, at)
            })?;
            for r in &a.reopened {
                eprintln!("reopened: {r}");
            }
            for d in &a.dropped {
                eprintln!("dropped: {d}");
            }
            print_request(&a.request);
        }
        WorkupCommand::Record {
            request,
            step,
            date,
            outcome,
            typing,
            by,
            note,
        } => {
            // the release is loaded only to read a verification typing
            let loaded = typing.as_ref().map(|_| args.source.load()).transpose()?;
            let reducer = loaded.as_ref().map(|(r, m)| Reducer::new(r, m));
            let by = by.unwrap_or_else(default_by);
            let input = RecordInput {
                step,
                date,
                outcome,
                typing,
                note,
            };
            let r = cli_change(&mut store, "workup-record", &request, &by, |s| {
                workflow::record(s, reducer.as_ref(), &request, &input, &by, at)
            })?;
            if let Some(rv) = r.workup.as_ref().and_then(|w| w.review.as_ref()) {
                eprintln!("flag: blocked for review: {rv}");
            }
            print_request(&r);
        }
        WorkupCommand::Calendar { request, out } => {
            let text = workflow::calendar(&store, &request).map_err(cli_error)?;
            std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {}", out.display());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- tasks

#[derive(Args)]
pub struct TasksArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only tasks due within this many days (overdue ones always).
    #[arg(long)]
    due: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn tasks(args: TasksArgs) -> Result<()> {
    let mut store = args.db.open()?;
    let at = now();
    cli_change(&mut store, "requests-expired", "-", "system", |s| {
        workflow::expire_due(s, at)
    })?;
    let list = workflow::task_list(&store, at.date(), args.due).map_err(cli_error)?;
    match args.format {
        Format::Json => print_json(&serde_json::json!({ "tasks": list }))?,
        Format::Table => {
            table::print(
                &["due", "", "task", "request", "donor", "patient"],
                &list
                    .iter()
                    .map(|t| {
                        vec![
                            t.due.to_string(),
                            if t.overdue {
                                "OVERDUE".into()
                            } else {
                                String::new()
                            },
                            t.task.clone(),
                            t.request.clone(),
                            t.donor.clone(),
                            t.patient.clone(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            eprintln!(
                "{} open tasks, {} overdue",
                list.len(),
                list.iter().filter(|t| t.overdue).count()
            );
        }
    }
    Ok(())
}
