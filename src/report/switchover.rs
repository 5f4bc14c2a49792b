//! Printing the switchover report: the run's steps, then per partition the records
//! checked and the loss and duplicates counted, per group the exact positions, and the
//! write outage and RTO; or JSON `{"run": <RunReport>, "switchover": {...}}`.

use serde_json::{json, Value};

use super::{cell, OutputFormat, Reporter};
use crate::engine::RunReport;
use crate::error::Result;

use crate::human::duration_ms as secs;

fn opt(v: &Value) -> String {
    v.as_i64()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into())
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

fn outage(so: &Value) -> String {
    so["write_outage_ms"]
        .as_u64()
        .map(secs)
        .unwrap_or_else(|| "unknown".into())
}

impl Reporter {
    /// `switchover --drill`: both runs, and both write outages.
    /// `there` and `back` are (run, `crate::switchover::SwitchoverReport` as JSON): the
    /// report module renders it without depending on the module that builds it.
    pub fn drill_report(
        &self,
        there: (&RunReport, &Value),
        back: (&RunReport, &Value),
    ) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&json!({
                "drill": {
                    "there": { "run": there.0, "switchover": there.1 },
                    "back": { "run": back.0, "switchover": back.1 },
                }
            }));
        }
        self.switchover_report(there.0, there.1)?;
        self.switchover_report(back.0, back.1)?;
        self.text(&format!(
            "drill done: `{}` -> `{}` (write outage {}, RTO {}), then back (write outage {}, RTO {}); `{}` is primary again\n",
            text(&there.1["old_primary"]),
            text(&there.1["new_primary"]),
            outage(there.1),
            secs(there.1["rto_ms"].as_u64().unwrap_or(0)),
            outage(back.1),
            secs(back.1["rto_ms"].as_u64().unwrap_or(0)),
            text(&back.1["new_primary"]),
        ))
    }

    /// `so` is `crate::switchover::SwitchoverReport` as JSON.
    pub fn switchover_report(&self, run: &RunReport, so: &Value) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&json!({ "run": run, "switchover": so }));
        }
        self.run_report(run)?;
        let mut out = String::new();
        let partitions = so["partitions"].as_array().cloned().unwrap_or_default();
        if !partitions.is_empty() {
            let mut t = self.table();
            t.set_header(vec![
                "topic",
                "partition",
                "records checked",
                "lost",
                "duplicated",
                "note",
            ]);
            for p in &partitions {
                t.add_row(vec![
                    cell(text(&p["topic"])),
                    cell(&p["partition"]),
                    cell(opt(&p["records"])),
                    cell(opt(&p["lost"])),
                    cell(opt(&p["duplicated"])),
                    cell(p["note"].as_str().unwrap_or_default()),
                ]);
            }
            out.push_str(&format!("{t}\n"));
        }
        let groups = so["groups"].as_array().cloned().unwrap_or_default();
        if !groups.is_empty() {
            let mut t = self.table();
            t.set_header(vec!["group", "partitions", "exact", "lost", "duplicates"]);
            for g in &groups {
                t.add_row(vec![
                    cell(text(&g["group"])),
                    cell(&g["partitions"]),
                    cell(&g["exact"]),
                    cell(&g["lost"]),
                    cell(&g["duplicates"]),
                ]);
            }
            out.push_str(&format!("{t}\n"));
        }
        if so["dry_run"] == true {
            out.push_str(&format!(
                "switchover run {} planned (dry-run, nothing changed on any cluster)\n",
                so["run_id"]
            ));
        } else {
            out.push_str(&format!(
                "switchover run {} done: `{}` is primary, `{}` backup; write outage {}; RTO {}; {} partition(s) counted: {} lost, {} duplicated\n",
                so["run_id"],
                text(&so["new_primary"]),
                text(&so["old_primary"]),
                outage(so),
                secs(so["rto_ms"].as_u64().unwrap_or(0)),
                so["partitions_counted"],
                so["lost"],
                so["duplicated"]
            ));
        }
        self.text(&out)
    }
}
