//! `medulla donors`: import, export, show, set-status, and an import killed half-way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{medulla, synth_pool as synth, text, TempDir};

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

    // a reservation is for a registered patient, within the registry's maximum
    let until = (chrono::Local::now().date_naive() + chrono::Duration::days(30)).to_string();
    let reserve = |patient: &str, until: &str| {
        medulla(&[
            "donors",
            "--db",
            &db,
            "set-status",
            "SYN0000000010",
            "--status",
            "reserved",
            "--patient",
            patient,
            "--until",
            until,
            "--by",
            "coordinator",
        ])
    };
    let o = reserve("P-1", &until);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("patient P-1 is not registered"),
        "{}",
        text(&o)
    );
    let o = common::on_db(&db, &["patients", "add", "P-1", "--typing", PATIENT], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = reserve("P-1", "2099-01-01");
    assert!(!o.status.success());
    assert!(text(&o).contains("at most 180 days"), "{}", text(&o));
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
        &until,
        "--by",
        "coordinator",
        "--note",
        "workup",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = medulla(&["donors", "--db", &db, "show", "SYN0000000010"]);
    let shown = text(&o);
    assert!(
        shown.contains(&format!("reserved for patient P-1 until {until}")),
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
    if is_postgres(&db) {
        assert_eq!(export(&db, &t.path("e.csv")).lines().count(), 1);
    } else {
        // nothing applied into a new database: no database left behind
        assert!(!Path::new(&db).exists());
    }
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

fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres")
}

const CSV_HEADER: &str = "id,grid,registry,donor_type,sex,birth_date,A_1,A_2,B_1,B_2,DRB1_1,DRB1_2";
const PATIENT: &str = "A*01:01+A*02:01^B*08:01+B*44:02^DRB1*03:01+DRB1*15:01";

/// A donor typed as the patient, GRID optional.
fn donor_row(id: &str, grid: &str) -> String {
    format!(
        "{id},{grid},REG,adult,F,1990-01-01,A*01:01,A*02:01,B*08:01,B*44:02,DRB1*03:01,DRB1*15:01"
    )
}

fn ok(args: &[&str]) -> String {
    let o = medulla(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    text(&o)
}

fn found(db: &str) -> Vec<String> {
    let o = medulla(&[
        "search",
        "--db",
        db,
        "--patient",
        PATIENT,
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    json["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["donor_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_reimport_keeps_withdrawals_and_reservations() {
    let t = TempDir::new("donors-keep");
    let db = t.db("reg.db");
    let rows: Vec<String> = ["D1", "D2", "D3"]
        .iter()
        .map(|i| donor_row(i, ""))
        .collect();
    let file = t.file(
        "donors.csv",
        &format!("{CSV_HEADER}\n{}\n", rows.join("\n")),
    );
    ok(&["donors", "--db", &db, "import", &file]);
    ok(&[
        "donors",
        "--db",
        &db,
        "set-status",
        "D1",
        "--status",
        "permanently-unavailable",
        "--reason",
        "withdrew",
        "--by",
        "coordinator",
    ]);
    let on = |args: &[&str]| {
        let o = common::on_db(&db, args, None);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        text(&o)
    };
    on(&["patients", "add", "P1", "--typing", PATIENT]);
    // within the registry's maximum reservation (180 days by default)
    let expires = (chrono::Local::now().date_naive() + chrono::Duration::days(30)).to_string();
    on(&[
        "requests",
        "open",
        "--patient",
        "P1",
        "--donor",
        "D2",
        "--type",
        "reservation",
        "--expires",
        &expires,
    ]);
    assert_eq!(found(&db), vec!["D3".to_string()]);
    // the same file again: nothing changes
    let out = ok(&["donors", "--db", &db, "import", &file]);
    assert!(out.contains("0 new, 0 updated, 3 unchanged"), "{out}");
    assert!(text(&medulla(&["donors", "--db", &db, "show", "D1"]))
        .contains("permanently unavailable (withdrew)"));
    assert!(
        text(&medulla(&["donors", "--db", &db, "show", "D2"])).contains("reserved for patient P1")
    );
    assert_eq!(found(&db), vec!["D3".to_string()]);
    // a file saying they are available: refused for them, applied for D3
    let with_status: Vec<String> = ["D1", "D2", "D3"]
        .iter()
        .map(|i| format!("{},available", donor_row(i, "")))
        .collect();
    let file = t.file(
        "available.csv",
        &format!("{CSV_HEADER},status\n{}\n", with_status.join("\n")),
    );
    let out = ok(&["donors", "--db", &db, "import", &file]);
    assert!(
        out.contains("0 new, 0 updated, 1 unchanged, 0 deleted, 2 rejected"),
        "{out}"
    );
    let report = std::fs::read_to_string(format!("{file}.rejects.csv")).unwrap();
    assert!(
        report.contains(",2,D1,status,[permanently-unavailable]"),
        "{report}"
    );
    assert!(
        report.contains(",3,D2,status,[reserved-by-open-request]"),
        "{report}"
    );
    assert_eq!(found(&db), vec!["D3".to_string()]);
    // nor does a direct status change undo the reservation: it changes with its request
    let o = medulla(&[
        "donors",
        "--db",
        &db,
        "set-status",
        "D2",
        "--status",
        "available",
        "--by",
        "coordinator",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("[reserved-by-open-request]"),
        "{}",
        text(&o)
    );
    assert_eq!(found(&db), vec!["D3".to_string()]);
    // a donor withdrawing is taken at once, whatever is open
    ok(&[
        "donors",
        "--db",
        &db,
        "set-status",
        "D2",
        "--status",
        "permanently-unavailable",
        "--reason",
        "withdrew",
        "--by",
        "coordinator",
    ]);
}

#[test]
fn a_duplicate_grid_is_one_reject_naming_both_donors() {
    let t = TempDir::new("donors-grid");
    let db = t.db("reg.db");
    let g1 = medulla_registry::Grid::new(1234, "0000000000001")
        .unwrap()
        .to_string();
    let g2 = medulla_registry::Grid::new(1234, "0000000000002")
        .unwrap()
        .to_string();
    let first = t.file(
        "first.csv",
        &format!("{CSV_HEADER}\n{}\n", donor_row("D1", &g1)),
    );
    ok(&["donors", "--db", &db, "import", &first]);
    let second = t.file(
        "second.csv",
        &format!(
            "{CSV_HEADER}\n{}\n{}\n{}\n{}\n",
            donor_row("D2", &g1),
            donor_row("D3", &g2),
            donor_row("D4", &g2),
            donor_row("D5", "")
        ),
    );
    let out = ok(&["donors", "--db", &db, "import", &second]);
    assert!(
        out.contains("2 new, 0 updated, 0 unchanged, 0 deleted, 2 rejected"),
        "{out}"
    );
    assert!(
        !out.contains("UNIQUE") && !out.contains("duplicate key"),
        "{out}"
    );
    let report = std::fs::read_to_string(format!("{second}.rejects.csv")).unwrap();
    assert!(
        report.contains(&format!(",2,D2,grid,{g1} is already the GRID of donor D1")),
        "{report}"
    );
    assert!(
        report.contains(&format!(",4,D4,grid,{g2} is already the GRID of donor D3")),
        "{report}"
    );
    let found = found(&db);
    assert!(
        found.contains(&"D3".to_string()) && found.contains(&"D5".to_string()),
        "{found:?}"
    );
}

#[test]
fn crlf_and_semicolon_files_report_the_right_lines() {
    let t = TempDir::new("donors-crlf");
    let db = t.db("reg.db");
    let bad = donor_row("B1", "").replace(",F,", ",X,");
    let rows = [
        CSV_HEADER.to_string(),
        donor_row("D1", ""),
        bad,
        donor_row("D2", ""),
    ];
    let crlf = t.file("crlf.csv", &(rows.join("\r\n") + "\r\n"));
    let out = ok(&["donors", "--db", &db, "import", &crlf]);
    assert!(out.contains("2 new") && out.contains("1 rejected"), "{out}");
    let report = std::fs::read_to_string(format!("{crlf}.rejects.csv")).unwrap();
    assert!(report.contains(",3,B1,sex,"), "{report}");
    // the same donors separated by semicolons: recognised, or given with --delimiter
    let semi: Vec<String> = rows
        .iter()
        .map(|r| r.replace(',', ";").replace("D1", "S1").replace("D2", "S2"))
        .collect();
    let semi = t.file("semi.csv", &(semi.join("\n") + "\n"));
    let out = ok(&["donors", "--db", &db, "import", &semi]);
    assert!(out.contains("2 new") && out.contains("1 rejected"), "{out}");
    let report = std::fs::read_to_string(format!("{semi}.rejects.csv")).unwrap();
    assert!(report.contains(",3,B1,sex,"), "{report}");
    let o = medulla(&["donors", "--db", &db, "import", &semi, "--delimiter", ","]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("separated by \";\" (give --delimiter ';')"),
        "{}",
        text(&o)
    );
    ok(&["donors", "--db", &db, "import", &semi, "--delimiter", ";"]);
    // search --donors reads the file as import does: the bad record is reported, the
    // others searched
    let o = medulla(&[
        "search",
        "--donors",
        &semi,
        "--patient",
        PATIENT,
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("semi.csv line 3: B1: sex:"), "{err}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = json["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["donor_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"S1") && ids.contains(&"S2"), "{ids:?}");
}

#[test]
fn a_failed_import_leaves_no_database_and_a_clean_one_no_stale_report() {
    let t = TempDir::new("donors-nodb");
    let db = t.path("new.db");
    let files = |db: &str| {
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|s| format!("{db}{s}"))
            .chain([t.path("new.security.db")])
            .filter(|p| Path::new(p).exists())
            .collect::<Vec<_>>()
    };
    let header_error = t.file("colour.csv", "id,registry,donor_type,birth_date,colour\n");
    let bad = t.file(
        "bad.csv",
        &format!(
            "{CSV_HEADER}\n{}\n",
            donor_row("B1", "").replace(",F,", ",X,")
        ),
    );
    for args in [
        vec!["donors", "--db", &db, "import", "missing.csv"],
        vec!["donors", "--db", &db, "import", &header_error],
        vec!["donors", "--db", &db, "import", "--strict", &bad],
        vec!["patients", "--db", &db, "add", "P1", "--typing", PATIENT],
    ] {
        let o = medulla(&args);
        assert!(!o.status.success(), "{args:?}: {}", text(&o));
        assert_eq!(files(&db), Vec::<String>::new(), "{args:?}: {}", text(&o));
    }
    let o = medulla(&["patients", "--db", &db, "add", "P1", "--typing", PATIENT]);
    assert!(
        text(&o).contains(&format!("no registry database at {db}")),
        "{}",
        text(&o)
    );
    // rejects, then the file corrected: the old report goes
    let file = t.file(
        "donors.csv",
        &format!(
            "{CSV_HEADER}\n{}\n",
            donor_row("B1", "").replace(",F,", ",X,")
        ),
    );
    let out = ok(&["donors", "--db", &db, "import", &file]);
    let report = format!("{file}.rejects.csv");
    assert!(
        out.contains("1 rejected") && Path::new(&report).exists(),
        "{out}"
    );
    std::fs::write(&file, format!("{CSV_HEADER}\n{}\n", donor_row("B1", ""))).unwrap();
    let out = ok(&["donors", "--db", &db, "import", &file]);
    assert!(
        out.contains(&format!("removed the stale reject report {report}")),
        "{out}"
    );
    assert!(!Path::new(&report).exists());
    // the same with --rejects
    let elsewhere = t.path("elsewhere.csv");
    std::fs::write(&elsewhere, "file,line,id,field,reason\n").unwrap();
    let out = ok(&[
        "donors",
        "--db",
        &db,
        "import",
        &file,
        "--rejects",
        &elsewhere,
    ]);
    assert!(
        out.contains("removed the stale reject report") && !Path::new(&elsewhere).exists(),
        "{out}"
    );
}
