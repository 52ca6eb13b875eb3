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
        file_name: "test.csv",
        strict,
        by: "tester",
        at: at(),
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
            "gl-in-cell",
            vec![("A_1", "A*01:01+A*02:01")],
            "A_1",
            "one position",
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
        file_name: "h.csv",
        strict: false,
        by: "t",
        at: at(),
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
