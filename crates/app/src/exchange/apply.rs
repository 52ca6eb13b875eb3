//! What a message from a partner does here, applied in the transaction that marks it
//! processed (so it is applied once). A message the registry cannot act on is denied
//! with the reason; one it acts on with a caveat is acknowledged with a warning.

use chrono::{NaiveDate, NaiveDateTime};
use medulla_registry::exchange::{self, Partner, RequestLink};
use medulla_registry::requests::{
    add_event, insert_request, next_request_id, put_journey, request_in, set_state,
};
use medulla_registry::store::{set_status_in, DbTransaction};
use medulla_registry::{Status, StatusChange};
use medulla_workflow::{check_open, Journey, Request, RequestState, RequestType, Subject};

use super::message::{Body, Envelope, RequestFacts};
use crate::donor_ref::{self, DonorId, DonorRef};
use crate::error::AppError;
use crate::workflow::{
    check_not_reserved_for_another, check_one_active_workup, hold_for_workup, refresh_tasks,
    release, workup_hold_until,
};

/// What applying a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    Done,
    /// Done, with a remark for the sender.
    Warned(String),
}

/// How a typing a partner sends is checked (the registry's release): the reason when it
/// cannot be read.
pub type CheckTyping<'a> = &'a dyn Fn(&str) -> Result<(), String>;

/// The events a `request-state` message may carry: those the outbox sends.
const STATE_EVENTS: [&str; 3] = ["acknowledged", "workup-plan", "workup-record"];

/// Apply one message from `partner` (whose ION sent it). Donors whose status changed are
/// added to `touched`.
pub(crate) fn apply(
    tx: &DbTransaction<'_>,
    partner: &Partner,
    m: &Envelope,
    at: NaiveDateTime,
    touched: &mut Vec<String>,
    check_typing: CheckTyping<'_>,
) -> Result<Applied, AppError> {
    let by = format!("partner:{}", partner.name);
    match &m.body {
        Body::Patient(p) => {
            let facts = serde_json::to_string(p).map_err(|e| AppError::Internal(e.to_string()))?;
            exchange::put_foreign_patient(tx, &m.sender, &p.patient, &facts, at)?;
            Ok(Applied::Done)
        }
        Body::Request(r) => open_for_partner(tx, partner, m, r, &by, at, touched),
        Body::RequestState(s) => {
            let r = held_with(tx, partner, m, Side::DonorRegistry)?;
            // the events a request state carries (`outbox`): any other name would write
            // a "result" or "cancelled" into the history past the checks of its own kind
            if !STATE_EVENTS.contains(&s.event.as_str()) {
                return Err(AppError::Invalid {
                    field: "event".into(),
                    reason: format!(
                        "{:?} is not an event of a request state (one of {})",
                        s.event.chars().take(64).collect::<String>(),
                        STATE_EVENTS.join(", ")
                    ),
                });
            }
            let next = r.after_reported(&parse_state(&s.state)?)?;
            set_state(tx, &r.id, &next, at)?;
            if let Some(j) = &s.journey {
                let j: Journey =
                    serde_json::from_value(j.clone()).map_err(|e| AppError::Invalid {
                        field: "journey".into(),
                        reason: e.to_string(),
                    })?;
                put_journey(tx, &r.id, &j, at)?;
            }
            add_event(tx, &r.id, at, &by, &s.event, &s.detail)?;
            refresh_tasks(tx, &r.id)?;
            Ok(Applied::Done)
        }
        Body::Result(res) => {
            let r = held_with(tx, partner, m, Side::DonorRegistry)?;
            // a typing read as every typing is read here: one that names no allele of the
            // release (or no typing at all) is refused, never kept as the request's result
            if let Some(t) = &res.typing {
                check_typing(t).map_err(|reason| AppError::Invalid {
                    field: "typing".into(),
                    reason: format!("the result of {}: {reason}", m.reference),
                })?;
            }
            // the state a result leaves is the lifecycle's, whatever the message says
            let next = r.after_result(res.partial)?;
            let said = parse_state(&res.state)?;
            if said != next {
                return Err(AppError::Rule {
                    rule: "request-lifecycle".into(),
                    message: format!(
                        "request {} is {}: a {} result leaves it {}, not {}",
                        m.reference,
                        r.state.describe(),
                        if res.partial { "partial" } else { "full" },
                        next.describe(),
                        said.describe()
                    ),
                });
            }
            set_state(tx, &r.id, &next, at)?;
            let detail = serde_json::json!({
                "partial": res.partial, "typing": res.typing, "note": res.note,
            });
            add_event(tx, &r.id, at, &by, "result", &detail.to_string())?;
            refresh_tasks(tx, &r.id)?;
            Ok(Applied::Done)
        }
        Body::NoResult(n) => {
            let r = held_with(tx, partner, m, Side::DonorRegistry)?;
            let reason = n.reason.parse()?;
            let state = r.after_end(RequestState::Rejected { reason })?;
            set_state(tx, &r.id, &state, at)?;
            add_event(
                tx,
                &r.id,
                at,
                &by,
                "rejected",
                &format!("{}; {}", state.describe(), n.note),
            )?;
            refresh_tasks(tx, &r.id)?;
            Ok(Applied::Done)
        }
        Body::Cancellation(c) => {
            let r = held_with(tx, partner, m, Side::Requester)?;
            if matches!(r.state, RequestState::Cancelled { .. }) {
                // the same withdrawal again (crossed with another message): nothing to do
                return Ok(Applied::Warned(format!(
                    "request {} was already {}",
                    m.reference,
                    r.state.describe()
                )));
            }
            let next = r.after_end(RequestState::Cancelled {
                reason: c.reason.clone(),
            })?;
            set_state(tx, &r.id, &next, at)?;
            add_event(tx, &r.id, at, &by, "cancelled", &next.describe())?;
            if matches!(r.kind(), RequestType::Reservation | RequestType::Workup) {
                release(tx, &r, &by, at, "cancelled")?;
                touched.push(r.donor.clone());
            }
            refresh_tasks(tx, &r.id)?;
            Ok(Applied::Done)
        }
        Body::ResultReminder(t) => {
            let r = held_with(tx, partner, m, Side::Requester)?;
            add_event(tx, &r.id, at, &by, "result-reminder", &t.text)?;
            Ok(Applied::Done)
        }
        Body::DonorUpdate(d) => {
            let ids = exchange::outgoing_for_donor(tx, &d.grid, &partner.name)?;
            if ids.is_empty() {
                return Ok(Applied::Warned(format!(
                    "no request here names donor {}",
                    d.grid
                )));
            }
            for id in ids {
                add_event(
                    tx,
                    &id,
                    at,
                    &by,
                    "donor-update",
                    &format!("status {}", d.status),
                )?;
            }
            Ok(Applied::Done)
        }
        Body::Text(t) => match exchange::request_of_reference(tx, &m.reference)? {
            Some(id) => {
                // either side of a request held with this partner may write about it
                if exchange::request_link(tx, &id)?.partner.as_deref() != Some(&partner.name) {
                    return Err(not_yours(&m.reference));
                }
                add_event(tx, &id, at, &by, "message", &t.text)?;
                Ok(Applied::Done)
            }
            None => Ok(Applied::Warned(format!(
                "kept in the inbox: no request here has reference {}",
                m.reference
            ))),
        },
    }
}

fn parse_state(v: &serde_json::Value) -> Result<RequestState, AppError> {
    serde_json::from_value(v.clone()).map_err(|e| AppError::Invalid {
        field: "state".into(),
        reason: e.to_string(),
    })
}

fn load(tx: &DbTransaction<'_>, id: &str) -> Result<Request, AppError> {
    request_in(tx, id)?.ok_or_else(|| AppError::NotFound(format!("request {id} does not exist")))
}

/// Which side of a request a message's sender must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The donor's registry (states, results, no-results): for a request this registry
    /// opened with the sender.
    DonorRegistry,
    /// The requester (cancellations, reminders): for a request the sender opened here.
    Requester,
}

fn not_yours(reference: &str) -> AppError {
    AppError::Rule {
        rule: "not-your-request".into(),
        message: format!(
            "request {reference} is not held with your registry: a partner speaks only of \
             requests it holds with us"
        ),
    }
}

/// The request `m` is about, by its reference, when it is held with `partner` on the
/// side `side` (`[not-your-request]` otherwise: another registry's request, or one where
/// the sender is not the side that says this).
fn held_with(
    tx: &DbTransaction<'_>,
    partner: &Partner,
    m: &Envelope,
    side: Side,
) -> Result<Request, AppError> {
    let Some(id) = exchange::request_of_reference(tx, &m.reference)? else {
        return Err(AppError::NotFound(format!(
            "no request here has reference {}",
            m.reference
        )));
    };
    let link = exchange::request_link(tx, &id)?;
    let counterpart = link.partner.as_deref() == Some(partner.name.as_str());
    let side_ok = match side {
        Side::DonorRegistry => link.origin.is_none(),
        Side::Requester => link.origin.as_deref() == Some(m.sender.as_str()),
    };
    if !(counterpart && side_ok) {
        return Err(not_yours(&m.reference));
    }
    load(tx, &id)
}

/// A partner's request for one of this registry's donors: the rules of requests hold
/// (per requesting registry and patient), a reservation reserves the donor.
fn open_for_partner(
    tx: &DbTransaction<'_>,
    partner: &Partner,
    m: &Envelope,
    f: &RequestFacts,
    by: &str,
    at: NaiveDateTime,
    touched: &mut Vec<String>,
) -> Result<Applied, AppError> {
    // a request is named by its opener: `ION-REQUESTID`, the ION the sender's own
    if !m
        .reference
        .strip_prefix(m.sender.as_str())
        .is_some_and(|rest| rest.starts_with('-') && rest.len() > 1)
    {
        return Err(AppError::Rule {
            rule: "not-your-request".into(),
            message: format!(
                "a request's reference is its opener's ION, '-' and its id: {} does not begin \
                 with {}-",
                m.reference, m.sender
            ),
        });
    }
    if let Some(id) = exchange::request_of_reference(tx, &m.reference)? {
        if exchange::request_link(tx, &id)?.origin.as_deref() != Some(m.sender.as_str()) {
            return Err(not_yours(&m.reference));
        }
        return Ok(Applied::Warned(format!(
            "request {} was received before",
            m.reference
        )));
    }
    // the patient is one the partner registered with us (its `patient` message first)
    if exchange::foreign_patient(tx, &m.sender, &f.patient)?.is_none() {
        return Err(AppError::Rule {
            rule: "patient-not-registered".into(),
            message: format!(
                "patient {} is not registered here by registry {}: a request follows the \
                 patient's registration",
                f.patient, m.sender
            ),
        });
    }
    // our donor, named by its GRID (or id): resolved to this registry's id, as a
    // request opened here names it; never a partner's donor
    let (donor, status) = DonorId::of_local(tx, &f.donor).map_err(|e| match e {
        AppError::NotFound(_) => AppError::NotFound(format!(
            "donor {} is not in registry {}",
            f.donor,
            ours_ion(tx)
        )),
        other => other,
    })?;
    let grid = donor.grid().unwrap_or(donor.as_str()).to_string();
    let today = at.date();
    let kind: RequestType = f.kind.parse()?;
    let expires = f
        .expires
        .as_deref()
        .map(|e| {
            e.parse::<NaiveDate>().map_err(|e| AppError::Invalid {
                field: "expires".into(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    let subject = Subject::new(kind, f.loci.clone(), expires, today)?;
    if let Subject::Reservation { expires } = &subject {
        crate::settings::check_reservation_expiry(tx, *expires, today)?;
    }
    // a workup reserves its donor too: both fit the partner's quota
    if matches!(kind, RequestType::Reservation | RequestType::Workup) {
        crate::settings::check_partner_reservation_quota(
            tx,
            &m.sender,
            &partner.name,
            donor.as_str(),
        )?;
    }
    let resolved = DonorRef::Local {
        id: donor.clone(),
        status: status.clone(),
    };
    // the pair is the requesting registry's patient and the donor
    let pair: Vec<Request> = donor_ref::pair_requests(tx, &f.patient, &resolved)?
        .into_iter()
        .filter(|r| {
            exchange::request_link(tx, &r.id)
                .map(|l| l.origin.as_deref() == Some(m.sender.as_str()))
                .unwrap_or(false)
        })
        .collect();
    check_open(&pair, &subject)?;
    let patient_here = format!("{}:{}", m.sender, f.patient);
    if kind == RequestType::Workup {
        check_one_active_workup(tx, &donor)?;
    }
    if matches!(kind, RequestType::Reservation | RequestType::Workup) {
        check_not_reserved_for_another(&donor, &status, &patient_here, today).map_err(|e| {
            match e {
                // a partner is not told whom the donor is reserved for
                AppError::Rule { rule, .. } => AppError::Rule {
                    rule,
                    message: format!(
                        "donor {grid} is reserved for another patient{}",
                        match &status {
                            Status::Reserved { until, .. } => format!(" until {until}"),
                            _ => String::new(),
                        }
                    ),
                },
                other => other,
            }
        })?;
    }
    let (seq, id) = next_request_id(tx)?;
    let r = Request {
        id: id.clone(),
        patient: f.patient.clone(),
        donor: donor.as_str().to_string(),
        subject: subject.clone(),
        state: RequestState::Open,
        opened: today,
        opened_by: by.to_string(),
        note: f.note.clone(),
    };
    insert_request(tx, seq, &r, at)?;
    exchange::link_request(
        tx,
        &id,
        &RequestLink {
            origin: Some(m.sender.clone()),
            partner: Some(partner.name.clone()),
            reference: Some(m.reference.clone()),
        },
    )?;
    if let Subject::Reservation { expires } = &subject {
        set_status_in(
            tx,
            donor.as_str(),
            StatusChange {
                status: Status::Reserved {
                    patient: patient_here.clone(),
                    until: *expires,
                },
                changed_at: at,
                changed_by: by.to_string(),
                note: format!("reservation {id} from partner {}", partner.name),
            },
        )?;
        touched.push(donor.as_str().to_string());
    }
    if kind == RequestType::Workup {
        put_journey(tx, &id, &Journey::new(today), at)?;
        let until = workup_hold_until(tx, today, None)?;
        if hold_for_workup(tx, &donor, &status, &patient_here, until, &id, by, at)? {
            touched.push(donor.as_str().to_string());
        }
    }
    refresh_tasks(tx, &id)?;
    Ok(Applied::Done)
}

fn ours_ion(tx: &DbTransaction<'_>) -> String {
    super::outbox::our_ion(tx)
        .ok()
        .flatten()
        .unwrap_or_else(|| "here".into())
}
