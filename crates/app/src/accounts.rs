//! Account administration (the `medulla users` commands) and login throttling.

use std::path::Path;

use chrono::{Local, NaiveDateTime};
use medulla_registry::accounts::UserRow;
use medulla_registry::audit::AuditBreak;
use medulla_registry::Store;

use medulla_registry::exchange;
use medulla_registry::store::DbConnection;

use crate::auth::{hash_password, new_secret, secret_hash, Role};
use crate::error::AppError;
use crate::exchange::message::check_ion;
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

/// Add an account of a staff role (a partner's needs its ION: [`add_account`]).
pub fn add_user(
    registry: &Path,
    name: &str,
    role: Role,
    password: Option<&str>,
) -> Result<Option<String>, AppError> {
    add_account(registry, name, role, password, None)
}

/// The ION a partner account is to be bound to, checked against the registry: a valid
/// ION, not this registry's own, not bound to another account. The partner need not be
/// registered yet (`medulla partners add` needs the key the partner issues us, which it
/// may issue only once it has its own key from us).
fn check_bindable(conn: &DbConnection, name: &str, ion: &str) -> Result<String, AppError> {
    let ion = check_ion(ion)?;
    if crate::exchange::our_ion(conn)?.as_deref() == Some(ion.as_str()) {
        return Err(AppError::Invalid {
            field: "ion".into(),
            reason: format!(
                "{ion} is this registry's own ION: a partner account is bound to the partner \
                 registry's ION"
            ),
        });
    }
    if let Some(other) = exchange::account_of_ion(conn, &ion)?.filter(|o| o != name) {
        return Err(AppError::Conflict(format!(
            "ION {ion} is bound to the partner account {other} already: one account speaks for \
             one registry"
        )));
    }
    Ok(ion)
}

/// Add an account. A partner gets an API key (returned, shown once) and is bound to its
/// registry's ION (`ion`, required for a partner, refused for any other role); the
/// others get a password (given).
pub fn add_account(
    registry: &Path,
    name: &str,
    role: Role,
    password: Option<&str>,
    ion: Option<&str>,
) -> Result<Option<String>, AppError> {
    let name = name.trim();
    match (role, ion) {
        (Role::Partner, None) => {
            return Err(AppError::Invalid {
                field: "ion".into(),
                reason: "a partner account is bound to its registry's ION when it is made: \
                         give --ion ION (the 4 digits at the head of the partner's GRIDs)"
                    .into(),
            })
        }
        (r, Some(_)) if r != Role::Partner => {
            return Err(AppError::Invalid {
                field: "ion".into(),
                reason: format!("only a partner account has an ION, not a {r} account"),
            })
        }
        _ => {}
    }
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
    // a partner's ION, checked before anything is written
    let bind = match ion {
        Some(ion) => {
            let reg = Store::open(registry)?;
            let ion = check_bindable(reg.connection(), name, ion)?;
            Some((reg, ion))
        }
        None => None,
    };
    let mut sec = Store::open_security(registry)?;
    if sec.user(name)?.is_some() {
        return Err(AppError::Conflict(format!("user {name} exists already")));
    }
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
        serde_json::json!({ "role": role.name(), "ion": bind.as_ref().map(|(_, i)| i) }),
    );
    // bound first (the ION's one account), then made; unbound again when it cannot be
    let mut bind = bind;
    if let Some((reg, ion)) = &mut bind {
        bind_in(reg, name, ion)?;
    }
    if let Err(e) = sec.audited(entry, |s| s.add_user(&row)) {
        if let Some((reg, _)) = &bind {
            let _ = exchange::unbind_account(reg.connection(), name);
        }
        return Err(e.into());
    }
    Ok(key)
}

/// Bind account `name` to `ion` in the registry, audited (a binding left by an account
/// that was never made is replaced).
fn bind_in(reg: &mut Store, name: &str, ion: &str) -> Result<(), AppError> {
    let entry = crate::audit::note(
        &medulla_registry::audit::default_actor(),
        "user-bound",
        name,
        serde_json::json!({ "ion": ion }),
    );
    reg.audited(entry, |r| {
        r.write(|tx| -> Result<(), AppError> {
            exchange::unbind_account(tx, name)?;
            exchange::bind_account(tx, name, ion)?;
            Ok(())
        })
    })
}

/// Bind an existing partner account to its registry's ION (an account made before
/// accounts were bound when made, and not yet bound by a message). An account bound
/// already keeps its ION.
pub fn bind_ion(registry: &Path, name: &str, ion: &str) -> Result<String, AppError> {
    let sec = existing_security(registry)?;
    let user = sec
        .user(name)?
        .ok_or_else(|| AppError::NotFound(format!("no user named {name:?}")))?;
    if user.role != Role::Partner.name() {
        return Err(AppError::Invalid {
            field: "ion".into(),
            reason: format!(
                "only a partner account has an ION, not a {} account",
                user.role
            ),
        });
    }
    let mut reg = Store::open(registry)?;
    let ion = check_bindable(reg.connection(), name, ion)?;
    match exchange::account_ion(reg.connection(), name)? {
        Some(b) if b == ion => return Ok(ion),
        Some(b) => {
            return Err(AppError::Conflict(format!(
                "account {name} is bound to ION {b} already; an account keeps its ION (disable \
                 it and add another for another registry)"
            )))
        }
        None => {}
    }
    bind_in(&mut reg, name, &ion)?;
    Ok(ion)
}

/// Every partner account's ION: (account, ION).
pub fn bound_ions(registry: &Path) -> Result<Vec<(String, String)>, AppError> {
    if !medulla_registry::store::location_exists(registry) {
        return Ok(Vec::new());
    }
    Ok(exchange::bound_accounts(
        Store::open_existing(registry)?.connection(),
    )?)
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
