//! Printing runs: the report at the end of `run`/`plan`/`resume`, `runs list` and
//! `runs show`, as tables or as one JSON document (the serialized structs; their shape
//! is documented in README.md, "JSON output").

use super::{cell, lines_cell, OutputFormat, Reporter};
use crate::engine::RunReport;
use crate::error::{Error, Result};
use crate::journal::{RunDetail, RunSummary};

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))
}

use crate::human::{duration_ms as ms, or_dash};
use crate::redact::one_line;

impl Reporter {
    /// The end-of-run report.
    pub fn run_report(&self, report: &RunReport) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&to_json(report)?);
        }
        self.text(&self.render_run(report))
    }

    /// The human end-of-run report: one short row per step, then what each step
    /// changed as a list under the table (sentences do not fit in cells). A failed
    /// step's error is not repeated here: the command prints it once, with its help,
    /// right after this report.
    pub fn render_run(&self, report: &RunReport) -> String {
        self.render_run_with(report, true)
    }

    /// `render_run`, listing the steps' changes under the table only when
    /// `list_changes` (the failback summary has its own tables of what it did, and the
    /// changes were on stderr as each step ran: it lists them with -v).
    pub fn render_run_with(&self, report: &RunReport, list_changes: bool) -> String {
        let mut t = self.table();
        t.set_header(vec![
            "step", "action", "outcome", "attempt", "duration", "changes",
        ]);
        for s in &report.steps {
            t.add_row(vec![
                cell(&s.id),
                cell(&s.action),
                cell(s.outcome.as_str()),
                cell(or_dash(s.attempt)),
                cell(ms(s.duration_ms)),
                cell(match s.changes.len() {
                    0 => "-".to_string(),
                    n => n.to_string(),
                }),
            ]);
        }
        let mut out = format!("{t}\n");
        let changed: Vec<_> = report
            .steps
            .iter()
            .filter(|s| list_changes && !s.changes.is_empty())
            .collect();
        if !changed.is_empty() {
            out.push_str(if report.dry_run {
                "what each step would change:\n"
            } else {
                "what each step changed (or planned to, if it did not finish):\n"
            });
            for s in changed {
                out.push_str(&format!("  `{}`:\n", one_line(&s.id)));
                for c in &s.changes {
                    out.push_str(&self.item(&one_line(c), "    - ", "      "));
                    out.push('\n');
                }
            }
        }
        for s in report.steps.iter().filter(|s| s.error.is_some()) {
            out.push_str(&format!(
                "step `{}` failed: the error and what to do are below\n",
                one_line(&s.id)
            ));
        }
        out.push_str(&format!(
            "run {} of `{}` on `{}`: {}{} in {}",
            report.run_id,
            report.runbook,
            report.topology,
            report.state.as_str(),
            if report.dry_run {
                " (dry-run: nothing changed)"
            } else {
                ""
            },
            ms(report.wall_ms)
        ));
        out
    }

    /// `runs list`.
    pub fn runs_list(&self, runs: &[RunSummary]) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&serde_json::json!({ "runs": to_json(&runs)? }));
        }
        if runs.is_empty() {
            return self.text("no runs in this journal yet");
        }
        let mut t = self.table();
        t.set_header(vec![
            "run", "runbook", "state", "steps", "started", "finished", "by",
        ]);
        for r in runs {
            t.add_row(vec![
                cell(r.id),
                cell(format!(
                    "{}{}",
                    r.runbook,
                    if r.dry_run { " (dry-run)" } else { "" }
                )),
                cell(r.state.as_str()),
                cell(format!("{}/{}", r.steps_finished, r.steps_total)),
                cell(&r.started_at),
                cell(r.finished_at.clone().unwrap_or_default()),
                cell(format!("{} pid {}", r.host, r.pid)),
            ]);
        }
        self.text(&t.to_string())
    }

    /// `runs show RUN`.
    pub fn run_detail(&self, d: &RunDetail) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&to_json(d)?);
        }
        self.text(&self.render_run_detail(d))
    }

    /// The human form of `runs show`: the run, one short row per step (its attempts in
    /// order, `1: failed 2.1 s`), and the errors, in full, as a list under the table.
    pub fn render_run_detail(&self, d: &RunDetail) -> String {
        let r = &d.run;
        let mut out = format!(
            "run {}: `{}` ({}) on topology `{}`\nstate: {}{}\nstarted: {}  finished: {}\nby: {} pid {}\nrunbook checksum: {}\n",
            r.id,
            r.runbook,
            r.runbook_source,
            r.topology,
            r.state.as_str(),
            if r.dry_run { " (dry-run)" } else { "" },
            r.started_at,
            or_dash(r.finished_at.as_deref()),
            r.host,
            r.pid,
            r.runbook_checksum
        );
        let mut t = self.table();
        t.set_header(vec![
            "#",
            "step",
            "action",
            "state",
            "attempts",
            "attempt log",
        ]);
        let mut errors = Vec::new();
        for s in &d.steps {
            let log: Vec<String> = s
                .attempt_log
                .iter()
                .map(|a| {
                    if let Some(e) = &a.error {
                        errors.push(format!("`{}` attempt {}: {e}", s.step_id, a.attempt));
                    }
                    let took = a.duration_ms.map(ms).map(|d| format!(" {d}"));
                    format!(
                        "{}: {}{}",
                        a.attempt,
                        a.outcome.map(|o| o.as_str()).unwrap_or("died or running"),
                        took.unwrap_or_default(),
                    )
                })
                .collect();
            t.add_row(vec![
                cell(s.index + 1),
                cell(&s.step_id),
                cell(&s.action),
                cell(s.state.as_str()),
                cell(s.attempts),
                if log.is_empty() {
                    cell("-")
                } else {
                    lines_cell(&log)
                },
            ]);
        }
        out.push_str(&t.to_string());
        // The run's own error names the step that stopped it; the attempts' errors say
        // each time what went wrong. Each distinct text once.
        let mut listed = std::collections::BTreeSet::new();
        let run_error = r.error.iter().map(|e| format!("run: {e}"));
        let all: Vec<String> = run_error.chain(errors).collect();
        if !all.is_empty() {
            out.push_str("\nerrors:");
            for e in all {
                if listed.insert(e.clone()) {
                    out.push('\n');
                    out.push_str(&self.item(&e, "  - ", "    "));
                }
            }
        }
        out
    }
}
