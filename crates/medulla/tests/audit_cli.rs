//! The audit trail as the command line writes it: every change with its entry, in the
//! same transaction, whatever moment the process is killed at.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{on_db, synth_pool as synth, text, TempDir};
use medulla_registry::Store;

/// Entries of the trail, by action (pending ones chained first by `audit list`).
fn entries(db: &str) -> Vec<serde_json::Value> {
    let o = on_db(db, &["audit", "list", "--format", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["entries"].as_array().unwrap().clone()
}

fn count(entries: &[serde_json::Value], action: &str) -> usize {
    entries.iter().filter(|e| e["action"] == action).count()
}

fn rows(db: &str, sql: &str) -> usize {
    let store = Store::open_existing(std::path::Path::new(db)).unwrap();
    let n: i64 = store.connection().query_row(sql, [], |r| r.get(0)).unwrap();
    n as usize
}

/// A tiny deterministic sequence of delays (no randomness the test cannot repeat).
fn delays(n: usize, seed: u64, max_ms: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % max_ms
        })
        .collect()
}

/// Run `medulla args` on `db` and kill it (SIGKILL) after `ms` milliseconds, or let it
/// finish when it is quicker.
fn run_and_kill(db: &str, args: &[&str], ms: u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .env("MEDULLA_DB", db)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(ms) {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().unwrap();
}

#[test]
fn a_command_line_change_names_its_user_and_is_listed() {
    let t = TempDir::new("audit-list");
    let (pool, db) = (t.path("pool.csv"), t.db("reg.db"));
    synth(20, 3, &pool);
    assert!(on_db(&db, &["donors", "import", &pool], None)
        .status
        .success());
    let id = std::fs::read_to_string(&pool)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()[..13]
        .to_string();
    let o = on_db(
        &db,
        &[
            "donors",
            "set-status",
            &id,
            "--status",
            "permanently-unavailable",
            "--reason",
            "withdrew",
            "--by",
            "a note, not an actor",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let all = entries(&db);
    let change = all
        .iter()
        .find(|e| e["action"] == "status-change")
        .expect("the status change is in the trail");
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    assert_eq!(change["actor"], format!("cli:{user}"), "{change}");
    assert_eq!(change["subject"], id.as_str());
    assert_eq!(change["detail"]["by"], "a note, not an actor");
    for key in ["seq", "at", "actor", "action", "subject", "detail"] {
        assert!(change.get(key).is_some(), "{key} missing in {change}");
    }
    // filters
    let o = on_db(
        &db,
        &[
            "audit",
            "list",
            "--action",
            "status-change",
            "--format",
            "json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 1, "{v}");
    let o = on_db(
        &db,
        &["audit", "list", "--actor", "nobody", "--format", "json"],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["entries"].as_array().unwrap().is_empty(), "{v}");
    let o = on_db(
        &db,
        &["audit", "list", "--since", "2999-01-01", "--format", "json"],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["entries"].as_array().unwrap().is_empty(), "{v}");
    let o = on_db(&db, &["audit", "list", "--until", "2000-01-01"], None);
    assert!(text(&o).contains("0 entries"), "{}", text(&o));
    let o = on_db(&db, &["audit", "list", "--since", "yesterday"], None);
    assert!(!o.status.success());
    assert!(text(&o).contains("--since"), "{}", text(&o));
    // the table names the user
    let o = on_db(&db, &["audit", "list"], None);
    assert!(text(&o).contains(&format!("cli:{user}")), "{}", text(&o));
    let o = on_db(&db, &["audit", "verify"], None);
    assert!(o.status.success(), "{}", text(&o));
}

/// Imports and status changes killed at many moments: afterwards every committed change
/// has its audit entry and no entry is without its change.
#[test]
fn killed_changes_leave_change_and_entry_or_neither() {
    let t = TempDir::new("audit-kill");
    let db = t.db("reg.db");
    let pools: Vec<String> = (0..3)
        .map(|i| {
            let p = t.path(&format!("pool{i}.csv"));
            synth(6_000, 100 + i, &p);
            p
        })
        .collect();
    assert!(on_db(&db, &["donors", "import", &pools[0]], None)
        .status
        .success());
    let lines: Vec<String> = std::fs::read_to_string(&pools[0])
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let id = lines[1][..13].to_string();
    // a workup whose dates are planned again and again
    let workup_donor = lines[2][..13].to_string();
    let patient = "A*01:01+A*02:01^B*08:01+B*44:02^DRB1*03:01+DRB1*15:01";
    let o = on_db(&db, &["patients", "add", "P1", "--typing", patient], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = on_db(
        &db,
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            &workup_donor,
            "--type",
            "workup",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let request = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let today = chrono::Local::now().date_naive();
    let postgres = db.starts_with("postgres");
    let rounds = if postgres { 8 } else { 14 };
    for (i, ms) in delays(rounds, 7, if postgres { 2500 } else { 900 })
        .into_iter()
        .enumerate()
    {
        let pool = &pools[i % pools.len()];
        run_and_kill(&db, &["donors", "import", pool], 40 + ms);
        let (status, extra): (&str, &[&str]) = if i % 2 == 0 {
            (
                "temporarily-unavailable",
                &["--reason", "travel", "--until", "2099-01-01"],
            )
        } else {
            ("available", &[])
        };
        let mut args = vec!["donors", "set-status", &id, "--status", status, "--by", "t"];
        args.extend_from_slice(extra);
        run_and_kill(&db, &args, ms / 8);
        let collection = (today + chrono::Duration::days(60 + i as i64)).to_string();
        run_and_kill(
            &db,
            &[
                "workup",
                "plan",
                "--request",
                &request,
                "--collection",
                &collection,
            ],
            ms / 6,
        );
        // after each kill, the counts agree
        let all = entries(&db);
        assert_eq!(
            count(&all, "import"),
            rows(&db, "SELECT count(*) FROM imports"),
            "round {i}: imports logged against import entries"
        );
        assert_eq!(
            count(&all, "status-change"),
            rows(
                &db,
                "SELECT count(*) FROM status_history WHERE changed_by = 't'"
            ),
            "round {i}: status changes against their entries"
        );
        assert_eq!(
            count(&all, "workup-plan"),
            rows(
                &db,
                "SELECT count(*) FROM request_events WHERE event = 'workup-plan'"
            ),
            "round {i}: workup plans against their entries"
        );
    }
    let o = on_db(&db, &["audit", "verify"], None);
    assert!(o.status.success(), "{}", text(&o));
}
