//! `Engine`: drives a runbook's steps through plan -> apply -> verify, journaling each
//! transition, and resumes a run where it stopped.
//!
//! The order per step is the safety argument, so it lives in one place here:
//! 1. `start_attempt` (journal: step `started`, new attempt row) BEFORE any side effect;
//! 2. `plan` (read-only), stored, printed;
//! 3. `apply` unless the plan changes nothing;
//! 4. `verify` must say Done; then `finish_step`.
//!
//! On resume a step found `started` is planned and verified FIRST: Done means the dead
//! process's apply took effect (finished, not re-applied); NotDone means apply again in a
//! new attempt. Finished steps are skipped; failed steps are retried from the start.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{
    Action, Console, EngineError, Plan, RunMode, RunOptions, RunReport, StepContext, StepReport,
    Verdict,
};
use crate::error::Error;
use crate::exit_code::ExitCode;
use crate::journal::{
    Journal, JournalError, LeaseGuard, NewRun, NewStep, RunState, RunSummary, StepOutcome,
    StepRecord, StepState,
};
use crate::runbook::{Runbook, StepDef};
use crate::topology::Topology;

type Builder<'a> = Box<dyn Fn(&StepDef) -> Result<Box<dyn Action>, Error> + 'a>;

/// Runs and resumes runbooks against one topology and journal.
pub struct Engine<'a> {
    topology: &'a Topology,
    topology_name: String,
    topology_path: PathBuf,
    journal: &'a Journal,
    runtime: tokio::runtime::Handle,
    reporter: &'a dyn Console,
    build: Builder<'a>,
}

/// The run being driven by this invocation.
struct Ctl<'r> {
    run_id: i64,
    runbook: &'r Runbook,
    options: &'r RunOptions,
    started: Instant,
    report: RunReport,
    clusters: crate::kafka::ClusterPool,
}

impl Ctl<'_> {
    /// The report with the steps from `next` on marked not run.
    fn finish(mut self, state: RunState, next: usize) -> RunReport {
        for def in self.runbook.steps.iter().skip(next) {
            self.report
                .steps
                .push(StepReport::new(def, StepOutcome::NotRun));
        }
        self.report.state = state;
        self.report.wall_ms = elapsed_ms(self.started);
        self.report
    }
}

/// One step as the loop sees it.
struct Step<'s> {
    idx: u32,
    /// 1-based, for "Step 2/9".
    position: usize,
    total: usize,
    def: &'s StepDef,
    started: Instant,
}

/// What a dead process left on record for the step it did not finish.
struct Stored {
    /// The output its apply returned (journaled before verify), if it got that far.
    output: Option<serde_json::Value>,
    /// Its plan had changes: it was about to apply something.
    planned_changes: bool,
}

/// Why a step stopped.
enum Stop {
    /// Boxed: a failure carries a plan and an error, and travels in every `Result`.
    Failed(Box<Failure>),
    /// The journal failed: nothing more can be recorded, so stop as we are (a step left
    /// `started` is verified first on resume, which is the safe default).
    Journal(JournalError),
}

/// A step that failed (and can be recorded as such).
enum Failure {
    /// plan, apply or verify returned an error.
    Action {
        cause: Error,
        attempt: Option<u32>,
        plan: Option<Plan>,
    },
    /// verify said NotDone after apply.
    NotDone {
        reason: String,
        attempt: u32,
        plan: Plan,
    },
}

impl Failure {
    fn action(cause: Error, attempt: Option<u32>, plan: Option<Plan>) -> Stop {
        Stop::Failed(Box::new(Failure::Action {
            cause,
            attempt,
            plan,
        }))
    }
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Self {
        Stop::Journal(e)
    }
}

impl<'a> Engine<'a> {
    /// An engine for `topology` recording into `journal`, turning steps into actions with
    /// `build` (`actions::build`; tests pass fakes). The engine does not name the actions
    /// itself, so the actions depend on the engine and never the other way round. Actions
    /// run async I/O on `runtime`; the engine must be called from outside that runtime's
    /// worker threads (`block_on`).
    pub fn new(
        topology: &'a Topology,
        journal: &'a Journal,
        runtime: tokio::runtime::Handle,
        reporter: &'a dyn Console,
        build: impl Fn(&StepDef) -> Result<Box<dyn Action>, Error> + 'a,
    ) -> Engine<'a> {
        Engine {
            topology,
            topology_name: topology.name.clone(),
            // Absolute, so a hook that changes directory can still find it.
            topology_path: std::path::absolute(&topology.path)
                .unwrap_or_else(|_| topology.path.clone()),
            journal,
            runtime,
            reporter,
            build: Box::new(build),
        }
    }

    /// Start a new run of `runbook`. Under `options.dry_run`, plan every step and apply
    /// nothing (no lease: nothing is changed).
    pub fn run(&self, runbook: &Runbook, options: &RunOptions) -> Result<RunReport, EngineError> {
        let started = Instant::now();
        // Every step must build before anything is recorded or changed.
        let mut actions = self.build_actions(runbook)?;
        let text = crate::redact::redact(&crate::runbook::journal_text(runbook));
        let new = NewRun {
            topology: &self.topology_name,
            runbook: &runbook.name,
            source: &runbook.source,
            checksum: &runbook.checksum,
            text: &text,
            dry_run: options.dry_run,
            steps: runbook
                .steps
                .iter()
                .map(|s| NewStep {
                    step_id: &s.id,
                    action: &s.action,
                })
                .collect(),
        };
        if options.dry_run {
            let run_id = self.journal.create_run(&new)?;
            self.reporter
                .run_begin(run_id, &runbook.name, &self.topology_name, RunMode::DryRun);
            let ctl = self.ctl(run_id, runbook, options, started, false);
            return self.plan_only(ctl, &mut actions);
        }
        let unfinished = self.journal.latest_unfinished_run(&self.topology_name)?;
        let (run_id, lease) = self
            .journal
            .create_run_leased(&new, options.take_over_lease)?;
        self.announce_takeover(&lease);
        // Holding the lease means no live process drives `prev`: it stopped for good.
        if let Some(prev) = unfinished {
            self.reporter.warn(&format!(
                "run {} on topology `{}` did not finish ({}); run {run_id} starts from the first step. To continue run {} instead, stop this one and use `kafka-dr resume {}`",
                prev.id, self.topology_name, prev.state, prev.id, prev.id
            ));
        }
        self.reporter
            .run_begin(run_id, &runbook.name, &self.topology_name, RunMode::Run);
        let steps = self.journal.steps(run_id)?;
        let ctl = self.ctl(run_id, runbook, options, started, false);
        self.drive(ctl, &mut actions, &steps, lease)
    }

    /// Resume run `run_id`, or the newest unfinished run on this topology, with
    /// `runbook` (which must be the one the run started with, unless `options.force`).
    pub fn resume(
        &self,
        run_id: Option<i64>,
        runbook: &Runbook,
        options: &RunOptions,
    ) -> Result<RunReport, EngineError> {
        let started = Instant::now();
        let run = match run_id {
            Some(id) => self.journal.run_summary(id)?,
            None => self
                .journal
                .latest_unfinished_run(&self.topology_name)?
                .ok_or_else(|| EngineError::NothingToResume {
                    topology: self.topology_name.clone(),
                })?,
        };
        if options.dry_run {
            return Err(EngineError::NotResumable {
                run_id: run.id,
                reason: "`--dry-run` and resume do not go together".into(),
                help: format!(
                    "`kafka-dr runs show {}` shows where the run stopped and what each step planned",
                    run.id
                ),
            });
        }
        self.check_resumable(&run)?;
        let steps = self.journal.steps(run.id)?;
        check_same_steps(&run, runbook, &steps)?;
        let changed = run.runbook_checksum != runbook.checksum;
        if changed && !options.force {
            return Err(EngineError::RunbookChanged {
                run_id: run.id,
                runbook: runbook.name.clone(),
                stored: short(&run.runbook_checksum),
                now: short(&runbook.checksum),
                runbook_source: runbook.source.clone(),
            });
        }
        let mut actions = self.build_actions(runbook)?;

        let lease =
            self.journal
                .acquire_lease(&self.topology_name, run.id, options.take_over_lease)?;
        self.announce_takeover(&lease);
        // Re-read under the lease: another process may have finished the run meanwhile.
        let run = self.journal.run_summary(run.id)?;
        self.check_resumable(&run)?;
        let steps = self.journal.steps(run.id)?;
        if changed {
            self.reporter.warn(&format!(
                "runbook `{}` changed since run {} started (checksum {} then, {} in `{}` now); going on because of --force",
                runbook.name,
                run.id,
                short(&run.runbook_checksum),
                short(&runbook.checksum),
                runbook.source
            ));
        }
        self.journal.reopen_run(run.id)?;
        self.reporter
            .run_begin(run.id, &runbook.name, &self.topology_name, RunMode::Resume);
        let ctl = self.ctl(run.id, runbook, options, started, true);
        self.drive(ctl, &mut actions, &steps, lease)
    }

    fn ctl<'r>(
        &self,
        run_id: i64,
        runbook: &'r Runbook,
        options: &'r RunOptions,
        started: Instant,
        resumed: bool,
    ) -> Ctl<'r> {
        Ctl {
            run_id,
            runbook,
            options,
            started,
            clusters: crate::kafka::ClusterPool::new(),
            report: RunReport {
                run_id,
                topology: self.topology_name.clone(),
                runbook: runbook.name.clone(),
                runbook_source: runbook.source.clone(),
                runbook_checksum: runbook.checksum.clone(),
                dry_run: options.dry_run,
                resumed,
                state: RunState::Running,
                steps: Vec::new(),
                wall_ms: 0,
            },
        }
    }

    fn build_actions(&self, runbook: &Runbook) -> Result<Vec<Box<dyn Action>>, EngineError> {
        runbook
            .steps
            .iter()
            .map(|def| {
                (self.build)(def).map_err(|cause| EngineError::Build {
                    runbook: runbook.name.clone(),
                    step: def.id.clone(),
                    action: def.action.clone(),
                    line: def.location.line,
                    cause: Box::new(cause),
                })
            })
            .collect()
    }

    fn check_resumable(&self, run: &RunSummary) -> Result<(), EngineError> {
        let refuse = |reason: String, help: String| {
            Err(EngineError::NotResumable {
                run_id: run.id,
                reason,
                help,
            })
        };
        if run.topology != self.topology_name {
            return refuse(
                format!(
                    "it belongs to topology `{}`, not `{}`",
                    run.topology, self.topology_name
                ),
                format!("pass the topology file of `{}`", run.topology),
            );
        }
        if run.dry_run {
            return refuse(
                "it was a dry-run: nothing was applied".into(),
                "start a real run with `kafka-dr run`".into(),
            );
        }
        if run.state == RunState::Succeeded {
            return refuse(
                format!(
                    "it already succeeded (at {})",
                    run.finished_at.as_deref().unwrap_or("an unrecorded time")
                ),
                format!("`kafka-dr runs show {}` shows what it did", run.id),
            );
        }
        Ok(())
    }

    fn announce_takeover(&self, lease: &LeaseGuard) {
        if let Some(old) = lease.took_over() {
            self.reporter.warn(&format!(
                "took over the lease on topology `{}` from run {} ({old}) because of --take-over-lease",
                lease.topology(),
                old.run_id
            ));
        }
    }

    fn context<'c>(&'c self, ctl: &'c Ctl<'_>, def: &'c StepDef) -> StepContext<'c> {
        StepContext {
            topology: self.topology,
            topology_path: &self.topology_path,
            journal: self.journal,
            run_id: ctl.run_id,
            runbook: &ctl.runbook.name,
            step_id: &def.id,
            attempt: 0,
            dry_run: ctl.options.dry_run,
            assume_yes: ctl.options.assume_yes,
            interrupted: &ctl.options.interrupted,
            runtime: &self.runtime,
            reporter: self.reporter,
            clusters: &ctl.clusters,
        }
    }

    /// The step loop of a real run (new or resumed).
    fn drive(
        &self,
        mut ctl: Ctl<'_>,
        actions: &mut [Box<dyn Action>],
        records: &[StepRecord],
        lease: LeaseGuard,
    ) -> Result<RunReport, EngineError> {
        let runbook = ctl.runbook;
        let total = runbook.steps.len();
        // A panic from here on marks the run failed instead of leaving it `running`.
        let _watch = self.journal.watch_run(ctl.run_id);
        let steps = actions.iter_mut().zip(records).zip(&runbook.steps);
        for (i, ((action, record), def)) in steps.enumerate() {
            if ctl.options.interrupted.load(Ordering::SeqCst) {
                return Err(self.interrupted_between(ctl, i));
            }
            if record.state == StepState::Finished {
                self.reporter.step_end(&def.id, StepOutcome::Skipped, 0);
                ctl.report
                    .steps
                    .push(StepReport::new(def, StepOutcome::Skipped));
                continue;
            }
            let step = Step {
                idx: record.index,
                position: i + 1,
                total,
                def,
                started: Instant::now(),
            };
            super::crash::enter_step(&def.id);
            let mut ctx = self.context(&ctl, def);
            let result = match record.state {
                StepState::Started if record.attempts > 0 => self.resume_started(
                    &mut ctx,
                    &step,
                    action.as_mut(),
                    record.attempts,
                    Stored {
                        output: record.output.clone(),
                        planned_changes: record.plan.as_ref().is_some_and(|p| {
                            p["changes"].as_array().is_some_and(|c| !c.is_empty())
                        }),
                    },
                ),
                _ => self.execute(&mut ctx, &step, action.as_mut()),
            };
            match result {
                Ok(report) => {
                    self.reporter
                        .step_end(&def.id, report.outcome, report.duration_ms);
                    ctl.report.steps.push(report);
                }
                Err(Stop::Journal(e)) => return Err(e.into()),
                Err(Stop::Failed(failure)) => return Err(self.stop(ctl, &step, *failure)),
            }
        }
        self.journal
            .finish_run(ctl.run_id, RunState::Succeeded, None)?;
        lease.release()?;
        let report = ctl.finish(RunState::Succeeded, total);
        self.reporter.run_end(&report);
        Ok(report)
    }

    /// A pending or failed step: a new attempt from the plan on.
    fn execute(
        &self,
        ctx: &mut StepContext<'_>,
        step: &Step<'_>,
        action: &mut dyn Action,
    ) -> Result<StepReport, Stop> {
        // Recorded BEFORE the step does anything.
        let attempt = self.journal.start_attempt(ctx.run_id, step.idx)?;
        ctx.attempt = attempt;
        self.reporter.step_begin(
            step.position,
            step.total,
            &step.def.id,
            &step.def.action,
            attempt,
        );
        let plan = action
            .plan(ctx)
            .map_err(|cause| Failure::action(cause, Some(attempt), None))?;
        self.journal
            .record_plan(ctx.run_id, step.idx, &self.plan_json(&plan))?;
        self.reporter.step_plan(&plan);
        super::crash::crash_point(super::crash::STEP_STARTED);
        super::crash::panic_point(&step.def.id);
        self.apply_and_verify(ctx, step, action, plan, attempt)
    }

    /// A step the journal says was started by a process that never finished it;
    /// `stored` is what the dead process left on record.
    fn resume_started(
        &self,
        ctx: &mut StepContext<'_>,
        step: &Step<'_>,
        action: &mut dyn Action,
        dangling: u32,
        stored: Stored,
    ) -> Result<StepReport, Stop> {
        ctx.attempt = dangling;
        self.reporter.step_begin(
            step.position,
            step.total,
            &step.def.id,
            &step.def.action,
            dangling,
        );
        self.reporter.step_reverify(&step.def.id, dangling);
        let plan = action
            .plan(ctx)
            .map_err(|cause| Failure::action(cause, Some(dangling), None))?;
        self.journal
            .record_plan(ctx.run_id, step.idx, &self.plan_json(&plan))?;
        self.reporter.step_plan(&plan);
        let verdict = match action.verify(ctx, &plan) {
            // In place, but the dead process stopped before its apply's output reached the
            // journal: later steps and the report read that output, so it must not be
            // lost. Apply is idempotent: applying again changes nothing and returns it.
            Ok(Verdict::Done) if stored.output.is_none() && !plan.is_noop() => Ok(Verdict::NotDone(
                "its effect is in place but its output was never recorded; applying again (idempotent) to recover it".into(),
            )),
            other => other,
        };
        match verdict {
            Ok(Verdict::Done) => {
                let ms = elapsed_ms(step.started);
                // The dead process planned changes and made them all (nothing is left to
                // do now) but its output never reached the journal: what is in place now,
                // the plan's detail, stands in for it (later steps and the report read it).
                let output = match stored.output {
                    None if stored.planned_changes && !plan.detail.is_null() => {
                        Some(self.redact_json(plan.detail.clone()))
                    }
                    kept => kept,
                };
                self.journal.finish_step(
                    ctx.run_id,
                    step.idx,
                    dangling,
                    StepOutcome::VerifiedNotReapplied,
                    output.as_ref(),
                    ms,
                )?;
                let mut report = StepReport::new(step.def, StepOutcome::VerifiedNotReapplied)
                    .with_plan(Some(&plan));
                report.attempt = Some(dangling);
                report.duration_ms = ms;
                report.output = output;
                Ok(report)
            }
            Ok(Verdict::NotDone(reason)) => {
                self.journal
                    .abandon_attempt(ctx.run_id, step.idx, dangling)?;
                let attempt = self.journal.start_attempt(ctx.run_id, step.idx)?;
                ctx.attempt = attempt;
                self.reporter.step_reapply(&step.def.id, attempt, &reason);
                self.apply_and_verify(ctx, step, action, plan, attempt)
            }
            Err(cause) => Err(Failure::action(cause, Some(dangling), Some(plan))),
        }
    }

    fn apply_and_verify(
        &self,
        ctx: &mut StepContext<'_>,
        step: &Step<'_>,
        action: &mut dyn Action,
        plan: Plan,
        attempt: u32,
    ) -> Result<StepReport, Stop> {
        // A plan with no changes skips apply, but verify still runs: "nothing to do" must
        // be true of the cluster, not just of the plan.
        let (outcome, output) = if plan.is_noop() {
            self.reporter.step_nothing_to_do(&step.def.id);
            (StepOutcome::NothingToDo, None)
        } else {
            match action.apply(ctx, &plan) {
                Ok(output) => {
                    let output = self.redact_json(output);
                    // Before verify: a crash from here on keeps the output on record.
                    self.journal.record_output(ctx.run_id, step.idx, &output)?;
                    (StepOutcome::Applied, Some(output))
                }
                Err(cause) => return Err(Failure::action(cause, Some(attempt), Some(plan))),
            }
        };
        match action.verify(ctx, &plan) {
            Ok(Verdict::Done) => {}
            Ok(Verdict::NotDone(reason)) => {
                return Err(Stop::Failed(Box::new(Failure::NotDone {
                    reason,
                    attempt,
                    plan,
                })))
            }
            Err(cause) => return Err(Failure::action(cause, Some(attempt), Some(plan))),
        }
        super::crash::crash_point(super::crash::STEP_APPLIED);
        let ms = elapsed_ms(step.started);
        // The output is already on record (`record_output` above): `None` keeps it, and
        // spares encoding and writing it twice (a translation of 300,000 positions is tens
        // of megabytes).
        self.journal
            .finish_step(ctx.run_id, step.idx, attempt, outcome, None, ms)?;
        let mut report = StepReport::new(step.def, outcome).with_plan(Some(&plan));
        report.attempt = Some(attempt);
        report.duration_ms = ms;
        report.output = output;
        Ok(report)
    }

    /// Record a stopped step and the run's end; the error to return.
    fn stop(&self, mut ctl: Ctl<'_>, step: &Step<'_>, failure: Failure) -> EngineError {
        let ms = elapsed_ms(step.started);
        let (text, attempt, plan) = match &failure {
            Failure::Action {
                cause,
                attempt,
                plan,
            } => (
                crate::redact::redact(&cause.to_string()),
                *attempt,
                plan.as_ref(),
            ),
            Failure::NotDone {
                reason,
                attempt,
                plan,
            } => (
                format!(
                    "verify says the step did not take effect: {}",
                    crate::redact::redact(reason)
                ),
                Some(*attempt),
                Some(plan),
            ),
        };
        let interrupted = matches!(&failure, Failure::Action { cause, .. } if cause.exit_code() == ExitCode::Interrupted);
        let state = if interrupted {
            RunState::Interrupted
        } else {
            RunState::Failed
        };
        let recorded = self
            .journal
            .fail_step(ctl.run_id, step.idx, attempt, &text, ms)
            .and_then(|()| {
                self.journal.finish_run(
                    ctl.run_id,
                    state,
                    Some(&format!("step `{}`: {text}", step.def.id)),
                )
            });
        if let Err(e) = recorded {
            return e.into();
        }
        self.reporter
            .step_end(&step.def.id, StepOutcome::Failed, ms);
        let mut failed = StepReport::new(step.def, StepOutcome::Failed).with_plan(plan);
        failed.attempt = attempt;
        failed.duration_ms = ms;
        failed.error = Some(text);
        ctl.report.steps.push(failed);
        let run_id = ctl.run_id;
        let report = Box::new(ctl.finish(state, step.position));
        self.reporter.run_end(&report);
        let (id, action) = (step.def.id.clone(), step.def.action.clone());
        match failure {
            Failure::Action { .. } if interrupted => EngineError::Interrupted {
                run_id,
                position: format!(
                    "during step `{id}`; the step is marked failed and is retried on resume"
                ),
                report,
            },
            Failure::Action { cause, .. } => EngineError::StepFailed {
                run_id,
                step: id,
                action,
                dry_run: false,
                cause: Box::new(cause),
                report,
            },
            Failure::NotDone { reason, .. } => EngineError::NotVerified {
                run_id,
                step: id,
                action,
                reason: crate::redact::redact(&reason),
                report,
            },
        }
    }

    /// Ctrl-C seen between steps: close the run as interrupted.
    fn interrupted_between(&self, ctl: Ctl<'_>, next: usize) -> EngineError {
        let def = &ctl.runbook.steps[next];
        let position = format!(
            "before step `{}` ({} of {} steps done)",
            def.id,
            next,
            ctl.runbook.steps.len()
        );
        if let Err(e) = self.journal.finish_run(
            ctl.run_id,
            RunState::Interrupted,
            Some(&format!("interrupted {position}")),
        ) {
            return e.into();
        }
        let run_id = ctl.run_id;
        let report = ctl.finish(RunState::Interrupted, next);
        self.reporter.run_end(&report);
        EngineError::Interrupted {
            run_id,
            position,
            report: Box::new(report),
        }
    }

    /// `--dry-run`: plan every step (a failed plan does not stop the others: plans only
    /// read), record the plans, apply and verify nothing.
    fn plan_only(
        &self,
        mut ctl: Ctl<'_>,
        actions: &mut [Box<dyn Action>],
    ) -> Result<RunReport, EngineError> {
        let runbook = ctl.runbook;
        let total = runbook.steps.len();
        let _watch = self.journal.watch_run(ctl.run_id);
        let mut first_failure: Option<(usize, Error)> = None;
        for (i, (action, def)) in actions.iter_mut().zip(&runbook.steps).enumerate() {
            if ctl.options.interrupted.load(Ordering::SeqCst) {
                return Err(self.interrupted_between(ctl, i));
            }
            let started = Instant::now();
            self.reporter
                .step_begin(i + 1, total, &def.id, &def.action, 0);
            let planned = action.plan(&mut self.context(&ctl, def));
            let ms = elapsed_ms(started);
            let idx = step_index(i);
            match planned {
                Ok(plan) => {
                    self.journal
                        .record_planned(ctl.run_id, idx, &self.plan_json(&plan))?;
                    self.reporter.step_plan(&plan);
                    self.reporter.step_end(&def.id, StepOutcome::Planned, ms);
                    let mut report =
                        StepReport::new(def, StepOutcome::Planned).with_plan(Some(&plan));
                    report.duration_ms = ms;
                    ctl.report.steps.push(report);
                }
                Err(cause) => {
                    let text = crate::redact::redact(&cause.to_string());
                    self.journal.fail_step(ctl.run_id, idx, None, &text, ms)?;
                    self.reporter.step_end(&def.id, StepOutcome::Failed, ms);
                    let mut report = StepReport::new(def, StepOutcome::Failed);
                    report.duration_ms = ms;
                    report.error = Some(text);
                    ctl.report.steps.push(report);
                    first_failure.get_or_insert((i, cause));
                }
            }
        }
        let state = match &first_failure {
            Some(_) => RunState::Failed,
            None => RunState::Succeeded,
        };
        let error = first_failure
            .as_ref()
            .map(|(i, _)| format!("the plan of step `{}` failed", runbook.steps[*i].id));
        self.journal
            .finish_run(ctl.run_id, state, error.as_deref())?;
        let run_id = ctl.run_id;
        let report = ctl.finish(state, total);
        self.reporter.run_end(&report);
        match first_failure {
            None => Ok(report),
            Some((i, cause)) => Err(EngineError::StepFailed {
                run_id,
                step: runbook.steps[i].id.clone(),
                action: runbook.steps[i].action.clone(),
                dry_run: true,
                cause: Box::new(cause),
                report: Box::new(report),
            }),
        }
    }

    /// The plan as journaled: all of it (changes, notes, detail), secrets redacted.
    fn plan_json(&self, plan: &Plan) -> serde_json::Value {
        match serde_json::to_value(plan) {
            Ok(v) => self.redact_json(v),
            // Only a non-string map key could fail here; keep the readable part.
            Err(e) => serde_json::json!({
                "changes": plan.changes.iter().map(|c| crate::redact::redact(c)).collect::<Vec<_>>(),
                "notes": plan.notes.iter().map(|n| crate::redact::redact(n)).collect::<Vec<_>>(),
                "detail_error": e.to_string(),
            }),
        }
    }

    /// Every string in `value` through the reporter's secret scrubber, before it reaches
    /// the journal or a report.
    fn redact_json(&self, value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(crate::redact::redact(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, self.redact_json(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// Refuse a runbook whose step list is not the one the run recorded: step states are
/// matched by position, so even `--force` (which accepts changed parameters) cannot go on.
fn check_same_steps(
    run: &RunSummary,
    runbook: &Runbook,
    records: &[StepRecord],
) -> Result<(), EngineError> {
    let difference = if records.len() != runbook.steps.len() {
        Some(format!(
            "the run has {} steps, the runbook {}",
            records.len(),
            runbook.steps.len()
        ))
    } else {
        records
            .iter()
            .zip(&runbook.steps)
            .find(|(r, d)| r.step_id != d.id || r.action != d.action)
            .map(|(r, d)| {
                format!(
                    "step {} is `{}` ({}) in the run but `{}` ({}) in the runbook",
                    r.index + 1,
                    r.step_id,
                    r.action,
                    d.id,
                    d.action
                )
            })
    };
    match difference {
        Some(difference) => Err(EngineError::StepsChanged {
            run_id: run.id,
            runbook: runbook.name.clone(),
            difference,
        }),
        None => Ok(()),
    }
}

/// The first 12 hex digits of a checksum, as messages show it.
fn short(checksum: &str) -> String {
    checksum.chars().take(12).collect()
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Step positions are journaled as u32; a runbook with more than 4 billion steps is not a
/// runbook, so saturating is fine.
fn step_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
