//! Family HLA haplotype assignment.
//!
//! From the typings of a patient, their parents, full siblings, children and other
//! relatives: each parent's two haplotypes (the father's `a`/`b`, the mother's `c`/`d`,
//! `a` and `c` being those the patient inherited at the first typed locus), which ones each
//! child carries, the siblings HLA-identical to the patient by descent, the haploidentical
//! relatives, and what stops a clean answer: a child with an allele neither parent has, a
//! recombinant haplotype (with the loci it crossed between), parental haplotypes that
//! cannot be told apart, untyped parents.
//!
//! The method, per locus (at two-field ARD names, `lgx`, so any typing the nomenclature
//! reads works, ambiguous ones as sets): an inheritance vector gives each child one
//! paternal and one maternal haplotype; a vector is feasible at a locus when allele sets
//! for `a`, `b`, `c`, `d` exist that every typed member's two positions fit (in either
//! order). A dynamic programme over the loci then finds the sequences of feasible vectors
//! with the fewest changes (each change is a recombination in one child's meiosis); the
//! answer is proven when every such sequence agrees. Where they do not, haplotype
//! frequencies weigh them.

mod model;
mod read;
mod solve;

use serde::Serialize;

pub use model::PopulationModel;
pub use read::{FamilyTyping, Interner, LocusSets, TypingReader, FAMILY_LOCI};
pub use solve::{assign, FrequencyModel};

/// How a relative is related to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    Patient,
    Father,
    Mother,
    Sibling,
    HalfSibling,
    Child,
    Other,
}

impl Relation {
    pub fn parse(s: &str) -> Result<Relation, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "patient" => Relation::Patient,
            "father" => Relation::Father,
            "mother" => Relation::Mother,
            "sibling" => Relation::Sibling,
            "half-sibling" => Relation::HalfSibling,
            "child" => Relation::Child,
            "other" => Relation::Other,
            o => {
                return Err(format!(
                    "{o:?} is not a relation (patient, father, mother, sibling, half-sibling, \
                     child, other)"
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Relation::Patient => "patient",
            Relation::Father => "father",
            Relation::Mother => "mother",
            Relation::Sibling => "sibling",
            Relation::HalfSibling => "half-sibling",
            Relation::Child => "child",
            Relation::Other => "other",
        }
    }
}

/// One family member to assign: id, relation and typing (read at two-field ARD names).
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub relation: Relation,
    pub typing: FamilyTyping,
}

/// The verdict on a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Ambiguous,
    Inconsistent,
    Recombination,
}

/// One member's haplotypes and which parental haplotypes they are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberAssignment {
    pub member: String,
    pub relation: Relation,
    /// Two haplotypes, loci in the order A, C, B, DRB1, DQB1, DPB1, then the others;
    /// an allele the typings leave open is a `/` list; a locus nobody's typing decides is
    /// left out.
    pub haplotypes: Vec<String>,
    /// For a parent its own labels (`a`, `b` / `c`, `d`); for the patient, a sibling or a
    /// child the parental haplotypes carried (`a`, `c`; `x` for one from outside; `a/b`
    /// for a recombinant).
    pub labels: Vec<String>,
}

/// The assignment of one family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyAssignment {
    pub family: String,
    pub status: Status,
    /// Siblings proven HLA-identical to the patient by descent.
    pub identical_siblings: Vec<String>,
    /// Relatives sharing exactly one haplotype with the patient.
    pub haploidentical: Vec<String>,
    pub members: Vec<MemberAssignment>,
    pub notes: Vec<String>,
    /// Siblings identical to the patient by typing whose descent is not proven.
    #[serde(skip)]
    pub identical_by_typing: Vec<String>,
    /// When the typings leave several assignments and frequencies weighed them: the
    /// probability of the one given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// Why a family cannot be assigned at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FamilyError {
    #[error("family {family}: no member has the relation patient")]
    NoPatient { family: String },
    #[error("family {family}: {count} members are the patient")]
    ManyPatients { family: String, count: usize },
    #[error("family {family}: more than one {relation}")]
    ManyParents {
        family: String,
        relation: &'static str,
    },
    #[error("family {family}: {count} full siblings; at most {max} are assigned together")]
    TooManySiblings {
        family: String,
        count: usize,
        max: usize,
    },
}
