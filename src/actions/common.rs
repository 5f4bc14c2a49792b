//! What several actions share: reaching a cluster or its Connect worker with the
//! topology's settings and a timeout, and resolving the role words `primary` and
//! `backup` in runbook parameters to cluster names.
//!
//! Roles are read from the journal (seeded from the topology until a run records a role
//! change), as they stood when the current run STARTED: a failover run that promotes the
//! backup half-way still means the same clusters by `primary` and `backup` in its later
//! steps, and on resume.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::connect::ConnectClient;
use crate::engine::StepContext;
use crate::error::Error;
use crate::journal::{Journal, Role};
use crate::kafka::KafkaClient;
use crate::topology::Topology;

/// The default bound on one network call.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound on a look at a cluster a step can do without (is the primary up?): a
/// cluster that refuses connections is known at once; one that does not answer at all
/// costs this, once per run (`kafka::ClusterPool`).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Which cluster is primary and which is backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roles {
    pub primary: String,
    pub backup: String,
}

/// The roles as they stand now: the journal's latest role changes, else the topology.
pub fn current_roles(topology: &Topology, journal: &Journal) -> Result<Roles, Error> {
    roles_before(topology, journal, None)
}

/// The roles before run `run_id` changed anything (all changes when `None`).
pub fn roles_before(
    topology: &Topology,
    journal: &Journal,
    run_id: Option<i64>,
) -> Result<Roles, Error> {
    let mut by_cluster: BTreeMap<String, Role> = BTreeMap::new();
    by_cluster.insert(topology.replication.primary.clone(), Role::Primary);
    by_cluster.insert(topology.replication.backup.clone(), Role::Backup);
    for change in journal.role_history()? {
        if run_id.is_some() && change.run_id == run_id {
            continue;
        }
        by_cluster.insert(change.cluster.clone(), change.role);
    }
    let find = |role: Role| {
        by_cluster
            .iter()
            .filter(|(_, r)| **r == role)
            .map(|(c, _)| c.clone())
            .next_back()
    };
    match (find(Role::Primary), find(Role::Backup)) {
        (Some(primary), Some(backup)) if primary != backup => Ok(Roles { primary, backup }),
        _ => Err(Error::Usage(format!(
            "the journal's role history does not name one primary and one backup among {:?}\nhelp: `kafka-dr runs list` shows the runs that changed roles",
            by_cluster.keys().collect::<Vec<_>>()
        ))),
    }
}

/// Roles for the step being run: as they were when its run started.
pub fn run_roles(ctx: &StepContext<'_>) -> Result<Roles, Error> {
    roles_before(ctx.topology, ctx.journal, Some(ctx.run_id))
}

/// A cluster named in a parameter: `primary`/`backup` mean the roles at run start;
/// anything else must be a cluster of the topology.
pub fn resolve_cluster(ctx: &StepContext<'_>, name: &str) -> Result<String, Error> {
    let roles = run_roles(ctx)?;
    let resolved = match name {
        "primary" => roles.primary,
        "backup" => roles.backup,
        other => other.to_string(),
    };
    ctx.topology.cluster(&resolved)?;
    Ok(resolved)
}

/// A connected Kafka client for `cluster` (checks reachability and credentials within
/// `timeout`).
pub fn kafka(topology: &Topology, cluster: &str, timeout: Duration) -> Result<KafkaClient, Error> {
    let config = topology.client_config(cluster)?;
    let pairs: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(KafkaClient::connect(cluster, pairs, timeout)?)
}

/// The run's client for `cluster`: connected on first use (within `timeout`) and shared
/// by the later steps of the run; a cluster that did not answer earlier in the run is
/// re-checked only briefly (see `kafka::ClusterPool`), so a dead primary costs its
/// timeout once per run, not once per step.
pub fn kafka_in(
    ctx: &StepContext<'_>,
    cluster: &str,
    timeout: Duration,
) -> Result<Arc<KafkaClient>, Error> {
    let config = ctx.topology.client_config(cluster)?;
    let pairs: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(ctx.clusters.client(cluster, pairs, timeout)?)
}

/// `cluster`'s client from `clusters` (connected on first use), outside a step.
pub fn pooled(
    clusters: &crate::kafka::ClusterPool,
    topology: &Topology,
    cluster: &str,
    timeout: Duration,
) -> Result<Arc<KafkaClient>, Error> {
    let config = topology.client_config(cluster)?;
    let pairs: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(clusters.client(cluster, pairs, timeout)?)
}

/// `pooled`, asking a cluster that answered before again (`ClusterPool::client_verified`):
/// for `--follow`, whose clusters may go away and come back between passes.
pub fn pooled_verified(
    clusters: &crate::kafka::ClusterPool,
    topology: &Topology,
    cluster: &str,
    timeout: Duration,
) -> Result<Arc<KafkaClient>, Error> {
    let config = topology.client_config(cluster)?;
    let pairs: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(clusters.client_verified(cluster, pairs, timeout)?)
}

/// How many requests of one kind a step keeps in flight to a cluster at once (one
/// thread each, sharing the run's client).
pub const IN_FLIGHT: usize = 16;

/// `f` over `items` on up to `IN_FLIGHT` threads, results in input order. For per-group
/// requests (OffsetFetch, AlterConsumerGroupOffsets) that Kafka only answers one group
/// at a time: a thousand of them one after another is seconds of RTO.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(IN_FLIGHT);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            // A panic in `f` is a bug: carry it to the caller's thread as one.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The Connect client for the worker that writes INTO `cluster`, if the topology names one.
pub fn connect(
    topology: &Topology,
    cluster: &str,
    timeout: Duration,
) -> Result<Option<ConnectClient>, Error> {
    match topology.connect_endpoint(cluster)? {
        Some(endpoint) => Ok(Some(ConnectClient::from_endpoint(
            cluster, &endpoint, timeout,
        )?)),
        None => Ok(None),
    }
}

/// Every in-scope partition of `client`'s cluster, as (topic, partition), sorted. On a
/// backup with the prefix policy, topics are matched by their source name.
pub fn in_scope_partitions(
    topology: &Topology,
    client: &KafkaClient,
    timeout: Duration,
) -> Result<Vec<(String, i32)>, Error> {
    let md = client.metadata(timeout)?;
    let mut out = Vec::new();
    for t in &md.topics {
        if in_scope_topic(topology, &t.name) {
            for p in &t.partitions {
                out.push((t.name.clone(), *p));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// True when `topic` (as named on either cluster) is in scope.
pub fn in_scope_topic(topology: &Topology, topic: &str) -> bool {
    let r = &topology.replication;
    if r.topics.matches(topic) {
        return true;
    }
    // A prefixed replica `<alias>.<topic>` is in scope when its source topic is.
    topology.cluster_names().iter().any(|alias| {
        topic
            .strip_prefix(&format!("{alias}."))
            .is_some_and(|src| r.policy.target_topic(alias, src) == topic && r.topics.matches(src))
    })
}

/// The promotion the current roles come from: the run that last changed roles, and the
/// new primary's watermark snapshot taken in that run (what it held at the fence: the
/// promotion cut). Failback steps work from this cut.
#[derive(Debug, Clone)]
pub struct PromotionCut {
    pub run_id: i64,
    /// The cluster that was promoted (the current primary).
    pub new_primary: String,
    /// The cluster that was primary before (the old primary, now backup).
    pub old_primary: String,
    /// (topic, partition) -> where the new primary's committed data ended at the
    /// promotion: its last stable offset (its log end when no transaction was open).
    pub new_primary_end: BTreeMap<(String, i32), i64>,
    /// (topic, partition) -> the new primary's log end (high watermark) at the promotion:
    /// where the reverse mirror starts copying back. Records in
    /// `[new_primary_end, new_primary_seed)` were an open transaction of the old flow
    /// (an exactly-once MM2 task's), which the replication fence keeps from committing:
    /// never application data, never to be copied back.
    pub new_primary_seed: BTreeMap<(String, i32), i64>,
    /// (topic, partition) -> earliest offset of the new primary at the promotion.
    pub new_primary_start: BTreeMap<(String, i32), i64>,
    pub taken_at: String,
}

/// Find the promotion cut, or say clearly why there is none.
pub fn promotion_cut(topology: &Topology, journal: &Journal) -> Result<PromotionCut, Error> {
    let history = journal.role_history()?;
    let Some(last) = history.iter().rev().find(|c| c.run_id.is_some()) else {
        return Err(Error::Usage(
            "no promotion in the journal: failback needs the cut recorded by `kafka-dr failover promote`\nhelp: run failback with the journal the failover used (`--journal`)".into(),
        ));
    };
    let run_id = last.run_id.unwrap_or_default();
    let roles = current_roles(topology, journal)?;
    let snap = journal.run_watermarks(run_id, &roles.primary)?.ok_or_else(|| {
        Error::Usage(format!(
            "run {run_id} promoted `{}` but recorded no watermark snapshot of it: the promotion cut is unknown\nhelp: `kafka-dr runs show {run_id}` shows what that run did",
            roles.primary
        ))
    })?;
    let mut end = BTreeMap::new();
    let mut seed = BTreeMap::new();
    let mut start = BTreeMap::new();
    for p in &snap.partitions {
        // The cut is the last stable offset, not the high watermark: records past it
        // belong to transactions still open at the promotion (an exactly-once MM2 task's,
        // say), which the fence keeps from ever committing.
        end.insert((p.topic.clone(), p.partition), p.committed_end());
        seed.insert((p.topic.clone(), p.partition), p.latest);
        start.insert((p.topic.clone(), p.partition), p.earliest);
    }
    Ok(PromotionCut {
        run_id,
        new_primary: roles.primary,
        old_primary: roles.backup,
        new_primary_end: end,
        new_primary_seed: seed,
        new_primary_start: start,
        taken_at: snap.taken_at,
    })
}

/// The first line of a message (the error, without its help lines), for a plan note or
/// a warning that quotes another error in one line.
pub(crate) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The newest checkpoint per `(group, target-side topic, partition)` in MM2's checkpoints
/// topic `topic`: `(upstream offset, timestamp ms)`. Empty when it cannot be read (the
/// callers conclude nothing then).
pub fn newest_checkpoints(
    client: &KafkaClient,
    topic: &str,
    timeout: Duration,
) -> BTreeMap<(String, String, i32), (i64, i64)> {
    let mut out = BTreeMap::new();
    for c in client.read_checkpoints(topic, timeout).unwrap_or_default() {
        // In log order: a later record of the same key replaces the earlier one.
        out.insert(
            (c.group, c.topic, c.partition),
            (c.upstream, c.timestamp_ms),
        );
    }
    out
}
