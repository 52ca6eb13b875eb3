//! Receiving: every message is stored before it is answered; a message seen before is
//! answered again and not applied twice; a sender's messages are applied in its sequence
//! order, and a gap is reported (the missing range) so that the sender sends it again.

use chrono::NaiveDateTime;
use medulla_registry::exchange::{self, InMessage, Partner};
use medulla_registry::Store;

use super::apply::{apply, Applied};
use super::message::{Answer, Batch, BatchAnswer, Envelope, SeqRange, Verdict};
use crate::error::AppError;

/// Who sent a batch: the partner account that authenticated, and the partner it is.
pub struct Sender {
    pub user: String,
}

/// What a batch did here.
pub struct Received {
    pub answer: BatchAnswer,
    /// Donors whose status changed (the live index takes them again).
    pub touched: Vec<String>,
    pub applied: usize,
    pub duplicates: usize,
}

fn verdict(m: &InMessage) -> Verdict {
    match m.state.as_str() {
        "applied" => Verdict::Ack,
        "warned" => Verdict::Warn,
        "denied" => Verdict::Deny,
        _ => Verdict::Held,
    }
}

/// Whether an error of applying a message is the message's fault (denied, not sent
/// again) rather than the registry's (kept, applied when it is sent again).
fn denies(e: &AppError) -> bool {
    !matches!(e, AppError::Store(_) | AppError::Internal(_))
}

/// Receive a batch from a partner account.
pub fn receive(
    store: &mut Store,
    sender: &Sender,
    batch: &Batch,
    at: NaiveDateTime,
) -> Result<Received, AppError> {
    let ours = super::outbox::our_ion(store.connection())?.ok_or_else(|| {
        AppError::Conflict("this registry has no ION: it exchanges nothing yet".into())
    })?;
    let Some(first) = batch.messages.first() else {
        return Err(AppError::Invalid {
            field: "messages".into(),
            reason: "the batch is empty".into(),
        });
    };
    let ion = super::message::check_ion(&first.sender)?;
    if let Some(m) = batch.messages.iter().find(|m| m.sender != ion) {
        return Err(AppError::Invalid {
            field: "sender".into(),
            reason: format!(
                "message {} says sender {}, the batch's first says {ion}: one sender per batch",
                m.id, m.sender
            ),
        });
    }
    match exchange::account_ion(store.connection(), &sender.user)? {
        Some(bound) if bound != ion => {
            return Err(AppError::Forbidden {
                role: "partner".into(),
                action: format!(
                    "send as ION {ion}: account {} belongs to ION {bound}",
                    sender.user
                ),
            })
        }
        Some(_) => {}
        None => exchange::bind_account(store.connection(), &sender.user, &ion)?,
    }
    let partner = exchange::partner_for_sender(store.connection(), &sender.user, &ion, at)?;
    let mut duplicates = 0;
    let mut answers_first: Vec<Option<Answer>> = Vec::with_capacity(batch.messages.len());
    for m in &batch.messages {
        let body = serde_json::to_string(&m.body).map_err(|e| AppError::Internal(e.to_string()))?;
        let early = store.write(|tx| -> Result<Option<Answer>, AppError> {
            if let Some(seen) = exchange::inbox_message(tx, &m.id)? {
                exchange::delivered_again(tx, &m.id)?;
                duplicates += 1;
                return Ok(Some(Answer {
                    id: m.id.clone(),
                    seq: seen.seq,
                    verdict: verdict(&seen),
                    remark: seen.remark,
                }));
            }
            if let Some(other) = exchange::inbox_at(tx, &ion, m.seq)? {
                return Ok(Some(Answer {
                    id: m.id.clone(),
                    seq: m.seq,
                    verdict: Verdict::Deny,
                    remark: Some(format!(
                        "sequence number {} of ION {ion} was message {} already",
                        m.seq, other.id
                    )),
                }));
            }
            if m.seq < 1 {
                return Ok(Some(Answer {
                    id: m.id.clone(),
                    seq: m.seq,
                    verdict: Verdict::Deny,
                    remark: Some("sequence numbers start at 1".into()),
                }));
            }
            exchange::store_incoming(
                tx,
                &m.id,
                &ion,
                m.seq,
                m.body.kind(),
                &m.reference,
                &body,
                at,
            )?;
            Ok(None)
        })?;
        answers_first.push(early);
    }
    let (applied, touched) = apply_in_order(store, &partner, &ion, at)?;
    let last = exchange::last_applied(store.connection(), &ion)?;
    let mut answers = Vec::with_capacity(batch.messages.len());
    for (m, early) in batch.messages.iter().zip(answers_first) {
        // a stored message answers with its state now; one refused before it was stored
        // (a sequence number reused) with the refusal
        let a = match exchange::inbox_message(store.connection(), &m.id)? {
            Some(seen) => Answer {
                id: m.id.clone(),
                seq: seen.seq,
                verdict: verdict(&seen),
                remark: seen.remark,
            },
            None => early.unwrap_or(Answer {
                id: m.id.clone(),
                seq: m.seq,
                verdict: Verdict::Held,
                remark: None,
            }),
        };
        answers.push(a);
    }
    let missing = exchange::first_held_after(store.connection(), &ion, last)?
        .filter(|h| *h > last + 1)
        .map(|h| SeqRange {
            from: last + 1,
            to: h - 1,
        });
    Ok(Received {
        answer: BatchAnswer {
            receiver: ours,
            answers,
            last_applied: last,
            missing,
        },
        touched,
        applied,
        duplicates,
    })
}

/// Apply the sender's held messages that are next in its sequence, each in its own
/// transaction with its mark. Stops at a gap, or at an error of the registry's own (the
/// message stays held and is applied when it comes again).
fn apply_in_order(
    store: &mut Store,
    partner: &Partner,
    ion: &str,
    at: NaiveDateTime,
) -> Result<(usize, Vec<String>), AppError> {
    let mut touched = Vec::new();
    let mut applied = 0;
    loop {
        let last = exchange::last_applied(store.connection(), ion)?;
        let Some(m) = exchange::inbox_at(store.connection(), ion, last + 1)? else {
            break;
        };
        if m.state != "held" {
            break;
        }
        let env = envelope_of(&m)?;
        let mut t = Vec::new();
        let outcome = store.write(|tx| -> Result<Applied, AppError> {
            let o = apply(tx, partner, &env, at, &mut t)?;
            match &o {
                Applied::Done => exchange::processed(tx, &m, "applied", None, at)?,
                Applied::Warned(w) => exchange::processed(tx, &m, "warned", Some(w), at)?,
            }
            Ok(o)
        });
        match outcome {
            Ok(_) => touched.extend(t),
            Err(e) if denies(&e) => {
                let why = e.to_string();
                store.write(|tx| exchange::processed(tx, &m, "denied", Some(&why), at))?;
            }
            Err(e) => return Err(e),
        }
        applied += 1;
    }
    Ok((applied, touched))
}

fn envelope_of(m: &InMessage) -> Result<Envelope, AppError> {
    let body = serde_json::from_str(&m.body).map_err(|e| AppError::Invalid {
        field: "body".into(),
        reason: format!("message {}: {e}", m.id),
    })?;
    Ok(Envelope {
        id: m.id.clone(),
        sender: m.sender.clone(),
        seq: m.seq,
        reference: m.reference.clone(),
        sent_at: String::new(),
        body,
    })
}
