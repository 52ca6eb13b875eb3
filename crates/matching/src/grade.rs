//! The grade of one locus: two patient positions against two donor positions.

use crate::typing::{Expression, PositionTyping};

/// The grade of one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionGrade {
    /// Both sides one expressed ARD protein, the same.
    AlleleMatch,
    /// The sides may be the same ARD protein (an ambiguous typing, or an untyped side).
    PotentialMatch,
    /// Different proteins, same split-level antigen.
    AntigenMatchAlleleMismatch,
    /// Different antigens.
    AntigenMismatch,
}

impl PositionGrade {
    pub fn is_mismatch(self) -> bool {
        matches!(
            self,
            PositionGrade::AntigenMatchAlleleMismatch | PositionGrade::AntigenMismatch
        )
    }
}

/// The direction of a locus's mismatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MismatchDirection {
    /// The donor's T cells can see a patient antigen, and the patient's a donor antigen.
    Bidirectional,
    /// Only the donor's T cells see a foreign antigen (the donor is homozygous).
    GraftVersusHost,
    /// Only the patient's immune system sees a foreign antigen (the patient is homozygous).
    HostVersusGraft,
}

/// Which mismatches a search counts against its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MismatchCount {
    /// Every mismatch, whatever its direction (the default).
    #[default]
    Both,
    /// Mismatches in the graft-versus-host direction only.
    GraftVersusHost,
    /// Mismatches in the host-versus-graft (rejection) direction only.
    HostVersusGraft,
}

/// The grade of one locus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocusGrade {
    /// Grades of patient positions 1 and 2 (against the donor position paired with each).
    pub positions: [PositionGrade; 2],
    /// Patient position 1 was paired with donor position 2.
    pub crossed: bool,
    /// A side was homozygous (after null alleles): a mismatch then has a direction.
    pub patient_homozygous: bool,
    pub donor_homozygous: bool,
}

impl LocusGrade {
    pub fn mismatches(&self) -> u8 {
        self.positions.iter().filter(|g| g.is_mismatch()).count() as u8
    }

    /// Which way the mismatches of this locus point, when it has any. A homozygous
    /// patient facing a heterozygous donor sees the donor's extra antigen (host-versus-graft
    /// only); a homozygous donor facing a heterozygous patient has T cells that see the
    /// patient's extra antigen (graft-versus-host only); otherwise both ways.
    pub fn direction(&self) -> Option<MismatchDirection> {
        if self.mismatches() == 0 {
            return None;
        }
        Some(match (self.patient_homozygous, self.donor_homozygous) {
            (true, false) => MismatchDirection::HostVersusGraft,
            (false, true) => MismatchDirection::GraftVersusHost,
            _ => MismatchDirection::Bidirectional,
        })
    }

    /// Mismatches counted in one direction (`Both`: all of them).
    pub fn mismatches_counted(&self, count: MismatchCount) -> u8 {
        let m = self.mismatches();
        match (count, self.direction()) {
            (_, None) | (MismatchCount::Both, _) => m,
            (MismatchCount::GraftVersusHost, Some(MismatchDirection::HostVersusGraft)) => 0,
            (MismatchCount::HostVersusGraft, Some(MismatchDirection::GraftVersusHost)) => 0,
            _ => m,
        }
    }

    /// Every match certain (no potential match, no mismatch).
    pub fn certain_match(&self) -> bool {
        self.positions
            .iter()
            .all(|g| *g == PositionGrade::AlleleMatch)
    }
}

pub(crate) fn grade_position(
    p: Option<&PositionTyping>,
    d: Option<&PositionTyping>,
) -> PositionGrade {
    let (Some(p), Some(d)) = (p, d) else {
        return PositionGrade::PotentialMatch;
    };
    if p.shares_ard(d) {
        if p.is_unambiguous() && d.is_unambiguous() {
            PositionGrade::AlleleMatch
        } else {
            PositionGrade::PotentialMatch
        }
    } else if p.shares_antigen(d) {
        PositionGrade::AntigenMatchAlleleMismatch
    } else {
        PositionGrade::AntigenMismatch
    }
}

/// Apply the null-allele rule and the homozygous reading of an empty second position:
/// the locus as two expressed positions (`None` = untyped).
pub(crate) fn expressed<T: Copy>(
    t: [Option<T>; 2],
    null: impl Fn(T) -> bool,
    same_ard: impl Fn(T, T) -> bool,
) -> ([Option<T>; 2], bool) {
    let null = |x: Option<T>| x.is_some_and(&null);
    let pair = match t {
        // an empty second position is the first again (homozygous or not told apart)
        [Some(a), None] => [Some(a), Some(a)],
        [a, b] if null(a) && !null(b) => [b, b],
        [a, b] if null(b) && !null(a) => [a, a],
        other => other,
    };
    let homozygous = match pair {
        [Some(a), Some(b)] => same_ard(a, b),
        _ => false,
    };
    (pair, homozygous)
}

fn expressed_typings(t: [Option<&PositionTyping>; 2]) -> ([Option<&PositionTyping>; 2], bool) {
    expressed(
        t,
        |x| x.expression == Expression::Null,
        |a, b| a.ard == b.ard,
    )
}

/// Pair the positions straight or crossed, whichever gives fewer mismatches, then fewer
/// antigen mismatches, then more certain matches.
pub(crate) fn choose_pairing(
    straight: [PositionGrade; 2],
    crossed: [PositionGrade; 2],
    patient_homozygous: bool,
    donor_homozygous: bool,
) -> LocusGrade {
    let key = |g: &[PositionGrade; 2]| {
        let mismatches = g.iter().filter(|x| x.is_mismatch()).count();
        let antigen = g
            .iter()
            .filter(|x| **x == PositionGrade::AntigenMismatch)
            .count();
        let certain = g
            .iter()
            .filter(|x| **x == PositionGrade::AlleleMatch)
            .count();
        (mismatches, antigen, usize::MAX - certain)
    };
    let use_crossed = key(&crossed) < key(&straight);
    LocusGrade {
        positions: if use_crossed { crossed } else { straight },
        crossed: use_crossed,
        patient_homozygous,
        donor_homozygous,
    }
}

/// Grade one locus: pair the positions straight or crossed, whichever gives fewer
/// mismatches, then more certain matches.
pub fn grade_locus(
    patient: [Option<&PositionTyping>; 2],
    donor: [Option<&PositionTyping>; 2],
) -> LocusGrade {
    let (p, patient_homozygous) = expressed_typings(patient);
    let (d, donor_homozygous) = expressed_typings(donor);
    let straight = [grade_position(p[0], d[0]), grade_position(p[1], d[1])];
    let crossed = [grade_position(p[0], d[1]), grade_position(p[1], d[0])];
    choose_pairing(straight, crossed, patient_homozygous, donor_homozygous)
}
