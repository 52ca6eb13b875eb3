//! What a coordinator's start page shows and what a browser session needs: the registry
//! in figures, the caller's own recent searches, the saved searches, logging out.

use std::collections::BTreeMap;

use medulla_registry::audit::AuditFilter;
use serde::Serialize;

use super::{lock, now, Service};
use crate::auth::{secret_hash, Actor, Permission};
use crate::error::AppError;

/// The registry in figures: donors by status and by declared population.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryFigures {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    /// `unknown`: no population declared.
    pub by_population: BTreeMap<String, u64>,
    /// Donors in the live search index.
    pub indexed: usize,
}

/// One of the caller's searches, from the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct RecentSearch {
    pub at: String,
    /// `search`, `search-saved`, `search-repeated`, `roadmap`.
    pub action: String,
    /// The patient typing searched (or the saved search's / patient's name).
    pub subject: String,
    pub hits: Option<u64>,
}

/// A stored search.
#[derive(Debug, Clone, Serialize)]
pub struct SavedSearchView {
    pub name: String,
    pub created_at: String,
    pub last_run_at: String,
    pub matches: u64,
}

impl Service {
    /// Donors counted by status and population (roles that may read donor records).
    pub fn registry_figures(&self, actor: &Actor) -> Result<RegistryFigures, AppError> {
        actor.require(Permission::ReadDonor)?;
        let rows = lock(&self.reader).donors_by_status_and_population()?;
        let mut f = RegistryFigures {
            total: 0,
            by_status: BTreeMap::new(),
            by_population: BTreeMap::new(),
            indexed: self.donors(),
        };
        for (status, population, n) in rows {
            f.total += n;
            *f.by_status.entry(status).or_default() += n;
            *f.by_population
                .entry(population.unwrap_or_else(|| "unknown".into()))
                .or_default() += n;
        }
        Ok(f)
    }

    /// The caller's own latest searches (newest first), read from the audit trail: every
    /// account may see its own work without the auditor's permission.
    pub fn recent_searches(
        &self,
        actor: &Actor,
        limit: u32,
    ) -> Result<Vec<RecentSearch>, AppError> {
        let sec = lock(&self.security);
        let mut out = Vec::new();
        for action in ["search", "search-saved", "search-repeated", "roadmap"] {
            let entries = sec.audit_entries(&AuditFilter {
                actor: Some(actor.user.clone()),
                action: Some(action.into()),
                limit: Some(limit),
                newest_first: true,
                ..AuditFilter::default()
            })?;
            for e in entries {
                let detail: serde_json::Value =
                    serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null);
                let subject = detail["request"]["patient"]
                    .as_str()
                    .map(str::to_string)
                    .filter(|_| action == "search")
                    .unwrap_or(e.subject);
                out.push(RecentSearch {
                    at: e.at,
                    action: e.action,
                    subject,
                    hits: detail["hits"].as_u64(),
                });
            }
        }
        out.sort_by(|a, b| b.at.cmp(&a.at));
        out.truncate(limit as usize);
        Ok(out)
    }

    /// The stored searches, most recently run first.
    pub fn saved_searches(&self, actor: &Actor) -> Result<Vec<SavedSearchView>, AppError> {
        actor.require(Permission::SavedSearches)?;
        Ok(lock(&self.reader)
            .saved_searches()?
            .into_iter()
            .map(|(name, created_at, last_run_at, matches)| SavedSearchView {
                name,
                created_at,
                last_run_at,
                matches,
            })
            .collect())
    }

    /// End a session: its token stops authenticating at once (audited).
    pub fn logout(&self, token: &str) -> Result<(), AppError> {
        let hash = secret_hash(token.trim());
        let mut sec = lock(&self.security);
        let user = sec.session_of(&hash)?.map(|(u, _)| u);
        if sec.delete_session(&hash)? {
            let user = user.unwrap_or_else(|| "-".into());
            sec.audit(now(), &user, "logout", &user, "{}")?;
        }
        Ok(())
    }
}
