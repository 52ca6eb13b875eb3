//! Account administration (the `medulla users` commands) and login throttling.

use std::path::Path;

use chrono::{Local, NaiveDateTime};
use medulla_registry::accounts::UserRow;
use medulla_registry::audit::AuditBreak;
use medulla_registry::Store;

use crate::auth::{hash_password, new_secret, secret_hash, Role};
use crate::error::AppError;

/// Failed logins allowed before each further attempt waits (doubling, up to 15 minutes).
pub const FREE_ATTEMPTS: u32 = 5;

/// Seconds left before `user` may try again, when too many logins failed lately.
pub fn lockout(user: &UserRow, at: NaiveDateTime) -> Option<i64> {
    if user.failed_logins < FREE_ATTEMPTS {
        return None;
    }
    let last =
        NaiveDateTime::parse_from_str(user.last_failed_at.as_deref()?, "%Y-%m-%dT%H:%M:%S").ok()?;
    let wait = (1i64 << (user.failed_logins - FREE_ATTEMPTS).min(10)).min(900);
    // the last failure is stored to the second (truncated): count from the end of that
    // second, so that a wait is never shorter than it says
    let left = wait - (at - last).num_seconds() + 1;
    (left > 0).then_some(left)
}

/// Add an account. A partner gets an API key (returned, shown once); the others a
/// password (given).
pub fn add_user(
    registry: &Path,
    name: &str,
    role: Role,
    password: Option<&str>,
) -> Result<Option<String>, AppError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err(AppError::Invalid {
            field: "name".into(),
            reason: "1-64 letters, digits, '.', '_', '-' or '@'".into(),
        });
    }
    let (password_hash, key) = if role == Role::Partner {
        let key = new_secret("mk_")?;
        (None, Some(key))
    } else {
        let p = password.unwrap_or("");
        if p.chars().count() < 12 {
            return Err(AppError::Invalid {
                field: "password".into(),
                reason: "at least 12 characters".into(),
            });
        }
        (Some(hash_password(p)?), None)
    };
    let mut sec = Store::open_security(registry)?;
    let row = UserRow {
        name: name.to_string(),
        role: role.name().to_string(),
        password_hash,
        api_key_hash: key.as_deref().map(secret_hash),
        disabled: false,
        created_at: Local::now()
            .naive_local()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        failed_logins: 0,
        last_failed_at: None,
    };
    let entry = crate::audit::note(
        &medulla_registry::audit::default_actor(),
        "user-added",
        name,
        serde_json::json!({ "role": role.name() }),
    );
    sec.audited(entry, |s| s.add_user(&row))?;
    Ok(key)
}

pub fn list_users(registry: &Path) -> Result<Vec<UserRow>, AppError> {
    Ok(existing_security(registry)?.users()?)
}

/// The security database of `registry`, which must exist: a command that only reads or
/// changes accounts creates nothing (a mistyped path is an error, not an empty list).
fn existing_security(registry: &Path) -> Result<Store, AppError> {
    if !Store::security_exists(registry) {
        return Err(AppError::NotFound(format!(
            "no accounts at {} (add one with medulla users add, or give --db / MEDULLA_DB)",
            medulla_registry::store::display_location(&Store::security_path(registry))
        )));
    }
    Ok(Store::open_security(registry)?)
}

pub fn disable_user(registry: &Path, name: &str) -> Result<(), AppError> {
    let mut sec = existing_security(registry)?;
    let entry = crate::audit::note(
        &medulla_registry::audit::default_actor(),
        "user-disabled",
        name,
        serde_json::json!({}),
    );
    if !sec.audited(entry, |s| s.disable_user(name))? {
        return Err(AppError::NotFound(format!("no user named {name:?}")));
    }
    Ok(())
}

/// Verify the audit chain of a registry: the number of entries, or the first bad one.
pub fn verify_audit(registry: &Path) -> Result<Result<u64, AuditBreak>, AppError> {
    if !Store::security_exists(registry) {
        return Err(AppError::NotFound(format!(
            "no security database at {}",
            medulla_registry::store::display_location(&Store::security_path(registry))
        )));
    }
    let mut security = Store::open_security(registry)?;
    // entries of changes committed but not yet chained are taken in first
    if medulla_registry::store::location_exists(registry) {
        crate::audit::absorb(&Store::open_existing(registry)?, &mut security)?;
    }
    Ok(security.verify_audit()?)
}
