//! Imports into PostgreSQL: the same session as on SQLite (one transaction, the same
//! decisions per record, the same rows), written in bulk. What each record does is decided
//! from the stored hashes of its chunk, read in one query; the rows go to the server with
//! `COPY` into a staging table and one `INSERT .. ON CONFLICT` per few thousand donors.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};

use crate::db::{params, OptionalExtension, Row, Transaction, Value};
use crate::store::{
    decide, donor_update_set, donor_values, history_values, refuse_deletion, timestamp, Decision,
    ImportSession, Outcome, StoreError, StoredFacts, StoredRecord, DONOR_COLUMNS,
};
use crate::validate::FieldError;

/// What is stored of a donor (`None`: no such donor), and the open reservation or
/// workup request holding it.
type Known = Option<(StoredFacts, Option<String>)>;

/// The columns [`known_of`] reads, after the id.
const KNOWN_COLUMNS: &str = "content_hash, status, status_reason, status_until, status_patient,
    grid, (SELECT r.id FROM requests r WHERE r.donor_id = donors.id
        AND r.kind IN ('reservation', 'workup')
        AND r.state IN ('open', 'acknowledged', 'partially-resulted') ORDER BY r.seq LIMIT 1)";

fn known_of(id: &str, r: &Row<'_>, at: usize) -> Result<(StoredFacts, Option<String>), StoreError> {
    let code: String = r.get(at + 1)?;
    let status = crate::store::status_from_columns(
        id,
        &code,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
    )?;
    Ok((
        StoredFacts {
            hash: r.get(at)?,
            status,
            grid: r.get(at + 5)?,
        },
        r.get(at + 6)?,
    ))
}

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
    /// Who holds a GRID: as read ahead from the database, then as this import wrote it
    /// (`None`: nobody).
    grids: HashMap<String, Option<String>>,
    donors: Vec<Vec<Value>>,
    pending: HashSet<String>,
    history: Vec<Vec<Value>>,
    identities: Vec<Vec<Value>>,
    staged: bool,
    /// Whether the pending donors include some already stored.
    updates: bool,
}

impl<'c> PgImport<'c> {
    pub(crate) fn new(tx: Transaction<'c>) -> Self {
        PgImport {
            tx,
            known: HashMap::new(),
            grids: HashMap::new(),
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
        let mut stmt = self
            .tx
            .prepare_cached(&format!("SELECT {KNOWN_COLUMNS} FROM donors WHERE id = ?1"))?;
        let mut rows = stmt.query([id])?;
        let k = match rows.next()? {
            Some(r) => Some(known_of(id, &r, 0)?),
            None => None,
        };
        drop(rows);
        drop(stmt);
        self.known.insert(id.to_string(), k.clone());
        Ok(k)
    }

    fn grid_holder(&mut self, grid: &str) -> Result<Option<String>, StoreError> {
        if let Some(h) = self.grids.get(grid) {
            return Ok(h.clone());
        }
        let h: Option<String> = self
            .tx
            .query_row("SELECT id FROM donors WHERE grid = ?1", [grid], |r| {
                r.get(0)
            })
            .optional()?;
        self.grids.insert(grid.to_string(), h.clone());
        Ok(h)
    }

    fn decide(
        &mut self,
        r: &StoredRecord,
        today: NaiveDate,
    ) -> Result<(Known, Decision), StoreError> {
        let known = self.lookup(&r.donor.id)?;
        let holding = known.as_ref().and_then(|(_, h)| h.clone());
        let decision = decide(
            known.as_ref().map(|(s, _)| s),
            r,
            today,
            &mut |g| self.grid_holder(g),
            &mut || Ok(holding.clone()),
        )?;
        Ok((known, decision))
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
    fn prefetch(&mut self, ids: &[&str], grids: &[&str]) -> Result<(), StoreError> {
        self.flush()?;
        self.known.clear();
        self.grids.clear();
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT id, {KNOWN_COLUMNS}
             FROM donors WHERE id = ANY (string_to_array(?1, chr(31)))"
        ))?;
        let mut rows = stmt.query([ids.join("\u{1f}")])?;
        for id in ids {
            self.known.insert(id.to_string(), None);
        }
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let k = known_of(&id, &r, 1)?;
            self.known.insert(id, Some(k));
        }
        drop(rows);
        drop(stmt);
        if !grids.is_empty() {
            let mut stmt = self.tx.prepare_cached(
                "SELECT grid, id FROM donors WHERE grid = ANY (string_to_array(?1, chr(31)))",
            )?;
            let held = stmt.query_map([grids.join("\u{1f}")], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for g in grids {
                self.grids.insert(g.to_string(), None);
            }
            for row in held {
                let (g, id) = row?;
                self.grids.insert(g, Some(id));
            }
        }
        Ok(())
    }

    fn apply(
        &mut self,
        r: &StoredRecord,
        by: &str,
        at: NaiveDateTime,
    ) -> Result<Outcome, StoreError> {
        let id = &r.donor.id;
        if self.pending.contains(id) {
            self.flush()?;
        }
        let (existing, decision) = self.decide(r, at.date())?;
        let outcome = decision.outcome();
        let (status, hash, status_changed) = match decision {
            Decision::Refuse(_) => return Ok(outcome),
            Decision::Unchanged(_) => {
                self.identity(r);
                return Ok(outcome);
            }
            Decision::Write {
                status,
                hash,
                status_changed,
                ..
            } => (status, hash, status_changed),
        };
        let at = timestamp(at);
        self.updates |= existing.is_some();
        self.donors.push(donor_values(r, &status, hash, &at));
        self.pending.insert(id.clone());
        if status_changed {
            self.history
                .push(history_values(id, &at, by, &status, "import"));
        }
        self.identity(r);
        // the GRIDs as this import leaves them
        let grid = r.donor.grid.as_ref().map(|g| g.as_str().to_string());
        let (stored, holding) = match existing {
            Some((s, h)) => (Some(s.grid), h),
            None => (None, None),
        };
        if let Some(Some(old)) = &stored {
            if grid.as_ref() != Some(old) {
                self.grids.insert(old.clone(), None);
            }
        }
        if let Some(g) = &grid {
            self.grids.insert(g.clone(), Some(id.clone()));
        }
        self.known.insert(
            id.clone(),
            Some((StoredFacts { hash, status, grid }, holding)),
        );
        if self.donors.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(outcome)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.flush()?;
        let PgImport { tx, .. } = *self;
        Ok(tx.commit()?)
    }

    fn compare(&mut self, r: &StoredRecord, today: NaiveDate) -> Result<Outcome, StoreError> {
        Ok(self.decide(r, today)?.1.outcome())
    }

    fn transaction(&mut self) -> Result<&Transaction<'_>, StoreError> {
        self.flush()?;
        Ok(&self.tx)
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.lookup(id)?.is_some())
    }

    fn delete(&mut self, id: &str, field: &str) -> Result<Result<bool, FieldError>, StoreError> {
        self.flush()?;
        if let Some(refusal) = refuse_deletion(&self.tx, id, field)? {
            return Ok(Err(refusal));
        }
        // its GRID is free again for the records after it (as on SQLite)
        if let Some(g) = self.lookup(id)?.and_then(|(facts, _)| facts.grid) {
            self.grids.insert(g, None);
        }
        self.tx
            .execute("DELETE FROM status_history WHERE donor_id = ?1", [id])?;
        let n = self.tx.execute("DELETE FROM donors WHERE id = ?1", [id])?;
        self.known.insert(id.to_string(), None);
        Ok(Ok(n > 0))
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
