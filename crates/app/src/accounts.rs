//! Account administration (the `medulla users` commands) and login throttling.

use std::path::Path;

use chrono::{Local, NaiveDateTime};
use medulla_registry::accounts::UserRow;
use medulla_registry::audit::AuditBreak;
use medulla_registry::Store;

use crate::auth::{hash_password, new_secret, secret_hash, Role};
use crate::error::AppError;
use crate::totp;

/// Seconds left before `user` may try again, when too many logins on the account failed
/// lately (from anywhere). Which attempts this holds is [`crate::throttle`]'s to say:
/// only those from a source that failed on the account itself.
pub fn lockout(user: &UserRow, at: NaiveDateTime) -> Option<i64> {
    let wait = crate::throttle::wait_after(user.failed_logins) as i64;
    if wait == 0 {
        return None;
    }
    let last =
        NaiveDateTime::parse_from_str(user.last_failed_at.as_deref()?, "%Y-%m-%dT%H:%M:%S").ok()?;
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
        crate::auth::check_password(name, p)?;
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
        totp_secret: None,
        totp_last_step: None,
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

/// Enable multi-factor authentication (TOTP) for the staff account `name`: a new secret
/// stored, audited (`mfa-enabled`, never the secret), and its `otpauth://` URI returned
/// to be shown once. An account that has it already keeps its secret (disable first).
pub fn mfa_enable(registry: &Path, name: &str) -> Result<String, AppError> {
    let mut sec = existing_security(registry)?;
    let user = sec
        .user(name)?
        .ok_or_else(|| AppError::NotFound(format!("no user named {name:?}")))?;
    if user.password_hash.is_none() {
        return Err(AppError::Invalid {
            field: "name".into(),
            reason: format!(
                "{name} logs in with an API key (a partner): MFA is for staff accounts"
            ),
        });
    }
    if user.totp_secret.is_some() {
        return Err(AppError::Conflict(format!(
            "{name} has MFA enabled already (medulla users mfa disable {name} first, to enrol again)"
        )));
    }
    let secret = totp::base32_encode(&totp::new_secret()?);
    store_mfa(&mut sec, "cli", name, Some(&secret))?;
    Ok(totp::otpauth_uri(name, &secret))
}

/// Disable multi-factor authentication of `name` (audited `mfa-disabled`).
pub fn mfa_disable(registry: &Path, name: &str) -> Result<(), AppError> {
    let mut sec = existing_security(registry)?;
    let user = sec
        .user(name)?
        .ok_or_else(|| AppError::NotFound(format!("no user named {name:?}")))?;
    if user.totp_secret.is_none() {
        return Err(AppError::Conflict(format!("{name} has no MFA enabled")));
    }
    store_mfa(&mut sec, "cli", name, None)
}

/// Store (or remove) an account's TOTP secret with its audit entry, in one transaction.
/// `how` says through which interface (`cli`, `web`).
pub(crate) fn store_mfa(
    sec: &mut Store,
    how: &str,
    name: &str,
    secret: Option<&str>,
) -> Result<(), AppError> {
    let actor = if how == "cli" {
        medulla_registry::audit::default_actor()
    } else {
        name.to_string()
    };
    let entry = crate::audit::note(
        &actor,
        if secret.is_some() {
            "mfa-enabled"
        } else {
            "mfa-disabled"
        },
        name,
        serde_json::json!({ "via": how }),
    );
    if !sec.audited(entry, |s| s.set_totp(name, secret))? {
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
