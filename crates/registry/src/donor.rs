//! A donor record: identity, demographics, cord unit data and HLA typing.

use chrono::NaiveDate;

use crate::grid::Grid;
use crate::model::{Abo, Cmv, DonorType, Rh, Sex};

/// Loci a donor record types, position 1 and 2 each: the six of matching, then DRB3/4/5,
/// DQA1 and DPA1 when present.
pub const DONOR_LOCI: [&str; 11] = [
    "A", "B", "C", "DRB1", "DQB1", "DPB1", "DRB3", "DRB4", "DRB5", "DQA1", "DPA1",
];

/// Cord blood unit data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CordUnit {
    /// Total nucleated cells, x 10^7 (some exchange formats do not carry it).
    pub tnc_1e7: Option<f64>,
    /// CD34+ cells, x 10^6.
    pub cd34_1e6: Option<f64>,
    pub volume_ml: Option<f64>,
}

/// HLA typing as received (validated on the release): per locus of `DONOR_LOCI`, two
/// positions, each empty when untyped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Typing {
    pub positions: [[Option<String>; 2]; 11],
    pub date: Option<NaiveDate>,
}

impl Typing {
    /// Typed loci (at least one position).
    pub fn typed_loci(&self) -> impl Iterator<Item = &'static str> + '_ {
        DONOR_LOCI
            .iter()
            .zip(&self.positions)
            .filter(|(_, p)| p.iter().any(Option::is_some))
            .map(|(l, _)| *l)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Donor {
    pub id: String,
    pub grid: Option<Grid>,
    pub registry: String,
    pub donor_type: DonorType,
    pub sex: Option<Sex>,
    /// Birth date (collection date for a cord unit); some exchange formats do not carry it.
    pub birth_date: Option<NaiveDate>,
    pub abo: Option<Abo>,
    pub rh: Option<Rh>,
    pub cmv: Option<Cmv>,
    pub population: Option<String>,
    pub recruitment_date: Option<NaiveDate>,
    pub cord: Option<CordUnit>,
    pub typing: Typing,
}

impl Donor {
    /// The donor's 61st birthday: from that day an adult donor leaves the searchable pool.
    pub fn leaves_pool_on(&self) -> Option<NaiveDate> {
        (self.donor_type == DonorType::Adult)
            .then(|| {
                self.birth_date?
                    .checked_add_months(chrono::Months::new(12 * 61))
            })
            .flatten()
    }

    /// Whether age alone keeps the donor searchable on `date`.
    pub fn within_age_limit(&self, date: NaiveDate) -> bool {
        self.leaves_pool_on().is_none_or(|d| date < d)
    }
}
