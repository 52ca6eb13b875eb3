//! What this registry sends, written to the outbox in the transaction of the change that
//! caused it: a request opened for a partner's donor (with its patient's registration),
//! and every later change of a request tied to a partner, to the side that must know.

use chrono::NaiveDateTime;
use medulla_registry::exchange::{self, Partner, RequestLink};
use medulla_registry::patient::patient_in;
use medulla_registry::requests::{journey_in, request_in};
use medulla_registry::store::{DbConnection, DbTransaction};
use medulla_registry::{Grid, Store, StoreError};

use super::message::{
    new_id, Body, CancellationFacts, DonorFacts, NoResultFacts, PatientFacts, RequestFacts,
    ResultFacts, StateFacts, TextFacts,
};
use crate::error::AppError;

/// A change to a request tied to a partner, as the workflow made it.
pub(crate) enum Change<'a> {
    Opened,
    Acknowledged,
    Result {
        partial: bool,
        typing: Option<&'a str>,
        note: &'a str,
    },
    NoResult {
        reason: &'a str,
        note: &'a str,
    },
    Cancelled {
        reason: &'a str,
    },
    /// A workup planned or recorded (or reopened) at the donor's registry.
    Workup {
        event: &'a str,
        detail: String,
    },
    Reminder {
        note: &'a str,
    },
}

/// What one may do to a request here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// acknowledge, result, reject, plan or record a workup: the donor's registry's part.
    Answer,
    /// cancel, remind: the requester's part.
    Withdraw,
}

/// This registry's ION (set by `medulla serve --ion`).
pub fn our_ion(conn: &DbConnection) -> Result<Option<String>, StoreError> {
    exchange::setting(conn, "ion")
}

fn require_ion(conn: &DbConnection) -> Result<String, AppError> {
    our_ion(conn)?.ok_or_else(|| {
        AppError::Conflict(
            "this registry has no ION yet: start `medulla serve --ion ION` once to set it".into(),
        )
    })
}

/// The partner that holds `donor`, when it is not in this registry: a GRID whose ION is
/// a partner's.
pub(crate) fn partner_of_donor(
    conn: &DbConnection,
    donor: &str,
) -> Result<Option<Partner>, AppError> {
    if Store::donor_in(conn, donor).is_ok() {
        return Ok(None);
    }
    let Ok(grid) = donor.parse::<Grid>() else {
        return Ok(None);
    };
    if our_ion(conn)?.as_deref() == Some(grid.ion()) {
        return Ok(None);
    }
    match exchange::partner_of_ion(conn, grid.ion())? {
        Some(p) => Ok(Some(p)),
        None => {
            let unknown: Vec<String> = exchange::partners(conn)?
                .into_iter()
                .filter(|p| p.ion.is_none())
                .map(|p| p.name)
                .collect();
            Err(AppError::NotFound(format!(
                "donor {donor} is not in this registry and no partner registry has ION {}{}",
                grid.ion(),
                if unknown.is_empty() {
                    " (medulla partners add)".to_string()
                } else {
                    format!(
                        " (partners whose ION is not known yet: {})",
                        unknown.join(", ")
                    )
                }
            )))
        }
    }
}

/// Refuse what the other registry does: the requester does not answer its own request
/// for a partner's donor, and the donor's registry does not withdraw a partner's request.
pub(crate) fn guard(conn: &DbConnection, id: &str, action: Action) -> Result<(), AppError> {
    let link = exchange::request_link(conn, id)?;
    let Some(partner) = &link.partner else {
        return Ok(());
    };
    match (link.origin.is_some(), action) {
        (false, Action::Answer) => Err(AppError::Rule {
            rule: "partner-answers".into(),
            message: format!(
                "request {id} is for a donor of partner {partner}: its registry answers it \
                 (here it can be cancelled)"
            ),
        }),
        (true, Action::Withdraw) => Err(AppError::Rule {
            rule: "requester-withdraws".into(),
            message: format!(
                "request {id} was opened by partner {partner}: only it cancels it (reject it \
                 with a reason code instead)"
            ),
        }),
        _ => Ok(()),
    }
}

/// Tie a request opened here for a partner's donor to the partner.
pub(crate) fn link_outgoing(
    tx: &DbTransaction<'_>,
    id: &str,
    partner: &Partner,
) -> Result<(), AppError> {
    let ion = require_ion(tx)?;
    exchange::link_request(
        tx,
        id,
        &RequestLink {
            origin: None,
            partner: Some(partner.name.clone()),
            reference: Some(format!("{ion}-{id}")),
        },
    )?;
    Ok(())
}

fn put(
    tx: &DbTransaction<'_>,
    partner: &str,
    reference: &str,
    body: &Body,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let text = serde_json::to_string(body).map_err(|e| AppError::Internal(e.to_string()))?;
    exchange::enqueue(tx, &new_id()?, partner, body.kind(), reference, &text, at)?;
    Ok(())
}

/// A patient's registration, as a partner receives it: search facts, no identity.
pub(crate) fn patient_facts(conn: &DbConnection, id: &str) -> Result<PatientFacts, AppError> {
    let rec = patient_in(conn, id)?
        .ok_or_else(|| AppError::NotFound(format!("patient {id} is not registered")))?;
    let p = rec.patient;
    Ok(PatientFacts {
        patient: p.id,
        hla: p.hla,
        birth_date: p.birth_date.map(|d| d.to_string()),
        sex: p.sex.map(|x| x.to_string()),
        abo: p.abo.map(|x| x.to_string()),
        cmv: p.cmv.map(|x| x.to_string()),
        weight_kg: p.weight_kg,
        diagnosis: p.diagnosis,
        urgency: p.urgency.map(|x| x.to_string()),
        population: p.population,
        status: rec.status.code().to_string(),
    })
}

/// Send the other side what a change to request `id` means for it (nothing when the
/// request is this registry's alone).
pub(crate) fn request_changed(
    tx: &DbTransaction<'_>,
    id: &str,
    change: Change<'_>,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let link = exchange::request_link(tx, id)?;
    let (Some(partner), Some(reference)) = (&link.partner, &link.reference) else {
        return Ok(());
    };
    let mut r = request_in(tx, id)?
        .ok_or_else(|| AppError::NotFound(format!("request {id} does not exist")))?;
    if link.origin.is_some() {
        // a partner's request for our donor, stored under our id: the partner knows the
        // donor by its GRID
        if let Ok((d, _)) = Store::donor_in(tx, &r.donor) {
            if let Some(g) = d.grid {
                r.donor = g.to_string();
            }
        }
    }
    let state = serde_json::to_value(&r.state).map_err(|e| AppError::Internal(e.to_string()))?;
    let body = match change {
        Change::Opened => {
            let facts = patient_facts(tx, &r.patient)?;
            let ion = require_ion(tx)?;
            put(
                tx,
                partner,
                &format!("{ion}-{}", r.patient),
                &Body::Patient(facts),
                at,
            )?;
            Body::Request(RequestFacts {
                patient: r.patient.clone(),
                donor: r.donor.clone(),
                kind: r.kind().code().into(),
                loci: r.subject.loci().map(<[String]>::to_vec),
                expires: r.subject.expires().map(|d| d.to_string()),
                opened: r.opened.to_string(),
                note: r.note.clone(),
            })
        }
        Change::Acknowledged => Body::RequestState(StateFacts {
            donor: r.donor.clone(),
            state,
            event: "acknowledged".into(),
            detail: String::new(),
            journey: None,
        }),
        Change::Workup { event, detail } => Body::RequestState(StateFacts {
            donor: r.donor.clone(),
            state,
            event: event.into(),
            detail,
            journey: journey_in(tx, id)?
                .map(|j| serde_json::to_value(j).map_err(|e| AppError::Internal(e.to_string())))
                .transpose()?,
        }),
        Change::Result {
            partial,
            typing,
            note,
        } => Body::Result(ResultFacts {
            donor: r.donor.clone(),
            partial,
            typing: typing.map(str::to_string),
            note: note.into(),
            state,
        }),
        Change::NoResult { reason, note } => Body::NoResult(NoResultFacts {
            donor: r.donor.clone(),
            reason: reason.into(),
            note: note.into(),
        }),
        Change::Cancelled { reason } => Body::Cancellation(CancellationFacts {
            reason: reason.into(),
        }),
        Change::Reminder { note } => Body::ResultReminder(TextFacts { text: note.into() }),
    };
    put(tx, partner, reference, &body, at)
}

/// Tell the partners that hold open requests for a donor of this registry that its
/// status changed (in the transaction of the change).
pub(crate) fn donor_changed(
    tx: &DbTransaction<'_>,
    donor: &str,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let (d, status) = Store::donor_in(tx, donor)?;
    let Some(grid) = d.grid.as_ref().map(|g| g.to_string()) else {
        return Ok(());
    };
    // the typing as the registry holds it, locus by locus
    let typing = medulla_registry::DONOR_LOCI
        .iter()
        .zip(&d.typing.positions)
        .filter(|(_, p)| p.iter().any(Option::is_some))
        .map(|(_, p)| p.iter().flatten().cloned().collect::<Vec<_>>().join("+"))
        .collect::<Vec<_>>()
        .join("^");
    for p in exchange::partners_holding(tx, &d.id, &grid)? {
        put(
            tx,
            &p,
            &grid,
            &Body::DonorUpdate(DonorFacts {
                grid: grid.clone(),
                status: status.to_string(),
                typing: Some(typing.clone()),
            }),
            at,
        )?;
    }
    Ok(())
}
