//! The audit trail: append-only, hash-chained entries (each carries the hash of the one
//! before, and its own hash over its content and that link), so a changed or deleted row
//! is found by [`Store::verify_audit`]. Triggers refuse updates and deletes through
//! SQL; the chain catches what gets past them (a file edited by other means).
//!
//! The chain is keyed: with an [`AuditKey`] (kept outside the database), an entry's hash
//! is an HMAC-SHA256, which nobody without the key can recompute after an edit. Entries
//! written before keys existed, or by a process without one (development), are plain
//! SHA-256 (`sha256`); each entry records its [`Scheme`], and once an entry is keyed,
//! every later one must be. An [`Anchor`] (the head's sequence and hash, kept outside
//! the database) lets [`Store::verify_audit_with`] find a cut tail or an emptied table.

use std::sync::{Arc, RwLock};

use crate::db::{params, AuditNote, OptionalExtension};
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The secret key of the audit chain: 256 bits, kept outside the database (a file or
/// an environment variable). Never printed: `Debug` shows no byte of it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// Why a text is not an audit key (never quoting the text: it may be a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an audit key is 64 hexadecimal digits (256 bits); this one has {0} characters")]
    Length(usize),
    #[error("an audit key is 64 hexadecimal digits (256 bits); this one has other characters")]
    NotHex,
}

impl AuditKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AuditKey(bytes)
    }

    /// A key as its file holds it: 64 hexadecimal digits, surrounding white space ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let t = text.trim();
        if t.len() != 64 {
            return Err(KeyError::Length(t.chars().count()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in t.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).ok_or(KeyError::NotHex);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Ok(AuditKey(out))
    }

    /// The key as its file holds it (64 lowercase hexadecimal digits).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self) -> Option<Hmac<Sha256>> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).ok()
    }
}

/// How an entry's hash was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain SHA-256: anyone can recompute it (entries before keys, or without one).
    Sha256,
    /// HMAC-SHA256 with the chain's [`AuditKey`].
    HmacSha256,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sha256 => "sha256",
            Scheme::HmacSha256 => "hmac-sha256",
        }
    }

    pub fn parse(s: &str) -> Option<Scheme> {
        match s {
            "sha256" => Some(Scheme::Sha256),
            "hmac-sha256" => Some(Scheme::HmacSha256),
            _ => None,
        }
    }
}

static PROCESS_KEY: RwLock<Option<Arc<AuditKey>>> = RwLock::new(None);

/// The key every security store this process opens starts with (set at start from the
/// configuration; `None`: an unkeyed chain, for development).
pub fn set_process_key(key: Option<AuditKey>) {
    let mut k = PROCESS_KEY.write().unwrap_or_else(|p| p.into_inner());
    *k = key.map(Arc::new);
}

/// The process's audit key, if one is configured.
pub fn process_key() -> Option<Arc<AuditKey>> {
    PROCESS_KEY
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

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
    /// How `hash` was made: `sha256` or `hmac-sha256` ([`Scheme`]).
    pub scheme: String,
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

/// An entry's hash by `scheme` (`None`: keyed, and no key to make it with).
#[allow(clippy::too_many_arguments)]
pub(crate) fn entry_hash(
    scheme: Scheme,
    key: Option<&AuditKey>,
    prev: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Option<String> {
    let seq = seq.to_string();
    let parts = [prev, seq.as_str(), at, actor, action, subject, detail];
    let bytes: Vec<u8> = match scheme {
        Scheme::Sha256 => {
            let mut h = Sha256::new();
            for part in parts {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
            h.finalize().to_vec()
        }
        Scheme::HmacSha256 => {
            let mut m = key?.mac()?;
            for part in parts {
                m.update(&(part.len() as u64).to_le_bytes());
                m.update(part.as_bytes());
            }
            m.finalize().into_bytes().to_vec()
        }
    };
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
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
        scheme: r.get(8)?,
    })
}

/// The newest entry of the chain: its sequence, hash and scheme.
fn head_of(conn: &crate::db::Connection) -> Result<Option<(i64, String, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash, scheme FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// Append an entry to the chain inside the transaction under way on `conn` (the security
/// database's), chained to the last one: keyed when `conn` has the chain's key. A keyed
/// chain is never continued without its key.
fn append_in(
    conn: &crate::db::Connection,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<i64, StoreError> {
    let key = conn.chain_key();
    let last = head_of(conn)?;
    if key.is_none()
        && last
            .as_ref()
            .is_some_and(|l| l.2 != Scheme::Sha256.as_str())
    {
        return Err(StoreError::AuditKeyNeeded);
    }
    let (seq, prev) = match last {
        Some((s, h, _)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let scheme = if key.is_some() {
        Scheme::HmacSha256
    } else {
        Scheme::Sha256
    };
    let hash = entry_hash(
        scheme,
        key.as_deref(),
        &prev,
        seq,
        at,
        actor,
        action,
        subject,
        detail,
    )
    .ok_or(StoreError::AuditKeyNeeded)?;
    conn.execute(
        "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash, scheme)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            seq,
            at,
            actor,
            action,
            subject,
            detail,
            prev,
            hash,
            scheme.as_str()
        ],
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
///
/// Pending entries deleted before they were taken leave a hole in the registry's
/// numbering (or, when the newest were deleted too, a numbering that went back): the
/// hole is recorded in the chain as an `audit-gap` entry before the entries after it.
/// Without the key of a keyed chain nothing is taken: the entries wait for a process
/// that has it.
pub fn absorb(registry: &Store, security: &mut Store) -> Result<u64, StoreError> {
    const SOURCE: &str = "registry";
    let newest = |r: &Store| -> Result<i64, StoreError> {
        Ok(r.conn()
            .query_row("SELECT max(seq) FROM audit_pending", [], |row| {
                row.get::<_, Option<i64>>(0)
            })?
            .unwrap_or(0))
    };
    let taken_before = |c: &crate::db::Connection| -> Result<i64, StoreError> {
        Ok(c.query_row(
            "SELECT upto FROM audit_absorbed WHERE source = ?1",
            [SOURCE],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0))
    };
    // cheap when there is nothing to take (the newest taken entry always stays pending)
    if taken_before(security.conn())? == newest(registry)? {
        return Ok(0);
    }
    if security.conn().chain_key().is_none()
        && head_of(security.conn())?.is_some_and(|h| h.2 != Scheme::Sha256.as_str())
    {
        return Ok(0);
    }
    let tx = security.conn_mut().unaudited_transaction()?;
    let upto = taken_before(&tx)?;
    let newest = newest(registry)?;
    if newest == upto {
        return Ok(0);
    }
    // the registry's numbering went back (its newest entries, the last one taken
    // included, deleted; or the registry restored from an older backup): everything
    // pending is taken, after an entry saying so
    let renumbered = newest < upto;
    let mut stmt = registry.conn().prepare(
        "SELECT seq, at, actor, action, subject, detail FROM audit_pending
         WHERE seq > ?1 ORDER BY seq",
    )?;
    let from = if renumbered { 0 } else { upto };
    let rows = stmt
        .query_map([from], |r| {
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
    let now = now_stamp();
    let gap = |tx: &crate::db::Connection, detail: serde_json::Value| {
        append_in(
            tx,
            &now,
            "system",
            "audit-gap",
            "audit_pending",
            &detail.to_string(),
        )
    };
    let mut written = 0u64;
    if renumbered {
        gap(
            &tx,
            serde_json::json!({
                "reason": "the registry's pending entries go back to before the last one taken: deleted, or the registry restored from an older backup; the entries now pending are taken as they are",
                "last_taken": upto,
                "pending_newest": newest,
            }),
        )?;
        written += 1;
    }
    let mut expected = if renumbered {
        rows.first().map_or(0, |r| r.0)
    } else {
        upto + 1
    };
    for (seq, at, actor, action, subject, detail) in &rows {
        if *seq != expected {
            gap(
                &tx,
                serde_json::json!({
                    "reason": "pending entries missing: deleted before they were taken into the chain (or a transaction that failed at its commit)",
                    "missing_from": expected,
                    "missing_to": seq - 1,
                }),
            )?;
            written += 1;
        }
        append_in(&tx, at, actor, action, subject, detail)?;
        expected = seq + 1;
    }
    let last = rows.last().map_or(0, |r| r.0);
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
    Ok(rows.len() as u64 + written)
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
        let mut sql = "SELECT seq, at, actor, action, subject, detail, prev_hash, hash, scheme FROM audit
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
    /// a deleted one, a broken link). [`Self::verify_audit_with`] says more.
    pub fn verify_audit(&self) -> Result<Result<u64, AuditBreak>, StoreError> {
        Ok(self.verify_audit_with(None)?.map(|v| v.entries))
    }

    /// The newest entry of the chain: its sequence, hash and scheme.
    pub fn audit_head(&self) -> Result<Option<(i64, String, String)>, StoreError> {
        head_of(self.conn())
    }

    /// The hash of entry `seq`, if the chain has it.
    pub fn audit_hash_at(&self, seq: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
            .optional()?)
    }

    /// Check the whole chain with this store's key (and against `anchor`, when given):
    /// what was checked, or the first bad entry. Fails on an entry whose content does not
    /// match its hash (plain SHA-256 or, keyed, the HMAC: a hash recomputed without the
    /// key), a missing or unlinked entry, an unkeyed entry after a keyed one, a keyed
    /// entry when the store has no key, an anchored entry whose hash differs, entries up
    /// to the anchor's gone (a cut tail, an emptied table), and an empty chain that had
    /// taken registry entries in.
    pub fn verify_audit_with(
        &self,
        anchor: Option<&Anchor>,
    ) -> Result<Result<Verified, AuditBreak>, StoreError> {
        let key = self.conn().chain_key();
        let mut stmt = self.conn().prepare(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash, scheme
             FROM audit ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let (mut expected_seq, mut prev) = (1i64, GENESIS.to_string());
        let mut v = Verified::default();
        let brk = |seq: i64, reason: String| Ok(Err(AuditBreak { seq, reason }));
        while let Some(r) = rows.next()? {
            let e = entry_of(&r)?;
            if e.seq != expected_seq {
                return brk(
                    expected_seq,
                    format!(
                        "missing (the next entry is {}): entries {expected_seq}..{} deleted",
                        e.seq,
                        e.seq - 1
                    ),
                );
            }
            if e.prev_hash != prev {
                return brk(e.seq, "does not link to the entry before it".into());
            }
            let Some(scheme) = Scheme::parse(&e.scheme) else {
                return brk(e.seq, format!("unknown hash scheme {:?}", e.scheme));
            };
            match scheme {
                Scheme::HmacSha256 if key.is_none() => {
                    return brk(
                        e.seq,
                        "keyed (HMAC-SHA256), and no audit key is configured: the chain \
                         cannot be checked without its key (--audit-key-file FILE, \
                         MEDULLA_AUDIT_KEY_FILE or MEDULLA_AUDIT_KEY)"
                            .into(),
                    );
                }
                Scheme::Sha256 if v.keyed > 0 => {
                    return brk(
                        e.seq,
                        "unkeyed (plain SHA-256) after keyed entries: rewritten without the \
                         key"
                        .into(),
                    );
                }
                _ => {}
            }
            let h = entry_hash(
                scheme,
                key.as_deref(),
                &e.prev_hash,
                e.seq,
                &e.at,
                &e.actor,
                &e.action,
                &e.subject,
                &e.detail,
            );
            if h.as_deref() != Some(e.hash.as_str()) {
                return brk(
                    e.seq,
                    match scheme {
                        Scheme::Sha256 => "its content does not match its hash: changed".into(),
                        Scheme::HmacSha256 => "its content does not match its HMAC: changed, \
                             or its hash recomputed without the audit key (or the key given \
                             is not this chain's)"
                            .into(),
                    },
                );
            }
            if let Some(a) = anchor.filter(|a| a.seq == e.seq) {
                if a.hash != e.hash {
                    return brk(
                        e.seq,
                        format!(
                            "its hash differs from the anchor's (written {}): the chain was \
                             rewritten up to here",
                            a.at
                        ),
                    );
                }
                v.anchored = Some(a.seq);
            }
            match scheme {
                Scheme::Sha256 => {
                    v.unkeyed += 1;
                    v.unkeyed_range = Some((v.unkeyed_range.map_or(e.seq, |r| r.0), e.seq));
                }
                Scheme::HmacSha256 => v.keyed += 1,
            }
            prev = e.hash.clone();
            v.head = Some((e.seq, e.hash));
            expected_seq += 1;
            v.entries += 1;
        }
        let last = expected_seq - 1;
        if let Some(a) = anchor {
            if a.seq > last && last == 0 {
                return brk(
                    1,
                    format!(
                        "missing: the audit trail is empty, but the anchor (written {}) names \
                         entry {}: entries 1..{} are gone (the table was emptied)",
                        a.at, a.seq, a.seq
                    ),
                );
            }
            if a.seq > last {
                return brk(
                    last + 1,
                    format!(
                        "missing: entries {}..{} are gone: the chain ends at entry {last}, \
                         the anchor (written {}) names entry {} (the tail was cut)",
                        last + 1,
                        a.seq,
                        a.at,
                        a.seq
                    ),
                );
            }
            if a.seq == 0 {
                v.anchored = Some(0);
            }
        }
        if last == 0 {
            let taken: i64 = self
                .conn()
                .query_row(
                    "SELECT coalesce(max(upto), 0) FROM audit_absorbed",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            if taken > 0 {
                return brk(
                    1,
                    format!(
                        "missing: the audit trail is empty, but {taken} registry entries were \
                         taken into it: the table was emptied"
                    ),
                );
            }
        }
        v.keyed_check = key.is_some();
        Ok(Ok(v))
    }
}

/// What [`Store::verify_audit_with`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// Of which keyed (HMAC-SHA256).
    pub keyed: u64,
    /// Of which unkeyed (plain SHA-256: their hashes can be recomputed by anyone).
    pub unkeyed: u64,
    /// The first and last unkeyed entry.
    pub unkeyed_range: Option<(i64, i64)>,
    /// The newest entry: its sequence and hash.
    pub head: Option<(i64, String)>,
    /// The entry the anchor named, found with the anchor's hash.
    pub anchored: Option<i64>,
    /// Whether a key was configured for the check.
    pub keyed_check: bool,
}

/// The format name of an anchor file.
pub const ANCHOR_FORMAT: &str = "medulla-audit-anchor";
/// The version of the anchor format this build writes and reads.
pub const ANCHOR_VERSION: u32 = 1;

/// The head of the chain at a moment, kept outside the database: entries up to `seq`
/// must still be there, the one at `seq` with this hash. Stored as one JSON object:
/// `{"format": "medulla-audit-anchor", "version": 1, "seq", "hash", "scheme", "at"}`
/// (`seq` 0 and the genesis hash: an empty chain).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchor {
    pub format: String,
    pub version: u32,
    pub seq: i64,
    pub hash: String,
    /// The scheme of the entry at `seq` (`sha256`, `hmac-sha256`, or `none` when empty).
    pub scheme: String,
    /// When it was written (UTC, RFC 3339).
    pub at: String,
}

/// Why a text is not an anchor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("not an audit anchor: {0}")]
    NotJson(String),
    #[error("not an audit anchor: its format is {0:?}, not {ANCHOR_FORMAT:?}")]
    Format(String),
    #[error("audit anchor version {0}: this build reads version {ANCHOR_VERSION}")]
    Version(u32),
    #[error("audit anchor: {0}")]
    Field(String),
}

impl Anchor {
    /// The anchor of the chain's head now (`head`: sequence, hash and scheme).
    pub fn of_head(head: Option<(i64, String, String)>, at: &str) -> Anchor {
        let (seq, hash, scheme) = head.unwrap_or((0, GENESIS.to_string(), "none".to_string()));
        Anchor {
            format: ANCHOR_FORMAT.into(),
            version: ANCHOR_VERSION,
            seq,
            hash,
            scheme,
            at: at.to_string(),
        }
    }

    /// The anchor as its file holds it (one JSON object and a newline).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// An anchor file's text, checked.
    pub fn parse(text: &str) -> Result<Anchor, AnchorError> {
        let a: Anchor =
            serde_json::from_str(text).map_err(|e| AnchorError::NotJson(e.to_string()))?;
        if a.format != ANCHOR_FORMAT {
            return Err(AnchorError::Format(a.format));
        }
        if a.version != ANCHOR_VERSION {
            return Err(AnchorError::Version(a.version));
        }
        if a.seq < 0 {
            return Err(AnchorError::Field(format!("seq {} is negative", a.seq)));
        }
        if a.hash.len() != 64 || !a.hash.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(AnchorError::Field(
                "hash is not 64 hexadecimal digits".into(),
            ));
        }
        if a.seq == 0 && a.hash != GENESIS {
            return Err(AnchorError::Field(
                "seq 0 (an empty chain) with a hash other than the genesis hash".into(),
            ));
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> AuditKey {
        AuditKey::from_bytes([b; 32])
    }

    fn at() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_opt(3, 4, 5))
            .unwrap()
    }

    /// A security store with `n` entries, keyed with `k` when given.
    fn chain(k: Option<AuditKey>, n: usize) -> Store {
        let mut s = Store::security_in_memory().unwrap();
        s.set_audit_key(k);
        for i in 0..n {
            s.audit(at(), "alice", "search", &format!("s{i}"), "{}")
                .unwrap();
        }
        s
    }

    /// What an attacker with the database does: the triggers gone.
    fn untrigger(s: &Store) {
        s.conn()
            .execute_batch(
                "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete",
            )
            .unwrap();
    }

    /// Entry `from` edited, and it and every later hash recomputed with plain SHA-256
    /// (the scheme column set to `scheme`).
    fn rewrite_from(s: &Store, from: i64, scheme: &str) {
        untrigger(s);
        let entries = s.audit_entries(&AuditFilter::default()).unwrap();
        let mut prev = entries
            .iter()
            .find(|e| e.seq == from - 1)
            .map_or(GENESIS.to_string(), |e| e.hash.clone());
        for e in entries.iter().filter(|e| e.seq >= from) {
            let subject = if e.seq == from { "forged" } else { &e.subject };
            let h = entry_hash(
                Scheme::Sha256,
                None,
                &prev,
                e.seq,
                &e.at,
                &e.actor,
                &e.action,
                subject,
                &e.detail,
            )
            .unwrap();
            s.conn()
                .execute(
                    "UPDATE audit SET subject = ?1, prev_hash = ?2, hash = ?3, scheme = ?4
                     WHERE seq = ?5",
                    params![subject, prev, h, scheme, e.seq],
                )
                .unwrap();
            prev = h;
        }
    }

    fn anchor_of(s: &Store) -> Anchor {
        Anchor::of_head(s.audit_head().unwrap(), "2026-01-02T03:04:05Z")
    }

    #[test]
    fn a_keyed_chain_verifies_with_its_key_only() {
        let s = chain(Some(key(7)), 5);
        let v = s.verify_audit_with(None).unwrap().unwrap();
        assert_eq!((v.entries, v.keyed, v.unkeyed), (5, 5, 0));
        assert!(s
            .audit_entries(&AuditFilter::default())
            .unwrap()
            .iter()
            .all(|e| e.scheme == "hmac-sha256"));
        s.set_audit_key(Some(key(8)));
        let b = s.verify_audit().unwrap().unwrap_err();
        assert_eq!(b.seq, 1);
        assert!(b.reason.contains("HMAC"), "{b}");
        s.set_audit_key(None);
        let b = s.verify_audit().unwrap().unwrap_err();
        assert_eq!(b.seq, 1);
        assert!(b.reason.contains("no audit key"), "{b}");
    }

    #[test]
    fn a_keyed_chain_is_never_continued_without_its_key() {
        let mut s = chain(Some(key(7)), 2);
        s.set_audit_key(None);
        let e = s.audit(at(), "bob", "login", "", "{}").unwrap_err();
        assert!(matches!(e, StoreError::AuditKeyNeeded), "{e}");
        assert!(!e.to_string().contains(&key(7).to_hex()));
        s.set_audit_key(Some(key(7)));
        assert!(s.verify_audit().unwrap().is_ok());
    }

    #[test]
    fn hashes_recomputed_with_plain_sha256_are_found() {
        // the scheme left as it was: the HMAC no longer matches
        let s = chain(Some(key(7)), 6);
        rewrite_from(&s, 3, "hmac-sha256");
        let b = s.verify_audit().unwrap().unwrap_err();
        assert_eq!(b.seq, 3, "{b}");
        assert!(b.reason.contains("without the audit key"), "{b}");
        // the scheme lowered to plain SHA-256: unkeyed after keyed entries
        let s = chain(Some(key(7)), 6);
        rewrite_from(&s, 3, "sha256");
        let b = s.verify_audit().unwrap().unwrap_err();
        assert_eq!(b.seq, 3, "{b}");
        assert!(b.reason.contains("after keyed entries"), "{b}");
    }

    #[test]
    fn a_whole_chain_rewritten_unkeyed_is_found_by_an_anchor() {
        let s = chain(Some(key(7)), 4);
        let anchor = anchor_of(&s);
        rewrite_from(&s, 1, "sha256");
        // without an anchor: every entry unkeyed, which verify reports (and warns about)
        let v = s.verify_audit_with(None).unwrap().unwrap();
        assert_eq!((v.keyed, v.unkeyed, v.unkeyed_range), (0, 4, Some((1, 4))));
        let b = s.verify_audit_with(Some(&anchor)).unwrap().unwrap_err();
        assert_eq!(b.seq, 4, "{b}");
        assert!(b.reason.contains("differs from the anchor"), "{b}");
    }

    #[test]
    fn unkeyed_entries_before_the_key_still_verify() {
        let mut s = chain(None, 3);
        assert_eq!(s.verify_audit().unwrap().unwrap(), 3);
        s.set_audit_key(Some(key(9)));
        s.audit(at(), "alice", "login", "", "{}").unwrap();
        s.audit(at(), "alice", "search", "x", "{}").unwrap();
        let v = s.verify_audit_with(None).unwrap().unwrap();
        assert_eq!(
            (v.entries, v.keyed, v.unkeyed, v.unkeyed_range),
            (5, 2, 3, Some((1, 3)))
        );
    }

    #[test]
    fn a_cut_tail_and_an_emptied_table_are_found_by_the_anchor() {
        let s = chain(Some(key(7)), 6);
        let anchor = anchor_of(&s);
        let v = s.verify_audit_with(Some(&anchor)).unwrap().unwrap();
        assert_eq!((v.entries, v.anchored), (6, Some(6)));
        untrigger(&s);
        s.conn()
            .execute("DELETE FROM audit WHERE seq > 3", [])
            .unwrap();
        // the rest is intact: only the anchor knows
        assert!(s.verify_audit().unwrap().is_ok());
        let b = s.verify_audit_with(Some(&anchor)).unwrap().unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("entries 4..6 are gone"), "{b}");
        s.conn().execute("DELETE FROM audit", []).unwrap();
        let b = s.verify_audit_with(Some(&anchor)).unwrap().unwrap_err();
        assert_eq!(b.seq, 1);
        assert!(b.reason.contains("emptied"), "{b}");
        // an anchor of the empty chain holds for any chain
        let empty = Anchor::of_head(None, "2026-01-01T00:00:00Z");
        let s = chain(Some(key(7)), 2);
        assert_eq!(
            s.verify_audit_with(Some(&empty)).unwrap().unwrap().anchored,
            Some(0)
        );
    }

    #[test]
    fn an_anchor_reads_back_and_refuses_what_it_is_not() {
        let s = chain(Some(key(7)), 2);
        let a = anchor_of(&s);
        assert_eq!(Anchor::parse(&a.to_json()).unwrap(), a);
        assert!(matches!(Anchor::parse("{}"), Err(AnchorError::NotJson(_))));
        let other = a.to_json().replace(ANCHOR_FORMAT, "something");
        assert!(matches!(Anchor::parse(&other), Err(AnchorError::Format(_))));
        let v2 = a.to_json().replace("\"version\": 1", "\"version\": 2");
        assert!(matches!(Anchor::parse(&v2), Err(AnchorError::Version(2))));
        let bad = a.to_json().replace(&a.hash, "abc");
        assert!(matches!(Anchor::parse(&bad), Err(AnchorError::Field(_))));
    }

    #[test]
    fn a_key_reads_from_hex_and_never_shows() {
        let k = key(0xab);
        assert_eq!(AuditKey::parse(&format!("  {}\n", k.to_hex())).unwrap(), k);
        assert_eq!(AuditKey::parse("abc"), Err(KeyError::Length(3)));
        assert_eq!(AuditKey::parse(&"g".repeat(64)), Err(KeyError::NotHex));
        assert_eq!(format!("{k:?}"), "AuditKey(..)");
    }

    /// A registry store with `n` pending entries (one write transaction each).
    fn pending_entries(registry: &mut Store, n: usize) {
        for i in 0..n {
            let note = AuditNote {
                actor: "cli:test".into(),
                action: "setting".into(),
                subject: format!("k{i}"),
                detail: "{}".into(),
            };
            registry
                .audited(note, |r| {
                    r.write(|tx| {
                        tx.execute(
                            "INSERT INTO settings (key, value) VALUES (?1, 'v')
                             ON CONFLICT (key) DO UPDATE SET value = excluded.value || 'v'",
                            [format!("k{i}")],
                        )
                        .map_err(StoreError::from)
                    })
                })
                .unwrap();
        }
    }

    fn actions(s: &Store) -> Vec<String> {
        s.audit_entries(&AuditFilter::default())
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    #[test]
    fn pending_entries_deleted_before_they_are_taken_leave_a_gap_entry() {
        let mut registry = Store::in_memory().unwrap();
        let mut security = chain(Some(key(7)), 0);
        pending_entries(&mut registry, 2);
        assert_eq!(absorb(&registry, &mut security).unwrap(), 2);
        pending_entries(&mut registry, 4);
        // entries 3 and 4 (of 3..6) deleted before the absorber ran
        registry
            .conn()
            .execute("DELETE FROM audit_pending WHERE seq IN (3, 4)", [])
            .unwrap();
        absorb(&registry, &mut security).unwrap();
        assert_eq!(
            actions(&security),
            ["setting", "setting", "audit-gap", "setting", "setting"]
        );
        let gap = &security.audit_entries(&AuditFilter::default()).unwrap()[2];
        let d: serde_json::Value = serde_json::from_str(&gap.detail).unwrap();
        assert_eq!(
            (d["missing_from"].as_i64(), d["missing_to"].as_i64()),
            (Some(3), Some(4))
        );
        assert!(security.verify_audit().unwrap().is_ok());
    }

    #[test]
    fn pending_entries_all_deleted_and_renumbered_are_still_taken_after_a_gap_entry() {
        let mut registry = Store::in_memory().unwrap();
        let mut security = chain(Some(key(7)), 0);
        pending_entries(&mut registry, 5);
        absorb(&registry, &mut security).unwrap();
        // every pending row deleted: SQLite numbers the next ones from 1 again
        registry
            .conn()
            .execute("DELETE FROM audit_pending", [])
            .unwrap();
        pending_entries(&mut registry, 2);
        absorb(&registry, &mut security).unwrap();
        let a = actions(&security);
        assert_eq!(a.len(), 8, "{a:?}");
        assert_eq!(a[5], "audit-gap");
        // and later entries are taken as before
        pending_entries(&mut registry, 1);
        absorb(&registry, &mut security).unwrap();
        assert_eq!(actions(&security).len(), 9);
        assert!(security.verify_audit().unwrap().is_ok());
    }

    #[test]
    fn without_the_key_pending_entries_wait_for_a_process_that_has_it() {
        let mut registry = Store::in_memory().unwrap();
        let mut security = chain(Some(key(7)), 1);
        pending_entries(&mut registry, 2);
        security.set_audit_key(None);
        assert_eq!(absorb(&registry, &mut security).unwrap(), 0);
        security.set_audit_key(Some(key(7)));
        assert_eq!(absorb(&registry, &mut security).unwrap(), 2);
        assert_eq!(security.verify_audit().unwrap().unwrap(), 3);
    }
}
