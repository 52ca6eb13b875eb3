//! The audit trail: append-only, hash-chained entries (each carries the hash of the one
//! before, and its own hash over its content and that link), so a changed or deleted row
//! is found by [`Store::verify_audit`]. Triggers refuse updates and deletes through
//! SQL; the chain catches what gets past them (a file edited by other means).

use crate::db::{params, OptionalExtension, TransactionBehavior};
use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    /// Who: a user name, or `-` for an unknown one (a failed login names what was tried).
    pub actor: String,
    /// What: `login`, `login-failed`, `search`, `identity-read`, `status-change`, `import`...
    pub action: String,
    /// On what: a donor id, a search name, a file...
    pub subject: String,
    /// The details (a search's request and hit count, a status...), as JSON text.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// ISO 8601 timestamps, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
    /// The newest entries first (with `limit`: the latest ones).
    pub newest_first: bool,
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq}: {reason}")]
pub struct AuditBreak {
    pub seq: i64,
    pub reason: String,
}

fn entry_hash(
    prev: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [prev, &seq.to_string(), at, actor, action, subject, detail] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn entry_of(r: &crate::db::Row<'_>) -> crate::db::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        detail: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

impl Store {
    /// Append an entry (in its own transaction, chained to the last one).
    pub fn audit(
        &mut self,
        at: NaiveDateTime,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (seq, prev) = match last {
            Some((s, h)) => (s + 1, h),
            None => (1, GENESIS.to_string()),
        };
        let at = at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
        let hash = entry_hash(&prev, seq, &at, actor, action, subject, detail);
        tx.execute(
            "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![seq, at, actor, action, subject, detail, prev, hash],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// Entries, oldest first (or newest first), filtered.
    pub fn audit_entries(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut sql = "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit
             WHERE (CAST(?1 AS TEXT) IS NULL OR actor = ?1) AND (CAST(?2 AS TEXT) IS NULL OR action = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR at >= ?3) AND (CAST(?4 AS TEXT) IS NULL OR at <= ?4)
             ORDER BY seq"
            .to_string();
        if f.newest_first {
            sql.push_str(" DESC");
        }
        if let Some(n) = f.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(params![f.actor, f.action, f.from, f.to], entry_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Check the whole chain: the number of entries, or the first bad one (a changed row,
    /// a deleted one, a broken link).
    pub fn verify_audit(&self) -> Result<Result<u64, AuditBreak>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let (mut expected_seq, mut prev) = (1i64, GENESIS.to_string());
        let mut n = 0u64;
        while let Some(r) = rows.next()? {
            let e = entry_of(&r)?;
            if e.seq != expected_seq {
                return Ok(Err(AuditBreak {
                    seq: expected_seq,
                    reason: format!("missing (the next entry is {}): deleted", e.seq),
                }));
            }
            if e.prev_hash != prev {
                return Ok(Err(AuditBreak {
                    seq: e.seq,
                    reason: "does not link to the entry before it".into(),
                }));
            }
            let h = entry_hash(
                &e.prev_hash,
                e.seq,
                &e.at,
                &e.actor,
                &e.action,
                &e.subject,
                &e.detail,
            );
            if h != e.hash {
                return Ok(Err(AuditBreak {
                    seq: e.seq,
                    reason: "its content does not match its hash: changed".into(),
                }));
            }
            prev = e.hash;
            expected_seq += 1;
            n += 1;
        }
        Ok(Ok(n))
    }
}
