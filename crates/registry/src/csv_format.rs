//! The donor CSV layout (documented in `docs/donor-csv.md`): one row per donor, one column
//! per locus position.

/// Loci with a column per position, in column order.
pub const CSV_LOCI: [&str; 6] = ["A", "B", "C", "DRB1", "DQB1", "DPB1"];

/// The header of the donor CSV.
pub const HEADER: [&str; 27] = [
    "id",
    "grid",
    "registry",
    "donor_type",
    "sex",
    "birth_date",
    "abo",
    "rh",
    "cmv",
    "population",
    "recruitment_date",
    "tnc_1e7",
    "cd34_1e6",
    "volume_ml",
    "typing_date",
    "A_1",
    "A_2",
    "B_1",
    "B_2",
    "C_1",
    "C_2",
    "DRB1_1",
    "DRB1_2",
    "DQB1_1",
    "DQB1_2",
    "DPB1_1",
    "DPB1_2",
];
