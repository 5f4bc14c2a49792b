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
    DeltasCopyMark, DeltasHighWater, FenceRow, FingerprintJson, GroupPositionRow, OffsetSyncRow,
    QuarantineRow, Role, RoleChangeRow, WatermarkRow, WatermarkSnapshot,
};
pub use lease::{LeaseGuard, LeaseHolder};
pub use runs::{
    AttemptOutcome, AttemptRecord, NewRun, NewStep, RunDetail, RunState, RunSummary, StepOutcome,
    StepRecord, StepState, StepTexts,
};

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use thiserror::Error;

use crate::exit_code::ExitCode;

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
    /// A private copy this journal works on (removed on drop), when the real file could
    /// only be read: see `open_for_plan` and `open_read_only`.
    scratch: Option<Scratch>,
}

/// A private directory holding a copy of a journal; removed with the `Journal`.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
    ///
    /// A symbolic link, a directory, a device (`/dev/null`) or a FIFO at `path` is refused
    /// (`JournalError::NotAFile`): the journal is never reached through a link, so a link
    /// planted in its place cannot redirect writes or the 0600 narrowing to another file.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        check_path(&path)?;
        create_private_file(&path)?;
        // Before SQLite connects, never after: SQLite marks the journal in use with POSIX
        // locks, and a process loses all its locks on a file when it closes any descriptor
        // of that file. Opening the -shm here after connecting would let the next reader
        // take the journal for unused and truncate the -shm under this run (SIGBUS), or
        // let a closing writer checkpoint and delete the WAL this run still writes. SQLite
        // creates missing side files with the database file's mode (0600).
        for suffix in ["-wal", "-shm"] {
            narrow_mode(&side_file(&path, suffix))?;
        }
        Journal::open_connection(&path.clone(), path, None)
    }

    /// Opens SQLite on `db` (the journal itself, or a private copy of it) read-write;
    /// errors name `path`, the journal the operator gave.
    fn open_connection(
        db: &Path,
        path: PathBuf,
        scratch: Option<Scratch>,
    ) -> Result<Journal, JournalError> {
        let conn =
            Connection::open_with_flags(db, rw_flags()).map_err(|source| JournalError::Sql {
                path: path.clone(),
                op: "open the database",
                source,
            })?;
        let journal = Journal {
            conn: Arc::new(Mutex::new(conn)),
            path,
            scratch,
        };
        journal.finish_open()
    }

    /// Open the journal for commands that only read it (`runs list`, `runs show`,
    /// `tail show`): nothing is created, migrated or chmod-ed, so they work on a journal
    /// this user cannot write. A missing journal reads as an empty one.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        if !check_path(&path)? {
            return Journal::in_memory(path);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let attempt = Connection::open_with_flags(&path, flags).and_then(|c| {
            c.busy_timeout(BUSY_TIMEOUT)?;
            let v = user_version(&c)?;
            Ok((c, v))
        });
        match attempt {
            Ok((conn, v)) if v == SCHEMA_VERSION => Ok(Journal {
                conn: Arc::new(Mutex::new(conn)),
                path,
                scratch: None,
            }),
            Ok((_, v)) if v > SCHEMA_VERSION => Err(JournalError::TooNew {
                path,
                found: v,
                supported: SCHEMA_VERSION,
            }),
            // An older schema (to migrate), or a WAL journal whose -shm this user cannot
            // create: read a private copy instead. The connection is closed first: copying
            // opens the journal's files, which would drop its locks (see `open`).
            Ok((conn, _)) => {
                drop(conn);
                Journal::scratch_copy(path)
            }
            Err(_) => Journal::scratch_copy(path),
        }
    }

    /// Open the journal for a dry-run (`plan`, `--dry-run`), which records its plan: the
    /// journal itself when it is writable, else a private copy (the plan is then not kept,
    /// and the caller says so).
    pub fn open_for_plan(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        match Journal::open(&path) {
            Ok(j) => Ok(j),
            Err(e) if e.is_not_writable() && check_path(&path)? => Journal::scratch_copy(path),
            Err(e) if e.is_not_writable() => Journal::in_memory(path),
            Err(e) => Err(e),
        }
    }

    /// True when this journal is a private copy or an empty stand-in: what is written to
    /// it is not kept.
    pub fn is_scratch(&self) -> bool {
        self.scratch.is_some() || self.conn_is_memory()
    }

    fn conn_is_memory(&self) -> bool {
        self.lock().path().is_none_or(str::is_empty)
    }

    /// An empty journal in memory, named `path` in messages.
    fn in_memory(path: PathBuf) -> Result<Journal, JournalError> {
        let conn = Connection::open_in_memory().map_err(|source| JournalError::Sql {
            path: path.clone(),
            op: "open an empty journal in memory",
            source,
        })?;
        let journal = Journal {
            conn: Arc::new(Mutex::new(conn)),
            path,
            scratch: None,
        };
        journal.migrate()?;
        Ok(journal)
    }

    /// Copy the journal (and its -wal) into a private directory and open the copy.
    fn scratch_copy(path: PathBuf) -> Result<Journal, JournalError> {
        let read = |source| JournalError::Create {
            path: path.clone(),
            source,
        };
        let dir = std::env::temp_dir().join(format!(
            "kafka-dr-journal-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        DirBuilder::new().mode(0o700).create(&dir).map_err(read)?;
        let scratch = Scratch(dir.clone());
        let copy = dir.join("journal.db");
        copy_no_follow(&path, &copy).map_err(read)?;
        let wal = side_file(&path, "-wal");
        if std::fs::symlink_metadata(&wal).is_ok_and(|m| m.is_file()) {
            copy_no_follow(&wal, &side_file(&copy, "-wal")).map_err(read)?;
        }
        Journal::open_connection(&copy, path, Some(scratch))
    }

    fn finish_open(self) -> Result<Journal, JournalError> {
        let journal = self;
        journal.configure()?;
        journal.migrate()?;
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

/// The run this process is driving, for the panic hook: (database file, run id).
static CURRENT_RUN: Mutex<Option<(PathBuf, i64)>> = Mutex::new(None);

/// While alive, a panic anywhere in the process marks run `run_id` failed (see
/// `fail_current_run_after_panic`). The engine holds one for the length of a run.
#[must_use = "the run is watched only while the guard lives"]
pub struct CurrentRunGuard(());

impl Drop for CurrentRunGuard {
    fn drop(&mut self) {
        *CURRENT_RUN.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Journal {
    /// Watch run `run_id` of this journal for the panic hook.
    pub fn watch_run(&self, run_id: i64) -> CurrentRunGuard {
        let file = self
            .lock()
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        *CURRENT_RUN.lock().unwrap_or_else(|e| e.into_inner()) = file.map(|f| (f, run_id));
        CurrentRunGuard(())
    }
}

/// For the panic hook: mark the run this process drives (if any) `failed` with `reason`,
/// on a connection of its own (the engine's may be mid-transaction on the panicking
/// thread), waiting at most two seconds for the write lock. Returns the run id and the
/// journal's path, and whether the mark was written.
pub fn fail_current_run_after_panic(reason: &str) -> Option<(i64, PathBuf, bool)> {
    let (file, run_id) = CURRENT_RUN
        .try_lock()
        .ok()
        .and_then(|g| g.as_ref().cloned())?;
    let written = (|| -> rusqlite::Result<usize> {
        let conn = Connection::open_with_flags(&file, rw_flags() - OpenFlags::SQLITE_OPEN_CREATE)?;
        conn.busy_timeout(Duration::from_secs(2))?;
        conn.execute(
            "UPDATE runs SET state = 'failed', error = ?2,
                    finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1 AND state = 'running'",
            rusqlite::params![run_id, reason],
        )
    })()
    .is_ok_and(|n| n > 0);
    Some((run_id, file, written))
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// What SQLite is asked for: read-write, create, and never through a symbolic link.
fn rw_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW
}

/// Refuse anything at `path` that is not a regular file; true when a file is there.
fn check_path(path: &Path) -> Result<bool, JournalError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(JournalError::Create {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let t = meta.file_type();
    let what = if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        return Ok(true);
    } else {
        "a device, FIFO or socket"
    };
    Err(JournalError::NotAFile {
        path: path.to_path_buf(),
        what,
    })
}

/// Copy `from` to a new file `to` (0600), refusing to follow a link at `from`.
fn copy_no_follow(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut src = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(from)?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    Ok(())
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
    // O_NOFOLLOW: a link swapped in after `check_path` fails here instead of being
    // followed; O_NONBLOCK: a FIFO swapped in cannot hang the open.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(create)?;
    narrow_open_file(&file).map_err(create)
}

/// Narrow an open file to 0600 (fchmod: the file itself, never a link's target).
fn narrow_open_file(file: &std::fs::File) -> std::io::Result<()> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(())
}

/// Set `path` (a -wal or -shm side file) to 0600 if it exists and is readable or
/// writable by group or others; a link there is left alone, never followed.
fn narrow_mode(path: &Path) -> Result<(), JournalError> {
    let create = |source| JournalError::Create {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(create(e)),
    }
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(create(e)),
    };
    narrow_open_file(&file).map_err(create)
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
        "the journal `{}` is {what}, not a regular file\nhelp: point --journal (or KAFKA_DR_JOURNAL) at a journal file, or at a path where one can be created; kafka-dr never follows a link to its journal",
        path.display()
    )]
    NotAFile { path: PathBuf, what: &'static str },
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
            JournalError::NotAFile { .. }
            | JournalError::Create { .. }
            | JournalError::TooNew { .. }
            | JournalError::Corrupt { .. } => ExitCode::Journal,
            JournalError::Sql { source, .. } => match source.sqlite_error_code() {
                Some(
                    rusqlite::ErrorCode::NotADatabase
                    | rusqlite::ErrorCode::DatabaseCorrupt
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::PermissionDenied,
                ) => ExitCode::Journal,
                _ => ExitCode::Failure,
            },
        }
    }

    /// True when the journal could not be written for lack of permission (or a
    /// read-only file system): a dry-run can then work on a copy.
    pub fn is_not_writable(&self) -> bool {
        match self {
            JournalError::Create { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS)
            ),
            JournalError::Sql { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::ReadOnly
                        | rusqlite::ErrorCode::PermissionDenied
                        | rusqlite::ErrorCode::CannotOpen
                )
            ),
            _ => false,
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

    /// A journal written before topic ids (schema 1) still reads after the migration: its
    /// syncs and positions keep their order and values, with no ids.
    #[test]
    fn a_journal_from_before_topic_ids_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(schema::MIGRATIONS[0]).unwrap();
            c.execute_batch(
                "INSERT INTO offset_syncs (source_cluster, target_cluster, topic, partition,
                     upstream_offset, downstream_offset) VALUES
                     ('dc1', 'dc2', 'orders', 0, 200, 190), ('dc1', 'dc2', 'orders', 0, 100, 90);
                 INSERT INTO group_positions (cluster, group_id, topic, partition,
                     committed_offset) VALUES ('dc1', 'g', 'orders', 0, 150);",
            )
            .unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
        let syncs = j
            .offset_syncs_in_recording_order("dc1", "dc2", "orders", 0)
            .unwrap();
        let seen: Vec<_> = syncs
            .iter()
            .map(|s| (s.upstream_offset, s.source_topic_id.clone()))
            .collect();
        assert_eq!(seen, vec![(200, None), (100, None)]);
        let p = j.latest_group_positions("dc1", None).unwrap();
        assert_eq!((p[0].committed_offset, p[0].topic_id.clone()), (150, None));
        // The old pair is still recorded once.
        let mut again = syncs[0].clone();
        again.recorded_at = None;
        assert_eq!(j.record_offset_syncs(&[again]).unwrap(), 0);
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

    /// Issue 12: a link in the journal's place is refused, and its target keeps its mode.
    #[test]
    fn a_symlink_journal_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("journal.db");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for err in [
            Journal::open(&link).unwrap_err(),
            Journal::open_read_only(&link).unwrap_err(),
            Journal::open_for_plan(&link).unwrap_err(),
        ] {
            assert!(matches!(err, JournalError::NotAFile { .. }), "{err}");
            assert_eq!(err.exit_code(), ExitCode::Journal);
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }
        assert_eq!(mode(&target), 0o644);
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        let err = Journal::open("/dev/null").unwrap_err();
        assert!(err.to_string().contains("a device"), "{err}");
        let err = Journal::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
    }

    /// Issue 12: reading creates nothing, changes nothing, and sees what was written.
    #[test]
    fn read_only_open_creates_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let empty = Journal::open_read_only(&path).unwrap();
        assert!(empty.runs_list().unwrap().is_empty());
        assert!(empty.is_scratch());
        assert!(!path.exists(), "a read-only open created the journal");
        let j = Journal::open(&path).unwrap();
        j.record_role_change(None, "dc1", Role::Primary).unwrap();
        drop(j);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        let before = std::fs::read(&path).unwrap();
        let ro = Journal::open_read_only(&path).unwrap();
        assert_eq!(ro.current_roles().unwrap().len(), 1);
        assert!(ro.record_role_change(None, "dc2", Role::Backup).is_err());
        drop(ro);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(
            mode(&path),
            0o400,
            "a read-only open narrowed or widened the mode"
        );
        // A copy to plan on: it reads the same, and what it writes does not reach the file.
        let copy = Journal::scratch_copy(path.clone()).unwrap();
        assert!(copy.is_scratch());
        copy.record_role_change(None, "dc2", Role::Backup).unwrap();
        assert_eq!(copy.current_roles().unwrap().len(), 2);
        drop(copy);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn an_unwritable_location_says_where() {
        let err = Journal::open("/proc/kafka-dr-test/journal.db").unwrap_err();
        assert!(matches!(err, JournalError::Create { .. }));
        assert!(err.to_string().contains("`/proc/kafka-dr-test/journal.db`"));
    }
}
