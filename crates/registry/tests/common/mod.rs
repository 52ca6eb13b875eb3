//! What the registry tests share: the shipped release, MAC table and haplotype set.

use std::sync::OnceLock;

use medulla_haplotypes::FrequencySet;
use medulla_nomenclature::{MacTable, Release};

pub struct Env {
    pub release: Release,
    pub macs: MacTable,
    pub freqs: FrequencySet,
}

pub fn env() -> &'static Env {
    static E: OnceLock<Env> = OnceLock::new();
    E.get_or_init(|| Env {
        release: Release::shipped(),
        macs: MacTable::shipped(),
        freqs: FrequencySet::nmdp_2007(),
    })
}
