//! Tables, JSON, progress and prompts: the only code that writes to the terminal.
//!
//! Results go to stdout (a table, or exactly one JSON document per command with
//! `--output json`); progress lines, warnings and errors go to stderr so that JSON on
//! stdout stays parseable. Bars are drawn only when stderr is a terminal; piped output
//! gets plain lines. Every string printed passes through `redact`, which removes any
//! secret value the topology resolved, as a last line of defence.

pub mod check;
pub mod engine;
pub mod failback;
pub mod failover;
pub mod runs;
pub mod status;

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

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
    /// Secret values to scrub from anything printed.
    secrets: Arc<Mutex<Vec<String>>>,
}

impl Reporter {
    pub fn new(format: OutputFormat, verbosity: i8) -> Reporter {
        Reporter {
            format,
            verbosity,
            tty: std::io::stderr().is_terminal() && std::io::stdin().is_terminal(),
            secrets: Arc::default(),
        }
    }

    /// Remember secret values so that nothing printed ever contains them.
    pub fn add_secrets(&self, values: impl IntoIterator<Item = String>) {
        if let Ok(mut s) = self.secrets.lock() {
            s.extend(values.into_iter().filter(|v| v.len() >= 4));
        }
    }

    /// Replace every known secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Ok(s) = self.secrets.lock() {
            for secret in s.iter() {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }

    /// Write bytes to stdout as they are (completion scripts, man pages).
    pub fn raw(&self, bytes: &[u8]) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(bytes)
            .and_then(|_| stdout.flush())
            .map_err(|e| Error::Io(format!("cannot write to stdout: {e}")))
    }

    /// A progress or status line on stderr (suppressed by -q).
    pub fn status(&self, verb: &str, object: &str) {
        if self.verbosity < 0 {
            return;
        }
        eprintln!("{:>12} {}", verb, self.redact(object));
    }

    /// A warning on stderr (always shown).
    pub fn warn(&self, text: &str) {
        eprintln!("warning: {}", self.redact(text));
    }

    /// Print an error the way main reports failures: `error: ...` then any `help:` lines.
    pub fn error(&self, err: &Error) {
        eprintln!("error: {}", self.redact(&err.to_string()));
    }

    /// Print one JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))?;
        self.raw(format!("{}\n", self.redact(&text)).as_bytes())
    }

    /// Print human text on stdout.
    pub fn text(&self, text: &str) -> Result<()> {
        self.raw(format!("{}\n", self.redact(text)).as_bytes())
    }
}
