//! The error a step, a probe or a report returns, with its exit code.
//!
//! Each module has its own typed error (thiserror); this enum wraps them, and the actions'
//! own failures (`ActionError`, `SwitchoverError`), so that any failure maps to one
//! documented exit code (`ExitCode`, the contract in README.md and the man page). It
//! depends on no engine, action or report: the engine wraps a failed step's error in
//! `EngineError`, and `cli::error::Error` is where the two meet (docs/architecture.md,
//! "How errors flow").

mod action;
mod switchover;

use thiserror::Error;

pub use crate::exit_code::ExitCode;
pub use action::ActionError;
pub use switchover::SwitchoverError;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    #[error(transparent)]
    Runbook(#[from] crate::runbook::RunbookError),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// An action's own failure (a hook, a prompt, its parameters).
    #[error(transparent)]
    Action(#[from] ActionError),
    /// Kafka's and Connect's errors are one line by design (`; help:` inline), and quote
    /// what the cluster said and named (groups, connectors, traces): written on one line
    /// (`redact::OneLine`), so none of that can forge a line of its own.
    #[error("{}", crate::redact::OneLine(.0))]
    Kafka(#[from] crate::kafka::KafkaError),
    #[error("{}", crate::redact::OneLine(.0))]
    Connect(#[from] crate::connect::ConnectError),
    #[error(transparent)]
    Switchover(#[from] SwitchoverError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    CheckFailed(String),
    /// A cluster or endpoint that must answer did not (exit code 6).
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Io(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Topology(_) | Error::Runbook(_) | Error::Usage(_) => ExitCode::Usage,
            Error::Journal(e) => e.exit_code(),
            Error::Action(e) => e.exit_code(),
            Error::Kafka(e) => e.exit_code(),
            Error::Connect(e) => e.exit_code(),
            Error::Switchover(e) => e.exit_code(),
            Error::CheckFailed(_) => ExitCode::CheckFailed,
            Error::Unreachable(_) => ExitCode::Unreachable,
            Error::Io(_) => ExitCode::Failure,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12: a group name from a cluster cannot put a line of its own under ours.
    #[test]
    fn cluster_names_in_kafka_errors_stay_on_one_line() {
        let e: Error = crate::kafka::KafkaError::GroupNotEmpty {
            cluster: "dc2".into(),
            group: "g\nerror: forged\u{2028}x".into(),
            members: 1,
        }
        .into();
        let text = e.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("g\\nerror: forged\\u{2028}x"), "{text}");
    }
}
