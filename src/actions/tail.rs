//! `tail.find` and `tail.quarantine`: when the old primary returns after a failover, find
//! the records it holds that never reached the new primary (its tail), and keep a verified
//! copy of them before anything is removed.
//!
//! `tail.find` (params `old_primary`, `new_primary`, `timeout_seconds`) works from the
//! promotion cut (`common::promotion_cut`: the new primary's log end `E` per partition
//! when it was promoted) and the offset syncs the journal recorded for the flow old ->
//! new primary. Per in-scope partition of the old primary, the cut is the first offset
//! that never reached the new primary: the new primary's last record below `E` is read,
//! and its twin (same fingerprint) is searched on the old primary between the bounding
//! syncs; the LAST twin in that range wins, and the cut is the twin + 1. When the new
//! primary held nothing of the partition, the cut is the old primary's log start (unless
//! syncs prove that records reached it). When no twin can be found the step fails,
//! naming the partition: a wrong cut loses or duplicates data. Tail = [cut, log end). It
//! writes nothing to any cluster: the result is its plan detail and step output.
//!
//! `tail.quarantine` (params `find_step`, `dir`, `topic`, `timeout_seconds`) streams every
//! tail record into `<dir>/run-<run>/tail.jsonl` (JSON Lines, mode 0600) with a
//! `manifest.json` beside it (per partition: offsets, count, bytes, timestamps, sha256 of
//! its lines), both written to a temporary file, fsynced and renamed, so a crash never
//! leaves a file that looks complete. A verified manifest that matches the tail is never
//! rewritten (a resumed step quarantines nothing twice); anything else is rewritten from
//! scratch. With `topic`, the records are also copied to that topic on the new primary
//! (idempotent: records already copied by this run are not produced again). `verify`
//! re-reads the file, checks it against the manifest and the tail, and records the
//! manifest in the journal (`record_quarantine`).
//!
//! This file must not delete anything on any cluster (`truncate` does, after checking the
//! quarantine with `verify_quarantine`). `show` and `QUARANTINE_FORMAT_DOC` serve
//! `kafka-dr tail show`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::common;
use super::translation::SyncPoint;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::{Journal, StepState};
use crate::kafka::{fingerprint, Fingerprint, KafkaClient, ProduceRecord, Record, RUN_BEFORE};
use crate::runbook::StepDef;
use crate::topology::Policy;

pub const FIND: &str = "tail.find";
pub const QUARANTINE: &str = "tail.quarantine";

/// The `format` of every manifest this version writes.
pub const MANIFEST_FORMAT: &str = "kafka-dr-quarantine/1";

/// What `bytes` counts, as written in every manifest.
pub const BYTES_COUNTED: &str =
    "raw bytes of key + value + header names + header values (before base64; null counts 0)";

/// The quarantine file format, for the man page of `kafka-dr tail show`: plain text, no
/// line starts with `.` or `'` and there is no backslash, so it can go into a roff `.nf`
/// block as is.
pub const QUARANTINE_FORMAT_DOC: &str = r#"QUARANTINE FILES
tail.quarantine writes, per run, into <dir>/run-<RUN>/ (default <dir>: the
folder quarantine/ beside the journal file), both files mode 0600:

  tail.jsonl     the tail records, JSON Lines: one record per line, UTF-8,
                 each line ending with a newline, ordered by topic, then
                 partition, then offset.
  manifest.json  what tail.jsonl holds, with checksums.

Each line of tail.jsonl is one JSON object with exactly these fields, in
this order:

  topic         string   the topic on the old primary
  partition     integer  the partition
  offset        integer  the record's offset on the old primary
  timestamp_ms  integer  the record's timestamp (ms since the epoch, -1 if none)
  key           string   the key, base64 (standard alphabet, padded), or null
  value         string   the value, base64 (standard alphabet, padded), or null
  headers       array    the headers in record order, each a two-item array
                         [name, value]: name a string, value base64 or null

manifest.json is one JSON object:

  format         "kafka-dr-quarantine/1"
  run_id         the run that wrote it; step_id, find_step: its step ids
  cluster        the old primary the records were read from
  new_primary    the cluster that holds the history
  file           absolute path of tail.jsonl
  file_sha256    lowercase hex SHA-256 of the whole of tail.jsonl
  file_bytes     size of tail.jsonl in bytes
  records        number of lines (records)
  bytes          sum of the partitions' bytes
  bytes_counted  what bytes counts: raw key + value + header names + header
                 values, before base64, a null counting 0
  written_at_ms  when it was written (ms since the epoch)
  partitions     one object per partition of the old primary that was
                 examined, also those without a tail:
    topic, partition
    cut            first offset that never reached the new primary
    log_end        the old primary's log end when the tail was found
    tail_count     log_end - cut: offsets in the tail
    count          records written (tail_count - offset_gaps)
    offset_gaps    offsets of the tail without a record (transaction
                   markers); 0 on topics without transactions
    first_offset, last_offset              of the records written, or null
    first_timestamp_ms, last_timestamp_ms  of the first and last record
    min_timestamp_ms, max_timestamp_ms     the time range, or null
    bytes          as bytes_counted says, for this partition
    sha256         lowercase hex SHA-256 of this partition's lines: their
                   exact bytes, each with its trailing newline (the
                   SHA-256 of nothing when count is 0)

To check a quarantine by hand: sha256sum tail.jsonl gives file_sha256;
the lines of one partition, in file order, hashed together give its
sha256. To replay a record, decode key, value and header values from
base64 and produce them with the same timestamp and partition.
"#;

fn backup_word() -> String {
    "backup".to_string()
}
fn primary_word() -> String {
    "primary".to_string()
}
fn find_word() -> String {
    "tail-find".to_string()
}
fn thirty() -> u64 {
    30
}

// ---------------------------------------------------------------------------------------
// The tail, as tail.find stores it
// ---------------------------------------------------------------------------------------

/// How a partition's cut was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CutMethod {
    /// The twin of the new primary's last replicated record was found by fingerprint
    /// between the bounding offset syncs.
    Fingerprint,
    /// An offset sync names the twin exactly (checked by fingerprint when the twin is
    /// still on the old primary).
    SyncPoint,
    /// The new primary held no record of the partition at the promotion: everything on
    /// the old primary is tail.
    NothingReplicated,
    /// The partition did not exist on the new primary at the promotion.
    NotMirrored,
    /// The old primary's partition holds no record: no tail.
    OldPrimaryEmpty,
    /// Several old-primary records share the fingerprint of the new primary's last
    /// replicated record, and the runs of records before them do not tell which is its
    /// twin: the cut is after the EARLIEST, so the tail may hold records the new primary
    /// also has (quarantined twice over) but never leaves one out.
    Ambiguous,
}

/// One partition of the old primary: where its tail starts and ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionTail {
    /// The topic on the old primary.
    pub topic: String,
    pub partition: i32,
    /// The topic's name on the new primary (replication policy).
    pub new_primary_topic: String,
    /// The first offset on the old primary that never reached the new primary.
    pub cut: i64,
    /// The old primary's log start and log end (fresh read).
    pub log_start: i64,
    pub log_end: i64,
    /// Offsets in the tail: `log_end - max(cut, log_start)`, never negative.
    pub tail_count: i64,
    pub method: CutMethod,
    /// The old primary's offset of the twin of the new primary's last replicated record.
    pub twin_found_at: Option<i64>,
    /// How many records of the search range had that fingerprint (the last one is used).
    pub twins_in_range: usize,
    /// The new primary's offset of its last replicated record (below `new_primary_end`).
    pub new_primary_last: Option<i64>,
    /// The new primary's log start and log end at the promotion (`None`: no partition).
    pub new_primary_start: Option<i64>,
    pub new_primary_end: Option<i64>,
    /// The old-primary range searched for the twin: `[from, until)`.
    pub search_from: Option<i64>,
    pub search_until: Option<i64>,
    pub lower_sync: Option<SyncPoint>,
    pub upper_sync: Option<SyncPoint>,
    /// Tail records already gone from the old primary (its log start is past the cut).
    pub gone_before_log_start: i64,
    pub note: Option<String>,
}

impl PartitionTail {
    /// The first offset of the tail that is still on the old primary.
    pub fn tail_start(&self) -> i64 {
        self.cut.max(self.log_start)
    }

    pub fn has_tail(&self) -> bool {
        self.tail_count > 0
    }
}

/// The output of `tail.find` (its plan detail and step output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailReport {
    pub old_primary: String,
    pub new_primary: String,
    /// The run that promoted the new primary, and when its snapshot was taken.
    pub promotion_run: i64,
    pub promotion_taken_at: String,
    /// Sorted by topic, then partition.
    pub partitions: Vec<PartitionTail>,
    pub partitions_with_tail: usize,
    pub tail_records: i64,
    pub notes: Vec<String>,
}

impl TailReport {
    fn totals(&mut self) {
        self.partitions_with_tail = self.partitions.iter().filter(|p| p.has_tail()).count();
        self.tail_records = self.partitions.iter().map(|p| p.tail_count).sum();
    }
}

// ---------------------------------------------------------------------------------------
// The cut, without Kafka
// ---------------------------------------------------------------------------------------

/// What is known of one partition before the twin search.
#[derive(Debug, Clone)]
struct CutInput {
    old_start: i64,
    old_end: i64,
    /// The new primary's log start and end at the promotion; `None`: no such partition.
    new_start: Option<i64>,
    new_end: Option<i64>,
    /// Offset syncs old -> new of the partition, any order.
    syncs: Vec<SyncPoint>,
}

/// The cut of one partition and how it was found.
#[derive(Debug, Clone, PartialEq)]
struct Cut {
    cut: i64,
    method: CutMethod,
    twin: Option<i64>,
    twins: usize,
    new_last: Option<i64>,
    search: Option<(i64, i64)>,
    lower: Option<SyncPoint>,
    upper: Option<SyncPoint>,
    note: Option<String>,
}

impl Cut {
    fn simple(cut: i64, method: CutMethod) -> Cut {
        Cut {
            cut,
            method,
            twin: None,
            twins: 0,
            new_last: None,
            search: None,
            lower: None,
            upper: None,
            note: None,
        }
    }
}

/// The sync that names new-primary offset `d` exactly (the highest upstream if several).
fn sync_at(syncs: &[SyncPoint], d: i64) -> Option<SyncPoint> {
    syncs
        .iter()
        .filter(|s| s.downstream == d)
        .max_by_key(|s| s.upstream)
        .copied()
}

/// The syncs bounding the twin of new-primary record `n`: the one copied last at or
/// before `n` (highest downstream offset), and the first one copied after it.
fn bounds(syncs: &[SyncPoint], n: i64) -> (Option<SyncPoint>, Option<SyncPoint>) {
    let lower = syncs
        .iter()
        .filter(|s| s.downstream <= n)
        .max_by_key(|s| (s.downstream, s.upstream))
        .copied();
    let upper = syncs
        .iter()
        .filter(|s| s.downstream > n)
        .min_by_key(|s| (s.downstream, s.upstream))
        .copied();
    (lower, upper)
}

/// Compute the cut of one partition.
///
/// - `last_record()`: the new primary's last record below its promotion log end, as
///   (offset, fingerprint), or `None` when none can be read any more.
/// - `find_twins(fp, from, until)`: the offsets of the old primary's records in
///   `[from, until)` whose fingerprint is `fp`, ascending.
/// - `run_matches(n, candidate, not_before)`: whether the records before old-primary
///   `candidate` are the twins of those in `[not_before, n)` on the new primary (see
///   `translation::run_found_before`).
///
/// Several twins: the run before them decides; if it cannot, the EARLIEST is used (a
/// later one would leave the records between out of both the new primary and the
/// quarantine, then delete them).
///
/// `Ok(Err(reason))`: the cut cannot be known exactly (the caller fails, naming the
/// partition).
fn compute_cut<E>(
    inp: &CutInput,
    last_record: impl FnOnce() -> Result<Option<(i64, Fingerprint)>, E>,
    mut find_twins: impl FnMut(&Fingerprint, i64, i64) -> Result<Vec<i64>, E>,
    mut run_matches: impl FnMut(i64, i64, i64) -> Result<bool, E>,
) -> Result<Result<Cut, String>, E> {
    if inp.old_start >= inp.old_end {
        return Ok(Ok(Cut::simple(inp.old_end, CutMethod::OldPrimaryEmpty)));
    }
    let (Some(start), Some(end)) = (inp.new_start, inp.new_end) else {
        let mut c = Cut::simple(inp.old_start, CutMethod::NotMirrored);
        c.note = Some(
            "the partition did not exist on the new primary at the promotion: all of it is tail"
                .into(),
        );
        return Ok(Ok(c));
    };
    let exact_last = |why: &str| -> Result<Cut, String> {
        // The only proof left: a sync naming the new primary's offset `end - 1`.
        match sync_at(&inp.syncs, end - 1).filter(|_| end > 0) {
            Some(s) => {
                let mut c = Cut::simple(s.upstream + 1, CutMethod::SyncPoint);
                c.twin = Some(s.upstream);
                c.new_last = Some(end - 1);
                c.lower = Some(s);
                c.note = Some(format!(
                    "{why}; offset sync {} -> {} names the last replicated record",
                    s.upstream, s.downstream
                ));
                Ok(c)
            }
            None => Err(why.to_string()),
        }
    };
    if end <= start {
        // The new primary held nothing of the partition at the promotion.
        if let Some(s) = inp
            .syncs
            .iter()
            .filter(|s| s.downstream < end)
            .max_by_key(|s| (s.downstream, s.upstream))
        {
            return Ok(exact_last(&format!(
                "the new primary held no record at the promotion (log start = log end = {end}), but offset sync {} -> {} proves records reached it before they were deleted there, and no sync names its offset {}",
                s.upstream,
                s.downstream,
                end - 1
            )));
        }
        let mut c = Cut::simple(inp.old_start, CutMethod::NothingReplicated);
        if end > 0 {
            c.note = Some(format!(
                "the new primary held no record at the promotion (its log started at {end}) and no offset sync says any reached it: all of the partition is tail"
            ));
        }
        return Ok(Ok(c));
    }
    let Some((n, fp)) = last_record()? else {
        return Ok(exact_last(&format!(
            "the new primary's last replicated record (below offset {end}) cannot be read any more (deleted since the promotion?)"
        )));
    };
    let (lower, upper) = bounds(&inp.syncs, n);
    if let Some(l) = lower.filter(|l| l.downstream == n) {
        // The sync names the twin. Check it by fingerprint while it is still there.
        let mut c = Cut::simple(l.upstream + 1, CutMethod::SyncPoint);
        c.twin = Some(l.upstream);
        c.twins = 1;
        c.new_last = Some(n);
        c.lower = lower;
        c.upper = upper;
        if l.upstream < inp.old_start {
            c.note = Some(format!(
                "offset sync {} -> {n} names the twin; it is gone from the old primary (log start {}), so it was not checked by fingerprint",
                l.upstream, inp.old_start
            ));
            return Ok(Ok(c));
        }
        let found = find_twins(&fp, l.upstream, l.upstream + 1)?;
        if found.is_empty() {
            return Ok(Err(format!(
                "offset sync {} -> {n} says the old primary's record {} is the new primary's record {n}, but their fingerprints differ (was the topic recreated?)",
                l.upstream, l.upstream
            )));
        }
        c.search = Some((l.upstream, l.upstream + 1));
        return Ok(Ok(c));
    }
    let from = lower
        .map(|l| l.upstream)
        .unwrap_or(inp.old_start)
        .max(inp.old_start);
    let until = upper
        .map(|u| u.upstream + 1)
        .filter(|u| *u > from)
        .unwrap_or(inp.old_end)
        .min(inp.old_end);
    let range = format!("[{from}, {until})");
    if from >= until {
        return Ok(Err(format!(
            "the offset syncs bound the twin of the new primary's record {n} to offsets the old primary no longer holds (log {}..{})",
            inp.old_start, inp.old_end
        )));
    }
    let found = find_twins(&fp, from, until)?;
    let Some(&first) = found.first() else {
        return Ok(Err(format!(
            "no record in {range} on the old primary has the fingerprint of the new primary's last replicated record {n} (timestamp {})",
            fp.timestamp_ms
        )));
    };
    let mut by_run = Vec::new();
    if found.len() > 1 {
        // No MM2 restart between the lower sync's copy and `n` (see run_found_before).
        let not_before = lower.map(|l| l.downstream).or(inp.new_start).unwrap_or(0);
        for &t in &found {
            if run_matches(n, t, not_before)? {
                by_run.push(t);
            }
        }
    }
    let (twin, method, note) = match by_run.as_slice() {
        _ if found.len() == 1 => (first, CutMethod::Fingerprint, None),
        [one] => (
            *one,
            CutMethod::Fingerprint,
            Some(format!(
                "{} records in {range} have that fingerprint (offsets {found:?}); only {one} is preceded by the new primary's records before {n}: it is the twin",
                found.len()
            )),
        ),
        many => {
            let pick = many.first().copied().unwrap_or(first);
            (
                pick,
                CutMethod::Ambiguous,
                Some(format!(
                    "{} records in {range} have that fingerprint (offsets {found:?}) and the records before them do not tell which is the twin: the cut follows the earliest ({pick}), so the tail (and the quarantine) may also hold records the new primary has",
                    found.len()
                )),
            )
        }
    };
    Ok(Ok(Cut {
        cut: twin + 1,
        method,
        twin: Some(twin),
        twins: found.len(),
        new_last: Some(n),
        search: Some((from, until)),
        lower,
        upper,
        note,
    }))
}

// ---------------------------------------------------------------------------------------
// tail.find
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindParams {
    #[serde(default = "backup_word")]
    old_primary: String,
    #[serde(default = "primary_word")]
    new_primary: String,
    #[serde(default = "thirty")]
    timeout_seconds: u64,
}

/// The `tail.find` action.
#[derive(Debug)]
pub struct Find {
    old_primary: String,
    new_primary: String,
    timeout: Duration,
}

impl Find {
    pub fn new(step: &StepDef) -> Result<Find, Error> {
        let p: FindParams = super::params(step, FIND)?;
        Ok(Find {
            old_primary: p.old_primary,
            new_primary: p.new_primary,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// The tail of every in-scope partition of the old primary. Reads only.
    pub fn compute(&self, ctx: &StepContext<'_>) -> Result<TailReport, Error> {
        let old = common::resolve_cluster(ctx, &self.old_primary)?;
        let new = common::resolve_cluster(ctx, &self.new_primary)?;
        if old == new {
            return Err(Error::Usage(format!(
                "step `{}` ({FIND}): `old_primary` and `new_primary` both name cluster `{old}`\nhelp: give two different clusters (the defaults are the role words `backup` and `primary`)",
                ctx.step_id
            )));
        }
        let pc = common::promotion_cut(ctx.topology, ctx.journal)?;
        if pc.new_primary != new || pc.old_primary != old {
            return Err(Error::Usage(format!(
                "step `{}` ({FIND}): run {} promoted `{}` over `{}`, but this step names `{new}` as the new primary and `{old}` as the old one\nhelp: set `new_primary: {}` and `old_primary: {}` (or use the role words `primary` and `backup`)",
                ctx.step_id, pc.run_id, pc.new_primary, pc.old_primary, pc.new_primary, pc.old_primary
            )));
        }
        let timeout = self.timeout;
        let old_client = common::kafka(ctx.topology, &old, timeout)?;
        let new_client = common::kafka(ctx.topology, &new, timeout)?;
        let policy = ctx.topology.replication.policy;
        let mut notes = Vec::new();
        let mut parts = common::in_scope_partitions(ctx.topology, &old_client, timeout)?;
        if policy == Policy::Prefix {
            // Replicas of the new primary's own topics (an earlier reverse flow) are not
            // the old primary's data.
            let before = parts.len();
            parts.retain(|(t, _)| !t.starts_with(&format!("{new}.")));
            if parts.len() < before {
                notes.push(format!(
                    "{} partition(s) of `{new}.*` replica topics on `{old}` were left out: they are copies of `{new}`'s own topics",
                    before - parts.len()
                ));
            }
        }
        let marks = old_client.watermarks(&parts, timeout)?;
        let mut partitions = Vec::with_capacity(parts.len());
        for w in marks {
            if ctx.is_interrupted() {
                return Err(super::ActionError::Interrupted {
                    during: format!("finding the tail of `{}` on `{old}`", w.topic),
                }
                .into());
            }
            let new_topic = policy.target_topic(&old, &w.topic);
            let key = (new_topic.clone(), w.partition);
            let syncs: Vec<SyncPoint> = ctx
                .journal
                .offset_sync_history(&old, &new, &w.topic, w.partition)?
                .into_iter()
                .map(|r| SyncPoint {
                    upstream: r.upstream_offset,
                    downstream: r.downstream_offset,
                })
                .collect();
            let inp = CutInput {
                old_start: w.earliest,
                old_end: w.latest,
                new_start: pc.new_primary_start.get(&key).copied(),
                new_end: pc.new_primary_end.get(&key).copied(),
                syncs,
            };
            let interrupted = || ctx.is_interrupted();
            let cut = compute_cut(
                &inp,
                || last_record_below(&new_client, &new_topic, w.partition, &inp, timeout),
                |fp, from, until| {
                    twins(
                        &old_client,
                        &w.topic,
                        w.partition,
                        fp,
                        from,
                        until,
                        timeout,
                        &interrupted,
                    )
                },
                |n, candidate, not_before| {
                    // The old primary (MM2's source) has the exact run before a candidate;
                    // the new primary (its target) may hold it spread out by re-copies.
                    let old_from = (candidate - RUN_BEFORE as i64).max(inp.old_start);
                    let mut run: Vec<Fingerprint> = old_client
                        .read_records(&w.topic, w.partition, old_from, candidate + 1, timeout)?
                        .iter()
                        .map(fingerprint)
                        .collect();
                    run.reverse();
                    // The candidate itself, then the run before it.
                    let Some(last) = (!run.is_empty()).then(|| run.remove(0)) else {
                        return Ok(true);
                    };
                    let new_from = (n - crate::actions::translation::RUN_LOOKBACK as i64)
                        .max(not_before)
                        .max(inp.new_start.unwrap_or(0));
                    let before: Vec<Fingerprint> = new_client
                        .read_records(&new_topic, w.partition, new_from, n, timeout)?
                        .iter()
                        .map(fingerprint)
                        .collect();
                    Ok::<bool, Error>(crate::actions::translation::run_found_before(
                        &run, &last, &before,
                    ))
                },
            )?;
            if ctx.is_interrupted() {
                return Err(super::ActionError::Interrupted {
                    during: format!(
                        "searching `{}` partition {} on `{old}` for the cut",
                        w.topic, w.partition
                    ),
                }
                .into());
            }
            let cut = cut.map_err(|reason| {
                Error::Io(format!(
                    "cannot find the cut of `{}` partition {} on `{old}` (new primary `{new}`, `{new_topic}` partition {}): {reason}; nothing was changed\nhelp: a guessed cut would lose or duplicate data; check with `kafka-dr runs show {}` that the promotion snapshot is the right one and that `deltas record` ran while `{old}` was primary, then quarantine this partition by hand or exclude its topic from the topology",
                    w.topic, w.partition, w.partition, pc.run_id
                ))
            })?;
            let tail_start = cut.cut.max(w.earliest);
            let p = PartitionTail {
                topic: w.topic.clone(),
                partition: w.partition,
                new_primary_topic: new_topic,
                cut: cut.cut,
                log_start: w.earliest,
                log_end: w.latest,
                tail_count: (w.latest - tail_start).max(0),
                method: cut.method,
                twin_found_at: cut.twin,
                twins_in_range: cut.twins,
                new_primary_last: cut.new_last,
                new_primary_start: inp.new_start,
                new_primary_end: inp.new_end,
                search_from: cut.search.map(|s| s.0),
                search_until: cut.search.map(|s| s.1),
                lower_sync: cut.lower,
                upper_sync: cut.upper,
                gone_before_log_start: (w.earliest - cut.cut).max(0),
                note: cut.note,
            };
            if p.has_tail() {
                ctx.reporter.status(
                    "Tail",
                    &format!(
                        "`{}`[{}] on `{old}`: {} record(s) at [{}, {})",
                        p.topic,
                        p.partition,
                        p.tail_count,
                        p.tail_start(),
                        p.log_end
                    ),
                );
            }
            partitions.push(p);
        }
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let mut report = TailReport {
            old_primary: old,
            new_primary: new,
            promotion_run: pc.run_id,
            promotion_taken_at: pc.taken_at,
            partitions,
            partitions_with_tail: 0,
            tail_records: 0,
            notes,
        };
        report.totals();
        Ok(report)
    }
}

/// The new primary's last record below its promotion log end, searched backwards in
/// growing windows (the very last offsets may be transaction markers).
fn last_record_below(
    client: &KafkaClient,
    topic: &str,
    partition: i32,
    inp: &CutInput,
    timeout: Duration,
) -> Result<Option<(i64, Fingerprint)>, Error> {
    let (Some(start), Some(end)) = (inp.new_start, inp.new_end) else {
        return Ok(None);
    };
    let mut width = 1i64;
    let mut until = end;
    while until > start {
        let from = (until - width).max(start);
        let recs = client.read_records(topic, partition, from, until, timeout)?;
        if let Some(r) = recs.iter().rev().find(|r| r.offset < end) {
            return Ok(Some((r.offset, fingerprint(r))));
        }
        until = from;
        width = (width * 16).min(10_000);
    }
    Ok(None)
}

/// The offsets of the records of `[from, until)` whose fingerprint is `fp`, ascending.
#[allow(clippy::too_many_arguments)]
pub(crate) fn twins(
    client: &KafkaClient,
    topic: &str,
    partition: i32,
    fp: &Fingerprint,
    from: i64,
    until: i64,
    timeout: Duration,
    interrupted: &dyn Fn() -> bool,
) -> Result<Vec<i64>, Error> {
    let mut found = Vec::new();
    client.for_each_record(topic, partition, from, until, timeout, |r| {
        if r.timestamp_ms == fp.timestamp_ms
            && r.partition == fp.partition
            && fingerprint(&r) == *fp
        {
            found.push(r.offset);
        }
        if interrupted() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(found)
}

fn encode<T: Serialize>(value: &T, what: &str) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::Io(format!("cannot encode {what}: {e}")))
}

impl Action for Find {
    fn name(&self) -> &'static str {
        FIND
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let report = self.compute(ctx)?;
        let mut plan = Plan::default();
        plan.changes.push(format!(
            "journal: keep the cut and tail of {} partition(s) of `{}` as this step's output (nothing is written to any cluster)",
            report.partitions.len(),
            report.old_primary
        ));
        plan.notes.push(format!(
            "promotion cut: run {} (`{}` snapshot taken {})",
            report.promotion_run, report.new_primary, report.promotion_taken_at
        ));
        plan.notes.extend(report.notes.iter().cloned());
        plan.notes.push(format!(
            "tail: {} record(s) in {} of {} partition(s) of `{}`",
            report.tail_records,
            report.partitions_with_tail,
            report.partitions.len(),
            report.old_primary
        ));
        for p in &report.partitions {
            if p.has_tail() || p.note.is_some() {
                plan.notes.push(describe(p, &report));
            }
        }
        let without: Vec<String> = report
            .partitions
            .iter()
            .filter(|p| !p.has_tail())
            .map(|p| format!("`{}`[{}]", p.topic, p.partition))
            .collect();
        if !without.is_empty() {
            const SHOWN: usize = 20;
            let more = without.len().saturating_sub(SHOWN);
            plan.notes.push(format!(
                "{} partition(s) have no tail (tail size 0: everything on `{}` reached `{}`): {}{}",
                without.len(),
                report.old_primary,
                report.new_primary,
                without[..without.len().min(SHOWN)].join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        plan.detail = encode(&report, "the tail")?;
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let mut report: TailReport = decode(plan.detail.clone(), ctx.step_id, ctx.step_id)?;
        // A fresh read of the log ends: the tail is [cut, log end) as it stands now.
        let client = common::kafka(ctx.topology, &report.old_primary, self.timeout)?;
        let parts: Vec<(String, i32)> = report
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        let marks = client.watermarks(&parts, self.timeout)?;
        for (p, w) in report.partitions.iter_mut().zip(marks) {
            if (w.earliest, w.latest) != (p.log_start, p.log_end) {
                let msg = format!(
                    "`{}`[{}] on `{}` moved since the plan: log {}..{} then, {}..{} now (is the `app-writes` fence in place?)",
                    p.topic, p.partition, report.old_primary, p.log_start, p.log_end, w.earliest, w.latest
                );
                ctx.reporter.warn(&msg);
                report.notes.push(msg);
                p.log_start = w.earliest;
                p.log_end = w.latest;
                p.tail_count = (w.latest - p.tail_start()).max(0);
                p.gone_before_log_start = (w.earliest - p.cut).max(0);
            }
        }
        report.totals();
        encode(&report, "the tail")
    }

    fn verify(&mut self, _ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        Ok(Verdict::Done)
    }
}

fn describe(p: &PartitionTail, r: &TailReport) -> String {
    let how = match p.method {
        CutMethod::Fingerprint => format!(
            "twin of `{}` offset {} found at {} by fingerprint",
            r.new_primary,
            p.new_primary_last.unwrap_or(-1),
            p.twin_found_at.unwrap_or(-1)
        ),
        CutMethod::SyncPoint => format!(
            "offset sync {} -> {} names the twin of `{}`'s last replicated record",
            p.twin_found_at.unwrap_or(-1),
            p.new_primary_last.unwrap_or(-1),
            r.new_primary
        ),
        CutMethod::NothingReplicated => format!("`{}` held nothing of it", r.new_primary),
        CutMethod::NotMirrored => format!("not on `{}` at the promotion", r.new_primary),
        CutMethod::OldPrimaryEmpty => "empty".to_string(),
        CutMethod::Ambiguous => format!(
            "identical records: after the earliest of {} twins of `{}` offset {}, at {}",
            p.twins_in_range,
            r.new_primary,
            p.new_primary_last.unwrap_or(-1),
            p.twin_found_at.unwrap_or(-1)
        ),
    };
    let mut s = format!(
        "`{}`[{}]: cut {} ({how}); tail {} record(s) at [{}, {})",
        p.topic,
        p.partition,
        p.cut,
        p.tail_count,
        p.tail_start(),
        p.log_end
    );
    if p.gone_before_log_start > 0 {
        s.push_str(&format!(
            "; {} tail record(s) before the log start {} are already gone",
            p.gone_before_log_start, p.log_start
        ));
    }
    if let Some(n) = &p.note {
        s.push_str(&format!("; {n}"));
    }
    s
}

fn decode<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    me: &str,
    from_step: &str,
) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| {
        Error::Usage(format!(
            "step `{me}`: cannot read what step `{from_step}` stored: {e}\nhelp: run the failback again (a new run) so that step `{from_step}` stores it again"
        ))
    })
}

/// What step `step_id` of the current run stored: its output, else (a resumed step, or
/// under `--dry-run`) the detail of its plan. `action` is the action it must be.
pub(crate) fn step_result(
    ctx: &StepContext<'_>,
    step_id: &str,
    action: &str,
    me: &str,
) -> Result<serde_json::Value, Error> {
    let steps = ctx.journal.steps(ctx.run_id)?;
    let Some(step) = steps.iter().find(|s| s.step_id == step_id) else {
        return Err(Error::Usage(format!(
            "step `{}` ({me}): run {} has no step `{step_id}`\nhelp: set the parameter naming it to the id of the run's `{action}` step",
            ctx.step_id, ctx.run_id
        )));
    };
    if step.action != action {
        return Err(Error::Usage(format!(
            "step `{}` ({me}): step `{step_id}` is a `{}` step, not `{action}`\nhelp: name the run's `{action}` step",
            ctx.step_id, step.action
        )));
    }
    let plan_detail = || step.plan.as_ref().and_then(|p| p.get("detail")).cloned();
    let value = match (&step.output, step.state) {
        (Some(out), _) => Some(out.clone()),
        (None, StepState::Finished) => plan_detail(),
        (None, _) if ctx.dry_run => plan_detail(),
        _ => None,
    };
    value
        .filter(|v| !v.is_null())
        .ok_or_else(|| {
            Error::Usage(format!(
                "step `{}` ({me}): step `{step_id}` has stored nothing in run {} yet\nhelp: put the `{action}` step before this one in the runbook",
                ctx.step_id, ctx.run_id
            ))
        })
}

/// The tail stored by the `tail.find` step `find_step` of the current run.
pub(crate) fn load_tail(
    ctx: &StepContext<'_>,
    find_step: &str,
    me: &str,
) -> Result<TailReport, Error> {
    let value = step_result(ctx, find_step, FIND, me)?;
    decode(value, ctx.step_id, find_step)
}

// ---------------------------------------------------------------------------------------
// The quarantine file and manifest
// ---------------------------------------------------------------------------------------

/// One partition in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPartition {
    pub topic: String,
    pub partition: i32,
    pub cut: i64,
    pub log_end: i64,
    pub tail_count: i64,
    pub count: u64,
    pub offset_gaps: i64,
    pub first_offset: Option<i64>,
    pub last_offset: Option<i64>,
    pub first_timestamp_ms: Option<i64>,
    pub last_timestamp_ms: Option<i64>,
    pub min_timestamp_ms: Option<i64>,
    pub max_timestamp_ms: Option<i64>,
    pub bytes: u64,
    pub sha256: String,
}

/// `manifest.json`: what a quarantine file holds (see `QUARANTINE_FORMAT_DOC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub run_id: i64,
    pub step_id: String,
    pub find_step: String,
    pub cluster: String,
    pub new_primary: String,
    pub file: String,
    pub file_sha256: String,
    pub file_bytes: u64,
    pub records: u64,
    pub bytes: u64,
    pub bytes_counted: String,
    pub written_at_ms: i64,
    pub partitions: Vec<ManifestPartition>,
}

/// One line of tail.jsonl, fields in the documented order.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
}

fn b64(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| BASE64.encode(b))
}

fn record_bytes(r: &Record) -> u64 {
    let len = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, |b| b.len() as u64);
    len(&r.key)
        + len(&r.value)
        + r.headers
            .iter()
            .map(|(k, v)| k.len() as u64 + len(v))
            .sum::<u64>()
}

/// The exact bytes of a record's line, trailing newline included.
fn line_bytes(r: &Record) -> Result<Vec<u8>, serde_json::Error> {
    let line = Line {
        topic: r.topic.clone(),
        partition: r.partition,
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: b64(r.key.as_deref()),
        value: b64(r.value.as_deref()),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), b64(v.as_deref())))
            .collect(),
    };
    let mut out = serde_json::to_vec(&line)?;
    out.push(b'\n');
    Ok(out)
}

/// A line read back, decoded into a record.
fn parse_line(bytes: &[u8]) -> Result<Record, String> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line: Line = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let dec = |s: Option<String>, what: &str| -> Result<Option<Vec<u8>>, String> {
        s.map(|s| {
            BASE64
                .decode(s.as_bytes())
                .map_err(|e| format!("{what} is not base64: {e}"))
        })
        .transpose()
    };
    let mut headers = Vec::with_capacity(line.headers.len());
    for (k, v) in line.headers {
        let v = dec(v, &format!("header `{k}`"))?;
        headers.push((k, v));
    }
    Ok(Record {
        topic: line.topic,
        partition: line.partition,
        offset: line.offset,
        timestamp_ms: line.timestamp_ms,
        timestamp_type: crate::kafka::TimestampType::CreateTime,
        key: dec(line.key, "key")?,
        value: dec(line.value, "value")?,
        headers,
    })
}

/// Counts and checksums of one partition's lines, as they are written or read back.
struct PartitionSum {
    entry: ManifestPartition,
    hasher: Sha256,
}

impl PartitionSum {
    fn new(p: &PartitionTail) -> PartitionSum {
        PartitionSum {
            entry: ManifestPartition {
                topic: p.topic.clone(),
                partition: p.partition,
                cut: p.cut,
                log_end: p.log_end,
                tail_count: p.tail_count,
                count: 0,
                offset_gaps: 0,
                first_offset: None,
                last_offset: None,
                first_timestamp_ms: None,
                last_timestamp_ms: None,
                min_timestamp_ms: None,
                max_timestamp_ms: None,
                bytes: 0,
                sha256: String::new(),
            },
            hasher: Sha256::new(),
        }
    }

    fn add(&mut self, r: &Record, line: &[u8]) {
        let e = &mut self.entry;
        e.count += 1;
        e.first_offset.get_or_insert(r.offset);
        e.last_offset = Some(r.offset);
        e.first_timestamp_ms.get_or_insert(r.timestamp_ms);
        e.last_timestamp_ms = Some(r.timestamp_ms);
        e.min_timestamp_ms = Some(
            e.min_timestamp_ms
                .map_or(r.timestamp_ms, |m| m.min(r.timestamp_ms)),
        );
        e.max_timestamp_ms = Some(
            e.max_timestamp_ms
                .map_or(r.timestamp_ms, |m| m.max(r.timestamp_ms)),
        );
        e.bytes += record_bytes(r);
        self.hasher.update(line);
    }

    fn finish(self) -> ManifestPartition {
        let mut e = self.entry;
        e.sha256 = hex::encode(self.hasher.finalize());
        e.offset_gaps = e.tail_count - e.count as i64;
        e
    }
}

/// Where a run's quarantine goes.
#[derive(Debug, Clone)]
struct Paths {
    dir: PathBuf,
    data: PathBuf,
    manifest: PathBuf,
}

impl Paths {
    fn new(base: &Path, run_id: i64) -> Paths {
        let dir = base.join(format!("run-{run_id}"));
        Paths {
            data: dir.join("tail.jsonl"),
            manifest: dir.join("manifest.json"),
            dir,
        }
    }
    fn tmp(path: &Path) -> PathBuf {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!(".{name}.tmp"))
    }
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!(
        "cannot {what} `{}`: {e}\nhelp: check that the quarantine folder is writable and has space (set `dir` of the `{QUARANTINE}` step to move it)",
        path.display()
    ))
}

/// Create `path` (and missing parents) with mode 0700.
fn make_dir(path: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| io_err("create folder", path, e))
}

/// A new file, mode 0600, replacing any leftover of an earlier attempt.
fn create_private(path: &Path) -> Result<File, Error> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove", path, e)),
    }
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err("create", path, e))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err("set mode 0600 on", path, e))?;
    Ok(f)
}

/// fsync `tmp`'s data, rename it to `path`, fsync the folder: all or nothing.
fn commit_file(file: File, tmp: &Path, path: &Path) -> Result<(), Error> {
    file.sync_all().map_err(|e| io_err("fsync", tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| io_err("rename into place", path, e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("fsync folder", dir, e))?;
    }
    Ok(())
}

/// Read a quarantine file back: per-partition sums, total sha256, size, record count.
/// Fails on a line that is not a record, a record outside the tail, or out of order.
fn read_back(
    data: &Path,
    tail: &TailReport,
) -> Result<(Vec<ManifestPartition>, String, u64, u64), String> {
    let file = File::open(data).map_err(|e| format!("cannot open `{}`: {e}", data.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let by_key: BTreeMap<(&str, i32), &PartitionTail> = tail
        .partitions
        .iter()
        .map(|p| ((p.topic.as_str(), p.partition), p))
        .collect();
    let mut sums: BTreeMap<(String, i32), PartitionSum> = tail
        .partitions
        .iter()
        .map(|p| ((p.topic.clone(), p.partition), PartitionSum::new(p)))
        .collect();
    let mut total = Sha256::new();
    let (mut size, mut records) = (0u64, 0u64);
    let mut order: Vec<(String, i32)> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read `{}`: {e}", data.display()))?;
        if n == 0 {
            break;
        }
        records += 1;
        size += n as u64;
        total.update(&line);
        if line.last() != Some(&b'\n') {
            return Err(format!(
                "line {records} has no trailing newline (a cut-off file)"
            ));
        }
        let r = parse_line(&line).map_err(|e| format!("line {records} is not a record: {e}"))?;
        let Some(p) = by_key.get(&(r.topic.as_str(), r.partition)) else {
            return Err(format!(
                "line {records}: `{}`[{}] is not a partition of the tail",
                r.topic, r.partition
            ));
        };
        if r.offset < p.tail_start() || r.offset >= p.log_end {
            return Err(format!(
                "line {records}: `{}`[{}] offset {} is outside the tail [{}, {})",
                r.topic,
                r.partition,
                r.offset,
                p.tail_start(),
                p.log_end
            ));
        }
        let key = (r.topic.clone(), r.partition);
        if order.last() != Some(&key) {
            if order.contains(&key) {
                return Err(format!(
                    "line {records}: the lines of `{}`[{}] are not together",
                    r.topic, r.partition
                ));
            }
            order.push(key.clone());
        }
        let Some(sum) = sums.get_mut(&key) else {
            return Err(format!("line {records}: unexpected partition"));
        };
        if sum.entry.last_offset.is_some_and(|l| r.offset <= l) {
            return Err(format!(
                "line {records}: `{}`[{}] offset {} is not after offset {}",
                r.topic,
                r.partition,
                r.offset,
                sum.entry.last_offset.unwrap_or_default()
            ));
        }
        sum.add(&r, &line);
    }
    let parts = sums.into_values().map(PartitionSum::finish).collect();
    Ok((parts, hex::encode(total.finalize()), size, records))
}

/// Tail records of `p` gone from `cluster` (log start now `earliest`) `when` ("before",
/// "while") kafka-dr quarantined them: nothing may be deleted on such a quarantine.
fn tail_deleted(p: &PartitionTail, cluster: &str, earliest: i64, when: &str) -> Error {
    Error::Io(format!(
        "`{}` partition {} on `{cluster}`: tail records [{}, {earliest}) were deleted {when} kafka-dr quarantined them (log start is now {earliest}); nothing was deleted by kafka-dr\nhelp: check the topic's retention on `{cluster}`; run the failback again to find the tail anew, and keep what is left",
        p.topic, p.partition, p.tail_start()
    ))
}

/// Check a quarantine: the manifest against the tail, and the file against the manifest.
/// `Err(reason)` when it does not verify.
pub(crate) fn verify_quarantine(manifest: &Manifest, tail: &TailReport) -> Result<(), String> {
    if manifest.format != MANIFEST_FORMAT {
        return Err(format!(
            "manifest format `{}` is not `{MANIFEST_FORMAT}`",
            manifest.format
        ));
    }
    if manifest.cluster != tail.old_primary {
        return Err(format!(
            "the manifest is of `{}`, the tail of `{}`",
            manifest.cluster, tail.old_primary
        ));
    }
    // The manifest must describe exactly the tail tail.find found.
    let want: Vec<(&str, i32, i64, i64, i64)> = tail
        .partitions
        .iter()
        .map(|p| {
            (
                p.topic.as_str(),
                p.partition,
                p.cut,
                p.log_end,
                p.tail_count,
            )
        })
        .collect();
    let have: Vec<(&str, i32, i64, i64, i64)> = manifest
        .partitions
        .iter()
        .map(|p| {
            (
                p.topic.as_str(),
                p.partition,
                p.cut,
                p.log_end,
                p.tail_count,
            )
        })
        .collect();
    if want != have {
        let diff = want
            .iter()
            .find(|w| !have.contains(w))
            .or_else(|| have.iter().find(|h| !want.contains(h)));
        return Err(match diff {
            Some((t, p, c, e, n)) => format!(
                "the manifest and the tail differ at `{t}`[{p}] (cut {c}, log end {e}, {n} record(s))"
            ),
            None => "the manifest and the tail list different partitions".to_string(),
        });
    }
    for p in &manifest.partitions {
        if p.count as i64 + p.offset_gaps != p.tail_count || p.offset_gaps < 0 {
            return Err(format!(
                "`{}`[{}]: {} record(s) + {} offset gap(s) is not the tail's {} offset(s)",
                p.topic, p.partition, p.count, p.offset_gaps, p.tail_count
            ));
        }
    }
    let path = Path::new(&manifest.file);
    let (parts, sha, size, records) = read_back(path, tail)?;
    if sha != manifest.file_sha256 || size != manifest.file_bytes || records != manifest.records {
        return Err(format!(
            "`{}` holds {records} record(s), {size} byte(s), sha256 {sha}; the manifest says {}, {}, {}",
            path.display(),
            manifest.records,
            manifest.file_bytes,
            manifest.file_sha256
        ));
    }
    for (got, want) in parts.iter().zip(&manifest.partitions) {
        if got != want {
            return Err(format!(
                "`{}`[{}] in `{}`: {} record(s), sha256 {}; the manifest says {} record(s), sha256 {}",
                want.topic,
                want.partition,
                path.display(),
                got.count,
                got.sha256,
                want.count,
                want.sha256
            ));
        }
    }
    Ok(())
}

/// The manifest on disk, if there is one that parses.
fn read_manifest(path: &Path) -> Result<Option<Manifest>, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("`{}` is not a manifest: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read `{}`: {e}", path.display())),
    }
}

// ---------------------------------------------------------------------------------------
// tail.quarantine
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineParams {
    #[serde(default = "find_word")]
    find_step: String,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default = "thirty")]
    timeout_seconds: u64,
}

/// The `tail.quarantine` action.
#[derive(Debug)]
pub struct Quarantine {
    find_step: String,
    dir: Option<PathBuf>,
    topic: Option<String>,
    timeout: Duration,
}

/// What the quarantine step found on disk before doing anything.
enum OnDisk {
    /// A manifest that verifies and matches the tail.
    Verified(Box<Manifest>),
    /// Nothing, or something that does not verify (the reason).
    Missing,
    Invalid(String),
}

/// Header names the copies in a quarantine topic carry, so that a resumed copy skips
/// what is already there.
const HDR_RUN: &str = "kafka-dr.quarantine.run";
const HDR_SOURCE: &str = "kafka-dr.quarantine.source";

impl Quarantine {
    pub fn new(step: &StepDef) -> Result<Quarantine, Error> {
        let p: QuarantineParams = super::params(step, QUARANTINE)?;
        let bad = |reason: String| -> Error {
            super::ActionError::Params {
                step: step.id.clone(),
                action: QUARANTINE,
                reason,
            }
            .into()
        };
        if p.dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
            return Err(bad(
                "`dir` is empty\nhelp: give a folder, or remove `dir` to write beside the journal"
                    .into(),
            ));
        }
        if p.topic.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(bad(
                "`topic` is empty\nhelp: give a topic name, or remove `topic`".into(),
            ));
        }
        Ok(Quarantine {
            find_step: p.find_step,
            dir: p.dir.map(PathBuf::from),
            topic: p.topic,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    fn paths(&self, ctx: &StepContext<'_>) -> Paths {
        let base = match &self.dir {
            Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
            None => {
                let journal = std::path::absolute(ctx.journal.path())
                    .unwrap_or_else(|_| ctx.journal.path().to_path_buf());
                journal
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
                    .join("quarantine")
            }
        };
        Paths::new(&base, ctx.run_id)
    }

    fn on_disk(&self, ctx: &StepContext<'_>, paths: &Paths, tail: &TailReport) -> OnDisk {
        match read_manifest(&paths.manifest) {
            Ok(None) => OnDisk::Missing,
            Err(e) => OnDisk::Invalid(e),
            Ok(Some(m)) => {
                if m.run_id != ctx.run_id || m.step_id != ctx.step_id {
                    return OnDisk::Invalid(format!(
                        "`{}` belongs to step `{}` of run {}",
                        paths.manifest.display(),
                        m.step_id,
                        m.run_id
                    ));
                }
                if Path::new(&m.file) != paths.data {
                    return OnDisk::Invalid(format!(
                        "`{}` names `{}`, not `{}`",
                        paths.manifest.display(),
                        m.file,
                        paths.data.display()
                    ));
                }
                match verify_quarantine(&m, tail) {
                    Ok(()) => OnDisk::Verified(Box::new(m)),
                    Err(e) => OnDisk::Invalid(e),
                }
            }
        }
    }

    /// Stream the tail into the file and write the manifest, both atomically.
    fn write(
        &self,
        ctx: &StepContext<'_>,
        paths: &Paths,
        tail: &TailReport,
    ) -> Result<(Manifest, Duration), Error> {
        make_dir(&paths.dir)?;
        let started = Instant::now();
        let client = common::kafka(ctx.topology, &tail.old_primary, self.timeout)?;
        let with_tail: Vec<&PartitionTail> =
            tail.partitions.iter().filter(|p| p.has_tail()).collect();
        // Tail records deleted since tail.find would be silently missing: refuse.
        if !with_tail.is_empty() {
            let parts: Vec<(&str, i32)> = with_tail
                .iter()
                .map(|p| (p.topic.as_str(), p.partition))
                .collect();
            for (p, w) in with_tail
                .iter()
                .zip(client.watermarks(&parts, self.timeout)?)
            {
                if w.earliest > p.tail_start() {
                    return Err(tail_deleted(p, &tail.old_primary, w.earliest, "before"));
                }
            }
        }
        let tmp = Paths::tmp(&paths.data);
        let file = create_private(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut total = Sha256::new();
        let (mut size, mut records, mut bytes) = (0u64, 0u64, 0u64);
        let mut entries = Vec::with_capacity(tail.partitions.len());
        for p in &tail.partitions {
            let mut sum = PartitionSum::new(p);
            if p.has_tail() {
                let mut failure: Option<Error> = None;
                let mut interrupted = false;
                let mut last_report = Instant::now();
                client.for_each_record(
                    &p.topic,
                    p.partition,
                    p.tail_start(),
                    p.log_end,
                    self.timeout,
                    |r| {
                        let line = match line_bytes(&r) {
                            Ok(l) => l,
                            Err(e) => {
                                failure = Some(Error::Io(format!(
                                    "cannot encode `{}` partition {} offset {} as JSON: {e}",
                                    r.topic, r.partition, r.offset
                                )));
                                return ControlFlow::Break(());
                            }
                        };
                        if let Err(e) = out.write_all(&line) {
                            failure = Some(io_err("write", &tmp, e));
                            return ControlFlow::Break(());
                        }
                        total.update(&line);
                        size += line.len() as u64;
                        records += 1;
                        sum.add(&r, &line);
                        if last_report.elapsed() >= Duration::from_secs(5) {
                            last_report = Instant::now();
                            ctx.reporter.status(
                                "Quarantine",
                                &format!(
                                    "`{}`[{}]: {} of {} record(s)",
                                    p.topic, p.partition, sum.entry.count, p.tail_count
                                ),
                            );
                        }
                        if ctx.is_interrupted() {
                            interrupted = true;
                            return ControlFlow::Break(());
                        }
                        ControlFlow::Continue(())
                    },
                )?;
                if let Some(e) = failure {
                    return Err(e);
                }
                // The read skips what is gone: records deleted WHILE it ran (retention)
                // would be missing from the file and read as offset gaps. Refuse.
                let after = client.watermarks(&[(p.topic.as_str(), p.partition)], self.timeout)?;
                if let Some(w) = after.first().filter(|w| w.earliest > p.tail_start()) {
                    return Err(tail_deleted(p, &tail.old_primary, w.earliest, "while"));
                }
                if interrupted {
                    return Err(super::ActionError::Interrupted {
                        during: format!(
                            "quarantining `{}` partition {} (the file is incomplete and is rewritten on resume)",
                            p.topic, p.partition
                        ),
                    }
                    .into());
                }
                ctx.reporter.status(
                    "Quarantined",
                    &format!(
                        "`{}`[{}]: {} record(s)",
                        p.topic, p.partition, sum.entry.count
                    ),
                );
                // On disk per partition, so a crash (and the crash test) leaves a partial
                // temporary file that resume must discard, not a buffered nothing.
                out.flush().map_err(|e| io_err("write", &tmp, e))?;
                crate::engine::crash::crash_point("tail.quarantine:partition-written");
            }
            let entry = sum.finish();
            bytes += entry.bytes;
            entries.push(entry);
        }
        out.flush().map_err(|e| io_err("write", &tmp, e))?;
        let file = out
            .into_inner()
            .map_err(|e| io_err("write", &tmp, e.error()))?;
        commit_file(file, &tmp, &paths.data)?;
        let elapsed = started.elapsed();
        let manifest = Manifest {
            format: MANIFEST_FORMAT.to_string(),
            run_id: ctx.run_id,
            step_id: ctx.step_id.to_string(),
            find_step: self.find_step.clone(),
            cluster: tail.old_primary.clone(),
            new_primary: tail.new_primary.clone(),
            file: paths.data.to_string_lossy().into_owned(),
            file_sha256: hex::encode(total.finalize()),
            file_bytes: size,
            records,
            bytes,
            bytes_counted: BYTES_COUNTED.to_string(),
            written_at_ms: now_ms(),
            partitions: entries,
        };
        let mut text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Io(format!("cannot encode the manifest: {e}")))?;
        text.push(b'\n');
        let tmp = Paths::tmp(&paths.manifest);
        let mut file = create_private(&tmp)?;
        file.write_all(&text)
            .map_err(|e| io_err("write", &tmp, e))?;
        commit_file(file, &tmp, &paths.manifest)?;
        Ok((manifest, elapsed))
    }

    fn topic_target(
        &self,
        ctx: &StepContext<'_>,
        tail: &TailReport,
    ) -> Result<Option<String>, Error> {
        let Some(topic) = &self.topic else {
            return Ok(None);
        };
        if common::in_scope_topic(ctx.topology, topic) {
            return Err(Error::Usage(format!(
                "step `{}` ({QUARANTINE}): quarantine topic `{topic}` is in the replication scope of topology `{}`: the reverse mirror would copy the quarantined records back into `{}`\nhelp: choose a topic name outside `replication.topics`",
                ctx.step_id, ctx.topology.name, tail.old_primary
            )));
        }
        Ok(Some(topic.clone()))
    }

    /// The tail records this run already copied into the quarantine topic, by source
    /// `topic/partition/offset`. `None` when the topic does not exist.
    fn copied(
        &self,
        client: &KafkaClient,
        topic: &str,
        run_id: i64,
    ) -> Result<Option<HashSet<String>>, Error> {
        let md = client.metadata(self.timeout)?;
        let Some(t) = md.topic(topic) else {
            return Ok(None);
        };
        let run = run_id.to_string();
        let mut seen = HashSet::new();
        for p in &t.partitions {
            client.for_each_record(topic, *p, 0, i64::MAX, self.timeout, |r| {
                let get = |name: &str| {
                    r.headers
                        .iter()
                        .find(|(k, _)| k == name)
                        .and_then(|(_, v)| v.as_deref())
                };
                if get(HDR_RUN) == Some(run.as_bytes()) {
                    if let Some(src) = get(HDR_SOURCE) {
                        seen.insert(String::from_utf8_lossy(src).into_owned());
                    }
                }
                ControlFlow::Continue(())
            })?;
        }
        Ok(Some(seen))
    }

    /// Copy the quarantined records (from the verified file) into `topic` on the new
    /// primary, skipping those this run already copied. Returns how many were produced.
    fn copy_to_topic(
        &self,
        ctx: &StepContext<'_>,
        topic: &str,
        manifest: &Manifest,
    ) -> Result<u64, Error> {
        let client = common::kafka(ctx.topology, &manifest.new_primary, self.timeout)?;
        let seen = match self.copied(&client, topic, ctx.run_id)? {
            Some(s) => s,
            None => {
                client.create_topic(topic, 1, -1, &[], self.timeout)?;
                HashSet::new()
            }
        };
        let path = Path::new(&manifest.file);
        let file = File::open(path).map_err(|e| io_err("open", path, e))?;
        let reader = BufReader::with_capacity(1 << 20, file);
        let run = ctx.run_id.to_string();
        let mut batch = Vec::with_capacity(1000);
        let mut produced = 0u64;
        for (i, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| io_err("read", path, e))?;
            let r = parse_line(&line)
                .map_err(|e| Error::Io(format!("`{}` line {}: {e}", path.display(), i + 1)))?;
            let source = format!(
                "{}/{}/{}/{}",
                manifest.cluster, r.topic, r.partition, r.offset
            );
            if seen.contains(&source) {
                continue;
            }
            let mut headers = r.headers;
            headers.push((HDR_RUN.to_string(), Some(run.clone().into_bytes())));
            headers.push((HDR_SOURCE.to_string(), Some(source.into_bytes())));
            batch.push(ProduceRecord {
                partition: Some(0),
                key: r.key,
                value: r.value,
                headers,
                timestamp_ms: (r.timestamp_ms >= 0).then_some(r.timestamp_ms),
            });
            if batch.len() >= 1000 {
                client.produce(topic, &batch, self.timeout)?;
                produced += batch.len() as u64;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            client.produce(topic, &batch, self.timeout)?;
            produced += batch.len() as u64;
        }
        Ok(produced)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

impl Action for Quarantine {
    fn name(&self) -> &'static str {
        QUARANTINE
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let tail = load_tail(ctx, &self.find_step, QUARANTINE)?;
        let topic = self.topic_target(ctx, &tail)?;
        let paths = self.paths(ctx);
        let mut plan = Plan::default();
        let state = self.on_disk(ctx, &paths, &tail);
        match &state {
            OnDisk::Verified(m) => plan.notes.push(format!(
                "already quarantined: {} record(s) in `{}` (manifest verified); nothing is written again",
                m.records, m.file
            )),
            OnDisk::Missing | OnDisk::Invalid(_) => {
                if let OnDisk::Invalid(why) = &state {
                    plan.changes.push(format!(
                        "replace the quarantine left by an earlier attempt in `{}` (it does not verify: {why})",
                        paths.dir.display()
                    ));
                }
                plan.changes.push(format!(
                    "write the {} tail record(s) of {} partition(s) of `{}` to `{}` (JSON Lines, mode 0600) and its manifest `{}`",
                    tail.tail_records,
                    tail.partitions_with_tail,
                    tail.old_primary,
                    paths.data.display(),
                    paths.manifest.display()
                ));
            }
        }
        if let Some(t) = &topic {
            let client = common::kafka(ctx.topology, &tail.new_primary, self.timeout)?;
            match self.copied(&client, t, ctx.run_id)? {
                None => {
                    plan.changes.push(format!(
                        "`{}`: create topic `{t}` (1 partition, broker-default replication factor)",
                        tail.new_primary
                    ));
                    plan.changes.push(format!(
                        "`{}`: copy the {} tail record(s) to `{t}`",
                        tail.new_primary, tail.tail_records
                    ));
                }
                Some(seen) => {
                    let missing = (tail.tail_records - seen.len() as i64).max(0);
                    if missing > 0 {
                        plan.changes.push(format!(
                            "`{}`: copy {missing} tail record(s) to `{t}` ({} already there from this run)",
                            tail.new_primary,
                            seen.len()
                        ));
                    } else {
                        plan.notes.push(format!(
                            "`{}`: `{t}` already holds the {} record(s) of this run",
                            tail.new_primary,
                            seen.len()
                        ));
                    }
                }
            }
        }
        for p in tail.partitions.iter().filter(|p| p.has_tail()) {
            plan.notes.push(format!(
                "`{}`[{}]: {} record(s) at [{}, {})",
                p.topic,
                p.partition,
                p.tail_count,
                p.tail_start(),
                p.log_end
            ));
        }
        plan.detail = json!({
            "file": paths.data.to_string_lossy(),
            "manifest": paths.manifest.to_string_lossy(),
            "cluster": tail.old_primary,
            "partitions_with_tail": tail.partitions_with_tail,
            "records": tail.tail_records,
            "already_quarantined": matches!(state, OnDisk::Verified(_)),
            "topic": topic,
        });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let tail = load_tail(ctx, &self.find_step, QUARANTINE)?;
        let topic = self.topic_target(ctx, &tail)?;
        let paths = self.paths(ctx);
        let (manifest, elapsed, written) = match self.on_disk(ctx, &paths, &tail) {
            OnDisk::Verified(m) => (*m, Duration::ZERO, false),
            OnDisk::Missing | OnDisk::Invalid(_) => {
                let (m, elapsed) = self.write(ctx, &paths, &tail)?;
                (m, elapsed, true)
            }
        };
        let secs = elapsed.as_secs_f64();
        let rate = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let round = |x: f64| (x * 100.0).round() / 100.0;
        if written {
            ctx.reporter.status(
                "Quarantined",
                &format!(
                    "{} record(s), {} byte(s) to `{}` in {:.2}s ({:.0} records/s, {:.2} MB/s)",
                    manifest.records,
                    manifest.file_bytes,
                    manifest.file,
                    secs,
                    rate(manifest.records as f64),
                    rate(manifest.file_bytes as f64 / 1e6)
                ),
            );
        }
        let copied = match &topic {
            Some(t) => Some(self.copy_to_topic(ctx, t, &manifest)?),
            None => None,
        };
        Ok(json!({
            "file": manifest.file,
            "manifest_file": paths.manifest.to_string_lossy(),
            "written": written,
            "records": manifest.records,
            "file_bytes": manifest.file_bytes,
            "bytes": manifest.bytes,
            "seconds": round(secs),
            "records_per_second": round(rate(manifest.records as f64)),
            "mb_per_second": round(rate(manifest.file_bytes as f64 / 1e6)),
            "payload_mb_per_second": round(rate(manifest.bytes as f64 / 1e6)),
            "topic": topic,
            "topic_records_produced": copied,
            "manifest": manifest,
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let tail = load_tail(ctx, &self.find_step, QUARANTINE)?;
        let paths = self.paths(ctx);
        let manifest = match self.on_disk(ctx, &paths, &tail) {
            OnDisk::Verified(m) => *m,
            OnDisk::Missing => {
                return Ok(Verdict::NotDone(format!(
                    "no quarantine manifest `{}`",
                    paths.manifest.display()
                )))
            }
            OnDisk::Invalid(why) => {
                return Ok(Verdict::NotDone(format!(
                    "the quarantine in `{}` does not verify: {why}",
                    paths.dir.display()
                )))
            }
        };
        if let Some(t) = self.topic_target(ctx, &tail)? {
            let client = common::kafka(ctx.topology, &tail.new_primary, self.timeout)?;
            let have = self.copied(&client, &t, ctx.run_id)?.unwrap_or_default();
            let want: BTreeSet<String> = read_sources(&manifest)?;
            let missing = want.iter().filter(|s| !have.contains(*s)).count();
            if missing > 0 {
                return Ok(Verdict::NotDone(format!(
                    "{missing} quarantined record(s) are not in topic `{t}` on `{}`",
                    tail.new_primary
                )));
            }
        }
        ctx.journal.record_quarantine(
            ctx.run_id,
            &manifest.file,
            &encode(&manifest, "the manifest")?,
        )?;
        Ok(Verdict::Done)
    }
}

/// The `cluster/topic/partition/offset` of every record of a quarantine file.
fn read_sources(manifest: &Manifest) -> Result<BTreeSet<String>, Error> {
    let path = Path::new(&manifest.file);
    let file = File::open(path).map_err(|e| io_err("open", path, e))?;
    let mut out = BTreeSet::new();
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| io_err("read", path, e))?;
        let r = parse_line(&line)
            .map_err(|e| Error::Io(format!("`{}` line {}: {e}", path.display(), i + 1)))?;
        out.insert(format!(
            "{}/{}/{}/{}",
            manifest.cluster, r.topic, r.partition, r.offset
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// kafka-dr tail show
// ---------------------------------------------------------------------------------------

/// What `kafka-dr tail show [RUN]` prints: a recorded quarantine and its manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShownQuarantine {
    pub run_id: i64,
    /// The quarantine file (tail.jsonl).
    pub path: String,
    /// manifest.json beside it.
    pub manifest_path: String,
    pub recorded_at: String,
    /// Whether the file is still there (it is not re-hashed here).
    pub file_present: bool,
    pub manifest: Manifest,
}

impl ShownQuarantine {
    /// Plain lines for a human: one summary line, then one line per partition with a
    /// tail (the CLI prints them through the reporter).
    pub fn lines(&self) -> Vec<String> {
        let m = &self.manifest;
        let mut out =
            vec![
                format!(
                "run {}: {} record(s) of {} partition(s) of `{}` in `{}` ({} byte(s), sha256 {}){}",
                self.run_id,
                m.records,
                m.partitions.iter().filter(|p| p.count > 0).count(),
                m.cluster,
                self.path,
                m.file_bytes,
                m.file_sha256,
                if self.file_present { "" } else { " [FILE MISSING]" }
            ),
                format!(
                    "manifest: `{}`, recorded {}",
                    self.manifest_path, self.recorded_at
                ),
            ];
        for p in m.partitions.iter().filter(|p| p.count > 0) {
            out.push(format!(
                "`{}`[{}]: {} record(s), offsets {}..={}, {} byte(s), timestamps {}..={}, sha256 {}",
                p.topic,
                p.partition,
                p.count,
                p.first_offset.unwrap_or_default(),
                p.last_offset.unwrap_or_default(),
                p.bytes,
                p.min_timestamp_ms.unwrap_or_default(),
                p.max_timestamp_ms.unwrap_or_default(),
                p.sha256
            ));
        }
        let empty = m.partitions.iter().filter(|p| p.count == 0).count();
        if empty > 0 {
            out.push(format!("{empty} partition(s) had no tail"));
        }
        out
    }
}

/// The quarantine recorded by run `run` (the latest one, if it recorded several), or the
/// latest of any run.
pub fn show(journal: &Journal, run: Option<i64>) -> Result<ShownQuarantine, Error> {
    let rows = journal.quarantines(run)?;
    let Some(row) = rows.into_iter().next_back() else {
        return Err(Error::Usage(match run {
            Some(r) => format!(
                "run {r} recorded no quarantine\nhelp: `kafka-dr runs list` shows the runs; a failback run records one in its `{QUARANTINE}` step"
            ),
            None => format!(
                "the journal holds no quarantine\nhelp: a failback run records one in its `{QUARANTINE}` step; check `--journal`"
            ),
        }));
    };
    let manifest: Manifest = serde_json::from_value(row.manifest).map_err(|e| {
        Error::Io(format!(
            "the manifest of `{}` (run {}) in the journal cannot be read: {e}\nhelp: read manifest.json beside the file instead",
            row.path, row.run_id
        ))
    })?;
    let path = PathBuf::from(&row.path);
    let manifest_path = path.with_file_name("manifest.json");
    Ok(ShownQuarantine {
        run_id: row.run_id,
        file_present: path.is_file(),
        manifest_path: manifest_path.to_string_lossy().into_owned(),
        path: row.path,
        recorded_at: row.recorded_at,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{step, Fixture};

    fn s(u: i64, d: i64) -> SyncPoint {
        SyncPoint {
            upstream: u,
            downstream: d,
        }
    }

    fn fp(ts: i64) -> Fingerprint {
        Fingerprint {
            timestamp_ms: ts,
            partition: 0,
            hash: "h".into(),
        }
    }

    fn input(old: (i64, i64), new: Option<(i64, i64)>, syncs: &[SyncPoint]) -> CutInput {
        CutInput {
            old_start: old.0,
            old_end: old.1,
            new_start: new.map(|n| n.0),
            new_end: new.map(|n| n.1),
            syncs: syncs.to_vec(),
        }
    }

    type R = Result<Result<Cut, String>, ()>;

    fn run(inp: &CutInput, last: Option<i64>, twins: &[i64], asked: &mut Vec<(i64, i64)>) -> R {
        run_with(inp, last, twins, asked, &|_| true)
    }

    fn run_with(
        inp: &CutInput,
        last: Option<i64>,
        twins: &[i64],
        asked: &mut Vec<(i64, i64)>,
        run: &dyn Fn(i64) -> bool,
    ) -> R {
        compute_cut(
            inp,
            || Ok(last.map(|n| (n, fp(1)))),
            |_, a, b| {
                asked.push((a, b));
                Ok(twins
                    .iter()
                    .copied()
                    .filter(|t| *t >= a && *t < b)
                    .collect())
            },
            |_, c, _| Ok(run(c)),
        )
    }

    #[test]
    fn twin_between_syncs_gives_the_cut() {
        // Old primary 0..1300; the new primary held 0..1000 (last record 999), syncs
        // every 100.
        let inp = input(
            (0, 1300),
            Some((0, 1000)),
            &[s(800, 800), s(900, 900), s(0, 0)],
        );
        let mut asked = vec![];
        let c = run(&inp, Some(999), &[999], &mut asked).unwrap().unwrap();
        assert_eq!(
            asked,
            vec![(900, 1300)],
            "searched from the sync below to the log end"
        );
        assert_eq!(
            (c.cut, c.method, c.twin),
            (1000, CutMethod::Fingerprint, Some(999))
        );
    }

    /// Issue 9, case 1: with identical records the LAST twin used to win, and the
    /// records between the copies were neither kept nor quarantined, then deleted.
    #[test]
    fn identical_records_cut_after_the_earliest_unless_the_run_decides() {
        // MM2 re-copied a stretch: new offsets are ahead of old ones.
        let inp = input((0, 600), Some((0, 520)), &[s(400, 410), s(600, 700)]);
        let mut asked = vec![];
        let c = run(&inp, Some(519), &[505, 509], &mut asked)
            .unwrap()
            .unwrap();
        assert_eq!(asked, vec![(400, 600)]);
        assert_eq!((c.cut, c.twins, c.method), (506, 2, CutMethod::Ambiguous));
        assert!(c.note.unwrap().contains("the earliest (505)"));
        // The run before the second copy is the new primary's: that one is the twin.
        let c = run_with(&inp, Some(519), &[505, 509], &mut vec![], &|c| c == 509)
            .unwrap()
            .unwrap();
        assert_eq!((c.cut, c.method), (510, CutMethod::Fingerprint));
        // No run matches: still the earliest.
        let c = run_with(&inp, Some(519), &[505, 509], &mut vec![], &|_| false)
            .unwrap()
            .unwrap();
        assert_eq!((c.cut, c.method), (506, CutMethod::Ambiguous));
    }

    #[test]
    fn upper_sync_bounds_the_search() {
        let inp = input((0, 5000), Some((0, 1000)), &[s(900, 900), s(1200, 1100)]);
        let mut asked = vec![];
        let c = run(&inp, Some(999), &[999], &mut asked).unwrap().unwrap();
        assert_eq!(asked, vec![(900, 1201)]);
        assert_eq!(c.cut, 1000);
        assert_eq!(c.upper, Some(s(1200, 1100)));
    }

    #[test]
    fn a_sync_at_the_last_record_is_checked_and_used() {
        let inp = input((0, 1300), Some((0, 1000)), &[s(950, 999)]);
        let mut asked = vec![];
        let c = run(&inp, Some(999), &[950], &mut asked).unwrap().unwrap();
        assert_eq!(asked, vec![(950, 951)]);
        assert_eq!((c.cut, c.method), (951, CutMethod::SyncPoint));
        // The sync disagrees with the fingerprints: fail, never guess.
        let mut asked = vec![];
        let e = run(&inp, Some(999), &[], &mut asked).unwrap().unwrap_err();
        assert!(e.contains("fingerprints differ"), "{e}");
    }

    #[test]
    fn no_twin_fails() {
        let inp = input((0, 1300), Some((0, 1000)), &[s(900, 900)]);
        let e = run(&inp, Some(999), &[], &mut vec![]).unwrap().unwrap_err();
        assert!(e.contains("no record in [900, 1300)"), "{e}");
    }

    #[test]
    fn nothing_on_the_new_primary_means_all_is_tail() {
        let inp = input((5, 300), Some((0, 0)), &[]);
        let c = run(&inp, None, &[], &mut vec![]).unwrap().unwrap();
        assert_eq!((c.cut, c.method), (5, CutMethod::NothingReplicated));
        let inp = input((5, 300), None, &[]);
        let c = run(&inp, None, &[], &mut vec![]).unwrap().unwrap();
        assert_eq!((c.cut, c.method), (5, CutMethod::NotMirrored));
    }

    #[test]
    fn syncs_prove_otherwise_when_the_new_primary_lost_its_records() {
        // The new primary's records were deleted (retention): log start = end = 200.
        let inp = input((0, 300), Some((200, 200)), &[s(180, 199)]);
        let c = run(&inp, None, &[], &mut vec![]).unwrap().unwrap();
        assert_eq!((c.cut, c.method), (181, CutMethod::SyncPoint));
        let inp = input((0, 300), Some((200, 200)), &[s(100, 150)]);
        let e = run(&inp, None, &[], &mut vec![]).unwrap().unwrap_err();
        assert!(e.contains("proves records reached it"), "{e}");
    }

    #[test]
    fn an_empty_old_partition_has_no_tail() {
        let inp = input((70, 70), Some((0, 70)), &[]);
        let c = run(&inp, Some(69), &[], &mut vec![]).unwrap().unwrap();
        assert_eq!((c.cut, c.method), (70, CutMethod::OldPrimaryEmpty));
    }

    #[test]
    fn bounds_pick_by_downstream_offset() {
        // A rewind: upstream 120 was copied after 150.
        let syncs = [s(150, 150), s(120, 151), s(300, 400)];
        assert_eq!(bounds(&syncs, 160), (Some(s(120, 151)), Some(s(300, 400))));
        assert_eq!(bounds(&syncs, 10), (None, Some(s(150, 150))));
        assert_eq!(sync_at(&syncs, 151), Some(s(120, 151)));
    }

    fn rec(topic: &str, p: i32, off: i64, ts: i64) -> Record {
        Record {
            topic: topic.into(),
            partition: p,
            offset: off,
            timestamp_ms: ts,
            timestamp_type: crate::kafka::TimestampType::CreateTime,
            key: Some(format!("k{off}").into_bytes()),
            value: if off % 2 == 0 {
                None
            } else {
                Some(vec![0, 255, 10])
            },
            headers: vec![("h".into(), None), ("i".into(), Some(b"v".to_vec()))],
        }
    }

    #[test]
    fn lines_have_the_documented_shape_and_round_trip() {
        let r = rec("app.t", 2, 41, 1_700_000_000_000);
        let line = line_bytes(&r).unwrap();
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            "{\"topic\":\"app.t\",\"partition\":2,\"offset\":41,\"timestamp_ms\":1700000000000,\"key\":\"azQx\",\"value\":\"AP8K\",\"headers\":[[\"h\",null],[\"i\",\"dg==\"]]}\n"
        );
        assert_eq!(record_bytes(&r), 3 + 3 + 1 + 1 + 1);
        let back = parse_line(&line).unwrap();
        assert_eq!(
            (back.key, back.value, back.headers),
            (r.key, r.value, r.headers)
        );
    }

    fn tail_of(parts: &[(i64, i64)]) -> TailReport {
        let mut r = TailReport {
            old_primary: "dc1".into(),
            new_primary: "dc2".into(),
            promotion_run: 1,
            promotion_taken_at: "t".into(),
            partitions: parts
                .iter()
                .enumerate()
                .map(|(i, &(cut, end))| PartitionTail {
                    topic: "app.t".into(),
                    partition: i as i32,
                    new_primary_topic: "app.t".into(),
                    cut,
                    log_start: 0,
                    log_end: end,
                    tail_count: end - cut,
                    method: CutMethod::Fingerprint,
                    twin_found_at: None,
                    twins_in_range: 1,
                    new_primary_last: None,
                    new_primary_start: Some(0),
                    new_primary_end: Some(cut),
                    search_from: None,
                    search_until: None,
                    lower_sync: None,
                    upper_sync: None,
                    gone_before_log_start: 0,
                    note: None,
                })
                .collect(),
            partitions_with_tail: 0,
            tail_records: 0,
            notes: vec![],
        };
        r.totals();
        r
    }

    /// Write a quarantine file by hand the way `write` does, and its manifest.
    fn write_files(dir: &Path, tail: &TailReport) -> Manifest {
        let paths = Paths::new(dir, 7);
        make_dir(&paths.dir).unwrap();
        let mut data = Vec::new();
        let mut entries = vec![];
        for p in &tail.partitions {
            let mut sum = PartitionSum::new(p);
            for off in p.cut..p.log_end {
                let r = rec("app.t", p.partition, off, 1000 + off);
                let l = line_bytes(&r).unwrap();
                sum.add(&r, &l);
                data.extend_from_slice(&l);
            }
            entries.push(sum.finish());
        }
        fs::write(&paths.data, &data).unwrap();
        Manifest {
            format: MANIFEST_FORMAT.into(),
            run_id: 7,
            step_id: "tail-quarantine".into(),
            find_step: "tail-find".into(),
            cluster: "dc1".into(),
            new_primary: "dc2".into(),
            file: paths.data.to_string_lossy().into_owned(),
            file_sha256: hex::encode(Sha256::digest(&data)),
            file_bytes: data.len() as u64,
            records: entries.iter().map(|e| e.count).sum(),
            bytes: entries.iter().map(|e| e.bytes).sum(),
            bytes_counted: BYTES_COUNTED.into(),
            written_at_ms: 0,
            partitions: entries,
        }
    }

    #[test]
    fn a_quarantine_verifies_and_any_change_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let tail = tail_of(&[(10, 15), (20, 20), (3, 4)]);
        let m = write_files(dir.path(), &tail);
        assert_eq!(m.records, 6);
        assert_eq!(m.partitions[1].sha256, hex::encode(Sha256::digest(b"")));
        verify_quarantine(&m, &tail).unwrap();
        // A tail that grew since.
        let grown = tail_of(&[(10, 16), (20, 20), (3, 4)]);
        assert!(verify_quarantine(&m, &grown)
            .unwrap_err()
            .contains("differ at"));
        // A changed byte.
        let mut data = fs::read(&m.file).unwrap();
        let at = data.iter().position(|b| *b == b'k').unwrap();
        data[at + 3] ^= 1;
        fs::write(&m.file, &data).unwrap();
        assert!(verify_quarantine(&m, &tail).is_err());
        // A cut-off file.
        let m = write_files(dir.path(), &tail);
        let data = fs::read(&m.file).unwrap();
        fs::write(&m.file, &data[..data.len() - 1]).unwrap();
        let e = verify_quarantine(&m, &tail).unwrap_err();
        assert!(e.contains("no trailing newline"), "{e}");
    }

    #[test]
    fn files_are_private_and_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let tmp = Paths::tmp(&path);
        assert!(tmp.to_string_lossy().ends_with("/.x.tmp"));
        let mut f = create_private(&tmp).unwrap();
        f.write_all(b"one").unwrap();
        commit_file(f, &tmp, &path).unwrap();
        let mut f = create_private(&tmp).unwrap();
        f.write_all(b"two").unwrap();
        commit_file(f, &tmp, &path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!tmp.exists());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn params_defaults_and_refusals() {
        let f = Find::new(&step("tail-find", FIND, serde_json::Value::Null)).unwrap();
        assert_eq!(
            (f.old_primary.as_str(), f.new_primary.as_str()),
            ("backup", "primary")
        );
        let q = Quarantine::new(&step("q", QUARANTINE, serde_json::Value::Null)).unwrap();
        assert_eq!(q.find_step, "tail-find");
        assert!(q.dir.is_none() && q.topic.is_none());
        let e = Quarantine::new(&step("q", QUARANTINE, json!({"dir": " "})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`dir` is empty") && e.contains("help:"), "{e}");
        assert!(Quarantine::new(&step("q", QUARANTINE, json!({"path": "x"}))).is_err());
    }

    #[test]
    fn the_quarantine_goes_beside_the_journal_by_default() {
        let f = Fixture::new();
        let ctx = f.ctx("tail-quarantine");
        let q = Quarantine::new(&step("q", QUARANTINE, serde_json::Value::Null)).unwrap();
        let p = q.paths(&ctx);
        let journal_dir = std::path::absolute(f.journal.path()).unwrap();
        assert_eq!(
            p.data,
            journal_dir
                .parent()
                .unwrap()
                .join("quarantine/run-7/tail.jsonl")
        );
    }

    #[test]
    fn show_without_quarantine_says_so() {
        let f = Fixture::new();
        let e = show(&f.journal, Some(3)).unwrap_err().to_string();
        assert!(
            e.contains("run 3 recorded no quarantine") && e.contains("help:"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let tail = tail_of(&[(0, 2)]);
        let m = write_files(dir.path(), &tail);
        let run = f
            .journal
            .create_run(&crate::journal::NewRun {
                topology: "lab",
                runbook: "rb",
                source: "test",
                checksum: "c",
                text: "t",
                dry_run: false,
                steps: vec![],
            })
            .unwrap();
        f.journal
            .record_quarantine(run, &m.file, &serde_json::to_value(&m).unwrap())
            .unwrap();
        let s = show(&f.journal, None).unwrap();
        assert_eq!((s.run_id, s.file_present), (run, true));
        assert_eq!(show(&f.journal, Some(run)).unwrap(), s);
        assert!(s.manifest_path.ends_with("run-7/manifest.json"));
        assert!(s.lines()[0].contains("2 record(s) of 1 partition(s)"));
    }

    #[test]
    fn the_format_doc_is_roff_safe() {
        for line in QUARANTINE_FORMAT_DOC.lines() {
            assert!(!line.starts_with('.') && !line.starts_with('\''), "{line}");
            assert!(!line.contains('\\'), "{line}");
            assert!(line.len() <= 80, "{line}");
        }
        for field in [
            "topic",
            "partition",
            "offset",
            "timestamp_ms",
            "key",
            "value",
            "headers",
        ] {
            assert!(
                QUARANTINE_FORMAT_DOC.contains(&format!("  {field} ")),
                "{field}"
            );
        }
    }
}

/// Property test of the cut over arbitrary logs with identical records, MM2 re-copies
/// and sync subsets: every old-primary record before the cut is on the new primary, so
/// nothing is left out of both the new primary and the quarantine.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::actions::translation::{run_found_before, RUN_LOOKBACK};
    use proptest::prelude::*;

    fn fp_of(content: u8) -> Fingerprint {
        Fingerprint {
            timestamp_ms: 0,
            partition: 0,
            hash: content.to_string(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn a_cut_never_leaves_a_record_out(
            content in proptest::collection::vec(0u8..3, 1..50),
            copied_frac in 0.0f64..=1.0,
            rewinds in proptest::collection::vec((0usize..50, 1usize..6), 0..2),
            pick in proptest::collection::vec(any::<bool>(), 100),
        ) {
            let len = content.len();
            let copied = ((len as f64) * copied_frac) as usize;
            let mut copies: Vec<i64> = Vec::new();
            let mut rewinds = rewinds;
            rewinds.sort();
            let (mut u, mut next) = (0usize, 0usize);
            while u < copied {
                copies.push(u as i64);
                if next < rewinds.len() && rewinds[next].0 == u {
                    u -= rewinds[next].1.min(u);
                    next += 1;
                }
                u += 1;
            }
            // As MM2 does: a sync at the first record after the (re)start.
            let restart = (1..copies.len()).find(|&d| copies[d] <= copies[d - 1]);
            let mut syncs = Vec::new();
            let mut last_d = -1i64;
            for (d, &up) in copies.iter().enumerate() {
                let latest = copies.iter().rposition(|&x| x == up) == Some(d);
                if latest && (pick[d % pick.len()] || Some(d) == restart) && d as i64 > last_d {
                    syncs.push(SyncPoint { upstream: up, downstream: d as i64 });
                    last_d = d as i64;
                }
            }
            let inp = CutInput {
                old_start: 0,
                old_end: len as i64,
                new_start: Some(0),
                new_end: Some(copies.len() as i64),
                syncs,
            };
            let new_content = |j: i64| content[copies[j as usize] as usize];
            let cut = compute_cut(
                &inp,
                || Ok::<_, ()>(copies.len().checked_sub(1).map(|n| (n as i64, fp_of(new_content(n as i64))))),
                |f, from, until| Ok((from..until).filter(|&o| fp_of(content[o as usize]) == *f).collect()),
                |n, cand, not_before| {
                    let run: Vec<u8> = (1..=RUN_BEFORE as i64).map(|k| cand - k).filter(|o| *o >= 0).map(|o| content[o as usize]).collect();
                    let from = (n - RUN_LOOKBACK as i64).max(not_before).max(0);
                    let before: Vec<u8> = (from..n).map(new_content).collect();
                    Ok(run_found_before(&run, &content[cand as usize], &before))
                },
            )
            .unwrap();
            // A cut the logic cannot establish fails the step (nothing is deleted): fine.
            if let Ok(c) = cut {
                prop_assert!(c.cut <= len as i64);
                for u in 0..c.cut {
                    prop_assert!(
                        copies.contains(&u),
                        "old-primary record {u} is before the cut {} but not on the new primary ({c:?}, copies {copies:?}, content {content:?})",
                        c.cut
                    );
                }
            }
        }
    }
}
