//! `medulla bench-login`: how long a login takes for a known user name (wrong password,
//! right password) against an unknown one: the same argon2 work, so names cannot be told
//! apart by timing. Runs on a temporary registry through the service's own login (no
//! HTTP), each attempt from its own (made-up) source address so that throttling does not
//! answer instead of the password check.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use medulla_app::service::LoginAttempt;
use medulla_app::{Role, Service};
use medulla_nomenclature::{MacTable, Reducer, Release};

#[derive(Args)]
pub struct LoginBenchArgs {
    /// Attempts of each kind.
    #[arg(long, default_value_t = 50)]
    attempts: usize,
}

const PASSWORD: &str = "bench login password of some length";

fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

pub fn run(args: LoginBenchArgs) -> Result<()> {
    let n = args.attempts.max(1);
    let dir = std::env::temp_dir().join(format!("medulla-bench-login-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("a temporary folder")?;
    let out = measure(n, &dir.join("bench.db"));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn measure(n: usize, db: &std::path::Path) -> Result<()> {
    let release: &'static Release = Box::leak(Box::new(Release::shipped()));
    let macs: &'static MacTable = Box::leak(Box::new(MacTable::shipped()));
    let reducer: &'static Reducer<'static> = Box::leak(Box::new(Reducer::new(release, macs)));
    let freqs = Box::leak(Box::new(
        medulla_app::freqs::FreqSource::default().load(reducer)?,
    ));
    // enough accounts that none reaches the account's throttling
    let users: Vec<String> = (0..n.div_ceil(4))
        .map(|i| format!("coordinator{i}"))
        .collect();
    for u in &users {
        medulla_app::accounts::add_user(db, u, Role::SearchCoordinator, Some(PASSWORD))?;
    }
    let service = Arc::new(Service::open(db, reducer, freqs, None, |_| {})?);
    let mut source = 0u32;
    let mut next_source = || {
        source += 1;
        // documentation ranges (RFC 5737): keys of the throttle, never contacted
        Some(IpAddr::V4(Ipv4Addr::from(0xC633_6400 + source)))
    };
    // one untimed round first (the dummy hash is made on first use)
    let _ = service.login(&LoginAttempt {
        username: "warm-up",
        password: "x",
        totp: None,
        source: next_source(),
    });
    let timed = |user: &str, password: &str, source| {
        let t = Instant::now();
        let ok = service
            .login(&LoginAttempt {
                username: user,
                password,
                totp: None,
                source,
            })
            .is_ok();
        (t.elapsed().as_secs_f64() * 1e3, ok)
    };
    let (mut known, mut unknown, mut right) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let user = &users[i % users.len()];
        let (ms, ok) = timed(user, "not the password", next_source());
        anyhow::ensure!(!ok, "a wrong password logged in");
        known.push(ms);
        let (ms, ok) = timed(&format!("nobody{i}"), "not the password", next_source());
        anyhow::ensure!(!ok, "an unknown name logged in");
        unknown.push(ms);
        let (ms, ok) = timed(user, PASSWORD, next_source());
        anyhow::ensure!(ok, "the right password was refused");
        right.push(ms);
    }
    println!("login time over {n} attempts each (ms)");
    println!("{:<34} {:>8} {:>8}", "", "median", "p95");
    let (km, kp) = stats(known);
    let (um, up) = stats(unknown);
    let (rm, rp) = stats(right);
    println!("{:<34} {km:>8.2} {kp:>8.2}", "known name, wrong password");
    println!("{:<34} {um:>8.2} {up:>8.2}", "unknown name");
    println!("{:<34} {rm:>8.2} {rp:>8.2}", "known name, right password");
    println!("unknown / known (median): {:.2}", um / km);
    Ok(())
}
