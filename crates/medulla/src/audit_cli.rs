//! The audit chain's key and anchors on the command line: `--audit-key-file` (every
//! command), `medulla audit keygen|anchor|verify --anchor`, and the anchors `medulla
//! serve` writes. Parsing and printing only; the work is the application layer's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use medulla_app::audit::KeySource;

/// The environment variable holding the key itself (64 hexadecimal digits), for
/// platforms that hand secrets over as variables; a key file wins over it.
pub const KEY_ENV: &str = "MEDULLA_AUDIT_KEY";

/// Set this process's audit key from `--audit-key-file` / `MEDULLA_AUDIT_KEY_FILE`, or
/// else `MEDULLA_AUDIT_KEY`. Never prints the key.
pub fn configure(file: Option<&Path>) -> Result<KeySource> {
    let env_key = std::env::var(KEY_ENV).ok();
    let (source, warning) = medulla_app::audit::configure_key(file, env_key.as_deref())?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    Ok(source)
}

/// `medulla audit keygen --out FILE`.
pub fn keygen(out: &Path) -> Result<()> {
    medulla_app::audit::generate_key_file(out)?;
    println!(
        "wrote a new 256-bit audit key to {} (mode 600); back it up apart from the database, \
         then give it to every command and server as --audit-key-file {} or MEDULLA_AUDIT_KEY_FILE",
        out.display(),
        out.display()
    );
    Ok(())
}

/// `medulla audit anchor --out FILE`.
pub fn anchor(db: &Path, out: &Path) -> Result<()> {
    let (a, v) = medulla_app::audit::anchor(db)?;
    medulla_app::audit::write_anchor(out, &a)?;
    warn_unkeyed(&v);
    println!(
        "anchored entry {} (hash {}) of {} entries to {}",
        a.seq,
        a.hash,
        v.entries,
        out.display()
    );
    Ok(())
}

/// `medulla audit verify [--anchor FILE]`: exits non-zero naming the first bad or
/// missing entry.
pub fn verify(db: &Path, anchor: Option<&Path>) -> Result<()> {
    let anchor = anchor.map(medulla_app::audit::read_anchor).transpose()?;
    match medulla_app::audit::verify(db, anchor.as_ref())? {
        Ok(v) => {
            warn_unkeyed(&v);
            let mut line = format!(
                "audit trail intact: {} entries checked ({} keyed, {} unkeyed)",
                v.entries, v.keyed, v.unkeyed
            );
            if let (Some(a), Some(seq)) = (&anchor, v.anchored) {
                line.push_str(&format!("; the anchor of {} (entry {seq}) holds", a.at));
            }
            println!("{line}");
            Ok(())
        }
        Err(b) => bail!("audit trail broken: {b}"),
    }
}

/// Said loudly: what an unkeyed chain cannot show.
fn warn_unkeyed(v: &medulla_registry::audit::Verified) {
    if !v.keyed_check {
        eprintln!(
            "WARNING: no audit key configured (--audit-key-file, MEDULLA_AUDIT_KEY_FILE or \
             MEDULLA_AUDIT_KEY): the chain is checked with plain SHA-256, and anyone who can \
             write the database can change an entry and recompute every hash after it unseen"
        );
    }
    if let Some((from, to)) = v.unkeyed_range.filter(|_| v.keyed_check) {
        eprintln!(
            "WARNING: entries {from}..{to} are unkeyed (plain SHA-256, written before the key \
             or without it): an edit followed by recomputed hashes there is found only by an \
             anchor taken before it"
        );
    }
}

/// The anchors `medulla serve` writes.
#[derive(Args, Clone)]
pub struct AnchorArgs {
    /// Write an anchor of the audit chain's head (its sequence and hash) into this folder
    /// every --audit-anchor-every: `anchor-SEQ-TIME.json` and `latest.json`, each written
    /// atomically. Ship the folder off this machine (write-once storage).
    #[arg(long, value_name = "DIR")]
    audit_anchor_dir: Option<PathBuf>,
    /// How often to anchor: `30s`, `5m`, `1h` (or seconds). Nothing is written while the
    /// head has not moved.
    #[arg(long, default_value = "5m", value_parser = parse_every)]
    audit_anchor_every: Duration,
    /// How many numbered anchor files to keep in --audit-anchor-dir (the oldest go).
    #[arg(long, default_value_t = 288)]
    audit_anchor_keep: usize,
}

/// `30s`, `5m`, `2h`, or a number of seconds.
fn parse_every(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (30s, 5m, 1h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{s:?}: the unit is s, m or h")),
    };
    if secs == 0 {
        return Err("the interval must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

impl AnchorArgs {
    /// Start anchoring on a thread of its own (when a folder is given), until `stop`.
    pub fn start(
        &self,
        db: &Path,
        stop: Arc<AtomicBool>,
    ) -> Result<Option<std::thread::JoinHandle<()>>> {
        let Some(dir) = self.audit_anchor_dir.clone() else {
            return Ok(None);
        };
        let mut anchors = medulla_app::audit::AnchorDir::new(dir.clone(), self.audit_anchor_keep)
            .with_context(|| format!("--audit-anchor-dir {}", dir.display()))?;
        let security = medulla_registry::Store::open_security(db)?;
        let every = self.audit_anchor_every;
        eprintln!(
            "anchoring the audit trail into {} every {}s",
            dir.display(),
            every.as_secs()
        );
        Ok(Some(std::thread::spawn(move || {
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    if let Err(e) = anchors.tick(&security) {
                        eprintln!("audit anchor: {e}");
                    }
                    next = Instant::now() + every;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_every;
    use std::time::Duration;

    #[test]
    fn intervals_read_as_people_write_them() {
        assert_eq!(parse_every("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_every("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_every("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_every("45"), Ok(Duration::from_secs(45)));
        assert!(parse_every("0s").is_err());
        assert!(parse_every("5d").is_err());
        assert!(parse_every("m").is_err());
    }
}
