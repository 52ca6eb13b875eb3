//! The donor's journey after a match.
//!
//! - `request`: requests between a patient and a donor (`ct`, `idm`, `sample`,
//!   `reservation`, `workup`), their lifecycle and the rules checked before one opens;
//! - `step`: the workup steps in order and what each needs before it;
//! - `journey`: the workup as a state machine over planned and recorded dates, refusing
//!   every change that breaks a rule, reopening steps a moved date invalidates;
//! - `tasks`: what is due, for whom, by when;
//! - `calendar`: the donor's appointments as an iCalendar file;
//! - `ids`: the rule for identifiers people type (`ids::check_identifier`).
//!
//! Pure domain: no storage, no clock (every operation takes `today`).

pub mod calendar;
pub mod ids;
pub mod journey;
pub mod request;
pub mod step;
pub mod tasks;

pub use journey::{Entry, Journey, Outcome, PlanChange, PlanEffects, Reopened, Verification};
pub use request::{check_open, RejectReason, Request, RequestState, RequestType, Subject};
pub use step::Step;
pub use tasks::Task;

/// Why a workflow change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// A rule of the journey or of requests, by name, and what breaks it.
    #[error("[{rule}] {message}")]
    Rule { rule: &'static str, message: String },
    /// An input that cannot be used.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}
