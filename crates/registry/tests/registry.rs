//! The registry: validation rules, import/export, idempotence, statuses, storage.

use chrono::{NaiveDate, NaiveDateTime};
use medulla_nomenclature::Reducer;
use medulla_registry::io::ImportReport;
use medulla_registry::{
    export_csv, import_csv, DonorStore, ImportOptions, PermanentReason, Status, StatusChange,
    Store, SynthConfig, Synthesizer,
};

mod common;
use common::env;
use medulla_registry::store::SCHEMA_VERSION;

fn at() -> NaiveDateTime {
    "2026-02-01T10:00:00".parse().unwrap()
}

fn pool(n: u64, seed: u64) -> Vec<u8> {
    let e = env();
    let s = Synthesizer::new(
        SynthConfig {
            seed,
            ..SynthConfig::default()
        },
        &e.freqs,
        &e.release,
        &e.macs,
    )
    .unwrap();
    let mut out = Vec::new();
    s.write_csv(&mut out, n, |_| {}).unwrap();
    out
}

fn import(store: &mut dyn DonorStore, csv: &[u8], strict: bool) -> ImportReport {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let options = ImportOptions {
        validate_first: false,
        file_name: "test.csv",
        strict,
        by: "tester",
        at: at(),
        before_commit: None,
        delimiter: None,
    };
    import_csv(csv, store, &reducer, &options, |_| {}).unwrap()
}

fn export(store: &dyn DonorStore) -> String {
    let mut out = Vec::new();
    export_csv(&mut out, store).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_synthetic_pool_imports_whole_and_reimporting_changes_nothing() {
    let csv = pool(400, 21);
    for mut store in common::stores() {
        let r = import(&mut store, &csv, true);
        assert_eq!(
            (r.records, r.new, r.rejected),
            (400, 400, 0),
            "{:?}",
            r.rejections
        );
        assert!(r.applied);
        let before = export(&store);
        let again = import(&mut store, &csv, true);
        assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 400));
        assert_eq!(export(&store), before);
        let id = "SYN0000000007";
        assert_eq!(
            store.history(id).unwrap().len(),
            1,
            "one history entry: the first import"
        );
    }
}

#[test]
fn export_then_import_into_an_empty_registry_reproduces_it() {
    for mut store in common::stores() {
        import(&mut store, &pool(300, 5), true);
        let today = at();
        store
            .set_status(
                "SYN0000000003",
                StatusChange {
                    status: Status::Reserved {
                        patient: "P-100".into(),
                        until: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
                    },
                    changed_at: today,
                    changed_by: "coordinator".into(),
                    note: "workup".into(),
                },
            )
            .unwrap();
        store
            .set_status(
                "SYN0000000004",
                StatusChange {
                    status: Status::PermanentlyUnavailable {
                        reason: PermanentReason::Withdrew,
                    },
                    changed_at: today,
                    changed_by: "coordinator".into(),
                    note: "phone call".into(),
                },
            )
            .unwrap();
        let first = export(&store);
        let mut copy = common::like(&store);
        let r = import(&mut copy, first.as_bytes(), true);
        assert_eq!(r.new, 300);
        assert_eq!(export(&copy), first);
        let (_, s) = copy.donor("SYN0000000003").unwrap().unwrap();
        assert!(matches!(s, Status::Reserved { ref patient, .. } if patient == "P-100"));
        for id in ["SYN0000000000", "SYN0000000003"] {
            assert_eq!(store.donor(id).unwrap(), copy.donor(id).unwrap());
        }
    }
}

const HEADER: &str = "id,grid,registry,donor_type,sex,birth_date,abo,rh,cmv,population,recruitment_date,tnc_1e7,cd34_1e6,volume_ml,typing_date,A_1,A_2,B_1,B_2,C_1,C_2,DRB1_1,DRB1_2,DQB1_1,DQB1_2,DPB1_1,DPB1_2,DRB3_1,DRB3_2,DQA1_1,DQA1_2,status,status_reason,status_until,status_patient";

fn row(id: &str, over: &[(&str, &str)]) -> String {
    let cols: Vec<&str> = HEADER.split(',').collect();
    let base: Vec<(&str, &str)> = vec![
        ("id", id),
        ("registry", "BE"),
        ("donor_type", "adult"),
        ("sex", "F"),
        ("birth_date", "1990-05-17"),
        ("abo", "A"),
        ("rh", "pos"),
        ("cmv", "neg"),
        ("recruitment_date", "2012-01-10"),
        ("typing_date", "2012-02-01"),
        ("A_1", "A*01:01"),
        ("A_2", "A*02:AB"),
        ("B_1", "B*08:01"),
        ("B_2", "B44"),
        ("DRB1_1", "DRB1*03:01"),
        ("DRB1_2", "DRB1*15:XX"),
        ("DRB3_1", "DRB3*02:02"),
        ("DQA1_1", "DQA1*01:02"),
    ];
    cols.iter()
        .map(|c| {
            over.iter()
                .chain(base.iter())
                .find(|(k, _)| k == c)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// (record id, fields overriding a valid row, field in error, words of the reason)
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

#[test]
fn every_validation_rule_rejects_with_line_field_and_reason() {
    let cases: Vec<Case> = vec![
        (
            "bad-grid",
            vec![("grid", "1234000000000000199")],
            "grid",
            "checksum",
        ),
        (
            "short-grid",
            vec![("grid", "12345")],
            "grid",
            "19 characters",
        ),
        (
            "unknown-allele",
            vec![("A_1", "A*99:99")],
            "A_1",
            "unknown allele",
        ),
        (
            "wrong-locus",
            vec![("A_1", "B*08:01")],
            "A_1",
            "not a typing of locus A",
        ),
        (
            "wrong-sero",
            vec![("B_2", "DR15")],
            "B_2",
            "not a typing of locus B",
        ),
        ("bad-mac", vec![("A_2", "A*02:QQQQ")], "A_2", "unknown MAC"),
        (
            "future",
            vec![("birth_date", "2090-01-01")],
            "birth_date",
            "in the future",
        ),
        (
            "bad-date",
            vec![("birth_date", "17/05/1990")],
            "birth_date",
            "not a date",
        ),
        (
            "no-a",
            vec![("A_1", ""), ("A_2", "")],
            "A_1",
            "at least at A, B and DRB1",
        ),
        (
            "young",
            vec![("recruitment_date", "2005-01-01")],
            "recruitment_date",
            "18 or older",
        ),
        ("abo", vec![("abo", "Z")], "abo", "not a ABO group"),
        ("sex", vec![("sex", "X")], "sex", "not a sex"),
        (
            "type",
            vec![("donor_type", "robot")],
            "donor_type",
            "not a donor type",
        ),
        (
            "cord-no-tnc",
            vec![("donor_type", "cord")],
            "tnc_1e7",
            "required for a cord",
        ),
        (
            "adult-tnc",
            vec![("tnc_1e7", "120")],
            "tnc_1e7",
            "only cord blood units",
        ),
        (
            "status",
            vec![("status", "sleeping")],
            "status",
            "not a status",
        ),
        (
            "reserved",
            vec![("status", "reserved"), ("status_until", "2026-09-01")],
            "status",
            "needs a reason",
        ),
        (
            "old",
            vec![("birth_date", "1899-12-31"), ("recruitment_date", "")],
            "birth_date",
            "before 1900-01-01",
        ),
        (
            "child",
            vec![("birth_date", "2012-03-01"), ("recruitment_date", "")],
            "birth_date",
            "at least 16 years old on 2026-02-01",
        ),
        ("BE/1", vec![], "id", "an identifier has no / or \\"),
        ("BE\\2", vec![], "id", "an identifier has no / or \\"),
        ("BE\u{7}3", vec![], "id", "printable characters only"),
        // looks like BE4, is not: invisible characters are refused as control ones
        ("BE\u{200B}4", vec![], "id", "invisible character U+200B"),
        ("BE 5", vec![], "id", "a donor id has no spaces"),
        (
            "ID-OF-26-CHARACTERS-LONG-X",
            vec![],
            "id",
            "at most 25 characters (the WMDA limit)",
        ),
        (
            "gl-in-cell",
            vec![("A_1", "A*01:01+A*02:01")],
            "A_1",
            "one position",
        ),
        (
            "cell-of-70000",
            vec![("registry", &*Box::leak("R".repeat(70_000).into_boxed_str()))],
            "registry",
            "70000 bytes: a cell holds at most 65536",
        ),
        (
            "digits-after-star",
            vec![(
                "A_1",
                &*Box::leak(format!("A*{}", "9".repeat(60_000)).into_boxed_str()),
            )],
            "A_1",
            "",
        ),
    ];
    let mut csv = format!("{HEADER}\n{}\n", row("GOOD-1", &[]));
    for (id, over, _, _) in &cases {
        csv.push_str(&row(id, over));
        csv.push('\n');
    }
    csv.push_str(&row("GOOD-1", &[]));
    csv.push('\n');
    for mut store in common::stores() {
        let r = import(&mut store, csv.as_bytes(), false);
        assert_eq!(r.new, 1);
        assert_eq!(r.rejected as usize, cases.len() + 1);
        for (i, (id, _, field, reason)) in cases.iter().enumerate() {
            let line = i as u64 + 3;
            let hit = r.rejections.iter().find(|x| x.id == *id);
            let hit = hit.unwrap_or_else(|| panic!("{id} not rejected"));
            assert_eq!(hit.line, line, "{id}");
            assert!(
                r.rejections.iter().any(|x| x.id == *id
                    && x.error.field == *field
                    && x.error.reason.contains(reason)),
                "{id}: {:?}",
                r.rejections
                    .iter()
                    .filter(|x| x.id == *id)
                    .collect::<Vec<_>>()
            );
        }
        let dup = r.rejections.last().unwrap();
        assert_eq!(
            (dup.id.as_str(), dup.error.field.as_str()),
            ("GOOD-1", "id")
        );

        // strict: the same file applies nothing
        let mut strict_store = common::like(&store);
        let s = import(&mut strict_store, csv.as_bytes(), true);
        assert!(!s.applied);
        assert_eq!(strict_store.count().unwrap(), 0);
    }
}

#[test]
fn headers_are_checked_before_anything_is_read() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let options = ImportOptions {
        validate_first: false,
        file_name: "h.csv",
        strict: false,
        by: "t",
        at: at(),
        before_commit: None,
        delimiter: None,
    };
    for mut store in common::stores() {
        let err = import_csv(
            &b"id,registry,donor_type,birth_date,colour\n"[..],
            &mut store,
            &reducer,
            &options,
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("h.csv") && err.contains("unknown column \"colour\""),
            "{err}"
        );
        let err = import_csv(
            &b"id,registry,donor_type\n"[..],
            &mut store,
            &reducer,
            &options,
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing column \"birth_date\""), "{err}");
    }
}

#[test]
fn status_changes_follow_the_rules_and_are_kept_in_history() {
    for mut store in common::stores() {
        import(
            &mut store,
            format!("{HEADER}\n{}\n", row("D1", &[])).as_bytes(),
            true,
        );
        let t = at();
        let change = |status| StatusChange {
            status,
            changed_at: t,
            changed_by: "coordinator".into(),
            note: "call".into(),
        };
        store
            .set_status(
                "D1",
                change(Status::TemporarilyUnavailable {
                    reason: "pregnancy".into(),
                    until: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                }),
            )
            .unwrap();
        store
            .set_status(
                "D1",
                change(Status::PermanentlyUnavailable {
                    reason: PermanentReason::Medical,
                }),
            )
            .unwrap();
        let err = store
            .set_status("D1", change(Status::Available))
            .unwrap_err()
            .to_string();
        assert!(err.contains("permanently unavailable"), "{err}");
        let err = store
            .set_status("NOPE", change(Status::Available))
            .unwrap_err()
            .to_string();
        assert!(err.contains("NOPE"), "{err}");
        let h = store.history("D1").unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].note, "import");
        assert_eq!(h[2].changed_by, "coordinator");
        assert!(matches!(h[2].status, Status::PermanentlyUnavailable { .. }));
    }
}

#[test]
fn donors_leave_the_pool_on_their_61st_birthday() {
    for mut store in common::stores() {
        import(
            &mut store,
            format!(
                "{HEADER}\n{}\n",
                row(
                    "OLD",
                    &[
                        ("birth_date", "1966-03-15"),
                        ("recruitment_date", "1990-01-01")
                    ]
                )
            )
            .as_bytes(),
            true,
        );
        let (d, _) = store.donor("OLD").unwrap().unwrap();
        assert_eq!(d.leaves_pool_on(), NaiveDate::from_ymd_opt(2027, 3, 15));
        assert!(d.within_age_limit(NaiveDate::from_ymd_opt(2027, 3, 14).unwrap()));
        assert!(!d.within_age_limit(NaiveDate::from_ymd_opt(2027, 3, 15).unwrap()));
    }
}

#[test]
fn a_database_file_keeps_its_schema_version_and_data() {
    let path = std::env::temp_dir().join(format!("medulla-store-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut locations = vec![path.clone()];
    locations.extend(common::postgres().map(std::path::PathBuf::from));
    for location in &locations {
        {
            let mut store = Store::open(location).unwrap();
            assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
            import(&mut store, &pool(50, 2), true);
        }
        let store = Store::open(location).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.count().unwrap(), 50);
        assert_eq!(
            store.migrations().unwrap().len() as i64,
            SCHEMA_VERSION,
            "every version recorded once"
        );
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
}

#[test]
fn a_gl_column_gives_the_typing_as_one_gl_string() {
    let csv = "id,registry,donor_type,birth_date,recruitment_date,gl\n\
        G1,BE,adult,1990-05-17,2012-01-10,A*01:01+A*02:AB^B*08:01+B44^DRB1*03:01+DRB1*15:01^DQB1*02:01\n\
        G2,BE,adult,1990-05-17,2012-01-10,A*01:01~B*08:01+A*02:01~B*07:02^DRB1*03:01\n\
        G3,BE,adult,1990-05-17,2012-01-10,A*01:01+A*02:01^A*03:01^B*08:01^DRB1*03:01\n\
        G4,BE,adult,1990-05-17,2012-01-10,A*01:01+A*99:99^B*08:01^DRB1*03:01\n";
    for mut store in common::stores() {
        let r = import(&mut store, csv.as_bytes(), false);
        assert_eq!(r.new, 1, "{:?}", r.rejections);
        let (d, _) = store.donor("G1").unwrap().unwrap();
        assert_eq!(d.typing.positions[1][1].as_deref(), Some("B44"));
        assert_eq!(d.typing.positions[4][0].as_deref(), Some("DQB1*02:01"));
        let why = |id: &str| {
            r.rejections
                .iter()
                .filter(|x| x.id == id)
                .map(|x| x.error.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        };
        assert!(why("G2").contains("gl: phased haplotypes"), "{}", why("G2"));
        assert!(
            why("G3").contains("gl: locus A appears twice"),
            "{}",
            why("G3")
        );
        assert!(
            why("G4").contains("A_2:") && why("G4").contains("unknown allele"),
            "{}",
            why("G4")
        );
    }
}

/// The header without the status columns: a file that says nothing of statuses.
fn header_without_status() -> String {
    HEADER
        .split(',')
        .filter(|c| !c.starts_with("status"))
        .collect::<Vec<_>>()
        .join(",")
}

fn row_without_status(id: &str, over: &[(&str, &str)]) -> String {
    let full = row(id, over);
    HEADER
        .split(',')
        .zip(full.split(','))
        .filter(|(c, _)| !c.starts_with("status"))
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join(",")
}

fn change(status: Status) -> StatusChange {
    StatusChange {
        status,
        changed_at: at(),
        changed_by: "coordinator".into(),
        note: "by telephone".into(),
    }
}

fn withdrawn() -> Status {
    Status::PermanentlyUnavailable {
        reason: PermanentReason::Withdrew,
    }
}

/// A request of `kind` in `state` for `donor`, as the workflow stores it.
fn put_request(store: &mut Store, id: &str, seq: i64, donor: &str, kind: &str, state: &str) {
    store
        .write(|tx| -> Result<(), medulla_registry::StoreError> {
            tx.execute(
                "INSERT INTO requests (id, seq, patient_id, donor_id, kind, subject, state,
                    state_detail, opened_on, opened_by, note, updated_at)
                 VALUES (?1, ?2, 'P1', ?3, ?4, '{}', ?5, '{}', '2026-01-20', 'coordinator', '',
                    '2026-01-20T09:00:00')",
                medulla_registry::db::params![id, seq, donor, kind, state],
            )?;
            Ok(())
        })
        .unwrap();
}

fn reserved_until(patient: &str, until: &str) -> Status {
    Status::Reserved {
        patient: patient.into(),
        until: until.parse().unwrap(),
    }
}

#[test]
fn a_file_without_statuses_keeps_every_status_the_registry_decided() {
    for mut store in common::stores() {
        let with_empty_status = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row("D1", &[]),
            row("D2", &[]),
            row("D3", &[])
        );
        let first = import(&mut store, with_empty_status.as_bytes(), true);
        assert_eq!(first.new, 3, "{:?}", first.rejections);
        store.set_status("D1", change(withdrawn())).unwrap();
        let away = Status::TemporarilyUnavailable {
            reason: "pregnancy".into(),
            until: "2026-11-01".parse().unwrap(),
        };
        store.set_status("D2", change(away.clone())).unwrap();
        let history = |store: &Store, id: &str| store.history(id).unwrap().len();
        let (h1, h2) = (history(&store, "D1"), history(&store, "D2"));

        // the same file again: nothing changes, not even a status
        let again = import(&mut store, with_empty_status.as_bytes(), true);
        assert_eq!(
            (again.new, again.updated, again.unchanged, again.rejected),
            (0, 0, 3, 0),
            "{:?}",
            again.rejections
        );
        assert_eq!(store.donor("D1").unwrap().unwrap().1, withdrawn());
        assert_eq!(store.donor("D2").unwrap().unwrap().1, away);

        // a file without status columns that changes a typing: the typing changes, the
        // statuses and their history stay
        let typing_changed = format!(
            "{}\n{}\n{}\n{}\n",
            header_without_status(),
            row_without_status("D1", &[("A_2", "A*02:01")]),
            row_without_status("D2", &[("A_2", "A*02:01")]),
            row_without_status("D4", &[])
        );
        let r = import(&mut store, typing_changed.as_bytes(), true);
        assert_eq!(
            (r.new, r.updated, r.rejected),
            (1, 2, 0),
            "{:?}",
            r.rejections
        );
        let (d1, s1) = store.donor("D1").unwrap().unwrap();
        assert_eq!(d1.typing.positions[0][1].as_deref(), Some("A*02:01"));
        assert_eq!(s1, withdrawn());
        assert_eq!(store.donor("D2").unwrap().unwrap().1, away);
        assert_eq!(store.donor("D4").unwrap().unwrap().1, Status::Available);
        assert_eq!((history(&store, "D1"), history(&store, "D2")), (h1, h2));
        // and that file again is unchanged: its hash is taken with the stored status
        let r = import(&mut store, typing_changed.as_bytes(), true);
        assert_eq!((r.updated, r.unchanged), (0, 3));
    }
}

#[test]
fn a_status_column_cannot_undo_a_permanent_status_or_an_open_request() {
    for mut store in common::stores() {
        let rows = ["D1", "D2", "D3", "D4"].map(|id| row(id, &[]));
        import(
            &mut store,
            format!("{HEADER}\n{}\n", rows.join("\n")).as_bytes(),
            true,
        );
        store.set_status("D1", change(withdrawn())).unwrap();
        put_request(&mut store, "R-1", 1, "D2", "reservation", "acknowledged");
        store
            .set_status("D2", change(reserved_until("P1", "2026-06-01")))
            .unwrap();
        // a resulted reservation and an open typing request hold nothing
        put_request(&mut store, "R-2", 2, "D3", "reservation", "resulted");
        put_request(&mut store, "R-3", 3, "D4", "ct", "open");
        // an export re-imports unchanged, reservation and all
        let exported = export(&store);
        let r = import(&mut store, exported.as_bytes(), true);
        assert_eq!((r.unchanged, r.rejected), (4, 0), "{:?}", r.rejections);

        let available = [("status", "available")];
        let away = [
            ("status", "temporarily-unavailable"),
            ("status_reason", "travel"),
            ("status_until", "2026-09-01"),
        ];
        let csv = format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            row("D1", &available),
            row("D2", &away),
            row("D3", &away),
            row("D4", &away)
        );
        let r = import(&mut store, csv.as_bytes(), false);
        assert!(r.applied);
        assert_eq!((r.updated, r.rejected), (2, 2), "{:?}", r.rejections);
        let reason = |id: &str| {
            let j = r.rejections.iter().find(|j| j.id == id).unwrap();
            assert_eq!(j.error.field, "status");
            j.error.reason.clone()
        };
        let d1 = reason("D1");
        assert!(d1.starts_with("[permanently-unavailable]"), "{d1}");
        let d2 = reason("D2");
        assert!(
            d2.starts_with("[reserved-by-open-request]") && d2.contains("R-1"),
            "{d2}"
        );
        assert_eq!((r.rejections[0].line, r.rejections[1].line), (2, 3));
        assert_eq!(store.donor("D1").unwrap().unwrap().1, withdrawn());
        assert_eq!(
            store.donor("D2").unwrap().unwrap().1,
            reserved_until("P1", "2026-06-01")
        );
        assert_eq!(
            store.donor("D3").unwrap().unwrap().1.code(),
            "temporarily-unavailable"
        );
        assert_eq!(
            store.donor("D4").unwrap().unwrap().1.code(),
            "temporarily-unavailable"
        );
        // strict: the refusals are rejects, and nothing applies
        let csv = format!(
            "{HEADER}\n{}\n{}\n",
            row("D1", &available),
            row("D3", &available)
        );
        let r = import(&mut store, csv.as_bytes(), true);
        assert!(!r.applied);
        assert_eq!(r.rejected, 1);
        assert_eq!(
            store.donor("D3").unwrap().unwrap().1.code(),
            "temporarily-unavailable"
        );
    }
}

fn grid(id: &str) -> String {
    medulla_registry::Grid::new(1234, id).unwrap().to_string()
}

#[test]
fn a_grid_held_by_another_donor_is_one_rejected_record() {
    for mut store in common::stores() {
        let g1 = grid("0000000000001");
        let g2 = grid("0000000000002");
        let g3 = grid("0000000000003");
        import(
            &mut store,
            format!("{HEADER}\n{}\n", row("D1", &[("grid", &g1)])).as_bytes(),
            true,
        );
        // D2 takes D1's GRID; D3 and D4 the same new one; D5 is fine
        let csv = format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            row("D2", &[("grid", &g1)]),
            row("D3", &[("grid", &g2)]),
            row("D4", &[("grid", &g2)]),
            row("D5", &[("grid", &g3)])
        );
        let r = import(&mut store, csv.as_bytes(), false);
        assert!(r.applied);
        assert_eq!((r.new, r.rejected), (2, 2), "{:?}", r.rejections);
        let j = &r.rejections[0];
        assert_eq!(
            (j.line, j.id.as_str(), j.error.field.as_str()),
            (2, "D2", "grid")
        );
        assert_eq!(
            j.error.reason,
            format!("{g1} is already the GRID of donor D1")
        );
        let j = &r.rejections[1];
        assert_eq!((j.line, j.id.as_str()), (4, "D4"));
        assert_eq!(
            j.error.reason,
            format!("{g2} is already the GRID of donor D3")
        );
        assert!(store.donor("D2").unwrap().is_none());
        assert!(store.donor("D5").unwrap().is_some());
        // a donor keeps its own GRID, and a GRID let go of may be taken in the same file
        let csv = format!(
            "{HEADER}\n{}\n{}\n",
            row("D1", &[("grid", &g3), ("sex", "M")]),
            row("D5", &[("grid", &g1)])
        );
        // (D1 is refused, so it keeps g1 and D5 cannot take it)
        let r = import(&mut store, csv.as_bytes(), false);
        assert_eq!(r.rejected, 2, "{:?}", r.rejections);
        assert_eq!(
            r.rejections[0].error.reason,
            format!("{g3} is already the GRID of donor D5")
        );
        assert_eq!(
            r.rejections[1].error.reason,
            format!("{g1} is already the GRID of donor D1")
        );
        let csv = format!("{HEADER}\n{}\n", row("D1", &[("grid", &g1), ("sex", "M")]));
        assert_eq!(import(&mut store, csv.as_bytes(), true).updated, 1);
        let csv = format!(
            "{HEADER}\n{}\n{}\n",
            row("D3", &[("grid", &grid("0000000000004"))]),
            row("D4", &[("grid", &g2)])
        );
        let r = import(&mut store, csv.as_bytes(), true);
        assert_eq!(
            (r.updated, r.new, r.rejected),
            (1, 1, 0),
            "{:?}",
            r.rejections
        );
    }
}

#[test]
fn the_imports_log_row_and_before_commit_are_written_in_the_import_transaction() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    for mut store in common::stores() {
        let hook = |tx: &medulla_registry::db::Transaction<'_>, r: &ImportReport| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                medulla_registry::db::params![
                    format!("audit-{}", r.records),
                    format!("{} new, applied {}", r.new, r.applied)
                ],
            )?;
            Ok(())
        };
        let failing = |_: &medulla_registry::db::Transaction<'_>, _: &ImportReport| {
            Err(medulla_registry::StoreError::Conflict(
                "the audit trail refused".into(),
            ))
        };
        let setting = |store: &Store, key: &str| -> Option<String> {
            store
                .connection()
                .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .ok()
        };
        let logged = |store: &Store| -> Vec<(i64, i64, i64)> {
            let mut stmt = store
                .connection()
                .prepare("SELECT records, new_donors, rejected FROM imports ORDER BY id")
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let mut options = ImportOptions {
            validate_first: false,
            file_name: "hooked.csv",
            strict: true,
            by: "tester",
            at: at(),
            before_commit: Some(&failing),
            delimiter: None,
        };
        let csv = format!("{HEADER}\n{}\n{}\n", row("D1", &[]), row("D2", &[]));
        // a hook that fails undoes the import and its log row
        let err = import_csv(csv.as_bytes(), &mut store, &reducer, &options, |_| {});
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("the audit trail refused"));
        assert_eq!(store.count().unwrap(), 0);
        assert!(logged(&store).is_empty());
        options.before_commit = Some(&hook);
        let r = import_csv(csv.as_bytes(), &mut store, &reducer, &options, |_| {}).unwrap();
        assert!(r.applied);
        assert_eq!(
            setting(&store, "audit-2").as_deref(),
            Some("2 new, applied true")
        );
        assert_eq!(logged(&store), vec![(2, 2, 0)]);
        // strict with rejects: nothing applied, the log row and the hook all the same
        let bad = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row("D3", &[]),
            row("D4", &[("sex", "X")]),
            row("D5", &[])
        );
        let r = import_csv(bad.as_bytes(), &mut store, &reducer, &options, |_| {}).unwrap();
        assert!(!r.applied);
        assert_eq!(
            setting(&store, "audit-3").as_deref(),
            Some("0 new, applied false")
        );
        assert_eq!(logged(&store), vec![(2, 2, 0), (3, 0, 1)]);
        assert_eq!(store.count().unwrap(), 2);
    }
}

fn import_with(
    store: &mut Store,
    csv: &[u8],
    delimiter: Option<u8>,
) -> Result<ImportReport, String> {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let options = ImportOptions {
        validate_first: false,
        file_name: "lines.csv",
        strict: false,
        by: "tester",
        at: at(),
        before_commit: None,
        delimiter,
    };
    import_csv(csv, store, &reducer, &options, |_| {}).map_err(|e| e.to_string())
}

#[test]
fn reject_lines_are_right_for_lf_crlf_and_cr_files() {
    let cord = [
        ("donor_type", "cord"),
        ("birth_date", "2025-12-01"),
        ("recruitment_date", ""),
        ("tnc_1e7", "150"),
        ("sex", ""),
    ];
    for mut store in common::stores() {
        for eol in ["\n", "\r\n", "\r"] {
            // header, good, bad, blank line, quoted field over two lines, bad, cord
            let lines = [
                HEADER.to_string(),
                row("G1", &[]),
                row("B1", &[("sex", "X")]),
                String::new(),
                row("G2", &[("population", "\"EU\nR\"")]).replace('\n', eol),
                row("B2", &[("abo", "Z")]),
                row("C1", &cord),
            ];
            let csv = lines.join(eol) + eol;
            let r = import_with(&mut store, csv.as_bytes(), None).unwrap();
            let got: Vec<(u64, &str)> = r
                .rejections
                .iter()
                .map(|j| (j.line, j.id.as_str()))
                .collect();
            assert_eq!(got, vec![(3, "B1"), (7, "B2")], "{eol:?}");
            assert_eq!(
                r.new + r.updated + r.unchanged,
                3,
                "{eol:?}: {:?}",
                r.rejections
            );
        }
    }
}

#[test]
fn a_file_separated_by_semicolons_or_tabs_is_read_the_same() {
    let comma = format!(
        "{HEADER}\n{}\n{}\n",
        row("S1", &[]),
        row("S2", &[("abo", "Z")])
    );
    for mut store in common::stores() {
        let semi = comma.replace(',', ";");
        let r = import_with(&mut store, semi.as_bytes(), None).unwrap();
        assert_eq!((r.new, r.rejected), (1, 1), "{:?}", r.rejections);
        assert_eq!(
            (r.rejections[0].line, r.rejections[0].id.as_str()),
            (3, "S2")
        );
        let tabs = comma.replace(',', "\t").replace("S1", "T1");
        let r = import_with(&mut store, tabs.as_bytes(), Some(b'\t')).unwrap();
        assert_eq!((r.new, r.rejected), (1, 1));
        assert_eq!(store.donor("T1").unwrap().unwrap().0.registry, "BE");
        // a delimiter given wrong: one unknown column, and the hint
        let err = import_with(&mut store, semi.as_bytes(), Some(b',')).unwrap_err();
        assert!(
            err.contains("the file seems to be separated by \";\" (give --delimiter ';')"),
            "{err}"
        );
        let err = import_with(&mut store, tabs.as_bytes(), Some(b';')).unwrap_err();
        assert!(
            err.contains("separated by tabs (give --delimiter tab)"),
            "{err}"
        );
        assert_eq!(store.count().unwrap(), 2);
    }
}

#[test]
fn an_export_evaluates_no_formula_in_a_spreadsheet_and_imports_back_unchanged() {
    let csv = format!(
        "{}\n{}\n",
        HEADER,
        row(
            "F-1",
            &[
                ("registry", "=HYPERLINK(\"http://evil.example\")"),
                ("population", "@SUM(A1)"),
            ]
        )
    );
    for mut store in common::stores() {
        let r = import(&mut store, csv.as_bytes(), true);
        assert_eq!((r.new, r.rejected), (1, 0), "{:?}", r.rejections);
        let out = export(&store);
        assert!(
            out.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
            "{out}"
        );
        assert!(out.contains(",'@SUM(A1),"), "{out}");
        assert!(!out.contains(",=") && !out.contains(",@"), "{out}");
        // and back: the same donor, so nothing changes
        let again = import(&mut store, out.as_bytes(), true);
        assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 1));
        assert_eq!(export(&store), out);
    }
}
