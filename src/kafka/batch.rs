//! Reading the fingerprints of many small ranges, on many partitions, with one consumer.
//!
//! Translating a thousand groups' positions, or recording them, needs a few records
//! around each position: read one range at a time, each costs a consumer, its connection
//! and handshake, and a ListOffsets (tens of milliseconds), and that cost grows with
//! every group-partition. Here one ListOffsets covers every partition, one consumer is
//! assigned all of them, each partition seeks from one range to the next, and ranges of
//! a partition that overlap or nearly touch are read as one.
//!
//! It is an optimisation, not a second source of truth: it reports exactly which ranges
//! it read in full, and any failure (a partition-level error, a timeout) fails the whole
//! batch, so the caller reads the ranges one at a time as before and gets the precise,
//! per-partition error.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::error::Resource;
use super::ffi::RdError;
use super::fingerprint::{fingerprint, Fingerprint};
use super::records::to_record;
use super::{rd_error_of, Isolation, KafkaClient, KafkaError};

/// Ranges of one partition closer than this many offsets are read as one: reading a few
/// records more costs less than another fetch round trip.
const MERGE_GAP: i64 = 200;

/// The longest a single poll waits.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// What a batch read found on one partition: the fingerprints of every record in the
/// `covered` ranges (offsets missing from the map are not in the log: compacted,
/// transaction markers, before the log start or at or past the high watermark).
#[derive(Debug, Clone, Default)]
pub struct PartitionFingerprints {
    pub covered: Vec<(i64, i64)>,
    pub fingerprints: BTreeMap<i64, Fingerprint>,
}

impl PartitionFingerprints {
    /// The fingerprints of `[from, until)`, in offset order, when that range was read.
    pub fn range(&self, from: i64, until: i64) -> Option<Vec<(i64, &Fingerprint)>> {
        if from >= until {
            return Some(Vec::new());
        }
        self.covered
            .iter()
            .any(|&(a, b)| a <= from && until <= b)
            .then(|| {
                self.fingerprints
                    .range(from..until)
                    .map(|(o, f)| (*o, f))
                    .collect()
            })
    }
}

/// Sorted, merged ranges: overlapping ones, and ones less than `gap` apart, become one.
pub fn merge_ranges(mut ranges: Vec<(i64, i64)>, gap: i64) -> Vec<(i64, i64)> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(gap) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Stop fetching a partition whose ranges are read.
fn pause(consumer: &rdkafka::consumer::BaseConsumer, key: &(String, i32)) {
    let mut one = TopicPartitionList::with_capacity(1);
    one.add_partition(&key.0, key.1);
    // A pause that fails only costs records fetched and dropped.
    let _ = consumer.pause(&one);
}

/// Per partition: the ranges still to read (clamped to the log), and which is current.
struct Cursor {
    ranges: Vec<(i64, i64)>,
    at: usize,
}

impl KafkaClient {
    /// The fingerprints of the records in every `(topic, partition, from, until)` range,
    /// read with one consumer at `isolation` (with `ReadCommitted` the records of aborted
    /// transactions are not read, and the ranges end at the last stable offset). `idle`
    /// bounds the wait for each next record. On success
    /// every requested range is covered (as far as the log holds it); any error fails
    /// the batch (see the module documentation).
    pub fn fingerprints_of_ranges(
        &self,
        ranges: &[(String, i32, i64, i64)],
        isolation: Isolation,
        idle: Duration,
    ) -> Result<HashMap<(String, i32), PartitionFingerprints>, KafkaError> {
        let op = "reading record fingerprints (batch)";
        let mut wanted: BTreeMap<(String, i32), Vec<(i64, i64)>> = BTreeMap::new();
        for (t, p, a, b) in ranges {
            wanted.entry((t.clone(), *p)).or_default().push((*a, *b));
        }
        let mut out: HashMap<(String, i32), PartitionFingerprints> = HashMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let keys: Vec<(String, i32)> = wanted.keys().cloned().collect();
        let bounds: HashMap<(String, i32), (i64, i64)> = self
            .watermarks(&keys, idle)?
            .into_iter()
            // A read_committed reader ends at the last stable offset: past it, nothing is
            // decided yet (and the reader would wait there for the rest of the range).
            .map(|w| {
                let end = match isolation {
                    Isolation::ReadUncommitted => w.latest,
                    Isolation::ReadCommitted => w.stable,
                };
                ((w.topic, w.partition), (w.earliest, end))
            })
            .collect();
        let mut cursors: HashMap<(String, i32), Cursor> = HashMap::new();
        let mut tpl = TopicPartitionList::new();
        for (key, list) in wanted {
            let merged = merge_ranges(list, MERGE_GAP);
            // What the log holds of each range now; ranges it holds nothing of are read.
            let (lo, hi) = bounds.get(&key).copied().unwrap_or((0, 0));
            let to_read: Vec<(i64, i64)> = merged
                .iter()
                .map(|&(a, b)| (a.max(lo), b.min(hi)))
                .filter(|(a, b)| a < b)
                .collect();
            out.insert(
                key.clone(),
                PartitionFingerprints {
                    covered: merged,
                    fingerprints: BTreeMap::new(),
                },
            );
            if let Some(&(start, _)) = to_read.first() {
                tpl.add_partition_offset(&key.0, key.1, Offset::Offset(start))
                    .map_err(|e| self.invalid(op, e.to_string()))?;
                cursors.insert(
                    key,
                    Cursor {
                        ranges: to_read,
                        at: 0,
                    },
                );
            }
        }
        if cursors.is_empty() {
            return Ok(out);
        }
        let consumer = self.reader_with(isolation)?;
        consumer
            .assign(&tpl)
            .map_err(|e| self.fail(op, Resource::Cluster, idle, rd_error_of(&e)))?;
        let mut open = cursors.len();
        let mut last_progress = Instant::now();
        while open > 0 {
            let left = idle.saturating_sub(last_progress.elapsed());
            if left.is_zero() {
                return Err(self.fail(
                    &format!("{op}: {open} partition(s) not read to the end of their ranges"),
                    Resource::Cluster,
                    idle,
                    RdError::timed_out(op),
                ));
            }
            let msg = match consumer.poll(left.min(POLL_SLICE)) {
                None => continue,
                Some(Ok(m)) => m,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    // The event names the partition, not the topic: ask the consumer
                    // where each open cursor of that partition number stands. At the
                    // log end, what is left of its ranges holds nothing (they were
                    // clamped to the high watermark, and the rest are markers or gaps).
                    let positions = consumer
                        .position()
                        .map_err(|e| self.fail(op, Resource::Cluster, idle, rd_error_of(&e)))?;
                    for (key, cursor) in cursors.iter_mut() {
                        if key.1 != p || cursor.at >= cursor.ranges.len() {
                            continue;
                        }
                        let at = positions
                            .find_partition(&key.0, key.1)
                            .and_then(|e| e.offset().to_raw());
                        let end = cursor.ranges.last().map_or(0, |r| r.1);
                        if at.is_some_and(|at| at >= end) {
                            cursor.at = cursor.ranges.len();
                            open -= 1;
                            pause(&consumer, key);
                        }
                    }
                    continue;
                }
                Some(Err(e)) => {
                    let rd = rd_error_of(&e);
                    if super::records::is_fatal_read_code(rd.code) {
                        return Err(self.fail(op, Resource::Cluster, idle, rd));
                    }
                    self.remember(format!(
                        "{}: {op}: {}",
                        self.cluster,
                        self.redactor.redact(&rd.message)
                    ));
                    continue;
                }
            };
            let key = (msg.topic().to_string(), msg.partition());
            let offset = msg.offset();
            let Some(cursor) = cursors.get_mut(&key) else {
                continue;
            };
            if cursor.at >= cursor.ranges.len() {
                continue;
            }
            let before = cursor.at;
            // Ranges this record is past were read to their end (the rest of them are
            // gaps: compacted away, transaction markers).
            while cursor
                .ranges
                .get(cursor.at)
                .is_some_and(|&(_, end)| offset >= end)
            {
                cursor.at += 1;
            }
            let Some(&(start, end)) = cursor.ranges.get(cursor.at) else {
                open -= 1;
                pause(&consumer, &key);
                continue;
            };
            if offset < start {
                if cursor.at != before {
                    self.seek(&consumer, &key, start, idle)?;
                }
                // Otherwise fetched before the last seek: skip it.
                continue;
            }
            last_progress = Instant::now();
            let record = to_record(&msg).map_err(|e| {
                self.fail(
                    &format!("{op} (`{}` partition {} offset {offset})", key.0, key.1),
                    Resource::Topic(key.0.clone(), Some(key.1)),
                    idle,
                    e,
                )
            })?;
            drop(msg);
            if let Some(found) = out.get_mut(&key) {
                found.fingerprints.insert(offset, fingerprint(&record));
            }
            if offset + 1 >= end {
                cursor.at += 1;
                match cursor.ranges.get(cursor.at) {
                    Some(&(next, _)) => self.seek(&consumer, &key, next, idle)?,
                    None => {
                        open -= 1;
                        pause(&consumer, &key);
                    }
                }
            }
        }
        Ok(out)
    }
}

impl KafkaClient {
    fn seek(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer,
        key: &(String, i32),
        offset: i64,
        idle: Duration,
    ) -> Result<(), KafkaError> {
        consumer
            .seek(&key.0, key.1, Offset::Offset(offset), idle)
            .map_err(|e| {
                self.fail(
                    &format!(
                        "reading record fingerprints (seeking `{}` partition {} to {offset})",
                        key.0, key.1
                    ),
                    Resource::Topic(key.0.clone(), Some(key.1)),
                    idle,
                    rd_error_of(&e),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_when_they_overlap_or_nearly_touch() {
        assert_eq!(
            merge_ranges(vec![(10, 20), (0, 5), (15, 30), (40, 41), (500, 600)], 2),
            vec![(0, 5), (10, 30), (40, 41), (500, 600)]
        );
        assert_eq!(merge_ranges(vec![(0, 5), (9, 12)], 10), vec![(0, 12)]);
        assert_eq!(merge_ranges(vec![(5, 5), (7, 3)], 10), vec![]);
    }

    #[test]
    fn a_range_is_served_only_when_read_in_full() {
        let mut pf = PartitionFingerprints {
            covered: vec![(10, 20)],
            ..Default::default()
        };
        let fp = Fingerprint {
            timestamp_ms: 1,
            partition: 0,
            hash: "00".into(),
        };
        pf.fingerprints.insert(12, fp.clone());
        pf.fingerprints.insert(19, fp);
        assert_eq!(pf.range(10, 20).map(|v| v.len()), Some(2));
        assert_eq!(pf.range(13, 19).map(|v| v.len()), Some(0));
        assert!(pf.range(9, 12).is_none());
        assert!(pf.range(15, 21).is_none());
        assert_eq!(pf.range(30, 30).map(|v| v.len()), Some(0));
    }
}
