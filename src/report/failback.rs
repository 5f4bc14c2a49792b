//! Printing the failback report: the run's steps, then the tail per partition (count,
//! bytes, time range), what was deleted, the seed offsets and the reverse lag, and the
//! RTO; or JSON `{"run": <RunReport>, "failback": {...}}`.

use comfy_table::Cell;
use serde_json::{json, Value};

use super::runs::table;
use super::{OutputFormat, Reporter};
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
                    Cell::new(p["topic"].as_str().unwrap_or_default()),
                    Cell::new(&p["partition"]),
                    Cell::new(&p["count"]),
                    Cell::new(&p["bytes"]),
                    Cell::new(format!("{}..{}", p["first_offset"], p["last_offset"])),
                    Cell::new(format!(
                        "{}..{}",
                        p["first_timestamp_ms"], p["last_timestamp_ms"]
                    )),
                ]);
            }
            out.push_str(&format!(
                "quarantine: {}\n{t}\n",
                failback["quarantine"]["path"].as_str().unwrap_or("-")
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
