//! Printing `kafka-dr check`: one table per concern and the problems last, so the
//! operator's eye lands on what to fix; or the whole `CheckReport` as JSON.

use super::runs::table;
use super::{cell, OutputFormat, Reporter};
use crate::check::{CheckReport, Severity};
use crate::error::{Error, Result};

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "?",
    }
}

impl Reporter {
    pub fn check_report(&self, r: &CheckReport) -> Result<()> {
        if self.format == OutputFormat::Json {
            let v = serde_json::to_value(r)
                .map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))?;
            return self.json(&v);
        }
        let mut out = String::new();
        let mut t = table();
        t.set_header(vec![
            "cluster",
            "role",
            "reachable",
            "auth",
            "cluster id",
            "brokers",
            "topics",
            "groups",
            "describe ACLs",
            "alter ACLs",
        ]);
        for c in &r.clusters {
            t.add_row(vec![
                cell(&c.name),
                cell(&c.role),
                cell(if c.reachable { "yes" } else { "NO" }),
                cell(if c.authenticated { "yes" } else { "NO" }),
                cell(c.cluster_id.clone().unwrap_or_default()),
                cell(c.brokers.join(", ")),
                cell(c.topics_in_scope.len()),
                cell(c.groups_in_scope.len()),
                cell(yes_no(c.may_describe_acls)),
                cell(yes_no(c.may_alter_acls)),
            ]);
        }
        out.push_str(&format!("{t}\n"));
        out.push_str(&format!(
            "MM2 shape: policy `{}` ({}), MM2 on {}: `{}`'s topic `T` is `{}` on `{}`\n  failover: {}\n  failback: {}\n\n",
            r.shape.policy,
            r.shape
                .mm2_policy_class
                .as_deref()
                .unwrap_or("MM2's default DefaultReplicationPolicy, or not read"),
            r.shape.mode,
            r.primary,
            r.shape.backup_name,
            r.backup,
            r.shape.failover,
            r.shape.failback
        ));
        for f in &r.flows {
            let mut t = table();
            t.set_header(vec!["flow", "connector", "state", "tasks"]);
            if f.connectors.is_empty() {
                t.add_row(vec![
                    cell(&f.flow),
                    cell("-"),
                    cell(if f.reachable {
                        "no connectors found"
                    } else {
                        "Connect unreachable"
                    }),
                    cell(""),
                ]);
            }
            for c in &f.connectors {
                t.add_row(vec![
                    cell(&f.flow),
                    cell(&c.name),
                    cell(&c.state),
                    cell(c.tasks.join(", ")),
                ]);
            }
            out.push_str(&format!("{t}\n"));
        }
        if !r.lag.is_empty() {
            let lagging: Vec<_> = r.lag.iter().filter(|l| l.lag > 0).collect();
            let shown = if self.verbosity > 0 {
                r.lag.iter().collect()
            } else {
                lagging.clone()
            };
            if !shown.is_empty() {
                let mut t = table();
                t.set_header(vec![
                    "topic",
                    "partition",
                    "primary end",
                    "next to copy",
                    "lag",
                    "measured by",
                ]);
                for l in shown {
                    t.add_row(vec![
                        cell(&l.topic),
                        cell(l.partition),
                        cell(l.primary_end),
                        cell(
                            l.next_to_copy
                                .map(|n| n.to_string())
                                .unwrap_or_else(|| "-".into()),
                        ),
                        cell(l.lag),
                        cell(&l.method),
                    ]);
                }
                out.push_str(&format!("{t}\n"));
            }
            out.push_str(&format!(
                "RPO now: {} record(s) not yet copied, over {} of {} in-scope partition(s)\n",
                r.rpo_records.unwrap_or(0),
                lagging.len(),
                r.lag.len()
            ));
        }
        if r.problems.is_empty() {
            out.push_str("no problems found");
        } else {
            let mut t = table();
            t.set_header(vec!["", "about", "problem", "what to do"]);
            for p in &r.problems {
                t.add_row(vec![
                    cell(match p.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    }),
                    cell(&p.subject),
                    cell(&p.message),
                    cell(p.help.clone().unwrap_or_default()),
                ]);
            }
            out.push_str(&t.to_string());
        }
        self.text(&out)
    }
}
