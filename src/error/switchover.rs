//! Why a planned-switchover step refuses to go on (`switchover.preflight`, `mirror.drain`,
//! `groups.idle`, `groups.exact`): each refusal names the cluster, the partitions or the
//! groups, and carries the operator's next step as data (`help`).
//!
//! It lives with the other step errors, not in `actions/`, so that `crate::error::Error`
//! can hold it without depending on the actions (errors flow one way: see
//! docs/architecture.md).

use thiserror::Error;

use crate::exit_code::ExitCode;

/// Why a switchover step refuses to go on.
#[derive(Debug, Error)]
pub enum SwitchoverError {
    /// The flow that copies the primary into the backup is not healthy.
    #[error("the {flow} MM2 flow `{from}` -> `{to}` is not healthy, so a switchover could not drain it:\n{}\nhelp: {help}", lines(problems))]
    FlowUnhealthy {
        flow: String,
        from: String,
        to: String,
        problems: Vec<String>,
        help: String,
    },

    /// The mirror lags too far behind to start a switchover (the write outage would be long).
    #[error("the mirror `{from}` -> `{to}` lags {lag} record(s), more than `max_lag` {max_lag}; the write outage would last until they are copied:\n{}\nhelp: {help}", lines(partitions))]
    LagTooHigh {
        from: String,
        to: String,
        lag: i64,
        max_lag: i64,
        partitions: Vec<String>,
        help: String,
    },

    /// The mirror did not copy everything below the last stable offset in time.
    #[error("the mirror `{from}` -> `{to}` did not copy every record below the last stable offset within {waited_seconds}s; {} partition(s) are behind:\n{}\nhelp: {help}", partitions.len(), lines(partitions))]
    LagNotZero {
        from: String,
        to: String,
        waited_seconds: u64,
        partitions: Vec<String>,
        help: String,
    },

    /// In-scope groups still have members where they must be idle.
    #[error("{} in-scope consumer group(s) still have active members on `{cluster}`{}:\n{}\nhelp: {help}", groups.len(), waited(*waited_seconds), lines(groups))]
    GroupsActive {
        cluster: String,
        /// `None`: refused at once (preflight), not after a wait.
        waited_seconds: Option<u64>,
        groups: Vec<String>,
        help: String,
    },

    /// Positions that could not be translated exactly: committing them would lose or
    /// repeat records.
    #[error("{} group position(s) cannot be translated exactly from `{from}` to `{to}`, so nothing was committed:\n{}\nhelp: {help}", positions.len(), lines(positions))]
    Inexact {
        from: String,
        to: String,
        positions: Vec<String>,
        help: String,
    },
}

fn lines(items: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut out: Vec<String> = items.iter().take(SHOWN).map(|i| format!("  {i}")).collect();
    if items.len() > SHOWN {
        out.push(format!("  ... and {} more", items.len() - SHOWN));
    }
    out.join("\n")
}

fn waited(seconds: Option<u64>) -> String {
    seconds
        .map(|s| format!(" after waiting {s}s"))
        .unwrap_or_default()
}

impl SwitchoverError {
    /// Every refusal is about the clusters' state: exit 1 (a step failed).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Failure
    }

    /// The next step for the operator, as data (also the `help:` line of the message).
    pub fn help(&self) -> &str {
        match self {
            SwitchoverError::FlowUnhealthy { help, .. }
            | SwitchoverError::LagTooHigh { help, .. }
            | SwitchoverError::LagNotZero { help, .. }
            | SwitchoverError::GroupsActive { help, .. }
            | SwitchoverError::Inexact { help, .. } => help,
        }
    }
}
