//! Grades of real 3.58.0 typings.

use medulla_matching::{grade_locus, ArdCatalog, Expression, PositionGrade::*};
use medulla_nomenclature::{MacTable, Reducer, Release};

fn grade(patient: [&str; 2], donor: [&str; 2]) -> medulla_matching::LocusGrade {
    let release = Release::shipped();
    let macs = MacTable::shipped();
    let reducer = Reducer::new(&release, &macs);
    let mut cat = ArdCatalog::new(&reducer);
    let mut t = |s: &str| (!s.is_empty()).then(|| cat.position(s).unwrap());
    let (p1, p2, d1, d2) = (t(patient[0]), t(patient[1]), t(donor[0]), t(donor[1]));
    grade_locus([p1.as_ref(), p2.as_ref()], [d1.as_ref(), d2.as_ref()])
}

#[test]
fn identical_high_resolution_typings_match_with_certainty() {
    let g = grade(["A*01:01:01:01", "A*02:01"], ["A*01:01", "A*02:01:01:01"]);
    assert_eq!(g.positions, [AlleleMatch, AlleleMatch]);
    assert!(g.certain_match() && g.mismatches() == 0);
}

#[test]
fn pairing_is_crossed_when_that_matches_better() {
    let g = grade(["A*01:01", "A*02:01"], ["A*02:01", "A*01:01"]);
    assert!(g.crossed);
    assert_eq!(g.mismatches(), 0);
}

#[test]
fn same_antigen_different_protein_is_an_allele_mismatch() {
    // A*02:01 and A*02:05 both express A2
    let g = grade(["A*01:01", "A*02:01"], ["A*01:01", "A*02:05"]);
    assert_eq!(g.positions, [AlleleMatch, AntigenMatchAlleleMismatch]);
    let g = grade(["A*01:01", "A*02:01"], ["A*01:01", "A*03:01"]);
    assert_eq!(g.positions, [AlleleMatch, AntigenMismatch]);
    assert_eq!(g.mismatches(), 1);
    // split level: A*23:01 (A23) and A*24:02 (A24) are both A9, yet different antigens
    let g = grade(["A*23:01", "A*01:01"], ["A*24:02", "A*01:01"]);
    assert_eq!(g.positions, [AntigenMismatch, AlleleMatch]);
}

#[test]
fn ambiguous_or_untyped_sides_are_potential_matches() {
    let g = grade(["A*02:01", "A*01:01"], ["A*02:AB", "A*01:01"]);
    assert_eq!(g.positions, [PotentialMatch, AlleleMatch]);
    let g = grade(["A*02:01", "A*01:01"], ["A*02:XX", "A*01:XX"]);
    assert_eq!(g.positions, [PotentialMatch, PotentialMatch]);
    let g = grade(["A*02:01", "A*01:01"], ["", ""]);
    assert_eq!(g.positions, [PotentialMatch, PotentialMatch]);
    assert!(!g.certain_match());
}

#[test]
fn a_null_allele_makes_the_locus_homozygous_for_the_expressed_one() {
    // A*24:09N is null: the patient is A*01:01 homozygous
    let g = grade(["A*01:01", "A*24:09N"], ["A*01:01", "A*01:01"]);
    assert_eq!(g.positions, [AlleleMatch, AlleleMatch]);
    assert!(g.patient_homozygous);
    let g = grade(["A*01:01", "A*24:09N"], ["A*01:01", "A*24:02"]);
    assert_eq!(g.mismatches(), 1);
}

#[test]
fn expression_of_ambiguous_typings() {
    let release = Release::shipped();
    let macs = MacTable::shipped();
    let reducer = Reducer::new(&release, &macs);
    let mut cat = ArdCatalog::new(&reducer);
    assert_eq!(
        cat.position("A*24:09N").unwrap().expression,
        Expression::Null
    );
    assert_eq!(
        cat.position("A*02:XX").unwrap().expression,
        Expression::MaybeNull
    );
    assert_eq!(
        cat.position("A*02:01").unwrap().expression,
        Expression::Expressed
    );
    assert!(cat.position("A*99:99").is_err());
}

#[test]
fn homozygous_loci_give_mismatches_a_direction() {
    use medulla_matching::{MismatchCount, MismatchDirection};
    // patient homozygous A*01:01, donor A*01:01 + A*03:01: only the patient sees a
    // foreign antigen (host-versus-graft, rejection direction)
    let g = grade(["A*01:01", "A*01:01"], ["A*01:01", "A*03:01"]);
    assert_eq!(g.mismatches(), 1);
    assert_eq!(g.direction(), Some(MismatchDirection::HostVersusGraft));
    assert_eq!(g.mismatches_counted(MismatchCount::GraftVersusHost), 0);
    assert_eq!(g.mismatches_counted(MismatchCount::HostVersusGraft), 1);
    // the same with the homozygous patient written with one position only
    let g = grade(["A*01:01", ""], ["A*01:01", "A*03:01"]);
    assert_eq!(g.direction(), Some(MismatchDirection::HostVersusGraft));
    // donor homozygous: only the graft's T cells see a foreign antigen
    let g = grade(["A*01:01", "A*03:01"], ["A*01:01", "A*01:01"]);
    assert_eq!(g.direction(), Some(MismatchDirection::GraftVersusHost));
    assert_eq!(g.mismatches_counted(MismatchCount::GraftVersusHost), 1);
    assert_eq!(g.mismatches_counted(MismatchCount::HostVersusGraft), 0);
    // a null allele makes the donor homozygous (A*24:09N expresses nothing)
    let g = grade(["A*01:01", "A*03:01"], ["A*01:01", "A*24:09N"]);
    assert_eq!(g.direction(), Some(MismatchDirection::GraftVersusHost));
    // heterozygous on both sides: both directions
    let g = grade(["A*01:01", "A*02:01"], ["A*01:01", "A*03:01"]);
    assert_eq!(g.direction(), Some(MismatchDirection::Bidirectional));
    assert_eq!(g.mismatches_counted(MismatchCount::GraftVersusHost), 1);
    // both homozygous for different antigens: two mismatches, both ways
    let g = grade(["A*01:01", "A*01:01"], ["A*03:01", "A*03:01"]);
    assert_eq!(g.mismatches(), 2);
    assert_eq!(g.direction(), Some(MismatchDirection::Bidirectional));
    // no mismatch, no direction
    let g = grade(["A*01:01", "A*01:01"], ["A*01:01", "A*01:01"]);
    assert_eq!(g.direction(), None);
}

#[test]
fn grade_rules_at_class_ii_and_with_p_groups() {
    // DRB1*04:01 vs *04:04: same antigen DR4, different protein
    let g = grade(["DRB1*04:01", "DRB1*15:01"], ["DRB1*04:04", "DRB1*15:01"]);
    assert_eq!(g.positions, [AntigenMatchAlleleMismatch, AlleleMatch]);
    // alleles of one P group match at the ARD: A*02:01:01:01 and A*02:01:02 (A*02:01P)
    let g = grade(["A*02:01:01:01", "A*01:01"], ["A*02:01:02", "A*01:01"]);
    assert_eq!(g.positions, [AlleleMatch, AlleleMatch]);
    // serology on one side: antigen-level only, so a potential match
    let g = grade(["A*02:01", "A*01:01"], ["A2", "A1"]);
    assert_eq!(g.positions, [PotentialMatch, PotentialMatch]);
    // serology that does not include the patient's antigen is an antigen mismatch
    let g = grade(["A*02:01", "A*01:01"], ["A3", "A1"]);
    assert_eq!(g.positions, [AntigenMismatch, PotentialMatch]);
}
