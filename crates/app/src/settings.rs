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

/// Every setting with its value.
pub fn show(store: &Store) -> Result<Vec<SettingView>, AppError> {
    let conn = store.connection();
    let max = setting(conn, MAX_RESERVATION_DAYS)?;
    let ion = setting(conn, "ion")?;
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
            key: "ion".into(),
            default: false,
            value: ion,
            description: "this registry's ION (set by `medulla serve --ion`)".into(),
        },
    ])
}

/// Set a setting an operator may change (today: `max-reservation-days`).
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
        "ion" => {
            return Err(AppError::Invalid {
                field: "key".into(),
                reason: "the ION is set by `medulla serve --ion ION`".into(),
            })
        }
        other => {
            return Err(AppError::Invalid {
                field: "key".into(),
                reason: format!("{other:?} is not a setting ({MAX_RESERVATION_DAYS})"),
            })
        }
    }
    show(store)?
        .into_iter()
        .find(|s| s.key == key.trim())
        .ok_or_else(|| AppError::Internal(format!("setting {key} not shown")))
}
