//! Typed errors of the nomenclature crate.

use std::fmt;
use std::path::PathBuf;

/// Why one token of a typing could not be read or reduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The text is not an allele, group, MAC, XX code, serology or v2 name.
    BadSyntax(&'static str),
    /// A GL operator with nothing on one side (`A*01:01+`, `A*01:01//A*02:01`).
    EmptyOperand,
    /// The locus is not a locus of the loaded release.
    UnknownLocus(String),
    /// Well formed, but not an allele (or shortened allele name) of the release.
    UnknownAllele,
    /// A G or P group name that the release does not define.
    UnknownGroup,
    /// The MAC code is not in the loaded MAC table.
    UnknownMac(String),
    /// An allele-specific MAC written under a first field its expansion does not have.
    MacFirstFieldMismatch { written: String, expected: String },
    /// The MAC exists but none of its alleles is in the release.
    MacExpandsToNothing(String),
    /// `LOCUS*FF:XX` with a first field no allele of the release has.
    UnknownXx,
    /// Looks like serology but is not an antigen of the release.
    UnknownSerology,
    /// Longer than a limit of the parsers ([`MAX_NAME_LEN`], [`MAX_GL_LEN`]): `what` is
    /// "allele name" or "GL String", `len` its length in `unit`s.
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
        unit: &'static str,
    },
    /// More items than a limit of the parsers ([`MAX_TOKENS`]).
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

/// The longest allele name (or any other token: MAC, XX code, serology) a typing may hold,
/// in bytes. The longest real name is about 20 characters (`DRB1*15:01:01:01Q`, with an
/// `HLA-` prefix 24); the limit keeps every per-token step small and bounded.
pub const MAX_NAME_LEN: usize = 64;
/// The longest GL String read, in bytes (64 KiB).
pub const MAX_GL_LEN: usize = 64 * 1024;
/// The most tokens (alleles, MACs, XX codes...) in one typing.
pub const MAX_TOKENS: usize = 10_000;

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BadSyntax(why) => write!(f, "bad syntax: {why}"),
            Reason::EmptyOperand => write!(f, "empty operand next to a GL operator"),
            Reason::UnknownLocus(l) => write!(f, "unknown locus {l}"),
            Reason::UnknownAllele => write!(f, "unknown allele"),
            Reason::UnknownGroup => write!(f, "unknown G/P group"),
            Reason::UnknownMac(c) => write!(f, "unknown MAC code {c}"),
            Reason::MacFirstFieldMismatch { written, expected } => write!(
                f,
                "MAC first field mismatch: written under {written}, its alleles are under {expected}"
            ),
            Reason::MacExpandsToNothing(c) => {
                write!(f, "MAC {c} expands to no allele of this release")
            }
            Reason::UnknownXx => write!(f, "unknown XX code (no allele has that first field)"),
            Reason::UnknownSerology => write!(f, "unknown serological antigen"),
            Reason::TooLong {
                what,
                len,
                max,
                unit,
            } => write!(f, "{what} of {len} {unit}: at most {max}"),
            Reason::TooMany { what, count, max } => {
                write!(f, "{count} {what}: at most {max}")
            }
        }
    }
}

/// An invalid token of a typing: the token, its byte position in the input and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{token:?} at position {position}: {reason}")]
pub struct TypingError {
    pub token: String,
    pub position: usize,
    pub reason: Reason,
}

impl TypingError {
    pub fn new(token: &str, position: usize, reason: Reason) -> Self {
        TypingError {
            token: token.to_string(),
            position,
            reason,
        }
    }
}

/// Errors while loading a release folder or a MAC table.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} line {line}: {reason}")]
    Format {
        file: String,
        line: usize,
        reason: String,
    },
}
