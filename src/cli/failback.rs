//! `kafka-dr failback reverse`: run the embedded runbook runbooks/failback-reverse.yaml
//! (or `--runbook FILE`) once the old primary is back, and print the failback report.
//!
//! Before anything runs, it checks that there is a promotion to fail back from and that
//! the old primary answers: with the old primary still down it refuses, having changed
//! nothing.

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::error::{Error, Result};

use super::session::Session;
use super::GlobalArgs;

pub const RUNBOOK: &str = "failback-reverse";

#[derive(Debug, Subcommand)]
pub enum FailbackCommand {
    /// Quarantine and remove the old primary's unreplicated tail, then mirror the new
    /// primary back into it, starting exactly at the promotion cut.
    Reverse(ReverseArgs),
}

#[derive(Debug, Args)]
pub struct ReverseArgs {
    /// Use this runbook file instead of the embedded failback-reverse runbook.
    #[arg(long, value_name = "FILE")]
    pub runbook: Option<String>,
    /// Take over the topology's lease from a holder that is gone (or on another host).
    #[arg(long)]
    pub take_over_lease: bool,
    /// Seconds to wait for the old primary to answer before refusing.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

pub fn run(cmd: &FailbackCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    let FailbackCommand::Reverse(args) = cmd;
    let runbook = session.runbook(args.runbook.as_deref().unwrap_or(RUNBOOK))?;
    let journal = session.journal_for_run(global.dry_run)?;
    let cut = crate::actions::common::promotion_cut(&session.topology, &journal)?;
    // The old primary must answer before anything is attempted.
    if let Err(e) = crate::actions::common::kafka(
        &session.topology,
        &cut.old_primary,
        Duration::from_secs(args.timeout.max(1)),
    ) {
        return Err(Error::Unreachable(format!(
            "the old primary `{}` does not answer, so failback cannot start; nothing was changed\ncause: {}\nhelp: bring `{}` back (its brokers, and the Connect worker next to it), check with `kafka-dr check`, then run `kafka-dr failback reverse` again",
            cut.old_primary,
            e.to_string().lines().next().unwrap_or_default(),
            cut.old_primary
        )));
    }
    let mut opts = super::run::options(global, session, false);
    opts.take_over_lease = args.take_over_lease;
    super::run::drive(
        session,
        &journal,
        &runbook,
        super::run::Start::New,
        &opts,
        |report| session.reporter.failback_report(report),
    )
}
