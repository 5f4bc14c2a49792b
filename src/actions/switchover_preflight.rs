//! `switchover.preflight`: before a planned switchover changes anything (issue 13, step
//! 1), check that it can finish without loss and with a short write outage: both clusters
//! answer, the MM2 flow that copies the primary into the backup is RUNNING with running
//! tasks, its lag is under `max_lag` records (the outage lasts until the lag is copied),
//! and no in-scope consumer group has active members on the backup (Kafka refuses to set
//! the offsets of a group that consumes, and that group would read both clusters).
//!
//! The lag is the primary's high watermark minus the next offset MM2 copies, from the
//! source connector's offsets in Connect (KIP-875); for a partition with no stored
//! position, the primary's high watermark minus the backup's. A missing `app-writes` guard
//! on the backup is a warning: applications writing there during the switchover would
//! write records the mirror never copies back.
//!
//! Read-only: its plan changes nothing, and it refuses (exit 1, naming what) when a check
//! fails, so a switchover that cannot finish never fences anything.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::common;
use super::switchover_support::{
    active_groups, flow_from_primary, in_scope_groups, mirrored_partitions, SwitchoverError,
};
use crate::connect::TargetState;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;

pub const NAME: &str = "switchover.preflight";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    max_lag: u64,
    timeout_seconds: u64,
}

/// `switchover.preflight`.
#[derive(Debug)]
pub struct Preflight {
    max_lag: i64,
    timeout: Duration,
}

impl Preflight {
    pub fn new(step: &StepDef) -> Result<Preflight, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(Preflight {
            max_lag: i64::try_from(p.max_lag).unwrap_or(i64::MAX),
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// Every check; the notes for the plan, or the first refusal.
    fn check(&self, ctx: &StepContext<'_>) -> Result<(Vec<String>, serde_json::Value), Error> {
        let topology = ctx.topology;
        let roles = common::run_roles(ctx)?;
        let (from, to) = (roles.primary.clone(), roles.backup.clone());
        let mut notes = Vec::new();
        let primary = common::kafka_in(ctx, &from, self.timeout)?;
        let backup = common::kafka_in(ctx, &to, self.timeout)?;
        notes.push(format!(
            "`{from}` (primary) and `{to}` (backup) both answer"
        ));

        // The flow that drains the primary.
        let flow = flow_from_primary(topology, &roles);
        let (connectors, connect_cluster) = flow.placement(topology);
        let unhealthy = |problems: Vec<String>, help: String| -> Error {
            SwitchoverError::FlowUnhealthy {
                flow: flow.name().to_string(),
                from: from.clone(),
                to: to.clone(),
                problems,
                help,
            }
            .into()
        };
        let Some(connect) = common::connect(topology, connect_cluster, self.timeout)? else {
            return Err(unhealthy(
                vec![format!("the topology names no `connect` URL for `{connect_cluster}`, whose Connect runs the flow")],
                format!("add `connect: http://<worker>:8083` to cluster `{connect_cluster}` in the topology"),
            ));
        };
        let source = connectors.source.clone();
        let status = ctx.block_on(connect.status(&source)).map_err(|e| {
            unhealthy(
                vec![format!(
                    "source connector `{source}` on Connect `{}`: {}",
                    connect.url(),
                    e.to_string().lines().next().unwrap_or_default()
                )],
                format!("create or start the {flow} flow's connectors on the Connect of `{connect_cluster}`, then run the switchover again"),
            )
        })?;
        let parts = mirrored_partitions(topology, &primary, self.timeout)?;
        let running = status.is_in(TargetState::Running)
            && status.failures().is_empty()
            && (parts.is_empty() || !status.tasks.is_empty());
        if !running {
            let mut problems = vec![format!(
                "source connector `{source}` on Connect `{}` is {}",
                connect.url(),
                status.summary()
            )];
            problems.extend(status.failures());
            return Err(unhealthy(
                problems,
                format!("resume it (PUT {}/connectors/{source}/resume) or restart its failed tasks, then run the switchover again", connect.url()),
            ));
        }
        notes.push(format!(
            "the {flow} flow's source connector `{source}` is {}",
            status.summary()
        ));

        // The lag.
        let next: BTreeMap<(String, i32), i64> = ctx
            .block_on(connect.get_mirror_source_offsets(&source))?
            .iter()
            .filter_map(|o| {
                o.next_offset_to_copy()
                    .map(|n| ((o.topic.clone(), o.partition), n))
            })
            .collect();
        let policy = topology.replication.policy;
        let wms = primary.watermarks(&parts, self.timeout)?;
        let md = backup.metadata(self.timeout)?;
        let targets: Vec<(String, i32)> = parts
            .iter()
            .map(|(t, p)| (policy.target_topic(&from, t), *p))
            .filter(|(t, p)| md.topic(t).is_some_and(|m| m.partitions.contains(p)))
            .collect();
        let target_end: BTreeMap<(String, i32), i64> = backup
            .watermarks(&targets, self.timeout)?
            .into_iter()
            .map(|w| ((w.topic, w.partition), w.latest))
            .collect();
        let mut lags: Vec<(i64, String)> = Vec::new();
        for w in &wms {
            let lag = match next.get(&(w.topic.clone(), w.partition)) {
                Some(n) => (w.latest - n).max(0),
                None => {
                    let t = policy.target_topic(&from, &w.topic);
                    (w.latest - target_end.get(&(t, w.partition)).copied().unwrap_or(0)).max(0)
                }
            };
            if lag > 0 {
                lags.push((
                    lag,
                    format!("`{}`[{}]: {lag} record(s)", w.topic, w.partition),
                ));
            }
        }
        let total: i64 = lags.iter().map(|(l, _)| l).sum();
        if total > self.max_lag {
            lags.sort_by_key(|l| std::cmp::Reverse(l.0));
            return Err(SwitchoverError::LagTooHigh {
                from: from.clone(),
                to: to.clone(),
                lag: total,
                max_lag: self.max_lag,
                partitions: lags.into_iter().map(|(_, t)| t).collect(),
                help: format!(
                    "wait until the mirror catches up (`kafka-dr check` shows the lag), or raise `max_lag` of step `{}` to accept a longer write outage",
                    ctx.step_id
                ),
            }
            .into());
        }
        notes.push(format!(
            "mirror lag {total} record(s) over {} partition(s) (at most {} allowed)",
            parts.len(),
            self.max_lag
        ));

        // Groups on the backup.
        let groups = in_scope_groups(topology, &backup, None, self.timeout)?;
        let active = active_groups(&backup, &groups, self.timeout)?;
        if !active.is_empty() {
            return Err(SwitchoverError::GroupsActive {
                cluster: to.clone(),
                waited_seconds: None,
                groups: active.iter().map(|g| g.text()).collect(),
                help: format!(
                    "stop those consumers on the backup `{to}` (their positions there would be overwritten by the switchover), then run it again"
                ),
            }
            .into());
        }
        notes.push(format!("no in-scope consumer group has members on `{to}`"));
        match super::fence::app_guard_missing(topology, &backup, &to, self.timeout) {
            Ok(open) if !open.is_empty() => {
                let w = format!(
                    "applications may write to {} in-scope topic(s) on the backup `{to}` (no `app-writes` guard): a record written there before the switchover ends is never copied to `{from}`",
                    open.len()
                );
                ctx.reporter.warn(&w);
                notes.push(format!("WARNING: {w}"));
            }
            Ok(_) => notes.push(format!(
                "the `app-writes` guard keeps applications off `{to}`"
            )),
            Err(e) => notes.push(format!(
                "cannot tell whether applications may write to `{to}`: {}",
                e.to_string().lines().next().unwrap_or_default()
            )),
        }
        let detail = json!({
            "primary": from,
            "backup": to,
            "flow": flow,
            "lag": total,
            "partitions": parts.len(),
            "groups": groups.len(),
        });
        Ok((notes, detail))
    }
}

impl Action for Preflight {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let (notes, detail) = self.check(ctx)?;
        Ok(Plan {
            changes: Vec::new(),
            notes,
            detail,
        })
    }

    fn apply(
        &mut self,
        _ctx: &mut StepContext<'_>,
        plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        Ok(plan.detail.clone())
    }

    fn verify(&mut self, _ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        // The checks ran in the plan, just now; nothing was meant to change.
        Ok(Verdict::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::step;

    #[test]
    fn params_have_defaults_and_refuse_unknown_keys() {
        let p = Preflight::new(&step("preflight", NAME, json!({}))).expect("defaults");
        assert_eq!(p.max_lag, 10_000);
        assert_eq!(p.timeout, Duration::from_secs(10));
        assert!(Preflight::new(&step("preflight", NAME, json!({"lag": 3}))).is_err());
    }
}
