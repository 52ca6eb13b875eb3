//! Every figure of the likelihood model on a set small enough to compute by hand.
//!
//! Population X: h1 = A*01:01~C*01:02~B*08:01~DRB1*03:01~DQB1*02:01 (0.5),
//! h2 = A*02:01~C*01:02~B*08:01~DRB1*03:01~DQB1*05:01 (0.3),
//! h3 = A*01:01~C*07:01~B*07:02~DRB1*15:01~DQB1*02:01 (0.1): truncated, 0.9 listed.
//! Population Y: h1 (0.6), y2 = A*24:02~C*04:01~B*35:01~DRB1*04:01~DQB1*03:02 (0.4).
//!
//! X's genotypes (F = f1 f2, doubled when heterozygous): {h1,h1} 0.25, {h1,h2} 0.30,
//! {h1,h3} 0.10, {h2,h2} 0.09, {h2,h3} 0.06, {h3,h3} 0.01 (sum 0.81: 0.19 unlisted). All six
//! differ at 8/8 as at 10/10. Y's: {h1,h1} 0.36, {h1,y2} 0.48, {y2,y2} 0.16.

use medulla_haplotypes::{FrequencySet, Haplotype, Population, FIVE_LOCI};
use medulla_population::{Availability, CompiledSet, Counts, Level, LevelModel};

const H1: &str = "A*01:01~C*01:02~B*08:01~DRB1*03:01~DQB1*02:01";
const H2: &str = "A*02:01~C*01:02~B*08:01~DRB1*03:01~DQB1*05:01";
const H3: &str = "A*01:01~C*07:01~B*07:02~DRB1*15:01~DQB1*02:01";
const Y2: &str = "A*24:02~C*04:01~B*35:01~DRB1*04:01~DQB1*03:02";

fn pop(code: &str, haps: &[(&str, f64)]) -> Population {
    Population {
        code: code.into(),
        haplotypes: haps
            .iter()
            .map(|(h, _)| Haplotype {
                alleles: h.split('~').map(Into::into).collect(),
            })
            .collect(),
        frequencies: haps.iter().map(|(_, f)| *f).collect(),
    }
}

fn set() -> CompiledSet {
    let set = FrequencySet {
        loci: FIVE_LOCI.to_vec(),
        populations: vec![
            pop("X", &[(H1, 0.5), (H2, 0.3), (H3, 0.1)]),
            pop("Y", &[(H1, 0.6), (Y2, 0.4)]),
        ],
        declared: None,
    };
    CompiledSet::compile(&set, |n| Some(n.to_string())).unwrap()
}

fn all_available() -> Availability {
    Availability {
        donors: vec![1.0, 1.0],
        other: 1.0,
    }
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

const X_GENOTYPES: [f64; 6] = [0.25, 0.30, 0.10, 0.09, 0.06, 0.01];

#[test]
fn ten_of_ten_one_donor_and_two_half_available() {
    let m = LevelModel::build(&set(), Level::TenOfTen, &[]).unwrap();
    close(m.listed[0], 0.81);
    // one donor of X: sum F^2
    let one = Counts {
        donors: vec![1.0, 0.0],
        other: 0.0,
    };
    let l = m.likelihoods(&all_available(), &[0.5, 0.5], &[one]);
    close(l[0][0], X_GENOTYPES.iter().map(|f| f * f).sum());
    close(l[0][0], 0.1743);
    // two donors of X, each available half the time: F (1 - (1 - F/2)^2) = F^2 - F^3/4
    let half = Availability {
        donors: vec![0.5, 1.0],
        other: 1.0,
    };
    let two = Counts {
        donors: vec![2.0, 0.0],
        other: 0.0,
    };
    let l = m.likelihoods(&half, &[0.5, 0.5], &[two]);
    close(l[0][0], 0.1743 - 0.25 * 0.044571);
}

#[test]
fn eight_of_eight_ignores_dqb1() {
    // h1 and h2 differ at A as well, so X's genotypes stay six; Y's {h1,y2} and X's are
    // apart. With one donor of each population, a patient of X: 1-(1-F_X)(1-F_Y).
    let m = LevelModel::build(&set(), Level::EightOfEight, &[]).unwrap();
    assert_eq!(m.genotypes(), 6 + 2);
    let one_each = Counts {
        donors: vec![1.0, 1.0],
        other: 0.0,
    };
    let l = m.likelihoods(&all_available(), &[0.5, 0.5], &[one_each]);
    // X: {h1,h1} also 0.36 among Y
    let x = 0.25 * (1.0 - 0.75 * 0.64)
        + 0.30 * 0.30
        + 0.10 * 0.10
        + 0.09 * 0.09
        + 0.06 * 0.06
        + 0.01 * 0.01;
    close(l[0][0], x);
    // Y: {h1,h1} 0.36 (X 0.25), {h1,y2} 0.48, {y2,y2} 0.16
    let y = 0.36 * (1.0 - 0.75 * 0.64) + 0.48 * 0.48 + 0.16 * 0.16;
    close(l[0][1], y);
}

#[test]
fn seven_of_eight_adds_the_genotypes_one_allele_away() {
    // One mismatch apart among X's genotypes: {h1,h1}-{h1,h2} (A), {h1,h2}-{h2,h2} (A),
    // {h1,h3}-{h2,h3} (A). So p(<=1 mismatch): 0.55, 0.64, 0.16, 0.39, 0.16, 0.01.
    let m = LevelModel::build(&set(), Level::SevenOfEight, &[]).unwrap();
    let one = Counts {
        donors: vec![1.0, 0.0],
        other: 0.0,
    };
    let l = m.likelihoods(&all_available(), &[0.5, 0.5], &[one]);
    close(l[0][0], 0.3903);
    // Y donors too: Y's {h1,y2} is one B... no: A, C, B, DRB1 all differ from {h1,h1} by
    // one allele each (4 mismatches); {h1,h1} of Y matches X's {h1,h1} and is one away
    // from X's {h1,h2}. One donor of Y alone, patients of X:
    let y_only = Counts {
        donors: vec![0.0, 1.0],
        other: 0.0,
    };
    let l = m.likelihoods(&all_available(), &[0.5, 0.5], &[y_only]);
    close(l[0][0], 0.25 * 0.36 + 0.30 * 0.36);
}

#[test]
fn mixed_origin_takes_one_haplotype_from_each() {
    // X+Y: {h1,h1} 0.30, {h1,y2} 0.20, {h1,h2} 0.18, {h2,y2} 0.12, {h1,h3} 0.06,
    // {h3,y2} 0.04 (0.9 listed). One donor of each population.
    let m = LevelModel::build(&set(), Level::TenOfTen, &[(0, 1)]).unwrap();
    assert_eq!(m.patient_pops, vec!["X", "Y", "X+Y"]);
    close(m.listed[2], 0.9);
    let one_each = Counts {
        donors: vec![1.0, 1.0],
        other: 0.0,
    };
    let l = m.likelihoods(&all_available(), &[0.5, 0.5], &[one_each]);
    close(
        l[0][2],
        0.30 * 0.52 + 0.20 * 0.48 + 0.18 * 0.30 + 0.06 * 0.10,
    );
    close(l[0][2], 0.312);
}

#[test]
fn availability_by_population_and_donors_of_other_origin() {
    let m = LevelModel::build(&set(), Level::TenOfTen, &[]).unwrap();
    // a_X = 0.5 with 2 donors, a_Y = 0.25 with 4 donors; patients of Y
    let avail = Availability {
        donors: vec![0.5, 0.25],
        other: 1.0,
    };
    let pool = Counts {
        donors: vec![2.0, 4.0],
        other: 0.0,
    };
    let l = m.likelihoods(&avail, &[0.5, 0.5], &[pool]);
    let y = 0.36 * (1.0 - 0.875f64.powi(2) * 0.91f64.powi(4))
        + 0.48 * (1.0 - 0.88f64.powi(4))
        + 0.16 * (1.0 - 0.96f64.powi(4));
    close(l[0][1], y);
    // one donor of unknown origin, counted half X and half Y: p = (F_X + F_Y) / 2
    let other = Counts {
        donors: vec![0.0, 0.0],
        other: 1.0,
    };
    let l = m.likelihoods(&all_available(), &[0.5, 0.5], &[other]);
    close(
        l[0][1],
        0.36 * (0.25 + 0.36) / 2.0 + 0.48 * 0.24 + 0.16 * 0.08,
    );
}

#[test]
fn a_null_allele_counts_as_the_other_allele() {
    // a patient A*01:01, A*24:09N is typed homozygous A*01:01: it matches a donor
    // homozygous A*01:01
    let set = FrequencySet {
        loci: FIVE_LOCI.to_vec(),
        populations: vec![pop(
            "Z",
            &[
                (H1, 0.5),
                ("A*24:09N~C*01:02~B*08:01~DRB1*03:01~DQB1*02:01", 0.5),
            ],
        )],
        declared: None,
    };
    let c = CompiledSet::compile(&set, |n| (!n.ends_with('N')).then(|| n.to_string())).unwrap();
    let m = LevelModel::build(&c, Level::TenOfTen, &[]).unwrap();
    // {h1,h1} and {h1,null} read the same (0.25 + 0.5); {null,null} (0.25) stays apart
    assert_eq!(m.genotypes(), 2);
    let one = Counts {
        donors: vec![1.0],
        other: 0.0,
    };
    let l = m.likelihoods(
        &Availability {
            donors: vec![1.0],
            other: 1.0,
        },
        &[1.0],
        &[one],
    );
    close(l[0][0], 0.75 * 0.75 + 0.25 * 0.25);
}

#[test]
fn recruitment_takes_the_larger_gain_and_counts_donors_to_a_target() {
    use medulla_population::recruit::{allocate, donors_needed, Registry};
    let m = LevelModel::build(&set(), Level::TenOfTen, &[]).unwrap();
    let reg = Registry {
        availability: all_available(),
        other_mix: vec![0.5, 0.5],
        counts: Counts {
            donors: vec![0.0, 0.0],
            other: 0.0,
        },
    };
    // patients of X only: one donor of X gains sum F_X^2 = 0.1743, one of Y only
    // F_X(h1,h1) F_Y(h1,h1) = 0.09
    let plan = allocate(&m, &reg, &[1.0, 0.0], 1, 1);
    assert_eq!(plan.added, vec![1, 0]);
    close(plan.objective_after, 0.1743);
    // patients of Y only: Y
    let plan = allocate(&m, &reg, &[0.0, 1.0], 1, 1);
    assert_eq!(plan.added, vec![0, 1]);
    // Y's patients reach 0.5 with two donors of Y: one gives 0.36*0.36 + 0.48*0.48 +
    // 0.16*0.16 = 0.3856, two give 0.36*(1-0.64^2) + 0.48*(1-0.52^2) + 0.16*(1-0.84^2)
    // = 0.609856
    assert_eq!(donors_needed(&m, &reg, 1, 1, 0.5, 1 << 40), Some(2));
    assert_eq!(donors_needed(&m, &reg, 1, 1, 0.3856, 1 << 40), Some(1));
    // X lists 0.81 of its genotypes: 0.9 is out of reach
    assert_eq!(donors_needed(&m, &reg, 0, 0, 0.9, 1 << 40), None);
}
