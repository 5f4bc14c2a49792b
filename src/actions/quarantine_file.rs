//! The quarantine on disk: `tail.jsonl` (JSON Lines, one record per line, mode 0600) and
//! `manifest.json` beside it (per partition: offsets, count, bytes, timestamps, sha256 of
//! its lines), the format documented for operators in `QUARANTINE_FORMAT_DOC` (the man
//! page of `kafka-dr tail show`). Both files are written to a temporary file, fsynced and
//! renamed, so a crash never leaves a file that looks complete; `read_back` and
//! `verify_quarantine` check a quarantine against its manifest and the tail it should
//! hold. `show` serves `kafka-dr tail show`.
//!
//! Nothing here reaches a cluster: `tail.quarantine` writes these files, `truncate` checks
//! them before it deletes anything.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tail_find::*;
use super::tail_quarantine::QUARANTINE;
use crate::dr::transactions::TxnState;
use crate::error::Error;
use crate::journal::Journal;
use crate::kafka::Record;

/// The `format` of every manifest this version writes.
pub const MANIFEST_FORMAT: &str = "kafka-dr-quarantine/2";

/// The format before lines said whether their transaction committed (still verified and
/// shown; its lines have no `transaction` field).
pub const MANIFEST_FORMAT_V1: &str = "kafka-dr-quarantine/1";

/// What `bytes` counts, as written in every manifest.
pub const BYTES_COUNTED: &str =
    "raw bytes of key + value + header names + header values (before base64; null counts 0)";

/// The quarantine file format, for the man page of `kafka-dr tail show`: plain text, no
/// line starts with `.` or `'` and there is no backslash, so it can go into a roff `.nf`
/// block as is.
pub const QUARANTINE_FORMAT_DOC: &str = r#"QUARANTINE FILES
tail.quarantine writes, per run, into <dir>/run-<RUN>/ (default <dir>: the
folder quarantine/ beside the journal file), both files mode 0600:

  tail.jsonl     the tail records, JSON Lines: one record per line, UTF-8,
                 each line ending with a newline, ordered by topic, then
                 partition, then offset.
  manifest.json  what tail.jsonl holds, with checksums.

Each line of tail.jsonl is one JSON object with exactly these fields, in
this order:

  topic         string   the topic on the old primary
  partition     integer  the partition
  offset        integer  the record's offset on the old primary
  timestamp_ms  integer  the record's timestamp (ms since the epoch, -1 if none)
  key           string   the key, base64 (standard alphabet, padded), or null
  value         string   the value, base64 (standard alphabet, padded), or null
  headers       array    the headers in record order, each a two-item array
                         [name, value]: name a string, value base64 or null
  transaction   string   "committed": read_committed consumers saw it (a
                         committed transaction's record, or one written
                         without a transaction); "aborted": its transaction
                         was aborted, no read_committed consumer ever saw
                         it: DO NOT REPLAY; "open": its transaction was still
                         open when quarantined (its producer died before
                         committing; Kafka aborts it when it times out): DO
                         NOT REPLAY as committed

manifest.json is one JSON object:

  format         "kafka-dr-quarantine/2" (version 1 had no transaction
                 field and no aborted/open/control_markers counts)
  run_id         the run that wrote it; step_id, find_step: its step ids
  cluster        the old primary the records were read from
  new_primary    the cluster that holds the history
  file           absolute path of tail.jsonl
  file_sha256    lowercase hex SHA-256 of the whole of tail.jsonl
  file_bytes     size of tail.jsonl in bytes
  records        number of lines (records)
  aborted_records, open_records   lines marked "aborted" and "open": not
                 to replay
  bytes          sum of the partitions' bytes
  bytes_counted  what bytes counts: raw key + value + header names + header
                 values, before base64, a null counting 0
  written_at_ms  when it was written (ms since the epoch)
  partitions     one object per partition of the old primary that was
                 examined, also those without a tail:
    topic, partition
    cut            first offset that never reached the new primary
    log_end        the old primary's log end when the tail was found
    tail_count     log_end - cut: offsets in the tail
    count          records written (tail_count - offset_gaps)
    offset_gaps    offsets of the tail without a record; 0 on topics
                   without transactions
    control_markers  the same offsets: transaction commit and abort
                   markers (on a compacted topic also records compaction
                   removed); markers are not records and are not replayed
    aborted, open  lines of this partition marked "aborted" and "open"
    first_offset, last_offset              of the records written, or null
    first_timestamp_ms, last_timestamp_ms  of the first and last record
    min_timestamp_ms, max_timestamp_ms     the time range, or null
    bytes          as bytes_counted says, for this partition
    sha256         lowercase hex SHA-256 of this partition's lines: their
                   exact bytes, each with its trailing newline (the
                   SHA-256 of nothing when count is 0)

To check a quarantine by hand: sha256sum tail.jsonl gives file_sha256;
the lines of one partition, in file order, hashed together give its
sha256. To replay a record, decode key, value and header values from
base64 and produce them with the same timestamp and partition; replay
only lines whose transaction is "committed" (tail.quarantine's `topic`
copy skips the others and counts them).
"#;
/// One partition in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPartition {
    pub topic: String,
    pub partition: i32,
    pub cut: i64,
    pub log_end: i64,
    pub tail_count: i64,
    pub count: u64,
    pub offset_gaps: i64,
    /// Offsets of the tail without a record: transaction markers (version 1: absent).
    #[serde(default)]
    pub control_markers: i64,
    /// Lines of aborted transactions, and of transactions still open: not to replay.
    #[serde(default)]
    pub aborted: u64,
    #[serde(default)]
    pub open: u64,
    pub first_offset: Option<i64>,
    pub last_offset: Option<i64>,
    pub first_timestamp_ms: Option<i64>,
    pub last_timestamp_ms: Option<i64>,
    pub min_timestamp_ms: Option<i64>,
    pub max_timestamp_ms: Option<i64>,
    pub bytes: u64,
    pub sha256: String,
}

/// `manifest.json`: what a quarantine file holds (see `QUARANTINE_FORMAT_DOC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub run_id: i64,
    pub step_id: String,
    pub find_step: String,
    pub cluster: String,
    pub new_primary: String,
    pub file: String,
    pub file_sha256: String,
    pub file_bytes: u64,
    pub records: u64,
    /// Lines marked `aborted` and `open` (not to replay); 0 in version 1.
    #[serde(default)]
    pub aborted_records: u64,
    #[serde(default)]
    pub open_records: u64,
    pub bytes: u64,
    pub bytes_counted: String,
    pub written_at_ms: i64,
    pub partitions: Vec<ManifestPartition>,
}

/// One line of tail.jsonl, fields in the documented order.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Line {
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) timestamp_ms: i64,
    pub(super) key: Option<String>,
    pub(super) value: Option<String>,
    pub(super) headers: Vec<(String, Option<String>)>,
    /// Absent in version 1 files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) transaction: Option<TxnState>,
}

pub(super) fn b64(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| BASE64.encode(b))
}

pub(super) fn record_bytes(r: &Record) -> u64 {
    let len = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, |b| b.len() as u64);
    len(&r.key)
        + len(&r.value)
        + r.headers
            .iter()
            .map(|(k, v)| k.len() as u64 + len(v))
            .sum::<u64>()
}

/// The exact bytes of a record's line, trailing newline included.
pub(super) fn line_bytes(r: &Record, transaction: TxnState) -> Result<Vec<u8>, serde_json::Error> {
    let line = Line {
        topic: r.topic.clone(),
        partition: r.partition,
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: b64(r.key.as_deref()),
        value: b64(r.value.as_deref()),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), b64(v.as_deref())))
            .collect(),
        transaction: Some(transaction),
    };
    let mut out = serde_json::to_vec(&line)?;
    out.push(b'\n');
    Ok(out)
}

/// A line read back, decoded into a record, with its transaction state (`None`: a
/// version 1 line).
pub(super) fn parse_line(bytes: &[u8]) -> Result<(Record, Option<TxnState>), String> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line: Line = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let dec = |s: Option<String>, what: &str| -> Result<Option<Vec<u8>>, String> {
        s.map(|s| {
            BASE64
                .decode(s.as_bytes())
                .map_err(|e| format!("{what} is not base64: {e}"))
        })
        .transpose()
    };
    let mut headers = Vec::with_capacity(line.headers.len());
    for (k, v) in line.headers {
        let v = dec(v, &format!("header `{k}`"))?;
        headers.push((k, v));
    }
    Ok((
        Record {
            topic: line.topic,
            partition: line.partition,
            offset: line.offset,
            timestamp_ms: line.timestamp_ms,
            timestamp_type: crate::kafka::TimestampType::CreateTime,
            key: dec(line.key, "key")?,
            value: dec(line.value, "value")?,
            headers,
        },
        line.transaction,
    ))
}

/// Counts and checksums of one partition's lines, as they are written or read back.
pub(super) struct PartitionSum {
    pub(super) entry: ManifestPartition,
    pub(super) hasher: Sha256,
}

impl PartitionSum {
    pub(super) fn new(p: &PartitionTail) -> PartitionSum {
        PartitionSum {
            entry: ManifestPartition {
                topic: p.topic.clone(),
                partition: p.partition,
                cut: p.cut,
                log_end: p.log_end,
                tail_count: p.tail_count,
                count: 0,
                offset_gaps: 0,
                control_markers: 0,
                aborted: 0,
                open: 0,
                first_offset: None,
                last_offset: None,
                first_timestamp_ms: None,
                last_timestamp_ms: None,
                min_timestamp_ms: None,
                max_timestamp_ms: None,
                bytes: 0,
                sha256: String::new(),
            },
            hasher: Sha256::new(),
        }
    }

    pub(super) fn add(&mut self, r: &Record, line: &[u8], transaction: Option<TxnState>) {
        let e = &mut self.entry;
        e.count += 1;
        match transaction {
            Some(TxnState::Aborted) => e.aborted += 1,
            Some(TxnState::Open) => e.open += 1,
            Some(TxnState::Committed) | None => {}
        }
        e.first_offset.get_or_insert(r.offset);
        e.last_offset = Some(r.offset);
        e.first_timestamp_ms.get_or_insert(r.timestamp_ms);
        e.last_timestamp_ms = Some(r.timestamp_ms);
        e.min_timestamp_ms = Some(
            e.min_timestamp_ms
                .map_or(r.timestamp_ms, |m| m.min(r.timestamp_ms)),
        );
        e.max_timestamp_ms = Some(
            e.max_timestamp_ms
                .map_or(r.timestamp_ms, |m| m.max(r.timestamp_ms)),
        );
        e.bytes += record_bytes(r);
        self.hasher.update(line);
    }

    pub(super) fn finish(self) -> ManifestPartition {
        let mut e = self.entry;
        e.sha256 = hex::encode(self.hasher.finalize());
        e.offset_gaps = e.tail_count - e.count as i64;
        e.control_markers = e.offset_gaps;
        e
    }
}

/// Where a run's quarantine goes.
#[derive(Debug, Clone)]
pub(super) struct Paths {
    pub(super) dir: PathBuf,
    pub(super) data: PathBuf,
    pub(super) manifest: PathBuf,
}

impl Paths {
    pub(super) fn new(base: &Path, run_id: i64) -> Paths {
        let dir = base.join(format!("run-{run_id}"));
        Paths {
            data: dir.join("tail.jsonl"),
            manifest: dir.join("manifest.json"),
            dir,
        }
    }
    pub(super) fn tmp(path: &Path) -> PathBuf {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!(".{name}.tmp"))
    }
}

pub(super) fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!(
        "cannot {what} `{}`: {e}\nhelp: check that the quarantine folder is writable and has space (set `dir` of the `{QUARANTINE}` step to move it)",
        path.display()
    ))
}

/// Create `path` (and missing parents) with mode 0700.
pub(super) fn make_dir(path: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| io_err("create folder", path, e))
}

/// A new file, mode 0600, replacing any leftover of an earlier attempt.
pub(super) fn create_private(path: &Path) -> Result<File, Error> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove", path, e)),
    }
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err("create", path, e))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err("set mode 0600 on", path, e))?;
    Ok(f)
}

/// fsync `tmp`'s data, rename it to `path`, fsync the folder: all or nothing.
pub(super) fn commit_file(file: File, tmp: &Path, path: &Path) -> Result<(), Error> {
    file.sync_all().map_err(|e| io_err("fsync", tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| io_err("rename into place", path, e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("fsync folder", dir, e))?;
    }
    Ok(())
}

/// Read a quarantine file back: per-partition sums, total sha256, size, record count.
/// Fails on a line that is not a record, a record outside the tail, or out of order.
pub(super) fn read_back(
    data: &Path,
    tail: &TailReport,
) -> Result<(Vec<ManifestPartition>, String, u64, u64), String> {
    let file = File::open(data).map_err(|e| format!("cannot open `{}`: {e}", data.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let by_key: BTreeMap<(&str, i32), &PartitionTail> = tail
        .partitions
        .iter()
        .map(|p| ((p.topic.as_str(), p.partition), p))
        .collect();
    let mut sums: BTreeMap<(String, i32), PartitionSum> = tail
        .partitions
        .iter()
        .map(|p| ((p.topic.clone(), p.partition), PartitionSum::new(p)))
        .collect();
    let mut total = Sha256::new();
    let (mut size, mut records) = (0u64, 0u64);
    let mut order: Vec<(String, i32)> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read `{}`: {e}", data.display()))?;
        if n == 0 {
            break;
        }
        records += 1;
        size += n as u64;
        total.update(&line);
        if line.last() != Some(&b'\n') {
            return Err(format!(
                "line {records} has no trailing newline (a cut-off file)"
            ));
        }
        let (r, transaction) =
            parse_line(&line).map_err(|e| format!("line {records} is not a record: {e}"))?;
        let Some(p) = by_key.get(&(r.topic.as_str(), r.partition)) else {
            return Err(format!(
                "line {records}: `{}`[{}] is not a partition of the tail",
                r.topic, r.partition
            ));
        };
        if r.offset < p.tail_start() || r.offset >= p.log_end {
            return Err(format!(
                "line {records}: `{}`[{}] offset {} is outside the tail [{}, {})",
                r.topic,
                r.partition,
                r.offset,
                p.tail_start(),
                p.log_end
            ));
        }
        let key = (r.topic.clone(), r.partition);
        if order.last() != Some(&key) {
            if order.contains(&key) {
                return Err(format!(
                    "line {records}: the lines of `{}`[{}] are not together",
                    r.topic, r.partition
                ));
            }
            order.push(key.clone());
        }
        let Some(sum) = sums.get_mut(&key) else {
            return Err(format!("line {records}: unexpected partition"));
        };
        if sum.entry.last_offset.is_some_and(|l| r.offset <= l) {
            return Err(format!(
                "line {records}: `{}`[{}] offset {} is not after offset {}",
                r.topic,
                r.partition,
                r.offset,
                sum.entry.last_offset.unwrap_or_default()
            ));
        }
        sum.add(&r, &line, transaction);
    }
    let parts = sums.into_values().map(PartitionSum::finish).collect();
    Ok((parts, hex::encode(total.finalize()), size, records))
}

/// Tail records of `p` gone from `cluster` (log start now `earliest`) `when` ("before",
/// "while") kafka-dr quarantined them: nothing may be deleted on such a quarantine.
pub(super) fn tail_deleted(p: &PartitionTail, cluster: &str, earliest: i64, when: &str) -> Error {
    Error::Io(format!(
        "`{}` partition {} on `{cluster}`: tail records [{}, {earliest}) were deleted {when} kafka-dr quarantined them (log start is now {earliest}); nothing was deleted by kafka-dr\nhelp: check the topic's retention on `{cluster}`; run the failback again to find the tail anew, and keep what is left",
        p.topic, p.partition, p.tail_start()
    ))
}

/// The verified quarantine step `quarantine_step` recorded in `run_id`, the one a step
/// that removes or delivers the tail relies on (`truncate`, `tail.deliver`). `refuse`
/// words the step's own refusal around the reason (what it will not do, and the help).
pub(crate) fn verified_quarantine(
    journal: &Journal,
    run_id: i64,
    quarantine_step: &str,
    tail: &TailReport,
    refuse: impl Fn(String) -> Error,
) -> Result<Manifest, Error> {
    let found = journal
        .quarantines(Some(run_id))?
        .into_iter()
        .rev()
        .find_map(|r| {
            serde_json::from_value::<Manifest>(r.manifest)
                .ok()
                .filter(|m| m.step_id == quarantine_step && m.run_id == run_id)
        });
    let Some(manifest) = found else {
        return Err(refuse(format!(
            "step `{quarantine_step}` recorded no verified quarantine in run {run_id}"
        )));
    };
    verify_quarantine(&manifest, tail)
        .map_err(|why| refuse(format!("the quarantine does not verify: {why}")))?;
    Ok(manifest)
}

/// Check a quarantine: the manifest against the tail, and the file against the manifest.
/// `Err(reason)` when it does not verify.
pub(crate) fn verify_quarantine(manifest: &Manifest, tail: &TailReport) -> Result<(), String> {
    if manifest.format != MANIFEST_FORMAT && manifest.format != MANIFEST_FORMAT_V1 {
        return Err(format!(
            "manifest format `{}` is not `{MANIFEST_FORMAT}`",
            manifest.format
        ));
    }
    if manifest.cluster != tail.old_primary {
        return Err(format!(
            "the manifest is of `{}`, the tail of `{}`",
            manifest.cluster, tail.old_primary
        ));
    }
    // The manifest must describe exactly the tail tail.find found.
    let want: Vec<(&str, i32, i64, i64, i64)> = tail
        .partitions
        .iter()
        .map(|p| {
            (
                p.topic.as_str(),
                p.partition,
                p.cut,
                p.log_end,
                p.tail_count,
            )
        })
        .collect();
    let have: Vec<(&str, i32, i64, i64, i64)> = manifest
        .partitions
        .iter()
        .map(|p| {
            (
                p.topic.as_str(),
                p.partition,
                p.cut,
                p.log_end,
                p.tail_count,
            )
        })
        .collect();
    if want != have {
        let diff = want
            .iter()
            .find(|w| !have.contains(w))
            .or_else(|| have.iter().find(|h| !want.contains(h)));
        return Err(match diff {
            Some((t, p, c, e, n)) => format!(
                "the manifest and the tail differ at `{t}`[{p}] (cut {c}, log end {e}, {n} record(s))"
            ),
            None => "the manifest and the tail list different partitions".to_string(),
        });
    }
    for p in &manifest.partitions {
        if p.count as i64 + p.offset_gaps != p.tail_count || p.offset_gaps < 0 {
            return Err(format!(
                "`{}`[{}]: {} record(s) + {} offset gap(s) is not the tail's {} offset(s)",
                p.topic, p.partition, p.count, p.offset_gaps, p.tail_count
            ));
        }
    }
    let path = Path::new(&manifest.file);
    let (parts, sha, size, records) = read_back(path, tail)?;
    if sha != manifest.file_sha256 || size != manifest.file_bytes || records != manifest.records {
        return Err(format!(
            "`{}` holds {records} record(s), {size} byte(s), sha256 {sha}; the manifest says {}, {}, {}",
            path.display(),
            manifest.records,
            manifest.file_bytes,
            manifest.file_sha256
        ));
    }
    for (got, want) in parts.iter().zip(&manifest.partitions) {
        let mut got = got.clone();
        if manifest.format == MANIFEST_FORMAT_V1 {
            // Version 1 manifests had no control_markers count.
            got.control_markers = want.control_markers;
        }
        if &got != want {
            return Err(format!(
                "`{}`[{}] in `{}`: {} record(s), sha256 {}; the manifest says {} record(s), sha256 {}",
                want.topic,
                want.partition,
                path.display(),
                got.count,
                got.sha256,
                want.count,
                want.sha256
            ));
        }
    }
    Ok(())
}

/// The manifest on disk, if there is one that parses.
pub(super) fn read_manifest(path: &Path) -> Result<Option<Manifest>, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("`{}` is not a manifest: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read `{}`: {e}", path.display())),
    }
}

// ---------------------------------------------------------------------------------------
/// What `kafka-dr tail show [RUN]` prints: a recorded quarantine and its manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShownQuarantine {
    pub run_id: i64,
    /// The quarantine file (tail.jsonl).
    pub path: String,
    /// manifest.json beside it.
    pub manifest_path: String,
    pub recorded_at: String,
    /// Whether the file is still there (it is not re-hashed here).
    pub file_present: bool,
    pub manifest: Manifest,
}

impl ShownQuarantine {
    /// Plain lines for a human: one summary line, then one line per partition with a
    /// tail (the CLI prints them through the reporter).
    pub fn lines(&self) -> Vec<String> {
        let m = &self.manifest;
        let mut out =
            vec![
                format!(
                "run {}: {} record(s) of {} partition(s) of `{}` in `{}` ({} byte(s), sha256 {}){}",
                self.run_id,
                m.records,
                m.partitions.iter().filter(|p| p.count > 0).count(),
                m.cluster,
                self.path,
                m.file_bytes,
                m.file_sha256,
                if self.file_present { "" } else { " [FILE MISSING]" }
            ),
                format!(
                    "manifest: `{}`, recorded {}",
                    self.manifest_path, self.recorded_at
                ),
            ];
        if m.aborted_records + m.open_records > 0 {
            out.push(format!(
                "transactions: {} record(s) aborted and {} in transactions still open when quarantined: marked `\"transaction\": \"aborted\"` / `\"open\"` in the file, not to replay",
                m.aborted_records, m.open_records
            ));
        } else if m.format == MANIFEST_FORMAT_V1 {
            out.push(format!(
                "format `{MANIFEST_FORMAT_V1}`: its lines do not say whether their transaction committed"
            ));
        }
        for p in m.partitions.iter().filter(|p| p.count > 0) {
            let mut txn = String::new();
            if p.aborted + p.open > 0 || p.control_markers > 0 {
                txn = format!(
                    ", {} aborted, {} open, {} control marker(s)",
                    p.aborted, p.open, p.control_markers
                );
            }
            out.push(format!(
                "`{}`[{}]: {} record(s), offsets {}..={}, {} byte(s), timestamps {}..={}{txn}, sha256 {}",
                p.topic,
                p.partition,
                p.count,
                p.first_offset.unwrap_or_default(),
                p.last_offset.unwrap_or_default(),
                p.bytes,
                crate::human::or_dash(p.min_timestamp_ms.map(crate::human::utc_ms)),
                crate::human::or_dash(p.max_timestamp_ms.map(crate::human::utc_ms)),
                p.sha256
            ));
        }
        let empty = m.partitions.iter().filter(|p| p.count == 0).count();
        if empty > 0 {
            out.push(format!("{empty} partition(s) had no tail"));
        }
        out
    }
}

/// The quarantine recorded by run `run` (the latest one, if it recorded several), or the
/// latest of any run.
pub fn show(journal: &Journal, run: Option<i64>) -> Result<ShownQuarantine, Error> {
    let rows = journal.quarantines(run)?;
    let Some(row) = rows.into_iter().next_back() else {
        return Err(Error::Usage(match run {
            Some(r) => format!(
                "run {r} recorded no quarantine\nhelp: `kafka-dr runs list` shows the runs; a failback run records one in its `{QUARANTINE}` step"
            ),
            None => format!(
                "the journal holds no quarantine\nhelp: a failback run records one in its `{QUARANTINE}` step; check `--journal`"
            ),
        }));
    };
    let manifest: Manifest = serde_json::from_value(row.manifest).map_err(|e| {
        Error::Io(format!(
            "the manifest of `{}` (run {}) in the journal cannot be read: {e}\nhelp: read manifest.json beside the file instead",
            row.path, row.run_id
        ))
    })?;
    let path = PathBuf::from(&row.path);
    let manifest_path = path.with_file_name("manifest.json");
    Ok(ShownQuarantine {
        run_id: row.run_id,
        file_present: path.is_file(),
        manifest_path: manifest_path.to_string_lossy().into_owned(),
        path: row.path,
        recorded_at: row.recorded_at,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::Fixture;
    use std::io::Write;

    fn rec(topic: &str, p: i32, off: i64, ts: i64) -> Record {
        Record {
            topic: topic.into(),
            partition: p,
            offset: off,
            timestamp_ms: ts,
            timestamp_type: crate::kafka::TimestampType::CreateTime,
            key: Some(format!("k{off}").into_bytes()),
            value: if off % 2 == 0 {
                None
            } else {
                Some(vec![0, 255, 10])
            },
            headers: vec![("h".into(), None), ("i".into(), Some(b"v".to_vec()))],
        }
    }

    #[test]
    fn lines_have_the_documented_shape_and_round_trip() {
        let r = rec("app.t", 2, 41, 1_700_000_000_000);
        let line = line_bytes(&r, TxnState::Aborted).unwrap();
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            "{\"topic\":\"app.t\",\"partition\":2,\"offset\":41,\"timestamp_ms\":1700000000000,\"key\":\"azQx\",\"value\":\"AP8K\",\"headers\":[[\"h\",null],[\"i\",\"dg==\"]],\"transaction\":\"aborted\"}\n"
        );
        assert_eq!(record_bytes(&r), 3 + 3 + 1 + 1 + 1);
        let (back, transaction) = parse_line(&line).unwrap();
        assert_eq!(transaction, Some(TxnState::Aborted));
        // A version 1 line (no transaction field) still reads.
        let v1 = "{\"topic\":\"app.t\",\"partition\":2,\"offset\":41,\"timestamp_ms\":1,\"key\":null,\"value\":null,\"headers\":[]}\n";
        assert_eq!(parse_line(v1.as_bytes()).unwrap().1, None);
        assert_eq!(
            (back.key, back.value, back.headers),
            (r.key, r.value, r.headers)
        );
    }

    fn tail_of(parts: &[(i64, i64)]) -> TailReport {
        let mut r = TailReport {
            old_primary: "dc1".into(),
            new_primary: "dc2".into(),
            promotion_run: 1,
            promotion_taken_at: "t".into(),
            partitions: parts
                .iter()
                .enumerate()
                .map(|(i, &(cut, end))| PartitionTail {
                    topic: "app.t".into(),
                    partition: i as i32,
                    new_primary_topic: "app.t".into(),
                    cut,
                    log_start: 0,
                    log_end: end,
                    tail_count: end - cut,
                    method: CutMethod::Fingerprint,
                    twin_found_at: None,
                    twins_in_range: 1,
                    new_primary_last: None,
                    new_primary_start: Some(0),
                    new_primary_end: Some(cut),
                    search_from: None,
                    search_until: None,
                    lower_sync: None,
                    upper_sync: None,
                    gone_before_log_start: 0,
                    note: None,
                })
                .collect(),
            partitions_with_tail: 0,
            tail_records: 0,
            notes: vec![],
        };
        r.totals();
        r
    }

    /// Write a quarantine file by hand the way `write` does, and its manifest.
    fn write_files(dir: &Path, tail: &TailReport) -> Manifest {
        let paths = Paths::new(dir, 7);
        make_dir(&paths.dir).unwrap();
        let mut data = Vec::new();
        let mut entries = vec![];
        for p in &tail.partitions {
            let mut sum = PartitionSum::new(p);
            for off in p.cut..p.log_end {
                let r = rec("app.t", p.partition, off, 1000 + off);
                // Every fifth record of an aborted transaction.
                let state = if off % 5 == 4 {
                    TxnState::Aborted
                } else {
                    TxnState::Committed
                };
                let l = line_bytes(&r, state).unwrap();
                sum.add(&r, &l, Some(state));
                data.extend_from_slice(&l);
            }
            entries.push(sum.finish());
        }
        fs::write(&paths.data, &data).unwrap();
        Manifest {
            format: MANIFEST_FORMAT.into(),
            run_id: 7,
            step_id: "tail-quarantine".into(),
            find_step: "tail-find".into(),
            cluster: "dc1".into(),
            new_primary: "dc2".into(),
            file: paths.data.to_string_lossy().into_owned(),
            file_sha256: hex::encode(Sha256::digest(&data)),
            file_bytes: data.len() as u64,
            records: entries.iter().map(|e| e.count).sum(),
            aborted_records: entries.iter().map(|e| e.aborted).sum(),
            open_records: entries.iter().map(|e| e.open).sum(),
            bytes: entries.iter().map(|e| e.bytes).sum(),
            bytes_counted: BYTES_COUNTED.into(),
            written_at_ms: 0,
            partitions: entries,
        }
    }

    #[test]
    fn a_quarantine_verifies_and_any_change_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let tail = tail_of(&[(10, 15), (20, 20), (3, 4)]);
        let m = write_files(dir.path(), &tail);
        assert_eq!(m.records, 6);
        assert_eq!(m.partitions[1].sha256, hex::encode(Sha256::digest(b"")));
        verify_quarantine(&m, &tail).unwrap();
        // A tail that grew since.
        let grown = tail_of(&[(10, 16), (20, 20), (3, 4)]);
        assert!(verify_quarantine(&m, &grown)
            .unwrap_err()
            .contains("differ at"));
        // A changed byte.
        let mut data = fs::read(&m.file).unwrap();
        let at = data.iter().position(|b| *b == b'k').unwrap();
        data[at + 3] ^= 1;
        fs::write(&m.file, &data).unwrap();
        assert!(verify_quarantine(&m, &tail).is_err());
        // A cut-off file.
        let m = write_files(dir.path(), &tail);
        let data = fs::read(&m.file).unwrap();
        fs::write(&m.file, &data[..data.len() - 1]).unwrap();
        let e = verify_quarantine(&m, &tail).unwrap_err();
        assert!(e.contains("no trailing newline"), "{e}");
    }

    #[test]
    fn files_are_private_and_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let tmp = Paths::tmp(&path);
        assert!(tmp.to_string_lossy().ends_with("/.x.tmp"));
        let mut f = create_private(&tmp).unwrap();
        f.write_all(b"one").unwrap();
        commit_file(f, &tmp, &path).unwrap();
        let mut f = create_private(&tmp).unwrap();
        f.write_all(b"two").unwrap();
        commit_file(f, &tmp, &path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!tmp.exists());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn show_without_quarantine_says_so() {
        let f = Fixture::new();
        let e = show(&f.journal, Some(3)).unwrap_err().to_string();
        assert!(
            e.contains("run 3 recorded no quarantine") && e.contains("help:"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let tail = tail_of(&[(0, 2)]);
        let m = write_files(dir.path(), &tail);
        let run = f
            .journal
            .create_run(&crate::journal::NewRun {
                topology: "lab",
                runbook: "rb",
                source: "test",
                checksum: "c",
                text: "t",
                dry_run: false,
                steps: vec![],
            })
            .unwrap();
        f.journal
            .record_quarantine(run, &m.file, &serde_json::to_value(&m).unwrap())
            .unwrap();
        let s = show(&f.journal, None).unwrap();
        assert_eq!((s.run_id, s.file_present), (run, true));
        assert_eq!(show(&f.journal, Some(run)).unwrap(), s);
        assert!(s.manifest_path.ends_with("run-7/manifest.json"));
        assert!(s.lines()[0].contains("2 record(s) of 1 partition(s)"));
    }

    #[test]
    fn the_format_doc_is_roff_safe() {
        for line in QUARANTINE_FORMAT_DOC.lines() {
            assert!(!line.starts_with('.') && !line.starts_with('\''), "{line}");
            assert!(!line.contains('\\'), "{line}");
            assert!(line.len() <= 80, "{line}");
        }
        for field in [
            "topic",
            "partition",
            "offset",
            "timestamp_ms",
            "key",
            "value",
            "headers",
        ] {
            assert!(
                QUARANTINE_FORMAT_DOC.contains(&format!("  {field} ")),
                "{field}"
            );
        }
    }
}
