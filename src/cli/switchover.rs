//! `kafka-dr switchover`: the planned switchover with both clusters up (issue 13). Runs the
//! embedded runbook runbooks/switchover.yaml (or `--runbook FILE`) and prints the
//! switchover report: per partition the loss and duplicates counted, per group the exact
//! positions, the write outage and the RTO. Run it again to switch back.
//!
//! An unfinished switchover run is pointed at `kafka-dr resume` instead of being started
//! over: a second run would fence the other cluster while the first is half done. A run
//! that stopped at its preflight changed nothing and does not count as unfinished.

use clap::Args;

use super::error::Result;
use crate::engine::RunReport;
use crate::error::Error;
use crate::journal::RunState;

use super::run::Start;
use super::session::Session;
use super::GlobalArgs;

pub const RUNBOOK: &str = "switchover";

/// Actions that change nothing on any cluster: a run that stopped having started only
/// these has nothing to finish.
const READ_ONLY_ACTIONS: [&str; 2] = ["confirm", "switchover.preflight"];

#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    /// Use this runbook file instead of the embedded switchover runbook.
    #[arg(long, value_name = "FILE")]
    pub runbook: Option<String>,
    /// Take over the topology's lease from a holder that is gone (or on another host).
    #[arg(long)]
    pub take_over_lease: bool,
    /// A rehearsal: switch over, then straight back (a second run of the same runbook),
    /// and report both write outages. The hooks run in both directions.
    #[arg(long)]
    pub drill: bool,
}

pub fn run(args: &SwitchoverArgs, global: &GlobalArgs, session: &Session) -> Result<()> {
    let runbook = session.runbook(args.runbook.as_deref().unwrap_or(RUNBOOK))?;
    let journal = session.journal_for_run(global.dry_run)?;
    if !global.dry_run {
        let runs = journal.runs_list()?;
        // A run that stopped before any step that changes something (its preflight
        // refused) is no half-done switchover: a new one may start.
        let changed_something = |run_id: i64| -> Result<bool> {
            Ok(journal
                .steps(run_id)?
                .iter()
                .any(|s| s.attempts > 0 && !READ_ONLY_ACTIONS.contains(&s.action.as_str())))
        };
        let mut open = None;
        for r in runs.iter().filter(|r| {
            r.runbook == runbook.name
                && !r.dry_run
                && matches!(
                    r.state,
                    RunState::Running | RunState::Failed | RunState::Interrupted
                )
        }) {
            if r.state == RunState::Running || changed_something(r.id)? {
                open = Some(r);
                break;
            }
        }
        if let Some(open) = open {
            return Err(Error::Usage(format!(
                "run {} of `{}` is {} and has not finished\nhelp: finish it with `kafka-dr resume {}` (add --take-over-lease if its process is gone), or look at it with `kafka-dr runs show {}`; a second switchover would start from the other cluster while this one is half done",
                open.id,
                runbook.name,
                open.state.as_str(),
                open.id,
                open.id
            )).into());
        }
    }
    let mut opts = super::run::options(global, session, false);
    opts.take_over_lease = args.take_over_lease;
    // One run of the runbook (there, or back for a drill) and its switchover report.
    let run_once =
        || -> Result<(RunReport, serde_json::Value)> {
            let mut finished = None;
            super::run::drive(session, &journal, &runbook, Start::New, &opts, |report| {
                let so = crate::switchover::SwitchoverReport::build(report, &journal);
                let so = serde_json::to_value(&so)
                    .map_err(|e| Error::Io(format!("cannot encode the switchover report: {e}")))?;
                finished = Some((report.clone(), so));
                Ok(())
            })?;
            // `drive` calls `on_done` whenever it returns Ok.
            Ok(finished
                .ok_or_else(|| Error::Io("the switchover run ended without a report".into()))?)
        };
    let there = run_once()?;
    if !args.drill || global.dry_run {
        if args.drill {
            session.reporter.warn(
                "--drill with --dry-run plans the way there only: the way back is planned from the roles the first run would leave",
            );
        }
        return Ok(session.reporter.switchover_report(&there.0, &there.1)?);
    }
    let back = match run_once() {
        Ok(back) => back,
        Err(e) => {
            let _ = session.reporter.switchover_report(&there.0, &there.1);
            return Err(e);
        }
    };
    Ok(session
        .reporter
        .drill_report((&there.0, &there.1), (&back.0, &back.1))?)
}
