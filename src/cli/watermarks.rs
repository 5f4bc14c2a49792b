//! `kafka-dr watermarks snapshot`: record the earliest and latest offsets of every
//! in-scope partition of the named clusters (default: all) in the journal.

use clap::{Args, Subcommand};
use serde_json::json;

use super::error::Result;

use super::session::Session;
use super::{adhoc, GlobalArgs};

#[derive(Debug, Subcommand)]
pub enum WatermarksCommand {
    /// Record the watermarks of every in-scope partition in the journal.
    Snapshot(SnapshotArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// A cluster to snapshot (repeatable; a name or `primary`/`backup`); default: all.
    #[arg(long = "cluster", value_name = "CLUSTER")]
    pub clusters: Vec<String>,
    /// Give up on a cluster after this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

pub fn run(cmd: &WatermarksCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    match cmd {
        WatermarksCommand::Snapshot(args) => {
            let clusters: Vec<String> = if args.clusters.is_empty() {
                session
                    .topology
                    .cluster_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                args.clusters.clone()
            };
            let rb = adhoc::runbook(
                "watermarks-snapshot",
                "snapshot",
                "watermarks.snapshot",
                json!({ "clusters": clusters, "timeout_seconds": args.timeout.max(1) }),
            )?;
            adhoc::run(rb, global, session, false)
        }
    }
}
