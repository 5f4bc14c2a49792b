//! Printing the failover report (after `failover promote`), or JSON: `{"run": <RunReport>,
//! "failover": <FailoverReport>}`.

use serde_json::json;

use super::{cell, OutputFormat, Reporter};
use crate::actions::common::Roles;
use crate::engine::RunReport;
use crate::error::{Error, Result};
use crate::failover::FailoverReport;
use crate::journal::RunSummary;

use crate::human::duration_ms as secs;

impl Reporter {
    pub fn failover_report(&self, run: &RunReport, fo: &FailoverReport) -> Result<()> {
        if self.format == OutputFormat::Json {
            let v = json!({ "run": run, "failover": fo });
            return self.json(&v);
        }
        self.text(&self.render_failover(fo))
    }

    /// The human failover report: the steps, the groups' translation (numbers only),
    /// then the notes and warnings as lines under the tables, and RTO/RPO.
    pub fn render_failover(&self, fo: &FailoverReport) -> String {
        let mut out = String::new();
        let mut t = self.table();
        t.set_header(vec!["step", "action", "outcome", "duration"]);
        for s in &fo.steps {
            t.add_row(vec![
                cell(&s.step),
                cell(&s.action),
                cell(&s.outcome),
                cell(secs(s.duration_ms)),
            ]);
        }
        out.push_str(&format!("{t}\n"));
        if !fo.groups.is_empty() {
            let expired = fo.groups.iter().any(|g| g.expired_skipped > 0);
            let mut t = self.table();
            let mut header = vec![
                "group",
                "partitions",
                "exact",
                "exact when recorded",
                "conservative",
                "worst-case duplicates",
                "MM2 would re-deliver",
            ];
            if expired {
                header.push("expired, never seen");
            }
            t.set_header(header);
            for g in &fo.groups {
                let mut row = vec![
                    cell(&g.group),
                    cell(g.partitions),
                    cell(g.exact),
                    cell(g.exact_when_recorded),
                    cell(g.conservative - g.exact_when_recorded),
                    cell(
                        g.worst_case_duplicates
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "unbounded".into()),
                    ),
                    cell(
                        g.mm2_would_redeliver
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                    ),
                ];
                if expired {
                    row.push(cell(if g.expired_skipped_at_least >= g.expired_skipped {
                        g.expired_skipped.to_string()
                    } else {
                        format!("{}..{}", g.expired_skipped_at_least, g.expired_skipped)
                    }));
                }
                t.add_row(row);
            }
            out.push_str(&format!("{t}\n"));
            if fo.groups.iter().any(|g| g.exact_when_recorded > 0) {
                out.push_str(&self.item("\"exact when recorded\": translated exactly from a position `deltas record` recorded before the disaster; the group may have consumed on since, and the worst-case duplicates count those records", "note: ", "      "));
                out.push('\n');
            }
            for g in fo.groups.iter().filter(|g| g.expired_skipped > 0) {
                out.push_str(&self.item(&format!(
                    "WARNING: group `{}` will never see {} record(s): they expired on the backup before it resumed there",
                    g.group,
                    if g.expired_skipped_at_least >= g.expired_skipped {
                        g.expired_skipped.to_string()
                    } else {
                        format!("at most {} (at least {})", g.expired_skipped, g.expired_skipped_at_least)
                    }
                ), "", "  "));
                out.push('\n');
                for n in &g.expired_notes {
                    out.push_str(&self.item(n, "  ", "    "));
                    out.push('\n');
                }
            }
        }
        if let Some(i) = &fo.imported_deltas {
            out.push_str(&format!(
                "positions: {} recorded position(s) and {} offset sync(s) imported from the backup DC's copy `{}` on `{}` (newest recorded {}, the recorder's last pass {})\n",
                i["positions"],
                i["offset_syncs"],
                i["topic"].as_str().unwrap_or("?"),
                i["cluster"].as_str().unwrap_or("?"),
                i["newest_recorded_at"].as_str().unwrap_or("-"),
                i["last_pass_at"].as_str().unwrap_or("-"),
            ));
        }
        let verb = if fo.dry_run {
            "planned (dry-run, nothing changed)"
        } else {
            "done"
        };
        out.push_str(&format!(
            "failover run {} {verb}: RTO {}; RPO {}\n",
            fo.run_id,
            secs(fo.rto_ms),
            fo.rpo
                .records
                .map(|r| format!("{r} record(s) ({})", fo.rpo.source))
                .unwrap_or_else(|| "unknown".into()),
        ));
        out.push_str(&self.item(&fo.rpo.note, "", ""));
        out
    }

    /// A second `failover promote` after a successful one.
    pub fn already_promoted(&self, run: &RunSummary, roles: &Roles) -> Result<()> {
        if self.format == OutputFormat::Json {
            let v = serde_json::to_value(json!({
                "already_promoted": true,
                "run": run,
                "roles": roles,
            }))
            .map_err(|e| Error::Io(e.to_string()))?;
            return self.json(&v);
        }
        self.text(&format!(
            "nothing to do: run {} promoted `{}` to primary at {}; `{}` is the backup. Nothing was changed.",
            run.id,
            roles.primary,
            run.finished_at.clone().unwrap_or_default(),
            roles.backup
        ))
    }
}
