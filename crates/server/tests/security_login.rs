//! Attacks on logging in, each against a real server over real sockets on 127.0.0.1
//! (issue 25, items 4 and 5): user-name enumeration by timing, another address keeping
//! the right password out, weak passwords, open redirects after login, a partner's key
//! as a web session, sessions without idle or absolute end, the session cookie's
//! attributes and cross-site arrivals, TOTP (required once enabled, required by role,
//! never the same code twice, RFC 6238's vectors).
//!
//! Addresses other than 127.0.0.1 appear only in `X-Forwarded-For` headers sent to the
//! local server (which trusts its loopback proxy only when a test says so): no traffic
//! goes anywhere else.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use medulla_app::accounts;
use medulla_app::freqs::{FreqSource, Frequencies};
use medulla_app::service::AuthPolicy;
use medulla_app::{Role, Service};
use medulla_nomenclature::{MacTable, Reducer, Release};
use medulla_server::WebConfig;
use serde_json::{json, Value};

const PASSWORD: &str = "a long enough password";
const DONORS: &str = "id,registry,donor_type,birth_date,sex,gl\n\
    D-1,TEST,adult,1990-01-01,M,\"A*01:01+A*02:01^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01\"\n";

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

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    base: String,
    db: std::path::PathBuf,
    partner_key: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: TempDir,
}

/// A service on a fresh registry (SQLite, or a new PostgreSQL database with
/// `MEDULLA_TEST_BACKEND=postgres`), an account of each staff role (user name = role
/// name, [`PASSWORD`]) and a partner, served on a free port of 127.0.0.1.
fn start(name: &str, policy: AuthPolicy, web: WebConfig) -> Server {
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
    {
        let mut store = medulla_registry::Store::open(&db).unwrap();
        let opts = medulla_registry::ImportOptions {
            validate_first: false,
            file_name: "initial",
            strict: true,
            by: "test",
            at: chrono::Local::now().naive_local(),
            before_commit: None,
            delimiter: None,
        };
        medulla_registry::import_csv(DONORS.as_bytes(), &mut store, reducer, &opts, |_| {})
            .unwrap();
    }
    for role in Role::ALL {
        if role != Role::Partner {
            accounts::add_user(&db, role.name(), role, Some(PASSWORD)).unwrap();
        }
    }
    let partner_key = accounts::add_account(&db, "partner", Role::Partner, None, Some("1009"))
        .unwrap()
        .unwrap();
    let mut service = Service::open(&db, reducer, freqs, None, |_| {}).unwrap();
    service.set_auth_policy(policy);
    let service = Arc::new(service);
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
    std::thread::spawn(move || {
        rt.block_on(medulla_server::serve_with(service, listener, web, async {
            let _ = rx.await;
        }))
        .unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        db,
        partner_key,
        _stop: tx,
        _dir: TempDir(dir),
    }
}

/// A server behind a (pretend) reverse proxy on loopback: `X-Forwarded-For` names the
/// client.
fn behind_proxy(name: &str, policy: AuthPolicy) -> Server {
    start(
        name,
        policy,
        WebConfig {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..WebConfig::default()
        },
    )
}

/// An agent that does not follow redirects (the tests look at them).
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).build()
}

fn answer(res: Result<ureq::Response, ureq::Error>) -> ureq::Response {
    match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    }
}

impl Server {
    /// `POST /api/v1/login` from `from` (sent as `X-Forwarded-For` when given).
    fn api_login(&self, body: Value, from: Option<&str>) -> (u16, Value) {
        let mut req = agent().post(&format!("{}/api/v1/login", self.base));
        if let Some(ip) = from {
            req = req.set("X-Forwarded-For", ip);
        }
        let res = answer(req.send_json(body));
        let status = res.status();
        let text = res.into_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn login(&self, user: &str, password: &str, from: Option<&str>) -> (u16, Value) {
        self.api_login(json!({"username": user, "password": password}), from)
    }

    fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let res = answer(
            agent()
                .get(&format!("{}{path}", self.base))
                .set("Authorization", &format!("Bearer {token}"))
                .call(),
        );
        let status = res.status();
        let text = res.into_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The web login form posted (no form token: a same-origin request without one).
    fn web_login(&self, form: &[(&str, &str)]) -> ureq::Response {
        answer(
            agent()
                .post(&format!("{}/login", self.base))
                .send_form(form),
        )
    }

    /// A web session's cookie value, logging in through the form.
    fn web_session(&self, user: &str) -> String {
        let res = self.web_login(&[("username", user), ("password", PASSWORD)]);
        assert_eq!(res.status(), 303);
        session_of(&res).expect("a session cookie")
    }

    fn page(&self, path: &str, cookie: Option<&str>, extra: &[(&str, &str)]) -> ureq::Response {
        let mut req = agent().get(&format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.set("Cookie", &format!("medulla_session={c}"));
        }
        for (k, v) in extra {
            req = req.set(k, v);
        }
        answer(req.call())
    }

    fn audit_actions(&self) -> Vec<(String, String)> {
        let admin = self.login("auditor", PASSWORD, None).1["token"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, v) = self.get("/api/v1/audit?limit=1000", &admin);
        assert_eq!(s, 200, "{v}");
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_string(),
                    e["subject"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

fn set_cookies(res: &ureq::Response) -> Vec<String> {
    res.all("set-cookie")
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn session_of(res: &ureq::Response) -> Option<String> {
    set_cookies(res).into_iter().find_map(|c| {
        c.strip_prefix("medulla_session=")
            .map(|v| v.split(';').next().unwrap_or("").to_string())
            .filter(|v| !v.is_empty())
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn totp_secret(uri: &str) -> Vec<u8> {
    assert!(uri.starts_with("otpauth://totp/Medulla%3A"), "{uri}");
    assert!(uri.contains("issuer=Medulla"), "{uri}");
    let secret = uri
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap();
    medulla_app::totp::base32_decode(secret).unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A login for an unknown user name takes as long as one for a known name with a wrong
/// password (the argon2 work is the same): names cannot be told apart by timing.
#[test]
fn unknown_and_known_user_names_take_the_same_time() {
    let s = behind_proxy("timing", AuthPolicy::default());
    let known = [
        "admin",
        "search-coordinator",
        "donor-coordinator",
        "auditor",
    ];
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for i in 0..20 {
        // each attempt from its own address: no throttling in the way
        let from_k = format!("198.51.100.{}", 2 * i + 1);
        let from_u = format!("198.51.100.{}", 2 * i + 2);
        let t = Instant::now();
        let (st, _) = s.login(known[i % 4], "not the password", Some(&from_k));
        k.push(t.elapsed().as_secs_f64());
        assert_eq!(st, 401);
        let t = Instant::now();
        let (st, v) = s.login(&format!("nobody-{i}"), "not the password", Some(&from_u));
        u.push(t.elapsed().as_secs_f64());
        assert_eq!(st, 401);
        assert_eq!(v["error"]["message"], "wrong user name or password");
    }
    let (mk, mu) = (median(k), median(u));
    eprintln!(
        "median login: known {:.2} ms, unknown {:.2} ms",
        mk * 1e3,
        mu * 1e3
    );
    assert!(mu >= 0.5 * mk, "unknown {mu:.4} s against known {mk:.4} s");
    assert!(mk >= 0.5 * mu, "known {mk:.4} s against unknown {mu:.4} s");
}

/// An attacker failing 50 times from address A waits; the coordinator's right password
/// from address B still logs in at once. Without a trusted proxy, `X-Forwarded-For` is
/// not believed: an attacker cannot escape its own address's throttling with it.
#[test]
fn another_address_cannot_keep_the_right_password_out() {
    let s = behind_proxy("lockout", AuthPolicy::default());
    let (a, b) = ("203.0.113.7", "203.0.113.8");
    let mut refused = 0;
    for _ in 0..50 {
        let (st, _) = s.login("search-coordinator", "guess guess guess", Some(a));
        assert!(st == 401 || st == 429, "{st}");
        refused += usize::from(st == 429);
    }
    assert!(refused >= 40, "A is slowed down: {refused} of 50 refused");
    // A itself waits, even with the right password
    let (st, v) = s.login("search-coordinator", PASSWORD, Some(a));
    assert_eq!(st, 429, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("try again in"));
    // B is not held by A's failures
    let (st, v) = s.login("search-coordinator", PASSWORD, Some(b));
    assert_eq!(st, 200, "the right password from B: {v}");
    // nor a third address that never failed
    let (st, v) = s.login("search-coordinator", PASSWORD, Some("203.0.113.9"));
    assert_eq!(st, 200, "{v}");

    // no trusted proxy: the header is ignored, the socket's address counts
    let plain = start("lockout-plain", AuthPolicy::default(), WebConfig::default());
    let mut last = 0;
    for i in 0..8 {
        // a different (unknown) name each time: only the address can slow this down
        let (st, _) = plain.login(
            &format!("guess-{i}"),
            "guess guess guess",
            Some(&format!("192.0.2.{}", i + 1)),
        );
        last = st;
    }
    assert_eq!(last, 429, "X-Forwarded-For must not be believed by default");
}

/// Passwords of twelve spaces, one repeated letter, a common password or the user name
/// are refused, naming the field and the reason.
#[test]
fn weak_passwords_are_refused() {
    let s = start("weak", AuthPolicy::default(), WebConfig::default());
    for (name, weak) in [
        ("p1", "            "),
        ("p2", "aaaaaaaaaaaa"),
        ("coordinator-x", "coordinator-x"),
        ("p4", "password1234"),
        ("p5", "123456789012"),
        ("p6", "short"),
    ] {
        match accounts::add_user(&s.db, name, Role::SearchCoordinator, Some(weak)) {
            Err(medulla_app::AppError::Invalid { field, reason }) => {
                assert_eq!(field, "password", "{weak:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("{weak:?} for {name}: {other:?}"),
        }
        // and nothing was stored (401, or 429 once this address has failed often)
        let (st, _) = s.login(name, weak, None);
        assert!(st == 401 || st == 429, "{name}: {st}");
    }
    accounts::add_user(
        &s.db,
        "strong",
        Role::SearchCoordinator,
        Some("plum tractor whistle lagoon"),
    )
    .unwrap();
}

/// `next` after a login is followed only to a path of this site.
#[test]
fn open_redirects_after_login_are_refused() {
    let s = start("redirect", AuthPolicy::default(), WebConfig::default());
    for bad in [
        "/\t/evil.example/",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/\u{0}/evil.example",
        "/ /evil.example",
    ] {
        let res = s.web_login(&[("username", "admin"), ("password", PASSWORD), ("next", bad)]);
        assert_eq!(res.status(), 303, "{bad:?}");
        assert_eq!(res.header("location"), Some("/"), "{bad:?}");
    }
    // the form itself never carries one
    let form = s
        .page("/login?next=/%09/evil.example/", None, &[])
        .into_string()
        .unwrap();
    assert!(form.contains(r#"name="next" value="/""#), "{form}");
    // a path of this site is followed
    let res = s.web_login(&[
        ("username", "admin"),
        ("password", PASSWORD),
        ("next", "/patients?status=active"),
    ]);
    assert_eq!(res.header("location"), Some("/patients?status=active"));
}

/// A partner's API key opens no web page: not as the session cookie, not as a bearer
/// token (it still works on the API it is for).
#[test]
fn a_partner_key_is_not_a_web_session() {
    let s = start("partner", AuthPolicy::default(), WebConfig::default());
    let key = s.partner_key.clone();
    for path in ["/", "/search", "/patients", "/account/mfa"] {
        let res = s.page(path, Some(&key), &[]);
        assert_eq!(res.status(), 303, "{path} with the key as the cookie");
        assert!(res.header("location").unwrap().starts_with("/login"));
        let res = s.page(path, None, &[("Authorization", &format!("Bearer {key}"))]);
        assert_eq!(res.status(), 303, "{path} with the key as a bearer token");
    }
    // a staff session does open them
    let cookie = s.web_session("admin");
    assert_eq!(s.page("/", Some(&cookie), &[]).status(), 200);
}

/// A session ends after the idle time without use, and after the absolute time however
/// used.
#[test]
fn sessions_end_after_idle_and_absolute_time() {
    let policy = AuthPolicy {
        session_idle: Duration::from_secs(2),
        session_absolute: Duration::from_secs(5),
        ..AuthPolicy::default()
    };
    let s = start("expiry", policy, WebConfig::default());
    let path = "/api/v1/audit?limit=1";
    // idle: unused for longer than 2 s
    let (_, v) = s.login("admin", PASSWORD, None);
    let idle = v["token"].as_str().unwrap().to_string();
    assert_eq!(s.get(path, &idle).0, 200);
    std::thread::sleep(Duration::from_millis(3200));
    let (st, v) = s.get(path, &idle);
    assert_eq!(st, 401, "idle: {v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("idle"),
        "{v}"
    );
    // in use every second: alive until the absolute time, then ended
    let (_, v) = s.login("admin", PASSWORD, None);
    let used = v["token"].as_str().unwrap().to_string();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3500) {
        assert_eq!(s.get(path, &used).0, 200, "used within the idle time");
        std::thread::sleep(Duration::from_millis(700));
    }
    while started.elapsed() < Duration::from_millis(6500) {
        std::thread::sleep(Duration::from_millis(700));
        let _ = s.get(path, &used);
    }
    let (st, v) = s.get(path, &used);
    assert_eq!(st, 401, "past the absolute time: {v}");
    // the web cookie lasts no longer than the absolute time
    let res = s.web_login(&[("username", "admin"), ("password", PASSWORD)]);
    assert!(
        set_cookies(&res).iter().any(|c| c.contains("Max-Age=5")),
        "{:?}",
        set_cookies(&res)
    );
}

/// The session cookie is HttpOnly and SameSite=Lax (`Secure` when the service is
/// reached over TLS); a link from another site arrives with the session and keeps it; a
/// state-changing form still needs its CSRF token.
#[test]
fn the_session_cookie_is_lax_and_a_cross_site_arrival_keeps_it() {
    let s = start("cookie", AuthPolicy::default(), WebConfig::default());
    let res = s.web_login(&[("username", "admin"), ("password", PASSWORD)]);
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("medulla_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let token = session_of(&res).unwrap();
    // a link from webmail: a top-level GET from another site, with the (Lax) cookie
    let cross = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Referer", "https://webmail.example/inbox"),
    ];
    let res = s.page("/patients", Some(&token), &cross);
    assert_eq!(res.status(), 200);
    assert!(set_cookies(&res).is_empty(), "the session is kept");
    // a cross-site request without the cookie (what a POST from elsewhere is) does not
    // end the browser's session either
    let res = s.page("/patients", None, &cross);
    assert_eq!(res.status(), 303);
    assert!(
        !set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("medulla_session=")),
        "{:?}",
        set_cookies(&res)
    );
    assert_eq!(
        s.page("/", Some(&token), &[]).status(),
        200,
        "still logged in"
    );
    // CSRF stays enforced on forms that change something
    let res = answer(
        agent()
            .post(&format!("{}/logout", s.base))
            .set("Cookie", &format!("medulla_session={token}"))
            .send_form(&[("csrf", "forged")]),
    );
    assert_eq!(res.status(), 403);
    assert_eq!(
        s.page("/", Some(&token), &[]).status(),
        200,
        "not logged out"
    );
    // over TLS the cookie is Secure
    let tls = start(
        "cookie-tls",
        AuthPolicy::default(),
        WebConfig {
            secure_cookies: true,
            ..WebConfig::default()
        },
    );
    let res = tls.web_login(&[("username", "admin"), ("password", PASSWORD)]);
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("medulla_session="))
        .unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

/// Once MFA is enabled (`medulla users mfa enable`), a login needs the current code,
/// through the API and the web form; a code is never taken twice; enabling and
/// disabling are audited.
#[test]
fn totp_is_required_once_enabled_and_a_code_is_not_reusable() {
    let s = start("totp", AuthPolicy::default(), WebConfig::default());
    let uri = accounts::mfa_enable(&s.db, "donor-coordinator").unwrap();
    let key = totp_secret(&uri);
    // enabled twice: refused (the secret stays)
    assert!(accounts::mfa_enable(&s.db, "donor-coordinator").is_err());
    // the password alone: asked for the code
    let (st, v) = s.login("donor-coordinator", PASSWORD, None);
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error"]["code"], "mfa_required", "{v}");
    // a wrong code
    let now = medulla_app::totp::code_at(&key, unix_now(), 6);
    let wrong = if now == "000000" { "000001" } else { "000000" };
    let body =
        |code: &str| json!({"username": "donor-coordinator", "password": PASSWORD, "totp": code});
    let (st, _) = s.api_login(body(wrong), None);
    assert_eq!(st, 401);
    // the wrong password with the right code
    let (st, _) = s.api_login(
        json!({"username": "donor-coordinator", "password": "not the password", "totp": now}),
        None,
    );
    assert_eq!(st, 401);
    // the right code
    let (st, v) = s.api_login(body(&now), None);
    assert_eq!(st, 200, "{v}");
    // the same code again: refused
    let (st, v) = s.api_login(body(&now), None);
    assert_eq!(st, 401, "a code is never accepted twice: {v}");
    // the web form has the field `totp`; the next step's code (within the drift) works
    let next = medulla_app::totp::code_at(&key, unix_now() + 30, 6);
    let res = s.web_login(&[
        ("username", "donor-coordinator"),
        ("password", PASSWORD),
        ("totp", &next),
    ]);
    assert_eq!(res.status(), 303);
    assert!(session_of(&res).is_some());
    let res = s.web_login(&[("username", "donor-coordinator"), ("password", PASSWORD)]);
    assert_eq!(res.status(), 401);
    assert!(res.into_string().unwrap().contains("one-time code"));
    // disabled by an administrator: the password alone again
    accounts::mfa_disable(&s.db, "donor-coordinator").unwrap();
    let (st, v) = s.login("donor-coordinator", PASSWORD, None);
    assert_eq!(st, 200, "{v}");
    let actions = s.audit_actions();
    for a in ["mfa-enabled", "mfa-disabled"] {
        assert!(
            actions
                .iter()
                .any(|(x, subj)| x == a && subj == "donor-coordinator"),
            "{a}: {actions:?}"
        );
    }
    // the secret is in no audit entry
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert!(!format!("{actions:?}").contains(secret));
}

/// `--require-mfa admin`: an administrator without MFA cannot log in and is told how
/// to enable it; other roles are not affected; with MFA enabled the login works.
#[test]
fn totp_is_required_by_role() {
    let policy = AuthPolicy {
        require_mfa: vec![Role::Admin],
        ..AuthPolicy::default()
    };
    let s = start("require", policy, WebConfig::default());
    let (st, v) = s.login("admin", PASSWORD, None);
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"]["code"], "mfa_not_enabled");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("medulla users mfa enable admin"),
        "{v}"
    );
    // a wrong password says nothing of MFA
    let (st, v) = s.login("admin", "not the password", None);
    assert_eq!(st, 401, "{v}");
    let res = s.web_login(&[("username", "admin"), ("password", PASSWORD)]);
    assert_eq!(res.status(), 403);
    assert!(res.into_string().unwrap().contains("mfa enable admin"));
    let (st, _) = s.login("auditor", PASSWORD, None);
    assert_eq!(st, 200, "a role without the requirement");
    let key = totp_secret(&accounts::mfa_enable(&s.db, "admin").unwrap());
    let code = medulla_app::totp::code_at(&key, unix_now(), 6);
    let (st, v) = s.api_login(
        json!({"username": "admin", "password": PASSWORD, "totp": code}),
        None,
    );
    assert_eq!(st, 200, "{v}");
}

/// A logged-in user enrols on `/account/mfa`: a QR code (SVG) of the secret, enabled
/// only with the password and a current code; from then on the login needs a code.
#[test]
fn a_user_enrols_for_mfa_on_the_web_page() {
    let s = start("enrol", AuthPolicy::default(), WebConfig::default());
    let cookie = s.web_session("search-coordinator");
    let page = s
        .page("/account/mfa", Some(&cookie), &[])
        .into_string()
        .unwrap();
    assert!(page.contains("data:image/svg+xml;base64,"), "a QR code");
    let secret = page
        .split(r#"name="secret" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let key = medulla_app::totp::base32_decode(&secret).unwrap();
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let code = medulla_app::totp::code_at(&key, unix_now(), 6);
    let post = |form: &[(&str, &str)]| {
        answer(
            agent()
                .post(&format!("{}/account/mfa", s.base))
                .set("Cookie", &format!("medulla_session={cookie}"))
                .send_form(form),
        )
    };
    // no CSRF token, or the wrong password: refused
    assert_eq!(
        post(&[
            ("csrf", "x"),
            ("secret", &secret),
            ("password", PASSWORD),
            ("totp", &code)
        ])
        .status(),
        403
    );
    assert_eq!(
        post(&[
            ("csrf", &csrf),
            ("secret", &secret),
            ("password", "wrong one"),
            ("totp", &code)
        ])
        .status(),
        400
    );
    let res = post(&[
        ("csrf", &csrf),
        ("secret", &secret),
        ("password", PASSWORD),
        ("totp", &code),
    ]);
    assert_eq!(res.status(), 200);
    assert!(res.into_string().unwrap().contains("Enabled"));
    let (st, v) = s.login("search-coordinator", PASSWORD, None);
    assert_eq!(st, 401);
    assert_eq!(v["error"]["code"], "mfa_required");
    // the code used to enrol does not log in as well
    let (st, _) = s.api_login(
        json!({"username": "search-coordinator", "password": PASSWORD, "totp": code}),
        None,
    );
    assert_eq!(st, 401);
}

/// RFC 6238, Appendix B: the SHA-1 test vectors (8 digits; the 6-digit codes are their
/// last six).
#[test]
fn rfc_6238_test_vectors() {
    let key = b"12345678901234567890";
    for (t, code) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(medulla_app::totp::code_at(key, t, 8), code, "T = {t}");
        assert_eq!(medulla_app::totp::code_at(key, t, 6), code[2..], "T = {t}");
    }
}
