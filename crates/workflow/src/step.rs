//! The steps of a workup, in order, and what each needs before it.

use std::fmt;
use std::str::FromStr;

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::WorkflowError;

/// One step of the donor's journey, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Step {
    #[serde(rename = "consent")]
    Consent,
    #[serde(rename = "sample")]
    Sample,
    #[serde(rename = "typing")]
    Typing,
    #[serde(rename = "exam")]
    Exam,
    #[serde(rename = "idm")]
    Idm,
    #[serde(rename = "clearance")]
    Clearance,
    #[serde(rename = "mobilisation")]
    Mobilisation,
    #[serde(rename = "collection")]
    Collection,
    #[serde(rename = "shipment")]
    Shipment,
    #[serde(rename = "infusion")]
    Infusion,
    #[serde(rename = "followup-1w")]
    Followup1w,
    #[serde(rename = "followup-1m")]
    Followup1m,
    #[serde(rename = "followup-1y")]
    Followup1y,
    #[serde(rename = "followup-5y")]
    Followup5y,
}

impl Step {
    pub const ALL: [Step; 14] = [
        Step::Consent,
        Step::Sample,
        Step::Typing,
        Step::Exam,
        Step::Idm,
        Step::Clearance,
        Step::Mobilisation,
        Step::Collection,
        Step::Shipment,
        Step::Infusion,
        Step::Followup1w,
        Step::Followup1m,
        Step::Followup1y,
        Step::Followup5y,
    ];

    pub const FOLLOWUPS: [Step; 4] = [
        Step::Followup1w,
        Step::Followup1m,
        Step::Followup1y,
        Step::Followup5y,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Step::Consent => "consent",
            Step::Sample => "sample",
            Step::Typing => "typing",
            Step::Exam => "exam",
            Step::Idm => "idm",
            Step::Clearance => "clearance",
            Step::Mobilisation => "mobilisation",
            Step::Collection => "collection",
            Step::Shipment => "shipment",
            Step::Infusion => "infusion",
            Step::Followup1w => "followup-1w",
            Step::Followup1m => "followup-1m",
            Step::Followup1y => "followup-1y",
            Step::Followup5y => "followup-5y",
        }
    }

    /// The steps that must have passed before this one.
    pub fn needs(self) -> &'static [Step] {
        match self {
            Step::Consent => &[],
            Step::Sample | Step::Exam | Step::Idm => &[Step::Consent],
            Step::Typing => &[Step::Sample],
            Step::Clearance => &[Step::Exam, Step::Idm],
            Step::Mobilisation => &[Step::Clearance],
            Step::Collection => &[Step::Mobilisation],
            Step::Shipment => &[Step::Collection],
            Step::Infusion => &[Step::Shipment],
            Step::Followup1w | Step::Followup1m | Step::Followup1y | Step::Followup5y => {
                &[Step::Collection]
            }
        }
    }

    /// Whether `self` depends on `other`, directly or through other steps.
    pub fn depends_on(self, other: Step) -> bool {
        self.needs()
            .iter()
            .any(|&n| n == other || n.depends_on(other))
    }

    /// When a follow-up is due after a collection on `collection`: one week, one month,
    /// one year, five years (a month or a year on from the 31st or the 29th of February
    /// lands on the last day of the shorter month).
    pub fn followup_due(self, collection: NaiveDate) -> Option<NaiveDate> {
        match self {
            Step::Followup1w => collection.checked_add_days(Days::new(7)),
            Step::Followup1m => collection.checked_add_months(Months::new(1)),
            Step::Followup1y => collection.checked_add_months(Months::new(12)),
            Step::Followup5y => collection.checked_add_months(Months::new(60)),
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Step {
    type Err = WorkflowError;
    fn from_str(s: &str) -> Result<Self, WorkflowError> {
        Step::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| WorkflowError::Invalid {
                field: "step",
                reason: format!(
                    "{s:?} is not a step ({})",
                    Step::ALL.map(Step::code).join(", ")
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn followups_across_month_ends_and_leap_years() {
        let due = |s: Step, c: &str| s.followup_due(day(c)).unwrap().to_string();
        // one week across a month and a year end
        assert_eq!(due(Step::Followup1w, "2026-12-28"), "2027-01-04");
        // one month from the 31st of January: the last day of February
        assert_eq!(due(Step::Followup1m, "2027-01-31"), "2027-02-28");
        assert_eq!(due(Step::Followup1m, "2028-01-31"), "2028-02-29");
        assert_eq!(due(Step::Followup1m, "2027-03-31"), "2027-04-30");
        // the 29th of February: a year later is the 28th, five years later the 28th too
        // (2033 is not a leap year), and from 2024 four years on it would be the 29th
        assert_eq!(due(Step::Followup1y, "2028-02-29"), "2029-02-28");
        assert_eq!(due(Step::Followup5y, "2028-02-29"), "2033-02-28");
        assert_eq!(due(Step::Followup5y, "2027-02-28"), "2032-02-28");
        assert_eq!(due(Step::Followup1w, "2028-02-25"), "2028-03-03");
        assert_eq!(due(Step::Followup1w, "2027-02-25"), "2027-03-04");
        assert!(Step::Exam.followup_due(day("2027-01-01")).is_none());
    }

    #[test]
    fn dependencies_are_transitive() {
        assert!(Step::Collection.depends_on(Step::Consent));
        assert!(Step::Clearance.depends_on(Step::Idm));
        assert!(!Step::Exam.depends_on(Step::Idm));
        assert!(!Step::Typing.depends_on(Step::Exam));
        for s in Step::ALL {
            for n in s.needs() {
                assert!(n < &s, "{s} needs the later {n}");
            }
        }
        assert_eq!("followup-1w".parse::<Step>().unwrap(), Step::Followup1w);
        assert!("x-ray".parse::<Step>().is_err());
    }
}
