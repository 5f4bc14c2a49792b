//! Printing the failback report: the run's steps, then the tail per partition (count,
//! bytes, time range), what was removed, the seed offsets and the reverse lag, and the
//! RTO; or JSON `{"run": <RunReport>, "failback": {...}}`.

use serde_json::{json, Value};

use super::{cell, OutputFormat, Reporter};
use crate::engine::RunReport;
use crate::error::Result;
use crate::human::{duration_ms, json_cell, range, utc_ms_value};

fn output<'a>(run: &'a RunReport, action: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    run.steps
        .iter()
        .find(|s| s.action == action)
        .and_then(|s| s.output.as_ref())
        .unwrap_or(&NULL)
}

impl Reporter {
    pub fn failback_report(&self, run: &RunReport) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&json!({ "run": run, "failback": failback_json(run) }));
        }
        self.text(&self.render_failback(run))
    }

    /// The human failback report: the run's steps, then the tail (only the partitions
    /// that had one: the others are counted), what was removed, the seed offsets and
    /// the reverse lag, and the RTO. Times are UTC ISO-8601, empty values `-`.
    pub fn render_failback(&self, run: &RunReport) -> String {
        let failback = failback_json(run);
        let mut out = format!(
            "{}\n",
            self.render_run_with(run, self.verbosity > 0 || run.dry_run)
        );
        if let Some(parts) = failback["quarantine"]["manifest"]["partitions"].as_array() {
            let with_tail: Vec<&Value> = parts
                .iter()
                .filter(|p| p["count"].as_i64().unwrap_or(0) > 0)
                .collect();
            out.push_str(&format!(
                "quarantine: {}\n",
                json_cell(&failback["quarantine"]["file"])
            ));
            if !with_tail.is_empty() {
                let mut t = self.table();
                t.set_header(vec![
                    "topic",
                    "partition",
                    "tail records",
                    "bytes",
                    "offsets",
                    "first record at (UTC)",
                    "spans",
                ]);
                for p in &with_tail {
                    let span = match (
                        p["first_timestamp_ms"].as_i64(),
                        p["last_timestamp_ms"].as_i64(),
                    ) {
                        (Some(a), Some(b)) if b >= a => duration_ms((b - a) as u64),
                        _ => "-".to_string(),
                    };
                    t.add_row(vec![
                        cell(json_cell(&p["topic"])),
                        cell(json_cell(&p["partition"])),
                        cell(json_cell(&p["count"])),
                        cell(json_cell(&p["bytes"])),
                        cell(range(p["first_offset"].as_i64(), p["last_offset"].as_i64())),
                        cell(utc_ms_value(&p["first_timestamp_ms"])),
                        cell(span),
                    ]);
                }
                out.push_str(&format!("{t}\n"));
            }
            let without = parts.len() - with_tail.len();
            if without > 0 {
                let text = format!(
                    "{without} of {} partition(s) had no tail (everything there had reached the new primary)",
                    parts.len()
                );
                out.push_str(&self.item(&text, "", "  "));
                out.push('\n');
            }
        }
        if let Some(deleted) = failback["truncate"]["deleted"].as_array() {
            let records: i64 = deleted.iter().filter_map(|d| d["records"].as_i64()).sum();
            let tail: i64 = deleted
                .iter()
                .filter_map(|d| d["tail_records"].as_i64())
                .sum();
            let text = format!(
                "removed from `{}` ({}): {records} record(s) in {} partition(s), {tail} of them the quarantined tail; the rest lives on in the new primary",
                json_cell(&failback["truncate"]["cluster"]),
                json_cell(&failback["truncate"]["strategy"]),
                deleted.len()
            );
            out.push_str(&self.item(&text, "", "  "));
            out.push('\n');
        }
        if let Some(parts) = failback["delivered"]["partitions"].as_array() {
            out.push_str(&format!(
                "delivered late to `{}`: {} tail record(s) in {} partition(s) of `{}`'s replicas ({} produced by this attempt); `{}` keeps its topics whole\n",
                failback["delivered"]["new_primary"].as_str().unwrap_or("-"),
                failback["delivered"]["records"],
                parts.len(),
                failback["delivered"]["old_primary"].as_str().unwrap_or("-"),
                failback["delivered"]["produced"],
                failback["delivered"]["old_primary"].as_str().unwrap_or("-"),
            ));
        }
        if let Some(parts) = failback["seed"]["partitions"].as_array() {
            let mut t = self.table();
            t.set_header(vec!["topic", "partition", "reverse copy starts at", "why"]);
            for p in parts {
                t.add_row(vec![
                    cell(json_cell(&p["topic"])),
                    cell(json_cell(&p["partition"])),
                    cell(match p["next_offset"].as_i64() {
                        Some(n) => n.to_string(),
                        None => format!("earliest ({})", json_cell(&p["new_log_start"])),
                    }),
                    cell(json_cell(&p["reason"])),
                ]);
            }
            out.push_str(&format!("reverse mirror seed:\n{t}\n"));
        }
        if !failback["reverse"].is_null() {
            let r = &failback["reverse"];
            out.push_str(&format!(
                "reverse flow `{}` -> `{}`: {} record(s) copied, lag {} record(s) (threshold {}) after {}\n",
                json_cell(&r["new_primary"]),
                json_cell(&r["old_primary"]),
                json_cell(&r["total_copied"]),
                json_cell(&r["total_lag"]),
                json_cell(&r["max_lag"]),
                duration_ms(r["waited_ms"].as_u64().unwrap_or(0))
            ));
        }
        out.push_str(&format!(
            "failback run {} {} in {} (RTO)",
            run.run_id,
            if run.dry_run {
                "planned (dry-run, nothing changed)"
            } else {
                "done"
            },
            duration_ms(run.wall_ms)
        ));
        out
    }
}

/// The `failback` half of the JSON document: each step's output (`null` under dry-run).
fn failback_json(run: &RunReport) -> Value {
    json!({
        "run_id": run.run_id,
        "dry_run": run.dry_run,
        "rto_ms": run.wall_ms,
        "tail": output(run, "tail.find"),
        "quarantine": output(run, "tail.quarantine"),
        "truncate": output(run, "truncate"),
        "delivered": output(run, "tail.deliver"),
        "seed": output(run, "mirror.seed"),
        "reverse": output(run, "mirror.start"),
    })
}
