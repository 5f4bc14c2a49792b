//! Printing `fence status` and `mirror status`.

use comfy_table::Cell;

use super::runs::table;
use super::{OutputFormat, Reporter};
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
                "lifted".to_string()
            } else if let Some(u) = &f.unreachable {
                u.clone()
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
                    format!("{ok}/{} (holds)", f.bindings.len())
                } else {
                    format!(
                        "{ok}/{}; MISSING:\n{}",
                        f.bindings.len(),
                        missing.join("\n")
                    )
                }
            };
            t.add_row(vec![
                Cell::new(f.id),
                Cell::new(&f.cluster),
                Cell::new(&f.fence),
                Cell::new(&f.applied_at),
                Cell::new(f.lifted_at.clone().unwrap_or_else(|| "-".into())),
                Cell::new(state),
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
                Cell::new(c.role),
                Cell::new(&c.name),
                Cell::new(if c.exists {
                    c.summary.clone().or(c.state.clone()).unwrap_or_default()
                } else {
                    "does not exist".into()
                }),
                Cell::new(c.failures.join("\n")),
            ]);
        }
        out.push_str(&t.to_string());
        self.text(&out)
    }
}
