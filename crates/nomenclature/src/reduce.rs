//! Reductions (G, P, lg, lgx, W, exon, U2, S) of single names, MACs, XX codes, serology and
//! whole GL Strings.
//!
//! The semantics follow NMDP's py-ard 2.4.2 in strict mode, except where py-ard departs from
//! the IMGT/HLA files; `docs/reduction-differences.md` lists those cases.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use std::sync::{Arc, RwLock};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Reason, TypingError};
use crate::gl::{Gl, Op};
use crate::mac::MacTable;
use crate::name::{
    expression_suffix, field_count, first_fields, first_fields_keep_expression, natural_cmp,
    split_locus,
};
use crate::release::Release;

/// A reduction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Reduction {
    /// G group (identical ARD nucleotides).
    G,
    /// P group (identical ARD protein).
    P,
    /// Two-field ARD name with a `g` suffix.
    Lg,
    /// Two-field ARD name.
    Lgx,
    /// Expanded to full WHO names.
    W,
    /// Three fields (exon level).
    Exon,
    /// Unambiguous two fields, else lgx.
    U2,
    /// Serological antigens.
    S,
}

impl Reduction {
    pub const ALL: [Reduction; 8] = [
        Reduction::G,
        Reduction::P,
        Reduction::Lg,
        Reduction::Lgx,
        Reduction::W,
        Reduction::Exon,
        Reduction::U2,
        Reduction::S,
    ];
}

impl FromStr for Reduction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "G" => Reduction::G,
            "P" => Reduction::P,
            "lg" => Reduction::Lg,
            "lgx" => Reduction::Lgx,
            "W" => Reduction::W,
            "exon" => Reduction::Exon,
            "U2" => Reduction::U2,
            "S" => Reduction::S,
            _ => {
                return Err(format!(
                    "unknown reduction {s:?} (G, P, lg, lgx, W, exon, U2, S)"
                ))
            }
        })
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reduction::G => "G",
            Reduction::P => "P",
            Reduction::Lg => "lg",
            Reduction::Lgx => "lgx",
            Reduction::W => "W",
            Reduction::Exon => "exon",
            Reduction::U2 => "U2",
            Reduction::S => "S",
        })
    }
}

/// A list of names produced by a reduction; borrowed from the release where possible.
pub type Names<'r> = Vec<Cow<'r, str>>;

/// What a single token of a typing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// An allele name of the release, or a shortening of one (`A*01:01`).
    Allele,
    /// A G or P group name.
    Group,
    /// A shortened name with an expression suffix standing for its variants (`A*01:04N`).
    ShortNull,
    /// An NMDP multiple allele code, with the alleles of the release it stands for.
    Mac(Vec<String>),
    /// `LOCUS*FF:XX`.
    Xx,
    /// A serological antigen.
    Serology,
    /// A pre-2010 name, with its v3 form.
    V2(String),
    /// An allele of a locus without ARD groups (passed through reductions unchanged).
    OtherLocus,
}

/// The WHO's public and cellular specificities that name no antigen of `rel_dna_ser.txt`:
/// `Bw4` and `Bw6` (public epitopes of B and some A antigens), `Dw1`-`Dw26` (HLA-D
/// cellular types) and `DPw1`-`DPw6`. Valid names, as py-ard reads them, expressing no
/// allele: every reduction of one is empty.
pub fn is_who_specificity(t: &str) -> bool {
    let number = |prefix: &str, max: u32| {
        t.strip_prefix(prefix)
            .filter(|n| {
                !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
            })
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=max).contains(&n))
    };
    t == "Bw4" || t == "Bw6" || number("Dw", 26) || number("DPw", 6)
}

/// Reduces typings on one release with one MAC table.
///
/// Each token is reduced once per level and remembered: a registry's typings repeat the
/// same few thousand names, MACs and XX codes endlessly, and an XX code or serology name
/// expands to hundreds of alleles.
pub struct Reducer<'r> {
    release: &'r Release,
    macs: &'r MacTable,
    memo: TokenMemo,
}

/// (token, level) -> reduced expansion.
type TokenMemo = [RwLock<FxHashMap<Box<str>, Arc<str>>>; 8];

/// Token results kept before the memo is cleared and starts again.
const MEMO_LIMIT: usize = 200_000;

fn owned<'r>(s: impl Into<String>) -> Cow<'r, str> {
    Cow::Owned(s.into())
}

fn borrowed_all<'r>(v: &'r [Box<str>]) -> Names<'r> {
    v.iter().map(|s| Cow::Borrowed(&**s)).collect()
}

fn sort_unique(v: &mut Names<'_>) {
    v.sort_by(|a, b| natural_cmp(a, b));
    v.dedup();
}

const V2_EXCLUDED_LOCI: [&str; 3] = ["MICA", "MICB", "HFE"];

impl<'r> Reducer<'r> {
    pub fn new(release: &'r Release, macs: &'r MacTable) -> Self {
        Reducer {
            release,
            macs,
            memo: Default::default(),
        }
    }

    pub fn release(&self) -> &'r Release {
        self.release
    }

    /// Reduce a whole GL String; the result is a GL String (empty when nothing remains,
    /// e.g. the serology of a null allele).
    pub fn reduce(&self, typing: &str, to: Reduction) -> Result<String, TypingError> {
        let gl = Gl::parse(typing)?;
        // tokens are reduced in order, so an invalid token fails the typing before any
        // later one is looked at, as a validation pass first would
        Ok(self.reduce_gl(&gl, to)?.into_string())
    }

    /// Parse a typing and check every token against the release and MAC table.
    pub fn validate(&self, typing: &str) -> Result<Gl, TypingError> {
        let gl = Gl::parse(typing)?;
        for (tok, pos) in gl.tokens() {
            self.classify(tok, pos)?;
        }
        Ok(gl)
    }

    /// Validate a typing and write it in canonical form: v2 names as v3, no `HLA-` prefix,
    /// the GL structure and every other token as written.
    pub fn normalize(&self, typing: &str) -> Result<String, TypingError> {
        let gl = self.validate(typing)?;
        let mut out = String::with_capacity(typing.len());
        self.normalize_into(&gl, &mut out)?;
        Ok(out)
    }

    fn normalize_into(&self, gl: &Gl, out: &mut String) -> Result<(), TypingError> {
        match gl {
            Gl::Token { text, position } => {
                let bare = text.strip_prefix("HLA-").unwrap_or(text);
                match self.classify(text, *position)? {
                    TokenKind::V2(v3) => out.push_str(&v3),
                    _ => out.push_str(bare),
                }
            }
            Gl::Node { op, parts } => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(op.symbol());
                    }
                    self.normalize_into(p, out)?;
                }
            }
        }
        Ok(())
    }

    /// Expand MACs, XX codes, serology, short nulls and v2 names into the allele names they
    /// stand for, keeping the GL structure; allele and group names stay as written.
    pub fn expand(&self, typing: &str) -> Result<String, TypingError> {
        let gl = self.validate(typing)?;
        self.expand_gl(&gl)
    }

    fn expand_gl(&self, gl: &Gl) -> Result<String, TypingError> {
        match gl {
            Gl::Token { text, position } => {
                let mut names = self.expand_token(text, *position)?;
                sort_unique(&mut names);
                Ok(names.join("/"))
            }
            Gl::Node { op, parts } => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| self.expand_gl(p))
                    .collect::<Result<_, _>>()?;
                Ok(combine(*op, &parts))
            }
        }
    }

    fn expand_token(&self, token: &str, position: usize) -> Result<Names<'r>, TypingError> {
        if let Some(t) = token.strip_prefix("HLA-") {
            let inner = self
                .expand_token(t, position)
                .map_err(|e| with_full_token(e, t, token))?;
            return Ok(inner
                .into_iter()
                .map(|n| owned(format!("HLA-{n}")))
                .collect());
        }
        let rel = self.release;
        Ok(match self.classify(token, position)? {
            TokenKind::Mac(list) => list.into_iter().map(owned).collect(),
            TokenKind::Xx => borrowed_all(&rel.xx_codes[first_fields(token, 1)]),
            TokenKind::ShortNull => borrowed_all(&rel.shortnulls[token]),
            TokenKind::Serology => rel
                .antigens
                .get(token)
                .map(|a| {
                    a.alleles
                        .iter()
                        .filter(|s| rel.valid.contains(&***s))
                        .map(|s| Cow::Borrowed(&**s))
                        .collect()
                })
                .unwrap_or_default(),
            TokenKind::V2(v3) => self.expand_token(&v3, position)?,
            TokenKind::Allele | TokenKind::Group | TokenKind::OtherLocus => vec![owned(token)],
        })
    }

    fn reduce_gl(&self, gl: &Gl, to: Reduction) -> Result<Piece, TypingError> {
        match gl {
            Gl::Token { text, position } => {
                let memo = &self.memo[to as usize];
                if let Some(hit) = memo.read().expect("memo lock").get(text.as_str()) {
                    return Ok(Piece::Shared(hit.clone()));
                }
                let mut names = self.reduce_token(text, *position, to)?;
                sort_unique(&mut names);
                let joined: Arc<str> = names.join("/").into();
                let mut memo = memo.write().expect("memo lock");
                if memo.len() >= MEMO_LIMIT {
                    memo.clear();
                }
                memo.insert(text.as_str().into(), joined.clone());
                Ok(Piece::Shared(joined))
            }
            Gl::Node { op, parts } => {
                let reduced: Vec<Piece> = parts
                    .iter()
                    .map(|p| self.reduce_gl(p, to))
                    .collect::<Result<_, _>>()?;
                Ok(Piece::Owned(combine(*op, &reduced)))
            }
        }
    }

    /// What a token is, or why it is invalid.
    pub fn classify(&self, token: &str, position: usize) -> Result<TokenKind, TypingError> {
        if let Some(e) = crate::gl::name_too_long(token, position) {
            return Err(e);
        }
        let err = |reason| TypingError::new(token, position, reason);
        let t = token.strip_prefix("HLA-").unwrap_or(token);
        if t.is_empty() {
            return Err(err(Reason::EmptyOperand));
        }
        let rel = self.release;
        if let Some((locus, rest)) = split_locus(t) {
            if !rel.has_locus(locus) {
                return Err(err(Reason::UnknownLocus(locus.to_string())));
            }
            if rest.is_empty() {
                return Err(err(Reason::BadSyntax("nothing after '*'")));
            }
            if !rest.contains(':') {
                if rel.is_allele(t) {
                    // single-field names exist at some loci (MICA*005, HFE*002)
                    return Ok(if rel.ard_loci.contains(locus) {
                        TokenKind::Allele
                    } else {
                        TokenKind::OtherLocus
                    });
                }
                if !V2_EXCLUDED_LOCI.contains(&locus) {
                    if let Some(v3) = self.v2_to_v3(locus, rest) {
                        return Ok(TokenKind::V2(v3));
                    }
                }
                if rest.bytes().all(|b| b.is_ascii_digit()) && rest.len() <= 3 {
                    return Err(err(Reason::BadSyntax(
                        "a first field alone is not a typing (write LOCUS*FF:XX)",
                    )));
                }
                return Err(err(Reason::UnknownAllele));
            }
            let other_locus = !rel.ard_loci.contains(locus);
            if other_locus && rel.valid.contains(t) {
                return Ok(TokenKind::OtherLocus);
            }
            let mut fields = rest.split(':');
            let first = fields.next().unwrap_or("");
            let code = fields.next().unwrap_or("");
            if first.is_empty() || code.is_empty() || rest.split(':').any(str::is_empty) {
                return Err(err(Reason::BadSyntax("empty field")));
            }
            if code == "XX" {
                return if rel.xx_codes.contains_key(first_fields(t, 1)) && fields.next().is_none() {
                    Ok(if other_locus {
                        TokenKind::OtherLocus
                    } else {
                        TokenKind::Xx
                    })
                } else {
                    Err(err(Reason::UnknownXx))
                };
            }
            if code.bytes().all(|b| b.is_ascii_alphabetic()) {
                if fields.next().is_some() {
                    return Err(err(Reason::BadSyntax("a MAC has exactly two fields")));
                }
                let mut list = self.macs.expand(locus, first, code).map_err(err)?;
                list.retain(|a| rel.valid.contains(a.as_str()));
                return if list.is_empty() {
                    Err(err(Reason::MacExpandsToNothing(code.to_string())))
                } else {
                    Ok(TokenKind::Mac(list))
                };
            }
            if rel.shortnulls.contains_key(t) {
                return Ok(TokenKind::ShortNull);
            }
            if t.ends_with('G') {
                return if rel.g_names.contains(t) {
                    Ok(TokenKind::Group)
                } else {
                    Err(err(Reason::UnknownGroup))
                };
            }
            if t.ends_with('P') {
                return if rel.p_names.contains(t) {
                    Ok(TokenKind::Group)
                } else {
                    Err(err(Reason::UnknownGroup))
                };
            }
            if let Some(stem) = t.strip_suffix('g') {
                return if rel.valid.contains(stem) {
                    Ok(TokenKind::Group)
                } else {
                    Err(err(Reason::UnknownGroup))
                };
            }
            let body = rest.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            if !body
                .split(':')
                .all(|f| f.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(err(Reason::BadSyntax("fields must be digits")));
            }
            if rel.valid.contains(t) {
                Ok(TokenKind::Allele)
            } else {
                Err(err(Reason::UnknownAllele))
            }
        } else if t.contains(':') {
            Err(err(Reason::BadSyntax("no '*' between locus and fields")))
        } else if rel.serology_names.contains(t) || is_who_specificity(t) {
            Ok(TokenKind::Serology)
        } else if t.starts_with(|c: char| c.is_ascii_alphabetic())
            && t.ends_with(|c: char| c.is_ascii_digit())
        {
            Err(err(Reason::UnknownSerology))
        } else {
            Err(err(Reason::BadSyntax(
                "not an allele, MAC, XX code, serology or v2 name",
            )))
        }
    }

    /// Convert a v2 name body (`010101`, `0105N`, `02AB`) to v3 when it names something
    /// of the release.
    fn v2_to_v3(&self, locus: &str, body: &str) -> Option<String> {
        let digits_len = body.bytes().take_while(|b| b.is_ascii_digit()).count();
        let (digits, tail) = body.split_at(digits_len);
        if digits.len() < 2 {
            return None;
        }
        let known = |cand: &str| -> bool {
            if let Some((ff_locus, code)) = cand.rsplit_once(':') {
                if !code.is_empty() && code.bytes().all(|b| b.is_ascii_alphabetic()) && code != "XX"
                {
                    let ff = ff_locus.split('*').nth(1).unwrap_or("");
                    return self
                        .macs
                        .expand(locus, ff, code)
                        .map(|l| l.iter().any(|a| self.release.valid.contains(a.as_str())))
                        .unwrap_or(false);
                }
            }
            self.release.valid.contains(cand)
        };
        // py-ard's rule first: two-digit fields, an odd length puts 3 digits in field 2,
        // DP names of five digits have a 3-digit first field
        let mut candidates: Vec<String> = Vec::new();
        let n = digits.len();
        if n == 2 {
            if !tail.is_empty() {
                candidates.push(format!("{digits}:{tail}"));
            }
        } else if locus.starts_with("DP") && n == 5 {
            candidates.push(format!("{}:{}{tail}", &digits[..3], &digits[3..]));
        } else if n % 2 == 0 {
            let pairs: Vec<&str> = (0..n).step_by(2).map(|i| &digits[i..i + 2]).collect();
            candidates.push(format!("{}{tail}", pairs.join(":")));
        } else {
            candidates.push(format!("{}:{}{tail}", &digits[..2], &digits[2..]));
        }
        // then every split into 2- and 3-digit fields, for names the rule gets wrong
        let all = field_splits(digits);
        candidates.extend(all.into_iter().map(|s| format!("{s}{tail}")));
        candidates
            .into_iter()
            .map(|c| format!("{locus}*{c}"))
            .find(|c| c.contains(':') && known(c))
    }

    /// Reduce one token (not a GL String) into a list of names.
    pub fn reduce_token(
        &self,
        token: &str,
        position: usize,
        to: Reduction,
    ) -> Result<Names<'r>, TypingError> {
        if let Some(t) = token.strip_prefix("HLA-") {
            let inner = self
                .reduce_token(t, position, to)
                .map_err(|e| with_full_token(e, t, token))?;
            return Ok(inner
                .into_iter()
                .map(|n| owned(format!("HLA-{n}")))
                .collect());
        }
        let err = |reason| TypingError::new(token, position, reason);
        let rel = self.release;
        match self.classify(token, position)? {
            TokenKind::OtherLocus => Ok(vec![owned(token)]),
            TokenKind::V2(v3) => self.reduce_token(&v3, position, to),
            TokenKind::Serology => {
                let list: Vec<&str> = rel
                    .antigens
                    .get(token)
                    .map(|a| {
                        a.alleles
                            .iter()
                            .map(|s| &**s)
                            .filter(|s| rel.valid.contains(*s))
                            .collect()
                    })
                    .unwrap_or_default();
                self.reduce_list(list.into_iter(), position, to)
            }
            TokenKind::Xx => {
                let list = &rel.xx_codes[first_fields(token, 1)];
                self.reduce_list(list.iter().map(|s| &**s), position, to)
            }
            TokenKind::Mac(list) => self.reduce_list(list.iter().map(|s| s.as_str()), position, to),
            TokenKind::ShortNull => {
                let list = &rel.shortnulls[token];
                self.reduce_list(list.iter().map(|s| &**s), position, to)
            }
            TokenKind::Allele | TokenKind::Group => self
                .redux_allele(token, to, true)
                .ok_or_else(|| err(Reason::UnknownAllele)),
        }
    }

    fn reduce_list<'a>(
        &self,
        items: impl Iterator<Item = &'a str>,
        position: usize,
        to: Reduction,
    ) -> Result<Names<'r>, TypingError> {
        let mut out: Names<'r> = Vec::new();
        // short lists (MACs) de-duplicate by scanning; long ones (XX, serology) by hashing
        let mut seen: Option<FxHashSet<Cow<'r, str>>> = None;
        for item in items {
            for n in self.reduce_item(item, position, to)? {
                if n.is_empty() {
                    continue;
                }
                let new = match seen.as_mut() {
                    Some(set) => set.insert(n.clone()),
                    None => !out.contains(&n),
                };
                if new {
                    out.push(n);
                    if seen.is_none() && out.len() > 32 {
                        seen = Some(out.iter().cloned().collect());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Reduce one name of an expansion (XX, MAC, serology, short null): these come from the
    /// release's own tables, so only the short-null case needs a look before reducing.
    fn reduce_item(
        &self,
        item: &str,
        position: usize,
        to: Reduction,
    ) -> Result<Names<'r>, TypingError> {
        if self.release.shortnulls.contains_key(item) {
            return self.reduce_token(item, position, to);
        }
        match self.redux_allele(item, to, true) {
            Some(names) => Ok(names),
            None => self.reduce_token(item, position, to),
        }
    }

    /// The lgx reduction of one allele name, for building tables.
    pub(crate) fn lgx_of(release: &'r Release, allele: &str) -> Vec<String> {
        let empty = MacTable::default();
        let r = Reducer::new(release, &empty);
        r.redux_allele(allele, Reduction::Lgx, true)
            .unwrap_or_else(|| vec![Cow::Owned(allele.to_string())])
            .into_iter()
            .map(|c| c.into_owned())
            .collect()
    }

    /// Reduce a single valid allele, shortened allele or group name.
    fn redux_allele(&self, allele: &str, to: Reduction, ping: bool) -> Option<Names<'r>> {
        let rel = self.release;
        let mut a = allele;
        if matches!(
            to,
            Reduction::Lg | Reduction::Lgx | Reduction::G | Reduction::P
        ) && (a.ends_with('P') || a.ends_with('G'))
        {
            a = &a[..a.len() - 1];
        }
        if ping && matches!(to, Reduction::Lg | Reduction::Lgx | Reduction::U2) {
            if let Some(x) = rel.p_not_g.get(a) {
                return Some(vec![if to == Reduction::Lg {
                    owned(format!("{x}g"))
                } else {
                    Cow::Borrowed(&**x)
                }]);
            }
            let first = self.redux_allele(a, to, false)?;
            if first.len() != 1 {
                return Some(first);
            }
            let one: &str = &first[0];
            let no_suffix = if to == Reduction::Lg {
                one.strip_suffix('g').unwrap_or(one)
            } else {
                one
            };
            if no_suffix == a || rel.p_not_g_values.contains(no_suffix) {
                return Some(first);
            }
            if let Some(twice) = self.redux_allele(no_suffix, to, false) {
                if twice.len() != 1 || rel.valid.contains(&*twice[0]) {
                    return Some(twice);
                }
            }
            return Some(first);
        }
        match to {
            Reduction::G => match rel.g_group.get(a) {
                Some(gs) => Some(borrowed_all(gs)),
                None => self.as_is(a),
            },
            Reduction::P => match rel.p_group.get(a) {
                Some(ps) => Some(borrowed_all(ps)),
                None => self.as_is(a),
            },
            Reduction::Lgx => Some(vec![self.lgx_strategy(a)]),
            Reduction::Lg => Some(vec![owned(format!("{}g", self.lgx_strategy(a)))]),
            Reduction::W => Some(self.who(a)),
            Reduction::Exon => self.exon(a),
            Reduction::U2 => {
                if field_count(a) == 2 {
                    return Some(vec![owned(a)]);
                }
                let two = first_fields_keep_expression(a, 2);
                if rel.valid.contains(two.as_str()) {
                    Some(vec![owned(two)])
                } else {
                    self.redux_allele(a, Reduction::Lgx, true)
                }
            }
            Reduction::S => Some(self.serology_of(a)),
        }
    }

    fn as_is(&self, a: &str) -> Option<Names<'r>> {
        let rel = self.release;
        let ok = (a.ends_with('P') && rel.p_names.contains(a))
            || (a.ends_with('G') && rel.g_names.contains(a))
            || rel.valid.contains(a);
        ok.then(|| vec![owned(a)])
    }

    fn lgx_strategy(&self, a: &str) -> Cow<'r, str> {
        match self.release.lgx_group.get(a) {
            Some(x) => Cow::Borrowed(&**x),
            None => owned(first_fields(a, 2)),
        }
    }

    fn who(&self, a: &str) -> Names<'r> {
        let rel = self.release;
        if rel.is_allele(a) {
            return vec![owned(a)];
        }
        if let Some(members) = rel.who_group.get(a) {
            return borrowed_all(members);
        }
        if let Some(members) = rel.g_members.get(a).or_else(|| rel.p_members.get(a)) {
            return borrowed_all(members);
        }
        vec![owned(a)]
    }

    fn exon(&self, a: &str) -> Option<Names<'r>> {
        let rel = self.release;
        if let Some(ex) = rel.exon_group.get(a) {
            if let Some(c) = expression_suffix(a) {
                let with = format!("{ex}{c}");
                if rel.shortnulls.contains_key(with.as_str()) {
                    return Some(vec![owned(with)]);
                }
            }
            return Some(vec![Cow::Borrowed(&**ex)]);
        }
        let w = self.who(a);
        if (w.len() == 1 && (w[0] == a || field_count(&w[0]) == 2)) || w.is_empty() {
            return Some(vec![owned(a)]);
        }
        let mut out: Names<'r> = Vec::new();
        for m in &w {
            if let Some(r) = self.redux_allele(m, Reduction::Exon, true) {
                out.extend(r);
            }
        }
        sort_unique(&mut out);
        Some(out)
    }

    fn serology_of(&self, a: &str) -> Names<'r> {
        let rel = self.release;
        let found = if field_count(a) == 2 {
            // a null allele expresses no antigen (rel_dna_ser.txt says 0), whatever its group
            if a.ends_with('N') {
                return Vec::new();
            }
            let lgx = self
                .redux_allele(a, Reduction::Lgx, true)
                .and_then(|v| v.into_iter().next());
            lgx.and_then(|x| rel.sero_of_lgx.get(&*x))
        } else {
            rel.sero_of_allele.get(a)
        };
        let mut out = found.map(|v| borrowed_all(v)).unwrap_or_default();
        sort_unique(&mut out);
        out
    }
}

/// Every way to write `digits` as one to four fields of two or three digits, joined by
/// `:`, in the order of a depth-first search that tries two digits before three
/// (`01011` -> `01:011`, `010:11`).
///
/// Without recursion or backtracking: a name has at most four fields, so at most twelve
/// digits split at all and there are at most 2 + 4 + 8 + 16 width sequences to try. (The
/// recursive search this replaces explored every split of any run of digits: exponential
/// time, and a stack frame per field, for issue 25's `A*` followed by thousands of nines.)
fn field_splits(digits: &str) -> Vec<String> {
    let n = digits.len();
    let mut out = Vec::new();
    if !(2..=12).contains(&n) {
        return out;
    }
    // width sequences (2 or 3 each) of one to four fields that sum to n; the bits of
    // `mask` choose 3 (set) or 2 (clear) for each field, the first field in the highest bit
    let mut seqs: Vec<Vec<usize>> = Vec::new();
    for fields in 1..=4usize {
        for mask in 0..(1u32 << fields) {
            let widths: Vec<usize> = (0..fields)
                .map(|k| {
                    if mask & (1 << (fields - 1 - k)) != 0 {
                        3
                    } else {
                        2
                    }
                })
                .collect();
            if widths.iter().sum::<usize>() == n {
                seqs.push(widths);
            }
        }
    }
    // two sequences with the same sum never prefix each other, so the lexicographic order
    // (2 before 3) is the depth-first order
    seqs.sort();
    for widths in seqs {
        let mut at = 0;
        let mut name = String::with_capacity(n + widths.len());
        for (k, w) in widths.iter().enumerate() {
            if k > 0 {
                name.push(':');
            }
            name.push_str(&digits[at..at + w]);
            at += w;
        }
        out.push(name);
    }
    out
}

/// An error found on the name inside `HLA-name` is reported on the token as written.
fn with_full_token(mut e: TypingError, inner: &str, token: &str) -> TypingError {
    if e.token == inner {
        e.token = token.to_string();
    }
    e
}

/// Join reduced operands under a GL operator: `/` `|` `^` make sorted unique lists,
/// `+` sorts the two copies, `~` keeps haplotype order.
fn combine<S: AsRef<str>>(op: Op, parts: &[S]) -> String {
    let sym = op.symbol();
    let mut pieces: Vec<&str> = Vec::with_capacity(parts.len());
    match op {
        Op::Haplotype => pieces.extend(parts.iter().map(|p| p.as_ref())),
        Op::Genotype => {
            pieces.extend(parts.iter().map(|p| p.as_ref()).filter(|s| !s.is_empty()));
            pieces.sort_by(|a, b| gl_item_cmp(a, b));
        }
        Op::AlleleList | Op::GenotypeList | Op::Loci => {
            for p in parts {
                pieces.extend(p.as_ref().split(sym).filter(|s| !s.is_empty()));
            }
            pieces.sort_by(|a, b| gl_item_cmp(a, b));
            pieces.dedup();
        }
    }
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len() + 1).sum());
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            out.push(sym);
        }
        out.push_str(p);
    }
    out
}

/// A reduced operand: a memoised token result, or a freshly combined string.
enum Piece {
    Shared(Arc<str>),
    Owned(String),
}

impl Piece {
    fn into_string(self) -> String {
        match self {
            Piece::Shared(s) => s.to_string(),
            Piece::Owned(s) => s,
        }
    }
}

impl AsRef<str> for Piece {
    fn as_ref(&self) -> &str {
        match self {
            Piece::Shared(s) => s,
            Piece::Owned(s) => s,
        }
    }
}

fn gl_item_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let is_gl = |s: &str| s.contains(['/', '|', '+', '^', '~']);
    if is_gl(a) || is_gl(b) {
        a.cmp(b)
    } else {
        natural_cmp(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::field_splits;

    /// The recursive search `field_splits` replaced (issue 25), as the reference.
    fn reference(d: &str, acc: &mut Vec<String>, cur: &mut Vec<String>) {
        if d.is_empty() {
            if (1..=4).contains(&cur.len()) {
                acc.push(cur.join(":"));
            }
            return;
        }
        for w in [2, 3] {
            if d.len() >= w {
                cur.push(d[..w].to_string());
                reference(&d[w..], acc, cur);
                cur.pop();
            }
        }
    }

    #[test]
    fn field_splits_are_the_recursive_ones_in_the_same_order() {
        let digits = "0123456789012345678";
        for n in 0..=digits.len() {
            let mut want = Vec::new();
            reference(&digits[..n], &mut want, &mut Vec::new());
            assert_eq!(field_splits(&digits[..n]), want, "{n} digits");
        }
    }
}
