//! `groups.translate`: the first half of moving consumer groups from the primary to the
//! backup at the right place (no record skipped, as few seen again as possible);
//! `groups.commit` (groups_commit.rs) is the second.
//!
//! `groups.translate` (params `from`, `to`, `groups`, `timeout_seconds`) finds, for every
//! in-scope group and partition, the freshest primary position that can be translated
//! without skipping: the live primary when it answers (fingerprints read live), else the
//! journal's recorded positions (`deltas.record`), else MM2's checkpoints on the backup;
//! a checkpoint whose upstream position is LATER than the recorded one wins (it is
//! fresher, and MM2's translation never skips). It translates each with
//! `translation::translate` (syncs from the journal, plus live ones when the offset-syncs
//! topic answers; the twin of the last consumed record searched on the backup), and sets
//! what MM2 itself would give beside it. It writes nothing to any cluster: the result is
//! its plan detail and its step output, kept by the journal.
//!
//! Only the syncs that still describe both logs are used (`dr::sync_store`: none of an
//! older topic incarnation, none before a rewind, none outside the current bounds), and a
//! position recorded for an older incarnation of its topic is ignored (the group starts
//! at the current incarnation's first copy); both are said in the notes. A translation is
//! `exact` only when proven (an exact method on a live position); a recorded position's
//! worst case includes what the group may have consumed after it was recorded.
//! The output's types (`TranslationReport`, `TranslatedPosition`) are shared with
//! `groups.commit` and the failover report.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::common::{self, first_line};
use super::translation::{self, Method, SyncPoint, Translation};
use crate::dr::{self, RecordedSync};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::kafka::{
    fingerprint, Checkpoint, Fingerprint, Isolation, KafkaClient, KafkaError,
    PartitionFingerprints, RecordedFingerprint, RUN_BEFORE,
};
use crate::runbook::StepDef;
use crate::topology::Policy;
pub const TRANSLATE: &str = "groups.translate";

// ---------------------------------------------------------------------------------------
// The translation, as stored in the journal
// ---------------------------------------------------------------------------------------

/// Where a primary position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PositionSource {
    /// Read from the primary just now.
    Live,
    /// Recorded in the journal by `deltas.record`.
    Journal,
    /// An MM2 checkpoint on the backup (already translated by MM2).
    Checkpoint,
}

/// MM2's checkpoint for a group/partition, beside ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mm2Checkpoint {
    /// The primary position MM2 translated (may be older than ours).
    pub upstream: i64,
    /// MM2's backup offset.
    pub downstream: i64,
    /// `backup_offset - downstream`: how many more records a consumer resuming at MM2's
    /// offset would see again (negative: fewer).
    pub redelivered: i64,
}

/// One group's translated position on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslatedPosition {
    pub group: String,
    /// The topic on the primary.
    pub topic: String,
    pub partition: i32,
    /// The topic on the backup (replication policy).
    pub target_topic: String,
    /// The group's committed offset on the primary (the next record it would read).
    pub primary_position: i64,
    pub position_source: PositionSource,
    /// When the position was recorded (journal positions).
    pub recorded_at: Option<String>,
    /// The offset to commit on the backup.
    pub backup_offset: i64,
    pub method: Method,
    /// At most this many records are seen again (`None`: cannot be bounded).
    pub worst_case_duplicates: Option<i64>,
    pub lower_sync: Option<SyncPoint>,
    pub upper_sync: Option<SyncPoint>,
    /// MM2's own checkpoint for this group/partition, if the backup has one.
    pub mm2_checkpoint: Option<Mm2Checkpoint>,
    /// MM2's conservative rule applied to the same position and syncs.
    pub mm2_rule_offset: Option<i64>,
    /// `backup_offset - mm2_rule_offset`: records MM2's rule would re-deliver on top.
    pub mm2_rule_redelivered: Option<i64>,
    pub note: Option<String>,
    /// The backup partition's log start when translated.
    #[serde(default)]
    pub backup_log_start: i64,
    /// Where the translation pointed before it was clamped to the backup's
    /// `[log start, last stable offset]` (`None`: inside).
    #[serde(default)]
    pub clamped_from: Option<i64>,
    /// Records the group had not consumed that expired on the backup (below its log
    /// start): it will never see them. At most this many, and at least
    /// `expired_skipped_at_least` (equal for exact methods).
    #[serde(default)]
    pub expired_skipped: i64,
    #[serde(default)]
    pub expired_skipped_at_least: i64,
    /// True only when the offset is proven right: an exact method on a position read
    /// live. A recorded position (journal, checkpoint) is exact at best for the moment
    /// it was recorded: the group may have consumed on since (issue 9, case 10).
    #[serde(default)]
    pub exact: bool,
    /// For a recorded position: the records on the backup from the offset to its high
    /// watermark, which the group may have consumed after the recording and will then see
    /// again (included in `worst_case_duplicates`).
    #[serde(default)]
    pub since_recording_at_most: Option<i64>,
}

impl TranslatedPosition {
    /// What the clamp to the backup's log start cost, for the plan and the report
    /// (`None`: nothing was skipped).
    pub fn expired_text(&self, backup: &str) -> Option<String> {
        if self.expired_skipped <= 0 {
            return None;
        }
        let count = if self.expired_skipped_at_least >= self.expired_skipped {
            format!("{}", self.expired_skipped)
        } else {
            format!(
                "at most {} (at least {})",
                self.expired_skipped, self.expired_skipped_at_least
            )
        };
        Some(format!(
            "group `{}` `{}`[{}]: {count} record(s) it had not consumed expired on `{backup}` (log start {}, the translation pointed at {}): it starts at the log start and will NEVER see them",
            self.group,
            self.target_topic,
            self.partition,
            self.backup_log_start,
            self.clamped_from.unwrap_or(self.backup_offset - self.expired_skipped)
        ))
    }
}

/// The output of `groups.translate` (its plan detail and step output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslationReport {
    pub from: String,
    pub to: String,
    /// True when the primary answered and positions were read live.
    pub primary_answered: bool,
    pub positions: Vec<TranslatedPosition>,
    pub notes: Vec<String>,
}

impl TranslationReport {
    /// The groups translated, sorted.
    pub fn groups(&self) -> BTreeSet<&str> {
        self.positions.iter().map(|p| p.group.as_str()).collect()
    }
}

/// A primary position chosen for translation, before translating.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) group: String,
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) position: i64,
    pub(super) source: PositionSource,
    pub(super) recorded_at: Option<String>,
    /// Of record `position - 1` and the run before it (live or recorded); `None`: not
    /// known.
    pub(super) fingerprint: Option<RecordedFingerprint>,
    /// For a checkpoint position: the older position recorded in the journal, with its
    /// fingerprint. The group consumed at least that far, so its exact translation is a
    /// floor under MM2's (which may fall back to an old sync: seen on the lab, MM2
    /// checkpointed position 170 at downstream 1 while the recorded 20 translates to 20).
    pub(super) floor: Option<(i64, Option<RecordedFingerprint>)>,
    pub(super) note: Option<String>,
    /// The position was recorded for an older incarnation of the topic on the primary
    /// (its topic id then, the current one): it is ignored (see `Method::NewIncarnation`).
    pub(super) older_incarnation: Option<(String, String)>,
}

/// Which of a recorded position and an MM2 checkpoint to translate from (no live
/// primary): the recorded one, unless the checkpoint is LATER (fresher; MM2 never skips).
pub(super) fn choose_source(
    recorded: Option<i64>,
    checkpoint_upstream: Option<i64>,
) -> Option<PositionSource> {
    match (recorded, checkpoint_upstream) {
        (Some(r), Some(c)) if c > r => Some(PositionSource::Checkpoint),
        (Some(_), _) => Some(PositionSource::Journal),
        (None, Some(_)) => Some(PositionSource::Checkpoint),
        (None, None) => None,
    }
}

/// The name `target_topic` (on the backup, written by the flow from `from`) has on the
/// primary.
pub(super) fn source_topic(policy: Policy, from: &str, target_topic: &str) -> Option<String> {
    match policy {
        Policy::Identity => Some(target_topic.to_string()),
        Policy::Prefix => target_topic
            .strip_prefix(&format!("{from}."))
            .map(str::to_string),
    }
}

/// How many dry passes collect the ranges translation reads, before the real one.
pub(super) const PREFETCH_PASSES: usize = 3;

/// Ranges longer than this are not read in a batch (their fingerprints would be held in
/// memory) but streamed by the real pass as before.
pub(super) const PREFETCH_MAX_RANGE: i64 = 20_000;

/// And at most this many records' fingerprints per pass (about 150 bytes each).
pub(super) const PREFETCH_MAX_RECORDS: i64 = 1_000_000;

/// What every candidate's translation reads from.
pub(super) struct Inputs<'i> {
    pub(super) backup: &'i KafkaClient,
    /// (backup topic, partition) -> (log start, last stable offset).
    pub(super) bounds: &'i HashMap<(String, i32), (i64, i64)>,
    /// (primary topic, partition) -> the syncs that still describe both logs (see
    /// `dr::sync_store`), sorted, and what was discarded.
    pub(super) syncs: &'i HashMap<(String, i32), dr::Valid>,
    pub(super) checkpoints: &'i HashMap<(String, String, i32), Checkpoint>,
}

/// Fingerprints already read in batches, per (backup topic, partition).
pub(super) type Cache = HashMap<(String, i32), PartitionFingerprints>;

/// Where translation's record reads are answered from.
pub(super) enum Reads<'r> {
    /// A dry pass: answered from the cache, or noted as missing (`ReadError::Miss`).
    Collect {
        cache: &'r Cache,
        missing: RefCell<Vec<(String, i32, i64, i64)>>,
    },
    /// The real pass: from the cache, else read from the backup there and then.
    Serve { cache: &'r Cache },
}

#[derive(Debug)]
pub(super) enum ReadError {
    /// Not read yet (a dry pass).
    Miss,
    Kafka(KafkaError),
}

impl From<KafkaError> for ReadError {
    fn from(e: KafkaError) -> Self {
        ReadError::Kafka(e)
    }
}

impl Reads<'_> {
    /// The fingerprints of `[from, until)` of a backup partition when they were read;
    /// `None` when the caller should read them itself.
    pub(super) fn cached(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        until: i64,
    ) -> Result<Option<Vec<(i64, &Fingerprint)>>, ReadError> {
        let cache = match self {
            Reads::Collect { cache, .. } | Reads::Serve { cache } => cache,
        };
        if let Some(read) = cache
            .get(&(topic.to_string(), partition))
            .and_then(|c| c.range(from, until))
        {
            return Ok(Some(read));
        }
        match self {
            Reads::Collect { missing, .. } => {
                missing
                    .borrow_mut()
                    .push((topic.to_string(), partition, from, until));
                Err(ReadError::Miss)
            }
            Reads::Serve { .. } => Ok(None),
        }
    }
}

/// What the offset syncs are judged against (see `dr::Logs`), per partition.
struct TargetLogs<'a> {
    /// (backup topic, partition) -> (log start, last stable offset).
    bounds: &'a HashMap<(String, i32), (i64, i64)>,
    /// The primary's topic ids, and the backup's.
    source_ids: &'a BTreeMap<String, String>,
    target_ids: &'a BTreeMap<String, Option<String>>,
    /// The primary's log ends, when it answers.
    source_ends: &'a HashMap<(String, i32), i64>,
}

/// Everything `groups.translate` computes. Reads only.
pub(super) struct Translator<'a, 'c> {
    pub(super) ctx: &'a StepContext<'c>,
    pub(super) from: &'a str,
    pub(super) to: &'a str,
    pub(super) only: Option<&'a [String]>,
    pub(super) timeout: Duration,
}

pub(super) type Key = (String, String, i32);

impl Translator<'_, '_> {
    pub(super) fn wanted_group(&self, group: &str) -> bool {
        self.ctx.topology.replication.groups.matches(group)
            && self.only.is_none_or(|only| only.iter().any(|g| g == group))
    }

    pub(super) fn run(&self) -> Result<TranslationReport, Error> {
        let topology = self.ctx.topology;
        let (from, to, timeout) = (self.from, self.to, self.timeout);
        let mut notes = Vec::new();
        if let Some(only) = self.only {
            for g in only {
                if !topology.replication.groups.matches(g) {
                    return Err(Error::Usage(format!(
                        "step `{}` ({TRANSLATE}): group `{g}` is not in scope of topology `{}` (replication.groups)\nhelp: remove it from `groups`, or widen `replication.groups` in the topology",
                        self.ctx.step_id, topology.name
                    )));
                }
            }
        }
        let backup = common::kafka_in(self.ctx, to, timeout)?;
        let primary = match common::kafka_in(self.ctx, from, timeout) {
            Ok(c) => {
                notes.push(format!(
                    "`{from}` answered: positions and fingerprints read live"
                ));
                Some(c)
            }
            Err(e) => {
                notes.push(format!(
                    "`{from}` does not answer ({}): positions come from the journal and MM2's checkpoints on `{to}`",
                    first_line(&e.to_string())
                ));
                None
            }
        };

        let live_syncs = self.live_syncs(primary.as_deref(), &backup, &mut notes);
        let checkpoints = self.checkpoints(&backup, &mut notes);
        // The current incarnation of each topic on the primary: read live, or the one
        // `deltas record` saw last.
        let source_ids = self.source_topic_ids(primary.as_deref(), &mut notes)?;
        let candidates = match &primary {
            Some(p) => self.live_candidates(p)?,
            None => self.recorded_candidates(&checkpoints, &source_ids, &mut notes)?,
        };
        if let Some(only) = self.only {
            let have: HashSet<&str> = candidates.iter().map(|c| c.group.as_str()).collect();
            for g in only {
                if !have.contains(g.as_str()) {
                    notes.push(format!(
                        "group `{g}` has no committed position on an in-scope partition of `{from}` (live, journal or checkpoint): nothing to translate"
                    ));
                }
            }
        }

        // The backup partitions to translate into, and their bounds: the log start and
        // the last stable offset (the high watermark, or the first offset of the oldest
        // transaction still open there). A group is never put past an open transaction's
        // start: what lies there is not committed, may never be, and a twin found in it
        // is no proof the group's records are on the backup.
        let (wanted, bounds) = self.target_bounds(&backup, &candidates)?;
        let target_topics: Vec<String> = wanted
            .iter()
            .map(|(t, _)| t.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let target_ids = match backup.topic_ids(&target_topics, timeout) {
            Ok(ids) => ids,
            Err(e) => {
                notes.push(format!(
                    "cannot read the topic ids of `{to}` ({}): offset syncs are judged by their offsets only",
                    first_line(&e.to_string())
                ));
                BTreeMap::new()
            }
        };
        let source_ends = self.source_log_ends(primary.as_deref(), &candidates, &mut notes);
        let logs = TargetLogs {
            bounds: &bounds,
            source_ids: &source_ids,
            target_ids: &target_ids,
            source_ends: &source_ends,
        };
        let syncs_by_partition = self.valid_syncs(&candidates, &live_syncs, &logs, &mut notes)?;
        let inputs = Inputs {
            backup: &backup,
            bounds: &bounds,
            syncs: &syncs_by_partition,
            checkpoints: &checkpoints,
        };
        let cache = self.prefetch(&candidates, &inputs)?;
        let positions = self.translate_all(
            &candidates,
            &inputs,
            &Reads::Serve { cache: &cache },
            &mut notes,
        )?;
        Ok(TranslationReport {
            from: from.to_string(),
            to: to.to_string(),
            primary_answered: primary.is_some(),
            positions,
            notes,
        })
    }

    /// Each candidate partition's offset syncs that still describe both logs: the
    /// journal's, in recording order, then the live ones it does not hold yet; what was
    /// discarded is said in `notes`.
    fn valid_syncs(
        &self,
        candidates: &[Candidate],
        live_syncs: &HashMap<(String, i32), Vec<SyncPoint>>,
        logs: &TargetLogs<'_>,
        notes: &mut Vec<String>,
    ) -> Result<HashMap<(String, i32), dr::Valid>, Error> {
        let policy = self.ctx.topology.replication.policy;
        let mut syncs_by_partition: HashMap<(String, i32), dr::Valid> = HashMap::new();
        for c in candidates {
            let pkey = (c.topic.clone(), c.partition);
            if let std::collections::hash_map::Entry::Vacant(slot) = syncs_by_partition.entry(pkey)
            {
                // In recording order (MM2's emission order), with the ids of both sides.
                let mut history: Vec<RecordedSync> = self
                    .ctx
                    .journal
                    .offset_syncs_in_recording_order(self.from, self.to, &c.topic, c.partition)?
                    .into_iter()
                    .map(|r| RecordedSync {
                        sync: SyncPoint {
                            upstream: r.upstream_offset,
                            downstream: r.downstream_offset,
                        },
                        source_topic_id: r.source_topic_id,
                        target_topic_id: r.target_topic_id,
                    })
                    .collect();
                // Live syncs the journal does not hold yet come after, in log order.
                let known: HashSet<SyncPoint> = history.iter().map(|r| r.sync).collect();
                if let Some(live) = live_syncs.get(slot.key()) {
                    history.extend(live.iter().filter(|s| !known.contains(s)).map(|s| {
                        RecordedSync {
                            sync: *s,
                            source_topic_id: None,
                            target_topic_id: None,
                        }
                    }));
                }
                let target = policy.target_topic(self.from, &c.topic);
                let hwm = logs
                    .bounds
                    .get(&(target.clone(), c.partition))
                    .map_or(0, |b| b.1);
                let valid = dr::valid_syncs(
                    &history,
                    &dr::Logs {
                        source_topic_id: logs.source_ids.get(&c.topic).map(String::as_str),
                        target_topic_id: logs.target_ids.get(&target).and_then(|i| i.as_deref()),
                        target_high_watermark: hwm,
                        source_log_end: logs.source_ends.get(slot.key()).copied(),
                    },
                );
                if let Some(why) = valid.describe_discarded() {
                    notes.push(format!(
                        "`{}`[{}]: {} recorded offset sync(s) not used: {why}",
                        c.topic,
                        c.partition,
                        valid.discarded_total()
                    ));
                }
                slot.insert(valid);
            }
        }
        Ok(syncs_by_partition)
    }

    /// The records translation looks at, read ahead (see the comment inside).
    fn prefetch(&self, candidates: &[Candidate], inputs: &Inputs<'_>) -> Result<Cache, Error> {
        // The records translation looks at, read in batches (one consumer for every
        // partition) before the real pass: each dry pass collects the ranges the
        // translations ask for and cannot be answered from what is read so far (a run
        // check asks only after its twins are known, so a few passes may be needed).
        let mut cache: HashMap<(String, i32), PartitionFingerprints> = HashMap::new();
        for _ in 0..PREFETCH_PASSES {
            let reads = Reads::Collect {
                cache: &cache,
                missing: RefCell::new(Vec::new()),
            };
            self.translate_all(candidates, inputs, &reads, &mut Vec::new())?;
            let Reads::Collect { missing, .. } = reads else {
                break;
            };
            let mut budget = PREFETCH_MAX_RECORDS;
            let missing: Vec<(String, i32, i64, i64)> = missing
                .into_inner()
                .into_iter()
                .filter(|(_, _, a, b)| {
                    let n = b - a;
                    let take = n <= PREFETCH_MAX_RANGE && n <= budget;
                    if take {
                        budget -= n;
                    }
                    take
                })
                .collect();
            if missing.is_empty() {
                break;
            }
            match inputs.backup.fingerprints_of_ranges(
                &missing,
                Isolation::ReadCommitted,
                self.timeout,
            ) {
                Ok(read) => {
                    for (key, found) in read {
                        let entry = cache.entry(key).or_default();
                        entry.covered.extend(found.covered);
                        entry.fingerprints.extend(found.fingerprints);
                    }
                }
                // The real pass reads what is missing one range at a time, and says
                // which partition fails if one does.
                Err(_) => break,
            }
        }
        Ok(cache)
    }

    /// The backup partitions the candidates translate into, and their bounds: the log
    /// start and the last stable offset.
    #[allow(clippy::type_complexity)]
    fn target_bounds(
        &self,
        backup: &KafkaClient,
        candidates: &[Candidate],
    ) -> Result<(Vec<(String, i32)>, HashMap<(String, i32), (i64, i64)>), Error> {
        let policy = self.ctx.topology.replication.policy;
        let md = backup.metadata(self.timeout)?;
        let mut wanted: BTreeSet<(String, i32)> = BTreeSet::new();
        for c in candidates {
            let target = policy.target_topic(self.from, &c.topic);
            if md
                .topic(&target)
                .is_some_and(|t| t.partitions.contains(&c.partition))
            {
                wanted.insert((target, c.partition));
            }
        }
        let wanted: Vec<(String, i32)> = wanted.into_iter().collect();
        let bounds: HashMap<(String, i32), (i64, i64)> = if wanted.is_empty() {
            HashMap::new()
        } else {
            backup
                .watermarks(&wanted, self.timeout)?
                .into_iter()
                .map(|w| ((w.topic, w.partition), (w.earliest, w.stable)))
                .collect()
        };
        Ok((wanted, bounds))
    }

    /// The primary's log ends, when it answers (empty when not).
    fn source_log_ends(
        &self,
        primary: Option<&KafkaClient>,
        candidates: &[Candidate],
        notes: &mut Vec<String>,
    ) -> HashMap<(String, i32), i64> {
        // The primary's log ends, when it answers: a sync past them names a record it no
        // longer has (its log was truncated or recreated).
        match primary {
            Some(p) if !candidates.is_empty() => {
                let parts: BTreeSet<(&str, i32)> = candidates
                    .iter()
                    .map(|c| (c.topic.as_str(), c.partition))
                    .collect();
                let parts: Vec<(&str, i32)> = parts.into_iter().collect();
                match p.watermarks(&parts, self.timeout) {
                    Ok(w) => w
                        .into_iter()
                        .map(|w| ((w.topic, w.partition), w.latest))
                        .collect(),
                    Err(e) => {
                        notes.push(format!(
                            "cannot read the log ends of `{}` ({}): offset syncs are not checked against them",
                            self.from,
                            first_line(&e.to_string())
                        ));
                        HashMap::new()
                    }
                }
            }
            _ => HashMap::new(),
        }
    }

    /// Translate every candidate with the given reads: in a `Reads::Collect` pass, the
    /// candidates whose records are not read yet are skipped (and their ranges noted).
    pub(super) fn translate_all(
        &self,
        candidates: &[Candidate],
        inputs: &Inputs<'_>,
        reads: &Reads<'_>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<TranslatedPosition>, Error> {
        let mut positions = Vec::new();
        let (from, to) = (self.from, self.to);
        let policy = self.ctx.topology.replication.policy;
        let backup = inputs.backup;
        for c in candidates {
            let target = policy.target_topic(from, &c.topic);
            let Some(&(log_start, hwm)) = inputs.bounds.get(&(target.clone(), c.partition)) else {
                notes.push(format!(
                    "group `{}`: `{target}` partition {} does not exist on `{to}`: not translated (has MM2 mirrored it?)",
                    c.group, c.partition
                ));
                continue;
            };
            let pkey = (c.topic.clone(), c.partition);
            let valid = inputs.syncs.get(&pkey);
            let syncs = valid.map_or(&[][..], |v| v.syncs.as_slice());
            let cp = inputs
                .checkpoints
                .get(&(c.group.clone(), c.topic.clone(), c.partition));
            let exact = |position: i64, fingerprint: Option<&RecordedFingerprint>| {
                translation::translate(
                    position,
                    syncs,
                    log_start,
                    hwm,
                    |lo, hi| {
                        let Some(fp) = fingerprint.map(|f| &f.last) else {
                            return Ok(Vec::new());
                        };
                        match reads.cached(&target, c.partition, lo, hi)? {
                            Some(read) => Ok(read
                                .into_iter()
                                .filter(|(_, f)| *f == fp)
                                .map(|(o, _)| o)
                                .collect()),
                            None => Ok(self.twins(backup, &target, c.partition, fp, lo, hi)?),
                        }
                    },
                    |candidate, not_before| match fingerprint {
                        Some(f) if !f.preceding.is_empty() => {
                            let from = (candidate - translation::RUN_LOOKBACK as i64)
                                .max(not_before)
                                .max(log_start);
                            let run: Vec<&Fingerprint> = f.preceding.iter().collect();
                            if let Some(read) =
                                reads.cached(&target, c.partition, from, candidate)?
                            {
                                let before: Vec<&Fingerprint> =
                                    read.into_iter().map(|(_, f)| f).collect();
                                return Ok(translation::run_found_before(&run, &&f.last, &before));
                            }
                            let before = backup.read_records(
                                &target,
                                c.partition,
                                from,
                                candidate,
                                self.timeout,
                            )?;
                            let before = RecordedFingerprint::of_all(&before);
                            let before: Vec<&Fingerprint> = before.iter().collect();
                            Ok(translation::run_found_before(&run, &&f.last, &before))
                        }
                        _ => Ok(true),
                    },
                )
            };
            let t = match c.source {
                // Recorded for a topic that was deleted and created again since: nothing
                // of the current incarnation is known to be consumed.
                _ if c.older_incarnation.is_some() => {
                    let offset = valid.map_or(log_start, |v| v.incarnation_start(log_start));
                    translation::bound(
                        Translation {
                            offset,
                            method: Method::NewIncarnation,
                            worst_case_duplicates: None,
                            lower_sync: None,
                            upper_sync: syncs.first().copied(),
                            expired_skipped: 0,
                            expired_skipped_at_least: 0,
                            clamped_from: None,
                        },
                        log_start,
                        hwm,
                    )
                }
                PositionSource::Checkpoint => match cp {
                    Some(cp) => {
                        let mut t = translation::from_checkpoint(cp.upstream, cp.downstream, syncs);
                        if let Some((pos, fp)) = &c.floor {
                            let floor = match exact(*pos, fp.as_ref()) {
                                Ok(t) => t,
                                Err(ReadError::Miss) => continue,
                                Err(ReadError::Kafka(e)) => return Err(e.into()),
                            };
                            if floor.offset > t.offset {
                                notes.push(format!(
                                    "group `{}` `{}` partition {}: MM2's checkpoint points at {}, before where the journal's older position {pos} lands ({}): starts there instead",
                                    c.group, c.topic, c.partition, t.offset, floor.offset
                                ));
                                t.worst_case_duplicates = t
                                    .worst_case_duplicates
                                    .map(|w| (w - (floor.offset - t.offset)).max(0));
                                t.offset = floor.offset;
                            }
                        }
                        translation::bound(t, log_start, hwm)
                    }
                    None => continue,
                },
                PositionSource::Live | PositionSource::Journal => {
                    match exact(c.position, c.fingerprint.as_ref()) {
                        Ok(t) => t,
                        Err(ReadError::Miss) => continue,
                        Err(ReadError::Kafka(e)) => return Err(e.into()),
                    }
                }
            };
            let mut t = t;
            let mut since = None;
            if c.source != PositionSource::Live {
                // The group may have consumed on after its position was recorded (or
                // checkpointed), up to everything the backup holds: those records it
                // sees again. A hard bound, whatever the method.
                let more = (hwm - t.offset).max(0);
                since = Some(more);
                t.worst_case_duplicates = Some(t.worst_case_duplicates.unwrap_or(0).max(more));
            }
            let mut p = self.result(c.clone(), target, t, syncs, cp, log_start);
            p.exact = p.method.is_exact() && c.source == PositionSource::Live;
            p.since_recording_at_most = since;
            if let Some((was, now)) = &c.older_incarnation {
                let n = format!(
                    "position {} of group `{}` on `{}`[{}] was recorded for an older incarnation of topic `{}` on `{from}` (topic id {was}, now {now}): positions recorded for an older incarnation of topic `{}` were ignored; it starts at offset {} of `{to}`, the current incarnation's first copy",
                    c.position, c.group, c.topic, c.partition, c.topic, c.topic, p.backup_offset
                );
                notes.push(n.clone());
                p.note = Some(n);
            }
            positions.push(p);
        }
        Ok(positions)
    }

    pub(super) fn result(
        &self,
        c: Candidate,
        target_topic: String,
        t: Translation,
        syncs: &[SyncPoint],
        cp: Option<&Checkpoint>,
        backup_log_start: i64,
    ) -> TranslatedPosition {
        let rule = translation::mm2_rule(c.position, syncs);
        TranslatedPosition {
            mm2_checkpoint: cp.map(|cp| Mm2Checkpoint {
                upstream: cp.upstream,
                downstream: cp.downstream,
                redelivered: t.offset - cp.downstream,
            }),
            mm2_rule_offset: rule,
            mm2_rule_redelivered: rule.map(|r| t.offset - r),
            group: c.group,
            topic: c.topic,
            partition: c.partition,
            target_topic,
            primary_position: c.position,
            position_source: c.source,
            recorded_at: c.recorded_at,
            backup_offset: t.offset,
            method: t.method,
            worst_case_duplicates: t.worst_case_duplicates,
            lower_sync: t.lower_sync,
            upper_sync: t.upper_sync,
            note: c.note,
            backup_log_start,
            clamped_from: t.clamped_from,
            expired_skipped: t.expired_skipped,
            expired_skipped_at_least: t.expired_skipped_at_least,
            exact: false,
            since_recording_at_most: None,
        }
    }

    /// The id of each in-scope topic on the primary now: read from it when it answers,
    /// else the one `deltas record` saw last (empty when neither is known).
    fn source_topic_ids(
        &self,
        primary: Option<&KafkaClient>,
        notes: &mut Vec<String>,
    ) -> Result<BTreeMap<String, String>, Error> {
        let recorded = self.ctx.journal.latest_topic_ids(self.from)?;
        let Some(p) = primary else {
            return Ok(recorded);
        };
        let topics: Vec<String> = p
            .metadata(self.timeout)?
            .topics
            .iter()
            .map(|t| t.name.clone())
            .filter(|t| common::in_scope_topic(self.ctx.topology, t))
            .collect();
        match p.topic_ids(&topics, self.timeout) {
            Ok(ids) => Ok(ids
                .into_iter()
                .filter_map(|(t, id)| id.map(|id| (t, id)))
                .collect()),
            Err(e) => {
                notes.push(format!(
                    "cannot read the topic ids of `{}` ({}): the ones recorded last are used",
                    self.from,
                    first_line(&e.to_string())
                ));
                Ok(recorded)
            }
        }
    }

    /// Every record of `[from, until)` of the backup partition whose fingerprint equals
    /// `fp`, ascending (`translate` decides among several).
    pub(super) fn twins(
        &self,
        backup: &KafkaClient,
        topic: &str,
        partition: i32,
        fp: &Fingerprint,
        from: i64,
        until: i64,
    ) -> Result<Vec<i64>, KafkaError> {
        let mut found = Vec::new();
        backup.for_each_committed_record(topic, partition, from, until, self.timeout, |r| {
            if r.timestamp_ms == fp.timestamp_ms && fingerprint(&r) == *fp {
                found.push(r.offset);
            }
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    /// The offset syncs readable now (the syncs topic lives on the primary by default,
    /// on the backup with `offset_syncs_location: target`), per primary partition.
    pub(super) fn live_syncs(
        &self,
        primary: Option<&KafkaClient>,
        backup: &KafkaClient,
        notes: &mut Vec<String>,
    ) -> HashMap<(String, i32), Vec<SyncPoint>> {
        let (cluster, topic) = self
            .ctx
            .topology
            .replication
            .offset_syncs_topic(self.from, self.to);
        let client = if cluster == self.to {
            Some(backup)
        } else if cluster == self.from {
            primary
        } else {
            None
        };
        let Some(client) = client else {
            notes.push(format!(
                "offset syncs from the journal only (`{topic}` lives on `{cluster}`, which does not answer)"
            ));
            return HashMap::new();
        };
        match client.read_offset_syncs(&topic, self.timeout) {
            Ok(syncs) => {
                let mut out: HashMap<(String, i32), Vec<SyncPoint>> = HashMap::new();
                for s in syncs {
                    out.entry((s.topic, s.partition))
                        .or_default()
                        .push(SyncPoint {
                            upstream: s.upstream,
                            downstream: s.downstream,
                        });
                }
                out
            }
            Err(e) => {
                notes.push(format!(
                    "offset syncs from the journal only: cannot read `{topic}` on `{cluster}` ({})",
                    first_line(&e.to_string())
                ));
                HashMap::new()
            }
        }
    }

    /// MM2's latest checkpoint of each in-scope (group, primary topic, partition), read
    /// from `<from>.checkpoints.internal` on the backup.
    pub(super) fn checkpoints(
        &self,
        backup: &KafkaClient,
        notes: &mut Vec<String>,
    ) -> HashMap<Key, Checkpoint> {
        let name = format!("{}.checkpoints.internal", self.from);
        let policy = self.ctx.topology.replication.policy;
        match backup.read_checkpoints(&name, self.timeout) {
            Ok(all) => {
                let mut out = HashMap::new();
                // Log order: a later checkpoint supersedes an earlier one.
                for cp in all {
                    if !self.wanted_group(&cp.group) {
                        continue;
                    }
                    let Some(topic) = source_topic(policy, self.from, &cp.topic) else {
                        continue;
                    };
                    if !common::in_scope_topic(self.ctx.topology, &topic) {
                        continue;
                    }
                    out.insert((cp.group.clone(), topic, cp.partition), cp);
                }
                out
            }
            Err(KafkaError::UnknownTopicOrPartition { .. }) => {
                notes.push(format!(
                    "no MM2 checkpoints topic `{name}` on `{}`: nothing to compare with",
                    self.to
                ));
                HashMap::new()
            }
            Err(e) => {
                notes.push(format!(
                    "cannot read MM2's checkpoints `{name}` on `{}` ({}): not used",
                    self.to,
                    first_line(&e.to_string())
                ));
                HashMap::new()
            }
        }
    }

    /// Positions read from the live primary, with the fingerprint of each last consumed
    /// record.
    pub(super) fn live_candidates(&self, primary: &KafkaClient) -> Result<Vec<Candidate>, Error> {
        let topology = self.ctx.topology;
        let mut out = Vec::new();
        for g in primary.list_groups(self.timeout)? {
            if !self.wanted_group(&g.group) {
                continue;
            }
            for (topic, partition, committed, _) in
                primary.committed_offsets(&g.group, self.timeout)?
            {
                if !common::in_scope_topic(topology, &topic) {
                    continue;
                }
                let mut fp = None;
                let mut note = None;
                if committed > 0 {
                    let last = committed - 1;
                    let from = (last - RUN_BEFORE as i64).max(0);
                    let recs =
                        primary.read_records(&topic, partition, from, committed, self.timeout)?;
                    fp = RecordedFingerprint::from_records(&recs, last);
                    if fp.is_none() {
                        note = Some(format!(
                            "record {last} (the last one consumed) is gone from `{}`: no fingerprint",
                            self.from
                        ));
                    }
                }
                out.push(Candidate {
                    group: g.group.clone(),
                    topic,
                    partition,
                    position: committed,
                    source: PositionSource::Live,
                    recorded_at: None,
                    fingerprint: fp,
                    floor: None,
                    note,
                    older_incarnation: None,
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition))
        });
        Ok(out)
    }

    /// Positions from the journal, or from MM2's checkpoints where those are fresher or
    /// the only ones.
    pub(super) fn recorded_candidates(
        &self,
        checkpoints: &HashMap<Key, Checkpoint>,
        source_ids: &BTreeMap<String, String>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Candidate>, Error> {
        let topology = self.ctx.topology;
        let mut recorded: BTreeMap<Key, crate::journal::GroupPositionRow> = BTreeMap::new();
        for r in self.ctx.journal.latest_group_positions(self.from, None)? {
            if self.wanted_group(&r.group) && common::in_scope_topic(topology, &r.topic) {
                recorded.insert((r.group.clone(), r.topic.clone(), r.partition), r);
            }
        }
        if recorded.is_empty() {
            notes.push(format!(
                "the journal holds no recorded position of `{}` (run `deltas.record` while the primary is up)",
                self.from
            ));
        }
        let keys: BTreeSet<Key> = recorded
            .keys()
            .cloned()
            .chain(checkpoints.keys().cloned())
            .collect();
        let mut out = Vec::new();
        for key in keys {
            let rec = recorded.get(&key);
            let cp = checkpoints.get(&key);
            let (group, topic, partition) = key.clone();
            // A position of an older incarnation of the topic describes another log: the
            // group is known to have consumed nothing of the current one. (A checkpoint
            // beside it cannot be told apart by incarnation either: not used.)
            let current = source_ids.get(&topic);
            if let Some(r) = rec.filter(|r| {
                dr::older_incarnation(r.topic_id.as_deref(), current.map(String::as_str))
            }) {
                out.push(Candidate {
                    group,
                    topic,
                    partition,
                    position: r.committed_offset,
                    source: PositionSource::Journal,
                    recorded_at: r.recorded_at.clone(),
                    fingerprint: None,
                    floor: None,
                    note: None,
                    older_incarnation: Some((
                        r.topic_id.clone().unwrap_or_default(),
                        current.cloned().unwrap_or_default(),
                    )),
                });
                continue;
            }
            match choose_source(rec.map(|r| r.committed_offset), cp.map(|c| c.upstream)) {
                Some(PositionSource::Journal) => {
                    let Some(r) = rec else { continue };
                    let (fp, note) = recorded_fingerprint(r);
                    out.push(Candidate {
                        group,
                        topic,
                        partition,
                        position: r.committed_offset,
                        source: PositionSource::Journal,
                        recorded_at: r.recorded_at.clone(),
                        fingerprint: fp,
                        floor: None,
                        note,
                        older_incarnation: None,
                    });
                }
                Some(PositionSource::Checkpoint) => {
                    let Some(c) = cp else { continue };
                    let note = rec.map(|r| {
                        format!(
                            "MM2's checkpoint (position {}) is fresher than the journal's ({}, recorded {}): used as is",
                            c.upstream,
                            r.committed_offset,
                            r.recorded_at.as_deref().unwrap_or("at an unknown time")
                        )
                    });
                    if let Some(n) = &note {
                        notes.push(format!(
                            "group `{group}` `{topic}` partition {partition}: {n}"
                        ));
                    }
                    out.push(Candidate {
                        group,
                        topic,
                        partition,
                        position: c.upstream,
                        source: PositionSource::Checkpoint,
                        recorded_at: None,
                        fingerprint: None,
                        floor: rec.map(|r| (r.committed_offset, recorded_fingerprint(r).0)),
                        note,
                        older_incarnation: None,
                    });
                }
                Some(PositionSource::Live) | None => {}
            }
        }
        Ok(out)
    }
}

/// The fingerprint a journal row recorded, or why it cannot be read.
pub(super) fn recorded_fingerprint(
    r: &crate::journal::GroupPositionRow,
) -> (Option<RecordedFingerprint>, Option<String>) {
    match &r.fingerprint {
        None => (None, None),
        Some(v) => match v.decode::<RecordedFingerprint>() {
            Ok(fp) => (Some(fp), None),
            Err(e) => (
                None,
                Some(format!("the recorded fingerprint cannot be read ({e})")),
            ),
        },
    }
}

/// Up to this many positions, the plan shows one line each; above, one line per group.
pub(super) const PLAN_POSITION_LINES: usize = 40;

/// And up to this many group lines.
pub(super) const PLAN_GROUP_LINES: usize = 40;

/// One line per group: how its positions translate, with the figures that matter.
pub(super) fn group_lines(report: &TranslationReport, run_id: i64) -> Vec<String> {
    let mut by_group: BTreeMap<&str, Vec<&TranslatedPosition>> = BTreeMap::new();
    for p in &report.positions {
        by_group.entry(p.group.as_str()).or_default().push(p);
    }
    let mut lines = Vec::new();
    for (group, positions) in by_group.iter().take(PLAN_GROUP_LINES) {
        let exact = positions.iter().filter(|p| p.exact).count();
        let dups: Option<i64> = positions.iter().map(|p| p.worst_case_duplicates).sum();
        let mut methods: BTreeMap<&str, usize> = BTreeMap::new();
        for p in positions {
            *methods.entry(method_word(p.method)).or_default() += 1;
        }
        let methods: Vec<String> = methods.iter().map(|(m, n)| format!("{n} {m}")).collect();
        lines.push(format!(
            "group `{group}`: {} position(s) from `{}` to `{}`, {exact} exact ({}); {}",
            positions.len(),
            report.from,
            report.to,
            methods.join(", "),
            match dups {
                Some(d) => format!("{d} duplicate(s) at most"),
                None => "duplicates not bounded".to_string(),
            }
        ));
    }
    if by_group.len() > PLAN_GROUP_LINES {
        lines.push(format!(
            "... and {} more group(s)",
            by_group.len() - PLAN_GROUP_LINES
        ));
    }
    lines.push(format!(
        "every one of the {} position(s) is in this step's output: `kafka-dr -o json runs show {run_id}`",
        report.positions.len()
    ));
    lines
}

/// The method in a word or two, for group summaries.
pub(super) fn method_word(m: Method) -> &'static str {
    match m {
        Method::SyncPoint => "at a sync point",
        Method::Fingerprint => "by fingerprint",
        Method::Conservative => "conservative",
        Method::LogStart => "at the log start",
        Method::NothingConsumed => "nothing consumed",
        Method::Checkpoint => "MM2 checkpoint",
        Method::Ambiguous => "identical records",
        Method::NewIncarnation => "topic recreated",
    }
}

pub(super) fn describe_method(p: &TranslatedPosition) -> String {
    let method = match p.method {
        Method::SyncPoint => "at a sync point, exact",
        Method::Fingerprint => "twin found by fingerprint, exact",
        Method::Conservative => "MM2's rule from the sync below",
        Method::LogStart => "no sync below: backup log start",
        Method::NothingConsumed => "nothing consumed",
        Method::Checkpoint => "MM2 checkpoint, as is",
        Method::Ambiguous => "identical records: the earliest twin, nothing skipped",
        Method::NewIncarnation => {
            "recorded for an older incarnation of the topic: ignored, the current incarnation's first copy"
        }
    };
    let method = if p.method.is_exact() && !p.exact {
        match p.position_source {
            PositionSource::Live => method.to_string(),
            _ => format!("{method} for the position as recorded (not proven now)"),
        }
    } else {
        method.to_string()
    };
    let dups = match (p.worst_case_duplicates, p.since_recording_at_most) {
        (Some(n), Some(since)) if since > 0 => format!(
            "{n} duplicate(s) at most (of them up to {since} if the group consumed on after its position was recorded)"
        ),
        (Some(n), _) => format!("{n} duplicate(s) at most"),
        (None, _) => "duplicates not bounded".to_string(),
    };
    let mut mm2 = Vec::new();
    if let Some(cp) = &p.mm2_checkpoint {
        mm2.push(format!(
            "MM2's checkpoint {} re-delivers {} more",
            cp.downstream, cp.redelivered
        ));
    }
    if let (Some(o), Some(d)) = (p.mm2_rule_offset, p.mm2_rule_redelivered) {
        mm2.push(format!("MM2's rule {o} re-delivers {d} more"));
    }
    let mm2 = if mm2.is_empty() {
        String::new()
    } else {
        format!("; {}", mm2.join(", "))
    };
    let clamp = match p.clamped_from {
        Some(from) if p.expired_skipped > 0 => format!(
            "; clamped from {from} to the backup's log start: {} expired record(s) skipped{}",
            p.expired_skipped,
            if p.expired_skipped_at_least < p.expired_skipped {
                " at most"
            } else {
                ""
            }
        ),
        Some(from) => format!("; clamped from {from} to the backup's last stable offset"),
        None => String::new(),
    };
    format!("{method}, {dups}{clamp}{mm2}")
}

// ---------------------------------------------------------------------------------------
// groups.translate
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TranslateParams {
    pub(super) from: String,
    pub(super) to: String,
    #[serde(default)]
    pub(super) groups: Option<Vec<String>>,
    pub(super) timeout_seconds: u64,
}

/// The `groups.translate` action.
#[derive(Debug)]
pub struct Translate {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) groups: Option<Vec<String>>,
    pub(super) timeout: Duration,
    /// Set by `apply` in this process (see `verify`).
    pub(super) applied: bool,
}

impl Translate {
    pub fn new(step: &StepDef) -> Result<Translate, Error> {
        let p: TranslateParams = super::params(step, TRANSLATE)?;
        if p.groups.as_ref().is_some_and(Vec::is_empty) {
            return Err(super::ActionError::Params {
                step: step.id.clone(),
                action: TRANSLATE,
                reason: "`groups` is empty\nhelp: list the groups to translate, or remove `groups` to translate every in-scope group".to_string(),
            }
            .into());
        }
        Ok(Translate {
            from: p.from,
            to: p.to,
            groups: p.groups,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
            applied: false,
        })
    }

    /// The translation of every wanted group, read-only.
    pub fn compute(&self, ctx: &StepContext<'_>) -> Result<TranslationReport, Error> {
        let from = common::resolve_cluster(ctx, &self.from)?;
        let to = common::resolve_cluster(ctx, &self.to)?;
        if from == to {
            return Err(Error::Usage(format!(
                "step `{}` ({TRANSLATE}): `from` and `to` both name cluster `{from}`\nhelp: give two different clusters (the defaults are the role words `primary` and `backup`)",
                ctx.step_id
            )));
        }
        Translator {
            ctx,
            from: &from,
            to: &to,
            only: self.groups.as_deref(),
            timeout: self.timeout,
        }
        .run()
    }
}

impl Action for Translate {
    fn name(&self) -> &'static str {
        TRANSLATE
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let report = self.compute(ctx)?;
        let mut plan = Plan::default();
        plan.changes.push(format!(
            "journal: keep the translation of {} position(s) of {} group(s) from `{}` to `{}` as this step's output (nothing is written to any cluster)",
            report.positions.len(),
            report.groups().len(),
            report.from,
            report.to
        ));
        plan.notes.extend(report.notes.iter().cloned());
        for w in report
            .positions
            .iter()
            .filter_map(|p| p.expired_text(&report.to))
        {
            ctx.reporter.warn(&w);
            plan.notes.push(format!("WARNING: {w}"));
        }
        if report.positions.len() > PLAN_POSITION_LINES {
            // A large estate: one line per group, not thousands of position lines; the
            // step's output (journal, `--output json`) keeps every position.
            plan.notes.extend(group_lines(&report, ctx.run_id));
        }
        for p in report
            .positions
            .iter()
            .filter(|_| report.positions.len() <= PLAN_POSITION_LINES)
        {
            plan.notes.push(format!(
                "group `{}` `{}`[{}]: `{}` position {} ({}) -> `{}` `{}`[{}] offset {} ({})",
                p.group,
                p.topic,
                p.partition,
                report.from,
                p.primary_position,
                match p.position_source {
                    PositionSource::Live => "live".to_string(),
                    PositionSource::Journal => format!(
                        "journal, recorded {}",
                        p.recorded_at.as_deref().unwrap_or("at an unknown time")
                    ),
                    PositionSource::Checkpoint => "MM2 checkpoint".to_string(),
                },
                report.to,
                p.target_topic,
                p.partition,
                p.backup_offset,
                describe_method(p)
            ));
        }
        plan.detail = serde_json::to_value(&report).map_err(|e| {
            Error::Io(format!(
                "cannot encode the translation of step `{}`: {e}",
                ctx.step_id
            ))
        })?;
        Ok(plan)
    }

    fn apply(
        &mut self,
        _ctx: &mut StepContext<'_>,
        plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        // The translation the operator saw in the plan is the one kept.
        self.applied = true;
        Ok(plan.detail.clone())
    }

    fn verify(&mut self, _ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        // Found started on resume (a process died after applying): its output, the
        // translation the commit reads, was never journaled. Not done: it is applied
        // again from the plan just made, and kept.
        if !self.applied {
            return Ok(Verdict::NotDone(
                "the translation of an interrupted attempt was not journaled: keeping it again"
                    .into(),
            ));
        }
        Ok(Verdict::Done)
    }
}

// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::Fixture;
    use serde_json::json;

    /// A translate step found started on resume was applied by a process that died
    /// before journaling its output: verify must not call it done, or the commit after it
    /// finds no translation (seen in the switchover's crash-after-every-step lab test).
    #[test]
    fn a_translation_found_started_on_resume_is_kept_again() {
        let f = Fixture::new();
        let step = crate::actions::test_support::step("translate", TRANSLATE, json!({}));
        let mut t = Translate::new(&step).expect("translate");
        let mut ctx = f.ctx("translate");
        let plan = Plan {
            detail: json!({"positions": []}),
            ..Default::default()
        };
        assert!(matches!(
            t.verify(&mut ctx, &plan).expect("verify"),
            Verdict::NotDone(_)
        ));
        assert_eq!(
            t.apply(&mut ctx, &plan).expect("apply"),
            json!({"positions": []})
        );
        assert_eq!(t.verify(&mut ctx, &plan).expect("verify"), Verdict::Done);
    }

    #[test]
    fn a_later_checkpoint_wins_over_the_recorded_position() {
        use PositionSource::*;
        assert_eq!(choose_source(Some(100), Some(150)), Some(Checkpoint));
        assert_eq!(choose_source(Some(100), Some(100)), Some(Journal));
        assert_eq!(choose_source(Some(100), Some(50)), Some(Journal));
        assert_eq!(choose_source(Some(100), None), Some(Journal));
        assert_eq!(choose_source(None, Some(7)), Some(Checkpoint));
        assert_eq!(choose_source(None, None), None);
    }

    #[test]
    fn checkpoint_topics_map_back_to_the_primary_name() {
        assert_eq!(
            source_topic(Policy::Identity, "dc1", "app.orders").as_deref(),
            Some("app.orders")
        );
        assert_eq!(
            source_topic(Policy::Prefix, "dc1", "dc1.app.orders").as_deref(),
            Some("app.orders")
        );
        assert_eq!(source_topic(Policy::Prefix, "dc1", "app.orders"), None);
    }

    #[test]
    fn an_out_of_scope_group_is_refused_by_name() {
        let f = Fixture::new();
        let ctx = f.ctx("translate");
        let only = vec!["other.group".to_string()];
        let t = Translator {
            ctx: &ctx,
            from: "dc1",
            to: "dc2",
            only: Some(&only),
            timeout: Duration::from_secs(1),
        };
        let e = t.run().unwrap_err().to_string();
        assert!(e.contains("group `other.group` is not in scope"), "{e}");
        assert!(e.contains("help:"), "{e}");
    }

    #[test]
    fn reports_round_trip_through_json() {
        let r = TranslationReport {
            from: "dc1".into(),
            to: "dc2".into(),
            primary_answered: false,
            positions: vec![TranslatedPosition {
                group: "app.g".into(),
                topic: "app.t".into(),
                partition: 3,
                target_topic: "app.t".into(),
                primary_position: 141,
                position_source: PositionSource::Journal,
                recorded_at: Some("2024-01-01T00:00:00.000Z".into()),
                backup_offset: 141,
                method: Method::Fingerprint,
                worst_case_duplicates: Some(0),
                lower_sync: Some(SyncPoint {
                    upstream: 100,
                    downstream: 100,
                }),
                upper_sync: None,
                mm2_checkpoint: Some(Mm2Checkpoint {
                    upstream: 141,
                    downstream: 101,
                    redelivered: 40,
                }),
                mm2_rule_offset: Some(101),
                mm2_rule_redelivered: Some(40),
                note: None,
                backup_log_start: 0,
                clamped_from: None,
                expired_skipped: 0,
                expired_skipped_at_least: 0,
                exact: false,
                since_recording_at_most: Some(359),
            }],
            notes: vec![],
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["positions"][0]["method"], "fingerprint");
        assert_eq!(v["positions"][0]["position_source"], "journal");
        let back: TranslationReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert!(describe_method(&r.positions[0]).contains("MM2's rule 101 re-delivers 40 more"));
        assert_eq!(r.positions[0].expired_text("dc2"), None);
        // A translation stored before the clamp fields existed still reads.
        let mut v = serde_json::to_value(&r).unwrap();
        for k in [
            "backup_log_start",
            "clamped_from",
            "expired_skipped",
            "expired_skipped_at_least",
        ] {
            v["positions"][0].as_object_mut().unwrap().remove(k);
        }
        assert_eq!(serde_json::from_value::<TranslationReport>(v).unwrap(), r);
        // A clamp is said, with its count.
        let mut p = r.positions[0].clone();
        (p.backup_offset, p.backup_log_start, p.clamped_from) = (300, 300, Some(141));
        (p.expired_skipped, p.expired_skipped_at_least) = (159, 159);
        let w = p.expired_text("dc2").unwrap();
        assert!(w.contains("159 record(s) it had not consumed expired on `dc2` (log start 300, the translation pointed at 141)"), "{w}");
        assert!(w.contains("NEVER"), "{w}");
        assert!(describe_method(&p)
            .contains("clamped from 141 to the backup's log start: 159 expired record(s) skipped"));
        p.expired_skipped_at_least = 100;
        assert!(p
            .expired_text("dc2")
            .unwrap()
            .contains("at most 159 (at least 100)"));
    }
}
