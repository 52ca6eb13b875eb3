//! `medulla serve`, `medulla users` and `medulla audit verify` as a person runs them: a
//! real process on 127.0.0.1, stopped by SIGTERM.

mod common;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{medulla, text, with_stdin, TempDir};

const PATIENT: &str =
    "A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01";

fn add_user(db: &str, name: &str, role: &str, password: &str) -> std::process::Output {
    with_stdin(
        &["users", "--db", db, "add", name, "--role", role],
        &format!("{password}\n"),
    )
}

#[test]
fn accounts_serve_and_stop_cleanly() {
    let dir = TempDir::new("serve");
    let db = dir.db("reg.db");
    let csv = dir.file(
        "d.csv",
        &format!("id,registry,donor_type,birth_date,gl\nD1,TEST,adult,1990-01-01,\"{PATIENT}\"\n"),
    );
    assert!(medulla(&["donors", "--db", &db, "import", &csv])
        .status
        .success());

    let o = add_user(&db, "alice", "search-coordinator", "correct horse battery");
    assert!(o.status.success(), "{}", text(&o));
    let o = add_user(&db, "bob", "admin", "short");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("password: at least 12 characters"),
        "{}",
        text(&o)
    );
    let o = add_user(&db, "alice", "admin", "correct horse battery");
    assert!(
        !o.status.success() && text(&o).contains("exists already"),
        "{}",
        text(&o)
    );
    // a partner account is bound to its registry's ION when it is made: --ion is
    // required for the partner role and refused for the others
    let o = medulla(&[
        "users",
        "--db",
        &db,
        "add",
        "nl-registry",
        "--role",
        "partner",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("--ion"),
        "{}",
        text(&o)
    );
    let o = medulla(&[
        "users", "--db", &db, "add", "carol", "--role", "auditor", "--ion", "1020",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("only a partner account"),
        "{}",
        text(&o)
    );
    // a partner gets an API key, alone on the last line
    let o = medulla(&[
        "users",
        "--db",
        &db,
        "add",
        "nl-registry",
        "--role",
        "partner",
        "--ion",
        "1020",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let key = out.lines().last().unwrap().to_string();
    assert!(
        key.starts_with("mk_") && key.len() == 67 && !key.contains(' '),
        "{out}"
    );
    let o = medulla(&["users", "--db", &db, "list"]);
    let list = text(&o);
    assert!(
        list.contains("alice") && list.contains("search-coordinator"),
        "{list}"
    );
    assert!(
        list.contains("nl-registry") && list.contains("API key") && list.contains("1020"),
        "{list}"
    );
    // one account an ION
    let o = medulla(&[
        "users", "--db", &db, "add", "other", "--role", "partner", "--ion", "1020",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("bound to the partner account nl-registry"),
        "{}",
        text(&o)
    );
    assert!(!list.contains(&key), "the key is shown once only");

    let mut server = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["serve", "--db", &db, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let base = format!("http://{addr}");
    let health: serde_json::Value = ureq::get(&format!("{base}/api/v1/health"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(health["donors"], 1);
    let login: serde_json::Value = ureq::post(&format!("{base}/api/v1/login"))
        .send_json(serde_json::json!({"username": "alice", "password": "correct horse battery"}))
        .unwrap()
        .into_json()
        .unwrap();
    let token = login["token"].as_str().unwrap();
    for bearer in [token, key.as_str()] {
        let found: serde_json::Value = ureq::post(&format!("{base}/api/v1/search"))
            .set("Authorization", &format!("Bearer {bearer}"))
            .send_json(serde_json::json!({"patient": PATIENT}))
            .unwrap()
            .into_json()
            .unwrap();
        assert_eq!(found["hits"][0]["donor_id"], "D1");
    }
    // disabled: the key stops working
    assert!(medulla(&["users", "--db", &db, "disable", "nl-registry"])
        .status
        .success());
    let r = ureq::post(&format!("{base}/api/v1/search"))
        .set("Authorization", &format!("Bearer {key}"))
        .send_json(serde_json::json!({"patient": PATIENT}));
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));

    // SIGTERM: a clean stop
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let out = server.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("stopped"), "{log}");
    assert!(log.contains("POST /api/v1/search 200"), "{log}");
    assert!(
        !log.contains(token) && !log.contains(&key),
        "a secret in the log"
    );
    assert!(!log.contains("D1"), "a donor id in the log");

    // the trail: intact, then tampered
    let o = medulla(&["audit", "--db", &db, "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("audit trail intact"), "{}", text(&o));
    if db.starts_with("postgres") {
        let c = medulla_registry::db::Connection::postgres(&db, "medulla_security", 0).unwrap();
        c.execute_batch(
            "ALTER TABLE audit DISABLE TRIGGER audit_append_only;
             UPDATE audit SET actor = 'mallory' WHERE seq = 3;",
        )
        .unwrap();
    } else {
        let sec = dir.path("reg.security.db");
        let c = rusqlite::Connection::open(&sec).unwrap();
        c.execute_batch("DROP TRIGGER audit_append_only_update;")
            .unwrap();
        c.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3", [])
            .unwrap();
    }
    let o = medulla(&["audit", "--db", &db, "verify"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("audit entry 3"), "{}", text(&o));
    // reading commands need the database to exist
    let o = medulla(&["audit", "--db", &dir.path("none.db"), "verify"]);
    assert!(
        !o.status.success() && text(&o).contains("no security database"),
        "{}",
        text(&o)
    );
}
