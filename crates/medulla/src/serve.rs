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
    /// Roles that must log in with multi-factor authentication (TOTP), comma-separated:
    /// `admin,donor-coordinator,search-coordinator`. Their accounts without MFA cannot log
    /// in until `medulla users mfa enable NAME`.
    #[arg(long, value_delimiter = ',')]
    require_mfa: Vec<String>,
    /// Minutes a login session lasts without use.
    #[arg(long, default_value_t = 30)]
    session_idle_minutes: u64,
    /// Hours a login session lasts at most, however used.
    #[arg(long, default_value_t = 8)]
    session_hours: u64,
    /// A reverse proxy whose `X-Forwarded-For` names the client (repeat for several).
    /// Without one the header is ignored: login throttling counts the socket's address.
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Mark cookies `Secure` (sent over HTTPS only): for a service reached over TLS,
    /// through a proxy too. Also `MEDULLA_COOKIE_SECURE=1`.
    #[arg(long)]
    secure_cookies: bool,
    #[command(flatten)]
    audit_anchor: crate::audit_cli::AnchorArgs,
    #[command(flatten)]
    partner_tls: crate::tls_args::PartnerTlsArgs,
}

/// The login policy of `medulla serve`'s flags.
fn auth_policy(args: &ServeArgs) -> Result<medulla_app::service::AuthPolicy> {
    let mut require_mfa = Vec::new();
    for r in args.require_mfa.iter().filter(|r| !r.trim().is_empty()) {
        let role = Role::parse(r).map_err(|e| anyhow::anyhow!("--require-mfa: {e}"))?;
        if role == Role::Partner {
            bail!("--require-mfa: partner accounts log in with an API key, not a password: MFA is for staff roles");
        }
        require_mfa.push(role);
    }
    if args.session_idle_minutes == 0 || args.session_hours == 0 {
        bail!("--session-idle-minutes and --session-hours must be at least 1");
    }
    Ok(medulla_app::service::AuthPolicy {
        session_idle: Duration::from_secs(args.session_idle_minutes.saturating_mul(60)),
        session_absolute: Duration::from_secs(args.session_hours.saturating_mul(3600)),
        require_mfa,
    })
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let policy = auth_policy(&args)?;
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
    if !policy.require_mfa.is_empty() {
        let roles: Vec<&str> = policy.require_mfa.iter().map(|r| r.name()).collect();
        eprintln!(
            "multi-factor authentication required for: {}",
            roles.join(", ")
        );
    }
    service.set_auth_policy(policy);
    let web = medulla_server::WebConfig {
        secure_cookies: args.secure_cookies,
        trusted_proxies: args.trusted_proxies.clone(),
    };
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
    // anchors of the audit chain's head, where the operator ships them from
    let anchoring = args.audit_anchor.start(&args.db, stop.clone())?;
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
                    web,
                    medulla_server::shutdown_signal(),
                )
                .await
            }
            None => {
                medulla_server::serve_with(
                    service,
                    listener,
                    web,
                    medulla_server::shutdown_signal(),
                )
                .await
            }
        }
        .context("serving")
    })?;
    stop.store(true, Ordering::Relaxed);
    let _ = follower.join();
    if let Some(t) = anchoring {
        let _ = t.join();
    }
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
        /// The partner registry's ION (4 digits; required for a partner, refused for any
        /// other role): the account speaks for that registry only. Not this registry's
        /// own ION, nor one another account is bound to; the partner need not be
        /// registered with `medulla partners add` yet.
        #[arg(long)]
        ion: Option<String>,
    },
    /// Bind a partner account made before accounts were bound when made to its
    /// registry's ION (its messages are denied with [sender-ion] until then).
    BindIon {
        /// The partner account's user name.
        name: String,
        /// The partner registry's ION (4 digits).
        ion: String,
    },
    /// List the accounts.
    List,
    /// Disable an account and end its sessions.
    Disable {
        /// The user name.
        name: String,
    },
    /// Multi-factor authentication (TOTP) of a staff account.
    Mfa {
        #[command(subcommand)]
        command: MfaCommand,
    },
}

#[derive(Subcommand)]
enum MfaCommand {
    /// Enable it: prints the `otpauth://totp/...` URI, this once, for the user's
    /// authenticator app (or the user enrols on the web page /account/mfa).
    Enable {
        /// The user name.
        name: String,
    },
    /// Disable it (a lost phone): the account logs in with its password alone, unless
    /// its role needs MFA.
    Disable {
        /// The user name.
        name: String,
    },
}

pub fn users(args: UsersArgs) -> Result<()> {
    match args.command {
        UsersCommand::Add { name, role, ion } => {
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
            let key = medulla_app::accounts::add_account(
                &args.db,
                &name,
                role,
                password.as_deref(),
                ion.as_deref(),
            )?;
            match key {
                Some(k) => {
                    let ion = ion.as_deref().unwrap_or_default().trim();
                    println!("added {name} ({role}, ION {ion}); its API key, shown this once:");
                    println!("{k}");
                }
                None => println!("added {name} ({role})"),
            }
        }
        UsersCommand::List => {
            let users = medulla_app::accounts::list_users(&args.db)?;
            let ions = medulla_app::accounts::bound_ions(&args.db)?;
            println!(
                "{:<24} {:<20} {:<9} {:<20} {:<8} ion",
                "name", "role", "state", "created", "login"
            );
            for u in users {
                let ion = ions
                    .iter()
                    .find(|(n, _)| *n == u.name)
                    .map(|(_, i)| i.as_str())
                    .unwrap_or(if u.role == "partner" { "none" } else { "-" });
                println!(
                    "{:<24} {:<20} {:<9} {:<20} {:<8} {ion}",
                    u.name,
                    u.role,
                    if u.disabled { "disabled" } else { "active" },
                    u.created_at,
                    if u.api_key_hash.is_some() {
                        "API key"
                    } else if u.totp_secret.is_some() {
                        "password+MFA"
                    } else {
                        "password"
                    }
                );
            }
        }
        UsersCommand::BindIon { name, ion } => {
            let ion = medulla_app::accounts::bind_ion(&args.db, &name, &ion)?;
            println!("bound {name} to ION {ion}");
        }
        UsersCommand::Disable { name } => {
            medulla_app::accounts::disable_user(&args.db, &name)?;
            println!("disabled {name}");
        }
        UsersCommand::Mfa {
            command: MfaCommand::Enable { name },
        } => {
            let uri = medulla_app::accounts::mfa_enable(&args.db, &name)?;
            println!("multi-factor authentication enabled for {name}; add this to the authenticator app (shown this once):");
            println!("{uri}");
        }
        UsersCommand::Mfa {
            command: MfaCommand::Disable { name },
        } => {
            medulla_app::accounts::mfa_disable(&args.db, &name)?;
            println!("multi-factor authentication disabled for {name}");
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
    Verify {
        /// An anchor file (`medulla audit anchor`): also fail when entries up to its
        /// entry are gone (a cut tail, an emptied table) or that entry's hash differs.
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
    /// Write the chain's head (sequence, hash, time) to FILE, atomically, for keeping
    /// outside the database; the chain is verified first.
    Anchor {
        /// Where to write the anchor (JSON).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write a new random 256-bit audit key to FILE (mode 600; never overwrites).
    Keygen {
        /// Where to write the key.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
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

impl AuditArgs {
    /// Whether this is `audit keygen` (which needs no key).
    pub fn is_keygen(&self) -> bool {
        matches!(self.command, AuditCommand::Keygen { .. })
    }
}

pub fn audit(args: AuditArgs) -> Result<()> {
    match args.command {
        AuditCommand::Verify { anchor } => crate::audit_cli::verify(&args.db, anchor.as_deref())?,
        AuditCommand::Anchor { out } => crate::audit_cli::anchor(&args.db, &out)?,
        AuditCommand::Keygen { out } => crate::audit_cli::keygen(&out)?,
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
