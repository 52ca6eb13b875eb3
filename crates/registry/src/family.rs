//! A patient's relatives and their typings, kept with the patient for the family step of
//! the roadmap.

use crate::db::params;
use chrono::NaiveDateTime;

use crate::patient::patient_in;
use crate::store::{Store, StoreError};

/// One relative of a patient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Relative {
    pub member: String,
    /// father, mother, sibling, half-sibling, child, other
    pub relation: String,
    /// The typing as a GL String (empty: not typed yet).
    pub gl: String,
    pub added_at: String,
    pub added_by: String,
}

impl Store {
    /// Add (or replace) a relative of a registered patient.
    pub fn put_relative(
        &mut self,
        patient: &str,
        r: &Relative,
        at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        self.write(|tx| -> Result<(), StoreError> {
            if patient_in(tx, patient)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "patient {patient} is not registered"
                )));
            }
            tx.execute(
                "INSERT INTO family_members (patient_id, member_id, relation, hla_gl, added_at,
                    added_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (patient_id, member_id) DO UPDATE SET relation = excluded.relation,
                    hla_gl = excluded.hla_gl, added_at = excluded.added_at,
                    added_by = excluded.added_by",
                params![
                    patient,
                    r.member,
                    r.relation,
                    r.gl,
                    at.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    r.added_by
                ],
            )?;
            Ok(())
        })
    }

    /// A patient's relatives, in the order they were added.
    pub fn relatives(&self, patient: &str) -> Result<Vec<Relative>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT member_id, relation, hla_gl, added_at, added_by FROM family_members
             WHERE patient_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([patient], |r| {
            Ok(Relative {
                member: r.get(0)?,
                relation: r.get(1)?,
                gl: r.get(2)?,
                added_at: r.get(3)?,
                added_by: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
