//! `exec`: run an operator hook (a script that stops an application, flips DNS, pages
//! someone...). Parameters: `argv` (list, no shell), `timeout_seconds` (default 60),
//! `env` (map added to kafka-dr's own environment), `verify_argv` (optional list).
//!
//! The hook gets the run's context in its environment: KAFKA_DR_RUN_ID, KAFKA_DR_STEP_ID,
//! KAFKA_DR_RUNBOOK, KAFKA_DR_TOPOLOGY (path), KAFKA_DR_JOURNAL (path), KAFKA_DR_PID
//! (kafka-dr's own pid) and KAFKA_DR_ATTEMPT. It runs in its own process group, which is
//! killed whole on timeout or Ctrl-C. Its stdout and stderr are captured (the last 64 KiB
//! of each is kept and journaled, saying how much was dropped).
//!
//! Verification: with `verify_argv`, that command exiting 0 means done. Without it, the
//! step is done only if the hook completed in this process, so a resumed run re-runs a
//! hook whose step was interrupted: hooks must be idempotent. Env VALUES are never
//! printed or journaled (they may be secrets); keys are.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::ActionError;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;

pub const NAME: &str = "exec";

/// Kept of each of stdout and stderr (the end of it: errors come last).
const CAPTURE_CAP: usize = 64 * 1024;
/// stderr lines quoted in an error message.
const STDERR_TAIL_LINES: usize = 10;
const POLL: Duration = Duration::from_millis(50);
/// After the hook exits, how long to wait for its pipes to close (a background process
/// it started may hold them open forever).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Variables kafka-dr sets for the hook; a step may not set them itself.
const CONTEXT_PREFIX: &str = "KAFKA_DR_";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    argv: Vec<String>,
    timeout_seconds: u64,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    verify_argv: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct Exec {
    argv: Vec<String>,
    timeout_seconds: u64,
    env: BTreeMap<String, String>,
    verify_argv: Option<Vec<String>>,
    /// Set when apply ran the hook to a zero exit in this process.
    applied: bool,
}

impl Exec {
    pub fn new(step: &StepDef) -> Result<Exec, ActionError> {
        let p: Params = super::params(step, NAME)?;
        let bad = |reason: String| ActionError::Params {
            step: step.id.clone(),
            action: NAME,
            reason,
        };
        check_argv(&p.argv, "argv").map_err(bad)?;
        if let Some(v) = &p.verify_argv {
            check_argv(v, "verify_argv").map_err(bad)?;
        }
        if p.timeout_seconds == 0 {
            return Err(bad("`timeout_seconds` must be at least 1".into()));
        }
        for (key, value) in &p.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                // Not shown: `TOKEN=s3cret` written as a key holds the value.
                return Err(bad(
                    "an `env` key is not a valid variable name (it contains `=` or NUL, or is empty; not shown)".into(),
                ));
            }
            if key.starts_with(CONTEXT_PREFIX) {
                return Err(bad(format!(
                    "`env` key `{key}`: variables starting with {CONTEXT_PREFIX} are set by kafka-dr"
                )));
            }
            if value.contains('\0') {
                // The value itself is not shown: it may be a secret.
                return Err(bad(format!("`env` value of `{key}` contains a NUL byte")));
            }
        }
        Ok(Exec {
            argv: p.argv,
            timeout_seconds: p.timeout_seconds,
            env: p.env,
            verify_argv: p.verify_argv,
            applied: false,
        })
    }

    /// A topology hook (`replication.mirror_maker`): validated when the topology loaded.
    pub fn from_hook(hook: &crate::topology::Hook) -> Exec {
        Exec {
            argv: hook.argv.clone(),
            timeout_seconds: hook.timeout_seconds.max(1),
            env: BTreeMap::new(),
            verify_argv: hook.verify_argv.clone(),
            applied: false,
        }
    }

    /// `argv` as the operator reads it.
    pub fn command(&self) -> String {
        display_command(&self.argv)
    }

    /// Run `argv` as a hook: context env, own process group, timeout, captured output.
    fn run(&self, ctx: &StepContext<'_>, argv: &[String]) -> Result<HookRun, ActionError> {
        let command = display_command(argv);
        let timeout = Duration::from_secs(self.timeout_seconds);
        let (program, args) = match argv.split_first() {
            Some(split) => split,
            // Checked in `new`; an empty argv cannot get here.
            None => (&String::new(), &[][..]),
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(&self.env)
            .envs(context_env(ctx))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a timeout kills everything it started, and a Ctrl-C at
            // the terminal reaches kafka-dr (which decides) rather than the hook.
            .process_group(0);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| ActionError::HookSpawn {
            step: ctx.step_id.to_string(),
            program: program.clone(),
            source,
        })?;
        let output = Output::start(&mut child);
        let deadline = crate::limits::deadline(started, timeout);
        let progress = ctx.reporter.progress(
            "Waiting",
            &format!("for hook `{command}`"),
            Some(timeout.as_secs()),
            "s",
        );
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(source) => {
                    kill_group(&mut child);
                    return Err(ActionError::HookWait { command, source });
                }
            }
            let now = Instant::now();
            if ctx.is_interrupted() {
                kill_group(&mut child);
                return Err(ActionError::Interrupted {
                    during: format!("hook `{command}` ran (its process group was killed)"),
                });
            }
            if now >= deadline {
                kill_group(&mut child);
                let (_, stderr) = output.collect();
                return Err(ActionError::HookTimedOut {
                    step: ctx.step_id.to_string(),
                    command,
                    timeout_seconds: self.timeout_seconds,
                    stderr_tail: tail(&stderr.text, STDERR_TAIL_LINES),
                });
            }
            progress.set((now - started).as_secs(), None);
            std::thread::sleep(POLL.min(deadline - now));
        };
        drop(progress);
        let duration = started.elapsed();
        let (stdout, stderr) = output.collect();
        Ok(HookRun {
            command,
            status,
            stdout,
            stderr,
            duration,
        })
    }
}

impl Action for Exec {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, _ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let mut notes = Vec::new();
        if !self.env.is_empty() {
            let keys: Vec<&str> = self.env.keys().map(String::as_str).collect();
            notes.push(format!("with env {} (values not shown)", keys.join(", ")));
        }
        notes.push(format!("killed after {}s", self.timeout_seconds));
        match &self.verify_argv {
            Some(v) => notes.push(format!("verified by: {}", display_command(v))),
            None => notes.push(
                "no `verify_argv`: if the run is interrupted during the hook, resume runs it again"
                    .into(),
            ),
        }
        Ok(Plan {
            changes: vec![format!("would run: {}", display_command(&self.argv))],
            notes,
            detail: json!({
                "argv": self.argv,
                "env_keys": self.env.keys().collect::<Vec<_>>(),
                "timeout_seconds": self.timeout_seconds,
                "verify_argv": self.verify_argv,
            }),
        })
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        self.applied = false;
        let run = self.run(ctx, &self.argv)?;
        if !run.status.success() {
            return Err(ActionError::HookFailed {
                command: run.command,
                status: describe(run.status),
                stderr_tail: tail(&run.stderr.text, STDERR_TAIL_LINES),
            }
            .into());
        }
        self.applied = true;
        Ok(json!({
            "argv": self.argv,
            "exit_code": run.status.code(),
            "stdout": run.stdout.text,
            "stdout_dropped_bytes": run.stdout.dropped,
            "stderr": run.stderr.text,
            "stderr_dropped_bytes": run.stderr.dropped,
            "duration_ms": u64::try_from(run.duration.as_millis()).unwrap_or(u64::MAX),
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let Some(verify_argv) = &self.verify_argv else {
            return Ok(if self.applied {
                Verdict::Done
            } else {
                Verdict::NotDone(
                    "the hook has no `verify_argv` and did not complete in this process, so it runs again (hooks must be idempotent)".into(),
                )
            });
        };
        let run = self.run(ctx, verify_argv)?;
        if run.status.success() {
            return Ok(Verdict::Done);
        }
        let last = tail(&run.stderr.text, 1);
        Ok(Verdict::NotDone(format!(
            "verify hook `{}` {}{}",
            run.command,
            describe(run.status),
            if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            }
        )))
    }
}

fn check_argv(argv: &[String], name: &str) -> Result<(), String> {
    match argv.first() {
        None => Err(format!(
            "`{name}` is empty: give the program and its arguments"
        )),
        Some(p) if p.is_empty() => Err(format!("`{name}`: the program name is empty")),
        Some(_) if argv.iter().any(|a| a.contains('\0')) => {
            Err(format!("`{name}` contains a NUL byte"))
        }
        Some(_) => Ok(()),
    }
}

/// The run's context, as the hook sees it.
fn context_env(ctx: &StepContext<'_>) -> Vec<(String, std::ffi::OsString)> {
    let var = |k: &str, v: std::ffi::OsString| (format!("{CONTEXT_PREFIX}{k}"), v);
    vec![
        var("RUN_ID", ctx.run_id.to_string().into()),
        var("STEP_ID", ctx.step_id.into()),
        var("RUNBOOK", ctx.runbook.into()),
        var("TOPOLOGY", absolute(ctx.topology_path)),
        var("JOURNAL", absolute(ctx.journal.path())),
        var("PID", std::process::id().to_string().into()),
        var("ATTEMPT", ctx.attempt.to_string().into()),
    ]
}

/// `path` made absolute (a hook may change directory), or as it is if that fails.
fn absolute(path: &std::path::Path) -> std::ffi::OsString {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .into_os_string()
}

/// SIGKILL the hook's whole process group, then reap the hook.
fn kill_group(child: &mut Child) {
    // `process_group(0)` made the hook the leader of a group with its own pid. Never
    // let a pid that does not fit (or is 0/1) become kill(0) or kill(-1).
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        if pgid > 1 {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory
            // is involved. A group already gone just returns ESRCH.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
    let _ = child.wait();
}

struct HookRun {
    command: String,
    status: ExitStatus,
    stdout: Captured,
    stderr: Captured,
    duration: Duration,
}

/// What was kept of one stream.
#[derive(Debug, Default)]
struct Captured {
    text: String,
    /// Bytes dropped from the start to keep the last `CAPTURE_CAP`.
    dropped: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Stream {
    Stdout,
    Stderr,
}

/// The two reader threads of a hook's pipes.
struct Output {
    rx: mpsc::Receiver<(Stream, Captured)>,
}

impl Output {
    fn start(child: &mut Child) -> Output {
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            spawn_reader(pipe, Stream::Stdout, tx.clone());
        }
        if let Some(pipe) = child.stderr.take() {
            spawn_reader(pipe, Stream::Stderr, tx);
        }
        Output { rx }
    }

    /// Both streams, waiting at most `DRAIN_GRACE` for pipes a background process may
    /// keep open; a stream not closed by then is reported as such.
    fn collect(self) -> (Captured, Captured) {
        let deadline = Instant::now() + DRAIN_GRACE;
        let mut stdout = None;
        let mut stderr = None;
        while stdout.is_none() || stderr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((Stream::Stdout, c)) => stdout = Some(c),
                Ok((Stream::Stderr, c)) => stderr = Some(c),
                Err(_) => break,
            }
        }
        let open = || {
            Captured {
            text: "[kafka-dr: still open after the hook exited (a process it started in the background holds it); not read]".into(),
            dropped: 0,
        }
        };
        (stdout.unwrap_or_else(open), stderr.unwrap_or_else(open))
    }
}

fn spawn_reader(
    mut pipe: impl Read + Send + 'static,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Captured)>,
) {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut dropped = 0u64;
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    // Trim in batches (at twice the cap) rather than on every read.
                    if buf.len() > 2 * CAPTURE_CAP {
                        let excess = buf.len() - CAPTURE_CAP;
                        buf.drain(..excess);
                        dropped += excess as u64;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if buf.len() > CAPTURE_CAP {
            let excess = buf.len() - CAPTURE_CAP;
            buf.drain(..excess);
            dropped += excess as u64;
        }
        let mut text = String::from_utf8_lossy(&buf).into_owned();
        if dropped > 0 {
            text = format!(
                "[kafka-dr: {dropped} earlier bytes dropped, last {CAPTURE_CAP} kept]\n{text}"
            );
        }
        // The receiver may be gone (collect gave up waiting): nothing to do then.
        let _ = tx.send((stream, Captured { text, dropped }));
    });
}

/// "exited with code 3" / "was killed by signal 9".
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => format!("ended with {status}"),
    }
}

/// The last `n` non-blank lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// argv as a shell would read it back: words with spaces or shell characters quoted.
fn display_command(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step, Fixture};
    use super::*;
    use crate::exit_code::ExitCode;
    use std::sync::atomic::Ordering;

    fn exec(params: serde_json::Value) -> Exec {
        Exec::new(&step("hook", NAME, params)).unwrap()
    }

    fn sh(script: &str) -> serde_json::Value {
        json!(["sh", "-c", script])
    }

    #[test]
    fn plan_shows_the_command_and_env_keys_but_no_values() {
        let f = Fixture::new();
        let mut e = exec(json!({
            "argv": ["/opt/hooks/stop app", "--now"],
            "env": {"API_TOKEN": "s3cr3t-value", "MODE": "drain"},
        }));
        let plan = e.plan(&mut f.ctx("hook")).unwrap();
        assert_eq!(plan.changes, vec!["would run: '/opt/hooks/stop app' --now"]);
        let all = serde_json::to_string(&plan).unwrap();
        assert!(all.contains("API_TOKEN") && all.contains("MODE"), "{all}");
        assert!(
            !all.contains("s3cr3t-value") && !all.contains("drain"),
            "{all}"
        );
        assert!(plan.notes.iter().any(|n| n.contains("killed after 60s")));
    }

    #[test]
    fn apply_runs_the_hook_with_the_run_context() {
        let f = Fixture::new();
        let mut e = exec(json!({
            "argv": sh("echo \"$KAFKA_DR_RUN_ID $KAFKA_DR_STEP_ID $KAFKA_DR_RUNBOOK $KAFKA_DR_ATTEMPT $KAFKA_DR_PID $MODE\"; echo \"$KAFKA_DR_JOURNAL\"; echo \"$KAFKA_DR_TOPOLOGY\"; echo oops >&2"),
            "env": {"MODE": "drain"},
        }));
        let mut ctx = f.ctx("hook");
        let plan = e.plan(&mut ctx).unwrap();
        assert!(matches!(
            e.verify(&mut ctx, &plan).unwrap(),
            Verdict::NotDone(_)
        ));
        let out = e.apply(&mut ctx, &plan).unwrap();
        let stdout = out["stdout"].as_str().unwrap();
        let mut lines = stdout.lines();
        assert_eq!(
            lines.next().unwrap(),
            format!("7 hook test-runbook 1 {} drain", std::process::id())
        );
        assert_eq!(lines.next().unwrap(), f.journal.path().to_str().unwrap());
        assert_eq!(lines.next().unwrap(), f.topology_path.to_str().unwrap());
        assert_eq!(out["stderr"], "oops\n");
        assert_eq!(out["exit_code"], 0);
        assert_eq!(e.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
    }

    #[test]
    fn a_failing_hook_reports_its_code_and_stderr_tail() {
        let f = Fixture::new();
        let mut e =
            exec(json!({"argv": sh("for i in $(seq 1 20); do echo line$i >&2; done; exit 3")}));
        let mut ctx = f.ctx("hook");
        let plan = e.plan(&mut ctx).unwrap();
        let err = e.apply(&mut ctx, &plan).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Failure);
        let msg = err.to_string();
        assert!(msg.starts_with("hook `sh -c 'for i in"), "{msg}");
        assert!(
            msg.contains("exited with code 3; its stderr ended with:"),
            "{msg}"
        );
        assert!(
            msg.contains("  | line20") && msg.contains("  | line11"),
            "{msg}"
        );
        assert!(!msg.contains("line10\n"), "{msg}");
        assert!(matches!(
            e.verify(&mut ctx, &plan).unwrap(),
            Verdict::NotDone(_)
        ));
    }

    #[test]
    fn a_missing_program_says_so() {
        let f = Fixture::new();
        let mut e = exec(json!({"argv": ["/nonexistent/hook"]}));
        let mut ctx = f.ctx("hook");
        let plan = e.plan(&mut ctx).unwrap();
        let msg = e.apply(&mut ctx, &plan).unwrap_err().to_string();
        assert!(
            msg.starts_with("cannot start hook `/nonexistent/hook`"),
            "{msg}"
        );
        assert!(msg.contains("help: check `argv` of step `hook`"), "{msg}");
    }

    fn gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
        }
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        let f = Fixture::new();
        let pidfile = f.journal.path().with_file_name("bg.pid");
        let mut e = exec(json!({
            "argv": sh(&format!("sleep 30 & echo $! > {}; echo started >&2; wait", pidfile.display())),
            "timeout_seconds": 1,
        }));
        let mut ctx = f.ctx("hook");
        let plan = e.plan(&mut ctx).unwrap();
        let t = Instant::now();
        let err = e.apply(&mut ctx, &plan).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let msg = err.to_string();
        assert!(
            msg.contains("did not finish within 1s; kafka-dr killed its process group"),
            "{msg}"
        );
        assert!(msg.contains("  | started"), "{msg}");
        assert!(
            msg.contains("help: raise `timeout_seconds` of step `hook`"),
            "{msg}"
        );
        let bg = std::fs::read_to_string(&pidfile).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while !gone(bg.trim()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            gone(bg.trim()),
            "background sleep {bg} survived the timeout"
        );
    }

    #[test]
    fn ctrl_c_stops_a_running_hook() {
        let f = Fixture::new();
        let mut e = exec(json!({"argv": ["sleep", "30"]}));
        let mut ctx = f.ctx("hook");
        let plan = e.plan(&mut ctx).unwrap();
        let t = Instant::now();
        let err = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                f.interrupted.store(true, Ordering::SeqCst);
            });
            e.apply(&mut ctx, &plan).unwrap_err()
        });
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(err.exit_code(), ExitCode::Interrupted);
    }

    #[test]
    fn output_is_capped_and_says_so() {
        let f = Fixture::new();
        // 200 000 bytes of 'x' on stdout.
        let mut e = exec(json!({"argv": sh("head -c 200000 /dev/zero | tr '\\0' x; printf END")}));
        let mut ctx = f.ctx("hook");
        let plan = e.plan(&mut ctx).unwrap();
        let out = e.apply(&mut ctx, &plan).unwrap();
        let stdout = out["stdout"].as_str().unwrap();
        assert_eq!(out["stdout_dropped_bytes"], 200_003 - CAPTURE_CAP as u64);
        assert!(stdout.starts_with("[kafka-dr: "), "{}", &stdout[..80]);
        assert!(stdout.ends_with("xxxEND"));
        assert!(stdout.len() < CAPTURE_CAP + 100);
    }

    #[test]
    fn verify_argv_decides_done() {
        let f = Fixture::new();
        let mut ctx = f.ctx("hook");
        let mut yes = exec(json!({"argv": ["true"], "verify_argv": ["true"]}));
        let plan = yes.plan(&mut ctx).unwrap();
        // Done without apply in this process: the verify command says so.
        assert_eq!(yes.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
        let mut no = exec(json!({"argv": ["true"], "verify_argv": sh("echo not yet >&2; exit 1")}));
        let plan = no.plan(&mut ctx).unwrap();
        no.apply(&mut ctx, &plan).unwrap();
        assert_eq!(
            no.verify(&mut ctx, &plan).unwrap(),
            Verdict::NotDone(
                "verify hook `sh -c 'echo not yet >&2; exit 1'` exited with code 1: not yet".into()
            )
        );
    }

    #[test]
    fn bad_params_are_refused_when_built() {
        for (params, says) in [
            (json!({"argv": []}), "`argv` is empty"),
            (json!({"argv": ["x"], "timeout_seconds": 0}), "at least 1"),
            (
                json!({"argv": ["x"], "env": {"KAFKA_DR_RUN_ID": "1"}}),
                "set by kafka-dr",
            ),
            (
                json!({"argv": ["x"], "verify_argv": []}),
                "`verify_argv` is empty",
            ),
            (
                json!({"argv": ["x"], "shell": true}),
                "unknown field `shell`",
            ),
            (json!({"argv": "x"}), "invalid type"),
        ] {
            let err = Exec::new(&step("hook", NAME, params)).unwrap_err();
            assert_eq!(err.exit_code(), ExitCode::Usage);
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn commands_display_like_a_shell_would_read_them() {
        let argv: Vec<String> = ["a", "b c", "it's", "--x=1", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(display_command(&argv), r"a 'b c' 'it'\''s' --x=1 ''");
    }
}
