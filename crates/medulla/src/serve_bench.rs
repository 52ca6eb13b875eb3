//! `medulla bench-serve`: a load test of a running `medulla serve`, on loopback only,
//! bounded in time: N clients searching 10/10 with up to 2 mismatches, optionally while a
//! donor file is imported through the API; throughput, latency percentiles, errors and
//! the server's peak memory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::Args;
use medulla_registry::search_index::indexed;
use medulla_registry::Status;

use crate::hla::SourceArgs;

#[derive(Args)]
pub struct ServeBenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The service: http://127.0.0.1:PORT (loopback addresses only).
    #[arg(long)]
    url: String,
    /// A session token or API key of an account that may search (and import, with
    /// --import); default: MEDULLA_TOKEN.
    #[arg(long, env = "MEDULLA_TOKEN", hide_env_values = true)]
    token: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// How long the clients search, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Mismatches allowed in each search.
    #[arg(long, default_value_t = 2)]
    mismatches: u8,
    /// Distinct patients (drawn from the NMDP 2007 haplotypes, high resolution), searched
    /// in turn.
    #[arg(long, default_value_t = 100)]
    patients: usize,
    /// Also import this donor CSV through the API while the clients search.
    #[arg(long)]
    import: Option<PathBuf>,
    /// The server's process id, to report its peak memory (VmHWM).
    #[arg(long)]
    server_pid: Option<u32>,
    /// International searches: the service also asks every partner registry and merges
    /// their hits (answers that lack a partner are counted).
    #[arg(long)]
    international: bool,
}

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Load tests send traffic to loopback addresses only.
pub(crate) fn require_loopback(url: &str) -> Result<()> {
    let host = url
        .strip_prefix("http://")
        .context("--url: http://127.0.0.1:PORT")?
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback());
    if !loopback {
        bail!("--url: load tests send traffic to loopback addresses only (127.0.0.0/8, localhost, [::1])");
    }
    Ok(())
}

/// `n` patients drawn from the NMDP 2007 haplotypes at high resolution, as GL Strings of
/// A, B, C, DRB1 and DQB1 (the same patients for every run).
pub(crate) fn patients(source: &SourceArgs, n: usize) -> Result<Vec<String>> {
    let (release, macs) = source.load()?;
    let date = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    Ok(
        crate::search_bench::draw_patients(&release, &macs, 777, n.max(1))?
            .iter()
            .map(|d| {
                indexed(&d.donor, &Status::Available, date).typing[..5]
                    .iter()
                    .map(|p| p.iter().flatten().cloned().collect::<Vec<_>>().join("+"))
                    .collect::<Vec<_>>()
                    .join("^")
            })
            .collect(),
    )
}

pub fn run(args: ServeBenchArgs) -> Result<()> {
    require_loopback(&args.url)?;
    let patients = patients(&args.source, args.patients)?;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    let search_url = format!("{}/api/v1/search", args.url.trim_end_matches('/'));
    let auth = format!("Bearer {}", args.token);
    // one search first: the token works
    agent
        .post(&search_url)
        .set("Authorization", &auth)
        .send_json(serde_json::json!({"patient": patients[0], "mismatches": args.mismatches, "international": args.international}))
        .context("a first search (is the service up, and may the token search?)")?;

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let incomplete = std::sync::atomic::AtomicUsize::new(0);
    let (latencies, errors, import) = std::thread::scope(|scope| {
        let importer = args.import.as_ref().map(|file| {
            let (agent, auth, url) = (agent.clone(), auth.clone(), args.url.clone());
            scope.spawn(move || -> Result<(f64, serde_json::Value)> {
                let f = std::fs::File::open(file)
                    .with_context(|| format!("opening {}", file.display()))?;
                let t = Instant::now();
                let name = file
                    .file_name()
                    .map_or("import".into(), |n| n.to_string_lossy().to_string());
                let res = agent
                    .post(&format!(
                        "{}/api/v1/donors/import?name={name}",
                        url.trim_end_matches('/')
                    ))
                    .set("Authorization", &auth)
                    .set("Content-Type", "text/csv")
                    .send(std::io::BufReader::new(f))
                    .context("the import")?;
                let report: serde_json::Value = res.into_json()?;
                Ok((t.elapsed().as_secs_f64(), report))
            })
        });
        let clients: Vec<_> = (0..args.clients)
            .map(|c| {
                let (agent, auth, url, patients, stop, incomplete) = (
                    agent.clone(),
                    auth.clone(),
                    search_url.clone(),
                    &patients,
                    &stop,
                    &incomplete,
                );
                scope.spawn(move || {
                    let (mut lat, mut err) = (Vec::new(), 0usize);
                    let mut i = c;
                    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let r = agent.post(&url).set("Authorization", &auth).send_json(
                            serde_json::json!({"patient": patients[i % patients.len()], "mismatches": args.mismatches, "international": args.international}),
                        );
                        let answered = r.ok().and_then(|r| r.into_string().ok());
                        if let Some(body) = answered {
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                            if args.international && !body.contains("\"partners_unanswered\":[]") {
                                incomplete.fetch_add(1, Ordering::Relaxed);
                            }
                        } else {
                            err += 1;
                        }
                        i += args.clients;
                    }
                    (lat, err)
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        for c in clients {
            let (l, e) = c.join().unwrap_or_default();
            all.extend(l);
            errors += e;
        }
        let import = importer.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("import thread failed")))
        });
        stop.store(true, Ordering::Relaxed);
        (all, errors, import)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut sorted = latencies;
    sorted.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{} clients, {:.0} s, {}-mismatch 10/10 {}searches: {} answered ({:.1}/s), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} errors",
        args.clients,
        elapsed,
        args.mismatches,
        if args.international { "international " } else { "" },
        sorted.len(),
        sorted.len() as f64 / elapsed,
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.95),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(0.0),
        errors
    );
    if args.international {
        println!(
            "answers missing a partner (partners_unanswered not empty): {}",
            incomplete.load(Ordering::Relaxed)
        );
    }
    if let Some(r) = import {
        let (secs, report) = r?;
        println!(
            "import through the API: {} records ({} new, {} rejected) in {:.1} s",
            report["records"], report["new"], report["rejected"], secs
        );
    }
    if let Some(kib) = args.server_pid.and_then(peak_kib) {
        println!("server peak memory (VmHWM): {} MB", kib / 1024);
    }
    Ok(())
}
