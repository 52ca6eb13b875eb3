//! NMDP multiple allele codes (MACs), read from a table in NMDP's `numer.v3.txt` layout.
//!
//! The layout: three header lines, then `CODE<TAB>EXPANSION`. A *generic* code expands to
//! second fields under the first field it is written with (`A*02:AB` = `A*02:01/A*02:02`);
//! an *allele-specific* code (its expansion contains `:`) expands to whole names
//! (`B*35:AFJ` style codes whose list reads `35:01/35:08:01`).

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::error::{LoadError, Reason};

/// The MAC subset shipped with Medulla (12,520 real codes; see `data/mac/`).
pub const SHIPPED_SUBSET: &str = include_str!("../../../data/mac/numer.v3.subset.txt");

/// A table of MAC codes.
#[derive(Debug, Default, Clone)]
pub struct MacTable {
    codes: FxHashMap<Box<str>, Box<str>>,
}

impl MacTable {
    /// The shipped subset.
    pub fn shipped() -> Self {
        Self::parse(SHIPPED_SUBSET, "numer.v3.subset.txt").expect("the shipped MAC table parses")
    }

    pub fn from_path(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse the `numer.v3.txt` layout: three header lines, then `CODE<TAB>EXPANSION`.
    pub fn parse(text: &str, file: &str) -> Result<Self, LoadError> {
        let mut codes = FxHashMap::default();
        for (i, line) in text.lines().enumerate().skip(3) {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let (code, expansion) = line.split_once('\t').ok_or_else(|| LoadError::Format {
                file: file.to_string(),
                line: i + 1,
                reason: "expected CODE<TAB>EXPANSION".into(),
            })?;
            let code = code.trim();
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(LoadError::Format {
                    file: file.to_string(),
                    line: i + 1,
                    reason: format!("MAC code {code:?} is not upper-case letters"),
                });
            }
            codes.insert(code.into(), expansion.trim().into());
        }
        Ok(MacTable { codes })
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Every code with its raw expansion, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.codes.iter().map(|(c, e)| (&**c, &**e))
    }

    /// The raw expansion of a code (`AB` -> `01/02`).
    pub fn get(&self, code: &str) -> Option<&str> {
        self.codes.get(code).map(|s| &**s)
    }

    /// Expand `LOCUS*FIRST:CODE` into allele names.
    pub fn expand(
        &self,
        locus: &str,
        first_field: &str,
        code: &str,
    ) -> Result<Vec<String>, Reason> {
        let expansion = self
            .get(code)
            .ok_or_else(|| Reason::UnknownMac(code.to_string()))?;
        let items: Vec<&str> = expansion.split('/').filter(|s| !s.is_empty()).collect();
        if items.iter().any(|i| i.contains(':')) {
            // allele-specific: the code must be written under its (most common) first field
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for i in &items {
                let ff = i.split(':').next().unwrap_or("");
                match counts.iter_mut().find(|(f, _)| *f == ff) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((ff, 1)),
                }
            }
            let best = counts
                .iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(f, _)| *f)
                .unwrap_or("");
            if best != first_field {
                return Err(Reason::MacFirstFieldMismatch {
                    written: format!("{locus}*{first_field}"),
                    expected: format!("{locus}*{best}"),
                });
            }
            Ok(items.iter().map(|i| join_name(&[locus, "*", i])).collect())
        } else {
            Ok(items
                .iter()
                .map(|i| join_name(&[locus, "*", first_field, ":", i]))
                .collect())
        }
    }
}

/// Concatenate name parts with one allocation (a hot path: every MAC token expands).
fn join_name(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| s.push_str(p));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_and_specific_codes() {
        let t = MacTable::shipped();
        assert!(t.len() > 12_000);
        assert_eq!(
            t.expand("A", "02", "AB").unwrap(),
            vec!["A*02:01", "A*02:02"]
        );
        assert_eq!(
            t.expand("A", "24", "AMG").unwrap(),
            vec!["A*24:02", "A*24:09N"]
        );
        assert!(matches!(
            t.expand("A", "02", "AMG"),
            Err(Reason::MacFirstFieldMismatch { .. })
        ));
        assert!(matches!(
            t.expand("A", "02", "QQQQQ"),
            Err(Reason::UnknownMac(_))
        ));
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let e = MacTable::parse("h\nh\nh\nAB\t01/02\nnot a line\n", "x.txt").unwrap_err();
        assert!(e.to_string().contains("x.txt line 5"), "{e}");
    }
}
