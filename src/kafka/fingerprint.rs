//! Record fingerprints: find a record's twin on the other cluster.
//!
//! MM2 keeps a record's timestamp, partition, key, value and headers, but not its offset.
//! A fingerprint is (timestamp, partition, SHA-256 over key, value and headers). The hash
//! input uses unambiguous framing, so that no two different records hash the same input:
//!
//! ```text
//! "kafka-dr/fingerprint/v1" 0x00
//! opt(key) opt(value)
//! u32-BE header count, then per header: bytes(name as UTF-8) opt(value)
//!
//! bytes(b) = u64-BE length, then b
//! opt(None) = 0x00          opt(Some(b)) = 0x01, then bytes(b)
//! ```
//!
//! So a null key differs from an empty key, header boundaries cannot shift, and header
//! order counts (Kafka and MM2 keep it).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::types::Record;

/// What identifies a record across clusters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint {
    pub timestamp_ms: i64,
    pub partition: i32,
    /// Lowercase hex SHA-256 (64 characters).
    pub hash: String,
}

/// How many records before a group's last consumed one are fingerprinted with it.
pub const RUN_BEFORE: usize = 4;

/// A group's last consumed record as recorded: its fingerprint, and those of up to
/// [`RUN_BEFORE`] records before it in the log, newest first. Two records can share a
/// fingerprint (a retry without idempotence, identical events in one millisecond); their
/// neighbours tell the copies apart. Stored as the journal's fingerprint JSON: the
/// fingerprint's own fields plus `preceding`, so older journals (without it) still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFingerprint {
    #[serde(flatten)]
    pub last: Fingerprint,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preceding: Vec<Fingerprint>,
}

impl RecordedFingerprint {
    /// From records read in log order ending with the last consumed one at `last`.
    pub fn from_records(records: &[Record], last: i64) -> Option<RecordedFingerprint> {
        let at = records.iter().position(|r| r.offset == last)?;
        let preceding = records[..at]
            .iter()
            .rev()
            .take(RUN_BEFORE)
            .map(fingerprint)
            .collect();
        Some(RecordedFingerprint {
            last: fingerprint(&records[at]),
            preceding,
        })
    }

    /// As [`from_records`](Self::from_records), from fingerprints already computed
    /// (offset, fingerprint), in log order.
    pub fn from_fingerprints(
        read: &[(i64, &Fingerprint)],
        last: i64,
    ) -> Option<RecordedFingerprint> {
        let at = read.iter().position(|(o, _)| *o == last)?;
        let preceding = read[..at]
            .iter()
            .rev()
            .take(RUN_BEFORE)
            .map(|(_, f)| (*f).clone())
            .collect();
        Some(RecordedFingerprint {
            last: read[at].1.clone(),
            preceding,
        })
    }

    /// The fingerprints of `records` (read up to a candidate twin, in log order).
    pub fn of_all(records: &[Record]) -> Vec<Fingerprint> {
        records.iter().map(fingerprint).collect()
    }
}

const DOMAIN: &[u8] = b"kafka-dr/fingerprint/v1\0";

/// The fingerprint of a record.
pub fn fingerprint(record: &Record) -> Fingerprint {
    Fingerprint {
        timestamp_ms: record.timestamp_ms,
        partition: record.partition,
        hash: content_hash(
            record.key.as_deref(),
            record.value.as_deref(),
            record
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref())),
        ),
    }
}

/// The hex SHA-256 of key, value and headers with the framing described above.
pub fn content_hash<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> String {
    let mut h = Sha256::new();
    h.update(frame(key, value, headers));
    hex::encode(h.finalize())
}

/// The exact bytes that are hashed (exposed to the unit tests).
fn frame<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        DOMAIN.len() + 32 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len),
    );
    out.extend_from_slice(DOMAIN);
    opt(&mut out, key);
    opt(&mut out, value);
    let count = u32::try_from(headers.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for (name, v) in headers {
        bytes(&mut out, name.as_bytes());
        opt(&mut out, v);
    }
    out
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

fn opt(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            bytes(out, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::types::TimestampType;

    fn rec(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(&str, Option<&[u8]>)]) -> Record {
        Record {
            topic: "t".into(),
            partition: 3,
            offset: 42,
            timestamp_ms: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(<[u8]>::to_vec)))
                .collect(),
        }
    }

    #[test]
    fn framing_is_exact() {
        let f = frame(None, Some(b"ab"), [("h", None)].into_iter());
        let mut want = DOMAIN.to_vec();
        want.push(0); // key: null
        want.push(1); // value: present
        want.extend_from_slice(&2u64.to_be_bytes());
        want.extend_from_slice(b"ab");
        want.extend_from_slice(&1u32.to_be_bytes()); // one header
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(b"h");
        want.push(0); // header value: null
        assert_eq!(f, want);
    }

    #[test]
    fn null_and_empty_differ() {
        let a = fingerprint(&rec(None, Some(b"v"), &[]));
        let b = fingerprint(&rec(Some(b""), Some(b"v"), &[]));
        assert_ne!(a.hash, b.hash);
        let c = fingerprint(&rec(Some(b"k"), None, &[]));
        let d = fingerprint(&rec(Some(b"k"), Some(b""), &[]));
        assert_ne!(c.hash, d.hash);
        let e = fingerprint(&rec(None, None, &[("h", None)]));
        let f = fingerprint(&rec(None, None, &[("h", Some(b""))]));
        assert_ne!(e.hash, f.hash);
    }

    #[test]
    fn boundaries_cannot_shift() {
        // Same concatenated bytes, different split between key and value.
        let a = fingerprint(&rec(Some(b"ab"), Some(b"c"), &[]));
        let b = fingerprint(&rec(Some(b"a"), Some(b"bc"), &[]));
        assert_ne!(a.hash, b.hash);
        // Same bytes moved between a header name and its value.
        let c = fingerprint(&rec(None, None, &[("ab", Some(b"c"))]));
        let d = fingerprint(&rec(None, None, &[("a", Some(b"bc"))]));
        assert_ne!(c.hash, d.hash);
        // One header vs two.
        let e = fingerprint(&rec(None, None, &[("a", None), ("b", None)]));
        let f = fingerprint(&rec(None, None, &[("a", None)]));
        assert_ne!(e.hash, f.hash);
        // Header order counts.
        let g = fingerprint(&rec(None, None, &[("b", None), ("a", None)]));
        assert_ne!(e.hash, g.hash);
    }

    #[test]
    fn same_content_same_fingerprint_regardless_of_offset_and_topic() {
        let a = rec(Some(b"k"), Some(b"v"), &[("h", Some(b"1"))]);
        let mut b = a.clone();
        b.offset = 7;
        b.topic = "dc1.t".into();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let fp = fingerprint(&a);
        assert_eq!(fp.hash.len(), 64);
        assert_eq!(fp.partition, 3);
        assert_eq!(fp.timestamp_ms, 1_700_000_000_000);
    }

    #[test]
    fn known_vector() {
        // Pins the format: changing the framing changes every stored fingerprint.
        let empty = content_hash(None, None, std::iter::empty());
        let mut want = DOMAIN.to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        assert_eq!(empty, hex::encode(Sha256::digest(&want)));
    }
}
