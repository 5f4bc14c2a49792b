//! What the planned-switchover actions share (`switchover.preflight`, `mirror.drain`,
//! `groups.idle`, `groups.exact`): their typed refusals, the flow that copies from the
//! current primary, and a look at which consumer groups still have members.
//!
//! A switchover runs with both clusters up and must lose and duplicate nothing, so its
//! actions refuse rather than go on with a doubt; every refusal here names the cluster,
//! the partitions or the groups, and says what to do next.
//!
//! Under `--dry-run` nothing is applied, so the steps after `roles.promote` and
//! `mirror.stop` would plan against a world where neither happened: `planned_promotion_cut`
//! and `planned_to_stop` give them what those earlier steps' plans say will be true (the
//! backup promoted with its log ends as the cut, the flow's connectors stopped). This
//! module reads only.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::common::{self, PromotionCut, Roles};
use super::mirror::Flow;
use crate::engine::StepContext;
pub use crate::error::SwitchoverError;
use crate::kafka::KafkaClient;
use crate::topology::Topology;

/// The topology's flow that copies from `roles.primary` into `roles.backup`: `forward`
/// while the topology's own primary is primary, `reverse` after a failover or switchover.
pub fn flow_from_primary(topology: &Topology, roles: &Roles) -> Flow {
    if roles.primary == topology.replication.primary {
        Flow::Forward
    } else {
        Flow::Reverse
    }
}

/// One group that still consumes: "`app.orders` (2 member(s), Stable)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveGroup {
    pub group: String,
    pub members: usize,
    pub state: String,
}

impl ActiveGroup {
    pub fn text(&self) -> String {
        format!(
            "group `{}`: {} member(s), state {}",
            self.group, self.members, self.state
        )
    }
}

/// The in-scope groups of `client`'s cluster (only those of `only` when given), sorted.
pub fn in_scope_groups(
    topology: &Topology,
    client: &KafkaClient,
    only: Option<&[String]>,
    timeout: Duration,
) -> Result<Vec<String>, crate::error::Error> {
    let mut groups: Vec<String> = client
        .list_groups(timeout)?
        .into_iter()
        .map(|g| g.group)
        .filter(|g| topology.replication.groups.matches(g))
        .filter(|g| only.is_none_or(|o| o.iter().any(|x| x == g)))
        .collect();
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// Which of `groups` have members (or are rebalancing) on `client`'s cluster.
pub fn active_groups(
    client: &KafkaClient,
    groups: &[String],
    timeout: Duration,
) -> Result<Vec<ActiveGroup>, crate::error::Error> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    Ok(client
        .describe_groups(&names, timeout)?
        .into_iter()
        .filter(|d| d.members > 0 || !d.state.is_inactive())
        .map(|d| ActiveGroup {
            group: d.group,
            members: d.members,
            state: d.state.to_string(),
        })
        .collect())
}

/// The in-scope partitions of `client`'s cluster that the mirror copies (Kafka's, Connect's
/// and MM2's own topics left out), sorted.
pub fn mirrored_partitions(
    topology: &Topology,
    client: &KafkaClient,
    timeout: Duration,
) -> Result<Vec<(String, i32)>, crate::error::Error> {
    Ok(common::in_scope_partitions(topology, client, timeout)?
        .into_iter()
        .filter(|(t, _)| !super::fence::is_internal_topic(t))
        .collect())
}

/// The plans of the steps of this run before the current one, by action (dry-run: every
/// step was planned, none applied).
fn earlier_plans(
    ctx: &StepContext<'_>,
    action: &str,
) -> Result<Vec<serde_json::Value>, crate::error::Error> {
    let steps = ctx.journal.steps(ctx.run_id)?;
    Ok(steps
        .iter()
        .take_while(|s| s.step_id != ctx.step_id)
        .filter(|s| s.action == action)
        .filter_map(|s| s.plan.clone())
        .collect())
}

/// Under `--dry-run`, when an earlier step of this run is a `roles.promote` that was only
/// planned: the promotion it would record, with the new primary's log ends now as the cut
/// (what the run's watermark snapshot records once the mirror is drained and fenced).
/// `None` otherwise: the journal's promotion is the real one.
pub fn planned_promotion_cut(
    ctx: &StepContext<'_>,
) -> Result<Option<PromotionCut>, crate::error::Error> {
    if !ctx.dry_run || earlier_plans(ctx, "roles.promote")?.is_empty() {
        return Ok(None);
    }
    let roles = common::run_roles(ctx)?;
    let client = common::kafka_in(ctx, &roles.backup, Duration::from_secs(10))?;
    let parts = mirrored_partitions(ctx.topology, &client, Duration::from_secs(10))?;
    let mut end = BTreeMap::new();
    let mut seed = BTreeMap::new();
    let mut start = BTreeMap::new();
    for w in client.watermarks(&parts, Duration::from_secs(10))? {
        // As the snapshot would record it: committed data ends at the last stable offset,
        // the reverse copy starts at the log end.
        end.insert((w.topic.clone(), w.partition), w.stable);
        seed.insert((w.topic.clone(), w.partition), w.latest);
        start.insert((w.topic, w.partition), w.earliest);
    }
    Ok(Some(PromotionCut {
        run_id: ctx.run_id,
        new_primary: roles.backup,
        old_primary: roles.primary,
        new_primary_end: end,
        new_primary_seed: seed,
        new_primary_start: start,
        taken_at: "planned by this dry run (the log ends now)".into(),
    }))
}

/// Under `--dry-run`: the connectors that earlier `mirror.stop` steps of this run plan to
/// stop (or pause). Empty for a real run, where they are stopped by then.
pub fn planned_to_stop(ctx: &StepContext<'_>) -> Result<BTreeSet<String>, crate::error::Error> {
    if !ctx.dry_run {
        return Ok(BTreeSet::new());
    }
    Ok(earlier_plans(ctx, "mirror.stop")?
        .iter()
        .flat_map(|p| {
            p["detail"]["connectors"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| matches!(c["action"].as_str(), Some("stop" | "pause")))
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit_code::ExitCode;

    #[test]
    fn refusals_name_what_and_say_what_next() {
        let e = SwitchoverError::GroupsActive {
            cluster: "dc1".into(),
            waited_seconds: Some(30),
            groups: vec!["group `app.g`: 1 member(s), state Stable".into()],
            help: "stop the consumers".into(),
        };
        let text = e.to_string();
        assert!(text.contains("on `dc1` after waiting 30s"), "{text}");
        assert!(text.contains("group `app.g`: 1 member(s)"), "{text}");
        assert!(text.ends_with("help: stop the consumers"), "{text}");
        assert_eq!(e.help(), "stop the consumers");
        assert_eq!(e.exit_code(), ExitCode::Failure);
    }

    #[test]
    fn long_lists_are_cut_with_a_count() {
        let many: Vec<String> = (0..25).map(|i| format!("p{i}")).collect();
        let e = SwitchoverError::LagNotZero {
            from: "dc1".into(),
            to: "dc2".into(),
            waited_seconds: 5,
            partitions: many,
            help: "h".into(),
        };
        let text = e.to_string();
        assert!(text.contains("25 partition(s) are behind"), "{text}");
        assert!(text.contains("... and 5 more"), "{text}");
        assert!(!text.contains("p21"), "{text}");
    }

    #[test]
    fn the_flow_from_the_primary_follows_the_roles() {
        let t = Topology::lab_example();
        let r = &t.replication;
        let seed = Roles {
            primary: r.primary.clone(),
            backup: r.backup.clone(),
        };
        assert_eq!(flow_from_primary(&t, &seed), Flow::Forward);
        let swapped = Roles {
            primary: r.backup.clone(),
            backup: r.primary.clone(),
        };
        assert_eq!(flow_from_primary(&t, &swapped), Flow::Reverse);
    }
}
