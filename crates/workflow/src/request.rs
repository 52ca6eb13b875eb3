//! Requests between a patient and a donor: their types, their lifecycle and the rules
//! checked before one is opened.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::WorkflowError;

/// What a request asks the donor's registry for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestType {
    /// Verification (confirmatory) typing, with the loci wanted.
    Ct,
    /// Infectious disease markers.
    Idm,
    /// A blood sample sent to the transplant centre.
    Sample,
    /// The donor held for this patient until an expiry date.
    Reservation,
    /// The whole journey to the collection and the follow-ups.
    Workup,
}

impl RequestType {
    pub const ALL: [RequestType; 5] = [
        RequestType::Ct,
        RequestType::Idm,
        RequestType::Sample,
        RequestType::Reservation,
        RequestType::Workup,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RequestType::Ct => "ct",
            RequestType::Idm => "idm",
            RequestType::Sample => "sample",
            RequestType::Reservation => "reservation",
            RequestType::Workup => "workup",
        }
    }

    /// Days the donor's registry has to send a result (the result task's deadline).
    pub fn turnaround_days(self) -> Option<i64> {
        match self {
            RequestType::Ct => Some(14),
            RequestType::Idm => Some(14),
            RequestType::Sample => Some(10),
            RequestType::Reservation | RequestType::Workup => None,
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for RequestType {
    type Err = WorkflowError;
    fn from_str(s: &str) -> Result<Self, WorkflowError> {
        RequestType::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| WorkflowError::Invalid {
                field: "type",
                reason: format!("{s:?} is not one of ct, idm, sample, reservation, workup"),
            })
    }
}

/// Why a request ends without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    DonorUnavailable,
    Medical,
    Withdrew,
    Unreachable,
    PatientDied,
    PatientTransplanted,
    Other,
}

impl RejectReason {
    pub const ALL: [RejectReason; 7] = [
        RejectReason::DonorUnavailable,
        RejectReason::Medical,
        RejectReason::Withdrew,
        RejectReason::Unreachable,
        RejectReason::PatientDied,
        RejectReason::PatientTransplanted,
        RejectReason::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RejectReason::DonorUnavailable => "donor-unavailable",
            RejectReason::Medical => "medical",
            RejectReason::Withdrew => "withdrew",
            RejectReason::Unreachable => "unreachable",
            RejectReason::PatientDied => "patient-died",
            RejectReason::PatientTransplanted => "patient-transplanted",
            RejectReason::Other => "other",
        }
    }
}

impl FromStr for RejectReason {
    type Err = WorkflowError;
    fn from_str(s: &str) -> Result<Self, WorkflowError> {
        RejectReason::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| WorkflowError::Invalid {
                field: "reason",
                reason: format!(
                    "{s:?} is not one of donor-unavailable, medical, withdrew, unreachable, \
                     patient-died, patient-transplanted, other"
                ),
            })
    }
}

/// Where a request is in its lifecycle. The final states carry why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RequestState {
    Open,
    Acknowledged,
    PartiallyResulted,
    Resulted,
    Rejected { reason: RejectReason },
    Cancelled { reason: String },
    Expired,
}

impl RequestState {
    pub fn code(&self) -> &'static str {
        match self {
            RequestState::Open => "open",
            RequestState::Acknowledged => "acknowledged",
            RequestState::PartiallyResulted => "partially-resulted",
            RequestState::Resulted => "resulted",
            RequestState::Rejected { .. } => "rejected",
            RequestState::Cancelled { .. } => "cancelled",
            RequestState::Expired => "expired",
        }
    }

    /// Open in the sense of the one-open-request rule: not yet answered in full nor ended.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            RequestState::Open | RequestState::Acknowledged | RequestState::PartiallyResulted
        )
    }

    /// Ended without a result: rejected, cancelled or expired.
    pub fn is_void(&self) -> bool {
        matches!(
            self,
            RequestState::Rejected { .. } | RequestState::Cancelled { .. } | RequestState::Expired
        )
    }

    /// The state with its reason, as printed (`rejected (medical)`).
    pub fn describe(&self) -> String {
        match self {
            RequestState::Rejected { reason } => format!("rejected ({})", reason.code()),
            RequestState::Cancelled { reason } => format!("cancelled ({reason})"),
            s => s.code().to_string(),
        }
    }
}

/// The loci a verification typing may ask for.
pub const TYPING_LOCI: [&str; 11] = [
    "A", "B", "C", "DRB1", "DQB1", "DPB1", "DRB3", "DRB4", "DRB5", "DQA1", "DPA1",
];

/// Loci asked for when a `ct` request names none.
pub const DEFAULT_CT_LOCI: [&str; 5] = ["A", "B", "C", "DRB1", "DQB1"];

/// Read a locus list (`A,B,DRB1`, with or without `HLA-`), in canonical order.
pub fn parse_loci(text: &str) -> Result<Vec<String>, WorkflowError> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split([',', ' ']).filter(|s| !s.trim().is_empty()) {
        let l = raw.trim().trim_start_matches("HLA-").to_ascii_uppercase();
        if !TYPING_LOCI.contains(&l.as_str()) {
            return Err(WorkflowError::Invalid {
                field: "loci",
                reason: format!("{raw:?} is not a locus ({})", TYPING_LOCI.join(", ")),
            });
        }
        if !out.contains(&l) {
            out.push(l);
        }
    }
    if out.is_empty() {
        return Err(WorkflowError::Invalid {
            field: "loci",
            reason: "no locus given".into(),
        });
    }
    out.sort_by_key(|l| TYPING_LOCI.iter().position(|x| x == l));
    Ok(out)
}

/// What a request is about, as opened. A `ct` request always has loci and a reservation
/// always has an expiry: [`Subject::new`] refuses the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Subject {
    Ct { loci: Vec<String> },
    Idm,
    Sample,
    Reservation { expires: NaiveDate },
    Workup,
}

impl Subject {
    /// The subject of a new request of `kind`, checking what that kind needs.
    pub fn new(
        kind: RequestType,
        loci: Option<Vec<String>>,
        expires: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Subject, WorkflowError> {
        if kind != RequestType::Ct && loci.is_some() {
            return Err(WorkflowError::Invalid {
                field: "loci",
                reason: format!("only a ct request names loci, not {kind}"),
            });
        }
        if kind != RequestType::Reservation && expires.is_some() {
            return Err(WorkflowError::Invalid {
                field: "expires",
                reason: format!("only a reservation expires, not {kind}"),
            });
        }
        Ok(match kind {
            RequestType::Ct => Subject::Ct {
                loci: loci.unwrap_or_else(|| DEFAULT_CT_LOCI.map(String::from).to_vec()),
            },
            RequestType::Idm => Subject::Idm,
            RequestType::Sample => Subject::Sample,
            RequestType::Reservation => {
                let expires = expires.ok_or(WorkflowError::Invalid {
                    field: "expires",
                    reason: "a reservation needs an expiry date".into(),
                })?;
                if expires <= today {
                    return Err(WorkflowError::Invalid {
                        field: "expires",
                        reason: format!("{expires} is not after today ({today})"),
                    });
                }
                Subject::Reservation { expires }
            }
            RequestType::Workup => Subject::Workup,
        })
    }

    pub fn kind(&self) -> RequestType {
        match self {
            Subject::Ct { .. } => RequestType::Ct,
            Subject::Idm => RequestType::Idm,
            Subject::Sample => RequestType::Sample,
            Subject::Reservation { .. } => RequestType::Reservation,
            Subject::Workup => RequestType::Workup,
        }
    }

    pub fn loci(&self) -> Option<&[String]> {
        match self {
            Subject::Ct { loci } => Some(loci),
            _ => None,
        }
    }

    pub fn expires(&self) -> Option<NaiveDate> {
        match self {
            Subject::Reservation { expires } => Some(*expires),
            _ => None,
        }
    }
}

/// A request as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub patient: String,
    pub donor: String,
    pub subject: Subject,
    pub state: RequestState,
    pub opened: NaiveDate,
    pub opened_by: String,
    pub note: String,
}

impl Request {
    pub fn kind(&self) -> RequestType {
        self.subject.kind()
    }

    /// Whether a reservation has passed its expiry on `today` while still open.
    pub fn lapsed(&self, today: NaiveDate) -> bool {
        self.state.is_open() && self.subject.expires().is_some_and(|e| e < today)
    }

    /// The state after a result: partial or complete. A result to a request that already
    /// has one is an update and keeps it resulted.
    pub fn after_result(&self, partial: bool) -> Result<RequestState, WorkflowError> {
        match &self.state {
            s if s.is_void() => Err(WorkflowError::Rule {
                rule: "request-lifecycle",
                message: format!(
                    "request {} is {}: it takes no result",
                    self.id,
                    s.describe()
                ),
            }),
            RequestState::Resulted => Ok(RequestState::Resulted),
            _ if partial => Ok(RequestState::PartiallyResulted),
            _ => Ok(RequestState::Resulted),
        }
    }

    /// The state after the donor's registry acknowledges the request.
    pub fn after_acknowledge(&self) -> Result<RequestState, WorkflowError> {
        match &self.state {
            RequestState::Open => Ok(RequestState::Acknowledged),
            s => Err(WorkflowError::Rule {
                rule: "request-lifecycle",
                message: format!(
                    "request {} is {}: only an open request is acknowledged",
                    self.id,
                    s.describe()
                ),
            }),
        }
    }

    /// The state after the donor's registry reports that the request is now `next` (a
    /// partner's whole state, as the exchange carries it): only a step this lifecycle
    /// takes. Acknowledging is [`Self::after_acknowledge`] (an acknowledged request
    /// reported acknowledged again, after a workup step, stays so); results are
    /// [`Self::after_result`], which must give `next` (a resulted request is not
    /// partially resulted again); ending is [`Self::after_end`]; a request is never open
    /// again.
    pub fn after_reported(&self, next: &RequestState) -> Result<RequestState, WorkflowError> {
        let refused = || WorkflowError::Rule {
            rule: "request-lifecycle",
            message: format!(
                "request {} is {}: it cannot become {}",
                self.id,
                self.state.describe(),
                next.describe()
            ),
        };
        match next {
            RequestState::Open if self.state == RequestState::Open => Ok(RequestState::Open),
            RequestState::Open => Err(refused()),
            RequestState::Acknowledged if self.state == RequestState::Acknowledged => {
                Ok(RequestState::Acknowledged)
            }
            RequestState::Acknowledged => self.after_acknowledge(),
            RequestState::PartiallyResulted | RequestState::Resulted => {
                let after = self.after_result(matches!(next, RequestState::PartiallyResulted))?;
                if &after == next {
                    Ok(after)
                } else {
                    Err(refused())
                }
            }
            end => self.after_end(end.clone()),
        }
    }

    /// The state after ending the request without a result (`rejected`, `cancelled`).
    pub fn after_end(&self, end: RequestState) -> Result<RequestState, WorkflowError> {
        if !self.state.is_open() {
            return Err(WorkflowError::Rule {
                rule: "request-lifecycle",
                message: format!(
                    "request {} is {}: it can no longer be {}",
                    self.id,
                    self.state.describe(),
                    end.code()
                ),
            });
        }
        Ok(end)
    }
}

/// Check the rules before opening a request of `subject` for a patient-donor pair that
/// already has `existing` requests: at most one open request of a type, and typing
/// requests on disjoint loci.
pub fn check_open(existing: &[Request], subject: &Subject) -> Result<(), WorkflowError> {
    let kind = subject.kind();
    if let Some(open) = existing
        .iter()
        .find(|r| r.kind() == kind && r.state.is_open())
    {
        return Err(WorkflowError::Rule {
            rule: "one-open-request",
            message: format!(
                "request {} ({kind}) is already open for patient {} and donor {}",
                open.id, open.patient, open.donor
            ),
        });
    }
    if let Some(loci) = subject.loci() {
        for r in existing.iter().filter(|r| !r.state.is_void()) {
            if let Some(theirs) = r.subject.loci() {
                let shared: Vec<&str> = loci
                    .iter()
                    .filter(|l| theirs.contains(l))
                    .map(String::as_str)
                    .collect();
                if !shared.is_empty() {
                    return Err(WorkflowError::Rule {
                        rule: "disjoint-typing-loci",
                        message: format!(
                            "request {} already asks for typing at {} for this pair",
                            r.id,
                            shared.join(", ")
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn req(id: &str, subject: Subject, state: RequestState) -> Request {
        Request {
            id: id.into(),
            patient: "P1".into(),
            donor: "D1".into(),
            subject,
            state,
            opened: day("2026-01-01"),
            opened_by: "t".into(),
            note: String::new(),
        }
    }

    #[test]
    fn one_open_request_per_type_names_the_open_one() {
        let open = req("R000001", Subject::Idm, RequestState::Acknowledged);
        let e = check_open(&[open], &Subject::Idm).unwrap_err();
        assert!(e.to_string().contains("one-open-request"), "{e}");
        assert!(e.to_string().contains("R000001"), "{e}");
        let done = req("R000001", Subject::Idm, RequestState::Resulted);
        check_open(&[done], &Subject::Idm).unwrap();
        let other = req("R000001", Subject::Sample, RequestState::Open);
        check_open(&[other], &Subject::Idm).unwrap();
    }

    #[test]
    fn typing_requests_cover_disjoint_loci() {
        let first = req(
            "R000001",
            Subject::Ct {
                loci: parse_loci("A,B,C").unwrap(),
            },
            RequestState::Resulted,
        );
        let again = Subject::Ct {
            loci: parse_loci("C,DRB1").unwrap(),
        };
        let e = check_open(std::slice::from_ref(&first), &again).unwrap_err();
        assert!(e.to_string().contains("disjoint-typing-loci"), "{e}");
        assert!(e.to_string().contains(" C "), "{e}");
        let fresh = Subject::Ct {
            loci: parse_loci("HLA-DRB1, dqb1").unwrap(),
        };
        check_open(&[first], &fresh).unwrap();
        // a cancelled request's loci are free again
        let cancelled = req(
            "R000002",
            Subject::Ct {
                loci: vec!["A".into()],
            },
            RequestState::Cancelled {
                reason: "sample lost".into(),
            },
        );
        check_open(
            &[cancelled],
            &Subject::Ct {
                loci: vec!["A".into()],
            },
        )
        .unwrap();
    }

    #[test]
    fn subjects_need_what_their_type_needs() {
        let today = day("2026-06-01");
        assert!(Subject::new(RequestType::Reservation, None, None, today).is_err());
        assert!(Subject::new(
            RequestType::Reservation,
            None,
            Some(day("2026-05-01")),
            today
        )
        .is_err());
        assert!(Subject::new(RequestType::Idm, Some(vec!["A".into()]), None, today).is_err());
        let ct = Subject::new(RequestType::Ct, None, None, today).unwrap();
        assert_eq!(ct.loci().unwrap().len(), 5);
        assert!(parse_loci("A,XYZ").is_err());
        assert_eq!(parse_loci("DRB1,A").unwrap(), vec!["A", "DRB1"]);
    }

    #[test]
    fn lifecycle_transitions() {
        let r = req("R1", Subject::Sample, RequestState::Open);
        assert_eq!(r.after_acknowledge().unwrap(), RequestState::Acknowledged);
        assert_eq!(
            r.after_result(true).unwrap(),
            RequestState::PartiallyResulted
        );
        let done = req("R1", Subject::Sample, RequestState::Resulted);
        assert_eq!(done.after_result(true).unwrap(), RequestState::Resulted);
        assert!(done.after_end(RequestState::Expired).is_err());
        let cancelled = req(
            "R1",
            Subject::Sample,
            RequestState::Cancelled { reason: "x".into() },
        );
        assert!(cancelled.after_result(false).is_err());
        assert!(cancelled.after_acknowledge().is_err());
    }

    #[test]
    fn reported_states_follow_the_lifecycle() {
        let lifecycle = |e: WorkflowError| match e {
            WorkflowError::Rule { rule, .. } => rule,
            other => panic!("{other:?}"),
        };
        let open = req("R1", Subject::Workup, RequestState::Open);
        let ack = req("R1", Subject::Workup, RequestState::Acknowledged);
        let partial = req("R1", Subject::Workup, RequestState::PartiallyResulted);
        let done = req("R1", Subject::Workup, RequestState::Resulted);
        let rejected = req(
            "R1",
            Subject::Workup,
            RequestState::Rejected {
                reason: RejectReason::Medical,
            },
        );
        let reject = RequestState::Rejected {
            reason: RejectReason::Other,
        };
        // the steps a workup reports
        assert!(open.after_reported(&RequestState::Acknowledged).is_ok());
        assert!(ack.after_reported(&RequestState::Acknowledged).is_ok());
        assert!(ack.after_reported(&RequestState::PartiallyResulted).is_ok());
        assert!(partial
            .after_reported(&RequestState::PartiallyResulted)
            .is_ok());
        assert!(partial.after_reported(&RequestState::Resulted).is_ok());
        assert!(done.after_reported(&RequestState::Resulted).is_ok());
        assert!(ack.after_reported(&reject).is_ok());
        // and those it never takes
        for (r, next) in [
            (&rejected, RequestState::Resulted),
            (&rejected, RequestState::Acknowledged),
            (&rejected, reject.clone()),
            (&done, RequestState::PartiallyResulted),
            (&done, RequestState::Acknowledged),
            (&done, reject.clone()),
            (&partial, RequestState::Acknowledged),
            (&ack, RequestState::Open),
        ] {
            let e = r.after_reported(&next).unwrap_err();
            assert_eq!(
                lifecycle(e),
                "request-lifecycle",
                "{:?} -> {next:?}",
                r.state
            );
        }
    }
}
