//! Allele names as text: fields, expression suffixes, shortening, and the natural sort order.
//!
//! These helpers work on `&str` because reductions produce and look up millions of names;
//! [`AlleleName`] is the validated, typed form used at the edges (parsing user input).

use std::cmp::Ordering;
use std::fmt;

/// Expression suffixes that py-ard and the WHO nomenclature carry through shortening.
pub const EXPRESSION_CHARS: [char; 4] = ['N', 'Q', 'L', 'S'];
/// All WHO expression suffixes (C and A are defined but carried by no current allele).
pub const ALL_EXPRESSION_CHARS: [char; 6] = ['N', 'L', 'S', 'Q', 'C', 'A'];

/// The expression suffix of a full or shortened name, if it ends with one.
pub fn expression_suffix(name: &str) -> Option<char> {
    let c = name.chars().last()?;
    EXPRESSION_CHARS.contains(&c).then_some(c)
}

/// The first `n` colon-separated fields (`A*01:01:01:02N`, 2 -> `A*01:01`).
/// Like the WHO shortening, the suffix is dropped unless it sits in a kept field.
pub fn first_fields(name: &str, n: usize) -> &str {
    let mut count = 0;
    for (i, b) in name.bytes().enumerate() {
        if b == b':' {
            count += 1;
            if count == n {
                return &name[..i];
            }
        }
    }
    name
}

/// Number of colon-separated fields (`A*01:01` -> 2).
pub fn field_count(name: &str) -> usize {
    name.bytes().filter(|&b| b == b':').count() + 1
}

/// The first `n` fields with the expression suffix kept when fields were cut
/// (`A*01:04:01:01N`, 2 -> `A*01:04N`).
pub fn first_fields_keep_expression(name: &str, n: usize) -> String {
    let short = first_fields(name, n);
    match expression_suffix(name) {
        Some(c) if short.len() < name.len() => format!("{short}{c}"),
        _ => short.to_string(),
    }
}

/// Split `A*01:01` into (`A`, `01:01`).
pub fn split_locus(name: &str) -> Option<(&str, &str)> {
    let i = name.bytes().position(|b| b == b'*')?;
    Some((&name[..i], &name[i + 1..]))
}

fn leading_number(s: &[u8]) -> u64 {
    s.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
}

/// Compare colon-separated fields numerically, ignoring anything after a field's digits.
fn cmp_fields(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    loop {
        match (i >= a.len(), j >= b.len()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let o = leading_number(&a[i..]).cmp(&leading_number(&b[j..]));
        if o != Ordering::Equal {
            return o;
        }
        i = a[i..]
            .iter()
            .position(|&c| c == b':')
            .map_or(a.len(), |p| i + p + 1);
        j = b[j..]
            .iter()
            .position(|&c| c == b':')
            .map_or(b.len(), |p| j + p + 1);
    }
}

/// Natural order of HLA names: locus, then each field numerically (expression and group
/// suffixes ignored); serology by prefix, then number. Names equal in that order fall back to
/// plain text order, so the order is total and deterministic.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let a_body = a.strip_prefix("HLA-").unwrap_or(a).as_bytes();
    let b_body = b.strip_prefix("HLA-").unwrap_or(b).as_bytes();
    let star = |s: &[u8]| s.iter().position(|&c| c == b'*');
    let primary = match (star(a_body), star(b_body)) {
        (Some(x), Some(y)) => a_body[..x]
            .cmp(&b_body[..y])
            .then_with(|| cmp_fields(&a_body[x + 1..], &b_body[y + 1..])),
        (None, None) => {
            let digits = |s: &[u8]| s.iter().rev().take_while(|c| c.is_ascii_digit()).count();
            let (pa, pb) = (a_body.len() - digits(a_body), b_body.len() - digits(b_body));
            a_body[..pa]
                .cmp(&b_body[..pb])
                .then_with(|| leading_number(&a_body[pa..]).cmp(&leading_number(&b_body[pb..])))
        }
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
    };
    primary.then_with(|| a.cmp(b))
}

/// A syntactically valid v3 allele name: locus, one to four numeric fields and an
/// optional expression suffix. Whether it exists in a release is the release's question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlleleName {
    locus: String,
    fields: Vec<String>,
    suffix: Option<char>,
}

impl AlleleName {
    /// Parse `A*01:01:01:02N` (without an `HLA-` prefix).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.len() > crate::error::MAX_NAME_LEN {
            return Err("an allele name has at most 64 characters");
        }
        let (locus, rest) = text.split_once('*').ok_or("no '*' after the locus")?;
        if locus.is_empty() || !locus.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("the locus must be letters and digits");
        }
        let (body, suffix) = match rest.chars().last() {
            Some(c) if ALL_EXPRESSION_CHARS.contains(&c) => (&rest[..rest.len() - 1], Some(c)),
            _ => (rest, None),
        };
        let fields: Vec<String> = body.split(':').map(str::to_string).collect();
        if fields.len() > 4 {
            return Err("an allele name has at most four fields");
        }
        if fields
            .iter()
            .any(|f| f.len() < 2 || !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("each field must be two or more digits");
        }
        Ok(AlleleName {
            locus: locus.to_string(),
            fields,
            suffix,
        })
    }

    pub fn locus(&self) -> &str {
        &self.locus
    }
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
    pub fn suffix(&self) -> Option<char> {
        self.suffix
    }
}

impl fmt::Display for AlleleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}*{}", self.locus, self.fields.join(":"))?;
        if let Some(c) = self.suffix {
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_keeps_suffix_only_when_asked() {
        assert_eq!(first_fields("A*01:04:01:01N", 2), "A*01:04");
        assert_eq!(first_fields("A*01:22N", 2), "A*01:22N");
        assert_eq!(first_fields("A*01:01:38L", 3), "A*01:01:38L");
        assert_eq!(
            first_fields_keep_expression("A*01:04:01:01N", 2),
            "A*01:04N"
        );
        assert_eq!(first_fields_keep_expression("A*01:22N", 2), "A*01:22N");
        assert_eq!(field_count("DRB1*15:01:01:01"), 4);
    }

    #[test]
    fn natural_order_is_numeric() {
        let mut v = vec![
            "A*02:101",
            "A*02:11",
            "A*02:01:01:02L",
            "A*02:01:01:01",
            "A*01:01",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "A*01:01",
                "A*02:01:01:01",
                "A*02:01:01:02L",
                "A*02:11",
                "A*02:101"
            ]
        );
        let mut s = vec!["B44", "B12", "B5"];
        s.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(s, vec!["B5", "B12", "B44"]);
    }

    #[test]
    fn allele_name_round_trips() {
        for t in [
            "A*01:01:01:02N",
            "DRB1*15:01",
            "DPB1*1001:01",
            "C*07:01:01:01",
        ] {
            if let Ok(n) = AlleleName::parse(t) {
                assert_eq!(n.to_string(), t);
            }
        }
        assert!(AlleleName::parse("A*01:01:01:01:01").is_err());
        assert!(AlleleName::parse("A01:01").is_err());
        assert!(AlleleName::parse("A*1:01").is_err());
    }
}
