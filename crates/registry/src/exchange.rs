//! Exchange with foreign registries, stored: this registry's ION, the partners it
//! exchanges with, the durable outbox (written in the transaction of the change that
//! caused a message), the inbox (a message is stored before it is acknowledged and
//! applied once, in sequence order) and the link of a request to the registry on the
//! other side. The protocol and the rules are the application layer's.

use crate::db::{params, Connection, OptionalExtension, Row, Transaction};
use chrono::NaiveDateTime;

use crate::store::{Store, StoreError};

fn ts(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

/// A registry this one exchanges with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub name: String,
    /// Base URL of its `medulla serve` (`http://host:port`).
    pub url: String,
    /// The API key it issued to us (a secret: never printed, never logged).
    pub api_key: String,
    /// Its ION, once learned from it.
    pub ion: Option<String>,
    pub added_at: String,
}

/// Where an outgoing message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// Not yet acknowledged: delivered (again) by the worker.
    Pending,
    /// Acknowledged: processed.
    Acked,
    /// Processed, with a remark.
    Warned,
    /// Not processed, with the reason.
    Denied,
}

impl OutState {
    pub fn code(self) -> &'static str {
        match self {
            OutState::Pending => "pending",
            OutState::Acked => "acked",
            OutState::Warned => "warned",
            OutState::Denied => "denied",
        }
    }
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub id: String,
    pub partner: String,
    pub seq: i64,
    pub kind: String,
    pub reference: String,
    pub body: String,
    pub created_at: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub remark: Option<String>,
}

fn row_to_out(r: &Row<'_>) -> crate::db::Result<OutMessage> {
    Ok(OutMessage {
        id: r.get("id")?,
        partner: r.get("partner")?,
        seq: r.get("seq")?,
        kind: r.get("kind")?,
        reference: r.get("reference")?,
        body: r.get("body")?,
        created_at: r.get("created_at")?,
        state: r.get("state")?,
        attempts: r.get("attempts")?,
        last_error: r.get("last_error")?,
        remark: r.get("remark")?,
    })
}

/// A message in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InMessage {
    pub id: String,
    /// The sender's ION.
    pub sender: String,
    pub seq: i64,
    pub kind: String,
    pub reference: String,
    pub body: String,
    /// `held` (stored, waiting for its turn), `applied`, `warned`, `denied`.
    pub state: String,
    pub remark: Option<String>,
    /// How many times it arrived (more than once: a duplicate, acknowledged again).
    pub deliveries: i64,
}

fn row_to_in(r: &Row<'_>) -> crate::db::Result<InMessage> {
    Ok(InMessage {
        id: r.get("id")?,
        sender: r.get("sender")?,
        seq: r.get("seq")?,
        kind: r.get("kind")?,
        reference: r.get("reference")?,
        body: r.get("body")?,
        state: r.get("state")?,
        remark: r.get("remark")?,
        deliveries: r.get("deliveries")?,
    })
}

/// How a request is tied to the registry on the other side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLink {
    /// The ION of the registry that opened the request (`None`: this one).
    pub origin: Option<String>,
    /// The partner on the other side (the donor's registry, or the requester's).
    pub partner: Option<String>,
    /// The reference both sides know the request by (`ION-REQUESTID` of the opener).
    pub reference: Option<String>,
}

/// Per-partner figures of the exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerCounts {
    /// Messages not yet acknowledged.
    pub outbox_pending: i64,
    /// Of those, messages sent at least once and not acknowledged.
    pub unacknowledged: i64,
    /// Messages the partner denied, and messages from it we denied.
    pub denied: i64,
    pub last_sent_seq: i64,
    pub last_received_seq: i64,
    /// Messages that arrived more than once.
    pub duplicates: i64,
}

/// A setting of this registry (`ion`...).
pub fn setting(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Every partner, by name.
pub fn partners(conn: &Connection) -> Result<Vec<Partner>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, url, api_key, ion, added_at FROM exchange_partners ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Partner {
            name: r.get(0)?,
            url: r.get(1)?,
            api_key: r.get(2)?,
            ion: r.get(3)?,
            added_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The partner whose ION this is.
pub fn partner_of_ion(conn: &Connection, ion: &str) -> Result<Option<Partner>, StoreError> {
    Ok(partners(conn)?
        .into_iter()
        .find(|p| p.ion.as_deref() == Some(ion)))
}

/// Register a partner, or change its URL and key.
pub fn put_partner(
    conn: &Connection,
    name: &str,
    url: &str,
    api_key: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO exchange_partners (name, url, api_key, added_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET url = excluded.url, api_key = excluded.api_key",
        params![name, url, api_key, ts(at)],
    )?;
    Ok(())
}

/// Record the ION a partner said it has. A partner known so far only by the messages it
/// sent (registered by [`partner_for_sender`], no URL) is merged into this one: its
/// requests and the messages waiting for it move over.
pub fn set_partner_ion(conn: &Connection, name: &str, ion: &str) -> Result<(), StoreError> {
    let taken: Option<(String, String)> = conn
        .query_row(
            "SELECT name, url FROM exchange_partners WHERE ion = ?1 AND name <> ?2",
            params![ion, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((other, url)) = taken {
        let waiting: i64 = conn.query_row(
            "SELECT COUNT(*) FROM exchange_outbox WHERE partner = ?1",
            [name],
            |r| r.get(0),
        )?;
        if !url.is_empty() || waiting > 0 {
            return Err(StoreError::Conflict(format!(
                "partner {name} says its ION is {ion}, which partner {other} already has"
            )));
        }
        conn.execute(
            "UPDATE exchange_outbox SET partner = ?2 WHERE partner = ?1",
            params![other, name],
        )?;
        conn.execute(
            "UPDATE requests SET partner = ?2 WHERE partner = ?1",
            params![other, name],
        )?;
        conn.execute("DELETE FROM exchange_partners WHERE name = ?1", [&other])?;
    }
    conn.execute(
        "UPDATE exchange_partners SET ion = ?2 WHERE name = ?1",
        params![name, ion],
    )?;
    Ok(())
}

/// The partner a message from `ion` comes from. A registry that sends before it is
/// registered here (no `medulla partners add` yet) is registered by what it sent: the
/// name of its account, its ION, no URL; what we send it waits in the outbox until it is
/// registered with its URL and key (under that name, or any name with its ION).
pub fn partner_for_sender(
    conn: &Connection,
    account: &str,
    ion: &str,
    at: NaiveDateTime,
) -> Result<Partner, StoreError> {
    if let Some(p) = partner_of_ion(conn, ion)? {
        return Ok(p);
    }
    let valid = !account.is_empty()
        && account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let existing = partners(conn)?.into_iter().find(|p| p.name == account);
    let name = match existing {
        // registered under the account's name, its ION not learned yet
        Some(p) if valid && p.ion.is_none() => {
            set_partner_ion(conn, &p.name, ion)?;
            return Ok(Partner {
                ion: Some(ion.to_string()),
                ..p
            });
        }
        None if valid => account.to_string(),
        _ => format!("ion-{ion}"),
    };
    conn.execute(
        "INSERT INTO exchange_partners (name, url, api_key, ion, added_at)
         VALUES (?1, '', '', ?2, ?3)",
        params![name, ion, ts(at)],
    )?;
    partner_of_ion(conn, ion)?
        .ok_or_else(|| StoreError::NotFound(format!("partner with ION {ion}")))
}

/// The ION an inbound partner account is bound to (by an administrator, when the account
/// is made or with `medulla users bind-ion`; accounts made before that bound at their
/// first message).
pub fn account_ion(conn: &Connection, user: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT ion FROM exchange_accounts WHERE user_name = ?1",
            [user],
            |r| r.get(0),
        )
        .optional()?)
}

/// The account bound to an ION, if any.
pub fn account_of_ion(conn: &Connection, ion: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT user_name FROM exchange_accounts WHERE ion = ?1",
            [ion],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every binding of a partner account to its ION: (account, ION), by account.
pub fn bound_accounts(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT user_name, ion FROM exchange_accounts ORDER BY user_name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Remove an account's binding (an account whose making failed after it was bound).
pub fn unbind_account(conn: &Connection, user: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM exchange_accounts WHERE user_name = ?1", [user])?;
    Ok(())
}

/// Bind a partner account to its ION (one account an ION, one ION an account).
pub fn bind_account(conn: &Connection, user: &str, ion: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO exchange_accounts (user_name, ion) VALUES (?1, ?2)",
        params![user, ion],
    )
    .map_err(|e| {
        if e.is_constraint() {
            StoreError::Conflict(format!(
                "ION {ion} is already bound to another account, or account {user} to another ION"
            ))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Put a message in a partner's outbox, in the caller's transaction: its sequence number
/// is the partner's next one.
pub fn enqueue(
    tx: &Transaction<'_>,
    id: &str,
    partner: &str,
    kind: &str,
    reference: &str,
    body: &str,
    at: NaiveDateTime,
) -> Result<i64, StoreError> {
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM exchange_outbox WHERE partner = ?1",
        [partner],
        |r| r.get(0),
    )?;
    tx.prepare_cached(
        "INSERT INTO exchange_outbox (id, partner, seq, kind, reference, body, created_at,
            state, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?7)",
    )?
    .execute(params![id, partner, seq, kind, reference, body, ts(at)])?;
    Ok(seq)
}

/// A partner's messages due for delivery, in sequence order.
pub fn due(
    conn: &Connection,
    partner: &str,
    now: NaiveDateTime,
    limit: usize,
) -> Result<Vec<OutMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM exchange_outbox WHERE partner = ?1 AND state = 'pending'
         ORDER BY seq LIMIT ?2",
    )?;
    let first: Vec<OutMessage> = stmt
        .query_map(params![partner, limit as i64], row_to_out)?
        .collect::<Result<_, _>>()?;
    // the backoff is the oldest message's: later ones wait for it
    let waiting: Option<String> = conn
        .query_row(
            "SELECT next_attempt_at FROM exchange_outbox WHERE partner = ?1 AND state = 'pending'
             ORDER BY seq LIMIT 1",
            [partner],
            |r| r.get(0),
        )
        .optional()?;
    match waiting {
        Some(at) if at > ts(now) => Ok(Vec::new()),
        _ => Ok(first),
    }
}

/// Outbox messages of a partner (all, or one state), in sequence order.
pub fn outbox(
    conn: &Connection,
    partner: Option<&str>,
    state: Option<OutState>,
) -> Result<Vec<OutMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM exchange_outbox WHERE (CAST(?1 AS TEXT) IS NULL OR partner = ?1)
            AND (CAST(?2 AS TEXT) IS NULL OR state = ?2) ORDER BY partner, seq",
    )?;
    let rows = stmt.query_map(params![partner, state.map(OutState::code)], row_to_out)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Record a partner's answer to a message.
pub fn answered(
    conn: &Connection,
    id: &str,
    state: OutState,
    remark: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE exchange_outbox SET state = ?2, remark = ?3, answered_at = ?4, last_error = NULL
         WHERE id = ?1",
    )?
    .execute(params![id, state.code(), remark, ts(at)])?;
    Ok(())
}

/// Record a delivery attempt of messages (`error`: why it failed) and when the next one
/// is due.
pub fn attempted(
    conn: &Connection,
    ids: &[String],
    error: Option<&str>,
    at: NaiveDateTime,
    next: NaiveDateTime,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE exchange_outbox SET attempts = attempts + 1, sent_at = ?2, last_error = ?3,
            next_attempt_at = ?4 WHERE id = ?1",
    )?;
    for id in ids {
        stmt.execute(params![id, ts(at), error, ts(next)])?;
    }
    Ok(())
}

/// Put a range of a partner's messages back for delivery (the partner says it lacks
/// them). Returns how many.
pub fn requeue(
    conn: &Connection,
    partner: &str,
    from: i64,
    to: i64,
    at: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE exchange_outbox SET state = 'pending', next_attempt_at = ?4
         WHERE partner = ?1 AND seq BETWEEN ?2 AND ?3 AND state IN ('acked', 'warned')",
        params![partner, from, to, ts(at)],
    )?)
}

/// An inbox message by its sender and id (ids are the sender's own: the same id from
/// two senders is two messages).
pub fn inbox_message(
    conn: &Connection,
    sender: &str,
    id: &str,
) -> Result<Option<InMessage>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT * FROM exchange_inbox WHERE sender = ?1 AND id = ?2")?;
    Ok(stmt.query_row(params![sender, id], row_to_in).optional()?)
}

/// The inbox message a sender numbered `seq`.
pub fn inbox_at(
    conn: &Connection,
    sender: &str,
    seq: i64,
) -> Result<Option<InMessage>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT * FROM exchange_inbox WHERE sender = ?1 AND seq = ?2")?;
    Ok(stmt.query_row(params![sender, seq], row_to_in).optional()?)
}

/// Inbox messages (all, or of one state), oldest first.
pub fn inbox(conn: &Connection, state: Option<&str>) -> Result<Vec<InMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM exchange_inbox WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) ORDER BY sender, seq",
    )?;
    let rows = stmt.query_map(params![state], row_to_in)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Store a message that arrived, `held` until it is applied.
#[allow(clippy::too_many_arguments)]
pub fn store_incoming(
    conn: &Connection,
    id: &str,
    sender: &str,
    seq: i64,
    kind: &str,
    reference: &str,
    body: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO exchange_inbox (id, sender, seq, kind, reference, body, received_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'held')",
    )?
    .execute(params![id, sender, seq, kind, reference, body, ts(at)])?;
    Ok(())
}

/// A message arrived again.
pub fn delivered_again(conn: &Connection, sender: &str, id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE exchange_inbox SET deliveries = deliveries + 1 WHERE sender = ?1 AND id = ?2",
        params![sender, id],
    )?;
    Ok(())
}

/// Mark an inbox message processed (`applied`, `warned`, `denied`) and move its sender's
/// sequence on, in the transaction that applied it.
pub fn processed(
    tx: &Transaction<'_>,
    m: &InMessage,
    state: &str,
    remark: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE exchange_inbox SET state = ?2, remark = ?3, applied_at = ?4
         WHERE id = ?1 AND sender = ?5",
        params![m.id, state, remark, ts(at), m.sender],
    )?;
    tx.execute(
        "INSERT INTO exchange_inbound (sender, last_applied) VALUES (?1, ?2)
         ON CONFLICT (sender) DO UPDATE SET last_applied = excluded.last_applied",
        params![m.sender, m.seq],
    )?;
    Ok(())
}

/// The last sequence number applied from a sender (0: none).
pub fn last_applied(conn: &Connection, sender: &str) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT last_applied FROM exchange_inbound WHERE sender = ?1",
            [sender],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// The lowest held sequence number from a sender above `after`.
pub fn first_held_after(
    conn: &Connection,
    sender: &str,
    after: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(conn.query_row(
        "SELECT MIN(seq) FROM exchange_inbox WHERE sender = ?1 AND seq > ?2 AND state = 'held'",
        params![sender, after],
        |r| r.get(0),
    )?)
}

/// Store (or update) a partner's patient, as its registration message describes them
/// (search facts; no identity is ever sent).
pub fn put_foreign_patient(
    tx: &Transaction<'_>,
    ion: &str,
    patient: &str,
    facts: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO exchange_patients (ion, patient_id, facts, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (ion, patient_id) DO UPDATE SET facts = excluded.facts,
            updated_at = excluded.updated_at",
        params![ion, patient, facts, ts(at)],
    )?;
    Ok(())
}

/// A partner's patient as last described.
pub fn foreign_patient(
    conn: &Connection,
    ion: &str,
    patient: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT facts FROM exchange_patients WHERE ion = ?1 AND patient_id = ?2",
            params![ion, patient],
            |r| r.get(0),
        )
        .optional()?)
}

/// Tie a request to the registry on the other side.
pub fn link_request(tx: &Transaction<'_>, id: &str, link: &RequestLink) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE requests SET origin = ?2, partner = ?3, reference = ?4 WHERE id = ?1",
        params![id, link.origin, link.partner, link.reference],
    )?;
    Ok(())
}

/// How a request is tied to another registry (all `None`: a request of this registry
/// alone).
pub fn request_link(conn: &Connection, id: &str) -> Result<RequestLink, StoreError> {
    Ok(conn
        .query_row(
            "SELECT origin, partner, reference FROM requests WHERE id = ?1",
            [id],
            |r| {
                Ok(RequestLink {
                    origin: r.get(0)?,
                    partner: r.get(1)?,
                    reference: r.get(2)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// The request both sides know by `reference`.
pub fn request_of_reference(
    conn: &Connection,
    reference: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM requests WHERE reference = ?1",
            [reference],
            |r| r.get(0),
        )
        .optional()?)
}

/// The requests tied to a partner: (id, reference, state code).
pub fn requests_with(
    conn: &Connection,
    partner: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, reference, state FROM requests WHERE partner = ?1 AND reference IS NOT NULL
         ORDER BY seq",
    )?;
    let rows = stmt.query_map([partner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many requests of `kind` (a type code: `reservation`...) the registry with ION
/// `origin` opened here that are still open (open, acknowledged or partially resulted).
pub fn open_requests_from(conn: &Connection, origin: &str, kind: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM requests WHERE origin = ?1 AND kind = ?2
            AND state IN ('open', 'acknowledged', 'partially-resulted')",
        params![origin, kind],
        |r| r.get(0),
    )?)
}

/// The donors that open reservations and workups received from `origin` hold here
/// (each donor once: a workup following the same partner's reservation holds no more).
pub fn donors_held_by(conn: &Connection, origin: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT donor_id FROM requests WHERE origin = ?1
            AND kind IN ('reservation', 'workup')
            AND state IN ('open', 'acknowledged', 'partially-resulted')
         ORDER BY donor_id",
    )?;
    let rows = stmt.query_map([origin], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The requests this registry opened with `partner` for the partner's donor `grid`.
pub fn outgoing_for_donor(
    conn: &Connection,
    grid: &str,
    partner: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM requests WHERE donor_id = ?1 AND partner = ?2 AND origin IS NULL",
    )?;
    let rows = stmt.query_map([grid, partner], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The partners holding requests or their results for this registry's donor `id`
/// (whose GRID is `grid`: requests received before donor references were resolved to
/// the id name the GRID) (open or resulted requests; not those cancelled, rejected or
/// expired).
pub fn partners_holding(
    conn: &Connection,
    id: &str,
    grid: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT partner FROM requests WHERE donor_id IN (?1, ?2)
            AND origin IS NOT NULL
            AND state IN ('open', 'acknowledged', 'partially-resulted', 'resulted')
         ORDER BY partner",
    )?;
    let rows = stmt.query_map([id, grid], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Per-partner figures.
pub fn counts(conn: &Connection, partner: &Partner) -> Result<PartnerCounts, StoreError> {
    let (pending, unacked, denied_out, last_sent): (i64, i64, i64, i64) = conn.query_row(
        "SELECT
            COUNT(CASE WHEN state = 'pending' THEN 1 END),
            COUNT(CASE WHEN state = 'pending' AND attempts > 0 THEN 1 END),
            COUNT(CASE WHEN state = 'denied' THEN 1 END),
            COALESCE(MAX(CASE WHEN attempts > 0 OR state <> 'pending' THEN seq END), 0)
         FROM exchange_outbox WHERE partner = ?1",
        [&partner.name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let (denied_in, duplicates, last_received) = match &partner.ion {
        Some(ion) => {
            let (d, dup): (i64, i64) = conn.query_row(
                "SELECT COUNT(CASE WHEN state = 'denied' THEN 1 END),
                    CAST(COALESCE(SUM(deliveries - 1), 0) AS BIGINT)
                 FROM exchange_inbox WHERE sender = ?1",
                [ion],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            (d, dup, last_applied(conn, ion)?)
        }
        None => (0, 0, 0),
    };
    Ok(PartnerCounts {
        outbox_pending: pending,
        unacknowledged: unacked,
        denied: denied_out + denied_in,
        last_sent_seq: last_sent,
        last_received_seq: last_received,
        duplicates,
    })
}

impl Store {
    /// This registry's ION, once `medulla serve --ion` has set it.
    pub fn ion(&self) -> Result<Option<String>, StoreError> {
        setting(self.conn(), "ion")
    }
}
