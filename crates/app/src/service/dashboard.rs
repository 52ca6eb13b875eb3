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
        let user = sec.session_of(&hash)?.map(|s| s.user);
        if sec.delete_session(&hash)? {
            let user = user.unwrap_or_else(|| "-".into());
            sec.audit(now(), &user, "logout", &user, "{}")?;
        }
        Ok(())
    }

    /// Whether the caller's account has multi-factor authentication enabled.
    pub fn mfa_enabled(&self, actor: &Actor) -> Result<bool, AppError> {
        Ok(lock(&self.security)
            .user(&actor.user)?
            .is_some_and(|u| u.totp_secret.is_some()))
    }

    /// A new TOTP secret for the caller to scan (base32, and its `otpauth://` URI):
    /// nothing is stored until [`Self::mfa_confirm`] shows the app has it.
    pub fn mfa_offer(&self, actor: &Actor) -> Result<(String, String), AppError> {
        let secret = crate::totp::base32_encode(&crate::totp::new_secret()?);
        let uri = crate::totp::otpauth_uri(&actor.user, &secret);
        Ok((secret, uri))
    }

    /// Enable MFA for the caller with the offered `secret`, once the caller's password
    /// and a current code of that secret are right (audited `mfa-enabled`).
    pub fn mfa_confirm(
        &self,
        actor: &Actor,
        secret: &str,
        password: &str,
        code: &str,
    ) -> Result<(), AppError> {
        let user = lock(&self.security)
            .user(&actor.user)?
            .ok_or_else(|| AppError::Unauthorized("log in again".into()))?;
        let Some(hash) = user.password_hash.as_deref() else {
            return Err(AppError::Invalid {
                field: "password".into(),
                reason: "MFA is for staff accounts, which log in with a password".into(),
            });
        };
        if user.totp_secret.is_some() {
            return Err(AppError::Conflict(
                "MFA is enabled already (an administrator can disable it to enrol again)".into(),
            ));
        }
        if !crate::auth::verify_password(password, hash) {
            return Err(AppError::Invalid {
                field: "password".into(),
                reason: "not the password of this account".into(),
            });
        }
        let key = crate::totp::base32_decode(secret)
            .filter(|k| k.len() >= 16)
            .ok_or_else(|| AppError::Invalid {
                field: "secret".into(),
                reason: "not the secret offered: open the page again".into(),
            })?;
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let Some(step) = crate::totp::matching_step(&key, code, unix, None) else {
            return Err(AppError::Invalid {
                field: "totp".into(),
                reason: "not the current code of this secret: check the app's clock and try again"
                    .into(),
            });
        };
        let mut sec = lock(&self.security);
        crate::accounts::store_mfa(&mut sec, "web", &actor.user, Some(secret))?;
        // the code just shown is taken: it cannot log in as well
        sec.take_totp_step(&actor.user, step as i64)?;
        Ok(())
    }
}
