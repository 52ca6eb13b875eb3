//! Population haplotype frequency sets: loading them and drawing haplotypes from them.
//!
//! Three layouts are read: NMDP's CSV (`population,haplotype,frequency[,rank]`, no header,
//! haplotypes written `HLA-A*01:01g~HLA-C*07:01~...`), as in the NMDP 2007 five-locus set
//! shipped in `data/haplotypes/nmdp-2007/`; a plain file per population
//! (`haplotype,frequency` or `haplotype;frequency`, an optional header line); and the
//! HF-set JSON of open-source matching engines (`{"nomenclatureVersion", "ethn",
//! "populationId", "typingCategory", "frequencies": [{"a", "c", "b", "drb1", "dqb1",
//! "frequency"}]}`). Five-locus sets (A~C~B~DRB1~DQB1), and six-locus ones with DPB1.
//! Names keep the set's own resolution (NMDP "g" groups are not IPD-IMGT/HLA's small g).

use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;

/// The loci of a five-locus set, in the set's order.
pub const FIVE_LOCI: [&str; 5] = ["A", "C", "B", "DRB1", "DQB1"];

/// The loci of a six-locus set, in the set's order.
pub const SIX_LOCI: [&str; 6] = ["A", "C", "B", "DRB1", "DQB1", "DPB1"];

/// How a set writes its alleles, when the file says so (HF-set JSON `typingCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredResolution {
    /// IPD-IMGT/HLA G groups (`A*01:01:01G`).
    GGroup,
    /// Small g groups (`A*01:01g`).
    SmallG,
    /// Two-field names.
    TwoField,
}

/// The NMDP 2007 five-locus set (Maiers, Gragert, Klitz, Hum Immunol 2007), shipped.
pub const NMDP_2007_CSV: &str =
    include_str!("../../../data/haplotypes/nmdp-2007/NMDP_2007_FiveLocus_Freqs.csv");

#[derive(Debug, thiserror::Error)]
pub enum HaplotypeError {
    #[error("{file} line {line}: {reason}")]
    Format {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("population {0} has no haplotype with a positive frequency")]
    EmptyPopulation(String),
}

/// One haplotype: an allele name per locus of the set, in the set's locus order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Haplotype {
    pub alleles: Vec<Box<str>>,
}

impl Haplotype {
    /// The allele at `locus` (`A`, `C`, ...), if the set has that locus.
    pub fn allele(&self, loci: &[&str], locus: &str) -> Option<&str> {
        loci.iter()
            .position(|l| *l == locus)
            .and_then(|i| self.alleles.get(i))
            .map(|s| &**s)
    }
}

/// The haplotypes and frequencies of one population.
#[derive(Debug, Clone)]
pub struct Population {
    pub code: String,
    pub haplotypes: Vec<Haplotype>,
    pub frequencies: Vec<f64>,
}

impl Population {
    /// Sum of the listed frequencies (below 1 when the set is truncated).
    pub fn total(&self) -> f64 {
        self.frequencies.iter().sum()
    }

    /// A sampler drawing haplotypes in proportion to their frequencies (renormalised).
    pub fn sampler(&self) -> Result<HaplotypeSampler<'_>, HaplotypeError> {
        let index = WeightedIndex::new(&self.frequencies)
            .map_err(|_| HaplotypeError::EmptyPopulation(self.code.clone()))?;
        Ok(HaplotypeSampler {
            population: self,
            index,
        })
    }
}

/// Draws haplotypes of one population.
pub struct HaplotypeSampler<'a> {
    population: &'a Population,
    index: WeightedIndex<f64>,
}

impl<'a> HaplotypeSampler<'a> {
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> &'a Haplotype {
        &self.population.haplotypes[self.index.sample(rng)]
    }
}

/// A haplotype frequency set: several populations over the same loci.
#[derive(Debug, Clone)]
pub struct FrequencySet {
    pub loci: Vec<&'static str>,
    pub populations: Vec<Population>,
    /// The resolution the file declares, if it does.
    pub declared: Option<DeclaredResolution>,
}

impl FrequencySet {
    /// The shipped NMDP 2007 five-locus set (EUR, AFA, API, HIS).
    pub fn nmdp_2007() -> Self {
        Self::parse_nmdp_csv(NMDP_2007_CSV, "NMDP_2007_FiveLocus_Freqs.csv")
            .expect("the shipped haplotype set parses")
    }

    /// Parse NMDP's five-locus CSV layout: `population,haplotype,frequency[,rank]`.
    pub fn parse_nmdp_csv(text: &str, file: &str) -> Result<Self, HaplotypeError> {
        let err = |line: usize, reason: String| HaplotypeError::Format {
            file: file.to_string(),
            line,
            reason,
        };
        let mut populations: Vec<Population> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() {
                continue;
            }
            let f: Vec<&str> = l.split(',').collect();
            if f.len() < 3 {
                return Err(err(line, "expected population,haplotype,frequency".into()));
            }
            let alleles: Vec<Box<str>> = f[1]
                .split('~')
                .map(|a| a.strip_prefix("HLA-").unwrap_or(a).into())
                .collect();
            if alleles.len() != FIVE_LOCI.len() {
                return Err(err(
                    line,
                    format!(
                        "haplotype {} has {} alleles, expected 5",
                        f[1],
                        alleles.len()
                    ),
                ));
            }
            for (a, locus) in alleles.iter().zip(FIVE_LOCI) {
                if a.split('*').next() != Some(locus) {
                    return Err(err(line, format!("{a} is not at locus {locus}")));
                }
            }
            let freq: f64 = f[2]
                .trim()
                .parse()
                .map_err(|_| err(line, format!("frequency {:?} is not a number", f[2])))?;
            if !(0.0..=1.0).contains(&freq) {
                return Err(err(line, format!("frequency {freq} is outside 0..1")));
            }
            let code = f[0].trim();
            let pop = match populations.iter_mut().position(|p| p.code == code) {
                Some(i) => &mut populations[i],
                None => {
                    populations.push(Population {
                        code: code.to_string(),
                        haplotypes: Vec::new(),
                        frequencies: Vec::new(),
                    });
                    populations.last_mut().expect("just pushed")
                }
            };
            pop.haplotypes.push(Haplotype { alleles });
            pop.frequencies.push(freq);
        }
        Ok(FrequencySet {
            loci: FIVE_LOCI.to_vec(),
            populations,
            declared: None,
        })
    }

    pub fn population(&self, code: &str) -> Option<&Population> {
        self.populations.iter().find(|p| p.code == code)
    }

    /// Read a file in any of the three layouts, told apart by content: JSON (starts with
    /// `{`), NMDP CSV (three or more comma-separated fields, the first a population code),
    /// or a plain `haplotype,frequency` / `haplotype;frequency` file of one population,
    /// which is named `population`.
    pub fn parse_any(text: &str, file: &str, population: &str) -> Result<Self, HaplotypeError> {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        if first.starts_with('{') {
            return Self::parse_hf_json(text, file);
        }
        let fields: Vec<&str> = first.split([',', ';']).collect();
        if fields.len() >= 3 && !fields[0].contains('*') {
            Self::parse_nmdp_csv(text, file)
        } else {
            Self::parse_plain(text, file, population)
        }
    }

    /// A plain per-population file: `haplotype,frequency` or `haplotype;frequency` lines,
    /// haplotypes `A*..~C*..~B*..~DRB1*..~DQB1*..[~DPB1*..]`; a first line without a
    /// number (a header) is skipped.
    pub fn parse_plain(text: &str, file: &str, population: &str) -> Result<Self, HaplotypeError> {
        let mut pop = Population {
            code: population.to_string(),
            haplotypes: Vec::new(),
            frequencies: Vec::new(),
        };
        let mut loci: Option<Vec<&'static str>> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() {
                continue;
            }
            let Some((hap, freq)) = l.rsplit_once([',', ';']) else {
                return Err(format_err(
                    file,
                    line,
                    "expected haplotype,frequency".into(),
                ));
            };
            let Ok(freq) = freq.trim().parse::<f64>() else {
                if pop.haplotypes.is_empty() && line == 1 {
                    continue; // header
                }
                return Err(format_err(
                    file,
                    line,
                    format!("frequency {:?} is not a number", freq.trim()),
                ));
            };
            let names: Vec<&str> = hap.trim().split('~').collect();
            let (hap_loci, alleles) = haplotype_of(&names, file, line)?;
            match &loci {
                None => loci = Some(hap_loci),
                Some(l) if *l != hap_loci => {
                    return Err(format_err(
                        file,
                        line,
                        format!("haplotype {hap} is not over the loci {}", l.join("~")),
                    ))
                }
                Some(_) => {}
            }
            check_frequency(freq, file, line)?;
            pop.haplotypes.push(Haplotype { alleles });
            pop.frequencies.push(freq);
        }
        Ok(FrequencySet {
            loci: loci.unwrap_or_else(|| FIVE_LOCI.to_vec()),
            populations: vec![pop],
            declared: None,
        })
    }

    /// The HF-set JSON of open-source matching engines: one population per file, alleles
    /// written without their locus (`"a": "01:01:01G"`).
    pub fn parse_hf_json(text: &str, file: &str) -> Result<Self, HaplotypeError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            format_err(
                file,
                e.line(),
                format!("not a haplotype frequency set JSON: {e}"),
            )
        })?;
        let code = v["ethn"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .or_else(|| v["populationId"].as_i64().map(|i| i.to_string()))
            .unwrap_or_else(|| "default".to_string());
        let declared = match v["typingCategory"].as_str() {
            Some("LargeGGroup") | Some("GGroup") => Some(DeclaredResolution::GGroup),
            Some("SmallGGroup") | Some("SmallG") => Some(DeclaredResolution::SmallG),
            Some("TwoField") => Some(DeclaredResolution::TwoField),
            _ => None,
        };
        let Some(records) = v["frequencies"].as_array() else {
            return Err(format_err(file, 1, "no \"frequencies\" array".into()));
        };
        let six = records.iter().any(|r| r.get("dpb1").is_some());
        let loci: Vec<&'static str> = if six {
            SIX_LOCI.to_vec()
        } else {
            FIVE_LOCI.to_vec()
        };
        let mut pop = Population {
            code,
            haplotypes: Vec::new(),
            frequencies: Vec::new(),
        };
        for (i, r) in records.iter().enumerate() {
            let n = i + 1;
            let mut alleles = Vec::with_capacity(loci.len());
            for l in &loci {
                let key = l.to_ascii_lowercase();
                let Some(a) = r[key.as_str()].as_str() else {
                    return Err(format_err(
                        file,
                        n,
                        format!("record {n}: no \"{key}\" allele"),
                    ));
                };
                let a = a.strip_prefix("HLA-").unwrap_or(a);
                let name = if a.contains('*') {
                    a.to_string()
                } else {
                    format!("{l}*{a}")
                };
                alleles.push(name.into_boxed_str());
            }
            let Some(freq) = r["frequency"].as_f64() else {
                return Err(format_err(
                    file,
                    n,
                    format!("record {n}: no numeric \"frequency\""),
                ));
            };
            check_frequency(freq, file, n)?;
            pop.haplotypes.push(Haplotype { alleles });
            pop.frequencies.push(freq);
        }
        Ok(FrequencySet {
            loci,
            populations: vec![pop],
            declared,
        })
    }

    /// Add the populations of another set over the same loci (several files side by side).
    pub fn merge(&mut self, other: FrequencySet) -> Result<(), String> {
        if other.loci != self.loci {
            return Err(format!(
                "sets over different loci: {} and {}",
                self.loci.join("~"),
                other.loci.join("~")
            ));
        }
        for p in other.populations {
            if self.population(&p.code).is_some() {
                return Err(format!("population {} given twice", p.code));
            }
            self.populations.push(p);
        }
        Ok(())
    }

    /// A registry-wide population for donors whose population is unknown: the mean of the
    /// populations' frequencies, weighted by `weights` (code, share; missing codes count
    /// nothing) or equally when `weights` is empty.
    pub fn pooled(&self, code: &str, weights: &[(String, f64)]) -> Population {
        let weight = |c: &str| {
            if weights.is_empty() {
                1.0 / self.populations.len().max(1) as f64
            } else {
                let total: f64 = weights.iter().map(|w| w.1).sum();
                weights
                    .iter()
                    .find(|w| w.0 == c)
                    .map_or(0.0, |w| w.1 / total)
            }
        };
        let mut index: rustc_hash::FxHashMap<Vec<Box<str>>, usize> = Default::default();
        let mut out = Population {
            code: code.to_string(),
            haplotypes: Vec::new(),
            frequencies: Vec::new(),
        };
        for p in &self.populations {
            let w = weight(&p.code);
            if w == 0.0 {
                continue;
            }
            for (h, f) in p.haplotypes.iter().zip(&p.frequencies) {
                match index.get(&h.alleles) {
                    Some(&i) => out.frequencies[i] += w * f,
                    None => {
                        index.insert(h.alleles.clone(), out.haplotypes.len());
                        out.haplotypes.push(h.clone());
                        out.frequencies.push(w * f);
                    }
                }
            }
        }
        out
    }
}

fn format_err(file: &str, line: usize, reason: String) -> HaplotypeError {
    HaplotypeError::Format {
        file: file.to_string(),
        line,
        reason,
    }
}

fn check_frequency(freq: f64, file: &str, line: usize) -> Result<(), HaplotypeError> {
    if (0.0..=1.0).contains(&freq) {
        Ok(())
    } else {
        Err(format_err(
            file,
            line,
            format!("frequency {freq} is outside 0..1"),
        ))
    }
}

/// The loci and allele names of a haplotype written `A*..~C*..~...`.
fn haplotype_of(
    names: &[&str],
    file: &str,
    line: usize,
) -> Result<(Vec<&'static str>, Vec<Box<str>>), HaplotypeError> {
    let mut loci = Vec::with_capacity(names.len());
    let mut alleles = Vec::with_capacity(names.len());
    for n in names {
        let n = n.trim();
        let n = n.strip_prefix("HLA-").unwrap_or(n);
        let locus = n.split('*').next().unwrap_or("");
        let Some(l) = SIX_LOCI.iter().find(|l| **l == locus) else {
            return Err(format_err(
                file,
                line,
                format!("{n}: not an allele of A, C, B, DRB1, DQB1 or DPB1"),
            ));
        };
        loci.push(*l);
        alleles.push(n.into());
    }
    if loci != FIVE_LOCI[..] && loci != SIX_LOCI[..] {
        return Err(format_err(
            file,
            line,
            format!(
                "haplotype over {}: expected A~C~B~DRB1~DQB1[~DPB1]",
                loci.join("~")
            ),
        ));
    }
    Ok((loci, alleles))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_shipped_set_has_four_populations_with_their_counts() {
        let set = FrequencySet::nmdp_2007();
        let counts: Vec<(&str, usize)> = set
            .populations
            .iter()
            .map(|p| (p.code.as_str(), p.haplotypes.len()))
            .collect();
        for (code, n) in [("EUR", 3380), ("AFA", 2012), ("API", 1629), ("HIS", 1821)] {
            assert!(counts.contains(&(code, n)), "{counts:?}");
        }
        let eur = set.population("EUR").unwrap();
        assert!((eur.total() - 0.99669).abs() < 1e-4, "{}", eur.total());
        assert_eq!(&*eur.haplotypes[0].alleles[0], "A*01:01g");
    }

    #[test]
    fn sampling_follows_the_frequencies() {
        let text = "X,HLA-A*01:01~HLA-C*07:01~HLA-B*08:01~HLA-DRB1*03:01~HLA-DQB1*02:01,0.75\n\
                    X,HLA-A*02:01~HLA-C*05:01~HLA-B*44:02~HLA-DRB1*04:01~HLA-DQB1*03:01,0.25\n";
        let set = FrequencySet::parse_nmdp_csv(text, "t.csv").unwrap();
        let pop = set.population("X").unwrap();
        let s = pop.sampler().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let first = (0..n)
            .filter(|_| &*s.sample(&mut rng).alleles[0] == "A*01:01")
            .count();
        let share = first as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.02, "{share}");
    }

    #[test]
    fn plain_and_json_layouts_read_the_same_set() {
        let plain = "haplotype;frequency\n\
                     A*01:01g~C*07:01g~B*08:01g~DRB1*03:01~DQB1*02:01;0.6\n\
                     A*02:01g~C*05:01~B*44:02~DRB1*04:01~DQB1*03:01g;0.4\n";
        let a = FrequencySet::parse_any(plain, "p.csv", "EUR").unwrap();
        assert_eq!(a.loci, FIVE_LOCI);
        assert_eq!(a.populations[0].code, "EUR");
        assert_eq!(a.populations[0].frequencies, [0.6, 0.4]);
        let json = r#"{"nomenclatureVersion": "3.58.0", "ethn": ["EUR"], "populationId": 1,
            "typingCategory": "SmallGGroup", "frequencies": [
            {"a": "01:01g", "c": "07:01g", "b": "08:01g", "drb1": "03:01", "dqb1": "02:01", "frequency": 0.6},
            {"a": "02:01g", "c": "05:01", "b": "44:02", "drb1": "04:01", "dqb1": "03:01g", "frequency": 0.4}]}"#;
        let b = FrequencySet::parse_any(json, "p.json", "x").unwrap();
        assert_eq!(b.declared, Some(DeclaredResolution::SmallG));
        assert_eq!(b.populations[0].code, "EUR");
        assert_eq!(b.populations[0].haplotypes, a.populations[0].haplotypes);
        let nmdp = FrequencySet::parse_any(NMDP_2007_CSV, "nmdp.csv", "x").unwrap();
        assert_eq!(nmdp.populations.len(), 4);
        // six loci with DPB1
        let six = FrequencySet::parse_plain(
            "A*01:01~C*07:01~B*08:01~DRB1*03:01~DQB1*02:01~DPB1*04:01,1.0\n",
            "s.csv",
            "X",
        )
        .unwrap();
        assert_eq!(six.loci, SIX_LOCI);
        let e = FrequencySet::parse_plain("A*01:01~B*08:01,0.5\n", "bad.csv", "X")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.csv line 1") && e.contains("expected A~C~B"),
            "{e}"
        );
    }

    #[test]
    fn a_pooled_population_averages_the_frequencies() {
        let set = FrequencySet::nmdp_2007();
        let all = set.pooled("ALL", &[]);
        let eur = set.population("EUR").unwrap();
        let first = &eur.haplotypes[0];
        let i = all.haplotypes.iter().position(|h| h == first).unwrap();
        let expected: f64 = set
            .populations
            .iter()
            .map(|p| {
                p.haplotypes
                    .iter()
                    .position(|h| h == first)
                    .map_or(0.0, |j| p.frequencies[j])
            })
            .sum::<f64>()
            / 4.0;
        assert!((all.frequencies[i] - expected).abs() < 1e-12);
        let weighted = set.pooled("W", &[("EUR".into(), 1.0)]);
        assert_eq!(weighted.haplotypes.len(), eur.haplotypes.len());
    }

    #[test]
    fn malformed_lines_name_file_line_and_reason() {
        let e = FrequencySet::parse_nmdp_csv("X,HLA-A*01:01~HLA-C*07:01,0.1\n", "f.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f.csv line 1") && e.contains("expected 5"),
            "{e}"
        );
        let e = FrequencySet::parse_nmdp_csv(
            "X,HLA-A*01:01~HLA-C*07:01~HLA-B*08:01~HLA-DRB1*03:01~HLA-DQB1*02:01,abc\n",
            "f.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a number"), "{e}");
    }
}
