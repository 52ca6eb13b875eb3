//! Saved and repeated searches: what a search keeps of its matches, how the options are
//! stored (JSON, without the run's date and page size), and the comparison a repeat run
//! makes. The CLI and the service both call these.

use chrono::NaiveDateTime;
use medulla_matching::{SearchHit, SearchIndex};
use medulla_registry::saved_search::{RepeatReport, SavedMatch, SavedSearch};
use medulla_registry::Store;

use crate::error::AppError;
use crate::search::{grade_summary, SearchOptions};

/// Every hit as a saved search keeps it: donor, grade summary, and the record's content
/// hash (a changed record shows as "changed" on the next run).
pub fn matches_of(
    store: &Store,
    index: &SearchIndex,
    hits: &[SearchHit],
) -> Result<Vec<SavedMatch>, AppError> {
    hits.iter()
        .map(|h| {
            let id = index.id(h.donor);
            Ok(SavedMatch {
                donor_id: id.to_string(),
                grade: grade_summary(h),
                content_hash: store.content_hash_of(id)?.unwrap_or_default(),
            })
        })
        .collect()
}

/// The options as a saved search stores them: without the run's date and page size, so
/// a repeat runs on its own day.
pub fn stored_form(options: &SearchOptions) -> Result<String, AppError> {
    let mut kept = options.clone();
    kept.date = None;
    kept.limit = SearchOptions::new("").limit;
    serde_json::to_string(&kept).map_err(|e| AppError::Internal(e.to_string()))
}

/// Keep a search under `name` with its matches (replacing one of the same name).
pub fn save(
    store: &mut Store,
    name: &str,
    options: &SearchOptions,
    matches: &[SavedMatch],
    at: NaiveDateTime,
) -> Result<(), AppError> {
    store.save_search(name, &stored_form(options)?, at, matches)?;
    Ok(())
}

/// The saved search of that name.
pub fn load(store: &Store, name: &str) -> Result<SavedSearch, AppError> {
    store
        .saved_search(name)?
        .ok_or_else(|| AppError::NotFound(format!("no saved search named {name:?}")))
}

/// Compare this run's matches with the stored ones, then store this run's.
pub fn repeat(
    store: &mut Store,
    saved: &SavedSearch,
    now: &[SavedMatch],
    at: NaiveDateTime,
) -> Result<RepeatReport, AppError> {
    let report = {
        let reader: &Store = store;
        RepeatReport::compare(&saved.matches, now, &mut |id| {
            Ok(reader.content_hash_of(id)?.is_some())
        })?
    };
    store.save_search(&saved.name, &saved.request, at, now)?;
    Ok(report)
}
