//! `mirror.drain`: wait, with progress, until the mirror has copied every record of the
//! current primary below its last stable offset (LSO) into the backup (issue 13, step 3).
//!
//! Run after the `app-writes` fence on the primary: nothing new can be written there, so
//! once every in-scope partition's last record below the LSO has its twin (same
//! fingerprint: timestamp, partition, key, value, headers) at the backup's end, the mirror
//! has copied everything it ever will, and the two clusters hold the same records. MM2's
//! own committed offsets are not used for this: Connect commits them only every
//! `offset.flush.interval.ms`, and transaction markers occupy offsets that hold no record.
//! Records past the LSO (an open transaction) are not waited for: `read_committed`
//! consumers cannot see them yet either.
//!
//! When done, it checks each partition for loss and duplicates by content where it can:
//! with both logs starting at offset 0 and at most `count_limit` records, the fingerprints
//! below the LSO on the primary are matched one for one against the backup's records up to
//! the twin; records missing on the backup are `lost`, records there twice `duplicated`.
//! Larger or truncated partitions are reported as not counted, with the reason.
//!
//! Each partition's last record and its copy are journaled as exact offset syncs in both
//! directions, so that the groups' positions translate exactly now and after a later
//! switchover back (the mirror the other way has copied nothing yet then). Nothing is
//! written to any cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common;
use super::switchover_support::{mirrored_partitions, SwitchoverError};
use super::ActionError;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::OffsetSyncRow;
use crate::kafka::{fingerprint, Fingerprint, KafkaClient};
use crate::runbook::StepDef;

pub const NAME: &str = "mirror.drain";

/// How often the wait looks again.
const POLL: Duration = Duration::from_millis(500);
/// How often it prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);
/// Offsets read back from an end to find the last record (transaction markers hold none).
const TAIL_WINDOW: i64 = 256;
/// The bound on one request.
const REQUEST: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    from: String,
    to: String,
    timeout_seconds: u64,
    count_limit: u64,
}

/// `mirror.drain`.
#[derive(Debug)]
pub struct Drain {
    from: String,
    to: String,
    timeout: Duration,
    count_limit: i64,
    /// Set by `apply` in this process. A step found started on resume was applied by a
    /// process that died before journaling its output (the loss and duplicate counts):
    /// verify then says not done, so that it is applied again and the counts are kept.
    applied: bool,
}

impl Drain {
    pub fn new(step: &StepDef) -> Result<Drain, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(Drain {
            from: p.from,
            to: p.to,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
            count_limit: i64::try_from(p.count_limit).unwrap_or(i64::MAX),
            applied: false,
        })
    }

    fn clusters(&self, ctx: &StepContext<'_>) -> Result<(String, String), Error> {
        let from = common::resolve_cluster(ctx, &self.from)?;
        let to = common::resolve_cluster(ctx, &self.to)?;
        if from == to {
            return Err(ActionError::Params {
                step: ctx.step_id.to_string(),
                action: NAME,
                reason: format!("`from` and `to` both name cluster `{from}`\nhelp: give the primary as `from` and the backup as `to` (the defaults)"),
            }
            .into());
        }
        Ok((from, to))
    }
}

/// One partition as a look saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainedPartition {
    pub topic: String,
    pub partition: i32,
    pub target_topic: String,
    pub log_start: i64,
    pub last_stable_offset: i64,
    pub high_watermark: i64,
    /// The last record below the LSO on the primary (`None`: there is none).
    pub last_record: Option<i64>,
    /// Its twin on the backup (`None`: not copied yet, or nothing to copy).
    pub twin: Option<i64>,
    pub target_log_start: i64,
    pub target_log_end: i64,
    /// True when everything below the LSO is on the backup.
    pub caught_up: bool,
    /// The content check (after the wait): `None` when not counted.
    #[serde(default)]
    pub counted: Option<Counted>,
    /// Why it was not counted.
    #[serde(default)]
    pub not_counted: Option<String>,
}

/// Loss and duplicates of one partition, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// Records below the LSO on the primary.
    pub source_records: i64,
    /// Records on the backup up to and including the twin.
    pub target_records: i64,
    /// Primary records with no copy on the backup.
    pub lost: i64,
    /// Backup records that repeat a primary record already matched.
    pub duplicated: i64,
    /// Backup records that match no primary record (written there by something else).
    pub foreign: i64,
}

impl DrainedPartition {
    fn label(&self) -> String {
        format!("`{}`[{}]", self.topic, self.partition)
    }

    fn behind_text(&self, to: &str) -> String {
        let last = self
            .last_record
            .map(|o| o.to_string())
            .unwrap_or_else(|| "?".into());
        format!(
            "{}: last record below the LSO {} is offset {last}; `{to}` `{}`[{}] ends at {} with no copy of it",
            self.label(),
            self.last_stable_offset,
            self.target_topic,
            self.partition,
            self.target_log_end
        )
    }
}

/// The last record of `[from, until)` on `client`, searched back from the end.
fn last_record_before(
    client: &KafkaClient,
    topic: &str,
    partition: i32,
    from: i64,
    until: i64,
) -> Result<Option<(i64, Fingerprint)>, Error> {
    let mut lo = (until - TAIL_WINDOW).max(from);
    loop {
        let records = client.read_records(topic, partition, lo, until, REQUEST)?;
        if let Some(r) = records.last() {
            return Ok(Some((r.offset, fingerprint(r))));
        }
        if lo <= from {
            return Ok(None);
        }
        lo = from;
    }
}

/// Look at one partition: is its last record below the LSO on the backup?
#[allow(clippy::too_many_arguments)]
fn look(
    source: &KafkaClient,
    target: &KafkaClient,
    topic: &str,
    partition: i32,
    target_topic: &str,
    wm: (i64, i64),
    lso: i64,
    target_wm: Option<(i64, i64)>,
) -> Result<DrainedPartition, Error> {
    let (log_start, high_watermark) = wm;
    let (target_log_start, target_log_end) = target_wm.unwrap_or((0, 0));
    let mut out = DrainedPartition {
        topic: topic.to_string(),
        partition,
        target_topic: target_topic.to_string(),
        log_start,
        last_stable_offset: lso,
        high_watermark,
        last_record: None,
        twin: None,
        target_log_start,
        target_log_end,
        caught_up: false,
        counted: None,
        not_counted: None,
    };
    let Some((last, fp)) = last_record_before(source, topic, partition, log_start, lso)? else {
        // Nothing readable below the LSO: nothing to copy.
        out.caught_up = true;
        return Ok(out);
    };
    out.last_record = Some(last);
    if target_wm.is_none() {
        return Ok(out);
    }
    // The copy of `last` is at most the records past the LSO (copied uncommitted) plus
    // the markers from the backup's end.
    let back = (high_watermark - lso).max(0) + TAIL_WINDOW;
    let from = (target_log_end - back).max(target_log_start);
    let records = target.read_records(target_topic, partition, from, target_log_end, REQUEST)?;
    if let Some(twin) = records.iter().rev().find(|r| fingerprint(r) == fp) {
        out.twin = Some(twin.offset);
        out.caught_up = true;
    }
    Ok(out)
}

/// Every in-scope partition of `from` against `to`, once. `known` holds partitions found
/// caught up before at the same LSO: not read again.
fn look_all(
    ctx: &StepContext<'_>,
    from: &str,
    to: &str,
    known: &BTreeMap<(String, i32), DrainedPartition>,
) -> Result<Vec<DrainedPartition>, Error> {
    let source = common::kafka_in(ctx, from, REQUEST)?;
    let target = common::kafka_in(ctx, to, REQUEST)?;
    let policy = ctx.topology.replication.policy;
    let parts = mirrored_partitions(ctx.topology, &source, REQUEST)?;
    let wms = source.watermarks(&parts, REQUEST)?;
    let target_md = target.metadata(REQUEST)?;
    let targets: Vec<(String, i32)> = parts
        .iter()
        .map(|(t, p)| (policy.target_topic(from, t), *p))
        .collect();
    let present: Vec<(String, i32)> = targets
        .iter()
        .filter(|(t, p)| target_md.topic(t).is_some_and(|m| m.partitions.contains(p)))
        .cloned()
        .collect();
    let target_wm: HashMap<(String, i32), (i64, i64)> = target
        .watermarks(&present, REQUEST)?
        .into_iter()
        .map(|w| ((w.topic, w.partition), (w.earliest, w.latest)))
        .collect();
    let mut out = Vec::with_capacity(parts.len());
    for (((topic, partition), wm), target_topic) in
        parts.iter().zip(wms).zip(targets.iter().map(|(t, _)| t))
    {
        let lso = wm.stable;
        if ctx.is_interrupted() {
            return Err(interrupted(from, to));
        }
        if let Some(k) = known.get(&(topic.clone(), *partition)) {
            if k.caught_up && k.last_stable_offset == lso && k.high_watermark == wm.latest {
                out.push(k.clone());
                continue;
            }
        }
        let twm = target_wm.get(&(target_topic.clone(), *partition)).copied();
        out.push(look(
            &source,
            &target,
            topic,
            *partition,
            target_topic,
            (wm.earliest, wm.latest),
            lso,
            twm,
        )?);
    }
    Ok(out)
}

fn interrupted(from: &str, to: &str) -> Error {
    ActionError::Interrupted {
        during: format!("waiting for the mirror `{from}` -> `{to}` to copy every record"),
    }
    .into()
}

/// Match the primary's records below the LSO one for one against the backup's, by
/// fingerprint. Pure: the counting rules, unit-tested.
pub fn count(source: &[Fingerprint], target: &[Fingerprint]) -> Counted {
    let mut wanted: HashMap<&Fingerprint, i64> = HashMap::new();
    for f in source {
        *wanted.entry(f).or_default() += 1;
    }
    let mut duplicated = 0;
    let mut foreign = 0;
    for f in target {
        match wanted.get_mut(f) {
            Some(n) if *n > 0 => *n -= 1,
            Some(_) => duplicated += 1,
            None => foreign += 1,
        }
    }
    Counted {
        source_records: source.len() as i64,
        target_records: target.len() as i64,
        lost: wanted.values().sum(),
        duplicated,
        foreign,
    }
}

/// The content check of one caught-up partition, or why it is not made.
fn count_partition(
    source: &KafkaClient,
    target: &KafkaClient,
    p: &DrainedPartition,
    limit: i64,
) -> Result<Result<Counted, String>, Error> {
    let Some(twin) = p.twin else {
        return Ok(match p.last_record {
            None => Ok(Counted {
                source_records: 0,
                target_records: 0,
                lost: 0,
                duplicated: 0,
                foreign: 0,
            }),
            Some(_) => Err("no copy of its last record was found".into()),
        });
    };
    if p.log_start > 0 || p.target_log_start > 0 {
        return Ok(Err(format!(
            "a log does not start at offset 0 (primary {}, backup {}): records deleted by retention cannot be compared",
            p.log_start, p.target_log_start
        )));
    }
    if p.last_stable_offset > limit || twin + 1 > limit {
        return Ok(Err(format!(
            "more than `count_limit` {limit} offsets: not read in full"
        )));
    }
    let read = |c: &KafkaClient, topic: &str, until: i64| -> Result<Vec<Fingerprint>, Error> {
        let timeout = REQUEST + Duration::from_millis(u64::try_from(until).unwrap_or(0) / 10);
        Ok(c.read_records(topic, p.partition, 0, until, timeout)?
            .iter()
            .map(fingerprint)
            .collect())
    };
    let src = read(source, &p.topic, p.last_stable_offset)?;
    let dst = read(target, &p.target_topic, twin + 1)?;
    Ok(Ok(count(&src, &dst)))
}

impl Action for Drain {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let (from, to) = self.clusters(ctx)?;
        let now = look_all(ctx, &from, &to, &BTreeMap::new())?;
        let behind: Vec<&DrainedPartition> = now.iter().filter(|p| !p.caught_up).collect();
        let mut plan = Plan::default();
        plan.changes.push(format!(
            "wait up to {}s until the mirror has copied every record below the last stable offset of {} in-scope partition(s) of `{from}` into `{to}` (reads only; nothing is written to any cluster)",
            self.timeout.as_secs(),
            now.len()
        ));
        plan.changes.push(format!(
            "journal: record each partition's last record and its copy as exact offset syncs, `{from}` -> `{to}` and `{to}` -> `{from}`"
        ));
        plan.notes.push(format!(
            "now: {} of {} partition(s) caught up",
            now.len() - behind.len(),
            now.len()
        ));
        for p in behind.iter().take(20) {
            plan.notes.push(format!("behind: {}", p.behind_text(&to)));
        }
        plan.detail = json!({ "from": from, "to": to, "partitions": now });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let (from, to) = self.clusters(ctx)?;
        let started = Instant::now();
        let mut known: BTreeMap<(String, i32), DrainedPartition> = BTreeMap::new();
        let mut last_progress: Option<Instant> = None;
        let partitions = loop {
            let now = look_all(ctx, &from, &to, &known)?;
            let behind: Vec<&DrainedPartition> = now.iter().filter(|p| !p.caught_up).collect();
            if behind.is_empty() {
                break now;
            }
            if started.elapsed() >= self.timeout {
                return Err(SwitchoverError::LagNotZero {
                    from: from.clone(),
                    to: to.clone(),
                    waited_seconds: started.elapsed().as_secs(),
                    partitions: behind.iter().map(|p| p.behind_text(&to)).collect(),
                    help: format!(
                        "look at the MM2 source connector that copies `{from}` -> `{to}` (is it RUNNING, are its tasks failing?); once it catches up, `kafka-dr resume` goes on from this step. Applications stay fenced off `{from}` meanwhile: to give up, lift the fence with `kafka-dr fence lift app-writes --cluster {from}`"
                    ),
                }
                .into());
            }
            if last_progress.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                ctx.reporter.status(
                    "Draining",
                    &format!(
                        "`{from}` -> `{to}`: {} of {} partition(s) copied up to the last stable offset, {}s of {}s",
                        now.len() - behind.len(),
                        now.len(),
                        started.elapsed().as_secs(),
                        self.timeout.as_secs()
                    ),
                );
                last_progress = Some(Instant::now());
            }
            for p in now {
                known.insert((p.topic.clone(), p.partition), p);
            }
            std::thread::sleep(POLL);
            if ctx.is_interrupted() {
                return Err(interrupted(&from, &to));
            }
        };
        let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // The content check, partition by partition.
        let source = common::kafka_in(ctx, &from, REQUEST)?;
        let target = common::kafka_in(ctx, &to, REQUEST)?;
        let mut checked = Vec::with_capacity(partitions.len());
        let (mut lost, mut duplicated, mut counted_parts) = (0, 0, 0);
        for mut p in partitions {
            match count_partition(&source, &target, &p, self.count_limit)? {
                Ok(c) => {
                    lost += c.lost;
                    duplicated += c.duplicated;
                    counted_parts += 1;
                    p.counted = Some(c);
                }
                Err(why) => p.not_counted = Some(why),
            }
            checked.push(p);
        }
        // Each twin pair is an exact offset sync, both ways: the positions of the groups
        // at the end of the log translate exactly now, and back after a later switchover.
        // Tied to both sides' topic ids, as `deltas record` ties its syncs: a topic created
        // again later must not be translated through these.
        let source_topics: BTreeSet<String> = checked.iter().map(|p| p.topic.clone()).collect();
        let target_topics: BTreeSet<String> =
            checked.iter().map(|p| p.target_topic.clone()).collect();
        let source_ids =
            source.topic_ids(&source_topics.into_iter().collect::<Vec<_>>(), REQUEST)?;
        let target_ids =
            target.topic_ids(&target_topics.into_iter().collect::<Vec<_>>(), REQUEST)?;
        let id =
            |ids: &BTreeMap<String, Option<String>>, topic: &str| ids.get(topic).cloned().flatten();
        let mut syncs = Vec::new();
        for p in &checked {
            if let (Some(s), Some(t)) = (p.last_record, p.twin) {
                let forward_ids = (id(&source_ids, &p.topic), id(&target_ids, &p.target_topic));
                let backward_ids = (forward_ids.1.clone(), forward_ids.0.clone());
                for (src, dst, topic, up, down, ids) in [
                    (&from, &to, &p.topic, s, t, forward_ids),
                    (&to, &from, &p.target_topic, t, s, backward_ids),
                ] {
                    syncs.push(OffsetSyncRow {
                        source_cluster: src.clone(),
                        target_cluster: dst.clone(),
                        topic: topic.clone(),
                        partition: p.partition,
                        upstream_offset: up,
                        downstream_offset: down,
                        recorded_at: None,
                        source_topic_id: ids.0,
                        target_topic_id: ids.1,
                    });
                }
            }
        }
        let recorded = ctx.journal.record_offset_syncs(&syncs)?;
        ctx.reporter.status(
            "Drained",
            &format!(
                "`{from}` -> `{to}`: all {} partition(s) copied up to the last stable offset in {:.1}s; counted {counted_parts}: {lost} lost, {duplicated} duplicated",
                checked.len(),
                waited_ms as f64 / 1000.0
            ),
        );
        self.applied = true;
        Ok(json!({
            "from": from,
            "to": to,
            "waited_ms": waited_ms,
            "lost": lost,
            "duplicated": duplicated,
            "offset_syncs_recorded": recorded,
            "partitions": checked,
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        if !self.applied {
            return Ok(Verdict::NotDone(
                "the loss and duplicate counts of an interrupted attempt were not journaled: counting again".into(),
            ));
        }
        let (from, to) = self.clusters(ctx)?;
        let now = look_all(ctx, &from, &to, &BTreeMap::new())?;
        let behind: Vec<String> = now
            .iter()
            .filter(|p| !p.caught_up)
            .map(|p| p.behind_text(&to))
            .collect();
        if behind.is_empty() {
            Ok(Verdict::Done)
        } else {
            Ok(Verdict::NotDone(format!(
                "{} partition(s) of `{from}` are not fully copied into `{to}`:\n  {}",
                behind.len(),
                behind.join("\n  ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fp(n: i64) -> Fingerprint {
        Fingerprint {
            timestamp_ms: n,
            partition: 0,
            hash: format!("{n:064x}"),
        }
    }

    #[test]
    fn a_full_copy_counts_nothing_lost_or_repeated() {
        let src: Vec<Fingerprint> = (0..10).map(fp).collect();
        let c = count(&src, &src);
        assert_eq!((c.lost, c.duplicated, c.foreign), (0, 0, 0));
        assert_eq!((c.source_records, c.target_records), (10, 10));
    }

    #[test]
    fn a_missing_record_is_lost_a_repeated_one_duplicated_a_stranger_foreign() {
        let src: Vec<Fingerprint> = (0..5).map(fp).collect();
        let dst = vec![fp(0), fp(1), fp(1), fp(3), fp(4), fp(99)];
        let c = count(&src, &dst);
        assert_eq!(c.lost, 1, "record 2 never arrived");
        assert_eq!(c.duplicated, 1, "record 1 arrived twice");
        assert_eq!(c.foreign, 1, "record 99 is not the primary's");
    }

    #[test]
    fn twin_records_on_the_primary_need_two_copies() {
        // Two identical records on the primary (a retry without idempotence): one copy
        // of them on the backup loses one.
        let src = vec![fp(1), fp(1)];
        assert_eq!(count(&src, &[fp(1)]).lost, 1);
        assert_eq!(count(&src, &[fp(1), fp(1)]).lost, 0);
        assert_eq!(count(&src, &[fp(1), fp(1), fp(1)]).duplicated, 1);
    }

    #[test]
    fn params_default_to_primary_into_backup() {
        let step = super::super::test_support::step("drain", NAME, json!({}));
        let d = Drain::new(&step).expect("defaults");
        assert_eq!((d.from.as_str(), d.to.as_str()), ("primary", "backup"));
        assert_eq!(d.timeout, Duration::from_secs(120));
        let bad = super::super::test_support::step("drain", NAME, json!({"wait": 1}));
        assert!(Drain::new(&bad).is_err(), "unknown keys are refused");
    }

    proptest! {
        /// Whatever is dropped from and repeated in a copy, the counts add up: every
        /// backup record is a first copy, a duplicate or foreign, and every primary record
        /// is copied or lost.
        #[test]
        fn counts_add_up(
            n in 0usize..40,
            drop in proptest::collection::vec(any::<bool>(), 40),
            repeat in proptest::collection::vec(0usize..3, 40),
            strangers in 0usize..5,
        ) {
            let src: Vec<Fingerprint> = (0..n as i64).map(fp).collect();
            let mut dst = Vec::new();
            let mut dropped = 0i64;
            let mut repeated = 0i64;
            for (i, f) in src.iter().enumerate() {
                if drop[i] {
                    dropped += 1;
                    continue;
                }
                for _ in 0..=repeat[i] {
                    dst.push(f.clone());
                }
                repeated += repeat[i] as i64;
            }
            for s in 0..strangers {
                dst.push(fp(1000 + s as i64));
            }
            let c = count(&src, &dst);
            prop_assert_eq!(c.lost, dropped);
            prop_assert_eq!(c.duplicated, repeated);
            prop_assert_eq!(c.foreign, strangers as i64);
            prop_assert_eq!(c.target_records, (n as i64 - dropped) + repeated + strangers as i64);
        }
    }
}
