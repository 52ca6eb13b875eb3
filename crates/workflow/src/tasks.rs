//! Open tasks: what a coordinator must do next for each request, and by when.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use crate::journey::Journey;
use crate::request::{Request, RequestType};
use crate::step::Step;

/// One open task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub request: String,
    pub donor: String,
    pub patient: String,
    /// The step or action: `consent`, `exam`, `mobilisation-d3-pm`, `followup-1w`,
    /// `review-typing`, `result`, `reservation-expires`...
    pub task: String,
    pub due: NaiveDate,
    pub overdue: bool,
}

/// Days a coordinator has for a first step after the request or the step before.
const CONSENT_DAYS: i64 = 7;
const SAMPLE_DAYS: i64 = 7;
const TYPING_DAYS: i64 = 14;
const EXAM_WITHOUT_PLAN_DAYS: i64 = 30;
const PLAN_COLLECTION_DAYS: i64 = 14;
const IDM_BEFORE_COLLECTION: i64 = 14;
const CLEARANCE_BEFORE_COLLECTION: i64 = 7;
const INFUSION_AFTER_COLLECTION: i64 = 2;

/// The open tasks of a workup journey on `today`: (task, due).
pub fn journey_tasks(j: &Journey) -> Vec<(String, NaiveDate)> {
    let mut out: Vec<(String, NaiveDate)> = Vec::new();
    if let Some(r) = &j.review {
        out.push(("review-typing".into(), r.since));
    }
    if j.finished() {
        return out;
    }
    let c = j.collection();
    let passed = |s: Step| j.passed(s);
    let ready = |s: Step| passed(s).is_none() && s.needs().iter().all(|&n| passed(n).is_some());
    let after = |d: NaiveDate, n: i64| d + Duration::days(n);
    if ready(Step::Consent) {
        out.push(("consent".into(), after(j.opened, CONSENT_DAYS)));
    }
    let Some(consent) = passed(Step::Consent) else {
        return out;
    };
    if c.is_none() {
        out.push((
            "plan-collection".into(),
            after(consent, PLAN_COLLECTION_DAYS),
        ));
    }
    if ready(Step::Sample) {
        out.push(("sample".into(), after(consent, SAMPLE_DAYS)));
    }
    // the verification typing is due until the donor is cleared (it may come from a
    // separate ct request)
    if let Some(sample) = passed(Step::Sample).filter(|_| passed(Step::Clearance).is_none()) {
        let typed = j.records.iter().any(|r| r.step == Step::Typing);
        if !typed {
            out.push(("typing".into(), after(sample, TYPING_DAYS)));
        }
    }
    if ready(Step::Exam) {
        let due = j
            .plan
            .exam
            .or(c.map(|c| after(c, -crate::journey::EXAM_MIN_DAYS)))
            .unwrap_or(after(consent, EXAM_WITHOUT_PLAN_DAYS));
        out.push(("exam".into(), due));
    }
    if ready(Step::Idm) {
        let due = j
            .plan
            .idm
            .or(c.map(|c| after(c, -IDM_BEFORE_COLLECTION)))
            .unwrap_or(after(consent, EXAM_WITHOUT_PLAN_DAYS));
        out.push(("idm".into(), due));
    }
    if ready(Step::Clearance) {
        let by_collection = c.map(|c| after(c, -CLEARANCE_BEFORE_COLLECTION));
        let by_conditioning = j.plan.conditioning.map(|d| after(d, -1));
        let due = match (by_collection, by_conditioning) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or_else(|| {
                let last = passed(Step::Exam).max(passed(Step::Idm)).unwrap_or(consent);
                after(last, CLEARANCE_BEFORE_COLLECTION)
            }),
        };
        out.push(("clearance".into(), due));
    }
    if passed(Step::Clearance).is_some() && passed(Step::Collection).is_none() {
        let given = j.mobilisation_days();
        for (k, d, morning) in j.injections() {
            if !given.contains(&d) {
                let half = if morning { "am" } else { "pm" };
                out.push((format!("mobilisation-d{k}-{half}"), d));
            }
        }
        if let Some(c) = c.filter(|_| passed(Step::Mobilisation).is_some()) {
            out.push(("collection".into(), c));
        }
    }
    if let Some(done) = passed(Step::Collection) {
        if ready(Step::Shipment) {
            out.push(("shipment".into(), done));
        }
        if ready(Step::Infusion) {
            out.push(("infusion".into(), after(done, INFUSION_AFTER_COLLECTION)));
        }
        for f in Step::FOLLOWUPS {
            if passed(f).is_none() {
                if let Some(due) = f.followup_due(done) {
                    out.push((f.code().into(), due));
                }
            }
        }
    }
    out
}

/// What a request has due, whatever the day: (task, due date). Nothing once it is no
/// longer open. The deadlines are absolute dates, so a registry can keep them with the
/// request and list them without recomputing every journey.
pub fn request_due(r: &Request, journey: Option<&Journey>) -> Vec<(String, NaiveDate)> {
    if !r.state.is_open() {
        return Vec::new();
    }
    let mut raw: Vec<(String, NaiveDate)> = Vec::new();
    match r.kind() {
        RequestType::Workup => {
            if let Some(j) = journey {
                raw = journey_tasks(j);
            }
        }
        RequestType::Reservation => {
            if let Some(e) = r.subject.expires() {
                raw.push(("reservation-expires".into(), e));
            }
        }
        k => {
            if let Some(days) = k.turnaround_days() {
                raw.push(("result".into(), r.opened + Duration::days(days)));
            }
        }
    }
    raw
}

/// The open tasks of a request (and of its journey, for a workup) on `today`.
pub fn request_tasks(r: &Request, journey: Option<&Journey>, today: NaiveDate) -> Vec<Task> {
    request_due(r, journey)
        .into_iter()
        .map(|(task, due)| Task {
            request: r.id.clone(),
            donor: r.donor.clone(),
            patient: r.patient.clone(),
            task,
            due,
            overdue: due < today,
        })
        .collect()
}

/// Overdue tasks first, then by due date, request and task.
pub fn sort(tasks: &mut [Task]) {
    tasks.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then(a.due.cmp(&b.due))
            .then_with(|| a.request.cmp(&b.request))
            .then_with(|| a.task.cmp(&b.task))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Entry, Outcome, PlanChange};
    use crate::request::{RequestState, Subject};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn rec(j: &mut Journey, step: Step, d: &str, today: NaiveDate) {
        j.record(
            Entry {
                step,
                date: day(d),
                outcome: Outcome::Ok,
                typing: None,
                by: "t".into(),
                note: String::new(),
            },
            today,
        )
        .unwrap();
    }

    fn names(t: &[(String, NaiveDate)]) -> Vec<&str> {
        t.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn tasks_follow_the_journey() {
        let today = day("2026-06-01");
        let mut j = Journey::new(day("2026-05-20"));
        assert_eq!(
            journey_tasks(&j),
            vec![("consent".into(), day("2026-05-27"))]
        );
        rec(&mut j, Step::Consent, "2026-05-28", today);
        j.plan(
            &PlanChange {
                collection: Some(day("2026-07-01")),
                ..Default::default()
            },
            today,
        )
        .unwrap();
        let t = journey_tasks(&j);
        assert_eq!(names(&t), vec!["sample", "exam", "idm"]);
        assert_eq!(
            t[1].1,
            day("2026-06-10"),
            "exam 21 days before the collection"
        );
        rec(&mut j, Step::Exam, "2026-06-01", today);
        rec(&mut j, Step::Idm, "2026-06-01", today);
        rec(&mut j, Step::Clearance, "2026-06-01", today);
        let t = journey_tasks(&j);
        let inj: Vec<_> = t
            .iter()
            .filter(|(n, _)| n.starts_with("mobilisation"))
            .collect();
        assert_eq!(inj.len(), 10, "{t:?}");
        assert_eq!(
            inj[0],
            &("mobilisation-d1-am".to_string(), day("2026-06-26"))
        );
        assert_eq!(
            inj[9],
            &("mobilisation-d5-pm".to_string(), day("2026-06-30"))
        );
    }

    #[test]
    fn request_tasks_and_order() {
        let today = day("2026-06-01");
        let r = Request {
            id: "R1".into(),
            patient: "P1".into(),
            donor: "D1".into(),
            subject: Subject::Idm,
            state: RequestState::Open,
            opened: day("2026-05-01"),
            opened_by: "t".into(),
            note: String::new(),
        };
        let mut t = request_tasks(&r, None, today);
        assert_eq!(t[0].task, "result");
        assert!(t[0].overdue);
        let mut later = t[0].clone();
        later.due = day("2026-07-01");
        later.overdue = false;
        let mut early = t[0].clone();
        early.due = day("2026-06-02");
        early.overdue = false;
        t.push(later);
        t.push(early);
        sort(&mut t);
        assert!(t[0].overdue);
        assert_eq!(t[1].due, day("2026-06-02"));
        let mut closed = r.clone();
        closed.state = RequestState::Resulted;
        assert!(request_tasks(&closed, None, today).is_empty());
    }
}
