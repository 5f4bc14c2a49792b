//! Tables, JSON, progress and prompts: the only code that writes to the terminal.
//! STUB, filled in by the CLI work.

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Terminal writer shared by commands and steps.
#[derive(Debug, Clone, Default)]
pub struct Reporter {
    pub format: OutputFormat,
    /// -v count minus -q count.
    pub verbosity: i8,
    /// True when stderr is a terminal (bars and prompts allowed).
    pub tty: bool,
}
