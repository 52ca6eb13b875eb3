//! The donor's appointments as an iCalendar (RFC 5545) file: the medical exam, the IDM
//! sample, the ten growth-factor injections, the collection and the check-ups. Times are
//! floating local times, as a clinic's appointment letter gives them.

use chrono::{NaiveDate, NaiveTime};
use icalendar::{Calendar, Component, Event, EventLike};

use crate::journey::Journey;
use crate::step::Step;

fn at(d: NaiveDate, h: u32, m: u32) -> chrono::NaiveDateTime {
    d.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default())
}

fn event(uid: String, summary: &str, description: &str) -> Event {
    let mut e = Event::new();
    e.uid(&uid).summary(summary).description(description);
    e
}

/// The calendar of the journey of request `request`.
pub fn calendar(request: &str, j: &Journey) -> Calendar {
    let mut cal = Calendar::new();
    cal.name(&format!("Stem cell donation ({request})"));
    let uid = |what: &str| format!("{request}-{what}@medulla");
    if let Some(d) = j.passed(Step::Exam).or(j.plan.exam) {
        cal.push(
            event(
                uid("exam"),
                "Medical examination before donation",
                "Full medical examination, at least three weeks before the collection.",
            )
            .starts(at(d, 9, 0))
            .ends(at(d, 12, 0))
            .done(),
        );
    }
    if let Some(d) = j.passed(Step::Idm).or(j.plan.idm) {
        cal.push(
            event(
                uid("idm"),
                "Blood sample: infectious disease markers",
                "Blood sample for the infectious disease markers, at most 30 days before the collection.",
            )
            .starts(at(d, 9, 0))
            .ends(at(d, 9, 30))
            .done(),
        );
    }
    for (k, d, morning) in j.injections() {
        let (h, half) = if morning {
            (8, "morning")
        } else {
            (20, "evening")
        };
        cal.push(
            event(
                uid(&format!("gcsf-d{k}-{}", if morning { "am" } else { "pm" })),
                &format!("G-CSF injection, day {k} ({half})"),
                "Growth-factor injection: two a day on the five days before the collection.",
            )
            .starts(at(d, h, 0))
            .ends(at(d, h, 15))
            .done(),
        );
    }
    if let Some(c) = j.collection() {
        cal.push(
            event(
                uid("collection"),
                "Stem cell collection",
                "Apheresis, about four hours (sometimes a second day).",
            )
            .starts(at(c, 8, 0))
            .ends(at(c, 12, 0))
            .done(),
        );
    }
    if let Some(done) = j.passed(Step::Collection) {
        for f in Step::FOLLOWUPS {
            let Some(due) = j.passed(f).or(f.followup_due(done)) else {
                continue;
            };
            let label = match f {
                Step::Followup1w => "one week",
                Step::Followup1m => "one month",
                Step::Followup1y => "one year",
                _ => "five years",
            };
            cal.push(
                event(
                    uid(f.code()),
                    &format!("Donor check-up, {label} after the donation"),
                    "Follow-up of the donor's health after the donation.",
                )
                .all_day(due)
                .done(),
            );
        }
    }
    cal.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Entry, Outcome, PlanChange};
    use icalendar::{CalendarDateTime, DatePerhapsTime};

    #[test]
    fn the_calendar_parses_back_with_every_appointment() {
        let today: NaiveDate = "2026-06-01".parse().unwrap();
        let mut j = Journey::new(today);
        j.record(
            Entry {
                step: Step::Consent,
                date: today,
                outcome: Outcome::Ok,
                typing: None,
                by: "t".into(),
                note: String::new(),
            },
            today,
        )
        .unwrap();
        j.plan(
            &PlanChange {
                collection: Some("2026-07-10".parse().unwrap()),
                exam: Some("2026-06-15".parse().unwrap()),
                idm: Some("2026-06-30".parse().unwrap()),
                conditioning: None,
            },
            today,
        )
        .unwrap();
        let text = calendar("R000001", &j).to_string();
        let back: Calendar = text.parse().expect("the calendar parses");
        let events: Vec<_> = back.events().collect();
        assert_eq!(events.len(), 1 + 1 + 10 + 1);
        let summaries: Vec<&str> = events.iter().filter_map(|e| e.get_summary()).collect();
        assert!(summaries.contains(&"Stem cell collection"));
        let first_injection = events
            .iter()
            .find(|e| e.get_summary() == Some("G-CSF injection, day 1 (morning)"))
            .unwrap();
        match first_injection.get_start() {
            Some(DatePerhapsTime::DateTime(CalendarDateTime::Floating(dt))) => {
                assert_eq!(dt.to_string(), "2026-07-05 08:00:00");
            }
            other => panic!("injection start {other:?}"),
        }
    }
}
