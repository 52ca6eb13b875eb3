//! `medulla db migrate|status`: the schema of the registry database, SQLite or PostgreSQL.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medulla_registry::store::{display_location, SCHEMA_VERSION};
use medulla_registry::Store;

#[derive(Args)]
pub struct DbArgs {
    /// Registry database: a SQLite file, or `postgres://USER@HOST:PORT/DB`
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Bring the registry and security schemas up to the latest version (creating them).
    Migrate,
    /// The backend, the schema versions applied and the donors held (opening the database
    /// brings it up to date first, as every command does).
    Status {
        /// `table` or `json`
        #[arg(long, default_value = "table")]
        format: String,
    },
}

pub fn run(args: DbArgs) -> Result<()> {
    let shown = display_location(&args.db);
    let store = match args.command {
        DbCommand::Migrate => Store::open(&args.db),
        DbCommand::Status { .. } => Store::open_existing(&args.db),
    }
    .with_context(|| format!("opening the registry database {shown}"))?;
    let security = Store::open_security(&args.db)
        .with_context(|| format!("opening the security schema of {shown}"))?;
    let registry = store.migrations()?;
    let secured = security.migrations()?;
    let donors = medulla_registry::DonorStore::count(&store)?;
    match args.command {
        DbCommand::Migrate => println!(
            "{shown} ({}): registry schema at version {} of {SCHEMA_VERSION}, security schema at version {}",
            store.backend(),
            registry.last().map_or(0, |m| m.0),
            secured.last().map_or(0, |m| m.0)
        ),
        DbCommand::Status { format } if format == "json" => {
            let list = |m: &[(i64, String)]| {
                m.iter()
                    .map(|(v, at)| serde_json::json!({"version": v, "applied_at": at}))
                    .collect::<Vec<_>>()
            };
            println!(
                "{}",
                serde_json::json!({
                    "database": shown,
                    "backend": store.backend(),
                    "schema_version": registry.last().map_or(0, |m| m.0),
                    "latest_version": SCHEMA_VERSION,
                    "migrations": list(&registry),
                    "security_migrations": list(&secured),
                    "donors": donors,
                })
            );
        }
        DbCommand::Status { .. } => {
            println!("database  {shown}");
            println!("backend   {}", store.backend());
            println!("donors    {donors}");
            println!();
            let rows: Vec<Vec<String>> = registry
                .iter()
                .map(|(v, at)| vec!["registry".to_string(), v.to_string(), at.clone()])
                .chain(
                    secured
                        .iter()
                        .map(|(v, at)| vec!["security".to_string(), v.to_string(), at.clone()]),
                )
                .collect();
            crate::table::print(&["schema", "version", "applied at"], &rows);
        }
    }
    Ok(())
}
