//! Unphased genotypes packed into one integer: per locus the unordered pair of ARD ids
//! (its index among the `n (n + 1) / 2` pairs `lo <= hi`) in its own bit field.
//!
//! A null allele (id 0) counts as the other allele of its locus, as search grades it: a
//! patient `A*01:01, A*24:09N` is typed as homozygous `A*01:01`.

use crate::compile::LOCI;
use crate::LikelihoodError;

/// Where each locus's pair lives in a key.
#[derive(Debug, Clone)]
pub struct KeyLayout {
    pub loci: usize,
    n: [u64; 5],
    shift: [u32; 5],
    /// Bits the keys use.
    pub bits: u32,
    /// Per locus, the pair of each field value.
    pairs: [Vec<(u16, u16)>; 5],
}

/// A key type: `u64` when the layout fits, else `u128` (sorting narrower keys is faster).
pub trait Key: Copy + Ord + Send + Sync + 'static {
    fn from_u128(x: u128) -> Self;
}

impl Key for u64 {
    #[inline]
    fn from_u128(x: u128) -> Self {
        x as u64
    }
}

impl Key for u128 {
    #[inline]
    fn from_u128(x: u128) -> Self {
        x
    }
}

/// The pair as graded: a null takes the other allele; lower id first.
#[inline]
pub fn normalise(a: u16, b: u16) -> (u16, u16) {
    let (a, b) = match (a, b) {
        (0, b) => (b, b),
        (a, 0) => (a, a),
        p => p,
    };
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl KeyLayout {
    /// A layout for the first `loci` loci with `counts[l]` ids at locus `l`.
    pub fn new(counts: [usize; 5], loci: usize) -> Result<Self, LikelihoodError> {
        let mut n = [0u64; 5];
        let mut shift = [0u32; 5];
        let mut pairs: [Vec<(u16, u16)>; 5] = Default::default();
        let mut at = 0u32;
        for l in 0..loci {
            n[l] = counts[l] as u64;
            let count = n[l] * (n[l] + 1) / 2;
            let bits = 64 - count.saturating_sub(1).leading_zeros();
            shift[l] = at;
            at += bits.max(1);
            if at > 128 || counts[l] > u16::MAX as usize {
                return Err(LikelihoodError::TooManyAlleles(LOCI[l], counts[l]));
            }
            pairs[l] = (0..counts[l] as u16)
                .flat_map(|lo| (lo..counts[l] as u16).map(move |hi| (lo, hi)))
                .collect();
        }
        Ok(KeyLayout {
            loci,
            n,
            shift,
            bits: at,
            pairs,
        })
    }

    /// The field of locus `l` for the pair `a`, `b`.
    #[inline]
    pub fn field(&self, l: usize, a: u16, b: u16) -> u128 {
        let (lo, hi) = normalise(a, b);
        let (lo, hi, n) = (lo as u64, hi as u64, self.n[l]);
        // pairs before row `lo`: lo n - lo (lo - 1) / 2
        let index = lo * n - lo * lo.saturating_sub(1) / 2 + (hi - lo);
        (index as u128) << self.shift[l]
    }

    /// The genotype of two haplotypes.
    #[inline]
    pub fn key(&self, h1: &[u16; 5], h2: &[u16; 5]) -> u128 {
        (0..self.loci).fold(0, |k, l| k | self.field(l, h1[l], h2[l]))
    }

    /// How many allele ids locus `l` has.
    pub fn alleles(&self, l: usize) -> usize {
        self.n[l] as usize
    }

    /// The bits of locus `l`.
    #[inline]
    pub fn mask(&self, l: usize) -> u128 {
        let next = if l + 1 < self.loci {
            self.shift[l + 1]
        } else {
            128
        };
        let width = next - self.shift[l];
        let ones = if width >= 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        ones << self.shift[l]
    }

    /// The pair at locus `l` of a key.
    #[inline]
    pub fn pair(&self, key: u128, l: usize) -> (u16, u16) {
        let v = ((key & self.mask(l)) >> self.shift[l]) as usize;
        self.pairs[l][v]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unphased_and_round_trip() {
        let k = KeyLayout::new([300, 120, 400, 200, 60], 5).unwrap();
        let h1 = [5, 7, 399, 1, 59];
        let h2 = [299, 7, 2, 199, 0];
        let g = k.key(&h1, &h2);
        // swapping the alleles of one locus between the haplotypes: the same genotype
        let mut s1 = h1;
        let mut s2 = h2;
        std::mem::swap(&mut s1[2], &mut s2[2]);
        assert_eq!(k.key(&s1, &s2), g);
        assert_eq!(k.key(&h2, &h1), g);
        assert_eq!(k.pair(g, 0), (5, 299));
        assert_eq!(k.pair(g, 2), (2, 399));
        // the null at DQB1 takes the other allele
        assert_eq!(k.pair(g, 4), (59, 59));
        assert_eq!(k.key(&h1, &h2) & !k.mask(4), g & !k.mask(4));
    }
}
