//! `medulla bench-tasks`: the task list of a registry with many open journeys.
//!
//! Builds a registry database with `--journeys` open workups at every stage (before the
//! collection, with the collection planned; after it, with check-ups done or overdue),
//! all through the workflow's own state machine, then times `medulla tasks`' use case
//! (load every open request with its journey, compute the tasks, sort) several times.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{Duration, Local, NaiveDate};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medulla_app::workflow::task_list;
use medulla_registry::patient::Patient;
use medulla_registry::requests::{insert_request, next_request_id, put_journey, replace_tasks};
use medulla_registry::Store;
use medulla_workflow::{Entry, Journey, Outcome, PlanChange, Request, RequestState, Step, Subject};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Args)]
pub struct TasksBenchArgs {
    /// Open workup journeys to create.
    #[arg(long, default_value_t = 10_000)]
    journeys: usize,
    /// Journeys per patient.
    #[arg(long, default_value_t = 10)]
    per_patient: usize,
    /// Timed runs of the task list.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Seed of the stages and dates.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Registry database to create (must not exist; default: a temporary file, removed).
    #[arg(long)]
    db: Option<PathBuf>,
}

fn entry(step: Step, date: NaiveDate) -> Entry {
    Entry {
        step,
        date,
        outcome: Outcome::Ok,
        typing: None,
        by: "bench".into(),
        note: String::new(),
    }
}

/// A journey at a random stage, valid under every rule.
fn journey(rng: &mut ChaCha8Rng, today: NaiveDate) -> Result<Journey> {
    let d = |n: i64| today + Duration::days(n);
    let mut j;
    if rng.random_bool(0.5) {
        // before the collection: planned 25 days from now, 0 to 5 steps done
        j = Journey::new(d(-40));
        j.plan(
            &PlanChange {
                collection: Some(d(25)),
                ..Default::default()
            },
            today,
        )?;
        let steps = [
            (Step::Consent, -35),
            (Step::Sample, -34),
            (Step::Exam, -2),
            (Step::Idm, -1),
            (Step::Clearance, 0),
        ];
        let n = rng.random_range(0..=steps.len());
        for (s, off) in &steps[..n] {
            j.record(entry(*s, d(*off)), today)?;
        }
    } else {
        // after the collection, up to five years ago
        let c = d(-rng.random_range(1..1800));
        let at = |n: i64| c + Duration::days(n);
        j = Journey::new(at(-45));
        for (s, off) in [
            (Step::Consent, -40),
            (Step::Sample, -39),
            (Step::Exam, -30),
            (Step::Idm, -20),
            (Step::Clearance, -10),
            (Step::Mobilisation, -5),
            (Step::Mobilisation, -4),
            (Step::Mobilisation, -3),
            (Step::Mobilisation, -2),
            (Step::Mobilisation, -1),
            (Step::Collection, 0),
            (Step::Shipment, 0),
        ] {
            j.record(entry(s, at(off)), today)?;
        }
        if at(1) <= today {
            j.record(entry(Step::Infusion, at(1)), today)?;
        }
        for f in Step::FOLLOWUPS {
            if let Some(due) = f.followup_due(c) {
                // most check-ups done on time; some left open (overdue)
                if due <= today && rng.random_bool(0.8) && f != Step::Followup5y {
                    j.record(entry(f, due), today)?;
                }
            }
        }
    }
    Ok(j)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(args: TasksBenchArgs) -> Result<()> {
    let temp = args.db.is_none();
    let path = args.db.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("medulla-bench-tasks-{}.db", std::process::id()))
    });
    if path.exists() {
        bail!("{} exists: give a new file", path.display());
    }
    let result = build_and_time(&args, &path);
    if temp {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    result
}

fn build_and_time(args: &TasksBenchArgs, path: &std::path::Path) -> Result<()> {
    let mut store = Store::open(path).with_context(|| format!("creating {}", path.display()))?;
    let now = Local::now().naive_local();
    let today = now.date();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let patients = args.journeys.div_ceil(args.per_patient.max(1));
    let started = Instant::now();
    let bar = ProgressBar::new((patients + args.journeys) as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("template"));
    bar.set_message("patients and journeys");
    for p in 0..patients {
        let patient = Patient {
            id: format!("P{p:06}"),
            hla: "A*01:01+A*02:01^B*08:01+B*07:02^DRB1*03:01+DRB1*15:01".into(),
            ..Default::default()
        };
        store.add_patient(&patient, None, now, "bench")?;
        bar.inc(1);
    }
    let journeys: Vec<Journey> = (0..args.journeys)
        .map(|_| journey(&mut rng, today))
        .collect::<Result<_>>()?;
    store.write(|tx| -> Result<(), medulla_registry::StoreError> {
        for (k, j) in journeys.iter().enumerate() {
            let (seq, id) = next_request_id(tx)?;
            let state = if j.passed(Step::Collection).is_some() {
                RequestState::PartiallyResulted
            } else if j.records.is_empty() {
                RequestState::Open
            } else {
                RequestState::Acknowledged
            };
            let r = Request {
                id: id.clone(),
                patient: format!("P{:06}", k / args.per_patient.max(1)),
                donor: format!("D{k:08}"),
                subject: Subject::Workup,
                state,
                opened: j.opened,
                opened_by: "bench".into(),
                note: String::new(),
            };
            insert_request(tx, seq, &r, now)?;
            put_journey(tx, &id, j, now)?;
            replace_tasks(tx, &id, &medulla_workflow::tasks::request_due(&r, Some(j)))?;
            bar.inc(1);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    eprintln!(
        "built {} journeys of {} patients in {:.1} s",
        args.journeys,
        patients,
        started.elapsed().as_secs_f64()
    );
    let mut times = Vec::with_capacity(args.runs);
    let mut tasks = 0;
    let mut overdue = 0;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let list = task_list(&store, today, None)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        tasks = list.len();
        overdue = list.iter().filter(|t| t.overdue).count();
    }
    let mut soon = Vec::with_capacity(args.runs);
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let _ = task_list(&store, today, Some(7))?;
        soon.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    soon.sort_by(f64::total_cmp);
    println!("journeys  tasks  overdue  runs  p50 ms  max ms  p50 ms (--due 7)");
    println!(
        "{:>8}  {:>5}  {:>7}  {:>4}  {:>6.1}  {:>6.1}  {:>6.1}",
        args.journeys,
        tasks,
        overdue,
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 1.0),
        percentile(&soon, 0.5)
    );
    Ok(())
}
