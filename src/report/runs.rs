//! Printing runs: the report at the end of `run`/`plan`/`resume`, `runs list` and
//! `runs show`, as tables or as one JSON document (the serialized structs; their shape
//! is documented in README.md, "JSON output").

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::{cell, lines_cell, OutputFormat, Reporter};
use crate::engine::RunReport;
use crate::error::{Error, Result};
use crate::journal::{RunDetail, RunSummary};

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))
}

pub(crate) fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

impl Reporter {
    /// The end-of-run report.
    pub fn run_report(&self, report: &RunReport) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&to_json(report)?);
        }
        let mut t = table();
        t.set_header(vec![
            "step", "action", "outcome", "attempt", "duration", "changes",
        ]);
        for s in &report.steps {
            let changes = if s.changes.is_empty() {
                lines_cell(s.error.as_deref().unwrap_or_default().lines())
            } else {
                lines_cell(&s.changes)
            };
            t.add_row(vec![
                cell(&s.id),
                cell(&s.action),
                cell(s.outcome.as_str()),
                cell(s.attempt.map(|a| a.to_string()).unwrap_or_default()),
                cell(ms(s.duration_ms)),
                changes,
            ]);
        }
        let head = format!(
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
        );
        self.text(&format!("{t}\n{head}"))
    }

    /// `runs list`.
    pub fn runs_list(&self, runs: &[RunSummary]) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&serde_json::json!({ "runs": to_json(&runs)? }));
        }
        if runs.is_empty() {
            return self.text("no runs in this journal yet");
        }
        let mut t = table();
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
            r.finished_at.clone().unwrap_or_else(|| "-".into()),
            r.host,
            r.pid,
            r.runbook_checksum
        );
        if let Some(e) = &r.error {
            out.push_str(&format!("error: {e}\n"));
        }
        let mut t = table();
        t.set_header(vec![
            "#",
            "step",
            "action",
            "state",
            "attempts",
            "attempt log",
        ]);
        for s in &d.steps {
            let log: Vec<String> = s
                .attempt_log
                .iter()
                .map(|a| {
                    format!(
                        "{}: {} {}{}",
                        a.attempt,
                        a.outcome.map(|o| o.as_str()).unwrap_or("died or running"),
                        a.duration_ms.map(ms).unwrap_or_default(),
                        a.error
                            .as_ref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            t.add_row(vec![
                cell(s.index + 1),
                cell(&s.step_id),
                cell(&s.action),
                cell(s.state.as_str()),
                cell(s.attempts),
                lines_cell(&log),
            ]);
        }
        out.push_str(&t.to_string());
        self.text(&out)
    }
}
