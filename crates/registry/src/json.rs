//! The donor-update JSON of open-source matching engines (ATLAS's donor import file), so
//! registries can move their files over unchanged:
//!
//! ```json
//! {"updateMode": "diff", "donors": [{"recordId": "1001", "changeType": "N",
//!   "donorType": "D", "donPool": "1234", "ethn": "CAEU",
//!   "hla": {"a": {"dna": {"field1": "*01:01", "field2": "*02:AB"}}, "b": {...}}}]}
//! ```
//!
//! Update modes: `full` (the file is the whole of its registries: records are created or
//! updated, donors of those registries absent from the file are deleted), `diff` (each
//! record's change type: `N` new, `U` update, `D` delete, `NU` new or update) and `check`
//! (nothing is written: the report says what `diff` would do). Typings: `dna` fields are
//! allele names, with or without the locus (`*01:01`, `01:01`, `A*01:01`); `ser` fields are
//! antigen numbers (`1` at locus a is `A1`). Medulla's own fields (birth date, sex, ABO...)
//! are optional extensions, written by `export_json` so that an export re-imports exactly.

use std::collections::BTreeMap as HashMap; // sorted keys: exports are byte-identical run to run
use std::io::{Read, Write};

use medulla_nomenclature::Reducer;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::donor::DONOR_LOCI;
use crate::io::{commit_logged, to_stored, ImportError, ImportOptions, ImportReport, Rejection};
use crate::model::DonorType;
use crate::status::Status;
use crate::store::{Applied, DonorStore, Outcome, StoreError};
use crate::validate::{FieldError, Fields, RecordValidator};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    Full,
    Diff,
    Check,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct File {
    update_mode: String,
    donors: Vec<JsonDonor>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonDonor {
    record_id: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    change_type: Option<String>,
    #[serde(default)]
    donor_type: Option<String>,
    #[serde(default)]
    don_pool: Value,
    #[serde(default)]
    ethn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hla: Option<HashMap<String, JsonLocus>>,
    /// Medulla extensions: every donor CSV column without an equivalent above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    medulla: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
struct JsonLocus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dna: Option<Pair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ser: Option<Pair>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
struct Pair {
    #[serde(default)]
    field1: Option<String>,
    #[serde(default)]
    field2: Option<String>,
}

/// Serology prefix of a JSON locus key.
fn serology_prefix(locus: &str) -> Option<&'static str> {
    Some(match locus {
        "A" => "A",
        "B" => "B",
        "C" => "Cw",
        "DRB1" => "DR",
        "DQB1" => "DQ",
        _ => return None,
    })
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON donor as donor-CSV fields, so that one validator checks both formats.
fn fields_of(d: &JsonDonor, problems: &mut Vec<FieldError>) -> HashMap<String, String> {
    let mut f = HashMap::new();
    if let Some(id) = text_of(&d.record_id) {
        f.insert("id".into(), id);
    }
    if let Some(pool) = text_of(&d.don_pool) {
        f.insert("registry".into(), pool);
    }
    match d.donor_type.as_deref().map(str::trim) {
        Some("D") | Some("A") => {
            f.insert("donor_type".into(), "adult".into());
        }
        Some("C") | Some("B") => {
            f.insert("donor_type".into(), "cord".into());
        }
        Some(other) => problems.push(FieldError {
            field: "donorType".into(),
            reason: format!("{other:?} is not D (donor), C (cord) or B (banked cord)"),
        }),
        None => {}
    }
    if let Some(e) = d.ethn.as_deref().filter(|e| !e.trim().is_empty()) {
        f.insert("population".into(), e.trim().into());
    }
    for (key, locus) in d.hla.iter().flatten() {
        let Some(l) = DONOR_LOCI.iter().find(|l| l.eq_ignore_ascii_case(key)) else {
            problems.push(FieldError {
                field: format!("hla.{key}"),
                reason: "not a locus of a donor record".into(),
            });
            continue;
        };
        for (i, pos) in [1, 2].into_iter().enumerate() {
            let dna = locus.dna.as_ref().and_then(|p| {
                if i == 0 {
                    p.field1.as_deref()
                } else {
                    p.field2.as_deref()
                }
            });
            let ser = locus.ser.as_ref().and_then(|p| {
                if i == 0 {
                    p.field1.as_deref()
                } else {
                    p.field2.as_deref()
                }
            });
            let typing = match (
                dna.map(str::trim).filter(|s| !s.is_empty()),
                ser.map(str::trim).filter(|s| !s.is_empty()),
            ) {
                (Some(d), _) => Some(dna_name(l, d)),
                (None, Some(s)) => match serology_prefix(l) {
                    Some(p) if s.chars().all(|c| c.is_ascii_digit()) => Some(format!("{p}{s}")),
                    Some(_) => Some(s.to_string()),
                    None => {
                        problems.push(FieldError {
                            field: format!("hla.{key}.ser.field{pos}"),
                            reason: format!("locus {l} has no serology"),
                        });
                        None
                    }
                },
                (None, None) => None,
            };
            if let Some(t) = typing {
                f.insert(format!("{l}_{pos}"), t);
            }
        }
    }
    for (k, v) in d.medulla.iter().flatten() {
        f.insert(k.clone(), v.clone());
    }
    f
}

/// `*01:01`, `01:01` or `A*01:01` at locus A -> `A*01:01` (each name of an allele list).
fn dna_name(locus: &str, v: &str) -> String {
    v.split('/')
        .map(|p| {
            let p = p.trim();
            if p.contains('*') && !p.starts_with('*') {
                p.to_string()
            } else {
                format!("{locus}*{}", p.trim_start_matches('*'))
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

struct Map<'a>(&'a HashMap<String, String>);

impl Fields for Map<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        self.0
            .get(column)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

fn parse_mode(s: &str) -> Option<UpdateMode> {
    Some(match s.to_ascii_lowercase().as_str() {
        "full" => UpdateMode::Full,
        "diff" | "differential" => UpdateMode::Diff,
        "check" => UpdateMode::Check,
        _ => return None,
    })
}

/// Import a donor-update JSON file. `strict` applies nothing when any record is rejected;
/// `check` mode never applies anything.
pub fn import_json<R: Read>(
    input: R,
    store: &mut dyn DonorStore,
    reducer: &Reducer<'_>,
    options: &ImportOptions<'_>,
) -> Result<(UpdateMode, ImportReport), ImportError> {
    import_json_observed(input, store, reducer, options, &mut |_| {})
}

/// [`import_json`], telling `observer` of every donor written or deleted (before the
/// commit: an observer keeps them until the report says `applied`).
pub fn import_json_observed<R: Read>(
    input: R,
    store: &mut dyn DonorStore,
    reducer: &Reducer<'_>,
    options: &ImportOptions<'_>,
    observer: &mut dyn FnMut(crate::io::Change<'_>),
) -> Result<(UpdateMode, ImportReport), ImportError> {
    let file = options.file_name;
    let parsed: File = serde_json::from_reader(input).map_err(|e| ImportError::Header {
        file: file.into(),
        reason: format!("not a donor-update JSON file: {e}"),
    })?;
    let mode = parse_mode(&parsed.update_mode).ok_or_else(|| ImportError::Header {
        file: file.into(),
        reason: format!(
            "updateMode {:?} is not full, diff or check",
            parsed.update_mode
        ),
    })?;
    let validator = RecordValidator::new(reducer, options.at.date()).exchange_format();
    let mut report = ImportReport::default();
    // validate on all cores; donors are numbered from 1 in the report
    let checked: Vec<_> = parsed
        .donors
        .par_iter()
        .map(|d| {
            let mut problems = Vec::new();
            let fields = fields_of(d, &mut problems);
            let change = d
                .change_type
                .as_deref()
                .map(str::trim)
                .unwrap_or("NU")
                .to_ascii_uppercase();
            if !["N", "U", "D", "NU"].contains(&change.as_str()) {
                problems.push(FieldError {
                    field: "changeType".into(),
                    reason: format!("{change:?} is not N, U, D or NU"),
                });
            }
            let id = fields.get("id").cloned().unwrap_or_default();
            if change == "D" {
                if id.is_empty() {
                    problems.push(FieldError {
                        field: "recordId".into(),
                        reason: "required".into(),
                    });
                }
                return (
                    id,
                    change,
                    if problems.is_empty() {
                        Ok(None)
                    } else {
                        Err(problems)
                    },
                );
            }
            let result = match validator.validate(&Map(&fields)) {
                Ok(v) if problems.is_empty() => Ok(Some(to_stored(reducer, v))),
                Ok(_) => Err(problems),
                Err(mut e) => {
                    problems.append(&mut e);
                    Err(problems)
                }
            };
            (id, change, result)
        })
        .collect();

    let mut session = store.session()?;
    let ids: Vec<&str> = checked.iter().map(|(id, ..)| id.as_str()).collect();
    let grids: Vec<&str> = checked
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok()?.as_ref()?.donor.grid.as_ref())
        .map(|g| g.as_str())
        .collect();
    session.prefetch(&ids, &grids)?;
    let mut seen = std::collections::HashSet::new();
    let mut registries = std::collections::BTreeSet::new();
    for (n, (id, change, result)) in checked.into_iter().enumerate() {
        report.records += 1;
        let line = n as u64 + 1;
        let reject = |reason: String, field: &str, report: &mut ImportReport| {
            report.rejected += 1;
            report.rejections.push(Rejection {
                line,
                id: id.clone(),
                error: FieldError {
                    field: field.into(),
                    reason,
                },
            });
        };
        // a rejected record still names its donor: a full file does not delete it
        let first = id.is_empty() || seen.insert(id.clone());
        let record = match result {
            Err(errors) => {
                report.rejected += 1;
                for error in errors {
                    report.rejections.push(Rejection {
                        line,
                        id: id.clone(),
                        error,
                    });
                }
                continue;
            }
            Ok(r) => r,
        };
        if !first {
            reject("appears twice in this file".into(), "recordId", &mut report);
            continue;
        }
        let exists = session.exists(&id)?;
        match (change.as_str(), record) {
            ("D", _) if mode == UpdateMode::Full => reject(
                "a full file lists donors; delete with a diff file".into(),
                "changeType",
                &mut report,
            ),
            ("D", _) if !exists => reject("not in the registry".into(), "recordId", &mut report),
            ("D", _) => {
                // in check mode too (rolled back), so that it refuses what diff would
                match session.delete(&id, "recordId")? {
                    Ok(_) => {
                        if mode == UpdateMode::Diff {
                            observer(crate::io::Change::Deleted(&id));
                        }
                        report.deleted += 1;
                    }
                    Err(refusal) => reject(refusal.reason, &refusal.field, &mut report),
                }
            }
            ("N", _) if exists && mode != UpdateMode::Full => reject(
                "already in the registry (use U or NU)".into(),
                "changeType",
                &mut report,
            ),
            ("U", _) if !exists && mode != UpdateMode::Full => reject(
                "not in the registry (use N or NU)".into(),
                "changeType",
                &mut report,
            ),
            (_, Some(r)) => {
                registries.insert(r.donor.registry.clone());
                let outcome = if mode == UpdateMode::Check {
                    session.compare(&r, options.at.date())?
                } else {
                    session.apply(&r, options.by, options.at)?
                };
                match outcome {
                    Outcome::Applied(applied, status) => {
                        if mode != UpdateMode::Check && applied != Applied::Unchanged {
                            observer(crate::io::Change::Written(&r, &status));
                        }
                        match applied {
                            Applied::New => report.new += 1,
                            Applied::Updated => report.updated += 1,
                            Applied::Unchanged => report.unchanged += 1,
                        }
                    }
                    Outcome::Refused(e) => reject(e.reason, &e.field, &mut report),
                }
            }
            (_, None) => unreachable!("only D records have no donor"),
        }
    }
    if mode == UpdateMode::Full {
        for reg in &registries {
            for id in session.ids_of_registry(reg)? {
                if seen.contains(&id) {
                    continue;
                }
                // check mode writes nothing: a deletion it would refuse is refused all
                // the same, and the transaction is rolled back
                match session.delete(&id, "recordId")? {
                    Ok(_) => {
                        if mode != UpdateMode::Check {
                            observer(crate::io::Change::Deleted(&id));
                        }
                        report.deleted += 1;
                    }
                    Err(refusal) => {
                        report.rejected += 1;
                        report.rejections.push(Rejection {
                            line: 0,
                            id: id.clone(),
                            error: FieldError {
                                field: refusal.field,
                                reason: format!("absent from the full file: {}", refusal.reason),
                            },
                        });
                    }
                }
            }
        }
    }
    if mode == UpdateMode::Check {
        drop(session);
        report.applied = false;
    } else if options.strict && report.rejected > 0 {
        drop(session);
        report.applied = false;
        (report.new, report.updated, report.unchanged, report.deleted) = (0, 0, 0, 0);
        commit_logged(store.session()?, options, &report)?;
    } else {
        report.applied = true;
        commit_logged(session, options, &report)?;
    }
    Ok((mode, report))
}

/// Export every donor as a `full` donor-update JSON file (with Medulla's extensions).
pub fn export_json<W: Write>(out: W, store: &dyn DonorStore) -> Result<u64, ImportError> {
    let mut donors = Vec::new();
    store.for_each_donor(&mut |d, s| {
        let mut hla: HashMap<String, JsonLocus> = HashMap::new();
        for (locus, pos) in DONOR_LOCI.iter().zip(&d.typing.positions) {
            if pos.iter().all(Option::is_none) {
                continue;
            }
            hla.insert(
                locus.to_ascii_lowercase(),
                JsonLocus {
                    dna: Some(Pair {
                        field1: pos[0].clone(),
                        field2: pos[1].clone(),
                    }),
                    ser: None,
                },
            );
        }
        let mut ext: HashMap<String, String> = HashMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                ext.insert(k.into(), v);
            }
        };
        put("grid", d.grid.as_ref().map(|g| g.to_string()));
        put("sex", d.sex.map(|x| x.to_string()));
        put("birth_date", d.birth_date.map(|x| x.to_string()));
        put("abo", d.abo.map(|x| x.to_string()));
        put("rh", d.rh.map(|x| x.to_string()));
        put("cmv", d.cmv.map(|x| x.to_string()));
        put(
            "recruitment_date",
            d.recruitment_date.map(|x| x.to_string()),
        );
        put("typing_date", d.typing.date.map(|x| x.to_string()));
        if let Some(c) = d.cord {
            put("tnc_1e7", c.tnc_1e7.map(|x| x.to_string()));
            put("cd34_1e6", c.cd34_1e6.map(|x| x.to_string()));
            put("volume_ml", c.volume_ml.map(|x| x.to_string()));
        }
        put("status", Some(s.code().to_string()));
        match &s {
            Status::TemporarilyUnavailable { reason, until } => {
                put("status_reason", Some(reason.clone()));
                put("status_until", Some(until.to_string()));
            }
            Status::Reserved { patient, until } => {
                put("status_patient", Some(patient.clone()));
                put("status_until", Some(until.to_string()));
            }
            Status::PermanentlyUnavailable { reason } => {
                put("status_reason", Some(reason.to_string()));
            }
            Status::Available => {}
        }
        donors.push(JsonDonor {
            record_id: Value::String(d.id),
            change_type: Some("NU".into()),
            donor_type: Some(match d.donor_type {
                DonorType::Adult => "D".into(),
                DonorType::Cord => "C".into(),
            }),
            don_pool: Value::String(d.registry),
            ethn: d.population,
            hla: Some(hla),
            medulla: Some(ext),
        });
        Ok::<(), StoreError>(())
    })?;
    let n = donors.len() as u64;
    serde_json::to_writer_pretty(
        out,
        &File {
            update_mode: "full".into(),
            donors,
        },
    )
    .map_err(|e| ImportError::Io(std::io::Error::other(e)))?;
    Ok(n)
}
