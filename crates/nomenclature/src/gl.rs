//! GL String syntax: parse into a tree that remembers every token's position, print back
//! losslessly.
//!
//! Operators, from the loosest to the tightest binding: `^` (loci), `|` (alternative
//! genotypes), `+` (the two copies of a locus), `~` (alleles in one haplotype), `/`
//! (alternative alleles). Tokens keep their original spelling, so `parse(s).to_string() == s`
//! for every string that parses.

use std::fmt;

use crate::error::{Reason, TypingError};

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

    fn tighter(self) -> Option<Op> {
        let i = Op::ALL.iter().position(|&o| o == self)?;
        Op::ALL.get(i + 1).copied()
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
    /// Parse a GL String. Every error names the offending token and its byte position.
    pub fn parse(text: &str) -> Result<Gl, TypingError> {
        if text.trim().is_empty() {
            return Err(TypingError::new(text, 0, Reason::EmptyOperand));
        }
        parse_at(text, 0, Op::Loci)
    }

    /// Tokens in order, with positions.
    pub fn tokens(&self) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        self.collect_tokens(&mut out);
        out
    }

    fn collect_tokens<'a>(&'a self, out: &mut Vec<(&'a str, usize)>) {
        match self {
            Gl::Token { text, position } => out.push((text, *position)),
            Gl::Node { parts, .. } => parts.iter().for_each(|p| p.collect_tokens(out)),
        }
    }
}

fn parse_at(text: &str, offset: usize, op: Op) -> Result<Gl, TypingError> {
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
                parts.push(parse_at(piece, offset + start, op)?);
                start = i + 1;
            }
        }
        // parse_at on each piece (which has no `sym`) descends to tighter operators
        return Ok(Gl::Node { op, parts });
    }
    match op.tighter() {
        Some(next) => parse_at(text, offset, next),
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
