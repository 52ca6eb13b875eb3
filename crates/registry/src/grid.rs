//! WMDA Global Registration Identifier for Donors (GRID).
//!
//! 19 characters: the 4-digit ION of the issuing organisation, a 13-character registration
//! donor identifier (digits and capital letters) and a 2-digit checksum: the ISO/IEC 7064
//! MOD 37-2 check value (0-36) of the first 17 characters, written as two digits.

use std::fmt;
use std::str::FromStr;

/// A GRID whose structure and checksum are valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grid(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("a GRID has 19 characters, not {0}")]
    Length(usize),
    #[error("the ION (first 4 characters) must be digits")]
    Ion,
    #[error("the donor identifier (characters 5-17) must be digits or capital letters")]
    DonorId,
    #[error("the checksum (last 2 characters) must be two digits")]
    ChecksumSyntax,
    #[error("checksum {found} does not match {expected:02} (ISO 7064 MOD 37-2 of the first 17 characters)")]
    Checksum { found: String, expected: u32 },
}

fn char_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// ISO/IEC 7064 MOD 37-2 check value of digits and capital letters.
pub fn mod37_2(body: &str) -> Option<u32> {
    let mut p = 0u32;
    for c in body.bytes() {
        p = ((p + char_value(c)?) * 2) % 37;
    }
    Some((38 - p) % 37)
}

impl Grid {
    /// Make a GRID from an ION and a donor identifier (left-padded with zeros to 13).
    pub fn new(ion: u16, donor_id: &str) -> Result<Grid, GridError> {
        if ion > 9999 {
            return Err(GridError::Ion);
        }
        if donor_id.len() > 13 || !donor_id.bytes().all(|b| char_value(b).is_some()) {
            return Err(GridError::DonorId);
        }
        let body = format!("{ion:04}{donor_id:0>13}");
        let check = mod37_2(&body).ok_or(GridError::DonorId)?;
        Ok(Grid(format!("{body}{check:02}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuing organisation number.
    pub fn ion(&self) -> &str {
        &self.0[..4]
    }
}

impl FromStr for Grid {
    type Err = GridError;
    fn from_str(s: &str) -> Result<Grid, GridError> {
        let s = s.trim();
        if s.len() != 19 {
            return Err(GridError::Length(s.chars().count()));
        }
        let b = s.as_bytes();
        if !b[..4].iter().all(u8::is_ascii_digit) {
            return Err(GridError::Ion);
        }
        if !b[4..17].iter().all(|&c| char_value(c).is_some()) {
            return Err(GridError::DonorId);
        }
        if !b[17..].iter().all(u8::is_ascii_digit) {
            return Err(GridError::ChecksumSyntax);
        }
        let expected = mod37_2(&s[..17]).ok_or(GridError::DonorId)?;
        if s[17..].parse::<u32>().ok() != Some(expected) {
            return Err(GridError::Checksum {
                found: s[17..].to_string(),
                expected,
            });
        }
        Ok(Grid(s.to_string()))
    }
}

impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_satisfies_the_pure_system_equation() {
        // ISO/IEC 7064 pure systems: sum(a_i * r^(n-i+1)) + c == 1 (mod M), r = 2, M = 37
        for body in [
            "G123489654321",
            "1234SYN0000000042",
            "0000000000000000A",
            "ZZZZZZZZZZZZZZZZZ",
        ] {
            let c = mod37_2(body).unwrap();
            let n = body.len() as u32;
            let sum: u64 = body
                .bytes()
                .enumerate()
                .map(|(i, b)| u64::from(char_value(b).unwrap()) * 2u64.pow(n - i as u32) % 37)
                .sum();
            assert_eq!((sum + u64::from(c)) % 37, 1, "{body}");
        }
    }

    #[test]
    fn made_grids_parse_and_every_single_change_is_caught() {
        let g = Grid::new(1234, "SYN0000000042").unwrap();
        assert_eq!(g.as_str().len(), 19);
        assert_eq!(g.as_str().parse::<Grid>().unwrap(), g);
        let s = g.as_str().to_string();
        for i in 4..17 {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'7' { b'8' } else { b'7' };
            let changed = String::from_utf8(b).unwrap();
            assert!(changed.parse::<Grid>().is_err(), "{changed}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!("123".parse::<Grid>(), Err(GridError::Length(3)));
        assert_eq!(
            "12X40000000000000000"[..19].parse::<Grid>(),
            Err(GridError::Ion)
        );
        assert_eq!(
            "1234abc000000000000".parse::<Grid>(),
            Err(GridError::DonorId)
        );
        assert!(matches!(
            "1234000000000000199".parse::<Grid>(),
            Err(GridError::Checksum { .. })
        ));
    }
}
