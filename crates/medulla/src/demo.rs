//! `medulla demo`: the main job in one command. HLA reductions on the shipped release,
//! then a synthetic registry (built on the first run and kept), searched for patients of
//! four populations.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use medulla_haplotypes::FrequencySet;
use medulla_matching::{search, ArdCatalog, SearchIndex, SearchRequest, SEARCH_LOCI};
use medulla_nomenclature::Reducer;
use medulla_registry::search_index::{day_number, indexed};
use medulla_registry::synth::Resolution;
use medulla_registry::{
    import_csv, DonorStore, DonorType, ImportOptions, PopulationMix, Store, SynthConfig,
    Synthesizer,
};

use crate::hla::SourceArgs;
use crate::search::{print_hits, Output};

#[derive(Args)]
pub struct DemoArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Folder of the demonstration registry (built on the first run, reused after).
    #[arg(long, env = "MEDULLA_DEMO_DIR", default_value = "medulla-demo")]
    dir: PathBuf,
    /// Donors in the synthetic registry.
    #[arg(long, default_value_t = 100_000)]
    donors: u64,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what} eta {{eta}}"))
            .expect("progress template"),
    );
    b
}

pub fn run(args: DemoArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    crate::hla::demo(&reducer)?;
    let freqs = FrequencySet::nmdp_2007();
    let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");

    // the registry: synthetic donors drawn from the NMDP 2007 haplotype frequencies
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let db = args.dir.join(format!("registry-{}.db", args.donors));
    println!("\n== A synthetic registry of {} donors ==", args.donors);
    if !db.exists() {
        let csv = args.dir.join(format!("donors-{}.csv", args.donors));
        let started = Instant::now();
        let synth = Synthesizer::new(
            SynthConfig {
                seed: 2026,
                as_of,
                ..SynthConfig::default()
            },
            &freqs,
            &release,
            &macs,
        )?;
        let b = bar(args.donors, "donors drawn");
        let out = File::create(&csv).with_context(|| format!("creating {}", csv.display()))?;
        synth.write_csv(BufWriter::new(out), args.donors, |n| b.set_position(n))?;
        b.finish_and_clear();
        println!(
            "drew {} donors (EUR 60%, AFA 15%, API 15%, HIS 10%; 3% cord units) in {:.1} s",
            args.donors,
            started.elapsed().as_secs_f64()
        );
        // import into a temporary file first: an interrupted first run leaves no half registry
        let partial = db.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let started = Instant::now();
        let mut store = Store::open(&partial)?;
        let b = bar(args.donors, "donors imported");
        let name = csv.display().to_string();
        let report = import_csv(
            BufReader::new(File::open(&csv)?),
            &mut store,
            &reducer,
            &ImportOptions {
                validate_first: false,
                file_name: &name,
                strict: true,
                by: "demo",
                at: as_of.and_hms_opt(9, 0, 0).expect("time"),
                before_commit: None,
                delimiter: None,
            },
            |n| b.set_position(n),
        )?;
        b.finish_and_clear();
        drop(store);
        std::fs::rename(&partial, &db)?;
        println!(
            "imported {} donors into {} in {:.1} s ({} rejected)",
            report.new,
            db.display(),
            started.elapsed().as_secs_f64(),
            report.rejected
        );
    } else {
        println!("reusing {}", db.display());
    }
    let store = Store::open(&db)?;
    let started = Instant::now();
    let mut catalog = ArdCatalog::new(&reducer);
    let mut donors = Vec::new();
    store.for_each_donor(&mut |d, s| {
        donors.push(indexed(&d, &s, as_of));
        Ok(())
    })?;
    let index = SearchIndex::build(&mut catalog, donors);
    let build = started.elapsed().as_secs_f64();
    let distinct = index.distinct_per_locus();
    println!(
        "search index: {} donors in {:.1} s, {} bytes per donor; distinct typings per locus: {}",
        index.len(),
        build,
        index.bytes_per_donor(),
        SEARCH_LOCI
            .iter()
            .zip(distinct)
            .map(|(l, n)| format!("{l} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let prediction = crate::predict::FreqArgs::default().load(&reducer)?;
    let imputer = prediction.imputer(&reducer);

    // patients: high-resolution typings drawn from each population's haplotypes
    // patients differ in CMV and ABO, as real ones do, so the ranking's later criteria show
    let patients = [
        ("EUR", false, "O", 72.0),
        ("AFA", true, "B", 64.0),
        ("API", true, "A", 55.0),
        ("HIS", false, "AB", 80.0),
    ];
    for (n, (pop, cmv_pos, abo, weight)) in patients.into_iter().enumerate() {
        let synth = Synthesizer::new(
            SynthConfig {
                seed: 77,
                mix: format!("{pop}=1").parse::<PopulationMix>()?,
                as_of,
                cord_share: 0.0,
                ..SynthConfig::default()
            },
            &freqs,
            &release,
            &macs,
        )?;
        let p = (0..)
            .map(|i| synth.donor(i))
            .find(|d| d.resolution == Resolution::High && d.donor.donor_type == DonorType::Adult)
            .expect("a high-resolution draw");
        let typing = indexed(&p.donor, &medulla_registry::Status::Available, as_of).typing;
        let gl = typing[..5]
            .iter()
            .map(|pair| pair.iter().flatten().cloned().collect::<Vec<_>>().join("+"))
            .collect::<Vec<_>>()
            .join("^");
        let abo = Some(abo.to_string());
        println!(
            "\n== Patient of population {pop}: {gl}, CMV {}, ABO {}, {weight} kg ==",
            if cmv_pos { "pos" } else { "neg" },
            abo.as_deref().unwrap_or("?")
        );
        let mut patient: [[Option<String>; 2]; 6] = Default::default();
        patient[..5].clone_from_slice(&typing[..5]);
        let mut counts = Vec::new();
        for mm in 0..=2u8 {
            let mut req = SearchRequest::ten_of_ten(patient.clone(), mm, day_number(as_of));
            req.limit = 0;
            counts.push(search(&index, &mut catalog, &req)?.total);
        }
        println!(
            "available donors within 0 / 1 / 2 mismatches (10/10 search): {} / {} / {}",
            counts[0], counts[1], counts[2]
        );
        // the search a coordinator runs, through the application layer as every
        // interface does: probabilities from the patient's population, best 5 shown
        let mut options = medulla_app::SearchOptions::new(gl.clone());
        options.mismatches = 2;
        options.patient_cmv = Some(if cmv_pos {
            medulla_app::search::CmvChoice::Pos
        } else {
            medulla_app::search::CmvChoice::Neg
        });
        options.patient_abo = abo;
        options.patient_weight = Some(weight);
        options.patient_population = Some(pop.to_string());
        options.limit = 5;
        options.date = Some(as_of);
        let mut req = options.to_request().map_err(crate::search::cli_error)?;
        req.limit = options.predict_top;
        let t = Instant::now();
        let result = search(&index, &mut catalog, &req)?;
        let outcome = medulla_app::search::finish(
            result,
            &options,
            &index,
            Some((&imputer, &prediction)),
            None,
            false,
        );
        print_hits(
            Output::Table,
            2,
            &index,
            &outcome,
            t.elapsed().as_secs_f64(),
            n + 1 == patients.len(),
        )?;
    }
    println!(
        "\nThe registry stays in {}; `medulla search --db {} --patient GL` searches it.",
        args.dir.display(),
        db.display()
    );
    Ok(())
}
