//! Printing the switchover report: the run's steps, then per partition the records
//! checked and the loss and duplicates counted, per group the exact positions, and the
//! write outage and RTO; or JSON `{"run": <RunReport>, "switchover": {...}}`.

use serde_json::json;

use super::runs::table;
use super::{cell, OutputFormat, Reporter};
use crate::engine::RunReport;
use crate::error::Result;
use crate::switchover::SwitchoverReport;

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn opt(v: Option<i64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
}

impl Reporter {
    /// `switchover --drill`: both runs, and both write outages.
    pub fn drill_report(
        &self,
        there: (&RunReport, &SwitchoverReport),
        back: (&RunReport, &SwitchoverReport),
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
        let outage = |s: &SwitchoverReport| {
            s.write_outage_ms
                .map(secs)
                .unwrap_or_else(|| "unknown".into())
        };
        self.text(&format!(
            "drill done: `{}` -> `{}` (write outage {}, RTO {}), then back (write outage {}, RTO {}); `{}` is primary again\n",
            there.1.old_primary.as_deref().unwrap_or("?"),
            there.1.new_primary.as_deref().unwrap_or("?"),
            outage(there.1),
            secs(there.1.rto_ms),
            outage(back.1),
            secs(back.1.rto_ms),
            back.1.new_primary.as_deref().unwrap_or("?"),
        ))
    }

    pub fn switchover_report(&self, run: &RunReport, so: &SwitchoverReport) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&json!({ "run": run, "switchover": so }));
        }
        self.run_report(run)?;
        let mut out = String::new();
        if !so.partitions.is_empty() {
            let mut t = table();
            t.set_header(vec![
                "topic",
                "partition",
                "records checked",
                "lost",
                "duplicated",
                "note",
            ]);
            for p in &so.partitions {
                t.add_row(vec![
                    cell(&p.topic),
                    cell(p.partition),
                    cell(opt(p.records)),
                    cell(opt(p.lost)),
                    cell(opt(p.duplicated)),
                    cell(p.note.as_deref().unwrap_or_default()),
                ]);
            }
            out.push_str(&format!("{t}\n"));
        }
        if !so.groups.is_empty() {
            let mut t = table();
            t.set_header(vec!["group", "partitions", "exact", "lost", "duplicates"]);
            for g in &so.groups {
                t.add_row(vec![
                    cell(&g.group),
                    cell(g.partitions),
                    cell(g.exact),
                    cell(g.lost),
                    cell(g.duplicates),
                ]);
            }
            out.push_str(&format!("{t}\n"));
        }
        if so.dry_run {
            out.push_str(&format!(
                "switchover run {} planned (dry-run, nothing changed on any cluster)\n",
                so.run_id
            ));
        } else {
            out.push_str(&format!(
                "switchover run {} done: `{}` is primary, `{}` backup; write outage {}; RTO {}; {} partition(s) counted: {} lost, {} duplicated\n",
                so.run_id,
                so.new_primary.as_deref().unwrap_or("?"),
                so.old_primary.as_deref().unwrap_or("?"),
                so.write_outage_ms.map(secs).unwrap_or_else(|| "unknown".into()),
                secs(so.rto_ms),
                so.partitions_counted,
                so.lost,
                so.duplicated
            ));
        }
        self.text(&out)
    }
}
