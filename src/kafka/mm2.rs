//! Decoding (and, for tests, encoding) of MirrorMaker 2's internal records.
//!
//! Pure functions over bytes, no I/O. The layouts were checked against apache/kafka's
//! `OffsetSync.java` (connect/mirror) and `Checkpoint.java` (connect/mirror-client); both use
//! Kafka protocol types, big-endian:
//!
//! - offset sync key: `topic` STRING, `partition` INT32;
//!   value: `upstreamOffset` INT64, `offset` INT64 (downstream). No version header.
//! - checkpoint key: `group` STRING, `topic` STRING, `partition` INT32;
//!   value: INT16 version (only 0 exists), then `upstreamOffset` INT64, `offset` INT64,
//!   `metadata` STRING.
//!
//! STRING is an INT16 length followed by that many UTF-8 bytes; a negative length is an
//! error (these fields are not nullable). Like Kafka's own reader, trailing bytes after the
//! known fields are ignored.

use std::fmt;

/// Why some bytes are not a valid MM2 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// A decoded offset-sync record (key and value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetSyncValue {
    pub topic: String,
    pub partition: i32,
    pub upstream: i64,
    pub downstream: i64,
}

/// A decoded checkpoint record (key and value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointValue {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub upstream: i64,
    pub downstream: i64,
    pub metadata: String,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(DecodeError {
                field,
                message: format!(
                    "needs {n} byte(s) at position {}, only {} left",
                    self.pos,
                    self.buf.len() - self.pos
                ),
            }),
        }
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes(b.try_into().expect("4 bytes")))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let b = self.take(8, field)?;
        Ok(i64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.i16(field)?;
        if len < 0 {
            return Err(DecodeError {
                field,
                message: format!("string length {len} is negative"),
            });
        }
        let b = self.take(len as usize, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError {
            field,
            message: "string is not valid UTF-8".to_string(),
        })
    }
}

fn missing(field: &'static str) -> DecodeError {
    DecodeError {
        field,
        message: "record has no bytes (null)".to_string(),
    }
}

/// Decodes an offset-sync record from `mm2-offset-syncs.<alias>.internal`.
pub fn decode_offset_sync(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<OffsetSyncValue, DecodeError> {
    let mut k = Reader::new(key.ok_or_else(|| missing("key"))?);
    let topic = k.string("topic")?;
    let partition = k.i32("partition")?;
    let mut v = Reader::new(value.ok_or_else(|| missing("value"))?);
    let upstream = v.i64("upstreamOffset")?;
    let downstream = v.i64("offset")?;
    Ok(OffsetSyncValue {
        topic,
        partition,
        upstream,
        downstream,
    })
}

/// Decodes a checkpoint record from `<source>.checkpoints.internal`.
pub fn decode_checkpoint(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<CheckpointValue, DecodeError> {
    let mut k = Reader::new(key.ok_or_else(|| missing("key"))?);
    let group = k.string("group")?;
    let topic = k.string("topic")?;
    let partition = k.i32("partition")?;
    let mut v = Reader::new(value.ok_or_else(|| missing("value"))?);
    let version = v.i16("version")?;
    if version != 0 {
        return Err(DecodeError {
            field: "version",
            message: format!("unsupported checkpoint version {version} (only 0 is known)"),
        });
    }
    let upstream = v.i64("upstreamOffset")?;
    let downstream = v.i64("offset")?;
    let metadata = v.string("metadata")?;
    Ok(CheckpointValue {
        group,
        topic,
        partition,
        upstream,
        downstream,
        metadata,
    })
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = i16::try_from(s.len()).expect("Kafka STRING is at most 32767 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Encodes an offset sync exactly as MM2 does: `(key, value)`.
pub fn encode_offset_sync(sync: &OffsetSyncValue) -> (Vec<u8>, Vec<u8>) {
    let mut key = Vec::with_capacity(2 + sync.topic.len() + 4);
    put_string(&mut key, &sync.topic);
    key.extend_from_slice(&sync.partition.to_be_bytes());
    let mut value = Vec::with_capacity(16);
    value.extend_from_slice(&sync.upstream.to_be_bytes());
    value.extend_from_slice(&sync.downstream.to_be_bytes());
    (key, value)
}

/// Encodes a checkpoint exactly as MM2 does (version 0): `(key, value)`.
pub fn encode_checkpoint(cp: &CheckpointValue) -> (Vec<u8>, Vec<u8>) {
    let mut key = Vec::new();
    put_string(&mut key, &cp.group);
    put_string(&mut key, &cp.topic);
    key.extend_from_slice(&cp.partition.to_be_bytes());
    let mut value = Vec::new();
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&cp.upstream.to_be_bytes());
    value.extend_from_slice(&cp.downstream.to_be_bytes());
    put_string(&mut value, &cp.metadata);
    (key, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_sync_from_hand_built_bytes() {
        // topic "orders" (len 6), partition 3
        let key = [0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 3];
        // upstream 1000 (0x3E8), downstream 250 (0xFA)
        let value = [0, 0, 0, 0, 0, 0, 0x03, 0xE8, 0, 0, 0, 0, 0, 0, 0, 0xFA];
        let s = decode_offset_sync(Some(&key), Some(&value)).unwrap();
        assert_eq!(
            s,
            OffsetSyncValue {
                topic: "orders".into(),
                partition: 3,
                upstream: 1000,
                downstream: 250,
            }
        );
        assert_eq!(encode_offset_sync(&s), (key.to_vec(), value.to_vec()));
    }

    #[test]
    fn offset_sync_large_and_negative_values() {
        let s = OffsetSyncValue {
            topic: "payments.eu".into(),
            partition: i32::MAX,
            upstream: i64::MAX,
            downstream: -1,
        };
        let (k, v) = encode_offset_sync(&s);
        assert_eq!(&v[8..], &[0xFF; 8]);
        assert_eq!(decode_offset_sync(Some(&k), Some(&v)).unwrap(), s);
    }

    #[test]
    fn checkpoint_from_hand_built_bytes() {
        // group "g1", topic "t", partition 0
        let key = [0, 2, b'g', b'1', 0, 1, b't', 0, 0, 0, 0];
        let value = [
            0, 0, // version 0
            0, 0, 0, 0, 0, 0, 0, 42, // upstream 42
            0, 0, 0, 0, 0, 0, 0, 17, // downstream 17
            0, 2, b'm', b'd', // metadata "md"
        ];
        let c = decode_checkpoint(Some(&key), Some(&value)).unwrap();
        assert_eq!(
            c,
            CheckpointValue {
                group: "g1".into(),
                topic: "t".into(),
                partition: 0,
                upstream: 42,
                downstream: 17,
                metadata: "md".into(),
            }
        );
        assert_eq!(encode_checkpoint(&c), (key.to_vec(), value.to_vec()));
    }

    #[test]
    fn checkpoint_with_empty_metadata() {
        let key = [0, 1, b'g', 0, 1, b't', 0, 0, 0, 9];
        let mut value = vec![0, 0];
        value.extend_from_slice(&5i64.to_be_bytes());
        value.extend_from_slice(&4i64.to_be_bytes());
        value.extend_from_slice(&[0, 0]);
        let c = decode_checkpoint(Some(&key), Some(&value)).unwrap();
        assert_eq!(c.metadata, "");
        assert_eq!(c.partition, 9);
    }

    #[test]
    fn rejects_bad_input() {
        // Unknown checkpoint version.
        let key = [0, 1, b'g', 0, 1, b't', 0, 0, 0, 0];
        let mut value = vec![0, 1];
        value.extend_from_slice(&[0; 18]);
        let e = decode_checkpoint(Some(&key), Some(&value)).unwrap_err();
        assert_eq!(e.field, "version");
        // Truncated value.
        let e = decode_offset_sync(Some(&[0, 1, b't', 0, 0, 0, 0]), Some(&[0; 15])).unwrap_err();
        assert_eq!(e.field, "offset");
        // String longer than the buffer.
        let e = decode_offset_sync(Some(&[0, 9, b't']), Some(&[0; 16])).unwrap_err();
        assert_eq!(e.field, "topic");
        // Negative string length.
        let e = decode_offset_sync(Some(&[0xFF, 0xFF]), Some(&[0; 16])).unwrap_err();
        assert!(e.message.contains("negative"));
        // Tombstone.
        let e = decode_offset_sync(Some(&[0, 1, b't', 0, 0, 0, 0]), None).unwrap_err();
        assert_eq!(e.field, "value");
        // Invalid UTF-8.
        let e = decode_offset_sync(Some(&[0, 1, 0xFF, 0, 0, 0, 0]), Some(&[0; 16])).unwrap_err();
        assert!(e.message.contains("UTF-8"));
    }

    #[test]
    fn trailing_bytes_are_ignored_like_kafka() {
        let (k, mut v) = encode_offset_sync(&OffsetSyncValue {
            topic: "t".into(),
            partition: 1,
            upstream: 2,
            downstream: 3,
        });
        v.extend_from_slice(&[9, 9]);
        assert_eq!(
            decode_offset_sync(Some(&k), Some(&v)).unwrap().downstream,
            3
        );
    }
}
