//! Patients: the medical facts a search needs, the search case's lifecycle with its
//! history, and identity kept apart (its own table, as donors' identity is).

use std::fmt;
use std::str::FromStr;

use crate::db::{params, Connection, OptionalExtension, Row};
use chrono::{NaiveDate, NaiveDateTime};

use crate::identity::Identity;
use crate::model::{Abo, Cmv, Rh, Sex};
use crate::store::{Store, StoreError};

/// How soon the transplant is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Under4Weeks,
    Weeks4To6,
    Weeks7To12,
    Weeks12To26,
    Over6Months,
}

impl Urgency {
    pub const ALL: [Urgency; 5] = [
        Urgency::Under4Weeks,
        Urgency::Weeks4To6,
        Urgency::Weeks7To12,
        Urgency::Weeks12To26,
        Urgency::Over6Months,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Urgency::Under4Weeks => "under-4w",
            Urgency::Weeks4To6 => "4-6w",
            Urgency::Weeks7To12 => "7-12w",
            Urgency::Weeks12To26 => "12w-6m",
            Urgency::Over6Months => "over-6m",
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Urgency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Urgency::ALL
            .into_iter()
            .find(|u| u.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("{s:?} is not an urgency (one of: under-4w, 4-6w, 7-12w, 12w-6m, over-6m)")
            })
    }
}

/// Where a patient's search case is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseStatus {
    Preliminary,
    Active,
    Suspended,
    Stopped { reason: String },
    Transplanted,
}

impl CaseStatus {
    pub fn code(&self) -> &'static str {
        match self {
            CaseStatus::Preliminary => "preliminary",
            CaseStatus::Active => "active",
            CaseStatus::Suspended => "suspended",
            CaseStatus::Stopped { .. } => "stopped",
            CaseStatus::Transplanted => "transplanted",
        }
    }

    /// The status from its code, with the reason a stop needs.
    pub fn parse(code: &str, reason: Option<&str>) -> Result<CaseStatus, String> {
        Ok(match code.trim().to_ascii_lowercase().as_str() {
            "preliminary" => CaseStatus::Preliminary,
            "active" => CaseStatus::Active,
            "suspended" => CaseStatus::Suspended,
            "transplanted" => CaseStatus::Transplanted,
            "stopped" => CaseStatus::Stopped {
                reason: reason
                    .filter(|r| !r.trim().is_empty())
                    .ok_or("stopping a search case needs a reason")?
                    .to_string(),
            },
            other => {
                return Err(format!(
                    "{other:?} is not a case status (one of: preliminary, active, suspended, \
                     stopped, transplanted)"
                ))
            }
        })
    }

    /// Whether the case may go from `self` to `next`: preliminary → active → suspended
    /// (and back), stopped or transplanted; the last two are final.
    pub fn check_transition(&self, next: &CaseStatus) -> Result<(), String> {
        use CaseStatus::*;
        let ok = matches!(
            (self, next),
            (Preliminary, Active)
                | (Preliminary, Stopped { .. })
                | (Active, Suspended)
                | (Active, Stopped { .. })
                | (Active, Transplanted)
                | (Suspended, Active)
                | (Suspended, Stopped { .. })
        );
        if ok {
            Ok(())
        } else {
            Err(format!(
                "a search case cannot go from {} to {} (preliminary -> active -> suspended -> \
                 active; stopped or transplanted are final)",
                self.code(),
                next.code()
            ))
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseStatus::Stopped { reason } => write!(f, "stopped ({reason})"),
            s => f.write_str(s.code()),
        }
    }
}

/// A patient's medical facts and typing (never identity).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Patient {
    pub id: String,
    pub birth_date: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub weight_kg: Option<f64>,
    pub abo: Option<Abo>,
    pub rh: Option<Rh>,
    pub cmv: Option<Cmv>,
    pub diagnosis: Option<String>,
    pub stage: Option<String>,
    pub urgency: Option<Urgency>,
    pub centre: Option<String>,
    pub population: Option<String>,
    /// The HLA typing as a GL String.
    pub hla: String,
    pub typing_date: Option<NaiveDate>,
    pub typing_lab: Option<String>,
}

/// One change of a case's status: who, when, why.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseChange {
    pub status: CaseStatus,
    pub at: NaiveDateTime,
    pub by: String,
    pub note: String,
}

/// A stored patient: the facts, the case status and when the record was made.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientRecord {
    pub patient: Patient,
    pub status: CaseStatus,
    pub created_at: String,
}

fn ts(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn parse_col<T: FromStr>(
    id: &str,
    column: &'static str,
    v: Option<String>,
) -> Result<Option<T>, StoreError>
where
    T::Err: fmt::Display,
{
    v.map(|s| {
        s.parse::<T>().map_err(|e| StoreError::Corrupt {
            id: id.to_string(),
            column,
            reason: e.to_string(),
        })
    })
    .transpose()
}

fn row_to_patient(r: &Row<'_>) -> Result<PatientRecord, StoreError> {
    let id: String = r.get("id")?;
    let status: String = r.get("status")?;
    let reason: Option<String> = r.get("status_reason")?;
    Ok(PatientRecord {
        patient: Patient {
            birth_date: parse_col(&id, "birth_date", r.get("birth_date")?)?,
            sex: parse_col(&id, "sex", r.get("sex")?)?,
            weight_kg: r.get("weight_kg")?,
            abo: parse_col(&id, "abo", r.get("abo")?)?,
            rh: parse_col(&id, "rh", r.get("rh")?)?,
            cmv: parse_col(&id, "cmv", r.get("cmv")?)?,
            diagnosis: r.get("diagnosis")?,
            stage: r.get("stage")?,
            urgency: parse_col(&id, "urgency", r.get("urgency")?)?,
            centre: r.get("centre")?,
            population: r.get("population")?,
            hla: r.get("hla_gl")?,
            typing_date: parse_col(&id, "typing_date", r.get("typing_date")?)?,
            typing_lab: r.get("typing_lab")?,
            id: id.clone(),
        },
        status: CaseStatus::parse(&status, reason.as_deref()).map_err(|e| StoreError::Corrupt {
            id,
            column: "status",
            reason: e,
        })?,
        created_at: r.get("created_at")?,
    })
}

/// A patient by id, on any connection (inside a transaction too).
pub fn patient_in(conn: &Connection, id: &str) -> Result<Option<PatientRecord>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT * FROM patients WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(|r| row_to_patient(&r)).transpose()
}

impl Store {
    /// Register a patient (case status preliminary), with identity apart when given.
    pub fn add_patient(
        &mut self,
        p: &Patient,
        identity: Option<&Identity>,
        at: NaiveDateTime,
        by: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| -> Result<(), StoreError> {
            if patient_in(tx, &p.id)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "patient {} is already registered",
                    p.id
                )));
            }
            let now = ts(at);
            tx.execute(
                "INSERT INTO patients (id, birth_date, sex, weight_kg, abo, rh, cmv, diagnosis,
                    stage, urgency, centre, population, hla_gl, typing_date, typing_lab, status,
                    status_reason, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                    'preliminary', NULL, ?16, ?16)",
                params![
                    p.id,
                    p.birth_date.map(|d| d.to_string()),
                    p.sex.map(|x| x.to_string()),
                    p.weight_kg,
                    p.abo.map(|x| x.to_string()),
                    p.rh.map(|x| x.to_string()),
                    p.cmv.map(|x| x.to_string()),
                    p.diagnosis,
                    p.stage,
                    p.urgency.map(|x| x.to_string()),
                    p.centre,
                    p.population,
                    p.hla,
                    p.typing_date.map(|d| d.to_string()),
                    p.typing_lab,
                    now,
                ],
            )?;
            tx.execute(
                "INSERT INTO patient_history (patient_id, changed_at, changed_by, status,
                    status_reason, note) VALUES (?1, ?2, ?3, 'preliminary', NULL, 'registered')",
                params![p.id, now, by],
            )?;
            if let Some(i) = identity {
                tx.execute(
                    "INSERT INTO patient_identity (patient_id, name, address, phone, email)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![p.id, i.name, i.address, i.phone, i.email],
                )?;
            }
            Ok(())
        })
    }

    pub fn patient(&self, id: &str) -> Result<Option<PatientRecord>, StoreError> {
        patient_in(self.conn(), id)
    }

    /// Patients, optionally only those with a case status, by id.
    pub fn patients(&self, status: Option<&str>) -> Result<Vec<PatientRecord>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT * FROM patients WHERE CAST(?1 AS TEXT) IS NULL OR status = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([status])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(row_to_patient(&r)?);
        }
        Ok(out)
    }

    /// Move a patient's search case to a new status, kept in its history.
    pub fn set_case_status(&mut self, id: &str, change: &CaseChange) -> Result<(), StoreError> {
        self.write(|tx| -> Result<(), StoreError> {
            let current = patient_in(tx, id)?
                .ok_or_else(|| StoreError::NotFound(format!("patient {id} is not registered")))?;
            current
                .status
                .check_transition(&change.status)
                .map_err(|reason| StoreError::Status {
                    id: id.to_string(),
                    reason,
                })?;
            let reason = match &change.status {
                CaseStatus::Stopped { reason } => Some(reason.clone()),
                _ => None,
            };
            let now = ts(change.at);
            tx.execute(
                "UPDATE patients SET status = ?2, status_reason = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, change.status.code(), reason, now],
            )?;
            tx.execute(
                "INSERT INTO patient_history (patient_id, changed_at, changed_by, status,
                    status_reason, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, now, change.by, change.status.code(), reason, change.note],
            )?;
            Ok(())
        })
    }

    /// A patient's case history, oldest first.
    pub fn case_history(&self, id: &str) -> Result<Vec<CaseChange>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT changed_at, changed_by, status, status_reason, note FROM patient_history
             WHERE patient_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, by, status, reason, note) = row?;
            out.push(CaseChange {
                status: CaseStatus::parse(&status, reason.as_deref()).map_err(|e| {
                    StoreError::Corrupt {
                        id: id.to_string(),
                        column: "status",
                        reason: e,
                    }
                })?,
                at: at.parse().map_err(|_| StoreError::Corrupt {
                    id: id.to_string(),
                    column: "changed_at",
                    reason: format!("{at:?} is not a date and time"),
                })?,
                by,
                note,
            });
        }
        Ok(out)
    }

    /// A patient's identity; callers record the read in the audit trail.
    pub fn patient_identity(&self, id: &str) -> Result<Option<Identity>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, address, phone, email FROM patient_identity WHERE patient_id = ?1",
                [id],
                |r| {
                    Ok(Identity {
                        name: r.get(0)?,
                        address: r.get(1)?,
                        phone: r.get(2)?,
                        email: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn case_lifecycle_with_history() {
        let mut s = Store::in_memory().unwrap();
        let p = Patient {
            id: "P1".into(),
            hla: "A*01:01+A*02:01^B*08:01+B*07:02".into(),
            weight_kg: Some(70.0),
            urgency: Some("4-6w".parse().unwrap()),
            ..Default::default()
        };
        let who = Identity {
            name: Some("Ann Example".into()),
            ..Default::default()
        };
        s.add_patient(&p, Some(&who), at("2026-01-01T10:00:00"), "sc")
            .unwrap();
        assert!(s
            .add_patient(&p, None, at("2026-01-01T10:00:00"), "sc")
            .is_err());
        let change = |status, by: &str| CaseChange {
            status,
            at: at("2026-01-02T10:00:00"),
            by: by.into(),
            note: "why".into(),
        };
        let e = s
            .set_case_status("P1", &change(CaseStatus::Transplanted, "sc"))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot go from preliminary to transplanted"),
            "{e}"
        );
        s.set_case_status("P1", &change(CaseStatus::Active, "sc"))
            .unwrap();
        s.set_case_status("P1", &change(CaseStatus::Suspended, "sc"))
            .unwrap();
        s.set_case_status("P1", &change(CaseStatus::Active, "sc"))
            .unwrap();
        assert!(CaseStatus::parse("stopped", None).is_err());
        s.set_case_status(
            "P1",
            &change(
                CaseStatus::Stopped {
                    reason: "patient died".into(),
                },
                "md",
            ),
        )
        .unwrap();
        assert!(s
            .set_case_status("P1", &change(CaseStatus::Active, "sc"))
            .is_err());
        let h = s.case_history("P1").unwrap();
        assert_eq!(h.len(), 5);
        assert_eq!(h[4].by, "md");
        let rec = s.patient("P1").unwrap().unwrap();
        assert_eq!(rec.status.to_string(), "stopped (patient died)");
        assert_eq!(rec.patient.urgency, Some(Urgency::Weeks4To6));
        assert_eq!(s.patient_identity("P1").unwrap().unwrap(), who);
        assert_eq!(s.patients(Some("stopped")).unwrap().len(), 1);
        assert_eq!(s.patients(Some("active")).unwrap().len(), 0);
    }
}
