//! Errors from running or resuming a runbook, and their exit codes.
//!
//! A failed step keeps the action's own `crate::error::Error` (as `cause`, also exposed
//! as `source()`) so the exit code is the cause's: a refused confirmation exits 5, an
//! unreachable cluster 6. The Display text is complete on its own (it includes the
//! cause, then the `help:` lines), because `main` prints Display only; a caller walking
//! the `source()` chain would print the cause twice.

use thiserror::Error;

use super::RunReport;
use crate::error::Error;
use crate::exit_code::ExitCode;
use crate::journal::JournalError;

#[derive(Debug, Error)]
pub enum EngineError {
    /// The journal failed, or refused the lease.
    #[error(transparent)]
    Journal(#[from] JournalError),

    /// A step of the runbook could not be turned into an action (bad parameters).
    #[error("runbook `{runbook}`, step `{step}` (action `{action}`, line {line}): {cause}")]
    Build {
        runbook: String,
        step: String,
        action: String,
        line: usize,
        #[source]
        cause: Box<Error>,
    },

    /// A step's plan, apply or verify returned an error.
    #[error(
        "step `{step}` (action `{action}`) failed in run {run_id}: {cause}\n{}",
        step_help(*run_id, *dry_run, cause)
    )]
    StepFailed {
        run_id: i64,
        step: String,
        action: String,
        dry_run: bool,
        #[source]
        cause: Box<Error>,
        /// The run so far, for the final table.
        report: Box<RunReport>,
    },

    /// Apply returned, but verify says the effect is not in place.
    #[error(
        "step `{step}` (action `{action}`) did not take effect in run {run_id}: {reason}\nhelp: check what the step changes by hand, then run `kafka-dr resume {run_id}` (the step is applied again)"
    )]
    NotVerified {
        run_id: i64,
        step: String,
        action: String,
        reason: String,
        report: Box<RunReport>,
    },

    /// Ctrl-C: the run stopped cleanly and is marked interrupted.
    #[error(
        "run {run_id} was interrupted {position}\nhelp: continue it with `kafka-dr resume {run_id}`"
    )]
    Interrupted {
        run_id: i64,
        /// "before step `x`" / "during step `x`".
        position: String,
        report: Box<RunReport>,
    },

    /// Resume: the runbook is not the one the run started with.
    #[error(
        "runbook `{runbook}` changed since run {run_id} started: the run recorded checksum {stored}, `{runbook_source}` now has {now}\nhelp: resume with the runbook the run started with (`kafka-dr runs show {run_id}` prints it), or pass --force to go on with this one"
    )]
    RunbookChanged {
        run_id: i64,
        runbook: String,
        /// First 12 hex digits of each checksum.
        stored: String,
        now: String,
        runbook_source: String,
    },

    /// Resume: the runbook's steps are not those the run recorded (even --force cannot map
    /// the journal's step states onto a different list of steps).
    #[error(
        "run {run_id} cannot go on with runbook `{runbook}`: its steps differ from the ones the run recorded ({difference})\nhelp: resume with the runbook the run started with (`kafka-dr runs show {run_id}` prints it), or start a new run"
    )]
    StepsChanged {
        run_id: i64,
        runbook: String,
        difference: String,
    },

    /// Resume: nothing to resume on this topology.
    #[error(
        "no unfinished run on topology `{topology}` to resume\nhelp: `kafka-dr runs list` shows the runs; start a new one with `kafka-dr run`"
    )]
    NothingToResume { topology: String },

    /// Resume: the run cannot be resumed (finished, a dry-run, another topology).
    #[error("run {run_id} cannot be resumed: {reason}\nhelp: {help}")]
    NotResumable {
        run_id: i64,
        reason: String,
        help: String,
    },
}

fn step_help(run_id: i64, dry_run: bool, cause: &Error) -> String {
    // A cause with help of its own already says what to do: "fix the cause" would
    // contradict a refusal whose fix is a choice, not a repair.
    let own_help = cause.to_string().contains("help:");
    if dry_run {
        return if own_help {
            "help: then plan again with --dry-run".to_string()
        } else {
            "help: fix the cause and plan again with --dry-run".to_string()
        };
    }
    match cause.exit_code() {
        ExitCode::NotConfirmed => {
            format!("help: to go on without a prompt, run `kafka-dr resume {run_id} --yes`")
        }
        _ if own_help => format!(
            "help: then `kafka-dr resume {run_id}` goes on from this step (`kafka-dr runs show {run_id}` shows what is done)"
        ),
        _ => format!("help: fix the cause and run `kafka-dr resume {run_id}`"),
    }
}

impl EngineError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            EngineError::Journal(e) => e.exit_code(),
            EngineError::Build { cause, .. } | EngineError::StepFailed { cause, .. } => {
                match cause.exit_code() {
                    // An action succeeding is never a failed step's exit code.
                    ExitCode::Success => ExitCode::Failure,
                    code => code,
                }
            }
            EngineError::NotVerified { .. } => ExitCode::Failure,
            EngineError::Interrupted { .. } => ExitCode::Interrupted,
            EngineError::RunbookChanged { .. }
            | EngineError::StepsChanged { .. }
            | EngineError::NothingToResume { .. }
            | EngineError::NotResumable { .. } => ExitCode::Conflict,
        }
    }

    /// The run so far, when the error stopped a run that had started (for the table).
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            EngineError::StepFailed { report, .. }
            | EngineError::NotVerified { report, .. }
            | EngineError::Interrupted { report, .. } => Some(report),
            _ => None,
        }
    }
}

#[cfg(test)]
mod help_tests {
    use super::*;

    #[test]
    fn a_cause_with_its_own_help_is_not_told_to_fix_the_cause() {
        let plain = Error::Usage("broker refused".into());
        assert_eq!(
            step_help(4, false, &plain),
            "help: fix the cause and run `kafka-dr resume 4`"
        );
        let refusal = Error::Usage(
            "`t` is compact-only\nhelp: set `compacted: recreate`, then run again".into(),
        );
        let help = step_help(4, false, &refusal);
        assert!(!help.contains("fix the cause"), "{help}");
        assert!(help.contains("kafka-dr resume 4"), "{help}");
        assert_eq!(
            step_help(4, true, &refusal),
            "help: then plan again with --dry-run"
        );
    }
}
