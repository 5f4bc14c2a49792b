//! Printing `fence status` and `mirror status`.

use super::{cell, lines_cell, OutputFormat, Reporter};
use crate::actions::fence::FenceStatus;
use crate::actions::mirror::FlowStatus;
use crate::error::{Error, Result};

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Io(format!("cannot encode JSON output: {e}")))
}

impl Reporter {
    pub fn fence_status(&self, fences: &[FenceStatus]) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&serde_json::json!({ "fences": to_json(&fences)? }));
        }
        if fences.is_empty() {
            return self.text("no fences in this journal");
        }
        let mut t = self.table();
        t.set_header(vec![
            "id",
            "cluster",
            "fence",
            "applied",
            "lifted",
            "bindings in force",
        ]);
        for f in fences {
            let state = if !f.active {
                cell("lifted")
            } else if let Some(u) = &f.unreachable {
                cell(u)
            } else {
                let ok = f
                    .bindings
                    .iter()
                    .filter(|b| b.in_force == Some(true))
                    .count();
                let missing: Vec<&str> = f
                    .bindings
                    .iter()
                    .filter(|b| b.in_force == Some(false))
                    .map(|b| b.text.as_str())
                    .collect();
                if missing.is_empty() {
                    cell(format!("{ok}/{} (holds)", f.bindings.len()))
                } else {
                    let head = format!("{ok}/{}; MISSING:", f.bindings.len());
                    lines_cell(std::iter::once(head.as_str()).chain(missing.iter().copied()))
                }
            };
            t.add_row(vec![
                cell(f.id),
                cell(&f.cluster),
                cell(&f.fence),
                cell(&f.applied_at),
                cell(f.lifted_at.clone().unwrap_or_else(|| "-".into())),
                state,
            ]);
        }
        self.text(&t.to_string())
    }

    pub fn flow_status(&self, s: &FlowStatus) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&to_json(s)?);
        }
        if let Some(h) = &s.hooks {
            return self.text(&format!(
                "{} flow, writing into `{}` (MM2 dedicated mode: no Connect REST, so kafka-dr cannot see whether it runs)\n  stopped by: {}\n  started by: {}\n  positions in: `{}` on `{}`\n",
                s.flow.name(),
                s.cluster,
                h.stop.join(" "),
                h.start.join(" "),
                h.offsets_topic,
                s.cluster
            ));
        }
        let mut out = format!(
            "{} flow, writing into `{}` (Connect {})\n",
            s.flow.name(),
            s.cluster,
            s.url.clone().unwrap_or_else(|| "-".into())
        );
        if let Some(u) = &s.unreachable {
            out.push_str(&format!("Connect unreachable: {u}\n"));
        }
        let mut t = self.table();
        t.set_header(vec!["role", "connector", "state", "failures"]);
        for c in &s.connectors {
            t.add_row(vec![
                cell(c.role),
                cell(&c.name),
                cell(if c.exists {
                    c.summary.clone().or(c.state.clone()).unwrap_or_default()
                } else {
                    "does not exist".into()
                }),
                lines_cell(&c.failures),
            ]);
        }
        out.push_str(&t.to_string());
        self.text(&out)
    }
}

impl Reporter {
    /// `kafka-dr status`; `s` is `crate::status::DrStatus` as JSON (rendered without
    /// depending on the module that gathers it).
    pub fn dr_status(&self, s: &serde_json::Value) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(s);
        }
        let name = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
        let mut out = format!(
            "primary: `{}`, backup: `{}`{}\n",
            name(&s["roles"]["primary"]),
            name(&s["roles"]["backup"]),
            if s["original_roles"] == true {
                " (the topology's own roles)"
            } else {
                " (swapped: a failover or switchover is in force)"
            }
        );
        let dedicated = s["flows"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["mode"] == "dedicated"));
        out.push_str(&format!(
            "mirror: {}\n",
            s["running_flow"].as_str().unwrap_or(if dedicated {
                "MM2 dedicated mode: kafka-dr cannot see which flow runs (`kafka-dr mirror status` shows each flow's hooks)"
            } else {
                "no flow's source connector is RUNNING"
            })
        ));
        let r = &s["last_run"];
        if r.is_null() {
            out.push_str("last run: none in this journal\n");
        } else {
            out.push_str(&format!(
                "last run: {} `{}` {} (started {}{})\n",
                r["id"],
                name(&r["runbook"]),
                name(&r["state"]),
                name(&r["started_at"]),
                r["finished_at"]
                    .as_str()
                    .map(|f| format!(", finished {f}"))
                    .unwrap_or_default()
            ));
        }
        let mut t = self.table();
        t.set_header(vec!["flow", "into", "connector", "state"]);
        for f in s["flows"].as_array().into_iter().flatten() {
            if f["mode"] == "dedicated" {
                t.add_row(vec![
                    cell(name(&f["flow"])),
                    cell(name(&f["cluster"])),
                    cell("-"),
                    cell(format!(
                        "MM2 dedicated mode; started by `{}`",
                        f["hooks"]["start"]
                            .as_array()
                            .map(|a| a.iter().map(&name).collect::<Vec<_>>().join(" "))
                            .unwrap_or_default()
                    )),
                ]);
                continue;
            }
            if let Some(u) = f["unreachable"].as_str() {
                t.add_row(vec![
                    cell(name(&f["flow"])),
                    cell(name(&f["cluster"])),
                    cell("-"),
                    cell(format!("Connect unreachable: {u}")),
                ]);
                continue;
            }
            for c in f["connectors"].as_array().into_iter().flatten() {
                t.add_row(vec![
                    cell(name(&f["flow"])),
                    cell(name(&f["cluster"])),
                    cell(name(&c["name"])),
                    cell(if c["exists"] == true {
                        c["summary"]
                            .as_str()
                            .or(c["state"].as_str())
                            .unwrap_or_default()
                            .to_string()
                    } else {
                        "does not exist".into()
                    }),
                ]);
            }
        }
        out.push_str(&t.to_string());
        self.text(&out)
    }
}
