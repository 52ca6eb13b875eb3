//! Medulla's application layer: the use cases every interface calls (the CLI, the HTTP
//! API). Interfaces parse, route, authenticate and format; the work is here.
//!
//! - [`search`]: a search's options read into a matching request the one way, run with
//!   match probabilities, and hits as a coordinator reads them;
//! - [`freqs`]: haplotype frequency sets and probabilities on hits;
//! - [`service`]: the long-running registry (live index, imports, statuses, saved
//!   searches, identity reads, audit);
//! - [`patients`]: patients and their search cases;
//! - [`workflow`]: requests, the workup journey, tasks and the donor's calendar;
//! - [`donor_ref`]: a donor reference (id or GRID) resolved once to one name;
//! - [`settings`]: the registry's settings (the reservation maximum, the ION);
//! - [`auth`], [`accounts`]: roles and permissions, passwords, tokens, API keys.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod caps;
pub mod donor_ref;
pub mod error;
pub mod exchange;
pub mod family;
pub mod freqs;
pub mod haplotypes;
pub mod likelihood;
pub mod patients;
pub mod plots;
pub mod roadmap;
pub mod saved;
pub mod search;
pub mod service;
pub mod settings;
pub mod throttle;
pub mod totp;
pub mod workflow;

pub use auth::{Actor, Permission, Role};
pub use error::AppError;
pub use search::SearchOptions;
pub use service::Service;
