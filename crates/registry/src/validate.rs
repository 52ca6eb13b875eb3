//! Reading a donor CSV row into a [`Donor`], with every problem named by field and reason.

use chrono::NaiveDate;
use medulla_nomenclature::{Gl, Reducer};

use crate::donor::{CordUnit, Donor, Typing, DONOR_LOCI};
use crate::grid::Grid;
use crate::model::{Abo, Cmv, DonorType, Rh, Sex};
use crate::status::{PermanentReason, Status};

/// The longest donor id (the WMDA limit).
pub const MAX_ID_CHARS: usize = 25;

/// The youngest an adult donor may be on the day of the import, in years.
pub const MIN_DONOR_AGE: u32 = 16;

/// One problem with one field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A record's fields by column name.
pub trait Fields {
    /// The trimmed value of a column; `None` when the column is absent or empty.
    fn get(&self, column: &str) -> Option<&str>;
}

/// A valid record: the donor and the status it carries (`None`: the record says nothing
/// of the status, so an import keeps the stored one; a new donor is available).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRecord {
    pub donor: Donor,
    pub status: Option<Status>,
    /// Name and contact details from the optional identity columns (kept apart).
    pub identity: Option<crate::identity::Identity>,
}

/// Split a GL String typing (`A*01:01+A*02:01^B*08:01+B44^...`) into per-position cells
/// (`A_1`, `A_2`, ...), each locus read as every command reads it
/// ([`medulla_nomenclature::split_loci`]).
fn split_gl(gl: &str) -> Result<Vec<(String, String)>, String> {
    if gl.contains('|') {
        return Err("genotype lists (|) cannot be stored per position".into());
    }
    if gl.contains('~') {
        return Err("phased haplotypes (~) cannot be stored per position".into());
    }
    let mut cells = Vec::new();
    for block in medulla_nomenclature::split_loci(gl).map_err(|e| e.to_string())? {
        let Some(locus) = DONOR_LOCI.iter().find(|d| **d == block.locus) else {
            return Err(format!("{:?}: no locus of a donor record", block.text));
        };
        for (i, c) in block.copies.iter().enumerate() {
            cells.push((format!("{locus}_{}", i + 1), c.clone()));
        }
    }
    Ok(cells)
}

/// Validates records against a release (through a reducer) as of a date.
pub struct RecordValidator<'a> {
    reducer: &'a Reducer<'a>,
    today: NaiveDate,
    exchange: bool,
}

impl<'a> RecordValidator<'a> {
    pub fn new(reducer: &'a Reducer<'a>, today: NaiveDate) -> Self {
        RecordValidator {
            reducer,
            today,
            exchange: false,
        }
    }

    /// Records of an exchange format that does not carry birth dates and cord cell counts:
    /// those fields become optional.
    pub fn exchange_format(mut self) -> Self {
        self.exchange = true;
        self
    }

    pub fn validate(&self, f: &impl Fields) -> Result<ValidRecord, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut err = |field: &str, reason: String| {
            errors.push(FieldError {
                field: field.to_string(),
                reason,
            })
        };
        macro_rules! parse_opt {
            ($col:literal, $t:ty) => {
                match f.get($col).map(|v| v.parse::<$t>()) {
                    None => None,
                    Some(Ok(v)) => Some(v),
                    Some(Err(e)) => {
                        err($col, e.to_string());
                        None
                    }
                }
            };
        }
        let date = |col: &str, err: &mut dyn FnMut(&str, String)| -> Option<NaiveDate> {
            let v = f.get(col)?;
            match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                Ok(d) if d > self.today => {
                    err(col, format!("{d} is in the future"));
                    None
                }
                Ok(d) => Some(d),
                Err(_) => {
                    err(col, format!("{v:?} is not a date (YYYY-MM-DD)"));
                    None
                }
            }
        };

        let id = match f.get("id") {
            Some(id) if id.chars().count() > MAX_ID_CHARS => {
                err(
                    "id",
                    format!("at most {MAX_ID_CHARS} characters (the WMDA limit)"),
                );
                None
            }
            Some(id) if id.contains(' ') => {
                err("id", "a donor id has no spaces".into());
                None
            }
            // the one identifier rule (control and invisible characters, / and \)
            Some(id) => match medulla_workflow::ids::check_identifier("id", id, MAX_ID_CHARS) {
                Ok(()) => Some(id.to_string()),
                Err(e) => {
                    err("id", e.reason);
                    None
                }
            },
            None => {
                err("id", "required".into());
                None
            }
        };
        let grid = parse_opt!("grid", Grid);
        let registry = f.get("registry").map(str::to_string);
        if registry.is_none() {
            err("registry", "required".into());
        }
        let donor_type = parse_opt!("donor_type", DonorType);
        if f.get("donor_type").is_none() {
            err("donor_type", "required (adult or cord)".into());
        }
        let sex = parse_opt!("sex", Sex);
        let abo = parse_opt!("abo", Abo);
        let rh = parse_opt!("rh", Rh);
        let cmv = parse_opt!("cmv", Cmv);
        let birth_date = date("birth_date", &mut err);
        if f.get("birth_date").is_none() && !self.exchange {
            err("birth_date", "required".into());
        }
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date");
        let birth_date = match birth_date {
            Some(b) if b < earliest => {
                err("birth_date", format!("{b} is before {earliest}"));
                None
            }
            // a cord unit's birth date is its collection date: no age
            Some(b)
                if donor_type == Some(DonorType::Adult)
                    && b.checked_add_months(chrono::Months::new(12 * MIN_DONOR_AGE))
                        .is_none_or(|d| d > self.today) =>
            {
                err(
                    "birth_date",
                    format!(
                        "{b}: an adult donor is at least {MIN_DONOR_AGE} years old on {}",
                        self.today
                    ),
                );
                None
            }
            b => b,
        };
        let recruitment_date = date("recruitment_date", &mut err);
        let typing_date = date("typing_date", &mut err);
        if let (Some(b), Some(r)) = (birth_date, recruitment_date) {
            if r < b {
                err(
                    "recruitment_date",
                    format!("{r} is before the birth date {b}"),
                );
            } else if donor_type == Some(DonorType::Adult)
                && r < b
                    .checked_add_months(chrono::Months::new(12 * 18))
                    .unwrap_or(b)
            {
                err(
                    "recruitment_date",
                    "an adult donor is recruited at 18 or older".into(),
                );
            }
        }
        let tnc = parse_opt!("tnc_1e7", f64);
        let cd34 = parse_opt!("cd34_1e6", f64);
        let volume = parse_opt!("volume_ml", f64);
        for (col, v) in [("tnc_1e7", tnc), ("cd34_1e6", cd34), ("volume_ml", volume)] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    err(col, format!("{v} is not a positive number"));
                }
                if donor_type == Some(DonorType::Adult) {
                    err(col, "only cord blood units have cell counts".into());
                }
            }
        }
        if donor_type == Some(DonorType::Cord)
            && !self.exchange
            && tnc.is_none()
            && f.get("tnc_1e7").is_none()
        {
            err("tnc_1e7", "required for a cord blood unit".into());
        }

        // HLA given as one GL String (`gl` column): split into loci and positions
        let from_gl = match f.get("gl") {
            Some(gl) => match split_gl(gl) {
                Ok(cells) => {
                    if DONOR_LOCI.iter().any(|l| {
                        f.get(&format!("{l}_1")).is_some() || f.get(&format!("{l}_2")).is_some()
                    }) {
                        err(
                            "gl",
                            "give the typing either as gl or per position, not both".into(),
                        );
                    }
                    cells
                }
                Err(reason) => {
                    err("gl", reason);
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let cell = |col: &str| -> Option<String> {
            f.get(col).map(str::to_string).or_else(|| {
                from_gl
                    .iter()
                    .find(|(c, _)| c == col)
                    .map(|(_, v)| v.clone())
            })
        };

        // HLA: every position in a form the release reads, at the column's locus
        let mut typing = Typing {
            date: typing_date,
            ..Typing::default()
        };
        for (li, locus) in DONOR_LOCI.iter().enumerate() {
            for pos in 0..2 {
                let col = format!("{locus}_{}", pos + 1);
                let Some(t) = cell(&col) else { continue };
                let t = t.as_str();
                match self.reducer.validate(t) {
                    Err(e) => err(&col, e.to_string()),
                    Ok(gl) => {
                        let wrong = gl.tokens().into_iter().find_map(|(tok, _)| {
                            let l = medulla_nomenclature::token_locus(tok);
                            (l != Some(*locus)).then(|| tok.to_string())
                        });
                        match wrong {
                            Some(tok) => {
                                err(&col, format!("{tok} is not a typing of locus {locus}"))
                            }
                            None if matches!(gl, Gl::Node { .. })
                                && t.contains(['^', '|', '+', '~']) =>
                            {
                                err(&col, "one position holds one allele or allele list".into())
                            }
                            // stored without `HLA-` prefixes: one spelling per typing
                            None => {
                                typing.positions[li][pos] =
                                    Some(medulla_nomenclature::strip_prefixes(t).into_owned())
                            }
                        }
                    }
                }
            }
        }
        for (li, locus) in ["A", "B", "DRB1"].iter().enumerate() {
            let slot = [0, 1, 3][li];
            if typing.positions[slot][0].is_none() && cell(&format!("{locus}_1")).is_none() {
                err(
                    &format!("{locus}_1"),
                    "required: a donor is typed at least at A, B and DRB1".into(),
                );
            }
        }

        let status = self.status(f, &mut err);

        if !errors.is_empty() {
            return Err(errors);
        }
        let donor_type = donor_type.expect("checked");
        let identity = crate::identity::Identity::from_fields(|c| f.get(c).map(str::to_string));
        Ok(ValidRecord {
            identity,
            donor: Donor {
                id: id.expect("checked"),
                grid,
                registry: registry.expect("checked"),
                donor_type,
                sex,
                birth_date,
                abo,
                rh,
                cmv,
                population: f.get("population").map(str::to_string),
                recruitment_date,
                cord: (donor_type == DonorType::Cord).then_some(CordUnit {
                    tnc_1e7: tnc,
                    cd34_1e6: cd34,
                    volume_ml: volume,
                }),
                typing,
            },
            status,
        })
    }

    /// The optional status columns: `status`, `status_reason`, `status_until`, `status_patient`.
    fn status(&self, f: &impl Fields, err: &mut impl FnMut(&str, String)) -> Option<Status> {
        let code = f.get("status")?;
        let until = || {
            f.get("status_until")
                .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        };
        let s = match code {
            "available" => Status::Available,
            "temporarily-unavailable" => Status::TemporarilyUnavailable {
                reason: f.get("status_reason").unwrap_or_default().to_string(),
                until: until().or_else(|| {
                    err("status_until", "required: a date (YYYY-MM-DD)".into());
                    None
                })?,
            },
            "reserved" => Status::Reserved {
                patient: f.get("status_patient").unwrap_or_default().to_string(),
                until: until().or_else(|| {
                    err("status_until", "required: a date (YYYY-MM-DD)".into());
                    None
                })?,
            },
            "permanently-unavailable" => {
                match f
                    .get("status_reason")
                    .unwrap_or("other")
                    .parse::<PermanentReason>()
                {
                    Ok(reason) => Status::PermanentlyUnavailable { reason },
                    Err(e) => {
                        err("status_reason", e);
                        return None;
                    }
                }
            }
            other => {
                err(
                    "status",
                    format!("{other:?} is not a status (available, temporarily-unavailable, reserved, permanently-unavailable)"),
                );
                return None;
            }
        };
        if let Err(e) = Status::Available.check_transition(&s, chrono::NaiveDate::MIN) {
            err("status", e.to_string());
        }
        Some(s)
    }
}
