//! Exchange between three real `medulla serve` instances on 127.0.0.1 (registries A, B
//! and C, each with its own ION and synthetic donors): requests carried to a partner and
//! their results back, international search, and the faults delivery must survive: a
//! partner down and back, a message delivered twice, messages out of order, the sender
//! killed with SIGKILL in the middle of a send, a slow partner. Each fault test prints
//! its counts (sent, acknowledged, duplicated, lost) and the time to drain. Everything
//! is bounded in time; all traffic stays on loopback.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{on_db, text, TempDir};
use serde_json::{json, Value};

/// A 10/10 typing of common European haplotypes: every pool has donors near it.
const TYPING: &str =
    "A*01:01+A*02:01^B*08:01+B*07:02^C*07:01+C*07:02^DRB1*03:01+DRB1*15:01^DQB1*02:01+DQB1*06:02";
const PASSWORD: &str = "search coordinator's long password";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One registry: its database, its ION, and its server when running.
struct Registry {
    name: &'static str,
    ion: &'static str,
    dir: TempDir,
    db: String,
    port: u16,
    server: Option<Child>,
    /// Its donors' GRIDs, in file order.
    grids: Vec<String>,
    /// Its donors' ids (its own name for them), in file order.
    ids: Vec<String>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Registry {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = on_db(&self.db, args, stdin);
        assert!(o.status.success(), "{} {args:?}: {}", self.name, text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A command that must fail: what it said.
    fn refused(&self, args: &[&str]) -> String {
        let o = on_db(&self.db, args, None);
        assert!(!o.status.success(), "{} {args:?} succeeded", self.name);
        text(&o)
    }

    fn new(
        test: &str,
        name: &'static str,
        ion: &'static str,
        donors: usize,
        seed: u64,
    ) -> Registry {
        let dir = TempDir::new(&format!("exchange-{test}-{name}"));
        let db = dir.db("registry.db");
        let pool = dir.path("pool.csv");
        let mut r = Registry {
            name,
            ion,
            db,
            port: free_port(),
            server: None,
            grids: Vec::new(),
            ids: Vec::new(),
            dir,
        };
        r.run(
            &[
                "synth",
                "--donors",
                &donors.to_string(),
                "--seed",
                &seed.to_string(),
                "--ion",
                ion,
                "--registry",
                name,
                "--out",
                &pool,
            ],
            None,
        );
        r.run(&["donors", "import", &pool], None);
        let rows: Vec<(String, String)> = std::fs::read_to_string(&pool)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let mut f = l.split(',');
                let id = f.next().unwrap().to_string();
                (id, f.next().unwrap().to_string())
            })
            .collect();
        r.ids = rows.iter().map(|(id, _)| id.clone()).collect();
        r.grids = rows.into_iter().map(|(_, g)| g).collect();
        r.run(
            &["users", "add", "sc", "--role", "search-coordinator"],
            Some(&format!("{PASSWORD}\n")),
        );
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        self.start_with(&[]);
    }

    /// Give the registry its ION (`medulla serve --ion` keeps it), server stopped again.
    fn set_ion(&mut self) {
        self.start();
        self.kill();
    }

    fn start_with(&mut self, extra: &[&str]) {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut args = vec![
            "serve",
            "--listen",
            &listen,
            "--ion",
            self.ion,
            "--max-backoff-ms",
            "1000",
            "--partner-timeout-ms",
            "1000",
        ];
        args.extend_from_slice(extra);
        let log =
            std::fs::File::create(self.dir.path(&format!("serve-{}.log", self.name))).unwrap();
        self.server = Some(
            Command::new(env!("CARGO_BIN_EXE_medulla"))
                .args(&args)
                .env("MEDULLA_QUIET", "1")
                .env("MEDULLA_DB", &self.db)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let started = Instant::now();
        while ureq::get(&format!("{}/api/v1/health", self.url()))
            .call()
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not start",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server at once (SIGKILL: nothing is flushed or finished).
    fn kill(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Issue a partner key to `other` here, and register `other` (at `url`) with the key
    /// it issued to us.
    fn add_partner(&self, other: &Registry, url: &str) {
        let key = other
            .run(
                &[
                    "users", "add", self.name, "--role", "partner", "--ion", self.ion,
                ],
                None,
            )
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string();
        self.run(
            &[
                "partners", "add", other.name, "--url", url, "--key", &key, "--ion", other.ion,
            ],
            None,
        );
    }

    /// Reach `other` at another URL (a relay), with the key it issued to us.
    fn set_partner_url(&self, other: &Registry, url: &str) {
        let key = key_of(self, other.name);
        self.run(
            &["partners", "add", other.name, "--url", url, "--key", &key],
            None,
        );
    }

    /// Wait until this registry has learned a partner's ION.
    fn knows(&self, partner: &str) {
        wait_for("a partner's ION learned", Duration::from_secs(30), || {
            self.json(&["partners", "list", "--format", "json"])["partners"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == partner && !p["ion"].is_null())
        });
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.run(args, None)).unwrap()
    }

    fn partner_status(&self, partner: &str) -> Value {
        let v = self.json(&["partners", "status", "--format", "json"]);
        v["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == partner)
            .cloned()
            .unwrap_or_else(|| panic!("{} has no partner {partner}: {v}", self.name))
    }

    fn requests(&self) -> Vec<Value> {
        self.json(&["requests", "list", "--format", "json"])["requests"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// A figure from the registry's exchange tables.
    fn count(&self, sql: &str) -> i64 {
        connect(&self.db)
            .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .unwrap()
            .unwrap_or(0)
    }

    fn token(&self) -> String {
        let r: Value = ureq::post(&format!("{}/api/v1/login", self.url()))
            .send_json(json!({"username": "sc", "password": PASSWORD}))
            .unwrap()
            .into_json()
            .unwrap();
        r["token"].as_str().unwrap().to_string()
    }

    /// The search page of the web application, as the search coordinator sees it.
    fn search_page(&self, query: &str) -> String {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let r = agent
            .post(&format!("{}/login", self.url()))
            .send_form(&[("username", "sc"), ("password", PASSWORD)])
            .unwrap();
        let cookie = r
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        agent
            .get(&format!("{}/search?{query}", self.url()))
            .set("Cookie", &cookie)
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }

    fn add_patient(&self, id: &str) {
        self.run(
            &[
                "patients",
                "add",
                id,
                "--typing",
                TYPING,
                "--population",
                "EUR",
                "--name",
                "Maria Geheimnis",
            ],
            None,
        );
        self.run(&["patients", "set-status", id, "active"], None);
    }

    fn bytes_on_disk(&self) -> Vec<u8> {
        let mut all = Vec::new();
        if self.db.starts_with("postgres") {
            // every row of every table of both schemas, as text
            for schema in ["medulla", "medulla_security"] {
                let c = medulla_registry::db::Connection::postgres(&self.db, schema, 0).unwrap();
                let tables: Vec<String> = c
                    .prepare(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?1",
                    )
                    .unwrap()
                    .query_map([schema], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                for t in tables {
                    let rows: Option<String> = c
                        .query_row(
                            &format!("SELECT string_agg(x::text, '|') FROM {t} x"),
                            [],
                            |r| r.get(0),
                        )
                        .unwrap();
                    all.extend(rows.unwrap_or_default().into_bytes());
                }
            }
            return all;
        }
        for f in std::fs::read_dir(&self.dir.0).unwrap() {
            let p: PathBuf = f.unwrap().path();
            if p.to_string_lossy().contains("registry") {
                all.extend(std::fs::read(&p).unwrap_or_default());
            }
        }
        all
    }
}

/// A connection to a test registry, SQLite or PostgreSQL.
fn connect(db: &str) -> medulla_registry::db::Connection {
    if db.starts_with("postgres") {
        return medulla_registry::db::Connection::postgres(db, "medulla", 0).unwrap();
    }
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    medulla_registry::db::Connection::sqlite(c)
}

/// Wait until `f` holds, at most `limit`; how long it took.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < limit,
            "{what}: not within {} s",
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

/// A TCP relay on 127.0.0.1 in front of a partner: it can hold each answer back for a
/// while (a slow partner) or refuse every connection (a partner unreachable).
struct Relay {
    port: u16,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (delay_ms.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let d = d.clone();
                        std::thread::spawn(move || relay(client, target, &d));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Relay {
            port,
            delay_ms,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay(client: TcpStream, target: u16, delay_ms: &AtomicU64) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    let _ = client.set_nonblocking(false);
    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(std::net::Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server, client);
    let mut buf = [0u8; 16384];
    let mut first = true;
    loop {
        let n = match s_in.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if first {
            // the answer is held back: the partner is slow
            std::thread::sleep(Duration::from_millis(delay_ms.load(Ordering::Relaxed)));
            first = false;
        }
        if c_out.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = c_out.shutdown(std::net::Shutdown::Both);
}

/// Open one `ct` request at `from` for each of `donors` (GRIDs of the partner's donors).
fn open_requests(from: &Registry, patient: &str, donors: &[String]) -> Vec<String> {
    donors
        .iter()
        .map(|g| {
            from.run(
                &[
                    "requests",
                    "open",
                    "--patient",
                    patient,
                    "--donor",
                    g,
                    "--type",
                    "ct",
                ],
                None,
            )
            .trim()
            .to_string()
        })
        .collect()
}

/// What a fault test reports.
fn report(test: &str, sender: &Registry, partner: &str, receiver: &Registry, drain: Duration) {
    let sent = sender.count(&format!(
        "SELECT COUNT(*) FROM exchange_outbox WHERE partner = '{partner}'"
    ));
    let acked = sender.count(&format!(
        "SELECT COUNT(*) FROM exchange_outbox WHERE partner = '{partner}'
            AND state IN ('acked', 'warned', 'denied')"
    ));
    let applied = receiver.count(&format!(
        "SELECT COUNT(*) FROM exchange_inbox WHERE sender = '{}' AND state <> 'held'",
        sender.ion
    ));
    let duplicated = receiver.count(&format!(
        "SELECT CAST(SUM(deliveries - 1) AS BIGINT) FROM exchange_inbox WHERE sender = '{}'",
        sender.ion
    ));
    let lost = sent - applied;
    println!(
        "exchange fault test {test}: sent {sent}, acknowledged {acked}, duplicated {duplicated}, \
         lost {lost}, drained in {:.2} s",
        drain.as_secs_f64()
    );
    assert_eq!(lost, 0, "{test}: messages lost");
    assert_eq!(acked, sent, "{test}: messages not acknowledged");
}

/// The tests of this file run one at a time: each starts three servers, and the timing
/// checks (a deadline kept, a drain time) must not compete with another test's.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Three registries that know each other, servers not started.
fn three(test: &str) -> (Registry, Registry, Registry) {
    let a = Registry::new(test, "A", "1001", 1500, 21);
    let b = Registry::new(test, "B", "1002", 1500, 22);
    let c = Registry::new(test, "C", "1003", 1500, 23);
    for (x, y) in [(&a, &b), (&a, &c), (&b, &a), (&b, &c), (&c, &a), (&c, &b)] {
        x.add_partner(y, &y.url());
    }
    (a, b, c)
}

#[test]
fn requests_cross_to_a_partner_and_results_come_back_without_identity() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (mut a, mut b, _c) = three("rctaparcbwi");
    a.add_patient("P1");
    a.start();
    b.start();
    a.knows("B");
    b.knows("A");

    // a typing request for B's donor, by GRID, goes out through A's outbox
    let grid = b.grids[0].clone();
    let id = open_requests(&a, "P1", std::slice::from_ref(&grid)).remove(0);
    // the rules are checked before sending: a second ct on the same loci is refused
    let o = a.refused(&[
        "requests",
        "open",
        "--patient",
        "P1",
        "--donor",
        &grid,
        "--type",
        "ct",
    ]);
    assert!(o.contains("one-open-request"), "{o}");

    wait_for("B holds A's request", Duration::from_secs(20), || {
        !b.requests().is_empty()
    });
    let there = b.requests();
    assert_eq!(there.len(), 1, "{there:?}");
    let r = &there[0];
    assert_eq!(r["type"], "ct");
    assert_eq!(r["patient"], "P1");
    // B names its donor by its own id, whatever name A used
    assert_eq!(r["donor"], b.ids[0].as_str());
    assert_eq!(r["origin"], "A");
    assert_eq!(r["state"], "open");
    let theirs = r["id"].as_str().unwrap().to_string();
    // B's task list names the partner's patient with its registry
    let tasks = b.json(&["tasks", "--format", "json"]);
    assert!(
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["request"] == theirs.as_str() && t["patient"] == "1001:P1"),
        "{tasks}"
    );
    let shown = b.run(&["requests", "show", &theirs], None);
    assert!(shown.contains("from      partner A"), "{shown}");

    // B's coordinator cannot cancel A's request; A cannot answer it
    let refused = b.refused(&["requests", "cancel", &theirs, "--reason", "no"]);
    assert!(refused.contains("requester-withdraws"), "{refused}");
    let refused = a.refused(&["requests", "acknowledge", &id]);
    assert!(refused.contains("partner-answers"), "{refused}");

    // B answers: acknowledged, then the typing; both travel back to A
    b.run(&["requests", "acknowledge", &theirs], None);
    // A reminds B of the result, once a week at most
    a.run(
        &[
            "requests",
            "remind",
            &id,
            "--note",
            "the patient is waiting",
        ],
        None,
    );
    let again = a.refused(&["requests", "remind", &id]);
    assert!(again.contains("reminder-weekly"), "{again}");
    wait_for("B hears the reminder", Duration::from_secs(20), || {
        b.json(&["requests", "show", &theirs, "--format", "json"])
            .to_string()
            .contains("the patient is waiting")
    });
    let donor = b.json(&["requests", "show", &theirs, "--format", "json"]);
    assert_eq!(donor["donor"], b.ids[0].as_str());
    let typing = "A*24:02+A*29:02^B*54:01+B*27:05^DRB1*08:03+DRB1*11:01";
    b.run(&["requests", "result", &theirs, "--typing", typing], None);
    wait_for("A sees the result", Duration::from_secs(20), || {
        a.json(&["requests", "show", &id, "--format", "json"])["state"] == "resulted"
    });
    let mine = a.json(&["requests", "show", &id, "--format", "json"]);
    assert_eq!(mine["partner"], "B");
    assert!(mine["origin"].is_null());
    let events: Vec<&str> = mine["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"acknowledged") && events.contains(&"result"),
        "{events:?}"
    );
    assert!(
        mine.to_string().contains("A*24:02"),
        "the typing came back: {mine}"
    );

    // B's donor becomes unavailable: A, which holds its result, hears of it
    let until = (chrono::Local::now().date_naive() + chrono::Duration::days(60)).to_string();
    b.run(
        &[
            "donors",
            "set-status",
            &grid,
            "--status",
            "temporarily-unavailable",
            "--reason",
            "travelling",
            "--until",
            &until,
            "--by",
            "dc",
        ],
        None,
    );
    wait_for("A hears of B's donor", Duration::from_secs(20), || {
        a.json(&["requests", "show", &id, "--format", "json"])["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "donor-update")
    });

    // a reservation, then A cancels it: B's donor is reserved, then released
    let res = a
        .run(
            &[
                "requests",
                "open",
                "--patient",
                "P1",
                "--donor",
                &grid,
                "--type",
                "reservation",
                "--expires",
                &(chrono::Local::now().date_naive() + chrono::Duration::days(30)).to_string(),
            ],
            None,
        )
        .trim()
        .to_string();
    let reserved = |b: &Registry| {
        b.count(&format!(
            "SELECT COUNT(*) FROM donors WHERE grid = '{grid}' AND status = 'reserved'"
        ))
    };
    wait_for("B reserves its donor", Duration::from_secs(20), || {
        reserved(&b) == 1
    });
    a.run(
        &[
            "requests",
            "cancel",
            &res,
            "--reason",
            "another donor chosen",
        ],
        None,
    );
    wait_for("B releases its donor", Duration::from_secs(20), || {
        reserved(&b) == 0
    });

    // a request for a GRID B does not hold is denied, and the denial lands in one place
    let unknown = medulla_registry::Grid::new(1002, "NOSUCHDONOR1")
        .unwrap()
        .to_string();
    let denied = open_requests(&a, "P1", std::slice::from_ref(&unknown)).remove(0);
    wait_for("B denies it", Duration::from_secs(20), || {
        a.partner_status("B")["denied"] == 1
    });
    let shown = a.json(&["requests", "show", &denied, "--format", "json"]);
    assert!(
        shown["state"].as_str().unwrap().starts_with("rejected"),
        "{shown}"
    );
    let problems = a.json(&["partners", "problems", "--format", "json"]);
    assert!(
        problems
            .to_string()
            .contains(&format!("{unknown} is not in registry 1002")),
        "{problems}"
    );
    // B's reservation maximum holds for a partner's reservation too
    let too_long = a
        .run(
            &[
                "requests",
                "open",
                "--patient",
                "P1",
                "--donor",
                &grid,
                "--type",
                "reservation",
                "--expires",
                &(chrono::Local::now().date_naive() + chrono::Duration::days(181)).to_string(),
            ],
            None,
        )
        .trim()
        .to_string();
    wait_for(
        "B denies the long reservation",
        Duration::from_secs(20),
        || a.partner_status("B")["denied"] == 2,
    );
    let shown = a.json(&["requests", "show", &too_long, "--format", "json"]);
    assert!(
        shown["state"].as_str().unwrap().starts_with("rejected"),
        "{shown}"
    );
    let problems = a.json(&["partners", "problems", "--format", "json"]);
    assert!(
        problems.to_string().contains("at most 180 days"),
        "{problems}"
    );
    assert_eq!(reserved(&b), 0);

    // reconciliation: both sides agree
    let rec = a.json(&["partners", "reconcile", "--format", "json"]);
    let b_rec = rec["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner"] == "B")
        .unwrap();
    assert!(b_rec["drift"].as_array().unwrap().is_empty(), "{rec}");

    // a patient's name and contact details never leave A
    let on_disk = b.bytes_on_disk();
    assert!(a
        .bytes_on_disk()
        .windows(15)
        .any(|w| w == b"Maria Geheimnis"));
    let secret = "Maria Geheimnis";
    assert!(
        !on_disk
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "B's database holds the patient's name"
    );
    let status = a.partner_status("B");
    assert_eq!(status["outbox_pending"], 0, "{status}");
    assert!(status["last_sent_seq"].as_i64().unwrap() >= 5, "{status}");
    assert!(
        status["last_received_seq"].as_i64().unwrap() >= 2,
        "{status}"
    );
}

#[test]
fn international_search_merges_partners_and_does_not_wait_for_a_slow_one() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (mut a, mut b, mut c) = three("ismpadnwfaso");
    // A reaches C through a relay that can make C slow
    let relay = Relay::start(c.port);
    a.set_partner_url(&c, &relay.url());
    a.start();
    b.start();
    c.start();
    let token = a.token();
    let search = |international: bool| -> (Value, Duration) {
        let t = Instant::now();
        let v: Value = ureq::post(&format!("{}/api/v1/search", a.url()))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(json!({
                "patient": TYPING, "mismatches": 2, "limit": 60, "international": international,
            }))
            .unwrap()
            .into_json()
            .unwrap();
        (v, t.elapsed())
    };
    let (national, _) = search(false);
    let (all, _) = search(true);
    assert!(
        all["partners_unanswered"].as_array().unwrap().is_empty(),
        "{all}"
    );
    assert!(all["total"].as_u64() > national["total"].as_u64());
    let hits = all["hits"].as_array().unwrap();
    let registries: BTreeSet<&str> = hits
        .iter()
        .map(|h| h["registry"].as_str().unwrap())
        .collect();
    assert!(registries.len() >= 2, "{registries:?}");
    for (i, h) in hits.iter().enumerate() {
        let grid = h["grid"].as_str().unwrap();
        assert_eq!(&grid[..4], h["registry"].as_str().unwrap(), "{h}");
        assert_eq!(h["rank"], i + 1);
        assert!(h.get("name").is_none() && h.get("email").is_none());
    }
    let keys: Vec<u64> = hits
        .iter()
        .map(|h| h["rank_key"].as_u64().unwrap())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "one ranking");
    // the coordinators' page: partners' donors by GRID, no link to a record held abroad
    let query = "patient=A*01:01%2BA*02:01%5EB*08:01%2BB*07:02%5EC*07:01%2BC*07:02%5EDRB1*03:01%2BDRB1*15:01%5EDQB1*02:01%2BDQB1*06:02&mismatches=2&limit=60&international=on";
    let page = a.search_page(query);
    assert!(
        page.contains("at partner registry 100"),
        "partners' donors shown"
    );
    assert!(!page.contains("partners-unanswered"));

    // C answers slowly: the search gives up on it after the deadline
    relay.delay_ms.store(3000, Ordering::Relaxed);
    let (slow, took) = search(true);
    assert_eq!(slow["partners_unanswered"], json!(["C"]), "{slow}");
    let page = a.search_page(query);
    assert!(
        page.contains("id=\"partners-unanswered\""),
        "the page names C"
    );
    assert!(took < Duration::from_millis(2500), "waited {took:?}");
    assert!(slow["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["registry"] != "1003"));

    // B down: listed, the search still answers
    relay.delay_ms.store(0, Ordering::Relaxed);
    b.kill();
    let (down, _) = search(true);
    assert_eq!(down["partners_unanswered"], json!(["B"]), "{down}");

    // the command line does the same
    c.kill();
    let out = a.run(
        &[
            "search",
            "--patient",
            TYPING,
            "--mismatches",
            "2",
            "--international",
            "--format",
            "json",
            "--partner-timeout-ms",
            "500",
        ],
        None,
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["partners_unanswered"], json!(["B", "C"]), "{v}");
    assert!(v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["registry"] == "1001"));
}

#[test]
fn a_partner_down_then_back_gets_every_message_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (mut a, mut b, _c) = three("apdtbgemo");
    a.add_patient("P1");
    // B is down while A's coordinators open 40 requests (80 messages with the patient's
    // registrations)
    a.start();
    let grids: Vec<String> = b.grids[..40].to_vec();
    open_requests(&a, "P1", &grids);
    std::thread::sleep(Duration::from_secs(3));
    let waiting = a.partner_status("B");
    assert_eq!(waiting["outbox_pending"], 80, "{waiting}");
    assert!(a.count("SELECT COUNT(*) FROM exchange_outbox WHERE last_error IS NOT NULL") > 0);
    // B comes back: everything arrives, once
    b.start();
    let drain = wait_for("A's outbox drains", Duration::from_secs(60), || {
        a.partner_status("B")["outbox_pending"] == 0
    });
    let there = b.requests();
    assert_eq!(there.len(), 40);
    let donors: BTreeSet<&str> = there.iter().map(|r| r["donor"].as_str().unwrap()).collect();
    assert_eq!(donors, b.ids[..40].iter().map(String::as_str).collect());
    assert_eq!(b.partner_status("A")["last_received_seq"], 80);
    report("partner down", &a, "B", &b, drain);
}

#[test]
fn a_sender_killed_mid_send_and_restarted_loses_and_doubles_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (mut a, mut b, _c) = three("askmsarladn");
    a.add_patient("P1");
    a.set_ion();
    let grids: Vec<String> = b.grids[..150].to_vec();
    open_requests(&a, "P1", &grids);
    b.start();
    // small batches answered after 30 ms, so that the kill lands in the middle
    let relay = Relay::start(b.port);
    relay.delay_ms.store(30, Ordering::Relaxed);
    a.set_partner_url(&b, &relay.url());
    a.start_with(&["--delivery-batch", "5"]);
    wait_for("some messages arrive", Duration::from_secs(30), || {
        b.count("SELECT COUNT(*) FROM exchange_inbox") >= 20
    });
    a.kill();
    let at_kill = b.count("SELECT COUNT(*) FROM exchange_inbox");
    assert!(
        at_kill < 300,
        "the kill came too late to test anything ({at_kill})"
    );
    a.start_with(&["--delivery-batch", "5"]);
    let drain = wait_for("A's outbox drains", Duration::from_secs(90), || {
        a.partner_status("B")["outbox_pending"] == 0
    });
    let there = b.requests();
    assert_eq!(there.len(), 150);
    let refs: BTreeSet<String> = there
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refs.len(), 150);
    report("sender killed", &a, "B", &b, drain);
}

/// The partner key B issued to C, read back from C's registry.
fn key_of(c: &Registry, partner: &str) -> String {
    connect(&c.db)
        .query_row(
            "SELECT api_key FROM exchange_partners WHERE name = ?1",
            [partner],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn duplicates_and_messages_out_of_order_are_applied_once_in_order() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (a, mut b, mut c) = three("damoooaaoio");
    b.start();
    c.start();
    b.knows("C");
    // C's own messages to B, written by hand: a patient, a request, its cancellation
    let key = key_of(&c, "B");
    let grid = b.grids[3].clone();
    let msg = |seq: i64, id: &str, kind: &str, body: Value| {
        json!({
            "id": id, "sender": "1003", "seq": seq, "reference": "1003-R000001",
            "sent_at": "2026-12-01T10:00:00", "kind": kind, "body": body,
        })
    };
    let patient = msg(
        1,
        "00000000-0000-4000-8000-000000000001",
        "patient",
        json!({"patient": "PX", "hla": TYPING, "birth_date": null, "sex": null, "abo": null,
               "cmv": null, "weight_kg": null, "diagnosis": "AML", "urgency": null,
               "population": "EUR", "status": "active"}),
    );
    let request = msg(
        2,
        "00000000-0000-4000-8000-000000000002",
        "request",
        json!({"patient": "PX", "donor": grid, "type": "ct", "loci": ["A", "B", "DRB1"],
               "expires": null, "opened": "2026-12-01", "note": ""}),
    );
    let cancel = msg(
        3,
        "00000000-0000-4000-8000-000000000003",
        "cancellation",
        json!({"reason": "patient transplanted elsewhere"}),
    );
    let send = |messages: Vec<Value>| -> Value {
        ureq::post(&format!("{}/api/v1/exchange/messages", b.url()))
            .set("Authorization", &format!("Bearer {key}"))
            .send_json(json!({ "messages": messages }))
            .unwrap()
            .into_json()
            .unwrap()
    };
    // the cancellation first: stored and held, the gap named
    let v = send(vec![cancel.clone()]);
    assert_eq!(v["answers"][0]["verdict"], "held", "{v}");
    assert_eq!(v["missing"], json!({"from": 1, "to": 2}), "{v}");
    assert!(b.requests().is_empty());
    // the request next, still a gap before it
    let v = send(vec![request.clone()]);
    assert_eq!(v["answers"][0]["verdict"], "held", "{v}");
    assert_eq!(v["missing"], json!({"from": 1, "to": 1}), "{v}");
    // the patient, twice in one batch: everything applies, in order, once
    let v = send(vec![patient.clone(), patient.clone()]);
    assert_eq!(v["answers"][0]["verdict"], "ack", "{v}");
    assert_eq!(v["answers"][1]["verdict"], "ack", "{v}");
    assert_eq!(v["last_applied"], 3, "{v}");
    assert!(v["missing"].is_null());
    let there = b.requests();
    assert_eq!(there.len(), 1, "{there:?}");
    assert!(
        there[0]["state"].as_str().unwrap().starts_with("cancelled"),
        "{there:?}"
    );
    // every message again: acknowledged, nothing applied twice
    let v = send(vec![patient, request, cancel]);
    assert!(
        v["answers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["verdict"] == "ack"),
        "{v}"
    );
    assert_eq!(b.requests().len(), 1);
    let events = b.json(&[
        "requests",
        "show",
        there[0]["id"].as_str().unwrap(),
        "--format",
        "json",
    ])["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(events, 2, "opened and cancelled, once each");
    // a sequence number reused by another message is denied
    let v = send(vec![msg(
        2,
        "00000000-0000-4000-8000-000000000099",
        "text",
        json!({"text": "hello"}),
    )]);
    assert_eq!(v["answers"][0]["verdict"], "deny", "{v}");
    // another partner's key cannot speak for C: denied, by the rule's name
    let bad: Value = ureq::post(&format!("{}/api/v1/exchange/messages", b.url()))
        .set("Authorization", &format!("Bearer {}", key_of(&a, "B")))
        .send_json(json!({ "messages": [msg(4, "00000000-0000-4000-8000-000000000004", "text", json!({"text": "x"}))] }))
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(bad["answers"][0]["verdict"], "deny", "{bad}");
    assert!(
        bad["answers"][0]["remark"]
            .as_str()
            .unwrap()
            .contains("[sender-ion]"),
        "{bad}"
    );
    let duplicated = b.count(
        "SELECT CAST(SUM(deliveries - 1) AS BIGINT) FROM exchange_inbox WHERE sender = '1003'",
    );
    println!(
        "exchange fault test duplicates and order: sent 3 (+1 reused number), applied 3, \
         duplicated {duplicated}, lost 0"
    );
    assert_eq!(duplicated, 4);
}

#[test]
fn a_slow_partner_gets_every_message_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (mut a, mut b, _c) = three("aspgemo");
    let relay = Relay::start(b.port);
    a.set_partner_url(&b, &relay.url());
    relay.delay_ms.store(1500, Ordering::Relaxed);
    a.add_patient("P1");
    a.set_ion();
    open_requests(&a, "P1", &b.grids[..20]);
    b.start();
    // answers that come after the sender's deadline are sent again; the receiver
    // acknowledges the duplicates without applying them twice
    a.start_with(&["--delivery-timeout-ms", "1000", "--delivery-batch", "10"]);
    std::thread::sleep(Duration::from_secs(4));
    relay.delay_ms.store(300, Ordering::Relaxed);
    let drain = wait_for("A's outbox drains", Duration::from_secs(60), || {
        a.partner_status("B")["outbox_pending"] == 0
    });
    assert_eq!(b.requests().len(), 20);
    report("slow partner", &a, "B", &b, drain);
}

#[test]
fn a_partner_that_sends_before_it_is_registered_is_answered_once_it_is() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // A knows B; B has only issued A a key
    let mut a = Registry::new("apsbr", "A", "1001", 300, 41);
    let mut b = Registry::new("apsbr", "B", "1002", 300, 42);
    let key = b
        .run(
            &["users", "add", "A", "--role", "partner", "--ion", "1001"],
            None,
        )
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    a.run(
        &["partners", "add", "B", "--url", &b.url(), "--key", &key],
        None,
    );
    a.add_patient("P1");
    a.start();
    b.start();
    let id = open_requests(&a, "P1", &b.grids[..1]).remove(0);
    wait_for("B holds A's request", Duration::from_secs(20), || {
        !b.requests().is_empty()
    });
    // the origin is the name of A's account here
    let theirs = b.requests()[0].clone();
    assert_eq!(theirs["origin"], "A", "{theirs}");
    let theirs = theirs["id"].as_str().unwrap().to_string();
    b.run(&["requests", "acknowledge", &theirs], None);
    assert_eq!(b.partner_status("A")["outbox_pending"], 1);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        b.partner_status("A")["outbox_pending"],
        1,
        "waits: no URL yet"
    );
    // B registers A: the acknowledgement goes out
    let back = a
        .run(
            &["users", "add", "B", "--role", "partner", "--ion", "1002"],
            None,
        )
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    b.run(
        &["partners", "add", "A", "--url", &a.url(), "--key", &back],
        None,
    );
    wait_for(
        "A sees the acknowledgement",
        Duration::from_secs(20),
        || a.json(&["requests", "show", &id, "--format", "json"])["state"] == "acknowledged",
    );
    assert_eq!(b.partner_status("A")["outbox_pending"], 0);
}
