//! Receiving: every message is stored before it is answered; a message seen before is
//! answered again and not applied twice; a sender's messages are applied in its sequence
//! order, and a gap is reported (the missing range) so that the sender sends it again.

use chrono::NaiveDateTime;
use medulla_registry::exchange::{self, InMessage, Partner};
use medulla_registry::Store;

use super::apply::{apply, Applied};
use super::message::{Answer, Batch, BatchAnswer, Envelope, SeqRange, Verdict};
use crate::error::AppError;

/// Who sent a batch: the partner account that authenticated. The registry it speaks for
/// is the ION an administrator bound the account to, never one a message names.
pub struct Sender {
    pub user: String,
}

/// A message denied here: answered `deny` with the reason (a rule's name in brackets),
/// applied nothing, audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub id: String,
    pub seq: i64,
    pub kind: String,
    pub reference: String,
    pub reason: String,
}

/// What a batch did here.
pub struct Received {
    pub answer: BatchAnswer,
    /// Donors whose status changed (the live index takes them again).
    pub touched: Vec<String>,
    pub applied: usize,
    pub duplicates: usize,
    /// The messages denied (in this batch, or held ones of the sender denied when their
    /// turn came).
    pub denied: Vec<Denial>,
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

/// A text a partner sent, shortened for a remark.
fn shown(text: &str) -> String {
    let mut t: String = text.chars().take(40).collect();
    if t.len() < text.len() {
        t.push_str("...");
    }
    format!("{t:?}")
}

/// The ION a partner account speaks for, or why it speaks for none (`[sender-ion]`).
fn bound_ion(
    conn: &medulla_registry::store::DbConnection,
    user: &str,
    ours: &str,
) -> Result<Result<String, String>, AppError> {
    Ok(match exchange::account_ion(conn, user)? {
        None => Err(format!(
            "[sender-ion] account {user} is bound to no ION, so it speaks for no registry: \
             an administrator binds it to its registry's ION with `medulla users bind-ion \
             {user} ION`"
        )),
        Some(b) if b == ours => Err(format!(
            "[sender-ion] account {user} is bound to ION {b}, this registry's own, which no \
             partner can speak for: an administrator gives the partner an account of its own \
             ION with `medulla users add NAME --role partner --ion ION`"
        )),
        Some(b) => Ok(b),
    })
}

/// Receive a batch from a partner account. A message is taken only from the ION the
/// account is bound to (`[sender-ion]` otherwise) and with a UUID for its id; it is then
/// stored before it is answered, and applied in the sender's sequence order.
pub fn receive(
    store: &mut Store,
    sender: &Sender,
    batch: &Batch,
    at: NaiveDateTime,
    check_typing: super::apply::CheckTyping<'_>,
) -> Result<Received, AppError> {
    let ours = super::outbox::our_ion(store.connection())?.ok_or_else(|| {
        AppError::Conflict("this registry has no ION: it exchanges nothing yet".into())
    })?;
    if batch.messages.is_empty() {
        return Err(AppError::Invalid {
            field: "messages".into(),
            reason: "the batch is empty".into(),
        });
    }
    let bound = bound_ion(store.connection(), &sender.user, &ours)?;
    let mut duplicates = 0;
    let mut denied = Vec::new();
    // per message: the answer it got before it was stored (refused, or a duplicate)
    // and whether it was refused without being stored
    let mut answers_first: Vec<(bool, Option<Answer>)> = Vec::with_capacity(batch.messages.len());
    for m in &batch.messages {
        let refusal = match &bound {
            Err(why) => Some(why.clone()),
            Ok(ion) if &m.sender != ion => Some(format!(
                "[sender-ion] account {} speaks for ION {ion} only; message {} names sender {}",
                sender.user,
                shown(&m.id),
                shown(&m.sender)
            )),
            Ok(_) => super::message::check_message_id(&m.id)
                .err()
                .map(|e| format!("[message-id] {e}")),
        };
        let early = match (&bound, refusal) {
            (_, Some(why)) => Some(why),
            (Ok(ion), None) => {
                let body = serde_json::to_string(&m.body)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                store.write(|tx| -> Result<Option<String>, AppError> {
                    if exchange::inbox_message(tx, ion, &m.id)?.is_some() {
                        exchange::delivered_again(tx, ion, &m.id)?;
                        duplicates += 1;
                        return Ok(None);
                    }
                    if let Some(other) = exchange::inbox_at(tx, ion, m.seq)? {
                        return Ok(Some(format!(
                            "sequence number {} of ION {ion} was message {} already",
                            m.seq, other.id
                        )));
                    }
                    if m.seq < 1 {
                        return Ok(Some("sequence numbers start at 1".into()));
                    }
                    exchange::store_incoming(
                        tx,
                        &m.id,
                        ion,
                        m.seq,
                        m.body.kind(),
                        &m.reference,
                        &body,
                        at,
                    )?;
                    Ok(None)
                })?
            }
            (Err(_), None) => None,
        };
        match early {
            Some(why) => {
                denied.push(Denial {
                    id: m.id.clone(),
                    seq: m.seq,
                    kind: m.body.kind().into(),
                    reference: m.reference.clone(),
                    reason: why.clone(),
                });
                answers_first.push((
                    true,
                    Some(Answer {
                        id: m.id.clone(),
                        seq: m.seq,
                        verdict: Verdict::Deny,
                        remark: Some(why),
                    }),
                ));
            }
            None => answers_first.push((false, None)),
        }
    }
    let ion = match &bound {
        Ok(ion) => ion.clone(),
        Err(_) => {
            // nothing was stored: every message is answered with the refusal
            return Ok(Received {
                answer: BatchAnswer {
                    receiver: ours,
                    answers: answers_first.into_iter().filter_map(|(_, a)| a).collect(),
                    last_applied: 0,
                    missing: None,
                },
                touched: Vec::new(),
                applied: 0,
                duplicates: 0,
                denied,
            });
        }
    };
    let (applied, touched) = if answers_first.iter().any(|(refused, _)| !refused) {
        let partner = exchange::partner_for_sender(store.connection(), &sender.user, &ion, at)?;
        apply_in_order(store, &partner, &ion, at, &mut denied, check_typing)?
    } else {
        (0, Vec::new())
    };
    let last = exchange::last_applied(store.connection(), &ion)?;
    let mut answers = Vec::with_capacity(batch.messages.len());
    for (m, (refused, early)) in batch.messages.iter().zip(answers_first) {
        // a message refused before it was stored answers with the refusal; a stored one
        // with its state now
        let seen = if refused {
            None
        } else {
            exchange::inbox_message(store.connection(), &ion, &m.id)?
        };
        let a = match (early, seen) {
            (Some(a), _) => a,
            (None, Some(seen)) => Answer {
                id: m.id.clone(),
                seq: seen.seq,
                verdict: verdict(&seen),
                remark: seen.remark,
            },
            (None, None) => Answer {
                id: m.id.clone(),
                seq: m.seq,
                verdict: Verdict::Held,
                remark: None,
            },
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
        denied,
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
    denied: &mut Vec<Denial>,
    check_typing: super::apply::CheckTyping<'_>,
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
            let o = apply(tx, partner, &env, at, &mut t, check_typing)?;
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
                denied.push(Denial {
                    id: m.id.clone(),
                    seq: m.seq,
                    kind: m.kind.clone(),
                    reference: m.reference.clone(),
                    reason: why,
                });
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
