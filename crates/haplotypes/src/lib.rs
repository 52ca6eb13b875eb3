//! Population haplotype frequency sets: loading them and drawing haplotypes from them.
//!
//! Today one layout is read: NMDP's CSV (`population,haplotype,frequency[,rank]`, no header,
//! haplotypes written `HLA-A*01:01g~HLA-C*07:01~...`), as in the NMDP 2007 five-locus set
//! shipped in `data/haplotypes/nmdp-2007/`. Names keep the set's own resolution (NMDP "g"
//! groups are not IPD-IMGT/HLA's small g).

use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;

/// The loci of a five-locus set, in the set's order.
pub const FIVE_LOCI: [&str; 5] = ["A", "C", "B", "DRB1", "DQB1"];

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
        })
    }

    pub fn population(&self, code: &str) -> Option<&Population> {
        self.populations.iter().find(|p| p.code == code)
    }
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
