//! Donor CSV import and export.
//!
//! An import reads a whole file inside one transaction. Every record is validated; invalid
//! ones go to the reject report (line, record id, field, reason) and the valid ones are
//! applied, unless `strict`, where a single rejected record applies nothing. A killed or
//! failed import leaves the database as before it. Re-importing the same file changes
//! nothing: records whose content is unchanged are not written.

use std::io::{Read, Write};

use chrono::{NaiveDate, NaiveDateTime};
use medulla_nomenclature::Reducer;

use crate::csv_format::EXPORT_HEADER;
use crate::csv_reader::{CsvRecords, RawRecord};
use crate::donor::Donor;
use crate::status::Status;
use crate::store::{
    log_import, Applied, DonorStore, ImportSession, Outcome, StoreError, StoredRecord,
};
use crate::validate::{FieldError, RecordValidator, ValidRecord};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {reason}")]
    Header { file: String, reason: String },
    #[error("{file} line {line}: {source}")]
    Csv {
        file: String,
        line: u64,
        #[source]
        source: csv::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
}

/// One rejected record and why (one line per field in error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub id: String,
    pub error: FieldError,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub records: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Donors deleted (donor-update JSON: `D` records, or absent from a `full` file).
    pub deleted: u64,
    /// Records rejected (each may have several field errors in `rejections`).
    pub rejected: u64,
    pub rejections: Vec<Rejection>,
    /// False when nothing was applied (`strict` with rejections).
    pub applied: bool,
}

pub struct ImportOptions<'a> {
    pub file_name: &'a str,
    pub strict: bool,
    /// Who imports (kept in the status history).
    pub by: &'a str,
    pub at: NaiveDateTime,
    /// The CSV delimiter (`None`: a comma, or `;` or a tab when the header line shows
    /// no comma but one of them).
    pub delimiter: Option<u8>,
    /// Read and validate the whole CSV before the writer is taken (records held in
    /// memory), instead of validating each chunk while the one before is written.
    pub validate_first: bool,
    /// Called inside the import's transaction, right after the `imports` log row is
    /// written and just before the commit (an import that applies nothing calls it in a
    /// write transaction of its own; a JSON `check` never calls it): what must be written
    /// atomically with the import (an audit entry).
    #[allow(clippy::type_complexity)]
    pub before_commit: Option<
        &'a (dyn Fn(&crate::db::Transaction<'_>, &ImportReport) -> Result<(), StoreError> + Sync),
    >,
}

/// Write the `imports` log row, call the caller's `before_commit`, and commit: the end of
/// every import that writes.
pub(crate) fn commit_logged(
    mut session: Box<dyn ImportSession + '_>,
    options: &ImportOptions<'_>,
    report: &ImportReport,
) -> Result<(), StoreError> {
    let tx = session.transaction()?;
    log_import(
        tx,
        options.file_name,
        options.at,
        [
            report.records,
            report.new,
            report.updated,
            report.unchanged,
            report.rejected,
            report.deleted,
        ],
    )?;
    if let Some(hook) = options.before_commit {
        hook(tx, report)?;
    }
    session.commit()
}

/// A validated record, ready to store.
pub(crate) fn to_stored(reducer: &Reducer<'_>, v: ValidRecord) -> StoredRecord {
    StoredRecord {
        hla_gl: gl_of(reducer, &v),
        imgt_version: reducer.release().version().to_string(),
        donor: v.donor,
        status: v.status,
        identity: v.identity,
    }
}

/// The typing of a donor as one GL String in canonical form (`A*01:01+A*02:01^B*...`).
pub(crate) fn gl_of(reducer: &Reducer<'_>, v: &ValidRecord) -> String {
    let loci: Vec<String> = v
        .donor
        .typing
        .positions
        .iter()
        .filter_map(|p| match (&p[0], &p[1]) {
            (Some(a), Some(b)) => Some(format!("{a}+{b}")),
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        })
        .collect();
    // every position was validated already; a failure here would be a nomenclature bug
    reducer.normalize(&loci.join("^")).unwrap_or_default()
}

/// A donor an import wrote (with the status it has after the import) or deleted.
pub enum Change<'a> {
    Written(&'a StoredRecord, &'a Status),
    Deleted(&'a str),
}

/// Import a donor CSV into `store`; `progress` is called with the records read so far.
pub fn import_csv<R: Read>(
    input: R,
    store: &mut dyn DonorStore,
    reducer: &Reducer<'_>,
    options: &ImportOptions<'_>,
    progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    import_csv_observed(input, store, reducer, options, progress, &mut |_| {})
}

/// [`import_csv`], telling `observer` of every donor written (before the commit: an
/// observer keeps them until the report says `applied`).
pub fn import_csv_observed<R: Read>(
    input: R,
    store: &mut dyn DonorStore,
    reducer: &Reducer<'_>,
    options: &ImportOptions<'_>,
    mut progress: impl FnMut(u64),
    observer: &mut dyn FnMut(Change<'_>),
) -> Result<ImportReport, ImportError> {
    let mut records = CsvRecords::new(input, options.file_name, options.delimiter)?;
    let header = records.header().clone();
    let today: NaiveDate = options.at.date();
    let validator = RecordValidator::new(reducer, today);
    let mut report = ImportReport::default();
    let mut seen_ids = std::collections::HashSet::new();
    type Checked = Vec<Result<StoredRecord, Vec<FieldError>>>;
    // read a chunk, validate it on all cores while the chunk before is applied (in order,
    // on this thread: the database's round trips overlap the validation); a row that is
    // not well-formed (wrong number of fields, not UTF-8) is one rejected record
    let header = &header;
    let validator = &validator;
    let validate = move |chunk: Vec<RawRecord>| -> (Vec<RawRecord>, Checked) {
        let checked = header
            .validate(&chunk, validator)
            .into_iter()
            .map(|r| r.map(|v| to_stored(reducer, v)))
            .collect();
        (chunk, checked)
    };
    // with `validate_first`, the whole file is read and validated before the writer is
    // taken (a service: the registry's writer is held for the writes alone)
    let mut validated: std::collections::VecDeque<(Vec<RawRecord>, Checked)> = Default::default();
    if options.validate_first {
        loop {
            let chunk = records.next_chunk(8192)?;
            if chunk.is_empty() {
                break;
            }
            validated.push_back(validate(chunk));
        }
    }
    let mut session = store.session()?;
    let mut apply_chunk = |session: &mut Box<dyn ImportSession + '_>,
                           chunk: Vec<RawRecord>,
                           checked: Checked,
                           report: &mut ImportReport|
     -> Result<(), ImportError> {
        let ids: Vec<&str> = checked
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|r| r.donor.id.as_str()))
            .collect();
        let grids: Vec<&str> = checked
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(|r| r.donor.grid.as_ref()))
            .map(|g| g.as_str())
            .collect();
        session.prefetch(&ids, &grids)?;
        for (raw, result) in chunk.iter().zip(checked) {
            report.records += 1;
            let line = raw.0;
            let result = result.and_then(|r| {
                if seen_ids.insert(r.donor.id.clone()) {
                    Ok(r)
                } else {
                    Err(vec![FieldError {
                        field: "id".into(),
                        reason: "appears twice in this file".into(),
                    }])
                }
            });
            let result = match result {
                Ok(r) => match session.apply(&r, options.by, options.at)? {
                    Outcome::Applied(applied, status) => {
                        match applied {
                            Applied::New => report.new += 1,
                            Applied::Updated => report.updated += 1,
                            Applied::Unchanged => report.unchanged += 1,
                        }
                        if applied != Applied::Unchanged {
                            observer(Change::Written(&r, &status));
                        }
                        Ok(())
                    }
                    Outcome::Refused(e) => Err(vec![e]),
                },
                Err(errors) => Err(errors),
            };
            if let Err(errors) = result {
                report.rejected += 1;
                let id = header.id_of(raw);
                for error in errors {
                    report.rejections.push(Rejection {
                        line,
                        id: id.clone(),
                        error,
                    });
                }
            }
        }
        progress(report.records);
        Ok(())
    };
    if options.validate_first {
        while let Some((chunk, checked)) = validated.pop_front() {
            apply_chunk(&mut session, chunk, checked, &mut report)?;
        }
    } else {
        std::thread::scope(|scope| -> Result<(), ImportError> {
            let mut validating: Option<
                std::thread::ScopedJoinHandle<'_, (Vec<RawRecord>, Checked)>,
            > = None;
            loop {
                let chunk = records.next_chunk(8192)?;
                let next = (!chunk.is_empty()).then(|| scope.spawn(move || validate(chunk)));
                let Some(previous) = validating.take() else {
                    match next {
                        Some(n) => {
                            validating = Some(n);
                            continue;
                        }
                        None => break,
                    }
                };
                validating = next;
                let (chunk, checked) = previous
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                apply_chunk(&mut session, chunk, checked, &mut report)?;
                if validating.is_none() {
                    break;
                }
            }
            Ok(())
        })?;
    }
    if options.strict && report.rejected > 0 {
        drop(session); // roll back
        report.new = 0;
        report.updated = 0;
        report.unchanged = 0;
        report.applied = false;
        commit_logged(store.session()?, options, &report)?;
    } else {
        report.applied = true;
        commit_logged(session, options, &report)?;
    }
    Ok(report)
}

/// Write the reject report: `file,line,id,field,reason`.
pub fn write_rejections<W: Write>(
    out: W,
    file: &str,
    report: &ImportReport,
) -> Result<(), ImportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["file", "line", "id", "field", "reason"])
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    for r in &report.rejections {
        // a reject report is opened in a spreadsheet: the rejected values it quotes too
        let cells = [
            file.to_string(),
            r.line.to_string(),
            r.id.clone(),
            r.error.field.clone(),
            r.error.reason.clone(),
        ];
        w.write_record(cells.map(crate::csv_format::spreadsheet_cell))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    w.flush()?;
    Ok(())
}

/// A donor and its status as a donor CSV row (`EXPORT_HEADER` order).
pub fn csv_row(d: Donor, s: &Status) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let (tnc, cd34, vol) = match d.cord {
        Some(c) => (
            opt(c.tnc_1e7.map(|x| x.to_string())),
            opt(c.cd34_1e6.map(|x| x.to_string())),
            opt(c.volume_ml.map(|x| x.to_string())),
        ),
        None => Default::default(),
    };
    let (code, reason, until, patient) = match s {
        Status::Available => ("available", String::new(), String::new(), String::new()),
        Status::TemporarilyUnavailable { reason, until } => (
            "temporarily-unavailable",
            reason.clone(),
            until.to_string(),
            String::new(),
        ),
        Status::Reserved { patient, until } => (
            "reserved",
            String::new(),
            until.to_string(),
            patient.clone(),
        ),
        Status::PermanentlyUnavailable { reason } => (
            "permanently-unavailable",
            reason.to_string(),
            String::new(),
            String::new(),
        ),
    };
    let mut row = vec![
        d.id,
        opt(d.grid.map(|g| g.to_string())),
        d.registry,
        d.donor_type.to_string(),
        opt(d.sex.map(|x| x.to_string())),
        opt(d.birth_date.map(|x| x.to_string())),
        opt(d.abo.map(|x| x.to_string())),
        opt(d.rh.map(|x| x.to_string())),
        opt(d.cmv.map(|x| x.to_string())),
        opt(d.population),
        opt(d.recruitment_date.map(|x| x.to_string())),
        tnc,
        cd34,
        vol,
        opt(d.typing.date.map(|x| x.to_string())),
    ];
    for p in d.typing.positions {
        row.extend(p.into_iter().map(opt));
    }
    row.extend([code.to_string(), reason, until, patient]);
    row
}

/// Export every donor as donor CSV (with its status columns), in id order.
pub fn export_csv<W: Write>(out: W, store: &dyn DonorStore) -> Result<u64, ImportError> {
    let mut w = csv::Writer::from_writer(out);
    let io = |e: csv::Error| StoreError::Status {
        id: String::new(),
        reason: e.to_string(),
    };
    w.write_record(EXPORT_HEADER).map_err(io)?;
    let mut n = 0;
    store.for_each_donor(&mut |d, s| {
        // a spreadsheet opening the export evaluates no formula from an imported value
        let row = csv_row(d, &s)
            .into_iter()
            .map(crate::csv_format::spreadsheet_cell);
        w.write_record(row).map_err(io)?;
        n += 1;
        Ok(())
    })?;
    w.flush()?;
    Ok(n)
}
