//! Printing `fence status` and `mirror status`.

use super::runs::table;
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
        let mut t = table();
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
        let mut out = format!(
            "{} flow, writing into `{}` (Connect {})\n",
            s.flow.name(),
            s.cluster,
            s.url.clone().unwrap_or_else(|| "-".into())
        );
        if let Some(u) = &s.unreachable {
            out.push_str(&format!("Connect unreachable: {u}\n"));
        }
        let mut t = table();
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
    /// `kafka-dr status`.
    pub fn dr_status(&self, s: &crate::status::DrStatus) -> Result<()> {
        if self.format == OutputFormat::Json {
            return self.json(&to_json(s)?);
        }
        let mut out = format!(
            "primary: `{}`, backup: `{}`{}\n",
            s.roles.primary,
            s.roles.backup,
            if s.original_roles {
                " (the topology's own roles)"
            } else {
                " (swapped: a failover or switchover is in force)"
            }
        );
        out.push_str(&format!(
            "mirror: {}\n",
            s.running_flow
                .clone()
                .unwrap_or_else(|| "no flow's source connector is RUNNING".into())
        ));
        match &s.last_run {
            Some(r) => out.push_str(&format!(
                "last run: {} `{}` {} (started {}{})\n",
                r.id,
                r.runbook,
                r.state.as_str(),
                r.started_at,
                r.finished_at
                    .as_deref()
                    .map(|f| format!(", finished {f}"))
                    .unwrap_or_default()
            )),
            None => out.push_str("last run: none in this journal\n"),
        }
        let mut t = table();
        t.set_header(vec!["flow", "into", "connector", "state"]);
        for f in &s.flows {
            if let Some(u) = &f.unreachable {
                t.add_row(vec![
                    cell(f.flow.name()),
                    cell(&f.cluster),
                    cell("-"),
                    cell(format!("Connect unreachable: {u}")),
                ]);
                continue;
            }
            for c in &f.connectors {
                t.add_row(vec![
                    cell(f.flow.name()),
                    cell(&f.cluster),
                    cell(&c.name),
                    cell(if c.exists {
                        c.summary.clone().or(c.state.clone()).unwrap_or_default()
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
