//! The workup journey: planned dates, recorded steps and the rules between them.
//!
//! Every change goes through [`Journey::plan`] or [`Journey::record`], which check the
//! rules on the journey as it would be and refuse the change with the rule it breaks.
//! Steps after the clearance can only be recorded with a [`Cleared`] proof, which only a
//! journey whose clearance passed hands out.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::step::Step;
use crate::WorkflowError;

/// Minimum days between the medical exam and the collection.
pub const EXAM_MIN_DAYS: i64 = 21;
/// Maximum days between the IDM sample and the collection.
pub const IDM_MAX_DAYS: i64 = 30;
/// Days of growth-factor injections before the collection, two a day.
pub const MOBILISATION_DAYS: u64 = 5;
/// Months a donor who gave stem cells is unavailable to other patients.
pub const DONATION_DEFERRAL_MONTHS: u32 = 24;

/// A step's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    #[default]
    Ok,
    Failed,
}

/// A verification typing compared with the typing the registry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Agrees,
    /// Which positions share no allele, in words.
    Disagrees(String),
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub date: NaiveDate,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing: Option<String>,
    pub by: String,
    #[serde(default)]
    pub note: String,
}

/// A record a later change invalidated: the step is open again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reopened {
    pub record: StepRecord,
    pub rule: String,
    pub reason: String,
}

/// The planned dates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub collection: Option<NaiveDate>,
    pub exam: Option<NaiveDate>,
    pub idm: Option<NaiveDate>,
    pub conditioning: Option<NaiveDate>,
}

/// A verification typing that disagrees: the workup stops until a typing agrees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub since: NaiveDate,
    pub reason: String,
}

/// One workup, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journey {
    pub opened: NaiveDate,
    #[serde(default)]
    pub plan: Plan,
    /// The records in force, in the order they were made (mobilisation has one per day).
    #[serde(default)]
    pub records: Vec<StepRecord>,
    #[serde(default)]
    pub reopened: Vec<Reopened>,
    #[serde(default)]
    pub review: Option<Review>,
}

/// A change of the planned dates.
#[derive(Debug, Clone, Default)]
pub struct PlanChange {
    pub collection: Option<NaiveDate>,
    pub exam: Option<NaiveDate>,
    pub idm: Option<NaiveDate>,
    pub conditioning: Option<NaiveDate>,
}

/// What a plan change did besides setting the dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanEffects {
    /// Records the new dates invalidate: their steps are tasks again.
    pub reopened: Vec<Reopened>,
    /// Earlier planned dates that no longer fit, with the rule: plan them again.
    pub dropped: Vec<(&'static str, NaiveDate, String)>,
}

/// A step to record.
#[derive(Debug, Clone)]
pub struct Entry {
    pub step: Step,
    pub date: NaiveDate,
    pub outcome: Outcome,
    /// The verification typing and how it compares (step `typing`).
    pub typing: Option<(String, Verification)>,
    pub by: String,
    pub note: String,
}

/// Proof that a journey's clearance passed; the steps after it need one.
#[derive(Debug, Clone, Copy)]
pub struct Cleared {
    date: NaiveDate,
}

impl Cleared {
    pub fn date(self) -> NaiveDate {
        self.date
    }
}

fn rule(rule: &'static str, message: String) -> WorkflowError {
    WorkflowError::Rule { rule, message }
}

fn days_before(d: NaiveDate, n: i64) -> NaiveDate {
    d - chrono::Duration::days(n)
}

impl Journey {
    pub fn new(opened: NaiveDate) -> Journey {
        Journey {
            opened,
            plan: Plan::default(),
            records: Vec::new(),
            reopened: Vec::new(),
            review: None,
        }
    }

    /// The latest record of a step.
    pub fn record_of(&self, step: Step) -> Option<&StepRecord> {
        self.records.iter().rev().find(|r| r.step == step)
    }

    /// The date a step passed (its first passing record: the first day of mobilisation).
    pub fn passed(&self, step: Step) -> Option<NaiveDate> {
        self.records
            .iter()
            .filter(|r| r.step == step && r.outcome == Outcome::Ok)
            .map(|r| r.date)
            .min()
    }

    /// The days of injections recorded.
    pub fn mobilisation_days(&self) -> Vec<NaiveDate> {
        let mut d: Vec<NaiveDate> = self
            .records
            .iter()
            .filter(|r| r.step == Step::Mobilisation && r.outcome == Outcome::Ok)
            .map(|r| r.date)
            .collect();
        d.sort();
        d.dedup();
        d
    }

    /// The collection date: the actual one once recorded, else the planned one.
    pub fn collection(&self) -> Option<NaiveDate> {
        self.passed(Step::Collection).or(self.plan.collection)
    }

    /// The exam date the rules look at: recorded, else planned.
    fn exam_date(&self) -> Option<(NaiveDate, bool)> {
        self.passed(Step::Exam)
            .map(|d| (d, true))
            .or(self.plan.exam.map(|d| (d, false)))
    }

    fn idm_date(&self) -> Option<(NaiveDate, bool)> {
        self.passed(Step::Idm)
            .map(|d| (d, true))
            .or(self.plan.idm.map(|d| (d, false)))
    }

    /// Proof of clearance, or why there is none.
    pub fn cleared(&self) -> Result<Cleared, WorkflowError> {
        self.passed(Step::Clearance)
            .map(|date| Cleared { date })
            .ok_or_else(|| {
                rule(
                    "order",
                    "no clearance yet: the donor must be cleared (after the exam and the IDM \
                     results) first"
                        .into(),
                )
            })
    }

    /// The journey has reached its last check-up.
    pub fn finished(&self) -> bool {
        self.passed(Step::Followup5y).is_some()
    }

    /// Every date rule the journey breaks now: (rule, step concerned, message).
    pub fn violations(&self) -> Vec<(&'static str, Step, String)> {
        let mut out = Vec::new();
        if let Some(c) = self.collection() {
            let what = if self.passed(Step::Collection).is_some() {
                "collection"
            } else {
                "planned collection"
            };
            if let Some((exam, recorded)) = self.exam_date() {
                let gap = (c - exam).num_days();
                if gap < EXAM_MIN_DAYS {
                    out.push((
                        "exam-21-days",
                        Step::Exam,
                        format!(
                            "the medical exam must be at least {EXAM_MIN_DAYS} days before the \
                             collection: {} exam {exam}, {what} {c} ({gap} days)",
                            if recorded { "recorded" } else { "planned" }
                        ),
                    ));
                }
            }
            if let Some((idm, recorded)) = self.idm_date() {
                let gap = (c - idm).num_days();
                if !(0..=IDM_MAX_DAYS).contains(&gap) {
                    out.push((
                        "idm-30-days",
                        Step::Idm,
                        format!(
                            "the IDM sample must be taken at most {IDM_MAX_DAYS} days before the \
                             collection: {} IDM {idm}, {what} {c} ({gap} days)",
                            if recorded { "recorded" } else { "planned" }
                        ),
                    ));
                }
            }
            let first = days_before(c, MOBILISATION_DAYS as i64);
            for d in self.mobilisation_days() {
                if d < first || d >= c {
                    out.push((
                        "mobilisation-window",
                        Step::Mobilisation,
                        format!(
                            "growth-factor injections are given on the {MOBILISATION_DAYS} days \
                             before the collection ({first} to {}): {d} is outside",
                            days_before(c, 1)
                        ),
                    ));
                    break;
                }
            }
        }
        if let (Some(cl), Some(cond)) = (self.passed(Step::Clearance), self.plan.conditioning) {
            if cl >= cond {
                out.push((
                    "clearance-before-conditioning",
                    Step::Clearance,
                    format!(
                        "the donor must be cleared before the patient's conditioning starts: \
                         clearance {cl}, conditioning {cond}"
                    ),
                ));
            }
        }
        out
    }

    /// Set or move planned dates on `today`. Dates given must not be in the past and must
    /// keep the rules; records the new dates invalidate are reopened (with every recorded
    /// step that depends on them), and earlier planned dates that no longer fit dropped.
    pub fn plan(
        &mut self,
        change: &PlanChange,
        today: NaiveDate,
    ) -> Result<PlanEffects, WorkflowError> {
        for (name, d) in [
            ("collection", change.collection),
            ("exam", change.exam),
            ("idm", change.idm),
            ("conditioning", change.conditioning),
        ] {
            if let Some(d) = d {
                if d < today {
                    return Err(rule(
                        "plan-in-future",
                        format!("a planned {name} date must not be in the past: {d} is before today ({today})"),
                    ));
                }
            }
        }
        if let (Some(c), Some(done)) = (change.collection, self.passed(Step::Collection)) {
            return Err(rule(
                "collection-recorded",
                format!("the collection took place on {done}: it cannot be planned for {c}"),
            ));
        }
        for (step, d) in [(Step::Exam, change.exam), (Step::Idm, change.idm)] {
            if let (Some(d), Some(done)) = (d, self.passed(step)) {
                return Err(rule(
                    "step-recorded",
                    format!("the {step} was recorded on {done}: it cannot be planned for {d}"),
                ));
            }
        }
        let mut next = self.clone();
        if let Some(c) = change.collection {
            next.plan.collection = Some(c);
        }
        if let Some(d) = change.exam {
            next.plan.exam = Some(d);
        }
        if let Some(d) = change.idm {
            next.plan.idm = Some(d);
        }
        if let Some(d) = change.conditioning {
            next.plan.conditioning = Some(d);
        }
        let mut effects = PlanEffects::default();
        while let Some((rule_name, step, message)) = next.violations().into_iter().next() {
            let given = match step {
                Step::Exam => change.exam.is_some(),
                Step::Idm => change.idm.is_some(),
                _ => false,
            };
            if given || rule_name == "clearance-before-conditioning" {
                return Err(rule(rule_name, message));
            }
            if next.passed(step).is_some() {
                effects
                    .reopened
                    .extend(next.reopen(step, rule_name, &message));
            } else {
                let dropped = match step {
                    Step::Exam => next.plan.exam.take(),
                    Step::Idm => next.plan.idm.take(),
                    _ => None,
                };
                match dropped {
                    Some(d) => effects.dropped.push((step.code(), d, message)),
                    None => return Err(rule(rule_name, message)),
                }
            }
        }
        *self = next;
        Ok(effects)
    }

    /// Take a step's records, and those of every step depending on it, out of force.
    fn reopen(&mut self, step: Step, rule_name: &str, reason: &str) -> Vec<Reopened> {
        let (gone, kept): (Vec<StepRecord>, Vec<StepRecord>) = self
            .records
            .drain(..)
            .partition(|r| r.step == step || r.step.depends_on(step));
        self.records = kept;
        let out: Vec<Reopened> = gone
            .into_iter()
            .map(|record| Reopened {
                reason: if record.step == step {
                    reason.to_string()
                } else {
                    format!("depends on the reopened {step}")
                },
                rule: rule_name.to_string(),
                record,
            })
            .collect();
        self.reopened.extend(out.iter().cloned());
        out
    }

    /// Record a step on `today`. The date must not be in the future; the steps it needs
    /// must have passed on or before it; a disagreeing verification typing stops the
    /// journey until a typing agrees; every date rule must hold afterwards.
    pub fn record(&mut self, entry: Entry, today: NaiveDate) -> Result<(), WorkflowError> {
        let step = entry.step;
        if entry.date > today {
            return Err(rule(
                "no-future-record",
                format!(
                    "a step is recorded once done: {} is after today ({today}); plan future dates with `workup plan`",
                    entry.date
                ),
            ));
        }
        if let Some(review) = &self.review {
            if step != Step::Typing {
                return Err(rule(
                    "verification-typing",
                    format!(
                        "the workup is blocked for review since {}: {}; record a verification \
                         typing that agrees first",
                        review.since, review.reason
                    ),
                ));
            }
        }
        if step != Step::Mobilisation && step != Step::Typing {
            if let Some(done) = self.passed(step) {
                return Err(rule(
                    "step-recorded",
                    format!("the {step} was already recorded on {done}"),
                ));
            }
        }
        for &need in step.needs() {
            match self.passed(need) {
                None => {
                    let failed = self
                        .record_of(need)
                        .is_some_and(|r| r.outcome == Outcome::Failed);
                    return Err(rule(
                        "order",
                        format!(
                            "the {step} needs the {need} first (the {need} {})",
                            if failed { "failed" } else { "is not recorded" }
                        ),
                    ));
                }
                Some(d) if d > entry.date => {
                    return Err(rule(
                        "order",
                        format!(
                            "the {step} on {} would come before the {need} on {d}",
                            entry.date
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if entry.typing.is_some() && step != Step::Typing {
            return Err(WorkflowError::Invalid {
                field: "typing",
                reason: format!("a typing is recorded with the typing step, not {step}"),
            });
        }
        let mut next = self.clone();
        match step {
            Step::Mobilisation | Step::Collection | Step::Shipment | Step::Infusion => {
                let proof = next.cleared()?;
                next.record_cleared(proof, &entry)?;
            }
            _ => next.push(&entry),
        }
        if step == Step::Typing {
            match &entry.typing {
                Some((_, Verification::Disagrees(why))) if entry.outcome == Outcome::Ok => {
                    next.review = Some(Review {
                        since: entry.date,
                        reason: format!("verification typing disagrees with the registry's: {why}"),
                    });
                    if let Some(last) = next.records.last_mut() {
                        last.outcome = Outcome::Failed;
                    }
                }
                Some((_, Verification::Agrees)) if entry.outcome == Outcome::Ok => {
                    next.review = None
                }
                _ => {}
            }
        }
        if step == Step::Collection && next.plan.collection != Some(entry.date) {
            next.plan.collection = Some(entry.date);
        }
        if let Some((name, _, message)) = next.violations().into_iter().next() {
            return Err(rule(name, message));
        }
        *self = next;
        Ok(())
    }

    fn push(&mut self, entry: &Entry) {
        self.records.push(StepRecord {
            step: entry.step,
            date: entry.date,
            outcome: entry.outcome,
            typing: entry.typing.as_ref().map(|(t, _)| t.clone()),
            by: entry.by.clone(),
            note: entry.note.clone(),
        });
    }

    /// The steps from mobilisation on: only with a clearance, and not before it.
    fn record_cleared(&mut self, proof: Cleared, entry: &Entry) -> Result<(), WorkflowError> {
        if entry.date < proof.date {
            return Err(rule(
                "order",
                format!(
                    "the {} on {} would come before the clearance on {}",
                    entry.step, entry.date, proof.date
                ),
            ));
        }
        if entry.step == Step::Mobilisation && self.passed(Step::Collection).is_some() {
            return Err(rule(
                "order",
                "the collection is recorded: mobilisation is over".into(),
            ));
        }
        self.push(entry);
        Ok(())
    }

    /// The donor becomes available to other patients again on this date after a
    /// collection.
    pub fn available_from(&self) -> Option<NaiveDate> {
        self.passed(Step::Collection)
            .and_then(|c| c.checked_add_months(chrono::Months::new(DONATION_DEFERRAL_MONTHS)))
    }

    /// The ten injection appointments (morning and evening of the five days before the
    /// collection): (day 1-5, date, morning?).
    pub fn injections(&self) -> Vec<(u32, NaiveDate, bool)> {
        let Some(c) = self.collection() else {
            return Vec::new();
        };
        (1..=MOBILISATION_DAYS as u32)
            .flat_map(|k| {
                let d = c
                    .checked_sub_days(Days::new(MOBILISATION_DAYS + 1 - k as u64))
                    .unwrap_or(c);
                [(k, d, true), (k, d, false)]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn entry(step: Step, date: &str) -> Entry {
        Entry {
            step,
            date: day(date),
            outcome: Outcome::Ok,
            typing: None,
            by: "nurse".into(),
            note: String::new(),
        }
    }

    const TODAY: &str = "2026-12-01";

    /// A journey recorded after the fact, up to the clearance.
    fn cleared_journey() -> Journey {
        let t = day(TODAY);
        let mut j = Journey::new(day("2026-01-05"));
        j.record(entry(Step::Consent, "2026-01-06"), t).unwrap();
        j.record(entry(Step::Sample, "2026-01-08"), t).unwrap();
        let mut typing = entry(Step::Typing, "2026-01-20");
        typing.typing = Some(("A*01:01+A*02:01".into(), Verification::Agrees));
        j.record(typing, t).unwrap();
        j.record(entry(Step::Exam, "2026-02-02"), t).unwrap();
        j.record(entry(Step::Idm, "2026-02-10"), t).unwrap();
        j.record(entry(Step::Clearance, "2026-02-12"), t).unwrap();
        j
    }

    #[test]
    fn a_complete_journey_after_the_fact() {
        let t = day(TODAY);
        let mut j2 = cleared_journey();
        // entered after the fact: the injections before the collection date is known;
        // the window is checked when the collection is recorded
        for d in [
            "2026-02-25",
            "2026-02-26",
            "2026-02-27",
            "2026-02-28",
            "2026-03-01",
        ] {
            j2.record(entry(Step::Mobilisation, d), t).unwrap();
        }
        let e = j2
            .clone()
            .record(entry(Step::Collection, "2026-03-03"), t)
            .unwrap_err();
        assert!(e.to_string().contains("mobilisation-window"), "{e}");
        j2.record(entry(Step::Collection, "2026-03-02"), t).unwrap();
        j2.record(entry(Step::Shipment, "2026-03-02"), t).unwrap();
        j2.record(entry(Step::Infusion, "2026-03-03"), t).unwrap();
        for (s, d) in [
            (Step::Followup1w, "2026-03-09"),
            (Step::Followup1m, "2026-04-02"),
            (Step::Followup1y, "2027-03-02"),
        ] {
            let r = j2.record(entry(s, d), t);
            if d > TODAY {
                assert!(matches!(
                    r,
                    Err(WorkflowError::Rule {
                        rule: "no-future-record",
                        ..
                    })
                ));
            } else {
                r.unwrap();
            }
        }
        assert_eq!(j2.available_from(), Some(day("2028-03-02")));
        assert!(!j2.finished());
    }

    #[test]
    fn exam_too_close_to_a_recorded_collection_is_refused() {
        let t = day(TODAY);
        let mut j = Journey::new(day("2026-01-01"));
        j.record(entry(Step::Consent, "2026-01-02"), t).unwrap();
        j.record(entry(Step::Exam, "2026-02-20"), t).unwrap();
        j.record(entry(Step::Idm, "2026-02-21"), t).unwrap();
        j.record(entry(Step::Clearance, "2026-02-22"), t).unwrap();
        j.record(entry(Step::Mobilisation, "2026-02-25"), t)
            .unwrap();
        let e = j
            .record(entry(Step::Collection, "2026-03-02"), t)
            .unwrap_err();
        assert!(e.to_string().contains("exam-21-days"), "{e}");
        assert!(e.to_string().contains("10 days"), "{e}");
    }

    #[test]
    fn order_and_future_dates_are_refused_with_the_rule() {
        let t = day(TODAY);
        let mut j = Journey::new(day("2026-01-01"));
        let e = j.record(entry(Step::Exam, "2026-01-10"), t).unwrap_err();
        assert!(
            e.to_string().contains("[order]") && e.to_string().contains("consent"),
            "{e}"
        );
        j.record(entry(Step::Consent, "2026-01-02"), t).unwrap();
        let e = j.record(entry(Step::Exam, "2026-01-01"), t).unwrap_err();
        assert!(e.to_string().contains("before the consent"), "{e}");
        let e = j.record(entry(Step::Exam, "2027-01-01"), t).unwrap_err();
        assert!(e.to_string().contains("no-future-record"), "{e}");
        let e = j
            .record(entry(Step::Clearance, "2026-01-20"), t)
            .unwrap_err();
        assert!(e.to_string().contains("exam"), "{e}");
        let e = j
            .record(entry(Step::Mobilisation, "2026-01-20"), t)
            .unwrap_err();
        assert!(e.to_string().contains("clearance"), "{e}");
        let e = j
            .record(entry(Step::Followup1w, "2026-01-20"), t)
            .unwrap_err();
        assert!(e.to_string().contains("collection"), "{e}");
        let e = j.record(entry(Step::Consent, "2026-01-03"), t).unwrap_err();
        assert!(e.to_string().contains("step-recorded"), "{e}");
        // a failed exam does not clear
        let mut failed = entry(Step::Exam, "2026-01-10");
        failed.outcome = Outcome::Failed;
        j.record(failed, t).unwrap();
        j.record(entry(Step::Idm, "2026-01-10"), t).unwrap();
        let e = j
            .record(entry(Step::Clearance, "2026-01-20"), t)
            .unwrap_err();
        assert!(e.to_string().contains("exam failed"), "{e}");
    }

    #[test]
    fn moving_the_collection_reopens_the_exam_and_what_depends_on_it() {
        let t = day("2026-02-20");
        let mut j = Journey::new(day("2026-01-01"));
        j.plan(
            &PlanChange {
                collection: Some(day("2026-03-20")),
                ..Default::default()
            },
            t,
        )
        .unwrap();
        j.record(entry(Step::Consent, "2026-01-02"), t).unwrap();
        j.record(entry(Step::Exam, "2026-02-10"), t).unwrap();
        j.record(entry(Step::Idm, "2026-02-20"), t).unwrap();
        j.record(entry(Step::Clearance, "2026-02-20"), t).unwrap();
        // the collection moves 35 days earlier... not possible: in the past. Move it to
        // 2026-02-25: the exam (15 days before) is too close, and clearance depends on it
        let fx = j
            .plan(
                &PlanChange {
                    collection: Some(day("2026-02-25")),
                    ..Default::default()
                },
                t,
            )
            .unwrap();
        let steps: Vec<Step> = fx.reopened.iter().map(|r| r.record.step).collect();
        assert_eq!(steps, vec![Step::Exam, Step::Clearance]);
        assert_eq!(fx.reopened[0].rule, "exam-21-days");
        assert!(j.passed(Step::Exam).is_none() && j.passed(Step::Clearance).is_none());
        assert!(j.passed(Step::Idm).is_some());
        // later, the collection moves far out: the IDM is now too old
        let fx = j
            .plan(
                &PlanChange {
                    collection: Some(day("2026-04-30")),
                    ..Default::default()
                },
                t,
            )
            .unwrap();
        assert_eq!(fx.reopened[0].record.step, Step::Idm);
        assert_eq!(fx.reopened[0].rule, "idm-30-days");
    }

    #[test]
    fn plans_are_for_the_future_and_keep_the_rules() {
        let t = day("2026-06-01");
        let mut j = Journey::new(day("2026-05-01"));
        let e = j
            .plan(
                &PlanChange {
                    collection: Some(day("2026-05-30")),
                    ..Default::default()
                },
                t,
            )
            .unwrap_err();
        assert!(e.to_string().contains("plan-in-future"), "{e}");
        let e = j
            .plan(
                &PlanChange {
                    collection: Some(day("2026-07-01")),
                    exam: Some(day("2026-06-20")),
                    ..Default::default()
                },
                t,
            )
            .unwrap_err();
        assert!(e.to_string().contains("exam-21-days"), "{e}");
        j.plan(
            &PlanChange {
                collection: Some(day("2026-07-01")),
                exam: Some(day("2026-06-05")),
                idm: Some(day("2026-06-10")),
                ..Default::default()
            },
            t,
        )
        .unwrap();
        // moving the collection drops a planned exam that no longer fits
        let fx = j
            .plan(
                &PlanChange {
                    collection: Some(day("2026-06-20")),
                    ..Default::default()
                },
                t,
            )
            .unwrap();
        assert_eq!(fx.dropped.len(), 1);
        assert_eq!(fx.dropped[0].0, "exam");
        assert_eq!(j.plan.exam, None);
        assert_eq!(j.plan.idm, Some(day("2026-06-10")));
    }

    #[test]
    fn clearance_before_conditioning() {
        let t = day(TODAY);
        let mut j = Journey::new(day("2026-11-01"));
        j.record(entry(Step::Consent, "2026-11-02"), t).unwrap();
        j.record(entry(Step::Exam, "2026-11-03"), t).unwrap();
        j.record(entry(Step::Idm, "2026-11-20"), t).unwrap();
        j.plan(
            &PlanChange {
                collection: Some(day("2026-12-10")),
                conditioning: Some(day("2026-12-01")),
                ..Default::default()
            },
            t,
        )
        .unwrap();
        let e = j
            .record(entry(Step::Clearance, "2026-12-01"), t)
            .unwrap_err();
        assert!(
            e.to_string().contains("clearance-before-conditioning"),
            "{e}"
        );
        j.record(entry(Step::Clearance, "2026-11-30"), t).unwrap();
    }

    #[test]
    fn a_disagreeing_typing_blocks_until_one_agrees() {
        let t = day(TODAY);
        let mut j = Journey::new(day("2026-01-01"));
        j.record(entry(Step::Consent, "2026-01-02"), t).unwrap();
        j.record(entry(Step::Sample, "2026-01-03"), t).unwrap();
        let mut typing = entry(Step::Typing, "2026-01-10");
        typing.typing = Some((
            "A*03:01+A*11:01".into(),
            Verification::Disagrees("A: no shared allele".into()),
        ));
        j.record(typing, t).unwrap();
        assert!(j.review.is_some());
        let e = j.record(entry(Step::Exam, "2026-01-12"), t).unwrap_err();
        assert!(e.to_string().contains("verification-typing"), "{e}");
        let mut again = entry(Step::Typing, "2026-01-15");
        again.typing = Some(("A*01:01+A*02:01".into(), Verification::Agrees));
        j.record(again, t).unwrap();
        assert!(j.review.is_none());
        j.record(entry(Step::Exam, "2026-01-16"), t).unwrap();
    }

    #[test]
    fn journeys_round_trip_as_json() {
        let j = cleared_journey();
        let text = serde_json::to_string(&j).unwrap();
        let back: Journey = serde_json::from_str(&text).unwrap();
        assert_eq!(back, j);
        assert!(text.contains("\"clearance\""));
    }
}
