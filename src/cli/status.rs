//! `kafka-dr status`: which cluster is primary now, which MM2 flow runs, and the last run
//! (see `crate::status`). Read-only: works on a journal this user cannot write.

use std::time::Duration;

use clap::Args;

use super::error::Result;

use super::session::Session;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Seconds to wait for each Connect cluster.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

pub fn run(args: &StatusArgs, session: &Session) -> Result<()> {
    let journal = session.journal_read_only()?;
    let status = crate::status::status(
        &session.topology,
        &journal,
        session.runtime.handle(),
        Duration::from_secs(args.timeout.max(1)),
    )?;
    let status = serde_json::to_value(&status)
        .map_err(|e| crate::error::Error::Io(format!("cannot encode the status: {e}")))?;
    Ok(session.reporter.dr_status(&status)?)
}
