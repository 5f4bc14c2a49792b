//! `mirror.start`: resumes the reverse flow's connectors that `mirror.seed` created
//! STOPPED, waits until the reverse lag is under a threshold, checks by fingerprint that
//! the first copies landed where the seed said, and journals the verified reverse deltas
//! as offset syncs.
//!
//! It refuses, as `mirror.seed` does, while a forward MirrorSourceConnector runs on the
//! same topics. It writes only to the old primary's Connect (resume of its own
//! connectors) and to the journal's offset syncs.
//!
//! In MM2 dedicated mode (the seed says so) it runs the reverse flow's start hook instead
//! of resuming connectors, and reads the flow's positions from its offsets topic; the
//! catch-up wait and the fingerprint check of the first copies are the same.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::first_line;
use super::mirror_seed::*;
use super::reverse_flow::*;
use super::{common, ActionError};
use crate::connect::{ConnectClient, ConnectorStatus, TargetState};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::OffsetSyncRow;
use crate::kafka::{fingerprint, Fingerprint, KafkaClient, Record};
use crate::runbook::StepDef;

/// The runbook name of the action that starts them.
pub const START: &str = "mirror.start";
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartParams {
    seed_step: String,
    #[serde(default)]
    max_lag: Option<u64>,
    timeout_seconds: u64,
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

/// What runs the reverse flow: connectors on Connect, or a dedicated-mode MM2 (its start
/// hook, and its offsets topic on the old primary).
enum Runner {
    Connect(Box<ConnectClient>),
    Dedicated {
        start: crate::topology::Hook,
        topic: String,
    },
}

impl Runner {
    /// Where to look when something is wrong, for help texts.
    fn where_to_look(&self, seed: &SeedDetail) -> String {
        match self {
            Runner::Connect(c) => format!("check the connectors with GET {}/connectors/<name>/status", c.url()),
            Runner::Dedicated { topic, .. } => format!(
                "check the reverse MM2's log (dedicated mode) and its positions in `{topic}` on `{}`",
                seed.old_primary
            ),
        }
    }
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

    /// The reverse flow's runner, as the seed recorded it.
    fn runner(&self, ctx: &StepContext<'_>, seed: &SeedDetail) -> Result<Runner, Error> {
        let Some(topic) = &seed.offsets_topic else {
            return Ok(Runner::Connect(Box::new(self.client(ctx, seed)?)));
        };
        let flow = super::mirror_dedicated::flow_into(ctx.topology, &seed.old_primary);
        let d = super::mirror_dedicated::flow_of(ctx.topology, flow).ok_or_else(|| {
            Error::Usage(format!(
                "the reverse flow `{}` -> `{}` was seeded in MM2 dedicated mode (offsets topic `{topic}`), but the topology no longer says `replication.mirror_maker.mode: dedicated`\nhelp: put the `mirror_maker` section back into the topology, or seed again (a new run)",
                seed.new_primary, seed.old_primary
            ))
        })?;
        Ok(Runner::Dedicated {
            start: d.start.clone(),
            topic: topic.clone(),
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
        if seed.dedicated() {
            return Ok(vec![format!(
                "the forward flow runs in MM2 dedicated mode: kafka-dr cannot ask whether it runs; step `stop-forward` ran its stop hook, and the fence keeps it out of `{}`",
                seed.new_primary
            )]);
        }
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
        runner: &Runner,
        new: &KafkaClient,
        old: &KafkaClient,
    ) -> Result<Look, Error> {
        let mut states = Vec::new();
        let stored = match runner {
            Runner::Connect(client) => {
                for role in ROLES {
                    let name = role.of(&seed.connectors).to_string();
                    let st = ctx.block_on(client.status_if_exists(&name))?;
                    states.push((name, st));
                }
                if states[0].1.is_some() {
                    read_offsets(ctx, client, &seed.connectors.source, &seed.source_alias)?
                } else {
                    BTreeMap::new()
                }
            }
            Runner::Dedicated { topic, .. } => super::mirror_dedicated::read_positions(
                old,
                topic,
                &seed.source_alias,
                self.timeout,
            )?
            .unwrap_or_default(),
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
            "the reverse flow `{}` -> `{}` did not start where the seed said; {} left running:\n{}\nhelp: check that nothing else writes into `{}` (the `app-writes` fence), that the target topics use CreateTime timestamps (LogAppendTime rewrites them), and what `{}` holds after each seeded log end; {} if the copies are wrong",
            seed.new_primary,
            seed.old_primary,
            if seed.dedicated() {
                "its MM2 (dedicated mode) is"
            } else {
                "its connectors are"
            },
            bad.join("\n"),
            seed.old_primary,
            seed.old_primary,
            if seed.dedicated() {
                "stop the reverse MM2 (its stop hook)".to_string()
            } else {
                format!(
                    "stop the flow with PUT {}/connectors/{}/stop",
                    seed.connect_url, seed.connectors.source
                )
            }
        )))
    }

    fn output(&self, seed: &SeedDetail, look: &Look, waited: Duration) -> serde_json::Value {
        json!({
            "new_primary": seed.new_primary,
            "old_primary": seed.old_primary,
            "connect_url": seed.connect_url,
            "offsets_topic": seed.offsets_topic,
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

    fn progress_line(&self, seed: &SeedDetail, look: &Look) -> String {
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
            "{} -> {}: lag {lag} records ({} of {} partitions above {}), {copied} copied; {}",
            seed.new_primary,
            seed.old_primary,
            behind.len(),
            look.partitions.len(),
            self.max_lag,
            states.join(", "),
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
        let runner = self.runner(ctx, &seed)?;
        let new = common::kafka(ctx.topology, &seed.new_primary, self.timeout)?;
        let old = common::kafka(ctx.topology, &seed.old_primary, self.timeout)?;
        let client = match &runner {
            Runner::Connect(c) => c,
            Runner::Dedicated { start, .. } => {
                plan.changes.push(format!(
                    "start the reverse flow's MM2 ({} -> {}, dedicated mode): run its {}",
                    seed.new_primary,
                    seed.old_primary,
                    super::mirror_dedicated::describe("start", start)
                ));
                return self.plan_wait(ctx, plan, &seed, &runner, &new, &old);
            }
        };
        let url = client.url().to_string();
        let mut missing = Vec::new();
        for role in ROLES {
            let name = role.of(&seed.connectors);
            match ctx.block_on(client.status_if_exists(name))? {
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
        self.plan_wait(ctx, plan, &seed, &runner, &new, &old)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let seed = self.seed(ctx)?;
        self.check_forward(ctx, &seed)?;
        let runner = self.runner(ctx, &seed)?;
        let mut hook_out = None;
        match &runner {
            Runner::Connect(client) => self.resume_all(ctx, &seed, client)?,
            Runner::Dedicated { start, .. } => {
                ctx.reporter.status(
                    "Starting",
                    &format!(
                        "the reverse flow's MM2 ({} -> {}, dedicated mode)",
                        seed.new_primary, seed.old_primary
                    ),
                );
                hook_out = Some(super::mirror_dedicated::run_hook(ctx, start)?);
                crate::engine::crash::crash_point("mirror.start:connector-resumed");
            }
        }
        let mut out = self.catch_up(ctx, &seed, &runner)?;
        if let Some(h) = hook_out {
            out["start_hook"] = h;
        }
        Ok(out)
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let seed = self.seed(ctx)?;
        let runner = self.runner(ctx, &seed)?;
        let new = common::kafka(ctx.topology, &seed.new_primary, self.timeout)?;
        let old = common::kafka(ctx.topology, &seed.old_primary, self.timeout)?;
        let look = self.look(ctx, &seed, &runner, &new, &old)?;
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

impl Start {
    /// The plan's wait: where each partition stands, and the wait if it is not settled.
    fn plan_wait(
        &self,
        ctx: &StepContext<'_>,
        mut plan: Plan,
        seed: &SeedDetail,
        runner: &Runner,
        new: &KafkaClient,
        old: &KafkaClient,
    ) -> Result<Plan, Error> {
        let look = self.look(ctx, seed, runner, new, old)?;
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
        plan.detail = self.output(seed, &look, Duration::ZERO);
        Ok(plan)
    }

    /// Connect: resume the reverse connectors, the source first.
    fn resume_all(
        &self,
        ctx: &StepContext<'_>,
        seed: &SeedDetail,
        client: &ConnectClient,
    ) -> Result<(), Error> {
        let cluster = seed.old_primary.clone();
        // The source first: copying starts as early as possible, checkpoints follow it.
        for role in ROLES {
            let name = role.of(&seed.connectors);
            match ctx.block_on(client.status_if_exists(name))? {
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
                    crate::engine::crash::crash_point("mirror.start:connector-resumed");
                }
            }
        }
        Ok(())
    }

    /// Wait until the reverse flow caught up and its first copies are checked; the
    /// step's output.
    fn catch_up(
        &self,
        ctx: &StepContext<'_>,
        seed: &SeedDetail,
        runner: &Runner,
    ) -> Result<serde_json::Value, Error> {
        let seed = seed.clone();
        let new = common::kafka(ctx.topology, &seed.new_primary, self.timeout)?;
        let old = common::kafka(ctx.topology, &seed.old_primary, self.timeout)?;
        let started = Instant::now();
        let progress = ctx.reporter.progress(
            "Mirroring",
            &format!("{} -> {}: catching up", seed.new_primary, seed.old_primary),
            None,
            "",
        );
        let look = loop {
            let look = match self.look(ctx, &seed, runner, &new, &old) {
                Ok(look) => look,
                // A topic MM2 has just created on the old primary may have no leader for
                // a moment (NOT_LEADER_FOR_PARTITION was seen on the lab): look again.
                Err(Error::Kafka(e)) if started.elapsed() < self.timeout => {
                    progress.set(
                        0,
                        Some(&format!(
                            "{} -> {}: waiting: {}",
                            seed.new_primary,
                            seed.old_primary,
                            first_line(&e.to_string()),
                        )),
                    );
                    if ctx.is_interrupted() {
                        return Err(catch_up_interrupted(&seed));
                    }
                    std::thread::sleep(POLL);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let failures = look.failures();
            if let (false, Runner::Connect(client)) = (failures.is_empty(), runner) {
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
            progress.set(0, Some(&self.progress_line(&seed, &look)));
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
                    "the reverse flow `{}` -> `{}` did not catch up within {}s (max lag {}); it keeps running:\n  {}{}\nhelp: raise `timeout_seconds` (MM2 stores its offsets every offset.flush.interval.ms, 60 s by default) or `max_lag`, {}, then resume the run",
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
                    runner.where_to_look(&seed)
                )));
            }
            if ctx.is_interrupted() {
                return Err(catch_up_interrupted(&seed));
            }
            std::thread::sleep(POLL);
        };
        drop(progress);
        ctx.reporter.status(
            "Mirrored",
            &format!(
                "{} in {}",
                self.progress_line(&seed, &look),
                crate::human::duration(started.elapsed())
            ),
        );
        let recorded = self.record_deltas(ctx, &seed, &look)?;
        let mut out = self.output(&seed, &look, started.elapsed());
        out["deltas_recorded"] = json!(recorded);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{failback_run, step, Fixture};

    #[test]
    fn params() {
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
}
