//! `mirror.seed`: creates the reverse flow's three connectors already STOPPED
//! (`initial_state`, Connect 3.7+), with configs derived from the forward flow's (see
//! `reverse_flow`), then writes the source connector's offsets through KIP-875 so that
//! copying starts exactly at the promotion cut (`delete-records`) or at the earliest offset
//! (`recreate`). It records, per partition, the seed and the old primary's log end
//! (`SeedDetail`, the step's output), so that `mirror.start` can check by fingerprint that
//! the first copies land where the seed said.
//!
//! Cluster-state refusals exit 1, parameter and journal problems exit 2. It writes only to
//! the old primary's Connect (create, config of its own STOPPED connectors, offsets); it
//! never touches the forward flow's connectors.
//!
//! MM2 dedicated mode (`replication.mirror_maker`): there are no connectors to create. The
//! step runs the reverse flow's stop hook (MM2 must not run while its offsets are written,
//! or its own commits would overwrite them), then writes the same seed as records into the
//! reverse flow's offsets topic on the old primary (`mirror_dedicated`), creating the topic
//! as Connect would if MM2 never ran that flow, and reads them back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::first_line;
use super::reverse_flow::*;
use super::{common, ActionError};
use crate::connect::{
    mirror_source_offset, ConnectClient, ConnectError, ConnectorOffset, ConnectorStatus, Feature,
    MirrorSourceOffset, TargetState,
};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;
use crate::topology::Policy;

/// The runbook name of the action that creates and seeds the reverse connectors.
pub const SEED: &str = "mirror.seed";
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
    pub(super) fn first_upstream(&self) -> i64 {
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
    /// Dedicated mode: the reverse flow's offsets topic on the old primary (`None`: the
    /// flow runs on Connect, `connect_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets_topic: Option<String>,
}

impl SeedDetail {
    /// Whether the reverse flow runs in MM2 dedicated mode.
    pub fn dedicated(&self) -> bool {
        self.offsets_topic.is_some()
    }

    /// Where the flow runs, for messages: the Connect URL or the offsets topic.
    pub fn runner(&self) -> String {
        match &self.offsets_topic {
            Some(t) => format!(
                "MM2 dedicated mode (offsets topic `{t}` on `{}`)",
                self.old_primary
            ),
            None => format!("Connect `{}`", self.connect_url),
        }
    }
}

/// What the seed found in dedicated mode: the detail it stores, the records to write.
struct DedicatedSurvey {
    detail: SeedDetail,
    topic: String,
    /// The positions to write (seeds that differ, tombstones for stale ones).
    write: Vec<crate::kafka::connect_offsets::SourceOffsetEntry>,
    mismatched: Vec<String>,
    changes: Vec<String>,
    notes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedParams {
    strategy: String,
    timeout_seconds: u64,
}

/// A reverse connector as it is: its status and config (`None`: it does not exist).
/// What `survey` plans for the reverse connectors, per role (ROLES order).
struct ConnectorPlan {
    configs: Vec<ConnectorSeed>,
    /// The raw config to create or put, when one is.
    send: Vec<Option<BTreeMap<String, String>>>,
    /// The config each will run with.
    in_effect: Vec<BTreeMap<String, String>>,
}

/// The reverse connectors as they are on the old primary's Connect: status and config.
fn existing_connectors(
    ctx: &StepContext<'_>,
    client: &ConnectClient,
    p: &Placement,
) -> Result<Vec<Existing>, Error> {
    let mut existing: Vec<Existing> = Vec::new();
    for role in ROLES {
        let name = role.of(&p.reverse);
        let st = settled_status_of(ctx, client, name)?;
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
            crate::redact::register(secret_values(c));
        }
        existing.push((st, cfg));
    }
    Ok(existing)
}

/// Each reverse connector created, its config replaced (only while STOPPED) or kept,
/// from the configs `derived` from the forward flow; `changes` and `notes` say which.
fn plan_connectors(
    p: &Placement,
    url: &str,
    existing: &[Existing],
    derived: &Result<Vec<BTreeMap<String, String>>, String>,
    changes: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<ConnectorPlan, Error> {
    let mut configs = Vec::new();
    let mut send = Vec::new();
    let mut in_effect: Vec<BTreeMap<String, String>> = Vec::new();
    for (i, role) in ROLES.iter().enumerate() {
        let name = role.of(&p.reverse).to_string();
        let (st, have) = &existing[i];
        let state = st.as_ref().map(ConnectorStatus::summary);
        let (action, keys, config, to_send) =
            connector_action(p, url, i, *role, st.as_ref(), have.as_ref(), derived)?;
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
    Ok(ConnectorPlan {
        configs,
        send,
        in_effect,
    })
}

/// What to do with the reverse connector of `role` (index `i` in ROLES): its action,
/// the keys that differ, the config it will run with, and the config to send, if any.
fn connector_action(
    p: &Placement,
    url: &str,
    i: usize,
    role: Role,
    st: Option<&ConnectorStatus>,
    have: Option<&BTreeMap<String, String>>,
    derived: &Result<Vec<BTreeMap<String, String>>, String>,
) -> Result<PlannedConnector, Error> {
    let name = role.of(&p.reverse);
    let state = st.map(ConnectorStatus::summary);
    Ok(match (derived, have) {
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
    })
}

/// See `connector_action`.
type PlannedConnector = (
    ConnectorAction,
    Vec<String>,
    BTreeMap<String, String>,
    Option<BTreeMap<String, String>>,
);

/// The reverse source connector's aliases, target bootstrap and topic filter.
fn reverse_source_settings(
    source_cfg: &BTreeMap<String, String>,
    p: &Placement,
) -> Result<(String, String, Option<String>, Mm2TopicFilter), Error> {
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
    Ok((source_alias, target_alias, target_bootstrap, filter))
}

/// Partitions with no stored position start at the consumer's `auto.offset.reset`: it
/// must be `earliest` (MM2's own), or they would skip records.
fn check_starts_from_earliest(
    source_cfg: &BTreeMap<String, String>,
    partitions: &[SeedPartition],
    p: &Placement,
) -> Result<(), Error> {
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
            k.ends_with("auto.offset.reset") && !k.starts_with("target.") && v.trim() != "earliest"
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
    Ok(())
}

/// See `plan_source_offsets` and `offsets_to_write`.
type SourceOffsetsPlan = (Vec<ConnectorOffset>, Vec<String>, Vec<StaleOffset>);

/// What to write into the reverse source connector's offsets (its stored offsets
/// against the seed): the patch, the partitions whose stored offset differs, and stale
/// offsets of topics not seeded; `changes` and `notes` say which partitions are written.
#[allow(clippy::too_many_arguments)]
fn plan_source_offsets(
    ctx: &StepContext<'_>,
    client: &ConnectClient,
    p: &Placement,
    url: &str,
    source_state: Option<&ConnectorStatus>,
    partitions: &[SeedPartition],
    source_alias: &str,
    changes: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<SourceOffsetsPlan, Error> {
    // The source connector's offsets against the seed.
    let stored = match source_state {
        Some(_) => Some(read_offsets(ctx, client, &p.reverse.source, source_alias)?),
        None => None,
    };
    let (patch, mismatched, stale) = offsets_to_write(partitions, stored.as_ref(), source_alias)?;
    if let Some(st) = source_state {
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
    for sp in partitions {
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
    Ok((patch, mismatched, stale))
}

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

    /// Read everything, change nothing.
    fn survey(&self, ctx: &StepContext<'_>) -> Result<Survey, Error> {
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

        let existing = existing_connectors(ctx, &client, &p)?;

        // The forward flow's configs, the template of the reverse ones.
        let new_connect = connect_client(topology, &p.new, self.timeout)?;
        let derived = self.derive_all(ctx, &p, new_connect.as_ref());

        let ConnectorPlan {
            configs,
            send,
            in_effect,
        } = plan_connectors(&p, &url, &existing, &derived, &mut changes, &mut notes)?;
        if configs.iter().any(|c| c.action == ConnectorAction::Create)
            && !Feature::InitialState.supported_by(&version)
        {
            return Err(refused(format!(
                "Connect at `{url}` (cluster `{}`) runs {version}, which cannot create a connector already stopped (`initial_state` needs Kafka 3.7+); created running, the reverse flow would copy from the wrong offsets before it is seeded\nhelp: upgrade the workers; or create the three connectors by hand so that they copy nothing (`topics.exclude: .*`, `groups.exclude: .*`, `emit.heartbeats.enabled: false`), stop them (PUT {url}/connectors/<name>/stop), then resume the run: kafka-dr replaces their configs (they stay STOPPED) and seeds the offsets",
                p.old
            )));
        }

        let source_cfg = &in_effect[0];
        let (source_alias, target_alias, target_bootstrap, filter) =
            reverse_source_settings(source_cfg, &p)?;

        // The seed, partition by partition.
        let (partitions, skipped) =
            self.seed_partitions(ctx, &p, &filter, &source_alias, &target_alias, &mut notes)?;
        if partitions.is_empty() {
            notes.push(format!(
                "no in-scope partition on `{}` for the reverse flow to copy",
                p.new
            ));
        }

        check_starts_from_earliest(source_cfg, &partitions, &p)?;

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

        let (patch, mismatched, stale) = plan_source_offsets(
            ctx,
            &client,
            &p,
            &url,
            existing[0].0.as_ref(),
            &partitions,
            &source_alias,
            &mut changes,
            &mut notes,
        )?;

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
            offsets_topic: None,
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

    /// Dedicated mode: read everything, change nothing. `flow` is the topology flow that
    /// copies into the old primary.
    fn survey_dedicated(
        &self,
        ctx: &StepContext<'_>,
        d: &crate::topology::DedicatedFlow,
    ) -> Result<DedicatedSurvey, Error> {
        use super::mirror_dedicated as dm;
        let p = placement(ctx)?;
        let topology = ctx.topology;
        // MM2 dedicated mode's aliases are the cluster names of its `clusters` list, which
        // the topology's names are taken to be.
        let source_alias = p.new.clone();
        let target_alias = p.old.clone();
        let topic = d.offsets_topic(&source_alias);
        let mut notes = vec![format!(
            "the reverse flow's MM2 runs in dedicated mode: kafka-dr cannot see its config; it seeds every in-scope topic (`replication.topics`), and the reverse MM2 must copy them (its mm2.properties `topics`)"
        )];
        let mut changes = vec![format!(
            "stop the reverse flow's MM2 first (it must not run while its offsets are written): run its {}",
            dm::describe("stop", &d.stop)
        )];
        let filter = Mm2TopicFilter::of(&BTreeMap::new()).map_err(refused)?;
        let (partitions, skipped) =
            self.seed_partitions(ctx, &p, &filter, &source_alias, &target_alias, &mut notes)?;
        if partitions.is_empty() {
            notes.push(format!(
                "no in-scope partition on `{}` for the reverse flow to copy",
                p.new
            ));
        }
        let old = common::kafka(topology, &p.old, self.timeout)?;
        let stored = dm::read_positions(&old, &topic, &source_alias, self.timeout)?;
        let topic_exists = stored.is_some();
        let (patch, mismatched, stale) =
            offsets_to_write(&partitions, stored.as_ref(), &source_alias)?;
        let mut write = Vec::new();
        for e in &patch {
            let o = MirrorSourceOffset::from_connector_offset(e).map_err(Error::from)?;
            write.push(dm::entry(
                &o.source_alias,
                &o.topic,
                o.partition,
                o.last_copied,
            ));
        }
        if !topic_exists && !write.is_empty() {
            changes.push(format!(
                "create MM2's offsets topic `{topic}` on `{}` (compacted, {} partitions, as Connect would): the reverse flow never ran there",
                p.old,
                crate::kafka::connect_offsets::DEFAULT_OFFSETS_PARTITIONS
            ));
        }
        let to_write = patched_partitions(&patch);
        for sp in &partitions {
            if to_write.contains(&(sp.topic.clone(), sp.partition)) {
                changes.push(format!("{} (offsets topic `{topic}`)", sp.describe()));
            } else {
                notes.push(format!("already seeded: {}", sp.describe()));
            }
        }
        for s in &stale {
            changes.push(format!(
                "erase the position of `{}`-{} (last copied {}) that an earlier reverse MM2 left in `{topic}`: that topic is not seeded",
                s.topic, s.partition, s.last_copied
            ));
        }
        let names = ConnectorNames {
            source: crate::kafka::connect_offsets::DEDICATED_SOURCE_CONNECTOR.into(),
            checkpoint: "MirrorCheckpointConnector".into(),
            heartbeat: "MirrorHeartbeatConnector".into(),
        };
        let detail = SeedDetail {
            strategy: self.strategy,
            new_primary: p.new.clone(),
            old_primary: p.old.clone(),
            promotion_run: p.cut.run_id,
            promotion_taken_at: p.cut.taken_at.clone(),
            connect_url: String::new(),
            connectors: names,
            source_alias,
            target_alias,
            target_bootstrap: None,
            partitions,
            configs: Vec::new(),
            stale_offsets: stale,
            skipped,
            offsets_topic: Some(topic.clone()),
        };
        Ok(DedicatedSurvey {
            detail,
            topic,
            write,
            mismatched,
            changes,
            notes,
        })
    }

    fn dedicated_flow<'t>(
        &self,
        ctx: &StepContext<'t>,
    ) -> Result<Option<&'t crate::topology::DedicatedFlow>, Error> {
        let p = placement(ctx)?;
        let flow = super::mirror_dedicated::flow_into(ctx.topology, &p.old);
        Ok(super::mirror_dedicated::flow_of(ctx.topology, flow))
    }

    fn plan_dedicated(
        &self,
        ctx: &StepContext<'_>,
        d: &crate::topology::DedicatedFlow,
    ) -> Result<Plan, Error> {
        let s = self.survey_dedicated(ctx, d)?;
        let mut notes = s.notes;
        notes.insert(
            0,
            format!(
                "reverse flow `{}` -> `{}` in MM2 dedicated mode (offsets topic `{}` on `{}`), strategy {}, promotion cut of run {} taken at {}",
                s.detail.new_primary,
                s.detail.old_primary,
                s.topic,
                s.detail.old_primary,
                s.detail.strategy.name(),
                s.detail.promotion_run,
                s.detail.promotion_taken_at
            ),
        );
        Ok(Plan {
            changes: s.changes,
            notes,
            detail: encode_detail(ctx, &s.detail)?,
        })
    }

    fn apply_dedicated(
        &self,
        ctx: &mut StepContext<'_>,
        d: &crate::topology::DedicatedFlow,
    ) -> Result<serde_json::Value, Error> {
        use super::mirror_dedicated as dm;
        let stop = d.stop.clone();
        ctx.reporter.status(
            "Stopping",
            "the reverse flow's MM2 (dedicated mode) before seeding it",
        );
        let hook = dm::run_hook(ctx, &stop)?;
        let s = self.survey_dedicated(ctx, d)?;
        crate::engine::crash::crash_point("mirror.seed:before-offsets");
        let old = common::kafka(ctx.topology, &s.detail.old_primary, self.timeout)?;
        let mut created = false;
        if !s.write.is_empty() {
            ctx.reporter.status(
                "Seeding",
                &format!(
                    "`{}` on `{}`: {} partition positions",
                    s.topic,
                    s.detail.old_primary,
                    s.write.len()
                ),
            );
            created = dm::write_positions(&old, &s.topic, &s.write, self.timeout)?;
        }
        let mut out = encode_detail(ctx, &s.detail)?;
        out["offsets_written"] = json!(s.write.len());
        // What `write_positions` did, not what the survey saw: a topic that raced into
        // existence in between was not created by this step.
        out["offsets_topic_created"] = json!(created);
        out["stop_hook"] = hook;
        Ok(out)
    }

    fn verify_dedicated(
        &self,
        ctx: &StepContext<'_>,
        d: &crate::topology::DedicatedFlow,
    ) -> Result<Verdict, Error> {
        let mut tries = 0;
        loop {
            tries += 1;
            let s = self.survey_dedicated(ctx, d)?;
            if s.write.is_empty() {
                return Ok(Verdict::Done);
            }
            if tries >= READ_BACK_TRIES {
                let mut what = s.mismatched.clone();
                what.extend(s.detail.stale_offsets.iter().map(|o| {
                    format!(
                        "`{}`-{}: stale position {}",
                        o.topic, o.partition, o.last_copied
                    )
                }));
                if what.is_empty() {
                    what.push(format!("{} partitions without their seed", s.write.len()));
                }
                return Ok(Verdict::NotDone(format!(
                    "the positions in MM2's offsets topic `{}` on `{}` do not equal the seed:\n  {}\nhelp: make sure the reverse flow's MM2 is stopped (its stop hook), then re-run the step",
                    s.topic,
                    s.detail.old_primary,
                    what.join("\n  ")
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
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
                    first_line(&crate::redact::redact(&e.to_string()))
                )
            })?;
            crate::redact::register(secret_values(&config));
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
                // The log end at the promotion, not the last stable offset: what lies
                // between was the old flow's open transaction (see PromotionCut).
                match p.cut.new_primary_seed.get(&key) {
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
            if let Some(s) = ctx.block_on(client.status_if_exists(name))? {
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
pub(super) fn read_offsets(
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
) -> Result<SourceOffsetsPlan, Error> {
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

/// The seed as the step's plan detail and output.
fn encode_detail(ctx: &StepContext<'_>, detail: &SeedDetail) -> Result<serde_json::Value, Error> {
    serde_json::to_value(detail).map_err(|e| {
        Error::Io(format!(
            "cannot encode the seed of step `{}`: {e}",
            ctx.step_id
        ))
    })
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
        if let Some(d) = self.dedicated_flow(ctx)? {
            return self.plan_dedicated(ctx, d);
        }
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
        if let Some(d) = self.dedicated_flow(ctx)? {
            return self.apply_dedicated(ctx, d);
        }
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
                        Err(e) => return Err(scrub(e)),
                    }
                    crate::engine::crash::crash_point("mirror.seed:connector-created");
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
                        .map_err(scrub)?;
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
            .map_err(scrub)?;
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
        if let Some(d) = self.dedicated_flow(ctx)? {
            return self.verify_dedicated(ctx, d);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{failback_run, step, Fixture};
    use crate::topology::Connectors;

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
            offsets_topic: None,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["strategy"], "delete-records");
        assert_eq!(v["partitions"][0]["reason"], "promotion-cut");
        let back: SeedDetail = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
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
}
