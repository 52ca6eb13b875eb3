//! Donor status and its history.

use chrono::{NaiveDate, NaiveDateTime};
use std::fmt;
use std::str::FromStr;

/// Why a donor is permanently unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermanentReason {
    TooOld,
    Medical,
    Withdrew,
    Deceased,
    Unreachable,
    Other,
}

/// A donor's availability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Available,
    TemporarilyUnavailable { reason: String, until: NaiveDate },
    Reserved { patient: String, until: NaiveDate },
    PermanentlyUnavailable { reason: PermanentReason },
}

/// One change of status: who, when, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub status: Status,
    pub changed_at: NaiveDateTime,
    pub changed_by: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("a permanently unavailable donor cannot change status")]
    Permanent,
    #[error("the end date {0} is not after the change date {1}")]
    EndNotAfter(NaiveDate, NaiveDate),
    #[error("{0} needs a reason")]
    MissingReason(&'static str),
}

impl StatusError {
    /// The name of the rule refusing the change, as refusals print it (`[name] ...`).
    pub fn rule(&self) -> &'static str {
        match self {
            StatusError::Permanent => "permanently-unavailable",
            StatusError::EndNotAfter(..) => "status-end-date",
            StatusError::MissingReason(_) => "status-reason",
        }
    }
}

impl Status {
    /// The status code stored and printed (`available`, `temporarily-unavailable`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Status::Available => "available",
            Status::TemporarilyUnavailable { .. } => "temporarily-unavailable",
            Status::Reserved { .. } => "reserved",
            Status::PermanentlyUnavailable { .. } => "permanently-unavailable",
        }
    }

    /// Check a transition from `self` to `next` made on `today`.
    pub fn check_transition(&self, next: &Status, today: NaiveDate) -> Result<(), StatusError> {
        if matches!(self, Status::PermanentlyUnavailable { .. }) {
            return Err(StatusError::Permanent);
        }
        match next {
            Status::TemporarilyUnavailable { reason, until } => {
                if reason.trim().is_empty() {
                    return Err(StatusError::MissingReason("temporarily unavailable"));
                }
                if *until <= today {
                    return Err(StatusError::EndNotAfter(*until, today));
                }
            }
            Status::Reserved { patient, until } => {
                if patient.trim().is_empty() {
                    return Err(StatusError::MissingReason("reserved (the patient)"));
                }
                if *until <= today {
                    return Err(StatusError::EndNotAfter(*until, today));
                }
            }
            Status::Available | Status::PermanentlyUnavailable { .. } => {}
        }
        Ok(())
    }

    /// Whether the donor can be found by a search on `date` (temporary statuses lapse).
    pub fn searchable_on(&self, date: NaiveDate) -> bool {
        match self {
            Status::Available => true,
            Status::TemporarilyUnavailable { until, .. } | Status::Reserved { until, .. } => {
                date >= *until
            }
            Status::PermanentlyUnavailable { .. } => false,
        }
    }
}

impl fmt::Display for PermanentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PermanentReason::TooOld => "too-old",
            PermanentReason::Medical => "medical",
            PermanentReason::Withdrew => "withdrew",
            PermanentReason::Deceased => "deceased",
            PermanentReason::Unreachable => "unreachable",
            PermanentReason::Other => "other",
        })
    }
}

impl FromStr for PermanentReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "too-old" => PermanentReason::TooOld,
            "medical" => PermanentReason::Medical,
            "withdrew" => PermanentReason::Withdrew,
            "deceased" => PermanentReason::Deceased,
            "unreachable" => PermanentReason::Unreachable,
            "other" => PermanentReason::Other,
            _ => {
                return Err(format!(
                "{s:?} is not a reason (too-old, medical, withdrew, deceased, unreachable, other)"
            ))
            }
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Available => write!(f, "available"),
            Status::TemporarilyUnavailable { reason, until } => {
                write!(f, "temporarily unavailable until {until} ({reason})")
            }
            Status::Reserved { patient, until } => {
                write!(f, "reserved for patient {patient} until {until}")
            }
            Status::PermanentlyUnavailable { reason } => {
                write!(f, "permanently unavailable ({reason})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn transitions() {
        let today = d("2026-03-01");
        let temp = Status::TemporarilyUnavailable {
            reason: "pregnancy".into(),
            until: d("2026-12-01"),
        };
        assert!(Status::Available.check_transition(&temp, today).is_ok());
        let reserved = Status::Reserved {
            patient: "P-17".into(),
            until: d("2026-06-01"),
        };
        assert!(temp.check_transition(&reserved, today).is_ok());
        let gone = Status::PermanentlyUnavailable {
            reason: PermanentReason::Withdrew,
        };
        assert!(reserved.check_transition(&gone, today).is_ok());
        assert_eq!(
            gone.check_transition(&Status::Available, today),
            Err(StatusError::Permanent)
        );
        let past = Status::Reserved {
            patient: "P-1".into(),
            until: d("2026-02-01"),
        };
        assert!(matches!(
            Status::Available.check_transition(&past, today),
            Err(StatusError::EndNotAfter(..))
        ));
        let no_reason = Status::TemporarilyUnavailable {
            reason: " ".into(),
            until: d("2026-12-01"),
        };
        assert!(matches!(
            Status::Available.check_transition(&no_reason, today),
            Err(StatusError::MissingReason(_))
        ));
    }

    #[test]
    fn temporary_statuses_lapse() {
        let temp = Status::TemporarilyUnavailable {
            reason: "travel".into(),
            until: d("2026-05-01"),
        };
        assert!(!temp.searchable_on(d("2026-04-30")));
        assert!(temp.searchable_on(d("2026-05-01")));
        assert!(!Status::PermanentlyUnavailable {
            reason: PermanentReason::Deceased
        }
        .searchable_on(d("2030-01-01")));
    }
}
