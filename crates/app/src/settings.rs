//! The registry's settings, kept in its database (`settings`, key and value): what
//! operators set with `medulla settings set` and every use case reads from the same
//! place, so the command line, the service and the partner exchange obey one value.

use chrono::{Duration, NaiveDate};
use medulla_registry::exchange::{set_setting, setting};
use medulla_registry::store::DbConnection;
use medulla_registry::Store;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

/// The furthest a reservation (or a workup's hold on its donor) may reach, in days from
/// the day it is made.
pub const MAX_RESERVATION_DAYS: &str = "max-reservation-days";
/// The default maximum: six months.
pub const DEFAULT_MAX_RESERVATION_DAYS: u32 = 180;
/// What an operator may set it to: one day to ten years.
const MAX_RESERVATION_RANGE: std::ops::RangeInclusive<u32> = 1..=3650;

/// How many open reservations one partner registry may hold here at once.
pub const PARTNER_RESERVATION_QUOTA: &str = "partner-reservation-quota";
/// The default quota.
pub const DEFAULT_PARTNER_RESERVATION_QUOTA: u32 = 50;
/// What an operator may set it to (0: partners reserve nothing).
const PARTNER_QUOTA_RANGE: std::ops::RangeInclusive<u32> = 0..=100_000;

/// One setting as shown: its value, and whether it is the default.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingView {
    pub key: String,
    pub value: Option<String>,
    pub default: bool,
    pub description: String,
}

fn parse_days(text: &str) -> Result<u32, String> {
    let n: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of days"))?;
    if !MAX_RESERVATION_RANGE.contains(&n) {
        return Err(format!(
            "{n} days is outside {}..={}",
            MAX_RESERVATION_RANGE.start(),
            MAX_RESERVATION_RANGE.end()
        ));
    }
    Ok(n)
}

/// The registry's reservation maximum, in days (the default when none is set).
pub fn max_reservation_days(conn: &DbConnection) -> Result<u32, AppError> {
    match setting(conn, MAX_RESERVATION_DAYS)? {
        None => Ok(DEFAULT_MAX_RESERVATION_DAYS),
        Some(v) => parse_days(&v).map_err(|e| {
            AppError::Internal(format!("the stored setting {MAX_RESERVATION_DAYS}: {e}"))
        }),
    }
}

/// Refuse a reservation expiry beyond the registry's maximum from `today`.
pub fn check_reservation_expiry(
    conn: &DbConnection,
    expires: NaiveDate,
    today: NaiveDate,
) -> Result<(), AppError> {
    let max = max_reservation_days(conn)?;
    let last = today + Duration::days(i64::from(max));
    if expires > last {
        return Err(AppError::Invalid {
            field: "expires".into(),
            reason: format!(
                "{expires} is {} days from today; a reservation lasts at most {max} days \
                 (until {last}; the registry's {MAX_RESERVATION_DAYS})",
                (expires - today).num_days()
            ),
        });
    }
    Ok(())
}

fn parse_quota(text: &str) -> Result<u32, String> {
    let n: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of reservations"))?;
    if !PARTNER_QUOTA_RANGE.contains(&n) {
        return Err(format!(
            "{n} is outside {}..={}",
            PARTNER_QUOTA_RANGE.start(),
            PARTNER_QUOTA_RANGE.end()
        ));
    }
    Ok(n)
}

/// The open reservations one partner may hold here (the default when none is set).
pub fn partner_reservation_quota(conn: &DbConnection) -> Result<u32, AppError> {
    match setting(conn, PARTNER_RESERVATION_QUOTA)? {
        None => Ok(DEFAULT_PARTNER_RESERVATION_QUOTA),
        Some(v) => parse_quota(&v).map_err(|e| {
            AppError::Internal(format!(
                "the stored setting {PARTNER_RESERVATION_QUOTA}: {e}"
            ))
        }),
    }
}

/// Refuse one more reservation or workup from the partner registry with ION `ion`
/// (named `name` here) for `donor` when the donors its open reservations and workups
/// hold already fill its quota. A workup reserves its donor as a reservation does, so
/// both count (each donor once: a workup after the same partner's reservation of that
/// donor holds nothing more and is not refused).
pub fn check_partner_reservation_quota(
    conn: &DbConnection,
    ion: &str,
    name: &str,
    donor: &str,
) -> Result<(), AppError> {
    let quota = partner_reservation_quota(conn)?;
    let held = medulla_registry::exchange::donors_held_by(conn, ion)?;
    if held.iter().any(|d| d == donor) {
        return Ok(());
    }
    let open = held.len();
    if open >= quota as usize {
        return Err(AppError::Rule {
            rule: PARTNER_RESERVATION_QUOTA.into(),
            message: format!(
                "partner {name} (ION {ion}) holds {open} donors here with open reservations \
                 and workups: its quota is {quota} (the registry's \
                 {PARTNER_RESERVATION_QUOTA}); one ends before another is made"
            ),
        });
    }
    Ok(())
}

/// Every setting with its value.
pub fn show(store: &Store) -> Result<Vec<SettingView>, AppError> {
    let conn = store.connection();
    let max = setting(conn, MAX_RESERVATION_DAYS)?;
    let ion = setting(conn, "ion")?;
    let quota = setting(conn, PARTNER_RESERVATION_QUOTA)?;
    Ok(vec![
        SettingView {
            key: MAX_RESERVATION_DAYS.into(),
            default: max.is_none(),
            value: Some(max.unwrap_or_else(|| DEFAULT_MAX_RESERVATION_DAYS.to_string())),
            description: "the furthest a reservation or a workup's hold on its donor reaches, \
                          in days from the day it is made"
                .into(),
        },
        SettingView {
            key: PARTNER_RESERVATION_QUOTA.into(),
            default: quota.is_none(),
            value: Some(quota.unwrap_or_else(|| DEFAULT_PARTNER_RESERVATION_QUOTA.to_string())),
            description: "how many open reservations one partner registry may hold here at \
                          once (0: partners reserve nothing)"
                .into(),
        },
        SettingView {
            key: "ion".into(),
            default: false,
            value: ion,
            description: "this registry's ION (set by `medulla serve --ion`)".into(),
        },
    ])
}

/// Set a setting an operator may change (`max-reservation-days`,
/// `partner-reservation-quota`).
pub fn set(store: &mut Store, key: &str, value: &str) -> Result<SettingView, AppError> {
    match key.trim() {
        MAX_RESERVATION_DAYS => {
            let n = parse_days(value).map_err(|reason| AppError::Invalid {
                field: MAX_RESERVATION_DAYS.into(),
                reason,
            })?;
            let entry = crate::audit::note(
                &medulla_registry::audit::default_actor(),
                "setting-changed",
                MAX_RESERVATION_DAYS,
                serde_json::json!({ "value": n }),
            );
            store.audited(entry, |s| {
                s.write(|tx| set_setting(tx, MAX_RESERVATION_DAYS, &n.to_string()))
            })?;
        }
        PARTNER_RESERVATION_QUOTA => {
            let n = parse_quota(value).map_err(|reason| AppError::Invalid {
                field: PARTNER_RESERVATION_QUOTA.into(),
                reason,
            })?;
            let entry = crate::audit::note(
                &medulla_registry::audit::default_actor(),
                "setting-changed",
                PARTNER_RESERVATION_QUOTA,
                serde_json::json!({ "value": n }),
            );
            store.audited(entry, |s| {
                s.write(|tx| set_setting(tx, PARTNER_RESERVATION_QUOTA, &n.to_string()))
            })?;
        }
        "ion" => {
            return Err(AppError::Invalid {
                field: "key".into(),
                reason: "the ION is set by `medulla serve --ion ION`".into(),
            })
        }
        other => {
            return Err(AppError::Invalid {
                field: "key".into(),
                reason: format!(
                    "{other:?} is not a setting ({MAX_RESERVATION_DAYS}, \
                     {PARTNER_RESERVATION_QUOTA})"
                ),
            })
        }
    }
    show(store)?
        .into_iter()
        .find(|s| s.key == key.trim())
        .ok_or_else(|| AppError::Internal(format!("setting {key} not shown")))
}
