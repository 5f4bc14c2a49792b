//! What a command returns: a run's failure as the engine reports it (the step, the run,
//! how to resume), or any other failure (`crate::error::Error`: a module's typed error).
//!
//! This is the top of the one-way flow of errors: actions return `crate::error::Error`,
//! the engine wraps a failed step's in `EngineError`, and only the commands here see both.
//! `main` maps it to the documented exit code.

use thiserror::Error;

use crate::engine::EngineError;
use crate::exit_code::ExitCode;

#[derive(Debug, Error)]
pub enum Error {
    /// A runbook run failed, was interrupted, or could not start or resume.
    #[error(transparent)]
    Run(#[from] EngineError),
    /// Anything else: bad input, a cluster or the journal, a check that failed (boxed:
    /// every command returns this, and the module errors are large).
    #[error(transparent)]
    Command(Box<crate::error::Error>),
}

impl From<crate::error::Error> for Error {
    fn from(e: crate::error::Error) -> Self {
        Error::Command(Box::new(e))
    }
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Run(e) => e.exit_code(),
            Error::Command(e) => e.exit_code(),
        }
    }

    /// The module error underneath: a failed step's own cause, the journal's error, or
    /// (for the engine's refusals, which have none) the message as `Io`. For callers that
    /// classify a failure by what went wrong rather than where (the recorder's passes).
    pub fn into_cause(self) -> crate::error::Error {
        match self {
            Error::Command(e) => *e,
            Error::Run(
                EngineError::StepFailed { cause, .. } | EngineError::Build { cause, .. },
            ) => *cause,
            Error::Run(EngineError::Journal(j)) => crate::error::Error::Journal(j),
            Error::Run(other) => crate::error::Error::Io(other.to_string()),
        }
    }
}

/// `?` on any module error in a command: it becomes `Error::Command`.
macro_rules! command_error_from {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Command(Box::new(e.into()))
            }
        })*
    };
}

command_error_from!(
    crate::topology::TopologyError,
    crate::runbook::RunbookError,
    crate::journal::JournalError,
    crate::kafka::KafkaError,
    crate::connect::ConnectError,
    crate::error::ActionError,
    crate::error::SwitchoverError,
);

pub type Result<T, E = Error> = std::result::Result<T, E>;
