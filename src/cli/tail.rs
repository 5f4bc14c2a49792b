//! `kafka-dr tail show [RUN]`: the quarantine manifest of a failback run (the newest by
//! default), with the quarantine file's path. The file format is documented in the man
//! page (`kafka-dr-tail-show(1)`, section QUARANTINE FILES).

use clap::{Args, Subcommand};

use super::error::Result;

use super::session::Session;

#[derive(Debug, Subcommand)]
pub enum TailCommand {
    /// Print a quarantine's manifest and the path of its JSON Lines file.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The failback run; default: the newest quarantine in the journal.
    pub run: Option<i64>,
}

pub fn run(cmd: &TailCommand, session: &Session) -> Result<()> {
    let TailCommand::Show(args) = cmd;
    let journal = session.journal_read_only()?;
    let shown = crate::actions::quarantine_file::show(&journal, args.run)?;
    if session.reporter.format == crate::report::OutputFormat::Json {
        let v = serde_json::to_value(&shown)
            .map_err(|e| crate::error::Error::Io(format!("cannot encode JSON output: {e}")))?;
        return Ok(session.reporter.json(&v)?);
    }
    Ok(session.reporter.text(&shown.lines().join("\n"))?)
}
