//! Reading and writing records: assigned (never subscribed) consumers that commit
//! nothing, a small producer, and the MM2 offset-sync / checkpoint topic readers.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use rdkafka_sys::rd_kafka_resp_err_t as E;

use super::error::{self, Resource};
use super::ffi::{self, RdError};
use super::mm2;
use super::types::{
    Checkpoint, CommittedRuns, Delivered, Isolation, OffsetSync, ProduceRecord, ReadSummary,
    Record, TimestampType,
};
use super::{client_config, rd_error_of, KafkaClient, KafkaError};

/// The longest a single poll waits, so that deadlines are honoured closely.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// Consumer errors that end a read (anything else is transient: logged, then retried
/// by librdkafka until our timeout).
pub(super) fn is_fatal_read_code(code: i32) -> bool {
    [
        E::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        E::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        E::RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
        E::RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
        E::RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET,
        E::RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE,
        E::RD_KAFKA_RESP_ERR__AUTHENTICATION,
        E::RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
        E::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
        E::RD_KAFKA_RESP_ERR__SSL,
    ]
    .iter()
    .any(|&c| ffi::code(c) == code)
        // A batch the client cannot decode is the same batch on every retry.
        || super::undecodable_reason(code).is_some()
}

pub(super) fn to_record(msg: &BorrowedMessage<'_>) -> Result<Record, RdError> {
    let (timestamp_ms, timestamp_type) = match msg.timestamp() {
        Timestamp::NotAvailable => (-1, TimestampType::NotAvailable),
        Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
        Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
    };
    Ok(Record {
        topic: msg.topic().to_string(),
        partition: msg.partition(),
        offset: msg.offset(),
        timestamp_ms,
        timestamp_type,
        key: msg.key().map(<[u8]>::to_vec),
        value: msg.payload().map(<[u8]>::to_vec),
        headers: ffi::message_headers(msg)?,
    })
}

/// The delivery report of one record: `(partition, offset)` or the error.
type DeliverySlot = Option<Result<(i32, i64), RdError>>;

/// Collects delivery reports of `produce`, indexed by the record's position.
struct DeliveryCollector {
    results: Mutex<Vec<DeliverySlot>>,
}

impl ClientContext for DeliveryCollector {}

impl ProducerContext for DeliveryCollector {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let outcome = match result {
            Ok(msg) => Ok((msg.partition(), msg.offset())),
            Err((e, _)) => Err(rd_error_of(e)),
        };
        if let Ok(mut results) = self.results.lock() {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(outcome);
            }
        }
    }
}

impl KafkaClient {
    /// A consumer for reading by assignment: a throw-away group id that is never joined
    /// or committed to, no auto commit, partition EOF events on, out-of-range is an error.
    /// With `ReadCommitted` it skips the records of aborted transactions and stops at the
    /// last stable offset.
    pub(super) fn reader_with(&self, isolation: Isolation) -> Result<BaseConsumer, KafkaError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let group = format!("kafka-dr-reader-{}-{nanos}", std::process::id());
        let mut cc = client_config(
            &self.config,
            &[
                ("group.id", group.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "true"),
                ("auto.offset.reset", "error"),
                ("isolation.level", isolation.as_config()),
                ("allow.auto.create.topics", "false"),
            ],
        );
        cc.remove("group.instance.id");
        cc.create()
            .map_err(|e| error::config_error(&self.cluster, &e, &self.redactor))
    }

    /// Reads the records of one partition with offsets in `[from_offset, until_offset)`,
    /// in offset order, within `timeout` overall. Offsets may be missing (compaction,
    /// transaction markers, deleted records); the range is clamped to what the partition
    /// holds when the read starts. Commits nothing.
    pub fn read_records(
        &self,
        topic: &str,
        partition: i32,
        from_offset: i64,
        until_offset_exclusive: i64,
        timeout: Duration,
    ) -> Result<Vec<Record>, KafkaError> {
        let mut out = Vec::new();
        self.scan(
            topic,
            partition,
            from_offset,
            until_offset_exclusive,
            Some(crate::limits::deadline(Instant::now(), timeout)),
            timeout,
            &mut |r| {
                out.push(r);
                Ok(ControlFlow::Continue(()))
            },
        )?;
        Ok(out)
    }

    /// `read_records` with read_committed: only records a read_committed consumer sees
    /// (committed transactions and non-transactional records), and none at or past the
    /// last stable offset.
    pub fn read_committed_records(
        &self,
        topic: &str,
        partition: i32,
        from_offset: i64,
        until_offset_exclusive: i64,
        timeout: Duration,
    ) -> Result<Vec<Record>, KafkaError> {
        let mut out = Vec::new();
        self.scan_with(
            Isolation::ReadCommitted,
            topic,
            partition,
            from_offset,
            until_offset_exclusive,
            Some(crate::limits::deadline(Instant::now(), timeout)),
            timeout,
            &mut |r| {
                out.push(r);
                Ok(ControlFlow::Continue(()))
            },
        )?;
        Ok(out)
    }

    /// The offsets of `[from_offset, until_offset)` that a read_committed consumer reads,
    /// as sorted, disjoint half-open runs `[start, end)`, and the last stable offset the
    /// read stopped at. Records past the LSO are in no run (not decided yet); records of
    /// aborted transactions and control markers are in none either. Streams: memory
    /// grows with the number of runs, not of records. `idle_timeout` bounds the wait for
    /// each next record.
    pub fn committed_offset_runs(
        &self,
        topic: &str,
        partition: i32,
        from_offset: i64,
        until_offset_exclusive: i64,
        idle_timeout: Duration,
    ) -> Result<CommittedRuns, KafkaError> {
        let stable = self.watermarks(&[(topic, partition)], idle_timeout)?[0].stable;
        let mut runs: Vec<(i64, i64)> = Vec::new();
        self.scan_with(
            Isolation::ReadCommitted,
            topic,
            partition,
            from_offset,
            until_offset_exclusive.min(stable),
            None,
            idle_timeout,
            &mut |r| {
                match runs.last_mut() {
                    Some(last) if last.1 == r.offset => last.1 = r.offset + 1,
                    _ => runs.push((r.offset, r.offset + 1)),
                }
                Ok(ControlFlow::Continue(()))
            },
        )?;
        Ok(CommittedRuns { runs, stable })
    }

    /// Streams the records of `[from_offset, until_offset)` to `f`, for ranges too large to
    /// hold in memory. `idle_timeout` bounds the wait for each next record (not the whole
    /// read); `f` may return `ControlFlow::Break(())` to stop early.
    pub fn for_each_record(
        &self,
        topic: &str,
        partition: i32,
        from_offset: i64,
        until_offset_exclusive: i64,
        idle_timeout: Duration,
        mut f: impl FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadSummary, KafkaError> {
        self.scan(
            topic,
            partition,
            from_offset,
            until_offset_exclusive,
            None,
            idle_timeout,
            &mut |r| Ok(f(r)),
        )
    }

    /// `for_each_record` with read_committed: the records of aborted transactions are
    /// skipped and the range ends at the last stable offset. What a read_committed
    /// consumer of this cluster will ever be served: the only twins worth finding on a
    /// cluster an exactly-once mirror writes (an aborted copy is never delivered).
    pub fn for_each_committed_record(
        &self,
        topic: &str,
        partition: i32,
        from_offset: i64,
        until_offset_exclusive: i64,
        idle_timeout: Duration,
        mut f: impl FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadSummary, KafkaError> {
        self.scan_with(
            Isolation::ReadCommitted,
            topic,
            partition,
            from_offset,
            until_offset_exclusive,
            None,
            idle_timeout,
            &mut |r| Ok(f(r)),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        until: i64,
        deadline: Option<Instant>,
        idle: Duration,
        f: &mut dyn FnMut(Record) -> Result<ControlFlow<()>, KafkaError>,
    ) -> Result<ReadSummary, KafkaError> {
        self.scan_with(
            Isolation::ReadUncommitted,
            topic,
            partition,
            from,
            until,
            deadline,
            idle,
            f,
        )
    }

    /// `scan` at an isolation level. With `ReadCommitted` the range also ends at the last
    /// stable offset: what lies past it is not decided yet.
    #[allow(clippy::too_many_arguments)]
    fn scan_with(
        &self,
        isolation: Isolation,
        topic: &str,
        partition: i32,
        from: i64,
        until: i64,
        deadline: Option<Instant>,
        idle: Duration,
        f: &mut dyn FnMut(Record) -> Result<ControlFlow<()>, KafkaError>,
    ) -> Result<ReadSummary, KafkaError> {
        let op = format!("reading `{topic}` partition {partition}");
        let mut summary = ReadSummary {
            records: 0,
            last_offset: None,
            stopped_early: false,
        };
        let wm = self.watermarks(&[(topic, partition)], idle)?;
        let wm = &wm[0];
        let start = from.max(wm.earliest);
        let end = match isolation {
            Isolation::ReadUncommitted => until.min(wm.latest),
            Isolation::ReadCommitted => until.min(wm.stable),
        };
        if start >= end {
            return Ok(summary);
        }
        let consumer = self.reader_with(isolation)?;
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition_offset(topic, partition, Offset::Offset(start))
            .map_err(|e| self.invalid(&op, e.to_string()))?;
        consumer.assign(&tpl).map_err(|e| {
            self.fail(
                &op,
                Resource::Topic(topic.into(), Some(partition)),
                idle,
                rd_error_of(&e),
            )
        })?;
        let mut last_progress = Instant::now();
        let mut next = start;
        loop {
            let now = Instant::now();
            let idle_left = idle.saturating_sub(now - last_progress);
            let left = match deadline {
                Some(d) => idle_left.min(d.saturating_duration_since(now)),
                None => idle_left,
            };
            if left.is_zero() {
                return Err(self.fail(
                    &format!("{op} (waiting for offset {next}, range ends at {end})"),
                    Resource::Topic(topic.into(), Some(partition)),
                    idle,
                    RdError::timed_out(&op),
                ));
            }
            match consumer.poll(left.min(POLL_SLICE)) {
                None => {}
                Some(Ok(msg)) => {
                    if msg.topic() != topic || msg.partition() != partition || msg.offset() < next {
                        continue;
                    }
                    let offset = msg.offset();
                    if offset >= end {
                        break;
                    }
                    let record = to_record(&msg).map_err(|e| {
                        self.fail(
                            &format!("{op} (record at offset {offset})"),
                            Resource::Topic(topic.into(), Some(partition)),
                            idle,
                            e,
                        )
                    })?;
                    drop(msg);
                    last_progress = Instant::now();
                    next = offset + 1;
                    summary.records += 1;
                    summary.last_offset = Some(offset);
                    if f(record)?.is_break() {
                        summary.stopped_early = true;
                        break;
                    }
                    if next >= end {
                        break;
                    }
                }
                // The end of what the partition holds (the tail may be markers or gaps).
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) if p == partition => break,
                Some(Err(e)) => {
                    let rd = rd_error_of(&e);
                    if is_fatal_read_code(rd.code) {
                        return Err(self.fail(
                            &op,
                            Resource::Topic(topic.into(), Some(partition)),
                            idle,
                            rd,
                        ));
                    }
                    self.remember(format!(
                        "{}: {op}: {}",
                        self.cluster,
                        self.redactor.redact(&rd.message)
                    ));
                }
            }
        }
        Ok(summary)
    }

    /// Produces records to `topic` and waits for every acknowledgement (within
    /// `timeout`). Returns where each record landed, in input order. Fails on the first
    /// record the broker refused (e.g. `AuthorizationDenied` under a fence).
    pub fn produce(
        &self,
        topic: &str,
        records: &[ProduceRecord],
        timeout: Duration,
    ) -> Result<Vec<Delivered>, KafkaError> {
        let op = format!("producing to `{topic}`");
        let res = Resource::Topic(topic.to_string(), None);
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let timeout_ms = timeout.as_millis().clamp(1, i32::MAX as u128).to_string();
        let cc = client_config(
            &self.config,
            &[
                ("allow.auto.create.topics", "false"),
                ("message.timeout.ms", timeout_ms.as_str()),
                ("linger.ms", "5"),
            ],
        );
        let ctx = DeliveryCollector {
            results: Mutex::new(vec![None; records.len()]),
        };
        let producer: BaseProducer<DeliveryCollector> = cc
            .create_with_context(ctx)
            .map_err(|e| error::config_error(&self.cluster, &e, &self.redactor))?;
        for (i, r) in records.iter().enumerate() {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k.as_str(),
                    value: v.as_deref(),
                });
            }
            let mut rec: BaseRecord<'_, [u8], [u8], usize> =
                BaseRecord::with_opaque_to(topic, i).headers(headers);
            if let Some(k) = r.key.as_deref() {
                rec = rec.key(k);
            }
            if let Some(v) = r.value.as_deref() {
                rec = rec.payload(v);
            }
            if let Some(p) = r.partition {
                rec = rec.partition(p);
            }
            if let Some(ts) = r.timestamp_ms {
                rec = rec.timestamp(ts);
            }
            let mut rec = rec;
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        let rd = rd_error_of(&e);
                        if rd.code == ffi::code(E::RD_KAFKA_RESP_ERR__QUEUE_FULL)
                            && Instant::now() < deadline
                        {
                            producer.poll(POLL_SLICE);
                            rec = back;
                            continue;
                        }
                        return Err(self.fail(&op, res, timeout, rd));
                    }
                }
            }
        }
        loop {
            let done = {
                let results = producer
                    .context()
                    .results
                    .lock()
                    .map_err(|_| self.invalid(&op, "delivery report lock poisoned"))?;
                if let Some(Some(Err(e))) = results.iter().find(|r| matches!(r, Some(Err(_)))) {
                    return Err(self.fail(&op, res, timeout, e.clone()));
                }
                results.iter().all(Option::is_some)
            };
            if done {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.fail(&op, res, timeout, RdError::timed_out(&op)));
            }
            producer.poll(left.min(POLL_SLICE));
        }
        let results = producer
            .context()
            .results
            .lock()
            .map_err(|_| self.invalid(&op, "delivery report lock poisoned"))?;
        Ok(results
            .iter()
            .filter_map(|r| match r {
                Some(Ok((partition, offset))) => Some(Delivered {
                    partition: *partition,
                    offset: *offset,
                }),
                _ => None,
            })
            .collect())
    }

    /// Every record of a whole (small) topic, partition by partition in log order, from
    /// the earliest offset to the high watermark at the start.
    pub fn read_topic(&self, topic: &str, timeout: Duration) -> Result<Vec<Record>, KafkaError> {
        let mut out = Vec::new();
        self.read_whole_topic(topic, timeout, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// The records of `topic` appended since an earlier read: each partition from its
    /// offset in `since` (from the earliest when absent, or when retention removed that
    /// offset) to its high watermark now, which the returned map holds for the next read.
    /// `Err(KafkaError::LogRewound)` when a partition's log ends before `since` says it
    /// did (the topic was recreated or truncated): the caller reads it whole again.
    pub fn read_topic_since(
        &self,
        topic: &str,
        since: &HashMap<i32, i64>,
        timeout: Duration,
        f: &mut dyn FnMut(Record) -> Result<(), KafkaError>,
    ) -> Result<HashMap<i32, i64>, KafkaError> {
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let left = || deadline.saturating_duration_since(Instant::now());
        let partitions = self.topic_partitions(topic, left())?;
        let ranges: Vec<(&str, i32)> = partitions.iter().map(|p| (topic, *p)).collect();
        let mut next = HashMap::new();
        for wm in self.watermarks(&ranges, left())? {
            let from = since.get(&wm.partition).copied().unwrap_or(wm.earliest);
            if from > wm.latest {
                return Err(KafkaError::LogRewound {
                    cluster: self.cluster.clone(),
                    topic: topic.to_string(),
                    partition: wm.partition,
                    read_up_to: from,
                    log_end: wm.latest,
                });
            }
            next.insert(wm.partition, wm.latest);
            let from = from.max(wm.earliest);
            if from >= wm.latest {
                continue;
            }
            self.scan(
                topic,
                wm.partition,
                from,
                wm.latest,
                Some(deadline),
                left(),
                &mut |r| {
                    f(r)?;
                    Ok(ControlFlow::Continue(()))
                },
            )?;
        }
        Ok(next)
    }

    /// Reads a whole topic (every partition, earliest to the high watermark at the start)
    /// and hands each record to `f` with its location for error messages.
    fn read_whole_topic(
        &self,
        topic: &str,
        timeout: Duration,
        f: &mut dyn FnMut(Record) -> Result<(), KafkaError>,
    ) -> Result<(), KafkaError> {
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let left = || deadline.saturating_duration_since(Instant::now());
        let partitions = self.topic_partitions(topic, left())?;
        let ranges: Vec<(&str, i32)> = partitions.iter().map(|p| (topic, *p)).collect();
        for wm in self.watermarks(&ranges, left())? {
            if wm.earliest >= wm.latest {
                continue;
            }
            self.scan(
                topic,
                wm.partition,
                wm.earliest,
                wm.latest,
                Some(deadline),
                left(),
                &mut |r| {
                    f(r)?;
                    Ok(ControlFlow::Continue(()))
                },
            )?;
        }
        Ok(())
    }

    /// Every offset sync in an MM2 offset-syncs topic (`mm2-offset-syncs.<alias>.internal`),
    /// in log order. Tombstones are skipped; an undecodable record is an error.
    pub fn read_offset_syncs(
        &self,
        topic_name: &str,
        timeout: Duration,
    ) -> Result<Vec<OffsetSync>, KafkaError> {
        let mut out = Vec::new();
        self.read_whole_topic(topic_name, timeout, &mut |r| {
            if let Some(s) = self.offset_sync_of(&r)? {
                out.push(s);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The offset syncs appended to `topic_name` since an earlier read (see
    /// `read_topic_since`), in log order, and where the next read starts.
    pub fn read_offset_syncs_since(
        &self,
        topic_name: &str,
        since: &HashMap<i32, i64>,
        timeout: Duration,
    ) -> Result<(Vec<OffsetSync>, HashMap<i32, i64>), KafkaError> {
        let mut out = Vec::new();
        let next = self.read_topic_since(topic_name, since, timeout, &mut |r| {
            if let Some(s) = self.offset_sync_of(&r)? {
                out.push(s);
            }
            Ok(())
        })?;
        Ok((out, next))
    }

    /// An offset-syncs record decoded (`None`: a tombstone).
    fn offset_sync_of(&self, r: &Record) -> Result<Option<OffsetSync>, KafkaError> {
        {
            if r.value.is_none() {
                return Ok(None);
            }
            let s = mm2::decode_offset_sync(r.key.as_deref(), r.value.as_deref()).map_err(|e| {
                KafkaError::Decode {
                    what: "an MM2 offset sync".into(),
                    location: format!(
                        "`{}` partition {} offset {} on `{}`",
                        r.topic, r.partition, r.offset, self.cluster
                    ),
                    message: e.to_string(),
                }
            })?;
            Ok(Some(OffsetSync {
                topic: s.topic,
                partition: s.partition,
                upstream: s.upstream,
                downstream: s.downstream,
                offset_in_syncs_topic: r.offset,
                timestamp_ms: r.timestamp_ms,
            }))
        }
    }

    /// Every checkpoint in an MM2 checkpoints topic (`<source>.checkpoints.internal`), in
    /// log order. Tombstones are skipped; an undecodable record is an error.
    pub fn read_checkpoints(
        &self,
        topic_name: &str,
        timeout: Duration,
    ) -> Result<Vec<Checkpoint>, KafkaError> {
        let mut out = Vec::new();
        self.read_whole_topic(topic_name, timeout, &mut |r| {
            if let Some(c) = self.checkpoint_of(&r)? {
                out.push(c);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The checkpoints appended to `topic_name` since an earlier read (see
    /// `read_topic_since`), in log order per partition, and where the next read starts.
    pub fn read_checkpoints_since(
        &self,
        topic_name: &str,
        since: &HashMap<i32, i64>,
        timeout: Duration,
    ) -> Result<(Vec<Checkpoint>, HashMap<i32, i64>), KafkaError> {
        let mut out = Vec::new();
        let next = self.read_topic_since(topic_name, since, timeout, &mut |r| {
            if let Some(c) = self.checkpoint_of(&r)? {
                out.push(c);
            }
            Ok(())
        })?;
        Ok((out, next))
    }

    /// A checkpoints-topic record decoded (`None`: a tombstone).
    fn checkpoint_of(&self, r: &Record) -> Result<Option<Checkpoint>, KafkaError> {
        {
            if r.value.is_none() {
                return Ok(None);
            }
            let c = mm2::decode_checkpoint(r.key.as_deref(), r.value.as_deref()).map_err(|e| {
                KafkaError::Decode {
                    what: "an MM2 checkpoint".into(),
                    location: format!(
                        "`{}` partition {} offset {} on `{}`",
                        r.topic, r.partition, r.offset, self.cluster
                    ),
                    message: e.to_string(),
                }
            })?;
            Ok(Some(Checkpoint {
                group: c.group,
                topic: c.topic,
                partition: c.partition,
                upstream: c.upstream,
                downstream: c.downstream,
                metadata: c.metadata,
                offset_in_checkpoints_topic: r.offset,
                timestamp_ms: r.timestamp_ms,
            }))
        }
    }
}
