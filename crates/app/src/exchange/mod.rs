//! Exchange with foreign registries (Medulla instances): partners, messages carried
//! exactly once through a durable outbox and inbox, international search, and
//! reconciliation of the requests both sides hold. `docs/exchange.md` maps the messages
//! to WMDA Match-Connect and EMDIS.
//!
//! - [`message`]: the envelope and the message kinds;
//! - [`outbox`]: what a change here sends, in the change's transaction;
//! - [`inbox`], `apply`: receiving, in order, once;
//! - [`worker`]: delivery with retries and backoff, learning partners' IONs,
//!   reconciliation;
//! - [`search`]: the international search (fan-out, one ranking);
//! - [`client`]: the HTTP client of a partner.

mod apply;
pub mod client;
pub mod inbox;
pub mod message;
pub mod outbox;
pub mod search;
pub mod transport;
pub mod worker;

use chrono::NaiveDateTime;
use medulla_registry::exchange::{self as store, Partner};
use medulla_registry::Store;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

pub use outbox::our_ion;

/// Set this registry's ION (`medulla serve --ion`). Changing it once set is refused: the
/// references partners hold carry it.
pub fn set_ion(store: &Store, ion: &str) -> Result<String, AppError> {
    let ion = message::check_ion(ion)?;
    match our_ion(store.connection())? {
        Some(old) if old != ion => Err(AppError::Conflict(format!(
            "this registry's ION is {old}; it cannot become {ion} (partners know its requests \
             by it)"
        ))),
        None => {
            if let Some(account) = store::account_of_ion(store.connection(), &ion)? {
                return Err(AppError::Conflict(format!(
                    "ION {ion} is the ION partner account {account} is bound to: it cannot be \
                     this registry's own"
                )));
            }
            store::set_setting(store.connection(), "ion", &ion)?;
            Ok(ion)
        }
        _ => {
            store::set_setting(store.connection(), "ion", &ion)?;
            Ok(ion)
        }
    }
}

/// Register a partner (or change its URL and key).
pub fn add_partner(
    store: &Store,
    name: &str,
    url: &str,
    key: &str,
    ion: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(AppError::Invalid {
            field: "name".into(),
            reason: format!("{name:?}: letters, digits, '-', '_' and '.' only"),
        });
    }
    let url = url.trim();
    // plain HTTP off this machine is refused here already, not only when sending
    transport::check_url(transport::plain_http_allowed(), name, url).map_err(|e| {
        AppError::Invalid {
            field: "url".into(),
            reason: e.to_string(),
        }
    })?;
    if key.trim().is_empty() {
        return Err(AppError::Invalid {
            field: "key".into(),
            reason: "the API key the partner issued to us is required".into(),
        });
    }
    let ion = ion.map(message::check_ion).transpose()?;
    store::put_partner(store.connection(), name, url, key.trim(), at)?;
    if let Some(ion) = ion {
        store::set_partner_ion(store.connection(), name, &ion)?;
    }
    Ok(())
}

/// Before a request for `donor` is opened: when the donor is a GRID of no known
/// registry and some partners have not said their ION yet, ask them now (so that a
/// request right after the partners start finds its way).
pub fn learn_route(store: &Store, donor: &str) -> Result<(), AppError> {
    let conn = store.connection();
    let Ok(grid) = donor.parse::<medulla_registry::Grid>() else {
        return Ok(());
    };
    let known = our_ion(conn)?.as_deref() == Some(grid.ion())
        || store::partner_of_ion(conn, grid.ion())?.is_some()
        || medulla_registry::DonorStore::donor(store, donor)?.is_some();
    if !known && store::partners(conn)?.iter().any(|p| p.ion.is_none()) {
        worker::learn_ions(store, std::time::Duration::from_secs(2))?;
    }
    Ok(())
}

/// A partner as listed (never its key).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartnerView {
    pub name: String,
    pub url: String,
    pub ion: Option<String>,
    pub added_at: String,
}

pub fn partners(store: &Store) -> Result<Vec<PartnerView>, AppError> {
    Ok(store::partners(store.connection())?
        .into_iter()
        .map(|p| PartnerView {
            name: p.name,
            url: p.url,
            ion: p.ion,
            added_at: p.added_at,
        })
        .collect())
}

/// Per-partner figures, as `medulla partners status --format json` prints them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartnerStatus {
    pub name: String,
    pub outbox_pending: i64,
    pub unacknowledged: i64,
    pub denied: i64,
    pub last_sent_seq: i64,
    pub last_received_seq: i64,
}

/// The figures of every partner, and the messages that arrived more than once.
pub fn status(store: &Store) -> Result<Vec<(PartnerStatus, Partner, i64)>, AppError> {
    store::partners(store.connection())?
        .into_iter()
        .map(|p| {
            let c = store::counts(store.connection(), &p)?;
            Ok((
                PartnerStatus {
                    name: p.name.clone(),
                    outbox_pending: c.outbox_pending,
                    unacknowledged: c.unacknowledged,
                    denied: c.denied,
                    last_sent_seq: c.last_sent_seq,
                    last_received_seq: c.last_received_seq,
                },
                p,
                c.duplicates,
            ))
        })
        .collect()
}

/// A message that went wrong: denied by a partner, denied here, or failing to deliver.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    pub partner: String,
    /// `outgoing` or `incoming`.
    pub direction: &'static str,
    pub seq: i64,
    pub kind: String,
    pub reference: String,
    /// `denied`, `warned`, or `failing` (not delivered yet, with the last error).
    pub state: String,
    pub reason: String,
}

/// Denials, warnings and delivery failures in one place, with their reasons.
pub fn problems(store: &Store) -> Result<Vec<Problem>, AppError> {
    let conn = store.connection();
    let partners = store::partners(conn)?;
    let name_of = |ion: &str| {
        partners
            .iter()
            .find(|p| p.ion.as_deref() == Some(ion))
            .map_or_else(|| ion.to_string(), |p| p.name.clone())
    };
    let mut out = Vec::new();
    for m in store::outbox(conn, None, None)? {
        let state = match m.state.as_str() {
            "denied" | "warned" => m.state.clone(),
            "pending" if m.last_error.is_some() => "failing".into(),
            _ => continue,
        };
        out.push(Problem {
            partner: m.partner,
            direction: "outgoing",
            seq: m.seq,
            kind: m.kind,
            reference: m.reference,
            reason: m.remark.or(m.last_error).unwrap_or_default(),
            state,
        });
    }
    for m in store::inbox(conn, None)? {
        if !matches!(m.state.as_str(), "denied" | "warned") {
            continue;
        }
        out.push(Problem {
            partner: name_of(&m.sender),
            direction: "incoming",
            seq: m.seq,
            kind: m.kind,
            reference: m.reference,
            state: m.state,
            reason: m.remark.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The requests a partner (by the ION its account is bound to) holds with us, for its
/// reconciliation.
pub fn linked_requests(store: &Store, user: &str) -> Result<Vec<message::LinkedRequest>, AppError> {
    let conn = store.connection();
    let Some(ion) = store::account_ion(conn, user)? else {
        return Ok(Vec::new());
    };
    let Some(p) = store::partner_of_ion(conn, &ion)? else {
        return Ok(Vec::new());
    };
    Ok(store::requests_with(conn, &p.name)?
        .into_iter()
        .map(|(id, reference, state)| message::LinkedRequest {
            reference,
            id,
            state,
        })
        .collect())
}

/// The partner a request for `donor` goes to, if the donor is a partner's.
pub fn partner_of_donor(store: &Store, donor: &str) -> Result<Option<Partner>, AppError> {
    outbox::partner_of_donor(store.connection(), donor)
}
