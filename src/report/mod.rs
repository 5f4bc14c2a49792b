//! Tables, JSON, progress and prompts: the only code that writes to the terminal.
//!
//! Results go to stdout (a table, or exactly one JSON document per command with
//! `--output json`); progress lines, warnings and errors go to stderr so that JSON on
//! stdout stays parseable. Bars are drawn only when stderr is a terminal; piped output
//! gets plain lines. Every string printed passes through `redact` (crate::redact: every
//! secret value the process resolved, masked as a last line of defence) and then
//! `terminal_safe` (control and bidi characters escaped, so a name cannot clear the
//! screen or forge a line). Status lines and table cells are one line each
//! (`redact::one_line`: a newline in a name is written `\n`); in multi-line text (errors
//! and their `help:`, notes) names are interpolated through `redact::OneLine`.

pub mod check;
pub mod engine;
pub mod failback;
pub mod failover;
pub mod progress;
pub mod runs;
pub mod status;
pub mod switchover;

use std::io::{IsTerminal, Write};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// A table cell holding `text` on one line (`redact::one_line`): a name with a line break
/// in it cannot add a row of its own to a table. The only way report code makes a cell
/// (clippy.toml refuses `comfy_table::Cell::new` elsewhere).
#[allow(clippy::disallowed_methods)]
pub(crate) fn cell(text: impl ToString) -> comfy_table::Cell {
    comfy_table::Cell::new(crate::redact::one_line(&text.to_string()))
}

/// A cell listing items one per line: the line breaks between items are ours, each item
/// is written on one line.
#[allow(clippy::disallowed_methods)]
pub(crate) fn lines_cell<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> comfy_table::Cell {
    let lines: Vec<String> = items
        .into_iter()
        .map(|s| crate::redact::one_line(s.as_ref()))
        .collect();
    comfy_table::Cell::new(lines.join("\n"))
}

/// Set once anything went to stdout: a JSON error document is printed only when it would
/// be the command's one document.
static STDOUT_USED: AtomicBool = AtomicBool::new(false);

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
    /// The width tables are fitted to: the terminal's when stdout is one, else 0 for
    /// `human::PIPED_WIDTH` (piped output and snapshots get a fixed width).
    pub width: u16,
    /// The warnings and notes already printed in this process: each distinct one is
    /// said once (a dead cluster met by every step is reported once, not per step).
    said: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// The live progress bars on stderr (`progress`); lines printed while one is drawn
    /// go above it instead of through it.
    bars: indicatif::MultiProgress,
}

impl Reporter {
    pub fn new(format: OutputFormat, verbosity: i8) -> Reporter {
        Reporter {
            format,
            verbosity,
            tty: std::io::stderr().is_terminal() && std::io::stdin().is_terminal(),
            width: if std::io::stdout().is_terminal() {
                comfy_table::Table::new().width().unwrap_or(0)
            } else {
                0
            },
            said: Default::default(),
            bars: indicatif::MultiProgress::new(),
        }
    }

    /// True the first time `text` is offered: a warning or note said before is not
    /// printed again.
    pub(crate) fn first_time(&self, text: &str) -> bool {
        match self.said.lock() {
            Ok(mut said) => said.insert(text.to_string()),
            // A panic while holding the lock: say it again rather than lose it.
            Err(_) => true,
        }
    }

    /// The width tables are fitted to (see `width`).
    pub fn table_width(&self) -> u16 {
        match self.width {
            0 => crate::human::PIPED_WIDTH,
            w => w,
        }
    }

    /// A list item under a table: `text` (secrets masked first, so that wrapping cannot
    /// split one) wrapped to `table_width` after `first`, continued after `rest`.
    pub(crate) fn item(&self, text: &str, first: &str, rest: &str) -> String {
        crate::human::wrap(
            &self.redact(text),
            usize::from(self.table_width()),
            first,
            rest,
        )
    }

    /// A table in the house style, fitted to `table_width`.
    pub(crate) fn table(&self) -> comfy_table::Table {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .set_width(self.table_width());
        t
    }

    /// Remember secret values so that nothing printed ever contains them.
    /// (Process-wide: see crate::redact.)
    pub fn add_secrets(&self, values: impl IntoIterator<Item = String>) {
        crate::redact::register(values);
    }

    /// Replace every known secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        crate::redact::redact(text)
    }

    /// What a line for the terminal becomes: secrets masked, hostile characters escaped.
    pub fn safe(&self, text: &str) -> String {
        crate::redact::terminal_safe(&self.redact(text))
    }

    /// Write bytes to stdout as they are (completion scripts, man pages).
    pub fn raw(&self, bytes: &[u8]) -> Result<()> {
        STDOUT_USED.store(true, Ordering::SeqCst);
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(bytes)
            .and_then(|_| stdout.flush())
            .map_err(|e| Error::Io(format!("cannot write to stdout: {e}")))
    }

    /// A progress or status line on stderr (suppressed by -q). One line, whatever the
    /// names in `object` hold (`redact::one_line`).
    pub fn status(&self, verb: &str, object: &str) {
        if self.verbosity < 0 {
            return;
        }
        let object = crate::redact::one_line(&self.redact(object));
        let line = if self.tty {
            // On a terminal a long line is wrapped under its own text, not at column 0,
            // so the right-aligned verbs stay a readable column. Piped output keeps one
            // line per status (scripts grep it).
            let indent = " ".repeat(13);
            let lead = if object.starts_with("- ") {
                format!("{indent}  ")
            } else if object.starts_with("  note: ") {
                format!("{indent}        ")
            } else {
                indent
            };
            let text = object.trim_start();
            let leading = &object[..object.len() - text.len()];
            crate::human::wrap(
                text,
                usize::from(self.table_width()),
                &format!("{verb:>12} {leading}"),
                &lead,
            )
        } else {
            format!("{verb:>12} {object}")
        };
        self.bars.suspend(|| eprintln!("{line}"));
    }

    /// A warning on stderr (always shown, once per distinct text).
    pub fn warn(&self, text: &str) {
        if self.first_time(text) {
            let line = format!("warning: {}", self.safe(text));
            self.bars.suspend(|| eprintln!("{line}"));
        }
    }

    /// Print an error the way main reports failures: `error: ...` then any `help:` lines.
    ///
    /// With `--output json` the error is also the command's one JSON document on stdout
    /// (`{"error": {"message", "exit_code"}}`) when nothing else was printed there.
    pub fn error(&self, err: &dyn std::fmt::Display, exit_code: crate::exit_code::ExitCode) {
        let text = self.safe(&err.to_string());
        eprintln!("error: {text}");
        if self.format == OutputFormat::Json && !STDOUT_USED.load(Ordering::SeqCst) {
            let doc = serde_json::json!({
                "error": {
                    "message": self.redact(&err.to_string()),
                    "exit_code": exit_code as i32,
                }
            });
            let _ = self.json(&doc);
        }
    }

    /// Print one JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))?;
        self.raw(format!("{}\n", crate::redact::json_safe(&self.redact(&text))).as_bytes())
    }

    /// One line per pass of a long-running command: the text, or with `--output json`
    /// its JSON form on one line (JSON lines), flushed at once for log collectors.
    pub fn pass_line(&self, text: &str, json: &serde_json::Value) -> Result<()> {
        if self.format == OutputFormat::Json {
            let line = serde_json::to_string(json)
                .map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))?;
            return self
                .raw(format!("{}\n", crate::redact::json_safe(&self.redact(&line))).as_bytes());
        }
        self.raw(format!("{}\n", crate::redact::one_line(&self.safe(text))).as_bytes())
    }

    /// Print human text on stdout.
    pub fn text(&self, text: &str) -> Result<()> {
        self.raw(format!("{}\n", self.safe(text)).as_bytes())
    }
}

#[cfg(test)]
mod snapshots;
