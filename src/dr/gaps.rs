//! Silent gaps (issue 14): ways an MM2 deployment loses data or goes stale without any
//! error, found before the incident instead of during it. Values in, values out; the
//! recorder (metrics) and `kafka-dr check` (problems) share these rules.

/// Records the primary expired (retention, DeleteRecords) before MM2 copied them: MM2's
/// next offset to copy is below the primary's log start, so `[next_to_copy, log_start)`
/// will never reach the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredBeforeCopied {
    pub topic: String,
    pub partition: i32,
    pub next_to_copy: i64,
    pub log_start: i64,
    /// `log_start - next_to_copy`: how many offsets were lost for the backup (records,
    /// or fewer where the range held transaction markers).
    pub records: i64,
}

/// The partitions whose MM2 position (`Some(next)`, from the source connector's
/// offsets; `None`: unknown, nothing is concluded) lies below the primary's log start.
pub fn expired_before_copied<'a>(
    partitions: impl IntoIterator<Item = (&'a str, i32, i64, Option<i64>)>,
) -> Vec<ExpiredBeforeCopied> {
    partitions
        .into_iter()
        .filter_map(|(topic, partition, log_start, next)| {
            let next = next?;
            (next < log_start).then(|| ExpiredBeforeCopied {
                topic: topic.to_string(),
                partition,
                next_to_copy: next,
                log_start,
                records: log_start - next,
            })
        })
        .collect()
}

/// MM2 emits checkpoints every `emit.checkpoints.interval.seconds` (60 by default), but
/// only for a group whose translated position moved ("Skipping ... (repeated
/// checkpoint)" in MirrorCheckpointTask): an idle group's newest checkpoint grows old on
/// a healthy flow. A checkpoint is stale when it is older than this many seconds AND the
/// group has moved on since by more than the translation can hide (see
/// `checkpoints_behind`).
pub const CHECKPOINT_STALE_SECONDS: f64 = 300.0;

/// How old a moving group's newest checkpoint may get, for a checkpoint connector that
/// emits every `interval_seconds` (`None`: MM2's default, 60): five intervals, and never
/// under 30 s (a checkpoint is written after the interval, and read back a little later).
pub fn checkpoint_stale_after(interval_seconds: Option<f64>) -> f64 {
    match interval_seconds {
        Some(i) if i.is_finite() && i > 0.0 => (5.0 * i).max(30.0),
        _ => CHECKPOINT_STALE_SECONDS,
    }
}

/// One group-partition whose newest checkpoint is old while the group moved on.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointBehind {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset on the primary now.
    pub committed: i64,
    /// The upstream offset of its newest checkpoint.
    pub checkpointed: i64,
    pub age_seconds: f64,
}

/// The group-partitions (`(group, topic, partition, committed)` on the primary) whose
/// newest checkpoint (`newest(group, topic, partition)` -> `(upstream offset, timestamp
/// ms)`) is older than `threshold_seconds` at `now_ms` while the group committed more than
/// 2 x `offset_lag_max` past it. MM2 translates a position through the newest offset sync
/// at or below it, and writes a sync at least every `offset.lag.max` records: a group that
/// moved further than that has a new translation, which MM2 would have checkpointed
/// within its interval. A group-partition without any checkpoint is not concluded on.
pub fn checkpoints_behind<'a>(
    positions: impl IntoIterator<Item = (&'a str, &'a str, i32, i64)>,
    newest: impl Fn(&str, &str, i32) -> Option<(i64, i64)>,
    now_ms: i64,
    threshold_seconds: f64,
    offset_lag_max: i64,
) -> Vec<CheckpointBehind> {
    checkpoints_behind_joined(
        positions
            .into_iter()
            .filter_map(|(g, t, p, c)| Some((g, t, p, c, newest(g, t, p)?))),
        now_ms,
        threshold_seconds,
        offset_lag_max,
    )
}

/// `checkpoints_behind`, of positions already joined with their newest checkpoint:
/// `(group, topic, partition, committed, (upstream offset, timestamp ms))`.
pub fn checkpoints_behind_joined<'a>(
    joined: impl IntoIterator<Item = (&'a str, &'a str, i32, i64, (i64, i64))>,
    now_ms: i64,
    threshold_seconds: f64,
    offset_lag_max: i64,
) -> Vec<CheckpointBehind> {
    let allowed = offset_lag_max.max(1).saturating_mul(2);
    joined
        .into_iter()
        .filter_map(
            |(group, topic, partition, committed, (checkpointed, at_ms))| {
                let age_seconds = (now_ms.saturating_sub(at_ms)).max(0) as f64 / 1000.0;
                (age_seconds > threshold_seconds
                    && committed.saturating_sub(checkpointed) > allowed)
                    .then(|| CheckpointBehind {
                        group: group.to_string(),
                        topic: topic.to_string(),
                        partition,
                        committed,
                        checkpointed,
                        age_seconds,
                    })
            },
        )
        .collect()
}

/// MM2 writes an offset sync for a partition at least every `offset.lag.max` records it
/// copies (100 by default; Kafka 3.5+). MM2 having copied more than this many times that
/// past a partition's newest sync means its syncs stopped (the offset-syncs topic cannot
/// be written, `emit.offset-syncs.enabled=false`, a huge `offset.lag.max`): a failover
/// then translates from that old sync, and the groups start that far back.
pub const SYNC_STALL_FACTOR: i64 = 10;

/// MM2's `offset.lag.max` when the source connector's config does not set it.
pub const DEFAULT_OFFSET_LAG_MAX: i64 = 100;

/// The source connector's `offset.lag.max` from its config, or MM2's default.
pub fn offset_lag_max(source_config: Option<&std::collections::BTreeMap<String, String>>) -> i64 {
    source_config
        .and_then(|c| c.get("offset.lag.max"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_OFFSET_LAG_MAX)
}

/// The checkpoint connector's `emit.checkpoints.interval.seconds` from its config, if set.
pub fn checkpoint_interval(config: &std::collections::BTreeMap<String, String>) -> Option<f64> {
    config
        .get("emit.checkpoints.interval.seconds")
        .and_then(|v| v.trim().parse().ok())
}

/// A partition whose offset syncs stopped advancing while MM2 kept copying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncsStalled {
    pub topic: String,
    pub partition: i32,
    /// MM2's next offset to copy on the primary.
    pub next_to_copy: i64,
    /// The upstream offset of the partition's newest sync; `None`: it has none.
    pub newest_sync: Option<i64>,
    /// Records copied since that sync (since offset 0 without one).
    pub copied_since: i64,
}

/// The partitions whose MM2 position (`Some(next)`, from the source connector's offsets;
/// `None`: unknown, nothing is concluded) is more than `SYNC_STALL_FACTOR` x
/// `offset_lag_max` records past their newest offset sync (`None`: no sync; then past
/// their `log_start`, since MM2 copies from there).
pub fn syncs_stalled<'a>(
    partitions: impl IntoIterator<Item = (&'a str, i32, i64, Option<i64>, Option<i64>)>,
    offset_lag_max: i64,
) -> Vec<SyncsStalled> {
    let allowed = SYNC_STALL_FACTOR.saturating_mul(offset_lag_max.max(1));
    partitions
        .into_iter()
        .filter_map(|(topic, partition, log_start, next, newest_sync)| {
            let next = next?;
            let from = newest_sync.unwrap_or(log_start);
            let copied_since = next.saturating_sub(from);
            (copied_since > allowed).then(|| SyncsStalled {
                topic: topic.to_string(),
                partition,
                next_to_copy: next,
                newest_sync,
                copied_since,
            })
        })
        .collect()
}

/// A topic whose id changed since kafka-dr last saw it: it was deleted and created again.
/// MM2's source offsets and offset syncs, and the positions kafka-dr recorded, belong to
/// the old topic; MM2 may have resumed the new one at the old one's offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecreated {
    pub topic: String,
    pub old_id: String,
    pub new_id: String,
}

/// The topics of `now` (topic -> id) whose id differs from the one in `before` (the last
/// id seen per topic). A topic new to `before` is not a recreation.
pub fn topics_recreated(
    before: &std::collections::BTreeMap<String, String>,
    now: &std::collections::BTreeMap<String, String>,
) -> Vec<TopicRecreated> {
    now.iter()
        .filter_map(|(topic, id)| {
            let old = before.get(topic)?;
            (old != id).then(|| TopicRecreated {
                topic: topic.clone(),
                old_id: old.clone(),
                new_id: id.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_position_below_the_log_start_is_a_gap() {
        let gaps = expired_before_copied([
            ("t", 0, 100, Some(40)),
            ("t", 1, 100, Some(100)),
            ("t", 2, 100, Some(150)),
            ("t", 3, 100, None),
        ]);
        assert_eq!(
            gaps,
            vec![ExpiredBeforeCopied {
                topic: "t".into(),
                partition: 0,
                next_to_copy: 40,
                log_start: 100,
                records: 60
            }]
        );
    }

    #[test]
    fn an_old_checkpoint_is_stale_only_when_the_group_moved_on() {
        let now = 1_000_000_000;
        let old = now - 400_000; // 400 s ago
        let newest = |g: &str, _: &str, p: i32| match (g, p) {
            ("idle", _) => Some((500, old)),
            ("moved", 0) => Some((500, old)),
            ("moved", 1) => Some((500, now - 10_000)), // fresh
            _ => None,
        };
        let found = checkpoints_behind(
            [
                // Idle since its checkpoint: MM2 rightly emits nothing new.
                ("idle", "t", 0, 500),
                // Moved 150 past it: within what one sync step hides (2 x 100).
                ("idle", "t", 1, 650),
                // Moved 1000 past a 400 s old checkpoint: stale.
                ("moved", "t", 0, 1500),
                // Moved as far, but the checkpoint is fresh.
                ("moved", "t", 1, 1500),
                // No checkpoint at all: not concluded.
                ("new", "t", 0, 9000),
            ],
            newest,
            now,
            CHECKPOINT_STALE_SECONDS,
            100,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].group.as_str(), found[0].partition), ("moved", 0));
        assert_eq!(found[0].checkpointed, 500);
        assert!((found[0].age_seconds - 400.0).abs() < 1e-9);
    }

    #[test]
    fn the_staleness_threshold_follows_the_emit_interval() {
        assert_eq!(checkpoint_stale_after(None), 300.0);
        assert_eq!(checkpoint_stale_after(Some(60.0)), 300.0);
        assert_eq!(checkpoint_stale_after(Some(600.0)), 3000.0);
        assert_eq!(checkpoint_stale_after(Some(1.0)), 30.0);
        assert_eq!(checkpoint_stale_after(Some(0.0)), 300.0);
        assert_eq!(checkpoint_stale_after(Some(f64::NAN)), 300.0);
    }

    #[test]
    fn a_changed_topic_id_is_a_recreation_and_a_new_topic_is_not() {
        let ids = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(t, i)| (t.to_string(), i.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let found = topics_recreated(
            &ids(&[("a", "A1"), ("b", "B1"), ("gone", "G1")]),
            &ids(&[("a", "A1"), ("b", "B2"), ("new", "N1")]),
        );
        assert_eq!(
            found,
            vec![TopicRecreated {
                topic: "b".into(),
                old_id: "B1".into(),
                new_id: "B2".into()
            }]
        );
    }

    #[test]
    fn syncs_that_stopped_while_mm2_copies_are_a_gap() {
        let found = syncs_stalled(
            [
                // Synced 50 records ago: fine.
                ("t", 0, 0, Some(1050), Some(1000)),
                // 1001 records past the newest sync, over 10 x 100.
                ("t", 1, 0, Some(2001), Some(1000)),
                // No sync at all, 5000 copied since the log start 0.
                ("t", 2, 0, Some(5000), None),
                // No sync, but only 10 copied since the log start.
                ("t", 3, 4990, Some(5000), None),
                // MM2's position unknown: nothing concluded.
                ("t", 4, 0, None, Some(1)),
            ],
            100,
        );
        let found: Vec<(i32, i64)> = found
            .iter()
            .map(|g| (g.partition, g.copied_since))
            .collect();
        assert_eq!(found, vec![(1, 1001), (2, 5000)]);
        // A larger `offset.lag.max` allows proportionally more.
        assert!(syncs_stalled([("t", 1, 0, Some(2001), Some(1000))], 1000).is_empty());
    }

    proptest! {
        /// A stall is reported exactly when MM2 copied more than the allowance past the
        /// newest sync (or the log start without one), and says how many.
        #[test]
        fn a_stall_is_exactly_too_many_copied_since_the_sync(
            log_start in 0i64..10_000,
            next in proptest::option::of(0i64..20_000),
            sync in proptest::option::of(0i64..20_000),
            lag_max in 1i64..500,
        ) {
            let found = syncs_stalled([("t", 0, log_start, next, sync)], lag_max);
            match next {
                Some(n) if n - sync.unwrap_or(log_start) > SYNC_STALL_FACTOR * lag_max => {
                    prop_assert_eq!(found.len(), 1);
                    prop_assert_eq!(found[0].copied_since, n - sync.unwrap_or(log_start));
                }
                _ => prop_assert!(found.is_empty()),
            }
        }

        /// A gap is reported exactly when MM2's position is known and below the log
        /// start, and its size is what lies between them.
        #[test]
        fn gaps_are_exactly_the_unreachable_ranges(start in 0i64..1000, next in proptest::option::of(0i64..1000)) {
            let gaps = expired_before_copied([("t", 0, start, next)]);
            match next {
                Some(n) if n < start => {
                    prop_assert_eq!(gaps.len(), 1);
                    prop_assert_eq!(gaps[0].records, start - n);
                    prop_assert!(gaps[0].records > 0);
                }
                _ => prop_assert!(gaps.is_empty()),
            }
        }
    }
}
