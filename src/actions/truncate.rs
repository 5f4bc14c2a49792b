//! `truncate`: remove the old primary's tail once it is safely quarantined. Apache Kafka
//! cannot cut the end of a log, so by `strategy`:
//!
//! - `delete-records` (default): DeleteRecords up to the log end of every partition WITH
//!   a tail (its history lives on in the new primary); partitions without a tail are left
//!   alone. Kafka refuses DeleteRecords on a compact-only topic (`cleanup.policy` without
//!   `delete`): the plan reads every such topic's policy in effect and, by `compacted`,
//!   recreates it (`recreate`, the default) or refuses the step before anything is
//!   deleted (`refuse`).
//! - `recreate`: delete every topic that has a tail and create it again with the same
//!   partition count, replication factor and non-default configs; the reverse mirror then
//!   copies it in full from the new primary's earliest offset.
//! - `keep`: delete nothing, with a loud warning in the plan and the output.
//!
//! The output's `recreated_topics` lists every topic this step recreated (also those an
//! earlier attempt finished): `mirror.seed` seeds those from the earliest offset and every
//! other topic at the promotion cut.
//!
//! Params: `strategy`, `compacted`, `cluster` (the old primary, default `backup`),
//! `find_step` (default `tail-find`), `quarantine_step` (default `tail-quarantine`),
//! `no_quarantine` (explicit opt-out, default false), `topics` (restrict to these),
//! `timeout_seconds`.
//!
//! Nothing is deleted unless the quarantine recorded in the journal by the quarantine
//! step of this run verifies (manifest against the tail, file against the manifest),
//! unless `no_quarantine`. Records written to the old primary after `tail.find` were not
//! quarantined: the step refuses to delete them (again unless `no_quarantine`). It only
//! reads the journal; the quarantine itself belongs to `tail_quarantine.rs` and `quarantine_file.rs`.
//!
//! The last copy: deleting `[log start, cut)` on the old primary is safe only while the
//! new primary still holds that history. The plan checks it (a fresh read of the new
//! primary's log start, mapped to the old primary's offsets through the offset syncs and
//! the cut's twin, then confirmed by fingerprint): if the new primary lost some of it
//! (shorter retention, a mirror started late), the step REFUSES before anything is
//! deleted, with the records per partition that only the old primary still has (they are
//! in no quarantine either: the tail quarantine starts at the cut).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common;
use super::quarantine_file::{self, Manifest};
use super::tail_find::{self, PartitionTail, TailReport};
use super::tail_quarantine;
use super::translation::SyncPoint;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::kafka::{fingerprint, KafkaClient};
use crate::runbook::StepDef;

pub const NAME: &str = "truncate";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    strategy: String,
    compacted: String,
    cluster: String,
    find_step: String,
    quarantine_step: String,
    #[serde(default)]
    no_quarantine: bool,
    #[serde(default)]
    topics: Option<Vec<String>>,
    timeout_seconds: u64,
}

/// How the tail is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    DeleteRecords,
    Recreate,
    Keep,
}

impl Strategy {
    fn parse(s: &str) -> Option<Strategy> {
        match s {
            "delete-records" => Some(Strategy::DeleteRecords),
            "recreate" => Some(Strategy::Recreate),
            "keep" => Some(Strategy::Keep),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Strategy::DeleteRecords => "delete-records",
            Strategy::Recreate => "recreate",
            Strategy::Keep => "keep",
        }
    }
}

/// What `delete-records` does with a compact-only topic that has a tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compacted {
    /// Delete it and create it again (the reverse flow copies its whole history back).
    Recreate,
    /// Refuse the step in its plan.
    Refuse,
}

impl Compacted {
    fn parse(s: &str) -> Option<Compacted> {
        match s {
            "recreate" => Some(Compacted::Recreate),
            "refuse" => Some(Compacted::Refuse),
            _ => None,
        }
    }
}

/// Whether DeleteRecords works on a topic with this `cleanup.policy` (a comma-separated
/// list): Kafka refuses it unless the policy includes `delete`.
pub fn delete_records_allowed(cleanup_policy: &str) -> bool {
    cleanup_policy
        .split(',')
        .any(|p| p.trim().eq_ignore_ascii_case("delete"))
}

/// Where the old primary's history `[log_start, cut)` stops being held by the new
/// primary, before any record is read: records `[log_start, until)` may be only on the
/// old primary; `search` is the old-primary range `[from, until]` to look for the twin of
/// the new primary's first record in, to confirm (`None`: nothing to confirm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnheldEstimate {
    pub until: i64,
    pub search: Option<(i64, i64)>,
}

/// `new_start`: the new primary's log start now (`None`: the partition is gone there);
/// `new_end`: its log end at the promotion; `pairs`: (old offset, new offset) of the same
/// record, from the offset syncs and the cut's twin.
///
/// Between two syncs MM2 copies records in order, one new offset per record (a restarted
/// task emits a sync at its first record), while the old side may have gaps (compaction,
/// transaction markers). So from the nearest pair at or above the new log start, going
/// back `downstream - new_start` records lands at or after the twin of the new primary's
/// first record: `until` never falls short of it. From the nearest pair below, going
/// forward lands at or before it: the search starts there.
pub fn unheld_estimate(
    log_start: i64,
    cut: i64,
    new_start: Option<i64>,
    new_end: Option<i64>,
    pairs: &[SyncPoint],
) -> UnheldEstimate {
    if cut <= log_start {
        return UnheldEstimate {
            until: log_start,
            search: None,
        };
    }
    let everything = UnheldEstimate {
        until: cut,
        search: None,
    };
    let Some(now) = new_start else {
        return everything;
    };
    if new_end.is_some_and(|end| now >= end) {
        return everything;
    }
    let pairs: Vec<&SyncPoint> = pairs
        .iter()
        .filter(|s| s.upstream < cut && s.upstream >= 0 && s.downstream >= 0)
        .collect();
    let Some(above) = pairs
        .iter()
        .filter(|s| s.downstream >= now)
        .min_by_key(|s| (s.downstream, s.upstream))
    else {
        return everything;
    };
    let until = (above.upstream - (above.downstream - now)).min(cut);
    if until <= log_start {
        return UnheldEstimate {
            until: log_start,
            search: None,
        };
    }
    let from = pairs
        .iter()
        .filter(|s| s.downstream < now)
        .max_by_key(|s| (s.downstream, s.upstream))
        .map_or(log_start, |b| b.upstream + (now - b.downstream))
        .clamp(log_start, until);
    UnheldEstimate {
        until,
        search: Some((from, until)),
    }
}

/// Records of the old primary's replicated history that the new primary no longer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unheld {
    pub topic: String,
    pub partition: i32,
    pub new_primary_topic: String,
    /// Offsets `[from, until)` on the old primary.
    pub from: i64,
    pub until: i64,
    /// The new primary's log start now (`None`: the partition is gone) and at the
    /// promotion.
    pub new_primary_start_now: Option<i64>,
    pub new_primary_start_at_promotion: Option<i64>,
    /// True when the twin of the new primary's first record was found by fingerprint.
    pub confirmed: bool,
}

impl Unheld {
    pub fn records(&self) -> i64 {
        self.until - self.from
    }
}

/// Why a topic is recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecreateReason {
    /// The step's strategy is `recreate`.
    #[default]
    Strategy,
    /// Strategy `delete-records`, but the topic is compact-only (`compacted: recreate`).
    CompactOnly,
}

/// One DeleteRecords to do (or done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    pub topic: String,
    pub partition: i32,
    /// Records before this offset are deleted.
    pub before: i64,
    /// The log start when planned: offsets `[log_start, before)` go.
    pub log_start: i64,
    pub records: i64,
    /// Of which the quarantined tail `[cut, before)`.
    pub cut: i64,
    pub tail_records: i64,
}

/// One topic to delete and create again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recreation {
    pub topic: String,
    pub partitions: i32,
    /// Non-default configs, re-applied on creation.
    pub configs: Vec<(String, String)>,
    /// The topic's replication factor, kept (-1: the broker's `default.replication.factor`,
    /// only in plans stored by older versions).
    pub replication_factor: i32,
    #[serde(default)]
    pub reason: RecreateReason,
    /// Its `cleanup.policy` in effect when planned (`None` in older plans).
    #[serde(default)]
    pub cleanup_policy: Option<String>,
    /// False when an earlier attempt already deleted it: only the creation is left.
    pub exists: bool,
    /// Records lost on the old primary (all of the topic), and of them the tail.
    pub records: i64,
    pub tail_records: i64,
}

/// What the step does, as planned (the plan detail) and done (the output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    pub strategy: Strategy,
    pub cluster: String,
    pub no_quarantine: bool,
    /// The quarantine file the deleted tail is kept in (None with `no_quarantine`, or
    /// under `--dry-run` before it exists).
    pub quarantine_file: Option<String>,
    pub deletions: Vec<Deletion>,
    pub recreations: Vec<Recreation>,
    /// Every topic this step recreates or recreated (including those already recreated by
    /// an earlier attempt): the reverse flow copies them from the earliest offset.
    #[serde(default)]
    pub recreated_topics: Vec<String>,
    /// Partitions whose tail is kept (strategy `keep`): (topic, partition, records).
    pub kept: Vec<(String, i32, i64)>,
    /// Partitions already in the wanted state.
    pub already_done: Vec<String>,
    pub warnings: Vec<String>,
}

/// The `truncate` action.
#[derive(Debug)]
pub struct Truncate {
    strategy: Strategy,
    compacted: Compacted,
    cluster: String,
    find_step: String,
    quarantine_step: String,
    no_quarantine: bool,
    topics: Option<Vec<String>>,
    timeout: Duration,
}

impl Truncate {
    pub fn new(step: &StepDef) -> Result<Truncate, Error> {
        let p: Params = super::params(step, NAME)?;
        let bad = |reason: String| -> Error {
            super::ActionError::Params {
                step: step.id.clone(),
                action: NAME,
                reason,
            }
            .into()
        };
        let strategy = Strategy::parse(&p.strategy).ok_or_else(|| {
            bad(format!(
                "`strategy` is `{}`\nhelp: use `delete-records` (the default), `recreate` or `keep`",
                p.strategy
            ))
        })?;
        let compacted = Compacted::parse(&p.compacted).ok_or_else(|| {
            bad(format!(
                "`compacted` is `{}`\nhelp: use `recreate` (the default: delete a compact-only topic with a tail and create it again) or `refuse` (refuse in the plan)",
                p.compacted
            ))
        })?;
        if p.topics.as_ref().is_some_and(Vec::is_empty) {
            return Err(bad("`topics` is empty\nhelp: list the topics to truncate, or remove `topics` to truncate every topic with a tail".into()));
        }
        Ok(Truncate {
            strategy,
            compacted,
            cluster: p.cluster,
            find_step: p.find_step,
            quarantine_step: p.quarantine_step,
            no_quarantine: p.no_quarantine,
            topics: p.topics,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// The tail and the partitions this step works on.
    fn tail(&self, ctx: &StepContext<'_>) -> Result<(TailReport, Vec<PartitionTail>), Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let report = tail_find::load_tail(ctx, &self.find_step, NAME)?;
        if report.old_primary != cluster {
            return Err(Error::Usage(format!(
                "step `{}` ({NAME}): step `{}` found the tail of `{}`, but this step truncates `{cluster}`\nhelp: set `cluster` to `{}` (the old primary)",
                ctx.step_id, self.find_step, report.old_primary, report.old_primary
            )));
        }
        let known: BTreeSet<&str> = report.partitions.iter().map(|p| p.topic.as_str()).collect();
        if let Some(only) = &self.topics {
            for t in only {
                if !known.contains(t.as_str()) {
                    return Err(Error::Usage(format!(
                        "step `{}` ({NAME}): topic `{t}` is not among the {} topic(s) step `{}` examined on `{cluster}`\nhelp: check the name in `topics` (it must be an in-scope topic of `{cluster}`)",
                        ctx.step_id,
                        known.len(),
                        self.find_step
                    )));
                }
            }
        }
        let selected = report
            .partitions
            .iter()
            .filter(|p| {
                self.topics
                    .as_ref()
                    .is_none_or(|only| only.contains(&p.topic))
            })
            .cloned()
            .collect();
        Ok((report, selected))
    }

    /// The quarantine of this run's quarantine step, if it verifies.
    fn quarantine(&self, ctx: &StepContext<'_>, tail: &TailReport) -> Result<Manifest, Error> {
        let refuse = |why: String| {
            Error::Io(format!(
                "step `{}` ({NAME}): nothing is deleted from `{}`: {why}\nhelp: run the `{}` step first (resume the run), or set `no_quarantine: true` to delete WITHOUT a copy",
                ctx.step_id, tail.old_primary, tail_quarantine::QUARANTINE
            ))
        };
        quarantine_file::verified_quarantine(
            ctx.journal,
            ctx.run_id,
            &self.quarantine_step,
            tail,
            refuse,
        )
    }

    /// What to do, from the tail and the cluster as it is now. Reads only.
    fn work(&self, ctx: &StepContext<'_>) -> Result<Work, Error> {
        let (report, selected) = self.tail(ctx)?;
        let cluster = report.old_primary.clone();
        let mut work = Work {
            strategy: self.strategy,
            cluster: cluster.clone(),
            no_quarantine: self.no_quarantine,
            quarantine_file: None,
            deletions: vec![],
            recreations: vec![],
            recreated_topics: vec![],
            kept: vec![],
            already_done: vec![],
            warnings: vec![],
        };
        let with_tail: Vec<&PartitionTail> = selected.iter().filter(|p| p.has_tail()).collect();
        if self.strategy == Strategy::Keep {
            work.kept = with_tail
                .iter()
                .map(|p| (p.topic.clone(), p.partition, p.tail_count))
                .collect();
            let total: i64 = with_tail.iter().map(|p| p.tail_count).sum();
            work.warnings.push(format!(
                "strategy `keep`: the {total} tail record(s) of {} partition(s) STAY on `{cluster}`; they never reached `{}`, and the reverse mirror will append after them: consumers of `{cluster}` will see them beside the new primary's history",
                with_tail.len(),
                report.new_primary
            ));
            return Ok(work);
        }
        if with_tail.is_empty() {
            return Ok(work);
        }
        if self.no_quarantine {
            work.warnings.push(format!(
                "`no_quarantine`: the tail is deleted from `{cluster}` WITHOUT a verified copy"
            ));
        } else if ctx.dry_run {
            work.warnings.push(format!(
                "the quarantine of step `{}` is checked before anything is deleted (under --dry-run it does not exist yet)",
                self.quarantine_step
            ));
        } else {
            work.quarantine_file = Some(self.quarantine(ctx, &report)?.file);
        }
        let client = common::kafka(ctx.topology, &cluster, self.timeout)?;
        match self.strategy {
            Strategy::DeleteRecords => {
                let (delete, recreate) = self.split(ctx, &client, &report, &with_tail)?;
                for r in &recreate {
                    let p = r.policy.as_deref().unwrap_or("compact");
                    work.warnings.push(format!(
                        "`{}` is compact-only (cleanup.policy={p}): Kafka refuses DeleteRecords on it, so the topic is deleted and created again with its partitions, replication factor and configs (`compacted: recreate`); the reverse flow then copies its whole history back from `{}`, from its earliest offset",
                        r.topic, report.new_primary
                    ));
                }
                self.plan_deletions(&client, &delete, &mut work)?;
                let parts: Vec<&PartitionTail> = recreate
                    .iter()
                    .flat_map(|r| r.partitions.iter().copied())
                    .collect();
                self.plan_recreations(
                    ctx,
                    &client,
                    &report,
                    &parts,
                    RecreateReason::CompactOnly,
                    &mut work,
                )?;
            }
            Strategy::Recreate => self.plan_recreations(
                ctx,
                &client,
                &report,
                &with_tail,
                RecreateReason::Strategy,
                &mut work,
            )?,
            Strategy::Keep => {}
        }
        let unheld = self.unheld(ctx, &client, &report, &selected, &work)?;
        if !unheld.is_empty() {
            return Err(self.last_copy_refusal(ctx, &report, &unheld));
        }
        Ok(work)
    }

    /// Of what this step would delete (`work`), the records before the cut that the new
    /// primary no longer holds: the old primary has the only copy. Reads only.
    fn unheld(
        &self,
        ctx: &StepContext<'_>,
        old: &KafkaClient,
        report: &TailReport,
        selected: &[PartitionTail],
        work: &Work,
    ) -> Result<Vec<Unheld>, Error> {
        // (partition, the old primary's log start now) of every partition to lose records.
        let mut doomed: Vec<(&PartitionTail, i64)> = Vec::new();
        for d in &work.deletions {
            if let Some(p) = selected
                .iter()
                .find(|p| p.topic == d.topic && p.partition == d.partition)
            {
                doomed.push((p, d.log_start));
            }
        }
        for r in work.recreations.iter().filter(|r| r.exists) {
            for p in report.partitions.iter().filter(|p| p.topic == r.topic) {
                doomed.push((p, p.log_start));
            }
        }
        doomed.retain(|(p, start)| p.cut > *start);
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let new = common::kafka(ctx.topology, &report.new_primary, self.timeout)?;
        let md = new.metadata(self.timeout)?;
        let present: Vec<(&str, i32)> = doomed
            .iter()
            .map(|(p, _)| (p.new_primary_topic.as_str(), p.partition))
            .filter(|(t, p)| md.topic(t).is_some_and(|m| m.partitions.contains(p)))
            .collect();
        let starts: BTreeMap<(String, i32), i64> = new
            .watermarks(&present, self.timeout)?
            .into_iter()
            .map(|w| ((w.topic, w.partition), w.earliest))
            .collect();
        let mut out = Vec::new();
        for (p, log_start) in doomed {
            let now = starts
                .get(&(p.new_primary_topic.clone(), p.partition))
                .copied();
            let mut pairs: Vec<SyncPoint> = ctx
                .journal
                .offset_sync_history(
                    &report.old_primary,
                    &report.new_primary,
                    &p.topic,
                    p.partition,
                )?
                .into_iter()
                .map(|r| SyncPoint {
                    upstream: r.upstream_offset,
                    downstream: r.downstream_offset,
                })
                .collect();
            if let (Some(t), Some(n)) = (p.twin_found_at, p.new_primary_last) {
                pairs.push(SyncPoint {
                    upstream: t,
                    downstream: n,
                });
            }
            let est = unheld_estimate(log_start, p.cut, now, p.new_primary_end, &pairs);
            let mut until = est.until;
            let mut confirmed = false;
            if let (Some((from, to)), Some(now)) = (est.search, now) {
                // Confirm with the twin of the new primary's first record: the records
                // before it are the ones the new primary lost.
                let first = new.read_records(
                    &p.new_primary_topic,
                    p.partition,
                    now,
                    now + crate::actions::translation::RUN_LOOKBACK as i64,
                    self.timeout,
                )?;
                if let Some(r) = first.first() {
                    let back = r.offset - now;
                    let fp = fingerprint(r);
                    let never = || false;
                    let found = tail_find::twins(
                        old,
                        &p.topic,
                        p.partition,
                        &fp,
                        from,
                        (to + back + 1).min(p.cut),
                        self.timeout,
                        &never,
                    )?;
                    // The latest candidate: an identical earlier record must not make
                    // the lost stretch look shorter than it is.
                    match found.last() {
                        Some(&twin) => {
                            until = twin.clamp(log_start, p.cut);
                            confirmed = true;
                        }
                        None => until = p.cut,
                    }
                }
            }
            if until > log_start {
                out.push(Unheld {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    new_primary_topic: p.new_primary_topic.clone(),
                    from: log_start,
                    until,
                    new_primary_start_now: now,
                    new_primary_start_at_promotion: p.new_primary_start,
                    confirmed,
                });
            }
        }
        Ok(out)
    }

    fn last_copy_refusal(
        &self,
        ctx: &StepContext<'_>,
        report: &TailReport,
        unheld: &[Unheld],
    ) -> Error {
        let (old, new) = (&report.old_primary, &report.new_primary);
        let total: i64 = unheld.iter().map(Unheld::records).sum();
        let list = unheld
            .iter()
            .map(|u| {
                format!(
                    "`{}`[{}]: {} record(s){} at offsets [{}, {}) (`{new}` `{}`[{}] starts at {} now{})",
                    u.topic,
                    u.partition,
                    u.records(),
                    if u.confirmed { "" } else { " at most" },
                    u.from,
                    u.until,
                    u.new_primary_topic,
                    u.partition,
                    u.new_primary_start_now
                        .map_or("nothing: the partition is gone".to_string(), |s| s.to_string()),
                    u.new_primary_start_at_promotion
                        .map(|s| format!(", {s} at the promotion"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Error::Usage(format!(
            "nothing was deleted from `{old}`: `{new}` no longer holds {total} record(s) of the history this step would delete (they expired there, or were never mirrored), so `{old}` holds their ONLY copy, and they are in no quarantine (it starts at the cut): {list}\nhelp: keep them: in step `{}` of the runbook list in `topics:` only the other topics (the tails of these stay on `{old}`), or set `strategy: keep`; then run the failback again, or resume this run with `--force` (its runbook changed). To truncate them anyway, first copy those offsets elsewhere (kafka-console-consumer.sh --partition P --offset FROM --max-messages N)",
            ctx.step_id
        ))
    }

    /// Strategy `delete-records`: the partitions DeleteRecords can cut, and the
    /// compact-only topics it cannot (recreated, or refused with `compacted: refuse`).
    /// A topic that no longer exists but that an earlier attempt planned to recreate is
    /// among the latter (that attempt deleted it). Reads only.
    fn split<'t>(
        &self,
        ctx: &StepContext<'_>,
        client: &KafkaClient,
        report: &TailReport,
        with_tail: &[&'t PartitionTail],
    ) -> Result<(Vec<&'t PartitionTail>, Vec<Compact<'t>>), Error> {
        let topics: BTreeSet<&str> = with_tail.iter().map(|p| p.topic.as_str()).collect();
        let md = client.metadata(self.timeout)?;
        let earlier = self.earlier_recreations(ctx)?;
        let mut delete = Vec::new();
        let mut recreate = Vec::new();
        for topic in topics {
            let parts: Vec<&PartitionTail> = with_tail
                .iter()
                .copied()
                .filter(|p| p.topic == topic)
                .collect();
            let policy = if md.topic(topic).is_some() {
                client.topic_config_in_effect(topic, "cleanup.policy", self.timeout)?
            } else if let Some(prev) = earlier.get(topic) {
                prev.cleanup_policy
                    .clone()
                    .or_else(|| Some("compact".to_string()))
            } else {
                None
            };
            match policy {
                Some(p) if !delete_records_allowed(&p) => recreate.push(Compact {
                    topic: topic.to_string(),
                    policy: Some(p),
                    partitions: parts,
                }),
                _ => delete.extend(parts),
            }
        }
        if self.compacted == Compacted::Refuse && !recreate.is_empty() {
            let list = recreate
                .iter()
                .map(|r| {
                    format!(
                        "`{}` (cleanup.policy={}; {} tail record(s) in {} partition(s))",
                        r.topic,
                        r.policy.as_deref().unwrap_or("compact"),
                        r.partitions.iter().map(|p| p.tail_count).sum::<i64>(),
                        r.partitions.len()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let names = recreate
                .iter()
                .map(|r| format!("`{}`", r.topic))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::Usage(format!(
                "Kafka refuses DeleteRecords on compact-only topics, and `compacted: refuse` is set; nothing was deleted from `{}`. Compact-only topics with a tail: {list}\nhelp: choose in step `{}` of the runbook: `compacted: recreate` deletes {names} and creates them again (the reverse flow copies their whole history back from `{}`); `topics:` without them truncates the others and leaves their tails in place; `strategy: keep` deletes nothing anywhere. Then run the failback again, or resume this run with `--force` (its runbook changed)",
                report.old_primary, ctx.step_id, report.new_primary
            )));
        }
        Ok((delete, recreate))
    }

    fn moved(&self, cluster: &str, p: &PartitionTail, now_end: i64) -> Error {
        Error::Io(format!(
            "`{}` partition {} on `{cluster}` now ends at {now_end}, but its tail was found ending at {}: records written since were not quarantined; nothing was deleted\nhelp: check the `app-writes` fence on `{cluster}`, then run the failback again so that the tail is found anew (or set `no_quarantine: true` to delete without a copy)",
            p.topic, p.partition, p.log_end
        ))
    }

    fn plan_deletions(
        &self,
        client: &KafkaClient,
        with_tail: &[&PartitionTail],
        work: &mut Work,
    ) -> Result<(), Error> {
        let parts: Vec<(&str, i32)> = with_tail
            .iter()
            .map(|p| (p.topic.as_str(), p.partition))
            .collect();
        let marks = client.watermarks(&parts, self.timeout)?;
        for (p, w) in with_tail.iter().zip(marks) {
            if w.earliest >= p.log_end && w.earliest == w.latest {
                work.already_done.push(format!(
                    "`{}`[{}]: already empty up to {}",
                    p.topic, p.partition, w.latest
                ));
                continue;
            }
            let before = if w.latest != p.log_end {
                if !self.no_quarantine || w.latest < p.log_end {
                    return Err(self.moved(&work.cluster, p, w.latest));
                }
                w.latest
            } else {
                p.log_end
            };
            work.deletions.push(Deletion {
                topic: p.topic.clone(),
                partition: p.partition,
                before,
                log_start: w.earliest,
                records: before - w.earliest,
                cut: p.tail_start(),
                tail_records: before - p.tail_start(),
            });
        }
        Ok(())
    }

    fn plan_recreations(
        &self,
        ctx: &StepContext<'_>,
        client: &KafkaClient,
        report: &TailReport,
        with_tail: &[&PartitionTail],
        reason: RecreateReason,
        work: &mut Work,
    ) -> Result<(), Error> {
        let topics: BTreeSet<&str> = with_tail.iter().map(|p| p.topic.as_str()).collect();
        let md = client.metadata(self.timeout)?;
        let earlier = self.earlier_recreations(ctx)?;
        for topic in topics {
            work.recreated_topics.push(topic.to_string());
            let of_topic: Vec<&PartitionTail> = report
                .partitions
                .iter()
                .filter(|p| p.topic == topic)
                .collect();
            let tail_records: i64 = of_topic.iter().map(|p| p.tail_count).sum();
            let Some(meta) = md.topic(topic) else {
                // Deleted by an earlier attempt: create it from what that attempt recorded.
                let Some(prev) = earlier.get(topic) else {
                    return Err(Error::Io(format!(
                        "topic `{topic}` does not exist on `{}` and no earlier attempt of step `{}` recorded its partitions and configs\nhelp: create `{topic}` on `{}` by hand with {} partition(s) (see `kafka-dr runs show {}`), then resume",
                        work.cluster, ctx.step_id, work.cluster, of_topic.len(), ctx.run_id
                    )));
                };
                work.recreations.push(Recreation {
                    exists: false,
                    records: prev.records,
                    tail_records: prev.tail_records,
                    ..prev.clone()
                });
                continue;
            };
            let n = meta.partitions.len() as i32;
            let parts: Vec<(&str, i32)> = meta.partitions.iter().map(|p| (topic, *p)).collect();
            let marks = client.watermarks(&parts, self.timeout)?;
            let expected = earlier
                .get(topic)
                .map(|r| r.partitions)
                .unwrap_or(of_topic.len() as i32);
            if n == expected && marks.iter().all(|w| w.latest == 0) {
                work.already_done.push(format!(
                    "`{topic}`: already recreated ({n} empty partition(s))"
                ));
                continue;
            }
            for p in &of_topic {
                let now = marks
                    .iter()
                    .find(|w| w.partition == p.partition)
                    .map_or(p.log_end, |w| w.latest);
                if now != p.log_end && (!self.no_quarantine || now < p.log_end) {
                    return Err(self.moved(&work.cluster, p, now));
                }
            }
            let configs = client.topic_configs(topic, self.timeout)?;
            let cleanup_policy =
                client.topic_config_in_effect(topic, "cleanup.policy", self.timeout)?;
            work.recreations.push(Recreation {
                topic: topic.to_string(),
                partitions: n,
                configs,
                replication_factor: client.replication_factor(topic, self.timeout)?,
                reason,
                cleanup_policy,
                exists: true,
                records: marks.iter().map(|w| w.latest - w.earliest).sum(),
                tail_records,
            });
        }
        Ok(())
    }

    /// The recreations an earlier attempt of this step planned (stored with its plan),
    /// by topic: what to create when an attempt died after deleting a topic.
    fn earlier_recreations(
        &self,
        ctx: &StepContext<'_>,
    ) -> Result<BTreeMap<String, Recreation>, Error> {
        let steps = ctx.journal.steps(ctx.run_id)?;
        let detail = steps
            .iter()
            .find(|s| s.step_id == ctx.step_id)
            .and_then(|s| s.plan.as_ref())
            .and_then(|p| p.get("detail"))
            .cloned();
        let Some(detail) = detail else {
            return Ok(BTreeMap::new());
        };
        let work: Option<Work> = serde_json::from_value(detail).ok();
        Ok(work
            .map(|w| {
                w.recreations
                    .into_iter()
                    .map(|r| (r.topic.clone(), r))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Wait until `topic` is gone from the metadata, then create it; retry while the
    /// broker still finishes the deletion; then wait until every partition of the new
    /// topic answers, empty. The check uses a client opened after the creation: the one
    /// that deleted the topic keeps the old topic's leaders and id in its metadata cache,
    /// and on the lab its ListOffsets on the new topic did not answer for 30 s.
    fn recreate(
        &self,
        ctx: &StepContext<'_>,
        client: &KafkaClient,
        r: &Recreation,
    ) -> Result<(), Error> {
        let wait = self.timeout.max(Duration::from_secs(60));
        let deadline = crate::limits::deadline(Instant::now(), wait);
        // Each check is short, so that a slow answer is asked again within the wait.
        let ask = self.timeout.min(Duration::from_secs(5));
        if r.exists {
            client.delete_topic(&r.topic, self.timeout)?;
        }
        let configs: Vec<(&str, &str)> = r
            .configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let parts: Vec<(&str, i32)> = (0..r.partitions).map(|p| (r.topic.as_str(), p)).collect();
        let mut created = false;
        let mut fresh: Option<KafkaClient> = None;
        let mut last = String::new();
        let _progress = ctx.reporter.progress(
            "Recreating",
            &format!("topic `{}` on `{}`", r.topic, client.cluster_name()),
            None,
            "",
        );
        loop {
            if !created && client.metadata(self.timeout)?.topic(&r.topic).is_none() {
                match client.create_topic(
                    &r.topic,
                    r.partitions,
                    r.replication_factor,
                    &configs,
                    self.timeout,
                ) {
                    Ok(_) => created = true,
                    Err(e) if Instant::now() < deadline => {
                        // Typically "marked for deletion": try again shortly.
                        last = e.to_string();
                        std::thread::sleep(Duration::from_millis(500));
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            // It must be the new, empty one. Right after creation its partitions may have
            // no leader yet (the watermarks call fails): keep asking until the deadline.
            if created {
                if fresh.is_none() {
                    match common::kafka(ctx.topology, client.cluster_name(), ask) {
                        Ok(c) => fresh = Some(c),
                        Err(e) => last = e.to_string(),
                    }
                }
                if let Some(c) = &fresh {
                    match c.watermarks(&parts, ask) {
                        Ok(m) if m.iter().all(|w| w.latest == 0) => return Ok(()),
                        Ok(m) => {
                            last = m
                                .iter()
                                .filter(|w| w.latest != 0)
                                .map(|w| {
                                    format!(
                                        "partition {} holds offsets {}..{}",
                                        w.partition, w.earliest, w.latest
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                        Err(e) => {
                            last = e.to_string();
                            // Ask again with a client of its own next time.
                            fresh = None;
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                let what = if created {
                    "was created again, but its partitions did not all answer as empty"
                } else {
                    "was not deleted and created again"
                };
                let last = last.lines().next().unwrap_or("").to_string();
                return Err(Error::Io(format!(
                    "topic `{}` on `{}` {what} within {}s{}\nhelp: check the topic with the cluster's tools (kafka-topics.sh --describe, kafka-get-offsets.sh), then resume the run: the step creates it if it is missing and goes on if it is empty",
                    r.topic,
                    client.cluster_name(),
                    wait.as_secs(),
                    if last.is_empty() { String::new() } else { format!(" (last answer: {last})") }
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// A compact-only topic with a tail, under strategy `delete-records`.
struct Compact<'t> {
    topic: String,
    /// Its `cleanup.policy` in effect (`None`: recorded by an older attempt without it).
    policy: Option<String>,
    partitions: Vec<&'t PartitionTail>,
}

fn encode(work: &Work) -> Result<serde_json::Value, Error> {
    serde_json::to_value(work).map_err(|e| Error::Io(format!("cannot encode the truncation: {e}")))
}

impl Action for Truncate {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let work = self.work(ctx)?;
        let mut plan = Plan::default();
        let c = &work.cluster;
        for w in &work.warnings {
            ctx.reporter.warn(w);
            plan.notes.push(format!("WARNING: {w}"));
        }
        for d in &work.deletions {
            plan.changes.push(format!(
                "`{c}`: DeleteRecords `{}`[{}] before offset {}: removes offsets [{}, {}), {} record(s): the {} tail record(s) [{}, {}){} and {} replicated before the cut",
                d.topic,
                d.partition,
                d.before,
                d.log_start,
                d.before,
                d.records,
                d.tail_records,
                d.cut,
                d.before,
                work.quarantine_file
                    .as_ref()
                    .map(|f| format!(" (quarantined in `{f}`)"))
                    .unwrap_or_default(),
                d.records - d.tail_records
            ));
        }
        for r in &work.recreations {
            let configs = if r.configs.is_empty() {
                "no non-default configs".to_string()
            } else {
                r.configs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let why = match (r.reason, &r.cleanup_policy) {
                (RecreateReason::CompactOnly, Some(p)) => {
                    format!(" (compact-only, cleanup.policy={p}: DeleteRecords is refused on it)")
                }
                (RecreateReason::CompactOnly, None) => {
                    " (compact-only: DeleteRecords is refused on it)".to_string()
                }
                (RecreateReason::Strategy, _) => String::new(),
            };
            if r.exists {
                plan.changes.push(format!(
                    "`{c}`: delete topic `{}`{why} ({} partition(s), all {} record(s), of which {} tail record(s))",
                    r.topic, r.partitions, r.records, r.tail_records
                ));
            }
            let rf = if r.replication_factor > 0 {
                format!("replication factor {} (as before)", r.replication_factor)
            } else {
                "replication factor: the broker default".to_string()
            };
            plan.changes.push(format!(
                "`{c}`: create topic `{}` again: {} partition(s), {configs}, {rf}; the reverse flow copies it from the earliest offset",
                r.topic, r.partitions
            ));
        }
        if work.strategy == Strategy::Keep && !work.kept.is_empty() {
            plan.changes.push(format!(
                "journal: record that the tail of {} partition(s) is KEPT on `{c}` (strategy `keep`); nothing is deleted",
                work.kept.len()
            ));
            for (t, p, n) in &work.kept {
                plan.notes
                    .push(format!("`{t}`[{p}]: {n} tail record(s) kept"));
            }
        }
        plan.notes.extend(work.already_done.iter().cloned());
        if plan.changes.is_empty() {
            plan.notes
                .push(format!("no partition of `{c}` has a tail to remove"));
        }
        plan.detail = encode(&work)?;
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        // Everything is checked again now (quarantine, log ends): the plan is not trusted.
        let work = self.work(ctx)?;
        for w in &work.warnings {
            ctx.reporter.warn(w);
        }
        let client = common::kafka(ctx.topology, &work.cluster, self.timeout)?;
        let mut deleted = Vec::new();
        if !work.deletions.is_empty() {
            let req: Vec<(&str, i32, i64)> = work
                .deletions
                .iter()
                .map(|d| (d.topic.as_str(), d.partition, d.before))
                .collect();
            // The first partition alone, then the rest (a crash point between the two).
            let (first, rest) = req.split_at(1);
            let progress = ctx.reporter.progress(
                "Deleting",
                &format!("records on `{}` (DeleteRecords)", work.cluster),
                Some(req.len() as u64),
                "partition(s)",
            );
            let mut done = client.delete_records(first, self.timeout)?;
            progress.set(1, None);
            if !rest.is_empty() {
                crate::engine::crash::crash_point("truncate:partition-truncated");
                done.extend(client.delete_records(rest, self.timeout)?);
            }
            drop(progress);
            for d in &work.deletions {
                let low = done
                    .iter()
                    .find(|(t, p, _)| *t == d.topic && *p == d.partition)
                    .map(|(_, _, o)| *o);
                ctx.reporter.status(
                    "Deleted",
                    &format!(
                        "`{}`[{}] on `{}`: {} record(s) before offset {}",
                        d.topic, d.partition, work.cluster, d.records, d.before
                    ),
                );
                deleted.push(json!({
                    "topic": d.topic,
                    "partition": d.partition,
                    "deleted_before": d.before,
                    "from_offset": d.log_start,
                    "records": d.records,
                    "tail_records": d.tail_records,
                    "cut": d.cut,
                    "low_watermark": low,
                }));
            }
        }
        for r in &work.recreations {
            self.recreate(ctx, &client, r)?;
            ctx.reporter.status(
                "Recreated",
                &format!(
                    "topic `{}` on `{}`: {} partition(s), replication factor {}, {} record(s) removed{}",
                    r.topic,
                    work.cluster,
                    r.partitions,
                    r.replication_factor,
                    r.records,
                    if r.reason == RecreateReason::CompactOnly {
                        " (compact-only: DeleteRecords is refused on it)"
                    } else {
                        ""
                    }
                ),
            );
        }
        Ok(json!({
            "strategy": work.strategy.as_str(),
            "cluster": work.cluster,
            "quarantine_file": work.quarantine_file,
            "no_quarantine": work.no_quarantine,
            "deleted": deleted,
            "recreated": work.recreations,
            "recreated_topics": work.recreated_topics,
            "kept": work.kept.iter().map(|(t, p, n)| json!({"topic": t, "partition": p, "tail_records": n})).collect::<Vec<_>>(),
            "already_done": work.already_done,
            "warnings": work.warnings,
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        if self.strategy == Strategy::Keep {
            return Ok(Verdict::Done);
        }
        let (report, selected) = self.tail(ctx)?;
        let with_tail: Vec<&PartitionTail> = selected.iter().filter(|p| p.has_tail()).collect();
        if with_tail.is_empty() {
            return Ok(Verdict::Done);
        }
        let client = common::kafka(ctx.topology, &report.old_primary, self.timeout)?;
        let c = &report.old_primary;
        let mut wrong = Vec::new();
        let (cut, recreated): (Vec<&PartitionTail>, BTreeSet<String>) = match self.strategy {
            Strategy::DeleteRecords => {
                let (cut, compact) = self.split(ctx, &client, &report, &with_tail)?;
                (cut, compact.into_iter().map(|r| r.topic).collect())
            }
            Strategy::Recreate => (
                Vec::new(),
                with_tail.iter().map(|p| p.topic.clone()).collect(),
            ),
            Strategy::Keep => (Vec::new(), BTreeSet::new()),
        };
        let parts: Vec<(&str, i32)> = cut
            .iter()
            .map(|p| (p.topic.as_str(), p.partition))
            .collect();
        for (p, w) in cut.iter().zip(client.watermarks(&parts, self.timeout)?) {
            if w.earliest != w.latest || w.earliest < p.log_end {
                wrong.push(format!(
                    "`{}`[{}] on `{c}` holds offsets {}..{} (wanted empty from {})",
                    p.topic, p.partition, w.earliest, w.latest, p.log_end
                ));
            }
        }
        if !recreated.is_empty() {
            let md = client.metadata(self.timeout)?;
            let earlier = self.earlier_recreations(ctx)?;
            for t in &recreated {
                let t = t.as_str();
                let want = earlier.get(t).map(|r| r.partitions).unwrap_or_else(|| {
                    report.partitions.iter().filter(|p| p.topic == t).count() as i32
                });
                let Some(meta) = md.topic(t) else {
                    wrong.push(format!("topic `{t}` does not exist on `{c}`"));
                    continue;
                };
                if meta.partitions.len() as i32 != want {
                    wrong.push(format!(
                        "topic `{t}` on `{c}` has {} partition(s), not {want}",
                        meta.partitions.len()
                    ));
                    continue;
                }
                let parts: Vec<(&str, i32)> = meta.partitions.iter().map(|p| (t, *p)).collect();
                for w in client.watermarks(&parts, self.timeout)? {
                    if w.earliest != w.latest {
                        wrong.push(format!(
                            "topic `{t}` partition {} on `{c}` is not empty ({}..{})",
                            w.partition, w.earliest, w.latest
                        ));
                    }
                }
            }
        }
        if wrong.is_empty() {
            Ok(Verdict::Done)
        } else {
            let more = wrong.len().saturating_sub(3);
            let mut reason = wrong.into_iter().take(3).collect::<Vec<_>>().join("; ");
            if more > 0 {
                reason.push_str(&format!(" (and {more} more)"));
            }
            Ok(Verdict::NotDone(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::step;

    #[test]
    fn params_defaults_and_refusals() {
        let t = Truncate::new(&step("truncate", NAME, serde_json::Value::Null)).unwrap();
        assert_eq!(t.strategy, Strategy::DeleteRecords);
        assert_eq!(
            (
                t.cluster.as_str(),
                t.find_step.as_str(),
                t.quarantine_step.as_str()
            ),
            ("backup", "tail-find", "tail-quarantine")
        );
        assert!(!t.no_quarantine && t.topics.is_none());
        let e = Truncate::new(&step("truncate", NAME, json!({"strategy": "cut"})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`strategy` is `cut`") && e.contains("help:"),
            "{e}"
        );
        let e = Truncate::new(&step("truncate", NAME, json!({"topics": []})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`topics` is empty"), "{e}");
        for s in ["delete-records", "recreate", "keep"] {
            assert_eq!(Strategy::parse(s).map(Strategy::as_str), Some(s));
        }
    }

    #[test]
    fn compacted_param_and_the_policies_delete_records_accepts() {
        let t = Truncate::new(&step("truncate", NAME, serde_json::Value::Null)).unwrap();
        assert_eq!(t.compacted, Compacted::Recreate);
        let t = Truncate::new(&step("truncate", NAME, json!({"compacted": "refuse"}))).unwrap();
        assert_eq!(t.compacted, Compacted::Refuse);
        let e = Truncate::new(&step("truncate", NAME, json!({"compacted": "delete"})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`compacted` is `delete`") && e.contains("help: use `recreate`"),
            "{e}"
        );
        for (policy, ok) in [
            ("delete", true),
            ("compact,delete", true),
            ("delete,compact", true),
            (" compact , Delete ", true),
            ("compact", false),
            ("", false),
        ] {
            assert_eq!(delete_records_allowed(policy), ok, "{policy:?}");
        }
    }

    fn sp(u: i64, d: i64) -> SyncPoint {
        SyncPoint {
            upstream: u,
            downstream: d,
        }
    }

    #[test]
    fn the_history_the_new_primary_lost_is_estimated_from_the_nearest_syncs() {
        let syncs = [sp(0, 0), sp(100, 100), sp(200, 200), sp(299, 299)];
        // Nothing lost: the new primary starts where the old one does.
        let e = unheld_estimate(0, 300, Some(0), Some(300), &syncs);
        assert_eq!(
            e,
            UnheldEstimate {
                until: 0,
                search: None
            }
        );
        // It lost [0, 50): from the sync above, 50 back; the search starts at the one below.
        let e = unheld_estimate(0, 300, Some(50), Some(300), &syncs);
        assert_eq!(
            e,
            UnheldEstimate {
                until: 50,
                search: Some((50, 50))
            }
        );
        // Old-side gaps (compaction, markers): the estimate errs towards too many.
        let gaps = [sp(0, 0), sp(120, 100)];
        let e = unheld_estimate(0, 130, Some(50), Some(110), &gaps);
        assert_eq!(
            e,
            UnheldEstimate {
                until: 70,
                search: Some((50, 70))
            }
        );
        // The old primary's retention already dropped what the new one lost.
        let e = unheld_estimate(60, 300, Some(50), Some(300), &syncs);
        assert_eq!(
            e,
            UnheldEstimate {
                until: 60,
                search: None
            }
        );
        // A mirror started late: the new primary's offset 0 is the old one's 1000.
        let late = [sp(1000, 0), sp(1299, 299)];
        let e = unheld_estimate(0, 1300, Some(0), Some(300), &late);
        assert_eq!(
            e,
            UnheldEstimate {
                until: 1000,
                search: Some((0, 1000))
            }
        );
        // Gone, or lost everything it had replicated, or no pair to map with: all of it.
        for (start, pairs) in [
            (None, &syncs[..]),
            (Some(300), &syncs[..]),
            (Some(5), &[][..]),
        ] {
            assert_eq!(unheld_estimate(0, 300, start, Some(300), pairs).until, 300);
        }
        // Nothing before the cut: nothing to lose.
        assert_eq!(
            unheld_estimate(300, 300, Some(999), Some(300), &syncs).until,
            300
        );
        // Pairs past the cut (another log) are not used.
        let e = unheld_estimate(0, 300, Some(50), Some(300), &[sp(0, 0), sp(400, 60)]);
        assert_eq!(e.until, 300);
    }

    #[test]
    fn a_plan_stored_by_an_older_version_still_reads() {
        let v = json!({
            "strategy": "recreate", "cluster": "dc1", "no_quarantine": false,
            "quarantine_file": null, "deletions": [],
            "recreations": [{"topic": "t", "partitions": 2, "configs": [],
                "replication_factor": -1, "exists": false, "records": 4, "tail_records": 1}],
            "kept": [], "already_done": [], "warnings": []
        });
        let w: Work = serde_json::from_value(v).unwrap();
        assert_eq!(w.recreations[0].reason, RecreateReason::Strategy);
        assert_eq!(w.recreations[0].cleanup_policy, None);
        assert!(w.recreated_topics.is_empty());
    }

    #[test]
    fn work_round_trips_through_the_plan_detail() {
        let w = Work {
            strategy: Strategy::Recreate,
            cluster: "dc1".into(),
            no_quarantine: false,
            quarantine_file: Some("/q/run-1/tail.jsonl".into()),
            deletions: vec![],
            recreations: vec![Recreation {
                topic: "app.t".into(),
                partitions: 3,
                configs: vec![("retention.ms".into(), "1000".into())],
                replication_factor: 3,
                reason: RecreateReason::CompactOnly,
                cleanup_policy: Some("compact".into()),
                exists: true,
                records: 10,
                tail_records: 2,
            }],
            recreated_topics: vec!["app.t".into()],
            kept: vec![],
            already_done: vec![],
            warnings: vec![],
        };
        let v = encode(&w).unwrap();
        assert_eq!(v["strategy"], "recreate");
        assert_eq!(v["recreations"][0]["configs"][0][0], "retention.ms");
        assert_eq!(serde_json::from_value::<Work>(v).unwrap(), w);
    }
}
