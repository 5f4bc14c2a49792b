//! The reverse MM2 flow of a failback (ARCHITECTURE.md section 1, step 9), from the NEW
//! primary into the OLD one, run by the Connect cluster that writes into the old primary:
//! what `mirror.seed` and `mirror.start` share. Where the flow lives (`placement`), its
//! connector names and roles, how its configs are derived from the forward flow's
//! (aliases, bootstrap servers and the clusters' `source.*` / `target.*` keys swapped, `topics` /
//! `groups` narrowed to the topology's scope), what MM2 will copy (its topic filter), and
//! the guard both steps run first: they refuse while a MirrorSourceConnector copying the
//! other way (old -> new) runs on the same topics, because IdentityReplicationPolicy
//! cannot stop a cycle.
//!
//! Connector configs may hold credentials: every value of a secret-looking key is redacted
//! in plans, outputs and errors, and handed to the reporter's scrubber.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::common::{self, first_line};
use crate::connect::{ConnectClient, ConnectError, ConnectorState, ConnectorStatus};
use crate::engine::StepContext;
use crate::error::Error;
use crate::topology::{is_secret_key, Connectors, Topology, REDACTED};

/// How often waits poll Connect and the clusters.
pub(super) const POLL: Duration = Duration::from_millis(500);
/// How often a read-back of the offsets is tried before it counts as different: a PATCH's
/// effect was seen on the lab not to be visible to the very next GET.
pub(super) const READ_BACK_TRIES: u32 = 6;
/// A lag at most this large is checked by reading the records, so that transaction
/// markers (offsets that hold no record) do not count as lag.
pub(super) const COUNTED_LAG: i64 = 1000;

/// MM2's `topics.exclude` default (DefaultTopicFilter), used when a config has none.
pub(super) const MM2_TOPICS_EXCLUDE_DEFAULT: &str = ".*[\\-\\.]internal, .*\\.replica, __.*";
/// What the reverse flow always leaves out, whatever the topology's scope: MM2's and
/// Kafka's internal topics (MM2 skips most of them anyway).
pub(super) const INTERNAL_TOPICS: [&str; 3] = ["mm2.*\\.internal", ".*[\\-\\.]internal", "__.*"];
pub(super) const INTERNAL_GROUPS: [&str; 3] = ["console-consumer-.*", "connect-.*", "__.*"];

/// The connector roles of a flow, in the order they are created and reported.
pub(super) const ROLES: [Role; 3] = [Role::Source, Role::Checkpoint, Role::Heartbeat];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Role {
    Source,
    Checkpoint,
    Heartbeat,
}

impl Role {
    pub(super) fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Checkpoint => "checkpoint",
            Role::Heartbeat => "heartbeat",
        }
    }

    pub(super) fn of(self, c: &ConnectorNames) -> &str {
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

pub(super) fn refused(msg: String) -> Error {
    Error::Io(msg)
}

/// `a, b, c and 4 more`.
pub(super) fn list_some(items: &[String], max: usize) -> String {
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

// ---------------------------------------------------------------------------------------
// Where the reverse flow lives
// ---------------------------------------------------------------------------------------

/// The promotion the failback works from, the two clusters, and the connector names of
/// both directions.
#[derive(Debug, Clone)]
pub(super) struct Placement {
    pub(super) cut: common::PromotionCut,
    /// The new primary: the reverse flow's source.
    pub(super) new: String,
    /// The old primary: its target, whose Connect runs it.
    pub(super) old: String,
    /// The flow new -> old (created here).
    pub(super) reverse: ConnectorNames,
    /// The flow old -> new (its configs are the template; it must not run).
    pub(super) forward: ConnectorNames,
}

pub(super) fn placement(ctx: &StepContext<'_>) -> Result<Placement, Error> {
    // A switchover's dry run: the promotion its `roles.promote` step would record.
    let cut = match super::switchover_support::planned_promotion_cut(ctx)? {
        Some(cut) => cut,
        None => common::promotion_cut(ctx.topology, ctx.journal)?,
    };
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
pub(super) fn connect_client(
    topology: &Topology,
    cluster: &str,
    timeout: Duration,
) -> Result<Option<ConnectClient>, Error> {
    common::connect(topology, cluster, timeout.min(common::NETWORK_TIMEOUT))
}

pub(super) fn old_connect(
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

/// Like `status_of`, but a connector that exists without a status yet (just created, or
/// the workers are rebalancing) is asked again for up to `UNASSIGNED_WAIT`, so that the
/// decisions below judge its real state.
pub(super) fn settled_status_of(
    ctx: &StepContext<'_>,
    client: &ConnectClient,
    name: &str,
) -> Result<Option<ConnectorStatus>, Error> {
    let started = Instant::now();
    loop {
        let st = ctx.block_on(client.status_if_exists(name))?;
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
pub(super) const UNASSIGNED_WAIT: Duration = Duration::from_secs(10);

/// True when the connector (or any task of it) may be copying or about to.
pub(super) fn is_active(s: &ConnectorStatus) -> bool {
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
pub(super) fn redacted(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
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
pub(super) fn secret_values(config: &BTreeMap<String, String>) -> Vec<String> {
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
pub(super) fn changed_keys(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "name" && a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// `source.x` <-> `target.x` for what belongs to a cluster (`source.cluster.*`, the
/// aliases, and how a client reaches and logs into a cluster); other keys as they are.
///
/// MM2's `source.consumer.*`, `target.producer.*`, `source.admin.*` ... configure the
/// flow's clients by ROLE: `source.consumer.isolation.level=read_committed` is how the
/// flow reads whatever its source is, and an exactly-once MirrorSourceConnector is
/// refused without it. Swapped, the reverse flow would read uncommitted data (seen on
/// the exactly-once lab: dc1's Connect refused the reverse connector). Their connection
/// settings are the cluster's, though, and follow it to the other side.
pub(super) fn swap_side(key: &str) -> String {
    const ROLE_CLIENTS: [&str; 3] = ["consumer.", "producer.", "admin."];
    let (side, other, rest) = if let Some(rest) = key.strip_prefix("source.") {
        ("source.", "target.", rest)
    } else if let Some(rest) = key.strip_prefix("target.") {
        ("target.", "source.", rest)
    } else {
        return key.to_string();
    };
    let role_setting = ROLE_CLIENTS.iter().find_map(|c| rest.strip_prefix(c));
    match role_setting {
        Some(setting) if !is_connection_key(setting) && setting != "bootstrap.servers" => {
            format!("{side}{rest}")
        }
        _ => format!("{other}{rest}"),
    }
}

/// A client setting that says how to reach and log into a cluster (as opposed to how to
/// batch, compress or acknowledge).
pub(super) fn is_connection_key(key: &str) -> bool {
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
pub(super) fn reverse_writer_settings(
    forward: &BTreeMap<String, String>,
    out: &mut BTreeMap<String, String>,
) {
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
pub(super) fn mm2_list(items: &[String], what: &str) -> Result<String, String> {
    if let Some(bad) = items.iter().find(|i| i.contains(',')) {
        return Err(format!(
            "the {what} regex `{bad}` contains a comma, which an MM2 list config cannot hold"
        ));
    }
    Ok(items.join(", "))
}

/// The reverse connector's config, from the forward connector's: names, aliases,
/// bootstrap servers and the clusters' `source.*`/`target.*` keys swapped (`swap_side`), `topics`/`groups`
/// narrowed to the topology's scope (plus MM2's internal names excluded), everything else
/// (replication policy, converters, intervals, client settings) kept.
pub(super) fn derive_config(
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
pub(super) fn summarize(config: &BTreeMap<String, String>) -> String {
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
pub(super) struct Mm2TopicFilter {
    pub(super) include: Vec<Regex>,
    pub(super) exclude: Vec<Regex>,
}

impl Mm2TopicFilter {
    /// `Err` when the filter cannot be evaluated here (custom class, unreadable regex).
    pub(super) fn of(config: &BTreeMap<String, String>) -> Result<Mm2TopicFilter, String> {
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

    pub(super) fn copies(&self, topic: &str) -> bool {
        self.include.iter().any(|r| r.is_match(topic))
            && !self.exclude.iter().any(|r| r.is_match(topic))
            && !is_mm2_internal(topic)
    }
}

pub(super) fn compile_list(list: &str) -> Result<Vec<Regex>, String> {
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
pub(super) fn is_mm2_internal(topic: &str) -> bool {
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
pub(super) fn check_no_forward_running(
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
    let planned_stop = super::switchover_support::planned_to_stop(ctx)?;
    let mut stopped_by_plan: Vec<String> = Vec::new();
    let mine = [&own.source, &own.checkpoint, &own.heartbeat];
    let mut conflicts = Vec::new();
    for name in names {
        if mine.contains(&&name) {
            continue;
        }
        // Under --dry-run, an earlier step of this run plans to stop it.
        if planned_stop.contains(&name) {
            stopped_by_plan.push(format!("`{name}`"));
            continue;
        }
        let config = match ctx.block_on(client.config(&name)) {
            Ok(c) => c,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        crate::redact::register(secret_values(&config));
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
        let Some(status) = ctx.block_on(client.status_if_exists(&name))? else {
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
        if stopped_by_plan.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![format!(
            "{} run now on Connect `{}` and copy the other way; an earlier step of this run stops them before this one runs",
            stopped_by_plan.join(", "),
            client.url()
        )]);
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
/// A Connect error with every known secret scrubbed (Connect may quote a
/// config value in a validation error).
pub(super) fn scrub(e: ConnectError) -> Error {
    let text = crate::redact::redact(&e.to_string());
    if text == e.to_string() {
        e.into()
    } else {
        Error::Io(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("source.consumer.isolation.level", "read_committed"),
            ("source.consumer.ssl.keystore.location", "/x/dc1.p12"),
            ("target.producer.compression.type", "zstd"),
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
        // The flow's clients by role keep their settings; their logins follow the cluster.
        assert_eq!(r["source.admin.request.timeout.ms"], "5000");
        assert_eq!(r["source.consumer.isolation.level"], "read_committed");
        assert_eq!(r["target.producer.compression.type"], "zstd");
        assert_eq!(r["target.consumer.ssl.keystore.location"], "/x/dc1.p12");
        assert!(!r.contains_key("source.consumer.ssl.keystore.location"));
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
            "source.consumer.isolation.level",
            "source.consumer.ssl.keystore.location",
            "source.admin.request.timeout.ms",
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
