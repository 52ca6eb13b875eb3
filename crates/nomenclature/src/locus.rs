//! Which locus a token or a GL String block is a typing of, and a whole GL String split
//! by locus: the one reading of typings that every command (import, search, imputation,
//! prediction) shares, so a typing means the same everywhere.

use rustc_hash::FxHashSet;

use crate::error::{Reason, MAX_GL_LEN, MAX_TOKENS};

/// The locus a serological antigen or WHO specificity belongs to (`Cw3` -> C, `DR52` ->
/// DRB3, `Bw4` -> B, `Dw1` -> DRB1, `DPw2` -> DPB1).
pub fn serology_locus(s: &str) -> Option<&'static str> {
    let prefix: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let number = &s[prefix.len()..];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match prefix.as_str() {
        "A" => "A",
        "B" | "Bw" => "B",
        "C" | "Cw" => "C",
        "DR" => match number {
            "51" => "DRB5",
            "52" => "DRB3",
            "53" => "DRB4",
            _ => "DRB1",
        },
        // HLA-D cellular specificities (Dw) are read with DR
        "Dw" => "DRB1",
        "DQ" => "DQB1",
        "DP" | "DPw" => "DPB1",
        _ => return None,
    })
}

/// Remove the `HLA-` prefix the GL String standard allows before a name.
pub fn bare(token: &str) -> &str {
    token.strip_prefix("HLA-").unwrap_or(token)
}

/// The locus a single token names: an allele, group, MAC or XX code (`A*...`, with or
/// without `HLA-`) or a serological antigen (`A2`, `Cw7`, `DR15`, `Bw4`).
pub fn token_locus(token: &str) -> Option<&str> {
    let t = bare(token.trim());
    match t.split_once('*') {
        Some((l, _)) if !l.is_empty() => Some(l),
        Some(_) => None,
        None => serology_locus(t),
    }
}

/// Every `HLA-` prefix of a GL String removed (`HLA-A*01:01+HLA-A*02:01` ->
/// `A*01:01+A*02:01`); borrowed when there is none.
pub fn strip_prefixes(gl: &str) -> std::borrow::Cow<'_, str> {
    if !gl.contains("HLA-") {
        return std::borrow::Cow::Borrowed(gl);
    }
    let mut out = String::with_capacity(gl.len());
    let mut rest = gl;
    let mut at_token_start = true;
    while !rest.is_empty() {
        if at_token_start {
            let trimmed = rest.trim_start();
            out.push_str(&rest[..rest.len() - trimmed.len()]);
            rest = trimmed.strip_prefix("HLA-").unwrap_or(trimmed);
            at_token_start = false;
            continue;
        }
        let c = rest.chars().next().expect("non-empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
        at_token_start = matches!(c, '^' | '|' | '+' | '~' | '/');
    }
    std::borrow::Cow::Owned(out)
}

/// Whether a position typing names only WHO specificities (`Bw4`, `Dw3`, `DPw2`...):
/// valid, but no allele, so matching reads the position as untyped.
pub fn names_no_allele(position: &str) -> bool {
    let mut any = false;
    for t in position.split('/').map(|t| bare(t.trim())) {
        if !crate::reduce::is_who_specificity(t) {
            return false;
        }
        any = true;
    }
    any
}

/// Why a GL String cannot be read locus by locus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocusError {
    #[error("{0:?} names no HLA locus (an allele LOCUS*..., or serology such as A2, Cw7, DR15)")]
    NoLocus(String),
    #[error("{block:?} mixes loci {first} and {other}")]
    MixedLoci {
        block: String,
        first: String,
        other: String,
    },
    #[error("locus {0} appears twice")]
    Repeated(String),
    #[error("{0:?} has more than two copies (+) of its locus")]
    TooManyCopies(String),
    /// Over a limit of the parsers (GL String length, allele-name length, token count):
    /// `TooLong` or `TooMany`.
    #[error("{0}")]
    Limit(crate::error::Reason),
}

/// One locus of a GL String: its name and the typing of each copy (one or two), as written
/// but without `HLA-` prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocusBlock {
    pub locus: String,
    /// The block as written (prefixes removed): may hold `|` genotype alternatives.
    pub text: String,
    /// The copies split on `+`, when the block has no `|`.
    pub copies: Vec<String>,
}

/// Split a GL String on `^` into its loci, each named by its tokens (alleles or serology)
/// and checked to hold one locus only. Genotype lists (`|`) are kept whole in `text`, and
/// `copies` is then empty.
///
/// One pass per block, without recursion, within the parsers' limits: at most
/// [`MAX_GL_LEN`] bytes, [`MAX_TOKENS`] tokens and [`MAX_NAME_LEN`](crate::error::MAX_NAME_LEN) characters a token
/// (`LocusError::Limit` otherwise).
pub fn split_loci(gl: &str) -> Result<Vec<LocusBlock>, LocusError> {
    if gl.len() > MAX_GL_LEN {
        return Err(LocusError::Limit(Reason::TooLong {
            what: "GL String",
            len: gl.len(),
            max: MAX_GL_LEN,
            unit: "bytes",
        }));
    }
    let operators = gl
        .bytes()
        .filter(|b| matches!(b, b'^' | b'|' | b'+' | b'~' | b'/'))
        .count();
    if operators >= MAX_TOKENS {
        return Err(LocusError::Limit(Reason::TooMany {
            what: "alleles (tokens) in one typing",
            count: operators + 1,
            max: MAX_TOKENS,
        }));
    }
    let gl = strip_prefixes(gl);
    let mut out: Vec<LocusBlock> = Vec::new();
    let mut seen: FxHashSet<String> = FxHashSet::default();
    for block in gl.split('^').map(str::trim).filter(|b| !b.is_empty()) {
        let mut locus: Option<&str> = None;
        let haplotype = block.contains('~');
        for tok in block
            .split(['|', '+', '~', '/'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if let Some(e) = crate::gl::name_too_long(tok, 0) {
                return Err(LocusError::Limit(e.reason));
            }
            let l = token_locus(tok).ok_or_else(|| LocusError::NoLocus(tok.to_string()))?;
            match locus {
                None => locus = Some(l),
                Some(first) if first != l && !haplotype => {
                    return Err(LocusError::MixedLoci {
                        block: block.to_string(),
                        first: first.to_string(),
                        other: l.to_string(),
                    })
                }
                Some(_) => {}
            }
        }
        let Some(locus) = locus else { continue };
        if !seen.insert(locus.to_string()) {
            return Err(LocusError::Repeated(locus.to_string()));
        }
        let copies: Vec<String> = if block.contains('|') {
            Vec::new()
        } else {
            block.split('+').map(|c| c.trim().to_string()).collect()
        };
        if copies.len() > 2 {
            return Err(LocusError::TooManyCopies(block.to_string()));
        }
        out.push(LocusBlock {
            locus: locus.to_string(),
            text: block.to_string(),
            copies,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_go_everywhere() {
        assert_eq!(
            strip_prefixes("HLA-A*01:01+HLA-A*02:01^HLA-B*08:01/HLA-B*08:02"),
            "A*01:01+A*02:01^B*08:01/B*08:02"
        );
        assert_eq!(strip_prefixes("A*01:01"), "A*01:01");
        assert_eq!(
            strip_prefixes("HLA-A*01:01 + HLA-A*02:01"),
            "A*01:01 + A*02:01"
        );
    }

    #[test]
    fn loci_of_alleles_and_serology() {
        let b = split_loci("A1+A2^HLA-B*08:01+B44^Cw7^DR15+DR4^DQ6^Bw4").unwrap_err();
        assert_eq!(b, LocusError::Repeated("B".into()));
        let b = split_loci("A1+A2^HLA-B*08:01+B44^Cw7^DR15+DR4^DQ6").unwrap();
        let loci: Vec<&str> = b.iter().map(|b| b.locus.as_str()).collect();
        assert_eq!(loci, ["A", "B", "C", "DRB1", "DQB1"]);
        assert_eq!(b[1].copies, ["B*08:01", "B44"]);
        assert_eq!(token_locus("DPw3"), Some("DPB1"));
        assert_eq!(token_locus("Dw12"), Some("DRB1"));
        assert!(matches!(
            split_loci("A*01:01+B*08:01"),
            Err(LocusError::MixedLoci { .. })
        ));
        assert!(matches!(split_loci("foo"), Err(LocusError::NoLocus(_))));
    }
}
