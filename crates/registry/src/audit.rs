//! The audit trail: append-only, hash-chained entries (each carries the hash of the one
//! before, and its own hash over its content and that link), so a changed or deleted row
//! is found by [`Store::verify_audit`]. Triggers refuse updates and deletes through
//! SQL; the chain catches what gets past them (a file edited by other means).

use crate::db::{params, AuditNote, OptionalExtension};
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

/// Append an entry to the chain inside the transaction under way on `conn` (the security
/// database's), chained to the last one.
fn append_in(
    conn: &crate::db::Connection,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<i64, StoreError> {
    let last: Option<(i64, String)> = conn
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
    let hash = entry_hash(&prev, seq, at, actor, action, subject, detail);
    conn.execute(
        "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at, actor, action, subject, detail, prev, hash],
    )?;
    Ok(seq)
}

fn stamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

fn now_stamp() -> String {
    stamp(chrono::Local::now().naive_local())
}

/// The audit writer of a registry connection: the entry goes to `audit_pending`, in the
/// change's own transaction; [`absorb`] later takes it into the chain.
pub fn pending_writer(conn: &crate::db::Connection, n: &AuditNote) -> crate::db::Result<()> {
    conn.execute(
        "INSERT INTO audit_pending (at, actor, action, subject, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_stamp(), n.actor, n.action, n.subject, n.detail],
    )?;
    Ok(())
}

/// The audit writer of the security connection: the entry joins the chain in the
/// change's own transaction (accounts and the chain live in one database).
pub fn chain_writer(conn: &crate::db::Connection, n: &AuditNote) -> crate::db::Result<()> {
    append_in(
        conn,
        &now_stamp(),
        &n.actor,
        &n.action,
        &n.subject,
        &n.detail,
    )
    .map_err(|e| match e {
        StoreError::Db(d) => d,
        other => crate::db::DbError::Usage(other.to_string()),
    })?;
    Ok(())
}

/// Who the command line is: `cli:NAME`, NAME the operating-system user.
pub fn cli_actor() -> String {
    let name = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            // no login variables (a service manager, a container): the uid's name
            use std::os::unix::fs::MetadataExt;
            let uid = std::fs::metadata("/proc/self").ok()?.uid();
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            passwd.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    format!("cli:{name}")
}

static DEFAULT_ACTOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Who this process's writes are recorded as when no use case names itself (set once,
/// at start: the command line's `cli:NAME`, the service's `system`).
pub fn set_default_actor(actor: &str) {
    let _ = DEFAULT_ACTOR.set(actor.to_string());
}

pub fn default_actor() -> String {
    DEFAULT_ACTOR.get().cloned().unwrap_or_else(cli_actor)
}

/// Take the registry's pending entries into the chain, in order, once each: the number
/// taken. Safe to run from several processes at once (the security database's writer
/// lock orders them, and `audit_absorbed` remembers the last entry taken).
pub fn absorb(registry: &Store, security: &mut Store) -> Result<u64, StoreError> {
    const SOURCE: &str = "registry";
    // cheap when there is nothing to take
    let newest: Option<i64> =
        registry
            .conn()
            .query_row("SELECT max(seq) FROM audit_pending", [], |r| r.get(0))?;
    let Some(newest) = newest else { return Ok(0) };
    let taken_before = |c: &crate::db::Connection| -> Result<i64, StoreError> {
        Ok(c.query_row(
            "SELECT upto FROM audit_absorbed WHERE source = ?1",
            [SOURCE],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0))
    };
    if taken_before(security.conn())? >= newest {
        return Ok(0);
    }
    let tx = security.conn_mut().unaudited_transaction()?;
    let upto = taken_before(&tx)?;
    let mut stmt = registry.conn().prepare(
        "SELECT seq, at, actor, action, subject, detail FROM audit_pending
         WHERE seq > ?1 ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([upto], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok(0);
    };
    for (_, at, actor, action, subject, detail) in &rows {
        append_in(&tx, at, actor, action, subject, detail)?;
    }
    tx.execute(
        "INSERT INTO audit_absorbed (source, upto) VALUES (?1, ?2)
         ON CONFLICT (source) DO UPDATE SET upto = excluded.upto",
        params![SOURCE, last],
    )?;
    tx.commit()?;
    // the entries taken leave the registry (the newest stays: a key is never reused)
    registry.conn().execute(
        "DELETE FROM audit_pending WHERE seq <= ?1
            AND seq < (SELECT max(seq) FROM audit_pending)",
        [last],
    )?;
    Ok(rows.len() as u64)
}

/// Entries of the registry not yet taken into the chain.
pub fn pending(registry: &Store, security: &Store) -> Result<u64, StoreError> {
    let upto: i64 = security
        .conn()
        .query_row(
            "SELECT upto FROM audit_absorbed WHERE source = 'registry'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let n: i64 = registry.conn().query_row(
        "SELECT count(*) FROM audit_pending WHERE seq > ?1",
        [upto],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

impl Store {
    /// Run `f` as the use case `note` names: every write transaction it commits on this
    /// store carries that audit entry, in the same transaction.
    pub fn audited<T>(&mut self, note: AuditNote, f: impl FnOnce(&mut Store) -> T) -> T {
        self.conn().audit_scope(note);
        // the scope ends however `f` ends (a panic included)
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        self.conn().end_audit_scope();
        out.unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Append an entry (in its own transaction, chained to the last one): for what is
    /// not a change of the registry (a search, an identity read, a login).
    pub fn audit(
        &mut self,
        at: NaiveDateTime,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        let tx = self.conn_mut().unaudited_transaction()?;
        let seq = append_in(&tx, &stamp(at), actor, action, subject, detail)?;
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
