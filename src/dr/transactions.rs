//! Transactions in the DR arithmetic: which records of a tail a replay may publish, and
//! what MirrorMaker 2's source consumer reads.
//!
//! librdkafka never hands a consumer a control record (a transaction's commit or abort
//! marker), and a read_uncommitted consumer cannot tell an aborted record from a committed
//! one. So a tail is read twice: read_uncommitted for every record, read_committed for the
//! offsets that committed ([`CommittedView`]). A record in the first read and not the
//! second, below the last stable offset, was aborted; one at or past the last stable
//! offset belongs to a transaction still open. Offsets in neither read are control markers
//! (or, on a compacted topic, records compaction removed).
//!
//! MM2 (Kafka 4.1, `MirrorSourceConfig.sourceConsumerConfig`) builds its source consumer
//! from the connector's `consumer.*` keys, then `source.consumer.*` (which win), and sets
//! no isolation level of its own: Kafka's consumer default, `read_uncommitted`, applies.
//! Its `exactly.once.support=required` is refused unless the consumer reads
//! `read_committed` ([`mm2_source_isolation`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a quarantined record's transaction did, as far as the old primary knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxnState {
    /// Visible to a read_committed consumer: a committed transaction's record, or one
    /// written without a transaction. A replay may publish it.
    Committed,
    /// Written in a transaction that was aborted: no read_committed consumer ever saw it,
    /// and a replay must not publish it.
    Aborted,
    /// At or past the last stable offset when the tail was read: its transaction was still
    /// open (its producer died before committing or aborting it; the coordinator aborts it
    /// after the producer's `transaction.timeout.ms`). Not to be replayed as committed.
    Open,
}

impl TxnState {
    /// Whether a replay may publish the record.
    pub fn replayable(self) -> bool {
        self == TxnState::Committed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TxnState::Committed => "committed",
            TxnState::Aborted => "aborted",
            TxnState::Open => "open",
        }
    }
}

/// The offsets of one partition a read_committed consumer read: sorted, disjoint,
/// half-open runs `[start, end)`, read up to `stable` (the last stable offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedView {
    pub runs: Vec<(i64, i64)>,
    pub stable: i64,
}

impl CommittedView {
    /// A view that holds every offset: for a read where no transaction can be involved.
    pub fn everything() -> CommittedView {
        CommittedView {
            runs: vec![(i64::MIN, i64::MAX)],
            stable: i64::MAX,
        }
    }

    /// The state of the record at `offset` (a record the read_uncommitted read returned).
    pub fn state(&self, offset: i64) -> TxnState {
        if offset >= self.stable {
            return TxnState::Open;
        }
        // The last run starting at or before `offset`.
        let i = self.runs.partition_point(|&(start, _)| start <= offset);
        match i.checked_sub(1).map(|i| self.runs[i]) {
            Some((_, end)) if offset < end => TxnState::Committed,
            _ => TxnState::Aborted,
        }
    }
}

/// Counts of a partition's tail by transaction state, and its offsets without a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnCounts {
    pub committed: u64,
    pub aborted: u64,
    pub open: u64,
}

impl TxnCounts {
    pub fn add(&mut self, state: TxnState) {
        match state {
            TxnState::Committed => self.committed += 1,
            TxnState::Aborted => self.aborted += 1,
            TxnState::Open => self.open += 1,
        }
    }

    /// Records a replay must not publish.
    pub fn not_replayable(&self) -> u64 {
        self.aborted + self.open
    }
}

/// How MM2's source connector reads the primary, from its connector config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mm2SourceIsolation {
    /// True when the source consumer reads `read_committed`.
    pub read_committed: bool,
    /// The config key that decided it (`None`: Kafka's default, `read_uncommitted`).
    pub decided_by: Option<String>,
    /// The connector's `exactly.once.support` (`required`, `requested`), if set.
    pub exactly_once_support: Option<String>,
}

/// The isolation level MM2's MirrorSourceConnector consumer uses with `config` (the
/// connector's config as Connect's REST API returns it): `source.consumer.isolation.level`
/// wins over `consumer.isolation.level`; neither set means `read_uncommitted`.
pub fn mm2_source_isolation(config: &BTreeMap<String, String>) -> Mm2SourceIsolation {
    let decided_by = [
        "source.consumer.isolation.level",
        "consumer.isolation.level",
    ]
    .into_iter()
    .find(|k| config.contains_key(*k));
    let read_committed = decided_by
        .and_then(|k| config.get(k))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("read_committed"));
    Mm2SourceIsolation {
        read_committed,
        decided_by: decided_by.map(str::to_string),
        exactly_once_support: config.get("exactly.once.support").cloned(),
    }
}

impl Mm2SourceIsolation {
    /// True when MM2 is known to copy exactly-once: the connector has
    /// `exactly.once.support=required` (Connect then refuses to start it unless every
    /// worker runs `exactly.once.source.support=enabled`, and MirrorSourceConnector
    /// declares the support only when its source consumer reads `read_committed`).
    pub fn exactly_once(&self) -> bool {
        self.read_committed && self.requires_exactly_once()
    }

    fn requires_exactly_once(&self) -> bool {
        self.exactly_once_support
            .as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("required"))
    }

    /// One sentence for `check`: whether MM2 copies exactly-once, and why it says so.
    pub fn delivery(&self) -> String {
        if self.exactly_once() {
            return "exactly-once: `exactly.once.support=required` (Connect runs the connector only on workers with `exactly.once.source.support=enabled`) and its source consumer reads read_committed".to_string();
        }
        if !self.read_committed {
            let how = if self.requires_exactly_once() {
                "; `exactly.once.support=required` with it: Connect refuses to start the connector"
            } else {
                ""
            };
            return format!("not exactly-once: its source consumer reads read_uncommitted, so MirrorSourceConnector declares no exactly-once support{how}");
        }
        let support = self.exactly_once_support.as_deref().unwrap_or("requested");
        format!("not proven exactly-once: `exactly.once.support` is `{support}` (Connect's default `requested` runs the connector without it on a worker without `exactly.once.source.support=enabled`, and its REST API does not show the worker's setting); set `exactly.once.support=required` to have Connect refuse otherwise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exactly_once_only_when_required_and_read_committed() {
        let iso = |rc: bool, eos: Option<&str>| Mm2SourceIsolation {
            read_committed: rc,
            decided_by: None,
            exactly_once_support: eos.map(str::to_string),
        };
        assert!(iso(true, Some("required")).exactly_once());
        assert!(iso(true, Some(" REQUIRED ")).exactly_once());
        for (rc, eos) in [
            (true, None),
            (true, Some("requested")),
            (false, Some("required")),
            (false, None),
        ] {
            let i = iso(rc, eos);
            assert!(!i.exactly_once(), "{i:?}");
            assert!(i.delivery().starts_with("not "), "{}", i.delivery());
        }
        assert!(iso(true, Some("required"))
            .delivery()
            .starts_with("exactly-once"));
        assert!(iso(false, Some("required"))
            .delivery()
            .contains("refuses to start"));
    }

    fn view(runs: &[(i64, i64)], stable: i64) -> CommittedView {
        CommittedView {
            runs: runs.to_vec(),
            stable,
        }
    }

    #[test]
    fn states_of_a_tail_with_every_kind_of_transaction() {
        // 10..15 plain, 15..18 committed (marker 18), 19, 20 aborted (marker 21), 22, 23 open.
        let v = view(&[(10, 18)], 22);
        assert_eq!(v.state(10), TxnState::Committed);
        assert_eq!(v.state(17), TxnState::Committed);
        assert_eq!(v.state(19), TxnState::Aborted);
        assert_eq!(v.state(20), TxnState::Aborted);
        assert_eq!(v.state(22), TxnState::Open);
        assert_eq!(v.state(23), TxnState::Open);
        assert_eq!(
            v.state(5),
            TxnState::Aborted,
            "below every run: not committed"
        );
        assert!(CommittedView::everything().state(42).replayable());
    }

    #[test]
    fn mm2_reads_uncommitted_unless_told() {
        let cfg = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let none = mm2_source_isolation(&cfg(&[("topics", ".*")]));
        assert!(!none.read_committed && none.decided_by.is_none());
        let c = mm2_source_isolation(&cfg(&[("consumer.isolation.level", "read_committed")]));
        assert!(c.read_committed);
        // source.consumer.* wins over consumer.*, as in MirrorSourceConfig.
        let both = mm2_source_isolation(&cfg(&[
            ("consumer.isolation.level", "read_committed"),
            ("source.consumer.isolation.level", "read_uncommitted"),
            ("exactly.once.support", "required"),
        ]));
        assert!(!both.read_committed);
        assert_eq!(
            both.decided_by.as_deref(),
            Some("source.consumer.isolation.level")
        );
        assert_eq!(both.exactly_once_support.as_deref(), Some("required"));
    }

    /// A log: per offset, None (a marker), or a record that committed / aborted / is open.
    fn arb_log() -> impl Strategy<Value = Vec<Option<TxnState>>> {
        prop::collection::vec(
            prop_oneof![
                Just(None),
                Just(Some(TxnState::Committed)),
                Just(Some(TxnState::Aborted)),
            ],
            0..200,
        )
        .prop_flat_map(|log| {
            let n = log.len();
            (Just(log), 0..=n, 0..20usize)
        })
        .prop_map(|(mut log, stable, open_tail)| {
            // Past the last stable offset nothing is decided: records there are open.
            for x in log.iter_mut().skip(stable) {
                if x.is_some() {
                    *x = Some(TxnState::Open);
                }
            }
            log.extend(std::iter::repeat_n(Some(TxnState::Open), open_tail));
            log
        })
    }

    proptest! {
        /// Rebuilt from what the two reads return (the read_committed offsets as runs and
        /// the LSO), every record gets its true state: nothing aborted or open is ever
        /// called committed (a replay would publish it), and nothing committed is lost.
        #[test]
        fn classification_matches_the_log(log in arb_log(), base in 0i64..1_000_000) {
            let stable = log
                .iter()
                .position(|x| *x == Some(TxnState::Open))
                .unwrap_or(log.len()) as i64 + base;
            let mut runs: Vec<(i64, i64)> = Vec::new();
            for (i, x) in log.iter().enumerate() {
                let o = base + i as i64;
                if *x == Some(TxnState::Committed) && o < stable {
                    match runs.last_mut() {
                        Some(last) if last.1 == o => last.1 = o + 1,
                        _ => runs.push((o, o + 1)),
                    }
                }
            }
            let v = CommittedView { runs, stable };
            let mut counts = TxnCounts::default();
            for (i, x) in log.iter().enumerate() {
                if let Some(truth) = x {
                    let got = v.state(base + i as i64);
                    prop_assert_eq!(got, *truth, "offset {}", base + i as i64);
                    counts.add(got);
                }
            }
            let aborted_or_open = log
                .iter()
                .filter(|x| matches!(x, Some(TxnState::Aborted | TxnState::Open)))
                .count() as u64;
            prop_assert_eq!(counts.not_replayable(), aborted_or_open);
        }
    }
}
