//! `kafka-dr completions SHELL`: print a completion script generated from the clap
//! definition, so completions never drift from the real flags.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::error::Result;
use crate::report::Reporter;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs, reporter: &Reporter) -> Result<()> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "kafka-dr", &mut out);
    Ok(reporter.raw(&out)?)
}
