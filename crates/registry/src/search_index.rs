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
            registry: d.registry.clone(),
            population: d.population.clone(),
            tnc_1e7: d.cord.and_then(|c| c.tnc_1e7).map(|t| t as f32),
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

/// Read a donor CSV straight into index records, streaming (no registry validation:
/// typings are checked when the index is built, and unreadable donors are listed there).
/// A row that is not well-formed CSV ends the stream with its error.
pub fn read_csv<R: std::io::Read>(
    input: R,
    today: NaiveDate,
) -> Result<impl Iterator<Item = Result<IndexedDonor, csv::Error>>, csv::Error> {
    let mut reader = csv::Reader::from_reader(input);
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let typing_cols: Vec<[Option<usize>; 2]> = SEARCH_LOCI
        .iter()
        .map(|l| [col(&format!("{l}_1")), col(&format!("{l}_2"))])
        .collect();
    let cols = [
        col("id"),
        col("donor_type"),
        col("birth_date"),
        col("sex"),
        col("cmv"),
        col("abo"),
        col("status"),
        col("status_until"),
        col("registry"),
        col("population"),
        col("tnc_1e7"),
    ];
    let gl_col = col("gl");
    Ok(reader.into_records().map(move |rec| {
        let rec = rec?;
        let get = |c: Option<usize>| {
            c.and_then(|i| rec.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let [id, dt, birth, sex, cmv, abo, status, until, registry, population, tnc] = cols;
        let is = |c: Option<usize>, v: &str| get(c).is_some_and(|x| x.eq_ignore_ascii_case(v));
        let birth_date = get(birth).and_then(|b| b.parse::<NaiveDate>().ok());
        let cord = is(dt, "cord");
        let until_ok = get(until)
            .and_then(|u| u.parse::<NaiveDate>().ok())
            .is_some_and(|u| today >= u);
        let status_ok = match get(status) {
            None | Some("available") => true,
            Some("temporarily-unavailable") | Some("reserved") => until_ok,
            Some(_) => false,
        };
        let age_ok = cord
            || birth_date
                .and_then(|b| b.checked_add_months(chrono::Months::new(12 * 61)))
                .is_none_or(|d| today < d);
        let mut typing: [[Option<String>; 2]; 6] = std::array::from_fn(|i| {
            [
                get(typing_cols[i][0]).map(str::to_string),
                get(typing_cols[i][1]).map(str::to_string),
            ]
        });
        // the typing as one GL String column, read as import reads it
        if let Some(gl) = get(gl_col) {
            if let Ok(blocks) = medulla_nomenclature::split_loci(gl) {
                for b in blocks {
                    if let Some(l) = SEARCH_LOCI.iter().position(|x| *x == b.locus) {
                        for (p, c) in b.copies.iter().enumerate() {
                            typing[l][p].get_or_insert_with(|| c.clone());
                        }
                    }
                }
            }
        }
        Ok(IndexedDonor {
            facts: DonorFacts {
                id: get(id).unwrap_or("").to_string(),
                registry: get(registry).unwrap_or("").to_string(),
                population: get(population).map(str::to_string),
                tnc_1e7: get(tnc).and_then(|t| t.parse().ok()),
                cord,
                birth_day: birth_date.map(day_number),
                male: get(sex).map(|s| s.eq_ignore_ascii_case("M")),
                cmv_positive: get(cmv).map(|c| c.eq_ignore_ascii_case("pos")),
                abo: get(abo).map(str::to_string),
                searchable: status_ok && age_ok,
            },
            typing,
        })
    }))
}

/// Build a search index from a donor CSV, streamed, read as `donors import` reads it (the
/// same reader: header, delimiter, line numbers, and [`RecordValidator`]'s checks): an
/// invalid record (or a second record of an id) is not indexed and goes to `rejected`
/// with its line; a header error or a row that is not CSV stops the build.
pub fn index_csv<R: std::io::Read>(
    catalog: &mut medulla_matching::ArdCatalog<'_>,
    input: R,
    validator: &crate::validate::RecordValidator<'_>,
    file: &str,
    delimiter: Option<u8>,
    today: NaiveDate,
    rejected: &mut dyn FnMut(crate::io::Rejection),
) -> Result<medulla_matching::SearchIndex, crate::io::ImportError> {
    let mut records = crate::csv_reader::CsvRecords::new(input, file, delimiter)?;
    let header = records.header().clone();
    let mut failure = None;
    let mut seen = std::collections::HashSet::new();
    let mut ready: std::collections::VecDeque<IndexedDonor> = Default::default();
    let donors = std::iter::from_fn(|| loop {
        if let Some(d) = ready.pop_front() {
            return Some(d);
        }
        if failure.is_some() {
            return None;
        }
        let chunk = match records.next_chunk(8192) {
            Ok(c) if c.is_empty() => return None,
            Ok(c) => c,
            Err(e) => {
                failure = Some(e);
                return None;
            }
        };
        for (raw, checked) in chunk.iter().zip(header.validate(&chunk, validator)) {
            let checked = checked.and_then(|v| {
                if seen.insert(v.donor.id.clone()) {
                    Ok(v)
                } else {
                    Err(vec![crate::validate::FieldError {
                        field: "id".into(),
                        reason: "appears twice in this file".into(),
                    }])
                }
            });
            match checked {
                Ok(v) => {
                    let status = v.status.unwrap_or(Status::Available);
                    ready.push_back(indexed(&v.donor, &status, today));
                }
                Err(errors) => {
                    for error in errors {
                        rejected(crate::io::Rejection {
                            line: raw.0,
                            id: header.id_of(raw),
                            error,
                        });
                    }
                }
            }
        }
    });
    let index = medulla_matching::SearchIndex::build(catalog, donors);
    match failure {
        Some(e) => Err(e),
        None => Ok(index),
    }
}

/// Every donor of the registry as an index record, read with only the columns the search
/// index needs (no full donor records): building the live index from the database costs
/// about what building it from a CSV does.
pub fn for_each_indexed(
    store: &crate::Store,
    today: NaiveDate,
    f: &mut dyn FnMut(IndexedDonor),
) -> Result<(), crate::StoreError> {
    for_each_indexed_where(store, today, "", Vec::new(), f)
}

/// The donors changed after position `after` of the change sequence, up to `upto`, as
/// index records, and the ids of those no longer in the registry: what another server
/// (or a command) changed, for a server's live index to apply.
pub fn changed_since(
    store: &crate::Store,
    today: NaiveDate,
    after: i64,
    upto: i64,
) -> Result<(Vec<IndexedDonor>, Vec<String>), crate::StoreError> {
    use crate::db::Value;
    let mut ids: std::collections::BTreeSet<String> = store
        .conn()
        .prepare_cached("SELECT DISTINCT donor_id FROM donor_changes WHERE seq > ?1 AND seq <= ?2")?
        .query_map([after, upto], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut written = Vec::new();
    for_each_indexed_where(
        store,
        today,
        " WHERE id IN (SELECT donor_id FROM donor_changes WHERE seq > ?1 AND seq <= ?2)",
        vec![Value::Int(after), Value::Int(upto)],
        &mut |d| {
            ids.remove(&d.facts.id);
            written.push(d);
        },
    )?;
    Ok((written, ids.into_iter().collect()))
}

/// The last position of the change sequence (0 when nothing has changed).
pub fn last_change(store: &crate::Store) -> Result<i64, crate::StoreError> {
    Ok(store
        .conn()
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM donor_changes", [], |r| {
            r.get(0)
        })?)
}

fn for_each_indexed_where(
    store: &crate::Store,
    today: NaiveDate,
    filter: &str,
    params: Vec<crate::db::Value>,
    f: &mut dyn FnMut(IndexedDonor),
) -> Result<(), crate::StoreError> {
    let hla: Vec<String> = SEARCH_LOCI
        .iter()
        .flat_map(|l| {
            let l = l.to_ascii_lowercase();
            [format!("{l}_1"), format!("{l}_2")]
        })
        .collect();
    let sql = format!(
        "SELECT id, registry, donor_type, sex, birth_date, abo, cmv, population, tnc_1e7,
                status, status_until, {} FROM donors{filter}",
        hla.join(", ")
    );
    store
        .conn()
        .for_each_row(&sql, params, &mut |r| -> Result<(), crate::StoreError> {
            let text = |i: usize| -> Result<Option<String>, crate::db::DbError> { r.get(i) };
            let id: String = r.get(0)?;
            let cord = text(2)?.is_some_and(|t| t == "cord");
            let birth: Option<NaiveDate> = text(4)?.and_then(|b| b.parse().ok());
            let until: Option<NaiveDate> = text(10)?.and_then(|u| u.parse().ok());
            let status_ok = match text(9)?.as_deref().unwrap_or("") {
                "available" => true,
                "temporarily-unavailable" | "reserved" => until.is_some_and(|u| today >= u),
                _ => false,
            };
            let age_ok = cord
                || birth
                    .and_then(|b| b.checked_add_months(chrono::Months::new(12 * 61)))
                    .is_none_or(|d| today < d);
            let mut typing: [[Option<String>; 2]; 6] = Default::default();
            for (l, pair) in typing.iter_mut().enumerate() {
                pair[0] = text(11 + 2 * l)?;
                pair[1] = text(12 + 2 * l)?;
            }
            f(IndexedDonor {
                facts: DonorFacts {
                    id,
                    registry: r.get(1)?,
                    population: text(7)?,
                    tnc_1e7: r.get::<_, Option<f64>>(8)?.map(|t| t as f32),
                    cord,
                    birth_day: birth.map(day_number),
                    male: text(3)?.map(|s| s == "M"),
                    cmv_positive: text(6)?.map(|c| c == "pos"),
                    abo: text(5)?,
                    searchable: status_ok && age_ok,
                },
                typing,
            });
            Ok(())
        })
}

/// Build the search index of the registry database at `path`: rows are read on a thread
/// of their own while the index is built on this one, in batches through a bounded
/// channel (no list of every donor in memory); `progress` hears how many were read.
pub fn index_registry(
    path: &std::path::Path,
    catalog: &mut medulla_matching::ArdCatalog<'_>,
    today: NaiveDate,
    progress: &mut dyn FnMut(u64),
) -> Result<medulla_matching::SearchIndex, crate::StoreError> {
    const BATCH: usize = 2048;
    let store = crate::Store::open_existing(path)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<IndexedDonor>>(8);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<(), crate::StoreError> {
            let mut batch = Vec::with_capacity(BATCH);
            let mut open = true;
            for_each_indexed(&store, today, &mut |d| {
                batch.push(d);
                if batch.len() == BATCH && open {
                    open = tx
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .is_ok();
                }
            })?;
            if !batch.is_empty() && open {
                let _ = tx.send(batch);
            }
            Ok(())
        });
        let mut read = 0u64;
        let donors = rx.into_iter().flat_map(|b| {
            read += b.len() as u64;
            progress(read);
            b
        });
        let index = medulla_matching::SearchIndex::build(catalog, donors);
        match reader.join() {
            Ok(r) => r.map(|()| index),
            Err(_) => Err(crate::StoreError::Corrupt {
                id: String::new(),
                column: "donors",
                reason: "the reading thread failed".into(),
            }),
        }
    })
}
