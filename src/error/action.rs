//! The actions' failures that no other module's error describes: hooks, prompts,
//! parameters, a fence that cannot hold. `crate::actions` re-exports it; it lives here so
//! that `crate::error::Error` holds it without depending on the actions.

use thiserror::Error;

use crate::exit_code::ExitCode;

/// Failures of the actions that no other module's error describes.
#[derive(Debug, Error)]
pub enum ActionError {
    #[error("step `{step}` uses action `{action}`, which this kafka-dr does not know\nhelp: check the action name in the runbook, or use a kafka-dr release that has this action")]
    Unknown { step: String, action: String },

    #[error("step `{step}` (action `{action}`): bad parameters: {reason}")]
    Params {
        step: String,
        action: &'static str,
        reason: String,
    },

    #[error(
        "step `{step}` needs confirmation and stdin is not a terminal\nhelp: re-run with --yes"
    )]
    NeedsConfirmation { step: String },

    #[error("step `{step}` was not confirmed (answered no)")]
    Declined { step: String },

    #[error("step `{step}`: cannot ask for confirmation: {reason}\nhelp: re-run with --yes to confirm without a prompt")]
    Prompt { step: String, reason: String },

    #[error("cannot start hook `{program}`: {source}\nhelp: check `argv` of step `{step}`: its first item must be an executable on PATH or a path to one")]
    HookSpawn {
        step: String,
        program: String,
        source: std::io::Error,
    },

    #[error("hook `{command}` {status}{}", stderr_block(stderr_tail))]
    HookFailed {
        command: String,
        /// "exited with code 3" / "was killed by signal 9".
        status: String,
        /// The last lines of its stderr.
        stderr_tail: String,
    },

    #[error("hook `{command}` did not finish within {timeout_seconds}s; kafka-dr killed its process group{}\nhelp: raise `timeout_seconds` of step `{step}`, or find out why the hook hangs", stderr_block(stderr_tail))]
    HookTimedOut {
        step: String,
        command: String,
        timeout_seconds: u64,
        stderr_tail: String,
    },

    #[error("hook `{command}`: cannot wait for it: {source}")]
    HookWait {
        command: String,
        source: std::io::Error,
    },

    /// A fence whose DENY bindings the brokers would ignore (the principal is a super
    /// user, or no authorizer is configured): it cannot hold, whatever is created.
    #[error("fence `{fence}` cannot hold on `{cluster}`: {reason}\nhelp: {help}")]
    FenceCannotHold {
        fence: String,
        cluster: String,
        reason: String,
        help: String,
    },

    /// Ctrl-C while the action waited; maps to exit code 130.
    #[error("interrupted (Ctrl-C) while {during}")]
    Interrupted { during: String },
}

fn stderr_block(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = tail.lines().map(|l| format!("  | {l}")).collect();
        format!("; its stderr ended with:\n{}", lines.join("\n"))
    }
}

impl ActionError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ActionError::Unknown { .. } | ActionError::Params { .. } => ExitCode::Usage,
            ActionError::NeedsConfirmation { .. }
            | ActionError::Declined { .. }
            | ActionError::Prompt { .. } => ExitCode::NotConfirmed,
            ActionError::HookSpawn { .. }
            | ActionError::HookFailed { .. }
            | ActionError::HookTimedOut { .. }
            | ActionError::HookWait { .. }
            | ActionError::FenceCannotHold { .. } => ExitCode::Failure,
            ActionError::Interrupted { .. } => ExitCode::Interrupted,
        }
    }
}
