//! Printing the failback report: the run's steps, then the tail per partition (count,
//! bytes, time range), what was removed, the seed offsets and the reverse lag, and the
//! RTO; or JSON `{"run": <RunReport>, "failback": {...}}`.

use serde_json::{json, Value};

use super::runs::table;
use super::{cell, OutputFormat, Reporter};
use crate::engine::RunReport;
use crate::error::Result;

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
        let failback = json!({
            "run_id": run.run_id,
            "dry_run": run.dry_run,
            "rto_ms": run.wall_ms,
            "tail": output(run, "tail.find"),
            "quarantine": output(run, "tail.quarantine"),
            "truncate": output(run, "truncate"),
            "delivered": output(run, "tail.deliver"),
            "seed": output(run, "mirror.seed"),
            "reverse": output(run, "mirror.start"),
        });
        if self.format == OutputFormat::Json {
            return self.json(&json!({ "run": run, "failback": failback }));
        }
        self.run_report(run)?;
        let mut out = String::new();
        if let Some(parts) = failback["quarantine"]["manifest"]["partitions"].as_array() {
            let mut t = table();
            t.set_header(vec![
                "topic",
                "partition",
                "tail records",
                "bytes",
                "offsets",
                "time range (ms)",
            ]);
            for p in parts {
                t.add_row(vec![
                    cell(p["topic"].as_str().unwrap_or_default()),
                    cell(&p["partition"]),
                    cell(&p["count"]),
                    cell(&p["bytes"]),
                    cell(format!("{}..{}", p["first_offset"], p["last_offset"])),
                    cell(format!(
                        "{}..{}",
                        p["first_timestamp_ms"], p["last_timestamp_ms"]
                    )),
                ]);
            }
            out.push_str(&format!(
                "quarantine: {}\n{t}\n",
                failback["quarantine"]["file"].as_str().unwrap_or("-")
            ));
        }
        if let Some(deleted) = failback["truncate"]["deleted"].as_array() {
            let records: i64 = deleted.iter().filter_map(|d| d["records"].as_i64()).sum();
            let tail: i64 = deleted
                .iter()
                .filter_map(|d| d["tail_records"].as_i64())
                .sum();
            out.push_str(&format!(
                "removed from `{}` ({}): {records} record(s) in {} partition(s), {tail} of them the quarantined tail; the rest lives on in the new primary\n",
                failback["truncate"]["cluster"].as_str().unwrap_or("-"),
                failback["truncate"]["strategy"].as_str().unwrap_or("-"),
                deleted.len()
            ));
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
            let mut t = table();
            t.set_header(vec!["topic", "partition", "reverse copy starts at", "why"]);
            for p in parts {
                t.add_row(vec![
                    cell(p["topic"].as_str().unwrap_or_default()),
                    cell(&p["partition"]),
                    cell(match p["next_offset"].as_i64() {
                        Some(n) => n.to_string(),
                        None => format!("earliest ({})", p["new_log_start"]),
                    }),
                    cell(p["reason"].as_str().unwrap_or_default()),
                ]);
            }
            out.push_str(&format!("reverse mirror seed:\n{t}\n"));
        }
        if !failback["reverse"].is_null() {
            let r = &failback["reverse"];
            out.push_str(&format!(
                "reverse flow `{}` -> `{}`: {} record(s) copied, lag {} record(s) (threshold {}) after {:.1} s\n",
                r["new_primary"].as_str().unwrap_or("-"),
                r["old_primary"].as_str().unwrap_or("-"),
                r["total_copied"],
                r["total_lag"],
                r["max_lag"],
                r["waited_ms"].as_f64().unwrap_or(0.0) / 1000.0
            ));
        }
        out.push_str(&format!(
            "failback run {} {} in {:.1} s (RTO)",
            run.run_id,
            if run.dry_run {
                "planned (dry-run, nothing changed)"
            } else {
                "done"
            },
            run.wall_ms as f64 / 1000.0
        ));
        self.text(&out)
    }
}
