//! `medulla bench-locks`: does anyone wait on someone else's slow work? Logins and donor
//! status changes are timed against a running `medulla serve` (loopback only, bounded in
//! time) while, optionally, a slow client uploads an import and other clients view a
//! patient's roadmap over and over.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use crate::serve_bench::{percentile, require_loopback};

#[derive(Args)]
pub struct LocksBenchArgs {
    /// The service: http://127.0.0.1:PORT (loopback addresses only).
    #[arg(long)]
    url: String,
    /// An admin's session token (status changes and the import); default: MEDULLA_TOKEN.
    #[arg(long, env = "MEDULLA_TOKEN", hide_env_values = true)]
    token: String,
    /// The account that logs in, again and again.
    #[arg(long)]
    user: String,
    /// Its password (default: MEDULLA_PASSWORD).
    #[arg(long, env = "MEDULLA_PASSWORD", hide_env_values = true)]
    password: String,
    /// The donor whose status is changed back and forth.
    #[arg(long)]
    donor: String,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Also upload this donor CSV through the API, slowly (see --upload-rate).
    #[arg(long)]
    import: Option<PathBuf>,
    /// Upload rate of the import, in bytes a second.
    #[arg(long, default_value_t = 1_000_000)]
    upload_rate: u64,
    /// Also view this patient's roadmap (GET /api/v1/patients/ID/roadmap), continuously.
    #[arg(long)]
    patient: Option<String>,
    /// Clients viewing the roadmap.
    #[arg(long, default_value_t = 2)]
    viewers: usize,
}

/// A reader that gives at most `rate` bytes a second (a slow client's upload).
struct Throttled<R> {
    inner: R,
    rate: u64,
    sent: u64,
    started: Instant,
}

impl<R: Read> Read for Throttled<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate.max(1) as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
        let max = buf.len().min((self.rate / 20).max(1) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.sent += n as u64;
        Ok(n)
    }
}

fn summary(name: &str, mut ms: Vec<f64>, errors: usize) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name}: {} done, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {errors} errors",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0)
    );
}

pub fn run(args: LocksBenchArgs) -> Result<()> {
    require_loopback(&args.url)?;
    let base = args.url.trim_end_matches('/').to_string();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(600))
        .build();
    let auth = format!("Bearer {}", args.token);
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    std::thread::scope(|scope| -> Result<()> {
        let importer = args.import.as_ref().map(|file| {
            let (agent, auth, base) = (agent.clone(), auth.clone(), base.clone());
            let rate = args.upload_rate;
            scope.spawn(move || -> Result<String> {
                let f = std::fs::File::open(file)
                    .with_context(|| format!("opening {}", file.display()))?;
                let t = Instant::now();
                let res = agent
                    .post(&format!("{base}/api/v1/donors/import?name=bench-locks"))
                    .set("Authorization", &auth)
                    .set("Content-Type", "text/csv")
                    .send(Throttled {
                        inner: std::io::BufReader::new(f),
                        rate,
                        sent: 0,
                        started: Instant::now(),
                    })
                    .context("the slow import")?;
                let report: serde_json::Value = res.into_json()?;
                Ok(format!(
                    "slow import ({} B/s): {} records, {} new, {} updated in {:.1} s",
                    rate,
                    report["records"],
                    report["new"],
                    report["updated"],
                    t.elapsed().as_secs_f64()
                ))
            })
        });
        let viewers: Vec<_> = args
            .patient
            .iter()
            .flat_map(|p| std::iter::repeat_n(p, args.viewers))
            .map(|p| {
                let (agent, auth, base, stop) = (agent.clone(), auth.clone(), base.clone(), &stop);
                scope.spawn(move || {
                    let mut n = 0usize;
                    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                        let _ = agent
                            .get(&format!("{base}/api/v1/patients/{p}/roadmap"))
                            .set("Authorization", &auth)
                            .call();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        // the timed work: one login, then one status change, in turn
        let (mut logins, mut changes) = (Vec::new(), Vec::new());
        let (mut login_errors, mut change_errors) = (0usize, 0usize);
        let mut temporary = true;
        while Instant::now() < deadline {
            let t = Instant::now();
            let r = agent
                .post(&format!("{base}/api/v1/login"))
                .send_json(serde_json::json!({"username": args.user, "password": args.password}));
            match r {
                Ok(_) => logins.push(t.elapsed().as_secs_f64() * 1000.0),
                Err(_) => login_errors += 1,
            }
            let body = if temporary {
                serde_json::json!({"status": "temporarily-unavailable", "reason": "bench", "until": "2099-01-01"})
            } else {
                serde_json::json!({"status": "available"})
            };
            let t = Instant::now();
            let r = agent
                .post(&format!("{base}/api/v1/donors/{}/status", args.donor))
                .set("Authorization", &auth)
                .send_json(body);
            match r {
                Ok(_) => {
                    changes.push(t.elapsed().as_secs_f64() * 1000.0);
                    temporary = !temporary;
                }
                Err(_) => change_errors += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        let views: usize = viewers.into_iter().map(|v| v.join().unwrap_or(0)).sum();
        summary("logins", logins, login_errors);
        summary("status changes", changes, change_errors);
        if args.patient.is_some() {
            println!("roadmap views meanwhile: {views}");
        }
        if let Some(h) = importer {
            match h.join() {
                Ok(Ok(line)) => println!("{line}"),
                Ok(Err(e)) => println!("slow import failed: {e:#}"),
                Err(_) => println!("slow import thread failed"),
            }
        }
        Ok(())
    })
}
