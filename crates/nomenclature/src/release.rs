//! Loading an IPD-IMGT/HLA release and the lookup tables reductions need.
//!
//! A release is read from six files of the IPD-IMGT/HLA layout:
//! `Allelelist.txt`, `wmda/hla_nom_g.txt`, `wmda/hla_nom_p.txt`, `wmda/rel_dna_ser.txt`,
//! `wmda/rel_ser_ser.txt` and `release_version.txt`. Release 3.58.0 is compiled into the
//! crate ([`Release::shipped`]); any other folder of the same layout loads with
//! [`Release::from_dir`].

use std::path::{Path, PathBuf};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::LoadError;
use crate::name::{expression_suffix, field_count, first_fields, natural_cmp, split_locus};

/// The release shipped inside Medulla (unmodified files, see `data/imgt/3.58.0/LICENCE.md`).
pub const SHIPPED_VERSION: &str = "3.58.0";

/// Text of the release files, as read from disk or from the shipped copy.
pub struct ReleaseFiles {
    pub allele_list: String,
    pub nom_g: String,
    pub nom_p: String,
    pub rel_dna_ser: String,
    pub rel_ser_ser: String,
    pub version: Option<String>,
}

impl ReleaseFiles {
    pub fn shipped() -> Self {
        macro_rules! f {
            ($p:literal) => {
                include_str!(concat!("../../../data/imgt/3.58.0/", $p)).to_string()
            };
        }
        ReleaseFiles {
            allele_list: f!("Allelelist.txt"),
            nom_g: f!("wmda/hla_nom_g.txt"),
            nom_p: f!("wmda/hla_nom_p.txt"),
            rel_dna_ser: f!("wmda/rel_dna_ser.txt"),
            rel_ser_ser: f!("wmda/rel_ser_ser.txt"),
            version: Some(f!("release_version.txt")),
        }
    }

    pub fn read_dir(dir: &Path) -> Result<Self, LoadError> {
        let read = |rel: &str| -> Result<String, LoadError> {
            let path: PathBuf = dir.join(rel);
            std::fs::read_to_string(&path).map_err(|source| LoadError::Io { path, source })
        };
        Ok(ReleaseFiles {
            allele_list: read("Allelelist.txt")?,
            nom_g: read("wmda/hla_nom_g.txt")?,
            nom_p: read("wmda/hla_nom_p.txt")?,
            rel_dna_ser: read("wmda/rel_dna_ser.txt")?,
            rel_ser_ser: read("wmda/rel_ser_ser.txt")?,
            version: read("release_version.txt").ok(),
        })
    }
}

pub(crate) type Map<V> = FxHashMap<Box<str>, V>;

/// One serological antigen with the alleles (and their lgx names) that express it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Antigen {
    pub alleles: Vec<Box<str>>,
    /// lgx names of those alleles
    #[allow(dead_code)]
    pub lgx: Vec<Box<str>>,
}

/// An IPD-IMGT/HLA release with every table the reductions read.
pub struct Release {
    pub(crate) version: String,
    /// Every allele name of Allelelist.txt.
    pub(crate) alleles: FxHashSet<Box<str>>,
    /// Full names plus their two- and three-field shortenings, plus two-field names with
    /// the one expression suffix all their expression variants share.
    pub(crate) valid: FxHashSet<Box<str>>,
    /// Loci listed in hla_nom_g.txt or hla_nom_p.txt: the loci ARD reductions apply to.
    pub(crate) ard_loci: FxHashSet<Box<str>>,
    pub(crate) loci: FxHashSet<Box<str>>,
    /// Full, 3-field and 2-field names of G-group members -> G group names.
    pub(crate) g_group: Map<Vec<Box<str>>>,
    pub(crate) g_names: FxHashSet<Box<str>>,
    /// G group name -> member alleles.
    pub(crate) g_members: Map<Vec<Box<str>>>,
    pub(crate) p_group: Map<Vec<Box<str>>>,
    pub(crate) p_names: FxHashSet<Box<str>>,
    pub(crate) p_members: Map<Vec<Box<str>>>,
    /// Names -> two-field ARD name (from the G group, lowest when a 2-field name spans several).
    pub(crate) lgx_group: Map<Box<str>>,
    /// Alleles in a P group whose 2-field name is in no G group -> the P group's 2-field name.
    pub(crate) p_not_g: Map<Box<str>>,
    pub(crate) p_not_g_values: FxHashSet<Box<str>>,
    /// G-group member -> its three-field name.
    pub(crate) exon_group: Map<Box<str>>,
    /// 1-, 2- and 3-field shortenings -> full names.
    pub(crate) who_group: Map<Vec<Box<str>>>,
    /// Shortened name + expression suffix (`A*01:04N`) -> the full names it stands for.
    pub(crate) shortnulls: Map<Vec<Box<str>>>,
    /// `A*02` -> two-field names under that first field (XX expansion).
    pub(crate) xx_codes: Map<Vec<Box<str>>>,
    /// Serology name (`A24`, `Cw3`, `DR15`) -> antigen.
    pub(crate) antigens: Map<Antigen>,
    /// Every serology name the release knows (with or without alleles).
    pub(crate) serology_names: FxHashSet<Box<str>>,
    /// Broad antigens (those rel_ser_ser.txt splits).
    pub(crate) broad_antigens: FxHashSet<Box<str>>,
    /// allele -> antigens whose allele list contains it
    pub(crate) sero_of_allele: Map<Vec<Box<str>>>,
    /// lgx name -> antigens whose lgx list contains it
    pub(crate) sero_of_lgx: Map<Vec<Box<str>>>,
}

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches(['\r', '\n'])))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Drop repeated names, keeping the first of each (lists are built by appending).
fn dedup_keep_order(v: &mut Vec<Box<str>>) {
    let mut seen: FxHashSet<Box<str>> = FxHashSet::default();
    v.retain(|x| seen.insert(x.clone()));
}

fn push_unique(v: &mut Vec<Box<str>>, s: &str) {
    if !v.iter().any(|x| &**x == s) {
        v.push(s.into());
    }
}

/// One line of `hla_nom_g.txt` / `hla_nom_p.txt`: `LOCUS*;ALLELE/ALLELE/...;GROUP`.
struct GroupLine {
    /// Full names of the listed alleles.
    alleles: Vec<String>,
    /// Full group name; `None` for an allele in no group.
    group: Option<Box<str>>,
}

/// Read a group file; every locus it lists goes into `ard_loci`, grouped or not.
fn group_lines(
    text: &str,
    file: &str,
    ard_loci: &mut FxHashSet<Box<str>>,
) -> Result<Vec<GroupLine>, LoadError> {
    let mut out = Vec::new();
    for (line, l) in data_lines(text) {
        let f: Vec<&str> = l.split(';').collect();
        if f.len() < 3 {
            return Err(LoadError::Format {
                file: file.into(),
                line,
                reason: "expected LOCUS*;ALLELES;GROUP".into(),
            });
        }
        ard_loci.insert(f[0].trim_end_matches('*').into());
        out.push(GroupLine {
            alleles: f[1]
                .split('/')
                .filter(|a| !a.is_empty())
                .map(|a| format!("{}{a}", f[0]))
                .collect(),
            group: (!f[2].is_empty() && !f[1].is_empty())
                .then(|| format!("{}{}", f[0], f[2]).into()),
        });
    }
    Ok(out)
}

/// 2-field name of a group name (`A*01:01:01G` -> `A*01:01`).
fn group_two_field(group: &str) -> &str {
    first_fields(group.trim_end_matches(['G', 'P']), 2)
}

/// The serology name for a locus and antigen number as rel_dna_ser writes them
/// (`A*` `24` -> `A24`, `C*` `3` -> `Cw3`, `DRB1*` `15` -> `DR15`).
fn serology_name(locus: &str, number: &str) -> String {
    let locus = locus.trim_end_matches('*');
    let prefix: &str = if locus == "C" {
        "Cw"
    } else {
        &locus[..locus.len().min(2)]
    };
    format!("{prefix}{number}")
}

/// DNA locus of a serology locus prefix of rel_ser_ser.txt.
fn dna_locus(serology_locus: &str) -> Option<&'static str> {
    Some(match serology_locus {
        "A" => "A",
        "B" => "B",
        "Cw" => "C",
        "DR" => "DRB1",
        "DQ" => "DQB1",
        _ => return None,
    })
}

/// XX codes of broad antigens that no allele is named after (`A*09:XX` = `A*23:XX` and
/// `A*24:XX`), from the broad/split pairs of rel_ser_ser.txt.
fn add_broad_xx_codes(xx_codes: &mut Map<Vec<Box<str>>>, rel_ser_ser: &str) {
    for (_, l) in data_lines(rel_ser_ser) {
        let f: Vec<&str> = l.split(';').collect();
        let Some(locus) = f.first().and_then(|s| dna_locus(s)) else {
            continue;
        };
        let (Some(broad), Some(splits)) = (f.get(1), f.get(2)) else {
            continue;
        };
        let first = |n: &str| format!("{locus}*{:0>2}", n);
        let broad = first(broad);
        if splits.is_empty() || xx_codes.contains_key(broad.as_str()) {
            continue;
        }
        let mut names: Vec<Box<str>> = Vec::new();
        for split in splits.split('/').filter(|s| !s.is_empty()) {
            if let Some(v) = xx_codes.get(first(split).as_str()) {
                names.extend(v.iter().cloned());
            }
        }
        if !names.is_empty() {
            xx_codes.insert(broad.into(), names);
        }
    }
}

impl Release {
    /// The release compiled into Medulla (3.58.0).
    pub fn shipped() -> Self {
        Self::from_files(&ReleaseFiles::shipped()).expect("the shipped release parses")
    }

    /// Load a release folder of the IPD-IMGT/HLA layout.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        Self::from_files(&ReleaseFiles::read_dir(dir)?)
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Number of allele names in the release.
    pub fn allele_count(&self) -> usize {
        self.alleles.len()
    }

    /// Every allele name, in natural order.
    pub fn allele_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.alleles.iter().map(|s| &**s).collect();
        v.sort_by(|a, b| natural_cmp(a, b));
        v
    }

    pub fn is_allele(&self, name: &str) -> bool {
        self.alleles.contains(name)
    }

    /// Whether a serological antigen is a broad antigen that splits (`A9`, `DR2`).
    pub fn is_broad_antigen(&self, name: &str) -> bool {
        self.broad_antigens.contains(name)
    }

    /// A full allele name or a two- or three-field shortening of one (`A*01:01`).
    pub fn is_valid_name(&self, name: &str) -> bool {
        self.valid.contains(name)
    }

    pub fn has_locus(&self, locus: &str) -> bool {
        self.loci.contains(locus)
    }

    pub fn from_files(files: &ReleaseFiles) -> Result<Self, LoadError> {
        let version = files
            .version
            .as_deref()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("# version: IPD-IMGT/HLA "))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());

        // --- Allelelist.txt
        let mut alleles: FxHashSet<Box<str>> = FxHashSet::default();
        // in file order (the natural order); results are sorted when produced anyway
        let mut sorted_alleles: Vec<Box<str>> = Vec::new();
        let mut loci: FxHashSet<Box<str>> = FxHashSet::default();
        for (line, l) in data_lines(&files.allele_list) {
            if l.starts_with("AlleleID") {
                continue;
            }
            let name = l.split(',').nth(1).ok_or_else(|| LoadError::Format {
                file: "Allelelist.txt".into(),
                line,
                reason: "expected AlleleID,Allele".into(),
            })?;
            let (locus, _) = split_locus(name).ok_or_else(|| LoadError::Format {
                file: "Allelelist.txt".into(),
                line,
                reason: format!("{name:?} has no '*'"),
            })?;
            loci.insert(locus.into());
            if alleles.insert(name.into()) {
                sorted_alleles.push(name.into());
            }
        }

        // valid names: full, 2-field, 3-field, and 2-field + the single shared expression char
        let mut valid: FxHashSet<Box<str>> = FxHashSet::default();
        let mut exp_chars: FxHashMap<&str, FxHashSet<char>> = FxHashMap::default();
        let mut who_group: Map<Vec<Box<str>>> = Map::default();
        for a in &sorted_alleles {
            valid.insert(a.clone());
            valid.insert(first_fields(a, 2).into());
            valid.insert(first_fields(a, 3).into());
            if field_count(a) > 2 {
                if let Some(c) = expression_suffix(a) {
                    exp_chars.entry(first_fields(a, 2)).or_default().insert(c);
                }
            }
            for n in 1..=3 {
                let key = first_fields(a, n);
                who_group.entry(key.into()).or_default().push(a.clone());
            }
        }
        for (two, chars) in &exp_chars {
            if chars.len() == 1 {
                let c = chars.iter().next().unwrap();
                valid.insert(format!("{two}{c}").into());
            }
        }
        // a full name is its own WHO group; keep the shortening groups only
        who_group.retain(|k, v| !(v.len() == 1 && *v[0] == **k));

        // shortened name + expression suffix -> the expression variants under it
        let mut shortnulls: Map<Vec<Box<str>>> = Map::default();
        for (key, members) in &who_group {
            if !key.contains(':') || expression_suffix(key).is_some() {
                continue;
            }
            for m in members {
                if let Some(c) = expression_suffix(m) {
                    shortnulls
                        .entry(format!("{key}{c}").into())
                        .or_default()
                        .push(m.clone());
                }
            }
        }

        // --- G groups (names as the file writes them)
        let mut g_group: Map<Vec<Box<str>>> = Map::default();
        let mut g_members: Map<Vec<Box<str>>> = Map::default();
        let mut g_names = FxHashSet::default();
        let mut ard_loci = FxHashSet::default();
        let mut lgx_candidates: Map<Vec<Box<str>>> = Map::default();
        let mut lgx_group: Map<Box<str>> = Map::default();
        let mut exon_group: Map<Box<str>> = Map::default();
        let mut g_two_fields: FxHashSet<Box<str>> = FxHashSet::default();
        for gl in group_lines(&files.nom_g, "hla_nom_g.txt", &mut ard_loci)? {
            let Some(g) = gl.group else { continue };
            let lgx: Box<str> = group_two_field(&g).into();
            g_names.insert(g.clone());
            for full in gl.alleles {
                let two = first_fields(&full, 2);
                let three = first_fields(&full, 3);
                g_two_fields.insert(two.into());
                for key in [two, three, full.as_str()] {
                    push_unique(g_group.entry(key.into()).or_default(), &g);
                }
                push_unique(lgx_candidates.entry(two.into()).or_default(), &lgx);
                lgx_group.insert(three.into(), lgx.clone());
                lgx_group.insert(full.as_str().into(), lgx.clone());
                exon_group.insert(full.as_str().into(), three.into());
                g_members.entry(g.clone()).or_default().push(full.into());
            }
        }
        for (two, mut cands) in lgx_candidates {
            // a 2-field name in several G groups reduces to the lowest of their names
            cands.sort_by(|a, b| natural_cmp(a, b));
            lgx_group.entry(two).or_insert_with(|| cands[0].clone());
        }
        for v in g_group.values_mut() {
            v.sort_by(|a, b| natural_cmp(a, b));
        }

        // --- P groups
        let mut p_group: Map<Vec<Box<str>>> = Map::default();
        let mut p_members: Map<Vec<Box<str>>> = Map::default();
        let mut p_names = FxHashSet::default();
        let mut p_rows: Vec<(Box<str>, Box<str>)> = Vec::new();
        for gl in group_lines(&files.nom_p, "hla_nom_p.txt", &mut ard_loci)? {
            let Some(p) = gl.group else { continue };
            p_names.insert(p.clone());
            for full in gl.alleles {
                for key in [first_fields(&full, 2), first_fields(&full, 3), &full] {
                    push_unique(p_group.entry(key.into()).or_default(), &p);
                }
                p_members
                    .entry(p.clone())
                    .or_default()
                    .push(full.as_str().into());
                p_rows.push((full.into(), p.clone()));
            }
        }
        for v in p_group.values_mut() {
            v.sort_by(|a, b| natural_cmp(a, b));
        }
        let mut p_not_g: Map<Box<str>> = Map::default();
        for (a, p) in &p_rows {
            if !g_two_fields.contains(first_fields(a, 2)) {
                p_not_g.insert(a.clone(), group_two_field(p).into());
            }
        }
        let p_not_g_values = p_not_g.values().cloned().collect();

        // --- XX codes: first field -> 2-field names, plus DNA broads from rel_ser_ser
        let mut xx_codes: Map<Vec<Box<str>>> = Map::default();
        for a in &sorted_alleles {
            xx_codes
                .entry(first_fields(a, 1).into())
                .or_default()
                .push(first_fields(a, 2).into());
        }
        xx_codes.values_mut().for_each(dedup_keep_order);

        add_broad_xx_codes(&mut xx_codes, &files.rel_ser_ser);

        let mut release = Release {
            version,
            alleles,
            valid,
            ard_loci,
            loci,
            g_group,
            g_names,
            g_members,
            p_group,
            p_names,
            p_members,
            lgx_group,
            p_not_g,
            p_not_g_values,
            exon_group,
            who_group,
            shortnulls,
            xx_codes,
            antigens: Map::default(),
            serology_names: FxHashSet::default(),
            broad_antigens: FxHashSet::default(),
            sero_of_allele: Map::default(),
            sero_of_lgx: Map::default(),
        };
        release.load_serology(files)?;
        Ok(release)
    }

    fn load_serology(&mut self, files: &ReleaseFiles) -> Result<(), LoadError> {
        let mut antigens: Map<Antigen> = Map::default();
        for (line, l) in data_lines(&files.rel_dna_ser) {
            let f: Vec<&str> = l.split(';').collect();
            if f.len() < 5 {
                return Err(LoadError::Format {
                    file: "rel_dna_ser.txt".into(),
                    line,
                    reason: "expected LOCUS*;ALLELE;USA;PSA;ASA;EAE".into(),
                });
            }
            let allele = format!("{}{}", f[0], f[1]);
            let mut numbers: Vec<&str> = Vec::new();
            // unambiguous antigen as one value; possible and assumed antigens as lists
            if !f[2].is_empty() && f[2] != "0" && f[2] != "?" {
                numbers.push(f[2]);
            }
            for col in [f[3], f[4]] {
                numbers.extend(
                    col.split('/')
                        .filter(|s| !s.is_empty() && *s != "0" && *s != "?"),
                );
            }
            if numbers.is_empty() {
                continue;
            }
            let lgx: Vec<Box<str>> = crate::reduce::Reducer::lgx_of(self, &allele)
                .into_iter()
                .map(|s| s.into())
                .collect();
            for n in numbers {
                let entry = antigens.entry(serology_name(f[0], n).into()).or_default();
                entry.alleles.push(allele.as_str().into());
                entry.lgx.extend(lgx.iter().cloned());
            }
        }
        // broad antigens take the alleles of their splits, in file order
        for (_, l) in data_lines(&files.rel_ser_ser) {
            let f: Vec<&str> = l.split(';').collect();
            if f.len() < 3 {
                continue;
            }
            let broad = format!("{}{}", f[0], f[1]);
            self.serology_names.insert(broad.as_str().into());
            if !f[2].is_empty() {
                self.broad_antigens.insert(broad.as_str().into());
            }
            for col in f.iter().skip(2).take(2) {
                for s in col.split('/').filter(|s| !s.is_empty()) {
                    self.serology_names.insert(format!("{}{}", f[0], s).into());
                }
            }
            for split in f[2].split('/').filter(|s| !s.is_empty()) {
                let split = format!("{}{split}", f[0]);
                if let Some(s) = antigens.get(split.as_str()).cloned() {
                    let b = antigens.entry(broad.as_str().into()).or_default();
                    b.alleles.extend(s.alleles.iter().cloned());
                    b.lgx.extend(s.lgx.iter().cloned());
                }
            }
        }
        for (name, mut antigen) in antigens {
            dedup_keep_order(&mut antigen.alleles);
            dedup_keep_order(&mut antigen.lgx);
            self.serology_names.insert(name.clone());
            for a in &antigen.alleles {
                push_unique(self.sero_of_allele.entry(a.clone()).or_default(), &name);
            }
            for x in &antigen.lgx {
                push_unique(self.sero_of_lgx.entry(x.clone()).or_default(), &name);
            }
            self.antigens.insert(name, antigen);
        }
        Ok(())
    }
}
