//! `medulla bench-web`: the web application's search as a coordinator meets it, measured
//! in a real headless Chromium: a patient typed into `/search`, the click on Search, and
//! the time until the results table is rendered, in the browser's own clock (navigation
//! start to the end of the load event) and from outside (the click command to the table
//! found). Loopback only, bounded by the number of runs.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use medulla_web::webdriver::{Browser, Driver};

use crate::hla::SourceArgs;
use crate::serve_bench::{patients, percentile, require_loopback};

#[derive(Args)]
pub struct WebBenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The service: http://127.0.0.1:PORT (loopback addresses only).
    #[arg(long)]
    url: String,
    /// An account that may search.
    #[arg(long)]
    user: String,
    /// Its password (default: read from MEDULLA_PASSWORD).
    #[arg(long, env = "MEDULLA_PASSWORD", hide_env_values = true)]
    password: String,
    /// Searches measured (after two warm-up searches).
    #[arg(long, default_value_t = 40)]
    runs: usize,
    /// Mismatches allowed in each search (10/10 loci).
    #[arg(long, default_value_t = 2)]
    mismatches: u8,
    /// Distinct patients (NMDP 2007 haplotypes, high resolution), searched in turn.
    #[arg(long, default_value_t = 40)]
    patients: usize,
}

fn login(b: &Browser, url: &str, user: &str, password: &str) -> Result<()> {
    b.goto(&format!("{url}/login"))?;
    b.send_keys(&b.find("#username")?, user)?;
    b.send_keys(&b.find("#password")?, password)?;
    b.click_to_page(&b.find("#login")?)?;
    b.wait_for("header.top .who", Duration::from_secs(10))
        .context("logging in (check the user and password)")?;
    Ok(())
}

/// One search through the form: (browser-measured ms, click-to-table ms, donors found).
/// The outside figure includes WebDriver's own polling for the new page.
fn search(b: &Browser, url: &str, patient: &str, mismatches: u8) -> Result<(f64, f64, String)> {
    b.goto(&format!("{url}/search"))?;
    let p = b.find("#patient")?;
    b.send_keys(&p, patient)?;
    b.send_keys(&b.find("#mismatches")?, &mismatches.to_string())?;
    let button = b.find("#run-search")?;
    let started = Instant::now();
    b.click_to_page(&button)?;
    b.wait_for("#hits, #search-error", Duration::from_secs(60))?;
    let outside = started.elapsed().as_secs_f64() * 1000.0;
    if b.find("#search-error").is_ok() {
        bail!("the search failed: {}", b.text_of("#search-error")?);
    }
    let inside = b.navigation_ms()?;
    Ok((inside, outside, b.text_of("#summary")?))
}

pub fn run(args: WebBenchArgs) -> Result<()> {
    require_loopback(&args.url)?;
    let url = args.url.trim_end_matches('/').to_string();
    let patients = patients(&args.source, args.patients)?;
    let driver = Driver::start()?;
    let b = driver.browser(1400, 1000)?;
    login(&b, &url, &args.user, &args.password)?;
    for p in patients.iter().take(2) {
        search(&b, &url, p, args.mismatches)?;
    }
    let bar = indicatif::ProgressBar::new(args.runs as u64);
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    let mut last = String::new();
    for i in 0..args.runs {
        let (a, b2, summary) = search(&b, &url, &patients[i % patients.len()], args.mismatches)?;
        inside.push(a);
        outside.push(b2);
        last = summary;
        bar.inc(1);
    }
    bar.finish_and_clear();
    for v in [&mut inside, &mut outside] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{} searches through /search (10/10, up to {} mismatches), headless Chromium; last: {last}",
        args.runs, args.mismatches
    );
    println!("{:<44} {:>8} {:>8} {:>8}", "ms", "p50", "p95", "max");
    for (name, v) in [
        ("click to rendered table (browser's clock)", &inside),
        ("click command to table found (WebDriver)", &outside),
    ] {
        println!(
            "{name:<44} {:>8.1} {:>8.1} {:>8.1}",
            percentile(v, 0.5),
            percentile(v, 0.95),
            v.last().copied().unwrap_or(0.0)
        );
    }
    Ok(())
}
