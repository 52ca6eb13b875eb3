//! Delivery: a partner's pending messages go out in sequence order, as one batch, and
//! stay in the outbox until the partner answers each (acknowledge, warn, deny); a failed
//! delivery is retried with a growing pause. Also: learning the IONs of partners, and
//! reconciling the requests both sides hold. `medulla serve` runs [`run`] in the
//! background.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{Local, NaiveDateTime};
use medulla_registry::exchange::{self as store, OutMessage, OutState, Partner};
use medulla_registry::requests::{add_event, set_state};
use medulla_registry::Store;
use medulla_workflow::{RejectReason, RequestState};
use serde::Serialize;
use utoipa::ToSchema;

use super::client::PartnerClient;
use super::message::{Batch, Envelope, Verdict};
use crate::error::AppError;

/// How delivery behaves.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryConfig {
    /// Deadline of one call to a partner.
    pub timeout: Duration,
    /// Messages per batch.
    pub batch: usize,
    /// The first pause after a failure; it doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: Duration::from_secs(10),
            batch: 200,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What one delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub acked: usize,
    pub warned: usize,
    pub denied: usize,
    pub held: usize,
    /// Messages put back because the partner said it lacks them.
    pub requeued: usize,
    /// Why the delivery failed (the messages wait for the next attempt).
    pub error: Option<String>,
}

fn now() -> NaiveDateTime {
    Local::now().naive_local()
}

fn backoff(cfg: &DeliveryConfig, attempts: i64) -> chrono::Duration {
    let factor = 1u32 << attempts.clamp(0, 16) as u32;
    let d = cfg.backoff.saturating_mul(factor).min(cfg.max_backoff);
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::seconds(5))
}

fn envelope(ion: &str, m: &OutMessage) -> Result<Envelope, AppError> {
    Ok(Envelope {
        id: m.id.clone(),
        sender: ion.to_string(),
        seq: m.seq,
        reference: m.reference.clone(),
        sent_at: now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        body: serde_json::from_str(&m.body).map_err(|e| {
            AppError::Internal(format!("outbox message {} is unreadable: {e}", m.id))
        })?,
    })
}

/// Deliver what is due to one partner: one batch.
pub fn deliver_once(
    db: &mut Store,
    partner: &Partner,
    cfg: &DeliveryConfig,
) -> Result<Round, AppError> {
    let Some(ion) = super::our_ion(db.connection())? else {
        return Ok(Round::default());
    };
    let at = now();
    let due = store::due(db.connection(), &partner.name, at, cfg.batch)?;
    if due.is_empty() {
        return Ok(Round::default());
    }
    let batch = Batch {
        messages: due
            .iter()
            .map(|m| envelope(&ion, m))
            .collect::<Result<_, _>>()?,
    };
    let ids: Vec<String> = due.iter().map(|m| m.id.clone()).collect();
    let mut round = Round {
        sent: due.len(),
        ..Round::default()
    };
    let client = PartnerClient::new(partner, cfg.timeout);
    let answer = match client.deliver(&batch) {
        Ok(a) => a,
        Err(e) => {
            let why = e.to_string();
            let next = at + backoff(cfg, due[0].attempts);
            db.write(|tx| store::attempted(tx, &ids, Some(&why), at, next))?;
            round.error = Some(why);
            return Ok(round);
        }
    };
    match &partner.ion {
        Some(known) if *known != answer.receiver => {
            let why = format!(
                "answered as ION {}, but partner {} has ION {known}",
                answer.receiver, partner.name
            );
            let next = at + backoff(cfg, due[0].attempts);
            db.write(|tx| store::attempted(tx, &ids, Some(&why), at, next))?;
            round.error = Some(why);
            return Ok(round);
        }
        Some(_) => {}
        None => store::set_partner_ion(db.connection(), &partner.name, &answer.receiver)?,
    }
    let by_id: HashMap<&str, &OutMessage> = due.iter().map(|m| (m.id.as_str(), m)).collect();
    let later = at + chrono::Duration::from_std(cfg.backoff).unwrap_or_default();
    db.write(|tx| -> Result<(), AppError> {
        store::attempted(tx, &ids, None, at, at)?;
        for a in &answer.answers {
            let Some(m) = by_id.get(a.id.as_str()) else {
                continue;
            };
            match a.verdict {
                Verdict::Ack => {
                    store::answered(tx, &m.id, OutState::Acked, None, at)?;
                    round.acked += 1;
                }
                Verdict::Warn => {
                    store::answered(tx, &m.id, OutState::Warned, a.remark.as_deref(), at)?;
                    round.warned += 1;
                }
                Verdict::Deny => {
                    let why = a.remark.clone().unwrap_or_else(|| "no reason given".into());
                    store::answered(tx, &m.id, OutState::Denied, Some(&why), at)?;
                    denied(tx, partner, m, &why, at)?;
                    round.denied += 1;
                }
                Verdict::Held => {
                    store::attempted(tx, std::slice::from_ref(&m.id), None, at, later)?;
                    round.held += 1;
                }
            }
        }
        if let Some(r) = answer.missing {
            round.requeued = store::requeue(tx, &partner.name, r.from, r.to, at)?;
        }
        Ok(())
    })?;
    Ok(round)
}

/// A partner refused a request this registry opened: the request ends, with why.
fn denied(
    tx: &medulla_registry::store::DbTransaction<'_>,
    partner: &Partner,
    m: &OutMessage,
    why: &str,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    if m.kind != "request" {
        return Ok(());
    }
    if let Some(id) = store::request_of_reference(tx, &m.reference)? {
        let state = RequestState::Rejected {
            reason: RejectReason::Other,
        };
        set_state(tx, &id, &state, at)?;
        add_event(
            tx,
            &id,
            at,
            &format!("partner:{}", partner.name),
            "denied",
            why,
        )?;
        crate::workflow::refresh_tasks(tx, &id)?;
    }
    Ok(())
}

/// Learn the ION of each partner that has not said it yet.
pub fn learn_ions(db: &Store, timeout: Duration) -> Result<Vec<String>, AppError> {
    let mut problems = Vec::new();
    for p in store::partners(db.connection())? {
        if p.ion.is_some() || p.url.is_empty() {
            continue;
        }
        match PartnerClient::new(&p, timeout).info() {
            Ok(info) => match super::message::check_ion(&info.ion) {
                Ok(ion) => store::set_partner_ion(db.connection(), &p.name, &ion)?,
                Err(e) => problems.push(format!("partner {}: {e}", p.name)),
            },
            Err(e) => problems.push(e.to_string()),
        }
    }
    Ok(problems)
}

/// A difference between the requests two registries hold.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Drift {
    pub reference: String,
    /// The state here (`None`: not held here).
    pub here: Option<String>,
    /// The state at the partner (`None`: not held there).
    pub there: Option<String>,
}

/// Reconciliation with one partner.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reconciliation {
    pub partner: String,
    /// Requests both sides hold in the same state.
    pub agreeing: usize,
    /// Requests whose messages are still on their way (not counted as drift).
    pub in_flight: usize,
    pub drift: Vec<Drift>,
    /// Why the partner could not be asked.
    pub error: Option<String>,
}

/// Compare the requests this registry and `partner` hold with each other (open on
/// either side); a request with messages still in either outbox is in flight, not drift.
pub fn reconcile(
    db: &Store,
    partner: &Partner,
    timeout: Duration,
) -> Result<Reconciliation, AppError> {
    let here: BTreeMap<String, String> = store::requests_with(db.connection(), &partner.name)?
        .into_iter()
        .map(|(_, reference, state)| (reference, state))
        .collect();
    let mut out = Reconciliation {
        partner: partner.name.clone(),
        agreeing: 0,
        in_flight: 0,
        drift: Vec::new(),
        error: None,
    };
    if partner.url.is_empty() {
        out.error = Some("not registered with its URL and key yet (medulla partners add)".into());
        return Ok(out);
    }
    let there: BTreeMap<String, String> =
        match PartnerClient::new(partner, timeout).linked_requests() {
            Ok(list) => list.into_iter().map(|r| (r.reference, r.state)).collect(),
            Err(e) => {
                out.error = Some(e.to_string());
                return Ok(out);
            }
        };
    let pending: std::collections::HashSet<String> = store::outbox(
        db.connection(),
        Some(&partner.name),
        Some(OutState::Pending),
    )?
    .into_iter()
    .map(|m| m.reference)
    .collect();
    let open = |s: &str| matches!(s, "open" | "acknowledged" | "partially-resulted");
    let mut refs: Vec<&String> = here.keys().chain(there.keys()).collect();
    refs.sort();
    refs.dedup();
    for r in refs {
        let (h, t) = (here.get(r), there.get(r));
        if !h.is_some_and(|s| open(s)) && !t.is_some_and(|s| open(s)) {
            continue;
        }
        if h == t {
            out.agreeing += 1;
        } else if pending.contains(r) {
            out.in_flight += 1;
        } else {
            out.drift.push(Drift {
                reference: r.clone(),
                here: h.cloned(),
                there: t.cloned(),
            });
        }
    }
    Ok(out)
}

/// The background exchange of `medulla serve`: one delivery thread per partner (partners
/// added while it runs are picked up), IONs learned, reconciliation every
/// `reconcile_every`. Returns when `stop` is set.
pub fn run(
    db: PathBuf,
    cfg: DeliveryConfig,
    poll: Duration,
    reconcile_every: Duration,
    stop: Arc<AtomicBool>,
) {
    let mut threads: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut last_learn = Instant::now() - Duration::from_secs(60);
    let mut last_reconcile = Instant::now();
    let mut conn: Option<Store> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            conn = Store::open_existing(&db).ok();
        }
        if let Some(store) = &conn {
            if last_learn.elapsed() > Duration::from_secs(2) {
                last_learn = Instant::now();
                let _ = learn_ions(store, Duration::from_secs(2));
            }
            if let Ok(list) = store::partners(store.connection()) {
                for p in list {
                    // a partner known only by what it sent has no URL yet: its messages
                    // wait until it is registered
                    if p.url.is_empty() || threads.get(&p.name).is_some_and(|t| !t.is_finished()) {
                        continue;
                    }
                    let (db, stop, name) = (db.clone(), stop.clone(), p.name.clone());
                    threads.insert(
                        p.name.clone(),
                        std::thread::spawn(move || deliver_loop(&db, &name, cfg, poll, &stop)),
                    );
                }
            }
            if last_reconcile.elapsed() > reconcile_every {
                last_reconcile = Instant::now();
                for p in store::partners(store.connection()).unwrap_or_default() {
                    if p.url.is_empty() {
                        continue;
                    }
                    if let Ok(r) = reconcile(store, &p, cfg.timeout) {
                        if !r.drift.is_empty() || r.error.is_some() {
                            // references and states only: no identity
                            eprintln!(
                                "exchange: reconciliation with {}: {} request(s) drift{}",
                                r.partner,
                                r.drift.len(),
                                r.error.map(|e| format!(" ({e})")).unwrap_or_default()
                            );
                        }
                    }
                }
            }
        }
        sleep_unless(&stop, Duration::from_millis(500));
    }
    for (_, t) in threads {
        let _ = t.join();
    }
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20).min(d));
    }
}

fn deliver_loop(db: &Path, name: &str, cfg: DeliveryConfig, poll: Duration, stop: &AtomicBool) {
    let Ok(mut store) = Store::open_existing(db) else {
        return;
    };
    let mut last_error: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let partner = match store::partners(store.connection()) {
            Ok(list) => match list.into_iter().find(|p| p.name == name) {
                Some(p) if !p.url.is_empty() => p,
                _ => return,
            },
            Err(_) => {
                sleep_unless(stop, poll);
                continue;
            }
        };
        // the outbox's bookkeeping (attempts, acknowledgements) is the service's own work
        let entry = crate::audit::note("system", "exchange-delivery", name, serde_json::json!({}));
        let delivered = store.audited(entry, |s| deliver_once(s, &partner, &cfg));
        match delivered {
            Ok(round) => {
                if round.error != last_error {
                    if let Some(e) = &round.error {
                        eprintln!("exchange: delivery to {name} failed, will retry: {e}");
                    } else if last_error.is_some() && round.sent > 0 {
                        eprintln!("exchange: delivery to {name} works again");
                    }
                    if round.sent > 0 {
                        last_error = round.error.clone();
                    }
                }
                // more may be waiting: go on at once after a full, successful batch
                if round.error.is_none() && round.sent >= cfg.batch {
                    continue;
                }
            }
            Err(e) => eprintln!("exchange: delivery to {name}: {e}"),
        }
        sleep_unless(stop, poll);
    }
}
