//! `medulla synth`: the donor CSV it writes.

use std::process::Command;

fn synth(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .arg("synth")
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

#[test]
fn writes_the_documented_header_and_one_row_per_donor() {
    let (out, _, ok) = synth(&["--donors", "250", "--seed", "4"]);
    assert!(ok);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("id,grid,registry,donor_type,sex,birth_date,"));
    assert!(header.ends_with("DPA1_1,DPA1_2,status,status_reason,status_until,status_patient"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 250);
    assert!(rows.iter().all(|r| r.split(',').count() == 41));
    let (again, _, _) = synth(&["--donors", "250", "--seed", "4"]);
    assert_eq!(out, again);
}

#[test]
fn writes_a_file_and_refuses_a_bad_mix() {
    let path = std::env::temp_dir().join(format!("medulla-synth-{}.csv", std::process::id()));
    let (_, _, ok) = synth(&[
        "--donors",
        "100",
        "--mix",
        "AFA=1",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(ok);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 101);
    assert!(text
        .lines()
        .skip(1)
        .all(|l| l.split(',').nth(9) == Some("AFA")));
    std::fs::remove_file(path).ok();

    let (_, err, ok) = synth(&["--donors", "10", "--mix", "EUR=x"]);
    assert!(!ok);
    assert!(err.contains("not a number"), "{err}");
}
