//! `fence.apply`: puts one of the fences of `fence` in place on a cluster (CreateAcls with
//! the bindings `fence::compute_bindings` gives), journals them, proves the fence as
//! `fence` describes (bindings in force, every in-scope topic denied, no fenced super user,
//! an authorizer on every broker, CREATE denied on the cluster) and watches the high
//! watermarks for the observation window as an extra signal. It refuses, before creating
//! anything, a fence that cannot hold. It writes to a cluster only through CreateAcls.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::fence::*;
use super::{common, ActionError};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::kafka::{AclBinding, AclOperation, KafkaClient, ResourceType};
use crate::runbook::StepDef;
/// The runbook name of the action that puts a fence in place.
pub const APPLY: &str = "fence.apply";
/// Left to the brokers after CreateAcls before anything relies on the new bindings.
const SETTLE: Duration = Duration::from_secs(1);
// fence.apply
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyParams {
    fence: String,
    cluster: String,
    observe_seconds: u64,
    timeout_seconds: u64,
}

/// `fence.apply`: create a fence's DENY bindings on a cluster and journal them.
#[derive(Debug)]
pub struct Apply {
    fence: Fence,
    cluster: String,
    observe: Duration,
    timeout: Duration,
}

impl Apply {
    pub fn new(step: &StepDef) -> Result<Apply, Error> {
        let p: ApplyParams = super::params(step, APPLY)?;
        let fence = parse_fence(step, APPLY, &p.fence)?;
        if p.observe_seconds == 0 {
            return Err(ActionError::Params {
                step: step.id.clone(),
                action: APPLY,
                reason: "`observe_seconds` is 0\nhelp: give the proof window in seconds (at least 1; the default is 5)".into(),
            }
            .into());
        }
        Ok(Apply {
            fence,
            cluster: p.cluster,
            observe: Duration::from_secs(p.observe_seconds),
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }
}

/// What `fence.apply`'s plan found, kept in `Plan::detail`.
#[derive(Debug, Serialize, Deserialize)]
struct ApplyDetail {
    cluster: String,
    fence: Fence,
    /// Every binding of the fence (those to create and those already in force).
    bindings: Vec<AclBinding>,
    /// The ones not in force when planned.
    missing: Vec<AclBinding>,
    /// Checks the plan could not make (names created later a regex `include` matches
    /// without a binding, a broker config that could not be read).
    #[serde(default)]
    unproved: Vec<String>,
}

impl Action for Apply {
    fn name(&self) -> &'static str {
        APPLY
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let (computed, notes) = compute_bindings(ctx, self.fence, &cluster, &client, self.timeout)?;
        // A fence re-applied keeps covering what it covered before (a topic deleted
        // since is still lifted with it later).
        let active = active_fence(ctx.journal, &cluster, self.fence)?;
        let mut all: BTreeSet<AclBinding> = computed.into_iter().collect();
        let journaled: BTreeSet<AclBinding> = match &active {
            Some(row) => row_bindings(row)?.into_iter().collect(),
            None => BTreeSet::new(),
        };
        all.extend(journaled.iter().cloned());
        let all: Vec<AclBinding> = all.into_iter().collect();
        let present = in_force(&client, &all, self.timeout)?;
        let missing: Vec<AclBinding> = all
            .iter()
            .filter(|b| !present.contains(*b))
            .cloned()
            .collect();

        let mut plan = Plan::default();
        for b in &missing {
            plan.changes.push(format!("`{cluster}`: create ACL {b}"));
        }
        let journal_change = active.is_none() || journaled.len() != all.len();
        if journal_change {
            plan.changes.push(format!(
                "journal: record fence `{}` on `{cluster}` ({} binding(s))",
                self.fence,
                all.len()
            ));
        }
        for b in all.iter().filter(|b| present.contains(*b)) {
            plan.notes
                .push(format!("`{cluster}`: already in force: {b}"));
        }
        if all.is_empty() {
            plan.notes.push(format!(
                "no in-scope topic or group is known on `{cluster}` and no `include` regex gives a prefix: the fence has no binding (check `replication.topics` / `groups` in the topology)"
            ));
        }
        plan.notes.extend(notes);
        // A fence the brokers would ignore is refused before anything is created.
        let authz = authorizer_facts(&client, ctx.topology, self.fence, &cluster, self.timeout)?;
        if !authz.bypass.is_empty() {
            return Err(cannot_hold(self.fence, &cluster, &authz.bypass));
        }
        plan.notes.extend(authz.notes);
        // What the names leave unproved (the broker configs are read afresh by verify).
        let unproved: Vec<String> = plan
            .notes
            .iter()
            .filter_map(|n| n.strip_prefix(UNPROVED))
            .map(String::from)
            .collect();
        for u in &authz.unknown {
            plan.notes.push(format!("{UNPROVED}{u}"));
        }
        if self.fence == Fence::ReplicationIntoBackup {
            let mirror = &ctx.topology.replication.mirror_principal;
            if !may_create_some_topic(&client, mirror, self.timeout) {
                plan.notes.push(format!(
                    "with CREATE denied on the cluster resource, `{mirror}` creates topics on `{cluster}` only where a topic-level ALLOW CREATE permits it: it has none, so an MM2 flow reading from `{cluster}` while the fence is in force cannot create its `mm2-offset-syncs.*.internal` topic there (create it beforehand, or allow CREATE on it)"
                ));
            }
            plan.notes.push(format!(
                "verify proves the fence from what the brokers enforce: every binding in force, every in-scope topic covered, `{mirror}` not a super user on any broker of `{cluster}`; then it watches the in-scope high watermarks for {}s (an extra signal, not a proof on its own)",
                self.observe.as_secs()
            ));
        }
        if plan.changes.is_empty() {
            plan.notes.insert(
                0,
                format!(
                    "nothing to do: all {} binding(s) of fence `{}` are in force on `{cluster}` and journaled",
                    all.len(),
                    self.fence
                ),
            );
        }
        plan.detail = serde_json::to_value(ApplyDetail {
            cluster,
            fence: self.fence,
            bindings: all,
            missing,
            unproved,
        })
        .unwrap_or_default();
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let detail: ApplyDetail = serde_json::from_value(plan.detail.clone()).map_err(|e| {
            Error::Usage(format!(
                "step `{}`: the plan of `{APPLY}` lacks its bindings ({e})\nhelp: re-run the step so that it is planned again",
                ctx.step_id
            ))
        })?;
        let cluster = detail.cluster;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        // Creating a binding that exists changes nothing: create them all, in case one
        // was removed since the plan.
        // The first binding alone, then the rest: a crash between the two is a crash
        // point of its own (one round trip more, a failover pays nothing else for it).
        let (first, rest) = detail.bindings.split_at(detail.bindings.len().min(1));
        client.create_acls(first, self.timeout)?;
        if !rest.is_empty() {
            crate::engine::crash::crash_point("fence.apply:binding-created");
            client.create_acls(rest, self.timeout)?;
        }
        crate::engine::crash::crash_point("fence.apply:created-not-journaled");
        let bindings = serde_json::to_value(&detail.bindings).unwrap_or_default();
        let id = ctx
            .journal
            .record_fence(ctx.run_id, &cluster, self.fence.name(), &bindings)?;
        ctx.reporter.status(
            "Fenced",
            &format!(
                "`{cluster}`: fence `{}` in place ({} binding(s), {} new)",
                self.fence,
                detail.bindings.len(),
                detail.missing.len()
            ),
        );
        if !detail.missing.is_empty() {
            std::thread::sleep(SETTLE);
        }
        Ok(json!({
            "cluster": cluster,
            "fence": self.fence,
            "fence_id": id,
            "bindings": detail.bindings.len(),
            "created": detail.missing.len(),
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, plan: &Plan) -> Result<Verdict, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let planned_unproved: Vec<String> =
            serde_json::from_value::<ApplyDetail>(plan.detail.clone())
                .map(|d| d.unproved)
                .unwrap_or_default();
        let Some(row) = active_fence(ctx.journal, &cluster, self.fence)? else {
            return Ok(Verdict::NotDone(format!(
                "the journal records no active fence `{}` on `{cluster}`",
                self.fence
            )));
        };
        let bindings = row_bindings(&row)?;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let present = in_force(&client, &bindings, self.timeout)?;
        let missing: Vec<String> = bindings
            .iter()
            .filter(|b| !present.contains(*b))
            .map(|b| format!("  {b}"))
            .collect();
        if !missing.is_empty() {
            return Ok(Verdict::NotDone(format!(
                "{} binding(s) of fence `{}` are not in force on `{cluster}`:\n{}\nhelp: re-run the step; if they still do not appear, check that kafka-dr's principal may ALTER on the cluster resource of `{cluster}`",
                missing.len(),
                self.fence,
                missing.join("\n")
            )));
        }
        let authz = authorizer_facts(&client, ctx.topology, self.fence, &cluster, self.timeout)?;
        if !authz.bypass.is_empty() {
            return Err(cannot_hold(self.fence, &cluster, &authz.bypass));
        }
        // Every in-scope topic the cluster has now (one created since the plan too) is
        // denied for every fenced operation by a binding in force.
        let topics: Vec<String> = all_topics(&client, self.timeout)?
            .into_iter()
            .filter(|t| common::in_scope_topic(ctx.topology, t) && !is_internal_topic(t))
            .collect();
        let mut uncovered: Vec<String> = Vec::new();
        for principal in self.fence.principals(ctx.topology) {
            for t in uncovered_topics(
                &topics,
                &bindings,
                &principal,
                self.fence.topic_operations(),
            ) {
                uncovered.push(format!("  topic `{t}` for {principal}"));
            }
        }
        if !self.fence.group_operations().is_empty() {
            let r = &ctx.topology.replication;
            let groups: Vec<String> = client
                .list_groups(self.timeout)?
                .into_iter()
                .map(|g| g.group)
                .filter(|g| r.groups.matches(g))
                .collect();
            for principal in self.fence.principals(ctx.topology) {
                for g in uncovered_names(
                    ResourceType::Group,
                    &groups,
                    &bindings,
                    &principal,
                    self.fence.group_operations(),
                ) {
                    uncovered.push(format!("  group `{g}` for {principal}"));
                }
            }
        }
        if !uncovered.is_empty() {
            return Ok(Verdict::NotDone(format!(
                "{} in-scope topic(s) or group(s) of `{cluster}` are not covered by fence `{}` (created since it was planned?):\n{}\nhelp: re-run the step: it fences the names it finds",
                uncovered.len(),
                self.fence,
                uncovered.join("\n")
            )));
        }
        if self.fence == Fence::ReplicationIntoBackup {
            let cluster_create = bindings.iter().any(|b| {
                b.resource_type == ResourceType::Cluster && b.operation == AclOperation::Create
            });
            let transactions = bindings.iter().any(|b| {
                b.resource_type == ResourceType::TransactionalId
                    && b.operation == AclOperation::Write
            });
            if let Verdict::NotDone(why) =
                observe(ctx, &client, &cluster, self.observe, self.timeout)?
            {
                return Ok(Verdict::NotDone(why));
            }
            // The plan's own findings about names (the broker configs are read afresh).
            let mut unproved = planned_unproved;
            unproved.extend(authz.unknown);
            if !cluster_create {
                unproved.push(
                    "the fence (journaled by an older kafka-dr) does not deny CREATE on the cluster resource: re-apply it".to_string(),
                );
            }
            if !transactions {
                unproved.push(
                    "the fence (journaled by an older kafka-dr) does not deny WRITE on transactional ids: an exactly-once MM2 task could still commit a transaction it opened before the fence; lift and apply it again".to_string(),
                );
            }
            if unproved.is_empty() {
                ctx.reporter.status(
                    "Proved",
                    &format!(
                        "`{cluster}`: fence `{}` holds: {} binding(s) in force, {} in-scope topic(s) covered, topic creation denied on the cluster resource, transactions denied (the mirror tasks' transactional ids), no fenced principal is a super user, no in-scope partition moved in {}s",
                        self.fence,
                        bindings.len(),
                        topics.len(),
                        self.observe.as_secs()
                    ),
                );
            } else {
                ctx.reporter.status(
                    "Unproved",
                    &format!(
                        "`{cluster}`: fence `{}` is in force, but not proved: {}",
                        self.fence,
                        unproved.join("; ")
                    ),
                );
            }
        }
        Ok(Verdict::Done)
    }
}

/// The extra signal of `replication-into-backup` (not a proof on its own: a stopped MM2
/// writes nothing, fenced or not): no in-scope high watermark of `cluster` moves during
/// `window`.
fn observe(
    ctx: &StepContext<'_>,
    client: &KafkaClient,
    cluster: &str,
    window: Duration,
    timeout: Duration,
) -> Result<Verdict, Error> {
    let read = || -> Result<BTreeMap<(String, i32), i64>, Error> {
        let parts: Vec<(String, i32)> = common::in_scope_partitions(ctx.topology, client, timeout)?
            .into_iter()
            .filter(|(t, _)| !is_internal_topic(t))
            .collect();
        Ok(client
            .watermarks(&parts, timeout)?
            .into_iter()
            .map(|w| ((w.topic, w.partition), w.latest))
            .collect())
    };
    let before = read()?;
    let started = Instant::now();
    let progress = ctx.reporter.progress(
        "Observing",
        &format!("`{cluster}`: {} in-scope partition(s)", before.len()),
        Some(window.as_secs()),
        "s",
    );
    while started.elapsed() < window {
        if ctx.is_interrupted() {
            return Err(ActionError::Interrupted {
                during: format!(
                    "observing the high watermarks of `{cluster}` to prove the fence holds"
                ),
            }
            .into());
        }
        progress.set(started.elapsed().as_secs(), None);
        std::thread::sleep(
            Duration::from_millis(200).min(window.saturating_sub(started.elapsed())),
        );
    }
    drop(progress);
    let after = read()?;
    let moved: Vec<String> = after
        .iter()
        .filter_map(|((t, p), hw)| {
            let was = before.get(&(t.clone(), *p)).copied().unwrap_or(0);
            (*hw > was).then(|| format!("  `{t}` partition {p}: high watermark {was} -> {hw}"))
        })
        .collect();
    if moved.is_empty() {
        ctx.reporter.status(
            "Observed",
            &format!(
                "`{cluster}`: no in-scope partition moved in {}",
                crate::human::duration(window)
            ),
        );
        return Ok(Verdict::Done);
    }
    Ok(Verdict::NotDone(format!(
        "the fence on `{cluster}` does not hold: {} in-scope partition(s) moved during the {}s observation:\n{}\nhelp: something still writes into `{cluster}` as a principal the fence does not cover: is another MM2 or a producer running? Applications writing would move it too: on the backup the `app-writes` guard should be in force (`kafka-dr fence status`)",
        moved.len(),
        window.as_secs(),
        moved.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::fence_lift::{Lift, LIFT};
    use crate::actions::test_support::step;
    use serde_json::json;

    #[test]
    fn fence_names_and_params() {
        assert_eq!(
            Fence::parse("replication-into-backup"),
            Some(Fence::ReplicationIntoBackup)
        );
        assert_eq!(Fence::parse("app-writes"), Some(Fence::AppWrites));
        assert_eq!(Fence::parse("x"), None);
        assert_eq!(
            serde_json::to_value(Fence::AppWrites).unwrap(),
            json!("app-writes")
        );
        let bad = Apply::new(&step(
            "f",
            APPLY,
            json!({"fence": "everything", "cluster": "dc2"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(bad.contains("unknown fence `everything`"), "{bad}");
        assert!(bad.contains("help: `fence` must be"), "{bad}");
        let bad = Apply::new(&step(
            "f",
            APPLY,
            json!({"fence": "app-writes", "cluster": "dc2", "observe_seconds": 0}),
        ))
        .unwrap_err()
        .to_string();
        assert!(bad.contains("`observe_seconds` is 0"), "{bad}");
        assert!(Lift::new(&step(
            "f",
            LIFT,
            json!({"fence": "app-writes", "cluster": "backup", "extra": 1}),
        ))
        .is_err());
        let ok = Apply::new(&step(
            "f",
            APPLY,
            json!({"fence": "replication-into-backup", "cluster": "backup"}),
        ))
        .unwrap();
        assert_eq!(ok.observe, Duration::from_secs(5));
        assert_eq!(ok.timeout, Duration::from_secs(10));
    }
}
