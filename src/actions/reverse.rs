//! `mirror.seed` and `mirror.start`: the reverse MM2 flow of a failback (ARCHITECTURE.md
//! section 1, step 9), from the NEW primary into the OLD one, run by the Connect cluster
//! that writes into the old primary.
//!
//! `mirror.seed` creates the flow's three connectors already STOPPED (`initial_state`,
//! Connect 3.7+), with configs derived from the forward flow's (aliases, bootstrap servers
//! and every `source.*` / `target.*` key swapped, `topics`/`groups` narrowed to the
//! topology's scope), then writes the source connector's offsets through KIP-875 so that
//! copying starts exactly at the promotion cut (`delete-records`) or at the earliest offset
//! (`recreate`). It records, per partition, the seed and the old primary's log end, so
//! that `mirror.start` can check by fingerprint that the first copies land where the seed
//! said. `mirror.start` resumes the connectors, waits until the reverse lag is under a
//! threshold, checks the first copies and journals the verified reverse deltas as offset
//! syncs.
//!
//! Both refuse while a MirrorSourceConnector copying the other way (old -> new) runs on the
//! same topics: IdentityReplicationPolicy cannot stop a cycle. Connector configs may hold
//! credentials: every value of a secret-looking key is redacted in plans, outputs and
//! errors, and handed to the reporter's scrubber. Cluster-state refusals exit 1, parameter
//! and journal problems exit 2. This module writes only to the old primary's Connect
//! (create, config of its own STOPPED connectors, offsets, resume) and to the journal's
//! offset syncs; it never touches the forward flow's connectors.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{common, ActionError};
use crate::connect::{
    mirror_source_offset, ConnectClient, ConnectError, ConnectorOffset, ConnectorState,
    ConnectorStatus, Feature, MirrorSourceOffset, TargetState,
};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::OffsetSyncRow;
use crate::kafka::{fingerprint, Fingerprint, KafkaClient, Record};
use crate::runbook::StepDef;
use crate::topology::{is_secret_key, Connectors, Policy, Topology, REDACTED};

/// The runbook name of the action that creates and seeds the reverse connectors.
pub const SEED: &str = "mirror.seed";
/// The runbook name of the action that starts them.
pub const START: &str = "mirror.start";

/// How often waits poll Connect and the clusters.
const POLL: Duration = Duration::from_millis(500);
/// How often a wait prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);
/// How often a read-back of the offsets is tried before it counts as different: a PATCH's
/// effect was seen on the lab not to be visible to the very next GET.
const READ_BACK_TRIES: u32 = 6;
/// A lag at most this large is checked by reading the records, so that transaction
/// markers (offsets that hold no record) do not count as lag.
const COUNTED_LAG: i64 = 1000;

/// MM2's `topics.exclude` default (DefaultTopicFilter), used when a config has none.
const MM2_TOPICS_EXCLUDE_DEFAULT: &str = ".*[\\-\\.]internal, .*\\.replica, __.*";
/// What the reverse flow always leaves out, whatever the topology's scope: MM2's and
/// Kafka's internal topics (MM2 skips most of them anyway).
const INTERNAL_TOPICS: [&str; 3] = ["mm2.*\\.internal", ".*[\\-\\.]internal", "__.*"];
const INTERNAL_GROUPS: [&str; 3] = ["console-consumer-.*", "connect-.*", "__.*"];

/// The connector roles of a flow, in the order they are created and reported.
const ROLES: [Role; 3] = [Role::Source, Role::Checkpoint, Role::Heartbeat];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    Source,
    Checkpoint,
    Heartbeat,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Checkpoint => "checkpoint",
            Role::Heartbeat => "heartbeat",
        }
    }

    fn of(self, c: &ConnectorNames) -> &str {
        match self {
            Role::Source => &c.source,
            Role::Checkpoint => &c.checkpoint,
            Role::Heartbeat => &c.heartbeat,
        }
    }
}

/// A flow's connector names, as stored in the seed's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorNames {
    pub source: String,
    pub checkpoint: String,
    pub heartbeat: String,
}

impl From<&Connectors> for ConnectorNames {
    fn from(c: &Connectors) -> Self {
        ConnectorNames {
            source: c.source.clone(),
            checkpoint: c.checkpoint.clone(),
            heartbeat: c.heartbeat.clone(),
        }
    }
}

/// How the truncate step left the old primary, and so where copying starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The old primary's partitions were cut with DeleteRecords (or kept): copy from the
    /// promotion cut, so nothing from before it comes back.
    DeleteRecords,
    /// The old primary's topics were recreated empty: copy everything, from the earliest.
    Recreate,
}

impl Strategy {
    fn parse(s: &str) -> Option<Strategy> {
        match s {
            "delete-records" => Some(Strategy::DeleteRecords),
            "recreate" => Some(Strategy::Recreate),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Strategy::DeleteRecords => "delete-records",
            Strategy::Recreate => "recreate",
        }
    }

    /// The seed strategy a truncate strategy needs (`keep` leaves the tail in place and
    /// copies from the cut, like `delete-records`).
    fn for_truncate(truncate: &str) -> Option<Strategy> {
        match truncate {
            "delete-records" | "keep" => Some(Strategy::DeleteRecords),
            "recreate" => Some(Strategy::Recreate),
            _ => None,
        }
    }
}

/// Why a partition starts where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedReason {
    /// At the new primary's log end at promotion.
    PromotionCut,
    /// The topic or partition did not exist on the new primary at the promotion: every
    /// record of it came after the cut.
    CreatedAfterPromotion,
    /// `recreate`: everything.
    Recreate,
}

/// One partition's seed: where the reverse source connector starts, and what the two
/// clusters held at seed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedPartition {
    /// The topic on the new primary (the reverse flow's source).
    pub topic: String,
    pub partition: i32,
    /// Its name on the old primary.
    pub target_topic: String,
    /// The next offset the reverse source connector copies; `None`: the partition's
    /// earliest offset (an offsets tombstone).
    pub next_offset: Option<i64>,
    pub reason: SeedReason,
    /// The new primary's log start and end when the seed was planned.
    pub new_log_start: i64,
    pub new_log_end: i64,
    /// The old primary's log start and end at seed time (0 when the topic or partition
    /// does not exist there yet): the first copy lands at `old_log_end`.
    pub old_log_start: i64,
    pub old_log_end: i64,
    pub old_exists: bool,
}

impl SeedPartition {
    /// The offset stored in Connect: the LAST COPIED one (`None`: no position).
    fn last_copied(&self) -> Option<i64> {
        self.next_offset.filter(|n| *n > 0).map(|n| n - 1)
    }

    /// The first upstream offset the flow copies (as far as is known at seed time).
    fn first_upstream(&self) -> i64 {
        self.next_offset.unwrap_or(self.new_log_start)
    }

    fn label(&self) -> String {
        format!("`{}`-{}", self.topic, self.partition)
    }

    /// "start copying `app.orders`-3 at offset 1667 (the promotion cut)".
    fn describe(&self) -> String {
        let at = match (self.next_offset, self.reason) {
            (Some(n), SeedReason::PromotionCut) => format!("at offset {n} (the promotion cut)"),
            (Some(n), _) => format!("at offset {n}"),
            (None, SeedReason::CreatedAfterPromotion) => format!(
                "at its earliest offset ({}; it did not exist at the promotion)",
                self.new_log_start
            ),
            (None, _) => format!(
                "at its earliest offset ({}; strategy recreate)",
                self.new_log_start
            ),
        };
        let pending = (self.new_log_end - self.first_upstream()).max(0);
        let into = if self.target_topic == self.topic {
            String::new()
        } else {
            format!(" into `{}`", self.target_topic)
        };
        format!(
            "start copying {}{into} {at}: {pending} records to copy now; the first copy lands at offset {} of the old primary",
            self.label(),
            self.old_log_end
        )
    }
}

/// What the seed step did to one connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectorAction {
    /// It does not exist: create it STOPPED.
    Create,
    /// It exists STOPPED with another config: replace the config (it stays STOPPED).
    UpdateConfig,
    /// It exists as wanted.
    Keep,
}

/// One reverse connector as the seed found it and what it does about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorSeed {
    pub role: String,
    pub name: String,
    /// `STOPPED (no tasks)`..., `None` when it does not exist.
    pub state: Option<String>,
    pub action: ConnectorAction,
    /// The keys whose values change (`UpdateConfig`).
    pub changed_keys: Vec<String>,
    /// The config it has or gets, secrets redacted.
    pub config: BTreeMap<String, String>,
}

/// An offset left in Connect by an earlier connector of the same name, for a partition
/// the seed does not cover: erased so that it cannot make the flow skip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleOffset {
    pub topic: String,
    pub partition: i32,
    pub last_copied: i64,
}

/// What `mirror.seed` stores (plan detail and output) and `mirror.start` reads back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedDetail {
    pub strategy: Strategy,
    pub new_primary: String,
    pub old_primary: String,
    /// The run that promoted the new primary, and when its cut was taken.
    pub promotion_run: i64,
    pub promotion_taken_at: String,
    /// The Connect cluster that runs the reverse flow (writes into the old primary).
    pub connect_url: String,
    pub connectors: ConnectorNames,
    /// MM2 aliases of the reverse flow's source (new primary) and target (old primary).
    pub source_alias: String,
    pub target_alias: String,
    /// The old primary's bootstrap servers as the reverse config names them.
    pub target_bootstrap: Option<String>,
    pub partitions: Vec<SeedPartition>,
    pub configs: Vec<ConnectorSeed>,
    pub stale_offsets: Vec<StaleOffset>,
    /// In-scope partitions the reverse flow does not copy, and why.
    pub skipped: Vec<String>,
}

fn refused(msg: String) -> Error {
    Error::Io(msg)
}

/// `a, b, c and 4 more`.
fn list_some(items: &[String], max: usize) -> String {
    let mut out = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        out.push_str(&format!(" and {} more", items.len() - max));
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

// ---------------------------------------------------------------------------------------
// Where the reverse flow lives
// ---------------------------------------------------------------------------------------

/// The promotion the failback works from, the two clusters, and the connector names of
/// both directions.
#[derive(Debug, Clone)]
struct Placement {
    cut: common::PromotionCut,
    /// The new primary: the reverse flow's source.
    new: String,
    /// The old primary: its target, whose Connect runs it.
    old: String,
    /// The flow new -> old (created here).
    reverse: ConnectorNames,
    /// The flow old -> new (its configs are the template; it must not run).
    forward: ConnectorNames,
}

fn placement(ctx: &StepContext<'_>) -> Result<Placement, Error> {
    let cut = common::promotion_cut(ctx.topology, ctx.journal)?;
    let r = &ctx.topology.replication;
    // The topology names its flows by its own primary and backup: after the usual failover
    // the new primary is the topology's backup and `reverse_connectors` copy into the
    // topology's primary. After a second failover (back), the roles are the other way.
    let (reverse, forward) = if cut.new_primary == r.backup {
        (&r.reverse_connectors, &r.forward_connectors)
    } else {
        (&r.forward_connectors, &r.reverse_connectors)
    };
    Ok(Placement {
        new: cut.new_primary.clone(),
        old: cut.old_primary.clone(),
        reverse: reverse.into(),
        forward: forward.into(),
        cut,
    })
}

/// The Connect client of the worker that writes into `cluster` (None: no URL).
fn connect_client(
    topology: &Topology,
    cluster: &str,
    timeout: Duration,
) -> Result<Option<ConnectClient>, Error> {
    common::connect(topology, cluster, timeout.min(common::NETWORK_TIMEOUT))
}

fn old_connect(
    topology: &Topology,
    p: &Placement,
    timeout: Duration,
) -> Result<ConnectClient, Error> {
    connect_client(topology, &p.old, timeout)?.ok_or_else(|| {
        Error::Usage(format!(
            "the topology names no `connect` URL for `{}`: the reverse flow ({} -> {}) runs on the Connect cluster that writes into `{}`\nhelp: add `connect: http://<worker>:8083` to cluster `{}` in the topology",
            p.old, p.new, p.old, p.old, p.old
        ))
    })
}

/// The status of `name`, `None` when it does not exist (one that exists without a status
/// yet reads as UNASSIGNED).
async fn status_of(
    client: &ConnectClient,
    name: &str,
) -> Result<Option<ConnectorStatus>, ConnectError> {
    match client.status(name).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_not_found() => {
            if !client.exists(name).await? {
                return Ok(None);
            }
            Ok(Some(ConnectorStatus {
                name: name.to_string(),
                connector_state: ConnectorState::Unassigned,
                worker_id: String::new(),
                connector_trace: None,
                tasks: Vec::new(),
                kind: None,
            }))
        }
        Err(e) => Err(e),
    }
}

/// Like `status_of`, but a connector that exists without a status yet (just created, or
/// the workers are rebalancing) is asked again for up to `UNASSIGNED_WAIT`, so that the
/// decisions below judge its real state.
fn settled_status_of(
    ctx: &StepContext<'_>,
    client: &ConnectClient,
    name: &str,
) -> Result<Option<ConnectorStatus>, Error> {
    let started = Instant::now();
    loop {
        let st = ctx.block_on(status_of(client, name))?;
        let unassigned = st
            .as_ref()
            .is_some_and(|s| s.connector_state == ConnectorState::Unassigned);
        if !unassigned || started.elapsed() >= UNASSIGNED_WAIT || ctx.is_interrupted() {
            return Ok(st);
        }
        std::thread::sleep(POLL);
    }
}

/// How long a connector may show no status before it is taken as UNASSIGNED.
const UNASSIGNED_WAIT: Duration = Duration::from_secs(10);

/// True when the connector (or any task of it) may be copying or about to.
fn is_active(s: &ConnectorStatus) -> bool {
    let busy = |st: &ConnectorState| {
        matches!(
            st,
            ConnectorState::Running | ConnectorState::Restarting | ConnectorState::Unassigned
        )
    };
    busy(&s.connector_state) || s.tasks.iter().any(|t| busy(&t.state))
}

// ---------------------------------------------------------------------------------------
// Connector configs
// ---------------------------------------------------------------------------------------

/// `config` with every secret-looking value replaced (keys containing password, jaas,
/// secret, token...), for plans, outputs and errors.
fn redacted(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_key(k) {
                REDACTED.to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

/// The secret values of a connector config, for the reporter's scrubber: whole values of
/// secret keys, and the quoted passwords inside JAAS lines.
fn secret_values(config: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let quoted = Regex::new(r#"(?i)(?:password|secret|token)\s*=\s*"([^"]*)""#).ok();
    for (k, v) in config {
        if is_secret_key(k) {
            out.push(v.clone());
            if let Some(re) = &quoted {
                for c in re.captures_iter(v) {
                    if let Some(m) = c.get(1) {
                        out.push(m.as_str().to_string());
                    }
                }
            }
        }
    }
    out
}

/// The keys whose values differ between two configs (ignoring `name`), sorted.
fn changed_keys(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "name" && a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// `source.x` <-> `target.x` (covers `source.cluster.*`, `source.admin.*`,
/// `source.consumer.*`... and the aliases); other keys as they are.
fn swap_side(key: &str) -> String {
    if let Some(rest) = key.strip_prefix("source.") {
        format!("target.{rest}")
    } else if let Some(rest) = key.strip_prefix("target.") {
        format!("source.{rest}")
    } else {
        key.to_string()
    }
}

/// A client setting that says how to reach and log into a cluster (as opposed to how to
/// batch, compress or acknowledge).
fn is_connection_key(key: &str) -> bool {
    key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.")
}

/// Connect's `producer.override.*` and `admin.override.*` are how the forward
/// connector's worker clients log into the forward TARGET. In the reverse flow they write
/// into the old source, so their connection settings must be the ones the forward
/// connector uses for its source (`source.cluster.*`, MM2's principal there). Swapping
/// names alone would keep the forward target's (seen on the secured lab: the reverse
/// producer offered dc2's client certificate to dc1's SCRAM listener and never
/// connected). Batching and acknowledgement overrides are kept; without any connection
/// override the reverse worker's own settings apply, as in the forward flow.
fn reverse_writer_settings(forward: &BTreeMap<String, String>, out: &mut BTreeMap<String, String>) {
    let source_side: Vec<(&str, &String)> = forward
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("source.cluster.")
                .filter(|rest| is_connection_key(rest))
                .map(|rest| (rest, v))
        })
        .collect();
    for prefix in ["producer.override.", "admin.override."] {
        let overrides_connection = forward
            .keys()
            .any(|k| k.strip_prefix(prefix).is_some_and(is_connection_key));
        if !overrides_connection {
            continue;
        }
        out.retain(|k, _| !k.strip_prefix(prefix).is_some_and(is_connection_key));
        for (rest, v) in &source_side {
            out.insert(format!("{prefix}{rest}"), (*v).clone());
        }
    }
}

/// A list for an MM2 LIST config (comma-separated: a regex with a comma cannot be given).
fn mm2_list(items: &[String], what: &str) -> Result<String, String> {
    if let Some(bad) = items.iter().find(|i| i.contains(',')) {
        return Err(format!(
            "the {what} regex `{bad}` contains a comma, which an MM2 list config cannot hold"
        ));
    }
    Ok(items.join(", "))
}

/// The reverse connector's config, from the forward connector's: names, aliases,
/// bootstrap servers and every `source.*`/`target.*` key swapped, `topics`/`groups`
/// narrowed to the topology's scope (plus MM2's internal names excluded), everything else
/// (replication policy, converters, intervals, client settings) kept.
fn derive_config(
    forward: &BTreeMap<String, String>,
    forward_name: &str,
    reverse_name: &str,
    topology: &Topology,
) -> Result<BTreeMap<String, String>, String> {
    if let Some(class) = forward.get("topic.filter.class") {
        if !class.ends_with("DefaultTopicFilter") {
            return Err(format!(
                "`{forward_name}` uses topic.filter.class `{class}`, so kafka-dr cannot narrow the reverse flow to the topology's topics"
            ));
        }
    }
    for key in ["source.cluster.alias", "target.cluster.alias"] {
        if !forward.contains_key(key) {
            return Err(format!("`{forward_name}` has no `{key}`"));
        }
    }
    let src_bootstrap = forward.get("source.cluster.bootstrap.servers").cloned();
    let tgt_bootstrap = forward.get("target.cluster.bootstrap.servers").cloned();
    let mut out = BTreeMap::new();
    for (k, v) in forward {
        let key = swap_side(k);
        let mut value = v.clone();
        // A worker-level override (`producer.override.bootstrap.servers`) names a cluster
        // by address: point it at the other one.
        if key == *k && key.ends_with("bootstrap.servers") {
            if Some(v) == src_bootstrap.as_ref() {
                value = tgt_bootstrap.clone().unwrap_or(value);
            } else if Some(v) == tgt_bootstrap.as_ref() {
                value = src_bootstrap.clone().unwrap_or(value);
            }
        }
        out.insert(key, value);
    }
    reverse_writer_settings(forward, &mut out);
    for legacy in [
        "topics.whitelist",
        "topics.blacklist",
        "groups.whitelist",
        "groups.blacklist",
    ] {
        out.remove(legacy);
    }
    out.insert("name".into(), reverse_name.to_string());
    let r = &topology.replication;
    let with_internal = |list: &[String], internal: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = list.to_vec();
        for i in internal {
            if !v.iter().any(|x| x == i) {
                v.push((*i).to_string());
            }
        }
        v
    };
    out.insert(
        "topics".into(),
        mm2_list(&r.topics.include, "topics include")?,
    );
    out.insert(
        "topics.exclude".into(),
        mm2_list(
            &with_internal(&r.topics.exclude, &INTERNAL_TOPICS),
            "topics exclude",
        )?,
    );
    out.insert(
        "groups".into(),
        mm2_list(&r.groups.include, "groups include")?,
    );
    out.insert(
        "groups.exclude".into(),
        mm2_list(
            &with_internal(&r.groups.exclude, &INTERNAL_GROUPS),
            "groups exclude",
        )?,
    );
    Ok(out)
}

/// A one-line summary of a connector config for the plan (no secret values).
fn summarize(config: &BTreeMap<String, String>) -> String {
    let get = |k: &str| config.get(k).map(String::as_str).unwrap_or("?");
    let class = get("connector.class");
    let class = class.rsplit('.').next().unwrap_or(class);
    let policy = config
        .get("replication.policy.class")
        .map(|p| p.rsplit('.').next().unwrap_or(p).to_string())
        .unwrap_or_else(|| "DefaultReplicationPolicy".into());
    let secret = config.keys().filter(|k| is_secret_key(k)).count();
    format!(
        "{class} {} ({}) -> {} ({}), topics `{}` excluding `{}`, {policy}, {} keys ({secret} redacted)",
        get("source.cluster.alias"),
        get("source.cluster.bootstrap.servers"),
        get("target.cluster.alias"),
        get("target.cluster.bootstrap.servers"),
        get("topics"),
        config
            .get("topics.exclude")
            .map(String::as_str)
            .unwrap_or(MM2_TOPICS_EXCLUDE_DEFAULT),
        config.len()
    )
}

/// MM2's DefaultTopicFilter for a connector config, evaluated with Rust regexes (close to
/// Java's for the usual patterns), plus MM2's hard-coded internal-topic rule.
#[derive(Debug)]
struct Mm2TopicFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Mm2TopicFilter {
    /// `Err` when the filter cannot be evaluated here (custom class, unreadable regex).
    fn of(config: &BTreeMap<String, String>) -> Result<Mm2TopicFilter, String> {
        if let Some(class) = config.get("topic.filter.class") {
            if !class.ends_with("DefaultTopicFilter") {
                return Err(format!("it uses topic.filter.class `{class}`"));
            }
        }
        let include = config
            .get("topics")
            .or_else(|| config.get("topics.whitelist"))
            .map(String::as_str)
            .unwrap_or(".*");
        let exclude = config
            .get("topics.exclude")
            .or_else(|| config.get("topics.blacklist"))
            .map(String::as_str)
            .unwrap_or(MM2_TOPICS_EXCLUDE_DEFAULT);
        Ok(Mm2TopicFilter {
            include: compile_list(include)?,
            exclude: compile_list(exclude)?,
        })
    }

    fn copies(&self, topic: &str) -> bool {
        self.include.iter().any(|r| r.is_match(topic))
            && !self.exclude.iter().any(|r| r.is_match(topic))
            && !is_mm2_internal(topic)
    }
}

fn compile_list(list: &str) -> Result<Vec<Regex>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                format!(
                    "its regex `{p}` cannot be read here: {}",
                    first_line(&e.to_string())
                )
            })
        })
        .collect()
}

/// MM2's `ReplicationPolicy.isInternalTopic`: never replicated, whatever the filter says.
fn is_mm2_internal(topic: &str) -> bool {
    topic.starts_with("__")
        || topic.starts_with('.')
        || topic.ends_with(".internal")
        || topic.ends_with("-internal")
}

// ---------------------------------------------------------------------------------------
// The forward flow must not run
// ---------------------------------------------------------------------------------------

/// Refuse when a MirrorSourceConnector copying old -> new runs on a topic the reverse flow
/// writes into the old primary: with IdentityReplicationPolicy the records would go round
/// for ever. Looks at every connector of the new primary's Connect, not only the
/// topology's forward names. Returns notes.
#[allow(clippy::too_many_arguments)]
fn check_no_forward_running(
    ctx: &StepContext<'_>,
    p: &Placement,
    new_connect: Option<&ConnectClient>,
    target_alias: &str,
    target_bootstrap: Option<&str>,
    target_topics: &BTreeSet<String>,
    own: &ConnectorNames,
) -> Result<Vec<String>, Error> {
    let unreachable = |why: String| -> Result<Vec<String>, Error> {
        // Without Connect, only the failover's fence can prove no forward flow writes.
        let fenced = ctx
            .journal
            .active_fences(Some(&p.new))?
            .iter()
            .any(|f| f.name == "replication-into-backup");
        if fenced {
            Ok(vec![format!(
                "cannot list the connectors that write into `{}` ({why}); the journal's active `replication-into-backup` fence on `{}` keeps the mirror principal from writing there, so no forward flow can close a cycle",
                p.new, p.new
            )])
        } else {
            Err(refused(format!(
                "cannot check that no MM2 flow copies `{}` -> `{}` while the reverse flow would run: {why}\nhelp: make the Connect cluster of `{}` reachable (or fence the mirror principal on `{}` with `kafka-dr fence apply replication-into-backup`), then re-run",
                p.old, p.new, p.new, p.new
            )))
        }
    };
    let Some(client) = new_connect else {
        return unreachable(format!(
            "the topology names no `connect` URL for `{}`",
            p.new
        ));
    };
    let names = match ctx.block_on(client.list_connectors()) {
        Ok(n) => n,
        Err(ConnectError::Unreachable { detail, .. }) => {
            return unreachable(format!(
                "Connect at `{}` is unreachable: {}",
                client.url(),
                first_line(&detail)
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let mine = [&own.source, &own.checkpoint, &own.heartbeat];
    let mut conflicts = Vec::new();
    for name in names {
        if mine.contains(&&name) {
            continue;
        }
        let config = match ctx.block_on(client.config(&name)) {
            Ok(c) => c,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        ctx.reporter.add_secrets(secret_values(&config));
        let is_source = config
            .get("connector.class")
            .is_some_and(|c| c.ends_with("MirrorSourceConnector"));
        if !is_source {
            continue;
        }
        let from_old = config.get("source.cluster.alias").map(String::as_str) == Some(target_alias)
            || (target_bootstrap.is_some()
                && config
                    .get("source.cluster.bootstrap.servers")
                    .map(String::as_str)
                    == target_bootstrap);
        if !from_old {
            continue;
        }
        let overlap: Vec<&String> = match Mm2TopicFilter::of(&config) {
            Ok(f) => target_topics.iter().filter(|t| f.copies(t)).collect(),
            // Cannot tell: assume it copies them all.
            Err(_) => target_topics.iter().collect(),
        };
        if overlap.is_empty() {
            continue;
        }
        let Some(status) = ctx.block_on(status_of(client, &name))? else {
            continue;
        };
        if !is_active(&status) {
            continue;
        }
        let shown: Vec<String> = overlap.iter().take(5).map(|t| format!("`{t}`")).collect();
        let more = if overlap.len() > 5 {
            format!(" and {} more", overlap.len() - 5)
        } else {
            String::new()
        };
        let worker = if status.worker_id.is_empty() {
            String::new()
        } else {
            format!(", worker {}", status.worker_id)
        };
        conflicts.push(format!(
            "  connector `{name}` on Connect `{}` (cluster `{}`{worker}) is {}, and copies {} -> {}: {}{more}",
            client.url(),
            p.new,
            status.summary(),
            config
                .get("source.cluster.alias")
                .map(String::as_str)
                .unwrap_or("?"),
            config
                .get("target.cluster.alias")
                .map(String::as_str)
                .unwrap_or("?"),
            shown.join(", ")
        ));
    }
    if conflicts.is_empty() {
        return Ok(Vec::new());
    }
    Err(refused(format!(
        "refusing to run the reverse flow `{}` -> `{}` while a flow the other way runs on the same topics (IdentityReplicationPolicy cannot stop the records going round):\n{}\nhelp: stop each of them (PUT {}/connectors/<name>/stop), then re-run",
        p.new,
        p.old,
        conflicts.join("\n"),
        client.url()
    )))
}

// ---------------------------------------------------------------------------------------
// mirror.seed
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedParams {
    #[serde(default = "delete_records")]
    strategy: String,
    #[serde(default = "sixty")]
    timeout_seconds: u64,
}

fn delete_records() -> String {
    "delete-records".into()
}

fn sixty() -> u64 {
    60
}

/// A reverse connector as it is: its status and config (`None`: it does not exist).
type Existing = (Option<ConnectorStatus>, Option<BTreeMap<String, String>>);

/// `mirror.seed`.
#[derive(Debug)]
pub struct Seed {
    strategy: Strategy,
    timeout: Duration,
}

/// What the seed found: the detail it stores, the raw configs to send, the offsets to
/// write, and the plan's lines.
struct Survey {
    detail: SeedDetail,
    client: ConnectClient,
    /// Per role (ROLES order): the raw config to create or put, when one is.
    send: Vec<Option<BTreeMap<String, String>>>,
    /// The offsets to PATCH into the source connector (seeds that differ, stale ones).
    patch: Vec<ConnectorOffset>,
    /// Partitions whose stored offset differs from the seed, for messages.
    mismatched: Vec<String>,
    changes: Vec<String>,
    notes: Vec<String>,
}

impl Seed {
    pub fn new(step: &StepDef) -> Result<Seed, Error> {
        let p: SeedParams = super::params(step, SEED)?;
        let strategy = Strategy::parse(&p.strategy).ok_or_else(|| ActionError::Params {
            step: step.id.clone(),
            action: SEED,
            reason: format!(
                "unknown strategy `{}`\nhelp: `strategy` must be the truncate step's: `delete-records` (copy from the promotion cut; also for truncate `keep`) or `recreate` (copy everything from the earliest offset)",
                p.strategy
            ),
        })?;
        Ok(Seed {
            strategy,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// Refuse a strategy that does not fit this run's `truncate` step (read from the run's
    /// runbook text as YAML, so that this check does not depend on the whole runbook
    /// loading; a `truncate` step without `strategy` uses its default, `delete-records`).
    fn check_truncate_strategy(&self, ctx: &StepContext<'_>) -> Result<(), Error> {
        let Ok(detail) = ctx.journal.run_detail(ctx.run_id) else {
            return Ok(());
        };
        let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(&detail.runbook_text) else {
            return Ok(());
        };
        let steps = doc
            .get("steps")
            .and_then(serde_yaml::Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for step in steps
            .iter()
            .filter(|s| s.get("action").and_then(serde_yaml::Value::as_str) == Some("truncate"))
        {
            let id = step
                .get("id")
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or("truncate");
            let t = step
                .get("params")
                .and_then(|p| p.get("strategy"))
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or("delete-records");
            if let Some(wanted) = Strategy::for_truncate(t) {
                if wanted != self.strategy {
                    return Err(Error::Usage(format!(
                        "step `{}` ({SEED}) seeds with strategy `{}`, but step `{}` truncates with `{t}`: the reverse flow would {}\nhelp: set `strategy: {}` on step `{}`",
                        ctx.step_id,
                        self.strategy.name(),
                        id,
                        if wanted == Strategy::Recreate {
                            "copy only what came after the promotion into recreated (empty) topics"
                        } else {
                            "copy the whole history again on top of what the old primary kept"
                        },
                        wanted.name(),
                        ctx.step_id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Read everything, change nothing.
    fn survey(&self, ctx: &StepContext<'_>) -> Result<Survey, Error> {
        self.check_truncate_strategy(ctx)?;
        let p = placement(ctx)?;
        let topology = ctx.topology;
        let client = old_connect(topology, &p, self.timeout)?;
        let url = client.url().to_string();
        let mut changes = Vec::new();
        let mut notes = Vec::new();

        // Capabilities first: nothing is worth planning on a worker that cannot seed.
        let version = ctx.block_on(client.connect_version())?;
        if !Feature::OffsetsWrite.supported_by(&version) {
            return Err(refused(format!(
                "Connect at `{url}` (cluster `{}`) runs {version}, which cannot write connector offsets (PATCH /connectors/<c>/offsets needs Kafka 3.6+): the reverse flow cannot be seeded at the promotion cut\nhelp: upgrade the Connect workers of `{}` to Kafka 3.7 or newer",
                p.old, p.old
            )));
        }

        // The reverse connectors as they are.
        let mut existing: Vec<Existing> = Vec::new();
        for role in ROLES {
            let name = role.of(&p.reverse);
            let st = settled_status_of(ctx, &client, name)?;
            let cfg = if st.is_some() {
                match ctx.block_on(client.config(name)) {
                    Ok(c) => Some(c),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            if let Some(c) = &cfg {
                ctx.reporter.add_secrets(secret_values(c));
            }
            existing.push((st, cfg));
        }

        // The forward flow's configs, the template of the reverse ones.
        let new_connect = connect_client(topology, &p.new, self.timeout)?;
        let derived = self.derive_all(ctx, &p, new_connect.as_ref());

        let mut configs = Vec::new();
        let mut send = Vec::new();
        let mut in_effect: Vec<BTreeMap<String, String>> = Vec::new();
        for (i, role) in ROLES.iter().enumerate() {
            let name = role.of(&p.reverse).to_string();
            let (st, have) = &existing[i];
            let state = st.as_ref().map(ConnectorStatus::summary);
            let (action, keys, config, to_send) = match (&derived, have) {
                (Ok(want), None) => {
                    let want = want[i].clone();
                    (
                        ConnectorAction::Create,
                        Vec::new(),
                        want.clone(),
                        Some(want),
                    )
                }
                (Ok(want), Some(have)) => {
                    let want = want[i].clone();
                    let keys = changed_keys(have, &want);
                    if keys.is_empty() {
                        (ConnectorAction::Keep, keys, want, None)
                    } else if st.as_ref().is_some_and(|s| s.is_in(TargetState::Stopped)) {
                        (
                            ConnectorAction::UpdateConfig,
                            keys,
                            want.clone(),
                            Some(want),
                        )
                    } else {
                        return Err(refused(format!(
                            "reverse {} connector `{name}` on Connect `{url}` (cluster `{}`) is {} with a config that differs from the one derived from `{}` (keys: {})\nhelp: stop it (PUT {url}/connectors/{name}/stop) and re-run to have its config replaced and its offsets seeded, or delete it",
                            role.name(),
                            p.old,
                            state.clone().unwrap_or_default(),
                            role.of(&p.forward),
                            list_some(&keys, 8)
                        )));
                    }
                }
                (Err(_), Some(have)) => (ConnectorAction::Keep, Vec::new(), have.clone(), None),
                (Err(why), None) => {
                    let names = [
                        &p.reverse.source,
                        &p.reverse.checkpoint,
                        &p.reverse.heartbeat,
                    ]
                    .map(|n| format!("`{n}`"))
                    .join(", ");
                    return Err(refused(format!(
                        "cannot build the reverse connectors' configs: {why}\nhelp: create the reverse connectors {names} by hand on Connect `{url}` (cluster `{}`), copying `{}` -> `{}`, already STOPPED (POST {url}/connectors with \"initial_state\": \"STOPPED\"), then resume the run: kafka-dr then seeds their offsets",
                        p.old, p.new, p.old
                    )));
                }
            };
            if let Err(why) = &derived {
                if action == ConnectorAction::Keep && i == 0 {
                    notes.push(format!(
                        "the forward flow's configs cannot be read ({why}): the reverse connectors are kept as they are"
                    ));
                }
            }
            match action {
                ConnectorAction::Create => changes.push(format!(
                    "create reverse {} connector `{name}` on Connect `{url}` (cluster `{}`), STOPPED: {}",
                    role.name(),
                    p.old,
                    summarize(&config)
                )),
                ConnectorAction::UpdateConfig => changes.push(format!(
                    "replace the config of reverse {} connector `{name}` on Connect `{url}` (cluster `{}`; it stays STOPPED): keys {}; now {}",
                    role.name(),
                    p.old,
                    list_some(&keys, 8),
                    summarize(&config)
                )),
                ConnectorAction::Keep => notes.push(format!(
                    "reverse {} connector `{name}` on Connect `{url}` (cluster `{}`) exists with this config ({})",
                    role.name(),
                    p.old,
                    state.clone().unwrap_or_default()
                )),
            }
            configs.push(ConnectorSeed {
                role: role.name().to_string(),
                name,
                state,
                action,
                changed_keys: keys,
                config: redacted(&config),
            });
            send.push(to_send);
            in_effect.push(config);
        }
        if configs.iter().any(|c| c.action == ConnectorAction::Create)
            && !Feature::InitialState.supported_by(&version)
        {
            return Err(refused(format!(
                "Connect at `{url}` (cluster `{}`) runs {version}, which cannot create a connector already stopped (`initial_state` needs Kafka 3.7+); created running, the reverse flow would copy from the wrong offsets before it is seeded\nhelp: upgrade the workers; or create the three connectors by hand so that they copy nothing (`topics.exclude: .*`, `groups.exclude: .*`, `emit.heartbeats.enabled: false`), stop them (PUT {url}/connectors/<name>/stop), then resume the run: kafka-dr replaces their configs (they stay STOPPED) and seeds the offsets",
                p.old
            )));
        }

        let source_cfg = &in_effect[0];
        let source_alias = source_cfg
            .get("source.cluster.alias")
            .cloned()
            .ok_or_else(|| {
                refused(format!(
                    "reverse source connector `{}` has no `source.cluster.alias`\nhelp: fix its config (the alias of `{}`), then re-run",
                    p.reverse.source, p.new
                ))
            })?;
        let target_alias = source_cfg
            .get("target.cluster.alias")
            .cloned()
            .unwrap_or_else(|| "target".into());
        let target_bootstrap = source_cfg.get("target.cluster.bootstrap.servers").cloned();
        let filter = Mm2TopicFilter::of(source_cfg).map_err(|why| {
            refused(format!(
                "cannot tell which topics reverse source connector `{}` copies: {why}\nhelp: give it a `topics` list of plain regexes (the topology's scope)",
                p.reverse.source
            ))
        })?;

        // The seed, partition by partition.
        let (partitions, skipped) =
            self.seed_partitions(ctx, &p, &filter, &source_alias, &target_alias, &mut notes)?;
        if partitions.is_empty() {
            notes.push(format!(
                "no in-scope partition on `{}` for the reverse flow to copy",
                p.new
            ));
        }

        // Partitions with no stored position start at the consumer's auto.offset.reset,
        // which MM2 sets to `earliest` unless the config says otherwise.
        let from_earliest: Vec<String> = partitions
            .iter()
            .filter(|sp| sp.last_copied().is_none())
            .map(SeedPartition::label)
            .collect();
        if let Some(k) = source_cfg
            .iter()
            .find(|(k, v)| {
                k.ends_with("auto.offset.reset")
                    && !k.starts_with("target.")
                    && v.trim() != "earliest"
            })
            .map(|(k, _)| k.clone())
        {
            if !from_earliest.is_empty() {
                return Err(refused(format!(
                    "reverse source connector `{}` sets `{k}` to something other than `earliest`: {} start from the earliest offset and would skip records\nhelp: remove `{k}` from the forward connector `{}` (or set it to `earliest`), then re-run",
                    p.reverse.source,
                    list_some(&from_earliest, 5),
                    p.forward.source
                )));
            }
        }

        // Nothing may copy the other way on these topics.
        let target_topics: BTreeSet<String> =
            partitions.iter().map(|s| s.target_topic.clone()).collect();
        notes.extend(check_no_forward_running(
            ctx,
            &p,
            new_connect.as_ref(),
            &target_alias,
            target_bootstrap.as_deref(),
            &target_topics,
            &p.reverse,
        )?);

        // The source connector's offsets against the seed.
        let source_state = existing[0].0.clone();
        let stored = match &source_state {
            Some(_) => Some(read_offsets(
                ctx,
                &client,
                &p.reverse.source,
                &source_alias,
            )?),
            None => None,
        };
        let (patch, mismatched, stale) =
            offsets_to_write(&partitions, stored.as_ref(), &source_alias)?;
        if let Some(st) = &source_state {
            if !patch.is_empty() && !st.is_in(TargetState::Stopped) {
                return Err(refused(format!(
                    "reverse source connector `{}` on Connect `{url}` (cluster `{}`) is {} and its offsets differ from the seed ({}): it may already have copied records into `{}`\nhelp: stop it (PUT {url}/connectors/{}/stop), check what it wrote into `{}` since the truncate step, then re-run",
                    p.reverse.source,
                    p.old,
                    st.summary(),
                    mismatched.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
                    p.old,
                    p.reverse.source,
                    p.old
                )));
            } else if patch.is_empty() && !st.is_in(TargetState::Stopped) {
                notes.push(format!(
                    "reverse source connector `{}` is already {} with its offsets at the seed",
                    p.reverse.source,
                    st.summary()
                ));
            }
        }
        let to_write = patched_partitions(&patch);
        for sp in &partitions {
            if to_write.contains(&(sp.topic.clone(), sp.partition)) {
                changes.push(format!(
                    "{} (offsets of `{}`)",
                    sp.describe(),
                    p.reverse.source
                ));
            } else {
                notes.push(format!("already seeded: {}", sp.describe()));
            }
        }
        for s in &stale {
            changes.push(format!(
                "erase the offset of `{}`-{} (last copied {}) that an earlier `{}` left in Connect: that topic is not seeded",
                s.topic, s.partition, s.last_copied, p.reverse.source
            ));
        }

        let detail = SeedDetail {
            strategy: self.strategy,
            new_primary: p.new.clone(),
            old_primary: p.old.clone(),
            promotion_run: p.cut.run_id,
            promotion_taken_at: p.cut.taken_at.clone(),
            connect_url: url,
            connectors: p.reverse.clone(),
            source_alias,
            target_alias,
            target_bootstrap,
            partitions,
            configs,
            stale_offsets: stale,
            skipped,
        };
        Ok(Survey {
            detail,
            client,
            send,
            patch,
            mismatched,
            changes,
            notes,
        })
    }

    /// The reverse configs derived from the forward connectors (ROLES order), or why not.
    fn derive_all(
        &self,
        ctx: &StepContext<'_>,
        p: &Placement,
        new_connect: Option<&ConnectClient>,
    ) -> Result<Vec<BTreeMap<String, String>>, String> {
        let Some(client) = new_connect else {
            return Err(format!(
                "the topology names no `connect` URL for `{}`, where the forward flow runs",
                p.new
            ));
        };
        let mut out = Vec::new();
        for role in ROLES {
            let fwd = role.of(&p.forward);
            let config = ctx.block_on(client.config(fwd)).map_err(|e| {
                format!(
                    "the forward {} connector `{fwd}` on Connect `{}` cannot be read: {}",
                    role.name(),
                    client.url(),
                    first_line(&ctx.reporter.redact(&e.to_string()))
                )
            })?;
            ctx.reporter.add_secrets(secret_values(&config));
            out.push(derive_config(
                &config,
                fwd,
                role.of(&p.reverse),
                ctx.topology,
            )?);
        }
        Ok(out)
    }

    /// Every in-scope partition of the new primary the reverse flow copies, with where it
    /// starts and what the old primary holds.
    #[allow(clippy::too_many_arguments)]
    fn seed_partitions(
        &self,
        ctx: &StepContext<'_>,
        p: &Placement,
        filter: &Mm2TopicFilter,
        source_alias: &str,
        target_alias: &str,
        notes: &mut Vec<String>,
    ) -> Result<(Vec<SeedPartition>, Vec<String>), Error> {
        let topology = ctx.topology;
        let policy = topology.replication.policy;
        let new = common::kafka(topology, &p.new, self.timeout)?;
        let old = common::kafka(topology, &p.old, self.timeout)?;
        let mut skipped = Vec::new();
        let mut wanted: Vec<(String, i32, String)> = Vec::new();
        for (topic, partition) in common::in_scope_partitions(topology, &new, self.timeout)? {
            if policy == Policy::Prefix && topic.starts_with(&format!("{target_alias}.")) {
                skipped.push(format!(
                    "`{topic}`-{partition}: a copy of `{}`'s own topic, which MM2 never copies back to it",
                    p.old
                ));
                continue;
            }
            let target = policy.target_topic(source_alias, &topic);
            if !filter.copies(&topic) {
                skipped.push(format!(
                    "`{topic}`-{partition}: the reverse source connector's `topics`/`topics.exclude` leave it out"
                ));
                continue;
            }
            wanted.push((topic, partition, target));
        }
        for s in &skipped {
            notes.push(format!("not seeded: {s}"));
        }
        let new_wm = new.watermarks(
            &wanted
                .iter()
                .map(|(t, p, _)| (t.as_str(), *p))
                .collect::<Vec<_>>(),
            self.timeout,
        )?;
        let old_md = old.metadata(self.timeout)?;
        let old_parts: Vec<(&str, i32)> = wanted
            .iter()
            .filter(|(_, part, target)| {
                old_md
                    .topic(target)
                    .is_some_and(|t| t.partitions.contains(part))
            })
            .map(|(_, part, target)| (target.as_str(), *part))
            .collect();
        let old_wm: BTreeMap<(String, i32), (i64, i64)> = old
            .watermarks(&old_parts, self.timeout)?
            .into_iter()
            .map(|w| ((w.topic, w.partition), (w.earliest, w.latest)))
            .collect();
        let recreated = recreated_by_truncate(ctx)?;
        let mut out = Vec::new();
        for ((topic, partition, target), wm) in wanted.into_iter().zip(new_wm) {
            let key = (topic.clone(), partition);
            // Per topic when this run's truncate step says which it recreated; else the
            // strategy for every topic.
            let from_earliest = match &recreated {
                Some(r) => r.contains(&target),
                None => self.strategy == Strategy::Recreate,
            };
            let (next_offset, reason) = if from_earliest {
                (None, SeedReason::Recreate)
            } else {
                match p.cut.new_primary_end.get(&key) {
                    Some(cut) => (Some(*cut), SeedReason::PromotionCut),
                    None => (None, SeedReason::CreatedAfterPromotion),
                }
            };
            if let Some(cut) = next_offset {
                if wm.latest < cut {
                    return Err(refused(format!(
                        "`{topic}`-{partition} on `{}` ends at offset {}, before the promotion cut {cut} (run {}): the topic was recreated or cut on the new primary since the promotion, so the cut no longer points at the right records\nhelp: seed this flow by hand, or use strategy `recreate` with a recreated topic on `{}`",
                        p.new, wm.latest, p.cut.run_id, p.old
                    )));
                }
                if wm.earliest > cut {
                    notes.push(format!(
                        "`{topic}`-{partition}: offsets {cut}..{} on `{}` were deleted (retention) before they could be copied back; `{}` will not get them",
                        wm.earliest - 1,
                        p.new,
                        p.old
                    ));
                }
            }
            let (old_exists, (old_start, old_end)) = match old_wm.get(&(target.clone(), partition))
            {
                Some(w) => (true, *w),
                None => (false, (0, 0)),
            };
            let (old_start, old_end) = if from_earliest
                && ctx.dry_run
                && old_end > old_start
                && recreated.as_ref().is_some_and(|r| r.contains(&target))
            {
                // Planned only: the truncate step recreates it empty before this runs.
                notes.push(format!(
                    "`{target}`-{partition} on `{}` still holds {} records, but the truncate step recreates `{target}` before the seed: the first copy lands at offset 0",
                    p.old,
                    old_end - old_start
                ));
                (0, 0)
            } else {
                (old_start, old_end)
            };
            if old_end > old_start {
                if from_earliest {
                    return Err(refused(format!(
                        "`{target}`-{partition} on `{}` still holds {} records (offsets {old_start}..{}), but it is seeded from the earliest offset (strategy `recreate`, or recreated by the truncate step): every record would be there twice\nhelp: recreate the topic (the truncate step with strategy `recreate`), or seed with `delete-records`",
                        p.old,
                        old_end - old_start,
                        old_end - 1
                    )));
                }
                notes.push(format!(
                    "`{target}`-{partition} on `{}` still holds {} readable records (offsets {old_start}..{}); the copies land after them",
                    p.old,
                    old_end - old_start,
                    old_end - 1
                ));
            }
            out.push(SeedPartition {
                topic,
                partition,
                target_topic: target,
                next_offset,
                reason,
                new_log_start: wm.earliest,
                new_log_end: wm.latest,
                old_log_start: old_start,
                old_log_end: old_end,
                old_exists,
            });
        }
        Ok((out, skipped))
    }

    /// Poll until `name` is STOPPED with no tasks.
    fn wait_stopped(
        &self,
        ctx: &StepContext<'_>,
        client: &ConnectClient,
        cluster: &str,
        name: &str,
    ) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            if let Some(s) = ctx.block_on(status_of(client, name))? {
                if s.is_in(TargetState::Stopped) {
                    return Ok(());
                }
                if started.elapsed() >= self.timeout {
                    return Err(ConnectError::WaitTimeout {
                        cluster: cluster.into(),
                        url: client.url().into(),
                        connector: name.to_string(),
                        wanted: TargetState::Stopped,
                        waited: started.elapsed(),
                        last: Some(Box::new(s)),
                    }
                    .into());
                }
            } else if started.elapsed() >= self.timeout {
                return Err(refused(format!(
                    "connector `{name}` on Connect `{}` (cluster `{cluster}`) disappeared while kafka-dr seeded it\nhelp: someone deleted it: re-run the step",
                    client.url()
                )));
            }
            if ctx.is_interrupted() {
                return Err(ActionError::Interrupted {
                    during: format!("waiting for connector `{name}` on `{cluster}` to be STOPPED"),
                }
                .into());
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The old primary's topics this run's `truncate` step recreated (its output, or under
/// `--dry-run` its plan), by their names there: the reverse flow copies those from the
/// earliest offset. `None` when the run has no truncate step that recorded them (then the
/// seed's `strategy` decides for every topic).
fn recreated_by_truncate(ctx: &StepContext<'_>) -> Result<Option<BTreeSet<String>>, Error> {
    let steps = ctx.journal.steps(ctx.run_id)?;
    let Some(step) = steps.iter().find(|s| s.action == super::truncate::NAME) else {
        return Ok(None);
    };
    let recorded = step
        .output
        .as_ref()
        .or_else(|| step.plan.as_ref().and_then(|p| p.get("detail")));
    let Some(v) = recorded else {
        return Ok(None);
    };
    if let Some(list) = v.get("recreated_topics").and_then(|l| l.as_array()) {
        return Ok(Some(
            list.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
        ));
    }
    // Recorded by an older version: the recreations it did.
    let list = v
        .get("recreated")
        .or_else(|| v.get("recreations"))
        .and_then(|l| l.as_array());
    Ok(list.map(|l| {
        l.iter()
            .filter_map(|r| r.get("topic").and_then(|t| t.as_str()).map(str::to_string))
            .collect()
    }))
}

/// The source connector's stored positions for `alias`: (topic, partition) -> last copied.
fn read_offsets(
    ctx: &StepContext<'_>,
    client: &ConnectClient,
    name: &str,
    alias: &str,
) -> Result<BTreeMap<(String, i32), Option<i64>>, Error> {
    let offsets: Vec<MirrorSourceOffset> = ctx.block_on(client.get_mirror_source_offsets(name))?;
    Ok(offsets
        .into_iter()
        .filter(|o| o.source_alias == alias)
        .map(|o| ((o.topic, o.partition), o.last_copied))
        .collect())
}

/// What must be written for the stored offsets to equal the seed: the PATCH entries, the
/// mismatches in words, and the stale entries to erase. With nothing stored (`None`: the
/// connector does not exist yet), every seed is written, tombstones included, since a
/// connector created under an old name inherits that name's offsets.
#[allow(clippy::type_complexity)]
fn offsets_to_write(
    seed: &[SeedPartition],
    stored: Option<&BTreeMap<(String, i32), Option<i64>>>,
    alias: &str,
) -> Result<(Vec<ConnectorOffset>, Vec<String>, Vec<StaleOffset>), Error> {
    let mut patch = Vec::new();
    let mut mismatched = Vec::new();
    let mut seeded = BTreeSet::new();
    for sp in seed {
        seeded.insert((sp.topic.clone(), sp.partition));
        let want = sp.last_copied();
        let have = stored.map(|m| m.get(&(sp.topic.clone(), sp.partition)).copied().flatten());
        if have == Some(want) {
            continue;
        }
        if let Some(have) = have {
            mismatched.push(format!(
                "{}: stored {}, seed {}",
                sp.label(),
                have.map(|h| format!("last copied {h}"))
                    .unwrap_or_else(|| "no position".into()),
                want.map(|w| format!("last copied {w}"))
                    .unwrap_or_else(|| "no position (earliest)".into())
            ));
        }
        patch.push(
            mirror_source_offset(alias, &sp.topic, sp.partition, sp.next_offset.unwrap_or(0))
                .map_err(Error::from)?,
        );
    }
    let mut stale = Vec::new();
    if let Some(m) = stored {
        for ((topic, partition), last) in m {
            if let Some(last) = last {
                if !seeded.contains(&(topic.clone(), *partition)) {
                    stale.push(StaleOffset {
                        topic: topic.clone(),
                        partition: *partition,
                        last_copied: *last,
                    });
                    patch.push(
                        MirrorSourceOffset {
                            source_alias: alias.to_string(),
                            topic: topic.clone(),
                            partition: *partition,
                            last_copied: None,
                        }
                        .to_connector_offset(),
                    );
                }
            }
        }
    }
    Ok((patch, mismatched, stale))
}

/// The (topic, partition) of each PATCH entry.
fn patched_partitions(patch: &[ConnectorOffset]) -> BTreeSet<(String, i32)> {
    patch
        .iter()
        .filter_map(|e| MirrorSourceOffset::from_connector_offset(e).ok())
        .map(|o| (o.topic, o.partition))
        .collect()
}

impl Action for Seed {
    fn name(&self) -> &'static str {
        SEED
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let s = self.survey(ctx)?;
        let mut notes = s.notes;
        notes.insert(
            0,
            format!(
                "reverse flow `{}` -> `{}` (MM2 aliases {} -> {}) on Connect `{}`, strategy {}, promotion cut of run {} taken at {}",
                s.detail.new_primary,
                s.detail.old_primary,
                s.detail.source_alias,
                s.detail.target_alias,
                s.detail.connect_url,
                s.detail.strategy.name(),
                s.detail.promotion_run,
                s.detail.promotion_taken_at
            ),
        );
        Ok(Plan {
            changes: s.changes,
            notes,
            detail: serde_json::to_value(&s.detail).map_err(|e| {
                Error::Io(format!(
                    "cannot encode the seed of step `{}`: {e}",
                    ctx.step_id
                ))
            })?,
        })
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let s = self.survey(ctx)?;
        let old = s.detail.old_primary.clone();
        let url = s.detail.connect_url.clone();
        for (i, role) in ROLES.iter().enumerate() {
            let name = role.of(&s.detail.connectors);
            let Some(config) = &s.send[i] else {
                continue;
            };
            match s.detail.configs[i].action {
                ConnectorAction::Create => {
                    ctx.reporter.status(
                        "Creating",
                        &format!(
                            "reverse {} connector `{name}` on `{old}` (STOPPED)",
                            role.name()
                        ),
                    );
                    match ctx.block_on(s.client.create(name, config, Some(TargetState::Stopped))) {
                        Ok(()) | Err(ConnectError::AlreadyExists { .. }) => {}
                        Err(e) => return Err(scrub(ctx, e)),
                    }
                }
                ConnectorAction::UpdateConfig => {
                    ctx.reporter.status(
                        "Configuring",
                        &format!(
                            "reverse {} connector `{name}` on `{old}` (stays STOPPED)",
                            role.name()
                        ),
                    );
                    ctx.block_on(s.client.put_config(name, config))
                        .map_err(|e| scrub(ctx, e))?;
                }
                ConnectorAction::Keep => {}
            }
        }
        for role in ROLES {
            let name = role.of(&s.detail.connectors);
            if s.detail
                .configs
                .iter()
                .any(|c| c.name == name && c.action != ConnectorAction::Keep)
                || (role == Role::Source && !s.patch.is_empty())
            {
                self.wait_stopped(ctx, &s.client, &old, name)?;
            }
        }
        crate::engine::crash::crash_point("mirror.seed:before-offsets");
        if !s.patch.is_empty() {
            ctx.reporter.status(
                "Seeding",
                &format!(
                    "`{}` on `{old}`: {} partition offsets",
                    s.detail.connectors.source,
                    s.patch.len()
                ),
            );
            ctx.block_on(
                s.client
                    .patch_offsets(&s.detail.connectors.source, &s.patch),
            )
            .map_err(|e| scrub(ctx, e))?;
        }
        let mut out = serde_json::to_value(&s.detail).map_err(|e| {
            Error::Io(format!(
                "cannot encode the seed of step `{}`: {e}",
                ctx.step_id
            ))
        })?;
        out["offsets_written"] = json!(s.patch.len());
        out["connect_url"] = json!(url);
        Ok(out)
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let mut tries = 0;
        loop {
            tries += 1;
            let s = self.survey(ctx)?;
            let pending: Vec<String> = s
                .detail
                .configs
                .iter()
                .filter(|c| c.action != ConnectorAction::Keep)
                .map(|c| format!("  {} connector `{}`: {:?}", c.role, c.name, c.action))
                .collect();
            if !pending.is_empty() {
                return Ok(Verdict::NotDone(format!(
                    "reverse connectors on Connect `{}` are not all in place:\n{}",
                    s.detail.connect_url,
                    pending.join("\n")
                )));
            }
            if s.patch.is_empty() {
                return Ok(Verdict::Done);
            }
            if tries >= READ_BACK_TRIES {
                let mut what = s.mismatched.clone();
                what.extend(s.detail.stale_offsets.iter().map(|o| {
                    format!(
                        "`{}`-{}: stale offset {}",
                        o.topic, o.partition, o.last_copied
                    )
                }));
                if what.is_empty() {
                    what.push(format!("{} partitions without their seed", s.patch.len()));
                }
                return Ok(Verdict::NotDone(format!(
                    "the offsets of `{}` on Connect `{}` do not equal the seed:\n  {}\nhelp: re-run the step; GET {}/connectors/{}/offsets shows what Connect holds",
                    s.detail.connectors.source,
                    s.detail.connect_url,
                    what.join("\n  "),
                    s.detail.connect_url,
                    s.detail.connectors.source
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Ctrl-C while `mirror.start` waits for the reverse flow to catch up.
fn catch_up_interrupted(seed: &SeedDetail) -> Error {
    ActionError::Interrupted {
        during: format!(
            "waiting for the reverse flow `{}` -> `{}` to catch up",
            seed.new_primary, seed.old_primary
        ),
    }
    .into()
}

/// A Connect error with every secret the reporter knows scrubbed (Connect may quote a
/// config value in a validation error).
fn scrub(ctx: &StepContext<'_>, e: ConnectError) -> Error {
    let text = ctx.reporter.redact(&e.to_string());
    if text == e.to_string() {
        e.into()
    } else {
        Error::Io(text)
    }
}

// ---------------------------------------------------------------------------------------
// mirror.start
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartParams {
    #[serde(default = "seed_step")]
    seed_step: String,
    #[serde(default)]
    max_lag: Option<u64>,
    #[serde(default = "one_twenty")]
    timeout_seconds: u64,
}

fn seed_step() -> String {
    "mirror-seed".into()
}

fn one_twenty() -> u64 {
    120
}

/// `mirror.start`.
#[derive(Debug)]
pub struct Start {
    seed_step: String,
    max_lag: i64,
    timeout: Duration,
}

/// One partition of the running reverse flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionProgress {
    pub topic: String,
    pub partition: i32,
    pub target_topic: String,
    /// The next upstream offset the reverse source connector will copy, by its stored
    /// offsets (or the seed while it has stored none).
    pub next_offset: i64,
    pub new_log_end: i64,
    /// Records still to copy.
    pub lag: i64,
    /// Records written into the old primary since the seed.
    pub copied: i64,
    /// The fingerprint check of the first copy.
    pub first_copy: FirstCopy,
}

/// Whether the first copied record is the twin of the record the seed points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum FirstCopy {
    /// The new primary has nothing at or after the seed yet.
    NothingToCopy,
    /// The seed's record exists but no copy has landed yet.
    Pending { upstream_offset: i64 },
    Matches {
        upstream_offset: i64,
        downstream_offset: i64,
        fingerprint: Fingerprint,
    },
    Differs {
        upstream_offset: i64,
        downstream_offset: i64,
        upstream: Fingerprint,
        downstream: Fingerprint,
    },
}

/// The reverse flow as one look saw it.
struct Look {
    states: Vec<(String, Option<ConnectorStatus>)>,
    partitions: Vec<PartitionProgress>,
}

impl Look {
    fn all_running(&self) -> bool {
        self.states
            .iter()
            .all(|(_, s)| s.as_ref().is_some_and(|s| s.is_in(TargetState::Running)))
    }

    fn failures(&self) -> Vec<String> {
        self.states
            .iter()
            .filter_map(|(n, s)| {
                let f = s.as_ref()?.failures();
                (!f.is_empty()).then(|| format!("`{n}`: {}", f.join("; ")))
            })
            .collect()
    }
}

impl Start {
    pub fn new(step: &StepDef) -> Result<Start, Error> {
        let p: StartParams = super::params(step, START)?;
        if p.seed_step.trim().is_empty() {
            return Err(ActionError::Params {
                step: step.id.clone(),
                action: START,
                reason: "`seed_step` is empty\nhelp: give the id of the run's `mirror.seed` step"
                    .into(),
            }
            .into());
        }
        Ok(Start {
            seed_step: p.seed_step,
            max_lag: i64::try_from(p.max_lag.unwrap_or(0)).unwrap_or(i64::MAX),
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// The seed stored by the seed step of this run: its output, else its plan (a step
    /// whose plan changed nothing, a dry run, or a step verified on resume stores none).
    fn seed(&self, ctx: &StepContext<'_>) -> Result<SeedDetail, Error> {
        let steps = ctx.journal.steps(ctx.run_id)?;
        let help = format!(
            "set `seed_step` to the id of this runbook's `{SEED}` step, placed before step `{}`",
            ctx.step_id
        );
        let Some(step) = steps.iter().find(|s| s.step_id == self.seed_step) else {
            return Err(Error::Usage(format!(
                "step `{}` ({START}): run {} has no step `{}`\nhelp: {help}",
                ctx.step_id, ctx.run_id, self.seed_step
            )));
        };
        if step.action != SEED {
            return Err(Error::Usage(format!(
                "step `{}` ({START}): step `{}` is a `{}` step, not `{SEED}`\nhelp: {help}",
                ctx.step_id, self.seed_step, step.action
            )));
        }
        let value = step
            .output
            .clone()
            .or_else(|| step.plan.as_ref().and_then(|p| p.get("detail").cloned()))
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "step `{}` ({START}): step `{}` has stored no seed in run {} yet\nhelp: {help}",
                    ctx.step_id, self.seed_step, ctx.run_id
                ))
            })?;
        serde_json::from_value(value).map_err(|e| {
            Error::Usage(format!(
                "step `{}` ({START}): cannot read the seed stored by step `{}` in run {}: {e}\nhelp: run the seed step again (a new run)",
                ctx.step_id, self.seed_step, ctx.run_id
            ))
        })
    }

    fn client(&self, ctx: &StepContext<'_>, seed: &SeedDetail) -> Result<ConnectClient, Error> {
        connect_client(ctx.topology, &seed.old_primary, self.timeout)?.ok_or_else(|| {
            Error::Usage(format!(
                "the topology names no `connect` URL for `{}`, where the reverse flow runs\nhelp: add it back to the topology (it was `{}` when the flow was seeded)",
                seed.old_primary, seed.connect_url
            ))
        })
    }

    /// Refuse when something copies the other way (same rule as the seed).
    fn check_forward(
        &self,
        ctx: &StepContext<'_>,
        seed: &SeedDetail,
    ) -> Result<Vec<String>, Error> {
        let p = placement(ctx)?;
        let new_connect = connect_client(ctx.topology, &seed.new_primary, self.timeout)?;
        let topics: BTreeSet<String> = seed
            .partitions
            .iter()
            .map(|s| s.target_topic.clone())
            .collect();
        check_no_forward_running(
            ctx,
            &p,
            new_connect.as_ref(),
            &seed.target_alias,
            seed.target_bootstrap.as_deref(),
            &topics,
            &seed.connectors,
        )
    }

    /// Connector states, lag, copies and the fingerprint check, read-only.
    fn look(
        &self,
        ctx: &StepContext<'_>,
        seed: &SeedDetail,
        client: &ConnectClient,
        new: &KafkaClient,
        old: &KafkaClient,
    ) -> Result<Look, Error> {
        let mut states = Vec::new();
        for role in ROLES {
            let name = role.of(&seed.connectors).to_string();
            let st = ctx.block_on(status_of(client, &name))?;
            states.push((name, st));
        }
        let stored = if states[0].1.is_some() {
            read_offsets(ctx, client, &seed.connectors.source, &seed.source_alias)?
        } else {
            BTreeMap::new()
        };
        let new_wm = new.watermarks(
            &seed
                .partitions
                .iter()
                .map(|s| (s.topic.as_str(), s.partition))
                .collect::<Vec<_>>(),
            self.timeout,
        )?;
        let old_md = old.metadata(self.timeout)?;
        let old_parts: Vec<(&str, i32)> = seed
            .partitions
            .iter()
            .filter(|s| {
                old_md
                    .topic(&s.target_topic)
                    .is_some_and(|t| t.partitions.contains(&s.partition))
            })
            .map(|s| (s.target_topic.as_str(), s.partition))
            .collect();
        let old_end: BTreeMap<(String, i32), i64> = old
            .watermarks(&old_parts, self.timeout)?
            .into_iter()
            .map(|w| ((w.topic, w.partition), w.latest))
            .collect();
        let mut partitions = Vec::new();
        for (sp, wm) in seed.partitions.iter().zip(new_wm) {
            let next = match stored.get(&(sp.topic.clone(), sp.partition)) {
                Some(Some(last)) => last + 1,
                _ => sp.next_offset.unwrap_or(wm.earliest),
            };
            let mut lag = (wm.latest - next).max(0);
            if lag > self.max_lag && lag <= COUNTED_LAG {
                // Transaction markers take offsets but hold no record to copy.
                lag = count_records(new, &sp.topic, sp.partition, next, wm.latest, self.timeout)?;
            }
            let now_end = old_end
                .get(&(sp.target_topic.clone(), sp.partition))
                .copied()
                .unwrap_or(0);
            let first_copy = self.first_copy(sp, new, old, now_end, wm.latest)?;
            partitions.push(PartitionProgress {
                topic: sp.topic.clone(),
                partition: sp.partition,
                target_topic: sp.target_topic.clone(),
                next_offset: next,
                new_log_end: wm.latest,
                lag,
                copied: (now_end - sp.old_log_end).max(0),
                first_copy,
            });
        }
        Ok(Look { states, partitions })
    }

    /// The first record at or after the seed on the new primary, and the first record the
    /// old primary received after its log end at seed time.
    fn first_copy(
        &self,
        sp: &SeedPartition,
        new: &KafkaClient,
        old: &KafkaClient,
        old_end_now: i64,
        new_end_now: i64,
    ) -> Result<FirstCopy, Error> {
        let Some(up) = first_record(
            new,
            &sp.topic,
            sp.partition,
            sp.first_upstream(),
            new_end_now,
            self.timeout,
        )?
        else {
            return Ok(FirstCopy::NothingToCopy);
        };
        if old_end_now <= sp.old_log_end {
            return Ok(FirstCopy::Pending {
                upstream_offset: up.offset,
            });
        }
        let Some(down) = first_record(
            old,
            &sp.target_topic,
            sp.partition,
            sp.old_log_end,
            old_end_now,
            self.timeout,
        )?
        else {
            return Ok(FirstCopy::Pending {
                upstream_offset: up.offset,
            });
        };
        let (fu, fd) = (fingerprint(&up), fingerprint(&down));
        Ok(if fu == fd {
            FirstCopy::Matches {
                upstream_offset: up.offset,
                downstream_offset: down.offset,
                fingerprint: fu,
            }
        } else {
            FirstCopy::Differs {
                upstream_offset: up.offset,
                downstream_offset: down.offset,
                upstream: fu,
                downstream: fd,
            }
        })
    }

    /// Done when every connector runs, every partition's lag is at most `max_lag`, and
    /// every partition with something to copy has its first copy.
    fn settled(&self, look: &Look) -> bool {
        look.all_running()
            && look.partitions.iter().all(|p| {
                p.lag <= self.max_lag && !matches!(p.first_copy, FirstCopy::Pending { .. })
            })
    }

    fn mismatch_error(&self, seed: &SeedDetail, look: &Look) -> Option<Error> {
        let bad: Vec<String> = look
            .partitions
            .iter()
            .filter_map(|p| match &p.first_copy {
                FirstCopy::Differs {
                    upstream_offset,
                    downstream_offset,
                    upstream,
                    downstream,
                } => Some(format!(
                    "  `{}`-{}: the first record `{}` received after the seed (offset {downstream_offset} of `{}`, timestamp {}, hash {}) is not the seeded record (offset {upstream_offset} on `{}`, timestamp {}, hash {})",
                    p.topic,
                    p.partition,
                    seed.old_primary,
                    p.target_topic,
                    downstream.timestamp_ms,
                    &downstream.hash[..12.min(downstream.hash.len())],
                    seed.new_primary,
                    upstream.timestamp_ms,
                    &upstream.hash[..12.min(upstream.hash.len())]
                )),
                _ => None,
            })
            .collect();
        if bad.is_empty() {
            return None;
        }
        Some(refused(format!(
            "the reverse flow `{}` -> `{}` did not start where the seed said; its connectors are left running:\n{}\nhelp: check that nothing else writes into `{}` (the `app-writes` fence), that the target topics use CreateTime timestamps (LogAppendTime rewrites them), and what `{}` holds after each seeded log end; stop the flow with PUT {}/connectors/{}/stop if the copies are wrong",
            seed.new_primary,
            seed.old_primary,
            bad.join("\n"),
            seed.old_primary,
            seed.old_primary,
            seed.connect_url,
            seed.connectors.source
        )))
    }

    fn output(&self, seed: &SeedDetail, look: &Look, waited: Duration) -> serde_json::Value {
        json!({
            "new_primary": seed.new_primary,
            "old_primary": seed.old_primary,
            "connect_url": seed.connect_url,
            "connectors": look.states.iter().map(|(n, s)| json!({
                "name": n,
                "state": s.as_ref().map(ConnectorStatus::summary),
            })).collect::<Vec<_>>(),
            "max_lag": self.max_lag,
            "waited_ms": u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            "total_lag": look.partitions.iter().map(|p| p.lag).sum::<i64>(),
            "total_copied": look.partitions.iter().map(|p| p.copied).sum::<i64>(),
            "partitions": look.partitions,
        })
    }

    /// The verified reverse deltas: (first upstream offset, its copy's offset) per partition.
    fn record_deltas(
        &self,
        ctx: &StepContext<'_>,
        seed: &SeedDetail,
        look: &Look,
    ) -> Result<usize, Error> {
        let rows: Vec<OffsetSyncRow> = look
            .partitions
            .iter()
            .filter_map(|p| match &p.first_copy {
                FirstCopy::Matches {
                    upstream_offset,
                    downstream_offset,
                    ..
                } => Some(OffsetSyncRow {
                    source_cluster: seed.new_primary.clone(),
                    target_cluster: seed.old_primary.clone(),
                    topic: p.topic.clone(),
                    partition: p.partition,
                    upstream_offset: *upstream_offset,
                    downstream_offset: *downstream_offset,
                    recorded_at: None,
                    source_topic_id: None,
                    target_topic_id: None,
                }),
                _ => None,
            })
            .collect();
        Ok(ctx.journal.record_offset_syncs(&rows)?)
    }

    fn progress_line(&self, seed: &SeedDetail, look: &Look, waited: Duration) -> String {
        let behind: Vec<&PartitionProgress> = look
            .partitions
            .iter()
            .filter(|p| p.lag > self.max_lag)
            .collect();
        let lag: i64 = look.partitions.iter().map(|p| p.lag).sum();
        let copied: i64 = look.partitions.iter().map(|p| p.copied).sum();
        let states: Vec<String> = look
            .states
            .iter()
            .map(|(n, s)| {
                format!(
                    "{n} {}",
                    s.as_ref()
                        .map(|s| s.connector_state.to_string())
                        .unwrap_or_else(|| "missing".into())
                )
            })
            .collect();
        format!(
            "{} -> {}: lag {lag} records ({} of {} partitions above {}), {copied} copied; {} ({}s)",
            seed.new_primary,
            seed.old_primary,
            behind.len(),
            look.partitions.len(),
            self.max_lag,
            states.join(", "),
            waited.as_secs()
        )
    }
}

/// The first record of `[from, until)`, if any.
fn first_record(
    client: &KafkaClient,
    topic: &str,
    partition: i32,
    from: i64,
    until: i64,
    timeout: Duration,
) -> Result<Option<Record>, Error> {
    if from >= until {
        return Ok(None);
    }
    let mut first = None;
    client.for_each_record(topic, partition, from, until, timeout, |r| {
        first = Some(r);
        ControlFlow::Break(())
    })?;
    Ok(first)
}

/// How many records `[from, until)` holds.
fn count_records(
    client: &KafkaClient,
    topic: &str,
    partition: i32,
    from: i64,
    until: i64,
    timeout: Duration,
) -> Result<i64, Error> {
    if from >= until {
        return Ok(0);
    }
    let s = client.for_each_record(topic, partition, from, until, timeout, |_| {
        ControlFlow::Continue(())
    })?;
    Ok(i64::try_from(s.records).unwrap_or(i64::MAX))
}

impl Action for Start {
    fn name(&self) -> &'static str {
        START
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let seed = self.seed(ctx)?;
        let mut plan = Plan::default();
        plan.notes.extend(self.check_forward(ctx, &seed)?);
        let client = self.client(ctx, &seed)?;
        let url = client.url().to_string();
        let mut missing = Vec::new();
        for role in ROLES {
            let name = role.of(&seed.connectors);
            match ctx.block_on(status_of(&client, name))? {
                None => missing.push((role, name.to_string())),
                Some(s) if s.is_in(TargetState::Running) => plan.notes.push(format!(
                    "reverse {} connector `{name}` on Connect `{url}` (cluster `{}`) is already {}",
                    role.name(),
                    seed.old_primary,
                    s.summary()
                )),
                Some(s) => plan.changes.push(format!(
                    "resume reverse {} connector `{name}` on Connect `{url}` (cluster `{}`): now {}",
                    role.name(),
                    seed.old_primary,
                    s.summary()
                )),
            }
        }
        if !missing.is_empty() {
            if !ctx.dry_run {
                return Err(refused(format!(
                    "reverse connectors {} do not exist on Connect `{url}` (cluster `{}`)\nhelp: run step `{}` ({SEED}) first; it creates them STOPPED and seeds them",
                    missing.iter().map(|(_, n)| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                    seed.old_primary,
                    self.seed_step
                )));
            }
            for (role, name) in &missing {
                plan.changes.push(format!(
                    "resume reverse {} connector `{name}` on Connect `{url}` (cluster `{}`), once step `{}` has created it",
                    role.name(),
                    seed.old_primary,
                    self.seed_step
                ));
            }
        }
        let new = common::kafka(ctx.topology, &seed.new_primary, self.timeout)?;
        let old = common::kafka(ctx.topology, &seed.old_primary, self.timeout)?;
        let look = self.look(ctx, &seed, &client, &new, &old)?;
        for p in &look.partitions {
            plan.notes.push(format!(
                "`{}`-{}: next offset to copy {}, log end {} on `{}`: lag {} records, {} copied so far",
                p.topic, p.partition, p.next_offset, p.new_log_end, seed.new_primary, p.lag, p.copied
            ));
        }
        if !self.settled(&look) || !plan.changes.is_empty() {
            plan.changes.push(format!(
                "wait (up to {}s) until the reverse lag is at most {} records on each of the {} partitions, then check by fingerprint that the first copies landed where the seed said",
                self.timeout.as_secs(),
                self.max_lag,
                look.partitions.len()
            ));
        }
        plan.detail = self.output(&seed, &look, Duration::ZERO);
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let seed = self.seed(ctx)?;
        self.check_forward(ctx, &seed)?;
        let client = self.client(ctx, &seed)?;
        let cluster = seed.old_primary.clone();
        // The source first: copying starts as early as possible, checkpoints follow it.
        for role in ROLES {
            let name = role.of(&seed.connectors);
            match ctx.block_on(status_of(&client, name))? {
                None => {
                    return Err(refused(format!(
                        "reverse {} connector `{name}` does not exist on Connect `{}` (cluster `{cluster}`)\nhelp: run step `{}` ({SEED}) first",
                        role.name(),
                        client.url(),
                        self.seed_step
                    )))
                }
                Some(s) if s.is_in(TargetState::Running) => {}
                Some(_) => {
                    ctx.reporter.status(
                        "Resuming",
                        &format!("reverse {} connector `{name}` on `{cluster}`", role.name()),
                    );
                    ctx.block_on(client.resume(name))?;
                }
            }
        }
        let new = common::kafka(ctx.topology, &seed.new_primary, self.timeout)?;
        let old = common::kafka(ctx.topology, &seed.old_primary, self.timeout)?;
        let started = Instant::now();
        let mut last_progress: Option<Instant> = None;
        let look = loop {
            let look = match self.look(ctx, &seed, &client, &new, &old) {
                Ok(look) => look,
                // A topic MM2 has just created on the old primary may have no leader for
                // a moment (NOT_LEADER_FOR_PARTITION was seen on the lab): look again.
                Err(Error::Kafka(e)) if started.elapsed() < self.timeout => {
                    if last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                        ctx.reporter.status(
                            "Waiting",
                            &format!(
                                "{} -> {}: {} ({}s)",
                                seed.new_primary,
                                seed.old_primary,
                                first_line(&e.to_string()),
                                started.elapsed().as_secs()
                            ),
                        );
                        last_progress = Some(Instant::now());
                    }
                    if ctx.is_interrupted() {
                        return Err(catch_up_interrupted(&seed));
                    }
                    std::thread::sleep(POLL);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let failures = look.failures();
            if !failures.is_empty() {
                return Err(refused(format!(
                    "the reverse flow `{}` -> `{}` failed on Connect `{}`:\n  {}\nhelp: read the traces with GET {}/connectors/<name>/status, fix the cause, restart the connector, then resume the run",
                    seed.new_primary,
                    seed.old_primary,
                    client.url(),
                    failures.join("\n  "),
                    client.url()
                )));
            }
            if let Some(e) = self.mismatch_error(&seed, &look) {
                return Err(e);
            }
            if self.settled(&look) {
                break look;
            }
            if last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                ctx.reporter.status(
                    "Mirroring",
                    &self.progress_line(&seed, &look, started.elapsed()),
                );
                last_progress = Some(Instant::now());
            }
            if started.elapsed() >= self.timeout {
                let behind: Vec<String> = look
                    .partitions
                    .iter()
                    .filter(|p| {
                        p.lag > self.max_lag || matches!(p.first_copy, FirstCopy::Pending { .. })
                    })
                    .take(10)
                    .map(|p| {
                        format!(
                            "`{}`-{}: lag {} (next {}, log end {}), {} copied",
                            p.topic, p.partition, p.lag, p.next_offset, p.new_log_end, p.copied
                        )
                    })
                    .collect();
                return Err(refused(format!(
                    "the reverse flow `{}` -> `{}` did not catch up within {}s (max lag {}); it keeps running:\n  {}{}\nhelp: raise `timeout_seconds` (MM2 stores its offsets every offset.flush.interval.ms, 60 s by default) or `max_lag`, check the connectors with GET {}/connectors/<name>/status, then resume the run",
                    seed.new_primary,
                    seed.old_primary,
                    self.timeout.as_secs(),
                    self.max_lag,
                    behind.join("\n  "),
                    if look.all_running() {
                        String::new()
                    } else {
                        format!(
                            "\n  connectors: {}",
                            look.states
                                .iter()
                                .map(|(n, s)| format!(
                                    "`{n}` {}",
                                    s.as_ref().map(ConnectorStatus::summary).unwrap_or_else(|| "missing".into())
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    client.url()
                )));
            }
            if ctx.is_interrupted() {
                return Err(catch_up_interrupted(&seed));
            }
            std::thread::sleep(POLL);
        };
        ctx.reporter.status(
            "Mirrored",
            &self.progress_line(&seed, &look, started.elapsed()),
        );
        let recorded = self.record_deltas(ctx, &seed, &look)?;
        let mut out = self.output(&seed, &look, started.elapsed());
        out["deltas_recorded"] = json!(recorded);
        Ok(out)
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let seed = self.seed(ctx)?;
        let client = self.client(ctx, &seed)?;
        let new = common::kafka(ctx.topology, &seed.new_primary, self.timeout)?;
        let old = common::kafka(ctx.topology, &seed.old_primary, self.timeout)?;
        let look = self.look(ctx, &seed, &client, &new, &old)?;
        if let Some(e) = self.mismatch_error(&seed, &look) {
            return Err(e);
        }
        if !look.all_running() {
            let states: Vec<String> = look
                .states
                .iter()
                .map(|(n, s)| {
                    format!(
                        "  `{n}`: {}",
                        s.as_ref()
                            .map(ConnectorStatus::summary)
                            .unwrap_or_else(|| "missing".into())
                    )
                })
                .collect();
            return Ok(Verdict::NotDone(format!(
                "the reverse connectors on Connect `{}` are not all RUNNING:\n{}",
                seed.connect_url,
                states.join("\n")
            )));
        }
        let pending: Vec<String> = look
            .partitions
            .iter()
            .filter(|p| matches!(p.first_copy, FirstCopy::Pending { .. }))
            .map(|p| format!("`{}`-{}", p.topic, p.partition))
            .collect();
        if !pending.is_empty() {
            return Ok(Verdict::NotDone(format!(
                "the first copies of {} have not reached `{}` yet, so the fingerprint check cannot pass",
                pending.join(", "),
                seed.old_primary
            )));
        }
        Ok(Verdict::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{step, Fixture};

    fn forward_config() -> BTreeMap<String, String> {
        let pairs = [
            ("name", "mm2-dc1-dc2-source"),
            (
                "connector.class",
                "org.apache.kafka.connect.mirror.MirrorSourceConnector",
            ),
            ("source.cluster.alias", "dc1"),
            ("target.cluster.alias", "dc2"),
            ("source.cluster.bootstrap.servers", "127.0.0.1:19092"),
            ("target.cluster.bootstrap.servers", "127.0.0.1:29092"),
            (
                "source.cluster.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"mirror\" password=\"s3cr3t-src\";",
            ),
            ("target.cluster.sasl.jaas.config", "${file:/x/mirror.properties:sasl.jaas.config}"),
            ("source.admin.request.timeout.ms", "5000"),
            ("producer.override.bootstrap.servers", "127.0.0.1:29092"),
            ("producer.override.sasl.mechanism", "PLAIN"),
            (
                "replication.policy.class",
                "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
            ),
            ("topics", ".*"),
            ("topics.exclude", "mm2.*\\.internal, .*\\.replica, __.*"),
            ("topics.blacklist", "old"),
            ("groups", ".*"),
            ("offset-syncs.topic.location", "source"),
        ];
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn params() {
        let s = Seed::new(&step("s", SEED, serde_json::Value::Null)).unwrap();
        assert_eq!(s.strategy, Strategy::DeleteRecords);
        assert_eq!(s.timeout, Duration::from_secs(60));
        let s = Seed::new(&step("s", SEED, json!({"strategy": "recreate"}))).unwrap();
        assert_eq!(s.strategy, Strategy::Recreate);
        let e = Seed::new(&step("s", SEED, json!({"strategy": "keep"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown strategy `keep`"), "{e}");
        assert!(e.contains("help:"), "{e}");

        let s = Start::new(&step("t", START, serde_json::Value::Null)).unwrap();
        assert_eq!(s.seed_step, "mirror-seed");
        assert_eq!(s.max_lag, 0);
        assert_eq!(s.timeout, Duration::from_secs(120));
        let s = Start::new(&step(
            "t",
            START,
            json!({"max_lag": 50, "seed_step": "seed"}),
        ))
        .unwrap();
        assert_eq!((s.max_lag, s.seed_step.as_str()), (50, "seed"));
        assert!(Start::new(&step("t", START, json!({"lag": 5}))).is_err());
    }

    #[test]
    fn truncate_strategies_pair_with_seed_strategies() {
        assert_eq!(
            Strategy::for_truncate("delete-records"),
            Some(Strategy::DeleteRecords)
        );
        assert_eq!(
            Strategy::for_truncate("keep"),
            Some(Strategy::DeleteRecords)
        );
        assert_eq!(Strategy::for_truncate("recreate"), Some(Strategy::Recreate));
        assert_eq!(Strategy::for_truncate("other"), None);
    }

    /// Seen on the secured lab: dc1 SASL_SSL + SCRAM, dc2 mTLS. The reverse producer
    /// writes into dc1, so it must log in as the forward source does, not with dc2's
    /// client certificate.
    #[test]
    fn reverse_writer_logs_into_the_old_source_as_the_forward_reader_did() {
        let mut f = forward_config();
        f.retain(|k, _| !k.contains("sasl") && !k.starts_with("producer.override."));
        for (k, v) in [
            ("source.cluster.security.protocol", "SASL_SSL"),
            ("source.cluster.sasl.mechanism", "SCRAM-SHA-512"),
            (
                "source.cluster.sasl.jaas.config",
                "${file:/x/dc1-mirror.properties:sasl.jaas.config}",
            ),
            ("source.cluster.ssl.truststore.location", "/x/ca.pem"),
            ("target.cluster.security.protocol", "SSL"),
            ("target.cluster.ssl.keystore.location", "/x/mirror.p12"),
            ("producer.override.security.protocol", "SSL"),
            ("producer.override.ssl.keystore.location", "/x/mirror.p12"),
            ("producer.override.ssl.keystore.password", "${file:/x/p:pw}"),
            ("producer.override.compression.type", "zstd"),
            ("admin.override.security.protocol", "SSL"),
        ] {
            f.insert(k.into(), v.into());
        }
        let r = derive_config(&f, "fwd", "rev", &Topology::lab_example()).unwrap();
        for prefix in ["producer.override.", "admin.override."] {
            assert_eq!(
                r[&format!("{prefix}security.protocol")],
                "SASL_SSL",
                "{prefix}"
            );
            assert_eq!(
                r[&format!("{prefix}sasl.mechanism")],
                "SCRAM-SHA-512",
                "{prefix}"
            );
            assert_eq!(
                r[&format!("{prefix}ssl.truststore.location")],
                "/x/ca.pem",
                "{prefix}"
            );
            assert!(
                !r.contains_key(&format!("{prefix}ssl.keystore.location")),
                "{prefix}: {r:?}"
            );
        }
        assert!(!r.contains_key("producer.override.ssl.keystore.password"));
        assert_eq!(r["producer.override.compression.type"], "zstd");
        assert_eq!(r["target.cluster.security.protocol"], "SASL_SSL");
        assert_eq!(r["source.cluster.ssl.keystore.location"], "/x/mirror.p12");
        // Without connection overrides, none are invented.
        f.retain(|k, _| !k.starts_with("producer.override.") && !k.starts_with("admin.override."));
        let r = derive_config(&f, "fwd", "rev", &Topology::lab_example()).unwrap();
        assert!(
            !r.keys().any(|k| k.starts_with("producer.override.")),
            "{r:?}"
        );
    }

    #[test]
    fn reverse_config_swaps_sides_and_narrows_scope() {
        let t = Topology::lab_example();
        let r = derive_config(
            &forward_config(),
            "mm2-dc1-dc2-source",
            "mm2-dc2-dc1-source",
            &t,
        )
        .unwrap();
        assert_eq!(r["name"], "mm2-dc2-dc1-source");
        assert_eq!(r["source.cluster.alias"], "dc2");
        assert_eq!(r["target.cluster.alias"], "dc1");
        assert_eq!(r["source.cluster.bootstrap.servers"], "127.0.0.1:29092");
        assert_eq!(r["target.cluster.bootstrap.servers"], "127.0.0.1:19092");
        assert!(r["target.cluster.sasl.jaas.config"].contains("s3cr3t-src"));
        assert!(r["source.cluster.sasl.jaas.config"].starts_with("${file:"));
        assert_eq!(r["target.admin.request.timeout.ms"], "5000");
        assert!(!r.contains_key("source.admin.request.timeout.ms"));
        // A worker-level override follows the target: its address, and how to log in
        // there (the forward source's settings, not the forward target's).
        assert_eq!(r["producer.override.bootstrap.servers"], "127.0.0.1:19092");
        assert!(r["producer.override.sasl.jaas.config"].contains("s3cr3t-src"));
        assert!(!r.contains_key("producer.override.sasl.mechanism"));
        assert_eq!(
            r["replication.policy.class"],
            "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
        );
        assert_eq!(r["offset-syncs.topic.location"], "source");
        assert_eq!(r["topics"], "app\\..*");
        assert_eq!(
            r["topics.exclude"],
            "mm2.*\\.internal, .*[\\-\\.]internal, __.*"
        );
        assert_eq!(r["groups"], "app\\..*");
        assert!(!r.contains_key("topics.blacklist"));
        // Swapping twice gives the forward config back (but for name and scope).
        let back = derive_config(&r, "x", "mm2-dc1-dc2-source", &t).unwrap();
        for k in [
            "source.cluster.alias",
            "target.cluster.bootstrap.servers",
            "source.cluster.sasl.jaas.config",
            "producer.override.bootstrap.servers",
        ] {
            assert_eq!(back[k], forward_config()[k], "{k}");
        }
    }

    #[test]
    fn reverse_config_refusals() {
        let t = Topology::lab_example();
        let mut f = forward_config();
        f.insert("topic.filter.class".into(), "com.acme.Filter".into());
        let e = derive_config(&f, "fwd", "rev", &t).unwrap_err();
        assert!(e.contains("com.acme.Filter"), "{e}");
        let mut f = forward_config();
        f.remove("target.cluster.alias");
        let e = derive_config(&f, "fwd", "rev", &t).unwrap_err();
        assert!(e.contains("`target.cluster.alias`"), "{e}");
    }

    #[test]
    fn secrets_are_redacted_and_collected() {
        let f = forward_config();
        let r = redacted(&f);
        assert_eq!(r["source.cluster.sasl.jaas.config"], REDACTED);
        assert_eq!(r["source.cluster.alias"], "dc1");
        let shown = format!("{r:?} {}", summarize(&f));
        assert!(!shown.contains("s3cr3t-src"), "{shown}");
        let s = secret_values(&f);
        assert!(s.iter().any(|v| v == "s3cr3t-src"), "{s:?}");
        assert!(summarize(&f).contains("dc1 (127.0.0.1:19092) -> dc2 (127.0.0.1:29092)"));
    }

    #[test]
    fn mm2_topic_filter_follows_mm2() {
        let f = Mm2TopicFilter::of(&forward_config()).unwrap();
        assert!(f.copies("app.orders"));
        assert!(!f.copies("app.orders.replica"));
        assert!(!f.copies("__consumer_offsets"));
        // MM2's hard-coded internal rule, whatever the filter says.
        assert!(!f.copies("connect-offsets-internal"));
        let mut c = BTreeMap::new();
        let none = Mm2TopicFilter::of(&c).unwrap();
        assert!(none.copies("anything"));
        assert!(!none.copies("x.replica"), "MM2's default exclude");
        c.insert("topics".into(), "a\\..*,  b".into());
        c.insert("topics.exclude".into(), "".into());
        let f = Mm2TopicFilter::of(&c).unwrap();
        assert!(f.copies("a.x") && f.copies("b") && !f.copies("bb") && f.copies("a.replica"));
        c.insert("topic.filter.class".into(), "com.acme.F".into());
        assert!(Mm2TopicFilter::of(&c).is_err());
    }

    fn sp(topic: &str, partition: i32, next: Option<i64>) -> SeedPartition {
        SeedPartition {
            topic: topic.into(),
            partition,
            target_topic: topic.into(),
            next_offset: next,
            reason: if next.is_some() {
                SeedReason::PromotionCut
            } else {
                SeedReason::CreatedAfterPromotion
            },
            new_log_start: 0,
            new_log_end: 2000,
            old_log_start: 1500,
            old_log_end: 1500,
            old_exists: true,
        }
    }

    #[test]
    fn seed_offsets_are_last_copied() {
        let seed = [
            sp("t", 0, Some(1667)),
            sp("t", 1, Some(0)),
            sp("u", 0, None),
        ];
        assert_eq!(seed[0].last_copied(), Some(1666));
        assert_eq!(seed[1].last_copied(), None);
        assert_eq!(seed[2].last_copied(), None);
        assert!(seed[0].describe().starts_with(
            "start copying `t`-0 at offset 1667 (the promotion cut): 333 records to copy now"
        ));
        assert!(seed[2].describe().contains("earliest offset"));

        // Nothing stored (new connector): every seed is written, tombstones included.
        let (patch, mismatched, stale) = offsets_to_write(&seed, None, "dc2").unwrap();
        assert_eq!(patch.len(), 3);
        assert!(mismatched.is_empty() && stale.is_empty());
        assert_eq!(
            serde_json::to_value(&patch[0]).unwrap(),
            json!({"partition": {"cluster": "dc2", "topic": "t", "partition": 0}, "offset": {"offset": 1666}})
        );
        assert_eq!(patch[1].offset, None);

        // Stored as seeded: nothing to write. An extra partition's offset is stale.
        let mut stored = BTreeMap::new();
        stored.insert(("t".to_string(), 0), Some(1666));
        stored.insert(("t".to_string(), 1), None);
        stored.insert(("old".to_string(), 4), Some(9));
        let (patch, mismatched, stale) = offsets_to_write(&seed, Some(&stored), "dc2").unwrap();
        assert_eq!(
            stale,
            vec![StaleOffset {
                topic: "old".into(),
                partition: 4,
                last_copied: 9
            }]
        );
        assert_eq!(patch.len(), 1);
        assert_eq!(patch[0].offset, None);
        assert!(mismatched.is_empty());

        // A moved offset is a mismatch.
        stored.remove(&("old".to_string(), 4));
        stored.insert(("t".to_string(), 0), Some(1700));
        let (patch, mismatched, _) = offsets_to_write(&seed, Some(&stored), "dc2").unwrap();
        assert_eq!(patch.len(), 1);
        assert_eq!(
            mismatched,
            vec!["`t`-0: stored last copied 1700, seed last copied 1666"]
        );
    }

    #[test]
    fn seed_detail_round_trips() {
        let d = SeedDetail {
            strategy: Strategy::DeleteRecords,
            new_primary: "dc2".into(),
            old_primary: "dc1".into(),
            promotion_run: 3,
            promotion_taken_at: "now".into(),
            connect_url: "http://127.0.0.1:18083".into(),
            connectors: ConnectorNames::from(&Connectors::default_names("dc2", "dc1")),
            source_alias: "dc2".into(),
            target_alias: "dc1".into(),
            target_bootstrap: Some("127.0.0.1:19092".into()),
            partitions: vec![sp("t", 0, Some(5))],
            configs: Vec::new(),
            stale_offsets: Vec::new(),
            skipped: Vec::new(),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["strategy"], "delete-records");
        assert_eq!(v["partitions"][0]["reason"], "promotion-cut");
        let back: SeedDetail = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }

    const FAILBACK: &str = "\
name: fb
description: failback
steps:
  - id: truncate
    action: truncate
    params: { strategy: recreate }
  - id: mirror-seed
    action: mirror.seed
  - id: mirror-start
    action: mirror.start
";

    fn failback_run(f: &Fixture) -> i64 {
        run_with_text(f, FAILBACK)
    }

    fn run_with_text(f: &Fixture, text: &str) -> i64 {
        f.journal
            .create_run(&crate::journal::NewRun {
                topology: "lab",
                runbook: "fb",
                source: "test",
                checksum: "0",
                text,
                dry_run: false,
                steps: vec![
                    crate::journal::NewStep {
                        step_id: "truncate",
                        action: "truncate",
                    },
                    crate::journal::NewStep {
                        step_id: "mirror-seed",
                        action: SEED,
                    },
                    crate::journal::NewStep {
                        step_id: "mirror-start",
                        action: START,
                    },
                ],
            })
            .unwrap()
    }

    #[test]
    fn the_seed_strategy_must_match_the_truncate_step() {
        let f = Fixture::new();
        let run = failback_run(&f);
        let mut ctx = f.ctx("mirror-seed");
        ctx.run_id = run;
        let seed = Seed::new(&step("mirror-seed", SEED, serde_json::Value::Null)).unwrap();
        let e = seed.check_truncate_strategy(&ctx).unwrap_err().to_string();
        assert!(
            e.contains("seeds with strategy `delete-records`, but step `truncate` truncates with `recreate`"),
            "{e}"
        );
        assert!(e.contains("help: set `strategy: recreate`"), "{e}");
        let seed = Seed::new(&step("mirror-seed", SEED, json!({"strategy": "recreate"}))).unwrap();
        seed.check_truncate_strategy(&ctx).unwrap();

        // Read as YAML: a truncate step without `strategy` means `delete-records`, and
        // the check works even when the runbook would not load as a whole.
        let text = FAILBACK
            .replace("    params: { strategy: recreate }\n", "")
            .replace(
                "action: mirror.start\n",
                "action: mirror.start\n    params: { max_lag: 0 }\n",
            );
        ctx.run_id = run_with_text(&f, &text);
        let e = seed.check_truncate_strategy(&ctx).unwrap_err().to_string();
        assert!(e.contains("truncates with `delete-records`"), "{e}");
    }

    #[test]
    fn the_truncate_step_says_which_topics_were_recreated() {
        let f = Fixture::new();
        let run = failback_run(&f);
        let mut ctx = f.ctx("mirror-seed");
        ctx.run_id = run;
        // Nothing recorded yet: the seed's strategy decides.
        assert_eq!(recreated_by_truncate(&ctx).unwrap(), None);
        // Under --dry-run, the truncate step's plan.
        f.journal
            .record_planned(
                run,
                0,
                &json!({"detail": {"recreated_topics": ["app.ledger"], "recreations": []}}),
            )
            .unwrap();
        assert_eq!(
            recreated_by_truncate(&ctx).unwrap(),
            Some(BTreeSet::from(["app.ledger".to_string()]))
        );
        // Its output wins; an older output without `recreated_topics` lists `recreated`.
        let attempt = f.journal.start_attempt(run, 0).unwrap();
        f.journal
            .finish_step(
                run,
                0,
                attempt,
                crate::journal::StepOutcome::Applied,
                Some(&json!({"recreated": [{"topic": "app.orders"}]})),
                1,
            )
            .unwrap();
        assert_eq!(
            recreated_by_truncate(&ctx).unwrap(),
            Some(BTreeSet::from(["app.orders".to_string()]))
        );
    }

    #[test]
    fn no_promotion_no_seed() {
        let f = Fixture::new();
        let run = failback_run(&f);
        let mut ctx = f.ctx("mirror-seed");
        ctx.run_id = run;
        let mut seed =
            Seed::new(&step("mirror-seed", SEED, json!({"strategy": "recreate"}))).unwrap();
        let e = seed.plan(&mut ctx).unwrap_err().to_string();
        assert!(e.contains("no promotion in the journal"), "{e}");
    }

    #[test]
    fn start_needs_the_seed_step() {
        let f = Fixture::new();
        let run = failback_run(&f);
        let mut ctx = f.ctx("mirror-start");
        ctx.run_id = run;
        let start = Start::new(&step("mirror-start", START, json!({"seed_step": "nope"}))).unwrap();
        let e = start.seed(&ctx).unwrap_err().to_string();
        assert!(
            e.contains("has no step `nope`") && e.contains("help:"),
            "{e}"
        );
        let start = Start::new(&step(
            "mirror-start",
            START,
            json!({"seed_step": "truncate"}),
        ))
        .unwrap();
        let e = start.seed(&ctx).unwrap_err().to_string();
        assert!(e.contains("is a `truncate` step, not `mirror.seed`"), "{e}");
        let start = Start::new(&step("mirror-start", START, serde_json::Value::Null)).unwrap();
        let e = start.seed(&ctx).unwrap_err().to_string();
        assert!(e.contains("has stored no seed"), "{e}");
    }

    #[test]
    fn activity() {
        let s = |b: &[u8]| ConnectorStatus::from_json(b).unwrap();
        assert!(is_active(&s(
            br#"{"name":"c","connector":{"state":"RUNNING","worker_id":"w"},"tasks":[]}"#
        )));
        assert!(!is_active(&s(
            br#"{"name":"c","connector":{"state":"STOPPED","worker_id":"w"},"tasks":[]}"#
        )));
        assert!(!is_active(&s(
            br#"{"name":"c","connector":{"state":"PAUSED","worker_id":"w"},"tasks":[{"id":0,"state":"PAUSED","worker_id":"w"}]}"#
        )));
        assert!(is_active(&s(
            br#"{"name":"c","connector":{"state":"FAILED","worker_id":"w"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"w"}]}"#
        )));
    }
}
