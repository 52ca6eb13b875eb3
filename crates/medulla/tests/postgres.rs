//! PostgreSQL: the same registry as SQLite, and several servers on one database. These
//! tests need a server: `MEDULLA_TEST_POSTGRES` holds a URL to it (`.ci/run` starts a
//! throwaway one on loopback); without it they say so and pass.

mod common;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{medulla, on_db, text, with_stdin, TempDir};

const PATIENT: &str =
    "A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01";

fn postgres() -> Option<String> {
    match std::env::var("MEDULLA_TEST_POSTGRES") {
        Ok(admin) => {
            Some(medulla_registry::db::create_postgres_database(&admin, "medulla_cli").unwrap())
        }
        Err(_) => {
            eprintln!("MEDULLA_TEST_POSTGRES is not set: the PostgreSQL tests did not run");
            None
        }
    }
}

#[test]
fn an_export_from_postgresql_is_byte_identical_to_one_from_sqlite() {
    let Some(url) = postgres() else { return };
    let dir = TempDir::new("pg-export");
    let csv = dir.path("pool.csv");
    let o = medulla(&["synth", "--donors", "3000", "--seed", "7", "--out", &csv]);
    assert!(o.status.success(), "{}", text(&o));
    let sqlite = dir.path("reg.db");
    for db in [sqlite.as_str(), url.as_str()] {
        let o = medulla(&["donors", "--db", db, "import", &csv]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("3000 new"), "{}", text(&o));
        // a status change and a second import: history and hashes as on SQLite
        let o = medulla(&[
            "donors",
            "--db",
            db,
            "set-status",
            "SYN0000000042",
            "--status",
            "permanently-unavailable",
            "--reason",
            "deceased",
            "--by",
            "test",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        // the file says available: refused for that donor (a file does not undo it), the
        // rest unchanged, on both backends alike
        let o = medulla(&["donors", "--db", db, "import", &csv]);
        assert!(
            text(&o).contains("0 updated, 2999 unchanged, 0 deleted, 1 rejected"),
            "{}",
            text(&o)
        );
        let report = std::fs::read_to_string(format!("{csv}.rejects.csv")).unwrap();
        assert!(
            report.contains(",SYN0000000042,status,[permanently-unavailable]"),
            "{report}"
        );
    }
    let mut exports = Vec::new();
    for (db, name) in [(sqlite.as_str(), "sqlite"), (url.as_str(), "pg")] {
        for format in ["csv", "json"] {
            let out = dir.path(&format!("{name}.{format}"));
            let o = medulla(&[
                "donors", "--db", db, "export", "--format", format, "--out", &out,
            ]);
            assert!(o.status.success(), "{}", text(&o));
            exports.push(std::fs::read(&out).unwrap());
        }
    }
    assert!(exports[0].len() > 100_000);
    assert!(exports[0] == exports[2], "CSV exports differ");
    assert!(exports[1] == exports[3], "JSON exports differ");
    // the history of the changed donor, the same on both
    let show = |db: &str| {
        // the same lines but for when each change was made
        text(&medulla(&["donors", "--db", db, "show", "SYN0000000042"]))
            .lines()
            .map(|l| match l.get(2..21) {
                Some(t) if t.as_bytes().get(4) == Some(&b'-') && t.contains(':') => {
                    l[21..].to_string()
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&sqlite), show(&url));

    // db status names the backend and the same schema version
    let o = medulla(&["db", "--db", &url, "status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["backend"], "postgres");
    assert_eq!(status["donors"], 3000);
    assert_eq!(status["schema_version"], status["latest_version"]);
    let o = medulla(&["db", "--db", &sqlite, "status", "--format", "json"]);
    let lite: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(lite["backend"], "sqlite");
    assert_eq!(lite["schema_version"], status["schema_version"]);
}

#[test]
fn a_killed_import_leaves_postgresql_as_it_was() {
    let Some(url) = postgres() else { return };
    let dir = TempDir::new("pg-strict");
    let csv = dir.path("pool.csv");
    assert!(
        medulla(&["synth", "--donors", "500", "--seed", "3", "--out", &csv])
            .status
            .success()
    );
    let mut bad = std::fs::read_to_string(&csv).unwrap();
    bad.push_str("BAD1,SYNTH,adult,,,,,,,,,,,,,,,,,,,,,,,\n");
    let bad_csv = dir.file("bad.csv", &bad);
    let o = medulla(&["donors", "--db", &url, "import", "--strict", &bad_csv]);
    assert!(!text(&o).contains("500 new"), "{}", text(&o));
    let o = medulla(&["db", "--db", &url, "status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        status["donors"], 0,
        "a strict import with a bad row applies nothing"
    );

    // killed in the middle of a large import: nothing of it stays
    let big = dir.path("big.csv");
    assert!(
        medulla(&["synth", "--donors", "60000", "--seed", "4", "--out", &big])
            .status
            .success()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["donors", "--db", &url, "import", &big])
        .env("MEDULLA_QUIET", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let _ = child.kill();
    let _ = child.wait();
    let o = medulla(&["db", "--db", &url, "status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = status["donors"].as_u64().unwrap();
    assert!(n == 0 || n == 60_000, "a killed import left {n} donors");
}

/// A `medulla serve` on 127.0.0.1 and its address.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_medulla"))
            .args([
                "serve",
                "--db",
                db,
                "--listen",
                "127.0.0.1:0",
                "--follow-ms",
                "200",
            ])
            .env("MEDULLA_QUIET", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_string();
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn login(&self, user: &str, password: &str) -> String {
        let v: serde_json::Value = ureq::post(&format!("{}/api/v1/login", self.base))
            .send_json(serde_json::json!({"username": user, "password": password}))
            .unwrap()
            .into_json()
            .unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    /// The ids of the donors a 10/10 search for `PATIENT` finds.
    fn search(&self, token: &str) -> Vec<String> {
        let v: serde_json::Value = ureq::post(&format!("{}/api/v1/search", self.base))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({"patient": PATIENT, "mismatches": 0}))
            .unwrap()
            .into_json()
            .unwrap();
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["donor_id"].as_str().unwrap().to_string())
            .collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Wait until `found` holds, up to `limit`: how long it took.
fn within(limit: Duration, mut found: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if found() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn two_replicas_on_one_database_stay_in_step() {
    let Some(url) = postgres() else { return };
    let dir = TempDir::new("pg-replicas");
    let csv = dir.path("pool.csv");
    assert!(
        medulla(&["synth", "--donors", "2000", "--seed", "5", "--out", &csv])
            .status
            .success()
    );
    assert!(medulla(&["donors", "--db", &url, "import", &csv])
        .status
        .success());
    let o = with_stdin(
        &["users", "--db", &url, "add", "ann", "--role", "admin"],
        "correct horse battery\n",
    );
    assert!(o.status.success(), "{}", text(&o));

    let a = Server::start(&url);
    let mut b = Server::start(&url);
    // a session opened on one replica is good on the other
    let token = a.login("ann", "correct horse battery");
    let has = |s: &Server| s.search(&token).iter().any(|id| id == "NEW1");
    assert!(!has(&b));

    // an import through A is found by a search on B within 2 s
    let donors = format!(
        "id,registry,donor_type,birth_date,gl\nNEW1,SYNTH,adult,1990-01-01,\"{PATIENT}\"\n"
    );
    let answer: serde_json::Value = ureq::post(&format!("{}/api/v1/donors/import", a.base))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "text/csv")
        .send_string(&donors)
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(answer["new"], 1, "{answer}");
    let took = within(Duration::from_secs(2), || has(&b));
    eprintln!("import through A found on B after {took:?}");
    assert!(took.is_some(), "B did not see the import within 2 s");

    // a status change through B leaves A's searches within 2 s
    let r = ureq::post(&format!("{}/api/v1/donors/NEW1/status", b.base))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(serde_json::json!({
            "status": "temporarily-unavailable", "reason": "travel", "until": "2099-01-01"
        }));
    assert!(r.is_ok(), "{r:?}");
    let took = within(Duration::from_secs(2), || !has(&a));
    assert!(took.is_some(), "A still finds a donor B made unavailable");

    // B killed; a change made while it is down (by a command); B restarted catches up
    b.kill();
    let o = on_db(
        &url,
        &[
            "donors",
            "set-status",
            "NEW1",
            "--status",
            "available",
            "--by",
            "test",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let b = Server::start(&url);
    assert!(has(&b), "the restarted replica caught up");
    assert!(
        within(Duration::from_secs(2), || has(&a)).is_some(),
        "A did not take up a change made by a command"
    );

    // deleted through a JSON diff on A: gone from B
    let diff = r#"{"updateMode": "diff", "donors": [{"recordId": "NEW1", "changeType": "D"}]}"#;
    let r = ureq::post(&format!("{}/api/v1/donors/import", a.base))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json")
        .send_string(diff);
    assert!(r.is_ok(), "{r:?}");
    assert!(
        within(Duration::from_secs(2), || !has(&b)).is_some(),
        "B still finds a donor deleted through A"
    );

    // the database drops every connection (a failover, a restart): the replicas connect
    // again and go on
    let admin = medulla_registry::db::Connection::postgres(&url, "medulla", 0).unwrap();
    let cut: i64 = admin
        .query_row(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(cut >= 4, "the replicas' connections: {cut}");
    std::thread::sleep(Duration::from_millis(500));
    let searched = within(Duration::from_secs(3), || {
        ureq::post(&format!("{}/api/v1/search", a.base))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({"patient": PATIENT, "mismatches": 0}))
            .is_ok()
    });
    assert!(
        searched.is_some(),
        "A did not come back after its connections were cut"
    );
    let o = on_db(
        &url,
        &[
            "donors",
            "set-status",
            "SYN0000000001",
            "--status",
            "temporarily-unavailable",
            "--reason",
            "travel",
            "--until",
            "2099-01-01",
            "--by",
            "test",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        within(Duration::from_secs(3), || b.search(&token).len()
            < 1_000_000)
        .is_some(),
        "B stopped answering"
    );

    // both replicas wrote to one audit chain, and it verifies
    let o = medulla(&["audit", "--db", &url, "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    let entries = text(&o);
    assert!(entries.contains("intact"), "{entries}");
}
