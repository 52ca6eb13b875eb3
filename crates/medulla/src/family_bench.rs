//! `medulla bench-family`: family haplotype assignment measured on simulated families.
//!
//! Families are drawn from the shipped NMDP 2007 haplotype frequencies: four parental
//! haplotypes of one population, a patient and 1 to 4 full siblings by Mendelian
//! inheritance, a crossover in a meiosis with a realistic probability (at a uniformly
//! chosen gap between adjacent loci), a few sample swaps (a sibling replaced by an
//! unrelated person), parents typed or not. Typings are written at the resolution asked
//! (two fields, intermediate: MACs and allele lists, low: XX codes), as registries hold
//! them. Each family is assigned and compared with the truth: the siblings identical to
//! the patient by descent and the patient's two haplotypes.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use medulla_family::{assign, Member, PopulationModel, Relation, Status, TypingReader};
use medulla_haplotypes::{FrequencySet, Haplotype};
use medulla_nomenclature::Reducer;
use medulla_registry::synth::Resolution;
use medulla_registry::{SynthConfig, Synthesizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::hla::SourceArgs;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Typed {
    /// Two-field names.
    TwoField,
    /// MACs and allele lists (intermediate resolution).
    Intermediate,
    /// First-field XX codes (low resolution).
    Low,
}

#[derive(Args)]
pub struct FamilyBenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Families to simulate.
    #[arg(long, default_value_t = 10_000)]
    families: usize,
    /// Population of the NMDP 2007 set the haplotypes are drawn from.
    #[arg(long, default_value = "EUR")]
    population: String,
    /// Resolution of every typing.
    #[arg(long, value_enum, default_value = "two-field")]
    resolution: Typed,
    /// Probability of a crossover between HLA-A and HLA-DQB1 in one meiosis.
    #[arg(long, default_value_t = 0.015)]
    recombination: f64,
    /// Probability that a sibling's sample is someone else's.
    #[arg(long, default_value_t = 0.005)]
    swap: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print this many wrong answers in full (typings, truth, answer), for study.
    #[arg(long, default_value_t = 0)]
    show_wrong: usize,
}

/// How one family came out.
#[derive(Default)]
struct Tally {
    families: usize,
    right: usize,
    flagged: usize,
    wrong: usize,
    false_identical: usize,
    true_identical: usize,
    found_identical: usize,
}

pub fn run(args: FamilyBenchArgs) -> Result<()> {
    let (release, macs) = args.source.load()?;
    let reducer = Reducer::new(&release, &macs);
    let set = FrequencySet::nmdp_2007();
    let pop = set
        .population(&args.population)
        .with_context(|| format!("no population {} in the NMDP 2007 set", args.population))?;
    let sampler = pop.sampler()?;
    let synth = Synthesizer::new(SynthConfig::default(), &set, &release, &macs)?;
    let mut reader = TypingReader::new(&reducer);
    let model = PopulationModel::new(pop, &set.loci, &mut reader);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let resolution = match args.resolution {
        Typed::TwoField => Resolution::High,
        Typed::Intermediate => Resolution::Intermediate,
        Typed::Low => Resolution::Low,
    };
    let loci = set.loci.clone();
    // the truth at two-field ARD names, as the assignment writes haplotypes
    let truth_text = |reader: &mut TypingReader<'_>, h: &[&str]| -> String {
        h.iter()
            .map(|a| {
                let name = a.strip_suffix('g').unwrap_or(a);
                reader
                    .position(name)
                    .map(|ids| {
                        let mut n: Vec<String> = ids
                            .iter()
                            .map(|&i| reader.interner.name(i).to_string())
                            .collect();
                        n.sort();
                        n.join("/")
                    })
                    .unwrap_or_else(|_| name.to_string())
            })
            .collect::<Vec<_>>()
            .join("~")
    };
    // by what was typed: both parents; one parent and >= 2 siblings; no parent and >= 2
    // siblings; the rest
    let mut groups: [Tally; 4] = Default::default();
    let mut time = std::time::Duration::ZERO;
    let mut shown = 0;
    let bar = ProgressBar::new(args.families as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} families").expect("template"));
    for f in 0..args.families {
        let parents: [&Haplotype; 4] = std::array::from_fn(|_| sampler.sample(&mut rng));
        let kids = rng.random_range(2..=5usize);
        // each kid: per locus, (paternal 0/1, maternal 0/1)
        let meiosis = |rng: &mut ChaCha8Rng| -> Vec<usize> {
            let first = rng.random_range(0..2usize);
            if rng.random_bool(args.recombination) {
                let gap = rng.random_range(1..loci.len());
                (0..loci.len())
                    .map(|l| if l < gap { first } else { 1 - first })
                    .collect()
            } else {
                vec![first; loci.len()]
            }
        };
        let mut inherit: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
        let mut swapped = Vec::new();
        for k in 0..kids {
            inherit.push((meiosis(&mut rng), meiosis(&mut rng)));
            swapped.push(k > 0 && rng.random_bool(args.swap));
        }
        let hap_of = |k: usize, paternal: bool| -> Vec<&str> {
            let (p, m) = &inherit[k];
            (0..loci.len())
                .map(|l| {
                    if paternal {
                        &*parents[p[l]].alleles[l]
                    } else {
                        &*parents[2 + m[l]].alleles[l]
                    }
                })
                .collect()
        };
        let parents_typed = rng.random_range(0..3u8); // 0: none, 1: one, 2: both
        let write = |h1: &[&str], h2: &[&str], rng: &mut ChaCha8Rng| -> String {
            loci.iter()
                .enumerate()
                .map(|(l, locus)| {
                    format!(
                        "{}+{}",
                        synth.write_allele(h1[l], locus, resolution, rng),
                        synth.write_allele(h2[l], locus, resolution, rng)
                    )
                })
                .collect::<Vec<_>>()
                .join("^")
        };
        let mut members: Vec<(String, Relation, String)> = Vec::new();
        let phap = |i: usize| -> Vec<&str> { parents[i].alleles.iter().map(|a| &**a).collect() };
        if parents_typed >= 1 {
            let t = write(&phap(0), &phap(1), &mut rng);
            members.push(("F".into(), Relation::Father, t));
        }
        if parents_typed == 2 {
            let t = write(&phap(2), &phap(3), &mut rng);
            members.push(("M".into(), Relation::Mother, t));
        }
        for (k, &swap) in swapped.iter().enumerate() {
            let t = if swap {
                let a: Vec<&str> = sampler
                    .sample(&mut rng)
                    .alleles
                    .iter()
                    .map(|a| &**a)
                    .collect();
                let b: Vec<&str> = sampler
                    .sample(&mut rng)
                    .alleles
                    .iter()
                    .map(|a| &**a)
                    .collect();
                write(&a, &b, &mut rng)
            } else {
                write(&hap_of(k, true), &hap_of(k, false), &mut rng)
            };
            let (id, rel) = if k == 0 {
                ("P".to_string(), Relation::Patient)
            } else {
                (format!("S{k}"), Relation::Sibling)
            };
            members.push((id, rel, t));
        }
        let ms: Vec<Member> = members
            .iter()
            .map(|(id, r, t)| {
                Ok(Member {
                    id: id.clone(),
                    relation: *r,
                    typing: reader
                        .read(t)
                        .map_err(|e| anyhow::anyhow!("family {f}, {id}: {e}"))?,
                })
            })
            .collect::<Result<_>>()?;
        let started = Instant::now();
        let a = assign(&format!("F{f}"), &ms, &reader.interner, Some(&model))?;
        time += started.elapsed();

        // the truth: siblings who received both of the patient's haplotypes, allele for
        // allele (the same origin at every locus, or where a crossover took the other
        // parental haplotype, the same allele on it)
        let truly: Vec<String> = (1..kids)
            .filter(|&k| {
                !swapped[k]
                    && hap_of(k, true) == hap_of(0, true)
                    && hap_of(k, false) == hap_of(0, false)
            })
            .map(|k| format!("S{k}"))
            .collect();
        let mut true_haps = vec![
            truth_text(&mut reader, &hap_of(0, true)),
            truth_text(&mut reader, &hap_of(0, false)),
        ];
        true_haps.sort();
        let mut got_haps = a
            .members
            .iter()
            .find(|m| m.member == "P")
            .map(|m| m.haplotypes.clone())
            .unwrap_or_default();
        got_haps.sort();
        let haps_right = match args.resolution {
            Typed::TwoField => got_haps == true_haps,
            // at lower resolutions a haplotype is right when it holds the true alleles
            _ => {
                got_haps.len() == 2 && {
                    let holds = |got: &str, truth: &str| {
                        let g: Vec<&str> = got.split('~').collect();
                        let t: Vec<&str> = truth.split('~').collect();
                        g.len() == t.len()
                            && g.iter()
                                .zip(&t)
                                .all(|(g, t)| t.split('/').any(|x| g.split('/').any(|y| y == x)))
                    };
                    (holds(&got_haps[0], &true_haps[0]) && holds(&got_haps[1], &true_haps[1]))
                        || (holds(&got_haps[0], &true_haps[1])
                            && holds(&got_haps[1], &true_haps[0]))
                }
            }
        };
        // what is said of identity is true and complete: every sibling called identical
        // received both of the patient's haplotypes (allele for allele: a crossover
        // where a parent's two haplotypes carry the same allele changes nothing); every
        // such sibling is called identical or reported identical by typing (descent
        // unprovable, flagged); nobody else is either
        let ident_right = a.identical_siblings.iter().all(|s| truly.contains(s))
            && truly
                .iter()
                .all(|s| a.identical_siblings.contains(s) || a.identical_by_typing.contains(s))
            && a.identical_by_typing
                .iter()
                .chain(&a.identical_siblings)
                .all(|s| truly.contains(s));
        let false_ident = a
            .identical_siblings
            .iter()
            .filter(|s| !truly.contains(s))
            .count();
        let tally = &mut groups[match (parents_typed, kids >= 3) {
            (2, _) => 0,
            (1, true) => 1,
            (0, true) => 2,
            _ => 3,
        }];
        tally.families += 1;
        tally.false_identical += false_ident;
        tally.true_identical += truly.len();
        tally.found_identical += a
            .identical_siblings
            .iter()
            .filter(|s| truly.contains(s))
            .count();
        // right: the answer given (the most probable one where the typings leave it
        // open) is the truth; flagged: not `ok`; wrong: `ok` yet not the truth, or a
        // sibling called identical who is not
        let correct = ident_right && haps_right;
        if correct {
            tally.right += 1;
        } else if std::env::var("MEDULLA_BENCH_SHOW").is_ok_and(|v| v == parents_typed.to_string())
        {
            bar.suspend(|| {
                eprintln!("--- not right: F{f} swapped {swapped:?} inheritance {inherit:?}");
                for (id, r, t) in &members {
                    eprintln!("  {id} {} {t}", r.code());
                }
                eprintln!("  truth: identical {truly:?}, patient {true_haps:?}");
                eprintln!(
                    "  answer: {} {:?} {:?} {:?}",
                    serde_json::to_string(&a.status).unwrap_or_default(),
                    a.identical_siblings,
                    a.members
                        .iter()
                        .find(|m| m.member == "P")
                        .map(|m| &m.haplotypes),
                    a.notes
                );
            });
        }
        if a.status != Status::Ok {
            tally.flagged += 1;
        }
        if (a.status == Status::Ok && !correct) || false_ident > 0 {
            tally.wrong += 1;
            if shown < args.show_wrong && (false_ident > 0 || args.show_wrong > 100) {
                // (shown below)
                shown += 1;
                bar.suspend(|| {
                    eprintln!("--- wrong: family F{f} ({kids} children, parents typed {parents_typed}, swapped {swapped:?}, inheritance {inherit:?})");
                    for (id, r, t) in &members {
                        eprintln!("  {id} {} {t}", r.code());
                    }
                    eprintln!("  truth: identical {truly:?}, patient {true_haps:?}");
                    eprintln!("  answer: {}", serde_json::to_string(&a).unwrap_or_default());
                });
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let per = time.as_secs_f64() * 1e6 / args.families.max(1) as f64;
    println!(
        "families  resolution     group                             right   flagged  wrong  false identical  identical found"
    );
    for (name, t) in [
        "both parents typed",
        "one parent, >= 2 siblings",
        "no parent, >= 2 siblings",
        "others (one sibling, < 2 parents)",
    ]
    .iter()
    .zip(&groups)
    {
        let pct = |n: usize| 100.0 * n as f64 / t.families.max(1) as f64;
        println!(
            "{:>8}  {:<13}  {:<32}  {:>5.2}%  {:>6.2}%  {:>4.2}%  {:>15}  {:>7}/{}",
            t.families,
            match args.resolution {
                Typed::TwoField => "two-field",
                Typed::Intermediate => "intermediate",
                Typed::Low => "low (XX)",
            },
            name,
            pct(t.right),
            pct(t.flagged),
            pct(t.wrong),
            t.false_identical,
            t.found_identical,
            t.true_identical
        );
    }
    println!("assignment time: {per:.0} us per family (mean, one core)");
    Ok(())
}
