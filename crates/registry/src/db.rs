//! The database connection under every store: SQLite (a file, embedded) or PostgreSQL (a
//! server), behind one small interface shaped like rusqlite's, so that the registry's SQL
//! is written once.
//!
//! - Statements are written in SQLite's dialect with `?N` parameters; on PostgreSQL they
//!   are translated once (`$N`, `datetime('now')`, `INSERT OR IGNORE`) and kept prepared.
//! - Values cross as [`Value`]: on PostgreSQL a parameter is encoded for the type the server
//!   infers for it, and a column is read by its type.
//! - Transactions are explicit `BEGIN`/`COMMIT`; a [`Transaction`] dropped without commit
//!   rolls back. A write transaction on PostgreSQL takes the database's writer lock (an
//!   advisory lock), so that writers are serialized as SQLite serializes them, across every
//!   process on the database: sequence numbers and the audit chain stay one sequence.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;

use postgres::types::{IsNull, ToSql as PgToSql, Type};

/// A failure of the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    /// No session could be opened (the server down or refusing, the database missing,
    /// the credentials refused).
    #[error("connecting to PostgreSQL: {}", pg_message(.0))]
    Connect(#[source] postgres::Error),
    #[error("query returned no rows")]
    NoRows,
    #[error("column {column}: {reason}")]
    Column { column: String, reason: String },
    #[error("{0}")]
    Usage(String),
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

impl DbError {
    /// Why the database cannot serve now, when the failure is the database's condition
    /// rather than the request's (read-only, unreachable, busy, out of space): worth
    /// trying again later, and said as such (HTTP 503) with no raw database message.
    pub fn unavailable(&self) -> Option<&'static str> {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                use rusqlite::ErrorCode as C;
                match f.code {
                    C::ReadOnly => Some("the database is read-only"),
                    C::DatabaseBusy | C::DatabaseLocked => Some("the database is busy"),
                    C::DiskFull => Some("the database's disk is full"),
                    C::CannotOpen | C::SystemIoFailure => Some("the database cannot be reached"),
                    C::OutOfMemory => Some("the database is out of memory"),
                    _ => None,
                }
            }
            DbError::Postgres(e) => {
                if e.is_closed() {
                    return Some("the database cannot be reached");
                }
                match e.code().map(|c| c.code()) {
                    Some("25006") => Some("the database is read-only"),
                    Some(c) if c.starts_with("08") || c.starts_with("57P") => {
                        Some("the database cannot be reached")
                    }
                    Some(c) if c.starts_with("53") => Some("the database is out of resources"),
                    Some("40001" | "40P01" | "55P03") => Some("the database is busy"),
                    Some(_) => None,
                    // no server answer at all: the connection could not be made or broke
                    None => {
                        let io = std::error::Error::source(e)
                            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
                        io.then_some("the database cannot be reached")
                    }
                }
            }
            DbError::Connect(_) => Some("the database cannot be reached"),
            _ => None,
        }
    }

    /// Text the database cannot hold (PostgreSQL refuses a NUL character, 0x00, in any
    /// text value): the input's fault, not the registry's.
    pub fn is_unstorable_text(&self) -> bool {
        match self {
            DbError::Postgres(e) => e
                .code()
                .is_some_and(|c| matches!(c.code(), "22021" | "22P05")),
            _ => false,
        }
    }

    /// A unique or foreign key constraint refused the change.
    pub fn is_constraint(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::ConstraintViolation
            }
            DbError::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
            _ => false,
        }
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// A value passed to or read from the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A value read from a row, borrowed where it can be.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Anything that can be a statement parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! to_value_int {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
to_value_int!(i64, i32, i16, u32, u16, u8, u64, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Real(f64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// Statement parameters: `params![a, b]`, `[a, b]` of one type, or `[]`.
pub trait Params {
    fn values(self) -> Vec<Value>;
}

impl Params for &[&dyn ToValue] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}
impl Params for [&dyn ToValue; 0] {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}
impl Params for Vec<Value> {
    fn values(self) -> Vec<Value> {
        self
    }
}
macro_rules! params_array {
    ($($n:literal),*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn values(self) -> Vec<Value> {
                self.iter().map(|v| v.to_value()).collect()
            }
        }
    )*};
}
params_array!(1, 2, 3, 4, 5, 6, 7, 8);

/// Parameters of mixed types: `params![id, 3, None::<String>]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::db::ToValue]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::db::ToValue),+] as &[&dyn $crate::db::ToValue]
    };
}
pub use crate::params;

/// A type read from a column.
pub trait FromValue: Sized {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String>;
}

fn wrong(v: ValueRef<'_>, want: &str) -> String {
    let got = match v {
        ValueRef::Null => "NULL",
        ValueRef::Int(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    format!("{got} where {want} was expected")
}

impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Text(s) => Ok(s.to_string()),
            other => Err(wrong(other, "text")),
        }
    }
}
impl FromValue for i64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Int(i) => Ok(i),
            other => Err(wrong(other, "an integer")),
        }
    }
}
macro_rules! from_value_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range"))
            }
        }
    )*};
}
from_value_int!(i32, u32, u64, usize, u16, u8);

impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
        Ok(i64::from_value(v)? != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            other => Err(wrong(other, "a number")),
        }
    }
}
impl FromValue for f32 {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
        Ok(f64::from_value(v)? as f32)
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(wrong(other, "a blob")),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// A column named by position or by name.
pub trait RowIndex {
    fn sqlite(&self, row: &rusqlite::Row<'_>) -> Result<usize>;
    fn pg(&self, row: &postgres::Row) -> Result<usize>;
    fn describe(&self) -> String;
}
impl RowIndex for usize {
    fn sqlite(&self, _: &rusqlite::Row<'_>) -> Result<usize> {
        Ok(*self)
    }
    fn pg(&self, row: &postgres::Row) -> Result<usize> {
        if *self < row.len() {
            Ok(*self)
        } else {
            Err(DbError::Column {
                column: self.to_string(),
                reason: "no such column".into(),
            })
        }
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}
impl RowIndex for &str {
    fn sqlite(&self, row: &rusqlite::Row<'_>) -> Result<usize> {
        Ok(row.as_ref().column_index(self)?)
    }
    fn pg(&self, row: &postgres::Row) -> Result<usize> {
        row.columns()
            .iter()
            .position(|c| c.name() == *self)
            .ok_or_else(|| DbError::Column {
                column: self.to_string(),
                reason: "no such column".into(),
            })
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

/// One row of a result.
#[derive(Clone, Copy)]
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Pg(&'a postgres::Row),
}

impl Row<'_> {
    pub fn get<I: RowIndex, T: FromValue>(&self, idx: I) -> Result<T> {
        let column = |reason: String| DbError::Column {
            column: idx.describe(),
            reason,
        };
        match self {
            Row::Sqlite(r) => {
                let i = idx.sqlite(r)?;
                let v = match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => ValueRef::Null,
                    rusqlite::types::ValueRef::Integer(i) => ValueRef::Int(i),
                    rusqlite::types::ValueRef::Real(f) => ValueRef::Real(f),
                    rusqlite::types::ValueRef::Text(t) => {
                        ValueRef::Text(std::str::from_utf8(t).map_err(|e| column(e.to_string()))?)
                    }
                    rusqlite::types::ValueRef::Blob(b) => ValueRef::Blob(b),
                };
                T::from_value(v).map_err(column)
            }
            Row::Pg(r) => {
                let i = idx.pg(r)?;
                let v = pg_value(r, i).map_err(|e| column(e.to_string()))?;
                T::from_value(v).map_err(column)
            }
        }
    }
}

fn pg_value(r: &postgres::Row, i: usize) -> std::result::Result<ValueRef<'_>, postgres::Error> {
    let ty = r.columns()[i].type_();
    let v = match *ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(ValueRef::Int),
        Type::INT4 => r
            .try_get::<_, Option<i32>>(i)?
            .map(|x| ValueRef::Int(x.into())),
        Type::INT2 => r
            .try_get::<_, Option<i16>>(i)?
            .map(|x| ValueRef::Int(x.into())),
        Type::BOOL => r
            .try_get::<_, Option<bool>>(i)?
            .map(|x| ValueRef::Int(x.into())),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(ValueRef::Real),
        Type::FLOAT4 => r
            .try_get::<_, Option<f32>>(i)?
            .map(|x| ValueRef::Real(x.into())),
        Type::BYTEA => r.try_get::<_, Option<&[u8]>>(i)?.map(ValueRef::Blob),
        _ => r.try_get::<_, Option<&str>>(i)?.map(ValueRef::Text),
    };
    Ok(v.unwrap_or(ValueRef::Null))
}

/// A parameter encoded for the type PostgreSQL infers for it (SQLite's columns take any
/// value; PostgreSQL's are typed, so integers become the integer width asked for, and so on).
#[derive(Debug)]
struct PgParam<'a>(&'a Value);

type BoxError = Box<dyn StdError + Sync + Send>;

impl PgToSql for PgParam<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        let text_like = matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
        );
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ if text_like => i.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be stored as {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ if text_like => f.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("a real cannot be stored as {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                Type::FLOAT8 => s.parse::<f64>()?.to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(format!("a blob cannot be stored as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as R};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => R::Null,
            Value::Int(i) => R::Integer(*i),
            Value::Real(f) => R::Real(*f),
            Value::Text(s) => R::Text(s.as_bytes()),
            Value::Blob(b) => R::Blob(b),
        }))
    }
}

/// When a transaction takes the writer lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionBehavior {
    /// Reads first; SQLite takes the lock at the first write.
    Deferred,
    /// The writer lock at once.
    Immediate,
}

/// A PostgreSQL session.
pub struct PgSession {
    /// Always present until the session is dropped.
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
    /// The advisory lock serializing this schema's writers.
    writer_lock: i64,
    /// Where to connect again after the connection was lost.
    url: String,
    schema: String,
}

/// `schema` quoted as an identifier.
fn quoted(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', ""))
}

/// A session on `url` whose statements run in `schema`.
fn connect_pg(url: &str, schema: &str) -> Result<postgres::Client> {
    let mut client = crate::pg_tls::connect(url)?;
    client.batch_execute(&format!(
        "SET client_min_messages TO warning; SET search_path TO {};",
        quoted(schema)
    ))?;
    Ok(client)
}

impl PgSession {
    fn client(&mut self) -> &mut postgres::Client {
        self.client
            .as_mut()
            .expect("the client lives as long as the session")
    }
}

impl Drop for PgSession {
    /// The synchronous client closes its connection by blocking on its own runtime, which
    /// must not happen on a thread that drives async tasks (a server's last reference to
    /// its stores may go there): it is closed on a thread of its own.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = std::thread::spawn(move || drop(client)).join();
        }
    }
}

enum Backend {
    Sqlite(rusqlite::Connection),
    Pg(Box<RefCell<PgSession>>),
}

/// What a committed write transaction is recorded as in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// JSON text.
    pub detail: String,
}

/// Writes the audit entry of a transaction inside it, just before its `COMMIT`.
pub type AuditWriter = fn(&Connection, &AuditNote) -> Result<()>;

/// The audit hook of a connection: every write transaction that changed a row carries an
/// entry, written in the same transaction (so a change and its entry commit together).
struct AuditHook {
    writer: AuditWriter,
    /// Who writes when no use case said (the command line's user, or the service).
    default_actor: String,
    /// The use case under way ([`Connection::audit_scope`]) and how many of its
    /// transactions have committed.
    scope: Option<(AuditNote, u32)>,
}

/// A connection to SQLite or PostgreSQL.
pub struct Connection {
    backend: Backend,
    in_tx: Cell<bool>,
    audit: RefCell<Option<AuditHook>>,
    /// Rows written on PostgreSQL since the transaction began (SQLite counts its own).
    pg_writes: Cell<u64>,
    /// The key of the audit chain this connection appends to, when it has one (the
    /// security database's connection; see `audit::AuditKey`).
    chain_key: RefCell<Option<std::sync::Arc<crate::audit::AuditKey>>>,
}

/// Statements kept prepared per PostgreSQL session (a bound: SQL built per call must not
/// grow it without end).
const PG_STATEMENT_CACHE: usize = 512;

impl Connection {
    pub fn sqlite(conn: rusqlite::Connection) -> Self {
        conn.set_prepared_statement_cache_capacity(128);
        Connection {
            backend: Backend::Sqlite(conn),
            in_tx: Cell::new(false),
            audit: RefCell::new(None),
            pg_writes: Cell::new(0),
            chain_key: RefCell::new(None),
        }
    }

    /// A PostgreSQL session whose statements run in `schema`, with `writer_lock` as its
    /// writers' advisory lock.
    pub fn postgres(url: &str, schema: &str, writer_lock: i64) -> Result<Self> {
        let client = connect_pg(url, schema)?;
        Ok(Connection {
            backend: Backend::Pg(Box::new(RefCell::new(PgSession {
                client: Some(client),
                statements: HashMap::new(),
                writer_lock,
                url: url.to_string(),
                schema: schema.to_string(),
            }))),
            in_tx: Cell::new(false),
            audit: RefCell::new(None),
            pg_writes: Cell::new(0),
            chain_key: RefCell::new(None),
        })
    }

    /// Create the session's schema when it is missing (before the first migration).
    pub fn create_schema(&self) -> Result<()> {
        let schema = self.pg()?.schema.clone();
        self.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {}", quoted(&schema)))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Pg(_))
    }

    /// The SQLite connection (pragmas and SQLite-only maintenance).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.backend {
            Backend::Sqlite(c) => Some(c),
            Backend::Pg(_) => None,
        }
    }

    fn pg(&self) -> Result<std::cell::RefMut<'_, PgSession>> {
        let mut s = match &self.backend {
            Backend::Pg(p) => p.try_borrow_mut().map_err(|_| {
                DbError::Usage("the database connection is busy with another statement".into())
            })?,
            Backend::Sqlite(_) => return Err(DbError::Usage("not a PostgreSQL connection".into())),
        };
        // a server restarted or a connection cut: connect again, between transactions
        // (inside one, the failure is the transaction's, and it rolls back)
        if s.client().is_closed() && !self.in_tx.get() {
            let client = connect_pg(&s.url, &s.schema)?;
            s.statements.clear();
            let old = s.client.replace(client);
            if let Some(old) = old {
                let _ = std::thread::spawn(move || drop(old)).join();
            }
        }
        Ok(s)
    }

    /// Run statements with no parameters and no results (schema changes, `BEGIN`).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Backend::Pg(_) => {
                if self.in_tx.get() && !matches!(sql, "COMMIT" | "ROLLBACK") {
                    // statements run in bulk inside a transaction count as writes
                    self.pg_writes.set(self.pg_writes.get() + 1);
                }
                let sql = translate(sql);
                let first = self.pg()?.client().batch_execute(&sql);
                match first {
                    Err(e) if self.lost(&e) => Ok(self.pg()?.client().batch_execute(&sql)?),
                    other => Ok(other?),
                }
            }
        }
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            inner: match &self.backend {
                Backend::Sqlite(c) => StatementInner::Sqlite(c.prepare_cached(sql)?),
                Backend::Pg(_) => StatementInner::Pg {
                    conn: self,
                    sql: sql.to_string(),
                },
            },
        })
    }

    fn pg_statement(
        &self,
        sql: &str,
    ) -> Result<(std::cell::RefMut<'_, PgSession>, postgres::Statement)> {
        let mut s = self.pg()?;
        if let Some(st) = s.statements.get(sql) {
            let st = st.clone();
            return Ok((s, st));
        }
        let st = s.client().prepare(&translate(sql))?;
        if s.statements.len() >= PG_STATEMENT_CACHE {
            s.statements.clear();
        }
        s.statements.insert(sql.to_string(), st.clone());
        Ok((s, st))
    }

    /// Run `run` with a prepared statement; a connection found lost outside a transaction
    /// is opened again and the statement tried once more (the first statement after a
    /// server restart must not fail a request that nothing else stops).
    fn pg_run<T>(
        &self,
        sql: &str,
        values: &[Value],
        run: impl Fn(
            &mut postgres::Client,
            &postgres::Statement,
            &[&(dyn PgToSql + Sync)],
        ) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
        let refs: Vec<&(dyn PgToSql + Sync)> =
            params.iter().map(|p| p as &(dyn PgToSql + Sync)).collect();
        // a lost connection may show first in preparing the statement, or in running it
        let first = match self.pg_statement(sql) {
            Ok((mut s, st)) => run(s.client(), &st, &refs),
            Err(DbError::Postgres(e)) => Err(e),
            Err(e) => return Err(e),
        };
        match first {
            Err(e) if self.lost(&e) => {
                let (mut s, st) = self.pg_statement(sql)?;
                Ok(run(s.client(), &st, &refs)?)
            }
            other => Ok(other?),
        }
    }

    /// Whether `e` says the connection was lost, outside a transaction (so that the
    /// statement may be tried again on a new connection, which this opens).
    fn lost(&self, e: &postgres::Error) -> bool {
        let gone = e.is_closed()
            || e.code().is_some_and(|c| {
                let c = c.code();
                c.starts_with("08") || c.starts_with("57P")
            });
        if !gone || self.in_tx.get() {
            return false;
        }
        let Ok(mut s) = self.pg() else { return false };
        match connect_pg(&s.url, &s.schema) {
            Ok(client) => {
                s.statements.clear();
                if let Some(old) = s.client.replace(client) {
                    let _ = std::thread::spawn(move || drop(old)).join();
                }
                true
            }
            Err(_) => false,
        }
    }

    fn pg_query(&self, sql: &str, values: &[Value]) -> Result<Vec<postgres::Row>> {
        self.pg_run(sql, values, |c, st, p| c.query(st, p))
    }

    fn pg_execute(&self, sql: &str, values: &[Value]) -> Result<u64> {
        let n = self.pg_run(sql, values, |c, st, p| c.execute(st, p))?;
        self.pg_writes.set(self.pg_writes.get() + n);
        Ok(n)
    }

    /// Record every write transaction of this connection in the audit trail through
    /// `writer` (as `default_actor` when no use case names itself).
    pub fn enable_audit(&self, writer: AuditWriter, default_actor: &str) {
        *self.audit.borrow_mut() = Some(AuditHook {
            writer,
            default_actor: default_actor.to_string(),
            scope: None,
        });
    }

    /// Set (or clear) the key of the audit chain written through this connection.
    pub fn set_chain_key(&self, key: Option<std::sync::Arc<crate::audit::AuditKey>>) {
        *self.chain_key.borrow_mut() = key;
    }

    /// The key of the audit chain written through this connection, if any.
    pub fn chain_key(&self) -> Option<std::sync::Arc<crate::audit::AuditKey>> {
        self.chain_key.borrow().clone()
    }

    /// Whether write transactions are audited.
    pub fn audited(&self) -> bool {
        self.audit.borrow().is_some()
    }

    /// The use case whose write transactions follow (its actor, action, subject and
    /// detail), until [`Self::end_audit_scope`]; a second transaction in one scope is
    /// recorded as a further part of it.
    pub fn audit_scope(&self, note: AuditNote) {
        if let Some(h) = self.audit.borrow_mut().as_mut() {
            h.scope = Some((note, 0));
        }
    }

    /// Replace the detail of the use case under way (what it learnt as it ran, such as
    /// an import's counts), before its transaction commits.
    pub fn amend_audit_detail(&self, detail: String) {
        if let Some((note, _)) = self
            .audit
            .borrow_mut()
            .as_mut()
            .and_then(|h| h.scope.as_mut())
        {
            note.detail = detail;
        }
    }

    pub fn end_audit_scope(&self) {
        if let Some(h) = self.audit.borrow_mut().as_mut() {
            h.scope = None;
        }
    }

    /// Rows changed so far on this connection (SQLite's count, or ours on PostgreSQL).
    fn changes(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite(c) => c.total_changes(),
            Backend::Pg(_) => self.pg_writes.get(),
        }
    }

    /// The entry for a transaction that is about to commit, advancing the scope's parts.
    fn audit_note(&self) -> Option<(AuditWriter, AuditNote)> {
        let mut hook = self.audit.borrow_mut();
        let h = hook.as_mut()?;
        Some(match &mut h.scope {
            Some((note, parts)) => {
                *parts += 1;
                let mut note = note.clone();
                if *parts > 1 {
                    note.detail = format!("{{\"part\":{},\"of\":{}}}", *parts, note.detail);
                }
                (h.writer, note)
            }
            None => (
                h.writer,
                AuditNote {
                    actor: h.default_actor.clone(),
                    action: "write".into(),
                    subject: "-".into(),
                    detail: "{}".into(),
                },
            ),
        })
    }

    /// Every row of a query handed to `f` as it arrives, without holding the whole result
    /// (the scans of every donor). `f` must not use this connection.
    pub fn for_each_row<P: Params, E: From<DbError>>(
        &self,
        sql: &str,
        params: P,
        f: &mut dyn FnMut(&Row<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let values = params.values();
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare(sql).map_err(DbError::from)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(values.iter()))
                    .map_err(DbError::from)?;
                while let Some(r) = rows.next().map_err(DbError::from)? {
                    f(&Row::Sqlite(r))?;
                }
                Ok(())
            }
            Backend::Pg(_) => {
                let (mut s, st) = self.pg_statement(sql)?;
                let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
                let mut rows = s
                    .client()
                    .query_raw(&st, params.iter().map(|p| p as &dyn PgToSql))
                    .map_err(DbError::from)?;
                use postgres::fallible_iterator::FallibleIterator;
                while let Some(r) = rows.next().map_err(DbError::from)? {
                    f(&Row::Pg(&r))?;
                }
                Ok(())
            }
        }
    }

    /// Start a transaction; on PostgreSQL an immediate one takes the writer lock.
    pub fn transaction_with_behavior(
        &self,
        behavior: TransactionBehavior,
    ) -> Result<Transaction<'_>> {
        if self.in_tx.get() {
            return Err(DbError::Usage(
                "a transaction is already open on this connection".into(),
            ));
        }
        match &self.backend {
            Backend::Sqlite(c) => c.execute_batch(match behavior {
                TransactionBehavior::Deferred => "BEGIN DEFERRED",
                TransactionBehavior::Immediate => "BEGIN IMMEDIATE",
            })?,
            Backend::Pg(_) => {
                self.execute_batch("BEGIN")?;
                let mut s = self.pg()?;
                if behavior == TransactionBehavior::Immediate {
                    let key = s.writer_lock;
                    if let Err(e) = s
                        .client()
                        .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                    {
                        let _ = s.client().batch_execute("ROLLBACK");
                        return Err(e.into());
                    }
                }
            }
        }
        self.in_tx.set(true);
        self.pg_writes.set(0);
        Ok(Transaction {
            conn: self,
            done: false,
            audited: behavior == TransactionBehavior::Immediate,
            changes_before: self.changes(),
        })
    }

    /// A write transaction that is not itself audited: the audit trail's own
    /// bookkeeping (appending to the chain, taking pending entries into it).
    pub fn unaudited_transaction(&self) -> Result<Transaction<'_>> {
        let mut tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.audited = false;
        Ok(tx)
    }

    /// Bulk load rows into `table (columns)` in PostgreSQL's COPY text format.
    pub fn copy_in(&self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut buf = String::with_capacity(rows.len() * 256);
        for row in rows {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    buf.push('\t');
                }
                copy_field(&mut buf, v);
            }
            buf.push('\n');
        }
        let mut s = self.pg()?;
        let sql = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
        let mut w = s.client().copy_in(&sql)?;
        use std::io::Write;
        w.write_all(buf.as_bytes())
            .map_err(|e| DbError::Usage(format!("COPY into {table}: {e}")))?;
        let n = w.finish()?;
        self.pg_writes.set(self.pg_writes.get() + n.max(1));
        Ok(())
    }
}

fn copy_field(buf: &mut String, v: &Value) {
    use std::fmt::Write;
    match v {
        Value::Null => buf.push_str("\\N"),
        Value::Int(i) => {
            let _ = write!(buf, "{i}");
        }
        Value::Real(f) => {
            let _ = write!(buf, "{f}");
        }
        Value::Text(s) => {
            for c in s.chars() {
                match c {
                    '\\' => buf.push_str("\\\\"),
                    '\t' => buf.push_str("\\t"),
                    '\n' => buf.push_str("\\n"),
                    '\r' => buf.push_str("\\r"),
                    c => buf.push(c),
                }
            }
        }
        Value::Blob(b) => {
            buf.push_str("\\\\x");
            for x in b {
                let _ = write!(buf, "{x:02x}");
            }
        }
    }
}

/// A transaction: rolled back when dropped without [`Transaction::commit`].
pub struct Transaction<'c> {
    conn: &'c Connection,
    done: bool,
    /// A write transaction of an audited connection carries its audit entry.
    audited: bool,
    changes_before: u64,
}

impl Transaction<'_> {
    /// Commit; when the commit fails, the transaction is rolled back (as rusqlite does).
    /// On an audited connection a transaction that changed rows first writes its audit
    /// entry (and does not commit without it).
    pub fn commit(mut self) -> Result<()> {
        if self.audited && self.conn.changes() > self.changes_before {
            if let Some((writer, note)) = self.conn.audit_note() {
                writer(self.conn, &note)?; // dropped on failure: rolled back
            }
        }
        self.done = true;
        let committed = self.conn.execute_batch("COMMIT");
        if committed.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.conn.in_tx.set(false);
        committed
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.in_tx.set(false);
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

enum StatementInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Pg { conn: &'c Connection, sql: String },
}

/// A prepared statement.
pub struct Statement<'c> {
    inner: StatementInner<'c>,
}

impl Statement<'_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        let values = params.values();
        match &mut self.inner {
            StatementInner::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(values.iter()))?),
            StatementInner::Pg { conn, sql } => Ok(conn.pg_execute(sql, &values)? as usize),
        }
    }

    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        let values = params.values();
        Ok(match &mut self.inner {
            StatementInner::Sqlite(s) => Rows::Sqlite(s.query(rusqlite::params_from_iter(values))?),
            StatementInner::Pg { conn, sql } => Rows::Pg {
                rows: conn.pg_query(sql, &values)?.into_iter(),
                current: None,
            },
        })
    }

    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(
        &mut self,
        params: P,
        f: F,
    ) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(DbError::NoRows),
        }
    }

    pub fn query_map<T, P: Params, F: FnMut(&Row<'_>) -> Result<T>>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut rows = self.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(f(&r));
        }
        Ok(out.into_iter())
    }
}

/// The rows of a query.
pub enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Pg {
        rows: std::vec::IntoIter<postgres::Row>,
        current: Option<postgres::Row>,
    },
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Rows::Sqlite(r) => Ok(r.next()?.map(Row::Sqlite)),
            Rows::Pg { rows, current } => {
                *current = rows.next();
                Ok(current.as_ref().map(Row::Pg))
            }
        }
    }
}

/// `query_row(..).optional()`: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A statement in SQLite's dialect, as PostgreSQL reads it.
pub fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    let mut next_param = 1;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
        } else if c == '?' && !quoted {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                digits = next_param.to_string();
                next_param += 1;
            }
            out.push('$');
            out.push_str(&digits);
        } else {
            out.push(c);
        }
    }
    let mut out = out.replace(
        "datetime('now')",
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
    );
    if let Some(rest) = out.trim_start().strip_prefix("INSERT OR IGNORE INTO") {
        out = format!(
            "INSERT INTO{} ON CONFLICT DO NOTHING",
            rest.trim_end().trim_end_matches(';')
        );
    }
    out
}

/// Tables whose rows are read in the order they were written (`ORDER BY rowid`): on
/// PostgreSQL they get that order as a column.
const ORDERED_TABLES: [&str; 5] = [
    "status_history",
    "request_events",
    "patient_history",
    "product_history",
    "family_members",
];

/// A schema change in SQLite's dialect, as PostgreSQL reads it: integer keys become
/// identities, `INTEGER` `BIGINT`, `REAL` `DOUBLE PRECISION`, text compares by code point
/// (`COLLATE "C"`, as SQLite compares) whatever the database's locale, and the tables read
/// in insertion order gain the `rowid` SQLite keeps.
pub fn translate_ddl(sql: &str) -> String {
    let sql = sql.replace(
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    );
    let sql = sql.replace(
        "INTEGER PRIMARY KEY",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    );
    let mut out = String::with_capacity(sql.len() * 2);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match word.as_str() {
            "INTEGER" => out.push_str("BIGINT"),
            "REAL" => out.push_str("DOUBLE PRECISION"),
            "TEXT" => out.push_str("TEXT COLLATE \"C\""),
            "BLOB" => out.push_str("BYTEA"),
            w => out.push_str(w),
        }
        word.clear();
    };
    for c in sql.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    // the tables read in insertion order keep it
    let mut result = String::with_capacity(out.len() + 256);
    let mut rest = out.as_str();
    while let Some(at) = rest.find("CREATE TABLE ") {
        let open = match rest[at..].find('(') {
            Some(o) => at + o,
            None => break,
        };
        let table = rest[at + "CREATE TABLE ".len()..open].trim();
        result.push_str(&rest[..=open]);
        if ORDERED_TABLES.contains(&table) {
            result.push_str("\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY,");
        }
        rest = &rest[open + 1..];
    }
    result.push_str(rest);
    translate(&result)
}

/// Drop the databases an earlier test process made with `prefix` (named
/// `{prefix}_{pid}_...`) once that process has ended, so that a test suite's databases do
/// not fill the disk of the server it runs against: each test binary sweeps up after the
/// ones before it. A database whose process still runs, or whose name does not follow the
/// pattern, is left alone; failures are ignored (the sweep is housekeeping).
fn drop_stale_databases(client: &mut postgres::Client, prefix: &str) {
    // whether a process still runs is read from /proc: elsewhere, sweep nothing
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(rows) = client.query("SELECT datname FROM pg_database", &[]) else {
        return;
    };
    let me = std::process::id();
    for row in rows {
        let name: String = row.get(0);
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        let mut parts = rest.split('_');
        let (Some(pid), Some(n), Some(nanos), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if n.parse::<u32>().is_err() || nanos.parse::<u32>().is_err() || pid == me {
            continue;
        }
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    }
}

/// A new, empty PostgreSQL database on the server of `admin_url` (a URL to any database
/// there, by a role that may create databases): its URL. For tests and benchmarks, each
/// of which wants a registry of its own.
pub fn create_postgres_database(admin_url: &str, prefix: &str) -> Result<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut client = crate::pg_tls::connect(admin_url)?;
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| drop_stale_databases(&mut client, prefix));
    client.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let head = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |s| s + 2) => &base[..i],
        _ => base,
    };
    Ok(format!("{head}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_dialect_are_translated() {
        assert_eq!(
            translate("SELECT * FROM t WHERE a = ?1 AND b = '?' AND c = ?2"),
            "SELECT * FROM t WHERE a = $1 AND b = '?' AND c = $2"
        );
        assert_eq!(
            translate("INSERT OR IGNORE INTO t (a) VALUES (?1);"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        let ddl =
            translate_ddl("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, x REAL, s TEXT);");
        assert!(ddl.contains("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"));
        assert!(ddl.contains("n BIGINT"));
        assert!(ddl.contains("x DOUBLE PRECISION"));
        assert!(ddl.contains("s TEXT COLLATE \"C\""));
        assert!(!ddl.contains("rowid"));
        let ddl = translate_ddl("CREATE TABLE status_history (a TEXT NOT NULL, b TEXT);");
        assert!(
            ddl.contains("rowid BIGINT GENERATED ALWAYS AS IDENTITY,"),
            "{ddl}"
        );
    }

    #[test]
    fn copy_fields_are_escaped() {
        let mut s = String::new();
        for v in [
            Value::Null,
            Value::Text("a\tb\\c\nd".into()),
            Value::Int(-3),
            Value::Real(0.1),
        ] {
            copy_field(&mut s, &v);
            s.push('|');
        }
        assert_eq!(s, "\\N|a\\tb\\\\c\\nd|-3|0.1|");
    }
}
