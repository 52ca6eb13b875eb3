//! Donor attributes as registries record them.

use std::fmt;
use std::str::FromStr;

/// Adult volunteer or cord blood unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DonorType {
    Adult,
    Cord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Female,
    Male,
}

/// ABO blood group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Abo {
    O,
    A,
    B,
    AB,
}

/// Rhesus D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rh {
    Positive,
    Negative,
}

/// Cytomegalovirus serostatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmv {
    Negative,
    Positive,
}

macro_rules! text_enum {
    ($t:ty, $what:literal, $($v:path => $s:literal),+) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($v => $s),+ })
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($s => Ok($v),)+
                    other => Err(format!(
                        concat!("{:?} is not a ", $what, " (one of: {})"),
                        other,
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(DonorType, "donor type", DonorType::Adult => "adult", DonorType::Cord => "cord");
text_enum!(Sex, "sex", Sex::Female => "F", Sex::Male => "M");
text_enum!(Abo, "ABO group", Abo::O => "O", Abo::A => "A", Abo::B => "B", Abo::AB => "AB");
text_enum!(Rh, "Rh", Rh::Positive => "pos", Rh::Negative => "neg");
text_enum!(Cmv, "CMV status", Cmv::Negative => "neg", Cmv::Positive => "pos");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_errors_list_the_choices() {
        for t in ["adult", "cord"] {
            assert_eq!(t.parse::<DonorType>().unwrap().to_string(), t);
        }
        for t in ["O", "A", "B", "AB"] {
            assert_eq!(t.parse::<Abo>().unwrap().to_string(), t);
        }
        let e = "X".parse::<Abo>().unwrap_err();
        assert!(e.contains("O, A, B, AB"), "{e}");
    }
}
