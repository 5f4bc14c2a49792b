//! `kafka-dr check`: read-only preflight of both clusters, the MM2 flow and the RPO.

use std::time::Duration;

use clap::Args;

use super::error::Result;
use crate::check::Severity;
use crate::error::Error;

use super::session::Session;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Give up on a cluster or Connect endpoint after this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

pub fn run(args: &CheckArgs, session: &Session) -> Result<()> {
    let report = crate::check::run(
        &session.topology,
        session.runtime.handle(),
        Duration::from_secs(args.timeout.max(1)),
    );
    session.reporter.check_report(&report)?;
    // The exit code follows the worst severity: only an error fails the check (exit 3);
    // warnings and information are printed and exit 0.
    match report.worst() {
        Some(Severity::Error) => Err(Error::CheckFailed(format!(
            "check found {} error(s) to fix before a failover (listed above)",
            report.count(Severity::Error)
        ))
        .into()),
        Some(Severity::Warning | Severity::Info) | None => Ok(()),
    }
}
