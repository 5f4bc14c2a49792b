//! `kafka-dr runs list` and `kafka-dr runs show RUN`: what the journal holds.

use clap::{Args, Subcommand};

use super::error::Result;

use super::session::Session;
use super::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List the runs in the journal, newest first.
    List,
    /// Show one run: its steps, their attempts, plans and outputs.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run id (see `kafka-dr runs list`).
    pub run: i64,
}

pub fn run(cmd: &RunsCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    let _ = global;
    // Read-only: `runs` works on a journal this user cannot write, and creates none.
    let journal = session.journal_read_only()?;
    match cmd {
        RunsCommand::List => {
            let runs = journal.runs_list()?;
            Ok(session.reporter.runs_list(&runs)?)
        }
        RunsCommand::Show(args) => {
            let detail = journal.run_detail(args.run)?;
            Ok(session.reporter.run_detail(&detail)?)
        }
    }
}
