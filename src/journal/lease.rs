//! The lease: at most one kafka-dr process drives runs on a topology at a time.
//!
//! One row per topology name says which run holds it, from which host and process (pid
//! plus the process start time from /proc/<pid>/stat, so a reused pid is not mistaken for
//! the holder). Taking it is one `BEGIN IMMEDIATE` transaction, so two processes sharing a
//! journal cannot both succeed. A holder that is alive is never displaced; a holder that
//! is gone (same host) or unknowable (another host) is displaced only when the caller says
//! so (`--take-over-lease`), and the guard reports whom it displaced so the engine can say
//! it loudly. This file only stores and checks; it prints nothing.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::runs::{insert_run, NewRun};
use super::{Fail, Journal, JournalError};

/// Who holds (or held) a lease. Displays as "host `h`, pid N, since T".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseHolder {
    pub run_id: i64,
    pub host: String,
    pub pid: u32,
    /// Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22);
    /// None where /proc is not available.
    pub process_start: Option<u64>,
    pub acquired_at: String,
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host `{}`, pid {}, since {}",
            self.host, self.pid, self.acquired_at
        )
    }
}

/// Holds the lease on a topology until dropped or `release`d.
///
/// It owns its own handle on the journal's connection, so it can be kept next to the
/// `Journal` without borrowing it.
#[must_use = "the lease is released when the guard is dropped"]
pub struct LeaseGuard {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    topology: String,
    run_id: i64,
    took_over: Option<LeaseHolder>,
    released: bool,
}

impl fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("topology", &self.topology)
            .field("run_id", &self.run_id)
            .field("took_over", &self.took_over)
            .finish()
    }
}

impl LeaseGuard {
    pub fn topology(&self) -> &str {
        &self.topology
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// The holder this guard displaced (`take_over`), to be reported loudly.
    pub fn took_over(&self) -> Option<&LeaseHolder> {
        self.took_over.as_ref()
    }

    /// Release now, reporting a failure (dropping the guard releases silently).
    pub fn release(mut self) -> Result<(), JournalError> {
        self.released = true;
        self.delete()
            .map_err(|e| e.into_journal(&self.path, "release the lease"))
    }

    fn delete(&self) -> Result<(), Fail> {
        let me = this_process();
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        // Only our own row: if someone took the lease over meanwhile, it is theirs now.
        conn.execute(
            "DELETE FROM lease WHERE topology = ?1 AND run_id = ?2 AND host = ?3 AND pid = ?4",
            params![self.topology, self.run_id, me.host, me.pid],
        )?;
        Ok(())
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if !self.released {
            // Nowhere to report from a destructor; a row left behind is found stale later
            // (this process will be gone) and names itself in that message.
            let _ = self.delete();
        }
    }
}

impl Journal {
    /// Take the lease on `topology` for `run_id` (e.g. to resume it).
    ///
    /// Refuses if a live process holds it; refuses a stale holder (gone from this host) or
    /// one on another host unless `take_over`, in which case the guard's `took_over` names
    /// it.
    pub fn acquire_lease(
        &self,
        topology: &str,
        run_id: i64,
        take_over: bool,
    ) -> Result<LeaseGuard, JournalError> {
        let took_over = self.write("take the lease", |tx| {
            take_lease(tx, topology, run_id, take_over)
        })?;
        Ok(self.guard(topology, run_id, took_over))
    }

    /// Record a new run and take the lease for it in one transaction, so a refused lease
    /// leaves no run behind.
    pub fn create_run_leased(
        &self,
        run: &NewRun<'_>,
        take_over: bool,
    ) -> Result<(i64, LeaseGuard), JournalError> {
        let (run_id, took_over) = self.write("record a new run", |tx| {
            let run_id = insert_run(tx, run)?;
            let took_over = take_lease(tx, run.topology, run_id, take_over)?;
            Ok((run_id, took_over))
        })?;
        Ok((run_id, self.guard(run.topology, run_id, took_over)))
    }

    /// Who holds the lease on `topology`, if anyone (live or stale).
    pub fn lease_holder(&self, topology: &str) -> Result<Option<LeaseHolder>, JournalError> {
        self.read("read the lease", |c| read_holder(c, topology))
    }

    fn guard(&self, topology: &str, run_id: i64, took_over: Option<LeaseHolder>) -> LeaseGuard {
        LeaseGuard {
            conn: Arc::clone(&self.conn),
            path: self.path.clone(),
            topology: topology.to_string(),
            run_id,
            took_over,
            released: false,
        }
    }
}

fn read_holder(c: &Connection, topology: &str) -> Result<Option<LeaseHolder>, Fail> {
    Ok(c.query_row(
        "SELECT run_id, host, pid, process_start, acquired_at FROM lease WHERE topology = ?1",
        [topology],
        |r| {
            Ok(LeaseHolder {
                run_id: r.get(0)?,
                host: r.get(1)?,
                pid: r.get(2)?,
                process_start: r.get(3)?,
                acquired_at: r.get(4)?,
            })
        },
    )
    .optional()?)
}

/// The check-and-set, inside the caller's IMMEDIATE transaction. Returns the holder it
/// displaced, if any.
fn take_lease(
    tx: &Connection,
    topology: &str,
    run_id: i64,
    take_over: bool,
) -> Result<Option<LeaseHolder>, Fail> {
    let me = this_process();
    let holder = read_holder(tx, topology)?;
    if let Some(holder) = &holder {
        let conflict = |e| Err(Fail::Journal(e));
        if holder.host == me.host {
            match liveness(holder.pid, holder.process_start) {
                Liveness::Alive => {
                    // Never displace a live holder, whatever `take_over` says.
                    return conflict(JournalError::LeaseHeld {
                        topology: topology.to_string(),
                        holder: Box::new(holder.clone()),
                    });
                }
                Liveness::Gone(why) if !take_over => {
                    return conflict(JournalError::LeaseStale {
                        topology: topology.to_string(),
                        holder: Box::new(holder.clone()),
                        why,
                    });
                }
                Liveness::Gone(_) => {}
            }
        } else if !take_over {
            return conflict(JournalError::LeaseOtherHost {
                topology: topology.to_string(),
                holder: Box::new(holder.clone()),
                this_host: me.host.clone(),
            });
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO lease (topology, run_id, host, pid, process_start)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![topology, run_id, me.host, me.pid, me.start],
    )?;
    if let Some(old) = holder.as_ref().filter(|h| h.run_id != run_id) {
        // The displaced run's process is gone (or declared gone by --take-over-lease):
        // `running` would be a lie in `runs list`. It stays resumable.
        tx.execute(
            "UPDATE runs SET state = 'interrupted',
                    finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                    error = ?2
             WHERE id = ?1 AND state = 'running'",
            params![
                old.run_id,
                format!("its process stopped; run {run_id} took over the lease")
            ],
        )?;
    }
    Ok(holder)
}

/// This process, as a lease holder.
pub(super) struct Process {
    pub host: String,
    pub pid: u32,
    pub start: Option<u64>,
}

pub(super) fn this_process() -> &'static Process {
    static ME: OnceLock<Process> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        Process {
            host: hostname(),
            pid,
            start: process_start(pid),
        }
    })
}

enum Liveness {
    Alive,
    /// Gone, and why we think so (for the stale-lease message).
    Gone(String),
}

fn liveness(pid: u32, start: Option<u64>) -> Liveness {
    // kill(0, ...) would signal our own process group and kill(-1, ...) everyone: a pid
    // that does not fit a positive pid_t cannot be a live holder.
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return Liveness::Gone(format!("pid {pid} is not a valid process id"));
    };
    if raw <= 0 {
        return Liveness::Gone(format!("pid {pid} is not a valid process id"));
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(raw, 0) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return Liveness::Gone(format!("pid {pid} no longer exists"));
    }
    match read_stat(pid) {
        Some(stat) if matches!(stat.state, 'Z' | 'X') => {
            Liveness::Gone(format!("pid {pid} has exited (it is a zombie)"))
        }
        Some(stat) => match start {
            Some(s) if s != stat.start => Liveness::Gone(format!(
                "pid {pid} now belongs to another process (started at tick {}, not {s})",
                stat.start
            )),
            _ => Liveness::Alive,
        },
        // No /proc (not Linux) or a race with its exit: trust kill(2).
        None => Liveness::Alive,
    }
}

struct Stat {
    state: char,
    start: u64,
}

fn process_start(pid: u32) -> Option<u64> {
    read_stat(pid).map(|s| s.start)
}

/// Fields 3 (state) and 22 (starttime) of /proc/<pid>/stat. Field 2 (comm) is in
/// parentheses and may itself contain spaces and parentheses, so split after the last ')'.
fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; field 22 is 19 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start })
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates when the
    // name fits, and we stop at the first NUL or the buffer's end either way.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::runs::NewStep;
    use super::*;
    use crate::exit_code::ExitCode;

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j.db")).unwrap();
        (dir, j)
    }

    fn run(j: &Journal) -> i64 {
        j.create_run(&NewRun {
            topology: "lab",
            runbook: "rb",
            source: "test",
            checksum: "c",
            text: "t",
            dry_run: false,
            steps: vec![NewStep {
                step_id: "s",
                action: "exec",
            }],
        })
        .unwrap()
    }

    /// A pid that surely belongs to no process: a child we started and reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn plant_holder(j: &Journal, run_id: i64, host: &str, pid: u32, start: Option<u64>) {
        j.lock()
            .execute(
                "INSERT OR REPLACE INTO lease (topology, run_id, host, pid, process_start)
                 VALUES ('lab', ?1, ?2, ?3, ?4)",
                params![run_id, host, pid, start],
            )
            .unwrap();
    }

    #[test]
    fn parses_stat_with_awkward_comm() {
        let line = "4242 (my (weird) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.start, 987654);
        assert!(process_start(std::process::id()).is_some());
    }

    #[test]
    fn second_acquire_is_refused_naming_the_holder() {
        let (_d, j) = journal();
        let r1 = run(&j);
        let r2 = run(&j);
        let guard = j.acquire_lease("lab", r1, false).unwrap();
        assert!(guard.took_over().is_none());
        // A live holder is never displaced, not even with take_over.
        for take_over in [false, true] {
            let err = j.acquire_lease("lab", r2, take_over).unwrap_err();
            assert_eq!(err.exit_code(), ExitCode::Conflict);
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!(
                    "run {r1} already holds the lease on topology `lab`"
                )),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("pid {}", std::process::id())),
                "{msg}"
            );
            assert!(msg.contains(&format!("host `{}`", hostname())), "{msg}");
            assert!(msg.contains("help: wait for it to finish"), "{msg}");
        }
        // Another topology is independent.
        let other = j.acquire_lease("other", r2, false).unwrap();
        drop(other);
        // Released on drop: now r2 can take it.
        drop(guard);
        assert!(j.lease_holder("lab").unwrap().is_none());
        let g2 = j.acquire_lease("lab", r2, false).unwrap();
        assert_eq!(j.lease_holder("lab").unwrap().unwrap().run_id, r2);
        g2.release().unwrap();
        assert!(j.lease_holder("lab").unwrap().is_none());
    }

    #[test]
    fn concurrent_acquirers_on_one_file_get_one_lease() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let j = Journal::open(&path).unwrap();
        let r = run(&j);
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let results: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let j = Journal::open(&path).unwrap();
                    barrier.wait();
                    j.acquire_lease("lab", r, false).map(|g| {
                        // Keep it until every thread has tried.
                        std::thread::sleep(std::time::Duration::from_millis(500));
                        drop(g);
                    })
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        for e in results.into_iter().filter_map(Result::err) {
            assert!(matches!(e, JournalError::LeaseHeld { .. }), "{e}");
        }
    }

    #[test]
    fn stale_lease_needs_take_over() {
        let (_d, j) = journal();
        let r1 = run(&j);
        let r2 = run(&j);
        let pid = dead_pid();
        plant_holder(&j, r1, &hostname(), pid, Some(1));
        let err = j.acquire_lease("lab", r2, false).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Conflict);
        let msg = err.to_string();
        assert!(
            msg.contains("the lease on topology `lab` is stale"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("run {r1} took it on this host (host `")),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("pid {pid} no longer exists")),
            "{msg}"
        );
        assert!(msg.contains("--take-over-lease"), "{msg}");

        let guard = j.acquire_lease("lab", r2, true).unwrap();
        let old = guard.took_over().unwrap();
        assert_eq!((old.run_id, old.pid), (r1, pid));
        let now = j.lease_holder("lab").unwrap().unwrap();
        assert_eq!((now.run_id, now.pid), (r2, std::process::id()));
        // The displaced run no longer claims to be running.
        let r1 = j.run_summary(r1).unwrap();
        assert_eq!(r1.state, super::super::RunState::Interrupted);
        assert!(r1
            .error
            .unwrap()
            .contains(&format!("run {r2} took over the lease")));
        assert_eq!(
            j.run_summary(r2).unwrap().state,
            super::super::RunState::Running
        );
    }

    #[test]
    fn a_reused_pid_is_stale() {
        let (_d, j) = journal();
        let r1 = run(&j);
        let r2 = run(&j);
        // Our own pid, but a different start time: the holder was an earlier process.
        let start = process_start(std::process::id()).unwrap();
        plant_holder(&j, r1, &hostname(), std::process::id(), Some(start + 1));
        let err = j.acquire_lease("lab", r2, false).unwrap_err();
        assert!(
            err.to_string().contains("now belongs to another process"),
            "{err}"
        );
    }

    #[test]
    fn another_host_needs_take_over() {
        let (_d, j) = journal();
        let r1 = run(&j);
        let r2 = run(&j);
        plant_holder(&j, r1, "elsewhere.example", 1, None);
        let err = j.acquire_lease("lab", r2, false).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Conflict);
        let msg = err.to_string();
        assert!(msg.contains("from another host"), "{msg}");
        assert!(msg.contains("`elsewhere.example`"), "{msg}");
        let guard = j.acquire_lease("lab", r2, true).unwrap();
        assert_eq!(guard.took_over().unwrap().host, "elsewhere.example");
    }

    #[test]
    fn a_refused_leased_run_leaves_no_run_behind() {
        let (_d, j) = journal();
        let r1 = run(&j);
        let _guard = j.acquire_lease("lab", r1, false).unwrap();
        let new = NewRun {
            topology: "lab",
            runbook: "rb",
            source: "test",
            checksum: "c",
            text: "t",
            dry_run: false,
            steps: vec![],
        };
        assert!(j.create_run_leased(&new, false).is_err());
        assert_eq!(j.runs_list().unwrap().len(), 1);
    }

    #[test]
    fn a_guard_does_not_release_a_lease_taken_over_from_it() {
        let (_d, j) = journal();
        let r1 = run(&j);
        let r2 = run(&j);
        let guard = j.acquire_lease("lab", r1, false).unwrap();
        // Someone on another host took it over (simulated by rewriting the row).
        plant_holder(&j, r2, "elsewhere.example", 7, None);
        drop(guard);
        assert_eq!(j.lease_holder("lab").unwrap().unwrap().run_id, r2);
    }
}
