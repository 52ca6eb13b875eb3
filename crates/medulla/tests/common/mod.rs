//! Running the `medulla` binary from the CLI tests.

use std::process::{Command, Output};

/// Run `medulla` with quiet loading and no registry database from the environment.
#[allow(dead_code)] // not every test binary uses it
pub fn medulla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .env_remove("MEDULLA_DB")
        .output()
        .unwrap()
}

/// Run `medulla` with `input` on its standard input.
#[allow(dead_code)] // not every test binary uses it
pub fn with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .env_remove("MEDULLA_DB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the command may stop reading early (an error): a broken pipe is its answer
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

/// Run `medulla` on the registry database `db` (`MEDULLA_DB`), with `stdin` on its
/// standard input.
#[allow(dead_code)] // not every test binary uses it
pub fn on_db(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_medulla"))
        .args(args)
        .env("MEDULLA_QUIET", "1")
        .env("MEDULLA_DB", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes());
    child.wait_with_output().unwrap()
}

/// A synthetic pool of `n` donors (`medulla synth`) written to `out`.
#[allow(dead_code)] // not every test binary uses it
pub fn synth_pool(n: u64, seed: u64, out: &str) {
    let o = medulla(&[
        "synth",
        "--donors",
        &n.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Standard output and error together, for assertions and messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scratch folder for one test, removed when dropped.
#[allow(dead_code)] // not every test binary uses it
pub struct TempDir(pub std::path::PathBuf);

#[allow(dead_code)]
impl TempDir {
    pub fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("medulla-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    /// A path inside the folder.
    pub fn path(&self, f: &str) -> String {
        self.0.join(f).display().to_string()
    }

    /// A registry database for the test: a SQLite file in the folder, or a new PostgreSQL
    /// database when `MEDULLA_TEST_BACKEND=postgres` (with `MEDULLA_TEST_POSTGRES` naming
    /// the server): `.ci/run` runs the storage-heavy CLI tests both ways.
    pub fn db(&self, f: &str) -> String {
        if std::env::var("MEDULLA_TEST_BACKEND").as_deref() == Ok("postgres") {
            let admin = std::env::var("MEDULLA_TEST_POSTGRES")
                .expect("MEDULLA_TEST_BACKEND=postgres needs MEDULLA_TEST_POSTGRES");
            return medulla_registry::db::create_postgres_database(&admin, "medulla_cli").unwrap();
        }
        self.path(f)
    }

    /// Write a file inside the folder and return its path.
    pub fn file(&self, f: &str, content: &str) -> String {
        std::fs::write(self.0.join(f), content).unwrap();
        self.path(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
