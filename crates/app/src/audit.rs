//! The audit trail as the use cases write it. A change of the registry and its entry
//! commit together: the use case names itself ([`change`]), the storage writes the entry
//! inside every write transaction the use case commits (`audit_pending` of the registry,
//! or the chain itself for the security database), and [`absorb`] takes the registry's
//! pending entries into the hash chain. A write no use case named is still recorded (as
//! `write`, by the process's actor: `cli:NAME` for the command line, `system` for the
//! service), so no committed change is without an entry.

use std::path::Path;

use medulla_registry::audit::{AuditEntry, AuditFilter};
use medulla_registry::db::AuditNote;
use medulla_registry::Store;
use serde::Serialize;

use crate::error::AppError;

/// The entry a use case writes with its change.
pub fn note(actor: &str, action: &str, subject: &str, detail: serde_json::Value) -> AuditNote {
    AuditNote {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: subject.to_string(),
        detail: detail.to_string(),
    }
}

/// Run the change `f` on `store` as `actor`'s `action` on `subject`: each write
/// transaction `f` commits carries the entry.
pub fn change<T>(
    store: &mut Store,
    actor: &str,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
    f: impl FnOnce(&mut Store) -> Result<T, AppError>,
) -> Result<T, AppError> {
    store.audited(note(actor, action, subject, detail), f)
}

/// The `before_commit` of an import run as a use case: its entry's detail becomes the
/// import's counts, written with the import and its `imports` log row.
pub fn import_counts(
    tx: &medulla_registry::db::Transaction<'_>,
    r: &medulla_registry::ImportReport,
) -> Result<(), medulla_registry::StoreError> {
    tx.amend_audit_detail(
        serde_json::json!({
            "records": r.records, "new": r.new, "updated": r.updated, "unchanged": r.unchanged,
            "deleted": r.deleted, "rejected": r.rejected, "applied": r.applied,
        })
        .to_string(),
    );
    Ok(())
}

/// Take the registry's pending entries into the chain of its security database: the
/// number taken.
pub fn absorb(registry: &Store, security: &mut Store) -> Result<u64, AppError> {
    Ok(medulla_registry::audit::absorb(registry, security)?)
}

/// [`absorb`] for the registry at `db` (the command line, after a change): opens its
/// security database, creating it when missing.
pub fn absorb_at(db: &Path) -> Result<u64, AppError> {
    let registry = Store::open_existing(db)?;
    let mut security = Store::open_security(db)?;
    absorb(&registry, &mut security)
}

/// One entry as `medulla audit list --format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The entry's details (JSON).
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for EntryView {
    fn from(e: AuditEntry) -> Self {
        EntryView {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::String(e.detail)),
        }
    }
}

/// The entries of the registry at `db`, pending ones taken into the chain first.
pub fn list(db: &Path, filter: &AuditFilter) -> Result<Vec<EntryView>, AppError> {
    let mut security = open_security_existing(db)?;
    if medulla_registry::store::location_exists(db) {
        let registry = Store::open_existing(db)?;
        absorb(&registry, &mut security)?;
    }
    Ok(security
        .audit_entries(filter)?
        .into_iter()
        .map(EntryView::from)
        .collect())
}

/// The security database of `db`, which must exist (nothing is created by a read).
pub fn open_security_existing(db: &Path) -> Result<Store, AppError> {
    if !Store::security_exists(db) && !medulla_registry::store::location_exists(db) {
        return Err(AppError::NotFound(format!(
            "no registry database at {}",
            medulla_registry::store::display_location(db)
        )));
    }
    Ok(Store::open_security(db)?)
}
