//! Synthetic donor pools: reproducible, valid on the release, with the documented mixes.

use chrono::NaiveDate;
use medulla_nomenclature::Reducer;
use medulla_registry::synth::{age_on, Resolution};
use medulla_registry::{DonorType, PopulationMix, SynthConfig, Synthesizer};

mod common;
use common::env;

fn synth(seed: u64) -> Synthesizer<'static> {
    let e = env();
    let config = SynthConfig {
        seed,
        ..SynthConfig::default()
    };
    Synthesizer::new(config, &e.freqs, &e.release, &e.macs).unwrap()
}

fn csv(seed: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    synth(seed).write_csv(&mut out, n, |_| {}).unwrap();
    out
}

#[test]
fn a_seed_gives_the_same_pool_and_donors_do_not_depend_on_pool_size() {
    assert_eq!(csv(11, 500), csv(11, 500));
    assert_ne!(csv(11, 500), csv(12, 500));
    let small = String::from_utf8(csv(11, 100)).unwrap();
    let large = String::from_utf8(csv(11, 300)).unwrap();
    assert!(large.starts_with(&small));
}

#[test]
fn every_typing_is_valid_on_the_release() {
    let e = env();
    let reducer = Reducer::new(&e.release, &e.macs);
    let s = synth(5);
    let mut typed = 0;
    for i in 0..3000 {
        for pair in s.donor(i).donor.typing.positions {
            for t in pair.iter().flatten() {
                reducer
                    .validate(t)
                    .unwrap_or_else(|err| panic!("donor {i}: {t}: {err}"));
                typed += 1;
            }
        }
    }
    assert!(typed > 3000 * 6, "{typed}");
}

#[test]
fn resolution_population_and_cord_mixes_follow_the_configuration() {
    let s = synth(9);
    let n = 20_000;
    let (mut high, mut inter, mut abdr, mut low, mut eur, mut cords) = (0, 0, 0, 0, 0, 0);
    for i in 0..n {
        let sd = s.donor(i);
        let d = &sd.donor;
        match sd.resolution {
            Resolution::High => high += 1,
            Resolution::Intermediate => inter += 1,
            Resolution::AbDrb1 => abdr += 1,
            Resolution::Low => low += 1,
        }
        if d.population.as_deref() == Some("EUR") {
            eur += 1;
        }
        if d.donor_type == DonorType::Cord {
            cords += 1;
            assert!(d.cord.is_some());
        }
        if matches!(sd.resolution, Resolution::AbDrb1 | Resolution::Low) {
            // C and DQB1 untyped
            assert!(d.typing.positions[2][0].is_none() && d.typing.positions[4][0].is_none());
        }
    }
    let share = |k: u64| k as f64 / n as f64;
    assert!((share(high) - 0.40).abs() < 0.015);
    assert!((share(inter) - 0.25).abs() < 0.015);
    assert!((share(abdr) - 0.20).abs() < 0.015);
    assert!((share(low) - 0.15).abs() < 0.015);
    assert!((share(eur) - 0.60).abs() < 0.015);
    assert!((share(cords) - 0.03).abs() < 0.006);
}

#[test]
fn adults_are_18_to_60_recruited_by_40_and_typed_after_recruitment() {
    let s = synth(3);
    let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    for i in 0..5000 {
        let d = s.donor(i).donor;
        let (birth, recruited, typed) = (
            d.birth_date.unwrap(),
            d.recruitment_date.unwrap(),
            d.typing.date.unwrap(),
        );
        assert!(recruited <= typed && typed <= as_of);
        assert!(d.grid.is_some());
        if d.donor_type == DonorType::Adult {
            let age = age_on(birth, as_of);
            assert!((18..=60).contains(&age), "donor {i} aged {age}");
            let at_recruitment = age_on(birth, recruited);
            assert!(
                (18..=40).contains(&at_recruitment),
                "recruited at {at_recruitment}"
            );
        }
    }
}

#[test]
fn bad_mixes_and_unknown_populations_are_refused() {
    assert!("EUR=abc".parse::<PopulationMix>().is_err());
    assert!("EUR".parse::<PopulationMix>().is_err());
    assert!("EUR=0".parse::<PopulationMix>().is_err());
    let mix: PopulationMix = "EUR=3,AFA=1".parse().unwrap();
    assert_eq!(mix.0[0].1, 0.75);
    let e = env();
    let config = SynthConfig {
        mix: "XYZ=1".parse().unwrap(),
        ..SynthConfig::default()
    };
    let err = Synthesizer::new(config, &e.freqs, &e.release, &e.macs)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("XYZ") && err.contains("EUR"), "{err}");
}
