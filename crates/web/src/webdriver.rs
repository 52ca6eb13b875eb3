//! A small client of the W3C WebDriver protocol (JSON over HTTP on loopback), enough to
//! drive headless Chromium through Debian's `chromedriver`: open pages, find elements,
//! type, click, press keys, read text, run a line of script and take screenshots. The
//! browser tests, `medulla bench-web` and `medulla screenshots` use it.
//!
//! Chromium runs headless with a fresh profile and no background networking (the machine
//! has no outside network; without those flags it keeps trying to reach Google).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Keys as WebDriver sends them.
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SPACE: &str = "\u{E00D}";
}

#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    #[error("{what} was not found (looked in: {looked})")]
    Missing { what: &'static str, looked: String },
    #[error("starting chromedriver: {0}")]
    Start(String),
    #[error("WebDriver {command}: {message}")]
    Command { command: String, message: String },
    #[error("waited {seconds} s for {what}")]
    Timeout { what: String, seconds: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

type Result<T> = std::result::Result<T, WebDriverError>;

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() && p.exists() {
            return Some(p.to_path_buf());
        }
        for dir in std::env::split_paths(&path) {
            let f = dir.join(c);
            if f.exists() {
                return Some(f);
            }
        }
    }
    None
}

/// Whether a browser and its driver are installed (`MEDULLA_CHROMIUM` and
/// `MEDULLA_CHROMEDRIVER` name them when they are not on the usual paths).
pub fn available() -> bool {
    chromium().is_some() && chromedriver().is_some()
}

fn chromium() -> Option<PathBuf> {
    find_program(
        "MEDULLA_CHROMIUM",
        &[
            "/usr/bin/chromium",
            "chromium",
            "chromium-browser",
            "google-chrome",
        ],
    )
}

fn chromedriver() -> Option<PathBuf> {
    find_program(
        "MEDULLA_CHROMEDRIVER",
        &["/usr/bin/chromedriver", "chromedriver"],
    )
}

/// A running `chromedriver` on a free port of 127.0.0.1 (stopped when dropped).
pub struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Driver {
    pub fn start() -> Result<Driver> {
        let exe = chromedriver().ok_or(WebDriverError::Missing {
            what: "chromedriver (Debian package chromium-driver)",
            looked: "$MEDULLA_CHROMEDRIVER, /usr/bin/chromedriver, $PATH".into(),
        })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&exe)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| WebDriverError::Start(format!("{}: {e}", exe.display())))?;
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(120))
            .build();
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
        };
        let started = Instant::now();
        loop {
            let ready = d
                .agent
                .get(&format!("{}/status", d.base))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"].as_bool() == Some(true));
            if ready {
                return Ok(d);
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(WebDriverError::Timeout {
                    what: "chromedriver to start".into(),
                    seconds: 20,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A new headless browser window of `width` x `height` pixels.
    pub fn browser(&self, width: u32, height: u32) -> Result<Browser> {
        let binary = chromium().ok_or(WebDriverError::Missing {
            what: "chromium (Debian package chromium)",
            looked: "$MEDULLA_CHROMIUM, /usr/bin/chromium, $PATH".into(),
        })?;
        let profile = std::env::temp_dir().join(format!(
            "medulla-chromium-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ (self as *const _ as u128)
        ));
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--disable-extensions".into(),
            "--no-first-run".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": binary, "args": args }
            } }
        });
        let v = post(
            &self.agent,
            &format!("{}/session", self.base),
            "new session",
            &caps,
        )?;
        let session = v["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::Command {
                command: "new session".into(),
                message: format!("no session id in {v}"),
            })?
            .to_string();
        Ok(Browser {
            agent: self.agent.clone(),
            base: format!("{}/session/{session}", self.base),
            profile,
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answer(command: &str, r: std::result::Result<ureq::Response, ureq::Error>) -> Result<Value> {
    let body: Value = match r {
        Ok(resp) => resp.into_json()?,
        Err(ureq::Error::Status(_, resp)) => {
            let v: Value = resp.into_json().unwrap_or(Value::Null);
            return Err(WebDriverError::Command {
                command: command.into(),
                message: v["value"]["message"].as_str().map_or_else(
                    || v.to_string(),
                    |m| m.lines().next().unwrap_or(m).to_string(),
                ),
            });
        }
        Err(e) => {
            return Err(WebDriverError::Command {
                command: command.into(),
                message: e.to_string(),
            })
        }
    };
    Ok(body["value"].clone())
}

fn post(agent: &ureq::Agent, url: &str, command: &str, body: &Value) -> Result<Value> {
    answer(command, agent.post(url).send_json(body.clone()))
}

/// One browser session.
pub struct Browser {
    agent: ureq::Agent,
    base: String,
    profile: PathBuf,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    fn post(&self, path: &str, body: Value) -> Result<Value> {
        post(&self.agent, &format!("{}{path}", self.base), path, &body)
    }

    fn get(&self, path: &str) -> Result<Value> {
        answer(path, self.agent.get(&format!("{}{path}", self.base)).call())
    }

    /// Open a URL and wait for the page to load.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).map(|_| ())
    }

    pub fn url(&self) -> Result<String> {
        Ok(self.get("/url")?.as_str().unwrap_or_default().to_string())
    }

    pub fn title(&self) -> Result<String> {
        Ok(self.get("/title")?.as_str().unwrap_or_default().to_string())
    }

    pub fn source(&self) -> Result<String> {
        Ok(self
            .get("/source")?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Result<Element> {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .map_err(|e| match e {
                WebDriverError::Command { message, .. } => WebDriverError::Command {
                    command: format!("find {css:?}"),
                    message,
                },
                e => e,
            })?;
        Ok(Element(v[ELEMENT].as_str().unwrap_or_default().to_string()))
    }

    /// Every element matching a CSS selector.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let v = self.post(
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|s| Element(s.to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Wait up to `timeout` for an element to appear.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let started = Instant::now();
        loop {
            match self.find(css) {
                Ok(e) => return Ok(e),
                Err(_) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Mark the page, do `act` (a click or a key that sends a form or follows a link),
    /// then wait until another page has replaced it and finished loading.
    fn to_new_page(&self, act: impl FnOnce() -> Result<()>) -> Result<()> {
        self.execute("window.__medullaBefore = true; return 0;")?;
        act()?;
        let started = Instant::now();
        loop {
            let done = self
                .execute(
                    "return window.__medullaBefore === undefined && document.readyState === 'complete';",
                )
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if done {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(WebDriverError::Timeout {
                    what: "the next page".into(),
                    seconds: 60,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Click what sends a form or follows a link, and wait for the page it opens.
    pub fn click_to_page(&self, e: &Element) -> Result<()> {
        self.to_new_page(|| self.click(e))
    }

    /// Press keys that send a form (Enter), and wait for the page it opens.
    pub fn press_to_page(&self, keys: &[&str]) -> Result<()> {
        self.to_new_page(|| self.press(keys))
    }

    pub fn click(&self, e: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .map(|_| ())
    }

    pub fn clear(&self, e: &Element) -> Result<()> {
        self.post(&format!("/element/{}/clear", e.0), json!({}))
            .map(|_| ())
    }

    /// Type into an element (keys such as [`keys::ENTER`] included).
    pub fn send_keys(&self, e: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .map(|_| ())
    }

    /// Press keys where the focus is, as a keyboard-only user does.
    pub fn press(&self, keys: &[&str]) -> Result<()> {
        let mut actions = Vec::new();
        for k in keys {
            actions.push(json!({ "type": "keyDown", "value": k }));
            actions.push(json!({ "type": "keyUp", "value": k }));
        }
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        )
        .map(|_| ())
    }

    /// Type text where the focus is.
    pub fn type_text(&self, text: &str) -> Result<()> {
        let chars: Vec<String> = text.chars().map(|c| c.to_string()).collect();
        let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
        self.press(&refs)
    }

    /// The element that has the focus.
    pub fn active(&self) -> Result<Element> {
        let v = self.get("/element/active")?;
        Ok(Element(v[ELEMENT].as_str().unwrap_or_default().to_string()))
    }

    pub fn text(&self, e: &Element) -> Result<String> {
        Ok(self
            .get(&format!("/element/{}/text", e.0))?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub fn attribute(&self, e: &Element, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(&format!("/element/{}/attribute/{name}", e.0))?
            .as_str()
            .map(str::to_string))
    }

    /// The text of the first element matching a selector.
    pub fn text_of(&self, css: &str) -> Result<String> {
        let e = self.find(css)?;
        self.text(&e)
    }

    /// Run a script in the page (`return ...;`) and its answer.
    pub fn execute(&self, script: &str) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
    }

    /// A PNG of the page's whole height (the window resized to fit), written to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let height = self
            .execute("return Math.ceil(document.documentElement.scrollHeight);")?
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 6000);
        let rect = self.get("/window/rect")?;
        let width = rect["width"].as_u64().unwrap_or(1400);
        self.post(
            "/window/rect",
            json!({ "width": width, "height": height + 120 }),
        )?;
        let png = self.get("/screenshot")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .map_err(|e| WebDriverError::Command {
                command: "screenshot".into(),
                message: e.to_string(),
            })?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, bytes)?;
        self.post(
            "/window/rect",
            json!({ "width": width, "height": rect["height"].as_u64().unwrap_or(1000) }),
        )?;
        Ok(())
    }

    /// Milliseconds from the start of the last navigation (the click that sent a form,
    /// or a `goto`) to the end of its page's load event, as the browser measured them.
    pub fn navigation_ms(&self) -> Result<f64> {
        let v = self.execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return n ? n.loadEventEnd - n.startTime : -1;",
        )?;
        Ok(v.as_f64().unwrap_or(-1.0))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = answer("end session", self.agent.delete(&self.base).call());
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
