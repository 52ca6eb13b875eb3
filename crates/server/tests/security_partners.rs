//! Hostile partners (issue 25, item 2), over real sockets on 127.0.0.1: a partner is held
//! to the ION its account is bound to, to the requests it holds with us, to the request
//! lifecycle, to its own patients and a quota for reservations, and never sees donors
//! who cannot donate. Every refusal is a `deny` answer naming its rule, audited, applying
//! nothing. One test per attack; each failed before these rules.
//!
//! Runs on SQLite, or on PostgreSQL with `MEDULLA_TEST_BACKEND=postgres
//! MEDULLA_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres`.

use std::sync::{Arc, OnceLock};

use medulla_app::accounts;
use medulla_app::exchange::message::new_id;
use medulla_app::freqs::{FreqSource, Frequencies};
use medulla_app::{Role, Service};
use medulla_nomenclature::{MacTable, Reducer, Release};
use serde_json::{json, Value};

const TYPING: &str =
    "A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01";
const PASSWORD: &str = "a long enough password";
/// This registry's ION, partner P1's and partner B's.
const OURS: &str = "1000";
const P1: &str = "1101";
const B: &str = "1102";

fn shared() -> (&'static Reducer<'static>, &'static Frequencies) {
    static R: OnceLock<&'static Reducer<'static>> = OnceLock::new();
    static F: OnceLock<&'static Frequencies> = OnceLock::new();
    let r = *R.get_or_init(|| {
        let release: &'static Release = Box::leak(Box::new(Release::shipped()));
        let macs: &'static MacTable = Box::leak(Box::new(MacTable::shipped()));
        Box::leak(Box::new(Reducer::new(release, macs)))
    });
    let f = *F.get_or_init(|| Box::leak(Box::new(FreqSource::default().load(r).unwrap())));
    (r, f)
}

/// Six donors typed as the patient: SEC-1 .. SEC-6.
fn donors_csv() -> String {
    let mut csv = String::from("id,registry,donor_type,birth_date,sex,gl\n");
    for i in 1..=6 {
        csv.push_str(&format!("SEC-{i},TEST,adult,199{i}-01-01,M,\"{TYPING}\"\n"));
    }
    csv
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    base: String,
    db: std::path::PathBuf,
    /// API keys of the partner accounts `p1` (ION 1101) and `b` (ION 1102).
    p1: String,
    b: String,
    _service: Arc<Service>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: TempDir,
}

/// A registry of ION 1000 with six donors, partners P1 (1101) and B (1102) registered
/// and each given an account bound to its ION, staff accounts, a reservation quota of
/// `quota` per partner, served on a free port of 127.0.0.1.
fn start(name: &str, quota: u32) -> Server {
    let dir = std::env::temp_dir().join(format!("medulla-sec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = match (
        std::env::var("MEDULLA_TEST_BACKEND").as_deref(),
        std::env::var("MEDULLA_TEST_POSTGRES"),
    ) {
        (Ok("postgres"), Ok(admin)) => std::path::PathBuf::from(
            medulla_registry::db::create_postgres_database(&admin, "medulla_sec").unwrap(),
        ),
        _ => dir.join("reg.db"),
    };
    let (reducer, freqs) = shared();
    let at = chrono::Local::now().naive_local();
    {
        let mut store = medulla_registry::Store::open(&db).unwrap();
        let opts = medulla_registry::ImportOptions {
            validate_first: false,
            file_name: "initial",
            strict: true,
            by: "test",
            at,
            before_commit: None,
            delimiter: None,
        };
        medulla_registry::import_csv(donors_csv().as_bytes(), &mut store, reducer, &opts, |_| {})
            .unwrap();
        medulla_app::exchange::set_ion(&store, OURS).unwrap();
        for (partner, ion) in [("P1", P1), ("B", B)] {
            // unreachable URLs: nothing here is delivered
            medulla_app::exchange::add_partner(
                &store,
                partner,
                "http://127.0.0.1:9",
                "their-key",
                Some(ion),
                at,
            )
            .unwrap();
        }
        medulla_app::settings::set(&mut store, "partner-reservation-quota", &quota.to_string())
            .unwrap();
    }
    for role in [Role::Admin, Role::SearchCoordinator, Role::Auditor] {
        accounts::add_user(&db, role.name(), role, Some(PASSWORD)).unwrap();
    }
    let p1 = accounts::add_account(&db, "p1", Role::Partner, None, Some(P1))
        .unwrap()
        .unwrap();
    let b = accounts::add_account(&db, "b", Role::Partner, None, Some(B))
        .unwrap()
        .unwrap();
    let service = Arc::new(Service::open(&db, reducer, freqs, None, |_| {}).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = service.clone();
    std::thread::spawn(move || {
        rt.block_on(medulla_server::serve(svc, listener, async {
            let _ = rx.await;
        }))
        .unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        db,
        p1,
        b,
        _service: service,
        _stop: tx,
        _dir: TempDir(dir),
    }
}

impl Server {
    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let req = ureq::request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {token}"));
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let res = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = res.status();
        let text = res.into_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn login(&self, user: &str) -> String {
        let res = ureq::post(&format!("{}/api/v1/login", self.base))
            .send_json(json!({"username": user, "password": PASSWORD}))
            .unwrap();
        let v: Value = res.into_json().unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    /// Deliver messages with a partner's key: the batch answer.
    fn send(&self, key: &str, messages: Vec<Value>) -> Value {
        let (st, v) = self.call(
            "POST",
            "/api/v1/exchange/messages",
            key,
            Some(json!({ "messages": messages })),
        );
        assert_eq!(st, 200, "{v}");
        v
    }

    /// A request of ours for a donor of partner B: (its id, the reference both know).
    fn request_with_b(&self) -> (String, String) {
        let sc = self.login("search-coordinator");
        let (st, v) = self.call(
            "POST",
            "/api/v1/patients",
            &sc,
            Some(json!({"id": "P-OURS", "typing": TYPING, "population": "EUR"})),
        );
        assert_eq!(st, 201, "{v}");
        let grid = medulla_registry::Grid::new(1102, "B00000001").unwrap();
        let (st, v) = self.call(
            "POST",
            "/api/v1/requests",
            &sc,
            Some(json!({"patient": "P-OURS", "donor": grid.as_str(), "type": "ct"})),
        );
        assert_eq!(st, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        (id.clone(), format!("{OURS}-{id}"))
    }

    fn request_state(&self, id: &str) -> String {
        let (st, v) = self.call(
            "GET",
            &format!("/api/v1/requests/{id}"),
            &self.login("admin"),
            None,
        );
        assert_eq!(st, 200, "{v}");
        v["state"].as_str().unwrap().to_string()
    }

    /// The audit entries of denied messages.
    fn denials(&self) -> Vec<Value> {
        let (st, v) = self.call(
            "GET",
            "/api/v1/audit?action=exchange-denied",
            &self.login("auditor"),
            None,
        );
        assert_eq!(st, 200, "{v}");
        v["entries"].as_array().unwrap().clone()
    }

    fn donor_status(&self, id: &str) -> String {
        let (st, v) = self.call(
            "GET",
            &format!("/api/v1/donors/{id}"),
            &self.login("admin"),
            None,
        );
        assert_eq!(st, 200, "{v}");
        v["status"].as_str().unwrap_or_default().to_string()
    }
}

/// A message from `sender` numbered `seq`.
fn msg(sender: &str, seq: i64, reference: &str, kind: &str, body: Value) -> Value {
    json!({
        "id": new_id().unwrap(), "sender": sender, "seq": seq, "reference": reference,
        "sent_at": "2026-12-01T10:00:00", "kind": kind, "body": body,
    })
}

fn patient_msg(sender: &str, seq: i64, patient: &str) -> Value {
    msg(
        sender,
        seq,
        &format!("{sender}-{patient}"),
        "patient",
        json!({"patient": patient, "hla": TYPING, "birth_date": null, "sex": null, "abo": null,
               "cmv": null, "weight_kg": null, "diagnosis": "AML", "urgency": null,
               "population": "EUR", "status": "active"}),
    )
}

fn reservation_msg(
    sender: &str,
    seq: i64,
    n: u32,
    patient: &str,
    donor: &str,
    expires: &str,
) -> Value {
    msg(
        sender,
        seq,
        &format!("{sender}-R{n:06}"),
        "request",
        json!({"patient": patient, "donor": donor, "type": "reservation", "loci": null,
               "expires": expires, "opened": "2026-12-01", "note": ""}),
    )
}

fn no_result(seq: i64, sender: &str, reference: &str) -> Value {
    msg(
        sender,
        seq,
        reference,
        "no-result",
        json!({"donor": "x", "reason": "medical", "note": ""}),
    )
}

fn result(seq: i64, sender: &str, reference: &str) -> Value {
    msg(
        sender,
        seq,
        reference,
        "result",
        json!({"donor": "x", "partial": false, "typing": TYPING, "note": "",
               "state": {"state": "resulted"}}),
    )
}

/// Answer `i` of a batch answer: its verdict and remark.
fn answer(v: &Value, i: usize) -> (String, String) {
    let a = &v["answers"][i];
    (
        a["verdict"].as_str().unwrap_or_default().to_string(),
        a["remark"].as_str().unwrap_or_default().to_string(),
    )
}

fn assert_denied(v: &Value, i: usize, rule: &str) {
    let (verdict, remark) = answer(v, i);
    assert_eq!(verdict, "deny", "answer {i}: {v}");
    assert!(remark.contains(rule), "answer {i} names {rule}: {v}");
}

fn today_plus(days: i64) -> String {
    (chrono::Local::now().date_naive() + chrono::Duration::days(days)).to_string()
}

#[test]
fn a_partner_cannot_change_a_request_held_with_another_partner() {
    let s = start("not-yours", 50);
    let (id, reference) = s.request_with_b();
    // P1 answers B's request: no result, then a result with a typing of its own
    let v = s.send(
        &s.p1,
        vec![no_result(1, P1, &reference), result(2, P1, &reference)],
    );
    assert_denied(&v, 0, "[not-your-request]");
    assert_denied(&v, 1, "[not-your-request]");
    assert_eq!(s.request_state(&id), "open", "nothing applied");
    // audited, each with its reason
    let denied = s.denials();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied
        .iter()
        .all(|e| e["detail"].to_string().contains("not-your-request")));
    // B, whose request it is, may answer it
    let v = s.send(&s.b, vec![no_result(1, B, &reference)]);
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
    assert_eq!(s.request_state(&id), "rejected (medical)");
}

#[test]
fn a_partner_cannot_step_outside_the_request_lifecycle() {
    let s = start("lifecycle", 50);
    let (id, reference) = s.request_with_b();
    let v = s.send(
        &s.b,
        vec![no_result(1, B, &reference), result(2, B, &reference)],
    );
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
    assert_denied(&v, 1, "[request-lifecycle]");
    assert_eq!(
        s.request_state(&id),
        "rejected (medical)",
        "the result not applied"
    );
    // a state the lifecycle never reaches from here either
    let back = msg(
        B,
        3,
        &reference,
        "request-state",
        json!({"donor": "x", "state": {"state": "acknowledged"}, "event": "acknowledged",
               "detail": "", "journey": null}),
    );
    let v = s.send(&s.b, vec![back]);
    assert_denied(&v, 0, "[request-lifecycle]");
    assert_eq!(s.request_state(&id), "rejected (medical)");
    assert_eq!(s.denials().len(), 2);
}

#[test]
fn a_partner_account_cannot_claim_our_ion_or_another_partners() {
    let s = start("sender-ion", 50);
    let (id, reference) = s.request_with_b();
    // P1's account says it is this registry, then that it is B
    let v = s.send(
        &s.p1,
        vec![patient_msg(OURS, 1, "PX"), no_result(1, B, &reference)],
    );
    assert_denied(&v, 0, "[sender-ion]");
    assert_denied(&v, 1, "[sender-ion]");
    assert_eq!(s.request_state(&id), "open", "nothing applied");
    // nothing stored under B's ION either: B's own first message is B's first
    let v = s.send(&s.b, vec![no_result(1, B, &reference)]);
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
    assert_eq!(v["last_applied"], 1, "{v}");
    // a message id is a UUID
    let mut bad = patient_msg(P1, 1, "PX");
    bad["id"] = json!("x");
    let v = s.send(&s.p1, vec![bad]);
    assert_denied(&v, 0, "[message-id]");
    // the same UUID from two senders is two messages
    let mut mine = patient_msg(P1, 1, "PX");
    mine["id"] = json!("00000000-0000-4000-8000-0000000000aa");
    let mut theirs = patient_msg(B, 2, "PY");
    theirs["id"] = json!("00000000-0000-4000-8000-0000000000aa");
    assert_eq!(answer(&s.send(&s.p1, vec![mine]), 0).0, "ack");
    let v = s.send(&s.b, vec![theirs]);
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
    assert_eq!(v["last_applied"], 2, "applied, not taken for P1's: {v}");
    assert_eq!(s.denials().len(), 3);
    // no account can be bound to our ION or to an ION another account has
    let e = accounts::add_account(&s.db, "mallory", Role::Partner, None, Some(OURS)).unwrap_err();
    assert!(e.to_string().contains("own ION"), "{e}");
    let e = accounts::add_account(&s.db, "mallory", Role::Partner, None, Some(B)).unwrap_err();
    assert!(
        e.to_string().contains("bound to the partner account b"),
        "{e}"
    );
    assert!(accounts::list_users(&s.db)
        .unwrap()
        .iter()
        .all(|u| u.name != "mallory"));
}

#[test]
fn an_unbound_partner_account_is_told_how_to_bind_it() {
    let s = start("unbound", 50);
    // an account made before accounts were bound when made
    let key = medulla_app::auth::new_secret("mk_").unwrap();
    let mut sec = medulla_registry::Store::open_security(&s.db).unwrap();
    sec.add_user(&medulla_registry::accounts::UserRow {
        name: "legacy".into(),
        role: "partner".into(),
        password_hash: None,
        api_key_hash: Some(medulla_app::auth::secret_hash(&key)),
        disabled: false,
        created_at: "2026-01-01T00:00:00".into(),
        failed_logins: 0,
        last_failed_at: None,
        totp_secret: None,
        totp_last_step: None,
    })
    .unwrap();
    let v = s.send(&key, vec![patient_msg("1103", 1, "PX")]);
    assert_denied(&v, 0, "[sender-ion]");
    assert!(
        answer(&v, 0).1.contains("medulla users bind-ion legacy"),
        "{v}"
    );
    // not to our ION, nor to B's
    assert!(accounts::bind_ion(&s.db, "legacy", OURS).is_err());
    assert!(accounts::bind_ion(&s.db, "legacy", B).is_err());
    accounts::bind_ion(&s.db, "legacy", "1103").unwrap();
    let v = s.send(&key, vec![patient_msg("1103", 1, "PX")]);
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
}

#[test]
fn a_partner_account_needs_an_ion_when_it_is_made() {
    let s = start("needs-ion", 50);
    let e = accounts::add_account(&s.db, "p2", Role::Partner, None, None).unwrap_err();
    assert!(e.to_string().contains("--ion"), "{e}");
    let e = accounts::add_user(&s.db, "p2", Role::Partner, None).unwrap_err();
    assert!(e.to_string().contains("--ion"), "{e}");
    let e = accounts::add_account(
        &s.db,
        "sc2",
        Role::SearchCoordinator,
        Some(PASSWORD),
        Some(P1),
    )
    .unwrap_err();
    assert!(e.to_string().contains("only a partner account"), "{e}");
    let e = accounts::add_account(&s.db, "p2", Role::Partner, None, Some("12345")).unwrap_err();
    assert!(e.to_string().contains("not an ION"), "{e}");
    assert!(accounts::list_users(&s.db)
        .unwrap()
        .iter()
        .all(|u| u.name != "p2" && u.name != "sc2"));
}

#[test]
fn a_partner_reservation_needs_its_patient_a_bounded_expiry_and_fits_its_quota() {
    let s = start("reservations", 2);
    let soon = today_plus(30);
    let v = s.send(
        &s.p1,
        vec![
            // no patient registered
            reservation_msg(P1, 1, 1, "NOBODY", "SEC-1", &soon),
            patient_msg(P1, 2, "PX"),
            // for ever
            reservation_msg(P1, 3, 2, "PX", "SEC-2", "9999-12-31"),
            // two within the quota of 2, the third over it
            reservation_msg(P1, 4, 3, "PX", "SEC-3", &soon),
            reservation_msg(P1, 5, 4, "PX", "SEC-4", &soon),
            reservation_msg(P1, 6, 5, "PX", "SEC-5", &soon),
        ],
    );
    assert_denied(&v, 0, "[patient-not-registered]");
    assert_eq!(answer(&v, 1).0, "ack", "{v}");
    assert_denied(&v, 2, "max-reservation-days");
    assert_eq!(answer(&v, 3).0, "ack", "{v}");
    assert_eq!(answer(&v, 4).0, "ack", "{v}");
    assert_denied(&v, 5, "[partner-reservation-quota]");
    assert!(answer(&v, 5).1.contains("quota is 2"), "{v}");
    // the refused ones reserved nothing
    for d in ["SEC-1", "SEC-2", "SEC-5"] {
        assert_eq!(s.donor_status(d), "available", "{d}");
    }
    for d in ["SEC-3", "SEC-4"] {
        let status = s.donor_status(d);
        assert!(status.starts_with("reserved"), "{d}: {status}");
    }
    assert_eq!(s.denials().len(), 3);
    // the quota is per partner: B has its own
    let v = s.send(
        &s.b,
        vec![
            patient_msg(B, 1, "PB"),
            reservation_msg(B, 2, 1, "PB", "SEC-6", &soon),
        ],
    );
    assert_eq!(answer(&v, 1).0, "ack", "{v}");
}

#[test]
fn a_partner_never_sees_withdrawn_or_deceased_donors() {
    let s = start("unavailable", 50);
    let admin = s.login("admin");
    for (d, reason) in [("SEC-1", "withdrew"), ("SEC-2", "deceased")] {
        let (st, v) = s.call(
            "POST",
            &format!("/api/v1/donors/{d}/status"),
            &admin,
            Some(json!({"status": "permanently-unavailable", "reason": reason})),
        );
        assert_eq!(st, 200, "{v}");
    }
    let ids = |token: &str| -> Vec<String> {
        let (st, v) = s.call(
            "POST",
            "/api/v1/search",
            token,
            Some(json!({"patient": TYPING, "no_probabilities": true,
                        "include_unavailable": true})),
        );
        assert_eq!(st, 200, "{v}");
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["donor_id"].as_str().unwrap().to_string())
            .collect()
    };
    let staff = ids(&s.login("search-coordinator"));
    assert!(staff.contains(&"SEC-1".to_string()), "{staff:?}");
    let partner = ids(&s.p1);
    assert!(!partner.is_empty());
    assert!(
        !partner.contains(&"SEC-1".to_string()) && !partner.contains(&"SEC-2".to_string()),
        "{partner:?}"
    );
}

#[test]
fn a_result_with_a_typing_that_names_no_allele_is_refused() {
    let s = start("invented", 50);
    let (id, reference) = s.request_with_b();
    let mut invented = result(1, B, &reference);
    invented["body"]["typing"] = json!("A*99:99+A*02:01^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01");
    let v = s.send(&s.b, vec![invented]);
    let (verdict, remark) = answer(&v, 0);
    assert_eq!(verdict, "deny", "{v}");
    assert!(remark.contains("typing"), "{v}");
    assert_eq!(s.request_state(&id), "open", "nothing applied");
    // the same result with a typing of the release is taken
    let v = s.send(&s.b, vec![result(2, B, &reference)]);
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
    assert_eq!(s.request_state(&id), "resulted");
}
fn workup_msg(sender: &str, seq: i64, n: u32, patient: &str, donor: &str) -> Value {
    let mut m = reservation_msg(sender, seq, n, patient, donor, "");
    m["body"]["type"] = json!("workup");
    m["body"]["expires"] = Value::Null;
    m
}

#[test]
fn a_partners_workups_count_against_its_reservation_quota() {
    // a workup reserves its donor as a reservation does: without counting them, a
    // partner reserved donor after donor past its quota by asking for workups
    let s = start("workup-quota", 2);
    let soon = today_plus(30);
    let v = s.send(
        &s.p1,
        vec![
            patient_msg(P1, 1, "PX"),
            reservation_msg(P1, 2, 1, "PX", "SEC-1", &soon),
            workup_msg(P1, 3, 2, "PX", "SEC-2"),
            // the quota of 2 is full: neither a workup nor a reservation more
            workup_msg(P1, 4, 3, "PX", "SEC-3"),
            reservation_msg(P1, 5, 4, "PX", "SEC-4", &soon),
            // a workup of a donor the partner holds already reserves nothing more
            workup_msg(P1, 6, 5, "PX", "SEC-1"),
        ],
    );
    assert_eq!(answer(&v, 1).0, "ack", "{v}");
    assert_eq!(answer(&v, 2).0, "ack", "{v}");
    assert_denied(&v, 3, "[partner-reservation-quota]");
    assert_denied(&v, 4, "[partner-reservation-quota]");
    assert!(answer(&v, 3).1.contains("quota is 2"), "{v}");
    assert_eq!(answer(&v, 5).0, "ack", "{v}");
    for d in ["SEC-3", "SEC-4"] {
        assert_eq!(s.donor_status(d), "available", "{d}");
    }
    let status = s.donor_status("SEC-2");
    assert!(status.starts_with("reserved"), "SEC-2: {status}");
}

#[test]
fn a_partners_result_typing_is_read_as_a_typing() {
    // a typing entered here is refused past the parsers' limits; one a partner sent was
    // stored as it came, any length, any text, and the request marked resulted
    let s = start("result-typing", 50);
    let (id, reference) = s.request_with_b();
    let mut bad = result(1, B, &reference);
    bad["body"]["typing"] = json!(format!("A*{}", "9".repeat(70)));
    let mut junk = result(2, B, &reference);
    junk["body"]["typing"] = json!("<script>alert(1)</script>");
    let v = s.send(&s.b, vec![bad, junk]);
    assert_eq!(answer(&v, 0).0, "deny", "{v}");
    assert!(answer(&v, 0).1.contains("typing"), "{v}");
    assert_eq!(answer(&v, 1).0, "deny", "{v}");
    assert_eq!(s.request_state(&id), "open", "nothing applied");
    // a well-formed typing is taken
    let v = s.send(&s.b, vec![result(3, B, &reference)]);
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
    assert_eq!(s.request_state(&id), "resulted");
}

#[test]
fn a_partners_request_state_carries_only_the_events_of_a_request_state() {
    // a request-state message that left the state as it was wrote its free-form event
    // and detail into the history: a "result" with any typing, past the result's checks
    let s = start("state-events", 50);
    let (id, reference) = s.request_with_b();
    let v = s.send(&s.b, vec![result(1, B, &reference)]);
    assert_eq!(answer(&v, 0).0, "ack", "{v}");
    let forged = msg(
        B,
        2,
        &reference,
        "request-state",
        json!({"donor": "x", "state": {"state": "resulted"}, "event": "result",
               "detail": "{\"typing\":\"forged\"}", "journey": null}),
    );
    let v = s.send(&s.b, vec![forged]);
    assert_denied(&v, 0, "event");
    let (st, r) = s.call(
        "GET",
        &format!("/api/v1/requests/{id}"),
        &s.login("admin"),
        None,
    );
    assert_eq!(st, 200, "{r}");
    assert!(!r["events"].to_string().contains("forged"), "{r}");
}
