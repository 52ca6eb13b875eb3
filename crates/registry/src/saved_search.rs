//! Stored searches: a search's request and its matches, so that running it again reports
//! what changed — new matches, changed donors, donors that no longer match.

use crate::db::{params, OptionalExtension};
use chrono::NaiveDateTime;

use crate::store::{Store, StoreError};

/// One donor a stored search matched: its grade summary and the donor record's content
/// hash at the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedMatch {
    pub donor_id: String,
    pub grade: String,
    pub content_hash: i64,
}

/// A stored search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSearch {
    pub name: String,
    /// The request, as its owner serialised it (the CLI keeps its arguments).
    pub request: String,
    pub created_at: String,
    pub last_run_at: String,
    pub matches: Vec<SavedMatch>,
}

/// Why a donor that matched before does not any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gone {
    /// The record is no longer in the registry.
    Deleted,
    /// Still in the registry, not within the search's limits or filters now (status,
    /// age, typing or facts changed).
    NoLongerMatches,
}

/// What a repeat run found, against the stored matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepeatReport {
    /// Matches that were not there before.
    pub new: Vec<SavedMatch>,
    /// Donors that match both times whose record or grade changed: (before, now).
    pub changed: Vec<(SavedMatch, SavedMatch)>,
    /// Donors that matched before and do not now, with the reason.
    pub gone: Vec<(SavedMatch, Gone)>,
    /// Matches the same as before.
    pub unchanged: usize,
}

impl RepeatReport {
    /// Compare the stored matches with this run's; `exists` tells whether a donor is
    /// still in the registry.
    pub fn compare(
        before: &[SavedMatch],
        now: &[SavedMatch],
        exists: &mut dyn FnMut(&str) -> Result<bool, StoreError>,
    ) -> Result<Self, StoreError> {
        let old: std::collections::HashMap<&str, &SavedMatch> =
            before.iter().map(|m| (m.donor_id.as_str(), m)).collect();
        let current: std::collections::HashSet<&str> =
            now.iter().map(|m| m.donor_id.as_str()).collect();
        let mut report = RepeatReport::default();
        for m in now {
            match old.get(m.donor_id.as_str()) {
                None => report.new.push(m.clone()),
                Some(b) if *b != m => report.changed.push(((*b).clone(), m.clone())),
                Some(_) => report.unchanged += 1,
            }
        }
        for b in before {
            if !current.contains(b.donor_id.as_str()) {
                let why = if exists(&b.donor_id)? {
                    Gone::NoLongerMatches
                } else {
                    Gone::Deleted
                };
                report.gone.push((b.clone(), why));
            }
        }
        Ok(report)
    }
}

fn timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

impl Store {
    /// Store (or replace) a search and its matches, in one transaction.
    pub fn save_search(
        &mut self,
        name: &str,
        request: &str,
        at: NaiveDateTime,
        matches: &[SavedMatch],
    ) -> Result<(), StoreError> {
        let at = timestamp(at);
        let tx = self
            .conn_mut()
            .transaction_with_behavior(crate::db::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO saved_searches (name, request, created_at, last_run_at)
             VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (name) DO UPDATE SET request = excluded.request,
                last_run_at = excluded.last_run_at",
            params![name, request, at],
        )?;
        tx.execute("DELETE FROM saved_search_matches WHERE search = ?1", [name])?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO saved_search_matches (search, donor_id, grade, content_hash)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for m in matches {
                insert.execute(params![name, m.donor_id, m.grade, m.content_hash])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A stored search with its matches, if there is one of that name.
    pub fn saved_search(&self, name: &str) -> Result<Option<SavedSearch>, StoreError> {
        let head: Option<(String, String, String)> = self
            .conn()
            .query_row(
                "SELECT request, created_at, last_run_at FROM saved_searches WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((request, created_at, last_run_at)) = head else {
            return Ok(None);
        };
        let mut stmt = self.conn().prepare(
            "SELECT donor_id, grade, content_hash FROM saved_search_matches
             WHERE search = ?1 ORDER BY donor_id",
        )?;
        let matches = stmt
            .query_map([name], |r| {
                Ok(SavedMatch {
                    donor_id: r.get(0)?,
                    grade: r.get(1)?,
                    content_hash: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(SavedSearch {
            name: name.to_string(),
            request,
            created_at,
            last_run_at,
            matches,
        }))
    }

    /// Every stored search: name, when it was created and last run, and how many donors
    /// it matched then, most recently run first.
    pub fn saved_searches(&self) -> Result<Vec<(String, String, String, u64)>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT s.name, s.created_at, s.last_run_at,
                    (SELECT COUNT(*) FROM saved_search_matches m WHERE m.search = s.name)
             FROM saved_searches s ORDER BY s.last_run_at DESC, s.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The content hash of a donor record (changes whenever the record does).
    pub fn content_hash_of(&self, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT content_hash FROM donors WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }
}
