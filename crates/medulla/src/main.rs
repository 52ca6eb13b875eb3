//! `medulla`: the command line of the Medulla donor registry and HLA matching engine.

mod adversarial_bench;
mod audit_cli;
mod bench;
mod db_cli;
mod demo;
mod donors;
mod family_bench;
mod haplotypes_cli;
mod hla;
mod journey;
mod likelihood_bench;
mod likelihood_cli;
mod locks_bench;
mod login_bench;
mod partners;
mod predict;
mod roadmap_cli;
mod search;
mod search_bench;
mod serve;
mod serve_bench;
mod settings_cli;
mod synth;
mod table;
mod tasks_bench;
mod tls_args;
mod web_bench;

use anyhow::Result;

// reductions allocate many short strings; mimalloc halves the time glibc's malloc takes
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "medulla",
    version,
    about = "Stem cell donor registry and HLA matching engine"
)]
struct Cli {
    /// File holding the audit chain's key (64 hexadecimal digits; `medulla audit keygen`
    /// makes one). Also MEDULLA_AUDIT_KEY_FILE, or the key itself in MEDULLA_AUDIT_KEY.
    /// Without a key the chain is written unkeyed (development only).
    #[arg(
        long,
        global = true,
        env = "MEDULLA_AUDIT_KEY_FILE",
        value_name = "FILE"
    )]
    audit_key_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HLA nomenclature: reduce, validate and expand typings on an IPD-IMGT/HLA release.
    Hla(hla::HlaArgs),
    /// Measure the hot paths (reduction throughput).
    Bench(bench::BenchArgs),
    /// Time the nomenclature parsers on adversarial input (issue 25): `A*` and N digits,
    /// GL Strings of N alleles; each must be answered, or refused by name, in flat time.
    BenchAdversarial(adversarial_bench::AdversarialBenchArgs),
    /// The donor registry: import, export, show, set-status.
    Donors(donors::DonorsArgs),
    /// The registry database: migrate its schema, show its status (SQLite or PostgreSQL).
    Db(db_cli::DbArgs),
    /// Measure index build and search latency over a donor CSV.
    BenchSearch(search_bench::SearchBenchArgs),
    /// Impute typings (`ID%GL` lines): genotypes with posterior probabilities.
    Impute(predict::ImputeArgs),
    /// Match probabilities of every patient-donor pair (`ID%GL` files), as CSV.
    Predict(predict::PredictArgs),
    /// Search donors for a patient (graded, ranked).
    Search(Box<search::SearchArgs>),
    /// Write a synthetic donor pool (donor CSV) drawn from the NMDP 2007 haplotype frequencies.
    Synth(synth::SynthArgs),
    /// Run the registry as an HTTP service (JSON API under /api/v1).
    Serve(Box<serve::ServeArgs>),
    /// Load-test a running service on loopback: concurrent searches, optionally during an
    /// import.
    BenchServe(Box<serve_bench::ServeBenchArgs>),
    /// Logins and status changes timed against a running service while a slow client
    /// uploads an import and others view a patient's roadmap (loopback only, bounded).
    BenchLocks(Box<locks_bench::LocksBenchArgs>),
    /// Time the web application's search in headless Chromium, from the click on Search
    /// to the rendered table (loopback only).
    BenchWeb(Box<web_bench::WebBenchArgs>),
    /// Accounts of the service: add, list, disable.
    Users(serve::UsersArgs),
    /// The audit trail: list its entries, verify its hash chain.
    Audit(serve::AuditArgs),
    /// Patients and their search cases: add, show, list, set-status.
    Patients(journey::PatientsArgs),
    /// Requests between a patient and a donor: open, show, list, acknowledge, result,
    /// reject, cancel.
    Requests(journey::RequestsArgs),
    /// The donor's workup: plan dates, record steps, the donor's calendar.
    Workup(journey::WorkupArgs),
    /// Partner registries to exchange with: add, list, status, problems, reconcile.
    Partners(partners::PartnersArgs),
    /// The registry's settings: show, set (the reservation maximum).
    Settings(settings_cli::SettingsArgs),
    /// Every open task with its deadline, overdue ones first.
    Tasks(journey::TasksArgs),
    /// A patient's family: add relatives, assign haplotypes (from a CSV or a patient).
    Family(roadmap_cli::FamilyArgs),
    /// The patient's own stored cells: add, show, list, set-status, with their verdict.
    Products(roadmap_cli::ProductsArgs),
    /// Measure family haplotype assignment on simulated families.
    BenchFamily(family_bench::FamilyBenchArgs),
    /// Measure the task list of a registry with many open workup journeys.
    BenchTasks(tasks_bench::TasksBenchArgs),
    /// Measure login time for known against unknown user names (median, p95).
    BenchLogin(login_bench::LoginBenchArgs),
    /// Match likelihood by population: the chance a patient finds at least one available
    /// matched donor (10/10, 8/8, 7/8) in a registry of a size and population mix.
    Likelihood(Box<likelihood_cli::LikelihoodArgs>),
    /// Where to recruit: the allocation of new donors that raises the weighted likelihood
    /// most, and the donors a population's patients need to reach a target.
    Recruit(Box<likelihood_cli::RecruitArgs>),
    /// Haplotype frequencies from the registry's own donors: estimate (EM), compare.
    Haplotypes(haplotypes_cli::HaplotypesArgs),
    /// The likelihood model against a simulation searched with Medulla's own search.
    BenchLikelihood(Box<likelihood_bench::LikelihoodBenchArgs>),
    /// The main job in one command: HLA reductions, then a synthetic registry (built on the
    /// first run) searched for patients of four populations.
    Demo(demo::DemoArgs),
}

/// Die quietly on a closed pipe (`medulla search ... | head`), as Unix tools do, instead of
/// Rust's default of ignoring SIGPIPE and panicking in `println!`.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default before any thread starts
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Errors as a person reads them: the message and its causes on one line each, never a
/// stack trace (whatever RUST_BACKTRACE says), and exit status 1.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    restore_sigpipe();
    medulla_registry::store::on_writer_wait(|| {
        eprintln!("waiting for another writer to finish with the registry database...")
    });
    let cli = Cli::parse();
    // who this process's changes are recorded as when no use case names itself: the
    // service itself, or the operating-system user of a command
    medulla_registry::audit::set_default_actor(&match cli.command {
        Command::Serve(_) => "system".to_string(),
        _ => medulla_registry::audit::cli_actor(),
    });
    // the audit chain's key, for every command that writes or checks the chain (not
    // for the command that makes a key)
    if !matches!(&cli.command, Command::Audit(a) if a.is_keygen()) {
        audit_cli::configure(cli.audit_key_file.as_deref())?;
    }
    match cli.command {
        Command::Hla(args) => hla::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchAdversarial(args) => adversarial_bench::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Donors(args) => donors::run(args),
        Command::Db(args) => db_cli::run(args),
        Command::Search(args) => search::run(*args),
        Command::Impute(args) => predict::impute(args),
        Command::Predict(args) => predict::predict(args),
        Command::BenchSearch(args) => search_bench::run(args),
        Command::Serve(args) => serve::serve(*args),
        Command::Users(args) => serve::users(args),
        Command::BenchServe(args) => serve_bench::run(*args),
        Command::BenchLocks(args) => locks_bench::run(*args),
        Command::BenchWeb(args) => web_bench::run(*args),
        Command::Audit(args) => serve::audit(args),
        Command::Patients(args) => journey::patients(args),
        Command::Requests(args) => journey::requests(args),
        Command::Workup(args) => journey::workup(args),
        Command::Partners(args) => partners::partners(args),
        Command::Settings(args) => settings_cli::run(args),
        Command::Tasks(args) => journey::tasks(args),
        Command::Family(args) => roadmap_cli::family(args),
        Command::Products(args) => roadmap_cli::products(args),
        Command::BenchTasks(args) => tasks_bench::run(args),
        Command::BenchLogin(args) => login_bench::run(args),
        Command::BenchFamily(args) => family_bench::run(args),
        Command::Likelihood(args) => likelihood_cli::likelihood(*args),
        Command::Recruit(args) => likelihood_cli::recruit(*args),
        Command::BenchLikelihood(args) => likelihood_bench::run(*args),
        Command::Haplotypes(args) => haplotypes_cli::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand, option and argument says what it is for.
    #[test]
    fn every_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && !path.is_empty() {
                missing.push(format!("{here} (command)"));
            }
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{here} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "", &mut missing);
        assert!(
            missing.is_empty(),
            "options without help:\n{}",
            missing.join("\n")
        );
    }
}
