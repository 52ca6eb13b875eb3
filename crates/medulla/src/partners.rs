//! `medulla partners add|list|status|problems|reconcile`: the registries this one
//! exchanges with. Parsing and printing only: the work is `medulla_app::exchange`'s.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Local;
use clap::{Args, Subcommand};
use medulla_app::exchange::{self, worker};
use medulla_registry::Store;

use crate::journey::{cli_error, Format};
use crate::table;

#[derive(Args)]
pub struct PartnersArgs {
    /// Registry database: a SQLite file, or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(flatten)]
    partner_tls: crate::tls_args::PartnerTlsArgs,
    #[command(subcommand)]
    command: PartnersCommand,
}

#[derive(Subcommand)]
enum PartnersCommand {
    /// Register a partner registry (or change its URL and key): its `medulla serve` base
    /// URL and the API key it issued to us (`medulla users add ... --role partner` there).
    Add {
        /// A name for the partner (letters, digits, '-', '_', '.').
        name: String,
        /// Its base URL, e.g. https://registry.example:8443 (plain http:// only on
        /// loopback, or with --allow-plain-http).
        #[arg(long)]
        url: String,
        /// The API key it issued to us.
        #[arg(long)]
        key: String,
        /// Its ION, when known (WMDA publishes them); otherwise it is asked for its ION
        /// now, or when it next answers. A partner that answers with another ION is
        /// refused.
        #[arg(long)]
        ion: Option<String>,
    },
    /// The partners: name, URL, ION (once learned).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Per partner: messages waiting, unacknowledged, denied; the last sequence numbers
    /// sent and received.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Messages denied (by a partner or here), warned, or failing to deliver, with why.
    Problems {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Compare the open requests held with each partner now; report drift.
    Reconcile {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Deadline per partner, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
}

fn open(db: &std::path::Path) -> Result<Store> {
    Store::open_existing(db).with_context(|| {
        format!(
            "opening the registry database {}",
            medulla_registry::store::display_location(db)
        )
    })
}

pub fn partners(args: PartnersArgs) -> Result<()> {
    args.partner_tls.install()?;
    let store = open(&args.db)?;
    match args.command {
        PartnersCommand::Add {
            name,
            url,
            key,
            ion,
        } => {
            exchange::add_partner(
                &store,
                &name,
                &url,
                &key,
                ion.as_deref(),
                Local::now().naive_local(),
            )
            .map_err(cli_error)?;
            // learn its ION now if it answers; the server learns it later otherwise
            let problems = worker::learn_ions(&store, Duration::from_secs(2)).map_err(cli_error)?;
            let ion = exchange::partners(&store)?
                .into_iter()
                .find(|p| p.name == name)
                .and_then(|p| p.ion);
            match ion {
                Some(ion) => eprintln!("partner {name} added: ION {ion}"),
                None => eprintln!(
                    "partner {name} added; its ION is learned when it answers{}",
                    problems
                        .iter()
                        .find(|p| p.contains(&name))
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default()
                ),
            }
        }
        PartnersCommand::List { format } => {
            let list = exchange::partners(&store).map_err(cli_error)?;
            if format == Format::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "partners": list }))?
                );
                return Ok(());
            }
            table::print(
                &["partner", "url", "ion", "added"],
                &list
                    .iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            if p.url.is_empty() {
                                "(not registered: it sent us messages; ours wait)".into()
                            } else {
                                p.url.clone()
                            },
                            p.ion.clone().unwrap_or_else(|| "(not yet known)".into()),
                            p.added_at.clone(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }
        PartnersCommand::Status { format } => {
            let list = exchange::status(&store).map_err(cli_error)?;
            if format == Format::Json {
                let partners: Vec<_> = list.iter().map(|(s, ..)| s).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "partners": partners }))?
                );
                return Ok(());
            }
            table::print(
                &[
                    "partner",
                    "ion",
                    "outbox pending",
                    "unacknowledged",
                    "denied",
                    "last sent seq",
                    "last received seq",
                    "duplicates received",
                ],
                &list
                    .iter()
                    .map(|(s, p, dup)| {
                        vec![
                            s.name.clone(),
                            p.ion.clone().unwrap_or_else(|| "?".into()),
                            s.outbox_pending.to_string(),
                            s.unacknowledged.to_string(),
                            s.denied.to_string(),
                            s.last_sent_seq.to_string(),
                            s.last_received_seq.to_string(),
                            dup.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }
        PartnersCommand::Problems { format } => {
            let list = exchange::problems(&store).map_err(cli_error)?;
            if format == Format::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "problems": list }))?
                );
                return Ok(());
            }
            table::print(
                &[
                    "partner",
                    "direction",
                    "seq",
                    "kind",
                    "reference",
                    "state",
                    "reason",
                ],
                &list
                    .iter()
                    .map(|p| {
                        vec![
                            p.partner.clone(),
                            p.direction.to_string(),
                            p.seq.to_string(),
                            p.kind.clone(),
                            p.reference.clone(),
                            p.state.clone(),
                            p.reason.clone(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }
        PartnersCommand::Reconcile { format, timeout_ms } => {
            let mut reports = Vec::new();
            for p in medulla_registry::exchange::partners(store.connection())? {
                reports.push(
                    worker::reconcile(&store, &p, Duration::from_millis(timeout_ms))
                        .map_err(cli_error)?,
                );
            }
            if format == Format::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "partners": reports }))?
                );
                return Ok(());
            }
            let mut rows = Vec::new();
            for r in &reports {
                if let Some(e) = &r.error {
                    rows.push(vec![r.partner.clone(), "-".into(), "-".into(), e.clone()]);
                    continue;
                }
                rows.push(vec![
                    r.partner.clone(),
                    r.agreeing.to_string(),
                    r.in_flight.to_string(),
                    if r.drift.is_empty() {
                        "none".into()
                    } else {
                        r.drift
                            .iter()
                            .map(|d| {
                                format!(
                                    "{}: here {}, there {}",
                                    d.reference,
                                    d.here.as_deref().unwrap_or("absent"),
                                    d.there.as_deref().unwrap_or("absent")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    },
                ]);
            }
            table::print(&["partner", "agreeing", "in flight", "drift"], &rows);
        }
    }
    Ok(())
}
