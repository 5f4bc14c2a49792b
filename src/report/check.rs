//! Printing `kafka-dr check`: one table per concern and the problems last, so the
//! operator's eye lands on what to fix; or the whole `CheckReport` as JSON.

use super::{cell, OutputFormat, Reporter};
use crate::check::{CheckReport, Severity};
use crate::error::{Error, Result};
use crate::human::or_dash;

/// Whether our principal may describe and alter ACLs there (what fencing needs):
/// `ok`, what is missing in capitals, or `-` when it could not be asked.
fn acls(describe: Option<bool>, alter: Option<bool>) -> &'static str {
    match (describe, alter) {
        (Some(true), Some(true)) => "ok",
        (Some(false), Some(false)) => "NONE",
        (Some(false), _) => "NO DESCRIBE",
        (_, Some(false)) => "NO ALTER",
        _ => "-",
    }
}

impl Reporter {
    pub fn check_report(&self, r: &CheckReport) -> Result<()> {
        if self.format == OutputFormat::Json {
            let v = serde_json::to_value(r)
                .map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))?;
            return self.json(&v);
        }
        self.text(&self.render_check(r))
    }

    /// The human form of a check: short cells in the tables, every sentence (problems
    /// and their help) in a list under them, each problem once.
    pub fn render_check(&self, r: &CheckReport) -> String {
        let mut out = String::new();
        let mut t = self.table();
        t.set_header(vec![
            "cluster",
            "role",
            "state",
            "cluster id",
            "brokers",
            "topics",
            "groups",
            "ACLs",
        ]);
        for c in &r.clusters {
            let known = c.reachable && c.authenticated;
            let state = match (c.reachable, c.authenticated) {
                (true, true) => "up",
                (true, false) => "REFUSED",
                (false, _) => "DOWN",
            };
            let count = |n: usize| if known { n.to_string() } else { "-".into() };
            t.add_row(vec![
                cell(&c.name),
                cell(&c.role),
                cell(state),
                cell(or_dash(c.cluster_id.as_deref())),
                cell(count(c.brokers.len())),
                cell(count(c.topics_in_scope.len())),
                cell(count(c.groups_in_scope.len())),
                cell(acls(c.may_describe_acls, c.may_alter_acls)),
            ]);
        }
        out.push_str(&format!("{t}\n"));
        // The shape's sentences are wrapped, as every sentence under a table is.
        let shape = format!(
            "MM2 shape: policy `{}` ({}), MM2 on {}: `{}`'s topic `T` is `{}` on `{}`",
            r.shape.policy,
            r.shape
                .mm2_policy_class
                .as_deref()
                .unwrap_or("MM2's default DefaultReplicationPolicy, or not read"),
            r.shape.mode,
            r.primary,
            r.shape.backup_name,
            r.backup,
        );
        out.push_str(&self.item(&shape, "", "  "));
        out.push('\n');
        out.push_str(&self.item(&format!("failover: {}", r.shape.failover), "  ", "    "));
        out.push('\n');
        out.push_str(&self.item(&format!("failback: {}", r.shape.failback), "  ", "    "));
        out.push_str("\n\n");
        for f in &r.flows {
            let mut t = self.table();
            t.set_header(vec!["flow", "connector", "state", "tasks"]);
            if f.connectors.is_empty() {
                t.add_row(vec![
                    cell(&f.flow),
                    cell("-"),
                    cell(if f.reachable {
                        "not found"
                    } else {
                        "Connect unreachable"
                    }),
                    cell("-"),
                ]);
            }
            for c in &f.connectors {
                t.add_row(vec![
                    cell(&f.flow),
                    cell(&c.name),
                    cell(&c.state),
                    cell(tasks_summary(&c.tasks)),
                ]);
            }
            out.push_str(&format!("{t}\n"));
            if let Some(d) = &f.delivery {
                let line = format!("{}: MM2 copies {}", f.flow, d.why);
                out.push_str(&self.item(&line, "", "  "));
                out.push('\n');
            }
        }
        if !r.lag.is_empty() {
            let lagging: Vec<_> = r.lag.iter().filter(|l| l.lag > 0).collect();
            let shown = if self.verbosity > 0 {
                r.lag.iter().collect()
            } else {
                lagging.clone()
            };
            if !shown.is_empty() {
                let mut t = self.table();
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
                        cell(or_dash(l.next_to_copy)),
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
            let counts: Vec<String> = [Severity::Error, Severity::Warning, Severity::Info]
                .into_iter()
                .filter_map(|s| match r.count(s) {
                    0 => None,
                    n => Some(format!("{n} {}", s.as_str())),
                })
                .collect();
            out.push_str(&format!("problems ({}):", counts.join(", ")));
            for p in &r.problems {
                let head = format!("{:>7}  ", p.severity.as_str());
                let text = format!("{}: {}", crate::redact::one_line(&p.subject), p.message);
                out.push('\n');
                out.push_str(&self.item(&text, &head, "         "));
                if let Some(help) = &p.help {
                    out.push('\n');
                    out.push_str(&self.item(
                        &format!("help: {help}"),
                        "         ",
                        "               ",
                    ));
                }
            }
        }
        out
    }
}

/// `2 RUNNING`, `1 RUNNING, 1 FAILED`, `-` (none): the states of a connector's tasks by
/// count; which task is in which state is in the JSON and in Connect's own status.
fn tasks_summary(tasks: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in tasks {
        let state = t.split_once(':').map(|(_, s)| s).unwrap_or(t).to_string();
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    if counts.is_empty() {
        return "-".into();
    }
    counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}
