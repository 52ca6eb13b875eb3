//! What the registry tests share: the shipped release, MAC table and haplotype set.
#![allow(dead_code)]

use std::sync::OnceLock;

use medulla_haplotypes::FrequencySet;
use medulla_nomenclature::{MacTable, Release};

pub struct Env {
    pub release: Release,
    pub macs: MacTable,
    pub freqs: FrequencySet,
}

pub fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| Env {
        release: Release::shipped(),
        macs: MacTable::shipped(),
        freqs: FrequencySet::nmdp_2007(),
    })
}

/// The stores every storage test runs on: SQLite in memory, and a new PostgreSQL database
/// when `MEDULLA_TEST_POSTGRES` names a server (`.ci/run` always starts one).
pub fn stores() -> Vec<medulla_registry::Store> {
    let mut out = vec![medulla_registry::Store::in_memory().unwrap()];
    if let Some(url) = postgres() {
        out.push(medulla_registry::Store::open(std::path::Path::new(&url)).unwrap());
    }
    out
}

/// A new, empty store on the backend of `store`.
pub fn like(store: &medulla_registry::Store) -> medulla_registry::Store {
    if store.backend() == "postgres" {
        let url = postgres().expect("a PostgreSQL store without MEDULLA_TEST_POSTGRES");
        medulla_registry::Store::open(std::path::Path::new(&url)).unwrap()
    } else {
        medulla_registry::Store::in_memory().unwrap()
    }
}

/// A new PostgreSQL database, when the tests have a server.
pub fn postgres() -> Option<String> {
    let admin = std::env::var("MEDULLA_TEST_POSTGRES").ok()?;
    Some(medulla_registry::db::create_postgres_database(&admin, "medulla_test").unwrap())
}
