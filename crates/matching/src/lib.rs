//! HLA matching at the antigen recognition domain (ARD).
//!
//! Two typings match at a position when they share an ARD protein: a P group, or an
//! expressed allele in no P group (the P reduction of the nomenclature crate gives both).
//! Null alleles express nothing: a position typed as a null makes the locus behave as
//! homozygous for the other, expressed, allele. Where alleles differ, the serological
//! antigens (split level: a broad is dropped when one of its splits is present) tell an
//! antigen match with allele mismatch from an antigen mismatch.
//!
//! This crate is the first part of the search engine (issue 4): position typings, an
//! interning catalogue of ARD identities, and the grade of one locus.

mod grade;
mod typing;

pub use grade::{grade_locus, LocusGrade, PositionGrade};
pub use typing::{ArdCatalog, Expression, PositionTyping};
