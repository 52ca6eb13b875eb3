//! TLS as a person deploys it, with certificates made here at run time (rcgen: a private
//! CA, a server certificate for localhost and 127.0.0.1): `medulla serve --tls-cert
//! --tls-key` answering HTTPS, two registries exchanging over https with `--ca-cert`
//! (and failing clearly without it), plain `http://` partners refused off loopback, and
//! PostgreSQL over TLS when `MEDULLA_TEST_POSTGRES_TLS` names a server. All traffic
//! stays on 127.0.0.1; nothing is sent to the TEST-NET address a refused partner names.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{on_db, text, TempDir};
use serde_json::{json, Value};

const TYPING: &str =
    "A*01:01+A*02:01^B*08:01+B*07:02^C*07:01+C*07:02^DRB1*03:01+DRB1*15:01^DQB1*02:01+DQB1*06:02";
const PASSWORD: &str = "search coordinator's long password";

/// A private CA and a server certificate it signed for localhost and 127.0.0.1, as PEM
/// files in `dir`; and another CA, which signed nothing here.
struct Pki {
    ca: String,
    cert: String,
    key: String,
    other_ca: String,
}

fn ca(name: &str) -> (rcgen::CertificateParams, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    p.distinguished_name
        .push(rcgen::DnType::CommonName, format!("Medulla test CA {name}"));
    (p, key)
}

fn pki(dir: &TempDir) -> Pki {
    let (ca_params, ca_key) = ca("one");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names.push(rcgen::SanType::IpAddress(
        std::net::Ipv4Addr::LOCALHOST.into(),
    ));
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = p.signed_by(&key, &issuer).unwrap();
    let (other_params, other_key) = ca("other");
    let other = other_params.self_signed(&other_key).unwrap();
    Pki {
        ca: dir.file("ca.pem", &ca_cert.pem()),
        // the chain: the server's certificate, then its CA's
        cert: dir.file("server.pem", &format!("{}{}", cert.pem(), ca_cert.pem())),
        key: dir.file("server.key", &key.serialize_pem()),
        other_ca: dir.file("other-ca.pem", &other.pem()),
    }
}

/// A client trusting `ca` only.
fn client(ca: &str) -> ureq::Agent {
    let roots = medulla_tls::file_roots(&[PathBuf::from(ca)]).unwrap();
    ureq::AgentBuilder::new()
        .tls_config(medulla_tls::client_config(roots).unwrap())
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .build()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server started on `db`, its log in `log`.
fn serve(db: &str, args: &[&str], log: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_medulla"))
        .arg("serve")
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .env("MEDULLA_DB", db)
        .env_remove("MEDULLA_CA_CERT")
        .env_remove("MEDULLA_ALLOW_PLAIN_HTTP")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn stop(mut c: Child) -> std::process::ExitStatus {
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    c.wait().unwrap()
}

fn run(db: &str, args: &[&str], stdin: Option<&str>) -> String {
    let o = on_db(db, args, stdin);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(db: &str, args: &[&str]) -> String {
    let o = on_db(db, args, None);
    assert!(!o.status.success(), "{args:?} succeeded: {}", text(&o));
    text(&o)
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_answers_https_to_a_client_trusting_its_ca_and_nothing_else() {
    let dir = TempDir::new("tls-serve");
    let pki = pki(&dir);
    let db = dir.db("reg.db");
    run(
        &db,
        &["users", "add", "sc", "--role", "search-coordinator"],
        Some(&format!("{PASSWORD}\n")),
    );

    // a key that is not the certificate's, or a missing file: a clear refusal, no start
    let log = dir.path("bad.log");
    let other_key = dir.file(
        "other.key",
        &rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    for (cert, key, named) in [
        (pki.cert.as_str(), other_key.as_str(), "other.key"),
        (
            "/nonexistent/cert.pem",
            pki.key.as_str(),
            "/nonexistent/cert.pem",
        ),
        (pki.cert.as_str(), pki.cert.as_str(), "server.pem"),
    ] {
        let c = serve(
            &db,
            &[
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                cert,
                "--tls-key",
                key,
            ],
            &log,
        );
        let out = c.wait_with_output().unwrap();
        assert!(!out.status.success());
        let said = std::fs::read_to_string(&log).unwrap();
        assert!(said.contains(named), "{said}");
        assert!(
            !said.contains("PRIVATE KEY"),
            "key material in the log: {said}"
        );
    }

    let mut server = serve(
        &db,
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &pki.cert,
            "--tls-key",
            &pki.key,
        ],
        &dir.path("serve.log"),
    );
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let port = addr.rsplit(':').next().unwrap();
    let agent = client(&pki.ca);
    for host in ["localhost", "127.0.0.1"] {
        let health: Value = agent
            .get(&format!("https://{host}:{port}/api/v1/health"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        assert_eq!(health["status"], "ok", "{health}");
    }
    // a client that does not trust the CA is refused by its own TLS
    let e = client(&pki.other_ca)
        .get(&format!("https://localhost:{port}/api/v1/health"))
        .call()
        .unwrap_err();
    assert!(
        medulla_tls::certificate_problem(&e).is_some(),
        "not a certificate error: {e}"
    );
    // plain HTTP to the HTTPS port gets no answer
    let plain = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build()
        .get(&format!("http://127.0.0.1:{port}/api/v1/health"))
        .call();
    assert!(plain.is_err(), "plain HTTP answered");
    // and the service still answers after that
    assert!(agent
        .get(&format!("https://localhost:{port}/api/v1/health"))
        .call()
        .is_ok());

    // the session cookie is Secure over TLS
    let r = agent
        .post(&format!("https://localhost:{port}/login"))
        .send_form(&[("username", "sc"), ("password", PASSWORD)])
        .unwrap();
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("medulla_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");

    assert!(stop(server).success());
}

/// A registry for the exchange tests: its database, ION, donors' GRIDs and HTTPS port.
struct Registry {
    name: &'static str,
    ion: &'static str,
    db: String,
    port: u16,
    grids: Vec<String>,
    server: Option<Child>,
    dir: TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Registry {
    fn new(name: &'static str, ion: &'static str, seed: u64) -> Registry {
        let dir = TempDir::new(&format!("tls-exchange-{name}"));
        let db = dir.db("registry.db");
        let pool = dir.path("pool.csv");
        let seed = seed.to_string();
        run(
            &db,
            &[
                "synth",
                "--donors",
                "40",
                "--seed",
                &seed,
                "--ion",
                ion,
                "--registry",
                name,
                "--out",
                &pool,
            ],
            None,
        );
        run(&db, &["donors", "import", &pool], None);
        let grids = std::fs::read_to_string(&pool)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().to_string())
            .collect();
        Registry {
            name,
            ion,
            db,
            port: free_port(),
            grids,
            server: None,
            dir,
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("serve.log")).unwrap_or_default()
    }

    /// Serve HTTPS with the test certificate; `extra` such as `--ca-cert FILE`.
    fn start(&mut self, pki: &Pki, extra: &[&str]) {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut args = vec![
            "--listen",
            &listen,
            "--ion",
            self.ion,
            "--tls-cert",
            &pki.cert,
            "--tls-key",
            &pki.key,
            "--max-backoff-ms",
            "500",
        ];
        args.extend_from_slice(extra);
        self.server = Some(serve(&self.db, &args, &self.dir.path("serve.log")));
        let agent = client(&pki.ca);
        wait_for(
            &format!("{} started", self.name),
            Duration::from_secs(60),
            || {
                agent
                    .get(&format!("{}/api/v1/health", self.url()))
                    .call()
                    .is_ok()
            },
        );
    }

    fn stop(&mut self) {
        if let Some(c) = self.server.take() {
            stop(c);
        }
    }

    /// Issue a partner key to `other` here, and register `other` at its https URL.
    fn add_partner(&self, other: &Registry) {
        let out = run(
            &other.db,
            &[
                "users", "add", self.name, "--role", "partner", "--ion", self.ion,
            ],
            None,
        );
        let key = out.lines().last().unwrap().trim().to_string();
        run(
            &self.db,
            &[
                "partners",
                "add",
                other.name,
                "--url",
                &other.url(),
                "--key",
                &key,
                "--ion",
                other.ion,
            ],
            None,
        );
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&run(&self.db, args, None)).unwrap()
    }

    fn pending_to(&self, partner: &str) -> i64 {
        self.json(&["partners", "status", "--format", "json"])["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == partner)
            .map(|p| p["outbox_pending"].as_i64().unwrap())
            .unwrap()
    }
}

#[test]
fn partners_exchange_over_https_with_a_private_ca_and_fail_clearly_without_it() {
    let dir = TempDir::new("tls-exchange-pki");
    let pki = pki(&dir);
    let mut a = Registry::new("A", "1101", 31);
    let mut b = Registry::new("B", "1102", 32);
    a.add_partner(&b);
    b.add_partner(&a);
    run(
        &a.db,
        &[
            "patients",
            "add",
            "P1",
            "--typing",
            TYPING,
            "--population",
            "EUR",
        ],
        None,
    );
    run(&a.db, &["patients", "set-status", "P1", "active"], None);

    // A without the private CA: B's certificate is not trusted
    a.start(&pki, &[]);
    b.start(&pki, &["--ca-cert", &pki.ca]);
    let grid = b.grids[0].clone();
    let id = run(
        &a.db,
        &[
            "requests",
            "open",
            "--patient",
            "P1",
            "--donor",
            &grid,
            "--type",
            "ct",
        ],
        None,
    )
    .trim()
    .to_string();
    wait_for(
        "the certificate failure reported",
        Duration::from_secs(30),
        || a.log().contains("delivery to B failed"),
    );
    let log = a.log();
    assert!(
        log.contains("TLS certificate refused") && log.contains("--ca-cert"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    for l in log.lines().filter(|l| l.contains("delivery to B failed")) {
        println!("A said: {l}");
    }
    // the messages (the request and what it needs) wait in the outbox, with why
    let waiting = a.pending_to("B");
    assert!(waiting >= 1, "{waiting}");
    let problems = a.json(&["partners", "problems", "--format", "json"]);
    assert!(
        problems.to_string().contains("TLS certificate refused"),
        "{problems}"
    );
    // reconciliation from the command line says the same, without --ca-cert
    let rec = a.json(&["partners", "reconcile", "--format", "json"]);
    assert!(
        rec["partners"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("TLS certificate refused"),
        "{rec}"
    );

    // restarted with the CA: the waiting message goes out, B holds the request, and its
    // acknowledgement comes back over https too
    a.stop();
    a.start(&pki, &["--ca-cert", &pki.ca]);
    wait_for("the message delivered", Duration::from_secs(30), || {
        a.pending_to("B") == 0
    });
    let there = b.json(&["requests", "list", "--format", "json"]);
    assert_eq!(
        there["requests"].as_array().unwrap().len(),
        1,
        "B holds the request: {there}"
    );
    let theirs = there["requests"][0]["id"].as_str().unwrap().to_string();
    run(&b.db, &["requests", "acknowledge", &theirs], None);
    wait_for(
        "the acknowledgement back at A",
        Duration::from_secs(30),
        || a.json(&["requests", "show", &id, "--format", "json"])["state"] == "acknowledged",
    );
    // the command line reaches B with the CA too
    let rec = a.json(&[
        "partners",
        "reconcile",
        "--format",
        "json",
        "--ca-cert",
        &pki.ca,
    ]);
    assert!(rec["partners"][0]["error"].is_null(), "{rec}");
    a.stop();
    b.stop();
}

#[test]
fn plain_http_partners_are_refused_off_loopback_unless_allowed() {
    let dir = TempDir::new("tls-plain");
    let db = dir.db("reg.db");
    run(&db, &["db", "migrate"], None);
    // TEST-NET-1: refused when added; no traffic (the ION is given, nothing is asked)
    let add = |extra: &[&str]| {
        let mut args = vec![
            "partners",
            "add",
            "far",
            "--url",
            "http://192.0.2.1:8080",
            "--key",
            "k",
            "--ion",
            "1201",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = add(&[]);
    let said = refused(&db, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(
        said.contains("far") && said.contains("http://") && said.contains("192.0.2.1"),
        "{said}"
    );
    assert!(said.contains("--allow-plain-http"), "{said}");
    let list =
        serde_json::from_str::<Value>(&run(&db, &["partners", "list", "--format", "json"], None))
            .unwrap();
    assert_eq!(list["partners"], json!([]), "{list}");
    // loopback may stay plain; https needs nothing
    run(
        &db,
        &[
            "partners",
            "add",
            "near",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "k",
            "--ion",
            "1202",
        ],
        None,
    );
    run(
        &db,
        &[
            "partners",
            "add",
            "near6",
            "--url",
            "http://[::1]:9",
            "--key",
            "k",
            "--ion",
            "1203",
        ],
        None,
    );
    // allowed explicitly
    let args = add(&["--allow-plain-http"]);
    run(
        &db,
        &args.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        None,
    );

    // sending to it without the allowance is refused before any connection is made
    let rec: Value = serde_json::from_str(&run(
        &db,
        &["partners", "reconcile", "--format", "json"],
        None,
    ))
    .unwrap();
    let far = rec["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner"] == "far")
        .cloned()
        .unwrap();
    let why = far["error"].as_str().unwrap();
    assert!(
        why.contains("partner far") && why.contains("plain http://"),
        "{why}"
    );
}

/// PostgreSQL over TLS, when `MEDULLA_TEST_POSTGRES_TLS` names a server with TLS on
/// (`.ci/run` starts one) by an URL with `sslmode=require`, and
/// `MEDULLA_TEST_POSTGRES_TLS_CA` names the CA of its certificate.
#[test]
fn postgres_over_tls_when_a_server_is_given() {
    let Ok(url) = std::env::var("MEDULLA_TEST_POSTGRES_TLS") else {
        eprintln!("skipped: MEDULLA_TEST_POSTGRES_TLS is not set");
        return;
    };
    assert!(url.contains("sslmode=require"), "{url}");
    let dir = TempDir::new("tls-postgres");
    let pki = pki(&dir);
    // require: encrypted; the server says so
    let db = medulla_registry::db::create_postgres_database(&url, "medulla_tls").unwrap();
    run(&db, &["db", "migrate"], None);
    let c = medulla_registry::db::Connection::postgres(&db, "medulla", 0).unwrap();
    let encrypted: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(encrypted, 1, "the session is not encrypted");
    // verify-full with a root that did not sign the server's certificate: refused
    let wrong = db.replace(
        "sslmode=require",
        &format!("sslmode=verify-full&sslrootcert={}", pki.other_ca),
    );
    let o = on_db(&wrong, &["db", "status"], None);
    assert!(!o.status.success(), "connected with the wrong root");
    let said = text(&o);
    assert!(said.to_lowercase().contains("certificate"), "{said}");
    // verify-full with the server's CA: connects
    if let Ok(ca) = std::env::var("MEDULLA_TEST_POSTGRES_TLS_CA") {
        let right = db.replace(
            "sslmode=require",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        );
        run(&right, &["db", "status"], None);
        let ca_only = db.replace(
            "sslmode=require",
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        );
        run(&ca_only, &["db", "status"], None);
    }
}
