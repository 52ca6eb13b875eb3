//! Donor storage: the [`DonorStore`] interface and its embedded SQLite implementation.
//!
//! The SQL is kept portable (plain types, `ON CONFLICT` upserts) so that a PostgreSQL
//! backend can implement the same interface. The schema is versioned: each migration runs
//! once, in order, inside a transaction, and is recorded in `schema_migrations`.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use rusqlite::OpenFlags;

use crate::db::{
    params, Connection, DbError, OptionalExtension, Transaction, TransactionBehavior, Value,
};

pub use crate::db::{Connection as DbConnection, Transaction as DbTransaction};

use crate::donor::{CordUnit, Donor, Typing, DONOR_LOCI};
use crate::model::DonorType;
use crate::status::{PermanentReason, Status, StatusChange};
use crate::validate::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// The audit chain is keyed and this process has no key to continue it with.
    #[error(
        "the audit trail is keyed (HMAC-SHA256): writing to it needs its key \
         (--audit-key-file FILE, MEDULLA_AUDIT_KEY_FILE or MEDULLA_AUDIT_KEY)"
    )]
    AuditKeyNeeded,
    #[error("no registry database at {0} (import donors first, or give --db / MEDULLA_DB)")]
    NoDatabase(String),
    #[error("{0}")]
    Conflict(String),
    #[error("donor {0} is not in the registry")]
    NoSuchDonor(String),
    /// A patient, product or other record named by a change does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error("donor {id}: {reason}")]
    Status { id: String, reason: String },
    #[error("stored donor {id}, column {column}: {reason}")]
    Corrupt {
        id: String,
        column: &'static str,
        reason: String,
    },
}

impl StoreError {
    /// Why the database cannot serve now, if that is what this failure is (see
    /// [`DbError::unavailable`]).
    pub fn unavailable(&self) -> Option<&'static str> {
        match self {
            StoreError::Db(e) => e.unavailable(),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(DbError::Sqlite(e))
    }
}

impl Decision {
    /// What the decision means for the report.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Decision::Unchanged(s) => Outcome::Applied(Applied::Unchanged, s.clone()),
            Decision::Write {
                applied, status, ..
            } => Outcome::Applied(*applied, status.clone()),
            Decision::Refuse(e) => Outcome::Refused(e.clone()),
        }
    }
}

/// What applying one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    New,
    Updated,
    Unchanged,
}

/// Add a row to a donor's status history.
fn insert_history(
    tx: &Transaction<'_>,
    id: &str,
    at: &str,
    by: &str,
    status: &Status,
    note: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO status_history (donor_id, changed_at, changed_by, status,
            status_reason, status_until, status_patient, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(history_values(id, at, by, status, note))?;
    Ok(())
}

/// Timestamps are stored as ISO 8601 text (`2026-02-01T10:00:00`).
pub(crate) fn timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

/// Stored status columns: code, reason, until, patient.
type StatusRow = (String, Option<String>, Option<String>, Option<String>);

/// The ordered schema migrations.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE donors (
        id TEXT PRIMARY KEY,
        grid TEXT UNIQUE,
        registry TEXT NOT NULL,
        donor_type TEXT NOT NULL,
        sex TEXT,
        birth_date TEXT,
        abo TEXT,
        rh TEXT,
        cmv TEXT,
        population TEXT,
        recruitment_date TEXT,
        tnc_1e7 REAL,
        cd34_1e6 REAL,
        volume_ml REAL,
        typing_date TEXT,
        a_1 TEXT, a_2 TEXT, b_1 TEXT, b_2 TEXT, c_1 TEXT, c_2 TEXT,
        drb1_1 TEXT, drb1_2 TEXT, dqb1_1 TEXT, dqb1_2 TEXT, dpb1_1 TEXT, dpb1_2 TEXT,
        hla_gl TEXT NOT NULL,
        imgt_version TEXT NOT NULL,
        status TEXT NOT NULL,
        status_reason TEXT,
        status_until TEXT,
        status_patient TEXT,
        content_hash INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE status_history (
        donor_id TEXT NOT NULL REFERENCES donors(id),
        changed_at TEXT NOT NULL,
        changed_by TEXT NOT NULL,
        status TEXT NOT NULL,
        status_reason TEXT,
        status_until TEXT,
        status_patient TEXT,
        note TEXT NOT NULL
    );
    CREATE INDEX status_history_donor ON status_history(donor_id);
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        file TEXT NOT NULL,
        started_at TEXT NOT NULL,
        records INTEGER NOT NULL,
        new_donors INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        unchanged INTEGER NOT NULL,
        rejected INTEGER NOT NULL
    );",
    ),
    (
        2,
        "ALTER TABLE donors ADD COLUMN drb3_1 TEXT;
        ALTER TABLE donors ADD COLUMN drb3_2 TEXT;
        ALTER TABLE donors ADD COLUMN drb4_1 TEXT;
        ALTER TABLE donors ADD COLUMN drb4_2 TEXT;
        ALTER TABLE donors ADD COLUMN drb5_1 TEXT;
        ALTER TABLE donors ADD COLUMN drb5_2 TEXT;
        ALTER TABLE donors ADD COLUMN dqa1_1 TEXT;
        ALTER TABLE donors ADD COLUMN dqa1_2 TEXT;
        ALTER TABLE donors ADD COLUMN dpa1_1 TEXT;
        ALTER TABLE donors ADD COLUMN dpa1_2 TEXT;",
    ),
    (
        3,
        "CREATE TABLE saved_searches (
            name TEXT PRIMARY KEY,
            request TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_run_at TEXT NOT NULL
        );
        CREATE TABLE saved_search_matches (
            search TEXT NOT NULL REFERENCES saved_searches(name) ON DELETE CASCADE,
            donor_id TEXT NOT NULL,
            grade TEXT NOT NULL,
            content_hash INTEGER NOT NULL,
            PRIMARY KEY (search, donor_id)
        );",
    ),
    (
        4,
        "CREATE TABLE donor_identity (
            donor_id TEXT PRIMARY KEY REFERENCES donors(id) ON DELETE CASCADE,
            name TEXT, address TEXT, phone TEXT, email TEXT
        );",
    ),
    (
        5,
        "CREATE TABLE patients (
            id TEXT PRIMARY KEY,
            birth_date TEXT, sex TEXT, weight_kg REAL, abo TEXT, rh TEXT, cmv TEXT,
            diagnosis TEXT, stage TEXT, urgency TEXT, centre TEXT, population TEXT,
            hla_gl TEXT NOT NULL, typing_date TEXT, typing_lab TEXT,
            status TEXT NOT NULL, status_reason TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        CREATE TABLE patient_identity (
            patient_id TEXT PRIMARY KEY REFERENCES patients(id) ON DELETE CASCADE,
            name TEXT, address TEXT, phone TEXT, email TEXT
        );
        CREATE TABLE patient_history (
            patient_id TEXT NOT NULL REFERENCES patients(id),
            changed_at TEXT NOT NULL, changed_by TEXT NOT NULL,
            status TEXT NOT NULL, status_reason TEXT, note TEXT NOT NULL
        );
        CREATE INDEX patient_history_patient ON patient_history(patient_id);
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            patient_id TEXT NOT NULL REFERENCES patients(id),
            donor_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            state TEXT NOT NULL,
            state_detail TEXT NOT NULL,
            opened_on TEXT NOT NULL,
            opened_by TEXT NOT NULL,
            note TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX requests_pair ON requests(patient_id, donor_id);
        CREATE INDEX requests_donor ON requests(donor_id);
        CREATE INDEX requests_state ON requests(state);
        CREATE TABLE request_events (
            request_id TEXT NOT NULL REFERENCES requests(id),
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            event TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE INDEX request_events_request ON request_events(request_id);
        CREATE TABLE workups (
            request_id TEXT PRIMARY KEY REFERENCES requests(id),
            journey TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE tasks (
            request_id TEXT NOT NULL REFERENCES requests(id),
            task TEXT NOT NULL,
            due TEXT NOT NULL,
            PRIMARY KEY (request_id, task)
        );
        CREATE INDEX tasks_due ON tasks(due);
        CREATE TABLE family_members (
            patient_id TEXT NOT NULL REFERENCES patients(id),
            member_id TEXT NOT NULL,
            relation TEXT NOT NULL,
            hla_gl TEXT NOT NULL,
            added_at TEXT NOT NULL,
            added_by TEXT NOT NULL,
            PRIMARY KEY (patient_id, member_id)
        );
        CREATE TABLE products (
            id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(id),
            collected TEXT NOT NULL,
            agents TEXT, volume_ml REAL, tnc_1e8 REAL,
            cd34_1e6 REAL NOT NULL, viability REAL, bags INTEGER,
            tank TEXT, rack TEXT, position TEXT, expires TEXT,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        CREATE INDEX products_patient ON products(patient_id);
        CREATE TABLE product_history (
            product_id TEXT NOT NULL REFERENCES products(id),
            changed_at TEXT NOT NULL, changed_by TEXT NOT NULL,
            status TEXT NOT NULL, note TEXT NOT NULL
        );",
    ),
    (
        6,
        // exchange with foreign registries. `requests` is rebuilt: a request opened by a
        // partner registry names that registry's patient, who is not registered here, so
        // its patient no longer references `patients` (the application checks our own)
        "CREATE TABLE requests_v6 (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            patient_id TEXT NOT NULL,
            donor_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            state TEXT NOT NULL,
            state_detail TEXT NOT NULL,
            opened_on TEXT NOT NULL,
            opened_by TEXT NOT NULL,
            note TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            origin TEXT,
            partner TEXT,
            reference TEXT UNIQUE
        );
        INSERT INTO requests_v6 (id, seq, patient_id, donor_id, kind, subject, state,
            state_detail, opened_on, opened_by, note, updated_at)
        SELECT id, seq, patient_id, donor_id, kind, subject, state, state_detail, opened_on,
            opened_by, note, updated_at FROM requests;
        DROP TABLE requests;
        ALTER TABLE requests_v6 RENAME TO requests;
        CREATE INDEX requests_pair ON requests(patient_id, donor_id);
        CREATE INDEX requests_donor ON requests(donor_id);
        CREATE INDEX requests_state ON requests(state);
        CREATE INDEX requests_partner ON requests(partner);
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE exchange_partners (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            api_key TEXT NOT NULL,
            ion TEXT UNIQUE,
            added_at TEXT NOT NULL
        );
        CREATE TABLE exchange_accounts (
            user_name TEXT PRIMARY KEY,
            ion TEXT NOT NULL UNIQUE
        );
        CREATE TABLE exchange_outbox (
            id TEXT PRIMARY KEY,
            partner TEXT NOT NULL REFERENCES exchange_partners(name),
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            sent_at TEXT,
            answered_at TEXT,
            remark TEXT,
            UNIQUE (partner, seq)
        );
        CREATE INDEX exchange_outbox_state ON exchange_outbox(partner, state, seq);
        CREATE TABLE exchange_inbox (
            id TEXT PRIMARY KEY,
            sender TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at TEXT NOT NULL,
            state TEXT NOT NULL,
            remark TEXT,
            applied_at TEXT,
            deliveries INTEGER NOT NULL DEFAULT 1,
            UNIQUE (sender, seq)
        );
        CREATE TABLE exchange_inbound (
            sender TEXT PRIMARY KEY,
            last_applied INTEGER NOT NULL
        );
        CREATE TABLE exchange_patients (
            ion TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            facts TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (ion, patient_id)
        );",
    ),
    (
        7,
        // the change sequence every server of the registry follows to keep its search
        // index current: one row per write to a donor, by any process
        // (a rowid key: new positions follow the highest, so keep the last row when pruning)
        "CREATE TABLE donor_changes (
            seq INTEGER PRIMARY KEY,
            donor_id TEXT NOT NULL
        );
        CREATE TRIGGER donor_changes_insert AFTER INSERT ON donors
            BEGIN INSERT INTO donor_changes (donor_id) VALUES (NEW.id); END;
        CREATE TRIGGER donor_changes_update AFTER UPDATE ON donors
            BEGIN INSERT INTO donor_changes (donor_id) VALUES (NEW.id); END;
        CREATE TRIGGER donor_changes_delete AFTER DELETE ON donors
            BEGIN INSERT INTO donor_changes (donor_id) VALUES (OLD.id); END;",
    ),
    (
        8,
        // the imports log counts the donors an import deleted too
        "ALTER TABLE imports ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;",
    ),
    (
        9,
        // every change's audit entry, written in the change's own transaction; taken into
        // the chain of the security database by `audit::absorb` (a rowid key: new entries
        // follow the highest, so the last row is kept when pruning)
        "CREATE TABLE audit_pending (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        CREATE TRIGGER audit_pending_unchanged BEFORE UPDATE ON audit_pending
            BEGIN SELECT RAISE(ABORT, 'audit entries are never changed'); END;",
    ),
    (
        10,
        // a message's id is its sender's: the same UUID from two senders is two messages
        // (one partner cannot shadow another's message by reusing its id)
        "CREATE TABLE exchange_inbox_v10 (
            id TEXT NOT NULL,
            sender TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at TEXT NOT NULL,
            state TEXT NOT NULL,
            remark TEXT,
            applied_at TEXT,
            deliveries INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (sender, id),
            UNIQUE (sender, seq)
        );
        INSERT INTO exchange_inbox_v10 (id, sender, seq, kind, reference, body, received_at,
            state, remark, applied_at, deliveries)
        SELECT id, sender, seq, kind, reference, body, received_at, state, remark, applied_at,
            deliveries FROM exchange_inbox;
        DROP TABLE exchange_inbox;
        ALTER TABLE exchange_inbox_v10 RENAME TO exchange_inbox;",
    ),
];

/// The latest schema version of the registry.
pub const SCHEMA_VERSION: i64 = 10;

/// Version 10 on PostgreSQL: the inbox's key becomes (sender, id) in place.
const PG_V10: &str = "ALTER TABLE exchange_inbox DROP CONSTRAINT exchange_inbox_pkey;
    ALTER TABLE exchange_inbox ADD PRIMARY KEY (sender, id);";

/// Version 6 on PostgreSQL: `requests` loses its foreign key to `patients` in place (SQLite
/// rebuilds the table), then the exchange tables as on SQLite.
const PG_V6_REQUESTS: &str =
    "ALTER TABLE requests DROP CONSTRAINT IF EXISTS requests_patient_id_fkey;
    ALTER TABLE requests ADD COLUMN origin TEXT COLLATE \"C\";
    ALTER TABLE requests ADD COLUMN partner TEXT COLLATE \"C\";
    ALTER TABLE requests ADD COLUMN reference TEXT COLLATE \"C\" UNIQUE;
    CREATE INDEX requests_partner ON requests(partner);";

/// Version 7 on PostgreSQL: the change sequence written by statement triggers (one insert
/// of many rows per statement, so that a bulk import pays little), with a notification.
const PG_V7: &str = "CREATE TABLE donor_changes (
        seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        donor_id TEXT COLLATE \"C\" NOT NULL
    );
    CREATE FUNCTION medulla_donor_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO donor_changes (donor_id) SELECT id FROM old_rows;
        ELSE
            INSERT INTO donor_changes (donor_id) SELECT id FROM new_rows;
        END IF;
        PERFORM pg_notify('medulla_donor_changes', '');
        RETURN NULL;
    END $$;
    CREATE TRIGGER donor_changes_insert AFTER INSERT ON donors
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION medulla_donor_changes();
    CREATE TRIGGER donor_changes_update AFTER UPDATE ON donors
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION medulla_donor_changes();
    CREATE TRIGGER donor_changes_delete AFTER DELETE ON donors
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
        EXECUTE FUNCTION medulla_donor_changes();";

/// Version 9 on PostgreSQL: pending audit entries are never changed.
const PG_V9_TRIGGER: &str = "CREATE FUNCTION medulla_audit_pending_unchanged() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit entries are never changed';
    END $$;
    CREATE TRIGGER audit_pending_unchanged BEFORE UPDATE ON audit_pending
        FOR EACH ROW EXECUTE FUNCTION medulla_audit_pending_unchanged();";

/// The append-only audit trail on PostgreSQL.
const PG_AUDIT_APPEND_ONLY: &str = "CREATE FUNCTION medulla_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only';
    END $$;
    CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION medulla_audit_append_only();";

/// The registry's migrations as PostgreSQL runs them: the same versions, each translated
/// from SQLite's dialect or written for PostgreSQL where SQLite's way differs.
fn pg_migrations() -> Vec<(i64, String)> {
    MIGRATIONS
        .iter()
        .map(|(v, sql)| {
            let pg = match v {
                6 => {
                    let marker = "CREATE INDEX requests_partner ON requests(partner);";
                    let tail = sql.split_once(marker).map_or("", |(_, t)| t);
                    format!("{PG_V6_REQUESTS}\n{}", crate::db::translate_ddl(tail))
                }
                7 => PG_V7.to_string(),
                10 => PG_V10.to_string(),
                9 => {
                    let table = sql.split("CREATE TRIGGER").next().unwrap_or(sql);
                    format!("{}\n{PG_V9_TRIGGER}", crate::db::translate_ddl(table))
                }
                _ => crate::db::translate_ddl(sql),
            };
            (*v, pg)
        })
        .collect()
}

fn pg_security_migrations() -> Vec<(i64, String)> {
    SECURITY_MIGRATIONS
        .iter()
        .map(|(v, sql)| {
            if *v == 4 {
                return (
                    *v,
                    format!(
                        "{}\n{PG_SECURITY_V4_TRUNCATE}",
                        crate::db::translate_ddl(sql)
                    ),
                );
            }
            if *v != 1 {
                return (*v, crate::db::translate_ddl(sql));
            }
            let tables = sql.split("CREATE TRIGGER").next().unwrap_or(sql);
            (
                *v,
                format!(
                    "{}\n{PG_AUDIT_APPEND_ONLY}",
                    crate::db::translate_ddl(tables)
                ),
            )
        })
        .collect()
}

/// A registry database named by `--db`: a PostgreSQL URL, or else the path of a SQLite file.
pub fn is_postgres(location: &Path) -> bool {
    location
        .to_str()
        .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// A database location as it may be shown: a PostgreSQL URL without its password.
pub fn display_location(location: &Path) -> String {
    let s = location.display().to_string();
    if !is_postgres(location) {
        return s;
    }
    match (s.find("://"), s.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &s[scheme + 3..at];
            match user.split_once(':') {
                Some((name, _)) => format!("{}{name}:***{}", &s[..scheme + 3], &s[at..]),
                None => s,
            }
        }
        _ => s,
    }
}

/// Whether the registry database at `location` exists (a PostgreSQL database holding a
/// registry schema, or a file).
pub fn location_exists(location: &Path) -> bool {
    if !is_postgres(location) {
        return location.is_file();
    }
    Store::open_existing(location).is_ok()
}

/// The schema of the registry on PostgreSQL, and of its security tables.
pub const PG_SCHEMA: &str = "medulla";
pub const PG_SECURITY_SCHEMA: &str = "medulla_security";
/// Advisory locks serializing the writers of each schema.
const PG_REGISTRY_LOCK: i64 = 0x4d45_444c_0001;
const PG_SECURITY_LOCK: i64 = 0x4d45_444c_0002;

/// The schema of the security database beside the registry (`NAME.security.db`): accounts,
/// sessions and the audit trail. Kept in a file of its own so that a long import holding
/// the registry's write lock never delays a login or the audit entry of a search.
const SECURITY_MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            password_hash TEXT,
            api_key_hash TEXT UNIQUE,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            last_failed_at TEXT
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_name TEXT NOT NULL REFERENCES users(name),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX audit_actor ON audit(actor);
        CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
        CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",
    ),
    (
        2,
        // how far the registry's pending audit entries have been taken into the chain
        "CREATE TABLE audit_absorbed (
            source TEXT PRIMARY KEY,
            upto INTEGER NOT NULL
        );",
    ),
    (
        3,
        // multi-factor authentication (a TOTP secret, base32, and the last time step
        // accepted: a code is never taken twice) and the idle time of a session (when
        // it was last used)
        "ALTER TABLE users ADD COLUMN totp_secret TEXT;
        ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
        ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;",
    ),
    (
        4,
        // which scheme made each entry's hash: `sha256` (unkeyed: every entry before this
        // version, and entries written without an audit key) or `hmac-sha256` (keyed)
        "ALTER TABLE audit ADD COLUMN scheme TEXT NOT NULL DEFAULT 'sha256';",
    ),
];

/// The latest schema version of the security database.
pub const SECURITY_SCHEMA_VERSION: i64 = 4;

/// Version 4 on PostgreSQL, beside the column: `TRUNCATE` fires no row trigger, so the
/// append-only trail refuses it with a statement trigger of its own.
const PG_SECURITY_V4_TRUNCATE: &str = "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION medulla_audit_append_only();";

/// The columns of a donor row as written, in order.
pub(crate) const DONOR_COLUMNS: [&str; 45] = [
    "id",
    "grid",
    "registry",
    "donor_type",
    "sex",
    "birth_date",
    "abo",
    "rh",
    "cmv",
    "population",
    "recruitment_date",
    "tnc_1e7",
    "cd34_1e6",
    "volume_ml",
    "typing_date",
    "a_1",
    "a_2",
    "b_1",
    "b_2",
    "c_1",
    "c_2",
    "drb1_1",
    "drb1_2",
    "dqb1_1",
    "dqb1_2",
    "dpb1_1",
    "dpb1_2",
    "hla_gl",
    "imgt_version",
    "status",
    "status_reason",
    "status_until",
    "status_patient",
    "content_hash",
    "updated_at",
    "drb3_1",
    "drb3_2",
    "drb4_1",
    "drb4_2",
    "drb5_1",
    "drb5_2",
    "dqa1_1",
    "dqa1_2",
    "dpa1_1",
    "dpa1_2",
];

/// `ON CONFLICT (id) DO UPDATE SET` every column but the id.
pub(crate) fn donor_update_set() -> String {
    DONOR_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Insert or update one donor row: the values of [`donor_values`].
fn upsert_donor_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let params: Vec<String> = (1..=DONOR_COLUMNS.len()).map(|i| format!("?{i}")).collect();
        format!(
            "INSERT INTO donors ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
            DONOR_COLUMNS.join(", "),
            params.join(", "),
            donor_update_set()
        )
    })
}

/// A record as the values of a donor row, in [`DONOR_COLUMNS`] order.
pub(crate) fn donor_values(r: &StoredRecord, status: &Status, hash: i64, at: &str) -> Vec<Value> {
    let d = &r.donor;
    let text = |s: Option<String>| s.map_or(Value::Null, Value::Text);
    let (code, reason, until, patient) = status_columns(status);
    let hla: Vec<Value> = d
        .typing
        .positions
        .iter()
        .flat_map(|p| p.iter().map(|x| text(x.clone())))
        .collect();
    let (tnc, cd34, vol) = match d.cord {
        Some(c) => (c.tnc_1e7, c.cd34_1e6, c.volume_ml),
        None => (None, None, None),
    };
    let real = |x: Option<f64>| x.map_or(Value::Null, Value::Real);
    let mut v = vec![
        Value::Text(d.id.clone()),
        text(d.grid.as_ref().map(|g| g.as_str().to_string())),
        Value::Text(d.registry.clone()),
        Value::Text(d.donor_type.to_string()),
        text(d.sex.map(|s| s.to_string())),
        text(d.birth_date.map(|x| x.to_string())),
        text(d.abo.map(|s| s.to_string())),
        text(d.rh.map(|s| s.to_string())),
        text(d.cmv.map(|s| s.to_string())),
        text(d.population.clone()),
        text(d.recruitment_date.map(|x| x.to_string())),
        real(tnc),
        real(cd34),
        real(vol),
        text(d.typing.date.map(|x| x.to_string())),
    ];
    v.extend(hla[..12].iter().cloned());
    v.extend([
        Value::Text(r.hla_gl.clone()),
        Value::Text(r.imgt_version.clone()),
        Value::Text(code.to_string()),
        text(reason),
        text(until),
        text(patient),
        Value::Int(hash),
        Value::Text(at.to_string()),
    ]);
    v.extend(hla[12..].iter().cloned());
    v
}

/// A status as the values of a status-history row (after the donor id and time).
pub(crate) fn history_values(
    id: &str,
    at: &str,
    by: &str,
    status: &Status,
    note: &str,
) -> Vec<Value> {
    let text = |s: Option<String>| s.map_or(Value::Null, Value::Text);
    let (code, reason, until, patient) = status_columns(status);
    vec![
        Value::Text(id.to_string()),
        Value::Text(at.to_string()),
        Value::Text(by.to_string()),
        Value::Text(code.to_string()),
        text(reason),
        text(until),
        text(patient),
        Value::Text(note.to_string()),
    ]
}

/// The typed columns of a donor row, in `DONOR_LOCI` order.
const HLA_COLUMNS: [[&str; 2]; 11] = [
    ["a_1", "a_2"],
    ["b_1", "b_2"],
    ["c_1", "c_2"],
    ["drb1_1", "drb1_2"],
    ["dqb1_1", "dqb1_2"],
    ["dpb1_1", "dpb1_2"],
    ["drb3_1", "drb3_2"],
    ["drb4_1", "drb4_2"],
    ["drb5_1", "drb5_2"],
    ["dqa1_1", "dqa1_2"],
    ["dpa1_1", "dpa1_2"],
];

/// Storage of donors, their statuses and status history.
pub trait DonorStore {
    /// Start applying records in one transaction: dropping the session without `commit`
    /// leaves the store as it was.
    fn session(&mut self) -> Result<Box<dyn ImportSession + '_>, StoreError>;
    fn donor(&self, id: &str) -> Result<Option<(Donor, Status)>, StoreError>;
    fn history(&self, id: &str) -> Result<Vec<StatusChange>, StoreError>;
    fn set_status(&mut self, id: &str, change: StatusChange) -> Result<(), StoreError>;
    /// Every donor, in id order.
    fn for_each_donor(
        &self,
        f: &mut dyn FnMut(Donor, Status) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    fn count(&self) -> Result<u64, StoreError>;
}

/// What an import did with one record: applied (new, updated or unchanged, with the
/// status the donor has after it), or refused by a rule of the registry.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Applied(Applied, Status),
    Refused(FieldError),
}

/// What the registry holds of a donor a record names, as an import decides by it.
#[derive(Debug, Clone)]
pub(crate) struct StoredFacts {
    pub hash: i64,
    pub status: Status,
    pub grid: Option<String>,
}

/// The one decision of both import sessions (SQLite and PostgreSQL) for a record.
pub(crate) enum Decision {
    Unchanged(Status),
    Write {
        applied: Applied,
        /// The status the donor has after the write: the record's, or when the record
        /// says nothing, the stored one (a new donor: available).
        status: Status,
        hash: i64,
        status_changed: bool,
    },
    Refuse(FieldError),
}

fn rule_error(field: &str, rule: &str, message: String) -> FieldError {
    FieldError {
        field: field.into(),
        reason: format!("[{rule}] {message}"),
    }
}

/// Decide what an import does with `r`, given what is stored for its id (`stored`), the
/// donor holding the record's GRID (`grid_holder`, asked only when the GRID is new for
/// the donor) and the open reservation or workup request holding the donor (`holding`,
/// asked only when the record changes the status). Nothing the registry decided is
/// undone by a file: a record without a status keeps the stored one; a status change
/// follows the rules of `donors set-status`, and never touches a donor an open request
/// holds; a GRID belongs to one donor.
pub(crate) fn decide(
    stored: Option<&StoredFacts>,
    r: &StoredRecord,
    today: NaiveDate,
    grid_holder: &mut dyn FnMut(&str) -> Result<Option<String>, StoreError>,
    holding: &mut dyn FnMut() -> Result<Option<String>, StoreError>,
) -> Result<Decision, StoreError> {
    let id = &r.donor.id;
    if let Some(g) = &r.donor.grid {
        let g = g.as_str();
        if stored.and_then(|s| s.grid.as_deref()) != Some(g) {
            if let Some(other) = grid_holder(g)?.filter(|o| o != id) {
                return Ok(Decision::Refuse(FieldError {
                    field: "grid".into(),
                    reason: format!("{g} is already the GRID of donor {other}"),
                }));
            }
        }
    }
    let status = match (&r.status, stored) {
        (Some(s), Some(st)) if *s != st.status => {
            if let Err(e) = st.status.check_transition(s, today) {
                return Ok(Decision::Refuse(rule_error(
                    "status",
                    e.rule(),
                    format!("donor {id} is {}: {e}", st.status),
                )));
            }
            if let Some(req) = holding()? {
                return Ok(Decision::Refuse(rule_error(
                    "status",
                    "reserved-by-open-request",
                    format!(
                        "donor {id} is held by open request {req}: its status changes \
                         through the request only"
                    ),
                )));
            }
            s.clone()
        }
        (Some(s), _) => s.clone(),
        (None, Some(st)) => st.status.clone(),
        (None, None) => Status::Available,
    };
    let hash = content_hash(&r.donor, &status);
    Ok(match stored {
        Some(st) if st.hash == hash => Decision::Unchanged(status),
        Some(st) => Decision::Write {
            applied: Applied::Updated,
            status_changed: st.status != status,
            status,
            hash,
        },
        None => Decision::Write {
            applied: Applied::New,
            status,
            hash,
            status_changed: true,
        },
    })
}

/// Why a donor cannot be deleted by an import: an open request, or a reservation.
pub(crate) fn refuse_deletion(
    tx: &Connection,
    id: &str,
    field: &str,
) -> Result<Option<FieldError>, StoreError> {
    let open: Option<String> = tx
        .prepare_cached(
            "SELECT id FROM requests WHERE donor_id = ?1
                AND state IN ('open', 'acknowledged', 'partially-resulted') ORDER BY seq LIMIT 1",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if let Some(req) = open {
        return Ok(Some(rule_error(
            field,
            "open-request",
            format!("donor {id} has open request {req}: it is not deleted"),
        )));
    }
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM donors WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if status.as_deref() == Some("reserved") {
        return Ok(Some(rule_error(
            field,
            "reserved",
            format!("donor {id} is reserved: it is not deleted"),
        )));
    }
    Ok(None)
}

/// The open reservation or workup request holding donor `id` (the oldest), if any.
pub fn holding_request(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(HOLDING_REQUEST_SQL, [id], |r| r.get::<_, String>(0))
        .optional()?)
}

/// The open reservation or workup request holding a donor (the oldest), if any.
pub(crate) const HOLDING_REQUEST_SQL: &str = "SELECT id FROM requests WHERE donor_id = ?1
    AND kind IN ('reservation', 'workup')
    AND state IN ('open', 'acknowledged', 'partially-resulted') ORDER BY seq LIMIT 1";

/// Write the `imports` log row of an import, inside its transaction.
pub(crate) fn log_import(
    tx: &Transaction<'_>,
    file: &str,
    at: NaiveDateTime,
    counts: [u64; 6],
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO imports (file, started_at, records, new_donors, updated, unchanged, rejected,
            deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            file,
            timestamp(at),
            counts[0] as i64,
            counts[1] as i64,
            counts[2] as i64,
            counts[3] as i64,
            counts[4] as i64,
            counts[5] as i64
        ],
    )?;
    Ok(())
}

/// Records applied inside one transaction.
pub trait ImportSession {
    /// Apply a record, or refuse it when it would undo what the registry decided.
    fn apply(
        &mut self,
        r: &StoredRecord,
        by: &str,
        at: NaiveDateTime,
    ) -> Result<Outcome, StoreError>;
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// What applying `r` on `today` would do, without doing it.
    fn compare(&mut self, r: &StoredRecord, today: NaiveDate) -> Result<Outcome, StoreError>;
    fn exists(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Delete a donor and its history: false when there was none, a refusal (on `field`)
    /// when an open request or a reservation holds the donor.
    fn delete(&mut self, id: &str, field: &str) -> Result<Result<bool, FieldError>, StoreError>;
    /// Ids of the donors of a registry.
    fn ids_of_registry(&mut self, registry: &str) -> Result<Vec<String>, StoreError>;
    /// The donors and GRIDs the next records will name, read ahead in one query each
    /// where that pays (PostgreSQL); nothing on SQLite.
    fn prefetch(&mut self, _ids: &[&str], _grids: &[&str]) -> Result<(), StoreError> {
        Ok(())
    }
    /// The session's transaction, with everything applied so far written to it (for the
    /// imports log row and a caller's `before_commit`).
    fn transaction(&mut self) -> Result<&Transaction<'_>, StoreError>;
}

struct SqliteSession<'c> {
    tx: Transaction<'c>,
}

impl SqliteSession<'_> {
    fn stored(&self, id: &str) -> Result<Option<StoredFacts>, StoreError> {
        let row: Option<(i64, StatusRow, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT content_hash, status, status_reason, status_until, status_patient, grid
                 FROM donors WHERE id = ?1",
            )?
            .query_row([id], |row| {
                Ok((
                    row.get(0)?,
                    (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?),
                    row.get(5)?,
                ))
            })
            .optional()?;
        row.map(|(hash, (c, re, u, p), grid)| {
            Ok(StoredFacts {
                hash,
                status: status_from_columns(id, &c, re, u, p)?,
                grid,
            })
        })
        .transpose()
    }

    fn decide(
        &self,
        r: &StoredRecord,
        today: NaiveDate,
    ) -> Result<(Option<StoredFacts>, Decision), StoreError> {
        let stored = self.stored(&r.donor.id)?;
        let tx = &self.tx;
        let decision = decide(
            stored.as_ref(),
            r,
            today,
            &mut |g| {
                Ok(tx
                    .prepare_cached("SELECT id FROM donors WHERE grid = ?1")?
                    .query_row([g], |row| row.get(0))
                    .optional()?)
            },
            &mut || {
                Ok(tx
                    .prepare_cached(HOLDING_REQUEST_SQL)?
                    .query_row([&r.donor.id], |row| row.get(0))
                    .optional()?)
            },
        )?;
        Ok((stored, decision))
    }
}

impl ImportSession for SqliteSession<'_> {
    fn apply(
        &mut self,
        r: &StoredRecord,
        by: &str,
        at: NaiveDateTime,
    ) -> Result<Outcome, StoreError> {
        let (_, decision) = self.decide(r, at.date())?;
        Store::apply_one(&self.tx, r, decision, by, &timestamp(at))
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        Ok(self.tx.commit()?)
    }

    fn compare(&mut self, r: &StoredRecord, today: NaiveDate) -> Result<Outcome, StoreError> {
        Ok(self.decide(r, today)?.1.outcome())
    }

    fn transaction(&mut self) -> Result<&Transaction<'_>, StoreError> {
        Ok(&self.tx)
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM donors WHERE id = ?1")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn delete(&mut self, id: &str, field: &str) -> Result<Result<bool, FieldError>, StoreError> {
        if let Some(refusal) = refuse_deletion(&self.tx, id, field)? {
            return Ok(Err(refusal));
        }
        self.tx
            .prepare_cached("DELETE FROM status_history WHERE donor_id = ?1")?
            .execute([id])?;
        Ok(Ok(self
            .tx
            .prepare_cached("DELETE FROM donors WHERE id = ?1")?
            .execute([id])?
            > 0))
    }

    fn ids_of_registry(&mut self, registry: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT id FROM donors WHERE registry = ?1 ORDER BY id")?;
        let ids = stmt
            .query_map([registry], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }
}

/// A donor as stored: the record, its status and the canonical GL String of its typing.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub donor: Donor,
    /// The status the record gives (`None`: the record says nothing; the stored status,
    /// or available for a new donor, stays).
    pub status: Option<Status>,
    /// The whole typing as one GL String in canonical form (v2 names as v3), validated on
    /// the release named by `imgt_version`.
    pub hla_gl: String,
    pub imgt_version: String,
    /// Name and contact details, stored apart (the `donor_identity` table).
    pub identity: Option<crate::identity::Identity>,
}

fn location_str(location: &Path) -> Result<&str, StoreError> {
    location
        .to_str()
        .ok_or_else(|| StoreError::NoDatabase(location.display().to_string()))
}

/// The registry's database: SQLite (one file, or in memory) or PostgreSQL.
pub struct Store {
    conn: Connection,
}

pub(crate) fn status_columns(
    s: &Status,
) -> (&'static str, Option<String>, Option<String>, Option<String>) {
    match s {
        Status::Available => ("available", None, None, None),
        Status::TemporarilyUnavailable { reason, until } => (
            "temporarily-unavailable",
            Some(reason.clone()),
            Some(until.to_string()),
            None,
        ),
        Status::Reserved { patient, until } => (
            "reserved",
            None,
            Some(until.to_string()),
            Some(patient.clone()),
        ),
        Status::PermanentlyUnavailable { reason } => (
            "permanently-unavailable",
            Some(reason.to_string()),
            None,
            None,
        ),
    }
}

pub(crate) fn status_from_columns(
    id: &str,
    code: &str,
    reason: Option<String>,
    until: Option<String>,
    patient: Option<String>,
) -> Result<Status, StoreError> {
    let corrupt = |column, reason: String| StoreError::Corrupt {
        id: id.to_string(),
        column,
        reason,
    };
    let until = || -> Result<NaiveDate, StoreError> {
        until
            .as_deref()
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| corrupt("status_until", "missing or not a date".into()))
    };
    Ok(match code {
        "available" => Status::Available,
        "temporarily-unavailable" => Status::TemporarilyUnavailable {
            reason: reason.unwrap_or_default(),
            until: until()?,
        },
        "reserved" => Status::Reserved {
            patient: patient.unwrap_or_default(),
            until: until()?,
        },
        "permanently-unavailable" => Status::PermanentlyUnavailable {
            reason: reason
                .unwrap_or_default()
                .parse::<PermanentReason>()
                .map_err(|e| corrupt("status_reason", e))?,
        },
        other => return Err(corrupt("status", format!("unknown status {other:?}"))),
    })
}

/// A stable hash of everything a donor record holds, with the status the donor has
/// (FNV-1a over its canonical text).
pub fn content_hash(d: &Donor, status: &Status) -> i64 {
    let text = format!(
        "{}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        d.id,
        d.grid.as_ref().map(|g| g.as_str()),
        d.registry,
        d.donor_type,
        d.sex,
        d.birth_date,
        d.abo,
        d.rh,
        d.cmv,
        d.population,
        d.recruitment_date,
        d.cord,
        d.typing.positions,
        d.typing.date,
        status,
    );
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h as i64
}

/// Called once when a writer has to wait for another (set by the command line to say so).
static WAIT_NOTICE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Have `notice` called when a write must wait for another writer's transaction.
pub fn on_writer_wait(notice: fn()) {
    let _ = WAIT_NOTICE.set(notice);
}

/// SQLite's busy handler: writers wait their turn (up to ten minutes) instead of failing
/// with "database is locked".
fn wait_turn(tries: i32) -> bool {
    if tries == 0 {
        if let Some(notice) = WAIT_NOTICE.get() {
            notice();
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    tries < 30_000
}

/// Whether the database at `location` can serve reads and writes now: a fresh connection
/// (so that a server's long operation does not hold the answer up), a read, and whether
/// writes would be refused (a read-only file or file system; a PostgreSQL standby or a
/// database set read-only). The reason when not, in words fit for an operator (no raw
/// database message).
pub fn probe_database(location: &Path) -> Result<(), &'static str> {
    const UNREACHABLE: &str = "the database cannot be reached";
    if is_postgres(location) {
        let Ok(url) = location_str(location) else {
            return Err(UNREACHABLE);
        };
        let conn = Connection::postgres(url, PG_SCHEMA, PG_REGISTRY_LOCK)
            .map_err(|e| e.unavailable().unwrap_or(UNREACHABLE))?;
        let read_only: bool = conn
            .query_row(
                "SELECT current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery()",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.unavailable().unwrap_or(UNREACHABLE))?;
        return if read_only {
            Err("the database is read-only")
        } else {
            Ok(())
        };
    }
    if !location.is_file() {
        return Err(UNREACHABLE);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(location, flags)
        .map_err(|e| DbError::Sqlite(e).unavailable().unwrap_or(UNREACHABLE))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| DbError::Sqlite(e).unavailable().unwrap_or(UNREACHABLE))?;
    // opened read-write "if possible": a write-protected file comes back read-only
    if conn
        .is_readonly(rusqlite::DatabaseName::Main)
        .unwrap_or(true)
    {
        return Err("the database is read-only");
    }
    Ok(())
}

impl Store {
    /// Open (creating if needed) the registry database and bring its schema up to date:
    /// for commands that write. `location` is a SQLite file or a PostgreSQL URL.
    pub fn open(location: &Path) -> Result<Self, StoreError> {
        if is_postgres(location) {
            return Self::init_pg(location, PG_SCHEMA, PG_REGISTRY_LOCK, &pg_migrations());
        }
        Self::setup(rusqlite::Connection::open(location)?)
    }

    /// Open an existing database; a missing file is an error and nothing is created: for
    /// commands that only read (a mistyped path must not look like an empty registry).
    pub fn open_existing(location: &Path) -> Result<Self, StoreError> {
        if is_postgres(location) {
            let conn = Connection::postgres(location_str(location)?, PG_SCHEMA, PG_REGISTRY_LOCK)?;
            let found = conn
                .query_row(
                    "SELECT 1 FROM information_schema.tables
                     WHERE table_schema = ?1 AND table_name = 'schema_migrations'",
                    [PG_SCHEMA],
                    |_| Ok(()),
                )
                .optional()?;
            if found.is_none() {
                return Err(StoreError::NoDatabase(display_location(location)));
            }
            drop(conn);
            return Self::init_pg(location, PG_SCHEMA, PG_REGISTRY_LOCK, &pg_migrations());
        }
        if !location.is_file() {
            return Err(StoreError::NoDatabase(location.display().to_string()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::setup(rusqlite::Connection::open_with_flags(location, flags)?)
    }

    fn setup(conn: rusqlite::Connection) -> Result<Self, StoreError> {
        conn.busy_handler(Some(wait_turn))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(rusqlite::Connection::open_in_memory()?)
    }

    fn init(conn: rusqlite::Connection) -> Result<Self, StoreError> {
        Self::init_with(conn, MIGRATIONS)
    }

    /// The security database of a registry database: created beside it when missing (on
    /// PostgreSQL, the same database, in a schema of its own).
    pub fn security_path(registry: &Path) -> std::path::PathBuf {
        if is_postgres(registry) {
            return registry.to_path_buf();
        }
        let mut name = registry
            .file_stem()
            .map(|s| s.to_os_string())
            .unwrap_or_default();
        name.push(".security.db");
        registry.with_file_name(name)
    }

    /// Whether the security database of `registry` exists.
    pub fn security_exists(registry: &Path) -> bool {
        if is_postgres(registry) {
            return Connection::postgres(
                &registry.to_string_lossy(),
                PG_SECURITY_SCHEMA,
                PG_SECURITY_LOCK,
            )
            .and_then(|c| {
                c.query_row(
                    "SELECT 1 FROM information_schema.tables
                     WHERE table_schema = ?1 AND table_name = 'users'",
                    [PG_SECURITY_SCHEMA],
                    |_| Ok(()),
                )
            })
            .is_ok();
        }
        Self::security_path(registry).is_file()
    }

    /// Open (creating if needed) the security database (accounts, sessions, audit trail)
    /// of the registry database at `registry`.
    pub fn open_security(registry: &Path) -> Result<Self, StoreError> {
        if is_postgres(registry) {
            return Self::init_pg(
                registry,
                PG_SECURITY_SCHEMA,
                PG_SECURITY_LOCK,
                &pg_security_migrations(),
            );
        }
        let conn = rusqlite::Connection::open(Self::security_path(registry))?;
        conn.busy_handler(Some(wait_turn))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init_with(conn, SECURITY_MIGRATIONS)
    }

    /// An in-memory security database (tests).
    pub fn security_in_memory() -> Result<Self, StoreError> {
        Self::init_with(rusqlite::Connection::open_in_memory()?, SECURITY_MIGRATIONS)
    }

    /// Set (or clear) the key this store's audit chain is written and verified with; a
    /// security store starts with the process's key (`audit::set_process_key`).
    pub fn set_audit_key(&self, key: Option<crate::audit::AuditKey>) {
        self.conn.set_chain_key(key.map(std::sync::Arc::new));
    }

    fn init_with(
        conn: rusqlite::Connection,
        migrations: &[(i64, &str)],
    ) -> Result<Self, StoreError> {
        // migrations that rebuild a table run with foreign keys off (SQLite's procedure
        // for schema changes); they are checked before the connection is used
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let conn = Connection::sqlite(conn);
        let migrated = Self::migrate(
            &conn,
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
            migrations.iter().map(|(v, s)| (*v, *s)),
        )?;
        let sqlite = conn.as_sqlite().expect("a SQLite connection");
        let broken: Option<String> = if migrated {
            sqlite
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?
        } else {
            None
        };
        if let Some(table) = broken {
            return Err(StoreError::Conflict(format!(
                "the database fails its foreign key check in table {table}"
            )));
        }
        sqlite.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Store::audited_store(
            conn,
            migrations == SECURITY_MIGRATIONS,
        ))
    }

    /// A PostgreSQL schema, migrated: concurrent servers starting together migrate once,
    /// one after the other (the writer lock).
    fn init_pg(
        location: &Path,
        schema: &str,
        lock: i64,
        migrations: &[(i64, String)],
    ) -> Result<Self, StoreError> {
        let conn = Connection::postgres(location_str(location)?, schema, lock)?;
        conn.create_schema()?;
        Self::migrate(
            &conn,
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
            migrations.iter().map(|(v, s)| (*v, s.as_str())),
        )?;
        Ok(Store::audited_store(conn, schema == PG_SECURITY_SCHEMA))
    }

    /// A store whose write transactions carry their audit entries: a registry's go to
    /// its pending entries, the security database's straight into the chain.
    fn audited_store(conn: Connection, security: bool) -> Store {
        let writer: crate::db::AuditWriter = if security {
            conn.set_chain_key(crate::audit::process_key());
            crate::audit::chain_writer
        } else {
            crate::audit::pending_writer
        };
        conn.enable_audit(writer, &crate::audit::default_actor());
        Store { conn }
    }

    /// Apply the migrations not yet applied, each in its own transaction; whether any was.
    fn migrate<'m>(
        conn: &Connection,
        create: &str,
        migrations: impl Iterator<Item = (i64, &'m str)>,
    ) -> Result<bool, StoreError> {
        conn.execute_batch(create)?;
        let mut migrated = false;
        for (version, sql) in migrations {
            let applied = |c: &Connection| -> Result<bool, StoreError> {
                Ok(c.query_row(
                    "SELECT version FROM schema_migrations WHERE version = ?1",
                    [version],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
                .is_some())
            };
            if applied(conn)? {
                continue;
            }
            // another process may be migrating: take the write lock, then look again
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if applied(&tx)? {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, datetime('now'))",
                [version],
            )?;
            tx.commit()?;
            migrated = true;
        }
        Ok(migrated)
    }

    /// The latest schema version applied.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })?)
    }

    /// Every migration applied, with when.
    pub fn migrations(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Which database this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        if self.conn.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Carry out a decision on SQLite: the row written, a status change kept in the
    /// history, the identity written whenever given (after the donor row it belongs to).
    fn apply_one(
        tx: &Transaction<'_>,
        r: &StoredRecord,
        decision: Decision,
        by: &str,
        at: &str,
    ) -> Result<Outcome, StoreError> {
        let d = &r.donor;
        let outcome = decision.outcome();
        match decision {
            Decision::Refuse(_) => return Ok(outcome),
            Decision::Unchanged(_) => {}
            Decision::Write {
                status,
                hash,
                status_changed,
                ..
            } => {
                tx.prepare_cached(upsert_donor_sql())?
                    .execute(donor_values(r, &status, hash, at))?;
                if status_changed {
                    insert_history(tx, &d.id, at, by, &status, "import")?;
                }
            }
        }
        if let Some(i) = &r.identity {
            crate::identity::upsert(tx, &d.id, i)?;
        }
        Ok(outcome)
    }

    fn row_to_donor(row: &crate::db::Row<'_>) -> Result<(Donor, Status), StoreError> {
        let id: String = row.get("id")?;
        let corrupt = |column: &'static str, reason: String| StoreError::Corrupt {
            id: id.clone(),
            column,
            reason,
        };
        let date = |column: &'static str| -> Result<Option<NaiveDate>, StoreError> {
            let v: Option<String> = row.get(column)?;
            v.map(|s| {
                s.parse()
                    .map_err(|_| corrupt(column, format!("{s:?} is not a date")))
            })
            .transpose()
        };
        fn parsed<T: std::str::FromStr>(
            row: &crate::db::Row<'_>,
            column: &'static str,
            corrupt: &dyn Fn(&'static str, String) -> StoreError,
        ) -> Result<Option<T>, StoreError> {
            let v: Option<String> = row.get(column)?;
            v.map(|s| {
                s.parse::<T>()
                    .map_err(|_| corrupt(column, format!("{s:?} is not valid")))
            })
            .transpose()
        }
        let mut positions: [[Option<String>; 2]; 11] = Default::default();
        for (li, cols) in HLA_COLUMNS.iter().enumerate() {
            for (p, c) in cols.iter().enumerate() {
                positions[li][p] = row.get(*c)?;
            }
        }
        let donor_type = parsed(row, "donor_type", &corrupt)?
            .ok_or_else(|| corrupt("donor_type", "missing".into()))?;
        let tnc: Option<f64> = row.get("tnc_1e7")?;
        let donor = Donor {
            id: id.clone(),
            grid: parsed(row, "grid", &corrupt)?,
            registry: row.get("registry")?,
            donor_type,
            sex: parsed(row, "sex", &corrupt)?,
            birth_date: date("birth_date")?,
            abo: parsed(row, "abo", &corrupt)?,
            rh: parsed(row, "rh", &corrupt)?,
            cmv: parsed(row, "cmv", &corrupt)?,
            population: row.get("population")?,
            recruitment_date: date("recruitment_date")?,
            cord: match donor_type {
                DonorType::Cord => Some(CordUnit {
                    tnc_1e7: tnc,
                    cd34_1e6: row.get("cd34_1e6")?,
                    volume_ml: row.get("volume_ml")?,
                }),
                DonorType::Adult => None,
            },
            typing: Typing {
                positions,
                date: date("typing_date")?,
            },
        };
        let status = status_from_columns(
            &id,
            &row.get::<_, String>("status")?,
            row.get("status_reason")?,
            row.get("status_until")?,
            row.get("status_patient")?,
        )?;
        Ok((donor, status))
    }
}

impl DonorStore for Store {
    fn session(&mut self) -> Result<Box<dyn ImportSession + '_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if self.conn.is_postgres() {
            return Ok(Box::new(crate::pg_import::PgImport::new(tx)));
        }
        Ok(Box::new(SqliteSession { tx }))
    }

    fn donor(&self, id: &str) -> Result<Option<(Donor, Status)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM donors WHERE id = ?1 OR grid = ?1 ORDER BY id = ?1 DESC LIMIT 1",
        )?;
        let mut rows = stmt.query([id])?;
        match rows.next()? {
            Some(row) => Ok(Some(Self::row_to_donor(&row)?)),
            None => Ok(None),
        }
    }

    fn history(&self, id: &str) -> Result<Vec<StatusChange>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT status, status_reason, status_until, status_patient, changed_at, changed_by, note
             FROM status_history WHERE donor_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (code, reason, until, patient, at, by, note) = row?;
            out.push(StatusChange {
                status: status_from_columns(id, &code, reason, until, patient)?,
                changed_at: at.parse().map_err(|_| StoreError::Corrupt {
                    id: id.to_string(),
                    column: "changed_at",
                    reason: format!("{at:?} is not a date and time"),
                })?,
                changed_by: by,
                note,
            });
        }
        Ok(out)
    }

    fn set_status(&mut self, id: &str, change: StatusChange) -> Result<(), StoreError> {
        self.write(|tx| set_status_in(tx, id, change))
    }

    fn for_each_donor(
        &self,
        f: &mut dyn FnMut(Donor, Status) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.conn
            .for_each_row("SELECT * FROM donors ORDER BY id", [], &mut |row| {
                let (d, s) = Self::row_to_donor(row)?;
                f(d, s)
            })
    }

    fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM donors", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}

/// Change a donor's status inside a transaction: the transition checked, the history
/// row written, the content hash refreshed.
pub fn set_status_in(
    tx: &Transaction<'_>,
    id: &str,
    change: StatusChange,
) -> Result<(), StoreError> {
    let (found, current) = Store::donor_in(tx, id)?;
    let id = found.id.as_str();
    current
        .check_transition(&change.status, change.changed_at.date())
        .map_err(|e| StoreError::Status {
            id: id.to_string(),
            // the rule by name, as an import's reject names it
            reason: format!("[{}] {e}", e.rule()),
        })?;
    let (code, reason, until, patient) = status_columns(&change.status);
    let at = timestamp(change.changed_at);
    tx.execute(
        "UPDATE donors SET status = ?2, status_reason = ?3, status_until = ?4,
            status_patient = ?5, updated_at = ?6 WHERE id = ?1",
        params![id, code, reason, until, patient, at],
    )?;
    insert_history(
        tx,
        id,
        &at,
        &change.changed_by,
        &change.status,
        &change.note,
    )?;
    // the content hash covers the status, so re-importing the old file is a change
    let (donor, status) = Store::donor_in(tx, id)?;
    let hash = content_hash(&donor, &status);
    tx.execute(
        "UPDATE donors SET content_hash = ?2 WHERE id = ?1",
        params![id, hash],
    )?;
    Ok(())
}

impl Store {
    /// Run `f` in one write transaction (taken at once: `BEGIN IMMEDIATE`), committed
    /// when it succeeds and rolled back when it fails.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let out = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// The connection, for the registry's read functions that also run inside a write.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Adult donors a search finds on `today` (available, or a temporary status that has
    /// lapsed), counted by declared population (`None`: not declared).
    pub fn searchable_adults_by_population(
        &self,
        today: NaiveDate,
    ) -> Result<Vec<(Option<String>, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT population, COUNT(*) FROM donors
             WHERE donor_type = 'adult'
               AND (status = 'available'
                    OR (status IN ('temporarily-unavailable', 'reserved') AND status_until <= ?1))
             GROUP BY population ORDER BY population",
        )?;
        let rows = stmt.query_map([today.to_string()], |r| {
            Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every donor counted by status and declared population (`None`: not declared),
    /// as the dashboard shows the registry.
    pub fn donors_by_status_and_population(
        &self,
    ) -> Result<Vec<(String, Option<String>, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT status, population, COUNT(*) FROM donors
             GROUP BY status, population ORDER BY status, population",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, i64>(2)? as u64,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn donor_in(tx: &Connection, id: &str) -> Result<(Donor, Status), StoreError> {
        // a donor is named by its id here, or by its GRID across registries
        let mut stmt = tx.prepare_cached(
            "SELECT * FROM donors WHERE id = ?1 OR grid = ?1 ORDER BY id = ?1 DESC LIMIT 1",
        )?;
        let mut rows = stmt.query([id])?;
        match rows.next()? {
            Some(row) => Self::row_to_donor(&row),
            None => Err(StoreError::NoSuchDonor(id.to_string())),
        }
    }
}

/// The typed loci columns, for callers building SQL over typings.
pub fn hla_column(locus: &str, position: usize) -> Option<&'static str> {
    DONOR_LOCI
        .iter()
        .position(|l| *l == locus)
        .and_then(|i| HLA_COLUMNS[i].get(position).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_2_security_chain_verifies_after_the_keyed_migration() {
        let path = std::env::temp_dir().join(format!("medulla-sec2-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let v2 = Store::init_with(conn, &SECURITY_MIGRATIONS[..2]).unwrap();
            // entries as the build before keys wrote them: plain SHA-256, no scheme column
            let mut prev = crate::audit::GENESIS.to_string();
            for seq in 1..=3i64 {
                let (at, subject) = ("2025-01-01T00:00:00.000", format!("s{seq}"));
                let hash = crate::audit::entry_hash(
                    crate::audit::Scheme::Sha256,
                    None,
                    &prev,
                    seq,
                    at,
                    "alice",
                    "search",
                    &subject,
                    "{}",
                )
                .unwrap();
                v2.conn
                    .execute(
                        "INSERT INTO audit VALUES (?1, ?2, 'alice', 'search', ?3, '{}', ?4, ?5)",
                        crate::db::params![seq, at, subject, prev, hash],
                    )
                    .unwrap();
                prev = hash;
            }
        }
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut s = Store::init_with(conn, SECURITY_MIGRATIONS).unwrap();
        assert_eq!(s.schema_version().unwrap(), SECURITY_SCHEMA_VERSION);
        s.set_audit_key(Some(crate::audit::AuditKey::from_bytes([5; 32])));
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap();
        s.audit(at, "bob", "login", "", "{}").unwrap();
        let v = s.verify_audit_with(None).unwrap().unwrap();
        assert_eq!(
            (v.entries, v.unkeyed, v.unkeyed_range, v.keyed),
            (4, 3, Some((1, 3)), 1)
        );
        drop(s);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_version_9_inbox_keeps_its_messages_and_bindings_and_scopes_ids_per_sender() {
        let path = std::env::temp_dir().join(format!("medulla-v9-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let v9 = Store::init_with(conn, &MIGRATIONS[..9]).unwrap();
            assert_eq!(v9.schema_version().unwrap(), 9);
            v9.conn
                .execute_batch(
                    "INSERT INTO exchange_inbox (id, sender, seq, kind, reference, body,
                        received_at, state, deliveries)
                        VALUES ('m1', '1001', 1, 'text', '1001-R1', '{}', 'x', 'applied', 2);
                     INSERT INTO exchange_accounts (user_name, ion) VALUES ('a', '1001');",
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let c = store.connection();
        let kept = crate::exchange::inbox_message(c, "1001", "m1")
            .unwrap()
            .unwrap();
        assert_eq!((kept.state.as_str(), kept.deliveries), ("applied", 2));
        assert_eq!(
            crate::exchange::account_ion(c, "a").unwrap().as_deref(),
            Some("1001")
        );
        // the same id from another sender is another message
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        crate::exchange::store_incoming(c, "m1", "1002", 1, "text", "1002-R1", "{}", at).unwrap();
        assert!(crate::exchange::inbox_message(c, "1002", "m1")
            .unwrap()
            .is_some());
        assert!(
            crate::exchange::store_incoming(c, "m1", "1002", 2, "text", "r", "{}", at).is_err()
        );
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_version_5_registry_keeps_its_requests_through_the_exchange_migration() {
        let path = std::env::temp_dir().join(format!("medulla-v5-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let v5 = Store::init_with(conn, &MIGRATIONS[..5]).unwrap();
            assert_eq!(v5.schema_version().unwrap(), 5);
            v5.conn
                .execute_batch(
                    "INSERT INTO patients (id, hla_gl, status, created_at, updated_at)
                        VALUES ('P1', 'A*01:01', 'active', 'x', 'x');
                     INSERT INTO requests (id, seq, patient_id, donor_id, kind, subject, state,
                        state_detail, opened_on, opened_by, note, updated_at)
                        VALUES ('R000001', 1, 'P1', 'D1', 'ct', '{}', 'open', '\"open\"',
                            '2026-11-01', 'sc', '', 'x');
                     INSERT INTO request_events VALUES ('R000001', 'x', 'sc', 'opened', '');
                     INSERT INTO tasks VALUES ('R000001', 'result', '2026-11-15');",
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let (patient, origin, events): (String, Option<String>, i64) = store
            .conn
            .query_row(
                "SELECT patient_id, origin,
                    (SELECT COUNT(*) FROM request_events WHERE request_id = r.id)
                 FROM requests r WHERE id = 'R000001'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((patient.as_str(), origin, events), ("P1", None, 1));
        // the events and tasks still point at the rebuilt table
        let err = store
            .conn
            .execute("DELETE FROM requests WHERE id = 'R000001'", [])
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
