//! `kafka-dr run RUNBOOK`, `kafka-dr plan RUNBOOK` and `kafka-dr resume [RUN]`: hand a
//! runbook to the engine and print its report; and `drive`, the one way every command
//! that runs a runbook (these, `failover`, `failback`, the one-step commands) hands it to
//! the engine.

use clap::Args;

use super::error::Result;
use crate::engine::{Engine, RunOptions, RunReport};
use crate::error::Error;
use crate::journal::Journal;
use crate::runbook::Runbook;

use super::session::{load_runbook, Session};
use super::GlobalArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// An embedded runbook's name (e.g. `snapshot`) or a runbook file.
    pub runbook: String,
    /// Take over the topology's lease from a holder that is gone (or on another host).
    #[arg(long)]
    pub take_over_lease: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// An embedded runbook's name (e.g. `snapshot`) or a runbook file.
    pub runbook: String,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to resume; default: the newest unfinished run on this topology.
    pub run: Option<i64>,
    /// Resume even though the runbook changed since the run started.
    #[arg(long)]
    pub force: bool,
    /// Use this runbook file instead of the run's own source.
    #[arg(long, value_name = "FILE")]
    pub runbook: Option<String>,
    /// Take over the topology's lease from a holder that is gone (or on another host).
    #[arg(long)]
    pub take_over_lease: bool,
}

/// Whether `drive` starts a new run or resumes one.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    New,
    /// Resume this run (the engine checks it is this runbook's and unfinished).
    Resume(i64),
}

/// Run `runbook` on `journal` and print the outcome: a finished run through `on_done` (a
/// command's own report), a run that stopped as far as it got (the engine's run report),
/// then its error.
pub fn drive(
    session: &Session,
    journal: &Journal,
    runbook: &Runbook,
    start: Start,
    opts: &RunOptions,
    on_done: impl FnOnce(&RunReport) -> Result<()>,
) -> Result<()> {
    let engine = Engine::new(
        &session.topology,
        journal,
        session.runtime.handle().clone(),
        &session.reporter,
        crate::actions::build,
    );
    let result = match start {
        Start::New => engine.run(runbook, opts),
        Start::Resume(id) => engine.resume(Some(id), runbook, opts),
    };
    match result {
        Ok(report) => on_done(&report),
        Err(err) => {
            if let Some(report) = err.report() {
                // Show how far it got before saying why it stopped.
                let _ = session.reporter.run_report(report);
            }
            Err(err.into())
        }
    }
}

pub fn options(global: &GlobalArgs, session: &Session, dry_run: bool) -> RunOptions {
    RunOptions {
        dry_run: dry_run || global.dry_run,
        assume_yes: global.yes,
        force: false,
        take_over_lease: false,
        interrupted: session.interrupted.clone(),
    }
}

/// Run a runbook (or plan it under `--dry-run`) and print the report.
pub fn run_runbook(
    name_or_path: &str,
    global: &GlobalArgs,
    session: &Session,
    mut opts: RunOptions,
) -> Result<()> {
    let runbook = session.runbook(name_or_path)?;
    opts.dry_run |= global.dry_run;
    let journal = session.journal_for_run(opts.dry_run)?;
    drive(session, &journal, &runbook, Start::New, &opts, |report| {
        Ok(session.reporter.run_report(report)?)
    })
}

pub fn run(args: &RunArgs, global: &GlobalArgs, session: &Session) -> Result<()> {
    let mut opts = options(global, session, false);
    opts.take_over_lease = args.take_over_lease;
    run_runbook(&args.runbook, global, session, opts)
}

pub fn plan(args: &PlanArgs, global: &GlobalArgs, session: &Session) -> Result<()> {
    run_runbook(
        &args.runbook,
        global,
        session,
        options(global, session, true),
    )
}

pub fn resume(args: &ResumeArgs, global: &GlobalArgs, session: &Session) -> Result<()> {
    let journal = session.journal()?;
    let run = match args.run {
        Some(id) => journal.run_summary(id)?,
        None => journal
            .latest_unfinished_run(&session.topology.name)?
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no unfinished run on topology `{}` in journal `{}`\nhelp: `kafka-dr runs list` shows the runs",
                    session.topology.name,
                    session.journal_path.display()
                ))
            })?,
    };
    let source = match &args.runbook {
        Some(file) => file.clone(),
        None => run
            .runbook_source
            .strip_prefix("embedded:")
            .unwrap_or(&run.runbook_source)
            .to_string(),
    };
    let runbook =
        if args.runbook.is_none() && run.runbook_source.starts_with(super::adhoc::SOURCE_PREFIX) {
            // Built by a command: the journal's copy is the runbook.
            let detail = journal.run_detail(run.id)?;
            crate::runbook::load_str(&detail.runbook_text, &run.runbook_source)?
        } else {
            load_runbook(&source)?
        };
    crate::runbook::validate_against(&runbook, &session.topology)?;
    let mut opts = options(global, session, false);
    opts.force = args.force;
    opts.take_over_lease = args.take_over_lease;
    drive(
        session,
        &journal,
        &runbook,
        Start::Resume(run.id),
        &opts,
        |report| Ok(session.reporter.run_report(report)?),
    )
}
