//! `medulla serve`, `medulla users ...` and `medulla audit verify`: the service and its
//! accounts. Parsing and printing only; the work is the application layer's.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use medulla_app::{Role, Service};
use medulla_matching::TceTable;
use medulla_nomenclature::Reducer;
use medulla_registry::{DonorStore, SqliteStore};

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    freqs: crate::predict::FreqArgs,
    /// Registry database (SQLite file; created when missing).
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db")]
    db: PathBuf,
    /// Address to listen on (loopback by default; put a TLS proxy in front for others).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    // the service lives as long as the process: its nomenclature and frequencies too
    let release = Box::leak(Box::new(release));
    let macs = Box::leak(Box::new(macs));
    let reducer: &'static Reducer<'static> = Box::leak(Box::new(Reducer::new(release, macs)));
    let freqs = Box::leak(Box::new(args.freqs.load(reducer)?));
    let tce = args.source.imgt.as_ref().and_then(|dir| {
        std::fs::read_to_string(dir.join("tce/dpb_tce.csv"))
            .ok()
            .map(|t| TceTable::parse(&t))
    });
    if !args.db.exists() {
        eprintln!("creating a new registry database at {}", args.db.display());
    }
    let expected = SqliteStore::open(&args.db)
        .and_then(|s| s.count())
        .with_context(|| format!("opening the registry database {}", args.db.display()))?;
    let bar = ProgressBar::new(expected);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} donors indexed eta {eta}")
            .expect("progress template"),
    );
    let started = Instant::now();
    let service = Service::open(&args.db, reducer, freqs, tce, |n| bar.set_position(n))
        .with_context(|| format!("opening the registry {}", args.db.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "search index: {} donors in {:.1} s",
        service.donors(),
        started.elapsed().as_secs_f64()
    );
    let service = Arc::new(service);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        medulla_server::serve(service, listener, medulla_server::shutdown_signal())
            .await
            .context("serving")
    })?;
    eprintln!("stopped: every request answered, nothing half-written");
    Ok(())
}

#[derive(Args)]
pub struct UsersArgs {
    /// Registry database whose accounts these are (kept beside it, in NAME.security.db).
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add an account. The password is read from standard input (one line); a partner
    /// gets an API key instead, printed alone on the last line.
    Add {
        /// The user name.
        name: String,
        /// admin, search-coordinator, donor-coordinator, auditor or partner.
        #[arg(long)]
        role: String,
    },
    /// List the accounts.
    List,
    /// Disable an account and end its sessions.
    Disable {
        /// The user name.
        name: String,
    },
}

pub fn users(args: UsersArgs) -> Result<()> {
    match args.command {
        UsersCommand::Add { name, role } => {
            let role = Role::parse(&role)?;
            let password = if role == Role::Partner {
                None
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            };
            let key = medulla_app::accounts::add_user(&args.db, &name, role, password.as_deref())?;
            match key {
                Some(k) => {
                    println!("added {name} ({role}); its API key, shown this once:");
                    println!("{k}");
                }
                None => println!("added {name} ({role})"),
            }
        }
        UsersCommand::List => {
            let users = medulla_app::accounts::list_users(&args.db)?;
            println!(
                "{:<24} {:<20} {:<9} {:<20} login",
                "name", "role", "state", "created"
            );
            for u in users {
                println!(
                    "{:<24} {:<20} {:<9} {:<20} {}",
                    u.name,
                    u.role,
                    if u.disabled { "disabled" } else { "active" },
                    u.created_at,
                    if u.api_key_hash.is_some() {
                        "API key"
                    } else {
                        "password"
                    }
                );
            }
        }
        UsersCommand::Disable { name } => {
            medulla_app::accounts::disable_user(&args.db, &name)?;
            println!("disabled {name}");
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct AuditArgs {
    /// Registry database whose audit trail this is (kept beside it, in NAME.security.db).
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exit 0 when intact, non-zero naming the first bad entry.
    Verify,
}

pub fn audit(args: AuditArgs) -> Result<()> {
    match args.command {
        AuditCommand::Verify => match medulla_app::accounts::verify_audit(&args.db)? {
            Ok(n) => println!("audit trail intact: {n} entries"),
            Err(b) => bail!("audit trail broken: {b}"),
        },
    }
    Ok(())
}
