//! `kafka-dr failback reverse`: run the embedded runbook runbooks/failback-reverse.yaml
//! (or `--runbook FILE`) once the old primary is back, and print the failback report.
//!
//! Before anything runs, it checks that there is a promotion to fail back from and that
//! the old primary answers: with the old primary still down it refuses, having changed
//! nothing.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::error::Result;
use crate::error::Error;

use super::session::Session;
use super::GlobalArgs;

pub const RUNBOOK: &str = "failback-reverse";

#[derive(Debug, Subcommand)]
pub enum FailbackCommand {
    /// Quarantine and remove the old primary's unreplicated tail (or, with `--tail
    /// deliver` on the prefix policy, deliver it late to the new primary), then mirror the
    /// new primary back into it, starting exactly at the promotion cut.
    Reverse(ReverseArgs),
}

#[derive(Debug, Args)]
pub struct ReverseArgs {
    /// Use this runbook file instead of the embedded failback-reverse runbook.
    #[arg(long, value_name = "FILE", conflicts_with = "tail")]
    pub runbook: Option<String>,
    /// What to do with the old primary's unreplicated tail: `quarantine` (keep a verified
    /// copy, then remove it: runbooks/failback-reverse.yaml) or, with `policy: prefix`
    /// only, `deliver` (keep a verified copy, then append it late to its `<old>.<topic>`
    /// replica on the new primary: runbooks/failback-reverse-deliver.yaml).
    #[arg(long, value_enum, value_name = "CHOICE")]
    pub tail: Option<TailChoice>,
    /// Take over the topology's lease from a holder that is gone (or on another host).
    #[arg(long)]
    pub take_over_lease: bool,
    /// Seconds to wait for the old primary to answer before refusing.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

/// `--tail`: the failback's answer to the old primary's unreplicated tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TailChoice {
    /// Keep a verified copy, then remove the tail from the old primary.
    Quarantine,
    /// Keep a verified copy, then deliver it late to the new primary (prefix policy).
    Deliver,
}

/// The embedded runbook for a `--tail` choice, refused where the topology's policy does
/// not allow it (before anything is read from a cluster).
pub fn runbook_for(
    choice: TailChoice,
    topology: &crate::topology::Topology,
) -> Result<&'static str> {
    match choice {
        TailChoice::Quarantine => Ok(RUNBOOK),
        TailChoice::Deliver if topology.replication.policy == crate::topology::Policy::Prefix => {
            Ok(DELIVER_RUNBOOK)
        }
        TailChoice::Deliver => Err(Error::Usage(format!(
            "`--tail deliver` needs `replication.policy: prefix` (MM2's DefaultReplicationPolicy), but topology `{}` has `policy: {}`: with identity names the reverse flow would copy a delivered tail back onto the old primary, which still holds it\nhelp: run `kafka-dr failback reverse` (the tail is quarantined and removed; `kafka-dr tail show` prints it)",
            topology.name,
            topology.replication.policy.as_str()
        )).into()),
    }
}

pub const DELIVER_RUNBOOK: &str = "failback-reverse-deliver";

pub fn run(cmd: &FailbackCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    let FailbackCommand::Reverse(args) = cmd;
    let name = match (args.runbook.as_deref(), args.tail) {
        (Some(file), _) => file,
        (None, Some(choice)) => runbook_for(choice, &session.topology)?,
        (None, None) => RUNBOOK,
    };
    let runbook = session.runbook(name)?;
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
        )).into());
    }
    let mut opts = super::run::options(global, session, false);
    opts.take_over_lease = args.take_over_lease;
    super::run::drive(
        session,
        &journal,
        &runbook,
        super::run::Start::New,
        &opts,
        |report| Ok(session.reporter.failback_report(report)?),
    )
}
