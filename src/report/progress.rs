//! Live progress of a wait (fence observation, mirror catch-up and drain, quarantine
//! reads, connector stop and start, DeleteRecords, idle groups, hooks): what is waited
//! for and the numbers, updated in place.
//!
//! The actions never print: they get a `Progress` from `Reporter::progress` (through the
//! step context) and tell it how far they are. On a terminal it is one indicatif bar (a
//! spinner when there is no total) per wait, drawn on stderr and cleared when the wait
//! ends, so the step's own result line is what stays. When stderr is not a terminal it
//! is a plain line now and then (`PLAIN_EVERY`), never a line per poll; a wait that
//! ends within `SHOW_AFTER` writes none. With
//! `--output json`, or `-q`, it is silent: stdout carries only the JSON document, and
//! stderr nothing a script would have to skip.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{OutputFormat, Reporter};

/// How often a plain (not a terminal) progress line is written.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// A wait shorter than this writes no plain line: its step's result line says it all.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

/// The progress of one wait. Dropping it ends the wait (the bar is cleared).
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// A bar (or spinner) on the terminal, ticking on its own (a blocking call shows
    /// its elapsed time too), cleared when the wait ends.
    Bar {
        bar: ProgressBar,
        /// The longest message that keeps it on one line (a wrapped bar cannot be
        /// redrawn in place).
        room: usize,
        bars: indicatif::MultiProgress,
    },
    /// Plain lines on stderr, at most every `PLAIN_EVERY`.
    Lines {
        reporter: Reporter,
        verb: String,
        /// What is waited for, as the last `set` said it.
        what: Mutex<String>,
        total: Mutex<Option<u64>>,
        unit: String,
        started: Instant,
        last: Mutex<Option<Instant>>,
    },
    /// JSON output or `-q`: nothing.
    Quiet,
}

impl Reporter {
    /// Start showing a wait: `verb` (`Observing`, `Draining`...) and `what` (`dc2: 6
    /// in-scope partition(s)`), out of `total` `unit`s when there is a total (a bar),
    /// else a spinner with the numbers in its message.
    pub fn progress(&self, verb: &str, what: &str, total: Option<u64>, unit: &str) -> Progress {
        let mode = if self.format == OutputFormat::Json || self.verbosity < 0 {
            Mode::Quiet
        } else if self.tty {
            // Hidden until it joins the reporter's MultiProgress: a bar that drew once on
            // its own target would leave that first frame behind on the terminal.
            let hidden = indicatif::ProgressDrawTarget::hidden;
            let bar = ProgressBar::with_draw_target(total, hidden());
            let template = match total {
                Some(_) => format!(
                    "{{prefix:>12.bold}} {{msg}} [{{bar:24}}] {{pos}}/{{len}} {unit} ({{elapsed}})"
                ),
                None => "{prefix:>12.bold} {spinner} {msg} ({elapsed})".to_string(),
            };
            // The template is ours and fixed: a bad one is a bug caught by the unit test
            // below; fall back to indicatif's default style rather than fail a wait.
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(verb.to_string());
            // What the template takes besides the message: the verb (13), the elapsed
            // time (~8), and for a bar the bar itself and `pos/len unit` (~40).
            let taken = match total {
                Some(_) => 13 + 28 + 10 + unit.len() + 7,
                None => 13 + 2 + 8,
            };
            let room = usize::from(self.table_width())
                .saturating_sub(taken)
                .max(24);
            bar.set_message(fit(&self.redact(what), room));
            let bar = self.bars.add(bar);
            bar.enable_steady_tick(Duration::from_millis(200));
            Mode::Bar {
                bar,
                room,
                bars: self.bars.clone(),
            }
        } else {
            Mode::Lines {
                reporter: self.clone(),
                verb: verb.to_string(),
                what: Mutex::new(what.to_string()),
                total: Mutex::new(total),
                unit: unit.to_string(),
                started: Instant::now(),
                last: Mutex::new(None),
            }
        };
        let progress = Progress { mode };
        progress.set(0, None);
        progress
    }
}

impl Progress {
    /// How far the wait is: `done` units, and what is waited for right now (`detail`
    /// replaces the text given at the start, or by the last `set`; `None` keeps it).
    pub fn set(&self, done: u64, detail: Option<&str>) {
        match &self.mode {
            Mode::Bar { bar, room, .. } => {
                bar.set_position(done);
                if let Some(d) = detail {
                    bar.set_message(fit(&crate::redact::redact(d), *room));
                }
            }
            Mode::Lines {
                reporter,
                verb,
                what,
                total,
                unit,
                started,
                last,
            } => {
                let mut what = what.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(d) = detail {
                    *what = d.to_string();
                }
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if started.elapsed() < SHOW_AFTER || last.is_some_and(|t| t.elapsed() < PLAIN_EVERY)
                {
                    return;
                }
                *last = Some(Instant::now());
                let total = *total.lock().unwrap_or_else(|p| p.into_inner());
                reporter.status(
                    verb,
                    &plain_line(&what, done, total, unit, started.elapsed()),
                );
            }
            Mode::Quiet => {}
        }
    }

    /// The total became known or changed (a tail's size once it is counted).
    pub fn set_total(&self, n: u64) {
        match &self.mode {
            Mode::Bar { bar, .. } => bar.set_length(n),
            Mode::Lines { total, .. } => {
                *total.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
            }
            Mode::Quiet => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Mode::Bar { bar, bars, .. } = &self.mode {
            bar.finish_and_clear();
            bars.remove(bar);
        }
    }
}

/// `text` on one line of at most `room` characters (`...` where it was cut).
fn fit(text: &str, room: usize) -> String {
    let line = crate::redact::one_line(text);
    if line.chars().count() <= room {
        return line;
    }
    let cut: String = line.chars().take(room.saturating_sub(3)).collect();
    format!("{cut}...")
}

/// `dc2: 6 in-scope partition(s), 3 of 5 s (1.2 s)`: one plain progress line.
fn plain_line(what: &str, done: u64, total: Option<u64>, unit: &str, elapsed: Duration) -> String {
    let numbers = match total {
        Some(t) => format!("{done} of {t} {unit}"),
        None if done > 0 => format!("{done} {unit}"),
        None => String::new(),
    };
    let mut line = what.to_string();
    if !numbers.is_empty() {
        line.push_str(", ");
        line.push_str(&numbers);
    }
    format!("{line} ({})", crate::human::duration(elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_what_and_how_far() {
        assert_eq!(
            plain_line(
                "`dc2`: 6 in-scope partition(s)",
                3,
                Some(5),
                "s",
                Duration::from_millis(3_100)
            ),
            "`dc2`: 6 in-scope partition(s), 3 of 5 s (3.1 s)"
        );
        assert_eq!(
            plain_line(
                "dc2 -> dc1, lag 2000 records",
                0,
                None,
                "records",
                Duration::from_secs(1)
            ),
            "dc2 -> dc1, lag 2000 records (1 s)"
        );
    }

    #[test]
    fn bar_messages_fit_one_line() {
        assert_eq!(fit("short", 24), "short");
        assert_eq!(fit("a\nb", 24), "a\\nb");
        let long = "x".repeat(100);
        assert_eq!(fit(&long, 24).chars().count(), 24);
    }

    #[test]
    fn templates_parse() {
        for unit in ["s", "records"] {
            let t = format!(
                "{{prefix:>12.bold}} {{msg}} [{{bar:24}}] {{pos}}/{{len}} {unit} ({{elapsed}})"
            );
            assert!(ProgressStyle::with_template(&t).is_ok(), "{t}");
        }
        assert!(
            ProgressStyle::with_template("{prefix:>12.bold} {spinner} {msg} ({elapsed})").is_ok()
        );
    }

    /// JSON output is never interleaved with progress: a quiet handle whatever is set.
    #[test]
    fn json_output_gets_no_progress() {
        let r = Reporter {
            format: OutputFormat::Json,
            tty: true,
            ..Reporter::default()
        };
        let p = r.progress("Observing", "dc2", Some(5), "s");
        assert!(matches!(p.mode, Mode::Quiet));
        let r = Reporter {
            verbosity: -1,
            ..Reporter::default()
        };
        assert!(matches!(
            r.progress("Observing", "dc2", None, "").mode,
            Mode::Quiet
        ));
        let r = Reporter::default();
        assert!(matches!(
            r.progress("Observing", "dc2", None, "").mode,
            Mode::Lines { .. }
        ));
    }
}
