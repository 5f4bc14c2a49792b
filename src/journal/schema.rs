//! The journal's schema as a list of forward-only migrations.
//!
//! Migration N (1-based) brings a journal from `PRAGMA user_version` N-1 to N, inside one
//! transaction. Never edit a migration that has shipped: journals in the field already ran
//! it. Add a new one at the end instead. Only `journal/mod.rs` runs these.

/// Every migration, in order. `MIGRATIONS.len()` is the schema version this binary writes.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// The first schema: runs, steps and attempts (the engine's history), the lease, and the
/// data the DR procedure records (watermarks, offset syncs, group positions, fences,
/// quarantine manifests, role changes).
///
/// Times are TEXT in ISO-8601 UTC with milliseconds (`strftime('%Y-%m-%dT%H:%M:%fZ')`),
/// so they sort as text and read well in `runs show`. JSON columns are TEXT holding JSON.
const V1: &str = r#"
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    topology         TEXT    NOT NULL,
    runbook          TEXT    NOT NULL,
    runbook_source   TEXT    NOT NULL,
    runbook_checksum TEXT    NOT NULL,
    runbook_text     TEXT    NOT NULL,
    state            TEXT    NOT NULL
        CHECK (state IN ('running', 'succeeded', 'failed', 'interrupted')),
    dry_run          INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
    started_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at      TEXT,
    -- the process that last drove the run (updated on resume)
    host             TEXT    NOT NULL,
    pid              INTEGER NOT NULL,
    -- why the run stopped, when it failed or was interrupted
    error            TEXT
);
CREATE INDEX runs_by_topology ON runs (topology, id);

CREATE TABLE steps (
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    step_id     TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'started', 'finished', 'failed')),
    -- how the step ended: applied, verified-not-reapplied, nothing-to-do, planned, failed
    outcome     TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT,
    finished_at TEXT,
    plan        TEXT,
    output      TEXT,
    last_error  TEXT,
    PRIMARY KEY (run_id, idx),
    UNIQUE (run_id, step_id)
);

CREATE TABLE step_attempts (
    run_id      INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    started_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    duration_ms INTEGER,
    -- NULL while the attempt runs (or if the process died during it)
    outcome     TEXT,
    error       TEXT,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx, attempt),
    FOREIGN KEY (run_id, idx) REFERENCES steps (run_id, idx)
);

CREATE TABLE lease (
    topology      TEXT PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    host          TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    -- /proc/<pid>/stat field 22 (clock ticks since boot): tells a reused pid apart
    process_start INTEGER,
    acquired_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One row per record_watermarks call and cluster; the rows below hang off it.
CREATE TABLE watermark_snapshots (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES runs (id),
    step_id  TEXT    NOT NULL,
    cluster  TEXT    NOT NULL,
    taken_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX watermark_snapshots_by_cluster ON watermark_snapshots (cluster, id);
CREATE INDEX watermark_snapshots_by_run ON watermark_snapshots (run_id, cluster, id);

CREATE TABLE watermarks (
    snapshot_id INTEGER NOT NULL REFERENCES watermark_snapshots (id),
    topic       TEXT    NOT NULL,
    partition   INTEGER NOT NULL,
    earliest    INTEGER NOT NULL,
    latest      INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, topic, partition)
);

-- History of MM2 offset syncs; a pair seen twice is stored once (first sighting).
CREATE TABLE offset_syncs (
    id                INTEGER PRIMARY KEY,
    source_cluster    TEXT    NOT NULL,
    target_cluster    TEXT    NOT NULL,
    topic             TEXT    NOT NULL,
    partition         INTEGER NOT NULL,
    upstream_offset   INTEGER NOT NULL,
    downstream_offset INTEGER NOT NULL,
    recorded_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (source_cluster, target_cluster, topic, partition, upstream_offset, downstream_offset)
);
CREATE INDEX offset_syncs_lookup
    ON offset_syncs (source_cluster, target_cluster, topic, partition, upstream_offset);

CREATE TABLE group_positions (
    id               INTEGER PRIMARY KEY,
    cluster          TEXT    NOT NULL,
    group_id         TEXT    NOT NULL,
    topic            TEXT    NOT NULL,
    partition        INTEGER NOT NULL,
    committed_offset INTEGER NOT NULL,
    -- the record just before the committed offset, to find its twin on the other cluster
    fingerprint      TEXT,
    recorded_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX group_positions_lookup ON group_positions (cluster, group_id, topic, partition, id);

CREATE TABLE fences (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    cluster    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    bindings   TEXT    NOT NULL,
    applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    lifted_at  TEXT
);
-- At most one active fence of a name per cluster: re-applying a fence updates it.
CREATE UNIQUE INDEX fences_active ON fences (cluster, name) WHERE lifted_at IS NULL;

CREATE TABLE quarantines (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    path        TEXT    NOT NULL,
    manifest    TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (run_id, path)
);

CREATE TABLE role_changes (
    id      INTEGER PRIMARY KEY,
    run_id  INTEGER REFERENCES runs (id),
    cluster TEXT NOT NULL,
    role    TEXT NOT NULL CHECK (role IN ('primary', 'backup')),
    at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX role_changes_by_cluster ON role_changes (cluster, id);
"#;

/// Topic incarnations (issue 9, case 5): a topic deleted and created again under the same
/// name gets a new topic id, and offsets recorded for the old id describe another log.
/// Offset syncs carry the topic ids of both sides when recorded, group positions the
/// source topic's id, and `topic_ids` keeps every id each cluster's topics were seen with
/// (the latest is the current incarnation when the cluster is down). Rows of older
/// journals keep NULL ids: they are judged by offsets alone.
///
/// `offset_syncs` is rebuilt because its UNIQUE constraint must include the ids (the same
/// offset pair recurs in a new incarnation); ids and recording order (`id`) are kept.
const V2: &str = r#"
CREATE TABLE offset_syncs_v2 (
    id                INTEGER PRIMARY KEY,
    source_cluster    TEXT    NOT NULL,
    target_cluster    TEXT    NOT NULL,
    topic             TEXT    NOT NULL,
    partition         INTEGER NOT NULL,
    upstream_offset   INTEGER NOT NULL,
    downstream_offset INTEGER NOT NULL,
    recorded_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source_topic_id   TEXT,
    target_topic_id   TEXT
);
INSERT INTO offset_syncs_v2 (id, source_cluster, target_cluster, topic, partition,
                             upstream_offset, downstream_offset, recorded_at)
    SELECT id, source_cluster, target_cluster, topic, partition, upstream_offset,
           downstream_offset, recorded_at
    FROM offset_syncs;
DROP TABLE offset_syncs;
ALTER TABLE offset_syncs_v2 RENAME TO offset_syncs;
CREATE UNIQUE INDEX offset_syncs_once ON offset_syncs (
    source_cluster, target_cluster, topic, partition, upstream_offset, downstream_offset,
    ifnull(source_topic_id, ''), ifnull(target_topic_id, ''));
CREATE INDEX offset_syncs_lookup
    ON offset_syncs (source_cluster, target_cluster, topic, partition, upstream_offset);

ALTER TABLE group_positions ADD COLUMN topic_id TEXT;

CREATE TABLE topic_ids (
    cluster    TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    topic_id   TEXT    NOT NULL,
    first_seen TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_seen  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- increases with every sighting: the highest is the incarnation seen last
    seen_seq   INTEGER NOT NULL,
    PRIMARY KEY (cluster, topic, topic_id)
);
"#;

/// Watermark snapshots also keep each partition's last stable offset (ListOffsets with
/// read_committed), the cut when transactions are open. NULL in rows written before.
const V3: &str = r#"
ALTER TABLE watermarks ADD COLUMN stable INTEGER;
"#;

/// How far the backup DC's copy of the deltas (`deltas record`) is known complete: per
/// copy topic (`cluster`, `topic`, and the topic's id when it was written), the highest
/// offset-sync and group-position row ids of the journal it holds. A pass writes only the
/// rows after them, and the whole copy again when there is no mark or the topic is
/// another incarnation (deleted, created again).
const V4: &str = r#"
CREATE TABLE deltas_copies (
    cluster           TEXT    NOT NULL,
    topic             TEXT    NOT NULL,
    topic_id          TEXT,
    syncs_through     INTEGER NOT NULL,
    positions_through INTEGER NOT NULL,
    written_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (cluster, topic)
);
"#;
