//! The ACL fences of the DR procedure (ARCHITECTURE.md section 1, steps 4 and 7), shared
//! by `fence.apply` (fence_apply.rs) and `fence.lift` (fence_lift.rs): which bindings a
//! fence is, how its proof is judged, and the `fence status` / app-guard queries.
//!
//! Two fences exist, each a set of DENY bindings (host `*`) on one cluster:
//! - `replication-into-backup`: the topology's mirror principal may no longer WRITE,
//!   CREATE, ALTER or ALTER_CONFIGS any in-scope topic, nor READ any in-scope group (MM2's
//!   group offset sync commits with AlterConsumerGroupOffsets, which needs READ on the
//!   group), nor CREATE on the cluster resource (Kafka authorizes CreateTopics there
//!   first: allowed there, a principal creates any topic whatever the topic bindings say;
//!   denied there, the topic bindings decide, so in-scope names are refused while MM2's
//!   own topics stay creatable where a topic-level ALLOW CREATE permits), nor WRITE on
//!   the transactional ids of the flow's MM2 tasks (an exactly-once task would otherwise
//!   commit, after the fence, a transaction it opened before it; EndTxn needs no topic
//!   permission): PREFIXED `<worker group>-<source connector>-`, or every id (`*`) when
//!   no Connect worker group is found (`mirror_transactional_ids`).
//! - `app-writes`: the application principals may no longer WRITE any in-scope topic.
//!
//! Both also deny WRITE on the deltas topic (`replication.deltas_topic`, the backup DC's
//! copy of what `deltas record` records): only kafka-dr writes it.
//!
//! Bindings are LITERAL for every in-scope name known (on the cluster, on the other
//! clusters when they answer quickly, and in the journal), plus PREFIXED where a topics or
//! groups `include` regex is a literal prefix followed by `.*` (so names created later are
//! covered), unless that prefix would also cover an out-of-scope name. For the
//! replication fence, an `include` regex that is not of that shape (`app\.(a|b)-.*`,
//! `app\.[0-9]+`) gets a PREFIXED binding on the literal all its matches start with
//! (`app.`), under the same conditions: it may also cover names created later that the
//! regex does not match, for the mirror principal and while the fence is in force only,
//! which is the price of covering the names the regex matches; a regex without such a
//! literal start is reported as not proved for names created later. Nothing is ever
//! denied on Connect's or MM2's internal topics, nor on out-of-scope names that exist.
//!
//! What proves a fence (decided for issue 9): kafka-dr holds only its own admin
//! credentials, so it cannot produce as the mirror principal to see a write refused.
//! The proof is what the brokers enforce, read back: (1) every journaled binding is in
//! force (DescribeAcls), (2) every in-scope topic the cluster has now is denied for every
//! fenced operation, (3) no fenced principal is a super user and every broker has an
//! authorizer (a super user ignores every DENY, so the step fails, before creating
//! anything, saying what to change): `super.users` and `authorizer.class.name` are read
//! with DescribeConfigs on each broker resource, and a fenced principal that is kafka-dr's
//! own (its SASL user) is refused too, as it is a super user or would fence kafka-dr out.
//! Kafka (4.1 included) reports `super.users` and `allow.everyone.if.no.acl.found` as
//! sensitive, without a value, since they are the authorizer's keys, not the broker's:
//! then that check is named as not made. (4) The replication fence denies CREATE on the
//! cluster resource.
//! `allow.everyone.if.no.acl.found` is read too: it does not weaken a DENY (a matching
//! DENY always wins), but with it `true` a resource that had no ACL admitted everyone and
//! now admits only principals with an ALLOW binding, which the plan says. Watching the
//! high watermarks stand still after MM2 is stopped is kept as an extra signal (it
//! catches a writer the fence does not cover) but is no proof on its own. "Proved" is
//! printed only when every check was made and passed; a check that could not be made
//! (DescribeConfigs denied, a hidden value) is named in the plan notes and verify prints
//! "Unproved" with the reasons.
//!
//! Every fence is journaled with its exact bindings; `fence.lift` deletes exactly those
//! (DeleteAcls with exact filters), so bindings an operator made by hand are never
//! touched. This module writes to a cluster only through CreateAcls and DeleteAcls.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::common::first_line;
use super::{common, ActionError};
use crate::engine::StepContext;
use crate::error::Error;
use crate::journal::{FenceRow, Journal};
use crate::kafka::{
    AclBinding, AclFilter, AclOperation, AclPermission, KafkaClient, PatternType, ResourceType,
};
use crate::runbook::StepDef;
use crate::topology::{MirrorMaker, Topology};

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
    pub(super) fn topic_operations(self) -> &'static [AclOperation] {
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
    pub(super) fn group_operations(self) -> &'static [AclOperation] {
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

pub(super) fn parse_fence(
    step: &StepDef,
    action: &'static str,
    name: &str,
) -> Result<Fence, ActionError> {
    Fence::parse(name).ok_or_else(|| ActionError::Params {
        step: step.id.clone(),
        action,
        reason: format!(
            "unknown fence `{name}`\nhelp: `fence` must be `replication-into-backup` or `app-writes`"
        ),
    })
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
pub(super) fn leading_literal(regex: &str) -> String {
    if has_top_level_alternation(regex) {
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

/// True when `regex` matches exactly one name, spelled out (a literal topic or group
/// name, possibly with escaped punctuation): a literal binding covers it.
pub(super) fn literal_whole(regex: &str) -> bool {
    let r = regex.strip_prefix('^').unwrap_or(regex);
    let r = r.strip_suffix('$').unwrap_or(r);
    let mut chars = r.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if n.is_ascii_punctuation() => {}
                _ => return false,
            },
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' => {
                return false
            }
            _ => {}
        }
    }
    !r.is_empty()
}

/// True when `regex` has a `|` outside every group and class (`a|b`), so its matches
/// need not share a start; `a(b|c)` has none.
pub(super) fn has_top_level_alternation(regex: &str) -> bool {
    let (mut depth, mut in_class) = (0usize, false);
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth = depth.saturating_sub(1),
            '|' if !in_class && depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// True when no name starting with `prefix` can match `exclude`.
pub(super) fn disjoint(prefix: &str, exclude: &str) -> bool {
    let lit = leading_literal(exclude);
    !prefix.starts_with(&lit) && !lit.starts_with(prefix)
}

/// The well-known names of Kafka's, Connect's and MM2's own topics (for `alias` in the
/// topology), which a prefixed binding must not cover.
pub(super) fn known_internal_topics(topology: &Topology) -> Vec<String> {
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
pub(super) struct Known {
    pub(super) topics: BTreeSet<String>,
    pub(super) groups: BTreeSet<String>,
    pub(super) topic_prefixes: BTreeSet<String>,
    pub(super) group_prefixes: BTreeSet<String>,
    pub(super) notes: Vec<String>,
}

/// Every topic name on `client`'s cluster (in scope or not), for the prefix checks.
pub(super) fn all_topics(client: &KafkaClient, timeout: Duration) -> Result<Vec<String>, Error> {
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
pub(super) struct PrefixScope<'a> {
    /// `topic` or `group`, for notes.
    pub(super) what: &'a str,
    pub(super) cluster: &'a str,
    pub(super) include: &'a [String],
    pub(super) exclude: &'a [String],
    /// Source-side prefix -> the prefixes as named on the fenced cluster.
    pub(super) map: &'a dyn Fn(&str) -> Vec<String>,
    /// Every name of that kind on the fenced cluster, in scope or not.
    pub(super) existing: &'a [String],
    pub(super) in_scope: &'a dyn Fn(&str) -> bool,
    /// Well-known internal names (or name prefixes) a prefix must not cover.
    pub(super) internal: &'a [String],
    /// For an `include` regex that is not a literal followed by `.*`, fall back to the
    /// literal every match starts with (see the module doc): names created later under
    /// it are covered, at the price of also covering names under it the regex does not
    /// match (never one that exists now and is out of scope).
    pub(super) loose: bool,
}

/// How notes on checks that could not be made start (verify then prints "Unproved").
pub(super) const UNPROVED: &str = "not proved: ";

pub(super) fn derive_prefixes(s: &PrefixScope<'_>, notes: &mut Vec<String>) -> BTreeSet<String> {
    let (what, cluster) = (s.what, s.cluster);
    let mut out = BTreeSet::new();
    for regex in s.include {
        let prefix = match literal_prefix(regex) {
            Some(p) => p,
            None if !s.loose => continue,
            None => {
                let lit = leading_literal(regex);
                if lit.is_empty() || literal_whole(regex) {
                    if !literal_whole(regex) {
                        notes.push(format!(
                            "{UNPROVED}{what}s matching `{regex}` on `{cluster}` created after the fence are not covered: the regex has no literal start to bind a PREFIXED binding to; only the {what}s known now are fenced (literal bindings)"
                        ));
                    }
                    continue;
                }
                notes.push(format!(
                    "{what}s matching `{regex}` are fenced by a PREFIXED binding on `{lit}` (the literal every match starts with): while the fence is in force it also covers new {what}s under `{lit}` that the regex does not match"
                ));
                lit
            }
        };
        if let Some(e) = s.exclude.iter().find(|e| !disjoint(&prefix, e)) {
            notes.push(format!(
                "{}no PREFIXED binding for {what}s starting with `{prefix}`: exclude `{e}` may match names under it; only the {what}s known now are fenced (literal bindings)",
                if s.loose { UNPROVED } else { "" }
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
                    "{}no PREFIXED binding for {what}s starting with `{mapped}` on `{cluster}`: it would also cover `{n}`, which is out of scope; only the {what}s known now are fenced (literal bindings)",
                    if s.loose { UNPROVED } else { "" }
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
pub(super) fn known_names(
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
            loose: fence == Fence::ReplicationIntoBackup,
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
                loose: fence == Fence::ReplicationIntoBackup,
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
    let mut known = known_names(ctx, fence, cluster, client, timeout)?;
    let txn_ids = if fence == Fence::ReplicationIntoBackup {
        let (ids, note) = mirror_transactional_ids(topology, cluster, client, timeout);
        known.notes.push(note);
        ids
    } else {
        Vec::new()
    };
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
        // The backup DC's copy of the recorded deltas (`actions::deltas_topic`) is
        // written by kafka-dr alone; neither the mirror nor an application may write it.
        add(
            ResourceType::Topic,
            &topology.replication.deltas_topic,
            PatternType::Literal,
            AclOperation::Write,
        );
        if fence == Fence::ReplicationIntoBackup {
            // Kafka authorizes CreateTopics on the cluster resource first: a principal
            // allowed CREATE there creates any topic whatever the topic bindings say.
            // Denied there, the topic bindings decide (in-scope names are denied).
            add(
                ResourceType::Cluster,
                ResourceType::CLUSTER_NAME,
                PatternType::Literal,
                AclOperation::Create,
            );
            // An exactly-once MM2 task writes in transactions, and EndTxn is authorized
            // on the transactional id alone: a transaction it opened before the fence
            // would commit after it (past the snapshot) without any topic WRITE. Denied
            // WRITE on its tasks' transactional ids, the principal can neither commit
            // nor start one (InitProducerId, AddPartitionsToTxn); the coordinator aborts
            // what is open when it times out.
            for (name, pattern) in &txn_ids {
                add(
                    ResourceType::TransactionalId,
                    name,
                    *pattern,
                    AclOperation::Write,
                );
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

/// The resource name the replication fence denies on transactional ids when it cannot
/// name the mirror's tasks' ids: Kafka's wildcard, every transactional id of the fenced
/// principal.
pub const TRANSACTIONAL_IDS: &str = "*";

/// The Connect connector whose tasks copy into `cluster`: the topology's source
/// connector of that flow, or, in MM2 dedicated mode, the name MM2 gives it (the
/// connector class's simple name).
fn source_connector_into<'a>(topology: &'a Topology, cluster: &str) -> &'a str {
    if let MirrorMaker::Dedicated(_) = topology.replication.mirror_maker {
        return "MirrorSourceConnector";
    }
    if cluster == topology.replication.backup {
        &topology.replication.forward_connectors.source
    } else {
        &topology.replication.reverse_connectors.source
    }
}

/// The transactional ids the replication fence on `cluster` denies WRITE on, with a
/// plan note saying which and why.
///
/// Connect names a source task's transactional id `<group.id>-<connector>-<task>`
/// (KIP-618), and an exactly-once worker writes its config topic with its own id,
/// `connect-cluster-<group.id>`. Denying every id (`*`) would also deny the worker's: it
/// could no longer write its config topic, its herder would stop answering REST, and
/// the backup's Connect would be wedged for the whole outage (seen on the lab with an
/// exactly-once MM2: `mirror.seed` of the failback found dc2's Connect mute). So the
/// fence denies the PREFIXED `<group.id>-<connector>-` of the flow's source connector,
/// for every Connect worker group the cluster coordinates (Connect workers keep their
/// group on the cluster they write to). When none is found (Connect down long enough for
/// its group to expire, the listing refused), it falls back to `*`, which never lets a
/// task's transaction through, and the note says what that costs.
pub(super) fn mirror_transactional_ids(
    topology: &Topology,
    cluster: &str,
    client: &KafkaClient,
    timeout: Duration,
) -> (Vec<(String, PatternType)>, String) {
    let connector = source_connector_into(topology, cluster);
    let mirror = &topology.replication.mirror_principal;
    let why_all = match client.connect_worker_groups(timeout) {
        Ok(groups) if !groups.is_empty() => {
            let ids: Vec<(String, PatternType)> = groups
                .iter()
                .map(|g| (format!("{g}-{connector}-"), PatternType::Prefixed))
                .collect();
            let names: Vec<String> = ids.iter().map(|(n, _)| format!("`{n}`")).collect();
            return (
                ids,
                format!(
                    "transactions: `{mirror}` is denied WRITE on the transactional ids of connector `{connector}`'s tasks (prefix {}, from the Connect worker group(s) `{cluster}` coordinates); the workers' own ids stay allowed, so an exactly-once worker still answers",
                    names.join(", ")
                ),
            );
        }
        Ok(_) => format!("`{cluster}` coordinates no Connect worker group (is its Connect down?)"),
        Err(e) => format!(
            "the Connect worker groups of `{cluster}` could not be listed ({})",
            first_line(&e.to_string())
        ),
    };
    (
        vec![(TRANSACTIONAL_IDS.to_string(), PatternType::Literal)],
        format!(
            "transactions: {why_all}: `{mirror}` is denied WRITE on every transactional id; an exactly-once Connect worker running as `{mirror}` cannot write its config topic, nor answer REST, until the fence is lifted"
        ),
    )
}

/// The DENY bindings of `principals` in force on `client`'s cluster.
pub(super) fn deny_bindings_of(
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
pub(super) fn in_force(
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
pub(super) fn row_bindings(row: &FenceRow) -> Result<Vec<AclBinding>, Error> {
    serde_json::from_value(row.bindings.clone()).map_err(|e| {
        Error::Usage(format!(
            "the journal's record of fence `{}` on `{}` (run {}) has unreadable bindings: {e}\nhelp: the journal may have been written by another kafka-dr version; list the fence's ACLs with `kafka-acls.sh --list` and remove them by hand",
            row.name, row.cluster, row.run_id
        ))
    })
}

/// The journal's active fence `fence` on `cluster`, if any.
pub(super) fn active_fence(
    journal: &Journal,
    cluster: &str,
    fence: Fence,
) -> Result<Option<FenceRow>, Error> {
    Ok(journal
        .active_fences(Some(cluster))?
        .into_iter()
        .find(|f| f.name == fence.name()))
}

/// What the brokers of a fenced cluster say about how they authorize, read with
/// DescribeConfigs on every broker resource.
#[derive(Debug, Default)]
pub(super) struct Authorizer {
    /// Reasons the fence cannot hold: a fenced principal is a super user, or a broker
    /// has no authorizer. Each names the broker.
    pub(super) bypass: Vec<String>,
    /// Checks that could not be made (the fence is then not proved).
    pub(super) unknown: Vec<String>,
    /// Facts worth a note (allow.everyone.if.no.acl.found=true).
    pub(super) notes: Vec<String>,
}

pub(super) const SUPER_USERS: &str = "super.users";
pub(super) const ALLOW_EVERYONE: &str = "allow.everyone.if.no.acl.found";
pub(super) const AUTHORIZER: &str = "authorizer.class.name";

/// Read `super.users`, `allow.everyone.if.no.acl.found` and `authorizer.class.name` on
/// every broker of `client`'s cluster, and judge them for the principals of `fence`.
pub(super) fn authorizer_facts(
    client: &KafkaClient,
    topology: &Topology,
    fence: Fence,
    cluster: &str,
    timeout: Duration,
) -> Result<Authorizer, Error> {
    let principals = fence.principals(topology);
    let mut out = Authorizer::default();
    let brokers = client.metadata(timeout)?.brokers;
    if brokers.is_empty() {
        out.unknown.push(format!(
            "`{cluster}` reports no broker: `{SUPER_USERS}` could not be read"
        ));
    }
    let mut everyone: Vec<i32> = Vec::new();
    let mut hidden_everyone: Vec<i32> = Vec::new();
    // kafka-dr's own principal here, when its client settings name it.
    if let Some(own) = own_principal(topology, cluster) {
        for p in principals.iter().filter(|p| **p == own) {
            out.bypass.push(format!(
                "{p} is the principal kafka-dr itself connects to `{cluster}` as, which may create and delete ACLs: a fence on it is either ignored (kafka-dr's principal is usually a super user, and a super user ignores every DENY binding) or locks kafka-dr out of its own next steps"
            ));
        }
    }
    for b in &brokers {
        let values = match client.broker_config_values(
            b.id,
            &[SUPER_USERS, ALLOW_EVERYONE, AUTHORIZER],
            timeout,
        ) {
            Ok(v) => v,
            Err(e) => {
                out.unknown.push(format!(
                    "cannot read the configuration of broker {} of `{cluster}` ({}): whether {} is a super user there (a super user ignores every DENY) is unknown; kafka-dr's principal needs DESCRIBE_CONFIGS on the cluster resource",
                    b.id,
                    first_line(&e.to_string()),
                    principals.join(", ")
                ));
                continue;
            }
        };
        judge_broker(
            b.id,
            &values,
            &principals,
            cluster,
            &mut out,
            &mut everyone,
            &mut hidden_everyone,
        );
    }
    if !hidden_everyone.is_empty() {
        out.notes.push(format!(
            "broker(s) {hidden_everyone:?} of `{cluster}` hide the value of `{ALLOW_EVERYONE}`: it does not weaken the fence (a matching DENY always wins), but if it is `true`, a fenced resource that had no ACL before admitted everyone and now admits only principals with an ALLOW binding"
        ));
    }
    if !everyone.is_empty() {
        out.notes.push(format!(
            "`{ALLOW_EVERYONE}=true` on broker(s) {:?} of `{cluster}`: the fence's DENY bindings still win for {}, but a resource that had no ACL before now has one, so there every other principal needs an ALLOW binding: check that the applications still read and write the fenced topics and groups",
            everyone,
            principals.join(", ")
        ));
    }
    Ok(out)
}

/// Judge one broker's `super.users`, `authorizer.class.name` and
/// `allow.everyone.if.no.acl.found` (as [`KafkaClient::broker_config_values`] gives them)
/// for the fenced `principals`.
pub(super) fn judge_broker(
    id: i32,
    values: &BTreeMap<String, Option<String>>,
    principals: &[String],
    cluster: &str,
    out: &mut Authorizer,
    everyone: &mut Vec<i32>,
    hidden_everyone: &mut Vec<i32>,
) {
    // Absent: not configured (a broker reports every key set in its properties).
    // Hidden: Kafka (4.1 included) reports a key it does not define itself, as
    // `super.users` (the authorizer's), as sensitive, with no value.
    match values.get(SUPER_USERS) {
        Some(None) => out.unknown.push(format!(
            "broker {} of `{cluster}` hides the value of `{SUPER_USERS}` (Kafka reports it as sensitive): whether {} is a super user there (a super user ignores every DENY) cannot be read; check that the brokers' `{SUPER_USERS}` does not list it",
            id,
            principals.join(", ")
        )),
        Some(Some(list)) => {
            let supers: BTreeSet<&str> =
                list.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
            for p in principals.iter().filter(|p| supers.contains(p.as_str())) {
                out.bypass.push(format!(
                    "{p} is a super user on broker {} (`{SUPER_USERS}={list}`), and a super user ignores every DENY binding",
                    id
                ));
            }
        }
        None => {}
    }
    match values.get(AUTHORIZER) {
        Some(Some(a)) if !a.trim().is_empty() => {}
        Some(None) => out.unknown.push(format!(
            "broker {} of `{cluster}` hides `{AUTHORIZER}`: whether it enforces ACLs is unknown",
            id
        )),
        Some(Some(_)) => out.bypass.push(format!(
            "broker {} has no authorizer (`{AUTHORIZER}` is empty), so it enforces no ACL at all",
            id
        )),
        // Not reported (not Apache Kafka?): nothing to judge by.
        None => out.unknown.push(format!(
            "broker {} of `{cluster}` does not report `{AUTHORIZER}`: whether it enforces ACLs is unknown",
            id
        )),
    }
    match values.get(ALLOW_EVERYONE) {
        Some(Some(v)) if v.trim().eq_ignore_ascii_case("true") => everyone.push(id),
        Some(Some(_)) => {}
        // Unset: Kafka's default is false.
        None => {}
        Some(None) => hidden_everyone.push(id),
    }
}

/// The principal kafka-dr connects to `cluster` as, when its client settings say it:
/// `User:<sasl.username>` for SASL PLAIN or SCRAM. None otherwise (mTLS maps a
/// certificate with the brokers' rules, OAUTHBEARER and GSSAPI name it elsewhere).
pub(super) fn own_principal(topology: &Topology, cluster: &str) -> Option<String> {
    let c = topology.client_config(cluster).ok()?;
    let protocol = c.get("security.protocol")?.to_ascii_uppercase();
    let mechanism = c
        .get("sasl.mechanism")
        .unwrap_or("GSSAPI")
        .to_ascii_uppercase();
    let named = protocol.starts_with("SASL")
        && matches!(
            mechanism.as_str(),
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
        );
    named
        .then(|| c.get("sasl.username").map(|u| format!("User:{u}")))
        .flatten()
}

/// The refusal for a fence the brokers would ignore.
pub(super) fn cannot_hold(fence: Fence, cluster: &str, bypass: &[String]) -> Error {
    let help = match fence {
        Fence::ReplicationIntoBackup => format!(
            "remove the mirror principal from `{SUPER_USERS}` on every broker of `{cluster}` (a static broker config: it takes a rolling restart), or run MirrorMaker 2 as another, non-super, principal and set `replication.mirror_principal` in the topology to it; make sure every broker sets `{AUTHORIZER}`"
        ),
        Fence::AppWrites => format!(
            "remove the application principals from `{SUPER_USERS}` on every broker of `{cluster}` (a rolling restart), or give the applications non-super principals; make sure every broker sets `{AUTHORIZER}`"
        ),
    };
    ActionError::FenceCannotHold {
        fence: fence.name().to_string(),
        cluster: cluster.to_string(),
        reason: bypass.join("; "),
        help,
    }
    .into()
}

/// Whether `principal` has a topic-level ALLOW CREATE (which Kafka consults once CREATE on
/// the cluster resource is denied), for the note on MM2's own topics.
pub(super) fn may_create_some_topic(
    client: &KafkaClient,
    principal: &str,
    timeout: Duration,
) -> bool {
    let filter = AclFilter {
        resource_type: Some(ResourceType::Topic),
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
        .unwrap_or(true)
}

/// In-scope topics (of `topics`) that some fenced operation of `principal` is not denied
/// on by any of `bindings` (literal, prefixed or the `*` wildcard).
pub(super) fn uncovered_topics(
    topics: &[String],
    bindings: &[AclBinding],
    principal: &str,
    ops: &[AclOperation],
) -> Vec<String> {
    uncovered_names(ResourceType::Topic, topics, bindings, principal, ops)
}

/// Names of `resource_type` that some operation of `ops` of `principal` is not denied on
/// by any of `bindings`.
pub(super) fn uncovered_names(
    resource_type: ResourceType,
    names: &[String],
    bindings: &[AclBinding],
    principal: &str,
    ops: &[AclOperation],
) -> Vec<String> {
    let covers = |b: &AclBinding, t: &str, op: AclOperation| {
        b.resource_type == resource_type
            && b.permission == AclPermission::Deny
            && b.host == "*"
            && (b.principal == principal || b.principal == "User:*")
            && (b.operation == op || b.operation == AclOperation::All)
            && match b.pattern {
                PatternType::Literal => b.name == t || b.name == "*",
                PatternType::Prefixed => t.starts_with(&b.name),
                PatternType::Unknown => false,
            }
    };
    names
        .iter()
        .filter(|t| {
            ops.iter()
                .any(|&op| !bindings.iter().any(|b| covers(b, t, op)))
        })
        .cloned()
        .collect()
}
/// Delete the bindings of the active fence `fence` on `cluster` and journal it lifted.
/// Returns how many bindings existed and were deleted (0 when no fence was active).
pub(super) fn lift_active(
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
        // The first binding alone, then the rest (a crash point between the two).
        let (first, rest) = bindings.split_at(1);
        let mut deleted = client.delete_acls(first, timeout)?;
        if !rest.is_empty() {
            crate::engine::crash::crash_point("fence.lift:binding-deleted");
            deleted.extend(client.delete_acls(rest, timeout)?);
        }
        deleted
    };
    journal.lift_fence(cluster, fence.name())?;
    Ok(deleted.len())
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
    use crate::actions::test_support::Fixture;

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
    fn regex_shapes() {
        assert!(literal_whole("app\\.orders"));
        assert!(literal_whole("^app\\.orders$"));
        assert!(!literal_whole("app\\..*"));
        assert!(!literal_whole("app\\.[a-z]+"));
        assert!(!literal_whole(""));
        assert!(has_top_level_alternation("a|b"));
        assert!(!has_top_level_alternation("app\\.(a|b)-.*"));
        assert!(!has_top_level_alternation("app\\.[|]x"));
        assert!(!has_top_level_alternation("app\\|x"));
        // A group's alternation does not hide the common start.
        assert_eq!(leading_literal("app\\.(orders|pay)-[0-9]+"), "app.");
        assert_eq!(leading_literal("app\\.[a-z]+-[0-9]+"), "app.");
        assert_eq!(leading_literal("orders|app\\..*"), "");
    }

    #[test]
    fn coverage_of_topics_by_bindings() {
        let deny = |name: &str, pattern: PatternType, op: AclOperation| AclBinding {
            resource_type: ResourceType::Topic,
            name: name.to_string(),
            pattern,
            principal: "User:mirror".to_string(),
            host: "*".to_string(),
            operation: op,
            permission: AclPermission::Deny,
        };
        let ops = [AclOperation::Write, AclOperation::Create];
        let bindings = vec![
            deny("app.", PatternType::Prefixed, AclOperation::Write),
            deny("app.", PatternType::Prefixed, AclOperation::Create),
            deny("other.x", PatternType::Literal, AclOperation::Write),
        ];
        let topics: Vec<String> = ["app.a", "other.x", "zzz"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            uncovered_topics(&topics, &bindings, "User:mirror", &ops),
            vec!["other.x".to_string(), "zzz".to_string()]
        );
        // Another principal's bindings cover nothing.
        assert_eq!(
            uncovered_topics(&topics[..1], &bindings, "User:app", &ops),
            vec!["app.a".to_string()]
        );
        let all = vec![deny("*", PatternType::Literal, AclOperation::All)];
        assert!(uncovered_topics(&topics, &all, "User:mirror", &ops).is_empty());
        // A topic binding does not cover a group of the same name.
        let groups = vec!["app.a".to_string()];
        assert_eq!(
            uncovered_names(
                ResourceType::Group,
                &groups,
                &bindings,
                "User:mirror",
                &[AclOperation::Read]
            ),
            groups
        );
        let mut g = deny("app.", PatternType::Prefixed, AclOperation::Read);
        g.resource_type = ResourceType::Group;
        assert!(uncovered_names(
            ResourceType::Group,
            &groups,
            &[g],
            "User:mirror",
            &[AclOperation::Read]
        )
        .is_empty());
    }

    #[test]
    fn broker_configs_judged() {
        let judge = |pairs: &[(&str, Option<&str>)]| {
            let values: BTreeMap<String, Option<String>> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(String::from)))
                .collect();
            let (mut out, mut every, mut hidden) = (Authorizer::default(), vec![], vec![]);
            judge_broker(
                3,
                &values,
                &["User:mirror".to_string()],
                "dc2",
                &mut out,
                &mut every,
                &mut hidden,
            );
            (out, every, hidden)
        };
        const SA: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
        // Readable, listing the mirror principal: the fence cannot hold.
        let (out, _, _) = judge(&[
            (SUPER_USERS, Some("User:admin; User:mirror")),
            (AUTHORIZER, Some(SA)),
        ]);
        assert_eq!(out.bypass.len(), 1, "{out:?}");
        assert!(out.bypass[0].contains("User:mirror is a super user on broker 3"));
        // Readable, not listing it; a longer name is not the same principal.
        let (out, every, _) = judge(&[
            (SUPER_USERS, Some("User:admin;User:mirror2")),
            (AUTHORIZER, Some(SA)),
            (ALLOW_EVERYONE, Some("true")),
        ]);
        assert!(out.bypass.is_empty() && out.unknown.is_empty(), "{out:?}");
        assert_eq!(every, vec![3]);
        // Hidden (Kafka 4.1): not proved, not refused.
        let (out, _, hidden) = judge(&[
            (SUPER_USERS, None),
            (AUTHORIZER, Some(SA)),
            (ALLOW_EVERYONE, None),
        ]);
        assert!(out.bypass.is_empty(), "{out:?}");
        assert!(out.unknown[0].contains("hides the value of `super.users`"));
        assert_eq!(hidden, vec![3]);
        // No authorizer: no ACL is enforced at all.
        let (out, _, _) = judge(&[(AUTHORIZER, Some(""))]);
        assert!(out.bypass[0].contains("has no authorizer"), "{out:?}");
        let (out, _, _) = judge(&[]);
        assert!(out.bypass.is_empty(), "{out:?}");
        assert!(out.unknown[0].contains("does not report `authorizer.class.name`"));
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
