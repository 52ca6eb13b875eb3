//! HLA nomenclature for Medulla: allele names, serology, NMDP multiple allele codes, XX
//! codes and GL Strings, read and reduced on a real IPD-IMGT/HLA release.
//!
//! ```
//! use medulla_nomenclature::{MacTable, Reducer, Reduction, Release};
//! let release = Release::shipped();
//! let macs = MacTable::shipped();
//! let reducer = Reducer::new(&release, &macs);
//! assert_eq!(reducer.reduce("A*01:01:01:01", Reduction::G).unwrap(), "A*01:01:01G");
//! assert_eq!(reducer.reduce("A*02:AB", Reduction::Lgx).unwrap(), "A*02:01/A*02:02");
//! ```

pub mod error;
pub mod gl;
pub mod locus;
pub mod mac;
pub mod name;
pub mod reduce;
pub mod release;

pub use error::{LoadError, Reason, TypingError};
pub use gl::{Gl, Op};
pub use locus::{names_no_allele, split_loci, strip_prefixes, token_locus, LocusBlock, LocusError};
pub use mac::MacTable;
pub use name::AlleleName;
pub use reduce::{is_who_specificity, Reducer, Reduction, TokenKind};
pub use release::{Release, SHIPPED_VERSION};
