//! The coordinators' web application end to end, in real headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`), against a real `medulla serve`
//! on 127.0.0.1: logging in (keyboard only), a search and its table, sorting and CSV,
//! identity by role, a workup step that moves the deadlines, overdue tasks, every page's
//! labels, error pages in words. Each check saves a screenshot under
//! `target/screenshots/` (and under `$MEDULLA_SCREENSHOTS_DIR` when set: `scripts/screenshots`
//! regenerates `docs/screenshots/` this way).
//!
//! Without a browser the tests say so and pass, unless `MEDULLA_REQUIRE_BROWSER` is set
//! (`.ci/run` installs the browser and sets it, so CI always runs them).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Local};
use common::{on_db, text, TempDir};
use medulla_web::webdriver::{keys, Browser, Driver};

const TYPING: &str =
    "A*01:01+A*02:01^B*08:01+B*07:02^C*07:01+C*07:02^DRB1*03:01+DRB1*15:01^DQB1*02:01+DQB1*06:02";

/// The likelihood page at 8/8 for three sizes of a modelled registry.
const LIKELIHOOD: &str = "/likelihood?run=1&levels=8%2F8&sizes=100000%2C1000000%2C10000000&mix=EUR%3D0.6%2CHIS%3D0.2%2CAFA%3D0.1%2CAPI%3D0.1";

fn password(role: &str) -> String {
    format!("{role} has a long password")
}

/// A registry with synthetic donors, a donor with identity, an active patient, a
/// workup whose consent was recorded 20 days ago (two tasks overdue), users of every
/// role, served by `medulla serve` on a free port of 127.0.0.1.
struct Site {
    /// The registry's folder, removed when the site is dropped.
    _dir: TempDir,
    server: Child,
    base: String,
    request: String,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Site {
    fn run(db: &str, args: &[&str], stdin: Option<&str>) -> String {
        let o = on_db(db, args, stdin);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn start(name: &str) -> Site {
        let dir = TempDir::new(&format!("web-{name}"));
        let db = dir.db("registry.db");
        let pool = dir.path("pool.csv");
        Site::run(
            &db,
            &["synth", "--donors", "3000", "--seed", "11", "--out", &pool],
            None,
        );
        Site::run(&db, &["donors", "import", &pool], None);
        let ids = dir.file(
            "identity.csv",
            &format!(
                "id,registry,donor_type,birth_date,sex,abo,cmv,population,name,email,phone,gl\n\
                 NL-1,MEDULLA,adult,1990-01-01,M,O,neg,EUR,Jan Peeters,jan@example.org,+32 470 00 00 01,\"{TYPING}\"\n\
                 NL-2,MEDULLA,adult,1991-01-01,F,A,pos,EUR,Els Claes,els@example.org,+32 470 00 00 02,\"{TYPING}\"\n"
            ),
        );
        Site::run(&db, &["donors", "import", &ids], None);
        Site::run(
            &db,
            &[
                "patients",
                "add",
                "P-1001",
                "--typing",
                TYPING,
                "--weight",
                "70",
                "--abo",
                "O",
                "--cmv",
                "neg",
                "--urgency",
                "4-6w",
                "--population",
                "EUR",
                "--diagnosis",
                "AML",
            ],
            None,
        );
        Site::run(&db, &["patients", "set-status", "P-1001", "active"], None);
        let request = Site::run(
            &db,
            &[
                "requests",
                "open",
                "--patient",
                "P-1001",
                // a workup holds its donor: NL-2, so that NL-1 stays in the searches
                "--donor",
                "NL-2",
                "--type",
                "workup",
            ],
            None,
        )
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string();
        let consent = (Local::now().date_naive() - Days::days(20)).to_string();
        Site::run(
            &db,
            &[
                "workup",
                "record",
                "--request",
                &request,
                "--step",
                "consent",
                "--date",
                &consent,
            ],
            None,
        );
        for role in [
            "admin",
            "search-coordinator",
            "donor-coordinator",
            "auditor",
        ] {
            Site::run(
                &db,
                &["users", "add", role, "--role", role],
                Some(&format!("{}\n", password(role))),
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let server = Command::new(env!("CARGO_BIN_EXE_medulla"))
            .args(["serve", "--listen", &listen])
            .env("MEDULLA_QUIET", "1")
            .env("MEDULLA_DB", &db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://{listen}");
        let started = Instant::now();
        while ureq::get(&format!("{base}/api/v1/health")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Site {
            _dir: dir,
            server,
            base,
            request,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The browser, or `None` (and the reason printed) where none is installed and CI does
/// not require one.
fn driver() -> Option<Driver> {
    if !medulla_web::webdriver::available() {
        assert!(
            std::env::var_os("MEDULLA_REQUIRE_BROWSER").is_none(),
            "MEDULLA_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!(
            "skipped: no chromium and chromedriver here (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    Some(Driver::start().expect("chromedriver starts"))
}

/// Save a screenshot under target/screenshots (and $MEDULLA_SCREENSHOTS_DIR).
fn shot(b: &Browser, name: &str) {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    b.screenshot(&target.join(format!("{name}.png"))).unwrap();
    if let Some(dir) = std::env::var_os("MEDULLA_SCREENSHOTS_DIR") {
        b.screenshot(&PathBuf::from(dir).join(format!("{name}.png")))
            .unwrap();
    }
}

/// Log in through the form with the mouse.
fn login(b: &Browser, site: &Site, role: &str) {
    b.goto(&site.url("/login")).unwrap();
    let user = b.find("#username").unwrap();
    b.clear(&user).unwrap();
    b.send_keys(&user, role).unwrap();
    b.send_keys(&b.find("#password").unwrap(), &password(role))
        .unwrap();
    b.click_to_page(&b.find("#login").unwrap()).unwrap();
    b.wait_for("header.top .who", Duration::from_secs(10))
        .unwrap();
}

/// Wait for `css`, or fail with where the browser is and what the page says.
fn expect(b: &Browser, css: &str, seconds: u64) -> medulla_web::webdriver::Element {
    b.wait_for(css, Duration::from_secs(seconds))
        .unwrap_or_else(|e| {
            let body = b.text_of("body").unwrap_or_default();
            panic!("{css} not on {}: {e}\n{body}", b.url().unwrap_or_default())
        })
}

/// The text of `css` once it is there.
fn text_at(b: &Browser, css: &str) -> String {
    let e = expect(b, css, 30);
    b.text(&e).unwrap()
}

/// Inputs without a label (or aria-label) on the current page.
fn unlabelled(b: &Browser) -> Vec<String> {
    let v = b
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))\
             .map(e => e.name || e.id);",
        )
        .unwrap();
    serde_json::from_value(v).unwrap_or_default()
}

/// Tab from the top of the page until the element with `id` has the focus.
fn tab_to(b: &Browser, id: &str) {
    for _ in 0..80 {
        let active = b.active().unwrap();
        if b.attribute(&active, "id").unwrap().as_deref() == Some(id) {
            return;
        }
        b.press(&[keys::TAB]).unwrap();
    }
    panic!("#{id} is not reachable with the Tab key");
}

fn search_url(mismatches: u8) -> String {
    format!("/search?mismatches={mismatches}&patient={}", encode(TYPING))
}

fn encode(s: &str) -> String {
    s.replace('*', "%2A")
        .replace('+', "%2B")
        .replace('^', "%5E")
        .replace(':', "%3A")
}

#[test]
fn keyboard_login_then_search_sort_and_export() {
    let Some(driver) = driver() else { return };
    let site = Site::start("search");
    let b = driver.browser(1400, 1000).unwrap();

    // no session: every page sends the browser to the login form, then back
    b.goto(&site.url("/search")).unwrap();
    assert!(
        b.url().unwrap().contains("/login?next=%2Fsearch"),
        "{}",
        b.url().unwrap()
    );

    // a wrong password: the form again, with a message
    b.send_keys(&b.find("#username").unwrap(), "search-coordinator")
        .unwrap();
    b.send_keys(&b.find("#password").unwrap(), "not the password")
        .unwrap();
    b.click_to_page(&b.find("#login").unwrap()).unwrap();
    assert!(text_at(&b, "#login-error").contains("wrong user name or password"));
    shot(&b, "login");

    // keyboard only: the user name has the focus, Tab to the password, Enter sends
    let user = b.active().unwrap();
    assert_eq!(
        b.attribute(&user, "id").unwrap().as_deref(),
        Some("username")
    );
    assert_eq!(
        b.attribute(&user, "value").unwrap().as_deref(),
        Some("search-coordinator"),
        "the user name is kept"
    );
    b.press(&[keys::TAB]).unwrap();
    b.type_text(&password("search-coordinator")).unwrap();
    b.press_to_page(&[keys::ENTER]).unwrap();
    expect(&b, "#run-search", 10);
    assert!(
        b.url().unwrap().ends_with("/search"),
        "{}",
        b.url().unwrap()
    );

    // the search form, by keyboard: the typing, then Tab to the mismatches and pick 2
    tab_to(&b, "patient");
    b.type_text(TYPING).unwrap();
    b.press(&[keys::TAB]).unwrap();
    b.type_text("2").unwrap();
    tab_to(&b, "run-search");
    b.press_to_page(&[keys::ENTER]).unwrap();
    expect(&b, "#hits tbody tr", 30);
    let rows = b.find_all("#hits tbody tr").unwrap();
    assert!(!rows.is_empty());
    let summary = b.text_of("#summary").unwrap();
    assert!(summary.contains("donors match"), "{summary}");
    assert!(
        b.url().unwrap().contains("mismatches=2"),
        "{}",
        b.url().unwrap()
    );
    // the donor typed as the patient ranks first, 10/10, every grade in letters
    let first = b.text_of("#hits tbody tr[data-donor='NL-1']").unwrap();
    assert!(first.contains("10/10"), "{first}");
    let grades = b
        .find_all("#hits tbody tr[data-donor='NL-1'] td.grade.g-m")
        .unwrap();
    assert!(grades.len() >= 5, "five loci graded M: {first}");
    for g in &grades {
        let t = b.text(g).unwrap();
        assert!(t.starts_with("MM"), "a grade is written in letters: {t:?}");
    }
    // mismatched donors show X in letters, not colour alone
    let source = b.source().unwrap();
    assert!(source.contains("antigen mismatch") || source.contains("allele mismatch"));
    shot(&b, "search");

    // sort by age (a header link): aria-sort says so, ages ascend
    b.click_to_page(&b.find("#hits thead a[href*='sort=age']").unwrap())
        .unwrap();
    b.wait_for("#hits th[aria-sort='ascending']", Duration::from_secs(30))
        .unwrap();
    let ages: Vec<u32> = b
        .find_all("#hits tbody tr td:nth-child(17)")
        .unwrap()
        .iter()
        .filter_map(|e| b.text(e).ok()?.parse().ok())
        .collect();
    assert!(
        ages.len() > 1 && ages.windows(2).all(|w| w[0] <= w[1]),
        "{ages:?}"
    );

    // every input labelled on the login and search pages
    assert!(unlabelled(&b).is_empty(), "{:?}", unlabelled(&b));

    // CSV export of the same query, over HTTP with a session of the same user
    let agent = http_login(&site, "search-coordinator");
    let csv = agent
        .get(&site.url(&format!(
            "/search.csv?{}",
            &search_url(2)["/search?".len()..]
        )))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("rank,donor_id,grid,registry"));
    assert!(csv.lines().count() > 2 && csv.contains(",NL-1,"), "{csv}");
    let _ = lines;

    // a bad typing: the form again, the token and the reason in words
    b.goto(&site.url("/search?patient=A%2A99%3A99%2BA%2A01%3A01&mismatches=0"))
        .unwrap();
    let error = text_at(&b, "#search-error");
    assert!(error.contains("A*99:99"), "{error}");
    assert!(!b.source().unwrap().contains("panicked"));
    shot(&b, "search-error");

    // keep the search, then repeat it: nothing new, nothing gone
    b.goto(&site.url(&search_url(2))).unwrap();
    b.send_keys(&b.find("#save-name").unwrap(), "P-1001 9/10")
        .unwrap();
    b.click_to_page(&b.find("#save-search").unwrap()).unwrap();
    assert!(text_at(&b, "#saved-notice").contains("P-1001 9/10"));
    b.click_to_page(&b.find("#saved-searches button").unwrap())
        .unwrap();
    let diff = expect(&b, "#differences", 30);
    let diff = b.text(&diff).unwrap();
    assert!(diff.contains("New") && diff.contains("Gone"), "{diff}");
    assert!(b.source().unwrap().contains("0 new"));
    shot(&b, "saved-search-repeat");
}

/// An HTTP client logged in through the login form (the double-submit cookie included).
fn http_login(site: &Site, role: &str) -> Http {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let page = agent.get(&site.url("/login")).call().unwrap();
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = cookie.split_once('=').unwrap().1.to_string();
    let r = agent
        .post(&site.url("/login"))
        .set("Cookie", &cookie)
        .send_form(&[
            ("username", role),
            ("password", &password(role)),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(r.header("set-cookie").unwrap().contains("HttpOnly"));
    assert!(r.header("set-cookie").unwrap().contains("SameSite=Lax"));
    Http { agent, session }
}

/// An HTTP client with a session cookie.
struct Http {
    agent: ureq::Agent,
    session: String,
}

impl Http {
    fn get(&self, url: &str) -> ureq::Request {
        self.agent.get(url).set("Cookie", &self.session)
    }

    fn post(&self, url: &str) -> ureq::Request {
        self.agent.post(url).set("Cookie", &self.session)
    }
}

#[test]
fn identity_is_for_donor_coordinators_and_every_read_is_audited() {
    let Some(driver) = driver() else { return };
    let site = Site::start("identity");

    let b = driver.browser(1400, 1000).unwrap();
    login(&b, &site, "search-coordinator");
    b.goto(&site.url("/donors/NL-1")).unwrap();
    assert!(text_at(&b, "#donor-record").contains("NL-1"));
    assert!(
        b.find("#show-identity").is_err(),
        "no identity button for this role"
    );
    assert!(text_at(&b, "#identity-refused").contains("may not read donor identity"));
    assert!(!b.source().unwrap().contains("Jan Peeters"));
    shot(&b, "donor-search-coordinator");
    // the identity's own address refuses in words
    b.goto(&site.url("/donors/NL-1/identity")).unwrap();
    let refused = text_at(&b, ".error");
    assert!(refused.contains("may not read donor identity"), "{refused}");
    shot(&b, "identity-refused");
    // an unknown donor: said in words
    b.goto(&site.url("/donors/NO-SUCH")).unwrap();
    assert!(text_at(&b, ".error").contains("NO-SUCH is not in the registry"));
    shot(&b, "error-unknown-donor");
    drop(b);

    let b = driver.browser(1400, 1000).unwrap();
    login(&b, &site, "donor-coordinator");
    b.goto(&site.url("/donors/NL-1")).unwrap();
    assert!(
        !b.source().unwrap().contains("Jan Peeters"),
        "identity only behind the button"
    );
    b.click_to_page(&b.find("#show-identity").unwrap()).unwrap();
    let identity = text_at(&b, "#donor-identity");
    assert!(identity.contains("Jan Peeters") && identity.contains("jan@example.org"));
    shot(&b, "donor-identity");
    // a forged form (no CSRF token of this session) is refused
    let forged = http_login(&site, "donor-coordinator")
        .post(&site.url("/donors/NL-1/identity"))
        .send_form(&[("csrf", "0000")]);
    assert!(matches!(forged, Err(ureq::Error::Status(403, _))));
    drop(b);

    let b = driver.browser(1400, 1000).unwrap();
    login(&b, &site, "auditor");
    b.goto(&site.url("/audit?action=identity-read")).unwrap();
    let audit = text_at(&b, "#audit");
    assert!(
        audit.contains("donor-coordinator") && audit.contains("NL-1"),
        "{audit}"
    );
    assert_eq!(
        b.find_all("#audit tbody tr").unwrap().len(),
        1,
        "one read, one entry"
    );
    assert!(b.text_of("#chain").unwrap().contains("intact"));
    shot(&b, "audit");
    // the auditor's navigation has no search; the search page refuses in words
    b.goto(&site.url("/search")).unwrap();
    assert!(
        text_at(&b, ".error").contains("may not search")
            || b.source().unwrap().contains("may not search")
    );
}

#[test]
fn a_workup_step_moves_the_deadlines_and_overdue_tasks_are_flagged() {
    let Some(driver) = driver() else { return };
    let site = Site::start("workup");
    let b = driver.browser(1400, 1000).unwrap();
    login(&b, &site, "donor-coordinator");

    b.goto(&site.url("/tasks")).unwrap();
    let overdue = b.find_all("#tasks tr.overdue").unwrap();
    assert_eq!(overdue.len(), 2, "sample and plan-collection are overdue");
    assert!(b.text(&overdue[0]).unwrap().contains("OVERDUE"));
    shot(&b, "tasks");

    b.goto(&site.url(&format!("/requests/{}", site.request)))
        .unwrap();
    let sample = b.text_of("#journey li[data-step='sample']").unwrap();
    assert!(sample.contains("OVERDUE"), "{sample}");
    let typing_before = b.text_of("#journey li[data-step='typing']").unwrap();
    shot(&b, "request-before");

    // record the sample today, keyboard only: Tab to the step, Tab on to the button
    b.goto(&site.url(&format!("/requests/{}", site.request)))
        .unwrap();
    tab_to(&b, "step");
    assert_eq!(
        b.execute("return document.getElementById('step').value;")
            .unwrap(),
        "sample"
    );
    tab_to(&b, "record-step");
    b.press_to_page(&[keys::ENTER]).unwrap();
    b.wait_for(
        "#journey li[data-step='sample'].done",
        Duration::from_secs(10),
    )
    .unwrap();
    let sample = b.text_of("#journey li[data-step='sample']").unwrap();
    assert!(!sample.contains("OVERDUE"), "{sample}");
    let typing_after = b.text_of("#journey li[data-step='typing']").unwrap();
    let today = Local::now().date_naive();
    let due = (today + Days::days(14)).to_string();
    assert!(
        typing_after.contains(&format!("due {due}")),
        "the typing is now due 14 days after the sample: {typing_after} (before: {typing_before})"
    );
    assert_ne!(typing_before, typing_after, "the deadline moved");
    shot(&b, "request");

    // a step the rules refuse: the page says why
    b.goto(&site.url(&format!("/requests/{}", site.request)))
        .unwrap();
    b.execute("document.getElementById('date').value = '2099-01-01'; return 0;")
        .unwrap();
    b.click_to_page(&b.find("#record-step").unwrap()).unwrap();
    let error = text_at(&b, "#request-error");
    assert!(error.contains("future"), "{error}");

    b.goto(&site.url("/tasks")).unwrap();
    assert_eq!(
        b.find_all("#tasks tr.overdue").unwrap().len(),
        1,
        "only plan-collection stays overdue"
    );
}

#[test]
fn every_page_renders_labelled_for_its_role() {
    let Some(driver) = driver() else { return };
    let site = Site::start("pages");
    let b = driver.browser(1400, 1000).unwrap();
    login(&b, &site, "admin");
    let pages = [
        ("dashboard", "/".to_string(), "#recent-searches, #by-status"),
        ("search-form", "/search".to_string(), "#run-search"),
        ("patients", "/patients".to_string(), "#patients"),
        ("patient", "/patients/P-1001".to_string(), "#roadmap"),
        ("donor", "/donors/NL-1".to_string(), "#donor-typing"),
        (
            "request-admin",
            format!("/requests/{}", site.request),
            "#journey",
        ),
        ("likelihood", LIKELIHOOD.to_string(), "#likelihood"),
        ("audit-admin", "/audit".to_string(), "#audit"),
        ("not-found", "/no/such/page".to_string(), ".error"),
    ];
    // a search first, so the dashboard lists it
    b.goto(&site.url(&search_url(1))).unwrap();
    b.wait_for("#hits", Duration::from_secs(30)).unwrap();
    for (name, path, selector) in pages {
        b.goto(&site.url(&path)).unwrap();
        b.wait_for(selector, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let source = b.source().unwrap();
        assert!(
            !source.contains("panicked") && !source.contains("RUST_BACKTRACE"),
            "{path}"
        );
        assert!(unlabelled(&b).is_empty(), "{path}: {:?}", unlabelled(&b));
        shot(&b, name);
    }
    assert!(b
        .source()
        .unwrap()
        .contains("There is no page at /no/such/page"));
    // the patient's page runs no search; its button does, and the page then shows it
    b.goto(&site.url("/patients/P-1001")).unwrap();
    let roadmap = text_at(&b, "#roadmap");
    assert!(roadmap.contains("not searched yet"), "{roadmap}");
    b.click_to_page(&b.find("#roadmap-search").unwrap())
        .unwrap();
    b.wait_for("#roadmap", Duration::from_secs(60)).unwrap();
    let roadmap = text_at(&b, "#roadmap");
    assert!(roadmap.contains("donors searched"), "{roadmap}");
    b.goto(&site.url("/patients/P-1001")).unwrap();
    assert!(text_at(&b, "#roadmap").contains("donors searched"));
    // the likelihood page has its plot
    b.goto(&site.url(LIKELIHOOD)).unwrap();
    assert!(b.find(".plot svg").is_ok());
    // log out: the session ends, pages send to the login form again
    b.click_to_page(&b.find("header.top form button").unwrap())
        .unwrap();
    b.wait_for("#login", Duration::from_secs(10)).unwrap();
    b.goto(&site.url("/")).unwrap();
    assert!(b.url().unwrap().contains("/login"));
}

/// Open a request for P-1001 and donor NL-1 from the patient's page, `fields` typed into
/// the form (the type picked by typing its name).
fn open_request(b: &Browser, site: &Site, fields: &[(&str, &str)]) {
    b.goto(&site.url("/patients/P-1001")).unwrap();
    b.send_keys(&expect(b, "#open-donor", 30), "NL-1").unwrap();
    for (css, value) in fields {
        b.send_keys(&b.find(css).unwrap(), value).unwrap();
    }
    b.click_to_page(&b.find("#open-request").unwrap()).unwrap();
}

#[test]
fn requests_are_opened_answered_and_refused_by_rule_in_the_browser() {
    let Some(driver) = driver() else { return };
    let site = Site::start("requests");

    // the search coordinator opens a confirmatory typing from the patient's page
    let b = driver.browser(1400, 1000).unwrap();
    login(&b, &site, "search-coordinator");
    open_request(&b, &site, &[("#open-loci", "A,B,DRB1")]);
    assert_eq!(text_at(&b, "#request-state"), "open");
    let ct = b.url().unwrap();
    // a second typing of the same pair while one is open: the rule, by name
    open_request(&b, &site, &[("#open-loci", "DRB1,DQB1")]);
    let refused = text_at(&b, ".error");
    assert!(refused.contains("[one-open-request]"), "{refused}");
    shot(&b, "request-refused");

    // a sample request, rejected with a reason code
    open_request(&b, &site, &[("#open-type", "sample")]);
    b.send_keys(&expect(&b, "#reject-reason", 30), "medical")
        .unwrap();
    b.click_to_page(&b.find("#reject-request").unwrap())
        .unwrap();
    let state = text_at(&b, "#request-state");
    assert!(state.starts_with("rejected"), "{state}");

    // register a patient: a bad typing comes back named, with what was typed kept
    b.goto(&site.url("/patients")).unwrap();
    b.send_keys(&expect(&b, "#new-id", 30), "P-2002").unwrap();
    b.send_keys(
        &b.find("#new-typing").unwrap(),
        "A*01:01+A*99:99^B*08:01+B*07:02^DRB1*03:01+DRB1*15:01",
    )
    .unwrap();
    b.click_to_page(&b.find("#register-patient").unwrap())
        .unwrap();
    let error = text_at(&b, "#register-error");
    assert!(error.contains("A*99:99"), "{error}");
    let id = b.find("#new-id").unwrap();
    assert_eq!(
        b.attribute(&id, "value").unwrap().as_deref(),
        Some("P-2002")
    );
    shot(&b, "patient-register-error");
    let typing = b.find("#new-typing").unwrap();
    b.clear(&typing).unwrap();
    b.send_keys(
        &typing,
        "A*01:01+A*02:01^B*08:01+B*07:02^DRB1*03:01+DRB1*15:01",
    )
    .unwrap();
    b.click_to_page(&b.find("#register-patient").unwrap())
        .unwrap();
    assert_eq!(text_at(&b, "#case-status"), "preliminary");
    // the case moves along its lifecycle; a move it does not allow names the rule
    b.send_keys(&b.find("#case-new-status").unwrap(), "active")
        .unwrap();
    b.click_to_page(&b.find("#move-case").unwrap()).unwrap();
    assert_eq!(text_at(&b, "#case-status"), "active");
    b.send_keys(&b.find("#case-new-status").unwrap(), "preliminary")
        .unwrap();
    b.click_to_page(&b.find("#move-case").unwrap()).unwrap();
    assert!(text_at(&b, ".error").contains("[case-lifecycle]"));
    drop(b);

    // the donor coordinator acknowledges it and enters the typing
    let b = driver.browser(1400, 1000).unwrap();
    login(&b, &site, "donor-coordinator");
    b.goto(&ct).unwrap();
    b.click_to_page(&expect(&b, "#acknowledge", 30)).unwrap();
    assert_eq!(text_at(&b, "#request-state"), "acknowledged");
    b.send_keys(&expect(&b, "#result-typing", 30), TYPING)
        .unwrap();
    b.click_to_page(&b.find("#enter-result").unwrap()).unwrap();
    assert_eq!(text_at(&b, "#request-state"), "resulted");
    assert!(b.find("#enter-result").is_err(), "nothing more to answer");
    shot(&b, "request-ct");

    // and changes a donor's status; a missing field is named
    b.goto(&site.url("/donors/SYN0000000001")).unwrap();
    let select = expect(&b, "#new-status", 30);
    b.send_keys(&select, "temporarily").unwrap();
    b.click_to_page(&b.find("#change-status").unwrap()).unwrap();
    let error = text_at(&b, ".error");
    assert!(
        error.contains("reason") && error.contains("required"),
        "{error}"
    );
    b.goto(&site.url("/donors/SYN0000000001")).unwrap();
    b.send_keys(&expect(&b, "#new-status", 30), "temporarily")
        .unwrap();
    b.send_keys(&b.find("#status-reason").unwrap(), "travel")
        .unwrap();
    b.execute("document.getElementById('status-until').value = '2099-01-01'; return 0;")
        .unwrap();
    b.click_to_page(&b.find("#change-status").unwrap()).unwrap();
    let status = text_at(&b, "#donor-status");
    assert!(
        status.contains("temporarily unavailable until 2099-01-01"),
        "{status}"
    );
    assert!(text_at(&b, "#donor-history").contains("donor-coordinator"));
}

/// The body of an answer with this error status.
fn refused_with(r: Result<ureq::Response, ureq::Error>, status: u16) -> String {
    match r {
        Err(ureq::Error::Status(s, r)) if s == status => r.into_string().unwrap(),
        Err(ureq::Error::Status(s, r)) => panic!("{s}: {}", r.into_string().unwrap_or_default()),
        Ok(r) => panic!("{} instead of {status}", r.status()),
        Err(e) => panic!("{e}"),
    }
}

/// Without a browser: the login form's contract as a script uses it, and what a page
/// without a session does.
#[test]
fn login_and_sessions_over_plain_http() {
    let site = Site::start("http");
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    // no session: a redirect to the login form
    let r = agent.get(&site.url("/tasks")).call().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.header("location"), Some("/login?next=%2Ftasks"));
    // username and password alone (no browser, no token): a session and the dashboard
    let r = agent
        .post(&site.url("/login"))
        .send_form(&[("username", "admin"), ("password", &password("admin"))])
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("medulla_session=mt_"), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Max-Age=28800", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let page = agent
        .get(&site.url("/"))
        .set("Cookie", &session)
        .call()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert!(page.into_string().unwrap().contains("Dashboard"));
    // a wrong password: the form again with the message, 401
    let wrong = agent
        .post(&site.url("/login"))
        .send_form(&[("username", "admin"), ("password", "wrong")]);
    assert!(refused_with(wrong, 401).contains("wrong user name or password"));
    // a login posted from another site is refused
    let forged = agent
        .post(&site.url("/login"))
        .set("Origin", "https://elsewhere.example")
        .send_form(&[("username", "admin"), ("password", &password("admin"))]);
    assert!(matches!(forged, Err(ureq::Error::Status(403, _))));
    // the JSON API keeps its JSON errors; other unknown paths get a page
    let api = refused_with(agent.get(&site.url("/api/v1/nothing")).call(), 404);
    assert!(api.contains("\"not_found\""), "{api}");
    let page = refused_with(agent.get(&site.url("/nothing")).call(), 404);
    assert!(page.contains("There is no page at /nothing"), "{page}");
    // logging out ends the session: the same cookie no longer opens a page
    let page = agent
        .get(&site.url("/logout"))
        .set("Cookie", &session)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = agent
        .post(&site.url("/logout"))
        .set("Cookie", &session)
        .send_form(&[("csrf", &csrf)])
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = agent
        .get(&site.url("/"))
        .set("Cookie", &session)
        .call()
        .unwrap();
    assert_eq!(r.status(), 303, "the session is gone");
}
