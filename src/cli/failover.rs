//! `kafka-dr failover promote`: run the embedded runbook runbooks/failover-promote.yaml
//! (or `--runbook FILE`) and print the failover report: each step and its duration, the
//! RTO, per group how many partitions were translated exactly and the worst-case
//! duplicates, and the RPO.
//!
//! A second promote after a successful one changes nothing and says so; an unfinished
//! promote run is pointed at `kafka-dr resume` instead of being started over.

use clap::{Args, Subcommand};

use super::error::Result;
use crate::error::Error;
use crate::journal::RunState;

use super::session::Session;
use super::GlobalArgs;

pub const RUNBOOK: &str = "failover-promote";

#[derive(Debug, Subcommand)]
pub enum FailoverCommand {
    /// Promote the backup: fence replication, move consumer groups at translated
    /// offsets, open the backup to applications, record the new roles.
    Promote(PromoteArgs),
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Use this runbook file instead of the embedded failover-promote runbook.
    #[arg(long, value_name = "FILE")]
    pub runbook: Option<String>,
    /// Take over the topology's lease from a holder that is gone (or on another host).
    #[arg(long)]
    pub take_over_lease: bool,
}

pub fn run(cmd: &FailoverCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    match cmd {
        FailoverCommand::Promote(args) => promote(args, global, session),
    }
}

fn promote(args: &PromoteArgs, global: &GlobalArgs, session: &Session) -> Result<()> {
    let runbook = session.runbook(args.runbook.as_deref().unwrap_or(RUNBOOK))?;
    let journal = session.journal_for_run(global.dry_run)?;
    let runs = journal.runs_list()?;
    let roles = crate::actions::common::current_roles(&session.topology, &journal)?;
    if !global.dry_run {
        if let Some(open) = runs.iter().find(|r| {
            r.runbook == runbook.name
                && !r.dry_run
                && matches!(
                    r.state,
                    RunState::Running | RunState::Failed | RunState::Interrupted
                )
        }) {
            return Err(Error::Usage(format!(
                "run {} of `{}` is {} and has not finished\nhelp: finish it with `kafka-dr resume {}` (add --take-over-lease if its process is gone), rather than starting a second promotion",
                open.id,
                runbook.name,
                open.state.as_str(),
                open.id
            )).into());
        }
    }
    if let Some(done) = runs
        .iter()
        .find(|r| r.runbook == runbook.name && !r.dry_run && r.state == RunState::Succeeded)
    {
        // Promoted before, and nothing has changed the roles since: nothing to do.
        let history = journal.role_history()?;
        let last_change = history.last().and_then(|c| c.run_id);
        if last_change == Some(done.id) {
            return Ok(session.reporter.already_promoted(done, &roles)?);
        }
    }
    let mut opts = super::run::options(global, session, false);
    opts.take_over_lease = args.take_over_lease;
    super::run::drive(
        session,
        &journal,
        &runbook,
        super::run::Start::New,
        &opts,
        |report| {
            let fo = crate::failover::FailoverReport::build(
                report,
                &journal,
                &session.topology,
                &roles.primary,
                session.runtime.handle(),
            );
            Ok(session.reporter.failover_report(report, &fo)?)
        },
    )
}
