//! Family haplotype assignment as a use case: families read from the batch CSV
//! (`family,member,relation,gl`) or from a registered patient's relatives, typings read
//! through the nomenclature, each family assigned (`medulla-family`), weighed by a
//! population's haplotype frequencies where the typings leave it open.

use std::io::Read;

use medulla_family::{
    assign, FamilyAssignment, FrequencyModel, Member, PopulationModel, Relation, Status,
    TypingReader,
};
use medulla_haplotypes::FrequencySet;
use medulla_nomenclature::Reducer;

use crate::error::AppError;

/// One row of a family file (or a registered relative).
#[derive(Debug, Clone)]
pub struct FamilyRow {
    pub family: String,
    pub member: String,
    pub relation: String,
    pub gl: String,
    /// Where it came from, for errors (`line 4`).
    pub origin: String,
}

/// Read the batch CSV: header `family,member,relation,gl`. A row that cannot be read is
/// an error naming its line and field.
pub fn read_csv(input: impl Read) -> Result<Vec<FamilyRow>, AppError> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let invalid = |field: &str, reason: String| AppError::Invalid {
        field: field.into(),
        reason,
    };
    let headers = r
        .headers()
        .map_err(|e| invalid("header", e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                invalid(
                    "header",
                    format!("no column {name:?} (the header is family,member,relation,gl)"),
                )
            })
    };
    let (fi, mi, ri, gi) = (col("family")?, col("member")?, col("relation")?, col("gl")?);
    let mut out = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let line = n + 2;
        let rec = rec.map_err(|e| invalid(&format!("line {line}"), e.to_string()))?;
        let get = |i: usize| rec.get(i).unwrap_or("").to_string();
        let row = FamilyRow {
            family: get(fi),
            member: get(mi),
            relation: get(ri),
            gl: get(gi),
            origin: format!("line {line}"),
        };
        if row.family.is_empty() || row.member.is_empty() {
            return Err(invalid(
                &format!("line {line}"),
                "family and member are required".into(),
            ));
        }
        out.push(row);
    }
    Ok(out)
}

/// Assign every family of `rows` (in the order their first row appears). `freqs` and
/// `population` weigh assignments the typings leave open. A family whose rows cannot be
/// read is answered `inconsistent` with notes naming the row, field and reason; the
/// second value counts them.
pub fn assign_rows(
    reducer: &Reducer<'_>,
    rows: &[FamilyRow],
    freqs: Option<(&FrequencySet, &str)>,
) -> (Vec<FamilyAssignment>, usize) {
    let mut reader = TypingReader::new(reducer);
    let model = freqs.map(|(set, pop)| {
        let population = match set.population(pop) {
            Some(p) => p.clone(),
            None => set.pooled(pop, &[]),
        };
        PopulationModel::new(&population, &set.loci, &mut reader)
    });
    let mut order: Vec<&str> = Vec::new();
    for r in rows {
        if !order.contains(&r.family.as_str()) {
            order.push(&r.family);
        }
    }
    let mut out = Vec::new();
    let mut bad = 0;
    for fam in order {
        let mut members = Vec::new();
        let mut errors = Vec::new();
        for r in rows.iter().filter(|r| r.family == fam) {
            let relation = match Relation::parse(&r.relation) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(format!("{} (member {}): relation: {e}", r.origin, r.member));
                    continue;
                }
            };
            match reader.read(&r.gl) {
                Ok(typing) => members.push(Member {
                    id: r.member.clone(),
                    relation,
                    typing,
                }),
                Err(e) => errors.push(format!("{} (member {}): gl: {e}", r.origin, r.member)),
            }
        }
        let answer = if errors.is_empty() {
            assign(
                fam,
                &members,
                &reader.interner,
                model.as_ref().map(|m| m as &dyn FrequencyModel),
            )
            .map_err(|e| vec![e.to_string()])
        } else {
            Err(errors)
        };
        out.push(answer.unwrap_or_else(|notes| {
            bad += 1;
            FamilyAssignment {
                family: fam.to_string(),
                status: Status::Inconsistent,
                identical_siblings: Vec::new(),
                haploidentical: Vec::new(),
                members: Vec::new(),
                notes,
                identical_by_typing: Vec::new(),
                probability: None,
            }
        }));
    }
    (out, bad)
}
