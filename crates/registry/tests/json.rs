//! The donor-update JSON: ATLAS-style files, change types, update modes, round trip.

use chrono::NaiveDateTime;
use medulla_nomenclature::Reducer;
use medulla_registry::{
    export_json, import_csv, import_json, DonorStore, ImportOptions, ImportReport, SynthConfig,
    Synthesizer, UpdateMode,
};

mod common;
use common::env;

fn options() -> ImportOptions<'static> {
    ImportOptions {
        validate_first: false,
        file_name: "update.json",
        strict: false,
        by: "tester",
        at: "2026-02-01T10:00:00".parse::<NaiveDateTime>().unwrap(),
        before_commit: None,
        delimiter: None,
    }
}

fn json(store: &mut dyn DonorStore, text: &str) -> (UpdateMode, ImportReport) {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    import_json(text.as_bytes(), store, &reducer, &options()).unwrap()
}

fn donor(id: &str, change: &str, a1: &str) -> String {
    format!(
        r#"{{"recordId": "{id}", "changeType": "{change}", "donorType": "D", "donPool": "1234",
            "ethn": "CAEU", "hla": {{
              "a": {{"dna": {{"field1": "{a1}", "field2": "*02:AB"}}, "ser": {{"field1": null, "field2": null}}}},
              "b": {{"dna": {{"field1": "*08:01", "field2": null}}, "ser": {{"field1": null, "field2": "44"}}}},
              "c": {{"dna": {{"field1": null, "field2": null}}}},
              "drb1": {{"dna": {{"field1": "DRB1*03:01", "field2": "15:01"}}}},
              "dqb1": {{"dna": {{"field1": null, "field2": null}}}}
            }}}}"#
    )
}

fn file(mode: &str, donors: &[String]) -> String {
    format!(
        r#"{{"updateMode": "{mode}", "donors": [{}]}}"#,
        donors.join(",")
    )
}

#[test]
fn atlas_style_records_are_read_with_their_typings() {
    for mut store in common::stores() {
        let (mode, r) = json(&mut store, &file("Diff", &[donor("1001", "N", "*01:01")]));
        assert_eq!(mode, UpdateMode::Diff);
        assert_eq!((r.new, r.rejected), (1, 0), "{:?}", r.rejections);
        let (d, _) = store.donor("1001").unwrap().unwrap();
        assert_eq!(d.registry, "1234");
        assert_eq!(d.population.as_deref(), Some("CAEU"));
        assert_eq!(d.typing.positions[0][0].as_deref(), Some("A*01:01"));
        assert_eq!(d.typing.positions[0][1].as_deref(), Some("A*02:AB"));
        assert_eq!(d.typing.positions[1][1].as_deref(), Some("B44"));
        assert_eq!(d.typing.positions[3][1].as_deref(), Some("DRB1*15:01"));
        assert_eq!(d.birth_date, None);
    }
}

#[test]
fn change_types_new_update_delete_upsert() {
    for mut store in common::stores() {
        json(
            &mut store,
            &file(
                "diff",
                &[donor("1", "N", "*01:01"), donor("2", "N", "*01:01")],
            ),
        );
        let (_, r) = json(
        &mut store,
        &file(
            "diff",
            &[
                donor("1", "N", "*01:01"),  // exists: rejected
                donor("3", "U", "*01:01"),  // missing: rejected
                donor("2", "U", "*03:01"),  // updated
                donor("4", "NU", "*01:01"), // created
                r#"{"recordId": "1", "changeType": "D", "donorType": "D", "donPool": "1234", "ethn": null}"#.to_string(),
                r#"{"recordId": "9", "changeType": "D"}"#.to_string(), // missing: rejected
            ],
        ),
    );
        // record 1 appears twice: its D line is rejected as a repeat
        assert_eq!(
            (r.new, r.updated, r.deleted),
            (1, 1, 0),
            "{:?}",
            r.rejections
        );
        let reasons: Vec<String> = r
            .rejections
            .iter()
            .map(|x| format!("{} {}", x.id, x.error))
            .collect();
        assert!(
            reasons
                .iter()
                .any(|x| x.starts_with("1 changeType: already in the registry")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|x| x.starts_with("3 changeType: not in the registry")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|x| x.starts_with("9 recordId: not in the registry")),
            "{reasons:?}"
        );
        let (_, r) = json(
            &mut store,
            &file(
                "diff",
                &[r#"{"recordId": "1", "changeType": "D"}"#.to_string()],
            ),
        );
        assert_eq!(r.deleted, 1);
        assert!(store.donor("1").unwrap().is_none());
        assert_eq!(
            store.donor("2").unwrap().unwrap().0.typing.positions[0][0].as_deref(),
            Some("A*03:01")
        );
    }
}

#[test]
fn check_mode_writes_nothing_and_full_mode_deletes_the_absent() {
    for mut store in common::stores() {
        json(
            &mut store,
            &file(
                "diff",
                &[donor("1", "N", "*01:01"), donor("2", "N", "*01:01")],
            ),
        );
        let (mode, r) = json(
            &mut store,
            &file(
                "check",
                &[donor("1", "NU", "*03:01"), donor("5", "NU", "*01:01")],
            ),
        );
        assert_eq!(mode, UpdateMode::Check);
        assert_eq!((r.new, r.updated, r.applied), (1, 1, false));
        assert!(store.donor("5").unwrap().is_none());
        assert_eq!(
            store.donor("1").unwrap().unwrap().0.typing.positions[0][0].as_deref(),
            Some("A*01:01")
        );

        let (_, r) = json(
            &mut store,
            &file(
                "full",
                &[donor("2", "N", "*01:01"), donor("3", "N", "*01:01")],
            ),
        );
        assert_eq!(
            (r.new, r.unchanged, r.deleted),
            (1, 1, 1),
            "{:?}",
            r.rejections
        );
        assert!(store.donor("1").unwrap().is_none());
        assert_eq!(store.count().unwrap(), 2);
    }
}

#[test]
fn bad_records_and_files_are_reported() {
    for mut store in common::stores() {
        let (_, r) = json(
            &mut store,
            &file(
                "diff",
                &[
                    donor("1", "N", "*99:99"),
                    donor("2", "X", "*01:01"),
                    r#"{"recordId": "3", "donorType": "Z", "donPool": "1"}"#.to_string(),
                ],
            ),
        );
        assert_eq!(r.rejected, 3);
        let all: Vec<String> = r
            .rejections
            .iter()
            .map(|x| format!("{} {}", x.id, x.error))
            .collect();
        assert!(
            all.iter()
                .any(|x| x.starts_with("1 A_1:") && x.contains("unknown allele")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|x| x.starts_with("2 changeType:")),
            "{all:?}"
        );
        assert!(all.iter().any(|x| x.starts_with("3 donorType:")), "{all:?}");
        let e = env();
        let reducer = Reducer::new(&e.release, &e.macs);
        let err = import_json(
            &b"{\"updateMode\": \"sometimes\", \"donors\": []}"[..],
            &mut store,
            &reducer,
            &options(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("update.json") && err.contains("sometimes"),
            "{err}"
        );
        let err = import_json(&b"[1,2"[..], &mut store, &reducer, &options())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a donor-update JSON file"), "{err}");
    }
}

#[test]
fn a_json_export_imports_into_an_empty_registry_exactly() {
    let e = env();
    let s = Synthesizer::new(
        SynthConfig {
            seed: 77,
            ..SynthConfig::default()
        },
        &e.freqs,
        &e.release,
        &e.macs,
    )
    .unwrap();
    let mut csv = Vec::new();
    s.write_csv(&mut csv, 300, |_| {}).unwrap();
    let reducer = Reducer::new(&e.release, &e.macs);
    for mut store in common::stores() {
        let r = import_csv(&csv[..], &mut store, &reducer, &options(), |_| {}).unwrap();
        assert_eq!(r.new, 300);
        let mut exported = Vec::new();
        export_json(&mut exported, &store).unwrap();
        let mut copy = common::like(&store);
        let (_, r) = import_json(&exported[..], &mut copy, &reducer, &options()).unwrap();
        assert_eq!((r.new, r.rejected), (300, 0), "{:?}", r.rejections.first());
        let mut all = Vec::new();
        store
            .for_each_donor(&mut |d, st| {
                all.push((d, st));
                Ok(())
            })
            .unwrap();
        for (d, st) in all {
            assert_eq!(copy.donor(&d.id).unwrap(), Some((d, st)));
        }
    }
}

fn put_request(
    store: &mut medulla_registry::Store,
    id: &str,
    donor: &str,
    kind: &str,
    state: &str,
) {
    store
        .write(|tx| -> Result<(), medulla_registry::StoreError> {
            let seq: i64 = tx.query_row("SELECT COUNT(*) + 1 FROM requests", [], |r| r.get(0))?;
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

fn deleted_logged(store: &medulla_registry::Store) -> Vec<i64> {
    let mut stmt = store
        .connection()
        .prepare("SELECT deleted FROM imports ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_full_file_never_deletes_a_rejected_record_nor_a_donor_held_by_a_request() {
    for mut store in common::stores() {
        let ids = ["1", "2", "3", "4", "5"];
        let all: Vec<String> = ids.iter().map(|i| donor(i, "N", "*01:01")).collect();
        json(&mut store, &file("diff", &all));
        put_request(&mut store, "R-1", "3", "ct", "open");
        store
            .set_status(
                "4",
                medulla_registry::StatusChange {
                    status: medulla_registry::Status::Reserved {
                        patient: "P9".into(),
                        until: "2026-08-01".parse().unwrap(),
                    },
                    changed_at: options().at,
                    changed_by: "coordinator".into(),
                    note: String::new(),
                },
            )
            .unwrap();
        // 1 is listed but invalid (an unknown allele), 2 listed; 3, 4, 5 absent
        let (_, r) = json(
            &mut store,
            &file(
                "full",
                &[donor("1", "NU", "*01:01:99:99"), donor("2", "NU", "*01:01")],
            ),
        );
        assert!(r.applied);
        assert_eq!(
            (r.unchanged, r.deleted, r.rejected),
            (1, 1, 3),
            "{:?}",
            r.rejections
        );
        assert!(
            store.donor("1").unwrap().is_some(),
            "a rejected record is not deleted"
        );
        assert!(store.donor("3").unwrap().is_some());
        assert!(store.donor("4").unwrap().is_some());
        assert!(store.donor("5").unwrap().is_none());
        let refusal = |id: &str| {
            let j = r.rejections.iter().find(|j| j.id == id).unwrap();
            assert_eq!(j.error.field, "recordId");
            j.error.reason.clone()
        };
        let three = refusal("3");
        assert!(
            three.contains("[open-request] donor 3 has open request R-1"),
            "{three}"
        );
        assert!(refusal("4").contains("[reserved]"));
        assert_eq!(deleted_logged(&store), vec![0, 1]);

        // a D record in a diff file: refused the same way, the others deleted
        let (_, r) = json(
            &mut store,
            &file(
                "diff",
                &[
                    donor("3", "D", "*01:01"),
                    donor("4", "D", "*01:01"),
                    donor("2", "D", "*01:01"),
                ],
            ),
        );
        assert_eq!((r.deleted, r.rejected), (1, 2), "{:?}", r.rejections);
        assert_eq!(r.rejections[0].line, 1);
        assert!(r.rejections[0].error.reason.starts_with("[open-request]"));
        assert!(store.donor("3").unwrap().is_some());
        assert!(store.donor("2").unwrap().is_none());
        assert_eq!(deleted_logged(&store), vec![0, 1, 1]);
        // check mode refuses what diff would, and writes nothing
        let (_, r) = json(&mut store, &file("check", &[donor("3", "D", "*01:01")]));
        assert_eq!((r.deleted, r.rejected, r.applied), (0, 1, false));
        assert_eq!(deleted_logged(&store).len(), 3);
    }
}

fn with_grid(id: &str, change: &str, grid: &str) -> String {
    donor(id, change, "*01:01").replacen(
        r#""ethn": "CAEU","#,
        &format!(r#""ethn": "CAEU", "medulla": {{"grid": "{grid}"}},"#),
        1,
    )
}

#[test]
fn a_grid_is_refused_while_another_donor_holds_it_and_free_once_deleted() {
    let g = medulla_registry::Grid::new(1234, "0000000000007")
        .unwrap()
        .to_string();
    for mut store in common::stores() {
        json(&mut store, &file("diff", &[with_grid("1", "N", &g)]));
        // 2 and 3 both claim 1's GRID: refused, no database error
        let (_, r) = json(
            &mut store,
            &file("diff", &[with_grid("2", "N", &g), with_grid("3", "N", &g)]),
        );
        assert_eq!((r.new, r.rejected), (0, 2), "{:?}", r.rejections);
        assert_eq!(
            r.rejections[1].error.reason,
            format!("{g} is already the GRID of donor 1")
        );
        // 1 deleted, then 2 takes its GRID in the same file
        let (_, r) = json(
            &mut store,
            &file(
                "diff",
                &[donor("1", "D", "*01:01"), with_grid("2", "N", &g)],
            ),
        );
        assert_eq!(
            (r.deleted, r.new, r.rejected),
            (1, 1, 0),
            "{:?}",
            r.rejections
        );
        let (d, _) = store.donor("2").unwrap().unwrap();
        assert_eq!(d.grid.unwrap().to_string(), g);
    }
}
