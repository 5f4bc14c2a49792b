//! `fence.apply` and `fence.lift`: the ACL fences of the DR procedure (ARCHITECTURE.md
//! section 1, steps 4 and 7), and the `fence status` / app-guard queries built on them.
//!
//! Two fences exist, each a set of DENY bindings (host `*`) on one cluster:
//! - `replication-into-backup`: the topology's mirror principal may no longer WRITE,
//!   CREATE, ALTER or ALTER_CONFIGS any in-scope topic, nor READ any in-scope group (MM2's
//!   group offset sync commits with AlterConsumerGroupOffsets, which needs READ on the
//!   group). Its `verify` proves the fence holds: no in-scope high watermark of the cluster
//!   may move during `observe_seconds`.
//! - `app-writes`: the application principals may no longer WRITE any in-scope topic.
//!
//! Bindings are LITERAL for every in-scope name known (on the cluster, on the other
//! clusters when they answer quickly, and in the journal), plus PREFIXED where a topics or
//! groups `include` regex is a literal prefix followed by `.*` (so names created later are
//! covered), unless that prefix would also cover an out-of-scope name. Nothing is ever
//! denied on Connect's or MM2's internal topics, nor on out-of-scope names.
//!
//! Every fence is journaled with its exact bindings; `fence.lift` deletes exactly those
//! (DeleteAcls with exact filters), so bindings an operator made by hand are never
//! touched. This module writes to a cluster only through CreateAcls and DeleteAcls.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{common, ActionError};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::{FenceRow, Journal};
use crate::kafka::{
    AclBinding, AclFilter, AclOperation, AclPermission, KafkaClient, PatternType, ResourceType,
};
use crate::runbook::StepDef;
use crate::topology::Topology;

/// The runbook name of the action that puts a fence in place.
pub const APPLY: &str = "fence.apply";
/// The runbook name of the action that lifts a journaled fence.
pub const LIFT: &str = "fence.lift";

/// Left to the brokers after CreateAcls before anything relies on the new bindings.
const SETTLE: Duration = Duration::from_secs(1);

/// The fences kafka-dr knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fence {
    /// Keeps the old replication flow (the mirror principal) out of a cluster.
    ReplicationIntoBackup,
    /// Keeps the applications from writing to a cluster.
    AppWrites,
}

impl Fence {
    pub const ALL: [Fence; 2] = [Fence::ReplicationIntoBackup, Fence::AppWrites];

    /// The name runbooks and the journal use.
    pub fn name(self) -> &'static str {
        match self {
            Fence::ReplicationIntoBackup => "replication-into-backup",
            Fence::AppWrites => "app-writes",
        }
    }

    pub fn parse(s: &str) -> Option<Fence> {
        Fence::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The principals the fence denies.
    pub fn principals(self, topology: &Topology) -> Vec<String> {
        match self {
            Fence::ReplicationIntoBackup => vec![topology.replication.mirror_principal.clone()],
            Fence::AppWrites => topology.replication.app_principals.clone(),
        }
    }

    /// The operations denied on in-scope topics.
    fn topic_operations(self) -> &'static [AclOperation] {
        match self {
            Fence::ReplicationIntoBackup => &[
                AclOperation::Write,
                AclOperation::Create,
                AclOperation::Alter,
                AclOperation::AlterConfigs,
            ],
            Fence::AppWrites => &[AclOperation::Write],
        }
    }

    /// The operations denied on in-scope groups.
    fn group_operations(self) -> &'static [AclOperation] {
        match self {
            Fence::ReplicationIntoBackup => &[AclOperation::Read],
            Fence::AppWrites => &[],
        }
    }
}

impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn parse_fence(step: &StepDef, action: &'static str, name: &str) -> Result<Fence, ActionError> {
    Fence::parse(name).ok_or_else(|| ActionError::Params {
        step: step.id.clone(),
        action,
        reason: format!(
            "unknown fence `{name}`\nhelp: `fence` must be `replication-into-backup` or `app-writes`"
        ),
    })
}

fn five() -> u64 {
    5
}

fn ten() -> u64 {
    10
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

// ---------------------------------------------------------------------------------------
// Which names a fence covers
// ---------------------------------------------------------------------------------------

/// True for names that belong to Kafka, Connect or MM2 themselves, never fenced.
pub fn is_internal_topic(name: &str) -> bool {
    name.starts_with("__")
        || name.starts_with("mm2-")
        || name.starts_with("connect-")
        || name == "heartbeats"
        || name.ends_with(".heartbeats")
        || name.ends_with(".checkpoints.internal")
        || name.ends_with(".internal")
}

/// `app\..*` -> `app.`: the literal prefix of a regex that is a literal followed by `.*`
/// (optionally anchored with `^`/`$`). None for anything else, or an empty prefix.
pub fn literal_prefix(regex: &str) -> Option<String> {
    let r = regex.strip_prefix('^').unwrap_or(regex);
    let r = r.strip_suffix('$').unwrap_or(r);
    let body = r.strip_suffix(".*")?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if n.is_ascii_punctuation() => out.push(n),
                // `\d`, `\w`, a trailing `\` (which escapes the `.` of `.*`)...
                _ => return None,
            },
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' => {
                return None
            }
            c if c.is_whitespace() => return None,
            c => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The literal text every match of `regex` starts with (conservative: possibly shorter
/// than the truth, never longer). Empty when the regex has an alternation.
fn leading_literal(regex: &str) -> String {
    if regex.contains('|') {
        return String::new();
    }
    let r = regex.strip_prefix('^').unwrap_or(regex);
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        let lit = match c {
            '\\' => match chars.next() {
                Some(n) if n.is_ascii_punctuation() => n,
                _ => break,
            },
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' => break,
            c => c,
        };
        match chars.peek() {
            // Optional or repeated from zero: the character may be absent.
            Some('*' | '?' | '{') => break,
            Some('+') => {
                out.push(lit);
                break;
            }
            _ => out.push(lit),
        }
    }
    out
}

/// True when no name starting with `prefix` can match `exclude`.
fn disjoint(prefix: &str, exclude: &str) -> bool {
    let lit = leading_literal(exclude);
    !prefix.starts_with(&lit) && !lit.starts_with(prefix)
}

/// The well-known names of Kafka's, Connect's and MM2's own topics (for `alias` in the
/// topology), which a prefixed binding must not cover.
fn known_internal_topics(topology: &Topology) -> Vec<String> {
    let mut out: Vec<String> = [
        "heartbeats",
        "__consumer_offsets",
        "__transaction_state",
        "mm2-",
        "connect-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for alias in topology.cluster_names() {
        out.push(format!("{alias}.checkpoints.internal"));
        out.push(format!("{alias}.heartbeats"));
        out.push(format!("mm2-offset-syncs.{alias}.internal"));
    }
    out
}

/// The names a fence is computed from, and why some prefixes got no PREFIXED binding.
#[derive(Debug, Default)]
struct Known {
    topics: BTreeSet<String>,
    groups: BTreeSet<String>,
    topic_prefixes: BTreeSet<String>,
    group_prefixes: BTreeSet<String>,
    notes: Vec<String>,
}

/// Every topic name on `client`'s cluster (in scope or not), for the prefix checks.
fn all_topics(client: &KafkaClient, timeout: Duration) -> Result<Vec<String>, Error> {
    Ok(client
        .metadata(timeout)?
        .topics
        .into_iter()
        .map(|t| t.name)
        .collect())
}

/// The prefixed bindings' prefixes for one list of `include` regexes, as named on the
/// fenced cluster (`map` turns a source-side prefix into the fenced cluster's names),
/// dropping any that would cover an out-of-scope name.
/// What `derive_prefixes` checks a prefix against.
struct PrefixScope<'a> {
    /// `topic` or `group`, for notes.
    what: &'a str,
    cluster: &'a str,
    include: &'a [String],
    exclude: &'a [String],
    /// Source-side prefix -> the prefixes as named on the fenced cluster.
    map: &'a dyn Fn(&str) -> Vec<String>,
    /// Every name of that kind on the fenced cluster, in scope or not.
    existing: &'a [String],
    in_scope: &'a dyn Fn(&str) -> bool,
    /// Well-known internal names (or name prefixes) a prefix must not cover.
    internal: &'a [String],
}

fn derive_prefixes(s: &PrefixScope<'_>, notes: &mut Vec<String>) -> BTreeSet<String> {
    let (what, cluster) = (s.what, s.cluster);
    let mut out = BTreeSet::new();
    for regex in s.include {
        let Some(prefix) = literal_prefix(regex) else {
            continue;
        };
        if let Some(e) = s.exclude.iter().find(|e| !disjoint(&prefix, e)) {
            notes.push(format!(
                "no PREFIXED binding for {what}s starting with `{prefix}`: exclude `{e}` may match names under it; only the {what}s known now are fenced (literal bindings)"
            ));
            continue;
        }
        for mapped in (s.map)(&prefix) {
            let clash = s
                .existing
                .iter()
                .find(|n| n.starts_with(&mapped) && !(s.in_scope)(n))
                .or_else(|| {
                    s.internal
                        .iter()
                        .find(|n| n.starts_with(&mapped) || mapped.starts_with(n.as_str()))
                });
            match clash {
                Some(n) => notes.push(format!(
                    "no PREFIXED binding for {what}s starting with `{mapped}` on `{cluster}`: it would also cover `{n}`, which is out of scope; only the {what}s known now are fenced (literal bindings)"
                )),
                None => {
                    out.insert(mapped);
                }
            }
        }
    }
    out
}

/// Collect the in-scope names `fence` covers on `cluster`.
fn known_names(
    ctx: &StepContext<'_>,
    fence: Fence,
    cluster: &str,
    client: &KafkaClient,
    timeout: Duration,
) -> Result<Known, Error> {
    let (topology, journal) = (ctx.topology, ctx.journal);
    let r = &topology.replication;
    let mut known = Known::default();
    let here = all_topics(client, timeout)?;
    for t in &here {
        if common::in_scope_topic(topology, t) && !is_internal_topic(t) {
            known.topics.insert(t.clone());
        }
    }
    let others: Vec<String> = topology
        .cluster_names()
        .into_iter()
        .filter(|c| *c != cluster)
        .map(String::from)
        .collect();
    // How a topic of `source` is named on the fenced cluster, if it is in scope.
    let replica = |source: &str, topic: &str| -> Option<String> {
        (r.topics.matches(topic) && !is_internal_topic(topic))
            .then(|| r.policy.target_topic(source, topic))
            .filter(|t| !is_internal_topic(t))
    };

    let mut here_groups: Vec<String> = Vec::new();
    if fence == Fence::ReplicationIntoBackup {
        here_groups = client
            .list_groups(timeout)?
            .into_iter()
            .map(|g| g.group)
            .collect();
        known
            .groups
            .extend(here_groups.iter().filter(|g| r.groups.matches(g)).cloned());
        for pos in journal.latest_group_positions(cluster, None)? {
            if r.groups.matches(&pos.group) {
                known.groups.insert(pos.group);
            }
        }
        if let Some(snap) = journal.latest_watermarks(cluster)? {
            for w in snap.partitions {
                if common::in_scope_topic(topology, &w.topic) && !is_internal_topic(&w.topic) {
                    known.topics.insert(w.topic);
                }
            }
        }
        for other in &others {
            let short = timeout.min(common::PROBE_TIMEOUT);
            match common::kafka_in(ctx, other, short) {
                Ok(oc) => {
                    match all_topics(&oc, short) {
                        Ok(topics) => {
                            for t in topics {
                                known.topics.extend(replica(other, &t));
                            }
                        }
                        Err(e) => known.notes.push(format!(
                            "cannot list the topics of `{other}` ({}): its topics are known from the journal only",
                            first_line(&e.to_string())
                        )),
                    }
                    match oc.list_groups(short) {
                        Ok(groups) => known.groups.extend(
                            groups
                                .into_iter()
                                .map(|g| g.group)
                                .filter(|g| r.groups.matches(g)),
                        ),
                        Err(e) => known.notes.push(format!(
                            "cannot list the groups of `{other}` ({}): its groups are known from the journal only",
                            first_line(&e.to_string())
                        )),
                    }
                }
                Err(e) => known.notes.push(format!(
                    "`{other}` does not answer ({}): its topics and groups are known from the journal only",
                    first_line(&e.to_string())
                )),
            }
            if let Some(snap) = journal.latest_watermarks(other)? {
                for w in snap.partitions {
                    known.topics.extend(replica(other, &w.topic));
                }
            }
            for pos in journal.latest_group_positions(other, None)? {
                known.topics.extend(replica(other, &pos.topic));
                if r.groups.matches(&pos.group) {
                    known.groups.insert(pos.group);
                }
            }
        }
    }

    // Prefixes, as named on the fenced cluster.
    let internal = known_internal_topics(topology);
    let map_topic = |prefix: &str| -> Vec<String> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        match fence {
            // What MM2 writes here: the replicas of the other clusters' topics.
            Fence::ReplicationIntoBackup => {
                for other in &others {
                    names.insert(r.policy.target_topic(other, prefix));
                }
            }
            // Applications write the source names; with the prefix policy the replicas
            // here are in scope too.
            Fence::AppWrites => {
                names.insert(prefix.to_string());
                for other in &others {
                    names.insert(r.policy.target_topic(other, prefix));
                }
            }
        }
        names.into_iter().collect()
    };
    let topic_in_scope = |t: &str| common::in_scope_topic(topology, t) && !is_internal_topic(t);
    known.topic_prefixes = derive_prefixes(
        &PrefixScope {
            what: "topic",
            cluster,
            include: &r.topics.include,
            exclude: &r.topics.exclude,
            map: &map_topic,
            existing: &here,
            in_scope: &topic_in_scope,
            internal: &internal,
        },
        &mut known.notes,
    );
    if !fence.group_operations().is_empty() {
        let same = |p: &str| vec![p.to_string()];
        let group_in_scope = |g: &str| r.groups.matches(g);
        known.group_prefixes = derive_prefixes(
            &PrefixScope {
                what: "group",
                cluster,
                include: &r.groups.include,
                exclude: &r.groups.exclude,
                map: &same,
                existing: &here_groups,
                in_scope: &group_in_scope,
                internal: &[],
            },
            &mut known.notes,
        );
    }
    Ok(known)
}

/// The bindings `fence` needs on `cluster` now (sorted, unique), with notes on what the
/// computation could not cover.
pub fn compute_bindings(
    ctx: &StepContext<'_>,
    fence: Fence,
    cluster: &str,
    client: &KafkaClient,
    timeout: Duration,
) -> Result<(Vec<AclBinding>, Vec<String>), Error> {
    let topology = ctx.topology;
    let known = known_names(ctx, fence, cluster, client, timeout)?;
    let mut out = BTreeSet::new();
    for principal in fence.principals(topology) {
        let mut add = |rt: ResourceType, name: &str, pattern: PatternType, op: AclOperation| {
            out.insert(AclBinding {
                resource_type: rt,
                name: name.to_string(),
                pattern,
                principal: principal.clone(),
                host: "*".to_string(),
                operation: op,
                permission: AclPermission::Deny,
            });
        };
        for &op in fence.topic_operations() {
            for t in &known.topics {
                add(ResourceType::Topic, t, PatternType::Literal, op);
            }
            for p in &known.topic_prefixes {
                add(ResourceType::Topic, p, PatternType::Prefixed, op);
            }
        }
        for &op in fence.group_operations() {
            for g in &known.groups {
                add(ResourceType::Group, g, PatternType::Literal, op);
            }
            for p in &known.group_prefixes {
                add(ResourceType::Group, p, PatternType::Prefixed, op);
            }
        }
    }
    Ok((out.into_iter().collect(), known.notes))
}

/// The DENY bindings of `principals` in force on `client`'s cluster.
fn deny_bindings_of(
    client: &KafkaClient,
    principals: impl IntoIterator<Item = String>,
    timeout: Duration,
) -> Result<BTreeSet<AclBinding>, Error> {
    let mut out = BTreeSet::new();
    let principals: BTreeSet<String> = principals.into_iter().collect();
    for principal in principals {
        let filter = AclFilter {
            principal: Some(principal),
            permission: Some(AclPermission::Deny),
            ..AclFilter::default()
        };
        out.extend(client.describe_acls(&filter, timeout)?);
    }
    Ok(out)
}

/// Which of `bindings` are in force on `client`'s cluster.
fn in_force(
    client: &KafkaClient,
    bindings: &[AclBinding],
    timeout: Duration,
) -> Result<BTreeSet<AclBinding>, Error> {
    let present = deny_bindings_of(
        client,
        bindings.iter().map(|b| b.principal.clone()),
        timeout,
    )?;
    Ok(bindings
        .iter()
        .filter(|b| present.contains(*b))
        .cloned()
        .collect())
}

/// The bindings journaled for a fence row.
fn row_bindings(row: &FenceRow) -> Result<Vec<AclBinding>, Error> {
    serde_json::from_value(row.bindings.clone()).map_err(|e| {
        Error::Usage(format!(
            "the journal's record of fence `{}` on `{}` (run {}) has unreadable bindings: {e}\nhelp: the journal may have been written by another kafka-dr version; list the fence's ACLs with `kafka-acls.sh --list` and remove them by hand",
            row.name, row.cluster, row.run_id
        ))
    })
}

/// The journal's active fence `fence` on `cluster`, if any.
fn active_fence(journal: &Journal, cluster: &str, fence: Fence) -> Result<Option<FenceRow>, Error> {
    Ok(journal
        .active_fences(Some(cluster))?
        .into_iter()
        .find(|f| f.name == fence.name()))
}

/// Whether `principal` may CREATE on the cluster resource (which Kafka checks before the
/// topic ACLs on CreateTopics, so topic DENY CREATE bindings cannot stop it).
fn may_create_on_cluster(client: &KafkaClient, principal: &str, timeout: Duration) -> bool {
    let filter = AclFilter {
        resource_type: Some(ResourceType::Cluster),
        permission: Some(AclPermission::Allow),
        ..AclFilter::default()
    };
    client
        .describe_acls(&filter, timeout)
        .map(|acls| {
            acls.iter().any(|a| {
                (a.principal == principal || a.principal == "User:*")
                    && matches!(a.operation, AclOperation::Create | AclOperation::All)
            })
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------
// fence.apply
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyParams {
    fence: String,
    cluster: String,
    #[serde(default = "five")]
    observe_seconds: u64,
    #[serde(default = "ten")]
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
        if self.fence == Fence::ReplicationIntoBackup {
            let mirror = &ctx.topology.replication.mirror_principal;
            if may_create_on_cluster(&client, mirror, self.timeout) {
                plan.notes.push(format!(
                    "`{mirror}` may CREATE on the cluster resource of `{cluster}`, which Kafka checks before topic ACLs: MM2 can still create new (empty) topics there; their records, configs and partitions stay fenced"
                ));
            }
            plan.notes.push(format!(
                "verify watches the in-scope high watermarks of `{cluster}` for {}s: none may move",
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
        client.create_acls(&detail.bindings, self.timeout)?;
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

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
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
        if self.fence == Fence::ReplicationIntoBackup {
            return observe(ctx, &client, &cluster, self.observe, self.timeout);
        }
        Ok(Verdict::Done)
    }
}

/// The proof of `replication-into-backup`: no in-scope high watermark of `cluster` moves
/// during `window`.
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
    let mut last_report = 0;
    while started.elapsed() < window {
        if ctx.is_interrupted() {
            return Err(ActionError::Interrupted {
                during: format!(
                    "observing the high watermarks of `{cluster}` to prove the fence holds"
                ),
            }
            .into());
        }
        let secs = started.elapsed().as_secs();
        if secs >= last_report {
            ctx.reporter.status(
                "Observing",
                &format!(
                    "`{cluster}`: {} in-scope partition(s), {secs}s of {}s",
                    before.len(),
                    window.as_secs()
                ),
            );
            last_report = secs + 1;
        }
        std::thread::sleep(
            Duration::from_millis(200).min(window.saturating_sub(started.elapsed())),
        );
    }
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
            "Proved",
            &format!(
                "`{cluster}`: no in-scope partition moved in {}s",
                window.as_secs()
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

// ---------------------------------------------------------------------------------------
// fence.lift
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiftParams {
    fence: String,
    cluster: String,
    #[serde(default = "ten")]
    timeout_seconds: u64,
}

/// `fence.lift`: delete exactly the bindings of a journaled active fence.
#[derive(Debug)]
pub struct Lift {
    fence: Fence,
    cluster: String,
    timeout: Duration,
}

impl Lift {
    pub fn new(step: &StepDef) -> Result<Lift, Error> {
        let p: LiftParams = super::params(step, LIFT)?;
        let fence = parse_fence(step, LIFT, &p.fence)?;
        Ok(Lift {
            fence,
            cluster: p.cluster,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }
}

/// Delete the bindings of the active fence `fence` on `cluster` and journal it lifted.
/// Returns how many bindings existed and were deleted (0 when no fence was active).
fn lift_active(
    ctx: &StepContext<'_>,
    cluster: &str,
    fence: Fence,
    timeout: Duration,
) -> Result<usize, Error> {
    let journal = ctx.journal;
    let Some(row) = active_fence(journal, cluster, fence)? else {
        return Ok(0);
    };
    let bindings = row_bindings(&row)?;
    let client = common::kafka_in(ctx, cluster, timeout)?;
    let deleted = if bindings.is_empty() {
        Vec::new()
    } else {
        client.delete_acls(&bindings, timeout)?
    };
    journal.lift_fence(cluster, fence.name())?;
    Ok(deleted.len())
}

impl Action for Lift {
    fn name(&self) -> &'static str {
        LIFT
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let mut plan = Plan::default();
        let Some(row) = active_fence(ctx.journal, &cluster, self.fence)? else {
            plan.notes.push(format!(
                "nothing to do: the journal records no active fence `{}` on `{cluster}`",
                self.fence
            ));
            plan.detail = json!({ "cluster": cluster, "fence": self.fence, "active": false });
            return Ok(plan);
        };
        let bindings = row_bindings(&row)?;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let present = in_force(&client, &bindings, self.timeout)?;
        for b in &bindings {
            if present.contains(b) {
                plan.changes.push(format!("`{cluster}`: delete ACL {b}"));
            } else {
                plan.notes.push(format!("`{cluster}`: already gone: {b}"));
            }
        }
        plan.changes.push(format!(
            "journal: mark fence `{}` on `{cluster}` (applied by run {} at {}) lifted",
            self.fence, row.run_id, row.applied_at
        ));
        plan.detail = json!({
            "cluster": cluster,
            "fence": self.fence,
            "active": true,
            "fence_id": row.id,
            "bindings": bindings,
        });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let deleted = lift_active(ctx, &cluster, self.fence, self.timeout)?;
        ctx.reporter.status(
            "Lifted",
            &format!(
                "`{cluster}`: fence `{}` lifted ({deleted} binding(s) deleted)",
                self.fence
            ),
        );
        Ok(json!({ "cluster": cluster, "fence": self.fence, "deleted": deleted }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let Some(row) = ctx
            .journal
            .fences(None)?
            .into_iter()
            .rev()
            .find(|f| f.cluster == cluster && f.name == self.fence.name())
        else {
            // Never fenced: nothing to lift.
            return Ok(Verdict::Done);
        };
        if row.lifted_at.is_none() {
            return Ok(Verdict::NotDone(format!(
                "the journal still records fence `{}` on `{cluster}` as active",
                self.fence
            )));
        }
        let bindings = row_bindings(&row)?;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let left: Vec<String> = in_force(&client, &bindings, self.timeout)?
            .iter()
            .map(|b| format!("  {b}"))
            .collect();
        if left.is_empty() {
            return Ok(Verdict::Done);
        }
        Ok(Verdict::NotDone(format!(
            "{} binding(s) of fence `{}` are still in force on `{cluster}`:\n{}\nhelp: re-run the step, or delete them with `kafka-acls.sh --remove`",
            left.len(),
            self.fence,
            left.join("\n")
        )))
    }
}

// ---------------------------------------------------------------------------------------
// The app-writes guard (used by roles.promote and check)
// ---------------------------------------------------------------------------------------

/// The bindings of the journaled active `app-writes` fence on `cluster` that are in force
/// now (what lifting the guard would delete).
pub fn guard_bindings_in_force(
    ctx: &StepContext<'_>,
    cluster: &str,
    timeout: Duration,
) -> Result<Vec<AclBinding>, Error> {
    let Some(row) = active_fence(ctx.journal, cluster, Fence::AppWrites)? else {
        return Ok(Vec::new());
    };
    let bindings = row_bindings(&row)?;
    if bindings.is_empty() {
        return Ok(Vec::new());
    }
    let client = common::kafka_in(ctx, cluster, timeout)?;
    Ok(in_force(&client, &bindings, timeout)?.into_iter().collect())
}

/// Lift the journaled active `app-writes` fence on `cluster`: delete its bindings and
/// journal it lifted. Returns how many bindings were deleted; 0 when none was active.
pub fn lift_guard(ctx: &StepContext<'_>, cluster: &str, timeout: Duration) -> Result<usize, Error> {
    lift_active(ctx, cluster, Fence::AppWrites, timeout)
}

/// In-scope topics of `cluster` (through `client`) that some application principal may
/// still write to: no DENY WRITE (or ALL) binding covers them for that principal, literal
/// or prefixed (or for `User:*`). Sorted. `check` warns with these when the backup's
/// `app-writes` guard is missing.
pub fn app_guard_missing(
    topology: &Topology,
    client: &KafkaClient,
    cluster: &str,
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    if client.cluster_name() != cluster {
        return Err(Error::Usage(format!(
            "app_guard_missing: asked about `{cluster}` with a client of `{}`\nhelp: this is a bug in kafka-dr; please report it",
            client.cluster_name()
        )));
    }
    let topics: Vec<String> = all_topics(client, timeout)?
        .into_iter()
        .filter(|t| common::in_scope_topic(topology, t) && !is_internal_topic(t))
        .collect();
    let principals = &topology.replication.app_principals;
    if topics.is_empty() || principals.is_empty() {
        return Ok(Vec::new());
    }
    let filter = AclFilter {
        resource_type: Some(ResourceType::Topic),
        permission: Some(AclPermission::Deny),
        ..AclFilter::default()
    };
    let denies: Vec<AclBinding> = client
        .describe_acls(&filter, timeout)?
        .into_iter()
        .filter(|a| matches!(a.operation, AclOperation::Write | AclOperation::All))
        .filter(|a| a.host == "*")
        .collect();
    let covered = |principal: &str, topic: &str| {
        denies.iter().any(|a| {
            (a.principal == principal || a.principal == "User:*")
                && match a.pattern {
                    PatternType::Literal => a.name == topic || a.name == "*",
                    PatternType::Prefixed => topic.starts_with(&a.name),
                    PatternType::Unknown => false,
                }
        })
    };
    let mut out: Vec<String> = topics
        .into_iter()
        .filter(|t| principals.iter().any(|p| !covered(p, t)))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// fence status
// ---------------------------------------------------------------------------------------

/// One binding of a journaled fence, and whether it is in force now.
#[derive(Debug, Clone, Serialize)]
pub struct BindingStatus {
    pub binding: AclBinding,
    /// As printed (`DENY WRITE on topic `x` (literal) for User:mirror from *`).
    pub text: String,
    /// None when not checked: the fence was lifted, or its cluster did not answer.
    pub in_force: Option<bool>,
}

/// One journaled fence, for `kafka-dr fence status`.
#[derive(Debug, Clone, Serialize)]
pub struct FenceStatus {
    pub id: i64,
    pub run_id: i64,
    pub cluster: String,
    pub fence: String,
    pub applied_at: String,
    pub lifted_at: Option<String>,
    pub active: bool,
    pub bindings: Vec<BindingStatus>,
    /// For an active fence whose cluster could not be asked: "cluster unreachable: ...".
    pub unreachable: Option<String>,
}

impl FenceStatus {
    /// Active and every binding confirmed in force.
    pub fn holds(&self) -> bool {
        self.active && self.bindings.iter().all(|b| b.in_force == Some(true))
    }
}

/// Every journaled fence (active and lifted, oldest first), on `cluster` (a name or a
/// role word) or all, with each active fence's bindings checked on its cluster.
pub fn status(
    topology: &Topology,
    journal: &Journal,
    cluster: Option<&str>,
    timeout: Duration,
) -> Result<Vec<FenceStatus>, Error> {
    let wanted = match cluster {
        Some(c) => {
            let roles = common::current_roles(topology, journal)?;
            let name = match c {
                "primary" => roles.primary,
                "backup" => roles.backup,
                other => other.to_string(),
            };
            topology.cluster(&name)?;
            Some(name)
        }
        None => None,
    };
    let rows: Vec<FenceRow> = journal
        .fences(None)?
        .into_iter()
        .filter(|r| wanted.as_deref().is_none_or(|w| r.cluster == w))
        .collect();
    // One connection per cluster with an active fence.
    let mut clients: BTreeMap<String, Result<KafkaClient, String>> = BTreeMap::new();
    let mut out = Vec::new();
    for row in rows {
        let bindings = row_bindings(&row)?;
        let active = row.lifted_at.is_none();
        let mut unreachable = None;
        let mut present: Option<BTreeSet<AclBinding>> = None;
        if active && !bindings.is_empty() {
            let client = clients.entry(row.cluster.clone()).or_insert_with(|| {
                common::kafka(topology, &row.cluster, timeout)
                    .map_err(|e| first_line(&e.to_string()).to_string())
            });
            match client {
                Ok(c) => match in_force(c, &bindings, timeout) {
                    Ok(p) => present = Some(p),
                    Err(e) => {
                        unreachable = Some(format!(
                            "cannot read the ACLs of `{}`: {}",
                            row.cluster,
                            first_line(&e.to_string())
                        ))
                    }
                },
                Err(e) => unreachable = Some(format!("cluster unreachable: {e}")),
            }
        }
        out.push(FenceStatus {
            id: row.id,
            run_id: row.run_id,
            bindings: bindings
                .into_iter()
                .map(|b| BindingStatus {
                    text: b.to_string(),
                    in_force: present.as_ref().map(|p| p.contains(&b)),
                    binding: b,
                })
                .collect(),
            cluster: row.cluster,
            fence: row.name,
            applied_at: row.applied_at,
            lifted_at: row.lifted_at,
            active,
            unreachable,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{step, Fixture};

    #[test]
    fn literal_prefixes() {
        assert_eq!(literal_prefix("app\\..*").as_deref(), Some("app."));
        assert_eq!(literal_prefix("^app\\..*$").as_deref(), Some("app."));
        assert_eq!(
            literal_prefix("app\\.fence\\-12\\-0\\-ab.*").as_deref(),
            Some("app.fence-12-0-ab")
        );
        assert_eq!(literal_prefix("orders.*").as_deref(), Some("orders"));
        assert_eq!(literal_prefix("orders"), None);
        assert_eq!(literal_prefix(".*"), None);
        assert_eq!(literal_prefix("app\\.*"), None);
        assert_eq!(literal_prefix("app.*x.*"), None);
        assert_eq!(literal_prefix("a|b.*"), None);
        assert_eq!(literal_prefix("\\d+.*"), None);
        assert_eq!(literal_prefix("(?i)app.*"), None);
        assert_eq!(literal_prefix("app[0-9].*"), None);
    }

    #[test]
    fn exclude_overlap_is_conservative() {
        assert!(disjoint("app.", "other\\..*"));
        assert!(!disjoint("app.", "app\\.internal-.*"));
        assert!(!disjoint("app.", "ap.*"));
        assert!(!disjoint("app.", ".*\\.tmp"));
        assert!(!disjoint("app.", "x|y"));
        // `b?` may be absent: the literal is `a` only, which app. starts with.
        assert!(!disjoint("app.", "ab?c"));
        assert!(disjoint("app.", "zz+"));
        assert_eq!(leading_literal("ab+c"), "ab");
        assert_eq!(leading_literal("ab*c"), "a");
        assert_eq!(leading_literal("^x\\.y"), "x.y");
    }

    #[test]
    fn internal_names() {
        for t in [
            "__consumer_offsets",
            "mm2-offset-syncs.dc2.internal",
            "dc1.checkpoints.internal",
            "heartbeats",
            "dc1.heartbeats",
            "connect-dc2-offsets",
        ] {
            assert!(is_internal_topic(t), "{t}");
        }
        assert!(!is_internal_topic("app.orders"));
    }

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

    #[test]
    fn lift_with_nothing_active_plans_nothing_and_verifies_done() {
        let f = Fixture::new();
        let mut ctx = f.ctx("lift");
        let mut lift = Lift::new(&step(
            "lift",
            LIFT,
            json!({"fence": "app-writes", "cluster": "backup"}),
        ))
        .unwrap();
        // No active fence: no cluster is contacted.
        let plan = lift.plan(&mut ctx).unwrap();
        assert!(plan.is_noop(), "{plan:?}");
        assert!(plan.notes[0].starts_with("nothing to do"), "{plan:?}");
        assert_eq!(lift.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
        assert!(guard_bindings_in_force(&ctx, "dc2", Duration::from_secs(1))
            .unwrap()
            .is_empty());
        assert_eq!(lift_guard(&ctx, "dc2", Duration::from_secs(1)).unwrap(), 0);
    }

    #[test]
    fn journaled_bindings_round_trip() {
        let f = Fixture::new();
        let b = AclBinding::literal(
            AclPermission::Deny,
            AclOperation::Write,
            ResourceType::Topic,
            "app.orders",
            "User:app",
        );
        let run = f
            .journal
            .create_run(&crate::journal::NewRun {
                topology: "lab",
                runbook: "t",
                source: "t",
                checksum: "c",
                text: "t",
                dry_run: false,
                steps: vec![],
            })
            .unwrap();
        f.journal
            .record_fence(
                run,
                "dc2",
                "app-writes",
                &serde_json::to_value(vec![b.clone()]).unwrap(),
            )
            .unwrap();
        let row = active_fence(&f.journal, "dc2", Fence::AppWrites)
            .unwrap()
            .unwrap();
        assert_eq!(row_bindings(&row).unwrap(), vec![b.clone()]);
        // Status with an unreachable cluster says so instead of failing.
        let mut topo = Topology::lab_example();
        topo.clusters.get_mut("dc2").unwrap().bootstrap = "127.0.0.1:1".into();
        let st = status(
            &topo,
            &f.journal,
            Some("backup"),
            Duration::from_millis(800),
        )
        .unwrap();
        assert_eq!(st.len(), 1);
        assert!(st[0].active);
        assert!(
            st[0]
                .unreachable
                .as_deref()
                .unwrap()
                .starts_with("cluster unreachable"),
            "{st:?}"
        );
        assert_eq!(st[0].bindings[0].in_force, None);
        assert!(!st[0].holds());
        assert!(
            status(&topo, &f.journal, Some("dc1"), Duration::from_millis(800))
                .unwrap()
                .is_empty()
        );
    }
}
