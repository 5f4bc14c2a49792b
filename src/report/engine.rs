//! What the engine prints while a runbook runs: one status line per step as it goes,
//! the plan's changes under it, and the confirmation prompt of the `confirm` action.
//!
//! Everything here goes to stderr through `status`/`warn` (suppressed by -q, redacted),
//! so that stdout carries only the final table or JSON document, which the commands print
//! from the `RunReport`. The engine decides what happened; this file only words it.

use std::time::Duration;

use super::Reporter;
use crate::engine::{Console, Plan, PromptError, RunMode, RunReport, StepProgress};
use crate::journal::{RunState, StepOutcome};

impl Reporter {
    /// "     Running runbook `failover` on topology `lab` (run 12)".
    pub fn run_begin(&self, run_id: i64, runbook: &str, topology: &str, mode: RunMode) {
        let verb = match mode {
            RunMode::Run => "Running",
            RunMode::Resume => "Resuming",
            RunMode::DryRun => "Planning",
        };
        let note = match mode {
            RunMode::DryRun => ", dry-run: nothing will be changed",
            RunMode::Run | RunMode::Resume => "",
        };
        self.status(
            verb,
            &format!("runbook `{runbook}` on topology `{topology}` (run {run_id}{note})"),
        );
    }

    /// "        Step 2/9 `fence` (fence.apply), attempt 2".
    pub fn step_begin(
        &self,
        position: usize,
        total: usize,
        step_id: &str,
        action: &str,
        attempt: u32,
    ) {
        let again = if attempt > 1 {
            format!(", attempt {attempt}")
        } else {
            String::new()
        };
        self.status(
            "Step",
            &format!("{position}/{total} `{step_id}` ({action}){again}"),
        );
    }

    /// The plan's changes and notes, one per line, under the step line.
    pub fn step_plan(&self, plan: &Plan) {
        for change in &plan.changes {
            self.status("", &format!("- {change}"));
        }
        for note in plan.notes.iter().filter(|n| self.first_time(n)) {
            self.status("", &format!("  note: {note}"));
        }
    }

    /// The plan changes nothing: apply is skipped, verify still runs.
    pub fn step_nothing_to_do(&self, step_id: &str) {
        self.status(
            "Unchanged",
            &format!("`{step_id}`: nothing to do, verifying only"),
        );
    }

    /// A step found `started` on resume: its effect is checked before anything is re-applied.
    pub fn step_reverify(&self, step_id: &str, attempt: u32) {
        self.status(
            "Verifying",
            &format!(
                "`{step_id}`: attempt {attempt} stopped before it was recorded finished; checking whether it took effect"
            ),
        );
    }

    /// Verify said the interrupted attempt did not take effect: applying again.
    pub fn step_reapply(&self, step_id: &str, attempt: u32, reason: &str) {
        self.status(
            "Re-applying",
            &format!("`{step_id}` as attempt {attempt}: not in place ({reason})"),
        );
    }

    /// How a step ended, with its duration.
    pub fn step_end(&self, step_id: &str, outcome: StepOutcome, duration_ms: u64) {
        let took = crate::human::duration(Duration::from_millis(duration_ms));
        let (verb, what) = match outcome {
            StepOutcome::Applied => ("Applied", format!("`{step_id}` in {took}")),
            StepOutcome::VerifiedNotReapplied => (
                "Verified",
                format!("`{step_id}` was already in place: verified, not re-applied ({took})"),
            ),
            StepOutcome::NothingToDo => {
                ("Verified", format!("`{step_id}`: nothing to do ({took})"))
            }
            StepOutcome::Planned => ("Planned", format!("`{step_id}` ({took})")),
            StepOutcome::Failed => ("Failed", format!("`{step_id}` after {took}")),
            StepOutcome::Skipped => (
                "Skipped",
                format!("`{step_id}`: finished by an earlier attempt"),
            ),
            StepOutcome::NotRun => ("Not run", format!("`{step_id}`")),
        };
        self.status(verb, &what);
    }

    /// The last line of a run (the table or JSON comes from the command, on stdout).
    pub fn run_end(&self, report: &RunReport) {
        let took = crate::human::duration(Duration::from_millis(report.wall_ms));
        let count = |o: StepOutcome| report.steps.iter().filter(|s| s.outcome == o).count();
        let mut parts = Vec::new();
        for (outcome, label) in [
            (StepOutcome::Applied, "applied"),
            (
                StepOutcome::VerifiedNotReapplied,
                "verified, not re-applied",
            ),
            (StepOutcome::NothingToDo, "nothing to do"),
            (StepOutcome::Planned, "planned"),
            (StepOutcome::Skipped, "skipped (done earlier)"),
            (StepOutcome::Failed, "failed"),
            (StepOutcome::NotRun, "not run"),
        ] {
            let n = count(outcome);
            if n > 0 {
                parts.push(format!("{n} {label}"));
            }
        }
        let verb = match report.state {
            RunState::Succeeded if report.dry_run => "Planned",
            RunState::Succeeded => "Finished",
            RunState::Failed => "Failed",
            RunState::Interrupted => "Interrupted",
            RunState::Running => "Stopped",
        };
        self.status(
            verb,
            &format!("run {} in {took}: {}", report.run_id, parts.join(", ")),
        );
    }

    /// Ask a yes/no question on the terminal, default no, Enter required.
    pub fn confirm(&self, question: &str) -> Result<bool, PromptError> {
        let answer = dialoguer::Confirm::new()
            .with_prompt(self.safe(question))
            .default(false)
            .wait_for_newline(true)
            .interact_opt();
        match answer {
            // Esc / q: no answer is not a yes.
            Ok(answer) => Ok(answer.unwrap_or(false)),
            Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                Err(PromptError::Interrupted)
            }
            Err(dialoguer::Error::IO(e)) => Err(PromptError::Terminal(e.to_string())),
        }
    }
}

/// The engine's and the actions' view of the terminal (`engine::Console`): each method is
/// the one above of the same name.
impl Console for Reporter {
    fn status(&self, verb: &str, object: &str) {
        Reporter::status(self, verb, object);
    }
    fn warn(&self, text: &str) {
        Reporter::warn(self, text);
    }
    fn is_tty(&self) -> bool {
        self.tty
    }
    fn confirm(&self, question: &str) -> Result<bool, PromptError> {
        Reporter::confirm(self, question)
    }
    fn progress(
        &self,
        verb: &str,
        what: &str,
        total: Option<u64>,
        unit: &str,
    ) -> Box<dyn StepProgress + '_> {
        Box::new(Reporter::progress(self, verb, what, total, unit))
    }
    fn run_begin(&self, run_id: i64, runbook: &str, topology: &str, mode: RunMode) {
        Reporter::run_begin(self, run_id, runbook, topology, mode);
    }
    fn step_begin(&self, position: usize, total: usize, step_id: &str, action: &str, attempt: u32) {
        Reporter::step_begin(self, position, total, step_id, action, attempt);
    }
    fn step_plan(&self, plan: &Plan) {
        Reporter::step_plan(self, plan);
    }
    fn step_nothing_to_do(&self, step_id: &str) {
        Reporter::step_nothing_to_do(self, step_id);
    }
    fn step_reverify(&self, step_id: &str, attempt: u32) {
        Reporter::step_reverify(self, step_id, attempt);
    }
    fn step_reapply(&self, step_id: &str, attempt: u32, reason: &str) {
        Reporter::step_reapply(self, step_id, attempt, reason);
    }
    fn step_end(&self, step_id: &str, outcome: StepOutcome, duration_ms: u64) {
        Reporter::step_end(self, step_id, outcome, duration_ms);
    }
    fn run_end(&self, report: &RunReport) {
        Reporter::run_end(self, report);
    }
}

impl StepProgress for super::progress::Progress {
    fn set(&self, done: u64, detail: Option<&str>) {
        super::progress::Progress::set(self, done, detail);
    }
    fn set_total(&self, n: u64) {
        super::progress::Progress::set_total(self, n);
    }
}
