//! `medulla serve`, `medulla users ...` and `medulla audit verify`: the service and its
//! accounts. Parsing and printing only; the work is the application layer's.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use medulla_app::exchange::worker::DeliveryConfig;
use medulla_app::{Role, Service};
use medulla_matching::TceTable;
use medulla_nomenclature::Reducer;
use medulla_registry::{DonorStore, Store};

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    freqs: crate::predict::FreqArgs,
    /// Registry database: a SQLite file (created when missing), or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db")]
    db: PathBuf,
    /// Address to listen on (loopback by default; for others serve HTTPS with
    /// --tls-cert and --tls-key, or put a TLS proxy in front).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Serve HTTPS: the PEM certificate chain (the server's certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Serve HTTPS: the PEM private key of --tls-cert (PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// This registry's ION (the 4 digits at the head of its GRIDs): kept in the database,
    /// and needed to exchange with partner registries (`medulla partners`).
    #[arg(long)]
    ion: Option<String>,
    /// How long an international search waits for each partner, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    partner_timeout_ms: u64,
    /// Deadline of one delivery of messages to a partner, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    delivery_timeout_ms: u64,
    /// Messages sent to a partner in one delivery.
    #[arg(long, default_value_t = 200)]
    delivery_batch: usize,
    /// Longest pause between retries of a failed delivery, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    max_backoff_ms: u64,
    /// Minutes between reconciliations of the requests held with each partner.
    #[arg(long, default_value_t = 60)]
    reconcile_minutes: u64,
    /// How often the live index takes up donor changes made by other servers and
    /// commands on the same database, in milliseconds.
    #[arg(long, default_value_t = 250)]
    follow_ms: u64,
    /// Caps on one request, `NAME=N,...`: limit (hits returned, default 1000),
    /// predict_top (hits given probabilities, 1000), likelihood_sizes (sizes in one table,
    /// 20), recruit_steps (200). Also `MEDULLA_CAPS` for every command.
    #[arg(long, env = "MEDULLA_CAPS", default_value = "")]
    caps: String,
    #[command(flatten)]
    partner_tls: crate::tls_args::PartnerTlsArgs,
}

pub fn serve(args: ServeArgs) -> Result<()> {
    medulla_app::caps::Caps::parse(&args.caps)
        .map_err(|e| anyhow::anyhow!("--caps: {e}"))?
        .install();
    args.partner_tls.install()?;
    // a certificate that cannot be served stops the start before the database is touched
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(medulla_tls::server_config(cert, key).context("--tls-cert/--tls-key")?)
        }
        _ => None,
    };
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
    if !medulla_registry::store::location_exists(&args.db) {
        eprintln!(
            "creating a new registry database at {}",
            medulla_registry::store::display_location(&args.db)
        );
    }
    let store = Store::open(&args.db).with_context(|| {
        format!(
            "opening the registry database {}",
            medulla_registry::store::display_location(&args.db)
        )
    })?;
    let expected = store.count()?;
    if let Some(ion) = &args.ion {
        let ion = medulla_app::exchange::set_ion(&store, ion)?;
        eprintln!("registry ION {ion}");
    }
    let exchanging = medulla_app::exchange::our_ion(store.connection())?.is_some();
    drop(store);
    let bar = ProgressBar::new(expected);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} donors indexed eta {eta}")
            .expect("progress template"),
    );
    let started = Instant::now();
    let service = Service::open(&args.db, reducer, freqs, tce, |n| bar.set_position(n))
        .with_context(|| {
            format!(
                "opening the registry {}",
                medulla_registry::store::display_location(&args.db)
            )
        })?;
    bar.finish_and_clear();
    eprintln!(
        "search index: {} donors in {:.1} s",
        service.donors(),
        started.elapsed().as_secs_f64()
    );
    let mut service = service;
    service.set_partner_timeout(Duration::from_millis(args.partner_timeout_ms));
    let service = Arc::new(service);
    // the exchange with partner registries runs beside the listener, on its own
    // connections, until the server stops
    let stop = Arc::new(AtomicBool::new(false));
    let exchange = exchanging.then(|| {
        let (db, stop) = (args.db.clone(), stop.clone());
        let cfg = DeliveryConfig {
            timeout: Duration::from_millis(args.delivery_timeout_ms),
            max_backoff: Duration::from_millis(args.max_backoff_ms),
            batch: args.delivery_batch.clamp(1, 1000),
            ..DeliveryConfig::default()
        };
        let every = Duration::from_secs(args.reconcile_minutes.max(1) * 60);
        std::thread::spawn(move || {
            medulla_app::exchange::worker::run(db, cfg, Duration::from_millis(100), every, stop)
        })
    });
    // the live index follows the registry's change sequence: donors changed through
    // another server on the same database, or by a command, are found within a second
    let follower = {
        let (service, stop) = (service.clone(), stop.clone());
        let every = Duration::from_millis(args.follow_ms.max(10));
        std::thread::spawn(move || {
            let mut failing = false;
            while !stop.load(Ordering::Relaxed) {
                // changes committed by commands or other servers get their audit
                // entries chained here too
                let followed = service
                    .follow_changes()
                    .and_then(|_| service.absorb_audit());
                match followed {
                    Ok(_) => failing = false,
                    // said once, not every tick, until it works again
                    Err(e) if !failing => {
                        eprintln!("following donor changes: {e} (retrying)");
                        failing = true;
                    }
                    Err(_) => {}
                }
                std::thread::sleep(every);
            }
        })
    };
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
        match tls {
            Some(config) => {
                eprintln!("serving HTTPS");
                medulla_server::serve_tls(
                    service,
                    listener,
                    config,
                    medulla_server::shutdown_signal(),
                )
                .await
            }
            None => {
                medulla_server::serve(service, listener, medulla_server::shutdown_signal()).await
            }
        }
        .context("serving")
    })?;
    stop.store(true, Ordering::Relaxed);
    let _ = follower.join();
    if let Some(t) = exchange {
        let _ = t.join();
    }
    eprintln!("stopped: every request answered, nothing half-written");
    Ok(())
}

#[derive(Args)]
pub struct UsersArgs {
    /// Registry database whose accounts these are (kept beside it, in NAME.security.db; on PostgreSQL in the schema medulla_security).
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
    /// Registry database whose audit trail this is (kept beside it, in NAME.security.db; on PostgreSQL in the schema medulla_security).
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exit 0 when intact, non-zero naming the first bad entry.
    Verify,
    /// List entries, oldest first (changes committed but not yet chained are chained first).
    List {
        /// Only entries of this action (`status-change`, `import`, `request-open`...).
        #[arg(long)]
        action: Option<String>,
        /// Only entries of this actor (a user, `cli:NAME` for the command line, `system`).
        #[arg(long)]
        actor: Option<String>,
        /// Only entries on or after this day (YYYY-MM-DD) or moment (YYYY-MM-DDTHH:MM:SS).
        #[arg(long)]
        since: Option<String>,
        /// Only entries on or before this day (the whole day) or moment.
        #[arg(long)]
        until: Option<String>,
        /// Output: a table for a person, JSON for programs.
        #[arg(long, value_enum, default_value = "table", ignore_case = true)]
        format: crate::journey::Format,
    },
}

/// A `--since`/`--until` bound as the audit trail's timestamps compare (`until` of a
/// day reaches its end).
fn audit_bound(flag: &str, v: &str, end_of_day: bool) -> Result<String> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(if end_of_day {
            format!("{d}T23:59:59.999")
        } else {
            format!("{d}T00:00:00")
        });
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, f) {
            return Ok(t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string());
        }
    }
    bail!("{flag}: {v:?} is not a date (YYYY-MM-DD) or a moment (YYYY-MM-DDTHH:MM:SS)")
}

pub fn audit(args: AuditArgs) -> Result<()> {
    match args.command {
        AuditCommand::Verify => match medulla_app::accounts::verify_audit(&args.db)? {
            Ok(n) => println!("audit trail intact: {n} entries"),
            Err(b) => bail!("audit trail broken: {b}"),
        },
        AuditCommand::List {
            action,
            actor,
            since,
            until,
            format,
        } => {
            let filter = medulla_registry::audit::AuditFilter {
                actor,
                action,
                from: since
                    .as_deref()
                    .map(|v| audit_bound("--since", v, false))
                    .transpose()?,
                to: until
                    .as_deref()
                    .map(|v| audit_bound("--until", v, true))
                    .transpose()?,
                limit: None,
                newest_first: false,
            };
            let entries = medulla_app::audit::list(&args.db, &filter)?;
            match format {
                crate::journey::Format::Json => {
                    #[derive(serde::Serialize)]
                    struct Listing<'a> {
                        entries: &'a [medulla_app::audit::EntryView],
                    }
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&Listing { entries: &entries })?
                    )
                }
                crate::journey::Format::Table => {
                    let rows: Vec<Vec<String>> = entries
                        .iter()
                        .map(|e| {
                            vec![
                                e.seq.to_string(),
                                e.at.clone(),
                                e.actor.clone(),
                                e.action.clone(),
                                e.subject.clone(),
                                e.detail.to_string(),
                            ]
                        })
                        .collect();
                    crate::table::print(
                        &["seq", "at", "actor", "action", "subject", "detail"],
                        &rows,
                    );
                    println!("{} entries", entries.len());
                }
            }
        }
    }
    Ok(())
}
