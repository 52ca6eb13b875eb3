//! Attacks on the audit trail by someone who can write the database (issue 25, item 3):
//! each is found by `medulla audit verify`, keyed with `--audit-key-file` and checked
//! against an anchor kept outside the database. The tampering is done as an attacker
//! would: straight in the database, triggers dropped. Runs on SQLite, and on PostgreSQL
//! with `MEDULLA_TEST_BACKEND=postgres`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{on_db, text, with_stdin, TempDir};
use medulla_registry::audit::{AuditEntry, AuditFilter};
use medulla_registry::db::params;
use medulla_registry::Store;
use sha2::{Digest, Sha256};

const PASSWORD: &str = "Vq7#pL2x!mR9wZ4k-audit";

/// `medulla ARGS --audit-key-file KEY` on `db`.
fn keyed(db: &str, key: &str, args: &[&str]) -> Output {
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["--audit-key-file", key]);
    on_db(db, &a, None)
}

fn keygen(t: &TempDir, name: &str) -> String {
    let key = t.path(name);
    let o = on_db("unused.db", &["audit", "keygen", "--out", &key], None);
    assert!(o.status.success(), "{}", text(&o));
    key
}

/// A few changes of the registry (each an entry, taken into the chain) and an account
/// (an entry written straight into the chain), with `key` when given.
fn changes(db: &str, key: Option<&str>, n: usize, user: &str) {
    for i in 0..n {
        let days = (100 + i).to_string();
        let mut args = vec!["settings", "set", "max-reservation-days", &days];
        if let Some(k) = key {
            args.extend(["--audit-key-file", k]);
        }
        let o = on_db(db, &args, None);
        assert!(o.status.success(), "{}", text(&o));
    }
    let mut args = vec!["users", "--db", db, "add", user, "--role", "auditor"];
    if let Some(k) = key {
        args.extend(["--audit-key-file", k]);
    }
    let o = with_stdin(&args, &format!("{PASSWORD}\n"));
    assert!(o.status.success(), "{}", text(&o));
}

/// A new, empty registry database.
fn fresh_db(t: &TempDir) -> String {
    let db = t.db("reg.db");
    let o = on_db(&db, &["db", "migrate"], None);
    assert!(o.status.success(), "{}", text(&o));
    db
}

/// A keyed chain of 5 entries (4 registry changes and an account) and its key file.
fn keyed_chain(t: &TempDir) -> (String, String) {
    let db = fresh_db(t);
    let key = keygen(t, "audit.key");
    changes(&db, Some(&key), 4, "auditor1");
    // the registry's entries taken into the chain (as the server's follower would)
    let o = keyed(&db, &key, &["audit", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(entries(&security(&db)).len(), 5);
    (db, key)
}

fn security(db: &str) -> Store {
    Store::open_security(Path::new(db)).unwrap()
}

fn entries(s: &Store) -> Vec<AuditEntry> {
    s.audit_entries(&AuditFilter::default()).unwrap()
}

/// The attacker's first step: the append-only triggers gone.
fn drop_triggers(s: &Store) {
    let sql = if s.backend() == "postgres" {
        "DROP TRIGGER audit_append_only ON audit; DROP TRIGGER audit_no_truncate ON audit"
    } else {
        "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete"
    };
    s.connection().execute_batch(sql).unwrap();
}

/// The chain's plain SHA-256, as the source says it is made.
fn plain_hash(prev: &str, e: &AuditEntry, subject: &str) -> String {
    let mut h = Sha256::new();
    let seq = e.seq.to_string();
    for part in [
        prev,
        seq.as_str(),
        &e.at,
        &e.actor,
        &e.action,
        subject,
        &e.detail,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Entry `from` edited, and it and every later hash recomputed with plain SHA-256 (the
/// scheme column set to `scheme`, or left alone).
fn rewrite_from(db: &str, from: i64, scheme: Option<&str>) {
    let s = security(db);
    drop_triggers(&s);
    let all = entries(&s);
    let mut prev = all
        .iter()
        .find(|e| e.seq == from - 1)
        .map(|e| e.hash.clone())
        .unwrap_or_else(|| "0".repeat(64));
    for e in all.iter().filter(|e| e.seq >= from) {
        let subject = if e.seq == from {
            "nothing to see"
        } else {
            &e.subject
        };
        let h = plain_hash(&prev, e, subject);
        let scheme = scheme.unwrap_or(&e.scheme);
        let n = s
            .connection()
            .execute(
                "UPDATE audit SET subject = ?1, prev_hash = ?2, hash = ?3, scheme = ?4
                 WHERE seq = ?5",
                params![subject, prev, h, scheme, e.seq],
            )
            .unwrap();
        assert_eq!(n, 1);
        prev = h;
    }
}

fn anchor(db: &str, key: &str, out: &str) {
    let o = keyed(db, key, &["audit", "anchor", "--out", out]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Fails, and says `what`.
#[track_caller]
fn refused(o: &Output, what: &str) {
    assert!(!o.status.success(), "verify passed:\n{}", text(o));
    assert!(text(o).contains(what), "{what:?} not said:\n{}", text(o));
}

#[test]
fn a_good_keyed_chain_verifies_against_its_anchor() {
    let t = TempDir::new("sa-good");
    let (db, key) = keyed_chain(&t);
    let a = t.path("anchor.json");
    anchor(&db, &key, &a);
    let parsed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    assert_eq!(parsed["format"], "medulla-audit-anchor");
    assert_eq!(parsed["version"], 1);
    assert_eq!(parsed["seq"], 5);
    assert_eq!(parsed["scheme"], "hmac-sha256");
    // later entries are fine: the anchor says what must still be there
    changes(&db, Some(&key), 1, "auditor2");
    let o = keyed(&db, &key, &["audit", "verify", "--anchor", &a]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("audit trail intact: 7 entries checked (7 keyed, 0 unkeyed)"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("(entry 5) holds"), "{}", text(&o));
    // the key is never shown
    let hex = std::fs::read_to_string(&key).unwrap();
    assert!(!text(&o).contains(hex.trim()));
    // the old interface still works
    let o = keyed(&db, &key, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_tail_cut_after_the_anchor_is_named() {
    let t = TempDir::new("sa-tail");
    let (db, key) = keyed_chain(&t);
    let a = t.path("anchor.json");
    anchor(&db, &key, &a);
    let s = security(&db);
    drop_triggers(&s);
    s.connection()
        .execute("DELETE FROM audit WHERE seq > 3", [])
        .unwrap();
    drop(s);
    // what is left is a good chain: without the anchor nothing shows
    let o = keyed(&db, &key, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = keyed(&db, &key, &["audit", "verify", "--anchor", &a]);
    refused(&o, "audit entry 4: missing: entries 4..5 are gone");
    refused(&o, "the tail was cut");
}

#[test]
fn an_emptied_trail_is_found() {
    let t = TempDir::new("sa-empty");
    let (db, key) = keyed_chain(&t);
    let a = t.path("anchor.json");
    anchor(&db, &key, &a);
    let s = security(&db);
    drop_triggers(&s);
    s.connection().execute("DELETE FROM audit", []).unwrap();
    drop(s);
    let o = keyed(&db, &key, &["audit", "verify", "--anchor", &a]);
    refused(&o, "entries 1..5 are gone (the table was emptied)");
    // without an anchor too: the chain had taken the registry's entries in
    let o = keyed(&db, &key, &["audit", "verify"]);
    refused(&o, "the table was emptied");
}

#[test]
fn an_edit_with_every_later_hash_recomputed_is_found() {
    // the hashes recomputed with plain SHA-256, the scheme left as it was
    let t = TempDir::new("sa-edit");
    let (db, key) = keyed_chain(&t);
    rewrite_from(&db, 2, None);
    let after = entries(&security(&db));
    assert_eq!(after[1].subject, "nothing to see", "{after:?}");
    let o = keyed(&db, &key, &["audit", "verify"]);
    refused(&o, "audit entry 2: its content does not match its HMAC");
    // ... and the scheme lowered to plain SHA-256 as well
    let t = TempDir::new("sa-edit-2");
    let (db, key) = keyed_chain(&t);
    rewrite_from(&db, 2, Some("sha256"));
    let o = keyed(&db, &key, &["audit", "verify"]);
    refused(
        &o,
        "audit entry 2: unkeyed (plain SHA-256) after keyed entries",
    );
    // the whole chain rewritten unkeyed: the anchor's entry differs
    let t = TempDir::new("sa-edit-3");
    let (db, key) = keyed_chain(&t);
    let a = t.path("anchor.json");
    anchor(&db, &key, &a);
    rewrite_from(&db, 1, Some("sha256"));
    let o = keyed(&db, &key, &["audit", "verify", "--anchor", &a]);
    refused(&o, "audit entry 5: its hash differs from the anchor's");
}

#[test]
fn a_wrong_key_or_none_does_not_pass_a_keyed_chain() {
    let t = TempDir::new("sa-wrong");
    let (db, _key) = keyed_chain(&t);
    let other = keygen(&t, "other.key");
    let o = keyed(&db, &other, &["audit", "verify"]);
    refused(&o, "audit entry 1: its content does not match its HMAC");
    let o = on_db(&db, &["audit", "verify"], None);
    refused(&o, "no audit key is configured");
    // nor is it continued without its key: the account is refused, nothing written
    let o = with_stdin(
        &["users", "--db", &db, "add", "mallory", "--role", "auditor"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("needs its key"), "{}", text(&o));
}

#[test]
fn unkeyed_entries_from_before_the_key_still_verify() {
    let t = TempDir::new("sa-old");
    let db = fresh_db(&t);
    // development: no key, the chain unkeyed and said so
    changes(&db, None, 2, "auditor1");
    let o = on_db(&db, &["audit", "verify"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("WARNING: no audit key configured"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("3 entries checked (0 keyed, 3 unkeyed)"),
        "{}",
        text(&o)
    );
    // then a key: the old entries still verify, the new ones are keyed
    let key = keygen(&t, "audit.key");
    changes(&db, Some(&key), 2, "auditor2");
    let o = keyed(&db, &key, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("6 entries checked (3 keyed, 3 unkeyed)"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("entries 1..3 are unkeyed"),
        "{}",
        text(&o)
    );
    // the environment variable names the key file as well
    let o = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["audit", "verify"])
        .env("MEDULLA_QUIET", "1")
        .env("MEDULLA_DB", &db)
        .env("MEDULLA_AUDIT_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // ... or holds the key itself
    let hex = std::fs::read_to_string(&key).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(["audit", "verify"])
        .env("MEDULLA_QUIET", "1")
        .env("MEDULLA_DB", &db)
        .env("MEDULLA_AUDIT_KEY", hex.trim())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(hex.trim()));
}

#[test]
fn keygen_writes_a_private_key_once() {
    use std::os::unix::fs::PermissionsExt;
    let t = TempDir::new("sa-keygen");
    let key = t.path("k");
    let o = on_db("unused.db", &["audit", "keygen", "--out", &key], None);
    assert!(o.status.success(), "{}", text(&o));
    let hex = std::fs::read_to_string(&key).unwrap();
    assert_eq!(hex.len(), 65);
    assert!(hex.trim().bytes().all(|c| c.is_ascii_hexdigit()));
    assert!(!text(&o).contains(hex.trim()), "the key is never printed");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let o = on_db("unused.db", &["audit", "keygen", "--out", &key], None);
    assert!(!o.status.success());
    assert!(text(&o).contains("never overwritten"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), hex);
    // a key file in the wrong shape is refused without quoting it
    let bad = t.file("bad.key", "not-a-key-at-all\n");
    let o = on_db(
        &t.path("reg.db"),
        &["audit", "verify", "--audit-key-file", &bad],
        None,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("64 hexadecimal digits"), "{}", text(&o));
    assert!(!text(&o).contains("not-a-key-at-all"), "{}", text(&o));
}

#[test]
fn serve_writes_anchors_where_it_is_told() {
    let t = TempDir::new("sa-serve");
    let (db, key) = keyed_chain(&t);
    let dir = t.path("anchors");
    let mut server = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args([
            "serve",
            "--db",
            &db,
            "--listen",
            "127.0.0.1:0",
            "--audit-key-file",
            &key,
            "--audit-anchor-dir",
            &dir,
            "--audit-anchor-every",
            "1s",
        ])
        .env("MEDULLA_QUIET", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line:?}");
    let latest = Path::new(&dir).join("latest.json");
    let started = Instant::now();
    while !latest.is_file() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // a change while it runs: a new anchor names it
    changes(&db, Some(&key), 1, "auditor2");
    let seq = |p: &Path| -> i64 {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["seq"].as_i64())
            .unwrap_or(0)
    };
    while seq(&latest) < 7 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(seq(&latest), 7, "the newest anchor names the head");
    let numbered: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("anchor-"))
        .collect();
    assert!(numbered.len() >= 2, "{numbered:?}");
    assert!(!numbered.iter().any(|n| n.contains(".tmp")), "{numbered:?}");
    let o = keyed(
        &db,
        &key,
        &["audit", "verify", "--anchor", &latest.display().to_string()],
    );
    assert!(o.status.success(), "{}", text(&o));
}
