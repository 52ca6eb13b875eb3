//! Imputation: the genotypes (haplotype pairs) of a population that explain a typing, with
//! their posterior probabilities.
//!
//! A typing is read per locus as one or more alternatives (`|`), each two positions; a
//! position is the set of the set's alleles it may be. A haplotype is a candidate when, at
//! every locus, its allele fits one of the positions; two candidates form a genotype when,
//! at every locus, they fit the two positions of one alternative (either way round). The
//! prior of a genotype is `f1 * f2`, doubled when the haplotypes differ (Hardy-Weinberg);
//! its posterior is the prior over the sum of the priors of all genotypes that explain the
//! typing. Candidates are grouped by their fit pattern, so whole groups are paired at once.

use medulla_haplotypes::{FrequencySet, Population};
use medulla_nomenclature::{Reducer, TypingError};
use rustc_hash::FxHashMap;

use crate::resolution::{Converter, Resolution};

/// Loci a model can have (five, or six with DPB1).
pub const MAX_LOCI: usize = 6;
/// Alternatives (`|`) a locus typing may list.
pub const MAX_ALTERNATIVES: usize = 8;
/// The ARD id of a null allele.
pub const NULL_ARD: u32 = u32::MAX;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ImputeError {
    #[error("{0}")]
    Typing(#[from] TypingError),
    #[error("{0:?}: phased typings (~) are not read; give the loci unphased")]
    Phased(String),
    #[error("{0:?}: more than two copies at one locus")]
    Copies(String),
    #[error("{0:?}: more than {MAX_ALTERNATIVES} genotype alternatives at one locus")]
    Alternatives(String),
    #[error("{0:?}: cannot tell the locus")]
    Locus(String),
    #[error("no population {0:?} in the frequency set")]
    NoPopulation(String),
    #[error("unrepresented: no haplotype pair of the set explains the typing at {locus}")]
    Unrepresented { locus: String },
}

/// Per locus of the model: the alternatives of the typing, each two positions given as
/// bitsets over the locus's alleles; `None` when untyped.
#[derive(Debug, Clone)]
pub struct Typing {
    loci: Vec<Option<Vec<[Vec<u64>; 2]>>>,
}

impl Typing {
    fn fits(bits: &[u64], allele: u16) -> bool {
        let a = allele as usize;
        bits.get(a / 64).is_some_and(|w| w >> (a % 64) & 1 == 1)
    }

    /// The fit mask of allele `a` at locus `l`: bit 2j for position 1 of alternative j,
    /// bit 2j+1 for position 2.
    fn mask(&self, l: usize, a: u16) -> u16 {
        match &self.loci[l] {
            None => 0b11,
            Some(alts) => {
                let mut m = 0u16;
                for (j, [p1, p2]) in alts.iter().enumerate() {
                    if Self::fits(p1, a) {
                        m |= 1 << (2 * j);
                    }
                    if Self::fits(p2, a) {
                        m |= 1 << (2 * j + 1);
                    }
                }
                m
            }
        }
    }

    /// The typing with locus `l` untyped.
    fn without(&self, l: usize) -> Typing {
        let mut t = self.clone();
        t.loci[l] = None;
        t
    }
}

/// Swap the two position bits of every alternative.
fn swap(m: u16) -> u16 {
    ((m & 0x5555) << 1) | ((m >> 1) & 0x5555)
}

/// One population's haplotypes over the shared allele table.
#[derive(Debug, Clone)]
pub struct Model {
    pub code: String,
    haps: Vec<[u16; MAX_LOCI]>,
    freqs: Vec<f64>,
}

impl Model {
    pub fn len(&self) -> usize {
        self.haps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.haps.is_empty()
    }
}

/// A genotype: two haplotypes of the model (indices), with its posterior probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Genotype {
    pub haplotypes: [u32; 2],
    pub probability: f64,
}

/// The genotypes that explain a typing, most probable first.
#[derive(Debug, Clone)]
pub struct Imputation {
    pub genotypes: Vec<Genotype>,
    /// Genotypes that explain the typing, before any truncation.
    pub total_genotypes: usize,
    /// Posterior mass of the genotypes left out by truncation.
    pub dropped_mass: f64,
    /// Sum of the priors of every explaining genotype (the typing's likelihood).
    pub likelihood: f64,
}

/// Per-locus unordered ARD pairs (null replaced by the other allele), as one key.
pub type ArdGenotype = [u32; 2 * MAX_LOCI];

/// A typing's genotype distribution at the ARD: genotypes that are the same proteins are
/// merged.
#[derive(Debug, Clone)]
pub struct ArdDistribution {
    pub genotypes: Vec<(ArdGenotype, f64)>,
    /// Posterior mass left out (none unless truncated).
    pub dropped_mass: f64,
}

/// A position's locus in the set, the ids of the set's alleles it may be, and its names at
/// the set's resolution.
type PositionAlleles = (Option<usize>, Vec<u16>, std::sync::Arc<[String]>);

/// Haplotype frequency sets compiled for imputation: alleles per locus shared by every
/// population, each with its ARD identity.
pub struct Imputer<'r> {
    converter: Converter<'r>,
    /// Position typings already converted to the set's names: shared by every thread
    /// (read-locked on a hit, written once per new typing).
    converted: std::sync::RwLock<FxHashMap<String, std::sync::Arc<[String]>>>,
    resolution: &'r Resolution,
    pub loci: Vec<&'static str>,
    names: Vec<Vec<Box<str>>>,
    ids: Vec<FxHashMap<Box<str>, u16>>,
    ard: Vec<Vec<u32>>,
    ard_ids: FxHashMap<String, u32>,
    models: Vec<Model>,
    /// Population used when none is given or the given one is not in the set.
    pub default_population: Option<String>,
}

impl<'r> Imputer<'r> {
    /// Compile a set. `resolution` must be the set's (see `Resolution::guess`).
    pub fn new(reducer: &'r Reducer<'r>, resolution: &'r Resolution, set: &FrequencySet) -> Self {
        let nl = set.loci.len().min(MAX_LOCI);
        let mut imputer = Imputer {
            converter: Converter::new(reducer, resolution),
            converted: Default::default(),
            resolution,
            loci: set.loci[..nl].to_vec(),
            names: vec![Vec::new(); nl],
            ids: vec![FxHashMap::default(); nl],
            ard: vec![Vec::new(); nl],
            ard_ids: FxHashMap::default(),
            models: Vec::new(),
            default_population: None,
        };
        for p in &set.populations {
            imputer.add_population(p);
        }
        imputer
    }

    /// The set's alleles a converted name stands for at locus `l`: itself when the set has
    /// it; for an NMDP g group the set does not use, those of its members the set writes
    /// plainly (the 2007 set writes `C*07:02` where the definitions have `C*07:02g`).
    fn set_alleles(&self, l: usize, name: &str, out: &mut Vec<u16>) {
        if let Some(&i) = self.ids[l].get(name) {
            out.push(i);
        } else if let Resolution::NmdpG(groups) = self.resolution {
            if let Some(members) = groups.members(name) {
                out.extend(members.iter().filter_map(|m| self.ids[l].get(m.as_str())));
            }
        }
    }

    /// The id of an allele of locus `l`, added (with its ARD identity) when new.
    fn allele_id(&mut self, l: usize, name: &str) -> u16 {
        if let Some(&i) = self.ids[l].get(name) {
            return i;
        }
        let i = u16::try_from(self.names[l].len()).expect("fewer than 65,536 alleles a locus");
        self.names[l].push(name.into());
        self.ids[l].insert(name.into(), i);
        let key = self.converter.ard_key(name);
        let next = self.ard_ids.len() as u32;
        self.ard[l].push(match key {
            None => NULL_ARD,
            Some(k) => *self.ard_ids.entry(k).or_insert(next),
        });
        i
    }

    /// Add a population over the set's loci (another file's, or `FrequencySet::pooled`).
    pub fn add_population(&mut self, p: &Population) {
        let mut model = Model {
            code: p.code.clone(),
            haps: Vec::with_capacity(p.haplotypes.len()),
            freqs: Vec::with_capacity(p.haplotypes.len()),
        };
        for (h, &f) in p.haplotypes.iter().zip(&p.frequencies) {
            if f <= 0.0 {
                continue;
            }
            let mut row = [0u16; MAX_LOCI];
            for (l, a) in h.alleles.iter().take(self.loci.len()).enumerate() {
                row[l] = self.allele_id(l, a);
            }
            model.haps.push(row);
            model.freqs.push(f);
        }
        self.models.retain(|m| m.code != p.code);
        self.models.push(model);
    }

    pub fn populations(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| m.code.as_str())
    }

    /// The model of a population (or the default one when `code` is `None`).
    pub fn model(&self, code: Option<&str>) -> Result<&Model, ImputeError> {
        let want = code
            .or(self.default_population.as_deref())
            .ok_or_else(|| ImputeError::NoPopulation(String::new()))?;
        self.models
            .iter()
            .find(|m| m.code == want)
            .ok_or_else(|| ImputeError::NoPopulation(want.to_string()))
    }

    /// A haplotype as the set writes it (`A*01:01g~C*07:01~...`).
    pub fn haplotype_name(&self, model: &Model, h: u32) -> String {
        let row = &model.haps[h as usize];
        (0..self.loci.len())
            .map(|l| &*self.names[l][row[l] as usize])
            .collect::<Vec<_>>()
            .join("~")
    }

    /// One position's typing as the set's alleles: its locus (`None` when the set does not
    /// have it) and the sorted ids of the alleles it may be, with the converted names.
    fn position_alleles(&self, text: &str) -> Result<PositionAlleles, ImputeError> {
        let names = self.converted_names(text)?;
        let l_name = names
            .first()
            .and_then(|n| n.split('*').next())
            .ok_or_else(|| ImputeError::Locus(text.to_string()))?;
        let Some(l) = self.loci.iter().position(|x| *x == l_name) else {
            return Ok((None, Vec::new(), names));
        };
        let mut found = Vec::new();
        for n in names.iter() {
            self.set_alleles(l, n, &mut found);
        }
        found.sort_unstable();
        found.dedup();
        Ok((Some(l), found, names))
    }

    /// The set's names a position typing may be, converted once and shared.
    fn converted_names(&self, text: &str) -> Result<std::sync::Arc<[String]>, ImputeError> {
        if let Some(hit) = self
            .converted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(text)
        {
            return Ok(hit.clone());
        }
        let names: std::sync::Arc<[String]> = self.converter.compute(text)?.into();
        self.converted
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(text.to_string(), names.clone());
        Ok(names)
    }

    /// Read a GL String into a typing over the model's loci; loci the set does not have
    /// (DPB1 in a five-locus set, DRB3/4/5...) are left out.
    pub fn typing(&self, gl: &str) -> Result<Typing, ImputeError> {
        let mut loci: Vec<Option<Vec<[Vec<u64>; 2]>>> = vec![None; self.loci.len()];
        for block in gl.split('^').map(str::trim).filter(|b| !b.is_empty()) {
            if block.contains('~') {
                return Err(ImputeError::Phased(block.to_string()));
            }
            let alternatives: Vec<&str> = block.split('|').collect();
            if alternatives.len() > MAX_ALTERNATIVES {
                return Err(ImputeError::Alternatives(block.to_string()));
            }
            let mut locus: Option<usize> = None;
            let mut alts = Vec::with_capacity(alternatives.len());
            let mut skip = false;
            for alt in alternatives {
                let copies: Vec<&str> = alt.split('+').map(str::trim).collect();
                if copies.len() > 2 {
                    return Err(ImputeError::Copies(alt.to_string()));
                }
                let mut positions: [Vec<u64>; 2] = Default::default();
                for (p, text) in copies.iter().enumerate() {
                    let (Some(l), found, _) = self.position_alleles(text)? else {
                        skip = true;
                        break;
                    };
                    locus = Some(l);
                    let mut bits = vec![0u64; self.names[l].len().div_ceil(64)];
                    for i in found {
                        bits[i as usize / 64] |= 1 << (i as usize % 64);
                    }
                    positions[p] = bits;
                }
                if skip {
                    break;
                }
                if copies.len() == 1 {
                    // one position: homozygous, or the second not told apart
                    positions[1] = positions[0].clone();
                }
                alts.push(positions);
            }
            if skip {
                continue;
            }
            let l = locus.ok_or_else(|| ImputeError::Locus(block.to_string()))?;
            loci[l] = Some(alts);
        }
        Ok(Typing { loci })
    }

    /// A GL String written in the set's own allele names (each position the set's names it
    /// may be; names the set does not have are left out unless none is left). Loci the
    /// set does not have are dropped.
    pub fn convert_gl(&self, gl: &str) -> Result<String, ImputeError> {
        let mut blocks = Vec::new();
        for block in gl.split('^').map(str::trim).filter(|b| !b.is_empty()) {
            if block.contains('~') {
                return Err(ImputeError::Phased(block.to_string()));
            }
            let mut alts = Vec::new();
            let mut keep = true;
            for alt in block.split('|') {
                let mut copies = Vec::new();
                for text in alt.split('+').map(str::trim) {
                    let (Some(l), found, names) = self.position_alleles(text)? else {
                        keep = false;
                        break;
                    };
                    let known: Vec<&str> =
                        found.iter().map(|&i| &*self.names[l][i as usize]).collect();
                    copies.push(if known.is_empty() {
                        names.join("/")
                    } else {
                        known.join("/")
                    });
                }
                if !keep {
                    break;
                }
                alts.push(copies.join("+"));
            }
            if keep {
                blocks.push(alts.join("|"));
            }
        }
        Ok(blocks.join("^"))
    }

    /// Visit every genotype of `model` that explains `typing`, with its prior.
    fn for_each_pair(
        &self,
        model: &Model,
        typing: &Typing,
        visit: &mut dyn FnMut(u32, u32, f64),
    ) -> Result<(), ImputeError> {
        let nl = self.loci.len();
        // the fit mask of every allele of each locus, once per typing
        let tables: Vec<Vec<u16>> = (0..nl)
            .map(|l| {
                (0..self.names[l].len())
                    .map(|a| typing.mask(l, a as u16))
                    .collect()
            })
            .collect();
        let mut cands: Vec<(u128, u32)> = Vec::new();
        let mut fits_locus = [false; MAX_LOCI];
        'hap: for (hi, h) in model.haps.iter().enumerate() {
            let mut key = 0u128;
            for l in 0..nl {
                let m = tables[l][h[l] as usize];
                if m == 0 {
                    // still note which loci fit somewhere, to name an unrepresented one
                    for (k, t) in tables.iter().enumerate().skip(l + 1) {
                        fits_locus[k] |= t[h[k] as usize] != 0;
                    }
                    continue 'hap;
                }
                fits_locus[l] = true;
                key |= u128::from(m) << (16 * l);
            }
            cands.push((key, hi as u32));
        }
        if let Some(l) = (0..nl).find(|&l| !fits_locus[l]) {
            return Err(ImputeError::Unrepresented {
                locus: self.loci[l].to_string(),
            });
        }
        cands.sort_unstable_by_key(|c| c.0);
        let mut groups: Vec<(u128, std::ops::Range<usize>)> = Vec::new();
        let mut start = 0;
        for i in 1..=cands.len() {
            if i == cands.len() || cands[i].0 != cands[start].0 {
                groups.push((cands[start].0, start..i));
                start = i;
            }
        }
        let compatible = |a: u128, b: u128| {
            (0..nl).all(|l| {
                let ma = (a >> (16 * l)) as u16;
                let mb = (b >> (16 * l)) as u16;
                ma & swap(mb) != 0
            })
        };
        let mut any = false;
        for (gi, (ka, ra)) in groups.iter().enumerate() {
            for (kb, rb) in &groups[gi..] {
                if !compatible(*ka, *kb) {
                    continue;
                }
                any = true;
                let (a, b) = (&cands[ra.clone()], &cands[rb.clone()]);
                for (i, &(_, hi)) in a.iter().enumerate() {
                    let fi = model.freqs[hi as usize];
                    // within one group, each unordered pair once (and the homozygote)
                    let partners = if ra == rb {
                        visit(hi, hi, fi * fi);
                        &b[i + 1..]
                    } else {
                        b
                    };
                    for &(_, hj) in partners {
                        visit(hi, hj, 2.0 * fi * model.freqs[hj as usize]);
                    }
                }
            }
        }
        if !any {
            // each locus fits alone, the pairs do not: name the first locus that, left
            // untyped, would let a pair through
            let locus = (0..nl)
                .find(|&l| {
                    typing.loci[l].is_some()
                        && self
                            .for_each_pair(model, &typing.without(l), &mut |_, _, _| {})
                            .is_ok()
                })
                .map_or_else(|| "several loci".to_string(), |l| self.loci[l].to_string());
            return Err(ImputeError::Unrepresented { locus });
        }
        Ok(())
    }

    /// Impute a typing: every explaining genotype, most probable first; with `limit`, the
    /// first `limit` only and the mass of the rest reported.
    pub fn impute(
        &self,
        model: &Model,
        typing: &Typing,
        limit: Option<usize>,
    ) -> Result<Imputation, ImputeError> {
        let mut all: Vec<Genotype> = Vec::new();
        let mut total = 0.0;
        self.for_each_pair(model, typing, &mut |a, b, p| {
            total += p;
            all.push(Genotype {
                haplotypes: [a, b],
                probability: p,
            });
        })?;
        for g in &mut all {
            g.probability /= total;
        }
        all.sort_unstable_by(|x, y| {
            y.probability
                .total_cmp(&x.probability)
                .then(x.haplotypes.cmp(&y.haplotypes))
        });
        let count = all.len();
        let mut dropped = 0.0;
        if let Some(n) = limit {
            if n < all.len() {
                dropped = all[n..].iter().map(|g| g.probability).sum();
                all.truncate(n);
            }
        }
        Ok(Imputation {
            genotypes: all,
            total_genotypes: count,
            dropped_mass: dropped,
            likelihood: total,
        })
    }

    /// The ARD genotype of two haplotypes.
    fn ard_genotype(&self, model: &Model, a: u32, b: u32) -> ArdGenotype {
        let mut key = [0u32; 2 * MAX_LOCI];
        let (ha, hb) = (&model.haps[a as usize], &model.haps[b as usize]);
        for l in 0..self.loci.len() {
            let (mut x, mut y) = (self.ard[l][ha[l] as usize], self.ard[l][hb[l] as usize]);
            if x == NULL_ARD {
                x = y;
            }
            if y == NULL_ARD {
                y = x;
            }
            key[2 * l] = x.min(y);
            key[2 * l + 1] = x.max(y);
        }
        key
    }

    /// A typing's genotype distribution at the ARD (what match probabilities need).
    pub fn ard_distribution(
        &self,
        model: &Model,
        typing: &Typing,
    ) -> Result<ArdDistribution, ImputeError> {
        let mut acc: FxHashMap<ArdGenotype, f64> = FxHashMap::default();
        let mut total = 0.0;
        self.for_each_pair(model, typing, &mut |a, b, p| {
            total += p;
            *acc.entry(self.ard_genotype(model, a, b)).or_insert(0.0) += p;
        })?;
        let mut genotypes: Vec<(ArdGenotype, f64)> =
            acc.into_iter().map(|(k, p)| (k, p / total)).collect();
        genotypes.sort_unstable_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        Ok(ArdDistribution {
            genotypes,
            dropped_mass: 0.0,
        })
    }
}
