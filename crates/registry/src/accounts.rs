//! Stored accounts and sessions: users with a role and a password hash (or, for a partner
//! registry's machine client, an API key hash), and login sessions by token hash. Secrets
//! are never stored in the clear: hashing is the caller's (the application layer's).

use crate::db::{params, OptionalExtension, TransactionBehavior};
use chrono::NaiveDateTime;

use crate::store::{Store, StoreError};

/// One account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    /// PHC string of the password hash (argon2id); none for API-key accounts.
    pub password_hash: Option<String>,
    /// Hash of the API key; none for password accounts.
    pub api_key_hash: Option<String>,
    pub disabled: bool,
    pub created_at: String,
    /// Failed logins since the last success.
    pub failed_logins: u32,
    pub last_failed_at: Option<String>,
    /// The TOTP secret (base32) when multi-factor authentication is enabled.
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted (a code of this step or an earlier one is
    /// refused: never the same code twice).
    pub totp_last_step: Option<i64>,
}

/// One login session as stored (timestamps as written, `YYYY-MM-DDTHH:MM:SS`, the last
/// use with milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: String,
    pub created_at: String,
    /// The absolute end of the session.
    pub expires_at: String,
    /// When the session was last used (none for sessions made before schema v3: their
    /// creation counts).
    pub last_seen_at: Option<String>,
}

fn ts(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn user_of(r: &crate::db::Row<'_>) -> crate::db::Result<UserRow> {
    Ok(UserRow {
        name: r.get(0)?,
        role: r.get(1)?,
        password_hash: r.get(2)?,
        api_key_hash: r.get(3)?,
        disabled: r.get::<_, i64>(4)? != 0,
        created_at: r.get(5)?,
        failed_logins: r.get::<_, i64>(6)? as u32,
        last_failed_at: r.get(7)?,
        totp_secret: r.get(8)?,
        totp_last_step: r.get(9)?,
    })
}

const USER_COLUMNS: &str = "name, role, password_hash, api_key_hash, disabled, created_at,
    failed_logins, last_failed_at, totp_secret, totp_last_step";

/// A moment to the millisecond (a session's last use: idle limits may be seconds).
pub fn ts_millis(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

impl Store {
    /// Add an account; an existing name is an error.
    pub fn add_user(&mut self, u: &UserRow) -> Result<(), StoreError> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM users WHERE name = ?1", [&u.name], |_| Ok(()))
            .optional()?
            .is_some();
        if exists {
            return Err(StoreError::Conflict(format!(
                "user {} exists already",
                u.name
            )));
        }
        tx.execute(
            "INSERT INTO users (name, role, password_hash, api_key_hash, disabled, created_at,
                failed_logins) VALUES (?1, ?2, ?3, ?4, 0, ?5, 0)",
            params![
                u.name,
                u.role,
                u.password_hash,
                u.api_key_hash,
                u.created_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"),
                [name],
                user_of,
            )
            .optional()?)
    }

    pub fn user_by_api_key(&self, key_hash: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE api_key_hash = ?1"),
                [key_hash],
                user_of,
            )
            .optional()?)
    }

    pub fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))?;
        let rows = stmt.query_map([], user_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Disable an account and end its sessions; false when there is no such user.
    pub fn disable_user(&mut self, name: &str) -> Result<bool, StoreError> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute("UPDATE users SET disabled = 1 WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM sessions WHERE user_name = ?1", [name])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Count a failed login (for slowing down guessing).
    pub fn failed_login(&mut self, name: &str, at: NaiveDateTime) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE users SET failed_logins = failed_logins + 1, last_failed_at = ?2
             WHERE name = ?1",
            params![name, ts(at)],
        )?;
        Ok(())
    }

    pub fn login_succeeded(&mut self, name: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE users SET failed_logins = 0, last_failed_at = NULL WHERE name = ?1",
            [name],
        )?;
        Ok(())
    }

    /// Enable (a base32 secret) or disable (`None`) multi-factor authentication of an
    /// account, in a write transaction (audited by the caller's scope); false when there
    /// is no such user (or, to disable, no password account).
    pub fn set_totp(&mut self, name: &str, secret: Option<&str>) -> Result<bool, StoreError> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE users SET totp_secret = ?2, totp_last_step = NULL WHERE name = ?1",
            params![name, secret],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Take the TOTP time step `step` for `name`: true only when it is later than every
    /// step taken before (one statement, so two servers cannot both take one code).
    pub fn take_totp_step(&mut self, name: &str, step: i64) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE users SET totp_last_step = ?2
             WHERE name = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            params![name, step],
        )? > 0)
    }

    /// Keep a session: the hash of its token, its user and when it expires.
    pub fn create_session(
        &mut self,
        token_hash: &str,
        user: &str,
        at: NaiveDateTime,
        expires: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let c = self.conn();
        c.execute(
            "DELETE FROM sessions WHERE expires_at < ?1",
            params![ts(at)],
        )?;
        c.execute(
            "INSERT INTO sessions (token_hash, user_name, created_at, expires_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_hash, user, ts(at), ts(expires), ts_millis(at)],
        )?;
        Ok(())
    }

    /// The session of a token hash.
    pub fn session_of(&self, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_name, created_at, expires_at, last_seen_at FROM sessions
                 WHERE token_hash = ?1",
                [token_hash],
                |r| {
                    Ok(SessionRow {
                        user: r.get(0)?,
                        created_at: r.get(1)?,
                        expires_at: r.get(2)?,
                        last_seen_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Note that a session was used at `at` (its idle time starts again).
    pub fn touch_session(&mut self, token_hash: &str, at: NaiveDateTime) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
            params![token_hash, ts_millis(at)],
        )?;
        Ok(())
    }

    /// End a session (logging out): its token no longer authenticates.
    pub fn delete_session(&mut self, token_hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?
            > 0)
    }
}
