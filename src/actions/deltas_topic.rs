//! The backup DC's copy of the recorded deltas (issue 14): a compacted, single-partition
//! topic on the backup cluster (`replication.deltas_topic`, default
//! `kafka-dr.deltas.internal`) to which every `deltas record` pass also writes what it
//! recorded, so that a fresh host in the backup DC with only the topology file can fail
//! over as well as the recorder's host (`deltas.import` reads it back into the journal).
//!
//! Keys are JSON arrays, so any topic or group name is unambiguous, and are chosen so
//! that compaction keeps exactly the newest of each thing:
//! - `["sync", source, target, topic, partition]`: the partition's last
//!   [`SYNCS_KEPT`] offset syncs in recording order (MM2's rewind rule needs the order);
//! - `["position", cluster, group, topic, partition]`: a group's committed position with
//!   the fingerprint of its last consumed record and when it was recorded;
//! - `["ids", cluster]`: the topic ids seen last on a cluster;
//! - `["pass", primary, backup]`: the last pass's time and lag (per topic and summed);
//! - `["guard", cluster]`: the `app-writes` guard the journal holds in force on a
//!   cluster, with its exact bindings (a tombstone once lifted), so that a fresh host's
//!   promotion lifts the guard the recorder's host applied.
//!
//! Values are JSON objects with a format version `v` (1); a record with another version,
//! an unknown kind or an undecodable body is skipped with a note, never trusted. This
//! module encodes and decodes (pure, unit-tested) and talks to the backup only through
//! `KafkaClient` (create the topic, produce, read it whole); it never touches the journal
//! except through the rows it returns.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::journal::{FingerprintJson, GroupPositionRow, OffsetSyncRow};
use crate::kafka::{KafkaClient, KafkaError, ProduceRecord};

/// The format version of every value written.
pub const FORMAT: u32 = 1;

/// How many of a partition's syncs one `sync` record keeps (the newest, in recording
/// order): enough for a group that lags far behind the newest sync to translate from a
/// sync at or below its position, and small enough to keep each record a few KiB.
pub const SYNCS_KEPT: usize = 64;

/// Topic configs the deltas topic is created with: compacted (the newest of each key is
/// kept forever), and compacted early so that a reader at 3 a.m. reads few stale values.
pub const TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("min.cleanable.dirty.ratio", "0.1"),
    ("segment.ms", "3600000"),
];

/// One sync as kept in a `sync` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SyncEntry {
    upstream: i64,
    downstream: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_topic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_topic_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SyncValue {
    v: u32,
    syncs: Vec<SyncEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PositionValue {
    v: u32,
    committed: i64,
    #[serde(default)]
    fingerprint: Option<FingerprintJson>,
    #[serde(default)]
    topic_id: Option<String>,
    recorded_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct IdsValue {
    v: u32,
    ids: BTreeMap<String, String>,
}

/// The last pass of a flow, as kept in a `pass` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassValue {
    pub v: u32,
    pub recorded_at: String,
    pub recorded_at_ms: i64,
    pub offset_syncs: usize,
    pub group_positions: usize,
    pub total_lag: i64,
    pub lag_unknown: usize,
    /// Summed lag per primary topic.
    pub lag_by_topic: BTreeMap<String, i64>,
}

/// A partition of a flow: (source cluster, target cluster, topic, partition).
pub type SyncKey = (String, String, String, i32);

/// What one pass writes: every piece the journal got new in this pass.
#[derive(Debug, Default)]
pub struct PassRecords {
    /// Per partition whose syncs changed: all its syncs in recording order.
    pub syncs: Vec<(SyncKey, Vec<OffsetSyncRow>)>,
    /// The positions recorded in this pass, with `recorded_at` set.
    pub positions: Vec<GroupPositionRow>,
    /// Topic ids seen in this pass, per cluster.
    pub ids: Vec<(String, BTreeMap<String, String>)>,
    /// The pass itself: (primary, backup, value).
    pub pass: Option<(String, String, PassValue)>,
    /// Per cluster: the `app-writes` guard's bindings in force (`None`: not in force).
    pub guards: Vec<(String, Option<serde_json::Value>)>,
}

/// Everything read back from the topic (the newest value of each key).
#[derive(Debug, Default, PartialEq)]
pub struct Stored {
    /// Per partition, syncs in recording order.
    pub syncs: Vec<OffsetSyncRow>,
    pub positions: Vec<GroupPositionRow>,
    pub ids: BTreeMap<String, BTreeMap<String, String>>,
    /// (primary, backup) -> the last pass.
    pub passes: BTreeMap<(String, String), PassValue>,
    /// cluster -> the `app-writes` guard's bindings in force there.
    pub guards: BTreeMap<String, serde_json::Value>,
    /// Records skipped (another format version, undecodable), said in notes.
    pub skipped: usize,
}

fn key(parts: serde_json::Value) -> Vec<u8> {
    parts.to_string().into_bytes()
}

fn value<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs to JSON cannot fail (no maps with non-string
    // keys, no custom serializers): an empty value is written if it ever did.
    serde_json::to_vec(v).unwrap_or_default()
}

/// The records one pass writes, in an order where a reader that stops half-way still
/// sees whole, consistent entries (each record stands alone; the pass record comes last,
/// so its time never claims more than what precedes it).
pub fn encode(p: &PassRecords) -> Vec<ProduceRecord> {
    let mut out = Vec::new();
    let rec = |k: Vec<u8>, v: Vec<u8>| ProduceRecord {
        partition: Some(0),
        key: Some(k),
        value: Some(v),
        headers: Vec::new(),
        timestamp_ms: None,
    };
    for ((source, target, topic, partition), rows) in &p.syncs {
        let start = rows.len().saturating_sub(SYNCS_KEPT);
        let syncs = rows[start..]
            .iter()
            .map(|r| SyncEntry {
                upstream: r.upstream_offset,
                downstream: r.downstream_offset,
                source_topic_id: r.source_topic_id.clone(),
                target_topic_id: r.target_topic_id.clone(),
            })
            .collect();
        out.push(rec(
            key(json!(["sync", source, target, topic, partition])),
            value(&SyncValue { v: FORMAT, syncs }),
        ));
    }
    for r in &p.positions {
        out.push(rec(
            key(json!([
                "position",
                r.cluster,
                r.group,
                r.topic,
                r.partition
            ])),
            value(&PositionValue {
                v: FORMAT,
                committed: r.committed_offset,
                fingerprint: r.fingerprint.clone(),
                topic_id: r.topic_id.clone(),
                recorded_at: r.recorded_at.clone().unwrap_or_default(),
            }),
        ));
    }
    for (cluster, ids) in &p.ids {
        out.push(rec(
            key(json!(["ids", cluster])),
            value(&IdsValue {
                v: FORMAT,
                ids: ids.clone(),
            }),
        ));
    }
    for (cluster, bindings) in &p.guards {
        let k = key(json!(["guard", cluster]));
        out.push(match bindings {
            Some(b) => rec(k, value(&json!({ "v": FORMAT, "bindings": b }))),
            // A tombstone: compaction removes the entry.
            None => ProduceRecord {
                value: None,
                ..rec(k, Vec::new())
            },
        });
    }
    if let Some((primary, backup, pass)) = &p.pass {
        out.push(rec(key(json!(["pass", primary, backup])), value(pass)));
    }
    out
}

/// Decode the records of the topic, in log order: the newest value of each key wins.
pub fn decode<'a>(records: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>) -> Stored {
    let mut latest: BTreeMap<Vec<u8>, Option<&'a [u8]>> = BTreeMap::new();
    let mut order: Vec<Vec<u8>> = Vec::new();
    for (k, v) in records {
        if latest.insert(k.to_vec(), v).is_none() {
            order.push(k.to_vec());
        }
    }
    let mut out = Stored::default();
    for k in order {
        let Some(Some(v)) = latest.get(&k) else {
            continue; // a tombstone: the entry was removed
        };
        if decode_one(&k, v, &mut out).is_none() {
            out.skipped += 1;
        }
    }
    out
}

fn decode_one(k: &[u8], v: &[u8], out: &mut Stored) -> Option<()> {
    let parts: Vec<serde_json::Value> = serde_json::from_slice(k).ok()?;
    let s = |i: usize| parts.get(i).and_then(|p| p.as_str()).map(str::to_string);
    let n = |i: usize| {
        parts
            .get(i)
            .and_then(|p| p.as_i64())
            .and_then(|p| i32::try_from(p).ok())
    };
    let version: serde_json::Value = serde_json::from_slice(v).ok()?;
    if version.get("v").and_then(|x| x.as_u64()) != Some(u64::from(FORMAT)) {
        return None;
    }
    match s(0)?.as_str() {
        "sync" if parts.len() == 5 => {
            let val: SyncValue = serde_json::from_slice(v).ok()?;
            let (source, target, topic, partition) = (s(1)?, s(2)?, s(3)?, n(4)?);
            out.syncs
                .extend(val.syncs.into_iter().map(|e| OffsetSyncRow {
                    source_cluster: source.clone(),
                    target_cluster: target.clone(),
                    topic: topic.clone(),
                    partition,
                    upstream_offset: e.upstream,
                    downstream_offset: e.downstream,
                    recorded_at: None,
                    source_topic_id: e.source_topic_id,
                    target_topic_id: e.target_topic_id,
                }));
        }
        "position" if parts.len() == 5 => {
            let val: PositionValue = serde_json::from_slice(v).ok()?;
            out.positions.push(GroupPositionRow {
                cluster: s(1)?,
                group: s(2)?,
                topic: s(3)?,
                partition: n(4)?,
                committed_offset: val.committed,
                fingerprint: val.fingerprint,
                recorded_at: Some(val.recorded_at).filter(|r| !r.is_empty()),
                topic_id: val.topic_id,
            });
        }
        "ids" if parts.len() == 2 => {
            let val: IdsValue = serde_json::from_slice(v).ok()?;
            out.ids.insert(s(1)?, val.ids);
        }
        "guard" if parts.len() == 2 => {
            let val: serde_json::Value = serde_json::from_slice(v).ok()?;
            out.guards.insert(s(1)?, val.get("bindings")?.clone());
        }
        "pass" if parts.len() == 3 => {
            let val: PassValue = serde_json::from_slice(v).ok()?;
            out.passes.insert((s(1)?, s(2)?), val);
        }
        _ => return None,
    }
    Some(())
}

/// Create the deltas topic on `client`'s cluster if it is missing: one partition (one
/// log, read in order), replication factor min(3, brokers), `min.insync.replicas` one
/// less than that (at least 1) so a single broker's loss neither loses nor blocks it.
/// Whether it exists is asked of that topic alone (DescribeTopics), not of the metadata
/// of every topic of the cluster. Returns its topic id (`None`: the broker has none, or
/// a topic just created is not described yet).
pub fn ensure_topic(
    client: &KafkaClient,
    topic: &str,
    timeout: Duration,
) -> Result<Option<String>, KafkaError> {
    let name = [topic.to_string()];
    if let Some(id) = client.topic_ids(&name, timeout)?.remove(topic) {
        return Ok(id);
    }
    let brokers = client.describe_cluster(timeout)?.brokers.len();
    let rf = brokers.clamp(1, 3) as i32;
    let min_isr = (rf - 1).max(1).to_string();
    let mut configs: Vec<(&str, &str)> = TOPIC_CONFIGS.to_vec();
    configs.push(("min.insync.replicas", min_isr.as_str()));
    client.create_topic(topic, 1, rf, &configs, timeout)?;
    Ok(client.topic_ids(&name, timeout)?.remove(topic).flatten())
}

/// Write one pass's records to the topic (`ensure_topic` first). Returns how many
/// records were written.
pub fn write_pass(
    client: &KafkaClient,
    topic: &str,
    records: &PassRecords,
    timeout: Duration,
) -> Result<usize, KafkaError> {
    let encoded = encode(records);
    client.produce(topic, &encoded, timeout)?;
    Ok(encoded.len())
}

/// Read the whole topic. `Ok(None)`: it does not exist on that cluster.
pub fn read_all(
    client: &KafkaClient,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Stored>, KafkaError> {
    if client.metadata(timeout)?.topic(topic).is_none() {
        return Ok(None);
    }
    let mut raw: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    client.for_each_record(topic, 0, 0, i64::MAX, timeout, |r| {
        if let Some(k) = r.key {
            raw.push((k, r.value));
        }
        ControlFlow::Continue(())
    })?;
    Ok(Some(decode(
        raw.iter().map(|(k, v)| (k.as_slice(), v.as_deref())),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(u: i64, d: i64) -> OffsetSyncRow {
        OffsetSyncRow {
            source_cluster: "dc1".into(),
            target_cluster: "dc2".into(),
            topic: "app.t".into(),
            partition: 3,
            upstream_offset: u,
            downstream_offset: d,
            recorded_at: None,
            source_topic_id: Some("S".into()),
            target_topic_id: None,
        }
    }

    fn position(group: &str, committed: i64, at: &str) -> GroupPositionRow {
        GroupPositionRow {
            cluster: "dc1".into(),
            group: group.into(),
            topic: "app.t".into(),
            partition: 3,
            committed_offset: committed,
            fingerprint: Some(FingerprintJson::encode(&json!({"offset": committed - 1})).unwrap()),
            recorded_at: Some(at.into()),
            topic_id: Some("S".into()),
        }
    }

    fn round_trip(passes: &[PassRecords]) -> Stored {
        let recs: Vec<ProduceRecord> = passes.iter().flat_map(encode).collect();
        decode(
            recs.iter()
                .map(|r| (r.key.as_deref().unwrap_or(&[]), r.value.as_deref())),
        )
    }

    #[test]
    fn the_newest_of_each_key_wins_and_syncs_keep_their_order() {
        let key = ("dc1".to_string(), "dc2".to_string(), "app.t".to_string(), 3);
        let first = PassRecords {
            syncs: vec![(key.clone(), vec![sync(10, 5)])],
            positions: vec![position("g", 7, "2026-01-01T00:00:00.000Z")],
            ..Default::default()
        };
        let second = PassRecords {
            syncs: vec![(key, vec![sync(10, 5), sync(200, 150), sync(120, 90)])],
            positions: vec![position("g", 9, "2026-01-01T00:00:10.000Z")],
            ids: vec![("dc1".into(), BTreeMap::from([("app.t".into(), "S".into())]))],
            pass: Some((
                "dc1".into(),
                "dc2".into(),
                PassValue {
                    v: FORMAT,
                    recorded_at: "2026-01-01T00:00:10.000Z".into(),
                    recorded_at_ms: 1,
                    offset_syncs: 3,
                    group_positions: 1,
                    total_lag: 4,
                    lag_unknown: 0,
                    lag_by_topic: BTreeMap::from([("app.t".into(), 4)]),
                },
            )),
            guards: Vec::new(),
        };
        let s = round_trip(&[first, second]);
        let ups: Vec<i64> = s.syncs.iter().map(|r| r.upstream_offset).collect();
        assert_eq!(ups, vec![10, 200, 120], "recording order kept, not sorted");
        assert_eq!(s.positions.len(), 1);
        assert_eq!(s.positions[0].committed_offset, 9);
        assert_eq!(
            s.positions[0].recorded_at.as_deref(),
            Some("2026-01-01T00:00:10.000Z")
        );
        assert_eq!(s.ids["dc1"]["app.t"], "S");
        assert_eq!(s.passes[&("dc1".into(), "dc2".into())].total_lag, 4);
        assert_eq!(s.skipped, 0);
    }

    #[test]
    fn only_the_newest_syncs_are_kept() {
        let rows: Vec<OffsetSyncRow> = (0..200).map(|i| sync(i * 10, i * 9)).collect();
        let key = ("dc1".to_string(), "dc2".to_string(), "app.t".to_string(), 3);
        let s = round_trip(&[PassRecords {
            syncs: vec![(key, rows)],
            ..Default::default()
        }]);
        assert_eq!(s.syncs.len(), SYNCS_KEPT);
        assert_eq!(s.syncs.last().map(|r| r.upstream_offset), Some(1990));
    }

    #[test]
    fn names_that_look_like_separators_stay_apart() {
        let mut a = position("g/x", 1, "t");
        a.topic = "y".into();
        let mut b = position("g", 2, "t");
        b.topic = "x/y".into();
        let s = round_trip(&[PassRecords {
            positions: vec![a, b],
            ..Default::default()
        }]);
        assert_eq!(s.positions.len(), 2);
    }

    #[test]
    fn foreign_or_broken_records_are_skipped_not_trusted() {
        let good = encode(&PassRecords {
            positions: vec![position("g", 5, "t")],
            ..Default::default()
        });
        let k = good[0].key.clone().unwrap();
        let later = br#"{"v":2,"committed":99,"recorded_at":"t"}"#.to_vec();
        let junk = b"not json".to_vec();
        let s = decode(vec![
            (k.as_slice(), good[0].value.as_deref()),
            (
                b"[\"position\",\"dc1\",\"h\",\"t\",0]".as_slice(),
                Some(junk.as_slice()),
            ),
            (b"[\"other\"]".as_slice(), Some(later.as_slice())),
        ]);
        assert_eq!(s.positions.len(), 1);
        assert_eq!(s.positions[0].committed_offset, 5);
        assert_eq!(s.skipped, 2);
        // A guard, then its lifting (a tombstone).
        let on = encode(&PassRecords {
            guards: vec![("dc2".into(), Some(json!([{"name": "app.t"}])))],
            ..Default::default()
        });
        let off = encode(&PassRecords {
            guards: vec![("dc2".into(), None)],
            ..Default::default()
        });
        let s = decode(vec![(
            on[0].key.as_deref().unwrap(),
            on[0].value.as_deref(),
        )]);
        assert_eq!(s.guards["dc2"], json!([{"name": "app.t"}]));
        let s = decode(vec![
            (on[0].key.as_deref().unwrap(), on[0].value.as_deref()),
            (off[0].key.as_deref().unwrap(), off[0].value.as_deref()),
        ]);
        assert!(s.guards.is_empty());
        // A tombstone removes the entry.
        let s = decode(vec![
            (k.as_slice(), good[0].value.as_deref()),
            (k.as_slice(), None),
        ]);
        assert!(s.positions.is_empty());
    }
}
