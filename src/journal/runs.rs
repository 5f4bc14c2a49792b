//! Runs, steps and attempts: the engine's history, and what `runs list` / `runs show` print.
//!
//! A run row holds the runbook's full text and checksum, so resume can compare and an
//! operator can see exactly what ran. A step is recorded `started` (with a new attempt
//! row) BEFORE its side effects and `finished` or `failed` after; a step left `started`
//! means the process died mid-step. The engine decides the transitions; this file only
//! stores them, each in one transaction.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::lease::this_process;
use super::{Fail, Journal, JournalError};

text_enum! {
    /// Where a run stands.
    pub enum RunState {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Interrupted => "interrupted",
    }
}

text_enum! {
    /// Where a step stands. A dry-run leaves its steps `pending` (nothing was applied).
    pub enum StepState {
        Pending => "pending",
        Started => "started",
        Finished => "finished",
        Failed => "failed",
    }
}

text_enum! {
    /// How a step ended, in the journal and in run reports.
    pub enum StepOutcome {
        /// apply ran and verify confirmed it.
        Applied => "applied",
        /// Found `started` on resume; verify said its effect was already in place.
        VerifiedNotReapplied => "verified-not-reapplied",
        /// The plan had no changes; verify confirmed the state.
        NothingToDo => "nothing-to-do",
        /// Dry-run: planned only.
        Planned => "planned",
        Failed => "failed",
        /// Reports only: finished by an earlier attempt, not run again.
        Skipped => "skipped",
        /// Reports only: not reached (an earlier step failed, or the run was interrupted).
        NotRun => "not-run",
    }
}

text_enum! {
    /// How one attempt at a step ended.
    pub enum AttemptOutcome {
        Applied => "applied",
        VerifiedNotReapplied => "verified-not-reapplied",
        NothingToDo => "nothing-to-do",
        Failed => "failed",
        /// The process died during the attempt and resume found its effect not in place.
        Abandoned => "abandoned",
    }
}

impl StepOutcome {
    fn attempt_outcome(self) -> AttemptOutcome {
        match self {
            StepOutcome::Applied => AttemptOutcome::Applied,
            StepOutcome::VerifiedNotReapplied => AttemptOutcome::VerifiedNotReapplied,
            StepOutcome::NothingToDo => AttemptOutcome::NothingToDo,
            StepOutcome::Planned
            | StepOutcome::Failed
            | StepOutcome::Skipped
            | StepOutcome::NotRun => AttemptOutcome::Failed,
        }
    }
}

/// A run about to start.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub topology: &'a str,
    pub runbook: &'a str,
    pub source: &'a str,
    pub checksum: &'a str,
    pub text: &'a str,
    pub dry_run: bool,
    pub steps: Vec<NewStep<'a>>,
}

/// One step of a new run, in runbook order.
#[derive(Debug, Clone, Copy)]
pub struct NewStep<'a> {
    pub step_id: &'a str,
    pub action: &'a str,
}

/// One line of `runs list`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunSummary {
    pub id: i64,
    pub topology: String,
    pub runbook: String,
    pub runbook_source: String,
    pub runbook_checksum: String,
    pub state: RunState,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The process that last drove the run.
    pub host: String,
    pub pid: u32,
    pub steps_total: u32,
    pub steps_finished: u32,
    /// Why the run stopped, if it failed or was interrupted.
    pub error: Option<String>,
}

/// `runs show`: the run, its runbook text, and every step with its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunSummary,
    pub runbook_text: String,
    pub steps: Vec<StepRecord>,
}

/// A step's stored plan and output as text (see `Journal::step_texts`).
#[derive(Debug, Clone)]
pub struct StepTexts {
    pub action: String,
    pub plan: Option<String>,
    pub output: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// 0-based position in the runbook.
    pub index: u32,
    pub step_id: String,
    pub action: String,
    pub state: StepState,
    pub outcome: Option<StepOutcome>,
    /// How many attempts were started (the last one is `attempt_log`'s last entry).
    pub attempts: u32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub plan: Option<serde_json::Value>,
    pub output: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub attempt_log: Vec<AttemptRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// None while running, or if the process died and no resume has looked at it yet.
    pub outcome: Option<AttemptOutcome>,
    pub error: Option<String>,
    pub host: String,
    pub pid: u32,
}

const SUMMARY_SQL: &str = "
    SELECT r.id, r.topology, r.runbook, r.runbook_source, r.runbook_checksum, r.state,
           r.dry_run, r.started_at, r.finished_at, r.host, r.pid, r.error,
           (SELECT count(*) FROM steps s WHERE s.run_id = r.id),
           (SELECT count(*) FROM steps s WHERE s.run_id = r.id AND s.state = 'finished')
    FROM runs r";

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: row.get(0)?,
        topology: row.get(1)?,
        runbook: row.get(2)?,
        runbook_source: row.get(3)?,
        runbook_checksum: row.get(4)?,
        state: row.get(5)?,
        dry_run: row.get(6)?,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
        host: row.get(9)?,
        pid: row.get(10)?,
        error: row.get(11)?,
        steps_total: row.get(12)?,
        steps_finished: row.get(13)?,
    })
}

/// Insert a run and its pending steps; shared with the leased variant in lease.rs.
pub(super) fn insert_run(conn: &Connection, run: &NewRun<'_>) -> Result<i64, Fail> {
    let me = this_process();
    conn.execute(
        "INSERT INTO runs (topology, runbook, runbook_source, runbook_checksum, runbook_text,
                           state, dry_run, host, pid)
         VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8)",
        params![
            run.topology,
            run.runbook,
            run.source,
            run.checksum,
            run.text,
            run.dry_run,
            me.host,
            me.pid
        ],
    )?;
    let run_id = conn.last_insert_rowid();
    let mut insert =
        conn.prepare("INSERT INTO steps (run_id, idx, step_id, action) VALUES (?1, ?2, ?3, ?4)")?;
    for (idx, step) in run.steps.iter().enumerate() {
        insert.execute(params![run_id, idx, step.step_id, step.action])?;
    }
    Ok(run_id)
}

pub(super) fn to_json(value: &serde_json::Value) -> String {
    // `Value`'s Display is compact JSON and cannot fail.
    value.to_string()
}

pub(super) fn from_json(
    text: Option<String>,
    what: &str,
) -> Result<Option<serde_json::Value>, Fail> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| Fail::Corrupt(format!("{what} is not valid JSON: {e}")))
    })
    .transpose()
}

impl Journal {
    /// Record a new run (state `running`) with its steps `pending`, without a lease: for
    /// dry-runs, which change nothing and so need not exclude anyone.
    pub fn create_run(&self, run: &NewRun<'_>) -> Result<i64, JournalError> {
        self.write("record a new run", |tx| insert_run(tx, run))
    }

    /// One run, without its steps.
    pub fn run_summary(&self, run_id: i64) -> Result<RunSummary, JournalError> {
        self.read("read a run", |c| {
            c.query_row(
                &format!("{SUMMARY_SQL} WHERE r.id = ?1"),
                [run_id],
                summary_from_row,
            )
            .optional()?
            .ok_or_else(|| self.run_not_found(run_id))
        })
    }

    /// Every run, newest first.
    pub fn runs_list(&self) -> Result<Vec<RunSummary>, JournalError> {
        self.read("list runs", |c| {
            let mut stmt = c.prepare(&format!("{SUMMARY_SQL} ORDER BY r.id DESC"))?;
            let rows = stmt.query_map([], summary_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The newest run on `topology` that is not a dry-run and has not succeeded: what
    /// `kafka-dr resume` picks when given no run id.
    pub fn latest_unfinished_run(
        &self,
        topology: &str,
    ) -> Result<Option<RunSummary>, JournalError> {
        self.read("find the latest unfinished run", |c| {
            Ok(c.query_row(
                &format!(
                    "{SUMMARY_SQL} WHERE r.topology = ?1 AND r.dry_run = 0
                       AND r.state <> 'succeeded' ORDER BY r.id DESC LIMIT 1"
                ),
                [topology],
                summary_from_row,
            )
            .optional()?)
        })
    }

    /// The run, its runbook text, its steps and their attempts.
    pub fn run_detail(&self, run_id: i64) -> Result<RunDetail, JournalError> {
        let run = self.run_summary(run_id)?;
        self.read("read a run's steps", |c| {
            let runbook_text: String = c.query_row(
                "SELECT runbook_text FROM runs WHERE id = ?1",
                [run_id],
                |r| r.get(0),
            )?;
            Ok(RunDetail {
                run,
                runbook_text,
                steps: read_steps(c, run_id)?,
            })
        })
    }

    /// The outputs of the steps of `action`, newest run first (then last step first),
    /// with their finish times; `f` is given each until it returns `Some`. Reads only
    /// those steps' outputs: the steps of a large failover run hold megabytes of JSON
    /// that `steps` would parse.
    pub fn find_output_of_action<T>(
        &self,
        action: &str,
        mut f: impl FnMut(&serde_json::Value, Option<&str>) -> Option<T>,
    ) -> Result<Option<T>, JournalError> {
        self.read("read step outputs", |c| {
            let mut stmt = c.prepare(
                "SELECT run_id, step_id, output, finished_at FROM steps
                 WHERE action = ?1 AND output IS NOT NULL
                 ORDER BY run_id DESC, idx DESC",
            )?;
            let mut rows = stmt.query([action])?;
            while let Some(row) = rows.next()? {
                let run_id: i64 = row.get(0)?;
                let step_id: String = row.get(1)?;
                let output: Option<serde_json::Value> = from_json(
                    row.get(2)?,
                    &format!("the output of step `{step_id}` of run {run_id}"),
                )?;
                let finished_at: Option<String> = row.get(3)?;
                if let Some(found) = output.and_then(|o| f(&o, finished_at.as_deref())) {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        })
    }

    /// One step's action and its stored plan and output as JSON text, unparsed: for a
    /// step that reads a large earlier output into a type of its own (`groups.commit`
    /// reads the translation of hundreds of thousands of positions), without parsing
    /// every step of the run into JSON values first. `None`: the run has no such step.
    pub fn step_texts(
        &self,
        run_id: i64,
        step_id: &str,
    ) -> Result<Option<StepTexts>, JournalError> {
        self.read("read a step's output", |c| {
            Ok(c.query_row(
                "SELECT action, plan, output FROM steps WHERE run_id = ?1 AND step_id = ?2",
                params![run_id, step_id],
                |r| {
                    Ok(StepTexts {
                        action: r.get(0)?,
                        plan: r.get(1)?,
                        output: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// A run's steps in runbook order, with their attempts.
    pub fn steps(&self, run_id: i64) -> Result<Vec<StepRecord>, JournalError> {
        self.read("read a run's steps", |c| read_steps(c, run_id))
    }

    /// Take a run up again: state `running`, this process as its driver.
    pub fn reopen_run(&self, run_id: i64) -> Result<(), JournalError> {
        let me = this_process();
        self.write("reopen a run", |tx| {
            let n = tx.execute(
                "UPDATE runs SET state = 'running', finished_at = NULL, error = NULL,
                        host = ?2, pid = ?3
                 WHERE id = ?1",
                params![run_id, me.host, me.pid],
            )?;
            if n == 0 {
                return Err(self.run_not_found(run_id));
            }
            Ok(())
        })
    }

    /// Close a run as succeeded, failed or interrupted, with the reason if any.
    pub fn finish_run(
        &self,
        run_id: i64,
        state: RunState,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.write("record the end of a run", |tx| {
            let n = tx.execute(
                "UPDATE runs SET state = ?2, error = ?3,
                        finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?1",
                params![run_id, state, error],
            )?;
            if n == 0 {
                return Err(self.run_not_found(run_id));
            }
            Ok(())
        })
    }

    /// Mark step `idx` started and open a new attempt row, in one transaction. Call this
    /// BEFORE any side effect of the step. Returns the attempt number (1-based).
    pub fn start_attempt(&self, run_id: i64, idx: u32) -> Result<u32, JournalError> {
        let me = this_process();
        self.write("record a step start", |tx| {
            let attempt: u32 = tx
                .query_row(
                    "UPDATE steps SET state = 'started', attempts = attempts + 1, outcome = NULL,
                            started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), finished_at = NULL
                     WHERE run_id = ?1 AND idx = ?2
                     RETURNING attempts",
                    params![run_id, idx],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| self.no_step(run_id, idx))?;
            tx.execute(
                "INSERT INTO step_attempts (run_id, idx, attempt, host, pid)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, idx, attempt, me.host, me.pid],
            )?;
            Ok(attempt)
        })
    }

    /// Store the plan of step `idx` (before apply, so a crash leaves what it was about to
    /// do on record).
    pub fn record_plan(
        &self,
        run_id: i64,
        idx: u32,
        plan: &serde_json::Value,
    ) -> Result<(), JournalError> {
        self.write("record a step's plan", |tx| {
            self.expect_step(
                tx.execute(
                    "UPDATE steps SET plan = ?3 WHERE run_id = ?1 AND idx = ?2",
                    params![run_id, idx, to_json(plan)],
                )?,
                run_id,
                idx,
            )
        })
    }

    /// Store the output of step `idx` the moment its apply returned, before verify: a
    /// process killed after that point leaves the output on record for resume (and for
    /// the later steps that read it).
    pub fn record_output(
        &self,
        run_id: i64,
        idx: u32,
        output: &serde_json::Value,
    ) -> Result<(), JournalError> {
        self.write("record a step's output", |tx| {
            self.expect_step(
                tx.execute(
                    "UPDATE steps SET output = ?3 WHERE run_id = ?1 AND idx = ?2",
                    params![run_id, idx, to_json(output)],
                )?,
                run_id,
                idx,
            )
        })
    }

    /// Dry-run: store the plan and mark the step `planned`, leaving it `pending`.
    pub fn record_planned(
        &self,
        run_id: i64,
        idx: u32,
        plan: &serde_json::Value,
    ) -> Result<(), JournalError> {
        self.write("record a step's plan", |tx| {
            self.expect_step(tx.execute(
                "UPDATE steps SET plan = ?3, outcome = 'planned' WHERE run_id = ?1 AND idx = ?2",
                params![run_id, idx, to_json(plan)],
            )?, run_id, idx)
        })
    }

    /// Mark step `idx` finished with its outcome and output, and close `attempt`. With no
    /// `output`, the one `record_output` stored (if any) is kept.
    pub fn finish_step(
        &self,
        run_id: i64,
        idx: u32,
        attempt: u32,
        outcome: StepOutcome,
        output: Option<&serde_json::Value>,
        duration_ms: u64,
    ) -> Result<(), JournalError> {
        self.write("record a step's end", |tx| {
            self.expect_step(tx.execute(
                "UPDATE steps SET state = 'finished', outcome = ?3, output = COALESCE(?4, output), last_error = NULL,
                        finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE run_id = ?1 AND idx = ?2",
                params![run_id, idx, outcome, output.map(to_json)],
            )?, run_id, idx)?;
            close_attempt(
                tx,
                run_id,
                idx,
                attempt,
                outcome.attempt_outcome(),
                None,
                duration_ms,
            )
        })
    }

    /// Mark step `idx` failed with `error`, closing `attempt` if one was opened (a dry-run
    /// plan failure opens none).
    pub fn fail_step(
        &self,
        run_id: i64,
        idx: u32,
        attempt: Option<u32>,
        error: &str,
        duration_ms: u64,
    ) -> Result<(), JournalError> {
        self.write("record a step failure", |tx| {
            self.expect_step(
                tx.execute(
                    "UPDATE steps SET state = 'failed', outcome = 'failed', last_error = ?3,
                        finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE run_id = ?1 AND idx = ?2",
                    params![run_id, idx, error],
                )?,
                run_id,
                idx,
            )?;
            match attempt {
                Some(attempt) => close_attempt(
                    tx,
                    run_id,
                    idx,
                    attempt,
                    AttemptOutcome::Failed,
                    Some(error),
                    duration_ms,
                ),
                None => Ok(()),
            }
        })
    }

    /// Close an attempt the process died in, whose effect resume found not in place.
    pub fn abandon_attempt(&self, run_id: i64, idx: u32, attempt: u32) -> Result<(), JournalError> {
        self.write("record an abandoned attempt", |tx| {
            // `outcome IS NULL`: an attempt already closed stays as it was (idempotent).
            // finished_at stays NULL: when the process died is not known.
            tx.execute(
                "UPDATE step_attempts SET outcome = 'abandoned',
                        error = 'the process stopped during this attempt'
                 WHERE run_id = ?1 AND idx = ?2 AND attempt = ?3 AND outcome IS NULL",
                params![run_id, idx, attempt],
            )?;
            Ok(())
        })
    }

    fn run_not_found(&self, run_id: i64) -> Fail {
        Fail::Journal(JournalError::RunNotFound {
            path: self.path.clone(),
            run_id,
        })
    }

    fn no_step(&self, run_id: i64, idx: u32) -> Fail {
        Fail::Corrupt(format!("run {run_id} has no step at position {idx}"))
    }

    fn expect_step(&self, changed: usize, run_id: i64, idx: u32) -> Result<(), Fail> {
        if changed == 0 {
            return Err(self.no_step(run_id, idx));
        }
        Ok(())
    }
}

fn close_attempt(
    conn: &Connection,
    run_id: i64,
    idx: u32,
    attempt: u32,
    outcome: AttemptOutcome,
    error: Option<&str>,
    duration_ms: u64,
) -> Result<(), Fail> {
    let n = conn.execute(
        "UPDATE step_attempts SET outcome = ?4, error = ?5, duration_ms = ?6,
                finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE run_id = ?1 AND idx = ?2 AND attempt = ?3",
        params![run_id, idx, attempt, outcome, error, duration_ms],
    )?;
    if n == 0 {
        return Err(Fail::Corrupt(format!(
            "run {run_id}, step at position {idx} has no attempt {attempt}"
        )));
    }
    Ok(())
}

fn read_steps(c: &Connection, run_id: i64) -> Result<Vec<StepRecord>, Fail> {
    let mut attempts_stmt = c.prepare(
        "SELECT attempt, started_at, finished_at, duration_ms, outcome, error, host, pid
         FROM step_attempts WHERE run_id = ?1 AND idx = ?2 ORDER BY attempt",
    )?;
    let mut stmt = c.prepare(
        "SELECT idx, step_id, action, state, outcome, attempts, started_at, finished_at,
                plan, output, last_error
         FROM steps WHERE run_id = ?1 ORDER BY idx",
    )?;
    let mut rows = stmt.query([run_id])?;
    let mut steps = Vec::new();
    while let Some(row) = rows.next()? {
        let index: u32 = row.get(0)?;
        let step_id: String = row.get(1)?;
        let attempt_log = attempts_stmt
            .query_map(params![run_id, index], |r| {
                Ok(AttemptRecord {
                    attempt: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    duration_ms: r.get(3)?,
                    outcome: r.get(4)?,
                    error: r.get(5)?,
                    host: r.get(6)?,
                    pid: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        steps.push(StepRecord {
            index,
            action: row.get(2)?,
            state: row.get(3)?,
            outcome: row.get(4)?,
            attempts: row.get(5)?,
            started_at: row.get(6)?,
            finished_at: row.get(7)?,
            plan: from_json(
                row.get(8)?,
                &format!("the plan of step `{step_id}` of run {run_id}"),
            )?,
            output: from_json(
                row.get(9)?,
                &format!("the output of step `{step_id}` of run {run_id}"),
            )?,
            last_error: row.get(10)?,
            attempt_log,
            step_id,
        });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j.db")).unwrap();
        (dir, j)
    }

    fn new_run<'a>(dry_run: bool) -> NewRun<'a> {
        NewRun {
            topology: "lab",
            runbook: "failover",
            source: "embedded:failover",
            checksum: "abc",
            text: "name: failover\n",
            dry_run,
            steps: vec![
                NewStep {
                    step_id: "ask",
                    action: "confirm",
                },
                NewStep {
                    step_id: "hook",
                    action: "exec",
                },
            ],
        }
    }

    #[test]
    fn a_run_records_steps_attempts_and_outcomes() {
        let (_d, j) = journal();
        let run = j.create_run(&new_run(false)).unwrap();
        let a1 = j.start_attempt(run, 0).unwrap();
        assert_eq!(a1, 1);
        j.record_plan(run, 0, &json!({"changes": ["x"]})).unwrap();
        j.fail_step(run, 0, Some(a1), "boom", 12).unwrap();
        let a2 = j.start_attempt(run, 0).unwrap();
        assert_eq!(a2, 2);
        j.finish_step(
            run,
            0,
            a2,
            StepOutcome::Applied,
            Some(&json!({"ok": true})),
            7,
        )
        .unwrap();
        j.finish_run(run, RunState::Failed, Some("step `hook` failed"))
            .unwrap();

        let detail = j.run_detail(run).unwrap();
        assert_eq!(detail.run.state, RunState::Failed);
        assert_eq!(detail.run.steps_total, 2);
        assert_eq!(detail.run.steps_finished, 1);
        assert_eq!(detail.runbook_text, "name: failover\n");
        let s0 = &detail.steps[0];
        assert_eq!(s0.state, StepState::Finished);
        assert_eq!(s0.outcome, Some(StepOutcome::Applied));
        assert_eq!(s0.attempts, 2);
        assert_eq!(s0.plan, Some(json!({"changes": ["x"]})));
        assert_eq!(s0.output, Some(json!({"ok": true})));
        assert_eq!(s0.last_error, None);
        assert_eq!(s0.attempt_log.len(), 2);
        assert_eq!(s0.attempt_log[0].outcome, Some(AttemptOutcome::Failed));
        assert_eq!(s0.attempt_log[0].error.as_deref(), Some("boom"));
        assert_eq!(s0.attempt_log[1].outcome, Some(AttemptOutcome::Applied));
        assert_eq!(s0.attempt_log[1].duration_ms, Some(7));
        assert_eq!(detail.steps[1].state, StepState::Pending);

        // Serializes as the JSON `runs show --output json` prints.
        let v = serde_json::to_value(&detail).unwrap();
        assert_eq!(v["state"], "failed");
        assert_eq!(v["steps"][0]["outcome"], "applied");
        assert_eq!(v["steps"][0]["attempt_log"][1]["attempt"], 2);
    }

    #[test]
    fn latest_unfinished_run_ignores_dry_runs_and_successes() {
        let (_d, j) = journal();
        assert!(j.latest_unfinished_run("lab").unwrap().is_none());
        let failed = j.create_run(&new_run(false)).unwrap();
        j.finish_run(failed, RunState::Failed, Some("x")).unwrap();
        let ok = j.create_run(&new_run(false)).unwrap();
        j.finish_run(ok, RunState::Succeeded, None).unwrap();
        let dry = j.create_run(&new_run(true)).unwrap();
        j.finish_run(dry, RunState::Failed, None).unwrap();
        assert_eq!(j.latest_unfinished_run("lab").unwrap().unwrap().id, failed);
        assert!(j.latest_unfinished_run("other").unwrap().is_none());
        let list = j.runs_list().unwrap();
        assert_eq!(
            list.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![dry, ok, failed]
        );
        assert!(list[0].dry_run);

        j.reopen_run(failed).unwrap();
        let s = j.run_summary(failed).unwrap();
        assert_eq!(s.state, RunState::Running);
        assert_eq!(s.error, None);
    }

    #[test]
    fn unknown_run_is_a_usage_error() {
        let (_d, j) = journal();
        let err = j.run_detail(42).unwrap_err();
        assert!(matches!(err, JournalError::RunNotFound { run_id: 42, .. }));
        assert_eq!(err.exit_code(), crate::exit_code::ExitCode::Usage);
        assert!(err.to_string().contains("help: `kafka-dr runs list`"));
    }
}
