//! `kafka-dr mirror stop|status`: the MM2 flows' connectors by hand.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::error::Result;
use crate::actions::mirror::Flow;

use super::session::Session;
use super::{adhoc, GlobalArgs};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FlowArg {
    /// primary -> backup
    Forward,
    /// backup -> primary
    Reverse,
}

impl FlowArg {
    fn flow(self) -> Flow {
        match self {
            FlowArg::Forward => Flow::Forward,
            FlowArg::Reverse => Flow::Reverse,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            FlowArg::Forward => "forward",
            FlowArg::Reverse => "reverse",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Stop a flow's MM2 connectors through Connect REST (stop, not delete).
    Stop(FlowArgs),
    /// A flow's connectors and their states.
    Status(FlowArgs),
}

#[derive(Debug, Args)]
pub struct FlowArgs {
    /// Which flow, by the roles as the journal has them now.
    #[arg(long, value_enum, default_value_t = FlowArg::Forward)]
    pub flow: FlowArg,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

pub fn run(cmd: &MirrorCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    match cmd {
        MirrorCommand::Stop(a) => {
            let params = json!({ "flow": a.flow.as_str(), "timeout_seconds": a.timeout.max(1) });
            let rb = adhoc::runbook("mirror-stop", "stop", "mirror.stop", params)?;
            adhoc::run(rb, global, session, false)
        }
        MirrorCommand::Status(a) => {
            // Read-only: works on a journal this user cannot write, and creates none.
            let journal = session.journal_read_only()?;
            let status = crate::actions::mirror::status(
                &session.topology,
                &journal,
                a.flow.flow(),
                session.runtime.handle(),
                Duration::from_secs(a.timeout.max(1)),
            )?;
            session.reporter.flow_status(&status)?;
            // The report says what it could; the exit code says Connect did not answer
            // (README: 6), so a script does not read "no connectors" as the answer.
            match &status.unreachable {
                Some(why) => Err(crate::error::Error::Unreachable(format!(
                    "the Connect cluster writing into `{}` did not answer: {why}\nhelp: check that its workers are up and that the topology's `connect` URL for `{}` is right",
                    status.cluster, status.cluster
                )).into()),
                None => Ok(()),
            }
        }
    }
}
