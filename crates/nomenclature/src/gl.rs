//! GL String syntax: parse into a tree that remembers every token's position, print back
//! losslessly.
//!
//! Operators, from the loosest to the tightest binding: `^` (loci), `|` (alternative
//! genotypes), `+` (the two copies of a locus), `~` (alleles in one haplotype), `/`
//! (alternative alleles). Tokens keep their original spelling, so `parse(s).to_string() == s`
//! for every string that parses.

use std::fmt;

use crate::error::{Reason, TypingError, MAX_GL_LEN, MAX_NAME_LEN, MAX_TOKENS};

/// A GL String operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `^`: separate loci.
    Loci,
    /// `|`: alternative genotypes.
    GenotypeList,
    /// `+`: the two copies of a locus.
    Genotype,
    /// `~`: alleles inherited together on one haplotype.
    Haplotype,
    /// `/`: alternative alleles.
    AlleleList,
}

impl Op {
    /// From the loosest to the tightest binding.
    pub const ALL: [Op; 5] = [
        Op::Loci,
        Op::GenotypeList,
        Op::Genotype,
        Op::Haplotype,
        Op::AlleleList,
    ];

    pub fn symbol(self) -> char {
        match self {
            Op::Loci => '^',
            Op::GenotypeList => '|',
            Op::Genotype => '+',
            Op::Haplotype => '~',
            Op::AlleleList => '/',
        }
    }
}

/// A parsed GL String.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gl {
    /// One token (allele, MAC, XX code, serology...) and its byte offset in the input.
    Token { text: String, position: usize },
    /// An operator applied to two or more operands.
    Node { op: Op, parts: Vec<Gl> },
}

fn token_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '*' | ':' | '-' | '.')
}

impl Gl {
    /// Parse a GL String, in one pass without recursion. Every error names the offending token and its byte position.
    pub fn parse(text: &str) -> Result<Gl, TypingError> {
        if text.len() > MAX_GL_LEN {
            return Err(TypingError::new(
                &preview(text),
                0,
                Reason::TooLong {
                    what: "GL String",
                    len: text.len(),
                    max: MAX_GL_LEN,
                    unit: "bytes",
                },
            ));
        }
        if text.trim().is_empty() {
            return Err(TypingError::new(text, 0, Reason::EmptyOperand));
        }
        parse_iterative(text)
    }

    /// Tokens in order, with positions.
    pub fn tokens(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        self.collect_tokens(&mut out);
        out
    }

    fn collect_tokens<'a>(&'a self, out: &mut Vec<(&'a str, usize)>) {
        // the tree is at most five levels deep (one per operator), so this is bounded
        match self {
            Gl::Token { text, position } => out.push((text, *position)),
            Gl::Node { parts, .. } => parts.iter().for_each(|p| p.collect_tokens(out)),
        }
    }
}

/// The binding level of an operator character (0: `^`, loosest; 4: `/`, tightest).
fn op_level(c: char) -> Option<usize> {
    Op::ALL.iter().position(|o| o.symbol() == c)
}

/// At most `MAX_NAME_LEN` characters of a long input, for an error message.
pub(crate) fn preview(text: &str) -> String {
    if text.chars().count() <= MAX_NAME_LEN {
        return text.to_string();
    }
    let head: String = text.chars().take(32).collect();
    format!("{head}...")
}

/// Whether a token is longer than [`MAX_NAME_LEN`] characters: the error, if so.
pub(crate) fn name_too_long(token: &str, position: usize) -> Option<TypingError> {
    if token.len() <= MAX_NAME_LEN {
        return None;
    }
    let len = token.chars().count();
    (len > MAX_NAME_LEN).then(|| {
        TypingError::new(
            &preview(token),
            position,
            Reason::TooLong {
                what: "allele name",
                len,
                max: MAX_NAME_LEN,
                unit: "characters",
            },
        )
    })
}

/// One token `text[start..end]`: its length and characters checked.
fn leaf(text: &str, start: usize, end: usize) -> Result<Gl, TypingError> {
    let tok = &text[start..end];
    if let Some(e) = name_too_long(tok, start) {
        return Err(e);
    }
    if let Some((i, c)) = tok.char_indices().find(|&(_, c)| !token_char_ok(c)) {
        let reason = if c.is_whitespace() {
            "white space inside a GL String"
        } else {
            "unexpected character"
        };
        return Err(TypingError::new(tok, start + i, Reason::BadSyntax(reason)));
    }
    Ok(Gl::Token {
        text: tok.to_string(),
        position: start,
    })
}

/// One pass over the text, no recursion: `open[l]` holds the finished operands of the
/// level-`l` node being built. An operator of level `l` folds the operand just finished
/// into the open nodes tighter than `l` (each becomes a `Node` only if it has operands, so
/// a level without its operator adds no node) and appends the result to `open[l]`.
/// Errors are those of the tree read loosest operator first, at the same positions: the
/// first one in the text.
fn parse_iterative(text: &str) -> Result<Gl, TypingError> {
    let operators = text.chars().filter(|&c| op_level(c).is_some()).count();
    if operators >= MAX_TOKENS {
        // the token after the MAX_TOKENS-th operator is one too many
        let at = text
            .char_indices()
            .filter(|&(_, c)| op_level(c).is_some())
            .nth(MAX_TOKENS - 1)
            .map_or(0, |(i, _)| i + 1);
        return Err(TypingError::new(
            &preview(&text[at..]),
            at,
            Reason::TooMany {
                what: "alleles (tokens) in one typing",
                count: operators + 1,
                max: MAX_TOKENS,
            },
        ));
    }
    const LOOSEST_END: usize = 0;
    let mut open: [Vec<Gl>; 5] = Default::default();
    // start of the current token, and the level of the operator before it (None: start)
    let mut start = 0;
    let mut prev: Option<usize> = None;
    let ends = text
        .char_indices()
        .filter_map(|(i, c)| op_level(c).map(|l| (i, l, false)))
        .chain(std::iter::once((text.len(), LOOSEST_END, true)));
    for (i, level, at_end) in ends {
        if start == i {
            // an empty operand: named by the operator that ends it, unless a looser
            // operator (or the end) ends it, then by the operator before it
            let ends_looser = at_end || prev.is_some_and(|p| level < p);
            let at = if ends_looser && i > 0 { i - 1 } else { i };
            return Err(TypingError::new(
                &text[at..at + 1],
                at,
                Reason::EmptyOperand,
            ));
        }
        let mut operand = leaf(text, start, i)?;
        for l in (level + 1..5).rev() {
            if !open[l].is_empty() {
                open[l].push(operand);
                operand = Gl::Node {
                    op: Op::ALL[l],
                    parts: std::mem::take(&mut open[l]),
                };
            }
        }
        if at_end {
            if !open[0].is_empty() {
                open[0].push(operand);
                operand = Gl::Node {
                    op: Op::ALL[0],
                    parts: std::mem::take(&mut open[0]),
                };
            }
            return Ok(operand);
        }
        open[level].push(operand);
        start = i + 1;
        prev = Some(level);
    }
    unreachable!("the chain ends with the end of the text")
}

impl fmt::Display for Gl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gl::Token { text, .. } => f.write_str(text),
            Gl::Node { op, parts } => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        write!(f, "{}", op.symbol())?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The recursive parser this one replaced (issue 25), kept as the reference: the
    /// iterative parser must build the same trees and report the same errors.
    fn reference_parse_at(text: &str, offset: usize, op: Op) -> Result<Gl, TypingError> {
        let sym = op.symbol();
        if text.contains(sym) {
            let mut parts = Vec::new();
            let mut start = 0;
            for (i, c) in text
                .char_indices()
                .chain(std::iter::once((text.len(), sym)))
            {
                if c == sym {
                    let piece = &text[start..i];
                    if piece.is_empty() {
                        // name the operator that has nothing on one side
                        let at = if i < text.len() { i } else { i - 1 };
                        return Err(TypingError::new(
                            &text[at..at + 1],
                            offset + at,
                            Reason::EmptyOperand,
                        ));
                    }
                    parts.push(reference_parse_at(piece, offset + start, op)?);
                    start = i + 1;
                }
            }
            // parse_at on each piece (which has no `sym`) descends to tighter operators
            return Ok(Gl::Node { op, parts });
        }
        match tighter(op) {
            Some(next) => reference_parse_at(text, offset, next),
            None => {
                if let Some((i, c)) = text.char_indices().find(|&(_, c)| !token_char_ok(c)) {
                    let reason = if c.is_whitespace() {
                        "white space inside a GL String"
                    } else {
                        "unexpected character"
                    };
                    return Err(TypingError::new(
                        text,
                        offset + i,
                        Reason::BadSyntax(reason),
                    ));
                }
                Ok(Gl::Token {
                    text: text.to_string(),
                    position: offset,
                })
            }
        }
    }

    fn tighter(op: Op) -> Option<Op> {
        let i = Op::ALL.iter().position(|&o| o == op)?;
        Op::ALL.get(i + 1).copied()
    }

    fn reference_parse(text: &str) -> Result<Gl, TypingError> {
        if text.trim().is_empty() {
            return Err(TypingError::new(text, 0, Reason::EmptyOperand));
        }
        reference_parse_at(text, 0, Op::Loci)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn same_as_the_recursive_parser(s in "[A*0-9:/^|+~ -]{0,40}") {
            prop_assert_eq!(Gl::parse(&s), reference_parse(&s));
        }

        #[test]
        fn same_as_the_recursive_parser_on_names(
            parts in proptest::collection::vec("(A\\*01:01|B\\*08:01|Cw7|A\\*02:AB||x y)", 1..8),
            ops in proptest::collection::vec("[/^|+~]", 8),
        ) {
            let mut s = String::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    s.push_str(&ops[i]);
                }
                s.push_str(p);
            }
            prop_assert_eq!(Gl::parse(&s), reference_parse(&s));
        }
    }

    #[test]
    fn precedence_and_positions() {
        let s = "A*01:01+A*02:01/A*02:02^B*08:01~C*07:01|B*07:02~C*07:02";
        let gl = Gl::parse(s).unwrap();
        assert_eq!(gl.to_string(), s);
        match &gl {
            Gl::Node {
                op: Op::Loci,
                parts,
            } => assert_eq!(parts.len(), 2),
            other => panic!("{other:?}"),
        }
        let toks = gl.tokens();
        assert_eq!(toks[0], ("A*01:01", 0));
        assert_eq!(toks[1], ("A*02:01", 8));
        assert_eq!(toks[3], ("B*08:01", 24));
    }

    #[test]
    fn empty_operands_are_errors_with_positions() {
        let e = Gl::parse("A*01:01+").unwrap_err();
        assert_eq!(e.reason, Reason::EmptyOperand);
        assert_eq!((e.token.as_str(), e.position), ("+", 7));
        let e = Gl::parse("^B*08:01").unwrap_err();
        assert_eq!((e.token.as_str(), e.position), ("^", 0));
        let e = Gl::parse("A*01:01//A*02:01").unwrap_err();
        assert_eq!(e.position, 8);
        let e = Gl::parse("A*01:01 +A*02:01").unwrap_err();
        assert_eq!(e.position, 7);
        assert!(matches!(e.reason, Reason::BadSyntax(_)));
    }
}
