//! `groups.idle`: wait, with progress, until the in-scope consumer groups have no active
//! members on a cluster (issue 13, step 4).
//!
//! A switchover translates each group's committed position, which is only final once
//! nobody consumes: a member still running would commit past the translated offset, and
//! Kafka refuses to change the offsets of a group with members anyway. The operator (or
//! an `exec` hook before this step) stops the consumers; this step waits for the
//! coordinator to report every group Empty (or Dead), and on timeout names the groups
//! still active, with their member counts. It only reads.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::common;
use super::switchover_support::{active_groups, in_scope_groups, SwitchoverError};
use super::ActionError;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;

pub const NAME: &str = "groups.idle";

const POLL: Duration = Duration::from_millis(500);
const REQUEST: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    cluster: String,
    #[serde(default)]
    groups: Option<Vec<String>>,
    timeout_seconds: u64,
}

/// `groups.idle`.
#[derive(Debug)]
pub struct Idle {
    cluster: String,
    groups: Option<Vec<String>>,
    timeout: Duration,
}

impl Idle {
    pub fn new(step: &StepDef) -> Result<Idle, Error> {
        let p: Params = super::params(step, NAME)?;
        if p.groups.as_ref().is_some_and(Vec::is_empty) {
            return Err(ActionError::Params {
                step: step.id.clone(),
                action: NAME,
                reason: "`groups` is empty\nhelp: list the groups to wait for, or remove `groups` to wait for every in-scope group".into(),
            }
            .into());
        }
        Ok(Idle {
            cluster: p.cluster,
            groups: p.groups,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// (cluster, the groups watched, those active now).
    fn look(&self, ctx: &StepContext<'_>) -> Result<(String, Vec<String>, Vec<String>), Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let client = common::kafka_in(ctx, &cluster, REQUEST)?;
        let groups = in_scope_groups(ctx.topology, &client, self.groups.as_deref(), REQUEST)?;
        let active = active_groups(&client, &groups, REQUEST)?
            .iter()
            .map(|g| g.text())
            .collect();
        Ok((cluster, groups, active))
    }
}

impl Action for Idle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let (cluster, groups, active) = self.look(ctx)?;
        let mut plan = Plan::default();
        plan.changes.push(format!(
            "wait up to {}s until the {} in-scope consumer group(s) on `{cluster}` have no active members (reads only; stop the consumers, or run an `exec` hook before this step)",
            self.timeout.as_secs(),
            groups.len()
        ));
        if active.is_empty() {
            plan.notes
                .push(format!("now: no in-scope group has members on `{cluster}`"));
        }
        for a in &active {
            plan.notes.push(format!("still active now: {a}"));
        }
        plan.detail = json!({ "cluster": cluster, "groups": groups, "active": active });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let started = Instant::now();
        let progress = ctx.reporter.progress(
            "Waiting",
            "for the in-scope consumer groups to stop",
            Some(self.timeout.as_secs()),
            "s",
        );
        loop {
            let (cluster, groups, active) = self.look(ctx)?;
            if active.is_empty() {
                drop(progress);
                let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                ctx.reporter.status(
                    "Idle",
                    &format!(
                        "`{cluster}`: none of the {} in-scope group(s) has members",
                        groups.len()
                    ),
                );
                return Ok(json!({ "cluster": cluster, "groups": groups, "waited_ms": waited_ms }));
            }
            if started.elapsed() >= self.timeout {
                return Err(SwitchoverError::GroupsActive {
                    cluster: cluster.clone(),
                    waited_seconds: Some(started.elapsed().as_secs()),
                    groups: active,
                    help: format!(
                        "stop these consumers on `{cluster}` (or add an `exec` hook that does before step `{}`), then `kafka-dr resume`; writes to `{cluster}` stay fenced meanwhile",
                        ctx.step_id
                    ),
                }
                .into());
            }
            progress.set(
                started.elapsed().as_secs(),
                Some(&format!(
                    "`{cluster}`: {} group(s) still consume ({})",
                    active.len(),
                    active.join("; "),
                )),
            );
            std::thread::sleep(POLL);
            if ctx.is_interrupted() {
                return Err(ActionError::Interrupted {
                    during: format!("waiting for the consumer groups on `{cluster}` to stop"),
                }
                .into());
            }
        }
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let (cluster, _, active) = self.look(ctx)?;
        if active.is_empty() {
            Ok(Verdict::Done)
        } else {
            Ok(Verdict::NotDone(format!(
                "consumer group(s) on `{cluster}` have members again: {}",
                active.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::step;

    #[test]
    fn params_default_to_every_group_on_the_primary() {
        let i = Idle::new(&step("idle", NAME, json!({}))).expect("defaults");
        assert_eq!(i.cluster, "primary");
        assert!(i.groups.is_none());
        assert_eq!(i.timeout, Duration::from_secs(300));
        let empty = Idle::new(&step("idle", NAME, json!({"groups": []})));
        let text = empty.expect_err("empty groups").to_string();
        assert!(text.contains("`groups` is empty"), "{text}");
    }
}
