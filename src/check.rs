//! `kafka-dr check`: the read-only preflight an operator runs before trusting a failover.
//!
//! Per cluster: reachable, authenticated, cluster id, brokers, in-scope topics and
//! groups, and whether our principal may describe/alter ACLs (cluster ALTER/DESCRIBE)
//! and read the in-scope groups (what AlterConsumerGroupOffsets needs). Per flow: the
//! MM2 connectors and their tasks from Connect REST. Then the replication lag per
//! partition right now: the RPO you would have if the primary died this second. A
//! warning when MM2 reads the primary read_uncommitted while it has transactional
//! producers (aborted records would reach the backup as ordinary ones). An error for
//! records the primary expired before MM2 copied them (`dr::gaps`). Every
//! finding becomes a `Problem` with a severity (`Severity`: error, warning, info, by
//! what the operator must do) and, when there is a next step, a `help` line; the exit
//! code follows the worst severity (an error exits 3, warnings and info exit 0).
//! Nothing here writes to any cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::connect::ConnectClient;
use crate::kafka::{AclOperation, KafkaClient};
use crate::topology::{Policy, Topology};

/// How much a problem matters, by what the operator must do about it. Ordered from
/// the least to the worst, so the worst of a report is its `max()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing to do: a state worth knowing (no in-scope topic yet, so MM2 runs no task).
    Info,
    /// A failover would work, but lose more, duplicate more or be less safe than it
    /// should: fix it soon. `check` still exits 0.
    Warning,
    /// A failover would fail or lose data as things stand: fix it first. `check` exits 3.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Something the operator should know or fix.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// What it is about: `cluster dc1`, `connector mm2-dc1-dc2-source`, `topic app.x`...
    pub subject: String,
    pub message: String,
    pub help: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterCheck {
    pub name: String,
    pub role: String,
    pub bootstrap: String,
    pub reachable: bool,
    pub authenticated: bool,
    pub cluster_id: Option<String>,
    pub brokers: Vec<String>,
    pub topics_in_scope: Vec<String>,
    pub groups_in_scope: Vec<String>,
    pub may_describe_acls: Option<bool>,
    pub may_alter_acls: Option<bool>,
    /// In-scope groups whose offsets our principal may not read or alter.
    pub groups_not_alterable: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectorCheck {
    pub name: String,
    pub state: String,
    pub tasks: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowCheck {
    /// `dc1->dc2`.
    pub flow: String,
    pub connect_url: Option<String>,
    pub reachable: bool,
    pub connect_version: Option<String>,
    pub connectors: Vec<ConnectorCheck>,
    /// Whether MM2's source connector copies exactly-once, and why (from its config);
    /// `None` when its config could not be read.
    pub delivery: Option<FlowDelivery>,
}

/// How MM2's source connector delivers into the target.
#[derive(Debug, Clone, Serialize)]
pub struct FlowDelivery {
    pub exactly_once: bool,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Log start offset on the primary.
    pub primary_start: i64,
    /// Log end offset on the primary.
    pub primary_end: i64,
    /// Next upstream offset MM2 will copy (from its source offsets), if known.
    pub next_to_copy: Option<i64>,
    /// Records on the primary not yet copied: what this partition would lose now.
    pub lag: i64,
    /// How the lag was measured: `mm2-offsets` (exact) or `log-end` (backup log end
    /// compared with the primary's: approximate, offsets differ between clusters).
    pub method: String,
}

/// The MM2 shape `check` found, and what kafka-dr does with it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ShapeCheck {
    /// The topology's `replication.policy`: `identity` or `prefix`.
    pub policy: String,
    /// How MM2 runs: `connect` (connectors on a Connect cluster, reached over REST).
    pub mode: String,
    /// The forward source connector's `replication.policy.class`, when Connect answered
    /// (`None` there: MM2's default, DefaultReplicationPolicy).
    pub mm2_policy_class: Option<String>,
    /// What a primary topic `T` is called on the backup, e.g. `dc1.T`.
    pub backup_name: String,
    /// What `failover promote` and `failback reverse` do with this shape.
    pub failover: String,
    pub failback: String,
}

/// MM2's policy classes, by the short name kafka-dr's topology uses.
const DEFAULT_POLICY_CLASS: &str = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy";
const IDENTITY_POLICY_CLASS: &str = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy";

/// The shape of the forward flow from the topology and the source connector's config
/// (when Connect answered), and the problem when the two disagree: translated offsets
/// and seeds would name topics MM2 does not write.
pub fn shape_of(
    policy: Policy,
    primary: &str,
    source_config: Option<&BTreeMap<String, String>>,
) -> (ShapeCheck, Option<Problem>) {
    let class = source_config.and_then(|c| c.get("replication.policy.class").cloned());
    let separator = source_config
        .and_then(|c| c.get("replication.policy.separator").cloned())
        .unwrap_or_else(|| ".".into());
    let (failover, failback) = match policy {
        Policy::Identity => (
            format!("groups' positions on `{primary}`'s topics are translated to the same names on the backup"),
            "the old primary's unreplicated tail is quarantined and removed; the reverse flow copies the same topic names back from the promotion cut, and never runs while a forward flow does (IdentityReplicationPolicy cannot stop a cycle)".to_string(),
        ),
        Policy::Prefix => (
            format!("groups' positions on `{primary}`'s `T` are translated to `{primary}.T` on the backup; applications there write their local `T`"),
            "the old primary's unreplicated tail is quarantined and removed, or with `--tail deliver` delivered late to its replica `<old>.T` on the new primary; the reverse flow copies the new primary's own topics back as `<new>.T` (no cycle: MM2 never copies a topic back to the cluster its prefix names)".to_string(),
        ),
    };
    let shape = ShapeCheck {
        policy: policy.as_str().to_string(),
        mode: "connect".to_string(),
        mm2_policy_class: class.clone(),
        backup_name: policy.target_topic(primary, "T"),
        failover,
        failback,
    };
    let Some(config) = source_config else {
        return (shape, None);
    };
    let effective = class.as_deref().unwrap_or(DEFAULT_POLICY_CLASS);
    let subject = format!(
        "connector {}",
        config.get("name").map(String::as_str).unwrap_or("source")
    );
    let mismatch = match policy {
        Policy::Identity => effective != IDENTITY_POLICY_CLASS,
        Policy::Prefix => effective != DEFAULT_POLICY_CLASS,
    };
    let problem = if mismatch {
        Some(Problem {
            severity: Severity::Error,
            subject,
            message: format!(
                "the topology says `policy: {}` but MM2 runs `{effective}`: kafka-dr would translate groups and seed the reverse flow on topic names MM2 does not write",
                policy.as_str()
            ),
            help: Some(match policy {
                Policy::Identity => "set `replication.policy: prefix` in the topology if MM2 runs DefaultReplicationPolicy, or configure the connectors with IdentityReplicationPolicy".to_string(),
                Policy::Prefix => "set `replication.policy: identity` in the topology if MM2 runs IdentityReplicationPolicy; kafka-dr knows no other policy class".to_string(),
            }),
        })
    } else if policy == Policy::Prefix && separator != "." {
        Some(Problem {
            severity: Severity::Error,
            subject,
            message: format!(
                "MM2 uses `replication.policy.separator` `{separator}`, but kafka-dr's `policy: prefix` names replicas `<alias>.<topic>`"
            ),
            help: Some("use MM2's default separator `.`".to_string()),
        })
    } else {
        None
    };
    (shape, problem)
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub topology: String,
    pub primary: String,
    pub backup: String,
    /// The MM2 shape found and what kafka-dr will do with it.
    pub shape: ShapeCheck,
    pub clusters: Vec<ClusterCheck>,
    pub flows: Vec<FlowCheck>,
    pub lag: Vec<PartitionLag>,
    /// Sum of the lags: the records lost if the primary died now.
    pub rpo_records: Option<i64>,
    pub problems: Vec<Problem>,
    /// True when there is no error-level problem.
    pub ok: bool,
}

impl CheckReport {
    /// The worst severity among the problems, `None` when there is none: what the exit
    /// code follows (an error exits 3; warnings and info exit 0).
    pub fn worst(&self) -> Option<Severity> {
        self.problems.iter().map(|p| p.severity).max()
    }

    /// How many problems have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == severity)
            .count()
    }
}

/// Run every check. `timeout` bounds each network call.
pub fn run(
    topology: &Topology,
    rt: &tokio::runtime::Handle,
    timeout: Duration,
    recorded_ids: &RecordedTopicIds,
) -> CheckReport {
    let r = &topology.replication;
    let mut problems = Vec::new();
    let mut clusters = Vec::new();
    let mut clients: BTreeMap<String, KafkaClient> = BTreeMap::new();
    for name in topology.cluster_names() {
        let role = if name == r.primary {
            "primary"
        } else if name == r.backup {
            "backup"
        } else {
            "other"
        };
        let (check, client) = check_cluster(topology, name, role, timeout, &mut problems);
        clusters.push(check);
        if let Some(c) = client {
            clients.insert(name.to_string(), c);
        }
    }

    // The guard that keeps applications off the backup until it is promoted.
    if let Some(backup) = clients.get(&r.backup) {
        match crate::actions::fence::app_guard_missing(topology, backup, &r.backup, timeout) {
            Ok(open) if !open.is_empty() => problem(
                &mut problems,
                Severity::Warning,
                format!("cluster {}", r.backup),
                format!(
                    "applications may write to {} in-scope topic(s) on the backup `{}`: no `app-writes` guard ({})",
                    open.len(),
                    r.backup,
                    open.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ),
                Some(&format!(
                    "apply it once: `kafka-dr fence apply app-writes --cluster {}`",
                    r.backup
                )),
            ),
            Ok(_) => {}
            Err(e) => problem(&mut problems, Severity::Warning, format!("cluster {}", r.backup), e.to_string(), None),
        }
    }

    let flow_name = format!("{}->{}", r.primary, r.backup);
    let connectors = [
        r.forward_connectors.source.clone(),
        r.forward_connectors.checkpoint.clone(),
        r.forward_connectors.heartbeat.clone(),
    ];
    // MM2 gives the source connector no task until an in-scope topic exists, and the
    // checkpoint connector none until a group does: on a primary without them (a fresh
    // lab, a new estate) a task-less RUNNING connector is the expected state. Unknown
    // (primary unreachable) counts as "they exist".
    let primary_check = clusters
        .iter()
        .find(|c: &&ClusterCheck| c.name == r.primary);
    let expects_tasks = ExpectsTasks {
        source: primary_check.is_none_or(|c| !c.reachable || !c.topics_in_scope.is_empty()),
        checkpoint: primary_check.is_none_or(|c| !c.reachable || !c.groups_in_scope.is_empty()),
    };
    if !expects_tasks.source {
        problem(
            &mut problems,
            Severity::Info,
            format!("cluster {}", r.primary),
            format!(
                "no in-scope topic on the primary `{}` yet: MM2's source connector runs no task until one exists, and a failover now would have nothing to move",
                r.primary
            ),
            None,
        );
    }
    let (flow, next_to_copy, source_config) = match &r.mirror_maker {
        crate::topology::MirrorMaker::Dedicated(d) => check_dedicated_flow(
            &flow_name,
            &r.primary,
            &r.backup,
            d,
            clients.get(&r.backup),
            timeout,
            &mut problems,
        ),
        crate::topology::MirrorMaker::Connect => check_flow(
            topology,
            &flow_name,
            &r.backup,
            &connectors,
            expects_tasks,
            rt,
            timeout,
            &mut problems,
        ),
    };

    let (mut shape, shape_problem) = shape_of(r.policy, &r.primary, source_config.as_ref());
    if let crate::topology::MirrorMaker::Dedicated(d) = &r.mirror_maker {
        shape.mode = "dedicated".into();
        shape.failover = format!(
            "{}; MM2 runs in dedicated mode (no Connect REST): the forward flow is stopped by its stop hook `{}` (a failing hook is reported, the fence keeps MM2 out)",
            shape.failover,
            d.forward.stop.argv.join(" ")
        );
        shape.failback = format!(
            "{}; in dedicated mode the reverse flow is stopped (`{}`), seeded by writing its positions into `{}` on `{}` in Connect's own format, then started (`{}`)",
            shape.failback,
            d.reverse.stop.argv.join(" "),
            d.reverse.offsets_topic(&r.backup),
            r.primary,
            d.reverse.start.argv.join(" ")
        );
    }
    problems.extend(shape_problem);
    let mut flow = flow;
    flow.delivery = source_config.as_ref().map(|config| {
        let iso = crate::dr::transactions::mm2_source_isolation(config);
        FlowDelivery {
            exactly_once: iso.exactly_once(),
            why: iso.delivery(),
        }
    });
    if let (Some(config), Some(primary)) = (&source_config, clients.get(&r.primary)) {
        check_mm2_isolation(topology, config, primary, timeout, &mut problems);
    }

    let lag = match (clients.get(&r.primary), clients.get(&r.backup)) {
        (Some(p), Some(b)) => {
            let offset_lag_max = crate::dr::gaps::offset_lag_max(source_config.as_ref());
            let lag = measure_lag(topology, p, b, &next_to_copy, timeout, &mut problems);
            check_offset_syncs(
                topology,
                (p, b),
                &lag,
                offset_lag_max,
                timeout,
                &mut problems,
            );
            let groups = primary_check.map_or(&[][..], |c| c.groups_in_scope.as_slice());
            let interval = checkpoint_interval_seconds(topology, rt, timeout);
            let stale_after = crate::dr::gaps::checkpoint_stale_after(interval);
            check_checkpoints(
                topology,
                (p, b),
                groups,
                (offset_lag_max, stale_after),
                timeout,
                &mut problems,
            );
            lag
        }
        _ => Vec::new(),
    };
    for (name, client) in &clients {
        if let Some(before) = recorded_ids.get(name) {
            check_recreated_topics(topology, name, client, before, timeout, &mut problems);
        }
    }
    let rpo_records = (!lag.is_empty()).then(|| lag.iter().map(|l| l.lag).sum());
    // The errors first, then the warnings, then the information, each in the order found.
    // The same finding reached twice (one dead cluster seen by several checks) is
    // listed once.
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    let mut seen = std::collections::BTreeSet::new();
    problems.retain(|p| seen.insert((p.subject.clone(), p.message.clone())));
    let ok = !problems.iter().any(|p| p.severity == Severity::Error);
    CheckReport {
        topology: topology.name.clone(),
        primary: r.primary.clone(),
        backup: r.backup.clone(),
        shape,
        clusters,
        flows: vec![flow],
        lag,
        rpo_records,
        problems,
        ok,
    }
}

fn problem(
    problems: &mut Vec<Problem>,
    severity: Severity,
    subject: String,
    message: String,
    help: Option<&str>,
) {
    problems.push(Problem {
        severity,
        subject,
        message,
        help: help.map(str::to_string),
    });
}

fn check_cluster(
    topology: &Topology,
    name: &str,
    role: &str,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) -> (ClusterCheck, Option<KafkaClient>) {
    let mut check = ClusterCheck {
        name: name.to_string(),
        role: role.to_string(),
        bootstrap: String::new(),
        reachable: false,
        authenticated: false,
        cluster_id: None,
        brokers: Vec::new(),
        topics_in_scope: Vec::new(),
        groups_in_scope: Vec::new(),
        may_describe_acls: None,
        may_alter_acls: None,
        groups_not_alterable: Vec::new(),
        error: None,
    };
    let subject = format!("cluster {name}");
    let config = match topology.client_config(name) {
        Ok(c) => c,
        Err(e) => {
            check.error = Some(e.to_string());
            problem(problems, Severity::Error, subject, e.to_string(), None);
            return (check, None);
        }
    };
    check.bootstrap = config
        .get("bootstrap.servers")
        .unwrap_or_default()
        .to_string();
    let pairs: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let client = match KafkaClient::connect(name, pairs, timeout) {
        Ok(c) => c,
        Err(e) => {
            // Reachable only when a broker answered (it refused our credentials or
            // our certificate); a configuration librdkafka refused never got that far.
            check.reachable = matches!(
                e,
                crate::kafka::KafkaError::AuthenticationFailed { .. }
                    | crate::kafka::KafkaError::Tls { .. }
                    | crate::kafka::KafkaError::AuthorizationDenied { .. }
            );
            check.error = Some(e.to_string());
            problem(problems, Severity::Error, subject, e.to_string(), None);
            return (check, None);
        }
    };
    check.reachable = true;
    check.authenticated = true;
    match client.describe_cluster(timeout) {
        Ok(d) => {
            check.cluster_id = d.cluster_id.clone();
            check.brokers = d
                .brokers
                .iter()
                .map(|b| format!("{}@{}:{}", b.id, b.host, b.port))
                .collect();
            check.may_describe_acls = d.may_describe_acls();
            check.may_alter_acls = d.may_alter_acls();
            if d.may_alter_acls() == Some(false) {
                problem(
                    problems,
                    Severity::Error,
                    subject.clone(),
                    "our principal may not create or delete ACLs (needs ALTER on the cluster): fences cannot be applied".into(),
                    Some("grant kafka-dr's principal ALTER and DESCRIBE on the cluster resource, or use a super user"),
                );
            }
            if d.may_describe_acls() == Some(false) {
                problem(
                    problems,
                    Severity::Error,
                    subject.clone(),
                    "our principal may not describe ACLs (needs DESCRIBE on the cluster): fences cannot be verified".into(),
                    Some("grant kafka-dr's principal DESCRIBE on the cluster resource"),
                );
            }
        }
        Err(e) => problem(
            problems,
            Severity::Error,
            subject.clone(),
            e.to_string(),
            None,
        ),
    }
    match client.metadata(timeout) {
        Ok(md) => {
            check.topics_in_scope = md
                .topics
                .iter()
                .filter(|t| topology.replication.topics.matches(&t.name))
                .map(|t| t.name.clone())
                .collect();
            check.topics_in_scope.sort();
        }
        Err(e) => problem(
            problems,
            Severity::Error,
            subject.clone(),
            e.to_string(),
            None,
        ),
    }
    match client.list_groups(timeout) {
        Ok(groups) => {
            let mut names: Vec<String> = groups
                .into_iter()
                .map(|g| g.group)
                .filter(|g| topology.replication.groups.matches(g))
                .collect();
            names.sort();
            if !names.is_empty() {
                match client.describe_groups(&names, timeout) {
                    Ok(descs) => {
                        for d in descs {
                            let may = d.authorized_operations.as_ref().map(|ops| {
                                ops.contains(&AclOperation::Read)
                                    || ops.contains(&AclOperation::All)
                            });
                            if may == Some(false) {
                                check.groups_not_alterable.push(d.group.clone());
                            }
                        }
                    }
                    Err(e) => problem(
                        problems,
                        Severity::Warning,
                        subject.clone(),
                        e.to_string(),
                        None,
                    ),
                }
            }
            if !check.groups_not_alterable.is_empty() {
                problem(
                    problems,
                    Severity::Error,
                    subject.clone(),
                    format!(
                        "our principal may not read or alter the offsets of {} in-scope group(s): {}",
                        check.groups_not_alterable.len(),
                        check.groups_not_alterable.join(", ")
                    ),
                    Some("grant kafka-dr's principal READ and DESCRIBE on those groups"),
                );
            }
            check.groups_in_scope = names;
        }
        Err(e) => problem(problems, Severity::Error, subject, e.to_string(), None),
    }
    (check, Some(client))
}

#[allow(clippy::too_many_arguments)]
/// Whether the forward flow's source and checkpoint connectors must have tasks by now.
#[derive(Debug, Clone, Copy)]
struct ExpectsTasks {
    source: bool,
    checkpoint: bool,
}

/// What `check_flow` found: the flow, MM2's next upstream offset to copy per partition,
/// and the source connector's config (when Connect returned it).
type FlowFindings = (
    FlowCheck,
    BTreeMap<(String, i32), i64>,
    Option<BTreeMap<String, String>>,
);

/// The forward flow of a dedicated-mode MM2: no REST to ask, so its positions are read
/// from its offsets topic on the backup (the lag is then exact, as with Connect).
fn check_dedicated_flow(
    flow_name: &str,
    primary: &str,
    backup: &str,
    d: &crate::topology::DedicatedFlows,
    backup_client: Option<&KafkaClient>,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) -> FlowFindings {
    use crate::kafka::connect_offsets::{SourceOffsetEntry, DEDICATED_SOURCE_CONNECTOR};
    let topic = d.forward.offsets_topic(primary);
    let flow = FlowCheck {
        flow: flow_name.to_string(),
        connect_url: None,
        reachable: backup_client.is_some(),
        connect_version: None,
        connectors: Vec::new(),
        delivery: None,
    };
    let subject = format!("flow {flow_name}");
    problem(
        problems,
        Severity::Info,
        subject.clone(),
        format!(
            "MM2 runs in dedicated mode: kafka-dr cannot see its connectors or tasks; it reads the flow's positions from `{topic}` on `{backup}`, and stops and starts flows with the topology's hooks"
        ),
        None,
    );
    let mut next_to_copy = BTreeMap::new();
    let Some(client) = backup_client else {
        return (flow, next_to_copy, None);
    };
    let records = match client.metadata(timeout) {
        Ok(md) if md.topic(&topic).is_none() => {
            problem(
                problems,
                Severity::Warning,
                subject,
                format!("MM2's offsets topic `{topic}` does not exist on `{backup}`: the forward flow has never run there (or `offsets_topic` names another topic)"),
                Some("start the forward MM2 (its start hook), or set `replication.mirror_maker.forward.offsets_topic`"),
            );
            return (flow, next_to_copy, None);
        }
        Ok(_) => client.read_topic(&topic, timeout),
        Err(e) => Err(e),
    };
    match records {
        Ok(records) => {
            for r in records {
                let Some(e) = r
                    .key
                    .as_deref()
                    .and_then(|k| SourceOffsetEntry::decode(k, r.value.as_deref()))
                else {
                    continue;
                };
                if e.connector != DEDICATED_SOURCE_CONNECTOR || e.cluster != primary {
                    continue;
                }
                match e.last_copied {
                    Some(last) => next_to_copy.insert((e.topic, e.partition), last + 1),
                    None => next_to_copy.remove(&(e.topic, e.partition)),
                };
            }
        }
        Err(e) => problem(
            problems,
            Severity::Warning,
            subject,
            format!("cannot read MM2's offsets topic `{topic}` on `{backup}`: {e}"),
            None,
        ),
    }
    (flow, next_to_copy, None)
}

#[allow(clippy::too_many_arguments)]
fn check_flow(
    topology: &Topology,
    flow_name: &str,
    target: &str,
    connectors: &[String],
    expects_tasks: ExpectsTasks,
    rt: &tokio::runtime::Handle,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) -> FlowFindings {
    let mut flow = FlowCheck {
        flow: flow_name.to_string(),
        connect_url: None,
        reachable: false,
        connect_version: None,
        connectors: Vec::new(),
        delivery: None,
    };
    let mut next_to_copy = BTreeMap::new();
    let subject = format!("flow {flow_name}");
    let endpoint = match topology.connect_endpoint(target) {
        Ok(Some(u)) => u,
        Ok(None) => {
            problem(
                problems,
                Severity::Warning,
                subject,
                format!(
                    "cluster `{target}` has no `connect` URL: the MM2 connectors cannot be checked"
                ),
                Some("add `connect: http://<worker>:8083` to the cluster in the topology"),
            );
            return (flow, next_to_copy, None);
        }
        Err(e) => {
            problem(problems, Severity::Error, subject, e.to_string(), None);
            return (flow, next_to_copy, None);
        }
    };
    flow.connect_url = Some(crate::topology::redact_url(&endpoint.url));
    let client = match ConnectClient::from_endpoint(target, &endpoint, timeout) {
        Ok(c) => c,
        Err(e) => {
            problem(problems, Severity::Error, subject, e.to_string(), None);
            return (flow, next_to_copy, None);
        }
    };
    match rt.block_on(client.version()) {
        Ok(info) => {
            flow.reachable = true;
            flow.connect_version = Some(info.version.raw.clone());
        }
        Err(e) => {
            problem(problems, Severity::Error, subject, e.to_string(), None);
            return (flow, next_to_copy, None);
        }
    }
    for name in connectors {
        match rt.block_on(client.status(name)) {
            Ok(st) => {
                let tasks: Vec<String> = st
                    .tasks
                    .iter()
                    .map(|t| format!("{}:{}", t.id, t.state.as_str()))
                    .collect();
                let state = st.connector_state.as_str().to_string();
                let r = &topology.replication.forward_connectors;
                let idle_ok = (name == &r.source && !expects_tasks.source)
                    || (name == &r.checkpoint && !expects_tasks.checkpoint);
                let all_running = state == "RUNNING"
                    && (!st.tasks.is_empty() || idle_ok)
                    && st.tasks.iter().all(|t| t.state.as_str() == "RUNNING");
                if !all_running {
                    problem(
                        problems,
                        Severity::Error,
                        format!("connector {name}"),
                        format!("{name} is {} (tasks: {})", state, if tasks.is_empty() { "none".into() } else { tasks.join(", ") }),
                        Some("look at the Connect worker's log; a FAILED task can be restarted with `POST /connectors/<name>/restart?includeTasks=true&onlyFailed=true`"),
                    );
                }
                flow.connectors.push(ConnectorCheck {
                    name: name.clone(),
                    state,
                    tasks,
                });
            }
            Err(e) => {
                problem(
                    problems,
                    Severity::Error,
                    format!("connector {name}"),
                    e.to_string(),
                    None,
                );
            }
        }
    }
    let source = &topology.replication.forward_connectors.source;
    if let Ok(offsets) = rt.block_on(client.get_mirror_source_offsets(source)) {
        for o in offsets {
            if let Some(n) = o.next_offset_to_copy() {
                next_to_copy.insert((o.topic.clone(), o.partition), n);
            }
        }
    }
    // Its config says how MM2 reads the primary (isolation level); a connector that is
    // missing was reported above.
    let source_config = rt.block_on(client.config(source)).ok();
    (flow, next_to_copy, source_config)
}

/// MM2 without `read_committed` copies the records of aborted and open transactions into
/// the backup as ordinary records. Warn when the primary has transactional producers.
fn check_mm2_isolation(
    topology: &Topology,
    source_config: &BTreeMap<String, String>,
    primary: &KafkaClient,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) {
    let r = &topology.replication;
    let iso = crate::dr::transactions::mm2_source_isolation(source_config);
    if iso.read_committed {
        return;
    }
    let evidence = match primary_transactions(topology, primary, timeout) {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(e) => {
            problem(
                problems,
                Severity::Warning,
                format!("cluster {}", r.primary),
                format!(
                    "cannot tell whether `{}` has transactional producers: {e}",
                    r.primary
                ),
                None,
            );
            return;
        }
    };
    let why = match &iso.decided_by {
        Some(k) => format!("`{k}` says so"),
        None => "Kafka's default: neither `source.consumer.isolation.level` nor `consumer.isolation.level` is set".to_string(),
    };
    problem(
        problems,
        Severity::Warning,
        format!("connector {}", r.forward_connectors.source),
        format!(
            "MM2 reads the primary `{}` with isolation.level read_uncommitted ({why}) and `{}` has transactional producers ({evidence}): records of aborted and still-open transactions are copied to `{}` as ordinary records, which every consumer there reads after a failover",
            r.primary, r.primary, r.backup
        ),
        Some(&format!(
            "set `source.consumer.isolation.level=read_committed` on connector `{}` (for exactly-once, also `exactly.once.support=required` on it and `exactly.once.source.support=enabled` on every worker of its Connect cluster)",
            r.forward_connectors.source
        )),
    );
}

/// Evidence that `primary` has transactional producers: records in its transaction log
/// (`__transaction_state`, created at the first InitProducerId with a transactional id),
/// or an in-scope partition whose last stable offset trails its high watermark.
fn primary_transactions(
    topology: &Topology,
    primary: &KafkaClient,
    timeout: Duration,
) -> Result<Option<String>, crate::kafka::KafkaError> {
    const TXN_LOG: &str = "__transaction_state";
    let md = primary.metadata(timeout)?;
    if let Some(t) = md.topic(TXN_LOG) {
        let parts: Vec<(&str, i32)> = t.partitions.iter().map(|p| (TXN_LOG, *p)).collect();
        let held: i64 = primary
            .watermarks(&parts, timeout)?
            .iter()
            .map(|w| w.latest - w.earliest)
            .sum();
        if held > 0 {
            return Ok(Some(format!("its `{TXN_LOG}` holds {held} record(s)")));
        }
    }
    let parts: Vec<(String, i32)> = md
        .topics
        .iter()
        .filter(|t| topology.replication.topics.matches(&t.name))
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
        .collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let open: Vec<_> = primary
        .watermarks(&parts, timeout)?
        .into_iter()
        .filter(|w| w.stable < w.latest)
        .collect();
    Ok(open.first().map(|w| {
        format!(
            "{} in-scope partition(s) with an open transaction, e.g. `{}` partition {}",
            open.len(),
            w.topic,
            w.partition
        )
    }))
}

/// In-scope groups whose newest MM2 checkpoint is old while they moved on
/// (`dr::gaps::checkpoints_behind`): the checkpoint connector stopped emitting for them.
/// A warning: kafka-dr fails over from its own recorded deltas, but a failover that has to
/// fall back on checkpoints starts these groups from that far back. Nothing is concluded
/// on what cannot be read.
fn check_checkpoints(
    topology: &Topology,
    (primary, backup): (&KafkaClient, &KafkaClient),
    groups: &[String],
    (offset_lag_max, stale_after): (i64, f64),
    timeout: Duration,
    problems: &mut Vec<Problem>,
) {
    if groups.is_empty() {
        return;
    }
    let r = &topology.replication;
    let topic = format!("{}.checkpoints.internal", r.primary);
    let checkpoints = crate::actions::common::newest_checkpoints(backup, &topic, timeout);
    if checkpoints.is_empty() {
        return;
    }
    let mut positions = Vec::new();
    for g in groups {
        // A primary that stops answering is not waited on again for every other group.
        let Ok(offsets) = primary.committed_offsets(g, timeout) else {
            return;
        };
        for (t, p, offset, _) in offsets {
            if r.topics.matches(&t) {
                positions.push((g.clone(), t, p, offset));
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let behind = crate::dr::gaps::checkpoints_behind(
        positions
            .iter()
            .map(|(g, t, p, o)| (g.as_str(), t.as_str(), *p, *o)),
        |g, t, p| {
            checkpoints
                .get(&(g.to_string(), r.policy.target_topic(&r.primary, t), p))
                .copied()
        },
        now,
        stale_after,
        offset_lag_max,
    );
    for b in behind {
        problem(
            problems,
            Severity::Warning,
            format!("group {} topic {} partition {}", b.group, b.topic, b.partition),
            format!(
                "MM2's newest checkpoint of this group is {} old and says {}, but the group has committed {} on `{}` since: MM2's checkpoint connector stopped emitting for it (it writes one every `emit.checkpoints.interval.seconds`, 60 s by default, when a group moves)",
                crate::human::duration(Duration::from_secs_f64(b.age_seconds)),
                b.checkpointed,
                b.committed,
                r.primary
            ),
            Some(&format!(
                "check the tasks and log of `{}` (`kafka-dr mirror status`) and its `groups` filter; keep `kafka-dr deltas record --follow` running, so a failover does not have to start this group from a checkpoint this old",
                r.forward_connectors.checkpoint
            )),
        );
    }
}

/// The forward checkpoint connector's `emit.checkpoints.interval.seconds`, when Connect
/// says.
fn checkpoint_interval_seconds(
    topology: &Topology,
    rt: &tokio::runtime::Handle,
    timeout: Duration,
) -> Option<f64> {
    let r = &topology.replication;
    let client = crate::actions::common::connect(topology, &r.backup, timeout).ok()??;
    let config = rt
        .block_on(client.config(&r.forward_connectors.checkpoint))
        .ok()?;
    crate::dr::gaps::checkpoint_interval(&config)
}

/// Per cluster, the id `deltas record` last saw each topic with (the journal's).
pub type RecordedTopicIds = BTreeMap<String, BTreeMap<String, String>>;

/// In-scope topics of `cluster` whose id differs from the one `deltas record` last saw
/// (`dr::gaps::topics_recreated`): deleted and created again since. A warning: MM2's
/// source offsets and offset syncs, and kafka-dr's recorded positions, belong to the old
/// topic (a failover uses only the new one's, and says so).
fn check_recreated_topics(
    topology: &Topology,
    cluster: &str,
    client: &KafkaClient,
    before: &BTreeMap<String, String>,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) {
    // The journal holds ids only of the topics `deltas record` recorded: in scope (or
    // their copies on the backup) when it ran; on the primary, those still in scope.
    let r = &topology.replication;
    let names: Vec<String> = before
        .keys()
        .filter(|t| cluster != r.primary || r.topics.matches(t))
        .cloned()
        .collect();
    if names.is_empty() {
        return;
    }
    let Ok(ids) = client.topic_ids(&names, timeout) else {
        return;
    };
    let now: BTreeMap<String, String> = ids
        .into_iter()
        .filter_map(|(t, id)| id.map(|id| (t, id)))
        .collect();
    for g in crate::dr::gaps::topics_recreated(before, &now) {
        problem(
            problems,
            Severity::Warning,
            format!("topic {} on {cluster}", g.topic),
            format!(
                "`{}` was deleted and created again on `{cluster}` since kafka-dr last recorded it (topic id {} -> {}): MM2's source offsets and offset syncs, and the positions kafka-dr recorded, belong to the old topic",
                g.topic, g.old_id, g.new_id
            ),
            Some(&format!(
                "check that the mirror copied the new `{}` from its first offset (MM2 may have resumed at the old topic's offset; reset the source connector's offsets for it if not), then run `kafka-dr deltas record` so the recorded positions follow the new topic",
                g.topic
            )),
        );
    }
}

/// Offset syncs that stopped advancing while MM2 kept copying (`dr::gaps::syncs_stalled`):
/// a warning per partition, since a failover would translate from the old sync and start
/// the groups that far back (duplicates, not loss). Read from the flow's offset-syncs
/// topic; where it cannot be read, nothing is concluded (the lag check says why).
fn check_offset_syncs(
    topology: &Topology,
    (primary, backup): (&KafkaClient, &KafkaClient),
    lag: &[PartitionLag],
    offset_lag_max: i64,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) {
    let r = &topology.replication;
    if lag.iter().all(|l| l.next_to_copy.is_none()) {
        return;
    }
    let (cluster, topic) = r.offset_syncs_topic(&r.primary, &r.backup);
    let client = if cluster == r.primary {
        primary
    } else {
        backup
    };
    let Ok(syncs) = client.read_offset_syncs(&topic, timeout) else {
        return;
    };
    let mut newest: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for s in &syncs {
        let e = newest
            .entry((s.topic.as_str(), s.partition))
            .or_insert(s.upstream);
        *e = (*e).max(s.upstream);
    }
    let stalled = crate::dr::gaps::syncs_stalled(
        lag.iter().map(|l| {
            (
                l.topic.as_str(),
                l.partition,
                l.primary_start,
                l.next_to_copy,
                newest.get(&(l.topic.as_str(), l.partition)).copied(),
            )
        }),
        offset_lag_max,
    );
    for g in stalled {
        let since = match g.newest_sync {
            Some(u) => format!("its newest offset sync is for offset {u}"),
            None => "it has no offset sync at all".to_string(),
        };
        problem(
            problems,
            Severity::Warning,
            format!("topic {} partition {}", g.topic, g.partition),
            format!(
                "MM2's offset syncs stopped: it copied {} record(s) of this partition since, up to offset {}, but {since} in `{topic}` on `{cluster}` (MM2 writes one at least every `offset.lag.max` = {offset_lag_max} records)",
                g.copied_since, g.next_to_copy
            ),
            Some(&format!(
                "a failover now would translate this partition's groups from that old sync and start them up to {} record(s) back: check the source connector's task log, that the mirror principal may WRITE `{topic}` on `{cluster}`, and that `emit.offset-syncs.enabled` is not false",
                g.copied_since
            )),
        );
    }
}

fn measure_lag(
    topology: &Topology,
    primary: &KafkaClient,
    backup: &KafkaClient,
    next_to_copy: &BTreeMap<(String, i32), i64>,
    timeout: Duration,
    problems: &mut Vec<Problem>,
) -> Vec<PartitionLag> {
    let r = &topology.replication;
    let md = match primary.metadata(timeout) {
        Ok(md) => md,
        Err(_) => return Vec::new(),
    };
    let mut parts = Vec::new();
    for t in md.topics.iter().filter(|t| r.topics.matches(&t.name)) {
        for p in &t.partitions {
            parts.push((t.name.clone(), *p));
        }
    }
    if parts.is_empty() {
        return Vec::new();
    }
    let primary_wm = match primary.watermarks(&parts, timeout) {
        Ok(w) => w,
        Err(e) => {
            problem(
                problems,
                Severity::Warning,
                format!("cluster {}", r.primary),
                e.to_string(),
                None,
            );
            return Vec::new();
        }
    };
    let backup_parts: Vec<(String, i32)> = parts
        .iter()
        .map(|(t, p)| (r.policy.target_topic(&r.primary, t), *p))
        .collect();
    let backup_wm: BTreeMap<(String, i32), i64> = backup
        .watermarks(&backup_parts, timeout)
        .map(|w| {
            w.into_iter()
                .map(|w| ((w.topic, w.partition), w.latest))
                .collect()
        })
        .unwrap_or_default();
    // Records the primary expired before MM2 copied them: a silent loss (issue 14).
    for g in crate::dr::gaps::expired_before_copied(primary_wm.iter().map(|w| {
        (
            w.topic.as_str(),
            w.partition,
            w.earliest,
            next_to_copy.get(&(w.topic.clone(), w.partition)).copied(),
        )
    })) {
        problem(
            problems,
            Severity::Error,
            format!("topic {} partition {}", g.topic, g.partition),
            format!(
                "{} record(s) expired on `{}` before MM2 copied them: its next offset to copy is {}, the log starts at {}; offsets {}..{} will never reach `{}`",
                g.records, r.primary, g.next_to_copy, g.log_start, g.next_to_copy, g.log_start, r.backup
            ),
            Some(&format!(
                "they are gone from the primary: raise `retention.ms`/`retention.bytes` of `{}` on `{}` above MM2's worst lag, find why MM2 fell behind (`kafka-dr mirror status`), and tell the consumers of `{}` that these offsets are missing",
                g.topic, r.primary, r.backup
            )),
        );
    }
    let mut out = Vec::new();
    for w in primary_wm {
        let (next, method) = match next_to_copy.get(&(w.topic.clone(), w.partition)) {
            Some(n) => (Some(*n), "mm2-offsets"),
            None => (None, "log-end"),
        };
        let lag = match next {
            Some(n) => (w.latest - n).max(0),
            None => {
                let target = r.policy.target_topic(&r.primary, &w.topic);
                let b = backup_wm.get(&(target, w.partition)).copied().unwrap_or(0);
                (w.latest - b).max(0)
            }
        };
        out.push(PartitionLag {
            topic: w.topic,
            partition: w.partition,
            primary_start: w.earliest,
            primary_end: w.latest,
            next_to_copy: next,
            lag,
            method: method.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod shape_tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_shape_names_the_backup_topic_and_what_happens() {
        let (s, p) = shape_of(Policy::Prefix, "dc1", None);
        assert_eq!(s.backup_name, "dc1.T");
        assert!(s.failback.contains("--tail deliver"), "{s:?}");
        assert!(p.is_none());
        let (s, _) = shape_of(Policy::Identity, "dc1", None);
        assert_eq!(s.backup_name, "T");
        assert!(!s.failback.contains("--tail deliver"));
    }

    #[test]
    fn a_policy_that_disagrees_with_mm2_is_an_error() {
        let identity = config(&[
            ("name", "src"),
            ("replication.policy.class", IDENTITY_POLICY_CLASS),
        ]);
        let default_implicit = config(&[("name", "src")]);
        let default_explicit = config(&[("replication.policy.class", DEFAULT_POLICY_CLASS)]);
        assert!(shape_of(Policy::Identity, "dc1", Some(&identity))
            .1
            .is_none());
        assert!(shape_of(Policy::Prefix, "dc1", Some(&default_implicit))
            .1
            .is_none());
        assert!(shape_of(Policy::Prefix, "dc1", Some(&default_explicit))
            .1
            .is_none());
        for (policy, c) in [
            (Policy::Identity, &default_implicit),
            (Policy::Identity, &default_explicit),
            (Policy::Prefix, &identity),
        ] {
            let p = shape_of(policy, "dc1", Some(c)).1.expect("a problem");
            assert_eq!(p.severity, Severity::Error);
            assert!(p.message.contains(policy.as_str()), "{}", p.message);
            assert!(p.help.is_some());
        }
        let odd = config(&[("replication.policy.separator", "_")]);
        let p = shape_of(Policy::Prefix, "dc1", Some(&odd))
            .1
            .expect("separator");
        assert!(p.message.contains("separator"), "{}", p.message);
    }
}
