//! The donor's journey as use cases: open, acknowledge, result, reject and cancel requests;
//! plan and record workup steps; the task list and the donor's calendar. The rules are
//! `medulla-workflow`'s; this layer loads, checks the registry's side (the patient and
//! donor exist, the donor's status, the verification typing against the stored one),
//! applies the consequences (donor reserved, released, unavailable after donating) and
//! writes everything in one transaction.

use chrono::{NaiveDate, NaiveDateTime};
use medulla_nomenclature::{Reducer, Reduction};
use medulla_registry::patient::patient_in;
use medulla_registry::requests::{
    add_event, insert_request, journey_in, next_request_id, open_of_donor, put_journey,
    replace_tasks, request_in, requests_of_pair, set_state, RequestEvent, RequestFilter,
};

use crate::donor_ref::{self, DonorId, DonorRef};
use medulla_registry::store::set_status_in;
use medulla_registry::store::{DbConnection, DbTransaction};
use medulla_registry::{DonorStore, Status, StatusChange, Store, StoreError, DONOR_LOCI};
use medulla_workflow::journey::{PlanChange, Reopened};
use medulla_workflow::{
    check_open, tasks, Entry, Journey, Outcome, RejectReason, Request, RequestState, RequestType,
    Step, Subject, Verification,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::exchange::outbox::{self, Action, Change};
use medulla_registry::exchange::{request_link, RequestLink};

pub use medulla_workflow::Task;

/// A request to open, as `medulla requests open` and `POST /api/v1/requests` take it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenInput {
    pub patient: String,
    pub donor: String,
    /// ct, idm, sample, reservation, workup.
    #[serde(rename = "type")]
    pub kind: String,
    /// Loci of a `ct` request (`A,B,C,DRB1,DQB1`, the default).
    pub loci: Option<String>,
    /// Expiry of a reservation.
    #[schema(value_type = Option<String>, format = Date)]
    pub expires: Option<NaiveDate>,
    #[serde(default)]
    pub note: String,
}

/// A result to a request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultInput {
    /// More results will follow.
    #[serde(default)]
    pub partial: bool,
    /// The typing a `ct` request returns, as a GL String.
    pub typing: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// A plan change, as `medulla workup plan` takes it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    #[schema(value_type = Option<String>, format = Date)]
    pub collection: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub exam: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub idm: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub conditioning: Option<NaiveDate>,
}

/// A step to record, as `medulla workup record` takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// consent, sample, typing, exam, idm, clearance, mobilisation, collection, shipment,
    /// infusion, followup-1w, followup-1m, followup-1y, followup-5y.
    pub step: String,
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// ok (default) or failed.
    pub outcome: Option<String>,
    /// The verification typing (step `typing`).
    pub typing: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// A request as shown: its facts, state, history and (for a workup) journey.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub patient: String,
    pub donor: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    pub loci: Option<Vec<String>>,
    pub expires: Option<String>,
    pub opened: String,
    pub opened_by: String,
    pub note: String,
    /// The registry that opened the request, when a partner did (its name here, or its
    /// ION); `null` for this registry's own.
    pub origin: Option<String>,
    /// The partner registry on the other side (the donor's registry for a request sent
    /// out, the requester for one received); `null` when none.
    pub partner: Option<String>,
    /// The reference both registries know the request by.
    pub reference: Option<String>,
    /// Things the requester must know (the donor reserved for another patient...).
    pub flags: Vec<String>,
    pub events: Vec<EventView>,
    pub workup: Option<WorkupView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub at: String,
    pub by: String,
    pub event: String,
    pub detail: String,
}

/// A workup's journey: every step with its date, state and deadline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkupView {
    pub collection: Option<String>,
    pub planned_exam: Option<String>,
    pub planned_idm: Option<String>,
    pub conditioning: Option<String>,
    pub review: Option<String>,
    pub steps: Vec<StepView>,
    pub available_from: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepView {
    pub step: String,
    /// done, failed, open (ready to do), waiting (needs earlier steps), reopened.
    pub state: String,
    pub date: Option<String>,
    pub due: Option<String>,
    pub overdue: bool,
    pub by: Option<String>,
    pub note: Option<String>,
}

/// What a plan change did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanAnswer {
    pub request: RequestView,
    /// Steps reopened by the new dates, and why.
    pub reopened: Vec<String>,
    /// Planned dates dropped because they no longer fit.
    pub dropped: Vec<String>,
}

fn now_date(at: NaiveDateTime) -> NaiveDate {
    at.date()
}

fn not_found_request(id: &str) -> AppError {
    AppError::NotFound(format!("request {id} does not exist"))
}

fn load(tx: &DbConnection, id: &str) -> Result<Request, AppError> {
    request_in(tx, id)?.ok_or_else(|| not_found_request(id))
}

/// The name a request's patient holds a donor of this registry under: a partner's
/// patient is `ION:PATIENT`.
pub(crate) fn holder_of(conn: &DbConnection, r: &Request) -> Result<String, StoreError> {
    Ok(match request_link(conn, &r.id)?.origin {
        Some(ion) => format!("{ion}:{}", r.patient),
        None => r.patient.clone(),
    })
}

/// Flags for the requester: the donor is reserved for (or has donated to) another
/// patient.
fn flags_for(conn: &DbConnection, r: &Request) -> Result<Vec<String>, AppError> {
    let mut out = Vec::new();
    let holder = holder_of(conn, r)?;
    let (status, others) = match DonorId::of_local(conn, &r.donor) {
        Ok((id, status)) => (status, donor_ref::open_requests(conn, &id)?),
        // a partner registry's donor: its registry knows its status
        Err(AppError::NotFound(_)) if request_link(conn, &r.id)?.partner.is_some() => {
            (Status::Available, open_of_donor(conn, &r.donor)?)
        }
        Err(e) => return Err(e),
    };
    if let Status::Reserved { patient, until } = &status {
        if *patient != holder {
            out.push(format!(
                "donor {} is reserved for patient {patient} until {until}",
                r.donor
            ));
        }
    }
    for other in others {
        if other.id == r.id {
            continue;
        }
        let other_holder = holder_of(conn, &other)?;
        if other_holder == holder {
            continue;
        }
        match other.kind() {
            RequestType::Reservation => {
                let msg = format!(
                    "donor {} is held by reservation {} for patient {other_holder}",
                    r.donor, other.id
                );
                if !out.iter().any(|f| f.contains(&other_holder)) {
                    out.push(msg);
                }
            }
            RequestType::Workup => out.push(format!(
                "donor {} is in workup {} for patient {other_holder}",
                r.donor, other.id
            )),
            _ => {}
        }
    }
    Ok(out)
}

/// A workup is active from its opening until the collection (its state then becomes
/// partially resulted, and the donor is unavailable after donating).
fn active_workup(r: &Request) -> bool {
    r.kind() == RequestType::Workup
        && matches!(r.state, RequestState::Open | RequestState::Acknowledged)
}

/// Refuse a second active workup of a donor of this registry, for any patient.
pub(crate) fn check_one_active_workup(
    conn: &DbConnection,
    donor: &DonorId,
) -> Result<(), AppError> {
    if let Some(other) = donor_ref::open_requests(conn, donor)?
        .into_iter()
        .find(active_workup)
    {
        return Err(AppError::Rule {
            rule: "one-active-workup".into(),
            message: format!(
                "donor {} is already in workup {} for patient {} ({}): a donor has one \
                 active workup at a time",
                donor.as_str(),
                other.id,
                holder_of(conn, &other)?,
                other.state.describe()
            ),
        });
    }
    Ok(())
}

/// Refuse to reserve (or work up) a donor reserved for another patient (a reservation
/// that has not lapsed).
pub(crate) fn check_not_reserved_for_another(
    donor: &DonorId,
    status: &Status,
    holder: &str,
    today: NaiveDate,
) -> Result<(), AppError> {
    if let Status::Reserved { patient, until } = status {
        if patient != holder && *until > today {
            return Err(AppError::Rule {
                rule: "reserved-for-another-patient".into(),
                message: format!(
                    "donor {} is reserved for patient {patient} until {until}",
                    donor.as_str()
                ),
            });
        }
    }
    Ok(())
}

/// How long a workup holds its donor: the registry's reservation maximum from today
/// (`max-reservation-days`), or the day after the planned (or recorded) collection when
/// that is later. After the collection the donor is unavailable after donating instead.
pub(crate) fn workup_hold_until(
    conn: &DbConnection,
    today: NaiveDate,
    journey: Option<&Journey>,
) -> Result<NaiveDate, AppError> {
    let max =
        today + chrono::Duration::days(i64::from(crate::settings::max_reservation_days(conn)?));
    Ok(match journey.and_then(Journey::collection) {
        Some(c) if c >= max => c + chrono::Duration::days(1),
        _ => max,
    })
}

/// Reserve a donor of this registry for the patient of workup `id` until `until`. A
/// donor already reserved for the same patient keeps the later of the two dates; a
/// donor who is temporarily unavailable (after donating, say) or permanently
/// unavailable keeps that status.
#[allow(clippy::too_many_arguments)]
pub(crate) fn hold_for_workup(
    tx: &DbTransaction<'_>,
    donor: &DonorId,
    status: &Status,
    holder: &str,
    until: NaiveDate,
    id: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<bool, AppError> {
    let today = now_date(at);
    let reserve = match status {
        Status::Reserved { patient, until: u } if patient == holder && *u > today => until > *u,
        other => other.searchable_on(today),
    };
    if !reserve {
        return Ok(false);
    }
    set_status_in(
        tx,
        donor.as_str(),
        StatusChange {
            status: Status::Reserved {
                patient: holder.to_string(),
                until,
            },
            changed_at: at,
            changed_by: by.to_string(),
            note: format!("workup {id}"),
        },
    )?;
    Ok(true)
}

/// Open a request: the patient and donor must exist, the rules of requests hold; a
/// reservation reserves the donor for the patient, a workup starts its journey.
pub fn open(
    store: &mut Store,
    input: &OpenInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<RequestView, AppError> {
    let today = now_date(at);
    let kind: RequestType = input.kind.parse()?;
    let loci = input
        .loci
        .as_deref()
        .map(medulla_workflow::request::parse_loci)
        .transpose()?;
    let subject = Subject::new(kind, loci, input.expires, today)?;
    let id = store.write(|tx| -> Result<String, AppError> {
        if patient_in(tx, &input.patient)?.is_none() {
            return Err(AppError::NotFound(format!(
                "patient {} is not registered",
                input.patient
            )));
        }
        // the donor named once: this registry's donor (by id or GRID) under its id, a
        // partner registry's donor under its GRID (the request goes out through the
        // outbox, and the partner's registry answers it and reserves its donor)
        let donor = donor_ref::resolve(tx, &input.donor)?;
        let pair = donor_ref::pair_requests(tx, &input.patient, &donor)?;
        check_open(&pair, &subject)?;
        if let DonorRef::Local {
            id: donor_id,
            status,
        } = &donor
        {
            if let Subject::Reservation { expires } = &subject {
                crate::settings::check_reservation_expiry(tx, *expires, today)?;
            }
            if kind == RequestType::Workup {
                check_one_active_workup(tx, donor_id)?;
            }
            if matches!(kind, RequestType::Reservation | RequestType::Workup) {
                check_not_reserved_for_another(donor_id, status, &input.patient, today)?;
            }
        }
        let (seq, id) = next_request_id(tx)?;
        let r = Request {
            id: id.clone(),
            patient: input.patient.clone(),
            donor: donor.key().to_string(),
            subject: subject.clone(),
            state: RequestState::Open,
            opened: today,
            opened_by: by.to_string(),
            note: input.note.clone(),
        };
        insert_request(tx, seq, &r, at)?;
        match (&subject, &donor) {
            (_, DonorRef::Partner { partner, .. }) => outbox::link_outgoing(tx, &id, partner)?,
            (Subject::Reservation { expires }, DonorRef::Local { id: donor_id, .. }) => {
                set_status_in(
                    tx,
                    donor_id.as_str(),
                    StatusChange {
                        status: Status::Reserved {
                            patient: r.patient.clone(),
                            until: *expires,
                        },
                        changed_at: at,
                        changed_by: by.to_string(),
                        note: format!("reservation {id}"),
                    },
                )?
            }
            (
                Subject::Workup,
                DonorRef::Local {
                    id: donor_id,
                    status,
                },
            ) => {
                let until = workup_hold_until(tx, today, None)?;
                hold_for_workup(tx, donor_id, status, &r.patient, until, &id, by, at)?;
            }
            _ => {}
        }
        if kind == RequestType::Workup {
            put_journey(tx, &id, &Journey::new(today), at)?;
        }
        refresh_tasks(tx, &id)?;
        outbox::request_changed(tx, &id, Change::Opened, at)?;
        Ok(id)
    })?;

    show(store, &id, today)
}

/// Keep a request's due tasks with it (computed by the workflow after every change).
pub(crate) fn refresh_tasks(tx: &DbTransaction<'_>, id: &str) -> Result<(), StoreError> {
    if let Some(r) = request_in(tx, id)? {
        let j = journey_in(tx, id)?;
        replace_tasks(tx, id, &tasks::request_due(&r, j.as_ref()))?;
    }
    Ok(())
}

/// Release a donor reserved for this request's patient (a cancelled or rejected
/// reservation or workup).
pub(crate) fn release(
    tx: &DbTransaction<'_>,
    r: &Request,
    by: &str,
    at: NaiveDateTime,
    why: &str,
) -> Result<(), StoreError> {
    let link = request_link(tx, &r.id)?;
    if link.partner.is_some() && link.origin.is_none() {
        // a partner registry's donor: its registry releases it on the cancellation
        return Ok(());
    }
    let (_, status) = Store::donor_in(tx, &r.donor)?;
    // a partner's patient holds a donor here as `ION:PATIENT`
    let holder = match link.origin {
        Some(ion) => format!("{ion}:{}", r.patient),
        None => r.patient.clone(),
    };
    if let Status::Reserved { patient, .. } = status {
        if patient == holder {
            set_status_in(
                tx,
                &r.donor,
                StatusChange {
                    status: Status::Available,
                    changed_at: at,
                    changed_by: by.to_string(),
                    note: format!("request {} {why}: reservation released", r.id),
                },
            )?;
        }
    }
    Ok(())
}

/// Mark reservations past their expiry as expired (the donor's reserved status lapses by
/// its own date). Returns how many.
pub fn expire_due(store: &mut Store, at: NaiveDateTime) -> Result<usize, AppError> {
    let today = now_date(at);
    let due: Vec<Request> = store
        .requests(&RequestFilter {
            open_only: true,
            ..Default::default()
        })?
        .into_iter()
        .filter(|r| r.lapsed(today))
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    store.write(|tx| -> Result<_, AppError> {
        for r in &due {
            set_state(tx, &r.id, &RequestState::Expired, at)?;
            add_event(
                tx,
                &r.id,
                at,
                "medulla",
                "expired",
                "the reservation passed its expiry",
            )?;
            refresh_tasks(tx, &r.id)?;
        }
        Ok(())
    })?;
    Ok(due.len())
}

pub fn acknowledge(
    store: &mut Store,
    id: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<RequestView, AppError> {
    store.write(|tx| -> Result<_, AppError> {
        outbox::guard(tx, id, Action::Answer)?;
        let r = load(tx, id)?;
        let next = r.after_acknowledge()?;
        set_state(tx, id, &next, at)?;
        add_event(tx, id, at, by, "acknowledged", "")?;
        refresh_tasks(tx, id)?;
        outbox::request_changed(tx, id, Change::Acknowledged, at)
    })?;
    show(store, id, now_date(at))
}

/// Compare a verification typing with the donor's stored typing: at every locus both
/// type, each position the registry typed must share an allele (at the ARD, two-field
/// lgx names) with one of the verification's positions, the two positions paired one to
/// one.
pub fn verify_typing(
    reducer: &Reducer<'_>,
    stored: &[[Option<String>; 2]; 11],
    typing: &str,
) -> Result<Verification, AppError> {
    let invalid = |reason: String| AppError::Invalid {
        field: "typing".into(),
        reason,
    };
    let blocks = medulla_nomenclature::split_loci(typing).map_err(|e| invalid(e.to_string()))?;
    let set = |text: &str| -> Result<Vec<String>, AppError> {
        let r = reducer
            .reduce(text, Reduction::Lgx)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(r.split(['/', '|', '+']).map(str::to_string).collect())
    };
    let mut problems = Vec::new();
    for b in blocks {
        let Some(li) = DONOR_LOCI.iter().position(|l| *l == b.locus) else {
            continue;
        };
        let held: Vec<Vec<String>> = stored[li]
            .iter()
            .flatten()
            .map(|t| set(t))
            .collect::<Result<_, _>>()?;
        if held.is_empty() {
            continue;
        }
        if b.copies.is_empty() {
            return Err(invalid(format!(
                "{}: give the two copies, not a genotype list",
                b.text
            )));
        }
        let mut new: Vec<Vec<String>> =
            b.copies.iter().map(|c| set(c)).collect::<Result<_, _>>()?;
        if new.len() == 1 {
            new.push(new[0].clone());
        }
        let shares = |a: &Vec<String>, b: &Vec<String>| a.iter().any(|x| b.contains(x));
        let ok = match held.as_slice() {
            [one] => new.iter().any(|n| shares(one, n)),
            [h1, h2] => {
                (shares(h1, &new[0]) && shares(h2, &new[1]))
                    || (shares(h1, &new[1]) && shares(h2, &new[0]))
            }
            _ => true,
        };
        if !ok {
            let held_text: Vec<String> = stored[li].iter().flatten().cloned().collect();
            problems.push(format!(
                "{}: registry {} vs verification {}",
                b.locus,
                held_text.join("+"),
                b.copies.join("+")
            ));
        }
    }
    Ok(if problems.is_empty() {
        Verification::Agrees
    } else {
        Verification::Disagrees(problems.join("; "))
    })
}

/// Record a result (partial or complete; a later result is an update kept in the
/// history). A `ct` typing is compared with the registry's: a disagreement is flagged and
/// blocks the pair's workup for review.
pub fn result(
    store: &mut Store,
    reducer: &Reducer<'_>,
    id: &str,
    input: &ResultInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<RequestView, AppError> {
    let r = store.request(id)?.ok_or_else(|| not_found_request(id))?;
    outbox::guard(store.connection(), id, Action::Answer)?;
    let verification = match (&input.typing, r.kind()) {
        (Some(t), RequestType::Ct) => {
            let (donor, _) = store.donor(&r.donor)?.ok_or_else(|| {
                AppError::NotFound(format!("donor {} is not in the registry", r.donor))
            })?;
            Some((
                t.clone(),
                verify_typing(reducer, &donor.typing.positions, t)?,
            ))
        }
        (Some(_), k) => {
            return Err(AppError::Invalid {
                field: "typing".into(),
                reason: format!("only a ct request returns a typing, not {k}"),
            })
        }
        (None, _) => None,
    };
    store.write(|tx| -> Result<_, AppError> {
        let r = load(tx, id)?;
        let was = r.state.clone();
        let next = r.after_result(input.partial)?;
        set_state(tx, id, &next, at)?;
        let event = if was == RequestState::Resulted {
            "result-update"
        } else {
            "result"
        };
        let detail = serde_json::json!({
            "partial": input.partial,
            "typing": input.typing,
            "note": input.note,
        });
        add_event(tx, id, at, by, event, &detail.to_string())?;
        if let Some((t, Verification::Disagrees(why))) = &verification {
            add_event(
                tx,
                id,
                at,
                by,
                "typing-discrepancy",
                &format!("verification typing {t} disagrees: {why}; flagged for review"),
            )?;
            block_workups(tx, &r, now_date(at), why, by, at)?;
        }
        refresh_tasks(tx, id)?;
        outbox::request_changed(
            tx,
            id,
            Change::Result {
                partial: input.partial,
                typing: input.typing.as_deref(),
                note: &input.note,
            },
            at,
        )
    })?;
    show(store, id, now_date(at))
}

/// Stop the pair's open workup for review after a disagreeing verification typing.
fn block_workups(
    tx: &DbTransaction<'_>,
    r: &Request,
    today: NaiveDate,
    why: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    for w in requests_of_pair(tx, &r.patient, &r.donor)? {
        if w.kind() != RequestType::Workup || !w.state.is_open() {
            continue;
        }
        if let Some(mut j) = journey_in(tx, &w.id)? {
            j.review = Some(medulla_workflow::journey::Review {
                since: today,
                reason: format!("verification typing of request {} disagrees: {why}", r.id),
            });
            put_journey(tx, &w.id, &j, at)?;
            add_event(
                tx,
                &w.id,
                at,
                by,
                "blocked",
                &format!("typing discrepancy in request {}", r.id),
            )?;
            refresh_tasks(tx, &w.id)?;
        }
    }
    Ok(())
}

/// End a request without a result: rejected with a reason code, or cancelled with a
/// reason. A reservation (or workup) releases the donor.
pub fn end(
    store: &mut Store,
    id: &str,
    end: EndInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<RequestView, AppError> {
    let state = match &end {
        EndInput::Reject { reason, .. } => RequestState::Rejected {
            reason: reason.parse::<RejectReason>()?,
        },
        EndInput::Cancel { reason } => {
            if reason.trim().is_empty() {
                return Err(AppError::Invalid {
                    field: "reason".into(),
                    reason: "cancelling a request needs a reason".into(),
                });
            }
            RequestState::Cancelled {
                reason: reason.clone(),
            }
        }
    };
    store.write(|tx| -> Result<_, AppError> {
        outbox::guard(
            tx,
            id,
            match &end {
                EndInput::Reject { .. } => Action::Answer,
                EndInput::Cancel { .. } => Action::Withdraw,
            },
        )?;
        let r = load(tx, id)?;
        let next = r.after_end(state.clone())?;
        set_state(tx, id, &next, at)?;
        let detail = match &end {
            EndInput::Reject { note, .. } => format!("{}; {note}", next.describe()),
            EndInput::Cancel { .. } => next.describe(),
        };
        add_event(tx, id, at, by, next.code(), &detail)?;
        if matches!(r.kind(), RequestType::Reservation | RequestType::Workup) {
            release(tx, &r, by, at, next.code())?;
        }
        refresh_tasks(tx, id)?;
        let change = match &end {
            EndInput::Reject { reason, note } => Change::NoResult { reason, note },
            EndInput::Cancel { reason } => Change::Cancelled { reason },
        };
        outbox::request_changed(tx, id, change, at)
    })?;
    show(store, id, now_date(at))
}

/// Remind the donor's registry of an overdue result (a request sent to a partner).
pub fn remind(
    store: &mut Store,
    id: &str,
    note: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<RequestView, AppError> {
    // at most one reminder a week (EMDIS RES_REM)
    let last = store
        .request_events(id)?
        .into_iter()
        .filter(|e| e.event == "result-reminder")
        .filter_map(|e| NaiveDateTime::parse_from_str(&e.at, "%Y-%m-%dT%H:%M:%S").ok())
        .max();
    if let Some(last) = last.filter(|l| at - *l < chrono::Duration::days(7)) {
        return Err(AppError::Rule {
            rule: "reminder-weekly".into(),
            message: format!(
                "request {id} was reminded on {}: at most one reminder a week",
                last.date()
            ),
        });
    }
    store.write(|tx| -> Result<_, AppError> {
        let r = load(tx, id)?;
        if request_link(tx, id)?.partner.is_none() || !r.state.is_open() {
            return Err(AppError::Rule {
                rule: "reminder".into(),
                message: format!(
                    "request {id} is not an open request to a partner registry: nothing to remind"
                ),
            });
        }
        outbox::guard(tx, id, Action::Withdraw)?;
        add_event(tx, id, at, by, "result-reminder", note)?;
        outbox::request_changed(tx, id, Change::Reminder { note }, at)
    })?;
    show(store, id, now_date(at))
}

/// How a request ends without a result.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum EndInput {
    /// The donor's registry cannot deliver: a reason code.
    Reject {
        reason: String,
        #[serde(default)]
        note: String,
    },
    /// The requester withdraws it.
    Cancel { reason: String },
}

fn workup_of(tx: &DbConnection, id: &str) -> Result<(Request, Journey), AppError> {
    let r = load(tx, id)?;
    if r.kind() != RequestType::Workup {
        return Err(AppError::Invalid {
            field: "request".into(),
            reason: format!("request {id} is a {} request, not a workup", r.kind()),
        });
    }
    if !r.state.is_open() {
        return Err(AppError::Rule {
            rule: "request-lifecycle".into(),
            message: format!("workup {id} is {}", r.state.describe()),
        });
    }
    let j = journey_in(tx, id)?
        .ok_or_else(|| AppError::Internal(format!("workup {id} has no journey")))?;
    Ok((r, j))
}

fn reopened_text(r: &Reopened) -> String {
    format!(
        "{} of {} reopened [{}]: {}",
        r.record.step, r.record.date, r.rule, r.reason
    )
}

/// A workup planned to collect after its donor's hold ends: the hold reaches the day
/// after the collection (a donor of this registry held for the workup's patient only).
fn extend_hold(
    tx: &DbTransaction<'_>,
    id: &str,
    j: &Journey,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let r = load(tx, id)?;
    let link = request_link(tx, id)?;
    if link.partner.is_some() && link.origin.is_none() {
        return Ok(());
    }
    let (donor, status) = DonorId::of_local(tx, &r.donor)?;
    let holder = holder_of(tx, &r)?;
    if matches!(&status, Status::Reserved { patient, .. } if *patient == holder) {
        let until = workup_hold_until(tx, now_date(at), Some(j))?;
        hold_for_workup(tx, &donor, &status, &holder, until, id, by, at)?;
    }
    Ok(())
}

/// Set or move a workup's planned dates; records the new dates invalidate are reopened.
pub fn plan(
    store: &mut Store,
    id: &str,
    input: &PlanInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<PlanAnswer, AppError> {
    let today = now_date(at);
    if input.collection.is_none()
        && input.exam.is_none()
        && input.idm.is_none()
        && input.conditioning.is_none()
    {
        return Err(AppError::Invalid {
            field: "collection".into(),
            reason: "give at least one date to plan".into(),
        });
    }
    let effects = store.write(|tx| -> Result<_, AppError> {
        outbox::guard(tx, id, Action::Answer)?;
        let (_, mut j) = workup_of(tx, id)?;
        let fx = j.plan(
            &PlanChange {
                collection: input.collection,
                exam: input.exam,
                idm: input.idm,
                conditioning: input.conditioning,
            },
            today,
        )?;
        put_journey(tx, id, &j, at)?;
        extend_hold(tx, id, &j, by, at)?;
        let detail = serde_json::json!({
            "collection": input.collection, "exam": input.exam,
            "idm": input.idm, "conditioning": input.conditioning,
        });
        add_event(tx, id, at, by, "workup-plan", &detail.to_string())?;
        for r in &fx.reopened {
            add_event(tx, id, at, by, "workup-reopened", &reopened_text(r))?;
        }
        refresh_tasks(tx, id)?;
        for (what, d, why) in &fx.dropped {
            add_event(
                tx,
                id,
                at,
                by,
                "workup-plan-dropped",
                &format!("planned {what} {d}: {why}"),
            )?;
        }
        outbox::request_changed(
            tx,
            id,
            Change::Workup {
                event: "workup-plan",
                detail: detail.to_string(),
            },
            at,
        )?;
        Ok(fx)
    })?;
    Ok(PlanAnswer {
        request: show(store, id, today)?,
        reopened: effects.reopened.iter().map(reopened_text).collect(),
        dropped: effects
            .dropped
            .iter()
            .map(|(w, d, why)| format!("planned {w} {d} dropped: {why}"))
            .collect(),
    })
}

/// Record a workup step. The first step acknowledges the request; the collection makes
/// the donor unavailable to others (donated) and the request partially resulted; the
/// five-year check-up completes it.
pub fn record(
    store: &mut Store,
    reducer: Option<&Reducer<'_>>,
    id: &str,
    input: &RecordInput,
    by: &str,
    at: NaiveDateTime,
) -> Result<RequestView, AppError> {
    let today = now_date(at);
    let step: Step = input.step.parse()?;
    let outcome = match input.outcome.as_deref().map(str::trim) {
        None | Some("ok") => Outcome::Ok,
        Some("failed") => Outcome::Failed,
        Some(o) => {
            return Err(AppError::Invalid {
                field: "outcome".into(),
                reason: format!("{o:?} is not ok or failed"),
            })
        }
    };
    outbox::guard(store.connection(), id, Action::Answer)?;
    let typing = match &input.typing {
        None => None,
        Some(t) => {
            let r = store.request(id)?.ok_or_else(|| not_found_request(id))?;
            let (donor, _) = store.donor(&r.donor)?.ok_or_else(|| {
                AppError::NotFound(format!("donor {} is not in the registry", r.donor))
            })?;
            let reducer = reducer
                .ok_or_else(|| AppError::Internal("no nomenclature to read the typing".into()))?;
            Some((
                t.clone(),
                verify_typing(reducer, &donor.typing.positions, t)?,
            ))
        }
    };
    store.write(|tx| -> Result<_, AppError> {
        let (r, mut j) = workup_of(tx, id)?;
        let discrepancy = match &typing {
            Some((t, Verification::Disagrees(why))) => Some(format!("{t}: {why}")),
            _ => None,
        };
        j.record(
            Entry {
                step,
                date: input.date,
                outcome,
                typing: typing.clone(),
                by: by.to_string(),
                note: input.note.clone(),
            },
            today,
        )?;
        put_journey(tx, id, &j, at)?;
        let detail = serde_json::json!({
            "step": step.code(), "date": input.date, "outcome": outcome,
            "typing": input.typing, "note": input.note,
        });
        add_event(tx, id, at, by, "workup-record", &detail.to_string())?;
        if let Some(d) = discrepancy {
            add_event(
                tx,
                id,
                at,
                by,
                "typing-discrepancy",
                &format!("{d}; flagged for review, the workup is blocked"),
            )?;
        }
        let next = if j.finished() {
            RequestState::Resulted
        } else if j.passed(Step::Collection).is_some() {
            RequestState::PartiallyResulted
        } else {
            RequestState::Acknowledged
        };
        if next != r.state {
            set_state(tx, id, &next, at)?;
            add_event(tx, id, at, by, next.code(), &format!("after the {step}"))?;
        }
        if step == Step::Collection {
            if let Some(until) = j.available_from().filter(|u| *u > today) {
                set_status_in(
                    tx,
                    &r.donor,
                    StatusChange {
                        status: Status::TemporarilyUnavailable {
                            reason: format!(
                                "donated (reserved for patient {} for a further donation)",
                                r.patient
                            ),
                            until,
                        },
                        changed_at: at,
                        changed_by: by.to_string(),
                        note: format!("collection {} in workup {id}", input.date),
                    },
                )?;
            }
        }
        refresh_tasks(tx, id)?;
        outbox::request_changed(
            tx,
            id,
            Change::Workup {
                event: "workup-record",
                detail: detail.to_string(),
            },
            at,
        )
    })?;
    show(store, id, today)
}

/// A request with its history, flags and journey.
pub fn show(store: &Store, id: &str, today: NaiveDate) -> Result<RequestView, AppError> {
    let r = store.request(id)?.ok_or_else(|| not_found_request(id))?;
    let events = store.request_events(id)?;
    let journey = store.journey(id)?;
    let flags = flags_for(store.connection(), &r)?;
    let link = request_link(store.connection(), id)?;
    Ok(view(r, link, events, journey, flags, today))
}

fn view(
    r: Request,
    link: RequestLink,
    events: Vec<RequestEvent>,
    journey: Option<Journey>,
    flags: Vec<String>,
    today: NaiveDate,
) -> RequestView {
    let workup = journey.map(|j| workup_view(&r, &j, today));
    RequestView {
        kind: r.kind().code().into(),
        state: r.state.describe(),
        loci: r.subject.loci().map(<[String]>::to_vec),
        expires: r.subject.expires().map(|d| d.to_string()),
        opened: r.opened.to_string(),
        origin: link
            .origin
            .as_ref()
            .map(|ion| link.partner.clone().unwrap_or_else(|| ion.clone())),
        partner: link.partner,
        reference: link.reference,
        flags,
        events: events
            .into_iter()
            .map(|e| EventView {
                at: e.at,
                by: e.by,
                event: e.event,
                detail: e.detail,
            })
            .collect(),
        workup,
        id: r.id,
        patient: r.patient,
        donor: r.donor,
        opened_by: r.opened_by,
        note: r.note,
    }
}

/// Every step of a journey with its state, date and deadline.
pub fn workup_view(r: &Request, j: &Journey, today: NaiveDate) -> WorkupView {
    let open = tasks::request_tasks(r, Some(j), today);
    let steps = Step::ALL
        .into_iter()
        .map(|s| {
            let rec = j.record_of(s);
            let due = open
                .iter()
                .filter(|t| {
                    t.task == s.code()
                        || (s == Step::Mobilisation && t.task.starts_with("mobilisation-"))
                })
                .map(|t| t.due)
                .min();
            let reopened = j.reopened.iter().any(|x| x.record.step == s);
            let state = match rec {
                Some(x) if x.outcome == Outcome::Ok => "done",
                Some(_) => "failed",
                None if due.is_some() => {
                    if reopened {
                        "reopened"
                    } else {
                        "open"
                    }
                }
                None if reopened => "reopened",
                None => "waiting",
            };
            StepView {
                step: s.code().into(),
                state: state.into(),
                date: rec.map(|x| x.date.to_string()),
                due: due.map(|d| d.to_string()),
                overdue: due.is_some_and(|d| d < today),
                by: rec.map(|x| x.by.clone()),
                note: rec.map(|x| x.note.clone()).filter(|n| !n.is_empty()),
            }
        })
        .collect();
    WorkupView {
        collection: j.collection().map(|d| d.to_string()),
        planned_exam: j.plan.exam.map(|d| d.to_string()),
        planned_idm: j.plan.idm.map(|d| d.to_string()),
        conditioning: j.plan.conditioning.map(|d| d.to_string()),
        review: j
            .review
            .as_ref()
            .map(|r| format!("{} (since {})", r.reason, r.since)),
        steps,
        available_from: j.available_from().map(|d| d.to_string()),
    }
}

/// Requests matching a filter (without events). A donor of this registry is found by
/// its id or its GRID, and lists its requests under either.
pub fn list(
    store: &Store,
    f: &RequestFilter,
    today: NaiveDate,
) -> Result<Vec<RequestView>, AppError> {
    let found = match f.donor.as_deref().map(str::trim) {
        None => store.requests(f)?,
        Some(reference) => match DonorId::of_local(store.connection(), reference) {
            Ok((id, _)) => {
                let mut all = Vec::new();
                for name in std::iter::once(id.as_str()).chain(id.grid()) {
                    all.extend(store.requests(&RequestFilter {
                        donor: Some(name.to_string()),
                        ..f.clone()
                    })?);
                }
                all.sort_by(|a, b| (a.id.len(), &a.id).cmp(&(b.id.len(), &b.id)));
                all.dedup_by(|a, b| a.id == b.id);
                all
            }
            Err(AppError::NotFound(_)) => store.requests(f)?,
            Err(e) => return Err(e),
        },
    };
    Ok(found
        .into_iter()
        .map(|r| {
            let link = request_link(store.connection(), &r.id)?;
            Ok(view(r, link, Vec::new(), None, Vec::new(), today))
        })
        .collect::<Result<_, StoreError>>()?)
}

/// Every open task, overdue first; `due_days` keeps those due within that many days
/// (overdue ones always).
pub fn task_list(
    store: &Store,
    today: NaiveDate,
    due_days: Option<i64>,
) -> Result<Vec<Task>, AppError> {
    // a window the calendar holds (a huge one would overflow the date arithmetic)
    const MAX_DUE_DAYS: i64 = 36_500;
    let until = match due_days {
        None => None,
        Some(d) if (0..=MAX_DUE_DAYS).contains(&d) => Some(today + chrono::Duration::days(d)),
        Some(d) => {
            return Err(AppError::Invalid {
                field: "due".into(),
                reason: format!("{d} is not a number of days from 0 to {MAX_DUE_DAYS}"),
            })
        }
    };
    Ok(store.tasks(today, until)?)
}

/// The donor's appointments of a workup as iCalendar text.
pub fn calendar(store: &Store, id: &str) -> Result<String, AppError> {
    let r = store.request(id)?.ok_or_else(|| not_found_request(id))?;
    let j = store.journey(id)?.ok_or_else(|| AppError::Invalid {
        field: "request".into(),
        reason: format!("request {id} is a {} request, not a workup", r.kind()),
    })?;
    Ok(medulla_workflow::calendar::calendar(id, &j).to_string())
}
