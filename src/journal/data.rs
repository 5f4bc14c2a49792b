//! The facts the DR procedure records and later steps read back: watermark snapshots,
//! MM2 offset syncs, consumer-group positions, fences, quarantine manifests, role changes.
//!
//! Each kind has typed rows, an insert and the reads later steps need (latest, per run,
//! history). Inserts that an idempotent action may repeat on resume are idempotent here
//! too (offset syncs, the active fence of a name, a quarantine path). No secrets: fence
//! bindings name principals and resources, never credentials.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::runs::{from_json, to_json};
use super::{Fail, Journal, JournalError};

/// The earliest, latest (high watermark) and last stable offsets of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkRow {
    pub cluster: String,
    pub topic: String,
    pub partition: i32,
    pub earliest: i64,
    pub latest: i64,
    /// The last stable offset (read_committed), `None` in snapshots taken before it was
    /// recorded.
    #[serde(default)]
    pub stable: Option<i64>,
}

impl WatermarkRow {
    /// Where a committed view of the partition ends: the last stable offset when it was
    /// recorded, else the high watermark. Records past it belong to transactions that were
    /// still open: a read_committed consumer does not see them (yet).
    pub fn committed_end(&self) -> i64 {
        self.stable.map_or(self.latest, |s| s.min(self.latest))
    }
}

/// One cluster's watermarks as taken by one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatermarkSnapshot {
    pub id: i64,
    pub run_id: i64,
    pub step_id: String,
    pub cluster: String,
    pub taken_at: String,
    /// Sorted by topic, then partition.
    pub partitions: Vec<WatermarkRow>,
}

/// One MM2 offset sync: `upstream_offset` on the source maps to `downstream_offset` on the
/// target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetSyncRow {
    pub source_cluster: String,
    pub target_cluster: String,
    pub topic: String,
    pub partition: i32,
    pub upstream_offset: i64,
    pub downstream_offset: i64,
    /// Set by the journal (first time the pair was recorded); ignored on insert.
    #[serde(default)]
    pub recorded_at: Option<String>,
    /// The topic ids of the source and target topics when the sync was recorded (`None`:
    /// not known, e.g. a journal older than topic ids).
    #[serde(default)]
    pub source_topic_id: Option<String>,
    #[serde(default)]
    pub target_topic_id: Option<String>,
}

/// A recorded fingerprint as the journal stores it: compact JSON text, kept unparsed (a
/// journal at 1,000 groups holds hundreds of thousands of them, and a parsed JSON tree
/// costs several times its text); decoded only by the step that compares it. Serialized
/// as the JSON it holds, so a document that embeds it is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintJson(String);

impl FingerprintJson {
    pub fn encode<T: Serialize>(value: &T) -> Result<FingerprintJson, serde_json::Error> {
        serde_json::to_string(value).map(FingerprintJson)
    }

    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for FingerprintJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::value::RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for FingerprintJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FingerprintJson, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        Ok(FingerprintJson(raw.get().to_string()))
    }
}

/// The highest row ids of the journal's offset syncs and group positions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltasHighWater {
    pub syncs: i64,
    pub positions: i64,
}

/// How far a backup DC's copy of the deltas holds the journal: every row up to
/// `through`, written to the topic incarnation `topic_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltasCopyMark {
    pub topic_id: Option<String>,
    pub through: DeltasHighWater,
}

/// A consumer group's committed position on one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPositionRow {
    pub cluster: String,
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub committed_offset: i64,
    /// The record before the committed offset, to find its twin on the other cluster.
    pub fingerprint: Option<FingerprintJson>,
    /// Set by the journal; ignored on insert.
    #[serde(default)]
    pub recorded_at: Option<String>,
    /// The topic's id on `cluster` when recorded (`None`: not known).
    #[serde(default)]
    pub topic_id: Option<String>,
}

/// A set of ACL bindings kafka-dr created on a cluster, and whether it was lifted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FenceRow {
    pub id: i64,
    pub run_id: i64,
    pub cluster: String,
    /// e.g. `replication-into-backup`.
    pub name: String,
    pub bindings: serde_json::Value,
    pub applied_at: String,
    pub lifted_at: Option<String>,
}

/// Where a quarantined tail was written, and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub run_id: i64,
    pub path: String,
    pub manifest: serde_json::Value,
    pub recorded_at: String,
}

text_enum! {
    /// A cluster's role.
    pub enum Role {
        Primary => "primary",
        Backup => "backup",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleChangeRow {
    pub id: i64,
    /// None when seeded outside a run (e.g. from the topology on first use).
    pub run_id: Option<i64>,
    pub cluster: String,
    pub role: Role,
    pub at: String,
}

impl Journal {
    /// Record watermarks taken by step `step_id` of run `run_id`: one snapshot per cluster
    /// among `rows`. Returns the snapshot ids in the order the clusters first appear.
    pub fn record_watermarks(
        &self,
        run_id: i64,
        step_id: &str,
        rows: &[WatermarkRow],
    ) -> Result<Vec<i64>, JournalError> {
        self.write("record watermarks", |tx| {
            let mut snapshots: Vec<(&str, i64)> = Vec::new();
            let mut insert = tx.prepare(
                "INSERT INTO watermarks (snapshot_id, topic, partition, earliest, latest, stable)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for row in rows {
                let snapshot = match snapshots.iter().find(|(c, _)| *c == row.cluster) {
                    Some((_, id)) => *id,
                    None => {
                        tx.execute(
                            "INSERT INTO watermark_snapshots (run_id, step_id, cluster)
                             VALUES (?1, ?2, ?3)",
                            params![run_id, step_id, row.cluster],
                        )?;
                        let id = tx.last_insert_rowid();
                        snapshots.push((&row.cluster, id));
                        id
                    }
                };
                insert.execute(params![
                    snapshot,
                    row.topic,
                    row.partition,
                    row.earliest,
                    row.latest,
                    row.stable
                ])?;
            }
            Ok(snapshots.into_iter().map(|(_, id)| id).collect())
        })
    }

    /// The newest watermark snapshot of `cluster`, from any run.
    pub fn latest_watermarks(
        &self,
        cluster: &str,
    ) -> Result<Option<WatermarkSnapshot>, JournalError> {
        self.read("read watermarks", |c| {
            read_snapshot(
                c,
                "WHERE cluster = ?1 ORDER BY id DESC LIMIT 1",
                params![cluster],
            )
        })
    }

    /// The newest watermark snapshot of `cluster` taken in run `run_id` (the cut a later
    /// step of the same run works from).
    pub fn run_watermarks(
        &self,
        run_id: i64,
        cluster: &str,
    ) -> Result<Option<WatermarkSnapshot>, JournalError> {
        self.read("read watermarks", |c| {
            read_snapshot(
                c,
                "WHERE run_id = ?1 AND cluster = ?2 ORDER BY id DESC LIMIT 1",
                params![run_id, cluster],
            )
        })
    }

    /// Record offset syncs; pairs already recorded are kept as they were (first sighting).
    /// Returns how many were new.
    pub fn record_offset_syncs(&self, rows: &[OffsetSyncRow]) -> Result<usize, JournalError> {
        self.write("record offset syncs", |tx| {
            let mut insert = tx.prepare(
                "INSERT INTO offset_syncs (source_cluster, target_cluster, topic, partition,
                                           upstream_offset, downstream_offset,
                                           source_topic_id, target_topic_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT DO NOTHING",
            )?;
            let mut new = 0;
            for r in rows {
                new += insert.execute(params![
                    r.source_cluster,
                    r.target_cluster,
                    r.topic,
                    r.partition,
                    r.upstream_offset,
                    r.downstream_offset,
                    r.source_topic_id,
                    r.target_topic_id
                ])?;
            }
            Ok(new)
        })
    }

    /// Per partition of the `source -> target` flow, the sync with the highest upstream
    /// offset. Sorted by topic, then partition.
    pub fn latest_offset_syncs(
        &self,
        source: &str,
        target: &str,
    ) -> Result<Vec<OffsetSyncRow>, JournalError> {
        self.read("read offset syncs", |c| {
            let mut stmt = c.prepare(&format!(
                "{SYNC_COLUMNS} WHERE id IN (
                     SELECT (SELECT id FROM offset_syncs i
                             WHERE i.source_cluster = o.source_cluster
                               AND i.target_cluster = o.target_cluster
                               AND i.topic = o.topic AND i.partition = o.partition
                             ORDER BY upstream_offset DESC, id DESC LIMIT 1)
                     FROM offset_syncs o
                     WHERE o.source_cluster = ?1 AND o.target_cluster = ?2
                     GROUP BY o.topic, o.partition)
                 ORDER BY topic, partition"
            ))?;
            let rows = stmt.query_map(params![source, target], sync_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The sync with the highest upstream offset at or below `upstream` for one
    /// partition: where a translation of `upstream` starts from.
    pub fn offset_sync_at_or_below(
        &self,
        source: &str,
        target: &str,
        topic: &str,
        partition: i32,
        upstream: i64,
    ) -> Result<Option<OffsetSyncRow>, JournalError> {
        self.read("read offset syncs", |c| {
            Ok(c.query_row(
                &format!(
                    "{SYNC_COLUMNS} WHERE source_cluster = ?1 AND target_cluster = ?2
                       AND topic = ?3 AND partition = ?4 AND upstream_offset <= ?5
                     ORDER BY upstream_offset DESC, id DESC LIMIT 1"
                ),
                params![source, target, topic, partition, upstream],
                sync_from_row,
            )
            .optional()?)
        })
    }

    /// Every recorded sync of one partition, by upstream offset.
    pub fn offset_sync_history(
        &self,
        source: &str,
        target: &str,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<OffsetSyncRow>, JournalError> {
        self.read("read offset syncs", |c| {
            let mut stmt = c.prepare(&format!(
                "{SYNC_COLUMNS} WHERE source_cluster = ?1 AND target_cluster = ?2
                   AND topic = ?3 AND partition = ?4
                 ORDER BY upstream_offset, id"
            ))?;
            let rows = stmt.query_map(params![source, target, topic, partition], sync_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Every recorded sync of one partition in the order it was first recorded (the
    /// order MM2 emitted them, which the offset-sync store's rewind rule needs), with the
    /// topic ids of both sides.
    pub fn offset_syncs_in_recording_order(
        &self,
        source: &str,
        target: &str,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<OffsetSyncRow>, JournalError> {
        self.read("read offset syncs", |c| {
            let mut stmt = c.prepare(&format!(
                "{SYNC_COLUMNS} WHERE source_cluster = ?1 AND target_cluster = ?2
                   AND topic = ?3 AND partition = ?4
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![source, target, topic, partition], sync_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Every recorded sync of the `source -> target` flow, per partition, each in the
    /// order it was first recorded (as `offset_syncs_in_recording_order`): one query
    /// instead of one per partition, for the steps that read them all (thousands of
    /// partitions in a failover).
    pub fn offset_syncs_of_flow(
        &self,
        source: &str,
        target: &str,
    ) -> Result<HashMap<(String, i32), Vec<OffsetSyncRow>>, JournalError> {
        self.read("read offset syncs", |c| {
            let mut stmt = c.prepare(&format!(
                "{SYNC_COLUMNS} WHERE source_cluster = ?1 AND target_cluster = ?2 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![source, target], sync_from_row)?;
            let mut out: HashMap<(String, i32), Vec<OffsetSyncRow>> = HashMap::new();
            for row in rows {
                let row = row?;
                out.entry((row.topic.clone(), row.partition))
                    .or_default()
                    .push(row);
            }
            Ok(out)
        })
    }

    /// The highest offset-sync and group-position row ids: what a copy written now from
    /// the journal holds (`0` when a table is empty).
    pub fn deltas_high_water(&self) -> Result<DeltasHighWater, JournalError> {
        self.read("read the journal's high-water ids", |c| {
            Ok(c.query_row(
                "SELECT (SELECT ifnull(max(id), 0) FROM offset_syncs),
                        (SELECT ifnull(max(id), 0) FROM group_positions)",
                [],
                |r| {
                    Ok(DeltasHighWater {
                        syncs: r.get(0)?,
                        positions: r.get(1)?,
                    })
                },
            )?)
        })
    }

    /// How far the backup DC's copy in `topic` on `cluster` is known complete (`None`:
    /// never written from this journal).
    pub fn deltas_copy_mark(
        &self,
        cluster: &str,
        topic: &str,
    ) -> Result<Option<DeltasCopyMark>, JournalError> {
        self.read("read the backup copy's mark", |c| {
            Ok(c.query_row(
                "SELECT topic_id, syncs_through, positions_through FROM deltas_copies
                 WHERE cluster = ?1 AND topic = ?2",
                params![cluster, topic],
                |r| {
                    Ok(DeltasCopyMark {
                        topic_id: r.get(0)?,
                        through: DeltasHighWater {
                            syncs: r.get(1)?,
                            positions: r.get(2)?,
                        },
                    })
                },
            )
            .optional()?)
        })
    }

    /// Record that the copy in `topic` on `cluster` holds every row up to `mark`.
    pub fn set_deltas_copy_mark(
        &self,
        cluster: &str,
        topic: &str,
        mark: &DeltasCopyMark,
    ) -> Result<(), JournalError> {
        self.write("record the backup copy's mark", |tx| {
            tx.execute(
                "INSERT INTO deltas_copies (cluster, topic, topic_id, syncs_through, positions_through)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (cluster, topic) DO UPDATE SET
                     topic_id = excluded.topic_id,
                     syncs_through = excluded.syncs_through,
                     positions_through = excluded.positions_through,
                     written_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![
                    cluster,
                    topic,
                    mark.topic_id,
                    mark.through.syncs,
                    mark.through.positions
                ],
            )?;
            Ok(())
        })
    }

    /// The partitions of the `source -> target` flow with a sync recorded after row
    /// `after` (`DeltasHighWater::syncs`), sorted.
    pub fn sync_partitions_since(
        &self,
        source: &str,
        target: &str,
        after: i64,
    ) -> Result<Vec<(String, i32)>, JournalError> {
        self.read("read offset syncs", |c| {
            let mut stmt = c.prepare(
                "SELECT DISTINCT topic, partition FROM offset_syncs
                 WHERE source_cluster = ?1 AND target_cluster = ?2 AND id > ?3
                 ORDER BY topic, partition",
            )?;
            let rows = stmt.query_map(params![source, target, after], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Record that `cluster`'s topics were seen now with these ids (`(topic, id)`).
    pub fn record_topic_ids(
        &self,
        cluster: &str,
        ids: &[(String, String)],
    ) -> Result<(), JournalError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write("record topic ids", |tx| {
            let seq: i64 = tx.query_row(
                "SELECT ifnull(max(seen_seq), 0) + 1 FROM topic_ids",
                [],
                |r| r.get(0),
            )?;
            let mut upsert = tx.prepare(
                "INSERT INTO topic_ids (cluster, topic, topic_id, seen_seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (cluster, topic, topic_id) DO UPDATE SET
                     last_seen = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                     seen_seq = excluded.seen_seq",
            )?;
            for (topic, id) in ids {
                upsert.execute(params![cluster, topic, id, seq])?;
            }
            Ok(())
        })
    }

    /// The id each topic of `cluster` was seen with last: its current incarnation as far
    /// as the journal knows (for a cluster that is down).
    pub fn latest_topic_ids(
        &self,
        cluster: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, JournalError> {
        self.read("read topic ids", |c| {
            let mut stmt = c.prepare(
                "SELECT topic, topic_id FROM topic_ids WHERE cluster = ?1
                 ORDER BY topic, seen_seq",
            )?;
            let rows = stmt.query_map(params![cluster], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            // Ascending by sighting: the last one per topic wins.
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Record committed group positions (history is kept).
    pub fn record_group_positions(&self, rows: &[GroupPositionRow]) -> Result<(), JournalError> {
        self.write("record group positions", |tx| {
            let mut insert = tx.prepare(
                "INSERT INTO group_positions (cluster, group_id, topic, partition,
                                              committed_offset, fingerprint, topic_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for r in rows {
                insert.execute(params![
                    r.cluster,
                    r.group,
                    r.topic,
                    r.partition,
                    r.committed_offset,
                    r.fingerprint.as_ref().map(FingerprintJson::as_str),
                    r.topic_id
                ])?;
            }
            Ok(())
        })
    }

    /// Record positions read back from the backup DC's copy (`deltas.import`), keeping
    /// the time each was first recorded (`recorded_at`, required): a failover judges a
    /// position by its age. A row without `recorded_at` gets the time of now.
    pub fn import_group_positions(&self, rows: &[GroupPositionRow]) -> Result<(), JournalError> {
        self.write("import group positions", |tx| {
            let mut insert = tx.prepare(
                "INSERT INTO group_positions (cluster, group_id, topic, partition,
                                              committed_offset, fingerprint, topic_id,
                                              recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                         ifnull(?8, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
            )?;
            for r in rows {
                insert.execute(params![
                    r.cluster,
                    r.group,
                    r.topic,
                    r.partition,
                    r.committed_offset,
                    r.fingerprint.as_ref().map(FingerprintJson::as_str),
                    r.topic_id,
                    r.recorded_at
                ])?;
            }
            Ok(())
        })
    }

    /// The newest recorded position of each (group, topic, partition) on `cluster`, for
    /// one group or all. Sorted by group, topic, partition.
    pub fn latest_group_positions(
        &self,
        cluster: &str,
        group: Option<&str>,
    ) -> Result<Vec<GroupPositionRow>, JournalError> {
        self.latest_positions(cluster, group, true, 0)
    }

    /// As `latest_group_positions` (all groups), only of the (group, topic, partition)
    /// whose newest row is after row `after` (`DeltasHighWater::positions`): what
    /// changed since a copy was written.
    pub fn group_positions_since(
        &self,
        cluster: &str,
        after: i64,
    ) -> Result<Vec<GroupPositionRow>, JournalError> {
        if after == 0 {
            return self.latest_positions(cluster, None, true, 0);
        }
        // The rows after `after`, by id (a range, not a scan of every position ever
        // recorded): the newest of each key among them is its newest of all.
        self.read("read group positions", |c| {
            let mut stmt = c.prepare(
                "SELECT cluster, group_id, topic, partition, committed_offset, fingerprint,
                        recorded_at, topic_id
                 FROM group_positions WHERE id > ?2 AND +cluster = ?1 ORDER BY id",
            )?;
            let mut rows = stmt.query(params![cluster, after])?;
            let mut newest: BTreeMap<(String, String, i32), GroupPositionRow> = BTreeMap::new();
            while let Some(r) = rows.next()? {
                let row = GroupPositionRow {
                    cluster: r.get(0)?,
                    group: r.get(1)?,
                    topic: r.get(2)?,
                    partition: r.get(3)?,
                    committed_offset: r.get(4)?,
                    fingerprint: r.get::<_, Option<String>>(5)?.map(FingerprintJson),
                    recorded_at: r.get(6)?,
                    topic_id: r.get(7)?,
                };
                newest.insert((row.group.clone(), row.topic.clone(), row.partition), row);
            }
            Ok(newest.into_values().collect())
        })
    }

    /// `latest_group_positions` without the fingerprints (`fingerprint` is `None`): what
    /// a recording pass compares against, at a fraction of the memory (at 1,000 groups a
    /// journal holds hundreds of thousands of positions, each fingerprint a JSON value).
    pub fn latest_group_marks(&self, cluster: &str) -> Result<Vec<GroupPositionRow>, JournalError> {
        self.latest_positions(cluster, None, false, 0)
    }

    /// Every group position recorded on `cluster` in rows `after + 1 ..= through`, in
    /// the order recorded, without fingerprints: what a recorder that keeps the latest
    /// marks in memory applies to bring them up to date (a range of row ids, so a pass
    /// that recorded nothing reads nothing).
    pub fn group_marks_between(
        &self,
        cluster: &str,
        after: i64,
        through: i64,
    ) -> Result<Vec<GroupPositionRow>, JournalError> {
        self.read("read group positions", |c| {
            let mut stmt = c.prepare(
                "SELECT cluster, group_id, topic, partition, committed_offset, recorded_at,
                        topic_id
                 FROM group_positions WHERE id > ?2 AND id <= ?3 AND +cluster = ?1
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![cluster, after, through], |r| {
                Ok(GroupPositionRow {
                    cluster: r.get(0)?,
                    group: r.get(1)?,
                    topic: r.get(2)?,
                    partition: r.get(3)?,
                    committed_offset: r.get(4)?,
                    fingerprint: None,
                    recorded_at: r.get(5)?,
                    topic_id: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn latest_positions(
        &self,
        cluster: &str,
        group: Option<&str>,
        fingerprints: bool,
        after: i64,
    ) -> Result<Vec<GroupPositionRow>, JournalError> {
        let mut out = Vec::new();
        self.each_latest_position(cluster, group, fingerprints, after, |r| out.push(r))?;
        Ok(out)
    }

    /// `latest_group_marks`, handed to `f` one at a time (no list of hundreds of
    /// thousands of rows held at once).
    pub fn each_latest_group_mark(
        &self,
        cluster: &str,
        f: impl FnMut(GroupPositionRow),
    ) -> Result<(), JournalError> {
        self.each_latest_position(cluster, None, false, 0, f)
    }

    fn each_latest_position(
        &self,
        cluster: &str,
        group: Option<&str>,
        fingerprints: bool,
        after: i64,
        mut f: impl FnMut(GroupPositionRow),
    ) -> Result<(), JournalError> {
        self.read("read group positions", |c| {
            let mut stmt = c.prepare(
                "SELECT cluster, group_id, topic, partition, committed_offset,
                        CASE WHEN ?3 THEN fingerprint END, recorded_at, topic_id
                 FROM group_positions WHERE id IN (
                     SELECT max(id) FROM group_positions
                     WHERE cluster = ?1 AND (?2 IS NULL OR group_id = ?2)
                     GROUP BY group_id, topic, partition
                     HAVING max(id) > ?4)
                 ORDER BY group_id, topic, partition",
            )?;
            let mut rows = stmt.query(params![cluster, group, fingerprints, after])?;
            while let Some(r) = rows.next()? {
                f(GroupPositionRow {
                    cluster: r.get(0)?,
                    group: r.get(1)?,
                    topic: r.get(2)?,
                    partition: r.get(3)?,
                    committed_offset: r.get(4)?,
                    // Kept as text: the step that compares it decodes it (and says so
                    // when it cannot).
                    fingerprint: r.get::<_, Option<String>>(5)?.map(FingerprintJson),
                    recorded_at: r.get(6)?,
                    topic_id: r.get(7)?,
                });
            }
            Ok(())
        })
    }

    /// Record that fence `name` is in place on `cluster`. Re-recording an active fence of
    /// the same name (a resumed apply) updates its bindings and keeps its id.
    pub fn record_fence(
        &self,
        run_id: i64,
        cluster: &str,
        name: &str,
        bindings: &serde_json::Value,
    ) -> Result<i64, JournalError> {
        self.write("record a fence", |tx| {
            Ok(tx.query_row(
                "INSERT INTO fences (run_id, cluster, name, bindings) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (cluster, name) WHERE lifted_at IS NULL
                 DO UPDATE SET bindings = excluded.bindings
                 RETURNING id",
                params![run_id, cluster, name, to_json(bindings)],
                |r| r.get(0),
            )?)
        })
    }

    /// Mark the active fence `name` on `cluster` lifted. Returns false if none was active
    /// (already lifted: idempotent).
    pub fn lift_fence(&self, cluster: &str, name: &str) -> Result<bool, JournalError> {
        self.write("record a fence lifted", |tx| {
            let n = tx.execute(
                "UPDATE fences SET lifted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE cluster = ?1 AND name = ?2 AND lifted_at IS NULL",
                params![cluster, name],
            )?;
            Ok(n > 0)
        })
    }

    /// Fences not yet lifted, on one cluster or all, oldest first.
    pub fn active_fences(&self, cluster: Option<&str>) -> Result<Vec<FenceRow>, JournalError> {
        self.read("read fences", |c| {
            read_fences(
                c,
                "WHERE lifted_at IS NULL AND (?1 IS NULL OR cluster = ?1) ORDER BY id",
                params![cluster],
            )
        })
    }

    /// Every fence, of one run or all, oldest first.
    pub fn fences(&self, run_id: Option<i64>) -> Result<Vec<FenceRow>, JournalError> {
        self.read("read fences", |c| {
            read_fences(
                c,
                "WHERE (?1 IS NULL OR run_id = ?1) ORDER BY id",
                params![run_id],
            )
        })
    }

    /// Record a quarantine manifest; recording the same path again in the same run (a
    /// resumed step) replaces its manifest.
    pub fn record_quarantine(
        &self,
        run_id: i64,
        path: &str,
        manifest: &serde_json::Value,
    ) -> Result<i64, JournalError> {
        self.write("record a quarantine manifest", |tx| {
            Ok(tx.query_row(
                "INSERT INTO quarantines (run_id, path, manifest) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, path) DO UPDATE SET manifest = excluded.manifest,
                     recorded_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 RETURNING id",
                params![run_id, path, to_json(manifest)],
                |r| r.get(0),
            )?)
        })
    }

    /// Quarantine manifests, of one run or all, oldest first.
    pub fn quarantines(&self, run_id: Option<i64>) -> Result<Vec<QuarantineRow>, JournalError> {
        self.read("read quarantine manifests", |c| {
            let mut stmt = c.prepare(
                "SELECT id, run_id, path, manifest, recorded_at FROM quarantines
                 WHERE (?1 IS NULL OR run_id = ?1) ORDER BY id",
            )?;
            let mut rows = stmt.query(params![run_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let path: String = r.get(2)?;
                let manifest = from_json(r.get(3)?, &format!("the manifest of `{path}`"))?
                    .unwrap_or(serde_json::Value::Null);
                out.push(QuarantineRow {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    path,
                    manifest,
                    recorded_at: r.get(4)?,
                });
            }
            Ok(out)
        })
    }

    /// Record that `cluster` now has `role`.
    pub fn record_role_change(
        &self,
        run_id: Option<i64>,
        cluster: &str,
        role: Role,
    ) -> Result<i64, JournalError> {
        self.write("record a role change", |tx| {
            tx.execute(
                "INSERT INTO role_changes (run_id, cluster, role) VALUES (?1, ?2, ?3)",
                params![run_id, cluster, role],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Record several role changes at once (a promotion: one cluster primary, the other
    /// backup) in one transaction, so a crash never leaves two primaries on record.
    pub fn record_role_changes(
        &self,
        run_id: Option<i64>,
        changes: &[(&str, Role)],
    ) -> Result<(), JournalError> {
        self.write("record role changes", |tx| {
            for (cluster, role) in changes {
                tx.execute(
                    "INSERT INTO role_changes (run_id, cluster, role) VALUES (?1, ?2, ?3)",
                    params![run_id, cluster, role],
                )?;
            }
            Ok(())
        })
    }

    /// The latest role change of each cluster (empty before any was recorded: the caller
    /// seeds from the topology). Sorted by cluster.
    pub fn current_roles(&self) -> Result<Vec<RoleChangeRow>, JournalError> {
        self.read("read roles", |c| {
            read_roles(
                c,
                "WHERE id IN (SELECT max(id) FROM role_changes GROUP BY cluster) ORDER BY cluster",
            )
        })
    }

    /// Every role change, oldest first.
    pub fn role_history(&self) -> Result<Vec<RoleChangeRow>, JournalError> {
        self.read("read roles", |c| read_roles(c, "ORDER BY id"))
    }
}

const SYNC_COLUMNS: &str = "
    SELECT source_cluster, target_cluster, topic, partition, upstream_offset,
           downstream_offset, recorded_at, source_topic_id, target_topic_id
    FROM offset_syncs";

fn sync_from_row(r: &Row<'_>) -> rusqlite::Result<OffsetSyncRow> {
    Ok(OffsetSyncRow {
        source_cluster: r.get(0)?,
        target_cluster: r.get(1)?,
        topic: r.get(2)?,
        partition: r.get(3)?,
        upstream_offset: r.get(4)?,
        downstream_offset: r.get(5)?,
        recorded_at: r.get(6)?,
        source_topic_id: r.get(7)?,
        target_topic_id: r.get(8)?,
    })
}

fn read_snapshot(
    c: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Option<WatermarkSnapshot>, Fail> {
    let head = c
        .query_row(
            &format!(
                "SELECT id, run_id, step_id, cluster, taken_at FROM watermark_snapshots {filter}"
            ),
            args,
            |r| {
                Ok(WatermarkSnapshot {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    step_id: r.get(2)?,
                    cluster: r.get(3)?,
                    taken_at: r.get(4)?,
                    partitions: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut snapshot) = head else {
        return Ok(None);
    };
    let mut stmt = c.prepare(
        "SELECT topic, partition, earliest, latest, stable FROM watermarks
         WHERE snapshot_id = ?1 ORDER BY topic, partition",
    )?;
    let rows = stmt.query_map([snapshot.id], |r| {
        Ok(WatermarkRow {
            cluster: snapshot.cluster.clone(),
            topic: r.get(0)?,
            partition: r.get(1)?,
            earliest: r.get(2)?,
            latest: r.get(3)?,
            stable: r.get(4)?,
        })
    })?;
    let partitions = rows.collect::<rusqlite::Result<_>>()?;
    snapshot.partitions = partitions;
    Ok(Some(snapshot))
}

fn read_fences(
    c: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<FenceRow>, Fail> {
    let mut stmt = c.prepare(&format!(
        "SELECT id, run_id, cluster, name, bindings, applied_at, lifted_at FROM fences {filter}"
    ))?;
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let cluster: String = r.get(2)?;
        let name: String = r.get(3)?;
        let bindings = from_json(
            r.get(4)?,
            &format!("the bindings of fence `{name}` on `{cluster}`"),
        )?
        .unwrap_or(serde_json::Value::Null);
        out.push(FenceRow {
            id: r.get(0)?,
            run_id: r.get(1)?,
            cluster,
            name,
            bindings,
            applied_at: r.get(5)?,
            lifted_at: r.get(6)?,
        });
    }
    Ok(out)
}

fn read_roles(c: &Connection, tail: &str) -> Result<Vec<RoleChangeRow>, Fail> {
    let mut stmt = c.prepare(&format!(
        "SELECT id, run_id, cluster, role, at FROM role_changes {tail}"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok(RoleChangeRow {
            id: r.get(0)?,
            run_id: r.get(1)?,
            cluster: r.get(2)?,
            role: r.get(3)?,
            at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::super::runs::{NewRun, NewStep};
    use super::*;
    use serde_json::json;

    fn journal_with_run() -> (tempfile::TempDir, Journal, i64) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j.db")).unwrap();
        let run = j
            .create_run(&NewRun {
                topology: "lab",
                runbook: "rb",
                source: "test",
                checksum: "c",
                text: "t",
                dry_run: false,
                steps: vec![NewStep {
                    step_id: "snap",
                    action: "watermarks.snapshot",
                }],
            })
            .unwrap();
        (dir, j, run)
    }

    fn wm(cluster: &str, topic: &str, partition: i32, latest: i64) -> WatermarkRow {
        WatermarkRow {
            cluster: cluster.into(),
            topic: topic.into(),
            partition,
            earliest: 0,
            latest,
            stable: Some(latest),
        }
    }

    #[test]
    fn watermarks_latest_and_per_run() {
        let (_d, j, run) = journal_with_run();
        assert!(j.latest_watermarks("dc2").unwrap().is_none());
        let rows = vec![
            wm("dc2", "orders", 1, 20),
            wm("dc1", "orders", 0, 99),
            wm("dc2", "orders", 0, 10),
        ];
        let ids = j.record_watermarks(run, "snap", &rows).unwrap();
        assert_eq!(ids.len(), 2);
        j.record_watermarks(run, "snap", &[wm("dc2", "orders", 0, 11)])
            .unwrap();
        let latest = j.latest_watermarks("dc2").unwrap().unwrap();
        assert_eq!(latest.partitions, vec![wm("dc2", "orders", 0, 11)]);
        let dc1 = j.run_watermarks(run, "dc1").unwrap().unwrap();
        assert_eq!(dc1.partitions, vec![wm("dc1", "orders", 0, 99)]);
        assert_eq!(dc1.step_id, "snap");
        assert!(j.run_watermarks(run + 1, "dc1").unwrap().is_none());
    }

    fn sync(partition: i32, up: i64, down: i64) -> OffsetSyncRow {
        OffsetSyncRow {
            source_cluster: "dc1".into(),
            target_cluster: "dc2".into(),
            topic: "orders".into(),
            partition,
            upstream_offset: up,
            downstream_offset: down,
            recorded_at: None,
            source_topic_id: None,
            target_topic_id: None,
        }
    }

    /// Issue 9, case 5: the same offset pair in a new incarnation is recorded again (its
    /// ids differ), in recording order; the latest id of each topic is its current one.
    #[test]
    fn offset_syncs_are_tied_to_topic_ids() {
        let (_d, j, _run) = journal_with_run();
        let with = |up, down, src: &str, tgt: &str| OffsetSyncRow {
            source_topic_id: Some(src.into()),
            target_topic_id: Some(tgt.into()),
            ..sync(0, up, down)
        };
        assert_eq!(
            j.record_offset_syncs(&[with(0, 0, "A1", "B1"), with(100, 100, "A1", "B1")])
                .unwrap(),
            2
        );
        // The topic recreated on the source: (0, 0) again is another sync.
        assert_eq!(j.record_offset_syncs(&[with(0, 0, "A2", "B2")]).unwrap(), 1);
        assert_eq!(j.record_offset_syncs(&[with(0, 0, "A2", "B2")]).unwrap(), 0);
        // Without ids, once as before.
        assert_eq!(j.record_offset_syncs(&[sync(0, 7, 7)]).unwrap(), 1);
        assert_eq!(j.record_offset_syncs(&[sync(0, 7, 7)]).unwrap(), 0);
        let order: Vec<_> = j
            .offset_syncs_in_recording_order("dc1", "dc2", "orders", 0)
            .unwrap()
            .into_iter()
            .map(|s| (s.upstream_offset, s.source_topic_id))
            .collect();
        assert_eq!(
            order,
            vec![
                (0, Some("A1".into())),
                (100, Some("A1".into())),
                (0, Some("A2".into())),
                (7, None)
            ]
        );
        // The whole flow in one read: per partition, the same rows in the same order.
        j.record_offset_syncs(&[sync(1, 5, 5)]).unwrap();
        let flow = j.offset_syncs_of_flow("dc1", "dc2").unwrap();
        assert_eq!(flow.len(), 2);
        for ((topic, partition), rows) in &flow {
            let one = j
                .offset_syncs_in_recording_order("dc1", "dc2", topic, *partition)
                .unwrap();
            assert_eq!(
                rows.iter()
                    .map(|r| (r.upstream_offset, r.source_topic_id.clone()))
                    .collect::<Vec<_>>(),
                one.iter()
                    .map(|r| (r.upstream_offset, r.source_topic_id.clone()))
                    .collect::<Vec<_>>()
            );
        }
        assert!(j.offset_syncs_of_flow("dc2", "dc1").unwrap().is_empty());
        j.record_topic_ids("dc1", &[("orders".into(), "A1".into())])
            .unwrap();
        j.record_topic_ids("dc1", &[("orders".into(), "A2".into())])
            .unwrap();
        assert_eq!(j.latest_topic_ids("dc1").unwrap()["orders"], "A2");
        // Seen with the old id again (the journal is told so): that one is current.
        j.record_topic_ids("dc1", &[("orders".into(), "A1".into())])
            .unwrap();
        assert_eq!(j.latest_topic_ids("dc1").unwrap()["orders"], "A1");
        assert!(j.latest_topic_ids("dc2").unwrap().is_empty());
    }

    #[test]
    fn what_changed_since_a_copy_mark_is_read_back_and_the_mark_kept() {
        let (_d, j, _run) = journal_with_run();
        assert_eq!(j.deltas_high_water().unwrap(), DeltasHighWater::default());
        assert_eq!(j.deltas_copy_mark("dc2", "copy").unwrap(), None);
        let pos = |group: &str, partition: i32, offset: i64| GroupPositionRow {
            cluster: "dc1".into(),
            group: group.into(),
            topic: "orders".into(),
            partition,
            committed_offset: offset,
            fingerprint: Some(
                FingerprintJson::encode(&serde_json::json!({"hash": "h", "offset": offset}))
                    .unwrap(),
            ),
            recorded_at: None,
            topic_id: None,
        };
        j.record_offset_syncs(&[sync(0, 100, 90), sync(1, 5, 5)])
            .unwrap();
        j.record_group_positions(&[pos("a", 0, 1), pos("a", 1, 1), pos("b", 0, 3)])
            .unwrap();
        let copied = j.deltas_high_water().unwrap();
        let mark = DeltasCopyMark {
            topic_id: Some("T1".into()),
            through: copied,
        };
        j.set_deltas_copy_mark("dc2", "copy", &mark).unwrap();
        assert_eq!(j.deltas_copy_mark("dc2", "copy").unwrap(), Some(mark));
        assert_eq!(j.deltas_copy_mark("dc1", "copy").unwrap(), None);
        // Nothing since the mark.
        assert!(j
            .sync_partitions_since("dc1", "dc2", copied.syncs)
            .unwrap()
            .is_empty());
        assert!(j
            .group_positions_since("dc1", copied.positions)
            .unwrap()
            .is_empty());
        // Everything from 0.
        assert_eq!(
            j.sync_partitions_since("dc1", "dc2", 0).unwrap(),
            vec![("orders".to_string(), 0), ("orders".to_string(), 1)]
        );
        assert_eq!(j.group_positions_since("dc1", 0).unwrap().len(), 3);
        // A moved position and a new sync: just those, the position at its newest, with
        // its fingerprint.
        j.record_group_positions(&[pos("b", 0, 4), pos("a", 1, 8)])
            .unwrap();
        j.record_group_positions(&[pos("a", 1, 7), pos("b", 0, 5)])
            .unwrap();
        j.record_offset_syncs(&[sync(1, 9, 9)]).unwrap();
        let since = j.group_positions_since("dc1", copied.positions).unwrap();
        assert_eq!(
            since
                .iter()
                .map(|r| (r.group.as_str(), r.partition, r.committed_offset))
                .collect::<Vec<_>>(),
            vec![("a", 1, 7), ("b", 0, 5)]
        );
        let fp: serde_json::Value = since[0].fingerprint.as_ref().unwrap().decode().unwrap();
        assert_eq!(fp["offset"], 7);
        assert_eq!(
            j.sync_partitions_since("dc1", "dc2", copied.syncs).unwrap(),
            vec![("orders".to_string(), 1)]
        );
        assert!(j.sync_partitions_since("dc2", "dc1", 0).unwrap().is_empty());
        // The mark moves on.
        let later = DeltasCopyMark {
            topic_id: Some("T2".into()),
            through: j.deltas_high_water().unwrap(),
        };
        j.set_deltas_copy_mark("dc2", "copy", &later).unwrap();
        assert_eq!(j.deltas_copy_mark("dc2", "copy").unwrap(), Some(later));
    }

    #[test]
    fn offset_syncs_keep_history_once() {
        let (_d, j, _run) = journal_with_run();
        let new = j
            .record_offset_syncs(&[sync(0, 100, 90), sync(0, 200, 190), sync(1, 5, 5)])
            .unwrap();
        assert_eq!(new, 3);
        // Re-reading the compacted syncs topic records nothing twice.
        assert_eq!(j.record_offset_syncs(&[sync(0, 200, 190)]).unwrap(), 0);
        let latest = j.latest_offset_syncs("dc1", "dc2").unwrap();
        let pairs: Vec<_> = latest
            .iter()
            .map(|s| (s.partition, s.upstream_offset, s.downstream_offset))
            .collect();
        assert_eq!(pairs, vec![(0, 200, 190), (1, 5, 5)]);
        assert!(latest[0].recorded_at.is_some());
        let below = j
            .offset_sync_at_or_below("dc1", "dc2", "orders", 0, 150)
            .unwrap()
            .unwrap();
        assert_eq!(below.upstream_offset, 100);
        assert!(j
            .offset_sync_at_or_below("dc1", "dc2", "orders", 0, 99)
            .unwrap()
            .is_none());
        assert_eq!(
            j.offset_sync_history("dc1", "dc2", "orders", 0)
                .unwrap()
                .len(),
            2
        );
        assert!(j.latest_offset_syncs("dc2", "dc1").unwrap().is_empty());
    }

    #[test]
    fn group_positions_latest_per_partition() {
        let (_d, j, _run) = journal_with_run();
        let pos = |group: &str, offset: i64, fp: Option<serde_json::Value>| GroupPositionRow {
            cluster: "dc1".into(),
            group: group.into(),
            topic: "orders".into(),
            partition: 0,
            committed_offset: offset,
            fingerprint: fp.map(|v| FingerprintJson::encode(&v).unwrap()),
            recorded_at: None,
            topic_id: Some("A1".into()),
        };
        j.record_group_positions(&[pos("g1", 5, None), pos("g2", 7, None)])
            .unwrap();
        j.record_group_positions(&[pos("g1", 9, Some(json!({"ts": 1, "hash": "ab"})))])
            .unwrap();
        let all = j.latest_group_positions("dc1", None).unwrap();
        assert_eq!(
            all.iter()
                .map(|p| (p.group.as_str(), p.committed_offset))
                .collect::<Vec<_>>(),
            vec![("g1", 9), ("g2", 7)]
        );
        let fp: serde_json::Value = all[0].fingerprint.as_ref().unwrap().decode().unwrap();
        assert_eq!(fp, json!({"ts": 1, "hash": "ab"}));
        assert_eq!(all[0].topic_id.as_deref(), Some("A1"));
        let g2 = j.latest_group_positions("dc1", Some("g2")).unwrap();
        assert_eq!(g2.len(), 1);
        assert!(j.latest_group_positions("dc2", None).unwrap().is_empty());
        // The marks are the same rows without their fingerprints.
        let marks = j.latest_group_marks("dc1").unwrap();
        assert_eq!(marks.len(), all.len());
        for (m, p) in marks.iter().zip(&all) {
            assert_eq!(m.fingerprint, None);
            assert_eq!(
                GroupPositionRow {
                    fingerprint: None,
                    ..p.clone()
                },
                *m
            );
        }
    }

    #[test]
    fn fences_are_idempotent_and_liftable() {
        let (_d, j, run) = journal_with_run();
        let b1 = json!([{"principal": "User:mirror", "operation": "WRITE"}]);
        let id = j
            .record_fence(run, "dc2", "replication-into-backup", &b1)
            .unwrap();
        let b2 = json!([{"principal": "User:mirror", "operation": "ALL"}]);
        // A resumed apply records the same fence again: same row, new bindings.
        assert_eq!(
            j.record_fence(run, "dc2", "replication-into-backup", &b2)
                .unwrap(),
            id
        );
        let active = j.active_fences(Some("dc2")).unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].bindings, b2);
        assert!(j.active_fences(Some("dc1")).unwrap().is_empty());
        assert!(j.lift_fence("dc2", "replication-into-backup").unwrap());
        assert!(!j.lift_fence("dc2", "replication-into-backup").unwrap());
        assert!(j.active_fences(None).unwrap().is_empty());
        // After lifting, the same name can be applied again as a new fence.
        let again = j
            .record_fence(run, "dc2", "replication-into-backup", &b1)
            .unwrap();
        assert_ne!(again, id);
        let history = j.fences(Some(run)).unwrap();
        assert_eq!(history.len(), 2);
        assert!(history[0].lifted_at.is_some());
    }

    #[test]
    fn quarantines_and_roles() {
        let (_d, j, run) = journal_with_run();
        let q = j
            .record_quarantine(run, "/var/lib/q/orders-0.jsonl", &json!({"records": 3}))
            .unwrap();
        let q2 = j
            .record_quarantine(run, "/var/lib/q/orders-0.jsonl", &json!({"records": 4}))
            .unwrap();
        assert_eq!(q, q2);
        let qs = j.quarantines(Some(run)).unwrap();
        assert_eq!(qs.len(), 1);
        assert_eq!(qs[0].manifest, json!({"records": 4}));

        assert!(j.current_roles().unwrap().is_empty());
        j.record_role_change(None, "dc1", Role::Primary).unwrap();
        j.record_role_change(None, "dc2", Role::Backup).unwrap();
        j.record_role_change(Some(run), "dc2", Role::Primary)
            .unwrap();
        let roles = j.current_roles().unwrap();
        assert_eq!(
            roles
                .iter()
                .map(|r| (r.cluster.as_str(), r.role))
                .collect::<Vec<_>>(),
            vec![("dc1", Role::Primary), ("dc2", Role::Primary)]
        );
        assert_eq!(roles[1].run_id, Some(run));
        assert_eq!(j.role_history().unwrap().len(), 3);
        assert_eq!(serde_json::to_value(&roles[0]).unwrap()["role"], "primary");
    }
}
