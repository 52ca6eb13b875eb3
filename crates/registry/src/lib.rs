//! The donor registry: the donor model and synthetic donor pools.
//!
//! Donors (`donor`), their GRID (`grid`), statuses and history (`status`), validation of
//! records (`validate`), storage behind the `DonorStore` interface with SQLite as the
//! embedded backend (`store`), CSV import and export (`io`), and `synth`, the generator of
//! realistic donor pools for scale tests.

pub mod accounts;
pub mod audit;
pub mod csv_format;
pub mod csv_reader;
pub mod db;
pub mod donor;
pub mod exchange;
pub mod family;
pub mod grid;
pub mod identity;
pub mod io;
pub mod json;
pub mod model;
pub mod patient;
mod pg_import;
pub mod pg_tls;
pub mod products;
pub mod requests;
pub mod saved_search;
pub mod search_index;
pub mod status;
pub mod store;
pub mod synth;
pub mod validate;

pub use donor::{CordUnit, Donor, Typing, DONOR_LOCI};
pub use grid::Grid;
pub use identity::Identity;
pub use io::{
    export_csv, import_csv, import_csv_observed, write_rejections, Change, ImportOptions,
    ImportReport,
};
pub use json::{export_json, import_json, import_json_observed, UpdateMode};
pub use model::{Abo, Cmv, DonorType, Rh, Sex};
pub use status::{PermanentReason, Status, StatusChange};
pub use store::{DonorStore, Store, StoreError};
pub use synth::{PopulationMix, SynthConfig, SynthError, Synthesizer};
