//! Patients: registration (facts apart from identity), their search case's lifecycle, and
//! the views every interface shows.

use chrono::{NaiveDate, NaiveDateTime};
use medulla_nomenclature::Reducer;
use medulla_registry::patient::{CaseChange, CaseStatus, Patient, PatientRecord};
use medulla_registry::{Identity, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

/// A patient to register, as `medulla patients add` and `POST /api/v1/patients` take it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    pub id: String,
    /// The HLA typing as a GL String.
    pub typing: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub birth_date: Option<NaiveDate>,
    /// M or F.
    pub sex: Option<String>,
    pub weight: Option<f64>,
    /// O, A, B, AB.
    pub abo: Option<String>,
    /// pos or neg.
    pub rh: Option<String>,
    /// pos or neg.
    pub cmv: Option<String>,
    /// The population for match probabilities (a population of the frequency sets).
    pub population: Option<String>,
    pub diagnosis: Option<String>,
    pub stage: Option<String>,
    /// under-4w, 4-6w, 7-12w, 12w-6m, over-6m.
    pub urgency: Option<String>,
    pub centre: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub typing_date: Option<NaiveDate>,
    pub typing_lab: Option<String>,
    /// Identity, stored apart from the facts.
    pub name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

fn invalid(field: &str, reason: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn parsed<T: std::str::FromStr<Err = String>>(
    field: &str,
    v: &Option<String>,
) -> Result<Option<T>, AppError> {
    v.as_deref()
        .map(|s| s.parse::<T>().map_err(|e| invalid(field, e)))
        .transpose()
}

impl PatientInput {
    /// The patient's facts and identity, each field checked; the typing validated on the
    /// release and stored without `HLA-` prefixes.
    pub fn read(&self, reducer: &Reducer<'_>) -> Result<(Patient, Option<Identity>), AppError> {
        let id = self.id.trim();
        medulla_workflow::ids::check_identifier("id", id, medulla_workflow::ids::MAX_TYPED_ID)?;
        if id.contains(char::is_whitespace) {
            return Err(invalid("id", format!("{:?} is not a patient id", self.id)));
        }
        let hla = medulla_nomenclature::strip_prefixes(self.typing.trim()).into_owned();
        if hla.is_empty() {
            return Err(invalid("typing", "the patient's HLA typing is required"));
        }
        reducer
            .validate(&hla)
            .map_err(|e| invalid("typing", e.to_string()))?;
        medulla_nomenclature::split_loci(&hla).map_err(|e| invalid("typing", e.to_string()))?;
        if let Some(w) = self.weight {
            if !(w.is_finite() && w > 0.0 && w < 400.0) {
                return Err(invalid("weight", format!("{w} kg is not a body weight")));
            }
        }
        let sex = match self.sex.as_deref().map(str::trim) {
            None => None,
            Some("M" | "m") => Some(medulla_registry::Sex::Male),
            Some("F" | "f") => Some(medulla_registry::Sex::Female),
            Some(o) => return Err(invalid("sex", format!("{o:?} is not M or F"))),
        };
        let patient = Patient {
            id: id.to_string(),
            birth_date: self.birth_date,
            sex,
            weight_kg: self.weight,
            abo: parsed("abo", &self.abo)?,
            rh: parsed("rh", &self.rh)?,
            cmv: parsed("cmv", &self.cmv)?,
            diagnosis: self.diagnosis.clone(),
            stage: self.stage.clone(),
            urgency: parsed("urgency", &self.urgency)?,
            centre: self.centre.clone(),
            population: self.population.clone(),
            hla,
            typing_date: self.typing_date,
            typing_lab: self.typing_lab.clone(),
        };
        let identity = Identity::from_fields(|f| match f {
            "name" => self.name.clone(),
            "address" => self.address.clone(),
            "phone" => self.phone.clone(),
            "email" => self.email.clone(),
            _ => None,
        });
        Ok((patient, identity))
    }
}

/// One change of a search case, as shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseChangeView {
    pub at: String,
    pub by: String,
    pub status: String,
    pub note: String,
}

/// A patient's record and case, never identity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatientView {
    pub id: String,
    pub status: String,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub weight: Option<f64>,
    pub abo: Option<String>,
    pub rh: Option<String>,
    pub cmv: Option<String>,
    pub population: Option<String>,
    pub diagnosis: Option<String>,
    pub stage: Option<String>,
    pub urgency: Option<String>,
    pub centre: Option<String>,
    pub typing: String,
    pub typing_date: Option<String>,
    pub typing_lab: Option<String>,
    pub registered_at: String,
    pub history: Vec<CaseChangeView>,
}

impl PatientView {
    pub fn new(r: PatientRecord, history: Vec<CaseChange>) -> PatientView {
        let p = r.patient;
        PatientView {
            id: p.id,
            status: r.status.to_string(),
            birth_date: p.birth_date.map(|d| d.to_string()),
            sex: p.sex.map(|s| s.to_string()),
            weight: p.weight_kg,
            abo: p.abo.map(|s| s.to_string()),
            rh: p.rh.map(|s| s.to_string()),
            cmv: p.cmv.map(|s| s.to_string()),
            population: p.population,
            diagnosis: p.diagnosis,
            stage: p.stage,
            urgency: p.urgency.map(|u| u.to_string()),
            centre: p.centre,
            typing: p.hla,
            typing_date: p.typing_date.map(|d| d.to_string()),
            typing_lab: p.typing_lab,
            registered_at: r.created_at,
            history: history
                .into_iter()
                .map(|h| CaseChangeView {
                    at: h.at.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    by: h.by,
                    status: h.status.to_string(),
                    note: h.note,
                })
                .collect(),
        }
    }
}

/// A change of a search case's status.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseStatusInput {
    /// preliminary, active, suspended, stopped, transplanted.
    pub status: String,
    /// Why (required to stop a case).
    pub reason: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// Register a patient.
pub fn add(
    store: &mut Store,
    reducer: &Reducer<'_>,
    input: &PatientInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<PatientView, AppError> {
    let (patient, identity) = input.read(reducer)?;
    if let Some(born) = patient.birth_date.filter(|b| *b > at.date()) {
        return Err(invalid(
            "birth_date",
            format!("{born} is in the future (today is {})", at.date()),
        ));
    }
    store.add_patient(&patient, identity.as_ref(), at, by)?;
    show(store, &patient.id)
}

/// A patient's record with its case history.
pub fn show(store: &Store, id: &str) -> Result<PatientView, AppError> {
    let rec = store
        .patient(id)?
        .ok_or_else(|| AppError::NotFound(format!("patient {id} is not registered")))?;
    Ok(PatientView::new(rec, store.case_history(id)?))
}

/// Patients, optionally those with one case status.
pub fn list(store: &Store, status: Option<&str>) -> Result<Vec<PatientView>, AppError> {
    if let Some(s) = status {
        CaseStatus::parse(s, Some("-")).map_err(|e| invalid("status", e))?;
    }
    Ok(store
        .patients(status)?
        .into_iter()
        .map(|r| PatientView::new(r, Vec::new()))
        .collect())
}

/// Move a patient's search case, kept in its history with who, when and why.
pub fn set_status(
    store: &mut Store,
    id: &str,
    input: &CaseStatusInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<PatientView, AppError> {
    let status = CaseStatus::parse(&input.status, input.reason.as_deref())
        .map_err(|e| invalid("status", e))?;
    if store.patient(id)?.is_none() {
        return Err(AppError::NotFound(format!(
            "patient {id} is not registered"
        )));
    }
    let note = match (&input.reason, input.note.is_empty()) {
        (Some(r), true) => r.clone(),
        _ => input.note.clone(),
    };
    store
        .set_case_status(
            id,
            &CaseChange {
                status,
                at,
                by: by.to_string(),
                note,
            },
        )
        .map_err(|e| match e {
            medulla_registry::StoreError::Status { reason, .. } => AppError::Rule {
                rule: "case-lifecycle".into(),
                message: format!("patient {id}: {reason}"),
            },
            other => other.into(),
        })?;
    show(store, id)
}
