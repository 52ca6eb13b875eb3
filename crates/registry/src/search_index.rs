//! Registry donors as search-index records.

use chrono::NaiveDate;
use medulla_matching::{DonorFacts, IndexedDonor, SEARCH_LOCI};

use crate::donor::{Donor, DONOR_LOCI};
use crate::model::{DonorType, Sex};
use crate::status::Status;

/// Days since 1970-01-01.
pub fn day_number(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// A donor and its status as the search index sees them on `today`: searchable when the
/// status allows it and an adult has not reached the 61st birthday.
pub fn indexed(d: &Donor, status: &Status, today: NaiveDate) -> IndexedDonor {
    let typing = std::array::from_fn(|i| {
        let li = DONOR_LOCI
            .iter()
            .position(|l| *l == SEARCH_LOCI[i])
            .expect("search loci are donor loci");
        d.typing.positions[li].clone()
    });
    IndexedDonor {
        facts: DonorFacts {
            id: d.id.clone(),
            cord: d.donor_type == DonorType::Cord,
            birth_day: d.birth_date.map(day_number),
            male: d.sex.map(|s| s == Sex::Male),
            cmv_positive: d.cmv.map(|c| c == crate::model::Cmv::Positive),
            abo: d.abo.map(|a| a.to_string()),
            searchable: status.searchable_on(today) && d.within_age_limit(today),
        },
        typing,
    }
}
