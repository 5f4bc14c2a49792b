//! What the engine and the actions may do with the operator's terminal, as a trait:
//! `report::Reporter` implements it (the one code that prints), and `StepContext` holds it.
//!
//! The engine decides what happened and the actions say what they wait for; how that is
//! worded and drawn (status lines, indicatif bars, plain lines when piped, nothing under
//! `--output json`) is the reporter's. Defining the seam here keeps the dependency one
//! way: the engine and the actions do not import `report`, which renders their types.
//! Secrets are masked by `crate::redact` (process-wide), not through this trait.

use super::{Plan, RunReport};
use crate::journal::StepOutcome;

/// Why a prompt could not give an answer.
#[derive(Debug)]
pub enum PromptError {
    /// Ctrl-C at the prompt.
    Interrupted,
    /// The terminal failed (closed, not a terminal after all...).
    Terminal(String),
}

/// Which kind of run `run_begin` announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Run,
    Resume,
    DryRun,
}

/// The progress of one wait, as the console shows it. Dropping it ends the wait.
pub trait StepProgress {
    /// How far the wait is: `done` units, and what is waited for right now (`detail`
    /// replaces the text given at the start, or by the last `set`; `None` keeps it).
    fn set(&self, done: u64, detail: Option<&str>);
    /// The total became known or changed (a tail's size once it is counted).
    fn set_total(&self, n: u64);
}

/// The operator's terminal, as the engine and the actions see it.
pub trait Console: Sync {
    /// A status line (`verb` right-aligned, then `object`), suppressed by `-q`.
    fn status(&self, verb: &str, object: &str);
    /// A warning, shown once per distinct text.
    fn warn(&self, text: &str);
    /// True when stdin and stderr are a terminal a person can answer on.
    fn is_tty(&self) -> bool;
    /// Ask a yes/no question, default no.
    fn confirm(&self, question: &str) -> Result<bool, PromptError>;
    /// Start showing a wait: `verb` (`Observing`, `Draining`...) and `what`, out of
    /// `total` `unit`s when there is a total (a bar), else a spinner.
    fn progress(
        &self,
        verb: &str,
        what: &str,
        total: Option<u64>,
        unit: &str,
    ) -> Box<dyn StepProgress + '_>;

    /// A run starts (or resumes, or is planned).
    fn run_begin(&self, run_id: i64, runbook: &str, topology: &str, mode: RunMode);
    /// Step `position` of `total` starts its `attempt`.
    fn step_begin(&self, position: usize, total: usize, step_id: &str, action: &str, attempt: u32);
    /// The plan's changes and notes, under the step line.
    fn step_plan(&self, plan: &Plan);
    /// The plan changes nothing: apply is skipped, verify still runs.
    fn step_nothing_to_do(&self, step_id: &str);
    /// A step found `started` on resume: its effect is checked first.
    fn step_reverify(&self, step_id: &str, attempt: u32);
    /// Verify said the interrupted attempt did not take effect: applying again.
    fn step_reapply(&self, step_id: &str, attempt: u32, reason: &str);
    /// How a step ended, with its duration.
    fn step_end(&self, step_id: &str, outcome: StepOutcome, duration_ms: u64);
    /// The last line of a run.
    fn run_end(&self, report: &RunReport);
}
