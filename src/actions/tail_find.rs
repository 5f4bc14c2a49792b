//! `tail.find` (params `old_primary`, `new_primary`, `timeout_seconds`): when the old
//! primary returns after a failover, find the records it holds that never reached the new
//! primary (its tail).
//!
//! It works from the promotion cut (`common::promotion_cut`: the new primary's log end `E`
//! per partition when it was promoted) and the offset syncs the journal recorded for the
//! flow old -> new primary. Per in-scope partition of the old primary, the cut is the
//! first offset that never reached the new primary: the new primary's last record below
//! `E` is read, and its twin (same fingerprint) is searched on the old primary between
//! the bounding syncs; the earliest twin wins unless the run of records before it singles
//! out a later one, and the cut is the twin + 1. When the new primary held nothing of the
//! partition, the cut is the old primary's log start (unless syncs prove that records
//! reached it). When no twin can be found the step fails, naming the partition: a wrong
//! cut loses or duplicates data. Tail = [cut, log end). It writes nothing to any cluster:
//! the result (`TailReport`) is its plan detail and step output, read back by
//! `tail.quarantine` and `truncate` through `load_tail`.

use std::ops::ControlFlow;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::common;
use super::translation::SyncPoint;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::StepState;
use crate::kafka::{fingerprint, Fingerprint, KafkaClient, RUN_BEFORE};
use crate::runbook::StepDef;
use crate::topology::Policy;
pub const FIND: &str = "tail.find";

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
    pub(super) fn totals(&mut self) {
        self.partitions_with_tail = self.partitions.iter().filter(|p| p.has_tail()).count();
        self.tail_records = self.partitions.iter().map(|p| p.tail_count).sum();
    }
}

// ---------------------------------------------------------------------------------------
// The cut, without Kafka
// ---------------------------------------------------------------------------------------

/// What is known of one partition before the twin search.
#[derive(Debug, Clone)]
pub(super) struct CutInput {
    pub(super) old_start: i64,
    pub(super) old_end: i64,
    /// The new primary's log start and end at the promotion; `None`: no such partition.
    pub(super) new_start: Option<i64>,
    pub(super) new_end: Option<i64>,
    /// Offset syncs old -> new of the partition, any order.
    pub(super) syncs: Vec<SyncPoint>,
}

/// The cut of one partition and how it was found.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cut {
    pub(super) cut: i64,
    pub(super) method: CutMethod,
    pub(super) twin: Option<i64>,
    pub(super) twins: usize,
    pub(super) new_last: Option<i64>,
    pub(super) search: Option<(i64, i64)>,
    pub(super) lower: Option<SyncPoint>,
    pub(super) upper: Option<SyncPoint>,
    pub(super) note: Option<String>,
}

impl Cut {
    pub(super) fn simple(cut: i64, method: CutMethod) -> Cut {
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
pub(super) fn sync_at(syncs: &[SyncPoint], d: i64) -> Option<SyncPoint> {
    syncs
        .iter()
        .filter(|s| s.downstream == d)
        .max_by_key(|s| s.upstream)
        .copied()
}

/// The syncs bounding the twin of new-primary record `n`: the one copied last at or
/// before `n` (highest downstream offset), and the first one copied after it.
pub(super) fn bounds(syncs: &[SyncPoint], n: i64) -> (Option<SyncPoint>, Option<SyncPoint>) {
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
pub(super) fn compute_cut<E>(
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
pub(super) struct FindParams {
    pub(super) old_primary: String,
    pub(super) new_primary: String,
    pub(super) timeout_seconds: u64,
}

/// The `tail.find` action.
#[derive(Debug)]
pub struct Find {
    pub(super) old_primary: String,
    pub(super) new_primary: String,
    pub(super) timeout: Duration,
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
pub(super) fn last_record_below(
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

pub(super) fn encode<T: Serialize>(value: &T, what: &str) -> Result<serde_json::Value, Error> {
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

pub(super) fn describe(p: &PartitionTail, r: &TailReport) -> String {
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

pub(super) fn decode<T: serde::de::DeserializeOwned>(
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

#[cfg(test)]
mod tests {
    use super::*;

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
