//! Requests between a patient and a donor, their events and workup journeys, stored.
//! The rules live in `medulla-workflow`; this module keeps what they decided. Subjects,
//! states and journeys are JSON text (portable to PostgreSQL's `jsonb`); the state code
//! has a column of its own for filtering.

use crate::db::{params, Connection, OptionalExtension, Row, Transaction};
use chrono::{NaiveDate, NaiveDateTime};
use medulla_workflow::{Journey, Request, RequestState, Subject};

use crate::store::{Store, StoreError};

/// One event in a request's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestEvent {
    pub at: String,
    pub by: String,
    /// `opened`, `acknowledged`, `result`, `cancelled`, `rejected`, `expired`,
    /// `workup-plan`, `workup-record`, `workup-reopened`...
    pub event: String,
    pub detail: String,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub patient: Option<String>,
    pub donor: Option<String>,
    pub open_only: bool,
}

fn ts(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn corrupt(id: &str, column: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id: id.to_string(),
        column,
        reason: e.to_string(),
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn row_to_request(r: &Row<'_>) -> Result<Request, StoreError> {
    let id: String = r.get("id")?;
    let subject: String = r.get("subject")?;
    let state: String = r.get("state_detail")?;
    let opened: String = r.get("opened_on")?;
    Ok(Request {
        subject: serde_json::from_str::<Subject>(&subject)
            .map_err(|e| corrupt(&id, "subject", e))?,
        state: serde_json::from_str::<RequestState>(&state)
            .map_err(|e| corrupt(&id, "state_detail", e))?,
        opened: opened
            .parse::<NaiveDate>()
            .map_err(|e| corrupt(&id, "opened_on", e))?,
        patient: r.get("patient_id")?,
        donor: r.get("donor_id")?,
        opened_by: r.get("opened_by")?,
        note: r.get("note")?,
        id,
    })
}

/// The next request id (`R000001`, ...).
pub fn next_request_id(tx: &Transaction<'_>) -> Result<(i64, String), StoreError> {
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM requests", [], |r| {
        r.get(0)
    })?;
    Ok((seq, format!("R{seq:06}")))
}

/// Store a new request (its id from [`next_request_id`]) and its `opened` event.
pub fn insert_request(
    tx: &Transaction<'_>,
    seq: i64,
    r: &Request,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let now = ts(at);
    tx.execute(
        "INSERT INTO requests (id, seq, patient_id, donor_id, kind, subject, state, state_detail,
            opened_on, opened_by, note, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            r.id,
            seq,
            r.patient,
            r.donor,
            r.kind().code(),
            json(&r.subject),
            r.state.code(),
            json(&r.state),
            r.opened.to_string(),
            r.opened_by,
            r.note,
            now,
        ],
    )?;
    add_event(tx, &r.id, at, &r.opened_by, "opened", &json(&r.subject))
}

/// Move a request to a new state.
pub fn set_state(
    tx: &Transaction<'_>,
    id: &str,
    state: &RequestState,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE requests SET state = ?2, state_detail = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, state.code(), json(state), ts(at)],
    )?;
    Ok(())
}

/// Add an event to a request's history.
pub fn add_event(
    tx: &Transaction<'_>,
    id: &str,
    at: NaiveDateTime,
    by: &str,
    event: &str,
    detail: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO request_events (request_id, at, by, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, ts(at), by, event, detail])?;
    Ok(())
}

/// Store a workup's journey as it now is.
pub fn put_journey(
    tx: &Transaction<'_>,
    id: &str,
    j: &Journey,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO workups (request_id, journey, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (request_id) DO UPDATE SET journey = excluded.journey,
            updated_at = excluded.updated_at",
        params![id, json(j), ts(at)],
    )?;
    Ok(())
}

/// Replace what a request has due (the workflow computes it after every change; an
/// ended request has nothing).
pub fn replace_tasks(
    tx: &Transaction<'_>,
    id: &str,
    due: &[(String, NaiveDate)],
) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM tasks WHERE request_id = ?1")?
        .execute([id])?;
    let mut ins =
        tx.prepare_cached("INSERT INTO tasks (request_id, task, due) VALUES (?1, ?2, ?3)")?;
    for (task, d) in due {
        ins.execute(params![id, task, d.to_string()])?;
    }
    Ok(())
}

/// A request by id.
pub fn request_in(conn: &Connection, id: &str) -> Result<Option<Request>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT * FROM requests WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(|r| row_to_request(&r)).transpose()
}

/// Every request of a patient-donor pair, oldest first.
pub fn requests_of_pair(
    conn: &Connection,
    patient: &str,
    donor: &str,
) -> Result<Vec<Request>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM requests WHERE patient_id = ?1 AND donor_id = ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query([patient, donor])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row_to_request(&r)?);
    }
    Ok(out)
}

/// Open reservations (and workups past the collection) holding a donor, any patient.
pub fn open_of_donor(conn: &Connection, donor: &str) -> Result<Vec<Request>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM requests WHERE donor_id = ?1
            AND state IN ('open', 'acknowledged', 'partially-resulted') ORDER BY seq",
    )?;
    let mut rows = stmt.query([donor])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row_to_request(&r)?);
    }
    Ok(out)
}

/// A workup's journey.
pub fn journey_in(conn: &Connection, id: &str) -> Result<Option<Journey>, StoreError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT journey FROM workups WHERE request_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(id, "journey", e)))
        .transpose()
}

impl Store {
    pub fn request(&self, id: &str) -> Result<Option<Request>, StoreError> {
        request_in(self.conn(), id)
    }

    pub fn journey(&self, id: &str) -> Result<Option<Journey>, StoreError> {
        journey_in(self.conn(), id)
    }

    /// Requests matching a filter, oldest first.
    pub fn requests(&self, f: &RequestFilter) -> Result<Vec<Request>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT * FROM requests
             WHERE (CAST(?1 AS TEXT) IS NULL OR patient_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR donor_id = ?2)
               AND (?3 = 0 OR state IN ('open', 'acknowledged', 'partially-resulted'))
             ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![f.patient, f.donor, f.open_only as i64])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(row_to_request(&r)?);
        }
        Ok(out)
    }

    /// A request's history, oldest first.
    pub fn request_events(&self, id: &str) -> Result<Vec<RequestEvent>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT at, by, event, detail FROM request_events WHERE request_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(RequestEvent {
                at: r.get(0)?,
                by: r.get(1)?,
                event: r.get(2)?,
                detail: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The open tasks, overdue ones (due before `today`) first, then by due date;
    /// `until` keeps those due on or before it.
    pub fn tasks(
        &self,
        today: NaiveDate,
        until: Option<NaiveDate>,
    ) -> Result<Vec<medulla_workflow::Task>, StoreError> {
        let today_text = today.to_string();
        let mut stmt = self.conn().prepare_cached(
            // a partner's patient is named with its registry's ION (`1001:P1`)
            "SELECT t.request_id, r.donor_id,
                CASE WHEN r.origin IS NULL THEN r.patient_id ELSE r.origin || ':' || r.patient_id END,
                t.task, t.due FROM tasks t
             JOIN requests r ON r.id = t.request_id
             WHERE r.state IN ('open', 'acknowledged', 'partially-resulted')
               AND (CAST(?2 AS TEXT) IS NULL OR t.due <= ?2)
             ORDER BY t.due < ?1 DESC, t.due, t.request_id, t.task",
        )?;
        let mut rows = stmt.query(params![today_text, until.map(|d| d.to_string())])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let request: String = r.get(0)?;
            let due: String = r.get(4)?;
            let due: NaiveDate = due.parse().map_err(|e| corrupt(&request, "due", e))?;
            out.push(medulla_workflow::Task {
                donor: r.get(1)?,
                patient: r.get(2)?,
                task: r.get(3)?,
                overdue: due < today,
                due,
                request,
            });
        }
        Ok(out)
    }
}
