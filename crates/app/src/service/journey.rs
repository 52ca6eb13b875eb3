//! The service's patient and workflow operations: the role checked, the use case run on
//! the writer, donors whose status the workflow changed refreshed in the live index, and
//! every change (and every identity read) in the audit trail.

use chrono::Local;
use medulla_family::FamilyAssignment;
use medulla_registry::requests::RequestFilter;
use medulla_registry::search_index::indexed;
use medulla_registry::{DonorStore, Identity, Store};
use medulla_workflow::Task;

use super::{lock, now, Live, Service};
use crate::auth::{Actor, Permission};
use crate::error::AppError;
use crate::patients::{self, CaseStatusInput, PatientInput, PatientView};
use crate::workflow::{
    self, EndInput, OpenInput, PlanAnswer, PlanInput, RecordInput, RequestView, ResultInput,
};

impl Service {
    /// Put a donor's current record and status into the live index.
    /// Take a donor's stored record and status into the live index again.
    pub(super) fn refresh_donor(&self, store: &Store, donor: &str) -> Result<(), AppError> {
        if let Some((d, s)) = store.donor(donor)? {
            let today = Local::now().date_naive();
            let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
            let Live { index, catalog } = &mut *live;
            let _ = index.upsert(catalog, &indexed(&d, &s, today));
        }
        Ok(())
    }

    /// A workflow change on the writer, then the donor refreshed and the audit entry.
    fn workflow_change<T>(
        &self,
        actor: &Actor,
        action: &str,
        subject: &str,
        detail: serde_json::Value,
        f: impl FnOnce(&mut Store) -> Result<(T, Option<String>), AppError>,
    ) -> Result<T, AppError> {
        self.expire_reservations()?;
        self.change(actor, action, subject, detail, |w| {
            let (out, donor) = f(w)?;
            if let Some(d) = donor {
                self.refresh_donor(w, &d)?;
            }
            Ok(out)
        })
    }

    /// Reservations past their expiry marked expired (the system's change, audited as
    /// such), before a change that may depend on them.
    fn expire_reservations(&self) -> Result<(), AppError> {
        let system = Actor {
            user: "system".into(),
            role: crate::auth::Role::Admin,
        };
        self.change(
            &system,
            "requests-expired",
            "-",
            serde_json::json!({}),
            |w| workflow::expire_due(w, now()),
        )?;
        Ok(())
    }

    pub fn add_patient(
        &self,
        actor: &Actor,
        input: &PatientInput,
    ) -> Result<PatientView, AppError> {
        actor.require(Permission::ManagePatients)?;
        // the audit entry names the patient, never their identity
        self.change(
            actor,
            "patient-add",
            &input.id,
            serde_json::json!({}),
            |w| patients::add(w, self.reducer, input, &actor.user, now()),
        )
    }

    pub fn patient(&self, actor: &Actor, id: &str) -> Result<PatientView, AppError> {
        actor.require(Permission::ReadPatients)?;
        patients::show(&lock(&self.reader), id)
    }

    pub fn patients(
        &self,
        actor: &Actor,
        status: Option<&str>,
    ) -> Result<Vec<PatientView>, AppError> {
        actor.require(Permission::ReadPatients)?;
        patients::list(&lock(&self.reader), status)
    }

    /// A patient's identity: only for roles that may, and every read is audited.
    pub fn patient_identity(&self, actor: &Actor, id: &str) -> Result<Identity, AppError> {
        actor.require(Permission::ReadPatientIdentity)?;
        let found = lock(&self.reader).patient_identity(id)?;
        self.audit(
            &actor.user,
            "patient-identity-read",
            id,
            serde_json::json!({ "found": found.is_some() }),
        )?;
        found.ok_or_else(|| AppError::NotFound(format!("no identity is held for patient {id}")))
    }

    pub fn set_case_status(
        &self,
        actor: &Actor,
        id: &str,
        input: &CaseStatusInput,
    ) -> Result<PatientView, AppError> {
        actor.require(Permission::ManagePatients)?;
        self.change(
            actor,
            "case-status",
            id,
            serde_json::json!({ "status": input.status, "note": input.note }),
            |w| patients::set_status(w, id, input, &actor.user, now()),
        )
    }

    pub fn open_request(&self, actor: &Actor, input: &OpenInput) -> Result<RequestView, AppError> {
        actor.require(Permission::ManagePatients)?;
        // asking partners their ION is a network call: on a connection of its own, not
        // under the reader lock searches share
        crate::exchange::learn_route(&Store::open_existing(self.database())?, &input.donor)?;
        // the audit names the donor as requests do: this registry's id, or a partner's GRID
        let subject = crate::donor_ref::resolve(lock(&self.reader).connection(), &input.donor)
            .map(|d| d.key().to_string())
            .unwrap_or_else(|_| input.donor.trim().to_string());
        let r = self.workflow_change(
            actor,
            "request-open",
            &subject,
            serde_json::json!({ "patient": input.patient, "type": input.kind }),
            |w| {
                let r = workflow::open(w, input, &actor.user, now())?;
                let donor = r.donor.clone();
                Ok((r, Some(donor)))
            },
        )?;
        Ok(r)
    }

    pub fn request(&self, actor: &Actor, id: &str) -> Result<RequestView, AppError> {
        actor.require(Permission::ReadPatients)?;
        workflow::show(&lock(&self.reader), id, Local::now().date_naive())
    }

    pub fn requests(&self, actor: &Actor, f: &RequestFilter) -> Result<Vec<RequestView>, AppError> {
        actor.require(Permission::ReadPatients)?;
        workflow::list(&lock(&self.reader), f, Local::now().date_naive())
    }

    pub fn acknowledge_request(&self, actor: &Actor, id: &str) -> Result<RequestView, AppError> {
        actor.require(Permission::Workup)?;
        self.workflow_change(
            actor,
            "request-acknowledge",
            id,
            serde_json::json!({}),
            |w| Ok((workflow::acknowledge(w, id, &actor.user, now())?, None)),
        )
    }

    pub fn request_result(
        &self,
        actor: &Actor,
        id: &str,
        input: &ResultInput,
    ) -> Result<RequestView, AppError> {
        actor.require(Permission::Workup)?;
        self.workflow_change(
            actor,
            "request-result",
            id,
            serde_json::json!({ "partial": input.partial, "typing": input.typing.is_some() }),
            |w| {
                Ok((
                    workflow::result(w, self.reducer, id, input, &actor.user, now())?,
                    None,
                ))
            },
        )
    }

    pub fn end_request(
        &self,
        actor: &Actor,
        id: &str,
        end: EndInput,
    ) -> Result<RequestView, AppError> {
        actor.require(Permission::ManagePatients)?;
        let detail = match &end {
            EndInput::Reject { reason, .. } => serde_json::json!({ "rejected": reason }),
            EndInput::Cancel { reason } => serde_json::json!({ "cancelled": reason }),
        };
        self.workflow_change(actor, "request-end", id, detail, |w| {
            let r = workflow::end(w, id, end, &actor.user, now())?;
            let donor = r.donor.clone();
            Ok((r, Some(donor)))
        })
    }

    pub fn workup_plan(
        &self,
        actor: &Actor,
        id: &str,
        input: &PlanInput,
    ) -> Result<PlanAnswer, AppError> {
        actor.require(Permission::Workup)?;
        self.workflow_change(
            actor,
            "workup-plan",
            id,
            serde_json::json!({ "collection": input.collection, "exam": input.exam,
                "idm": input.idm, "conditioning": input.conditioning }),
            |w| {
                // a plan may lengthen the donor's hold
                let p = workflow::plan(w, id, input, &actor.user, now())?;
                let donor = p.request.donor.clone();
                Ok((p, Some(donor)))
            },
        )
    }

    pub fn workup_record(
        &self,
        actor: &Actor,
        id: &str,
        input: &RecordInput,
    ) -> Result<RequestView, AppError> {
        actor.require(Permission::Workup)?;
        self.workflow_change(
            actor,
            "workup-record",
            id,
            serde_json::json!({ "step": input.step, "date": input.date, "outcome": input.outcome }),
            |w| {
                let r = workflow::record(w, Some(self.reducer), id, input, &actor.user, now())?;
                let donor = r.donor.clone();
                Ok((r, Some(donor)))
            },
        )
    }

    pub fn tasks(&self, actor: &Actor, due_days: Option<i64>) -> Result<Vec<Task>, AppError> {
        actor.require(Permission::ReadPatients)?;
        workflow::task_list(&lock(&self.reader), Local::now().date_naive(), due_days)
    }

    /// The patient's roadmap as it stands: the national step as last searched (this
    /// server's last search for the patient, or the matches kept with the case). Viewing
    /// runs and saves no search: [`Self::refresh_roadmap`] does, when asked.
    pub fn roadmap(
        &self,
        actor: &Actor,
        id: &str,
        threshold: f64,
    ) -> Result<crate::roadmap::Roadmap, AppError> {
        actor.require(Permission::ReadPatients)?;
        actor.require(Permission::Search)?;
        let at = now();
        let cached = lock(&self.roadmaps).get(id).cloned();
        let r = {
            let mut reader = lock(&self.reader);
            let population = reader
                .patient(id)?
                .and_then(|r| r.patient.population)
                .unwrap_or_else(|| "pooled".into());
            crate::roadmap::roadmap(
                &mut reader,
                self.reducer,
                Some((&self.freqs.set, population.as_str())),
                id,
                threshold,
                at,
                |store, patient| match cached {
                    Some(n) => Ok(n),
                    None => crate::roadmap::national_as_saved(store, &patient.id),
                },
            )?
        };
        self.audit(
            &actor.user,
            "roadmap",
            id,
            serde_json::json!({ "threshold": threshold }),
        )?;
        Ok(r)
    }

    /// Search the registry for the patient's roadmap now: the search runs on the live
    /// index before the writer is taken, which is held only to keep the result with the
    /// case (saved search `patient-ID`); the roadmap with it.
    pub fn refresh_roadmap(
        &self,
        actor: &Actor,
        id: &str,
        threshold: f64,
    ) -> Result<crate::roadmap::Roadmap, AppError> {
        actor.require(Permission::ReadPatients)?;
        actor.require(Permission::Search)?;
        let at = now();
        let record = lock(&self.reader)
            .patient(id)?
            .ok_or_else(|| AppError::NotFound(format!("patient {id} is not registered")))?;
        let population = record
            .patient
            .population
            .clone()
            .unwrap_or_else(|| "pooled".into());
        // the search runs on the live index before the writer is taken: the writer is
        // held only to keep its result with the case
        let options = crate::roadmap::national_options(&record.patient, at.date());
        let (answer, saved, by) = self.run_search_counted(&options, true)?;
        let searched = self.donors();
        let r = self.change(
            actor,
            "roadmap-search",
            id,
            serde_json::json!({ "threshold": threshold, "hits": answer.total }),
            |w| {
                crate::roadmap::roadmap(
                    w,
                    self.reducer,
                    Some((&self.freqs.set, population.as_str())),
                    id,
                    threshold,
                    at,
                    |store, patient| {
                        let changes = crate::roadmap::keep_with_case(
                            store,
                            &patient.id,
                            &options,
                            &saved,
                            at,
                        )?;
                        let national = crate::roadmap::National {
                            searched,
                            by_mismatches: by,
                            best: answer.hits,
                            warnings: answer.warnings,
                            changes,
                            searched_at: Some(at.format("%Y-%m-%dT%H:%M:%S").to_string()),
                        };
                        lock(&self.roadmaps).insert(patient.id.clone(), national.clone());
                        Ok(national)
                    },
                )
            },
        )?;
        Ok(r)
    }

    pub fn add_relative(
        &self,
        actor: &Actor,
        input: &crate::roadmap::RelativeInput,
    ) -> Result<FamilyAssignment, AppError> {
        actor.require(Permission::ManagePatients)?;
        self.change(
            actor,
            "relative-add",
            &input.patient,
            serde_json::json!({ "member": input.member, "relation": input.relation }),
            |w| crate::roadmap::add_relative(w, self.reducer, input, &actor.user, now()),
        )?;
        self.family(actor, &input.patient)
    }

    pub fn family(&self, actor: &Actor, patient: &str) -> Result<FamilyAssignment, AppError> {
        actor.require(Permission::ReadPatients)?;
        let reader = lock(&self.reader);
        let population = reader
            .patient(patient)?
            .and_then(|r| r.patient.population)
            .unwrap_or_else(|| "pooled".into());
        crate::roadmap::assign_patient_family(
            &reader,
            self.reducer,
            patient,
            Some((&self.freqs.set, population.as_str())),
        )
    }

    pub fn add_product(
        &self,
        actor: &Actor,
        input: &crate::roadmap::ProductInput,
        threshold: f64,
    ) -> Result<crate::roadmap::ProductView, AppError> {
        actor.require(Permission::ManagePatients)?;
        self.change(
            actor,
            "product-add",
            &input.patient,
            serde_json::json!({ "product": input.id }),
            |w| crate::roadmap::add_product(w, input, &actor.user, now(), threshold),
        )
    }

    pub fn products(
        &self,
        actor: &Actor,
        patient: &str,
        threshold: f64,
    ) -> Result<crate::roadmap::ProductsView, AppError> {
        actor.require(Permission::ReadPatients)?;
        crate::roadmap::products(
            &lock(&self.reader),
            patient,
            threshold,
            Local::now().date_naive(),
        )
    }

    pub fn set_product_status(
        &self,
        actor: &Actor,
        id: &str,
        status: &str,
        note: &str,
        threshold: f64,
    ) -> Result<crate::roadmap::ProductView, AppError> {
        actor.require(Permission::ManagePatients)?;
        self.change(
            actor,
            "product-status",
            id,
            serde_json::json!({ "status": status, "note": note }),
            |w| {
                crate::roadmap::set_product_status(
                    w,
                    id,
                    status,
                    &actor.user,
                    note,
                    now(),
                    threshold,
                )
            },
        )
    }

    pub fn workup_calendar(&self, actor: &Actor, id: &str) -> Result<String, AppError> {
        actor.require(Permission::ReadPatients)?;
        workflow::calendar(&lock(&self.reader), id)
    }
}
