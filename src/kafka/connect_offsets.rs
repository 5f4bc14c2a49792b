//! The records of a Kafka Connect offsets topic, as MM2 dedicated mode keeps them for
//! its MirrorSourceConnector (`mm2-offsets.<source alias>.internal` on the flow's target).
//!
//! Pure functions over bytes, no I/O. Checked against apache/kafka 4.1
//! (`KafkaOffsetBackingStore`, `OffsetStorageWriter`, `JsonConverter` with
//! `schemas.enable=false`, `MirrorUtils.wrapPartition`/`wrapOffset`, `MirrorMaker`), and on
//! the lab against what MM2 itself writes:
//!
//! - key: the JSON array `["<connector name>",{"cluster":"<alias>","partition":<p>,"topic":"<t>"}]`
//!   with no spaces. Dedicated mode names its connectors by their class
//!   (`MirrorSourceConnector`). The partition map is a Java `HashMap` whose iteration order
//!   for these three keys is cluster, partition, topic; Connect looks offsets up by the
//!   key's exact BYTES, so any other order would be a different (ignored) entry.
//! - value: `{"offset":<last copied upstream offset>}`; MirrorSourceTask seeks to
//!   offset + 1 when it starts. A null value (tombstone) erases the position: the task
//!   then starts at its consumer's `auto.offset.reset` (MM2: earliest).
//! - partition: the producer's default partitioner, `toPositive(murmur2(key)) % n`. A
//!   seed must land in the partition MM2's own commits use, or the reader could apply
//!   the two in either order.

use serde_json::Value;

/// The name dedicated mode gives its MirrorSourceConnector (the class's simple name).
pub const DEDICATED_SOURCE_CONNECTOR: &str = "MirrorSourceConnector";
/// Connect's default `offset.storage.partitions`, used when kafka-dr creates the topic.
pub const DEFAULT_OFFSETS_PARTITIONS: i32 = 25;

/// One MirrorSourceConnector position in an offsets topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOffsetEntry {
    pub connector: String,
    /// `source.cluster.alias`.
    pub cluster: String,
    pub topic: String,
    pub partition: i32,
    /// The last upstream offset copied; `None`: no position (a tombstone, or negative).
    pub last_copied: Option<i64>,
}

impl SourceOffsetEntry {
    /// The record key, byte for byte as Connect writes it.
    pub fn key(&self) -> Vec<u8> {
        let s = |v: &str| Value::String(v.to_string()).to_string();
        format!(
            "[{},{{\"cluster\":{},\"partition\":{},\"topic\":{}}}]",
            s(&self.connector),
            s(&self.cluster),
            self.partition,
            s(&self.topic)
        )
        .into_bytes()
    }

    /// The record value; `None` (a tombstone) when there is no position.
    pub fn value(&self) -> Option<Vec<u8>> {
        self.last_copied
            .filter(|n| *n >= 0)
            .map(|n| format!("{{\"offset\":{n}}}").into_bytes())
    }

    /// The partition of an offsets topic with `partitions` partitions the record goes to.
    pub fn partition_in(&self, partitions: i32) -> i32 {
        partition_for(&self.key(), partitions)
    }

    /// Read a record back. `None`: not a MirrorSourceConnector position (another
    /// connector's key shape, or not JSON); such records are left alone.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<SourceOffsetEntry> {
        let Value::Array(parts) = serde_json::from_slice::<Value>(key).ok()? else {
            return None;
        };
        let [Value::String(connector), Value::Object(map)] = parts.as_slice() else {
            return None;
        };
        let cluster = map.get("cluster")?.as_str()?.to_string();
        let topic = map.get("topic")?.as_str()?.to_string();
        let partition = i32::try_from(map.get("partition")?.as_i64()?).ok()?;
        let last_copied = match value {
            None => None,
            Some(v) => {
                let v: Value = serde_json::from_slice(v).ok()?;
                match v.get("offset") {
                    Some(Value::Null) | None => None,
                    Some(o) => o.as_i64().filter(|n| *n >= 0),
                }
            }
        };
        Some(SourceOffsetEntry {
            connector: connector.clone(),
            cluster,
            topic,
            partition,
            last_copied,
        })
    }
}

/// Java's `Utils.murmur2` (the producer's default partitioner hash), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    // Java computes in int (32 bits, wrapping); the length is cast the same way.
    let mut h: u32 = SEED ^ (len as u32);
    let chunks = data.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match rest.len() {
        3 => {
            h ^= u32::from(rest[2]) << 16;
            h ^= u32::from(rest[1]) << 8;
            h ^= u32::from(rest[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(rest[1]) << 8;
            h ^= u32::from(rest[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(rest[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// `Utils.toPositive(Utils.murmur2(key)) % partitions` (0 for a topic without partitions).
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    if partitions <= 0 {
        return 0;
    }
    (murmur2(key) & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of apache/kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_is_javas() {
        for (data, want) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(data), want, "{}", String::from_utf8_lossy(data));
        }
    }

    fn entry(last: Option<i64>) -> SourceOffsetEntry {
        SourceOffsetEntry {
            connector: DEDICATED_SOURCE_CONNECTOR.into(),
            cluster: "dc2".into(),
            topic: "app.orders".into(),
            partition: 2,
            last_copied: last,
        }
    }

    #[test]
    fn key_and_value_are_connects_bytes() {
        let e = entry(Some(1665));
        assert_eq!(
            String::from_utf8(e.key()).unwrap(),
            r#"["MirrorSourceConnector",{"cluster":"dc2","partition":2,"topic":"app.orders"}]"#
        );
        assert_eq!(e.value().unwrap(), br#"{"offset":1665}"#);
        assert_eq!(entry(None).value(), None);
        assert_eq!(entry(Some(-1)).value(), None);
    }

    #[test]
    fn entries_round_trip_and_foreign_records_are_skipped() {
        for last in [Some(0), Some(1665), None] {
            let e = entry(last);
            let v = e.value();
            assert_eq!(SourceOffsetEntry::decode(&e.key(), v.as_deref()), Some(e));
        }
        // A negative or null offset is "no position", as MirrorSourceTask reads it.
        let e = entry(Some(5));
        assert_eq!(
            SourceOffsetEntry::decode(&e.key(), Some(br#"{"offset":-1}"#))
                .unwrap()
                .last_copied,
            None
        );
        for (k, v) in [
            (
                &br#"["MirrorCheckpointConnector",{"cluster":"dc2"}]"#[..],
                None,
            ),
            (b"not json", None),
            (br#"{"a":1}"#, None),
        ] {
            assert_eq!(SourceOffsetEntry::decode(k, v), None);
        }
    }

    #[test]
    fn names_are_escaped_like_json() {
        let mut e = entry(Some(1));
        e.topic = "a\"b".into();
        let k = e.key();
        assert_eq!(SourceOffsetEntry::decode(&k, None).unwrap().topic, "a\"b");
    }

    /// What MM2 4.1 dedicated mode wrote on the lab (`mm2-offsets.dc1.internal`, 25
    /// partitions): this key, this value, in partition 13.
    #[test]
    fn a_key_mm2_wrote_lands_where_mm2_put_it() {
        let e = SourceOffsetEntry {
            connector: DEDICATED_SOURCE_CONNECTOR.into(),
            cluster: "dc1".into(),
            topic: "heartbeats".into(),
            partition: 0,
            last_copied: Some(5),
        };
        assert_eq!(
            e.key(),
            br#"["MirrorSourceConnector",{"cluster":"dc1","partition":0,"topic":"heartbeats"}]"#
        );
        assert_eq!(e.value().unwrap(), br#"{"offset":5}"#);
        assert_eq!(e.partition_in(25), 13);
    }

    #[test]
    fn partitions_follow_the_key() {
        let e = entry(Some(1));
        let p = e.partition_in(25);
        assert!((0..25).contains(&p));
        assert_eq!(p, (murmur2(&e.key()) & 0x7fff_ffff) % 25);
        assert_eq!(partition_for(b"x", 0), 0);
    }
}
