//! The donor's journey on the command line: patients, requests, the workup with its
//! rules, tasks and the donor's calendar, on a real registry database.

mod common;

use chrono::{Duration, Local, NaiveDate};
use common::{text, TempDir};
use std::process::{Command, Output};

const TYPING: &str =
    "A*01:01+A*02:01^B*08:01+B*07:02^C*07:01+C*07:02^DRB1*03:01+DRB1*15:01^DQB1*02:01+DQB1*06:02";

struct Registry {
    dir: TempDir,
    db: String,
}

impl Registry {
    fn new(name: &str) -> Registry {
        let dir = TempDir::new(name);
        let db = dir.db("registry.db");
        let csv = dir.file(
            "donors.csv",
            &format!(
                "id,grid,registry,donor_type,sex,birth_date,A_1,A_2,B_1,B_2,C_1,C_2,DRB1_1,DRB1_2,DQB1_1,DQB1_2\n\
                 D1,{},REG,adult,F,1990-01-01,A*01:01,A*02:01,B*08:01,B*07:02,C*07:01,C*07:02,DRB1*03:01,DRB1*15:01,DQB1*02:01,DQB1*06:02\n\
                 D2,{},REG,adult,M,1985-05-05,A*01:01,A*02:01,B*08:01,B*07:02,C*07:01,C*07:02,DRB1*03:01,DRB1*15:01,DQB1*02:01,DQB1*06:02\n",
                grid("D1"),
                grid("D2"),
            ),
        );
        let r = Registry { dir, db };
        r.ok(&["donors", "import", &csv]);
        for p in ["P1", "P2"] {
            r.ok(&[
                "patients",
                "add",
                p,
                "--typing",
                TYPING,
                "--weight",
                "70",
                "--abo",
                "O",
                "--cmv",
                "neg",
                "--urgency",
                "4-6w",
                "--population",
                "EUR",
            ]);
        }
        r
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_medulla"))
            .args(args)
            .env("MEDULLA_QUIET", "1")
            .env("MEDULLA_DB", &self.db)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The command is refused, exits non-zero and names the rule.
    fn refused(&self, args: &[&str], rule: &str) -> String {
        let o = self.run(args);
        let t = text(&o);
        assert!(!o.status.success(), "{args:?} should be refused: {t}");
        assert!(t.contains(rule), "{args:?} should name {rule}: {t}");
        assert!(
            !t.contains("panicked") && !t.contains("RUST_BACKTRACE"),
            "{t}"
        );
        t
    }

    fn open(&self, patient: &str, donor: &str, kind: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "requests",
            "open",
            "--patient",
            patient,
            "--donor",
            donor,
            "--type",
            kind,
        ];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        let id = out.lines().next().unwrap().trim().to_string();
        assert!(id.starts_with('R'), "{out}");
        id
    }

    fn record(&self, r: &str, step: &str, date: &str) -> String {
        self.ok(&[
            "workup",
            "record",
            "--request",
            r,
            "--step",
            step,
            "--date",
            date,
            "--by",
            "nurse",
        ])
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

/// The GRID of a donor of this test registry (ION 1234, which no partner has).
fn grid(id: &str) -> String {
    medulla_registry::Grid::new(1234, id).unwrap().to_string()
}

fn day(offset: i64) -> String {
    (Local::now().date_naive() + Duration::days(offset)).to_string()
}

fn step_state(r: &serde_json::Value, step: &str) -> String {
    r["workup"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_complete_journey_from_request_to_the_five_year_check_up() {
    let reg = Registry::new("journey-full");
    let r = reg.open(
        "P1",
        "D1",
        "workup",
        &["--by", "sc", "--note", "best match"],
    );
    // a journey from 2019, entered after the fact: every date in the past
    for (step, date) in [
        ("consent", "2019-01-07"),
        ("sample", "2019-01-09"),
        ("exam", "2019-02-01"),
        ("idm", "2019-02-20"),
        ("clearance", "2019-02-22"),
        ("mobilisation", "2019-02-25"),
        ("mobilisation", "2019-02-26"),
        ("mobilisation", "2019-02-27"),
        ("mobilisation", "2019-02-28"),
        ("mobilisation", "2019-03-01"),
        ("collection", "2019-03-02"),
        ("shipment", "2019-03-02"),
        ("infusion", "2019-03-03"),
        ("followup-1w", "2019-03-09"),
        ("followup-1m", "2019-04-02"),
        ("followup-1y", "2020-03-02"),
    ] {
        reg.record(&r, step, date);
    }
    let mid = reg.json(&["requests", "show", &r, "--format", "json"]);
    assert_eq!(mid["state"], "partially-resulted");
    let tasks = reg.json(&["tasks", "--format", "json"]);
    let mine: Vec<&serde_json::Value> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["request"] == r.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{tasks}");
    assert_eq!(mine[0]["task"], "followup-5y");
    assert_eq!(mine[0]["due"], "2024-03-02");
    assert_eq!(mine[0]["overdue"], true);
    assert_eq!(mine[0]["donor"], "D1");
    assert_eq!(mine[0]["patient"], "P1");
    reg.record(&r, "followup-5y", "2024-03-04");
    let done = reg.json(&["requests", "show", &r, "--format", "json"]);
    assert_eq!(done["state"], "resulted");
    assert!(done["workup"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] != "typing")
        .all(|s| s["state"] == "done"));
    // the history keeps who did each step
    let events = done["events"].as_array().unwrap();
    assert!(events.len() >= 18);
    assert!(events.iter().any(|e| e["by"] == "nurse"));
    assert!(events.iter().any(|e| e["event"] == "resulted"));
    // no open task is left for it
    let tasks = reg.json(&["tasks", "--format", "json"]);
    assert!(!tasks.to_string().contains(&r));
}

#[test]
fn each_rule_is_refused_with_its_name() {
    let reg = Registry::new("journey-rules");
    let r = reg.open("P1", "D1", "workup", &[]);
    let go = |step: &str, date: &str| -> Vec<String> {
        vec![
            "workup".into(),
            "record".into(),
            "--request".into(),
            r.clone(),
            "--step".into(),
            step.into(),
            "--date".into(),
            date.into(),
        ]
    };
    let args = |v: &Vec<String>| v.clone();
    let refuse = |v: Vec<String>, rule: &str| {
        let a: Vec<&str> = v.iter().map(String::as_str).collect();
        reg.refused(&a, rule)
    };
    // order: no exam before consent
    let t = refuse(args(&go("exam", "2020-01-10")), "[order]");
    assert!(t.contains("needs the consent"), "{t}");
    // never a future date
    refuse(args(&go("consent", &day(3))), "[no-future-record]");
    reg.record(&r, "consent", "2020-01-02");
    // no clearance before the exam and the IDM
    refuse(args(&go("clearance", "2020-01-20")), "[order]");
    // no mobilisation before clearance, no collection before mobilisation, no follow-up
    // before the collection
    refuse(args(&go("mobilisation", "2020-01-20")), "clearance");
    refuse(args(&go("collection", "2020-01-20")), "[order]");
    refuse(args(&go("followup-1w", "2020-01-20")), "[order]");
    // the exam 10 days before the collection, recorded after the fact
    reg.record(&r, "exam", "2020-02-20");
    reg.record(&r, "idm", "2020-02-21");
    reg.record(&r, "clearance", "2020-02-22");
    reg.record(&r, "mobilisation", "2020-02-26");
    let t = refuse(args(&go("collection", "2020-03-01")), "[exam-21-days]");
    assert!(t.contains("10 days"), "{t}");
    // plans are for future dates, and keep the rules
    reg.refused(
        &[
            "workup",
            "plan",
            "--request",
            &r,
            "--collection",
            "2020-01-01",
        ],
        "[plan-in-future]",
    );
    // a donor has one active workup: the second patient's is for the other donor
    let r2 = reg.open("P2", "D2", "workup", &[]);
    let rec2 = |step: &str, date: &str| reg.record(&r2, step, date);
    rec2("consent", &day(-5));
    reg.refused(
        &[
            "workup",
            "plan",
            "--request",
            &r2,
            "--collection",
            &day(30),
            "--exam",
            &day(20),
        ],
        "[exam-21-days]",
    );
    reg.refused(
        &[
            "workup",
            "plan",
            "--request",
            &r2,
            "--collection",
            &day(50),
            "--idm",
            &day(5),
        ],
        "[idm-30-days]",
    );
    // an IDM recorded too long before the planned collection
    reg.ok(&["workup", "plan", "--request", &r2, "--collection", &day(40)]);
    reg.refused(
        &[
            "workup",
            "record",
            "--request",
            &r2,
            "--step",
            "idm",
            "--date",
            &day(-1),
        ],
        "[idm-30-days]",
    );
    // clearance before the patient's conditioning
    reg.ok(&["workup", "plan", "--request", &r2, "--collection", &day(25)]);
    rec2("exam", &day(-4));
    rec2("idm", &day(0));
    reg.ok(&[
        "workup",
        "plan",
        "--request",
        &r2,
        "--collection",
        &day(25),
        "--conditioning",
        &day(0),
    ]);
    reg.refused(
        &[
            "workup",
            "record",
            "--request",
            &r2,
            "--step",
            "clearance",
            "--date",
            &day(0),
        ],
        "[clearance-before-conditioning]",
    );
    // unknown steps and requests are named
    reg.refused(
        &[
            "workup",
            "record",
            "--request",
            &r2,
            "--step",
            "x-ray",
            "--date",
            &day(0),
        ],
        "x-ray",
    );
    reg.refused(
        &[
            "workup",
            "record",
            "--request",
            "R999999",
            "--step",
            "consent",
            "--date",
            &day(0),
        ],
        "R999999",
    );
    // the flag of a donor in another patient's workup (and held for it)
    let other = reg.open("P2", "D1", "idm", &[]);
    let out = reg.run(&["requests", "show", &other]);
    assert!(text(&out).contains("is in workup"), "{}", text(&out));
    assert!(
        text(&out).contains("reserved for patient P1"),
        "{}",
        text(&out)
    );
}

#[test]
fn moving_the_collection_reopens_the_exam_and_it_becomes_a_task_again() {
    let reg = Registry::new("journey-move");
    let r = reg.open("P1", "D1", "workup", &[]);
    reg.record(&r, "consent", &day(-3));
    reg.ok(&["workup", "plan", "--request", &r, "--collection", &day(40)]);
    reg.record(&r, "exam", &day(0));
    let before = reg.json(&["requests", "show", &r, "--format", "json"]);
    assert_eq!(step_state(&before, "exam"), "done");
    // the collection moves to ten days from now: the exam is too close
    let o = reg.run(&["workup", "plan", "--request", &r, "--collection", &day(10)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("reopened: exam"), "{}", text(&o));
    assert!(text(&o).contains("exam-21-days"), "{}", text(&o));
    let after = reg.json(&["requests", "show", &r, "--format", "json"]);
    assert_eq!(step_state(&after, "exam"), "reopened");
    let tasks = reg.json(&["tasks", "--format", "json"]);
    let exam = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["request"] == r.as_str() && t["task"] == "exam")
        .expect("the exam is a task again");
    // due 21 days before the collection: already overdue, listed first
    assert_eq!(exam["due"], day(-11));
    assert_eq!(exam["overdue"], true);
    assert_eq!(tasks["tasks"][0]["overdue"], true);
    // --due keeps what is due soon
    let soon = reg.json(&["tasks", "--due", "0", "--format", "json"]);
    assert!(soon["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["due"].as_str().unwrap() <= day(0).as_str()));
}

#[test]
fn one_open_request_and_a_reservation_released_when_cancelled() {
    let reg = Registry::new("journey-reserve");
    let ct = reg.open("P1", "D1", "ct", &["--loci", "A,B,DRB1"]);
    let t = reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            "D1",
            "--type",
            "ct",
            "--loci",
            "C",
        ],
        "[one-open-request]",
    );
    assert!(t.contains(&ct), "the refusal names the open request: {t}");
    reg.ok(&["requests", "result", &ct, "--typing", TYPING]);
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            "D1",
            "--type",
            "ct",
            "--loci",
            "DRB1,DQB1",
        ],
        "[disjoint-typing-loci]",
    );
    reg.open("P1", "D1", "ct", &["--loci", "C,DQB1"]);

    let res = reg.open("P1", "D2", "reservation", &["--expires", &day(60)]);
    let shown = reg.ok(&["donors", "show", "D2"]);
    assert!(shown.contains("reserved"), "{shown}");
    assert!(shown.contains("P1"), "{shown}");
    // another patient's reservation of the same donor is refused, other requests flagged
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P2",
            "--donor",
            "D2",
            "--type",
            "reservation",
            "--expires",
            &day(30),
        ],
        "[reserved-for-another-patient]",
    );
    let o = reg.run(&[
        "requests",
        "open",
        "--patient",
        "P2",
        "--donor",
        "D2",
        "--type",
        "idm",
    ]);
    assert!(o.status.success());
    assert!(text(&o).contains("reserved for patient P1"), "{}", text(&o));
    // cancelling needs a reason and releases the donor
    let o = reg.run(&["requests", "cancel", &res]);
    assert!(!o.status.success());
    reg.ok(&[
        "requests",
        "cancel",
        &res,
        "--reason",
        "patient chose a cord unit",
    ]);
    let shown = reg.ok(&["donors", "show", "D2"]);
    assert!(shown.contains("available"), "{shown}");
    let r = reg.json(&["requests", "show", &res, "--format", "json"]);
    assert_eq!(r["state"], "cancelled (patient chose a cord unit)");
    // a cancelled request takes no result
    reg.refused(&["requests", "result", &res], "[request-lifecycle]");
    // rejecting names a reason code
    let idm = reg.open("P1", "D2", "idm", &[]);
    reg.refused(&["requests", "reject", &idm, "--reason", "bored"], "bored");
    reg.ok(&["requests", "reject", &idm, "--reason", "withdrew"]);
}

#[test]
fn a_verification_typing_that_disagrees_blocks_the_workup() {
    let reg = Registry::new("journey-typing");
    let r = reg.open("P1", "D1", "workup", &[]);
    reg.record(&r, "consent", "2021-01-04");
    reg.record(&r, "sample", "2021-01-05");
    let o = reg.run(&[
        "workup",
        "record",
        "--request",
        &r,
        "--step",
        "typing",
        "--date",
        "2021-01-12",
        "--typing",
        "A*03:01+A*11:01^B*08:01+B*07:02",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("blocked for review"), "{}", text(&o));
    let t = reg.refused(
        &[
            "workup",
            "record",
            "--request",
            &r,
            "--step",
            "exam",
            "--date",
            "2021-01-15",
        ],
        "[verification-typing]",
    );
    assert!(
        t.contains("A*01:01+A*02:01"),
        "the discrepancy names the positions: {t}"
    );
    let tasks = reg.json(&["tasks", "--format", "json"]);
    assert!(tasks.to_string().contains("review-typing"));
    // a typing that agrees (at two fields) unblocks
    reg.ok(&[
        "workup",
        "record",
        "--request",
        &r,
        "--step",
        "typing",
        "--date",
        "2021-01-20",
        "--typing",
        "A*01:01:01:01+A*02:01^B*08:01+B*07:02",
    ]);
    reg.record(&r, "exam", "2021-01-21");
    // the same through a ct request's result
    let ct = reg.open("P2", "D2", "ct", &[]);
    let w = reg.open("P2", "D2", "workup", &[]);
    reg.ok(&[
        "requests",
        "result",
        &ct,
        "--typing",
        "A*24:02+A*02:01^B*08:01+B*07:02",
    ]);
    let shown = reg.json(&["requests", "show", &ct, "--format", "json"]);
    assert!(shown.to_string().contains("typing-discrepancy"));
    let wv = reg.json(&["requests", "show", &w, "--format", "json"]);
    assert!(
        wv["workup"]["review"].as_str().unwrap().contains("A:"),
        "{wv}"
    );
}

#[test]
fn the_calendar_parses_back_with_every_appointment() {
    let reg = Registry::new("journey-ics");
    let r = reg.open("P1", "D1", "workup", &[]);
    reg.record(&r, "consent", &day(0));
    reg.ok(&[
        "workup",
        "plan",
        "--request",
        &r,
        "--collection",
        &day(40),
        "--exam",
        &day(10),
        "--idm",
        &day(20),
    ]);
    let out = reg.dir.path("donor.ics");
    reg.ok(&["workup", "calendar", "--request", &r, "--out", &out]);
    let text = std::fs::read_to_string(&out).unwrap();
    let cal: icalendar::Calendar = text.parse().expect("a calendar program reads it");
    use icalendar::Component;
    let events: Vec<&icalendar::Event> = cal.events().collect();
    assert_eq!(events.len(), 13, "exam, IDM, ten injections, collection");
    let summaries: Vec<&str> = events.iter().filter_map(|e| e.get_summary()).collect();
    assert!(summaries.iter().any(|s| s.contains("Medical examination")));
    assert_eq!(summaries.iter().filter(|s| s.contains("G-CSF")).count(), 10);
    let collection = events
        .iter()
        .find(|e| e.get_summary() == Some("Stem cell collection"))
        .unwrap();
    let start = format!("{:?}", collection.get_start().unwrap());
    let want: NaiveDate = day(40).parse().unwrap();
    assert!(start.contains(&want.to_string()), "{start}");
    assert!(text.contains("BEGIN:VCALENDAR") && text.contains("END:VCALENDAR"));
    // every UID is distinct
    let mut uids: Vec<&str> = events.iter().filter_map(|e| e.get_uid()).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 13);
}

#[test]
fn patients_cases_and_bad_input() {
    let reg = Registry::new("journey-patients");
    let shown = reg.json(&["patients", "show", "P1", "--format", "json"]);
    assert_eq!(shown["status"], "preliminary");
    assert_eq!(shown["urgency"], "4-6w");
    reg.refused(
        &["patients", "set-status", "P1", "transplanted"],
        "[case-lifecycle]",
    );
    reg.ok(&["patients", "set-status", "P1", "active", "--by", "sc"]);
    reg.refused(&["patients", "set-status", "P1", "stopped"], "reason");
    reg.ok(&[
        "patients",
        "set-status",
        "P1",
        "stopped",
        "--reason",
        "patient died",
    ]);
    let shown = reg.json(&["patients", "show", "P1", "--format", "json"]);
    assert_eq!(shown["status"], "stopped (patient died)");
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
    let list = reg.json(&[
        "patients",
        "list",
        "--status",
        "preliminary",
        "--format",
        "json",
    ]);
    assert_eq!(list["patients"].as_array().unwrap().len(), 1);
    // bad input names the field and the reason
    let t = reg.refused(
        &["patients", "add", "P9", "--typing", "A*01:01+A*99:99"],
        "--typing",
    );
    assert!(t.contains("A*99:99"), "{t}");
    reg.refused(
        &[
            "patients",
            "add",
            "P9",
            "--typing",
            TYPING,
            "--urgency",
            "soon",
        ],
        "--urgency",
    );
    reg.refused(
        &["patients", "add", "P1", "--typing", TYPING],
        "already registered",
    );
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P404",
            "--donor",
            "D1",
            "--type",
            "idm",
        ],
        "P404",
    );
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P2",
            "--donor",
            "D404",
            "--type",
            "idm",
        ],
        "D404",
    );
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P2",
            "--donor",
            "D1",
            "--type",
            "reservation",
        ],
        "--expires",
    );
}

#[test]
fn after_the_collection_the_donor_is_unavailable_and_the_check_ups_are_due() {
    let reg = Registry::new("journey-donated");
    let r = reg.open("P1", "D1", "workup", &[]);
    for (step, offset) in [
        ("consent", -40),
        ("exam", -30),
        ("idm", -20),
        ("clearance", -10),
        ("mobilisation", -6),
        ("mobilisation", -5),
        ("collection", -1),
    ] {
        reg.record(&r, step, &day(offset));
    }
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(shown.contains("temporarily unavailable"), "{shown}");
    assert!(shown.contains("donated"), "{shown}");
    assert!(
        shown.contains("P1"),
        "reserved for the same patient: {shown}"
    );
    let collected: NaiveDate = day(-1).parse().unwrap();
    let back = collected
        .checked_add_months(chrono::Months::new(24))
        .unwrap()
        .to_string();
    assert!(shown.contains(&back), "available from {back}: {shown}");
    let tasks = reg.json(&["tasks", "--format", "json"]);
    let due: Vec<(String, String)> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["request"] == r.as_str())
        .map(|t| {
            (
                t["task"].as_str().unwrap().to_string(),
                t["due"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = |task: &str, date: String| {
        assert!(due.contains(&(task.to_string(), date)), "{task}: {due:?}")
    };
    want("followup-1w", day(6));
    want(
        "followup-1m",
        collected
            .checked_add_months(chrono::Months::new(1))
            .unwrap()
            .to_string(),
    );
    want(
        "followup-5y",
        collected
            .checked_add_months(chrono::Months::new(60))
            .unwrap()
            .to_string(),
    );
    want("shipment", day(-1));
    // another patient's request for this donor is flagged
    let o = reg.run(&[
        "requests",
        "open",
        "--patient",
        "P2",
        "--donor",
        "D1",
        "--type",
        "idm",
    ]);
    assert!(o.status.success());
    assert!(text(&o).contains("P1"), "{}", text(&o));
}

#[test]
fn a_donor_named_by_id_or_grid_is_one_donor() {
    let reg = Registry::new("journey-one-reference");
    let g = grid("D1");
    let ct = reg.open("P1", &g, "ct", &["--loci", "A,B,DRB1"]);
    let shown = reg.json(&["requests", "show", &ct, "--format", "json"]);
    assert_eq!(
        shown["donor"], "D1",
        "stored under the registry's id: {shown}"
    );
    assert!(
        shown["partner"].is_null(),
        "a local donor, not a partner's: {shown}"
    );
    // the same donor by its id: the pair already has an open ct
    let t = reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            "D1",
            "--type",
            "ct",
            "--loci",
            "C",
        ],
        "[one-open-request]",
    );
    assert!(t.contains(&ct), "{t}");
    // and by its GRID again
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            &g,
            "--type",
            "ct",
            "--loci",
            "C",
        ],
        "[one-open-request]",
    );
    // lists and tasks know one name
    for by in ["D1", g.as_str()] {
        let list = reg.json(&["requests", "list", "--donor", by, "--format", "json"]);
        let list = list["requests"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{by}: {list:?}");
        assert_eq!(list[0]["donor"], "D1");
    }
    let res = reg.open("P2", &g, "reservation", &["--expires", &day(30)]);
    let tasks = reg.json(&["tasks", "--format", "json"]);
    let donors: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["donor"].as_str().unwrap())
        .collect();
    assert!(!donors.is_empty(), "{tasks}");
    assert!(donors.iter().all(|d| *d == "D1"), "{donors:?}");
    let all = reg.json(&["requests", "list", "--format", "json"]);
    assert!(
        !all.to_string().contains(&g),
        "no request names the GRID: {all}"
    );
    // the reservation by GRID holds the donor against the other patient by id
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(shown.contains("reserved for patient P2"), "{shown}");
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            "D1",
            "--type",
            "reservation",
            "--expires",
            &day(20),
        ],
        "[reserved-for-another-patient]",
    );
    let o = reg.run(&["requests", "show", &ct]);
    assert!(
        text(&o).contains(&format!("held by reservation {res}"))
            || text(&o).contains("reserved for patient P2"),
        "{}",
        text(&o)
    );
    // a GRID no donor here has, of an ION no partner has, is not found
    let unknown = grid("D404");
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            &unknown,
            "--type",
            "idm",
        ],
        &unknown,
    );
}

#[test]
fn a_workup_reserves_its_donor_and_a_donor_has_one_active_workup() {
    let reg = Registry::new("journey-workup-hold");
    let w = reg.open("P1", "D1", "workup", &[]);
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(
        shown.contains(&format!("reserved for patient P1 until {}", day(180))),
        "held for the registry's maximum: {shown}"
    );
    // a second active workup, for any patient, by id or GRID
    for donor in ["D1".to_string(), grid("D1")] {
        let t = reg.refused(
            &[
                "requests",
                "open",
                "--patient",
                "P2",
                "--donor",
                &donor,
                "--type",
                "workup",
            ],
            "[one-active-workup]",
        );
        assert!(t.contains(&w) && t.contains("P1"), "names the other: {t}");
    }
    // nor can another patient reserve the donor
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P2",
            "--donor",
            "D1",
            "--type",
            "reservation",
            "--expires",
            &day(10),
        ],
        "[reserved-for-another-patient]",
    );
    // a collection planned beyond the hold lengthens it to the day after
    reg.record(&w, "consent", &day(-1));
    reg.ok(&["workup", "plan", "--request", &w, "--collection", &day(200)]);
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(shown.contains(&format!("until {}", day(201))), "{shown}");
    // cancelling the workup releases the donor; the other patient's workup then holds it
    reg.ok(&["requests", "cancel", &w, "--reason", "patient relapsed"]);
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(shown.contains("available"), "{shown}");
    let w2 = reg.open("P2", &grid("D1"), "workup", &[]);
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(shown.contains("reserved for patient P2"), "{shown}");
    // a reservation of the other patient does not let a workup past it either
    reg.open("P1", "D2", "reservation", &["--expires", &day(20)]);
    reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P2",
            "--donor",
            "D2",
            "--type",
            "workup",
        ],
        "[reserved-for-another-patient]",
    );
    // a rejected workup releases too
    reg.ok(&["requests", "reject", &w2, "--reason", "medical"]);
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(shown.contains("available"), "{shown}");
}

#[test]
fn a_reservation_stays_within_the_registry_maximum_and_settings_change_it() {
    let reg = Registry::new("journey-max-reservation");
    let t = reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            "D1",
            "--type",
            "reservation",
            "--expires",
            &day(181),
        ],
        "--expires",
    );
    assert!(t.contains("at most 180 days"), "{t}");
    assert!(t.contains("max-reservation-days"), "{t}");
    let shown = reg.json(&["settings", "show", "--format", "json"]);
    let max = shown["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "max-reservation-days")
        .unwrap()
        .clone();
    assert_eq!(max["value"], "180");
    assert_eq!(max["default"], true);
    // operators lengthen it
    let out = reg.ok(&["settings", "set", "max-reservation-days", "365"]);
    assert!(out.contains("365"), "{out}");
    let r = reg.open("P1", "D1", "reservation", &["--expires", &day(300)]);
    reg.ok(&["requests", "cancel", &r, "--reason", "too long after all"]);
    // and shorten it: the next reservation is held to it
    reg.ok(&["settings", "set", "max-reservation-days", "30"]);
    let t = reg.refused(
        &[
            "requests",
            "open",
            "--patient",
            "P2",
            "--donor",
            "D2",
            "--type",
            "reservation",
            "--expires",
            &day(31),
        ],
        "--expires",
    );
    assert!(t.contains("at most 30 days"), "{t}");
    reg.open("P2", "D2", "reservation", &["--expires", &day(30)]);
    // a workup holds its donor for the same maximum
    reg.open("P1", "D1", "workup", &[]);
    let shown = reg.ok(&["donors", "show", "D1"]);
    assert!(shown.contains(&format!("until {}", day(30))), "{shown}");
    let shown = reg.json(&["settings", "show", "--format", "json"]);
    assert!(shown.to_string().contains("\"30\""), "{shown}");
    // settings refuse what they cannot hold
    reg.refused(
        &["settings", "set", "max-reservation-days", "0"],
        "max-reservation-days",
    );
    reg.refused(
        &["settings", "set", "max-reservation-days", "soon"],
        "whole number",
    );
    reg.refused(
        &["settings", "set", "max-reservation-weeks", "3"],
        "not a setting",
    );
}

#[test]
fn implausible_patients_are_refused_naming_the_field() {
    let reg = Registry::new("journey-plausible");
    let t = reg.refused(
        &[
            "patients",
            "add",
            "P7",
            "--typing",
            TYPING,
            "--birth-date",
            &day(1),
        ],
        "--birth-date",
    );
    assert!(t.contains("in the future"), "{t}");
    reg.ok(&[
        "patients",
        "add",
        "P7",
        "--typing",
        TYPING,
        "--birth-date",
        &day(0),
    ]);
    let long = "P".repeat(65);
    let huge = "Q".repeat(10_000);
    for (id, why) in [
        ("../x", "'/'"),
        ("a\\b", "'\\\\'"),
        ("P\u{1}", "U+0001"),
        ("P\u{202e}9", "U+202E"),
        (long.as_str(), "65 characters"),
        (huge.as_str(), "10000 characters"),
    ] {
        let t = reg.refused(&["patients", "add", id, "--typing", TYPING], "--id");
        assert!(t.contains(why), "{why}: {t}");
        assert!(
            t.len() < 1000,
            "the refusal does not echo the whole id: {}",
            t.len()
        );
    }
    // 64 characters are an id
    reg.ok(&["patients", "add", &"P".repeat(64), "--typing", TYPING]);
    let list = reg.json(&["patients", "list", "--format", "json"]);
    assert_eq!(list["patients"].as_array().unwrap().len(), 4, "{list}");
}
