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

/// MM2 emits checkpoints every `emit.checkpoints.interval.seconds` (60 by default): a
/// newest checkpoint older than this many seconds means the checkpoint connector
/// stopped emitting, and a failover from checkpoints would start groups that far back.
pub const CHECKPOINT_STALE_SECONDS: f64 = 300.0;

/// True when the newest checkpoint of a flow is older than `threshold` seconds. An
/// unknown age (no checkpoint at all) is not called stale here: a flow without groups
/// has none.
pub fn checkpoint_stale(age_seconds: Option<f64>, threshold: f64) -> bool {
    age_seconds.is_some_and(|a| a.is_finite() && a > threshold)
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
    fn stale_checkpoints() {
        assert!(checkpoint_stale(Some(301.0), CHECKPOINT_STALE_SECONDS));
        assert!(!checkpoint_stale(Some(30.0), CHECKPOINT_STALE_SECONDS));
        assert!(!checkpoint_stale(None, CHECKPOINT_STALE_SECONDS));
        assert!(!checkpoint_stale(Some(f64::NAN), CHECKPOINT_STALE_SECONDS));
    }

    proptest! {
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
