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
    // The topic ids `deltas record` last saw, to find topics recreated since: read-only
    // (a missing journal reads as empty, and `check` never creates one).
    // A journal that cannot be read costs only this check, said as a warning.
    let mut recorded_ids = std::collections::BTreeMap::new();
    match session.journal_read_only() {
        Ok(journal) => {
            for cluster in session.topology.cluster_names() {
                if let Ok(ids) = journal.latest_topic_ids(cluster) {
                    recorded_ids.insert(cluster.to_string(), ids);
                }
            }
        }
        Err(e) => session.reporter.warn(&format!(
            "cannot read the journal, so recreated topics are not looked for: {e}"
        )),
    }
    let report = crate::check::run(
        &session.topology,
        session.runtime.handle(),
        Duration::from_secs(args.timeout.max(1)),
        &recorded_ids,
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
