//! `medulla donors`: import, export, show, set-status, and an import killed half-way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{medulla, text, TempDir};

fn synth(n: u64, seed: u64, out: &str) {
    let o = medulla(&[
        "synth",
        "--donors",
        &n.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

fn export(db: &str, out: &str) -> String {
    let o = medulla(&["donors", "--db", db, "export", "--out", out]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn import_show_set_status_export() {
    let t = TempDir::new("donors-cli");
    let (pool, db) = (t.path("pool.csv"), t.db("reg.db"));
    synth(200, 3, &pool);
    let o = medulla(&["donors", "--db", &db, "import", &pool]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("200 records, 200 new"), "{}", text(&o));
    let o = medulla(&["donors", "--db", &db, "import", &pool]);
    assert!(
        text(&o).contains("0 new, 0 updated, 200 unchanged"),
        "{}",
        text(&o)
    );

    let o = medulla(&[
        "donors",
        "--db",
        &db,
        "set-status",
        "SYN0000000010",
        "--status",
        "reserved",
        "--patient",
        "P-1",
        "--until",
        "2099-01-01",
        "--by",
        "coordinator",
        "--note",
        "workup",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = medulla(&["donors", "--db", &db, "show", "SYN0000000010"]);
    let shown = text(&o);
    assert!(
        shown.contains("reserved for patient P-1 until 2099-01-01"),
        "{shown}"
    );
    assert!(shown.contains("coordinator"), "{shown}");

    let o = medulla(&[
        "donors",
        "--db",
        &db,
        "set-status",
        "SYN0000000010",
        "--status",
        "permanently-unavailable",
        "--reason",
        "bored",
        "--by",
        "x",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("not a reason"), "{}", text(&o));

    let exported = export(&db, &t.path("out.csv"));
    assert_eq!(exported.lines().count(), 201);
    assert!(exported
        .lines()
        .any(|l| l.starts_with("SYN0000000010,") && l.contains(",reserved,")));
    let o = medulla(&["donors", "--db", &db, "show", "NOBODY"]);
    assert!(!o.status.success() && text(&o).contains("NOBODY"));

    // JSON: export, import into an empty registry, same CSV export
    let json = t.path("all.json");
    let o = medulla(&[
        "donors", "--db", &db, "export", "--format", "json", "--out", &json,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let db2 = t.db("copy.db");
    let o = medulla(&["donors", "--db", &db2, "import", &json]);
    assert!(text(&o).contains("200 records, 200 new"), "{}", text(&o));
    assert_eq!(export(&db2, &t.path("copy.csv")), exported);
}

#[test]
fn rejects_go_to_a_report_and_strict_applies_nothing() {
    let t = TempDir::new("donors-rejects");
    let (pool, db) = (t.path("pool.csv"), t.db("reg.db"));
    synth(20, 8, &pool);
    let csv: Vec<String> = std::fs::read_to_string(&pool)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("SYN0000000005,") {
                l.replacen(",SYNTH,adult,", ",SYNTH,robot,", 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&pool, csv.join("\n") + "\n").unwrap();
    let o = medulla(&["donors", "--db", &db, "import", "--strict", &pool]);
    assert!(!o.status.success());
    assert!(text(&o).contains("nothing was imported"), "{}", text(&o));
    let report = std::fs::read_to_string(format!("{pool}.rejects.csv")).unwrap();
    assert!(report.contains(",7,SYN0000000005,donor_type,"), "{report}");
    assert_eq!(export(&db, &t.path("e.csv")).lines().count(), 1);
    let o = medulla(&["donors", "--db", &db, "import", &pool]);
    assert!(
        text(&o).contains("19 new") && text(&o).contains("1 rejected"),
        "{}",
        text(&o)
    );
}

/// Kill an import half-way: the database must be exactly as before it.
#[test]
fn a_killed_import_leaves_the_database_as_before() {
    let t = TempDir::new("donors-kill");
    let (small, big, db) = (t.path("small.csv"), t.path("big.csv"), t.db("reg.db"));
    synth(50, 1, &small);
    synth(150_000, 2, &big);
    assert!(medulla(&["donors", "--db", &db, "import", &small])
        .status
        .success());
    let before = export(&db, &t.path("before.csv"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["donors", "--db", &db, "import", &big])
        .env("MEDULLA_QUIET", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until the import is writing (the WAL grows), then kill it
    // (on PostgreSQL: a few seconds into the import, which takes many more)
    let wal = PathBuf::from(format!("{db}-wal"));
    let writing = |started: Instant| {
        if db.starts_with("postgres") {
            started.elapsed() > Duration::from_secs(3)
        } else {
            wal_size(&wal) >= 4 << 20
        }
    };
    let started = Instant::now();
    while !writing(started) && started.elapsed() < Duration::from_secs(60) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the import ended before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(export(&db, &t.path("after.csv")), before);
    // and the database still works
    let o = medulla(&["donors", "--db", &db, "import", &small]);
    assert!(text(&o).contains("50 unchanged"), "{}", text(&o));
}

fn wal_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}
