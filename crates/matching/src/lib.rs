//! HLA matching at the antigen recognition domain (ARD).
//!
//! Two typings match at a position when they share an ARD protein: a P group, or an
//! expressed allele in no P group (the P reduction of the nomenclature crate gives both).
//! Null alleles express nothing: a position typed as a null makes the locus behave as
//! homozygous for the other, expressed, allele. Where alleles differ, the serological
//! antigens (split level: a broad is dropped when one of its splits is present) tell an
//! antigen match with allele mismatch from an antigen mismatch.
//!
//! The search engine (issue 4, in progress): position typings and an interning catalogue
//! of ARD identities (`typing`), the grade of one locus (`grade`), the index of donors over
//! distinct locus typings (`index`) and the search itself (`search`).

mod grade;
mod index;
mod search;
mod tce;
mod typing;

pub use grade::{grade_locus, LocusGrade, MismatchCount, MismatchDirection, PositionGrade};
pub use index::{DonorFacts, IndexedDonor, SearchIndex, SEARCH_LOCI};
pub use search::{
    rank_with_probabilities, search, search_shared, Comparison, Deadline, Filters,
    HitProbabilities, PatientFacts, SearchError, SearchHit, SearchRequest, SearchResult,
};
pub use tce::{dpb1_tce, Dpb1Tce, TceTable};
pub use typing::{ArdCatalog, Expression, PositionTyping};
