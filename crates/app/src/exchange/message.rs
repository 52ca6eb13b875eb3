//! The messages registries exchange, as they travel: an envelope (a UUID, the sender's
//! ION, the sender's sequence number for this receiver, the reference of the request it
//! belongs to) around a typed body that carries the full state of what it describes.
//! Donors are named by GRID; patients by the id their registry gives them, with search
//! facts only: no identity is ever part of a message.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

/// A message between two registries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    /// A UUID (version 4), the message's identity: a message seen before is
    /// acknowledged again and not applied twice.
    pub id: String,
    /// The sender's ION (4 digits).
    pub sender: String,
    /// The sender's sequence number for this receiver (1, 2, ...): applied in order.
    pub seq: i64,
    /// The request the message belongs to (`ION-REQUESTID` of the registry that opened
    /// it); a patient's registration uses `ION-PATIENTID`, a donor update the GRID.
    pub reference: String,
    pub sent_at: String,
    #[serde(flatten)]
    pub body: Body,
}

/// What a message says: `kind` names it, `body` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "body", rename_all = "kebab-case")]
pub enum Body {
    /// A patient registered with the sender (or their search facts or status changed).
    Patient(PatientFacts),
    /// A request for one of the receiver's donors (`ct`, `idm`, `sample`,
    /// `reservation`, `workup`).
    Request(RequestFacts),
    /// The donor's registry moved the request (acknowledged, a workup step...): its whole
    /// state.
    RequestState(StateFacts),
    /// A result to the request (a `ct` typing...), with the state it leaves.
    Result(ResultFacts),
    /// No result: the reason code of the donor's registry.
    NoResult(NoResultFacts),
    /// The requester withdraws the request named by the reference.
    Cancellation(CancellationFacts),
    /// The requester asks for an overdue result.
    ResultReminder(TextFacts),
    /// A donor the receiver holds requests for changed status or typing.
    DonorUpdate(DonorFacts),
    /// Free text between coordinators, about the referenced request.
    Text(TextFacts),
}

impl Body {
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Patient(_) => "patient",
            Body::Request(_) => "request",
            Body::RequestState(_) => "request-state",
            Body::Result(_) => "result",
            Body::NoResult(_) => "no-result",
            Body::Cancellation(_) => "cancellation",
            Body::ResultReminder(_) => "result-reminder",
            Body::DonorUpdate(_) => "donor-update",
            Body::Text(_) => "text",
        }
    }
}

/// A patient's search facts (never name or contact details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatientFacts {
    pub patient: String,
    pub hla: String,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub abo: Option<String>,
    pub cmv: Option<String>,
    pub weight_kg: Option<f64>,
    pub diagnosis: Option<String>,
    pub urgency: Option<String>,
    pub population: Option<String>,
    /// The case's status at the sender (preliminary, active, transplanted, closed...).
    pub status: String,
}

/// A request as the requester opened it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestFacts {
    pub patient: String,
    /// The donor's GRID.
    pub donor: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub loci: Option<Vec<String>>,
    pub expires: Option<String>,
    pub opened: String,
    pub note: String,
}

/// A request's whole state at the donor's registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateFacts {
    pub donor: String,
    /// The state (`medulla_workflow::RequestState` as JSON).
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
    /// What happened (`acknowledged`, `workup-record`...), with its detail.
    pub event: String,
    pub detail: String,
    /// A workup's journey as it now is.
    #[schema(value_type = Option<Object>)]
    pub journey: Option<serde_json::Value>,
}

/// A result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResultFacts {
    pub donor: String,
    pub partial: bool,
    /// The typing a `ct` request returns (GL String).
    pub typing: Option<String>,
    pub note: String,
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
}

/// No result, with the reason code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NoResultFacts {
    pub donor: String,
    /// donor-unavailable, medical, withdrew, unreachable, patient-died,
    /// patient-transplanted, other.
    pub reason: String,
    pub note: String,
}

/// A cancellation: why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancellationFacts {
    pub reason: String,
}

/// A donor's status (and typing) now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DonorFacts {
    pub grid: String,
    pub status: String,
    pub typing: Option<String>,
}

/// Free text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextFacts {
    pub text: String,
}

/// Messages sent together, in sequence order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Batch {
    pub messages: Vec<Envelope>,
}

/// The receiver's answer to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Stored and processed.
    Ack,
    /// Stored and processed, with a remark.
    Warn,
    /// Stored, not processed: the reason is in the remark. Not sent again.
    Deny,
    /// Stored, waiting for an earlier message of the sender (send it again later).
    Held,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    pub id: String,
    pub seq: i64,
    pub verdict: Verdict,
    pub remark: Option<String>,
}

/// A range of sequence numbers (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SeqRange {
    pub from: i64,
    pub to: i64,
}

/// The receiver's answer to a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchAnswer {
    /// The receiver's ION.
    pub receiver: String,
    pub answers: Vec<Answer>,
    /// The last of the sender's sequence numbers the receiver applied.
    pub last_applied: i64,
    /// Messages the receiver lacks before those it holds: send them again.
    pub missing: Option<SeqRange>,
}

/// What a registry says of itself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Info {
    pub ion: String,
    pub donors: usize,
}

/// A request both sides hold, as reconciliation compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkedRequest {
    pub reference: String,
    /// The request's id at the answering registry.
    pub id: String,
    /// The state code (open, acknowledged, resulted...).
    pub state: String,
}

/// A new message id: a random (version 4) UUID.
pub fn new_id() -> Result<String, AppError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| AppError::Internal(format!("no random numbers for a message id: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// Check a message id: a UUID in its canonical text form (8-4-4-4-12 lowercase hex
/// digits, as [`new_id`] makes them). An id is its sender's: the same id from two senders
/// is two messages.
pub fn check_message_id(id: &str) -> Result<(), AppError> {
    let groups: Vec<&str> = id.split('-').collect();
    let ok = groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
    if ok {
        Ok(())
    } else {
        let shown: String = id.chars().take(40).collect();
        Err(AppError::Invalid {
            field: "id".into(),
            reason: format!(
                "{shown:?} is not a message id (a UUID: 8-4-4-4-12 lowercase hexadecimal digits)"
            ),
        })
    }
}

/// Check an ION: four digits.
pub fn check_ion(ion: &str) -> Result<String, AppError> {
    let ion = ion.trim();
    if ion.len() == 4 && ion.bytes().all(|b| b.is_ascii_digit()) {
        Ok(ion.to_string())
    } else {
        Err(AppError::Invalid {
            field: "ion".into(),
            reason: format!("{ion:?} is not an ION (the 4 digits at the head of a GRID)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn envelopes_carry_kind_and_body_side_by_side() {
        let e = Envelope {
            id: "x".into(),
            sender: "1001".into(),
            seq: 3,
            reference: "1001-R000001".into(),
            sent_at: "2026-12-01T10:00:00".into(),
            body: Body::Cancellation(CancellationFacts {
                reason: "patient transplanted".into(),
            }),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "cancellation");
        assert_eq!(v["body"]["reason"], "patient transplanted");
        assert_eq!(serde_json::from_value::<Envelope>(v).unwrap(), e);
    }

    #[test]
    fn message_ids_are_uuids() {
        assert!(check_message_id(&new_id().unwrap()).is_ok());
        assert!(check_message_id("00000000-0000-4000-8000-000000000001").is_ok());
        for bad in [
            "",
            "x",
            "1",
            "00000000-0000-4000-8000-00000000000",
            "00000000-0000-4000-8000-0000000000011",
            "00000000000040008000000000000001",
            "0000000g-0000-4000-8000-000000000001",
            "00000000-0000-4000-8000-000000000001-",
            "00000000-0000-4000-8000-00000000000\u{e9}",
        ] {
            assert!(check_message_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ions_are_four_digits() {
        assert_eq!(check_ion(" 1001 ").unwrap(), "1001");
        assert!(check_ion("101").is_err());
        assert!(check_ion("10a1").is_err());
    }
}
