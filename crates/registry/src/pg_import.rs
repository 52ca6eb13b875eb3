//! Imports into PostgreSQL: the same session as on SQLite (one transaction, the same
//! decisions per record, the same rows), written in bulk. What each record does is decided
//! from the stored hashes of its chunk, read in one query; the rows go to the server with
//! `COPY` into a staging table and one `INSERT .. ON CONFLICT` per few thousand donors.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;

use crate::db::{params, OptionalExtension, Transaction, Value};
use crate::store::{
    content_hash, donor_update_set, donor_values, history_values, status_columns, timestamp,
    Applied, ImportSession, StoreError, StoredRecord, DONOR_COLUMNS,
};

/// The stored hash and status columns of a donor.
type Known = Option<(i64, [Option<String>; 4])>;

/// Donors written per round trip.
const FLUSH_AT: usize = 10_000;

const HISTORY_COLUMNS: [&str; 8] = [
    "donor_id",
    "changed_at",
    "changed_by",
    "status",
    "status_reason",
    "status_until",
    "status_patient",
    "note",
];

pub(crate) struct PgImport<'c> {
    tx: Transaction<'c>,
    known: HashMap<String, Known>,
    donors: Vec<Vec<Value>>,
    pending: HashSet<String>,
    history: Vec<Vec<Value>>,
    identities: Vec<Vec<Value>>,
    staged: bool,
    /// Whether the pending donors include some already stored.
    updates: bool,
}

fn status_key(s: &crate::Status) -> [Option<String>; 4] {
    let (code, reason, until, patient) = status_columns(s);
    [Some(code.to_string()), reason, until, patient]
}

impl<'c> PgImport<'c> {
    pub(crate) fn new(tx: Transaction<'c>) -> Self {
        PgImport {
            tx,
            known: HashMap::new(),
            donors: Vec::new(),
            pending: HashSet::new(),
            history: Vec::new(),
            identities: Vec::new(),
            staged: false,
            updates: false,
        }
    }

    fn lookup(&mut self, id: &str) -> Result<Known, StoreError> {
        if let Some(k) = self.known.get(id) {
            return Ok(k.clone());
        }
        let k = self
            .tx
            .query_row(
                "SELECT content_hash, status, status_reason, status_until, status_patient
                 FROM donors WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])),
            )
            .optional()?;
        self.known.insert(id.to_string(), k.clone());
        Ok(k)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.donors.is_empty() && self.history.is_empty() && self.identities.is_empty() {
            return Ok(());
        }
        if !self.staged {
            self.tx.execute_batch(&format!(
                "CREATE TEMP TABLE medulla_stage_donors ON COMMIT DROP AS
                    SELECT {} FROM donors WITH NO DATA;
                 CREATE TEMP TABLE medulla_stage_identity ON COMMIT DROP AS
                    SELECT donor_id, name, address, phone, email FROM donor_identity WITH NO DATA;",
                DONOR_COLUMNS.join(", ")
            ))?;
            self.staged = true;
        }
        if !self.donors.is_empty() && !self.updates {
            // only new donors: straight into the table
            self.tx.copy_in("donors", &DONOR_COLUMNS, &self.donors)?;
        } else if !self.donors.is_empty() {
            self.tx
                .copy_in("medulla_stage_donors", &DONOR_COLUMNS, &self.donors)?;
            self.tx.execute_batch(&format!(
                "INSERT INTO donors ({cols}) SELECT {cols} FROM medulla_stage_donors
                    ON CONFLICT (id) DO UPDATE SET {set};
                 TRUNCATE medulla_stage_donors;",
                cols = DONOR_COLUMNS.join(", "),
                set = donor_update_set()
            ))?;
        }
        self.tx
            .copy_in("status_history", &HISTORY_COLUMNS, &self.history)?;
        if !self.identities.is_empty() {
            let cols = ["donor_id", "name", "address", "phone", "email"];
            self.tx
                .copy_in("medulla_stage_identity", &cols, &self.identities)?;
            self.tx.execute_batch(
                "INSERT INTO donor_identity (donor_id, name, address, phone, email)
                    SELECT donor_id, name, address, phone, email FROM medulla_stage_identity
                    ON CONFLICT (donor_id) DO UPDATE SET name = excluded.name,
                    address = excluded.address, phone = excluded.phone, email = excluded.email;
                 TRUNCATE medulla_stage_identity;",
            )?;
        }
        self.donors.clear();
        self.updates = false;
        self.pending.clear();
        self.history.clear();
        self.identities.clear();
        Ok(())
    }

    fn identity(&mut self, r: &StoredRecord) {
        if let Some(i) = &r.identity {
            let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
            self.identities.push(vec![
                Value::Text(r.donor.id.clone()),
                text(&i.name),
                text(&i.address),
                text(&i.phone),
                text(&i.email),
            ]);
        }
    }
}

impl ImportSession for PgImport<'_> {
    fn prefetch(&mut self, ids: &[&str]) -> Result<(), StoreError> {
        self.flush()?;
        self.known.clear();
        let joined = ids.join("\u{1f}");
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, content_hash, status, status_reason, status_until, status_patient
             FROM donors WHERE id = ANY (string_to_array(?1, chr(31)))",
        )?;
        let rows = stmt.query_map([joined], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get(1)?, [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?]),
            ))
        })?;
        for id in ids {
            self.known.insert(id.to_string(), None);
        }
        for row in rows {
            let (id, k) = row?;
            self.known.insert(id, Some(k));
        }
        Ok(())
    }

    fn apply(
        &mut self,
        r: &StoredRecord,
        by: &str,
        at: NaiveDateTime,
    ) -> Result<Applied, StoreError> {
        let id = &r.donor.id;
        if self.pending.contains(id) {
            self.flush()?;
        }
        let existing = self.lookup(id)?;
        let hash = content_hash(r);
        let applied = match &existing {
            Some((h, _)) if *h == hash => {
                self.identity(r);
                return Ok(Applied::Unchanged);
            }
            Some(_) => Applied::Updated,
            None => Applied::New,
        };
        let at = timestamp(at);
        let status = status_key(&r.status);
        self.updates |= existing.is_some();
        self.donors.push(donor_values(r, hash, &at));
        self.pending.insert(id.clone());
        if existing.as_ref().is_none_or(|(_, s)| *s != status) {
            self.history
                .push(history_values(id, &at, by, &r.status, "import"));
        }
        self.identity(r);
        self.known.insert(id.clone(), Some((hash, status)));
        if self.donors.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(applied)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.flush()?;
        let PgImport { tx, .. } = *self;
        Ok(tx.commit()?)
    }

    fn compare(&mut self, r: &StoredRecord) -> Result<Applied, StoreError> {
        Ok(match self.lookup(&r.donor.id)? {
            None => Applied::New,
            Some((h, _)) if h == content_hash(r) => Applied::Unchanged,
            Some(_) => Applied::Updated,
        })
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.lookup(id)?.is_some())
    }

    fn delete(&mut self, id: &str) -> Result<bool, StoreError> {
        self.flush()?;
        self.tx
            .execute("DELETE FROM status_history WHERE donor_id = ?1", [id])?;
        let n = self.tx.execute("DELETE FROM donors WHERE id = ?1", [id])?;
        self.known.insert(id.to_string(), None);
        Ok(n > 0)
    }

    fn ids_of_registry(&mut self, registry: &str) -> Result<Vec<String>, StoreError> {
        self.flush()?;
        let mut stmt = self
            .tx
            .prepare_cached("SELECT id FROM donors WHERE registry = ?1 ORDER BY id")?;
        let ids = stmt
            .query_map(params![registry], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }
}
