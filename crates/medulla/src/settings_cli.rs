//! `medulla settings show|set`: the registry's settings, kept in its database. Parsing
//! and printing only: the work is `medulla_app::settings`'.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medulla_app::settings;
use medulla_registry::Store;

use crate::journey::{cli_error, Format};
use crate::table;

#[derive(Args)]
pub struct SettingsArgs {
    /// Registry database: a SQLite file, or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MEDULLA_DB", default_value = "medulla.db", global = true)]
    db: PathBuf,
    #[command(subcommand)]
    command: SettingsCommand,
}

#[derive(Subcommand)]
enum SettingsCommand {
    /// Every setting with its value (and whether it is the default).
    Show {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Change a setting: `max-reservation-days N` (1 to 3650; default 180), the furthest
    /// a reservation, or a workup's hold on its donor, reaches from the day it is made;
    /// `partner-reservation-quota N` (0 to 100000; default 50), how many open
    /// reservations one partner registry may hold here at once.
    Set {
        /// The setting's name.
        key: String,
        /// Its new value.
        value: String,
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

fn print(list: &[settings::SettingView]) {
    table::print(
        &["setting", "value", "", "what"],
        &list
            .iter()
            .map(|s| {
                vec![
                    s.key.clone(),
                    s.value.clone().unwrap_or_else(|| "-".into()),
                    if s.default {
                        "(default)".into()
                    } else {
                        String::new()
                    },
                    s.description.clone(),
                ]
            })
            .collect::<Vec<_>>(),
    );
}

pub fn run(args: SettingsArgs) -> Result<()> {
    let mut store = open(&args.db)?;
    match args.command {
        SettingsCommand::Show { format } => {
            let list = settings::show(&store).map_err(cli_error)?;
            if format == Format::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "settings": list }))?
                );
            } else {
                print(&list);
            }
        }
        SettingsCommand::Set { key, value } => {
            let s = settings::set(&mut store, &key, &value).map_err(cli_error)?;
            print(std::slice::from_ref(&s));
        }
    }
    Ok(())
}
