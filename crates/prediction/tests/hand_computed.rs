//! Imputation and match probabilities on sets small enough to compute by hand.

use medulla_haplotypes::FrequencySet;
use medulla_nomenclature::{MacTable, Reducer, Release};
use medulla_prediction::{
    match_probabilities, ImputeError, Imputer, LocusCategory, NmdpGroups, Resolution,
};

const SET: &str = "haplotype,frequency
A*01:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01,0.5
A*02:01~C*05:01~B*44:02~DRB1*04:01~DQB1*03:01,0.3
A*02:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01,0.2
A*24:09N~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01,0.1
";

const T1: &str =
    "A*01:01+A*02:01^C*07:01+C*05:01^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01";
const T2: &str =
    "A*01:01+A*02:01^C*07:01+C*07:01^B*08:01+B*08:01^DRB1*03:01+DRB1*03:01^DQB1*02:01+DQB1*02:01";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn with_imputer(f: impl FnOnce(&Imputer<'_>)) {
    let release = Release::shipped();
    let macs = MacTable::shipped();
    let reducer = Reducer::new(&release, &macs);
    let set = FrequencySet::parse_plain(SET, "small.csv", "X").unwrap();
    let resolution = Resolution::TwoField;
    let mut imputer = Imputer::new(&reducer, &resolution, &set);
    imputer.default_population = Some("X".into());
    f(&imputer)
}

/// (haplotype 1, haplotype 2, probability) of an imputation, as the set writes them.
fn genotypes(imp: &Imputer<'_>, gl: &str) -> Vec<(String, String, f64)> {
    let model = imp.model(None).unwrap();
    let t = imp.typing(gl).unwrap();
    imp.impute(model, &t, None)
        .unwrap()
        .genotypes
        .iter()
        .map(|g| {
            (
                imp.haplotype_name(model, g.haplotypes[0]),
                imp.haplotype_name(model, g.haplotypes[1]),
                g.probability,
            )
        })
        .collect()
}

#[test]
fn a_typing_one_pair_explains_has_that_pair_with_probability_one() {
    with_imputer(|imp| {
        let g = genotypes(imp, T1);
        assert_eq!(g.len(), 1, "{g:?}");
        assert!(close(g[0].2, 1.0));
        let pair = [g[0].0.as_str(), g[0].1.as_str()];
        assert!(pair.contains(&"A*01:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01"));
        assert!(pair.contains(&"A*02:01~C*05:01~B*44:02~DRB1*04:01~DQB1*03:01"));
    });
}

#[test]
fn posteriors_follow_hardy_weinberg_priors() {
    with_imputer(|imp| {
        // A*02:01 homozygous, the rest untyped: h2h2 .09, h2h3 2(.3)(.2) = .12, h3h3 .04
        let g = genotypes(imp, "A*02:01+A*02:01");
        let p: Vec<f64> = g.iter().map(|x| x.2).collect();
        assert_eq!(p.len(), 3);
        assert!(close(p[0], 0.12 / 0.25) && close(p[1], 0.09 / 0.25) && close(p[2], 0.04 / 0.25));
        // an allele list at one position, C typed: (h1,h2) .30 and (h3,h2) .12
        let g = genotypes(imp, "A*01:01/A*02:01+A*02:01^C*07:01+C*05:01");
        assert_eq!(g.len(), 2);
        assert!(close(g[0].2, 0.30 / 0.42) && close(g[1].2, 0.12 / 0.42));
        // a truncated list reports the mass it drops
        let model = imp.model(None).unwrap();
        let t = imp.typing("A*02:01+A*02:01").unwrap();
        let top = imp.impute(model, &t, Some(1)).unwrap();
        assert_eq!((top.genotypes.len(), top.total_genotypes), (1, 3));
        assert!(close(top.dropped_mass, 0.13 / 0.25));
    });
}

#[test]
fn typings_no_pair_explains_are_unrepresented_and_say_where() {
    with_imputer(|imp| {
        let model = imp.model(None).unwrap();
        let t = imp.typing("A*03:01+A*01:01^C*07:01+C*07:01").unwrap();
        assert_eq!(
            imp.impute(model, &t, None).unwrap_err(),
            ImputeError::Unrepresented { locus: "A".into() }
        );
        // each locus fits some haplotype, but no pair fits both C and B
        let t = imp.typing("C*05:01+C*05:01^B*08:01+B*08:01").unwrap();
        assert_eq!(
            imp.impute(model, &t, None).unwrap_err(),
            ImputeError::Unrepresented { locus: "C".into() }
        );
    });
}

#[test]
fn match_probabilities_of_hand_computed_pairs() {
    with_imputer(|imp| {
        let model = imp.model(None).unwrap();
        let dist = |gl: &str| {
            imp.ard_distribution(model, &imp.typing(gl).unwrap())
                .unwrap()
        };
        // patient T1 is certainly h1/h2; the donor is h1/h2 (5/7) or h3/h2 (2/7, one A
        // mismatch)
        let p = match_probabilities(
            &imp.loci,
            &dist(T1),
            &dist("A*01:01/A*02:01+A*02:01^C*07:01+C*05:01"),
        );
        assert!(close(p.p_10of10, 5.0 / 7.0), "{p:?}");
        assert!(close(p.p_9of10, 2.0 / 7.0));
        assert!(close(p.p_8of8, 5.0 / 7.0));
        assert!(close(p.p0("A").unwrap(), 5.0 / 7.0));
        assert!(close(p.per_locus[0][1], 2.0 / 7.0));
        assert!(close(p.p0("C").unwrap(), 1.0));
        assert_eq!(p.category("A"), Some(LocusCategory::Potential));
        assert_eq!(p.category("C"), Some(LocusCategory::CertainMatch));
        assert!(close(p.overall.iter().sum::<f64>(), 1.0));
        // T1 against T2 (h1/h3): A matches, C, B, DRB1, DQB1 one mismatch each
        let p = match_probabilities(&imp.loci, &dist(T1), &dist(T2));
        assert!(close(p.p0("A").unwrap(), 1.0));
        for l in ["C", "B", "DRB1", "DQB1"] {
            assert_eq!(p.category(l), Some(LocusCategory::CertainMismatch), "{l}");
        }
        assert!(close(p.p_10of10, 0.0) && close(p.p_9of10, 0.0) && close(p.p_8of8, 0.0));
        assert!(close(p.overall.iter().sum::<f64>(), 0.0), "4 mismatches");
    });
}

#[test]
fn a_null_allele_counts_as_the_other_allele_of_its_locus() {
    with_imputer(|imp| {
        let model = imp.model(None).unwrap();
        let dist = |gl: &str| {
            imp.ard_distribution(model, &imp.typing(gl).unwrap())
                .unwrap()
        };
        let rest = "^C*07:01+C*07:01^B*08:01+B*08:01^DRB1*03:01+DRB1*03:01^DQB1*02:01+DQB1*02:01";
        // donor h1/h4: A*01:01 and the null A*24:09N, so A*01:01 homozygous at the ARD
        let donor = dist(&format!("A*01:01+A*24:09N{rest}"));
        let patient = dist(&format!("A*01:01+A*01:01{rest}"));
        let p = match_probabilities(&imp.loci, &patient, &donor);
        assert!(close(p.p_10of10, 1.0), "{p:?}");
        // against A*01:01+A*02:01 the same donor has one A mismatch
        let p = match_probabilities(&imp.loci, &dist(&format!("A*01:01+A*02:01{rest}")), &donor);
        assert!(close(p.p_9of10, 1.0), "{p:?}");
    });
}

#[test]
fn the_nmdp_2007_set_imputes_with_its_own_g_groups() {
    let release = Release::shipped();
    let macs = MacTable::shipped();
    let reducer = Reducer::new(&release, &macs);
    let set = FrequencySet::nmdp_2007();
    let resolution = Resolution::NmdpG(NmdpGroups::nmdp_2007());
    let imp = Imputer::new(&reducer, &resolution, &set);
    let eur = imp.model(Some("EUR")).unwrap();
    // the commonest European haplotype, homozygous, typed at two fields: one genotype
    let t = imp
        .typing("A*01:01+A*01:01^C*07:01+C*07:01^B*08:01+B*08:01^DRB1*03:01+DRB1*03:01^DQB1*02:01+DQB1*02:01")
        .unwrap();
    let r = imp.impute(eur, &t, None).unwrap();
    assert_eq!(r.total_genotypes, 1);
    assert_eq!(
        imp.haplotype_name(eur, r.genotypes[0].haplotypes[0]),
        "A*01:01g~C*07:01g~B*08:01g~DRB1*03:01~DQB1*02:01g"
    );
    // A*01:04N is in NMDP's A*01:01g group, so it types that group, not a null
    let t = imp
        .typing("A*01:04N+A*01:01^C*07:01+C*07:01^B*08:01+B*08:01^DRB1*03:01+DRB1*03:01^DQB1*02:01+DQB1*02:01")
        .unwrap();
    assert_eq!(imp.impute(eur, &t, None).unwrap().total_genotypes, 1);
    // a MAC and an XX code: many genotypes, posteriors summing to one
    let t = imp
        .typing("A*02:XX+A*01:AB^B*08:01+B*44:02^DRB1*03:01+DRB1*04:01")
        .unwrap();
    let r = imp.impute(eur, &t, None).unwrap();
    assert!(r.total_genotypes > 10, "{}", r.total_genotypes);
    let sum: f64 = r.genotypes.iter().map(|g| g.probability).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    assert!(r
        .genotypes
        .windows(2)
        .all(|w| w[0].probability >= w[1].probability));
    // untyped loci (C, DQB1 above) are imputed from the haplotypes
    let first = imp.haplotype_name(eur, r.genotypes[0].haplotypes[0]);
    assert!(first.contains("C*") && first.contains("DQB1*"), "{first}");
}

#[test]
fn six_locus_sets_impute_dpb1_and_keep_it_out_of_the_ten() {
    let release = Release::shipped();
    let macs = MacTable::shipped();
    let reducer = Reducer::new(&release, &macs);
    let set = FrequencySet::parse_plain(
        "A*01:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01~DPB1*04:01,0.6\n\
         A*02:01~C*05:01~B*44:02~DRB1*04:01~DQB1*03:01~DPB1*02:01,0.3\n\
         A*02:01~C*05:01~B*44:02~DRB1*04:01~DQB1*03:01~DPB1*04:01,0.1\n",
        "six.csv",
        "X",
    )
    .unwrap();
    let resolution = Resolution::TwoField;
    let imp = Imputer::new(&reducer, &resolution, &set);
    assert_eq!(imp.loci.len(), 6);
    let model = imp.model(Some("X")).unwrap();
    let dist = |gl: &str| {
        imp.ard_distribution(model, &imp.typing(gl).unwrap())
            .unwrap()
    };
    // typed at A and DPB1: h1 with h2 (2 x .6 x .3 = .36) only; h1 with h3 would need
    // DPB1*02:01 somewhere
    let patient = dist("A*01:01+A*02:01^DPB1*04:01+DPB1*02:01");
    assert_eq!(patient.genotypes.len(), 1);
    // a donor typed at A only: h1h2 (.36) or h1h3 (.12) -> DPB1 matches with 3/4
    let donor = dist("A*01:01+A*02:01");
    let p = match_probabilities(&imp.loci, &patient, &donor);
    assert!(close(p.p0("DPB1").unwrap(), 0.75), "{p:?}");
    // the ten alleles of A, C, B, DRB1, DQB1 match whatever DPB1 does
    assert!(close(p.p_10of10, 1.0), "{p:?}");
    assert_eq!(p.category("DPB1"), Some(LocusCategory::Potential));
}
