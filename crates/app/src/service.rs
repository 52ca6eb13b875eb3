//! The registry as a long-running service: the database, a live search index kept in
//! memory and updated as changes commit, accounts, sessions and the audit trail. Every
//! operation takes the [`Actor`] asking, checks the role, does the work and writes the
//! audit entry. The HTTP API is a thin layer over this; the CLI's one-shot commands call
//! the same use cases.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use chrono::{Duration, Local, NaiveDate, NaiveDateTime};
use medulla_matching::{search_shared, ArdCatalog, IndexedDonor, SearchIndex, TceTable};
use medulla_nomenclature::{Reducer, Reduction};
use medulla_prediction::Imputer;
use medulla_registry::accounts::SessionRow;
use medulla_registry::audit::{AuditBreak, AuditEntry, AuditFilter};
use medulla_registry::saved_search::{Gone, SavedMatch};
use medulla_registry::search_index::{index_registry, indexed};
use medulla_registry::{
    import_csv_observed, import_json_observed, Change, DonorStore, ImportOptions, ImportReport,
    Status, StatusChange, Store,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts;
use crate::auth::{secret_hash, verify_password, Actor, Permission, Role};
use crate::error::AppError;
use crate::freqs::Frequencies;
use crate::search::{finish, hit_views, HitView, SearchOptions};

pub mod dashboard;
mod exchange;
mod journey;
pub mod population;

/// Imports through the service up to this size are read and validated whole before the
/// registry's writer is taken.
pub const VALIDATE_FIRST_BYTES: u64 = 512 << 20;

/// How long a login session lasts at most, by default.
pub const SESSION_HOURS: i64 = 8;
/// How long a login session lasts without use, by default.
pub const SESSION_IDLE_MINUTES: i64 = 30;

/// What a login presents.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// The one-time code (TOTP) of an account with MFA.
    pub totp: Option<&'a str>,
    /// The address the attempt came from (for throttling); `None` when there is none to
    /// tell (the account's throttling then holds every attempt).
    pub source: Option<std::net::IpAddr>,
}

/// How logins and sessions work.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// A session ends after this long without use.
    pub session_idle: std::time::Duration,
    /// ... and this long after the login, whatever its use.
    pub session_absolute: std::time::Duration,
    /// Roles that must log in with multi-factor authentication.
    pub require_mfa: Vec<Role>,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            session_idle: std::time::Duration::from_secs(SESSION_IDLE_MINUTES as u64 * 60),
            session_absolute: std::time::Duration::from_secs(SESSION_HOURS as u64 * 3600),
            require_mfa: Vec::new(),
        }
    }
}

/// The search index and the catalog its typings were interned with.
pub struct Live {
    pub index: SearchIndex,
    pub catalog: ArdCatalog<'static>,
}

/// The service's state.
pub struct Service {
    reducer: &'static Reducer<'static>,
    freqs: &'static Frequencies,
    imputer: Imputer<'static>,
    db: PathBuf,
    /// Imports, status changes, saved searches: one writer at a time.
    writer: Mutex<Store>,
    /// Reads while a write is under way (WAL: readers never wait for the writer).
    reader: Mutex<Store>,
    /// Accounts, sessions and the audit trail, in their own file.
    security: Mutex<Store>,
    live: RwLock<Live>,
    /// Donor genotype distributions kept between searches.
    distributions: crate::freqs::DistributionCache,
    /// Likelihood tables and recruitment plans (seconds of work and a gigabyte of
    /// memory each): one at a time.
    population_work: Mutex<()>,
    /// How long an international search waits for a partner.
    partner_timeout: std::time::Duration,
    /// The connection that follows the change sequence, and the last position applied
    /// to the live index.
    follower: Mutex<(Store, i64)>,
    /// Each patient's last roadmap search on this server (what a page view shows).
    roadmaps: Mutex<std::collections::HashMap<String, crate::roadmap::National>>,
    /// Failed logins per source address (and which sources failed on which account).
    throttle: crate::throttle::LoginThrottle,
    /// Session times and the roles that need MFA.
    auth: AuthPolicy,
}

/// The answer to a search.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct SearchAnswer {
    /// Donors within the request's limits (all of them, not only those returned; in an
    /// international search, of every registry that answered).
    pub total: usize,
    pub hits: Vec<HitView>,
    pub warnings: Vec<String>,
    /// Partner registries that did not answer an international search in time (or
    /// refused it): their donors are not in the ranking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partners_unanswered: Option<Vec<String>>,
}

/// The national part of a search, on its way to [`Service::search_finish`] (which
/// audits it, failed or not).
pub struct NationalAnswer(Result<SearchAnswer, AppError>);

/// One row of a donor's status history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryView {
    pub changed_at: String,
    pub changed_by: String,
    pub status: String,
    pub note: String,
}

/// A donor's record, status and history: search facts only, never identity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DonorView {
    pub id: String,
    pub grid: Option<String>,
    pub registry: String,
    pub donor_type: String,
    pub sex: Option<String>,
    pub birth_date: Option<String>,
    pub abo: Option<String>,
    pub rh: Option<String>,
    pub cmv: Option<String>,
    pub population: Option<String>,
    /// Typing per locus, as stored (`A`: [`A*01:01`, `A*02:01`]).
    pub typing: std::collections::BTreeMap<String, Vec<Option<String>>>,
    pub status: String,
    pub history: Vec<HistoryView>,
}

/// A status change as `medulla donors set-status` takes it.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// available, temporarily-unavailable, reserved, permanently-unavailable.
    pub status: String,
    pub reason: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub until: Option<NaiveDate>,
    pub patient: Option<String>,
    #[serde(default)]
    pub note: String,
}

impl StatusRequest {
    /// The status it asks for, or which field is missing or wrong.
    pub fn status(&self) -> Result<Status, AppError> {
        let missing = |field: &str, why: &str| AppError::Invalid {
            field: field.into(),
            reason: format!("required {why}"),
        };
        Ok(match self.status.trim().to_ascii_lowercase().as_str() {
            "available" => Status::Available,
            "temporarily-unavailable" => Status::TemporarilyUnavailable {
                reason: self
                    .reason
                    .clone()
                    .ok_or_else(|| missing("reason", "for temporarily-unavailable"))?,
                until: self
                    .until
                    .ok_or_else(|| missing("until", "for temporarily-unavailable"))?,
            },
            "reserved" => Status::Reserved {
                patient: self
                    .patient
                    .clone()
                    .ok_or_else(|| missing("patient", "for reserved"))?,
                until: self.until.ok_or_else(|| missing("until", "for reserved"))?,
            },
            "permanently-unavailable" => Status::PermanentlyUnavailable {
                reason: self
                    .reason
                    .as_deref()
                    .ok_or_else(|| missing("reason", "for permanently-unavailable"))?
                    .parse()
                    .map_err(|e: String| AppError::Invalid {
                        field: "reason".into(),
                        reason: e,
                    })?,
            },
            other => {
                return Err(AppError::Invalid {
                    field: "status".into(),
                    reason: format!(
                        "{other:?} is not one of available, temporarily-unavailable, reserved, permanently-unavailable"
                    ),
                })
            }
        })
    }
}

/// Change a donor's status (kept in its history); partner registries holding requests
/// or results for the donor are sent a donor update in the same transaction. The one
/// status change every interface runs.
pub fn change_donor_status(
    store: &mut Store,
    id: &str,
    change: StatusChange,
) -> Result<(), AppError> {
    let at = change.changed_at;
    store.write(|tx| -> Result<(), AppError> {
        let (donor, _) = Store::donor_in(tx, id)?;
        // a donor an open reservation or workup holds changes status through that
        // request (cancelled, ended, or the workup's own steps); only a permanent
        // withdrawal is taken directly: the donor's decision, whatever is open
        if !matches!(change.status, Status::PermanentlyUnavailable { .. }) {
            if let Some(req) = medulla_registry::store::holding_request(tx, &donor.id)? {
                return Err(AppError::Rule {
                    rule: "reserved-by-open-request".into(),
                    message: format!(
                        "donor {} is held by open request {req}: its status changes through                          the request (cancel or end it first)",
                        donor.id
                    ),
                });
            }
        }
        // a reservation is for a registered patient, within the registry's maximum
        if let Status::Reserved { patient, until } = &change.status {
            if medulla_registry::patient::patient_in(tx, patient)?.is_none() {
                return Err(AppError::Invalid {
                    field: "patient".into(),
                    reason: format!(
                        "patient {patient} is not registered (a reservation is for a patient;                          open a reservation request for it)"
                    ),
                });
            }
            crate::settings::check_reservation_expiry(tx, *until, at.date()).map_err(
                |e| match e {
                    AppError::Invalid { reason, .. } => AppError::Invalid {
                        field: "until".into(),
                        reason,
                    },
                    other => other,
                },
            )?;
        }
        medulla_registry::store::set_status_in(tx, &donor.id, change)?;
        crate::exchange::outbox::donor_changed(tx, &donor.id, at)
    })
}

/// Which file format an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    Json,
}

/// Import a donor CSV or donor-update JSON into `store` in one transaction (the one
/// import every interface runs); `progress` hears how many CSV records were read,
/// `observer` every donor written or deleted. The JSON file's update mode comes back.
pub fn import_donors(
    store: &mut dyn DonorStore,
    reducer: &Reducer<'_>,
    input: impl std::io::Read,
    format: ImportFormat,
    options: &ImportOptions<'_>,
    progress: impl FnMut(u64),
    observer: &mut dyn FnMut(Change<'_>),
) -> Result<(ImportReport, Option<medulla_registry::UpdateMode>), medulla_registry::io::ImportError>
{
    match format {
        ImportFormat::Csv => {
            import_csv_observed(input, store, reducer, options, progress, observer)
                .map(|r| (r, None))
        }
        ImportFormat::Json => import_json_observed(input, store, reducer, options, observer)
            .map(|(mode, r)| (r, Some(mode))),
    }
}

/// What an import did, as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportAnswer {
    pub records: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub rejected: u64,
    /// False when nothing was applied (strict, with rejects).
    pub applied: bool,
    pub rejects: Vec<RejectView>,
}

/// One rejected record: its line (CSV) or record number (JSON), id, field and reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectView {
    pub line: u64,
    pub record: String,
    pub field: String,
    pub reason: String,
}

impl From<&ImportReport> for ImportAnswer {
    fn from(r: &ImportReport) -> Self {
        ImportAnswer {
            records: r.records,
            new: r.new,
            updated: r.updated,
            unchanged: r.unchanged,
            deleted: r.deleted,
            rejected: r.rejected,
            applied: r.applied,
            rejects: r
                .rejections
                .iter()
                .map(|x| RejectView {
                    line: x.line,
                    record: x.id.clone(),
                    field: x.error.field.clone(),
                    reason: x.error.reason.clone(),
                })
                .collect(),
        }
    }
}

/// A donor that matched a saved search before and does not now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GoneView {
    pub donor_id: String,
    pub reason: String,
}

/// A saved search run again: what changed since the last run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepeatAnswer {
    pub name: String,
    pub last_run_at: String,
    pub new: Vec<String>,
    pub changed: Vec<String>,
    /// Donors that no longer match, with why.
    pub gone: Vec<GoneView>,
    pub unchanged: usize,
    pub search: SearchAnswer,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic while holding a store lock leaves SQLite consistent (transactions roll
    // back): the store stays usable
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> NaiveDateTime {
    Local::now().naive_local()
}

impl Service {
    /// Open the registry at `db` (created when missing) and its security database, and
    /// build the live index; `progress` is told how many donors were read.
    pub fn open(
        db: &Path,
        reducer: &'static Reducer<'static>,
        freqs: &'static Frequencies,
        tce: Option<TceTable>,
        mut progress: impl FnMut(u64),
    ) -> Result<Service, AppError> {
        let writer = Store::open(db)?;
        let reader = Store::open_existing(db)?;
        let security = Store::open_security(db)?;
        let mut catalog = ArdCatalog::new(reducer);
        if let Some(t) = tce {
            catalog = catalog.with_tce(t);
        }
        let today = Local::now().date_naive();
        // the position first: a change made while the index is built is applied again
        let follower = Store::open_existing(db)?;
        let seen = medulla_registry::search_index::last_change(&follower)?;
        let index = index_registry(db, &mut catalog, today, &mut progress)?;
        Ok(Service {
            reducer,
            freqs,
            imputer: freqs.imputer(reducer),
            db: db.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            security: Mutex::new(security),
            live: RwLock::new(Live { index, catalog }),
            distributions: crate::freqs::DistributionCache::new(500_000),
            population_work: Mutex::new(()),
            partner_timeout: std::time::Duration::from_secs(3),
            follower: Mutex::new((follower, seen)),
            roadmaps: Mutex::new(std::collections::HashMap::new()),
            throttle: crate::throttle::LoginThrottle::new(),
            auth: AuthPolicy::default(),
        })
    }

    /// Apply to the live index every donor change committed since the last call, by this
    /// server, another server on the same database or a command: how the servers of one
    /// registry stay in step. The number of donors applied.
    pub fn follow_changes(&self) -> Result<usize, AppError> {
        let mut follower = lock(&self.follower);
        let (store, seen) = &mut *follower;
        let last = medulla_registry::search_index::last_change(store)?;
        if last < *seen {
            // the sequence was pruned to nothing and started again: read it all
            *seen = 0;
        }
        if last <= *seen {
            return Ok(0);
        }
        let today = Local::now().date_naive();
        let (written, deleted) =
            medulla_registry::search_index::changed_since(store, today, *seen, last)?;
        self.apply_to_index(&written, &deleted);
        *seen = last;
        Ok(written.len() + deleted.len())
    }

    /// Whether the service can do its work now: `Err` with the reason (in words fit for
    /// an operator) when its registry or security database is read-only or unreachable.
    /// Each call opens fresh connections, so a long import does not hold the answer up.
    pub fn health(&self) -> Result<(), String> {
        use medulla_registry::store::probe_database;
        probe_database(&self.db).map_err(str::to_string)?;
        let security = Store::security_path(&self.db);
        if security != self.db {
            probe_database(&security).map_err(|why| format!("security database: {why}"))?;
        }
        Ok(())
    }

    /// The last position of the change sequence applied to the live index.
    pub fn change_position(&self) -> i64 {
        lock(&self.follower).1
    }

    pub fn database(&self) -> &Path {
        &self.db
    }

    /// Donors in the live index.
    pub fn donors(&self) -> usize {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .index
            .len()
    }

    /// An entry for what is not a change of the registry (a search, an identity read, a
    /// login), appended to the chain.
    fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        lock(&self.security).audit(now(), actor, action, subject, &detail.to_string())?;
        Ok(())
    }

    /// A change of the registry: `f` runs on the writer as `actor`'s `action`, each write
    /// transaction it commits carrying the audit entry; the entry then joins the chain.
    pub(crate) fn change<T>(
        &self,
        actor: &Actor,
        action: &str,
        subject: &str,
        detail: serde_json::Value,
        f: impl FnOnce(&mut Store) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let out = crate::audit::change(
            &mut lock(&self.writer),
            &actor.user,
            action,
            subject,
            detail,
            f,
        );
        // a failure leaves the entry pending, for the follower's next round
        let _ = self.absorb_audit();
        out
    }

    /// Take committed changes' pending audit entries (this server's, another server's or
    /// a command's) into the chain: how many. A failure leaves them pending, for the next
    /// call.
    pub fn absorb_audit(&self) -> Result<u64, AppError> {
        let follower = lock(&self.follower);
        crate::audit::absorb(&follower.0, &mut lock(&self.security))
    }

    /// Log in: a session token and when it ends (at the latest: it also ends after the
    /// policy's idle time without use).
    ///
    /// Every attempt does the same work whether the user name exists or not (an unknown
    /// name, a disabled account or one without a password has its password checked
    /// against a dummy argon2 hash). Failed attempts are audited and throttled per
    /// source address and per account ([`crate::throttle`]): the right password from an
    /// address that has not failed on the account is never held by another address's
    /// failures. An account with MFA needs its one-time code (`totp`), each code taken
    /// once; a role the policy requires MFA of cannot log in without it enabled.
    pub fn login(&self, attempt: &LoginAttempt<'_>) -> Result<(String, NaiveDateTime), AppError> {
        let at = now();
        let instant = std::time::Instant::now();
        let username = attempt.username;
        let refuse = |reason: &str, message: String| -> AppError {
            let _ = lock(&self.security).audit(
                at,
                username,
                "login-refused",
                username,
                &serde_json::json!({ "reason": reason }).to_string(),
            );
            AppError::TooManyAttempts(message)
        };
        // the source's own failures first: an address that keeps failing waits
        if let Some(src) = attempt.source {
            if let Some(wait) = self.throttle.source_wait(src, instant) {
                return Err(refuse(
                    "too many failed logins from this address",
                    format!("too many failed logins from this address: try again in {wait} s"),
                ));
            }
        }
        // the account is read under the lock, the password checked outside it (argon2
        // takes tens of milliseconds: every request's authentication waits on this lock)
        let user = lock(&self.security).user(username)?;
        // the account's failures hold only sources that failed on it themselves
        if let Some(u) = &user {
            let held = attempt
                .source
                .is_none_or(|src| self.throttle.account_wait_applies(username, src));
            if let Some(wait) = accounts::lockout(u, at).filter(|_| held) {
                return Err(refuse(
                    "too many failed logins",
                    format!("too many failed logins: try again in {wait} s"),
                ));
            }
        }
        let fail = |why: &str| -> AppError {
            if let Some(src) = attempt.source {
                self.throttle.failed(username, src, instant);
            }
            let mut sec = lock(&self.security);
            let _ = sec.failed_login(username, at);
            let _ = sec.audit(
                at,
                username,
                "login-failed",
                username,
                &serde_json::json!({ "reason": why }).to_string(),
            );
            AppError::Unauthorized("wrong user name or password".into())
        };
        // the same argon2 work for every name: known, unknown, disabled, without password
        let hash = user
            .as_ref()
            .filter(|u| !u.disabled)
            .and_then(|u| u.password_hash.as_deref());
        let password_ok = match hash {
            Some(h) => verify_password(attempt.password, h),
            None => {
                crate::auth::verify_password_against_nothing(attempt.password);
                false
            }
        };
        let Some(user) = user else {
            return Err(fail("no such user"));
        };
        if !password_ok {
            return Err(fail(if user.disabled {
                "disabled"
            } else {
                "wrong password"
            }));
        }
        let role = Role::parse(&user.role)?;
        match user.totp_secret.as_deref() {
            Some(secret) => {
                let code = attempt.totp.map(str::trim).filter(|c| !c.is_empty());
                let Some(code) = code else {
                    // the password was right: say what is missing (not a failure)
                    return Err(AppError::MfaRequired(
                        "this account needs its one-time code: the 6 digits the authenticator app shows (totp)".into(),
                    ));
                };
                let key = crate::totp::base32_decode(secret).ok_or_else(|| {
                    AppError::Internal("a stored TOTP secret is not base32".into())
                })?;
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let taken = match crate::totp::matching_step(&key, code, unix, user.totp_last_step)
                {
                    Some(step) => lock(&self.security).take_totp_step(username, step as i64)?,
                    None => false,
                };
                if !taken {
                    return Err(fail("wrong or reused one-time code"));
                }
            }
            None if self.auth.require_mfa.contains(&role) => {
                let _ = lock(&self.security).audit(
                    at,
                    username,
                    "login-refused",
                    username,
                    &serde_json::json!({ "reason": "MFA required for the role" }).to_string(),
                );
                return Err(AppError::MfaNotEnabled(format!(
                    "the role {role} must log in with multi-factor authentication, and this account has none: an administrator enables it with `medulla users mfa enable {username}`"
                )));
            }
            None => {}
        }
        if let Some(src) = attempt.source {
            self.throttle.succeeded(username, src, instant);
        }
        let mut sec = lock(&self.security);
        let token = crate::auth::new_secret("mt_")?;
        let absolute = Duration::from_std(self.auth.session_absolute).unwrap_or(Duration::hours(8));
        let expires = at + absolute;
        sec.create_session(&secret_hash(&token), username, at, expires)?;
        sec.login_succeeded(username)?;
        sec.audit(at, username, "login", username, "{}")?;
        Ok((token, expires))
    }

    /// The account behind a bearer token of the API: a session token or a partner's API
    /// key.
    pub fn authenticate(&self, bearer: &str) -> Result<Actor, AppError> {
        self.authenticate_as(bearer, true)
    }

    /// The account behind a web session token: a login session only, never an API key
    /// (a partner's key is no browser session).
    pub fn authenticate_session(&self, token: &str) -> Result<Actor, AppError> {
        self.authenticate_as(token, false)
    }

    fn authenticate_as(&self, bearer: &str, api_keys: bool) -> Result<Actor, AppError> {
        let unauthorized =
            || AppError::Unauthorized("a valid session token or API key is required".into());
        let hash = secret_hash(bearer.trim());
        let mut sec = lock(&self.security);
        let user = match sec.session_of(&hash)? {
            Some(session) => {
                let at = now();
                if let Some(why) = self.session_ended(&session, at) {
                    let _ = sec.delete_session(&hash);
                    return Err(AppError::Unauthorized(format!(
                        "the session has {why}: log in again"
                    )));
                }
                if self.session_needs_touch(&session, at) {
                    sec.touch_session(&hash, at)?;
                }
                sec.user(&session.user)?
            }
            None if api_keys => sec.user_by_api_key(&hash)?,
            None => None,
        }
        .ok_or_else(unauthorized)?;
        if user.disabled {
            return Err(unauthorized());
        }
        Ok(Actor {
            role: Role::parse(&user.role)?,
            user: user.name,
        })
    }

    /// Why a session no longer authenticates at `at`, if it does not: past its absolute
    /// end (or the policy's absolute time from its start), or idle too long.
    fn session_ended(&self, s: &SessionRow, at: NaiveDateTime) -> Option<&'static str> {
        let parse = |t: &str| {
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
                .ok()
        };
        let (Some(created), Some(expires)) = (parse(&s.created_at), parse(&s.expires_at)) else {
            return Some("expired");
        };
        let absolute = Duration::from_std(self.auth.session_absolute).unwrap_or(Duration::hours(8));
        if expires < at || created + absolute < at {
            return Some("expired");
        }
        let seen = s.last_seen_at.as_deref().and_then(parse).unwrap_or(created);
        let idle = Duration::from_std(self.auth.session_idle).unwrap_or(Duration::minutes(30));
        (seen + idle < at).then_some("been idle too long")
    }

    /// A session's last use is written again once a quarter of the idle time (at most a
    /// minute) has passed: not one write per request.
    fn session_needs_touch(&self, s: &SessionRow, at: NaiveDateTime) -> bool {
        let seen = s
            .last_seen_at
            .as_deref()
            .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok());
        let every = (self.auth.session_idle / 4).min(std::time::Duration::from_secs(60));
        let every = Duration::from_std(every).unwrap_or(Duration::seconds(60));
        seen.is_none_or(|seen| at - seen >= every)
    }

    /// The login policy in force.
    pub fn auth_policy(&self) -> &AuthPolicy {
        &self.auth
    }

    /// Set the login policy (before serving).
    pub fn set_auth_policy(&mut self, policy: AuthPolicy) {
        self.auth = policy;
    }

    /// Search the live index, with match probabilities; audited with the request and the
    /// number of hits.
    pub fn search(&self, actor: &Actor, options: &SearchOptions) -> Result<SearchAnswer, AppError> {
        let national = self.search_national(actor, options)?;
        self.search_finish(actor, options, national)
    }

    /// The first part of [`Self::search`]: the search of this registry's live index (the
    /// part that uses the cores). The HTTP API runs it in a search slot, then
    /// [`Self::search_finish`] outside it, so that waiting for partners holds no slot.
    pub fn search_national(
        &self,
        actor: &Actor,
        options: &SearchOptions,
    ) -> Result<NationalAnswer, AppError> {
        actor.require(Permission::Search)?;
        // a partner never sees donors who cannot donate, whatever it asks
        let partner_options;
        let options = if actor.role == Role::Partner && options.include_unavailable {
            partner_options = SearchOptions {
                include_unavailable: false,
                ..options.clone()
            };
            &partner_options
        } else {
            options
        };
        Ok(NationalAnswer(
            self.run_search(options, false).map(|(a, _)| a),
        ))
    }

    /// The second part of [`Self::search`]: the partners' hits merged in (an
    /// international search; never for a partner's own search, which is an international
    /// search reaching us), and the audit entry.
    pub fn search_finish(
        &self,
        actor: &Actor,
        options: &SearchOptions,
        national: NationalAnswer,
    ) -> Result<SearchAnswer, AppError> {
        let international = options.international && actor.role != Role::Partner;
        let answer = match national.0 {
            Ok(a) if international => self.international(options, a),
            other => other,
        };
        let detail = serde_json::json!({
            "request": options,
            "hits": answer.as_ref().map(|a| a.total).ok(),
            "partners_unanswered": answer.as_ref().ok().and_then(|a| a.partners_unanswered.clone()),
            "error": answer.as_ref().err().map(|e| e.to_string()),
        });
        self.audit(&actor.user, "search", "-", detail)?;
        answer
    }

    /// Run a search; with `keep_all`, also every match as a saved search keeps it.
    fn run_search(
        &self,
        options: &SearchOptions,
        keep_all: bool,
    ) -> Result<(SearchAnswer, Vec<SavedMatch>), AppError> {
        self.run_search_counted(options, keep_all)
            .map(|(a, s, _)| (a, s))
    }

    /// [`Self::run_search`], with how many hits had 0, 1 and 2 mismatches (all of them
    /// with `keep_all`).
    pub(crate) fn run_search_counted(
        &self,
        options: &SearchOptions,
        keep_all: bool,
    ) -> Result<(SearchAnswer, Vec<SavedMatch>, [usize; 3]), AppError> {
        let mut request = options.to_request()?;
        let predict = if options.no_probabilities {
            0
        } else {
            options.predict_top
        };
        request.limit = if keep_all {
            usize::MAX
        } else {
            options.limit.max(predict)
        };
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        let result = search_shared(&live.index, &live.catalog, &request)?;
        let outcome = finish(
            result,
            options,
            &live.index,
            Some((&self.imputer, self.freqs)),
            Some(&self.distributions),
            keep_all,
        );
        let saved = if keep_all {
            crate::saved::matches_of(&lock(&self.reader), &live.index, &outcome.result.hits)?
        } else {
            Vec::new()
        };
        let total = outcome.result.total;
        let mut by_mismatches = [0usize; 3];
        for h in &outcome.result.hits {
            if let Some(n) = by_mismatches.get_mut(h.mismatches as usize) {
                *n += 1;
            }
        }
        let mut outcome = outcome;
        outcome.result.hits.truncate(options.limit);
        let reader = lock(&self.reader);
        let hits = hit_views(&live.index, &outcome, &mut |id| {
            reader
                .donor(id)
                .ok()
                .flatten()
                .and_then(|(d, _)| d.grid.map(|g| g.to_string()))
        });
        Ok((
            SearchAnswer {
                total,
                hits,
                warnings: outcome.warnings,
                partners_unanswered: None,
            },
            saved,
            by_mismatches,
        ))
    }

    /// Keep a search under a name with its matches, for repeat runs.
    pub fn save_search(
        &self,
        actor: &Actor,
        name: &str,
        options: &SearchOptions,
    ) -> Result<SearchAnswer, AppError> {
        actor.require(Permission::SavedSearches)?;
        let (answer, matches) = self.run_search(options, true)?;
        self.change(
            actor,
            "search-saved",
            name,
            serde_json::json!({ "request": options, "hits": answer.total }),
            |w| crate::saved::save(w, name, options, &matches, now()),
        )?;
        Ok(answer)
    }

    /// Run a saved search again: new matches, changed donors, donors gone.
    pub fn repeat_search(&self, actor: &Actor, name: &str) -> Result<RepeatAnswer, AppError> {
        actor.require(Permission::SavedSearches)?;
        let saved = crate::saved::load(&lock(&self.reader), name)?;
        let options: SearchOptions =
            serde_json::from_str(&saved.request).map_err(|_| AppError::Invalid {
                field: "name".into(),
                reason: format!(
                    "saved search {name:?} was stored by the command line; repeat it there"
                ),
            })?;
        let (search, now_matches) = self.run_search(&options, true)?;
        let report = self.change(
            actor,
            "search-repeated",
            name,
            serde_json::json!({ "hits": search.total }),
            |w| crate::saved::repeat(w, &saved, &now_matches, now()),
        )?;
        Ok(RepeatAnswer {
            name: name.to_string(),
            last_run_at: saved.last_run_at,
            new: report.new.iter().map(|m| m.donor_id.clone()).collect(),
            changed: report
                .changed
                .iter()
                .map(|(_, n)| n.donor_id.clone())
                .collect(),
            gone: report
                .gone
                .iter()
                .map(|(m, why)| GoneView {
                    donor_id: m.donor_id.clone(),
                    reason: match why {
                        Gone::Deleted => "deleted from the registry",
                        Gone::NoLongerMatches => "no longer within the search",
                    }
                    .to_string(),
                })
                .collect(),
            unchanged: report.unchanged,
            search,
        })
    }

    /// Import a donor CSV or donor-update JSON in one transaction, then apply what it
    /// wrote to the live index (a donor imported is found by the next search).
    pub fn import(
        &self,
        actor: &Actor,
        input: impl std::io::Read,
        format: ImportFormat,
        name: &str,
        strict: bool,
    ) -> Result<ImportAnswer, AppError> {
        actor.require(Permission::Import)?;
        let at = now();
        let today = at.date();
        let mut options = ImportOptions {
            validate_first: false,
            file_name: name,
            strict,
            by: &actor.user,
            at,
            before_commit: Some(&crate::audit::import_counts),
            delimiter: None,
        };
        // the upload is read to the end first (a slow client holds no lock), then
        // imported under the writer lock
        let mut spool = tempfile::tempfile()
            .map_err(|e| AppError::Unavailable(format!("no room to receive the import: {e}")))?;
        let mut input = input;
        let received = std::io::copy(&mut input, &mut spool).map_err(|e| AppError::Invalid {
            field: "body".into(),
            reason: e.to_string(),
        })?;
        // a file of up to VALIDATE_FIRST_BYTES is validated whole before the writer is
        // taken (its records held in memory, about twice its size); a larger one is
        // validated chunk by chunk while the chunk before is written
        options.validate_first = received <= VALIDATE_FIRST_BYTES;
        use std::io::Seek;
        spool
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| AppError::Unavailable(format!("reading the received import: {e}")))?;
        let input = std::io::BufReader::with_capacity(1 << 20, spool);
        let mut written: Vec<IndexedDonor> = Vec::new();
        let mut deleted: Vec<String> = Vec::new();
        let mut observe = |c: Change<'_>| match c {
            Change::Written(r, status) => written.push(indexed(&r.donor, status, today)),
            Change::Deleted(id) => deleted.push(id.to_string()),
        };
        let report = self.change(
            actor,
            "import",
            name,
            serde_json::json!({ "strict": strict }),
            |w| {
                import_donors(
                    w,
                    self.reducer,
                    input,
                    format,
                    &options,
                    |_| {},
                    &mut observe,
                )
                .map(|(report, _)| report)
                .map_err(|e| match e {
                    medulla_registry::io::ImportError::Store(s) => AppError::from(s),
                    // the server's own files failed (the spool, a temporary file), not
                    // the upload: said as a fault to retry
                    medulla_registry::io::ImportError::Io(e) => AppError::Unavailable(format!(
                        "the import could not be stored ({}); try again shortly",
                        e.kind()
                    )),
                    other => AppError::Invalid {
                        field: "body".into(),
                        reason: other.to_string(),
                    },
                })
            },
        )?;
        if report.applied {
            self.apply_to_index(&written, &deleted);
        }
        let answer = ImportAnswer::from(&report);
        Ok(answer)
    }

    fn apply_to_index(&self, written: &[IndexedDonor], deleted: &[String]) {
        // in slices, so searches waiting for the read lock get a turn between them
        for chunk in written.chunks(4096) {
            let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
            let Live { index, catalog } = &mut *live;
            for d in chunk {
                // typings were validated by the import; an unreadable one stays out
                let _ = index.upsert(catalog, d);
            }
        }
        if !deleted.is_empty() {
            let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
            for id in deleted {
                live.index.remove(id);
            }
        }
    }

    /// A donor's record, status and history, without identity.
    pub fn donor(&self, actor: &Actor, id: &str) -> Result<DonorView, AppError> {
        actor.require(Permission::ReadDonor)?;
        let reader = lock(&self.reader);
        let (d, status) = reader
            .donor(id)?
            .ok_or_else(|| AppError::NotFound(format!("donor {id} is not in the registry")))?;
        let history = reader.history(id)?;
        Ok(DonorView {
            id: d.id.clone(),
            grid: d.grid.map(|g| g.to_string()),
            registry: d.registry,
            donor_type: d.donor_type.to_string(),
            sex: d.sex.map(|x| x.to_string()),
            birth_date: d.birth_date.map(|x| x.to_string()),
            abo: d.abo.map(|x| x.to_string()),
            rh: d.rh.map(|x| x.to_string()),
            cmv: d.cmv.map(|x| x.to_string()),
            population: d.population,
            typing: medulla_registry::DONOR_LOCI
                .iter()
                .zip(d.typing.positions)
                .filter(|(_, p)| p.iter().any(Option::is_some))
                .map(|(l, p)| (l.to_string(), p.to_vec()))
                .collect(),
            status: status.to_string(),
            history: history
                .into_iter()
                .map(|h| HistoryView {
                    changed_at: h.changed_at.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    changed_by: h.changed_by,
                    status: h.status.to_string(),
                    note: h.note,
                })
                .collect(),
        })
    }

    /// A donor's name and contact details: only for roles that may, and every read is
    /// an audit entry.
    pub fn identity(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<medulla_registry::Identity, AppError> {
        actor.require(Permission::ReadIdentity)?;
        let found = lock(&self.reader).identity(id)?;
        self.audit(
            &actor.user,
            "identity-read",
            id,
            serde_json::json!({ "found": found.is_some() }),
        )?;
        found.ok_or_else(|| AppError::NotFound(format!("no identity is held for donor {id}")))
    }

    /// Change a donor's status (kept in its history) and apply it to the live index.
    pub fn set_status(
        &self,
        actor: &Actor,
        id: &str,
        req: &StatusRequest,
    ) -> Result<DonorView, AppError> {
        actor.require(Permission::ChangeStatus)?;
        let status = req.status()?;
        self.change(
            actor,
            "status-change",
            id,
            serde_json::json!({ "status": status.to_string(), "note": req.note }),
            |w| {
                change_donor_status(
                    w,
                    id,
                    StatusChange {
                        status: status.clone(),
                        changed_at: now(),
                        changed_by: actor.user.clone(),
                        note: req.note.clone(),
                    },
                )?;
                self.refresh_donor(w, id)
            },
        )?;
        self.donor(actor, id)
    }

    /// Reduce typings to a level: one result or error per typing.
    pub fn reduce(
        &self,
        actor: &Actor,
        typings: &[String],
        to: Reduction,
    ) -> Result<Vec<Result<String, String>>, AppError> {
        actor.require(Permission::Nomenclature)?;
        Ok(typings
            .iter()
            .map(|t| self.reducer.reduce(t, to).map_err(|e| e.to_string()))
            .collect())
    }

    /// Validate typings: `ok` or the error per typing.
    pub fn validate(
        &self,
        actor: &Actor,
        typings: &[String],
    ) -> Result<Vec<Result<String, String>>, AppError> {
        actor.require(Permission::Nomenclature)?;
        Ok(typings
            .iter()
            .map(|t| {
                self.reducer
                    .validate(t)
                    .map(|_| "ok".to_string())
                    .map_err(|e| e.to_string())
            })
            .collect())
    }

    /// Audit entries, filtered.
    pub fn audit_entries(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, AppError> {
        actor.require(Permission::ReadAudit)?;
        // changes committed elsewhere (a command, another server) are chained first
        self.absorb_audit()?;
        Ok(lock(&self.security).audit_entries(filter)?)
    }

    /// Check the audit chain.
    pub fn verify_audit(&self) -> Result<Result<u64, AuditBreak>, AppError> {
        self.absorb_audit()?;
        Ok(lock(&self.security).verify_audit()?)
    }
}
