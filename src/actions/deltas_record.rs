//! `deltas.record`: while the primary is up, copy into the journal what a failover will
//! need once it is gone: MM2's offset syncs of every in-scope partition (the compacted
//! syncs topic keeps only the latest per partition, and it lives on the primary by
//! default), the in-scope consumer groups' committed positions on the primary with the
//! fingerprint of the last record each group consumed, and, in the step output, the
//! primary's watermarks and the replication lag (so a failover report can say "the lag
//! last recorded, and its age"). Parameters: `primary`, `backup` (cluster names or the
//! role words), `timeout_seconds`.
//!
//! Syncs and positions are recorded with the topic ids of both sides (and each
//! cluster's topic ids on their own), so that a topic deleted and created again later is
//! told apart from the log they describe (`dr::sync_store`).
//!
//! `record_once` is the whole job, shared by the action and by `kafka-dr deltas record
//! --follow` (which calls it in a loop). It writes nothing to any cluster: its only effect
//! is journal rows. A group position that did not change since it was last recorded is
//! not recorded again, so a `--follow` loop does not grow the journal while groups idle.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::{self, first_line};
use super::deltas_topic;
use super::group_offsets::{self, GroupOffsetsCache};
use crate::dr::marks::{Interner, Mark, Marks};
use crate::engine::Console;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::{
    DeltasCopyMark, DeltasHighWater, FingerprintJson, GroupPositionRow, Journal, OffsetSyncRow,
};
use crate::kafka::ClusterPool;
use crate::kafka::{Isolation, KafkaClient, KafkaError, RecordedFingerprint, RUN_BEFORE};
use crate::runbook::StepDef;
use crate::topology::Topology;

pub const NAME: &str = "deltas.record";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    primary: String,
    backup: String,
    timeout_seconds: u64,
}

/// Where the lag figure of a partition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LagSource {
    /// The MM2 source connector's offsets (Connect REST): the next offset it will copy.
    /// Connect stores them every `offset.flush.interval.ms`, so this is an upper bound.
    Connect,
    /// The backup's log end, compared with the primary's: approximate (offsets differ
    /// between the clusters when MM2 re-copied or records were deleted).
    BackupLogEnd,
    /// The partition does not exist on the backup: nothing of it was copied.
    NotMirrored,
    /// Neither Connect nor the backup answered.
    Unknown,
}

/// The primary's watermarks of one partition and how far the backup is behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The primary's log start and log end (high watermark).
    pub earliest: i64,
    pub latest: i64,
    /// The next primary offset MM2 will copy (Connect), or the backup's log end.
    pub next_to_copy: Option<i64>,
    /// `latest - next_to_copy`, never negative; `None` when unknown.
    pub lag: Option<i64>,
    pub lag_source: LagSource,
}

/// What one `record_once` found and recorded: the step output of `deltas.record`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltasSummary {
    pub primary: String,
    pub backup: String,
    /// When the clusters were read (UTC, RFC 3339, the journal's format).
    pub recorded_at: String,
    pub recorded_at_ms: i64,
    /// Where MM2's offset syncs were read: cluster and topic.
    pub offset_syncs_cluster: String,
    pub offset_syncs_topic: String,
    /// In-scope syncs read, and how many of them the journal did not hold yet.
    pub offset_syncs: usize,
    pub offset_syncs_new: usize,
    /// In-scope groups with a committed position on an in-scope partition.
    pub groups: usize,
    pub group_positions: usize,
    /// Positions that differ from the journal's latest (recorded by this call).
    pub group_positions_changed: usize,
    /// In-scope groups whose offsets were asked of the primary in this pass. A
    /// `--follow` pass asks only those whose partition of `__consumer_offsets` moved
    /// since the last pass (the others' offsets cannot have changed).
    #[serde(default)]
    pub groups_asked: usize,
    /// The sum of the known lags.
    pub total_lag: i64,
    /// Partitions whose lag is unknown.
    pub lag_unknown: usize,
    pub partitions: Vec<PartitionLag>,
    pub notes: Vec<String>,
    /// Where the backup DC's copy was written (`cluster`, topic) and how many records;
    /// `None`: not written in this pass (the notes say why).
    #[serde(default)]
    pub backup_copy: Option<BackupCopy>,
    /// Topics whose id changed since the journal last saw them: deleted and created again
    /// on that cluster (a silent gap: MM2's offsets belong to the old topic).
    #[serde(default)]
    pub recreated: Vec<RecreatedTopic>,
}

/// A topic `deltas record` found recreated on one cluster (its id changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecreatedTopic {
    pub cluster: String,
    pub topic: String,
    pub old_id: String,
    pub new_id: String,
}

/// The backup DC's copy of one pass (`actions::deltas_topic`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCopy {
    pub cluster: String,
    pub topic: String,
    pub records: usize,
    /// The whole copy was written (no mark of an earlier copy, or the topic was
    /// created again); otherwise only what the journal got since the last copy.
    #[serde(default)]
    pub whole: bool,
}

/// One committed position read from the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    /// Shared by the group's positions (hundreds per group at scale).
    group: Arc<str>,
    topic: Arc<str>,
    partition: i32,
    committed: i64,
    /// The topic's id on the primary in this pass (`None`: not known), shared likewise.
    topic_id: Option<Arc<str>>,
}

/// What one pass read from the clusters, before anything is written.
struct Collected {
    syncs_cluster: String,
    syncs_topic: String,
    /// Every in-scope sync read, stamped with the topic ids of this pass (see
    /// `stamp_new_syncs`: only syncs the journal does not hold yet keep them).
    syncs: Vec<OffsetSyncRow>,
    /// `--follow`: where the next pass reads the offset-syncs topic from, once this
    /// pass's syncs are in the journal.
    syncs_next: Option<HashMap<i32, i64>>,
    /// The topic ids seen in this pass: (primary topic -> id), (backup topic -> id).
    primary_ids: BTreeMap<String, String>,
    backup_ids: BTreeMap<String, String>,
    groups: usize,
    groups_asked: usize,
    positions: Vec<Position>,
    partitions: Vec<PartitionLag>,
    notes: Vec<String>,
}

/// The clusters and services one pass talks to.
struct Pass<'a> {
    topology: &'a Topology,
    runtime: &'a tokio::runtime::Handle,
    primary: &'a str,
    backup: &'a str,
    timeout: Duration,
    /// The clients, kept from pass to pass by `--follow` (one connection and one
    /// metadata cache per cluster, not one per pass and read).
    clusters: &'a ClusterPool,
    /// `--follow`: where the last pass stopped reading the offset-syncs topic.
    syncs_cursor: Option<&'a Mutex<SyncsCursor>>,
    /// `--follow`: the journal's marks as of the last pass.
    marks: Option<&'a MarksCache>,
    /// `--follow`: the groups' offsets as of the last pass (`group_offsets`).
    group_offsets: Option<&'a GroupOffsetsCache>,
}

/// What `deltas record --follow` keeps from pass to pass: one client per cluster, and
/// where the last pass stopped reading MM2's offset-syncs topic. Only what MM2 appended
/// since is read (the journal holds the rest): the topic's active segment is never
/// compacted, so a busy flow's holds every sync of days, and reading it whole and
/// checking each against the journal every pass would be most of the recorder's work.
///
/// It also keeps the journal's newest mark of each group position: a pass reads only the
/// rows recorded since the last one (its own and any other writer's), not the hundreds of
/// thousands a journal at 1,000 groups holds.
#[derive(Debug, Default)]
pub struct Follow {
    pub clusters: ClusterPool,
    syncs: Mutex<SyncsCursor>,
    marks: MarksCache,
    group_offsets: GroupOffsetsCache,
}

impl Follow {
    /// `f` of the journal's marks of `cluster`, brought up to date first (see
    /// `MarksCache`).
    pub fn with_marks<R>(
        &self,
        journal: &Journal,
        cluster: &str,
        f: impl FnOnce(&Marks) -> R,
    ) -> Result<R, Error> {
        let (marks, through) = self.marks.take(journal, cluster)?;
        let out = f(&marks);
        self.marks.put_back(cluster, through, marks);
        Ok(out)
    }
}

/// The journal's newest marks of one cluster, and the row id they are complete to.
/// Rows are only ever appended, so applying those after that id, in order, brings them
/// up to date. The marks are lent to one pass at a time; a pass that fails does not
/// hand them back, and the next reads them whole again.
#[derive(Debug, Default)]
pub struct MarksCache {
    held: Mutex<Option<HeldMarks>>,
}

#[derive(Debug)]
struct HeldMarks {
    cluster: String,
    through: i64,
    marks: Marks,
}

impl MarksCache {
    /// The marks of `cluster` as the journal holds them now, and the row id they are
    /// complete to.
    fn take(&self, journal: &Journal, cluster: &str) -> Result<(Marks, i64), Error> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Read before the marks: a row recorded in between is applied again next time,
        // which leaves the same newest mark.
        let through = journal.deltas_high_water()?.positions;
        let marks = match held {
            Some(mut h) if h.cluster == cluster && h.through <= through => {
                let mut texts = Interner::default();
                for r in journal.group_marks_between(cluster, h.through, through)? {
                    apply_row(&mut h.marks, &mut texts, r);
                }
                h.marks
            }
            _ => latest_positions(journal, cluster)?,
        };
        Ok((marks, through))
    }

    fn put_back(&self, cluster: &str, through: i64, marks: Marks) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(HeldMarks {
            cluster: cluster.to_string(),
            through,
            marks,
        });
    }
}

/// The offset-syncs topic (cluster, name) read so far, and each partition's next offset.
#[derive(Debug, Default)]
pub struct SyncsCursor {
    of: Option<(String, String)>,
    next: HashMap<i32, i64>,
}

impl Pass<'_> {
    /// The pass's client of `cluster`.
    fn kafka(&self, cluster: &str) -> Result<Arc<KafkaClient>, Error> {
        if self.syncs_cursor.is_none() {
            return common::pooled(self.clusters, self.topology, cluster, self.timeout);
        }
        // `--follow`: a cluster may have gone away since the last pass; ask it again
        // rather than wait out every request of the pass on it.
        common::pooled_verified(self.clusters, self.topology, cluster, self.timeout)
    }
}

/// Record once, with the roles as they stood when run `run_id` started: MM2's offset
/// syncs (new ones only), the in-scope groups' positions with fingerprints (changed ones
/// only) into the journal; watermarks and lag into the returned summary (the caller
/// stores it, e.g. as a step output). `step_id` names the caller in progress lines.
///
/// The backup DC's copy gets what it does not hold yet (see `write_backup_copy`).
///
/// Must not be called from inside a tokio runtime thread (`runtime.block_on` is used
/// for the Connect REST call).
#[allow(clippy::too_many_arguments)]
pub fn record_once(
    topology: &Topology,
    journal: &Journal,
    run_id: i64,
    step_id: &str,
    reporter: &dyn Console,
    runtime: &tokio::runtime::Handle,
    follow: &Follow,
    timeout: Duration,
) -> Result<DeltasSummary, Error> {
    let roles = common::roles_before(topology, journal, Some(run_id))?;
    let pass = Pass {
        topology,
        runtime,
        primary: &roles.primary,
        backup: &roles.backup,
        timeout,
        clusters: &follow.clusters,
        syncs_cursor: Some(&follow.syncs),
        marks: Some(&follow.marks),
        group_offsets: Some(&follow.group_offsets),
    };
    Ok(record(&pass, journal, step_id, reporter, None)?.0)
}

fn record(
    pass: &Pass<'_>,
    journal: &Journal,
    step_id: &str,
    reporter: &dyn Console,
    read: Option<Read>,
) -> Result<(DeltasSummary, Recorded), Error> {
    let Read {
        read_at_ms: now_ms,
        client,
        collected,
        latest,
        latest_through,
    } = match read {
        Some(r) => r,
        None => Read::now(pass, journal)?,
    };
    let changed = changed_positions(&latest, &collected.positions);
    // Still the journal's newest as of `through`: what this pass records is read back
    // from the journal by the next (with any other writer's rows).
    if let (Some(cache), Some(through)) = (pass.marks, latest_through) {
        cache.put_back(pass.primary, through, latest);
    }
    // The records before every changed position, read in one batch (one consumer for
    // all partitions); a position the batch did not cover is read on its own below.
    let ranges: Vec<(String, i32, i64, i64)> = changed
        .iter()
        .filter(|p| p.committed > 0)
        .map(|p| {
            let (from, until) = fingerprint_range(p.committed);
            (p.topic.to_string(), p.partition, from, until)
        })
        .collect();
    // On an error, each is read on its own instead, which names the partition that fails.
    let batch = client
        // read_uncommitted: a group's consumers may read uncommitted, and the record
        // before its position is then what it last consumed.
        .fingerprints_of_ranges(&ranges, Isolation::ReadUncommitted, pass.timeout)
        .unwrap_or_default();
    let mut rows = Vec::with_capacity(changed.len());
    for p in &changed {
        let (from, until) = fingerprint_range(p.committed);
        let batched = batch
            .get(&(p.topic.to_string(), p.partition))
            .and_then(|b| b.range(from, until))
            .map(|read| RecordedFingerprint::from_fingerprints(&read, p.committed - 1));
        // One partition whose record cannot be read (a codec, a corrupt batch, a topic
        // deleted meanwhile) must not stop the recording of every other one: its position
        // is still recorded, without the fingerprint, and the warning says why.
        let fingerprint = match batched {
            Some(found) => fingerprint_json(&client, p, found),
            None => last_consumed_fingerprint(&client, p, pass.timeout),
        };
        let fingerprint = match fingerprint {
            Ok(f) => f,
            Err(Error::Kafka(e)) if is_partition_local(&e) => {
                reporter.warn(&format!(
                    "group `{}` on `{}` partition {}: position {} recorded without the fingerprint of its last consumed record: {e}",
                    p.group, p.topic, p.partition, p.committed
                ));
                None
            }
            Err(e) => return Err(e),
        };
        rows.push(GroupPositionRow {
            cluster: pass.primary.to_string(),
            group: p.group.to_string(),
            topic: p.topic.to_string(),
            partition: p.partition,
            committed_offset: p.committed,
            fingerprint,
            recorded_at: None,
            topic_id: p.topic_id.as_deref().map(str::to_string),
        });
    }
    let fresh = unrecorded_syncs(journal, &collected.syncs)?;
    let new_syncs = journal.record_offset_syncs(&fresh)?;
    // In the journal now: the next pass reads on from here.
    if let (Some(cursor), Some(next)) = (pass.syncs_cursor, collected.syncs_next.clone()) {
        let mut c = cursor.lock().unwrap_or_else(|p| p.into_inner());
        c.of = Some((
            collected.syncs_cluster.clone(),
            collected.syncs_topic.clone(),
        ));
        c.next = next;
    }
    journal.record_group_positions(&rows)?;
    let recreated = record_ids(journal, pass, &collected)?;
    for r in &recreated {
        reporter.warn(&format!(
            "`{}` on `{}` was deleted and created again since the last recording (topic id {} -> {}): its earlier syncs and positions belong to the old topic and are not used for the new one",
            r.topic, r.cluster, r.old_id, r.new_id
        ));
    }
    // What this pass wrote, for verify: the rest was in the journal already.
    let recorded = Recorded {
        primary: pass.primary.to_string(),
        backup: pass.backup.to_string(),
        recorded_at: rfc3339(now_ms),
        syncs: fresh,
        positions: rows
            .iter()
            .map(|r| {
                (
                    r.group.clone(),
                    r.topic.clone(),
                    r.partition,
                    r.committed_offset,
                )
            })
            .collect(),
    };
    let ids: TopicIds = (collected.primary_ids.clone(), collected.backup_ids.clone());
    let mut summary = summarize(pass, &collected, now_ms, new_syncs, rows.len());
    summary.recreated = recreated;
    let pass_record = (
        summary.primary.clone(),
        summary.backup.clone(),
        pass_value(&summary),
    );
    // The journal is the record; the backup DC's copy follows it.
    write_backup_copy(journal, pass, &ids, pass_record, &mut summary, reporter)?;
    reporter.status(
        "Recorded",
        &format!(
            "deltas `{}` -> `{}` (step `{step_id}`): {} offset sync(s) ({} new), {} group position(s) of {} group(s) ({} changed; {} group(s) asked), lag {}",
            summary.primary,
            summary.backup,
            summary.offset_syncs,
            summary.offset_syncs_new,
            summary.group_positions,
            summary.groups,
            summary.group_positions_changed,
            summary.groups_asked,
            lag_text(&summary)
        ),
    );
    Ok((summary, recorded))
}

fn summarize(
    pass: &Pass<'_>,
    c: &Collected,
    now_ms: i64,
    new_syncs: usize,
    changed: usize,
) -> DeltasSummary {
    DeltasSummary {
        primary: pass.primary.to_string(),
        backup: pass.backup.to_string(),
        recorded_at: rfc3339(now_ms),
        recorded_at_ms: now_ms,
        offset_syncs_cluster: c.syncs_cluster.clone(),
        offset_syncs_topic: c.syncs_topic.clone(),
        offset_syncs: c.syncs.len(),
        offset_syncs_new: new_syncs,
        groups: c.groups,
        groups_asked: c.groups_asked,
        group_positions: c.positions.len(),
        group_positions_changed: changed,
        total_lag: c.partitions.iter().filter_map(|p| p.lag).sum(),
        lag_unknown: c.partitions.iter().filter(|p| p.lag.is_none()).count(),
        partitions: c.partitions.clone(),
        notes: c.notes.clone(),
        backup_copy: None,
        recreated: Vec::new(),
    }
}

/// What the backup DC's copy lacks: every partition with a sync the journal got after
/// `since` (its whole history in recording order: the copy keeps the newest), the latest
/// position of every (group, topic, partition) recorded after it (with the time each was
/// first recorded), and both sides' topic ids. `None`: everything the journal holds of
/// the flow (no copy was written from this journal yet, or the topic was created again).
fn backup_copy(
    journal: &Journal,
    pass: &Pass<'_>,
    ids: &TopicIds,
    since: Option<DeltasHighWater>,
) -> Result<deltas_topic::PassRecords, Error> {
    let (source, target) = (pass.primary, pass.backup);
    let key = |t: String, p: i32| (source.to_string(), target.to_string(), t, p);
    let syncs: Vec<(deltas_topic::SyncKey, Vec<OffsetSyncRow>)> = match since {
        Some(hw) => {
            let changed = journal.sync_partitions_since(source, target, hw.syncs)?;
            if changed.len() > SYNC_PARTITIONS_ONE_BY_ONE {
                let mut all = journal.offset_syncs_of_flow(source, target)?;
                changed
                    .into_iter()
                    .filter_map(|k| all.remove(&k).map(|h| (key(k.0, k.1), h)))
                    .collect()
            } else {
                // Few partitions got syncs since (a pass's usual case): just theirs.
                let mut out = Vec::with_capacity(changed.len());
                for (topic, partition) in changed {
                    let history = journal
                        .offset_syncs_in_recording_order(source, target, &topic, partition)?;
                    out.push((key(topic, partition), history));
                }
                out
            }
        }
        None => {
            let mut all: Vec<_> = journal
                .offset_syncs_of_flow(source, target)?
                .into_iter()
                .map(|((t, p), h)| (key(t, p), h))
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        }
    };
    // As the journal holds them, with the time each was first recorded.
    let positions = journal.group_positions_since(source, since.map_or(0, |hw| hw.positions))?;
    Ok(deltas_topic::PassRecords {
        syncs,
        positions,
        ids: vec![
            (source.to_string(), ids.0.clone()),
            (target.to_string(), ids.1.clone()),
        ],
        pass: None,
        guards: guards_in_journal(journal, &[source, target])?,
    })
}

/// The topic ids a pass saw: (primary topic -> id), (backup topic -> id).
type TopicIds = (BTreeMap<String, String>, BTreeMap<String, String>);

/// Above this many partitions with new syncs, the flow's syncs are read in one query.
const SYNC_PARTITIONS_ONE_BY_ONE: usize = 100;

/// The `app-writes` guard the journal holds in force on each cluster (`None`: none).
fn guards_in_journal(
    journal: &Journal,
    clusters: &[&str],
) -> Result<Vec<(String, Option<serde_json::Value>)>, Error> {
    let active = journal.active_fences(None)?;
    Ok(clusters
        .iter()
        .map(|c| {
            let guard = active
                .iter()
                .find(|f| f.cluster == *c && f.name == super::fence::Fence::AppWrites.name())
                .map(|f| f.bindings.clone());
            (c.to_string(), guard)
        })
        .collect())
}

fn pass_value(s: &DeltasSummary) -> deltas_topic::PassValue {
    let mut lag_by_topic: BTreeMap<String, i64> = BTreeMap::new();
    for p in &s.partitions {
        *lag_by_topic.entry(p.topic.clone()).or_default() += p.lag.unwrap_or(0);
    }
    deltas_topic::PassValue {
        v: deltas_topic::FORMAT,
        recorded_at: s.recorded_at.clone(),
        recorded_at_ms: s.recorded_at_ms,
        offset_syncs: s.offset_syncs,
        group_positions: s.group_positions,
        total_lag: s.total_lag,
        lag_unknown: s.lag_unknown,
        lag_by_topic,
    }
}

/// Write to the backup DC's copy what it does not hold yet: the rows the journal got
/// since the copy's mark (every row when there is no mark, or the topic is another
/// incarnation than the one the mark is for), and this pass's `ids`, `pass` and `guard`
/// records. A backup that does not answer does not fail the pass (the journal holds it):
/// the summary says the copy was not written, and the mark stays where it was, so the
/// next pass that reaches the backup writes what this one could not.
fn write_backup_copy(
    journal: &Journal,
    pass: &Pass<'_>,
    ids: &TopicIds,
    pass_record: (String, String, deltas_topic::PassValue),
    summary: &mut DeltasSummary,
    reporter: &dyn Console,
) -> Result<(), Error> {
    let topic = &pass.topology.replication.deltas_topic;
    // Read before the rows are: what the copy holds once they are written.
    let high_water = journal.deltas_high_water()?;
    let mark = journal.deltas_copy_mark(pass.backup, topic)?;
    let written = pass.kafka(pass.backup).and_then(|client| {
        let topic_id = deltas_topic::ensure_topic(&client, topic, pass.timeout)?;
        // Without topic ids (a broker before Kafka 2.8) a recreated topic cannot be
        // told apart: the mark is trusted as long as the topic exists.
        let since = mark
            .as_ref()
            .filter(|m| m.topic_id == topic_id)
            .map(|m| m.through);
        let mut records = backup_copy(journal, pass, ids, since)?;
        records.pass = Some(pass_record);
        let count = deltas_topic::write_pass(&client, topic, &records, pass.timeout)?;
        Ok((count, since.is_none(), topic_id))
    });
    match written {
        Ok((records, whole, topic_id)) => {
            journal.set_deltas_copy_mark(
                pass.backup,
                topic,
                &DeltasCopyMark {
                    topic_id,
                    through: high_water,
                },
            )?;
            summary.backup_copy = Some(BackupCopy {
                cluster: pass.backup.to_string(),
                topic: topic.clone(),
                records,
                whole,
            })
        }
        Err(e) => {
            let note = format!(
                "the backup DC's copy (`{topic}` on `{}`) was not written in this pass: {}; the journal holds the pass, and the next pass that reaches `{}` writes what this one could not",
                pass.backup,
                first_line(&e.to_string()),
                pass.backup
            );
            reporter.warn(&note);
            summary.notes.push(note);
        }
    }
    Ok(())
}

fn lag_text(s: &DeltasSummary) -> String {
    let mut sources: BTreeSet<&'static str> = BTreeSet::new();
    for p in &s.partitions {
        sources.insert(match p.lag_source {
            LagSource::Connect => "Connect offsets",
            LagSource::BackupLogEnd => "backup log end",
            LagSource::NotMirrored => "not mirrored yet",
            LagSource::Unknown => "unknown",
        });
    }
    let mut text = format!(
        "{} record(s) over {} partition(s)",
        s.total_lag,
        s.partitions.len()
    );
    if s.lag_unknown > 0 {
        text.push_str(&format!(", unknown on {}", s.lag_unknown));
    }
    if !sources.is_empty() {
        text.push_str(&format!(
            " (from {})",
            sources.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    text
}

/// The journal's newest mark of every (group, topic, partition) on `cluster`.
fn latest_positions(journal: &Journal, cluster: &str) -> Result<Marks, Error> {
    // Without fingerprints: only the offset and the topic id decide what changed.
    let mut marks = Marks::default();
    let mut texts = Interner::default();
    journal.each_latest_group_mark(cluster, |r| apply_row(&mut marks, &mut texts, r))?;
    Ok(marks)
}

fn apply_row(marks: &mut Marks, texts: &mut Interner, r: GroupPositionRow) {
    marks.apply(
        &r.group,
        &r.topic,
        r.partition,
        Mark {
            committed_offset: r.committed_offset,
            topic_id: texts.share(r.topic_id),
            recorded_at: texts.share(r.recorded_at),
        },
    );
}

/// The positions recorded again: those whose offset moved, or whose topic is another
/// incarnation than the one they were recorded for (the same offset in a recreated topic
/// is another position).
fn changed_positions<'p>(latest: &Marks, positions: &'p [Position]) -> Vec<&'p Position> {
    let mut marks = latest.cursor();
    positions
        .iter()
        .filter(|p| {
            marks.changed(
                &p.group,
                &p.topic,
                p.partition,
                p.committed,
                p.topic_id.as_deref(),
            )
        })
        .collect()
}

/// The syncs of `syncs` whose offset pair the journal does not hold yet for their
/// partition: only those are recorded, with this pass's topic ids. The offset-syncs
/// topic keeps older syncs until compaction, those of a topic's older incarnation
/// included: a sync recorded in an earlier pass keeps the ids it was recorded with
/// instead of being recorded again under the current ones.
fn unrecorded_syncs(
    journal: &Journal,
    syncs: &[OffsetSyncRow],
) -> Result<Vec<OffsetSyncRow>, Error> {
    let mut known: BTreeMap<(String, i32), HashSet<(i64, i64)>> = BTreeMap::new();
    let mut out = Vec::new();
    for s in syncs {
        let key = (s.topic.clone(), s.partition);
        if !known.contains_key(&key) {
            let have = journal
                .offset_sync_history(&s.source_cluster, &s.target_cluster, &s.topic, s.partition)?
                .into_iter()
                .map(|r| (r.upstream_offset, r.downstream_offset))
                .collect();
            known.insert(key.clone(), have);
        }
        if known
            .get_mut(&key)
            .is_some_and(|h| h.insert((s.upstream_offset, s.downstream_offset)))
        {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Journal the topic ids this pass saw on both clusters (the current incarnations, read
/// back when a cluster is down).
/// Returns the topics whose id changed since the journal last saw them (recreated).
fn record_ids(
    journal: &Journal,
    pass: &Pass<'_>,
    c: &Collected,
) -> Result<Vec<RecreatedTopic>, Error> {
    let pairs = |ids: &BTreeMap<String, String>| -> Vec<(String, String)> {
        ids.iter().map(|(t, i)| (t.clone(), i.clone())).collect()
    };
    let mut recreated = Vec::new();
    for (cluster, ids) in [(pass.primary, &c.primary_ids), (pass.backup, &c.backup_ids)] {
        let before = journal.latest_topic_ids(cluster)?;
        recreated.extend(
            crate::dr::gaps::topics_recreated(&before, ids)
                .into_iter()
                .map(|g| RecreatedTopic {
                    cluster: cluster.to_string(),
                    topic: g.topic,
                    old_id: g.old_id,
                    new_id: g.new_id,
                }),
        );
        journal.record_topic_ids(cluster, &pairs(ids))?;
    }
    Ok(recreated)
}

/// The topic ids of `topics` on `client`, without the topics that have none; an error
/// is a note, not a failure (recording goes on without ids, as for an old broker).
fn ids_of(
    client: &KafkaClient,
    topics: &[String],
    timeout: Duration,
    notes: &mut Vec<String>,
) -> BTreeMap<String, String> {
    match client.topic_ids(topics, timeout) {
        Ok(ids) => ids
            .into_iter()
            .filter_map(|(t, id)| id.map(|id| (t, id)))
            .collect(),
        Err(e) => {
            notes.push(format!(
                "cannot read the topic ids of `{}` ({}): syncs and positions recorded without them",
                client.cluster_name(),
                first_line(&e.to_string())
            ));
            BTreeMap::new()
        }
    }
}

/// Errors about one partition's records, not about the cluster or the connection.
fn is_partition_local(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::Undecodable { .. }
            | KafkaError::UnknownTopicOrPartition { .. }
            | KafkaError::AuthorizationDenied { .. }
    )
}

/// The fingerprint of record `committed - 1` (the last one the group consumed) as
/// journal JSON; `None` when nothing was consumed or the record is gone (deleted,
/// compacted away).
fn last_consumed_fingerprint(
    client: &KafkaClient,
    p: &Position,
    timeout: Duration,
) -> Result<Option<FingerprintJson>, Error> {
    if p.committed <= 0 {
        return Ok(None);
    }
    let (from, until) = fingerprint_range(p.committed);
    let records = client.read_records(&p.topic, p.partition, from, until, timeout)?;
    fingerprint_json(
        client,
        p,
        RecordedFingerprint::from_records(&records, p.committed - 1),
    )
}

/// The records a position's fingerprint is made of: the last consumed one (`committed -
/// 1`) and the run before it, which tells identical records apart later.
fn fingerprint_range(committed: i64) -> (i64, i64) {
    ((committed - 1 - RUN_BEFORE as i64).max(0), committed)
}

fn fingerprint_json(
    client: &KafkaClient,
    p: &Position,
    found: Option<RecordedFingerprint>,
) -> Result<Option<FingerprintJson>, Error> {
    match found {
        Some(r) => Ok(Some(FingerprintJson::encode(&r).map_err(|e| {
            Error::Io(format!(
                "cannot encode the fingerprint of `{}` partition {} offset {} on `{}`: {e}",
                p.topic,
                p.partition,
                p.committed - 1,
                client.cluster_name()
            ))
        })?)),
        None => Ok(None),
    }
}

/// MM2's offset syncs: the whole topic, or (`--follow`) what was appended since the
/// last pass; the second value is where the next pass reads on from.
#[allow(clippy::type_complexity)]
fn read_syncs(
    pass: &Pass<'_>,
    client: &KafkaClient,
    cluster: &str,
    topic: &str,
) -> Result<(Vec<crate::kafka::OffsetSync>, Option<HashMap<i32, i64>>), KafkaError> {
    let Some(cursor) = pass.syncs_cursor else {
        return Ok((client.read_offset_syncs(topic, pass.timeout)?, None));
    };
    let since = {
        let c = cursor.lock().unwrap_or_else(|p| p.into_inner());
        if c.of
            .as_ref()
            .is_some_and(|(cl, t)| cl == cluster && t == topic)
        {
            c.next.clone()
        } else {
            HashMap::new()
        }
    };
    let read = match client.read_offset_syncs_since(topic, &since, pass.timeout) {
        // Recreated or truncated: read it whole again (the journal dedupes).
        Err(KafkaError::LogRewound { .. }) => {
            client.read_offset_syncs_since(topic, &HashMap::new(), pass.timeout)
        }
        other => other,
    };
    let (syncs, next) = read?;
    Ok((syncs, Some(next)))
}

/// Read everything one pass needs from the clusters (no fingerprints: `record` reads
/// those only for changed positions). Returns the primary's client for them.
fn collect(pass: &Pass<'_>) -> Result<(Arc<KafkaClient>, Collected), Error> {
    let topology = pass.topology;
    let timeout = pass.timeout;
    let mut notes = Vec::new();
    let primary = pass.kafka(pass.primary)?;
    let parts = common::in_scope_partitions(topology, &primary, timeout)?;
    let in_scope: HashSet<(String, i32)> = parts.iter().cloned().collect();

    // The backup is needed only when the syncs live there, or for the lag fallback.
    let mut backup = LazyBackup::default();

    // (1) MM2's offset syncs of the in-scope partitions.
    let (syncs_cluster, syncs_topic) = topology
        .replication
        .offset_syncs_topic(pass.primary, pass.backup);
    let read = |c: &KafkaClient| read_syncs(pass, c, &syncs_cluster, &syncs_topic);
    let raw = if syncs_cluster == pass.primary {
        read(&primary)
    } else {
        match backup.get(pass, true)? {
            Some(c) => read(c),
            None => Ok((Vec::new(), None)),
        }
    };
    let (raw, syncs_next) = match raw {
        Ok(r) => r,
        Err(KafkaError::UnknownTopicOrPartition { .. }) => {
            notes.push(format!(
                "no offset-syncs topic `{syncs_topic}` on `{syncs_cluster}` yet: MM2 has not emitted any sync"
            ));
            (Vec::new(), None)
        }
        Err(e) => return Err(e.into()),
    };
    // (1b) The topic ids of both sides: the incarnation each sync and position is for.
    let topics: Vec<String> = parts
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let primary_ids = ids_of(&primary, &topics, timeout, &mut notes);
    let policy = topology.replication.policy;
    let target_names: Vec<String> = topics
        .iter()
        .map(|t| policy.target_topic(pass.primary, t))
        .collect();
    let backup_ids = match backup.get(pass, false)? {
        Some(c) => ids_of(c, &target_names, timeout, &mut notes),
        None => BTreeMap::new(),
    };
    let mut seen = HashSet::new();
    let syncs: Vec<OffsetSyncRow> = raw
        .into_iter()
        .filter(|s| in_scope.contains(&(s.topic.clone(), s.partition)))
        .filter(|s| seen.insert((s.topic.clone(), s.partition, s.upstream, s.downstream)))
        .map(|s| OffsetSyncRow {
            source_cluster: pass.primary.to_string(),
            target_cluster: pass.backup.to_string(),
            partition: s.partition,
            upstream_offset: s.upstream,
            downstream_offset: s.downstream,
            recorded_at: None,
            source_topic_id: primary_ids.get(&s.topic).cloned(),
            target_topic_id: backup_ids
                .get(&policy.target_topic(pass.primary, &s.topic))
                .cloned(),
            topic: s.topic,
        })
        .collect();

    // (2) The in-scope groups' committed positions on in-scope partitions.
    let (positions, groups, groups_asked) = group_positions(pass, &primary, &parts, &primary_ids)?;

    // (3) Watermarks and lag.
    let partitions = partition_lags(pass, &primary, &parts, &mut backup, &mut notes)?;
    Ok((
        primary,
        Collected {
            syncs_cluster,
            syncs_topic,
            syncs,
            syncs_next,
            primary_ids,
            backup_ids,
            groups,
            groups_asked,
            positions,
            partitions,
            notes,
        },
    ))
}

/// The in-scope groups' committed positions on in-scope partitions (`parts`), the number
/// of groups with one, and how many groups were asked (`group_offsets`).
fn group_positions(
    pass: &Pass<'_>,
    primary: &KafkaClient,
    parts: &[(String, i32)],
    primary_ids: &BTreeMap<String, String>,
) -> Result<(Vec<Position>, usize, usize), Error> {
    let mut positions = Vec::new();
    let mut groups = 0;
    let in_scope_groups: Vec<String> = primary
        .list_groups(pass.timeout)?
        .into_iter()
        .map(|g| g.group)
        .filter(|g| pass.topology.replication.groups.matches(g))
        .collect();
    let (committed, groups_asked) = group_offsets::committed_offsets(
        primary,
        pass.primary,
        &in_scope_groups,
        pass.group_offsets,
        pass.timeout,
    )?;
    // Looked up by borrowed names: a pass at 1,000 groups checks hundreds of thousands.
    let mut scope: HashMap<&str, HashSet<i32>> = HashMap::new();
    for (t, p) in parts {
        scope.entry(t.as_str()).or_default().insert(*p);
    }
    let ids: HashMap<&str, Arc<str>> = primary_ids
        .iter()
        .map(|(t, id)| (t.as_str(), Arc::from(id.as_str())))
        .collect();
    for (group, committed) in in_scope_groups.iter().zip(committed) {
        let before = positions.len();
        let group: Arc<str> = Arc::from(group.as_str());
        for (topic, partition, committed) in committed.iter() {
            if scope
                .get(topic.as_ref())
                .is_some_and(|ps| ps.contains(partition))
            {
                positions.push(Position {
                    group: group.clone(),
                    topic_id: ids.get(topic.as_ref()).cloned(),
                    topic: topic.clone(),
                    partition: *partition,
                    committed: *committed,
                });
            }
        }
        if positions.len() > before {
            groups += 1;
        }
    }
    Ok((positions, groups, groups_asked))
}

/// Each in-scope partition's watermarks on the primary and lag: from Connect's stored
/// positions of the source connector, else the backup's log end, else unknown.
fn partition_lags(
    pass: &Pass<'_>,
    primary: &KafkaClient,
    parts: &[(String, i32)],
    backup: &mut LazyBackup,
    notes: &mut Vec<String>,
) -> Result<Vec<PartitionLag>, Error> {
    let watermarks = if parts.is_empty() {
        Vec::new()
    } else {
        primary.watermarks(parts, pass.timeout)?
    };
    let next_by_connect = connect_positions(pass, notes);
    let needs_backup = watermarks
        .iter()
        .any(|w| !next_by_connect.contains_key(&(w.topic.clone(), w.partition)));
    let mut backup_ends: HashMap<(String, i32), i64> = HashMap::new();
    let mut backup_has: HashSet<(String, i32)> = HashSet::new();
    if needs_backup {
        if let Some(c) = backup.get(pass, false)? {
            let (ends, has) = backup_log_ends(pass, c, &watermarks, &next_by_connect)?;
            backup_ends = ends;
            backup_has = has;
        }
        if let Some(e) = &backup.error {
            notes.push(format!(
                "`{}` does not answer ({e}): the lag of partitions Connect did not report is unknown",
                pass.backup
            ));
        }
    }
    let backup_answered = backup.client.is_some();
    let partitions: Vec<PartitionLag> = watermarks
        .into_iter()
        .map(|w| {
            let key = (w.topic.clone(), w.partition);
            let (next, source) = if let Some(next) = next_by_connect.get(&key) {
                (Some(next.unwrap_or(w.earliest)), LagSource::Connect)
            } else if let Some(end) = backup_ends.get(&key) {
                (Some(*end), LagSource::BackupLogEnd)
            } else if backup_answered && !backup_has.contains(&key) {
                (Some(w.earliest), LagSource::NotMirrored)
            } else {
                (None, LagSource::Unknown)
            };
            PartitionLag {
                lag: next.map(|n| (w.latest - n).max(0)),
                topic: w.topic,
                partition: w.partition,
                earliest: w.earliest,
                latest: w.latest,
                next_to_copy: next,
                lag_source: source,
            }
        })
        .collect();
    Ok(partitions)
}

/// A client for the backup, connected on first use.
#[derive(Default)]
struct LazyBackup {
    client: Option<Arc<KafkaClient>>,
    /// Why it could not be reached, when it was optional.
    error: Option<String>,
}

impl LazyBackup {
    fn get(&mut self, pass: &Pass<'_>, needed: bool) -> Result<Option<&KafkaClient>, Error> {
        if self.client.is_none() && (self.error.is_none() || needed) {
            match pass.kafka(pass.backup) {
                Ok(c) => self.client = Some(c),
                Err(e) if !needed => self.error = Some(first_line(&e.to_string()).to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(self.client.as_deref())
    }
}

/// The backup's log ends of the partitions Connect did not report, keyed by the
/// primary's topic name; and which of those partitions exist on the backup.
#[allow(clippy::type_complexity)]
fn backup_log_ends(
    pass: &Pass<'_>,
    backup: &KafkaClient,
    watermarks: &[crate::kafka::PartitionWatermarks],
    known: &HashMap<(String, i32), Option<i64>>,
) -> Result<(HashMap<(String, i32), i64>, HashSet<(String, i32)>), Error> {
    let policy = pass.topology.replication.policy;
    let md = backup.metadata(pass.timeout)?;
    let mut wanted: Vec<(String, i32)> = Vec::new();
    let mut by_target: HashMap<(String, i32), (String, i32)> = HashMap::new();
    let mut has = HashSet::new();
    for w in watermarks {
        let key = (w.topic.clone(), w.partition);
        if known.contains_key(&key) {
            continue;
        }
        let target = policy.target_topic(pass.primary, &w.topic);
        let exists = md
            .topic(&target)
            .is_some_and(|t| t.partitions.contains(&w.partition));
        if exists {
            has.insert(key.clone());
            by_target.insert((target.clone(), w.partition), key);
            wanted.push((target, w.partition));
        }
    }
    let mut ends = HashMap::new();
    if !wanted.is_empty() {
        for b in backup.watermarks(&wanted, pass.timeout)? {
            if let Some(key) = by_target.get(&(b.topic.clone(), b.partition)) {
                ends.insert(key.clone(), b.latest);
            }
        }
    }
    Ok((ends, has))
}

/// `connect_positions` for a dedicated-mode MM2: its offsets topic on the backup.
fn dedicated_positions(
    pass: &Pass<'_>,
    d: &crate::topology::DedicatedFlow,
    notes: &mut Vec<String>,
) -> HashMap<(String, i32), Option<i64>> {
    let topic = d.offsets_topic(pass.primary);
    let read = pass.kafka(pass.backup).and_then(|c| {
        super::mirror_dedicated::read_positions(&c, &topic, pass.primary, pass.timeout)
    });
    match read {
        Ok(Some(positions)) => positions
            .into_iter()
            .map(|(k, last)| (k, last.map(|l| l + 1)))
            .collect(),
        Ok(None) => {
            notes.push(format!(
                "MM2's offsets topic `{topic}` does not exist on `{}` (dedicated mode): lag is measured against the backup's log end",
                pass.backup
            ));
            HashMap::new()
        }
        Err(e) => {
            notes.push(format!(
                "cannot read MM2's offsets topic `{topic}` on `{}` ({}): lag is measured against the backup's log end",
                pass.backup,
                first_line(&e.to_string())
            ));
            HashMap::new()
        }
    }
}

/// The next offset the flow's MM2 source connector will copy, per primary partition
/// (`None` inside: the connector has no position there and starts at the log start),
/// from Connect REST; empty (with a note) when Connect does not answer.
fn connect_positions(
    pass: &Pass<'_>,
    notes: &mut Vec<String>,
) -> HashMap<(String, i32), Option<i64>> {
    let r = &pass.topology.replication;
    let flow = super::mirror_dedicated::flow_into(pass.topology, pass.backup);
    if let Some(d) = super::mirror_dedicated::flow_of(pass.topology, flow) {
        return dedicated_positions(pass, d, notes);
    }
    let connector = if pass.primary == r.backup && pass.backup == r.primary {
        &r.reverse_connectors.source
    } else {
        &r.forward_connectors.source
    };
    let client = match common::connect(pass.topology, pass.backup, pass.timeout) {
        Ok(Some(c)) => c,
        Ok(None) => {
            notes.push(format!(
                "the topology names no Connect worker for `{}`: lag is measured against the backup's log end",
                pass.backup
            ));
            return HashMap::new();
        }
        Err(e) => {
            notes.push(format!(
                "cannot use the Connect worker of `{}` ({}): lag is measured against the backup's log end",
                pass.backup,
                first_line(&e.to_string())
            ));
            return HashMap::new();
        }
    };
    match pass
        .runtime
        .block_on(client.get_mirror_source_offsets(connector))
    {
        Ok(offsets) => offsets
            .into_iter()
            .filter(|o| o.source_alias == pass.primary)
            .map(|o| ((o.topic.clone(), o.partition), o.next_offset_to_copy()))
            .collect(),
        Err(e) => {
            notes.push(format!(
                "cannot read the offsets of connector `{connector}` on the Connect worker of `{}` ({}): lag is measured against the backup's log end",
                pass.backup,
                first_line(&e.to_string())
            ));
            HashMap::new()
        }
    }
}

/// The `deltas.record` action.
pub struct RecordDeltas {
    primary: String,
    backup: String,
    timeout: Duration,
    /// What the last apply recorded, for verify.
    recorded: Option<Recorded>,
    /// What the plan read, for apply.
    read: Option<Read>,
}

#[derive(Debug)]
struct Recorded {
    primary: String,
    backup: String,
    recorded_at: String,
    /// The syncs and positions (group, topic, partition, offset) written.
    syncs: Vec<OffsetSyncRow>,
    positions: Vec<(String, String, i32, i64)>,
}

/// What a pass read before writing anything: the clusters, and the journal's latest
/// positions to compare with. The plan's read is the apply's (a pass planned and applied
/// reads the clusters once).
struct Read {
    read_at_ms: i64,
    client: Arc<KafkaClient>,
    collected: Collected,
    latest: Marks,
    /// `--follow`: the row id `latest` is complete to, to hand it back to the cache.
    latest_through: Option<i64>,
}

impl Read {
    fn now(pass: &Pass<'_>, journal: &Journal) -> Result<Read, Error> {
        let read_at_ms = now_ms();
        let (client, collected) = collect(pass)?;
        let (latest, latest_through) = match pass.marks {
            Some(cache) => {
                let (marks, through) = cache.take(journal, pass.primary)?;
                (marks, Some(through))
            }
            None => (latest_positions(journal, pass.primary)?, None),
        };
        Ok(Read {
            read_at_ms,
            client,
            collected,
            latest,
            latest_through,
        })
    }
}

impl std::fmt::Debug for RecordDeltas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordDeltas")
            .field("primary", &self.primary)
            .field("backup", &self.backup)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RecordDeltas {
    pub fn new(step: &StepDef) -> Result<RecordDeltas, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(RecordDeltas {
            primary: p.primary,
            backup: p.backup,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
            recorded: None,
            read: None,
        })
    }

    fn pass<'a>(&self, ctx: &'a StepContext<'_>, primary: &'a str, backup: &'a str) -> Pass<'a> {
        Pass {
            topology: ctx.topology,
            runtime: ctx.runtime,
            primary,
            backup,
            timeout: self.timeout,
            clusters: ctx.clusters,
            syncs_cursor: None,
            marks: None,
            group_offsets: None,
        }
    }

    fn clusters(&self, ctx: &StepContext<'_>) -> Result<(String, String), Error> {
        let primary = common::resolve_cluster(ctx, &self.primary)?;
        let backup = common::resolve_cluster(ctx, &self.backup)?;
        if primary == backup {
            return Err(Error::Usage(format!(
                "step `{}` ({NAME}): `primary` and `backup` both name cluster `{primary}`\nhelp: give two different clusters (the defaults are the role words `primary` and `backup`)",
                ctx.step_id
            )));
        }
        Ok((primary, backup))
    }
}

impl Action for RecordDeltas {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let (primary, backup) = self.clusters(ctx)?;
        let pass = self.pass(ctx, &primary, &backup);
        let read = Read::now(&pass, ctx.journal)?;
        let c = &read.collected;
        let new_syncs = count_new_syncs(ctx.journal, &c.syncs)?;
        let changed = changed_positions(&read.latest, &c.positions).len();
        let mut plan = Plan::default();
        plan.changes.push(format!(
            "journal: record {} offset sync(s) ({new_syncs} new), {} group position(s) of {} group(s)",
            c.syncs.len(),
            c.positions.len(),
            c.groups
        ));
        plan.notes.push(format!(
            "changes nothing on any cluster but the backup DC's copy (`{}` on `{backup}`); reads `{}` on `{}`, the groups and watermarks of `{primary}`",
            ctx.topology.replication.deltas_topic, c.syncs_topic, c.syncs_cluster
        ));
        plan.notes.push(format!(
            "{changed} group position(s) changed since last recorded (only those are written, with the fingerprint of the last record consumed)"
        ));
        let summary = summarize(&pass, c, read.read_at_ms, new_syncs, changed);
        plan.notes
            .push(format!("replication lag now: {}", lag_text(&summary)));
        plan.notes.extend(summary.notes.iter().cloned());
        plan.detail = json!({
            "primary": primary,
            "backup": backup,
            "offset_syncs": summary.offset_syncs,
            "offset_syncs_new": new_syncs,
            "group_positions": summary.group_positions,
            "group_positions_changed": changed,
            "groups": summary.groups,
            "total_lag": summary.total_lag,
        });
        // Apply records what this plan read (seconds old): the clusters are read once.
        self.read = Some(read);
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let (primary, backup) = self.clusters(ctx)?;
        let pass = self.pass(ctx, &primary, &backup);
        let (summary, recorded) = record(
            &pass,
            ctx.journal,
            ctx.step_id,
            ctx.reporter,
            self.read.take(),
        )?;
        // Kept for verify: what this attempt read and wrote.
        self.recorded = Some(recorded);
        serde_json::to_value(&summary).map_err(|e| {
            Error::Io(format!(
                "cannot encode the output of step `{}`: {e}",
                ctx.step_id
            ))
        })
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let Some(rec) = &self.recorded else {
            return Ok(Verdict::NotDone(
                "this attempt recorded nothing yet (the step is applied again)".to_string(),
            ));
        };
        verify_recorded(ctx.journal, rec)
    }
}

/// How many of `syncs` the journal does not hold yet.
fn count_new_syncs(journal: &Journal, syncs: &[OffsetSyncRow]) -> Result<usize, Error> {
    let mut known: BTreeMap<(String, i32), HashSet<(i64, i64)>> = BTreeMap::new();
    let mut new = 0;
    for s in syncs {
        let key = (s.topic.clone(), s.partition);
        if !known.contains_key(&key) {
            let have = journal
                .offset_sync_history(&s.source_cluster, &s.target_cluster, &s.topic, s.partition)?
                .into_iter()
                .map(|r| (r.upstream_offset, r.downstream_offset))
                .collect();
            known.insert(key.clone(), have);
        }
        if known
            .get(&key)
            .is_some_and(|h| !h.contains(&(s.upstream_offset, s.downstream_offset)))
        {
            new += 1;
        }
    }
    Ok(new)
}

fn verify_recorded(journal: &Journal, rec: &Recorded) -> Result<Verdict, Error> {
    let missing_syncs = count_new_syncs(journal, &rec.syncs)?;
    if missing_syncs > 0 {
        return Ok(Verdict::NotDone(format!(
            "{missing_syncs} offset sync(s) of `{}` -> `{}` are not in the journal",
            rec.primary, rec.backup
        )));
    }
    if rec.positions.is_empty() {
        return Ok(Verdict::Done);
    }
    let latest = latest_positions(journal, &rec.primary)?;
    for (group, topic, partition, committed) in &rec.positions {
        let held = latest.get(group, topic, *partition).is_some_and(|r| {
            r.committed_offset == *committed
                    // A later recording (a `--follow` loop) may have moved it on.
                    || r.recorded_at.as_deref().is_some_and(|at| at >= rec.recorded_at.as_str())
        });
        if !held {
            return Ok(Verdict::NotDone(format!(
                "the journal does not hold position {committed} of group `{group}` on `{topic}` partition {partition} of `{}`",
                rec.primary
            )));
        }
    }
    Ok(Verdict::Done)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), the journal's own format,
/// so the two compare as strings.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{step, Fixture};

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn params_default_to_the_roles_and_refuse_unknown_keys() {
        let a = RecordDeltas::new(&step("rec", NAME, serde_json::Value::Null)).unwrap();
        assert_eq!(
            (a.primary.as_str(), a.backup.as_str()),
            ("primary", "backup")
        );
        assert_eq!(a.timeout, Duration::from_secs(10));
        let e = RecordDeltas::new(&step("rec", NAME, json!({"primry": "dc1"}))).unwrap_err();
        assert!(e.to_string().contains("primry"), "{e}");
    }

    #[test]
    fn same_cluster_twice_is_refused() {
        let f = Fixture::new();
        let ctx = f.ctx("rec");
        let a = RecordDeltas::new(&step(
            "rec",
            NAME,
            json!({"primary": "dc1", "backup": "primary"}),
        ))
        .unwrap();
        let e = a.clusters(&ctx).unwrap_err().to_string();
        assert!(e.contains("both name cluster `dc1`"), "{e}");
        assert!(e.contains("help:"), "{e}");
    }

    fn row(group: &str, offset: i64) -> GroupPositionRow {
        GroupPositionRow {
            cluster: "dc1".into(),
            group: group.into(),
            topic: "app.t".into(),
            partition: 0,
            committed_offset: offset,
            fingerprint: None,
            recorded_at: None,
            topic_id: None,
        }
    }

    #[test]
    fn the_kept_marks_follow_every_write_to_the_journal() {
        let f = Fixture::new();
        let follow = Follow::default();
        let marks = |cluster: &str| follow.with_marks(&f.journal, cluster, |m| m.clone());
        f.journal
            .record_group_positions(&[row("a", 1), row("b", 2)])
            .unwrap();
        assert_eq!(
            marks("dc1").unwrap(),
            latest_positions(&f.journal, "dc1").unwrap()
        );
        // Rows recorded since (by this recorder or any other writer: a second recorder,
        // `deltas import`), a group moving back included, are read on the next use.
        f.journal
            .record_group_positions(&[row("a", 7), row("c", 3), row("a", 4)])
            .unwrap();
        f.journal
            .record_group_positions(&[GroupPositionRow {
                cluster: "dc2".into(),
                ..row("a", 99)
            }])
            .unwrap();
        let kept = marks("dc1").unwrap();
        assert_eq!(kept, latest_positions(&f.journal, "dc1").unwrap());
        assert_eq!(kept.get("a", "app.t", 0).unwrap().committed_offset, 4);
        assert_eq!(kept.len(), 3);
        // The other cluster's marks (the roles changed) are read whole.
        let other = marks("dc2").unwrap();
        assert_eq!(other.len(), 1);
        assert_eq!(other.get("a", "app.t", 0).unwrap().committed_offset, 99);
        assert_eq!(marks("dc1").unwrap(), kept);
    }

    #[test]
    fn only_changed_positions_are_recorded_and_verify_reads_back() {
        let f = Fixture::new();
        f.journal
            .record_group_positions(&[row("app.g", 5)])
            .unwrap();
        let latest = latest_positions(&f.journal, "dc1").unwrap();
        let pos = |offset| Position {
            group: "app.g".into(),
            topic: "app.t".into(),
            partition: 0,
            committed: offset,
            topic_id: None,
        };
        assert!(changed_positions(&latest, &[pos(5)]).is_empty());
        assert_eq!(changed_positions(&latest, &[pos(6)]).len(), 1);
        // The same offset in a recreated topic (another id) is another position.
        let in_new = Position {
            topic_id: Some("A2".into()),
            ..pos(5)
        };
        assert_eq!(
            changed_positions(&latest, std::slice::from_ref(&in_new)).len(),
            1
        );
        f.journal
            .record_group_positions(&[GroupPositionRow {
                topic_id: Some("A2".into()),
                ..row("app.g", 5)
            }])
            .unwrap();
        let latest = latest_positions(&f.journal, "dc1").unwrap();
        assert!(changed_positions(&latest, std::slice::from_ref(&in_new)).is_empty());

        let sync = OffsetSyncRow {
            source_cluster: "dc1".into(),
            target_cluster: "dc2".into(),
            topic: "app.t".into(),
            partition: 0,
            upstream_offset: 100,
            downstream_offset: 90,
            recorded_at: None,
            source_topic_id: None,
            target_topic_id: None,
        };
        assert_eq!(
            count_new_syncs(&f.journal, std::slice::from_ref(&sync)).unwrap(),
            1
        );
        let rec = Recorded {
            primary: "dc1".into(),
            backup: "dc2".into(),
            recorded_at: rfc3339(0),
            syncs: vec![sync.clone()],
            positions: vec![("app.g".into(), "app.t".into(), 0, 5)],
        };
        assert!(matches!(
            verify_recorded(&f.journal, &rec).unwrap(),
            Verdict::NotDone(_)
        ));
        f.journal
            .record_offset_syncs(std::slice::from_ref(&sync))
            .unwrap();
        assert_eq!(count_new_syncs(&f.journal, &[sync]).unwrap(), 0);
        assert_eq!(verify_recorded(&f.journal, &rec).unwrap(), Verdict::Done);
    }
}
