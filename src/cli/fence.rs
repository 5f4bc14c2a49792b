//! `kafka-dr fence apply|lift|status`: the ACL fences by hand. `apply` and `lift` run the
//! `fence.apply`/`fence.lift` actions as one-step runs (planned, journaled, verified);
//! `status` reads the journal and checks each active fence's bindings on its cluster.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::error::Result;

use super::session::Session;
use super::{adhoc, GlobalArgs};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FenceName {
    /// DENY the mirror principal every way the forward flow changes the backup.
    ReplicationIntoBackup,
    /// DENY WRITE for the application principals on the cluster's in-scope topics.
    AppWrites,
}

impl FenceName {
    fn as_str(self) -> &'static str {
        match self {
            FenceName::ReplicationIntoBackup => "replication-into-backup",
            FenceName::AppWrites => "app-writes",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum FenceCommand {
    /// Create a fence's ACL bindings, read them back, and prove the fence holds.
    Apply(FenceArgs),
    /// Delete exactly the bindings the journal recorded for an active fence.
    Lift(FenceArgs),
    /// The journaled fences and whether their bindings are in force now.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct FenceArgs {
    /// Which fence.
    #[arg(value_enum)]
    pub fence: FenceName,
    /// The cluster (a name, or `primary`/`backup`).
    #[arg(long)]
    pub cluster: String,
    /// replication-into-backup: watch the high watermarks this long to prove the fence.
    #[arg(long, default_value_t = 5, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub observe: u64,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this cluster (a name, or `primary`/`backup`).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Give up on a cluster after this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

pub fn run(cmd: &FenceCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    match cmd {
        FenceCommand::Apply(a) => {
            let mut params = json!({ "fence": a.fence.as_str(), "cluster": a.cluster });
            if matches!(a.fence, FenceName::ReplicationIntoBackup) {
                params["observe_seconds"] = json!(a.observe.max(1));
            }
            let rb = adhoc::runbook("fence-apply", "fence", "fence.apply", params)?;
            adhoc::run(rb, global, session, false)
        }
        FenceCommand::Lift(a) => {
            let params = json!({ "fence": a.fence.as_str(), "cluster": a.cluster });
            let rb = adhoc::runbook("fence-lift", "lift", "fence.lift", params)?;
            adhoc::run(rb, global, session, false)
        }
        FenceCommand::Status(a) => {
            // Read-only: works on a journal this user cannot write, and creates none.
            let journal = session.journal_read_only()?;
            let status = crate::actions::fence::status(
                &session.topology,
                &journal,
                a.cluster.as_deref(),
                Duration::from_secs(a.timeout.max(1)),
            )?;
            Ok(session.reporter.fence_status(&status)?)
        }
    }
}
