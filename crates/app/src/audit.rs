//! The audit trail as the use cases write it. A change of the registry and its entry
//! commit together: the use case names itself ([`change`]), the storage writes the entry
//! inside every write transaction the use case commits (`audit_pending` of the registry,
//! or the chain itself for the security database), and [`absorb`] takes the registry's
//! pending entries into the hash chain. A write no use case named is still recorded (as
//! `write`, by the process's actor: `cli:NAME` for the command line, `system` for the
//! service), so no committed change is without an entry.

use std::path::Path;

use medulla_registry::audit::{Anchor, AuditBreak, AuditEntry, AuditFilter, AuditKey, Verified};
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

/// Where this process's audit key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key file (`--audit-key-file`, `MEDULLA_AUDIT_KEY_FILE`).
    File(std::path::PathBuf),
    /// The environment variable `MEDULLA_AUDIT_KEY`.
    Environment,
    /// No key: the chain is written unkeyed (development only).
    None,
}

/// Read an audit key file (64 hexadecimal digits). The second value is a warning when
/// the file may be read by others than its owner.
pub fn read_key_file(path: &Path) -> Result<(AuditKey, Option<String>), AppError> {
    let invalid = |reason: String| AppError::Invalid {
        field: format!("audit key file {}", path.display()),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let key = AuditKey::parse(&text).map_err(|e| invalid(e.to_string()))?;
    let mut warning = None;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| invalid(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            warning = Some(format!(
                "the audit key file {} may be read by others (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    Ok((key, warning))
}

/// Set the audit key of this process (every security store it opens writes and checks
/// the chain with it): from `file` when given, else from `env_key` (the text of
/// `MEDULLA_AUDIT_KEY`), else none. Returns where it came from and any warning.
pub fn configure_key(
    file: Option<&Path>,
    env_key: Option<&str>,
) -> Result<(KeySource, Option<String>), AppError> {
    let (key, source, warning) = match (file, env_key.filter(|k| !k.trim().is_empty())) {
        (Some(f), _) => {
            let (k, w) = read_key_file(f)?;
            (Some(k), KeySource::File(f.to_path_buf()), w)
        }
        (None, Some(text)) => {
            let k = AuditKey::parse(text).map_err(|e| AppError::Invalid {
                field: "MEDULLA_AUDIT_KEY".into(),
                reason: e.to_string(),
            })?;
            (Some(k), KeySource::Environment, None)
        }
        (None, None) => (None, KeySource::None, None),
    };
    medulla_registry::audit::set_process_key(key);
    Ok((source, warning))
}

/// Write a new random 256-bit audit key to `path` (64 hexadecimal digits and a newline),
/// readable by its owner alone (0600). An existing file is never replaced: a chain's key
/// lost is its entries unverifiable.
pub fn generate_key_file(path: &Path) -> Result<(), AppError> {
    let invalid = |reason: String| AppError::Invalid {
        field: format!("audit key file {}", path.display()),
        reason,
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("random bytes: {e}")))?;
    let key = AuditKey::from_bytes(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            invalid("exists already: a key is never overwritten (move it away first)".into())
        } else {
            invalid(e.to_string())
        }
    })?;
    use std::io::Write;
    f.write_all(format!("{}\n", key.to_hex()).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| invalid(e.to_string()))?;
    Ok(())
}

/// An anchor file read and checked.
pub fn read_anchor(path: &Path) -> Result<Anchor, AppError> {
    let invalid = |reason: String| AppError::Invalid {
        field: format!("--anchor {}", path.display()),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    Anchor::parse(&text).map_err(|e| invalid(e.to_string()))
}

/// Write `anchor` to `path` atomically: a temporary file beside it, synced, renamed over.
pub fn write_anchor(path: &Path, anchor: &Anchor) -> Result<(), AppError> {
    let invalid = |reason: String| AppError::Invalid {
        field: format!("anchor file {}", path.display()),
        reason,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| invalid(e.to_string()))?;
    use std::io::Write;
    tmp.write_all(anchor.to_json().as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| invalid(e.to_string()))?;
    tmp.persist(path)
        .map_err(|e| invalid(e.error.to_string()))?;
    // the rename itself survives a crash once the folder is synced
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Now, as an anchor's `at` (UTC, RFC 3339).
pub fn utc_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The anchor of the chain of the registry at `db` now: pending entries taken in first,
/// the whole chain verified (a broken chain is never anchored).
pub fn anchor(db: &Path) -> Result<(Anchor, Verified), AppError> {
    let mut security = open_security_existing(db)?;
    if medulla_registry::store::location_exists(db) {
        absorb(&Store::open_existing(db)?, &mut security)?;
    }
    let v = security
        .verify_audit_with(None)?
        .map_err(|b| AppError::Conflict(format!("audit trail broken, not anchored: {b}")))?;
    Ok((Anchor::of_head(security.audit_head()?, &utc_now()), v))
}

/// Verify the chain of the registry at `db` (pending entries taken in first), against
/// `anchor` when given.
pub fn verify(
    db: &Path,
    anchor: Option<&Anchor>,
) -> Result<Result<Verified, AuditBreak>, AppError> {
    if !Store::security_exists(db) {
        return Err(AppError::NotFound(format!(
            "no security database at {}",
            medulla_registry::store::display_location(&Store::security_path(db))
        )));
    }
    let mut security = Store::open_security(db)?;
    if medulla_registry::store::location_exists(db) {
        absorb(&Store::open_existing(db)?, &mut security)?;
    }
    Ok(security.verify_audit_with(anchor)?)
}

/// Anchors written into a folder, one file each (`anchor-SEQ-TIME.json`, SEQ padded to 12
/// digits so that names sort by sequence) and `latest.json`, the newest; the newest
/// `keep` numbered files are kept.
pub struct AnchorDir {
    pub dir: std::path::PathBuf,
    pub keep: usize,
    last: Option<Anchor>,
}

impl AnchorDir {
    pub fn new(dir: std::path::PathBuf, keep: usize) -> Result<Self, AppError> {
        std::fs::create_dir_all(&dir).map_err(|e| AppError::Invalid {
            field: format!("anchor folder {}", dir.display()),
            reason: e.to_string(),
        })?;
        Ok(AnchorDir {
            dir,
            keep: keep.max(1),
            last: None,
        })
    }

    /// Anchor the head of `security`'s chain, unless it has not moved since the last
    /// anchor written here. Before writing, the last anchor is checked against the chain
    /// (cheap: one entry): an error names a cut tail or a rewritten entry. The file
    /// written, if any.
    pub fn tick(&mut self, security: &Store) -> Result<Option<std::path::PathBuf>, AppError> {
        let head = security.audit_head()?;
        if let Some(last) = &self.last {
            let head_seq = head.as_ref().map_or(0, |h| h.0);
            if head_seq < last.seq {
                return Err(AppError::Conflict(format!(
                    "audit trail shortened: entries {}..{} are gone (the anchor written {} names entry {})",
                    head_seq + 1,
                    last.seq,
                    last.at,
                    last.seq
                )));
            }
            if last.seq > 0 && security.audit_hash_at(last.seq)?.as_deref() != Some(&last.hash) {
                return Err(AppError::Conflict(format!(
                    "audit entry {} differs from its anchor written {}: rewritten",
                    last.seq, last.at
                )));
            }
            if head_seq == last.seq {
                return Ok(None);
            }
        }
        let anchor = Anchor::of_head(head, &utc_now());
        let stamp = anchor.at.replace([':', '-'], "");
        let file = self
            .dir
            .join(format!("anchor-{:012}-{stamp}.json", anchor.seq));
        write_anchor(&file, &anchor)?;
        write_anchor(&self.dir.join("latest.json"), &anchor)?;
        self.prune();
        self.last = Some(anchor);
        Ok(Some(file))
    }

    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("anchor-") && n.ends_with(".json"))
            .collect();
        names.sort();
        let excess = names.len().saturating_sub(self.keep);
        for n in &names[..excess] {
            let _ = std::fs::remove_file(self.dir.join(n));
        }
    }
}
