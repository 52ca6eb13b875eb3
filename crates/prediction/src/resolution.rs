//! A frequency set's allele resolution, and the conversion of typings to it.
//!
//! A set is written at one resolution: NMDP's own "g" groups (the NMDP 2007 set, defined by
//! its `g-groups-mmc1.csv`), IPD-IMGT/HLA G groups, small g groups, or two-field names.
//! A position typing (allele, allele list, MAC, XX code, serology) becomes the set of names
//! at that resolution it may be; each name also gets the ARD protein it stands for, so two
//! names match when they share a P group.

use medulla_nomenclature::{Reducer, Reduction, TypingError};
use rustc_hash::FxHashMap;

/// NMDP's "g" groups, as defined in the NMDP 2007 set's supplement (`g-groups-mmc1.csv`).
#[derive(Debug, Clone, Default)]
pub struct NmdpGroups {
    /// Two-field member name (with its expression suffix) -> group name.
    group_of: FxHashMap<String, String>,
    /// Group name -> members.
    members: FxHashMap<String, Vec<String>>,
}

/// The NMDP 2007 set's g-group definitions, shipped.
pub const NMDP_2007_G_GROUPS: &str =
    include_str!("../../../data/haplotypes/nmdp-2007/g-groups-mmc1.csv");

#[derive(Debug, thiserror::Error)]
#[error("{file} line {line}: {reason}")]
pub struct GroupsError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl NmdpGroups {
    /// The shipped NMDP 2007 definitions.
    pub fn nmdp_2007() -> Self {
        Self::parse(NMDP_2007_G_GROUPS, "g-groups-mmc1.csv").expect("the shipped g groups parse")
    }

    /// Read `GROUP,"member,member,..."` lines; `-- LOCUS --` lines head each locus.
    pub fn parse(text: &str, file: &str) -> Result<Self, GroupsError> {
        let mut g = NmdpGroups::default();
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim().trim_end_matches(',');
            if l.is_empty() || l.starts_with("--") {
                continue;
            }
            let Some((name, list)) = l.split_once(',') else {
                return Err(GroupsError {
                    file: file.into(),
                    line: i + 1,
                    reason: "expected GROUP,\"MEMBERS\"".into(),
                });
            };
            let name = name.trim().to_string();
            if !name.contains('*') || !name.ends_with('g') {
                return Err(GroupsError {
                    file: file.into(),
                    line: i + 1,
                    reason: format!("{name:?} is not a g group name"),
                });
            }
            let members: Vec<String> = list
                .trim()
                .trim_matches('"')
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            for m in &members {
                g.group_of.insert(m.clone(), name.clone());
            }
            g.members.insert(name, members);
        }
        Ok(g)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The group of a two-field name, if it is in one.
    pub fn group_of(&self, two_field: &str) -> Option<&str> {
        self.group_of.get(two_field).map(String::as_str)
    }

    pub fn members(&self, group: &str) -> Option<&[String]> {
        self.members.get(group).map(Vec::as_slice)
    }
}

/// The resolution a set's alleles are written at.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// NMDP's g groups; names in no group are two-field names.
    NmdpG(NmdpGroups),
    /// IPD-IMGT/HLA G groups.
    GGroup,
    /// IPD-IMGT/HLA small g groups (`A*01:01g`).
    SmallG,
    /// Two-field names (the first two fields of the allele name; nulls keep their `N`).
    TwoField,
}

impl Resolution {
    pub fn name(&self) -> &'static str {
        match self {
            Resolution::NmdpG(_) => "NMDP g groups",
            Resolution::GGroup => "G groups",
            Resolution::SmallG => "small g groups",
            Resolution::TwoField => "two-field",
        }
    }

    /// Guess from a set's allele names: the resolution under which most of the names are
    /// what that resolution writes. NMDP g groups (`A*01:01g` from the NMDP table, other
    /// alleles at two fields, as in the WMDA validation sets), IPD-IMGT/HLA small g (every
    /// name `...g`, the release's own), G groups (`...G`), or plain two-field names.
    pub fn guess(names: &[&str], reducer: &Reducer<'_>, nmdp: NmdpGroups) -> Resolution {
        let valid = |n: &str| reducer.validate(n).is_ok();
        let (mut g_big, mut small_g, mut nmdp_g, mut two) = (0usize, 0usize, 0usize, 0usize);
        for n in names {
            let n = n.strip_prefix("HLA-").unwrap_or(n);
            if n.ends_with('G') {
                g_big += usize::from(valid(n));
            } else if n.ends_with('g') {
                // the release's small g: the lg reduction of the group is itself
                small_g += usize::from(
                    reducer
                        .reduce(n, Reduction::Lg)
                        .is_ok_and(|r| r.split('/').any(|x| x == n)),
                );
                nmdp_g += usize::from(nmdp.members(n).is_some());
            } else if valid(n) {
                two += 1;
                // an NMDP g set writes an allele in no group at two fields
                nmdp_g += usize::from(nmdp.group_of(&two_field(n)).is_none());
            }
        }
        let best = [g_big, small_g, nmdp_g, two].into_iter().max().unwrap_or(0);
        if best == 0 || two == best {
            Resolution::TwoField
        } else if nmdp_g == best {
            Resolution::NmdpG(nmdp)
        } else if small_g == best {
            Resolution::SmallG
        } else if g_big == best {
            Resolution::GGroup
        } else {
            Resolution::TwoField
        }
    }
}

/// The first two fields of an allele name, with its expression suffix (`A*01:01:01:02N`
/// -> `A*01:01N`).
pub fn two_field(name: &str) -> String {
    let suffix = name.chars().last().filter(char::is_ascii_alphabetic);
    let core = name.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let mut parts = core.splitn(3, ':');
    let mut out = String::with_capacity(name.len());
    out.push_str(parts.next().unwrap_or(""));
    if let Some(second) = parts.next() {
        out.push(':');
        out.push_str(second);
    }
    if let Some(s) = suffix {
        out.push(s);
    }
    out
}

/// Converts position typings to a set's resolution (memoised).
pub struct Converter<'r> {
    reducer: &'r Reducer<'r>,
    resolution: &'r Resolution,
    cache: FxHashMap<String, Vec<String>>,
}

impl<'r> Converter<'r> {
    pub fn new(reducer: &'r Reducer<'r>, resolution: &'r Resolution) -> Self {
        Converter {
            reducer,
            resolution,
            cache: FxHashMap::default(),
        }
    }

    pub fn reducer(&self) -> &'r Reducer<'r> {
        self.reducer
    }

    /// The names at the set's resolution a position typing may be (sorted, distinct).
    pub fn convert(&mut self, typing: &str) -> Result<&[String], TypingError> {
        if !self.cache.contains_key(typing) {
            let names = self.compute(typing)?;
            self.cache.insert(typing.to_string(), names);
        }
        Ok(&self.cache[typing])
    }

    /// The names at the set's resolution a position typing may be (sorted, distinct),
    /// computed afresh.
    pub fn compute(&self, typing: &str) -> Result<Vec<String>, TypingError> {
        let bare = medulla_nomenclature::strip_prefixes(typing);
        let typing: &str = &bare;
        let split = |s: String| -> Vec<String> {
            s.split('/')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut names = match self.resolution {
            Resolution::GGroup => split(self.reducer.reduce(typing, Reduction::G)?),
            Resolution::SmallG => split(self.reducer.reduce(typing, Reduction::Lg)?),
            Resolution::TwoField => self.two_field_names(typing, None)?,
            Resolution::NmdpG(groups) => self.two_field_names(typing, Some(groups))?,
        };
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// The alleles a typing stands for, as two-field names (keeping a null's `N`), each
    /// replaced by its NMDP g group when it is in one.
    fn two_field_names(
        &self,
        typing: &str,
        groups: Option<&NmdpGroups>,
    ) -> Result<Vec<String>, TypingError> {
        let full = self.reducer.reduce(typing, Reduction::W)?;
        let group = |n: &str| groups.and_then(|g| g.group_of(n)).map(str::to_string);
        Ok(full
            .split('/')
            .filter(|n| !n.is_empty())
            .map(|n| {
                let tf = two_field(n);
                if let Some(g) = group(&tf) {
                    return g;
                }
                // L, S, Q suffixes are expressed: the plain name's group, or the name
                if tf.ends_with(['L', 'S', 'Q']) {
                    let plain = &tf[..tf.len() - 1];
                    return group(plain).unwrap_or_else(|| plain.to_string());
                }
                tf
            })
            .collect())
    }

    /// The ARD identity of a set allele name: its P group(s) as one key, or `None` for a
    /// null allele (expresses nothing). Names the release does not know stand for
    /// themselves.
    pub fn ard_key(&self, name: &str) -> Option<String> {
        let base: Vec<String> = match self.resolution {
            Resolution::NmdpG(groups) => match groups.members(name) {
                Some(m) => m.to_vec(),
                None => vec![name.to_string()],
            },
            _ => vec![name.to_string()],
        };
        let mut ps: Vec<String> = Vec::new();
        let mut any_known = false;
        for b in &base {
            if let Ok(p) = self.reducer.reduce(b, Reduction::P) {
                any_known = true;
                ps.extend(
                    p.split('/')
                        .filter(|x| !x.is_empty() && !x.ends_with('N'))
                        .map(str::to_string),
                );
            }
        }
        if !any_known {
            return if name.ends_with('N') {
                None
            } else {
                Some(name.to_string())
            };
        }
        ps.sort_unstable();
        ps.dedup();
        if ps.is_empty() {
            None
        } else {
            Some(ps.join("/"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_field_names_keep_the_expression_suffix() {
        assert_eq!(two_field("A*01:01:01:02N"), "A*01:01N");
        assert_eq!(two_field("A*01:01:38L"), "A*01:01L");
        assert_eq!(two_field("B*08:01:01:01"), "B*08:01");
        assert_eq!(two_field("C*07:01"), "C*07:01");
    }

    #[test]
    fn the_shipped_g_groups() {
        let g = NmdpGroups::nmdp_2007();
        assert!(g.len() > 90);
        assert_eq!(g.group_of("A*01:04N"), Some("A*01:01g"));
        assert_eq!(g.group_of("A*02:09"), Some("A*02:01g"));
        assert_eq!(g.group_of("A*03:01"), g.group_of("A*03:01"));
        assert!(g
            .members("A*02:01g")
            .unwrap()
            .contains(&"A*02:43N".to_string()));
    }
}
