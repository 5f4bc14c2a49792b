//! The binary's engine behaviour without Kafka (runbooks of `exec` and `confirm` steps
//! need no cluster): crash and resume, the lease between two processes, confirmations
//! without a terminal, `--version`/`--help`, JSON output shapes.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        // A topology that names clusters which need not exist: these runbooks never
        // contact them.
        std::fs::write(
            dir.path().join("topology.yaml"),
            "name: offline\nclusters:\n  dc1: { bootstrap: \"127.0.0.1:1\" }\n  dc2: { bootstrap: \"127.0.0.1:2\" }\nreplication:\n  primary: dc1\n  backup: dc2\n  policy: identity\n  mirror_principal: User:mirror\n  app_principals: [User:app]\n  topics: { include: [\"app\\\\..*\"] }\n",
        )
        .unwrap();
        Env { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kafka-dr"));
        c.arg("--topology")
            .arg(self.path("topology.yaml"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn version_and_help() {
    let env = Env::new();
    let (code, out, _) = env.run(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("kafka-dr "), "{out}");
    let (code, out, _) = env.run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("Exit codes:") && out.contains("check"),
        "{out}"
    );
}

/// Issue 3: a runbook whose `exec` step SIGKILLs the kafka-dr process mid-run is
/// completed by `kafka-dr resume`: the killed step is re-run (it has no verify_argv),
/// earlier steps are not, and `runs show` shows the attempts.
#[test]
fn sigkill_mid_run_then_resume_completes_the_run() {
    let env = Env::new();
    let marker = env.path("killed-once");
    let first = env.path("first-ran");
    let rb = env.write(
        "crash.yaml",
        &format!(
            "name: crash\nsteps:\n  - id: before\n    action: exec\n    params: {{ argv: [sh, -c, 'echo x >> {first}'] }}\n  - id: killer\n    action: exec\n    params: {{ argv: [sh, -c, 'if [ ! -e {m} ]; then touch {m}; kill -9 $KAFKA_DR_PID; sleep 5; fi; echo done'] }}\n  - id: after\n    action: exec\n    params: {{ argv: [\"true\"] }}\n",
            first = first.display(),
            m = marker.display()
        ),
    );
    let rb = rb.to_str().unwrap();
    let (code, _, _) = env.run(&["run", rb]);
    assert_eq!(code, None, "kafka-dr should have died of SIGKILL");
    assert!(marker.exists());

    // The dead holder's lease is stale: refused without the explicit flag...
    let (code, _, err) = env.run(&["resume"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("--take-over-lease"), "{err}");
    // ...and completed with it.
    let (code, out, err) = env.run(&["resume", "--take-over-lease"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(
        std::fs::read_to_string(&first).unwrap().lines().count(),
        1,
        "the step before the crash must not run again"
    );

    let (code, out, _) = env.run(&["--output", "json", "runs", "show", "1"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "succeeded");
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps[0]["attempts"], 1);
    assert_eq!(steps[1]["step_id"], "killer");
    assert_eq!(steps[1]["attempts"], 2, "{v:#}");
    assert_eq!(steps[2]["attempts"], 1);

    let (code, out, _) = env.run(&["--output", "json", "runs", "list"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"][0]["id"], 1);
}

/// Issue 3: two concurrent runs on one topology: the second refuses and names the holder.
#[test]
fn second_concurrent_run_refuses_and_names_the_holder() {
    let env = Env::new();
    let rb = env.write(
        "slow.yaml",
        "name: slow\nsteps:\n  - id: wait\n    action: exec\n    params: { argv: [sleep, \"4\"] }\n",
    );
    let rb = rb.to_str().unwrap();
    let first = env.cmd(&["run", rb]).spawn().unwrap();
    let pid = first.id();
    // Wait until the first one holds the lease (its run is recorded).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = env.run(&["--output", "json", "runs", "list"]);
        if out.contains("\"running\"") {
            break;
        }
        assert!(Instant::now() < deadline, "first run never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _, err) = env.run(&["run", rb]);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains(&format!("pid {pid}")),
        "must name the holder: {err}"
    );
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the first run failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The process that holds a POSIX lock of `len` bytes at `start` in `file`, if any
/// (F_GETLK: asks the kernel, from this process, who would block a write lock).
fn posix_lock_holder(file: &std::path::Path, start: i64, len: i64) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    // SAFETY: a zeroed flock is a valid value; F_GETLK only fills it in.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = start;
    lock.l_len = len;
    // SAFETY: a valid open descriptor and a pointer to a live flock.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut lock) };
    assert_eq!(rc, 0, "F_GETLK on {}", file.display());
    (lock.l_type != libc::F_UNLCK as libc::c_short).then_some(lock.l_pid)
}

/// A running step keeps its hold on the journal while other commands read it: SQLite
/// marks a WAL journal in use with POSIX locks (a read lock on the database file and on
/// the -shm "DMS" byte), and a process loses every such lock on a file when it closes
/// ANY descriptor of that file. Had kafka-dr opened and closed the -wal/-shm itself after
/// SQLite connected (to narrow their mode), the next reader would take the journal for
/// unused, truncate the -shm under the run's mapping (the run dies of SIGBUS) or
/// checkpoint and delete the WAL it is still writing (journal records lost).
#[test]
fn a_running_step_keeps_its_hold_on_the_journal_while_others_read_it() {
    let env = Env::new();
    let rb = env.write(
        "slow.yaml",
        "name: slow\nsteps:\n  - id: wait\n    action: exec\n    params: { argv: [sleep, \"3\"] }\n",
    );
    let rb = rb.to_str().unwrap();
    let first = env.cmd(&["run", rb]).spawn().unwrap();
    let pid = first.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = env.run(&["--output", "json", "runs", "list"]);
        if out.contains("\"running\"") {
            break;
        }
        assert!(Instant::now() < deadline, "first run never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Readers and a refused writer come and go while the step runs.
    let (code, _, err) = env.run(&["run", rb]);
    assert_eq!(code, Some(4), "{err}");
    let (code, _, _) = env.run(&["runs", "show", "1"]);
    assert_eq!(code, Some(0));
    // The run still holds both locks SQLite relies on (unix VFS: the -shm DMS byte is
    // at offset 128; the database file's SHARED range starts at 0x40000002, 510 bytes).
    let journal = env.path("topology.journal.db");
    let shm = env.path("topology.journal.db-shm");
    assert_eq!(
        posix_lock_holder(&shm, 128, 1),
        Some(pid),
        "the run lost its lock on the journal's -shm: another process may truncate it"
    );
    assert_eq!(
        posix_lock_holder(&journal, 0x4000_0002, 510),
        Some(pid),
        "the run lost its lock on the journal: another process may delete its WAL"
    );
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the first run failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out, _) = env.run(&["--output", "json", "runs", "show", "1"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"succeeded\""), "{out}");
}

/// Without a terminal, a `confirm` step refuses unless `--yes`.
#[test]
fn confirm_without_tty_refuses_unless_yes() {
    let env = Env::new();
    let rb = env.write(
        "ask.yaml",
        "name: ask\nsteps:\n  - id: ask\n    action: confirm\n    params: { message: \"go?\" }\n",
    );
    let rb = rb.to_str().unwrap();
    let (code, _, err) = env.run(&["run", rb]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("--yes"), "{err}");
    let (code, _, err) = env.run(&["--yes", "run", "--take-over-lease", rb]);
    assert_eq!(code, Some(0), "{err}");
}

/// `plan` (dry-run) calls no hook.
#[test]
fn plan_runs_no_hook() {
    let env = Env::new();
    let touched = env.path("touched");
    let rb = env.write(
        "hook.yaml",
        &format!(
            "name: hook\nsteps:\n  - id: touch\n    action: exec\n    params: {{ argv: [touch, \"{}\"] }}\n",
            touched.display()
        ),
    );
    let (code, _, err) = env.run(&["plan", rb.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("touch"),
        "the plan must say what it would run: {err}"
    );
    assert!(!touched.exists(), "dry-run ran the hook");
}

/// The journal is created private (by a command that writes it: since issue 12,
/// `runs list` reads a journal and creates none).
#[test]
fn journal_is_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let (code, _, _) = env.run(&["runs", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        !env.path("topology.journal.db").exists(),
        "a read command created the journal"
    );
    let rb = env.write(
        "noop.yaml",
        "name: noop\nsteps:\n  - id: noop\n    action: exec\n    params: { argv: [\"true\"] }\n",
    );
    let (code, _, err) = env.run(&["run", rb.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let meta = std::fs::metadata(env.path("topology.journal.db")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

/// Issue 16: `failback reverse --tail deliver` needs the prefix policy; on an identity
/// topology it is refused as bad input, naming the policy, before any journal or cluster
/// is touched. With `--runbook` it is a usage error (the file decides).
#[test]
fn tail_deliver_is_refused_on_the_identity_policy() {
    let env = Env::new();
    let (code, _, err) = env.run(&["--yes", "failback", "reverse", "--tail", "deliver"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("policy: prefix"), "{err}");
    assert!(err.contains("policy: identity"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(
        !env.path("topology.journal.db").exists(),
        "the refusal created a journal"
    );
    let rb = env.write("rb.yaml", "name: x\nsteps: []\n");
    let (code, _, err) = env.run(&[
        "failback",
        "reverse",
        "--tail",
        "deliver",
        "--runbook",
        rb.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--runbook") && err.contains("--tail"), "{err}");
}

/// Issue 15: `--help` as the binary prints it when piped (100 columns), pinned so that a
/// change to it is reviewed; and the subcommand an operator reads during an incident.
#[test]
fn help_snapshots_at_100_columns() {
    let env = Env::new();
    for (name, args) in [
        ("help", vec!["--help"]),
        (
            "help_failover_promote",
            vec!["failover", "promote", "--help"],
        ),
    ] {
        let out = env
            .cmd(&args)
            .env_remove("KAFKA_DR_TOPOLOGY")
            .env_remove("KAFKA_DR_JOURNAL")
            .env_remove("COLUMNS")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "{name}: {line}");
        }
        insta::assert_snapshot!(name, text);
    }
}
