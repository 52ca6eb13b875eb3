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

/// Apply one message from `partner` (whose ION sent it). Donors whose status changed are
/// added to `touched`.
pub(crate) fn apply(
    tx: &DbTransaction<'_>,
    partner: &Partner,
    m: &Envelope,
    at: NaiveDateTime,
    touched: &mut Vec<String>,
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
            let Some(id) = ours(tx, &m.reference)? else {
                return unknown(&m.reference);
            };
            let state: RequestState = parse_state(&s.state)?;
            set_state(tx, &id, &state, at)?;
            if let Some(j) = &s.journey {
                let j: Journey =
                    serde_json::from_value(j.clone()).map_err(|e| AppError::Invalid {
                        field: "journey".into(),
                        reason: e.to_string(),
                    })?;
                put_journey(tx, &id, &j, at)?;
            }
            add_event(tx, &id, at, &by, &s.event, &s.detail)?;
            refresh_tasks(tx, &id)?;
            Ok(Applied::Done)
        }
        Body::Result(res) => {
            let Some(id) = ours(tx, &m.reference)? else {
                return unknown(&m.reference);
            };
            let state: RequestState = parse_state(&res.state)?;
            set_state(tx, &id, &state, at)?;
            let detail = serde_json::json!({
                "partial": res.partial, "typing": res.typing, "note": res.note,
            });
            add_event(tx, &id, at, &by, "result", &detail.to_string())?;
            refresh_tasks(tx, &id)?;
            Ok(Applied::Done)
        }
        Body::NoResult(n) => {
            let Some(id) = ours(tx, &m.reference)? else {
                return unknown(&m.reference);
            };
            let reason = n.reason.parse()?;
            let state = RequestState::Rejected { reason };
            set_state(tx, &id, &state, at)?;
            add_event(
                tx,
                &id,
                at,
                &by,
                "rejected",
                &format!("{}; {}", state.describe(), n.note),
            )?;
            refresh_tasks(tx, &id)?;
            Ok(Applied::Done)
        }
        Body::Cancellation(c) => {
            let Some(id) = theirs(tx, &m.reference, &m.sender)? else {
                return unknown(&m.reference);
            };
            let r = load(tx, &id)?;
            if !r.state.is_open() {
                return Ok(Applied::Warned(format!(
                    "request {} was already {}",
                    m.reference,
                    r.state.describe()
                )));
            }
            let next = RequestState::Cancelled {
                reason: c.reason.clone(),
            };
            set_state(tx, &id, &next, at)?;
            add_event(tx, &id, at, &by, "cancelled", &next.describe())?;
            if matches!(r.kind(), RequestType::Reservation | RequestType::Workup) {
                release(tx, &r, &by, at, "cancelled")?;
                touched.push(r.donor.clone());
            }
            refresh_tasks(tx, &id)?;
            Ok(Applied::Done)
        }
        Body::ResultReminder(t) => {
            let Some(id) = theirs(tx, &m.reference, &m.sender)? else {
                return unknown(&m.reference);
            };
            add_event(tx, &id, at, &by, "result-reminder", &t.text)?;
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

fn unknown(reference: &str) -> Result<Applied, AppError> {
    Err(AppError::NotFound(format!(
        "no request here has reference {reference}"
    )))
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

/// A request this registry opened for a partner's donor, by reference.
fn ours(tx: &DbTransaction<'_>, reference: &str) -> Result<Option<String>, AppError> {
    let Some(id) = exchange::request_of_reference(tx, reference)? else {
        return Ok(None);
    };
    Ok((exchange::request_link(tx, &id)?.origin.is_none()).then_some(id))
}

/// A request the sender opened here, by reference.
fn theirs(
    tx: &DbTransaction<'_>,
    reference: &str,
    sender: &str,
) -> Result<Option<String>, AppError> {
    let Some(id) = exchange::request_of_reference(tx, reference)? else {
        return Ok(None);
    };
    Ok((exchange::request_link(tx, &id)?.origin.as_deref() == Some(sender)).then_some(id))
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
    if exchange::request_of_reference(tx, &m.reference)?.is_some() {
        return Ok(Applied::Warned(format!(
            "request {} was received before",
            m.reference
        )));
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
