//! The SQLite journal: where every run, step, attempt, lease and recorded fact lives.
//!
//! This module owns the journal file (created 0600 before SQLite touches it; its -wal and
//! -shm files inherit that mode), the schema and its forward-only migrations
//! (`PRAGMA user_version`), and one typed method per query. It is the ONLY code that
//! imports rusqlite: other modules call these methods and get plain serde-serializable
//! structs back. It must not decide anything about runbooks or Kafka, and it must never be
//! handed a secret: callers store names, offsets, plans and outputs, not credentials.
//!
//! Concurrency: one `Connection` per `Journal`, behind a mutex so a `Journal` can be
//! shared by reference across threads. Writers that must be atomic across processes
//! (the lease, step transitions) use `BEGIN IMMEDIATE`; SQLite's busy timeout makes a
//! second process wait a few seconds for the write lock instead of failing at once.

/// A closed set of values stored as TEXT: `as_str`, serde in kebab-case, and the
/// rusqlite conversions, so queries bind and read the enum directly and an unknown value
/// in the file is an error rather than a guess.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }
        impl $name {
            /// The text stored in the journal and printed in reports.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                match value.as_str()? {
                    $($text => Ok($name::$variant),)+
                    other => Err(rusqlite::types::FromSqlError::Other(
                        format!("unknown {} `{other}`", stringify!($name)).into(),
                    )),
                }
            }
        }
    };
}

mod data;
mod lease;
mod runs;
mod schema;

pub use data::{
    FenceRow, GroupPositionRow, OffsetSyncRow, QuarantineRow, Role, RoleChangeRow, WatermarkRow,
    WatermarkSnapshot,
};
pub use lease::{LeaseGuard, LeaseHolder};
pub use runs::{
    AttemptOutcome, AttemptRecord, NewRun, NewStep, RunDetail, RunState, RunSummary, StepOutcome,
    StepRecord, StepState,
};

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use thiserror::Error;

use crate::error::ExitCode;

/// How long a writer waits for another process's write lock before giving up. Journal
/// transactions are short (milliseconds), so a few seconds only expire if something is
/// badly stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The journal file and its side files hold run history: owner only.
const FILE_MODE: u32 = 0o600;

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: u32 = schema::MIGRATIONS.len() as u32;

/// An open journal. Cheap to share by reference; every method takes `&self`.
pub struct Journal {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Open (creating if needed) the journal at `path` and bring its schema up to date.
    ///
    /// The file is created with mode 0600 before SQLite opens it, and an existing file (or
    /// -wal/-shm) readable by others is narrowed to 0600. Refuses a journal written by a
    /// newer kafka-dr rather than guess at its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        let conn = Connection::open(&path).map_err(|source| JournalError::Sql {
            path: path.clone(),
            op: "open the database",
            source,
        })?;
        let journal = Journal {
            conn: Arc::new(Mutex::new(conn)),
            path,
        };
        journal.configure()?;
        journal.migrate()?;
        // The -wal and -shm files exist now (WAL mode, open connection); SQLite gives them
        // the database file's mode, but a pre-existing pair may be wider.
        for suffix in ["-wal", "-shm"] {
            narrow_mode(&side_file(&journal.path, suffix))?;
        }
        Ok(journal)
    }

    /// Where the journal lives (hooks get it as `KAFKA_DR_JOURNAL`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open journal (equal to `SCHEMA_VERSION` after `open`).
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        self.read("read the schema version", |c| Ok(user_version(c)?))
    }

    fn configure(&self) -> Result<(), JournalError> {
        let conn = self.lock();
        let op = "configure the database";
        let wrap = |source| JournalError::Sql {
            path: self.path.clone(),
            op,
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        // WAL: readers (`runs list` during a run) never block the writer.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(wrap)?;
        // FULL: a "step started" record must survive a power cut, or resume would re-run
        // a step blind. Journal writes are few, so the fsyncs cost nothing that matters.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(wrap)?;
        Ok(())
    }

    /// Apply the migrations this journal lacks, each in its own IMMEDIATE transaction, so
    /// two processes opening a fresh journal at once cannot both run one.
    fn migrate(&self) -> Result<(), JournalError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(JournalError::TooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = i as u32 + 1;
            self.write("migrate the schema", |tx| {
                // Re-read under the write lock: another process may have just migrated.
                let now = user_version(tx)?;
                if now > SCHEMA_VERSION {
                    return Err(JournalError::TooNew {
                        path: self.path.clone(),
                        found: now,
                        supported: SCHEMA_VERSION,
                    }
                    .into());
                }
                if now < version {
                    tx.execute_batch(sql)?;
                    tx.pragma_update(None, "user_version", version)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The connection, even if a thread panicked while holding it: SQLite keeps its own
    /// state consistent (an unfinished transaction is rolled back when its guard drops).
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run read-only queries. `op` completes "cannot ..." in error messages.
    fn read<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, Fail>,
    ) -> Result<T, JournalError> {
        let conn = self.lock();
        f(&conn).map_err(|e| e.into_journal(&self.path, op))
    }

    /// Run `f` in one IMMEDIATE transaction: committed if `f` succeeds, rolled back if not.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, JournalError> {
        let conn = self.lock();
        let run = || {
            let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|e: Fail| e.into_journal(&self.path, op))
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Create the journal file (and its directory) owner-only before SQLite opens it, since
/// SQLite would create it with the umask's mode, and narrow an existing one.
fn create_private_file(path: &Path) -> Result<(), JournalError> {
    let create = |source| JournalError::Create {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(create)?;
        }
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map_err(create)?;
    narrow_mode(path)
}

/// Set `path` to 0600 if it exists and is readable or writable by group or others.
fn narrow_mode(path: &Path) -> Result<(), JournalError> {
    let create = |source| JournalError::Create {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(create(e)),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
            .map_err(create)?;
    }
    Ok(())
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A failure inside a query closure: SQLite's, or one of ours (a lease conflict found
/// mid-transaction). Turned into a `JournalError` with the path and operation attached.
#[derive(Debug)]
enum Fail {
    Sql(rusqlite::Error),
    Journal(JournalError),
    /// A stored value that does not parse (e.g. a JSON column).
    Corrupt(String),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<JournalError> for Fail {
    fn from(e: JournalError) -> Self {
        Fail::Journal(e)
    }
}

impl Fail {
    fn into_journal(self, path: &Path, op: &'static str) -> JournalError {
        match self {
            Fail::Sql(source) => JournalError::Sql {
                path: path.to_path_buf(),
                op,
                source,
            },
            Fail::Journal(e) => e,
            Fail::Corrupt(what) => JournalError::Corrupt {
                path: path.to_path_buf(),
                what,
            },
        }
    }
}

/// Errors from the journal. Lease conflicts map to exit code 4 (conflict).
#[derive(Debug, Error)]
pub enum JournalError {
    #[error(
        "cannot create the journal `{}`: {source}\nhelp: check that its directory is writable, or point --journal at another file",
        path.display()
    )]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal `{}`: cannot {op}: {source}{}", path.display(), sql_help(source))]
    Sql {
        path: PathBuf,
        op: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "journal `{}` has schema version {found}, newer than this kafka-dr understands (version {supported})\nhelp: use the kafka-dr release that wrote it or a newer one; this binary leaves it untouched",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "journal `{}`: {what}\nhelp: the journal was changed by something other than kafka-dr; keep a copy of it before going on",
        path.display()
    )]
    Corrupt { path: PathBuf, what: String },
    #[error(
        "run {run_id} not found in journal `{}`\nhelp: `kafka-dr runs list` shows the runs it holds",
        path.display()
    )]
    RunNotFound { path: PathBuf, run_id: i64 },
    #[error(
        "run {} already holds the lease on topology `{topology}` ({holder})\nhelp: wait for it to finish, or interrupt it (Ctrl-C, or `kill -INT {}` on `{}`) and run `kafka-dr resume {}`",
        holder.run_id, holder.pid, holder.host, holder.run_id
    )]
    LeaseHeld {
        topology: String,
        holder: Box<LeaseHolder>,
    },
    #[error(
        "the lease on topology `{topology}` is stale: run {} took it on this host ({holder}), and {why}\nhelp: make sure no kafka-dr is working on `{topology}`, then re-run with --take-over-lease (e.g. `kafka-dr resume {} --take-over-lease`)",
        holder.run_id, holder.run_id
    )]
    LeaseStale {
        topology: String,
        holder: Box<LeaseHolder>,
        why: String,
    },
    #[error(
        "run {} holds the lease on topology `{topology}` from another host ({holder}); this host (`{this_host}`) cannot tell whether it is still running\nhelp: make sure kafka-dr is stopped on `{}`, then re-run with --take-over-lease",
        holder.run_id, holder.host
    )]
    LeaseOtherHost {
        topology: String,
        holder: Box<LeaseHolder>,
        this_host: String,
    },
}

impl JournalError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            JournalError::LeaseHeld { .. }
            | JournalError::LeaseStale { .. }
            | JournalError::LeaseOtherHost { .. } => ExitCode::Conflict,
            JournalError::RunNotFound { .. } => ExitCode::Usage,
            JournalError::Create { .. }
            | JournalError::Sql { .. }
            | JournalError::TooNew { .. }
            | JournalError::Corrupt { .. } => ExitCode::Failure,
        }
    }
}

fn sql_help(e: &rusqlite::Error) -> &'static str {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            "\nhelp: another process kept the journal locked for more than 5 seconds; retry, and check for a stuck kafka-dr"
        }
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::PermissionDenied) => {
            "\nhelp: the journal file (or its directory) is not writable by this user"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn open_creates_private_files_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/journal.db");
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.path(), path);
        assert_eq!(mode(&path), 0o600);
        // A write makes sure both side files exist.
        journal
            .record_role_change(None, "dc1", Role::Primary)
            .unwrap();
        assert_eq!(mode(&side_file(&path, "-wal")), 0o600);
        assert_eq!(mode(&side_file(&path, "-shm")), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let jm: String = journal
            .lock()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(jm, "wal");
        let fk: i64 = journal
            .lock()
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn open_narrows_a_world_readable_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Journal::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let first = Journal::open(&path).unwrap();
        assert_eq!(first.schema_version().unwrap(), SCHEMA_VERSION);
        first.record_role_change(None, "dc2", Role::Backup).unwrap();
        drop(first);
        let second = Journal::open(&path).unwrap();
        assert_eq!(second.schema_version().unwrap(), SCHEMA_VERSION);
        // Data survived the second open (no table was recreated).
        assert_eq!(second.current_roles().unwrap().len(), 1);
        // And two journals on one file at once are fine too.
        let third = Journal::open(&path).unwrap();
        assert_eq!(third.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = Journal::open(&path).unwrap();
        journal
            .lock()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(journal);
        let err = Journal::open(&path).unwrap_err();
        assert!(matches!(err, JournalError::TooNew { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("newer than this kafka-dr"), "{msg}");
        assert!(msg.contains("help:"), "{msg}");
    }

    #[test]
    fn an_unwritable_location_says_where() {
        let err = Journal::open("/proc/kafka-dr-test/journal.db").unwrap_err();
        assert!(matches!(err, JournalError::Create { .. }));
        assert!(err.to_string().contains("`/proc/kafka-dr-test/journal.db`"));
    }
}
