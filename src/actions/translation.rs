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
//! `C`, then `d + 1` unless `C` equals the sync point.
//!
//! Several twins in the range: two different records can share a fingerprint (a producer
//! retry without idempotence, identical events in one millisecond), and MM2, being
//! at-least-once, may copy a stretch twice after a restart. The candidates are told apart
//! by the run of records before them (the recorder keeps the fingerprints of the records
//! the group consumed before its last one): if exactly one candidate is preceded by that
//! run, it is the twin. Otherwise the EARLIEST remaining candidate is used: a later one
//! could skip the records between the copies, the earliest can only re-deliver them, and
//! the answer is reported as ambiguous, with those records as its worst case.

use serde::{Deserialize, Serialize};

/// One offset sync (upstream offset on the primary -> its copy's offset on the backup);
/// which recorded syncs may be used at all is `crate::dr::sync_store`'s call.
pub use crate::dr::SyncPoint;

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
    /// Several records on the backup match the last consumed one and the run before it:
    /// the earliest is used, so nothing is skipped; the ones between may be re-delivered.
    Ambiguous,
    /// The only recorded position is for an older incarnation of the topic (deleted and
    /// created again since): ignored; the group starts at the copy of the current
    /// incarnation's first record (or after the older incarnation's last copy).
    NewIncarnation,
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
    /// Records the group had not consumed that are gone from the backup (below its log
    /// start: expired there) and that it will therefore never see: the clamp to the
    /// backup's log start moved it past them. Exact for exact methods, at most this many
    /// otherwise (some of them the group may have consumed). 0 when nothing was clamped.
    #[serde(default)]
    pub expired_skipped: i64,
    /// Of those, this many for certain (the rest the group may have consumed): equal to
    /// `expired_skipped` for exact methods.
    #[serde(default)]
    pub expired_skipped_at_least: i64,
    /// Where the translation pointed before it was clamped to the backup's
    /// `[log start, high watermark]` (`None`: it was inside).
    #[serde(default)]
    pub clamped_from: Option<i64>,
}

/// Clamp `t` to the backup's `[log_start, high_watermark]`. Moving it forward past the
/// log start skips records that expired on the backup: they are counted in
/// `expired_skipped` (never hidden), and no longer count as possible duplicates.
/// Moving it back to the high watermark skips nothing (those offsets hold no record yet).
pub fn bound(mut t: Translation, log_start: i64, high_watermark: i64) -> Translation {
    let hi = high_watermark.max(log_start);
    if t.offset < log_start {
        let moved = log_start - t.offset;
        t.expired_skipped += moved;
        // The group's true position is at most `worst_case_duplicates` past the offset.
        t.expired_skipped_at_least += t.worst_case_duplicates.map_or(0, |d| (moved - d).max(0));
        t.worst_case_duplicates = t.worst_case_duplicates.map(|d| (d - moved).max(0));
        t.clamped_from.get_or_insert(t.offset);
        t.offset = log_start;
    } else if t.offset > hi {
        t.clamped_from.get_or_insert(t.offset);
        t.offset = hi;
    }
    t
}

/// Translate `committed` (primary) to a backup offset.
///
/// - `syncs`: every known sync for the partition, any order, duplicates allowed.
/// - `backup_log_start` / `backup_high_watermark`: the partition's bounds on the backup.
/// - `find_twins(from, until)`: the offsets, ascending, of every record in `[from, until)`
///   on the backup whose fingerprint equals the recorded fingerprint of record
///   `committed - 1` (empty also when no fingerprint was recorded).
/// - `run_matches(candidate, not_before)`: whether the backup's records in
///   `[not_before, candidate)` end with the twins of the records the group consumed
///   before `committed - 1` (see [`run_found_before`]; true when that run is not known).
///
/// The answer is always within the backup's `[log start, high watermark]` (see
/// [`bound`]): records of the group's that expired on the backup are counted in
/// `expired_skipped`.
pub fn translate<E>(
    committed: i64,
    syncs: &[SyncPoint],
    backup_log_start: i64,
    backup_high_watermark: i64,
    find_twins: impl FnMut(i64, i64) -> Result<Vec<i64>, E>,
    run_matches: impl FnMut(i64, i64) -> Result<bool, E>,
) -> Result<Translation, E> {
    let t = translate_within(
        committed,
        syncs,
        backup_log_start,
        backup_high_watermark,
        find_twins,
        run_matches,
    )?;
    Ok(bound(t, backup_log_start, backup_high_watermark))
}

/// `translate` before the clamp: offsets may lie below the log start (the natural
/// position of a group whose next records expired on the backup).
fn translate_within<E>(
    committed: i64,
    syncs: &[SyncPoint],
    backup_log_start: i64,
    backup_high_watermark: i64,
    mut find_twins: impl FnMut(i64, i64) -> Result<Vec<i64>, E>,
    mut run_matches: impl FnMut(i64, i64) -> Result<bool, E>,
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
            expired_skipped: 0,
            expired_skipped_at_least: 0,
            clamped_from: None,
        });
    }
    if let Some(l) = lower.filter(|l| l.upstream == committed) {
        return Ok(Translation {
            offset: l.downstream,
            method: Method::SyncPoint,
            worst_case_duplicates: Some(0),
            lower_sync: lower,
            upper_sync: upper,
            expired_skipped: 0,
            expired_skipped_at_least: 0,
            clamped_from: None,
        });
    }
    // The sync names the last consumed record itself: the next one follows its copy.
    // (Searching after that copy instead would find a later IDENTICAL record, if there
    // is one, and skip everything up to it: found by the property test below.)
    if let Some(l) = lower.filter(|l| l.upstream == committed - 1) {
        return Ok(Translation {
            offset: l.downstream + 1,
            method: Method::SyncPoint,
            worst_case_duplicates: Some(0),
            lower_sync: lower,
            upper_sync: upper,
            expired_skipped: 0,
            expired_skipped_at_least: 0,
            clamped_from: None,
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
        let mut twins = find_twins(from, until)?;
        twins.sort_unstable();
        twins.dedup();
        twins.retain(|t| (from..until).contains(t));
        if twins.len() > 1 {
            let mut by_run = Vec::new();
            // The lower sync's own record is a copy of its upstream record: in order.
            let not_before = lower
                .map(|l| l.downstream)
                .unwrap_or(backup_log_start)
                .max(backup_log_start);
            for &t in &twins {
                if run_matches(t, not_before)? {
                    by_run.push(t);
                }
            }
            // No candidate has the run (the log around it was truncated, or the run was
            // recorded from another log): the run says nothing, keep them all.
            if !by_run.is_empty() {
                twins = by_run;
            }
        }
        // The log start cut the window short of the lower sync's copy: the twin may have
        // expired on the backup, and a candidate after the log start may be a later,
        // IDENTICAL record (using it would skip the records between). Start from the
        // natural position below instead (clamped to the log start, the expired records
        // counted): nothing still on the backup is skipped, and the candidates bound what
        // may be seen again.
        let cut_by_log_start = match lower {
            Some(l) => l.downstream + 1 < backup_log_start,
            None => backup_log_start > 0,
        };
        if let (true, Some(&last)) = (cut_by_log_start, twins.last()) {
            let natural = lower.map_or(backup_log_start, |l| l.downstream + 1);
            return Ok(Translation {
                offset: natural,
                method: if lower.is_some() {
                    Method::Conservative
                } else {
                    Method::LogStart
                },
                worst_case_duplicates: Some(last + 1 - natural),
                lower_sync: lower,
                upper_sync: upper,
                expired_skipped: 0,
                expired_skipped_at_least: 0,
                clamped_from: None,
            });
        }
        match twins.as_slice() {
            [] => {}
            [twin] => {
                return Ok(Translation {
                    offset: twin + 1,
                    method: Method::Fingerprint,
                    worst_case_duplicates: Some(0),
                    lower_sync: lower,
                    upper_sync: upper,
                    expired_skipped: 0,
                    expired_skipped_at_least: 0,
                    clamped_from: None,
                })
            }
            [first, .., last] => {
                return Ok(Translation {
                    offset: first + 1,
                    method: Method::Ambiguous,
                    worst_case_duplicates: Some(last - first),
                    lower_sync: lower,
                    upper_sync: upper,
                    expired_skipped: 0,
                    expired_skipped_at_least: 0,
                    clamped_from: None,
                })
            }
        }
    }
    match lower {
        Some(l) => Ok(Translation {
            // MM2's rule: the record after the sync point's copy. Never past the
            // backup's end (the record may not have been copied at all).
            offset: l.downstream + 1,
            method: Method::Conservative,
            worst_case_duplicates: Some(committed - 1 - l.upstream),
            lower_sync: lower,
            upper_sync: upper,
            expired_skipped: 0,
            expired_skipped_at_least: 0,
            clamped_from: None,
        }),
        None => Ok(Translation {
            offset: backup_log_start,
            method: Method::LogStart,
            worst_case_duplicates: None,
            lower_sync: lower,
            upper_sync: upper,
            expired_skipped: 0,
            expired_skipped_at_least: 0,
            clamped_from: None,
        }),
    }
}

/// How many offsets before a candidate twin are read for the run (more than the run:
/// transaction markers and compaction leave offsets without records).
pub const RUN_LOOKBACK: usize = 16;

/// Whether a candidate twin on MM2's target is preceded by `run` (the source's records
/// before the last consumed one `last`, newest first). `before` is the target's records
/// before the candidate, oldest first, read no further back than the bounding sync's
/// copy.
///
/// Why that bound: between two copies MM2 writes the source's records in order, but a
/// restarted task re-copies from an older offset, and the records before the restart
/// point are then not the source's run. MM2 emits an offset sync at the first record of
/// every task lifetime (and whenever the upstream offset jumps), so no restart lies
/// between a sync's copy and the next: within that stretch the run must match record for
/// record, and a mismatch proves the candidate is a copy of another, identical record.
/// Running out of records (the sync, the log start, markers) rules nothing out; a
/// mismatch that re-meets a record already matched (or `last`) is a re-copy and does
/// not either. A candidate is only ever ruled out on this evidence, so the true twin
/// never is (provided the journal holds MM2's syncs: it records them every pass).
pub fn run_found_before<T: PartialEq>(run: &[T], last: &T, before: &[T]) -> bool {
    let mut older = before.iter().rev();
    for (i, want) in run.iter().enumerate() {
        match older.next() {
            None => return true,
            Some(got) if got == want => {}
            Some(got) => return got == last || run[..i].contains(got),
        }
    }
    true
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
        expired_skipped: 0,
        expired_skipped_at_least: 0,
        clamped_from: None,
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
    fn none(_: i64, _: i64) -> Result<Vec<i64>, ()> {
        Ok(Vec::new())
    }
    fn any(_: i64, _: i64) -> Result<bool, ()> {
        Ok(true)
    }

    #[test]
    fn sync_point_is_exact() {
        let t = translate(200, &[s(100, 90), s(200, 190)], 0, 500, none, any).unwrap();
        assert_eq!((t.offset, t.method), (190, Method::SyncPoint));
    }

    #[test]
    fn without_twin_uses_mm2_rule_and_counts_duplicates() {
        let t = translate(150, &[s(100, 90), s(200, 190)], 0, 500, none, any).unwrap();
        assert_eq!(t.offset, 91);
        assert_eq!(t.method, Method::Conservative);
        assert_eq!(t.worst_case_duplicates, Some(49));
    }

    #[test]
    fn twin_found_between_bounds_is_exact() {
        let mut asked = None;
        let t = translate(
            150,
            &[s(200, 190), s(100, 90)],
            0,
            500,
            |a, b| {
                asked = Some((a, b));
                Ok::<_, ()>(vec![139])
            },
            any,
        )
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
        let t = translate(
            250,
            &[s(200, 190)],
            0,
            240,
            |a, b| {
                asked = Some((a, b));
                Ok::<_, ()>(vec![])
            },
            any,
        )
        .unwrap();
        assert_eq!(asked, Some((191, 240)));
        assert_eq!((t.offset, t.method), (191, Method::Conservative));
    }

    #[test]
    fn no_sync_below_starts_at_log_start() {
        let t = translate(50, &[s(100, 90)], 7, 500, none, any).unwrap();
        assert_eq!(
            (t.offset, t.method, t.worst_case_duplicates),
            (7, Method::LogStart, None)
        );
    }

    #[test]
    fn nothing_consumed_starts_at_log_start() {
        let t = translate(0, &[s(0, 0)], 3, 500, none, any).unwrap();
        assert_eq!((t.offset, t.method), (3, Method::NothingConsumed));
    }

    #[test]
    fn conservative_never_points_past_backup_end() {
        let t = translate(150, &[s(100, 90)], 0, 90, none, any).unwrap();
        assert_eq!(t.offset, 90);
    }

    #[test]
    fn a_sync_point_below_the_log_start_is_clamped_and_the_expired_records_counted() {
        // The group's next record (backup 190) and 9 after it expired: log start 200.
        let t = translate(200, &[s(100, 90), s(200, 190)], 200, 500, none, any).unwrap();
        assert_eq!(
            (t.offset, t.method, t.clamped_from),
            (200, Method::SyncPoint, Some(190))
        );
        assert_eq!((t.expired_skipped, t.expired_skipped_at_least), (10, 10));
        assert_eq!(t.worst_case_duplicates, Some(0));
    }

    #[test]
    fn a_conservative_clamp_counts_at_most_and_at_least() {
        // MM2's rule says 91 with up to 49 re-deliveries: the true position is in
        // [91, 140]; with log start 120, 29 records are skipped at most, 0 at least,
        // and at most 20 seen again.
        let t = translate(150, &[s(100, 90), s(200, 190)], 120, 500, none, any).unwrap();
        assert_eq!((t.offset, t.method), (120, Method::Conservative));
        assert_eq!((t.expired_skipped, t.expired_skipped_at_least), (29, 0));
        assert_eq!(t.worst_case_duplicates, Some(20));
        // Log start 160: at least 20 of the 69 were unconsumed, none can repeat.
        let t = translate(150, &[s(100, 90), s(200, 190)], 160, 500, none, any).unwrap();
        assert_eq!(
            (t.offset, t.expired_skipped, t.expired_skipped_at_least),
            (160, 69, 20)
        );
        assert_eq!(t.worst_case_duplicates, Some(0));
    }

    #[test]
    fn a_twin_after_a_log_start_that_cut_the_window_is_not_trusted() {
        // Lower sync's copy at 90, log start 120: the twin of record 149 may have expired,
        // and the match at 130 may be a later identical record. Start at the log start.
        let t = translate(
            150,
            &[s(100, 90), s(200, 190)],
            120,
            500,
            |_, _| Ok::<_, ()>(vec![130]),
            any,
        )
        .unwrap();
        assert_eq!((t.offset, t.method), (120, Method::Conservative));
        assert_eq!(t.worst_case_duplicates, Some(11));
        assert_eq!(t.expired_skipped, 29);
        // Found by the property below: no sync, log start 1. The group's last record (0)
        // expired; record 1 is identical but unconsumed, not its twin: start at 1.
        let t = translate(1, &[], 1, 2, |_, _| Ok::<_, ()>(vec![1]), any).unwrap();
        assert_eq!(
            (t.offset, t.method, t.worst_case_duplicates),
            (1, Method::LogStart, Some(1))
        );
        // Not cut (log start at the lower sync's copy): the twin is exact.
        let t = translate(
            150,
            &[s(100, 90), s(200, 190)],
            91,
            500,
            |_, _| Ok::<_, ()>(vec![130]),
            any,
        )
        .unwrap();
        assert_eq!(
            (t.offset, t.method, t.expired_skipped),
            (131, Method::Fingerprint, 0)
        );
    }

    #[test]
    fn bound_clamps_to_the_high_watermark_without_counting_a_skip() {
        let t = from_checkpoint(150, 300, &[s(100, 90)]);
        let b = bound(t.clone(), 0, 250);
        assert_eq!(
            (b.offset, b.clamped_from, b.expired_skipped),
            (250, Some(300), 0)
        );
        let b = bound(t, 310, 400);
        assert_eq!(
            (b.offset, b.clamped_from, b.expired_skipped),
            (310, Some(300), 10)
        );
        // Inside the bounds: untouched; a second clamp keeps the first origin.
        let inside = bound(from_checkpoint(150, 300, &[]), 0, 400);
        assert_eq!((inside.offset, inside.clamped_from), (300, None));
        let twice = bound(bound(from_checkpoint(1, 5, &[]), 10, 20), 15, 20);
        assert_eq!(
            (twice.offset, twice.clamped_from, twice.expired_skipped),
            (15, Some(5), 10)
        );
    }

    #[test]
    fn search_errors_propagate() {
        let r = translate(
            150,
            &[s(100, 90)],
            0,
            500,
            |_, _| Err::<Vec<i64>, _>("boom"),
            |_, _| Ok(true),
        );
        assert_eq!(r.unwrap_err(), "boom");
    }
    #[test]
    fn the_run_rules_out_only_on_evidence() {
        // Source: ... 5 6 7 8 | 9 (last). Run newest first: 8 7 6 5.
        let run = [8, 7, 6, 5];
        assert!(run_found_before(&run, &9, &[4, 5, 6, 7, 8]));
        // A copy of 9 preceded by 19 (another record): ruled out.
        assert!(!run_found_before(&run, &9, &[16, 17, 18, 19]));
        // MM2 restarted at 7 after copying 8: ... 5 6 7 8 7 8 | 9.
        assert!(run_found_before(&run, &9, &[5, 6, 7, 8, 7, 8]));
        // Or after copying 9 itself: ... 7 8 9 8 | 9.
        assert!(run_found_before(&run, &9, &[7, 8, 9, 8]));
        // Too few records (log start, markers): not ruled out.
        assert!(run_found_before(&run, &9, &[7, 8]));
    }

    /// Issue 9, case 1: a later identical copy of the last consumed record must not make
    /// the group skip the records between the copies.
    #[test]
    fn identical_records_never_skip_and_the_run_picks_the_twin() {
        let syncs = [s(0, 0), s(100, 100)];
        // Two candidates, the run says the first: exact.
        let t = translate(
            10,
            &syncs,
            0,
            200,
            |_, _| Ok::<_, ()>(vec![20, 9]),
            |c, _| Ok(c == 9),
        )
        .unwrap();
        assert_eq!(
            (t.offset, t.method, t.worst_case_duplicates),
            (10, Method::Fingerprint, Some(0))
        );
        // The run says the second: exact at the second.
        let t = translate(
            21,
            &syncs,
            0,
            200,
            |_, _| Ok::<_, ()>(vec![9, 20]),
            |c, _| Ok(c == 20),
        )
        .unwrap();
        assert_eq!((t.offset, t.method), (21, Method::Fingerprint));
        // The run cannot tell them apart: the earliest, reported, with what may repeat.
        let t = translate(
            10,
            &syncs,
            0,
            200,
            |_, _| Ok::<_, ()>(vec![9, 14, 20]),
            |_, _| Ok(true),
        )
        .unwrap();
        assert_eq!(
            (t.offset, t.method, t.worst_case_duplicates),
            (10, Method::Ambiguous, Some(11))
        );
        assert!(!t.method.is_exact());
        // No candidate has the run: all stay candidates.
        let t = translate(
            10,
            &syncs,
            0,
            200,
            |_, _| Ok::<_, ()>(vec![9, 20]),
            |_, _| Ok(false),
        )
        .unwrap();
        assert_eq!((t.offset, t.method), (10, Method::Ambiguous));
        // The run among three picks two: the earlier of those.
        let t = translate(
            10,
            &syncs,
            0,
            200,
            |_, _| Ok::<_, ()>(vec![3, 9, 20]),
            |c, _| Ok(c != 3),
        )
        .unwrap();
        assert_eq!(
            (t.offset, t.method, t.worst_case_duplicates),
            (10, Method::Ambiguous, Some(11))
        );
    }

    #[test]
    fn mm2_rule_is_the_conservative_offset() {
        let syncs = [s(100, 90), s(200, 190)];
        assert_eq!(mm2_rule(150, &syncs), Some(91));
        assert_eq!(mm2_rule(200, &syncs), Some(190));
        assert_eq!(mm2_rule(250, &syncs), Some(191));
        assert_eq!(mm2_rule(99, &syncs), None);
        // The same answer `translate` falls back to when no twin is found.
        let t = translate(150, &syncs, 0, 500, none, any).unwrap();
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

/// Property tests over arbitrary logs with identical records, MM2 re-copies and sync
/// subsets: a translation never skips a record the group has not consumed, and stays
/// inside the backup's log.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A primary log (record contents from a small alphabet, so identical records are
    /// common), what MM2 copied (the primary offset of each backup record, in order,
    /// with re-copied stretches), syncs (a subset of the copies), and a position.
    #[derive(Debug, Clone)]
    struct Case {
        content: Vec<u8>,
        copied_from: Vec<i64>,
        syncs: Vec<SyncPoint>,
        committed: i64,
        /// The backup's log start: records below it expired there.
        log_start: i64,
    }

    fn case() -> impl Strategy<Value = Case> {
        (1usize..60, 0u8..4)
            .prop_flat_map(|(len, alphabet)| {
                (
                    proptest::collection::vec(0..=alphabet, len),
                    0..=len,
                    proptest::collection::vec((0..len, 1usize..6), 0..2),
                    proptest::collection::vec(any::<bool>(), len * 2),
                    1..=len as i64,
                    (any::<bool>(), 0..=len as i64),
                )
            })
            .prop_map(
                |(content, copied, rewinds, pick, committed, (expire, start))| {
                    let mut copied_from = Vec::new();
                    let mut u = 0usize;
                    let mut rewinds = rewinds;
                    rewinds.sort();
                    let mut next_rewind = 0;
                    while u < copied {
                        copied_from.push(u as i64);
                        // MM2 restarted from an older committed offset: a stretch again.
                        if next_rewind < rewinds.len() && rewinds[next_rewind].0 == u {
                            let back = rewinds[next_rewind].1.min(u);
                            next_rewind += 1;
                            u -= back;
                        }
                        u += 1;
                    }
                    // Syncs name the latest copy of a record, never going backwards, and as in
                    // MM2 there is one at the first record after the (re)start.
                    let restart =
                        (1..copied_from.len()).find(|&d| copied_from[d] <= copied_from[d - 1]);
                    let mut syncs = Vec::new();
                    let mut last_d = -1i64;
                    for (d, &up) in copied_from.iter().enumerate() {
                        let latest = copied_from.iter().rposition(|&x| x == up) == Some(d);
                        let wanted = pick.get(d).copied().unwrap_or(false) || Some(d) == restart;
                        if latest && wanted && d as i64 > last_d {
                            syncs.push(SyncPoint {
                                upstream: up,
                                downstream: d as i64,
                            });
                            last_d = d as i64;
                        }
                    }
                    // Half the cases: the backup's retention deleted a prefix of its log.
                    let log_start = if expire {
                        start.min(copied_from.len() as i64)
                    } else {
                        0
                    };
                    Case {
                        content,
                        copied_from,
                        syncs,
                        committed,
                        log_start,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn translation_never_skips_an_unconsumed_record(c in case()) {
            let hwm = c.copied_from.len() as i64;
            let content_at = |backup: i64| c.content[c.copied_from[backup as usize] as usize];
            let last = c.committed - 1;
            let want = c.content[last as usize];
            let start = c.log_start;
            let t = translate(
                c.committed,
                &c.syncs,
                start,
                hwm,
                |from, until| {
                    // Only records at or past the log start can be read.
                    Ok::<_, ()>((from.max(start)..until).filter(|&j| content_at(j) == want).collect())
                },
                |cand, not_before| {
                    // As groups.translate does: the primary's 4 records before `last`
                    // against the backup's before the candidate, back to the sync.
                    let run: Vec<u8> = (1..=4i64)
                        .map(|k| last - k)
                        .filter(|u| *u >= 0)
                        .map(|u| c.content[u as usize])
                        .collect();
                    let from = (cand - RUN_LOOKBACK as i64).max(not_before).max(start);
                    let before: Vec<u8> = (from..cand).map(content_at).collect();
                    Ok(run_found_before(&run, &want, &before))
                },
            )
            .unwrap();
            prop_assert!((start..=hwm).contains(&t.offset), "{t:?} outside [{start}, {hwm}]");
            // Every unconsumed record MM2 copied that is still on the backup has a copy at
            // or after the offset; those whose every copy expired are counted.
            let mut expired = 0;
            for u in c.committed..c.content.len() as i64 {
                if let Some(j) = c.copied_from.iter().rposition(|&x| x == u) {
                    if (j as i64) < start {
                        expired += 1;
                        continue;
                    }
                    prop_assert!(
                        j as i64 >= t.offset,
                        "primary record {u} (not consumed, position {}) is only at backup {j}, before the translated offset {}: skipped ({t:?}, {c:?})",
                        c.committed, t.offset
                    );
                }
            }
            prop_assert!(t.expired_skipped_at_least <= t.expired_skipped, "{t:?}");
            if start == 0 {
                prop_assert_eq!(t.expired_skipped, 0, "nothing expired: {:?}", t);
            }
            // Never hidden: where the position can be placed at all (a sync at or below
            // it), the expired records it skips are counted.
            if !matches!(t.method, Method::LogStart | Method::NothingConsumed) {
                prop_assert!(
                    expired <= t.expired_skipped,
                    "{expired} unconsumed record(s) expired on the backup, {} reported ({t:?}, {c:?})",
                    t.expired_skipped
                );
            }
        }
    }
}

/// Property tests over the offset-sync store and translation together (issue 9, case 5):
/// a topic recreated on the source (the new incarnation's copies follow the old ones on
/// the target) or on the target (the copy starts again at 0), syncs of both recorded in
/// the journal, with or without topic ids. A position of the current incarnation never
/// skips one of its unconsumed records, and a group known to have consumed nothing of it
/// starts at or before its first copy.
#[cfg(test)]
mod incarnations {
    use super::*;
    use crate::dr::{valid_syncs, Logs, RecordedSync};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Case {
        /// Records of the older and of the current incarnation (contents from a small
        /// alphabet: identical records across incarnations are common).
        old: Vec<u8>,
        new: Vec<u8>,
        /// True: the topic was recreated on the target (the source continued); false: on
        /// the source (the target continued).
        target_recreated: bool,
        pick: Vec<bool>,
        with_ids: bool,
        committed: i64,
        /// A position anywhere in the source log (reduced modulo its length).
        committed_any: i64,
    }

    fn case() -> impl Strategy<Value = Case> {
        (1usize..30, 1usize..30, 0u8..3)
            .prop_flat_map(|(n_old, n_new, alphabet)| {
                (
                    proptest::collection::vec(0..=alphabet, n_old),
                    proptest::collection::vec(0..=alphabet, n_new),
                    any::<bool>(),
                    proptest::collection::vec(any::<bool>(), n_old + n_new),
                    any::<bool>(),
                    0..=n_new as i64,
                    0..64i64,
                )
            })
            .prop_map(
                |(old, new, target_recreated, pick, with_ids, committed, committed_any)| Case {
                    old,
                    new,
                    target_recreated,
                    pick,
                    with_ids,
                    committed,
                    committed_any,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn a_recreated_topic_never_makes_a_group_skip(c in case()) {
            let n_old = c.old.len() as i64;
            // The current target log: (content) at each offset, and where each current
            // source record was copied.
            let (target, new_copy_at): (Vec<u8>, Vec<i64>) = if c.target_recreated {
                // Source continued: the current incarnation of the SOURCE is the whole
                // log (old records then new), its current records past n_old were copied
                // into the new target from 0. The group's position counts from n_old.
                (c.new.clone(), (0..c.new.len() as i64).collect())
            } else {
                let mut t = c.old.clone();
                t.extend(&c.new);
                (t, (0..c.new.len() as i64).map(|u| n_old + u).collect())
            };
            // The syncs MM2 emitted, in order: the older copy's, then the current one's
            // (always one at its first record: the upstream skip or downstream rewind).
            let (src_old, src_new) = if c.target_recreated { ("A1", "A1") } else { ("A1", "A2") };
            let (tgt_old, tgt_new) = if c.target_recreated { ("B1", "B2") } else { ("B1", "B1") };
            let ids = |s: &str| c.with_ids.then(|| s.to_string());
            let mut history = Vec::new();
            for u in 0..n_old {
                if c.pick[u as usize] {
                    history.push(RecordedSync {
                        sync: SyncPoint { upstream: u, downstream: u },
                        source_topic_id: ids(src_old),
                        target_topic_id: ids(tgt_old),
                    });
                }
            }
            // Upstream offsets of the current records as the source numbers them.
            let up = |i: i64| if c.target_recreated { n_old + i } else { i };
            for i in 0..c.new.len() as i64 {
                if i == 0 || c.pick[(n_old + i) as usize] {
                    history.push(RecordedSync {
                        sync: SyncPoint { upstream: up(i), downstream: new_copy_at[i as usize] },
                        source_topic_id: ids(src_new),
                        target_topic_id: ids(tgt_new),
                    });
                }
            }
            let hwm = target.len() as i64;
            let valid = valid_syncs(&history, &Logs {
                source_topic_id: Some(src_new),
                target_topic_id: Some(tgt_new),
                target_high_watermark: hwm,
                source_log_end: None,
            });
            // The current source log and the group's position in it: with the target
            // recreated the source continued, and the group may be anywhere in it (its
            // records before n_old were copied into the target's older incarnation only).
            let source: Vec<u8> = if c.target_recreated {
                c.old.iter().chain(&c.new).copied().collect()
            } else {
                c.new.clone()
            };
            let committed = if c.target_recreated {
                c.committed_any % (source.len() as i64 + 1)
            } else {
                c.committed
            };
            let want = (committed >= 1).then(|| source[(committed - 1) as usize]);
            let t = translate(
                committed,
                &valid.syncs,
                0,
                hwm,
                |from, until| Ok::<_, ()>(match want {
                    Some(w) => (from..until).filter(|&j| target[j as usize] == w).collect(),
                    None => Vec::new(),
                }),
                |_, _| Ok(true),
            )
            .unwrap();
            for i in 0..c.new.len() as i64 {
                if up(i) < committed {
                    continue;
                }
                let at = new_copy_at[i as usize];
                prop_assert!(
                    at >= t.offset,
                    "unconsumed record {} (copied at {at}) skipped: position {committed} translated to {} ({t:?}, valid {valid:?}, {c:?})",
                    up(i),
                    t.offset
                );
            }
            // Nothing of the current incarnation consumed (a position of the older one
            // ignored): at or before its first copy.
            let start = valid.incarnation_start(0);
            prop_assert!(start <= new_copy_at[0], "start {start} past the first copy {} ({valid:?}, {c:?})", new_copy_at[0]);
        }
    }
}
