//! The donor CSV layout (documented in `docs/donor-csv.md`): one row per donor, one column
//! per locus position, then the status columns.

/// Columns every donor CSV has.
pub const REQUIRED_COLUMNS: [&str; 4] = ["id", "registry", "donor_type", "birth_date"];

/// Whether a column name is part of the donor CSV layout (the export header, or `gl`).
pub fn is_known_column(column: &str) -> bool {
    column == "gl"
        || EXPORT_HEADER.contains(&column)
        || crate::identity::IDENTITY_COLUMNS.contains(&column)
}

/// The donor CSV header, as `medulla donors export` and `medulla synth` write it.
pub const EXPORT_HEADER: [&str; 41] = [
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
    "DRB3_1",
    "DRB3_2",
    "DRB4_1",
    "DRB4_2",
    "DRB5_1",
    "DRB5_2",
    "DQA1_1",
    "DQA1_2",
    "DPA1_1",
    "DPA1_2",
    "status",
    "status_reason",
    "status_until",
    "status_patient",
];

/// The characters a spreadsheet takes as the start of a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell of a CSV export made safe to open in a spreadsheet: text starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (which a spreadsheet would evaluate as a
/// formula) gets a leading `'`; numbers and a lone `-` stay as they are. Reading a donor
/// CSV takes the `'` off again ([`unquote_cell`]), so an export imports back unchanged.
pub fn spreadsheet_cell(cell: String) -> String {
    let risky = cell.starts_with(FORMULA_STARTS);
    if !risky || cell == "-" || cell.parse::<f64>().is_ok() {
        return cell;
    }
    format!("'{cell}")
}

/// A cell as [`spreadsheet_cell`] wrote it, read back: the leading `'` it added before a
/// formula character is taken off (and only that: any other `'` stays).
pub fn unquote_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}
