//! Offset translation from the primary to the backup for one group and partition: the
//! pure logic behind `groups.translate`, with no Kafka in it so it can be unit-tested.
//!
//! Inputs: the group's committed position `C` on the primary (the next record it would
//! read; the last one it consumed is `C - 1`), MM2's offset syncs for the partition
//! (upstream `u` -> downstream `d`: the record at `u` on the primary is at `d` on the
//! backup), and a way to find the twin of record `C - 1` on the backup within a range.
//!
//! The answer never skips a record: the exact answer is used only when the twin of the
//! last consumed record is found between the bounding syncs; otherwise MM2's own
//! conservative rule applies (ARCHITECTURE.md section 3): the latest sync at or below
//! `C`, then `d + 1` unless `C` equals the sync point. When several twins exist (MM2 is
//! at-least-once and may have copied a stretch twice after a restart), the LAST twin in
//! the range is used: everything after the last copy of a record follows it in order.

use serde::{Deserialize, Serialize};

/// One offset sync: upstream offset `upstream` on the primary was copied to
/// `downstream` on the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SyncPoint {
    pub upstream: i64,
    pub downstream: i64,
}

/// How a position was translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The committed position is itself a sync point: exact.
    SyncPoint,
    /// The twin of the last consumed record was found on the backup: exact.
    Fingerprint,
    /// MM2's rule from the latest sync below: never skips, may re-deliver.
    Conservative,
    /// No sync at or below the position: start at the backup's log start.
    LogStart,
    /// The group had consumed nothing here: start at the backup's log start.
    NothingConsumed,
    /// Taken from an MM2 checkpoint on the backup (already translated by MM2).
    Checkpoint,
}

impl Method {
    pub fn is_exact(self) -> bool {
        matches!(self, Method::SyncPoint | Method::Fingerprint)
    }
}

/// The translated position and what it may cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translation {
    /// The offset to commit on the backup.
    pub offset: i64,
    pub method: Method,
    /// Records the group may see again, at most (0 for exact methods). `None` when it
    /// cannot be bounded (no sync below the position).
    pub worst_case_duplicates: Option<i64>,
    /// The syncs that bounded the search, for the report.
    pub lower_sync: Option<SyncPoint>,
    pub upper_sync: Option<SyncPoint>,
}

/// Translate `committed` (primary) to a backup offset.
///
/// - `syncs`: every known sync for the partition, any order, duplicates allowed.
/// - `backup_log_start` / `backup_high_watermark`: the partition's bounds on the backup.
/// - `find_last_twin(from, until)`: the offset of the LAST record in `[from, until)` on
///   the backup whose fingerprint equals the recorded fingerprint of record
///   `committed - 1`, or `None` (also when no fingerprint was recorded).
pub fn translate<E>(
    committed: i64,
    syncs: &[SyncPoint],
    backup_log_start: i64,
    backup_high_watermark: i64,
    mut find_last_twin: impl FnMut(i64, i64) -> Result<Option<i64>, E>,
) -> Result<Translation, E> {
    let mut syncs: Vec<SyncPoint> = syncs.to_vec();
    syncs.sort();
    syncs.dedup();
    // The latest sync at or below the position, and the first one at or above it.
    let lower = syncs
        .iter()
        .rev()
        .find(|s| s.upstream <= committed)
        .copied();
    let upper = syncs.iter().find(|s| s.upstream >= committed).copied();

    if committed <= 0 {
        return Ok(Translation {
            offset: backup_log_start,
            method: Method::NothingConsumed,
            worst_case_duplicates: Some(0),
            lower_sync: lower,
            upper_sync: upper,
        });
    }
    if let Some(l) = lower.filter(|l| l.upstream == committed) {
        return Ok(Translation {
            offset: l.downstream,
            method: Method::SyncPoint,
            worst_case_duplicates: Some(0),
            lower_sync: lower,
            upper_sync: upper,
        });
    }
    // Search for the twin of record `committed - 1` between the bounding syncs: after
    // the copy of the lower sync's record, before the copy of the upper sync's record.
    let from = lower
        .map(|l| l.downstream + 1)
        .unwrap_or(backup_log_start)
        .max(backup_log_start);
    let until = upper
        .map(|u| u.downstream)
        .unwrap_or(backup_high_watermark)
        .min(backup_high_watermark);
    if from < until {
        if let Some(twin) = find_last_twin(from, until)? {
            return Ok(Translation {
                offset: twin + 1,
                method: Method::Fingerprint,
                worst_case_duplicates: Some(0),
                lower_sync: lower,
                upper_sync: upper,
            });
        }
    }
    match lower {
        Some(l) => Ok(Translation {
            // MM2's rule: the record after the sync point's copy. Never past the
            // backup's end (the record may not have been copied at all).
            offset: (l.downstream + 1)
                .min(backup_high_watermark)
                .max(backup_log_start),
            method: Method::Conservative,
            worst_case_duplicates: Some(committed - 1 - l.upstream),
            lower_sync: lower,
            upper_sync: upper,
        }),
        None => Ok(Translation {
            offset: backup_log_start,
            method: Method::LogStart,
            worst_case_duplicates: None,
            lower_sync: lower,
            upper_sync: upper,
        }),
    }
}

/// MM2's own translation of `committed` (ARCHITECTURE.md section 3), computed from the
/// same syncs, to show what kafka-dr saves: the latest sync at or below the position,
/// then `downstream + 1` unless the position is the sync point itself. `None` when no
/// sync is at or below it (MM2 emits no checkpoint then).
///
/// MM2 keeps fewer syncs than the journal does (its `OffsetSyncStore` thins out old
/// ones), so its real checkpoint can be further back than this, never further ahead.
pub fn mm2_rule(committed: i64, syncs: &[SyncPoint]) -> Option<i64> {
    syncs
        .iter()
        .filter(|s| s.upstream <= committed)
        .max()
        .map(|s| {
            if s.upstream == committed {
                s.downstream
            } else {
                s.downstream + 1
            }
        })
}

/// The bounding syncs of `position` (as `translate` picks them): the latest at or below
/// and the first at or above.
pub fn bounding_syncs(
    position: i64,
    syncs: &[SyncPoint],
) -> (Option<SyncPoint>, Option<SyncPoint>) {
    let lower = syncs
        .iter()
        .filter(|s| s.upstream <= position)
        .max()
        .copied();
    let upper = syncs
        .iter()
        .filter(|s| s.upstream >= position)
        .min()
        .copied();
    (lower, upper)
}

/// A position taken from an MM2 checkpoint (`upstream` -> `downstream`, already
/// translated by MM2): used as is. Its worst-case duplicates are bounded by the first
/// known sync at or above the upstream position: the twin of the last consumed record
/// lies before that sync's downstream offset, so at most `upper.downstream -
/// downstream` records are seen again (`None` without such a sync).
pub fn from_checkpoint(upstream: i64, downstream: i64, syncs: &[SyncPoint]) -> Translation {
    let (lower, upper) = bounding_syncs(upstream, syncs);
    let worst = upper.map(|u| (u.downstream - downstream).max(0));
    Translation {
        offset: downstream,
        method: Method::Checkpoint,
        worst_case_duplicates: worst,
        lower_sync: lower,
        upper_sync: upper,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(u: i64, d: i64) -> SyncPoint {
        SyncPoint {
            upstream: u,
            downstream: d,
        }
    }
    fn none(_: i64, _: i64) -> Result<Option<i64>, ()> {
        Ok(None)
    }

    #[test]
    fn sync_point_is_exact() {
        let t = translate(200, &[s(100, 90), s(200, 190)], 0, 500, none).unwrap();
        assert_eq!((t.offset, t.method), (190, Method::SyncPoint));
    }

    #[test]
    fn without_twin_uses_mm2_rule_and_counts_duplicates() {
        let t = translate(150, &[s(100, 90), s(200, 190)], 0, 500, none).unwrap();
        assert_eq!(t.offset, 91);
        assert_eq!(t.method, Method::Conservative);
        assert_eq!(t.worst_case_duplicates, Some(49));
    }

    #[test]
    fn twin_found_between_bounds_is_exact() {
        let mut asked = None;
        let t = translate(150, &[s(200, 190), s(100, 90)], 0, 500, |a, b| {
            asked = Some((a, b));
            Ok::<_, ()>(Some(139))
        })
        .unwrap();
        assert_eq!(
            asked,
            Some((91, 190)),
            "search only between the bounding syncs"
        );
        assert_eq!(
            (t.offset, t.method, t.worst_case_duplicates),
            (140, Method::Fingerprint, Some(0))
        );
    }

    #[test]
    fn past_last_sync_searches_to_high_watermark() {
        let mut asked = None;
        let t = translate(250, &[s(200, 190)], 0, 240, |a, b| {
            asked = Some((a, b));
            Ok::<_, ()>(None)
        })
        .unwrap();
        assert_eq!(asked, Some((191, 240)));
        assert_eq!((t.offset, t.method), (191, Method::Conservative));
    }

    #[test]
    fn no_sync_below_starts_at_log_start() {
        let t = translate(50, &[s(100, 90)], 7, 500, none).unwrap();
        assert_eq!(
            (t.offset, t.method, t.worst_case_duplicates),
            (7, Method::LogStart, None)
        );
    }

    #[test]
    fn nothing_consumed_starts_at_log_start() {
        let t = translate(0, &[s(0, 0)], 3, 500, none).unwrap();
        assert_eq!((t.offset, t.method), (3, Method::NothingConsumed));
    }

    #[test]
    fn conservative_never_points_past_backup_end() {
        let t = translate(150, &[s(100, 90)], 0, 90, none).unwrap();
        assert_eq!(t.offset, 90);
    }

    #[test]
    fn search_errors_propagate() {
        let r = translate(150, &[s(100, 90)], 0, 500, |_, _| {
            Err::<Option<i64>, _>("boom")
        });
        assert_eq!(r.unwrap_err(), "boom");
    }
    #[test]
    fn mm2_rule_is_the_conservative_offset() {
        let syncs = [s(100, 90), s(200, 190)];
        assert_eq!(mm2_rule(150, &syncs), Some(91));
        assert_eq!(mm2_rule(200, &syncs), Some(190));
        assert_eq!(mm2_rule(250, &syncs), Some(191));
        assert_eq!(mm2_rule(99, &syncs), None);
        // The same answer `translate` falls back to when no twin is found.
        let t = translate(150, &syncs, 0, 500, none).unwrap();
        assert_eq!(Some(t.offset), mm2_rule(150, &syncs));
    }

    #[test]
    fn checkpoint_positions_are_used_as_is_and_bounded_by_the_next_sync() {
        let syncs = [s(100, 90), s(200, 190)];
        let t = from_checkpoint(150, 91, &syncs);
        assert_eq!((t.offset, t.method), (91, Method::Checkpoint));
        assert_eq!(t.worst_case_duplicates, Some(99));
        assert_eq!(t.lower_sync, Some(s(100, 90)));
        assert_eq!(t.upper_sync, Some(s(200, 190)));
        assert!(!t.method.is_exact());
        let t = from_checkpoint(250, 191, &syncs);
        assert_eq!(t.worst_case_duplicates, None);
    }

    #[test]
    fn bounding_syncs_pick_the_closest() {
        let syncs = [s(200, 190), s(100, 90), s(300, 290)];
        assert_eq!(
            bounding_syncs(150, &syncs),
            (Some(s(100, 90)), Some(s(200, 190)))
        );
        assert_eq!(
            bounding_syncs(200, &syncs),
            (Some(s(200, 190)), Some(s(200, 190)))
        );
        assert_eq!(bounding_syncs(50, &syncs), (None, Some(s(100, 90))));
    }
}
