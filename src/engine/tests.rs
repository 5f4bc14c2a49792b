//! Engine tests with fake actions (no Kafka): a shared `World` stands for the clusters
//! (which steps' effects are in place) and records every plan/apply/verify call; one-shot
//! faults make a step fail, "crash" (panic, leaving the step `started` as a dead process
//! would), or apply without effect.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;
use crate::actions::ActionError;
use crate::error::Error;
use crate::exit_code::ExitCode;
use crate::journal::{AttemptOutcome, Journal, JournalError, RunState, StepOutcome, StepState};
use crate::report::Reporter;
use crate::runbook::{Location, Runbook, StepDef};
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    FailPlan,
    FailApply,
    /// apply errors with a refused confirmation (exit code 5).
    Decline,
    /// The process dies in apply before the effect happens.
    CrashBeforeEffect,
    /// The process dies in apply after the effect happened.
    CrashAfterEffect,
    /// apply returns Ok but nothing changed: verify says NotDone.
    NoEffect,
    /// Ctrl-C pressed while apply runs (the step itself completes).
    CtrlC,
    /// apply is interrupted by Ctrl-C and returns the interrupted error.
    InterruptedInApply,
    /// apply returns output holding a secret value.
    LeakSecret,
    /// The process dies in verify, after apply returned its output.
    CrashInVerify,
}

#[derive(Default)]
struct World {
    done: Mutex<BTreeSet<String>>,
    calls: Mutex<Vec<String>>,
    faults: Mutex<BTreeMap<String, Fault>>,
}

impl World {
    fn fault(&self, step: &str, fault: Fault) {
        self.faults.lock().unwrap().insert(step.into(), fault);
    }

    /// Consume the one-shot fault of `step` if it is `fault`.
    fn hit(&self, step: &str, fault: Fault) -> bool {
        let mut faults = self.faults.lock().unwrap();
        if faults.get(step) == Some(&fault) {
            faults.remove(step);
            true
        } else {
            false
        }
    }

    fn call(&self, what: &str, step: &str) {
        self.calls.lock().unwrap().push(format!("{what}:{step}"));
    }

    fn count(&self, what: &str, step: &str) -> usize {
        let key = format!("{what}:{step}");
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == key)
            .count()
    }

    fn count_all(&self, what: &str) -> usize {
        let prefix = format!("{what}:");
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with(&prefix))
            .count()
    }

    fn is_done(&self, step: &str) -> bool {
        self.done.lock().unwrap().contains(step)
    }
}

struct Fake {
    id: String,
    world: Arc<World>,
}

impl Action for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn plan(&mut self, _ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        self.world.call("plan", &self.id);
        if self.world.hit(&self.id, Fault::FailPlan) {
            return Err(Error::Io(format!("cannot read the state of `{}`", self.id)));
        }
        // A `journal...` step is like `groups.translate`: its effect is its output, so its
        // plan always has the one change of keeping it.
        let changes = if (self.world.is_done(&self.id) && !self.id.starts_with("journal"))
            || self.id.starts_with("noop")
        {
            vec![]
        } else {
            vec![format!("change {}", self.id)]
        };
        Ok(Plan {
            changes,
            notes: vec![],
            detail: json!({"step": self.id}),
        })
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        self.world.call("apply", &self.id);
        let id = &self.id;
        let w = &self.world;
        if w.hit(id, Fault::FailApply) {
            return Err(Error::Io(format!("broker refused `{id}`")));
        }
        if w.hit(id, Fault::Decline) {
            return Err(ActionError::Declined { step: id.clone() }.into());
        }
        if w.hit(id, Fault::CrashBeforeEffect) {
            panic!("simulated crash before the effect of `{id}`");
        }
        if w.hit(id, Fault::NoEffect) {
            return Ok(json!({"applied": id}));
        }
        if w.hit(id, Fault::InterruptedInApply) {
            ctx.interrupted.store(true, Ordering::SeqCst);
            return Err(ActionError::Interrupted {
                during: format!("`{id}` waited"),
            }
            .into());
        }
        w.done.lock().unwrap().insert(id.clone());
        if w.hit(id, Fault::CrashAfterEffect) {
            panic!("simulated crash after the effect of `{id}`");
        }
        if w.hit(id, Fault::CtrlC) {
            ctx.interrupted.store(true, Ordering::SeqCst);
        }
        if w.hit(id, Fault::LeakSecret) {
            return Ok(json!({"applied": id, "token": "hunter2-secret"}));
        }
        Ok(json!({"applied": id, "attempt": ctx.attempt}))
    }

    fn verify(&mut self, _ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        self.world.call("verify", &self.id);
        if self.world.hit(&self.id, Fault::CrashInVerify) {
            panic!("simulated crash in the verify of `{}`", self.id);
        }
        Ok(
            if self.world.is_done(&self.id) || self.id.starts_with("noop") {
                Verdict::Done
            } else {
                Verdict::NotDone(format!("effect of `{}` missing", self.id))
            },
        )
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    journal: Journal,
    topology: Topology,
    runtime: tokio::runtime::Runtime,
    reporter: Reporter,
    world: Arc<World>,
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        Rig {
            journal: Journal::open(dir.path().join("journal.db")).unwrap(),
            _dir: dir,
            topology: Topology::lab_example(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            reporter: Reporter::default(),
            world: Arc::default(),
        }
    }

    /// An engine whose every step is a `Fake` (like a new process: fresh action state).
    fn engine(&self) -> Engine<'_> {
        let world = Arc::clone(&self.world);
        Engine::new(
            &self.topology,
            &self.journal,
            self.runtime.handle().clone(),
            &self.reporter,
            move |def| {
                Ok(Box::new(Fake {
                    id: def.id.clone(),
                    world: Arc::clone(&world),
                }))
            },
        )
    }

    /// An engine with the real action registry.
    fn real_engine(&self) -> Engine<'_> {
        Engine::new(
            &self.topology,
            &self.journal,
            self.runtime.handle().clone(),
            &self.reporter,
            crate::actions::build,
        )
    }

    /// Run and expect a "crash" (a panic out of an action).
    fn crash(&self, runbook: &Runbook, options: &RunOptions) {
        let engine = self.engine();
        let result = catch_unwind(AssertUnwindSafe(|| engine.run(runbook, options)));
        assert!(result.is_err(), "expected a simulated crash");
    }

    fn only_run(&self) -> i64 {
        let runs = self.journal.runs_list().unwrap();
        assert_eq!(runs.len(), 1);
        runs[0].id
    }
}

fn runbook_with(steps: &[&str], action: &str, extra: &str) -> Runbook {
    let text: String = steps
        .iter()
        .map(|s| format!("- id: {s}\n  action: {action}\n"))
        .collect::<String>()
        + extra;
    Runbook {
        name: "test-runbook".into(),
        source: "runbooks/test.yaml".into(),
        checksum: hex::encode(Sha256::digest(text.as_bytes())),
        text,
        description: None,
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepDef {
                id: s.to_string(),
                action: action.into(),
                params: serde_json::Value::Null,
                location: Location {
                    line: 2 * i + 1,
                    column: 3,
                },
            })
            .collect(),
    }
}

fn runbook(steps: &[&str]) -> Runbook {
    runbook_with(steps, "fake", "")
}

fn outcomes(report: &RunReport) -> Vec<(&str, StepOutcome)> {
    report
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.outcome))
        .collect()
}

#[test]
fn a_run_plans_applies_and_verifies_every_step() {
    let rig = Rig::new();
    let rb = runbook(&["a", "noop-b", "c"]);
    let report = rig.engine().run(&rb, &RunOptions::default()).unwrap();
    assert_eq!(
        outcomes(&report),
        vec![
            ("a", StepOutcome::Applied),
            ("noop-b", StepOutcome::NothingToDo),
            ("c", StepOutcome::Applied)
        ]
    );
    assert_eq!(report.state, RunState::Succeeded);
    assert!(!report.dry_run && !report.resumed);
    assert_eq!(report.steps[0].changes, vec!["change a"]);
    assert_eq!(report.steps[0].attempt, Some(1));
    assert_eq!(
        report.steps[0].output,
        Some(json!({"applied": "a", "attempt": 1}))
    );
    // The output on record is the one apply returned: recorded before verify, and kept by
    // the step's end (which no longer writes it again).
    assert_eq!(
        rig.journal.run_detail(report.run_id).unwrap().steps[0].output,
        Some(json!({"applied": "a", "attempt": 1}))
    );
    // A plan with no changes is not applied, but it is verified.
    assert_eq!(rig.world.count("apply", "noop-b"), 0);
    assert_eq!(rig.world.count("verify", "noop-b"), 1);
    assert_eq!(
        *rig.world.calls.lock().unwrap(),
        vec![
            "plan:a",
            "apply:a",
            "verify:a",
            "plan:noop-b",
            "verify:noop-b",
            "plan:c",
            "apply:c",
            "verify:c"
        ]
    );

    let detail = rig.journal.run_detail(report.run_id).unwrap();
    assert_eq!(detail.run.state, RunState::Succeeded);
    assert_eq!(detail.run.runbook_checksum, rb.checksum);
    assert_eq!(detail.runbook_text, rb.text);
    assert!(detail
        .steps
        .iter()
        .all(|s| s.state == StepState::Finished && s.attempts == 1));
    assert_eq!(
        detail.steps[0].plan.as_ref().unwrap()["changes"],
        json!(["change a"])
    );
    assert_eq!(detail.steps[1].outcome, Some(StepOutcome::NothingToDo));
    // The lease was released at the end.
    assert!(rig
        .journal
        .lease_holder(&rig.topology.name)
        .unwrap()
        .is_none());
    // The report serializes for `--output json`.
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["steps"][1]["outcome"], "nothing-to-do");
}

#[test]
fn dry_run_never_applies_nor_verifies() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b", "c"]);
    rig.world.fault("b", Fault::FailPlan);
    // A real run holds the lease: a dry-run changes nothing, so it needs none.
    let holder = rig
        .journal
        .create_run_leased(
            &crate::journal::NewRun {
                topology: &rig.topology.name,
                runbook: "other",
                source: "x",
                checksum: "x",
                text: "x",
                dry_run: false,
                steps: vec![],
            },
            false,
        )
        .unwrap();
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let err = rig.engine().run(&rb, &options).unwrap_err();
    drop(holder);
    assert_eq!(rig.world.count_all("apply"), 0);
    assert_eq!(rig.world.count_all("verify"), 0);
    // Every step was planned, even after a failed plan.
    assert_eq!(rig.world.count_all("plan"), 3);
    assert_eq!(err.exit_code(), ExitCode::Failure);
    let msg = err.to_string();
    assert!(
        msg.starts_with("step `b` (action `fake`) failed in run"),
        "{msg}"
    );
    assert!(msg.contains("cannot read the state of `b`"), "{msg}");
    assert!(
        msg.ends_with("help: fix the cause and plan again with --dry-run"),
        "{msg}"
    );
    let report = err.report().unwrap();
    assert!(report.dry_run);
    assert_eq!(
        outcomes(report),
        vec![
            ("a", StepOutcome::Planned),
            ("b", StepOutcome::Failed),
            ("c", StepOutcome::Planned)
        ]
    );
    assert_eq!(report.steps[2].changes, vec!["change c"]);

    let run = rig.journal.run_detail(report.run_id).unwrap();
    assert!(run.run.dry_run);
    assert_eq!(run.run.state, RunState::Failed);
    assert_eq!(run.steps[0].state, StepState::Pending);
    assert_eq!(run.steps[0].outcome, Some(StepOutcome::Planned));
    assert_eq!(run.steps[0].attempts, 0);
    assert!(run.steps[0].plan.is_some());
    // A dry-run is never what `resume` picks up.
    let resumed = rig
        .engine()
        .resume(Some(report.run_id), &rb, &RunOptions::default());
    assert!(matches!(resumed, Err(EngineError::NotResumable { .. })));
    assert!(rig
        .journal
        .latest_unfinished_run(&rig.topology.name)
        .unwrap()
        .is_some_and(|r| r.id != report.run_id));
}

#[test]
fn a_failed_step_stops_the_run_and_resume_retries_it() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b", "c"]);
    rig.world.fault("b", Fault::FailApply);
    let err = rig.engine().run(&rb, &RunOptions::default()).unwrap_err();
    let run_id = rig.only_run();
    assert_eq!(err.exit_code(), ExitCode::Failure);
    let msg = err.to_string();
    assert_eq!(
        msg,
        format!("step `b` (action `fake`) failed in run {run_id}: broker refused `b`\nhelp: fix the cause and run `kafka-dr resume {run_id}`")
    );
    assert!(
        matches!(&err, EngineError::StepFailed { cause, .. } if matches!(**cause, Error::Io(_)))
    );
    assert_eq!(
        outcomes(err.report().unwrap()),
        vec![
            ("a", StepOutcome::Applied),
            ("b", StepOutcome::Failed),
            ("c", StepOutcome::NotRun)
        ]
    );
    assert_eq!(rig.world.count("plan", "c"), 0);
    let detail = rig.journal.run_detail(run_id).unwrap();
    assert_eq!(detail.run.state, RunState::Failed);
    assert_eq!(detail.steps[1].state, StepState::Failed);
    assert_eq!(
        detail.steps[1].last_error.as_deref(),
        Some("broker refused `b`")
    );
    assert_eq!(detail.steps[2].state, StepState::Pending);
    assert!(rig
        .journal
        .lease_holder(&rig.topology.name)
        .unwrap()
        .is_none());

    let report = rig
        .engine()
        .resume(None, &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(report.run_id, run_id);
    assert!(report.resumed);
    assert_eq!(
        outcomes(&report),
        vec![
            ("a", StepOutcome::Skipped),
            ("b", StepOutcome::Applied),
            ("c", StepOutcome::Applied)
        ]
    );
    // Finished steps are not touched again, not even planned.
    assert_eq!(rig.world.count("plan", "a"), 1);
    assert_eq!(rig.world.count("apply", "a"), 1);
    assert_eq!(rig.world.count("apply", "b"), 2);
    let detail = rig.journal.run_detail(run_id).unwrap();
    assert_eq!(detail.run.state, RunState::Succeeded);
    let b = &detail.steps[1];
    assert_eq!(b.attempts, 2);
    assert_eq!(
        b.attempt_log.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        vec![Some(AttemptOutcome::Failed), Some(AttemptOutcome::Applied)]
    );
    assert_eq!(b.last_error, None);
    assert_eq!(report.steps[1].attempt, Some(2));
}

#[test]
fn a_step_started_by_a_dead_process_is_verified_not_reapplied_when_done() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b", "c"]);
    rig.world.fault("b", Fault::CrashAfterEffect);
    rig.crash(&rb, &RunOptions::default());
    let run_id = rig.only_run();
    let before = rig.journal.run_detail(run_id).unwrap();
    assert_eq!(before.run.state, RunState::Running);
    assert_eq!(before.steps[1].state, StepState::Started);
    assert_eq!(before.steps[1].attempt_log[0].outcome, None);

    let report = rig
        .engine()
        .resume(Some(run_id), &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(
        outcomes(&report),
        vec![
            ("a", StepOutcome::Skipped),
            ("b", StepOutcome::VerifiedNotReapplied),
            ("c", StepOutcome::Applied)
        ]
    );
    // b: applied once (by the dead process), then planned and verified, not re-applied.
    assert_eq!(rig.world.count("apply", "b"), 1);
    assert_eq!(rig.world.count("verify", "b"), 1);
    assert_eq!(rig.world.count("plan", "b"), 2);
    let b = &rig.journal.run_detail(run_id).unwrap().steps[1];
    assert_eq!(b.state, StepState::Finished);
    assert_eq!(b.outcome, Some(StepOutcome::VerifiedNotReapplied));
    assert_eq!(b.attempts, 1);
    assert_eq!(
        b.attempt_log[0].outcome,
        Some(AttemptOutcome::VerifiedNotReapplied)
    );
}

/// Issue 9 case 9: a process killed after apply returned (here: in verify) leaves the
/// output on record; resume verifies, does not re-apply, and keeps that output.
#[test]
fn a_step_killed_after_its_apply_returned_keeps_its_output() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b", "c"]);
    rig.world.fault("b", Fault::CrashInVerify);
    rig.crash(&rb, &RunOptions::default());
    let run_id = rig.only_run();
    let before = rig.journal.run_detail(run_id).unwrap();
    assert_eq!(before.steps[1].state, StepState::Started);
    assert_eq!(
        before.steps[1].output,
        Some(json!({"applied": "b", "attempt": 1}))
    );

    let report = rig
        .engine()
        .resume(Some(run_id), &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(report.steps[1].outcome, StepOutcome::VerifiedNotReapplied);
    assert_eq!(rig.world.count("apply", "b"), 1);
    let want = Some(json!({"applied": "b", "attempt": 1}));
    assert_eq!(report.steps[1].output, want);
    assert_eq!(
        rig.journal.run_detail(run_id).unwrap().steps[1].output,
        want
    );
}

/// Issue 9 case 9 (the `groups.translate` crash): a step whose effect is its output, killed
/// before that output was recorded, is applied again on resume so the output exists.
#[test]
fn a_step_in_place_without_its_output_is_applied_again_to_recover_it() {
    let rig = Rig::new();
    let rb = runbook(&["a", "journal-b", "c"]);
    rig.world.fault("journal-b", Fault::CrashAfterEffect);
    rig.crash(&rb, &RunOptions::default());
    let run_id = rig.only_run();
    assert_eq!(
        rig.journal.run_detail(run_id).unwrap().steps[1].output,
        None
    );

    let report = rig
        .engine()
        .resume(Some(run_id), &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(report.steps[1].outcome, StepOutcome::Applied);
    assert_eq!(rig.world.count("apply", "journal-b"), 2);
    let b = &rig.journal.run_detail(run_id).unwrap().steps[1];
    assert_eq!(b.state, StepState::Finished);
    assert_eq!(
        b.output,
        Some(json!({"applied": "journal-b", "attempt": 2}))
    );
}

#[test]
fn a_step_started_by_a_dead_process_is_reapplied_when_not_done() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b"]);
    rig.world.fault("b", Fault::CrashBeforeEffect);
    rig.crash(&rb, &RunOptions::default());
    let run_id = rig.only_run();

    let report = rig
        .engine()
        .resume(None, &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(
        outcomes(&report),
        vec![("a", StepOutcome::Skipped), ("b", StepOutcome::Applied)]
    );
    // Verified first (NotDone), then applied in a new attempt, then verified again.
    let calls = rig.world.calls.lock().unwrap().clone();
    let resumed: Vec<&str> = calls.iter().skip(5).map(String::as_str).collect();
    assert_eq!(resumed, vec!["plan:b", "verify:b", "apply:b", "verify:b"]);
    let b = &rig.journal.run_detail(run_id).unwrap().steps[1];
    assert_eq!(b.attempts, 2);
    assert_eq!(
        b.attempt_log.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        vec![
            Some(AttemptOutcome::Abandoned),
            Some(AttemptOutcome::Applied)
        ]
    );
    assert_eq!(report.steps[1].attempt, Some(2));
    assert_eq!(
        report.steps[1].output,
        Some(json!({"applied": "b", "attempt": 2}))
    );
}

#[test]
fn a_changed_runbook_is_refused_unless_forced() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b"]);
    rig.world.fault("b", Fault::FailApply);
    rig.engine().run(&rb, &RunOptions::default()).unwrap_err();
    let run_id = rig.only_run();

    let edited = runbook_with(&["a", "b"], "fake", "# edited\n");
    let err = rig
        .engine()
        .resume(None, &edited, &RunOptions::default())
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Conflict);
    let msg = err.to_string();
    assert!(
        msg.contains(&rb.checksum[..12]) && msg.contains(&edited.checksum[..12]),
        "{msg}"
    );
    assert!(!msg.contains(&rb.checksum[..13]), "{msg}");
    assert!(msg.contains("`runbooks/test.yaml`"), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    assert_eq!(rig.world.count("plan", "b"), 1);

    let forced = RunOptions {
        force: true,
        ..RunOptions::default()
    };
    let report = rig.engine().resume(Some(run_id), &edited, &forced).unwrap();
    assert_eq!(report.state, RunState::Succeeded);

    // Even --force cannot map a different list of steps.
    let rig = Rig::new();
    rig.world.fault("b", Fault::FailApply);
    rig.engine().run(&rb, &RunOptions::default()).unwrap_err();
    let other = runbook(&["a", "x"]);
    let err = rig.engine().resume(None, &other, &forced).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Conflict);
    assert!(
        err.to_string()
            .contains("step 2 is `b` (fake) in the run but `x` (fake)"),
        "{err}"
    );
}

#[test]
fn verify_not_done_after_apply_fails_the_step() {
    let rig = Rig::new();
    let rb = runbook(&["a"]);
    rig.world.fault("a", Fault::NoEffect);
    let err = rig.engine().run(&rb, &RunOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Failure);
    let msg = err.to_string();
    assert!(msg.contains("did not take effect"), "{msg}");
    assert!(msg.contains("effect of `a` missing"), "{msg}");
    let a = &rig.journal.run_detail(rig.only_run()).unwrap().steps[0];
    assert_eq!(a.state, StepState::Failed);
    assert!(a
        .last_error
        .as_deref()
        .unwrap()
        .contains("effect of `a` missing"));
}

#[test]
fn ctrl_c_between_steps_stops_cleanly_and_resume_goes_on() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b", "c"]);
    rig.world.fault("a", Fault::CtrlC);
    let options = RunOptions::default();
    let err = rig.engine().run(&rb, &options).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Interrupted);
    let run_id = rig.only_run();
    assert_eq!(
        err.to_string(),
        format!("run {run_id} was interrupted before step `b` (1 of 3 steps done)\nhelp: continue it with `kafka-dr resume {run_id}`")
    );
    assert_eq!(rig.world.count("plan", "b"), 0);
    let detail = rig.journal.run_detail(run_id).unwrap();
    assert_eq!(detail.run.state, RunState::Interrupted);
    assert_eq!(detail.steps[0].state, StepState::Finished);
    assert_eq!(detail.steps[1].state, StepState::Pending);
    assert!(rig
        .journal
        .lease_holder(&rig.topology.name)
        .unwrap()
        .is_none());

    let report = rig
        .engine()
        .resume(None, &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(
        outcomes(&report),
        vec![
            ("a", StepOutcome::Skipped),
            ("b", StepOutcome::Applied),
            ("c", StepOutcome::Applied)
        ]
    );
}

#[test]
fn ctrl_c_inside_a_step_marks_the_run_interrupted() {
    let rig = Rig::new();
    let rb = runbook(&["a", "b"]);
    rig.world.fault("a", Fault::InterruptedInApply);
    let err = rig.engine().run(&rb, &RunOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Interrupted);
    assert!(err.to_string().contains("during step `a`"), "{err}");
    let detail = rig.journal.run_detail(rig.only_run()).unwrap();
    assert_eq!(detail.run.state, RunState::Interrupted);
    assert_eq!(detail.steps[0].state, StepState::Failed);
    let report = rig
        .engine()
        .resume(None, &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(report.state, RunState::Succeeded);
}

#[test]
fn a_held_lease_refuses_a_second_run_and_records_nothing() {
    let rig = Rig::new();
    let rb = runbook(&["a"]);
    rig.world.fault("a", Fault::FailApply);
    rig.engine().run(&rb, &RunOptions::default()).unwrap_err();
    let first = rig.only_run();
    // The first run's process is alive (it is us) and holds the lease again.
    let _held = rig
        .journal
        .acquire_lease(&rig.topology.name, first, false)
        .unwrap();
    let err = rig.engine().run(&rb, &RunOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Conflict);
    assert!(matches!(
        err,
        EngineError::Journal(JournalError::LeaseHeld { .. })
    ));
    assert!(err.to_string().starts_with(&format!(
        "run {first} already holds the lease on topology `lab`"
    )));
    assert_eq!(rig.journal.runs_list().unwrap().len(), 1);
    let err = rig
        .engine()
        .resume(None, &rb, &RunOptions::default())
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Conflict);
}

#[test]
fn resume_refuses_what_cannot_be_resumed() {
    let rig = Rig::new();
    let rb = runbook(&["a"]);
    let err = rig
        .engine()
        .resume(None, &rb, &RunOptions::default())
        .unwrap_err();
    assert!(matches!(err, EngineError::NothingToResume { .. }));
    assert_eq!(err.exit_code(), ExitCode::Conflict);
    let report = rig.engine().run(&rb, &RunOptions::default()).unwrap();
    let err = rig
        .engine()
        .resume(Some(report.run_id), &rb, &RunOptions::default())
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Conflict);
    assert!(err.to_string().contains("it already succeeded"), "{err}");
    let err = rig
        .engine()
        .resume(Some(99), &rb, &RunOptions::default())
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(err.to_string().starts_with("run 99 not found"), "{err}");
}

#[test]
fn unknown_actions_fail_before_anything_is_recorded() {
    let rig = Rig::new();
    let rb = runbook_with(&["a"], "no.such.action", "");
    let err = rig
        .real_engine()
        .run(&rb, &RunOptions::default())
        .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Usage);
    assert!(
        err.to_string()
            .contains("step `a` uses action `no.such.action`"),
        "{err}"
    );
    assert!(rig.journal.runs_list().unwrap().is_empty());
}

#[test]
fn a_refused_confirmation_exits_not_confirmed_and_resume_with_yes_goes_on() {
    let rig = Rig::new();
    let mut rb = runbook_with(&["ask"], "confirm", "");
    rb.steps[0].params = json!({"message": "dc1 is really down?"});
    // The test's reporter has no terminal.
    let err = rig
        .real_engine()
        .run(&rb, &RunOptions::default())
        .unwrap_err();
    let run_id = rig.only_run();
    assert_eq!(err.exit_code(), ExitCode::NotConfirmed);
    let msg = err.to_string();
    assert!(
        msg.contains(
            "step `ask` needs confirmation and stdin is not a terminal\nhelp: re-run with --yes"
        ),
        "{msg}"
    );
    assert!(
        msg.ends_with(&format!(
            "help: to go on without a prompt, run `kafka-dr resume {run_id} --yes`"
        )),
        "{msg}"
    );

    let yes = RunOptions {
        assume_yes: true,
        ..RunOptions::default()
    };
    let report = rig.real_engine().resume(Some(run_id), &rb, &yes).unwrap();
    assert_eq!(report.steps[0].outcome, StepOutcome::Applied);
    assert_eq!(report.steps[0].output.as_ref().unwrap()["how"], "--yes");
}

#[test]
fn finished_hooks_are_not_rerun_on_resume_but_started_ones_are() {
    let rig = Rig::new();
    let log = rig._dir.path().join("hook.log");
    let mut rb = runbook_with(&["hook", "after"], "exec", "");
    rb.steps[0].params = json!({"argv": ["sh", "-c", format!("echo \"$KAFKA_DR_STEP_ID $KAFKA_DR_ATTEMPT\" >> {}", log.display())]});
    rb.steps[1].params = json!({"argv": ["sh", "-c", "exit 4"]});
    let err = rig
        .real_engine()
        .run(&rb, &RunOptions::default())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("hook `sh -c 'exit 4'` exited with code 4"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "hook 1\n");
    // The `hook` step is finished: resume does not run it again.
    rb.steps[1].params = json!({"argv": ["true"]});
    let forced = RunOptions {
        force: true,
        ..RunOptions::default()
    };
    rig.real_engine().resume(None, &rb, &forced).unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "hook 1\n");

    // A process that died while the hook ran left the step `started`; the hook has no
    // `verify_argv`, so resume runs it again, as attempt 2.
    let run_id = rig
        .journal
        .create_run(&crate::journal::NewRun {
            topology: &rig.topology.name,
            runbook: &rb.name,
            source: &rb.source,
            checksum: &rb.checksum,
            text: &rb.text,
            dry_run: false,
            steps: rb
                .steps
                .iter()
                .map(|s| crate::journal::NewStep {
                    step_id: &s.id,
                    action: &s.action,
                })
                .collect(),
        })
        .unwrap();
    assert_eq!(rig.journal.start_attempt(run_id, 0).unwrap(), 1);
    let report = rig
        .real_engine()
        .resume(Some(run_id), &rb, &RunOptions::default())
        .unwrap();
    assert_eq!(report.steps[0].outcome, StepOutcome::Applied);
    assert_eq!(report.steps[0].attempt, Some(2));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "hook 1\nhook 2\n");
}

#[test]
fn secrets_never_reach_the_journal() {
    let rig = Rig::new();
    rig.reporter.add_secrets(["hunter2-secret".to_string()]);
    let rb = runbook_with(&["a"], "fake", "# password: hunter2-secret\n");
    rig.world.fault("a", Fault::LeakSecret);
    let report = rig.engine().run(&rb, &RunOptions::default()).unwrap();
    assert_eq!(report.steps[0].output.as_ref().unwrap()["token"], "***");
    let detail = rig.journal.run_detail(report.run_id).unwrap();
    let all = serde_json::to_string(&detail).unwrap();
    assert!(!all.contains("hunter2-secret"), "{all}");
    // The checksum is still that of the real text, so resume compares correctly.
    assert_eq!(detail.run.runbook_checksum, rb.checksum);
}
