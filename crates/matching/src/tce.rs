//! DPB1 T-cell epitope (TCE) groups and the permissiveness of a DPB1 mismatch.
//!
//! The groups come from the release's `tce/dpb_tce.csv` (`V2_Assignment`: 1, 2 or 3, with
//! `$` marking predicted assignments and `2a` a variant of group 2; 0 = none). Group 1 is
//! the most immunogenic. A mismatch is permissive when patient and donor have the same
//! lowest group; otherwise it is non-permissive, in the graft-versus-host direction when
//! the patient has the lower group (the donor's T cells meet an epitope they lack), in the
//! host-versus-graft direction when the donor has it.

use rustc_hash::FxHashMap;

/// The shipped release's TCE assignments.
pub const SHIPPED_TCE: &str = include_str!("../../../data/imgt/3.58.0/tce/dpb_tce.csv");

/// DPB1 allele (full or two-field protein name) -> TCE group.
#[derive(Debug, Clone, Default)]
pub struct TceTable {
    groups: FxHashMap<Box<str>, u8>,
}

/// The TCE verdict for a donor's DPB1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dpb1Tce {
    /// DPB1 matched (no mismatch to judge).
    Matched,
    Permissive,
    NonPermissiveGvh,
    NonPermissiveHvg,
    /// A side is untyped, ambiguous across groups, or has no assignment.
    Unknown,
}

impl TceTable {
    pub fn shipped() -> Self {
        Self::parse(SHIPPED_TCE)
    }

    /// Parse `Allele,Protein,V1_Assignment,V2_Assignment,Comments` lines.
    pub fn parse(text: &str) -> Self {
        let mut groups = FxHashMap::default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("Allele,"))
        {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() < 4 {
                continue;
            }
            let Some(g) = f[3].chars().next().and_then(|c| c.to_digit(10)) else {
                continue;
            };
            if !(1..=3).contains(&g) {
                continue;
            }
            groups.insert(f[0].trim().into(), g as u8);
            groups.entry(f[1].trim().into()).or_insert(g as u8);
        }
        TceTable { groups }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The group of a typing given as allele names (a list is resolved when all agree).
    pub fn group_of(&self, names: &[&str]) -> Option<u8> {
        let mut found = None;
        for n in names {
            let key = n.strip_prefix("HLA-").unwrap_or(n);
            let g = self.groups.get(key).or_else(|| {
                let two: String = key.split(':').take(2).collect::<Vec<_>>().join(":");
                self.groups.get(two.as_str())
            })?;
            match found {
                None => found = Some(*g),
                Some(f) if f == *g => {}
                Some(_) => return None,
            }
        }
        found
    }
}

/// Judge a DPB1 mismatch from the TCE groups of each side's two positions.
pub fn dpb1_tce(matched: bool, patient: [Option<u8>; 2], donor: [Option<u8>; 2]) -> Dpb1Tce {
    if matched {
        return Dpb1Tce::Matched;
    }
    let lowest = |g: [Option<u8>; 2]| -> Option<u8> {
        match g {
            [Some(a), Some(b)] => Some(a.min(b)),
            [Some(a), None] | [None, Some(a)] => Some(a),
            [None, None] => None,
        }
    };
    match (lowest(patient), lowest(donor)) {
        (Some(p), Some(d)) if p == d => Dpb1Tce::Permissive,
        (Some(p), Some(d)) if p < d => Dpb1Tce::NonPermissiveGvh,
        (Some(_), Some(_)) => Dpb1Tce::NonPermissiveHvg,
        _ => Dpb1Tce::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_from_the_release_file() {
        let t = TceTable::shipped();
        assert!(t.len() > 2000);
        // DPB1*09:01 and *10:01 are group 1, *02:01 group 3, *04:01 group 3, *03:01 group 2
        assert_eq!(t.group_of(&["DPB1*09:01"]), Some(1));
        assert_eq!(t.group_of(&["DPB1*02:01:02:01"]), Some(3));
        assert_eq!(t.group_of(&["DPB1*03:01"]), Some(2));
        assert_eq!(t.group_of(&["DPB1*02:01", "DPB1*04:01"]), Some(3));
        assert_eq!(t.group_of(&["DPB1*02:01", "DPB1*09:01"]), None);
    }

    #[test]
    fn directions() {
        assert_eq!(
            dpb1_tce(true, [Some(3), Some(3)], [Some(1), None]),
            Dpb1Tce::Matched
        );
        assert_eq!(
            dpb1_tce(false, [Some(3), Some(2)], [Some(2), Some(3)]),
            Dpb1Tce::Permissive
        );
        assert_eq!(
            dpb1_tce(false, [Some(1), Some(3)], [Some(3), Some(3)]),
            Dpb1Tce::NonPermissiveGvh
        );
        assert_eq!(
            dpb1_tce(false, [Some(3), Some(3)], [Some(2), Some(3)]),
            Dpb1Tce::NonPermissiveHvg
        );
        assert_eq!(
            dpb1_tce(false, [None, None], [Some(2), Some(3)]),
            Dpb1Tce::Unknown
        );
    }
}
