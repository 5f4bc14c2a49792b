//! The offset-sync store: which of the offset syncs recorded for one partition still
//! describe the logs as they are now. Pure arithmetic, no Kafka and no I/O.
//!
//! The journal keeps every sync `deltas record` ever saw, and a topic is not a log
//! forever: deleted and created again under the same name (on the source or on the
//! target), truncated (an unclean leader election), or re-copied by MM2 after a restart,
//! its offsets come to mean other records. A sync from before that change, used for a
//! translation, places a group in another log, and the group skips records.
//!
//! The rules, applied in recording order (the journal's ids):
//! 1. Incarnations. A sync recorded with topic ids (`deltas record` stores the source's
//!    and the target's) that are not the current ones belongs to an older incarnation of
//!    the topic on that side: discarded. Syncs recorded without ids (older journals, a
//!    broker without topic ids) are judged by the next rules only.
//! 2. MM2's own rule (Kafka 4.1 `OffsetSyncStore.updateSyncArray`): when a sync's
//!    upstream offset goes backwards, every older sync is dropped ("Old offsets are
//!    invalid, so overwrite them all"): the source log rewound (recreated, truncated) or
//!    MM2 re-copied from an older offset; the two cannot be told apart by offsets, so the
//!    older syncs go either way, as MM2 drops them. A downstream offset that goes
//!    backwards (the target truncated or recreated; MM2 emits a sync for exactly that)
//!    drops them too: MM2's store keeps those, but a translation through them lands in a
//!    log the target no longer has.
//! 3. Bounds. A sync whose downstream offset is at or past the target's high watermark
//!    names a record the target does not hold (it was truncated); one whose upstream
//!    offset is at or past the source's log end (when the source answers) names a record
//!    the source does not hold. Both are discarded. Syncs below the target's log start
//!    stay: the translation is clamped to the log start, and the sync is what counts the
//!    records that expired there.
//!
//! What was discarded is counted per reason, so the report can say it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One offset sync: upstream offset `upstream` on the source was copied to `downstream`
/// on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SyncPoint {
    pub upstream: i64,
    pub downstream: i64,
}

/// A sync as the journal recorded it, with the topic ids of both sides then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSync {
    pub sync: SyncPoint,
    /// The source topic's id when the sync was recorded (`None`: not known).
    pub source_topic_id: Option<String>,
    pub target_topic_id: Option<String>,
}

/// The logs as they are now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logs<'a> {
    /// The current incarnation of the source topic (read live, or the one `deltas
    /// record` saw last when the source is down); `None`: not known.
    pub source_topic_id: Option<&'a str>,
    /// The current incarnation of the target topic.
    pub target_topic_id: Option<&'a str>,
    /// The target partition's high watermark.
    pub target_high_watermark: i64,
    /// The source partition's log end, when the source answers.
    pub source_log_end: Option<i64>,
}

/// Why a sync was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stale {
    /// Recorded for an older incarnation of the source topic (another topic id).
    SourceIncarnation,
    /// Recorded for an older incarnation of the target topic (another topic id).
    TargetIncarnation,
    /// A later sync's upstream offset is lower (MM2's rule: older syncs are invalid).
    UpstreamRewind,
    /// A later sync's downstream offset is lower (or the same, for a later upstream
    /// offset): the target was truncated or recreated.
    DownstreamRewind,
    /// Its downstream offset is at or past the target's high watermark.
    PastTargetEnd,
    /// Its upstream offset is at or past the source's log end.
    PastSourceEnd,
}

impl Stale {
    /// Why, in words, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Stale::SourceIncarnation => {
                "recorded for an older incarnation of the topic on the source (deleted and created again: another topic id)"
            }
            Stale::TargetIncarnation => {
                "recorded for an older incarnation of the topic on the target (deleted and created again: another topic id)"
            }
            Stale::UpstreamRewind => {
                "older than a sync whose upstream offset went back (the source log rewound or MM2 re-copied; MM2 drops them too)"
            }
            Stale::DownstreamRewind => {
                "older than a sync whose downstream offset went back (the target was truncated or recreated)"
            }
            Stale::PastTargetEnd => "past the target's high watermark (the target was truncated)",
            Stale::PastSourceEnd => "past the source's log end (the source was truncated)",
        }
    }
}

/// The syncs that still describe the logs, and what was discarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Valid {
    /// Sorted by upstream offset, without duplicates.
    pub syncs: Vec<SyncPoint>,
    /// How many recorded syncs were discarded, per reason.
    pub discarded: BTreeMap<Stale, usize>,
    /// The lowest target offset that can hold a record of the current source
    /// incarnation: one past the highest downstream offset of a sync proven (by topic
    /// id) to be of an older source incarnation on the current target log. 0 when none
    /// is known. (An upstream rewind alone does not raise it: MM2's re-copies rewind too,
    /// and the records before a re-copy are still the current log's.)
    pub floor: i64,
}

impl Valid {
    /// How many syncs were discarded in all.
    pub fn discarded_total(&self) -> usize {
        self.discarded.values().sum()
    }

    /// The discarded syncs in words (`None`: none was).
    pub fn describe_discarded(&self) -> Option<String> {
        if self.discarded.is_empty() {
            return None;
        }
        Some(
            self.discarded
                .iter()
                .map(|(why, n)| format!("{n} {}", why.describe()))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// Where a group that consumed nothing of the current source incarnation starts on
    /// the target: the copy of the incarnation's first record when a sync names it
    /// (upstream 0), else the floor (never below `log_start`).
    pub fn incarnation_start(&self, log_start: i64) -> i64 {
        match self.syncs.iter().find(|s| s.upstream == 0) {
            Some(s) => s.downstream.max(log_start),
            None => self.floor.max(log_start),
        }
    }
}

/// Whether a recorded id says "another incarnation" than the current one (both known
/// and different). An id that is not known judges nothing.
pub fn older_incarnation(recorded: Option<&str>, current: Option<&str>) -> bool {
    matches!((recorded, current), (Some(r), Some(c)) if r != c)
}

/// The syncs of `history` (in recording order) that still describe `logs`.
pub fn valid_syncs(history: &[RecordedSync], logs: &Logs<'_>) -> Valid {
    let mut out = Valid::default();
    let count = |why: Stale, n: usize, out: &mut Valid| {
        if n > 0 {
            *out.discarded.entry(why).or_default() += n;
        }
    };
    // Rule 1: incarnations.
    let mut current = Vec::with_capacity(history.len());
    for r in history {
        let target_old = older_incarnation(r.target_topic_id.as_deref(), logs.target_topic_id);
        if older_incarnation(r.source_topic_id.as_deref(), logs.source_topic_id) {
            // Its copy is in the current target log (same target incarnation): the current
            // source incarnation's copies come after it.
            if !target_old {
                out.floor = out.floor.max(r.sync.downstream + 1);
            }
            count(Stale::SourceIncarnation, 1, &mut out);
        } else if target_old {
            count(Stale::TargetIncarnation, 1, &mut out);
        } else {
            current.push(r.sync);
        }
    }
    // Rule 2: a rewind on either side invalidates every older sync.
    let mut kept: Vec<SyncPoint> = Vec::with_capacity(current.len());
    for s in current {
        if let Some(last) = kept.last().copied() {
            if s.upstream < last.upstream {
                count(Stale::UpstreamRewind, kept.len(), &mut out);
                kept.clear();
            } else if s.downstream < last.downstream
                || (s.downstream == last.downstream && s.upstream > last.upstream)
            {
                // Two records cannot share one offset of one log: the target went back
                // (found by the property test in `actions::translation`: a target
                // recreated and copied into from 0 again, its first sync on the old
                // copy's first offset).
                count(Stale::DownstreamRewind, kept.len(), &mut out);
                kept.clear();
            }
        }
        kept.push(s);
    }
    // Rule 3: within the current bounds.
    kept.sort();
    kept.dedup();
    let before = kept.len();
    kept.retain(|s| s.downstream < logs.target_high_watermark);
    count(Stale::PastTargetEnd, before - kept.len(), &mut out);
    if let Some(end) = logs.source_log_end {
        let before = kept.len();
        kept.retain(|s| s.upstream < end);
        count(Stale::PastSourceEnd, before - kept.len(), &mut out);
    }
    out.syncs = kept;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(u: i64, d: i64, src: Option<&str>, tgt: Option<&str>) -> RecordedSync {
        RecordedSync {
            sync: SyncPoint {
                upstream: u,
                downstream: d,
            },
            source_topic_id: src.map(str::to_string),
            target_topic_id: tgt.map(str::to_string),
        }
    }

    fn s(u: i64, d: i64) -> SyncPoint {
        SyncPoint {
            upstream: u,
            downstream: d,
        }
    }

    fn logs<'a>(src: Option<&'a str>, tgt: Option<&'a str>, hwm: i64) -> Logs<'a> {
        Logs {
            source_topic_id: src,
            target_topic_id: tgt,
            target_high_watermark: hwm,
            source_log_end: None,
        }
    }

    #[test]
    fn a_recreated_source_topic_leaves_only_the_new_incarnations_syncs() {
        // The lab's case: 500 records copied 1:1, the source topic recreated, its 300
        // new records copied after them (500..800).
        let old = Some("A1");
        let new = Some("A2");
        let tgt = Some("B1");
        let h = [
            r(0, 0, old, tgt),
            r(101, 101, old, tgt),
            r(499, 499, old, tgt),
            r(0, 500, new, tgt),
            r(101, 601, new, tgt),
        ];
        let v = valid_syncs(&h, &logs(new, tgt, 800));
        assert_eq!(v.syncs, vec![s(0, 500), s(101, 601)]);
        assert_eq!(v.discarded.get(&Stale::SourceIncarnation), Some(&3));
        assert_eq!(v.floor, 500);
        assert_eq!(v.incarnation_start(0), 500);
        assert!(v
            .describe_discarded()
            .unwrap()
            .contains("older incarnation"));
        // Without ids (an old journal) MM2's rewind rule reaches the same syncs, but
        // proves no floor.
        let h: Vec<RecordedSync> = h
            .iter()
            .map(|x| r(x.sync.upstream, x.sync.downstream, None, None))
            .collect();
        let v = valid_syncs(&h, &logs(new, tgt, 800));
        assert_eq!(v.syncs, vec![s(0, 500), s(101, 601)]);
        assert_eq!(v.discarded.get(&Stale::UpstreamRewind), Some(&3));
        assert_eq!(v.floor, 0);
        assert_eq!(
            v.incarnation_start(0),
            500,
            "the sync at upstream 0 says it"
        );
    }

    #[test]
    fn a_recreated_target_topic_drops_the_old_copys_syncs() {
        let src = Some("A1");
        let h = [
            r(0, 0, src, Some("B1")),
            r(101, 101, src, Some("B1")),
            r(499, 499, src, Some("B1")),
            r(500, 0, src, Some("B2")),
            r(601, 101, src, Some("B2")),
        ];
        let v = valid_syncs(&h, &logs(src, Some("B2"), 300));
        assert_eq!(v.syncs, vec![s(500, 0), s(601, 101)]);
        assert_eq!(v.discarded.get(&Stale::TargetIncarnation), Some(&3));
        assert_eq!(v.floor, 0, "the old copy is gone: no floor from it");
        // Without ids: the downstream rewind at (500, 0) drops them.
        let h: Vec<RecordedSync> = h
            .iter()
            .map(|x| r(x.sync.upstream, x.sync.downstream, None, None))
            .collect();
        let v = valid_syncs(&h, &logs(None, None, 300));
        assert_eq!(v.syncs, vec![s(500, 0), s(601, 101)]);
        assert_eq!(v.discarded.get(&Stale::DownstreamRewind), Some(&3));
        // The new copy's first sync on the very offset of the old copy's last one.
        let h = [r(0, 0, None, None), r(2, 0, None, None)];
        let v = valid_syncs(&h, &logs(None, None, 1));
        assert_eq!(v.syncs, vec![s(2, 0)]);
        assert_eq!(v.discarded.get(&Stale::DownstreamRewind), Some(&1));
    }

    #[test]
    fn syncs_outside_the_current_bounds_are_not_used() {
        let h = [
            r(0, 0, None, None),
            r(100, 100, None, None),
            r(200, 200, None, None),
        ];
        // The target was truncated to 150: the sync at 200 names a record it lacks.
        let mut l = logs(None, None, 150);
        let v = valid_syncs(&h, &l);
        assert_eq!(v.syncs, vec![s(0, 0), s(100, 100)]);
        assert_eq!(v.discarded.get(&Stale::PastTargetEnd), Some(&1));
        // The source answers with a log end of 100: the sync at 100 is past it.
        l.source_log_end = Some(100);
        let v = valid_syncs(&h, &l);
        assert_eq!(v.syncs, vec![s(0, 0)]);
        assert_eq!(v.discarded.get(&Stale::PastSourceEnd), Some(&1));
        assert_eq!(v.discarded_total(), 2);
    }

    #[test]
    fn mm2s_rule_drops_everything_before_a_rewind_and_keeps_equal_steps() {
        // A re-copy from 150 after a restart: MM2 drops the older syncs, so do we.
        let h = [
            r(0, 0, None, None),
            r(101, 101, None, None),
            r(202, 202, None, None),
            r(150, 260, None, None),
            r(251, 361, None, None),
        ];
        let v = valid_syncs(&h, &logs(None, None, 1000));
        assert_eq!(v.syncs, vec![s(150, 260), s(251, 361)]);
        assert_eq!(v.discarded.get(&Stale::UpstreamRewind), Some(&3));
        assert_eq!(v.floor, 0, "a re-copy proves no floor");
        // The same upstream offset again (recorded twice) is no rewind.
        let h = [
            r(5, 5, None, None),
            r(5, 5, None, None),
            r(9, 9, None, None),
        ];
        let v = valid_syncs(&h, &logs(None, None, 100));
        assert_eq!(v.syncs, vec![s(5, 5), s(9, 9)]);
        assert!(v.discarded.is_empty());
        assert_eq!(v.describe_discarded(), None);
    }

    #[test]
    fn unknown_ids_judge_nothing() {
        assert!(!older_incarnation(None, Some("A")));
        assert!(!older_incarnation(Some("A"), None));
        assert!(!older_incarnation(Some("A"), Some("A")));
        assert!(older_incarnation(Some("A"), Some("B")));
    }
}

/// Property tests: over arbitrary histories of two incarnations on either side, MM2
/// re-copies and truncations, no sync of an older incarnation and none outside the
/// current bounds is ever used.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// One recorded sync with the incarnations (0 = older, 1 = current) it belongs to,
    /// and whether ids were recorded.
    #[derive(Debug, Clone)]
    struct Entry {
        sync: SyncPoint,
        source_inc: u8,
        target_inc: u8,
        with_ids: bool,
    }

    fn history() -> impl Strategy<Value = (Vec<Entry>, i64, Option<i64>)> {
        (
            proptest::collection::vec((0i64..400, 0i64..400, 0u8..2, 0u8..2, any::<bool>()), 0..40),
            0i64..450,
            proptest::option::of(0i64..450),
        )
            .prop_map(|(raw, hwm, end)| {
                let mut entries: Vec<Entry> = raw
                    .into_iter()
                    .map(|(u, d, si, ti, ids)| Entry {
                        sync: SyncPoint {
                            upstream: u,
                            downstream: d,
                        },
                        source_inc: si,
                        target_inc: ti,
                        with_ids: ids,
                    })
                    .collect();
                // Older incarnations were recorded first.
                entries.sort_by_key(|e| e.source_inc.max(e.target_inc));
                (entries, hwm, end)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn no_stale_sync_is_ever_used((entries, hwm, end) in history()) {
            let id = |side: &str, inc: u8| format!("{side}{inc}");
            let recorded: Vec<RecordedSync> = entries
                .iter()
                .map(|e| RecordedSync {
                    sync: e.sync,
                    source_topic_id: e.with_ids.then(|| id("A", e.source_inc)),
                    target_topic_id: e.with_ids.then(|| id("B", e.target_inc)),
                })
                .collect();
            let (a1, b1) = (id("A", 1), id("B", 1));
            let logs = Logs {
                source_topic_id: Some(&a1),
                target_topic_id: Some(&b1),
                target_high_watermark: hwm,
                source_log_end: end,
            };
            let v = valid_syncs(&recorded, &logs);
            for s in &v.syncs {
                // Inside the current bounds.
                prop_assert!(s.downstream < hwm, "{s:?} past the high watermark {hwm}");
                if let Some(end) = end {
                    prop_assert!(s.upstream < end, "{s:?} past the source's log end {end}");
                }
                // Never only from an older incarnation recorded with ids.
                let sources: Vec<&Entry> = entries.iter().filter(|e| e.sync == *s).collect();
                prop_assert!(
                    sources.iter().any(|e| !e.with_ids || (e.source_inc == 1 && e.target_inc == 1)),
                    "{s:?} used, recorded only for an older incarnation: {sources:?}"
                );
            }
            // The kept syncs are consistent with one log: both offsets never go back.
            for w in v.syncs.windows(2) {
                prop_assert!(w[0].upstream <= w[1].upstream && w[0].downstream <= w[1].downstream, "{:?}", v.syncs);
            }
            // Every recorded sync is either used or counted as discarded.
            let mut distinct_current: Vec<SyncPoint> = recorded
                .iter()
                .filter(|r| {
                    !older_incarnation(r.source_topic_id.as_deref(), Some(&a1))
                        && !older_incarnation(r.target_topic_id.as_deref(), Some(&b1))
                })
                .map(|r| r.sync)
                .collect();
            distinct_current.sort();
            distinct_current.dedup();
            prop_assert!(v.syncs.len() <= distinct_current.len());
            prop_assert!(v.discarded_total() + v.syncs.len() >= distinct_current.len());
        }
    }
}
