//! `watermarks.snapshot`: record the earliest and latest offsets of every in-scope
//! partition on the named clusters, in the journal. Later steps read these as the cut
//! (what a cluster really held when the snapshot was taken). Parameters: `clusters`
//! (names, or the role words `primary`/`backup`), `optional` (clusters that may be
//! unreachable without failing the step), `timeout_seconds`.
//!
//! It changes nothing on any cluster; its only effect is the journal rows.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::common::{self, first_line};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::WatermarkRow;
use crate::runbook::StepDef;

pub const NAME: &str = "watermarks.snapshot";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    clusters: Vec<String>,
    timeout_seconds: u64,
    #[serde(default)]
    optional: Vec<String>,
}

#[derive(Debug)]
pub struct Snapshot {
    clusters: Vec<String>,
    optional: Vec<String>,
    timeout: Duration,
    /// Clusters skipped in this attempt because they were optional and unreachable.
    skipped: Vec<String>,
    /// Clusters that had no in-scope partition in this attempt.
    empty: Vec<String>,
}

impl Snapshot {
    pub fn new(step: &StepDef) -> Result<Snapshot, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(Snapshot {
            clusters: p.clusters,
            optional: p.optional,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
            skipped: Vec::new(),
            empty: Vec::new(),
        })
    }

    fn resolved(&self, ctx: &StepContext<'_>) -> Result<Vec<(String, bool)>, Error> {
        let optional: Vec<String> = self
            .optional
            .iter()
            .map(|c| common::resolve_cluster(ctx, c))
            .collect::<Result<_, _>>()?;
        self.clusters
            .iter()
            .map(|c| {
                let name = common::resolve_cluster(ctx, c)?;
                let opt = optional.contains(&name);
                Ok((name, opt))
            })
            .collect()
    }
}

/// Read the watermarks of every in-scope partition of `cluster`.
pub fn read_watermarks(
    ctx: &StepContext<'_>,
    cluster: &str,
    timeout: Duration,
) -> Result<Vec<WatermarkRow>, Error> {
    let client = common::kafka_in(ctx, cluster, timeout)?;
    let parts = common::in_scope_partitions(ctx.topology, &client, timeout)?;
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(client
        .watermarks(&parts, timeout)?
        .into_iter()
        .map(|w| WatermarkRow {
            cluster: cluster.to_string(),
            topic: w.topic,
            partition: w.partition,
            earliest: w.earliest,
            latest: w.latest,
        })
        .collect())
}

impl Action for Snapshot {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let mut plan = Plan::default();
        let mut detail = Vec::new();
        for (cluster, optional) in self.resolved(ctx)? {
            match common::kafka_in(ctx, &cluster, self.timeout) {
                Ok(client) => {
                    let parts = common::in_scope_partitions(ctx.topology, &client, self.timeout)?;
                    plan.changes.push(format!(
                        "journal: record the watermarks of {} in-scope partition(s) on `{cluster}`",
                        parts.len()
                    ));
                    detail.push(json!({"cluster": cluster, "partitions": parts.len()}));
                }
                Err(e) if optional => {
                    plan.notes.push(format!(
                        "`{cluster}` does not answer ({}); it is optional here and will be skipped",
                        first_line(&e.to_string())
                    ));
                    detail.push(json!({"cluster": cluster, "skipped": true}));
                }
                Err(e) => return Err(e),
            }
        }
        plan.detail = json!({ "clusters": detail });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let mut all = Vec::new();
        let mut summary = Vec::new();
        self.skipped.clear();
        self.empty.clear();
        for (cluster, optional) in self.resolved(ctx)? {
            match read_watermarks(ctx, &cluster, self.timeout) {
                Ok(rows) => {
                    if rows.is_empty() {
                        self.empty.push(cluster.clone());
                    }
                    let records: i64 = rows.iter().map(|r| r.latest - r.earliest).sum();
                    summary.push(json!({
                        "cluster": cluster, "partitions": rows.len(), "records": records
                    }));
                    ctx.reporter.status(
                        "Snapshot",
                        &format!(
                            "`{cluster}`: {} partition(s), {records} record(s)",
                            rows.len()
                        ),
                    );
                    all.extend(rows);
                }
                Err(e) if optional => {
                    ctx.reporter.warn(&format!(
                        "`{cluster}` skipped (optional, unreachable): {}",
                        first_line(&e.to_string())
                    ));
                    summary.push(json!({"cluster": cluster, "skipped": true}));
                    self.skipped.push(cluster);
                }
                Err(e) => return Err(e),
            }
        }
        ctx.journal
            .record_watermarks(ctx.run_id, ctx.step_id, &all)?;
        Ok(json!({ "clusters": summary }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        for (cluster, optional) in self.resolved(ctx)? {
            let have = ctx.journal.run_watermarks(ctx.run_id, &cluster)?.is_some();
            // An optional cluster skipped in this attempt, or one with no in-scope
            // partition at all (nothing to record), has no snapshot row by design.
            let excused =
                (optional && self.skipped.contains(&cluster)) || self.empty.contains(&cluster);
            if !have && !excused {
                return Ok(Verdict::NotDone(format!(
                    "no watermark snapshot of `{cluster}` recorded in run {}",
                    ctx.run_id
                )));
            }
        }
        Ok(Verdict::Done)
    }
}
