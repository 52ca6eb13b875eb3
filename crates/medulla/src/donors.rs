//! `medulla donors ...`: import, export, show, set-status on the registry database.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{Local, NaiveDate};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use medulla_app::service::{import_donors, ImportFormat, StatusRequest};
use medulla_nomenclature::Reducer;
use medulla_registry::{
    export_csv, export_json, write_rejections, DonorStore, ImportOptions, StatusChange, Store,
    UpdateMode,
};

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct DonorsArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Registry database: a SQLite file or `postgres://USER@HOST:PORT/DB` (`import` creates it when missing, the other
    /// commands need it to exist).
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(subcommand)]
    command: DonorsCommand,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Donor CSV (docs/donor-csv.md).
    Csv,
    /// Donor-update JSON of open-source matching engines (updateMode full/diff/check).
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    /// Can be searched and called.
    Available,
    /// Not now: needs --reason and --until.
    TemporarilyUnavailable,
    /// Reserved for a patient: needs --patient and --until.
    Reserved,
    /// Leaves the pool: needs --reason.
    PermanentlyUnavailable,
}

#[derive(Subcommand)]
enum DonorsCommand {
    /// Import a donor CSV or donor-update JSON file in one transaction.
    Import {
        /// The donor CSV or donor-update JSON file.
        file: PathBuf,
        /// File format (default: json for *.json files, else csv).
        #[arg(long, value_enum, ignore_case = true)]
        format: Option<Format>,
        /// Apply nothing when any record is invalid.
        #[arg(long)]
        strict: bool,
        /// Reject report (default: FILE.rejects.csv, written when there are rejects).
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Who imports (kept in the status history).
        #[arg(long, default_value = "import")]
        by: String,
        /// CSV delimiter: `,` `;` or `tab` (default: a comma, or `;` or a tab when the
        /// header line shows no comma but one of them).
        #[arg(long, value_parser = medulla_registry::csv_reader::parse_delimiter)]
        delimiter: Option<u8>,
    },
    /// Export every donor.
    Export {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// File format (default: json for *.json files, else csv).
        #[arg(long, value_enum, ignore_case = true)]
        format: Option<Format>,
    },
    /// Show one donor, its status and status history.
    Show {
        /// The donor's id in this registry.
        id: String,
    },
    /// Change a donor's status (kept in its history with who, when and why).
    SetStatus {
        /// The donor's id in this registry.
        id: String,
        /// The new status.
        #[arg(long, value_enum, ignore_case = true)]
        status: StatusArg,
        /// Reason (temporarily unavailable: free text; permanently unavailable: too-old,
        /// medical, withdrew, deceased, unreachable, other).
        #[arg(long)]
        reason: Option<String>,
        /// End date of a temporary unavailability or reservation.
        #[arg(long)]
        until: Option<NaiveDate>,
        /// Patient a reservation is for.
        #[arg(long)]
        patient: Option<String>,
        /// Who changes the status (kept in the history).
        #[arg(long)]
        by: String,
        /// A note kept with the change.
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// The files of a SQLite registry that an import would create: removed again when the
/// import fails or applies nothing, so that a failed command leaves no empty database.
fn new_sqlite_files(db: &Path) -> Vec<PathBuf> {
    // an existing database keeps every file (its -wal may hold committed writes)
    if medulla_registry::store::is_postgres(db) || db.exists() {
        return Vec::new();
    }
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        db.to_path_buf(),
        with("-wal"),
        with("-shm"),
        with("-journal"),
        Store::security_path(db),
    ]
    .into_iter()
    .filter(|p| !p.exists())
    .collect()
}

fn open_registry(db: &Path, create: bool) -> Result<Store> {
    if create {
        Store::open(db)
    } else {
        Store::open_existing(db)
    }
    .with_context(|| {
        format!(
            "opening the registry database {}",
            medulla_registry::store::display_location(db)
        )
    })
}

pub fn run(args: DonorsArgs) -> Result<()> {
    let DonorsCommand::Import {
        file,
        format,
        strict,
        rejects,
        by,
        delimiter,
    } = args.command
    else {
        // only an import may create the database; every other command needs it to exist
        let store = open_registry(&args.db, false)?;
        return run_on(store, &args.db, args.command);
    };
    // the file is opened and the release loaded before the database is touched, and a
    // database this import creates is removed again when it applies nothing
    let f = File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let (release, macs) = args.source.load()?;
    let created = new_sqlite_files(&args.db);
    let shown = medulla_registry::store::display_location(&args.db);
    let fresh = !medulla_registry::store::location_exists(&args.db);
    if fresh {
        eprintln!("creating a new registry database at {shown}");
    }
    let store = open_registry(&args.db, true);
    let result = store.and_then(|store| {
        import(
            store, &release, &macs, f, &file, format, strict, rejects, &by, delimiter,
        )
    });
    let applied = matches!(result, Ok(true));
    if !applied && created.iter().any(|p| p.exists()) {
        for p in &created {
            let _ = std::fs::remove_file(p);
        }
        if fresh {
            eprintln!("nothing was imported: the new registry database {shown} is removed");
        }
    }
    result.map(|_| ())
}

/// Import `file` into `store` (dropped at the end: the database closed); whether anything
/// was applied.
#[allow(clippy::too_many_arguments)]
fn import(
    mut store: Store,
    release: &medulla_nomenclature::Release,
    macs: &medulla_nomenclature::MacTable,
    f: File,
    file: &Path,
    format: Option<Format>,
    strict: bool,
    rejects: Option<PathBuf>,
    by: &str,
    delimiter: Option<u8>,
) -> Result<bool> {
    let reducer = Reducer::new(release, macs);
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} eta {eta}")
            .expect("progress template"),
    );
    let started = Instant::now();
    let name = file.display().to_string();
    let options = ImportOptions {
        validate_first: false,
        file_name: &name,
        strict,
        by,
        at: Local::now().naive_local(),
        before_commit: Some(&medulla_app::audit::import_counts),
        delimiter,
    };
    let reader = bar.wrap_read(BufReader::with_capacity(1 << 20, f));
    let json = format == Some(Format::Json)
        || (format.is_none() && file.extension().is_some_and(|e| e == "json"));
    let mut mode_note = String::new();
    let format = if json {
        ImportFormat::Json
    } else {
        ImportFormat::Csv
    };
    // the import and its audit entry (as the command line's user) commit together
    let entry = medulla_app::audit::note(
        &medulla_registry::audit::default_actor(),
        "import",
        &name,
        serde_json::json!({ "by": by, "strict": strict }),
    );
    let imported = store.audited(entry, |s| {
        import_donors(
            s,
            &reducer,
            reader,
            format,
            &options,
            |n| bar.set_message(format!("{n} records")),
            &mut |_| {},
        )
    });
    let (report, mode) = imported?;
    if mode == Some(UpdateMode::Check) {
        mode_note = " (check: nothing written; counts say what a diff would do)".into();
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: {} records, {} new, {} updated, {} unchanged, {} deleted, {} rejected{}{} ({:.1} s, {:.0} records/s)",
        name,
        report.records,
        report.new,
        report.updated,
        report.unchanged,
        report.deleted,
        report.rejected,
        if report.applied || !mode_note.is_empty() { "" } else { "; nothing applied (--strict)" },
        mode_note,
        secs,
        report.records as f64 / secs.max(1e-9)
    );
    let path = rejects.unwrap_or_else(|| PathBuf::from(format!("{name}.rejects.csv")));
    if report.rejected > 0 {
        let out = File::create(&path)
            .with_context(|| format!("creating the reject report {}", path.display()))?;
        write_rejections(BufWriter::new(out), &name, &report)?;
        println!("reject report: {}", path.display());
        if strict {
            bail!("{} invalid records; nothing was imported", report.rejected);
        }
    } else if path.is_file() {
        // a clean import: an earlier report would read as this file's
        std::fs::remove_file(&path)
            .with_context(|| format!("removing the stale reject report {}", path.display()))?;
        println!("removed the stale reject report {}", path.display());
    }
    Ok(report.applied)
}

fn run_on(mut store: Store, db: &Path, command: DonorsCommand) -> Result<()> {
    match command {
        DonorsCommand::Import { .. } => unreachable!("imports run in `import`"),
        DonorsCommand::Export { out, format } => {
            let format = format.unwrap_or(
                if out
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                {
                    Format::Json
                } else {
                    Format::Csv
                },
            );
            let f = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let n = match format {
                Format::Csv => export_csv(BufWriter::new(f), &store)?,
                Format::Json => export_json(BufWriter::new(f), &store)?,
            };
            println!("exported {n} donors to {}", out.display());
        }
        DonorsCommand::Show { id } => {
            let Some((d, status)) = store.donor(&id)? else {
                bail!(
                    "donor {id} is not in the registry {}",
                    medulla_registry::store::display_location(db)
                );
            };
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            println!("donor        {}", d.id);
            println!(
                "GRID         {}",
                opt(d.grid.as_ref().map(|g| g.to_string()))
            );
            println!("registry     {}", d.registry);
            println!("type         {}", d.donor_type);
            println!("sex          {}", opt(d.sex.map(|x| x.to_string())));
            println!(
                "born         {} (leaves the pool on {})",
                opt(d.birth_date.map(|x| x.to_string())),
                opt(d.leaves_pool_on().map(|x| x.to_string()))
            );
            println!(
                "ABO/Rh       {} {}",
                opt(d.abo.map(|x| x.to_string())),
                opt(d.rh.map(|x| x.to_string()))
            );
            println!("CMV          {}", opt(d.cmv.map(|x| x.to_string())));
            println!("population   {}", opt(d.population.clone()));
            println!(
                "recruited    {}",
                opt(d.recruitment_date.map(|x| x.to_string()))
            );
            if let Some(c) = d.cord {
                println!(
                    "cord unit    TNC {} x10^7, CD34+ {} x10^6, {} ml",
                    opt(c.tnc_1e7.map(|x| x.to_string())),
                    opt(c.cd34_1e6.map(|x| x.to_string())),
                    opt(c.volume_ml.map(|x| x.to_string()))
                );
            }
            println!("typed        {}", opt(d.typing.date.map(|x| x.to_string())));
            for (locus, pos) in medulla_registry::DONOR_LOCI.iter().zip(&d.typing.positions) {
                if pos.iter().any(Option::is_some) {
                    println!(
                        "  {:<5}      {:<24} {}",
                        locus,
                        pos[0].as_deref().unwrap_or("-"),
                        pos[1].as_deref().unwrap_or("-")
                    );
                }
            }
            println!("status       {status}");
            println!("history");
            for h in store.history(&id)? {
                // to the second, and no empty brackets when there is no note
                let at = h.changed_at.format("%Y-%m-%d %H:%M:%S");
                let note = if h.note.trim().is_empty() {
                    String::new()
                } else {
                    format!("  ({})", h.note)
                };
                println!("  {at}  {:<14} {}{note}", h.changed_by, h.status);
            }
        }
        DonorsCommand::SetStatus {
            id,
            status,
            reason,
            until,
            patient,
            by,
            note,
        } => {
            // the status read as the service reads a status change
            let request = StatusRequest {
                status: match status {
                    StatusArg::Available => "available",
                    StatusArg::TemporarilyUnavailable => "temporarily-unavailable",
                    StatusArg::Reserved => "reserved",
                    StatusArg::PermanentlyUnavailable => "permanently-unavailable",
                }
                .to_string(),
                reason,
                until,
                patient,
                note: note.clone(),
            };
            let status = request.status().map_err(|e| match e {
                medulla_app::AppError::Invalid { field, reason } => {
                    anyhow::anyhow!("--{field}: {reason}")
                }
                other => other.into(),
            })?;
            let detail =
                serde_json::json!({ "status": status.to_string(), "by": by, "note": note });
            medulla_app::audit::change(
                &mut store,
                &medulla_registry::audit::default_actor(),
                "status-change",
                &id,
                detail,
                |s| {
                    medulla_app::service::change_donor_status(
                        s,
                        &id,
                        StatusChange {
                            status: status.clone(),
                            changed_at: Local::now().naive_local(),
                            changed_by: by,
                            note,
                        },
                    )
                },
            )?;
            println!("{id}: {status}");
        }
    }
    Ok(())
}
