//! `tail.quarantine` (params `find_step`, `dir`, `topic`, `timeout_seconds`): keep a
//! verified copy of the old primary's tail (found by `tail.find`) before anything is
//! removed.
//!
//! It streams every tail record into `<dir>/run-<run>/tail.jsonl` with a `manifest.json`
//! beside it (the format and its safe writing live in `quarantine_file`). A verified
//! manifest that matches the tail is never rewritten (a resumed step quarantines nothing
//! twice); anything else is rewritten from scratch. With `topic`, the records are also
//! copied to that topic on the new primary (idempotent: records already copied by this
//! run are not produced again). `verify` re-reads the file, checks it against the
//! manifest and the tail, and records the manifest in the journal
//! (`record_quarantine`).
//!
//! This step must not delete anything on any cluster (`truncate` does, after checking the
//! quarantine with `quarantine_file::verify_quarantine`).

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::common;
use super::quarantine_file::*;
use super::tail_find::*;
use crate::dr::transactions::CommittedView;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::kafka::{KafkaClient, ProduceRecord};
use crate::runbook::StepDef;
pub const QUARANTINE: &str = "tail.quarantine";
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineParams {
    find_step: String,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    timeout_seconds: u64,
}

/// The `tail.quarantine` action.
#[derive(Debug)]
pub struct Quarantine {
    find_step: String,
    dir: Option<PathBuf>,
    topic: Option<String>,
    timeout: Duration,
}

/// What the quarantine step found on disk before doing anything.
enum OnDisk {
    /// A manifest that verifies and matches the tail.
    Verified(Box<Manifest>),
    /// Nothing, or something that does not verify (the reason).
    Missing,
    Invalid(String),
}

/// Header names the copies in a quarantine topic carry, so that a resumed copy skips
/// what is already there.
const HDR_RUN: &str = "kafka-dr.quarantine.run";
const HDR_SOURCE: &str = "kafka-dr.quarantine.source";

impl Quarantine {
    pub fn new(step: &StepDef) -> Result<Quarantine, Error> {
        let p: QuarantineParams = super::params(step, QUARANTINE)?;
        let bad = |reason: String| -> Error {
            super::ActionError::Params {
                step: step.id.clone(),
                action: QUARANTINE,
                reason,
            }
            .into()
        };
        if p.dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
            return Err(bad(
                "`dir` is empty\nhelp: give a folder, or remove `dir` to write beside the journal"
                    .into(),
            ));
        }
        if p.topic.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(bad(
                "`topic` is empty\nhelp: give a topic name, or remove `topic`".into(),
            ));
        }
        Ok(Quarantine {
            find_step: p.find_step,
            dir: p.dir.map(PathBuf::from),
            topic: p.topic,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    fn paths(&self, ctx: &StepContext<'_>) -> Paths {
        let base = match &self.dir {
            Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
            None => {
                let journal = std::path::absolute(ctx.journal.path())
                    .unwrap_or_else(|_| ctx.journal.path().to_path_buf());
                journal
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
                    .join("quarantine")
            }
        };
        Paths::new(&base, ctx.run_id)
    }

    fn on_disk(&self, ctx: &StepContext<'_>, paths: &Paths, tail: &TailReport) -> OnDisk {
        match read_manifest(&paths.manifest) {
            Ok(None) => OnDisk::Missing,
            Err(e) => OnDisk::Invalid(e),
            Ok(Some(m)) => {
                if m.run_id != ctx.run_id || m.step_id != ctx.step_id {
                    return OnDisk::Invalid(format!(
                        "`{}` belongs to step `{}` of run {}",
                        paths.manifest.display(),
                        m.step_id,
                        m.run_id
                    ));
                }
                if Path::new(&m.file) != paths.data {
                    return OnDisk::Invalid(format!(
                        "`{}` names `{}`, not `{}`",
                        paths.manifest.display(),
                        m.file,
                        paths.data.display()
                    ));
                }
                match verify_quarantine(&m, tail) {
                    Ok(()) => OnDisk::Verified(Box::new(m)),
                    Err(e) => OnDisk::Invalid(e),
                }
            }
        }
    }

    /// Stream the tail into the file and write the manifest, both atomically.
    fn write(
        &self,
        ctx: &StepContext<'_>,
        paths: &Paths,
        tail: &TailReport,
    ) -> Result<(Manifest, Duration), Error> {
        make_dir(&paths.dir)?;
        let started = Instant::now();
        let client = common::kafka(ctx.topology, &tail.old_primary, self.timeout)?;
        let with_tail: Vec<&PartitionTail> =
            tail.partitions.iter().filter(|p| p.has_tail()).collect();
        // Tail records deleted since tail.find would be silently missing: refuse.
        if !with_tail.is_empty() {
            let parts: Vec<(&str, i32)> = with_tail
                .iter()
                .map(|p| (p.topic.as_str(), p.partition))
                .collect();
            for (p, w) in with_tail
                .iter()
                .zip(client.watermarks(&parts, self.timeout)?)
            {
                if w.earliest > p.tail_start() {
                    return Err(tail_deleted(p, &tail.old_primary, w.earliest, "before"));
                }
            }
        }
        let tmp = Paths::tmp(&paths.data);
        let file = create_private(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut total = Sha256::new();
        let (mut size, mut records, mut bytes) = (0u64, 0u64, 0u64);
        let mut entries = Vec::with_capacity(tail.partitions.len());
        for p in &tail.partitions {
            let mut sum = PartitionSum::new(p);
            if p.has_tail() {
                // A second read, read_committed: which tail records committed. A record
                // the first read returns and this one does not was aborted (or is still
                // open, past the last stable offset): marked so, never replayed.
                let view = client.committed_offset_runs(
                    &p.topic,
                    p.partition,
                    p.tail_start(),
                    p.log_end,
                    self.timeout,
                )?;
                let view = CommittedView {
                    runs: view.runs,
                    stable: view.stable,
                };
                let mut failure: Option<Error> = None;
                let mut interrupted = false;
                let progress = ctx.reporter.progress(
                    "Quarantine",
                    &format!("`{}`[{}]", p.topic, p.partition),
                    u64::try_from(p.tail_count).ok(),
                    "record(s)",
                );
                client.for_each_record(
                    &p.topic,
                    p.partition,
                    p.tail_start(),
                    p.log_end,
                    self.timeout,
                    |r| {
                        let state = view.state(r.offset);
                        let line = match line_bytes(&r, state) {
                            Ok(l) => l,
                            Err(e) => {
                                failure = Some(Error::Io(format!(
                                    "cannot encode `{}` partition {} offset {} as JSON: {e}",
                                    r.topic, r.partition, r.offset
                                )));
                                return ControlFlow::Break(());
                            }
                        };
                        if let Err(e) = out.write_all(&line) {
                            failure = Some(io_err("write", &tmp, e));
                            return ControlFlow::Break(());
                        }
                        total.update(&line);
                        size += line.len() as u64;
                        records += 1;
                        sum.add(&r, &line, Some(state));
                        progress.set(sum.entry.count, None);
                        if ctx.is_interrupted() {
                            interrupted = true;
                            return ControlFlow::Break(());
                        }
                        ControlFlow::Continue(())
                    },
                )?;
                drop(progress);
                if let Some(e) = failure {
                    return Err(e);
                }
                // The read skips what is gone: records deleted WHILE it ran (retention)
                // would be missing from the file and read as offset gaps. Refuse.
                let after = client.watermarks(&[(p.topic.as_str(), p.partition)], self.timeout)?;
                if let Some(w) = after.first().filter(|w| w.earliest > p.tail_start()) {
                    return Err(tail_deleted(p, &tail.old_primary, w.earliest, "while"));
                }
                if interrupted {
                    return Err(super::ActionError::Interrupted {
                        during: format!(
                            "quarantining `{}` partition {} (the file is incomplete and is rewritten on resume)",
                            p.topic, p.partition
                        ),
                    }
                    .into());
                }
                ctx.reporter.status(
                    "Quarantined",
                    &format!(
                        "`{}`[{}]: {} record(s){}",
                        p.topic,
                        p.partition,
                        sum.entry.count,
                        not_to_replay(sum.entry.aborted, sum.entry.open)
                    ),
                );
                // On disk per partition, so a crash (and the crash test) leaves a partial
                // temporary file that resume must discard, not a buffered nothing.
                out.flush().map_err(|e| io_err("write", &tmp, e))?;
                crate::engine::crash::crash_point("tail.quarantine:partition-written");
            }
            let entry = sum.finish();
            bytes += entry.bytes;
            entries.push(entry);
        }
        out.flush().map_err(|e| io_err("write", &tmp, e))?;
        let file = out
            .into_inner()
            .map_err(|e| io_err("write", &tmp, e.error()))?;
        commit_file(file, &tmp, &paths.data)?;
        let elapsed = started.elapsed();
        let manifest = Manifest {
            format: MANIFEST_FORMAT.to_string(),
            run_id: ctx.run_id,
            step_id: ctx.step_id.to_string(),
            find_step: self.find_step.clone(),
            cluster: tail.old_primary.clone(),
            new_primary: tail.new_primary.clone(),
            file: paths.data.to_string_lossy().into_owned(),
            file_sha256: hex::encode(total.finalize()),
            file_bytes: size,
            records,
            aborted_records: entries.iter().map(|e| e.aborted).sum(),
            open_records: entries.iter().map(|e| e.open).sum(),
            bytes,
            bytes_counted: BYTES_COUNTED.to_string(),
            written_at_ms: now_ms(),
            partitions: entries,
        };
        let mut text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Io(format!("cannot encode the manifest: {e}")))?;
        text.push(b'\n');
        let tmp = Paths::tmp(&paths.manifest);
        let mut file = create_private(&tmp)?;
        file.write_all(&text)
            .map_err(|e| io_err("write", &tmp, e))?;
        commit_file(file, &tmp, &paths.manifest)?;
        Ok((manifest, elapsed))
    }

    fn topic_target(
        &self,
        ctx: &StepContext<'_>,
        tail: &TailReport,
    ) -> Result<Option<String>, Error> {
        let Some(topic) = &self.topic else {
            return Ok(None);
        };
        if common::in_scope_topic(ctx.topology, topic) {
            return Err(Error::Usage(format!(
                "step `{}` ({QUARANTINE}): quarantine topic `{topic}` is in the replication scope of topology `{}`: the reverse mirror would copy the quarantined records back into `{}`\nhelp: choose a topic name outside `replication.topics`",
                ctx.step_id, ctx.topology.name, tail.old_primary
            )));
        }
        Ok(Some(topic.clone()))
    }

    /// The tail records this run already copied into the quarantine topic, by source
    /// `topic/partition/offset`. `None` when the topic does not exist.
    fn copied(
        &self,
        client: &KafkaClient,
        topic: &str,
        run_id: i64,
    ) -> Result<Option<HashSet<String>>, Error> {
        let md = client.metadata(self.timeout)?;
        let Some(t) = md.topic(topic) else {
            return Ok(None);
        };
        let run = run_id.to_string();
        let mut seen = HashSet::new();
        for p in &t.partitions {
            client.for_each_record(topic, *p, 0, i64::MAX, self.timeout, |r| {
                let get = |name: &str| {
                    r.headers
                        .iter()
                        .find(|(k, _)| k == name)
                        .and_then(|(_, v)| v.as_deref())
                };
                if get(HDR_RUN) == Some(run.as_bytes()) {
                    if let Some(src) = get(HDR_SOURCE) {
                        seen.insert(String::from_utf8_lossy(src).into_owned());
                    }
                }
                ControlFlow::Continue(())
            })?;
        }
        Ok(Some(seen))
    }

    /// Copy the quarantined records (from the verified file) into `topic` on the new
    /// primary, skipping those this run already copied. Returns how many were produced.
    fn copy_to_topic(
        &self,
        ctx: &StepContext<'_>,
        topic: &str,
        manifest: &Manifest,
    ) -> Result<u64, Error> {
        let client = common::kafka(ctx.topology, &manifest.new_primary, self.timeout)?;
        let seen = match self.copied(&client, topic, ctx.run_id)? {
            Some(s) => s,
            None => {
                client.create_topic(topic, 1, -1, &[], self.timeout)?;
                HashSet::new()
            }
        };
        let path = Path::new(&manifest.file);
        let file = File::open(path).map_err(|e| io_err("open", path, e))?;
        let reader = BufReader::with_capacity(1 << 20, file);
        let run = ctx.run_id.to_string();
        let mut batch = Vec::with_capacity(1000);
        let mut produced = 0u64;
        for (i, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| io_err("read", path, e))?;
            let (r, transaction) = parse_line(&line)
                .map_err(|e| Error::Io(format!("`{}` line {}: {e}", path.display(), i + 1)))?;
            // Aborted and open transactions' records were never seen by read_committed
            // consumers: publishing them would make aborted data visible.
            if transaction.is_some_and(|t| !t.replayable()) {
                continue;
            }
            let source = format!(
                "{}/{}/{}/{}",
                manifest.cluster, r.topic, r.partition, r.offset
            );
            if seen.contains(&source) {
                continue;
            }
            let mut headers = r.headers;
            headers.push((HDR_RUN.to_string(), Some(run.clone().into_bytes())));
            headers.push((HDR_SOURCE.to_string(), Some(source.into_bytes())));
            batch.push(ProduceRecord {
                partition: Some(0),
                key: r.key,
                value: r.value,
                headers,
                timestamp_ms: (r.timestamp_ms >= 0).then_some(r.timestamp_ms),
            });
            if batch.len() >= 1000 {
                client.produce(topic, &batch, self.timeout)?;
                produced += batch.len() as u64;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            client.produce(topic, &batch, self.timeout)?;
            produced += batch.len() as u64;
        }
        Ok(produced)
    }
}

/// `, N not to replay (A aborted, O open)`, or nothing.
fn not_to_replay(aborted: u64, open: u64) -> String {
    if aborted + open == 0 {
        return String::new();
    }
    format!(
        ", {} not to replay ({aborted} aborted, {open} in open transactions)",
        aborted + open
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

impl Action for Quarantine {
    fn name(&self) -> &'static str {
        QUARANTINE
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let tail = load_tail(ctx, &self.find_step, QUARANTINE)?;
        let topic = self.topic_target(ctx, &tail)?;
        let paths = self.paths(ctx);
        let mut plan = Plan::default();
        let state = self.on_disk(ctx, &paths, &tail);
        match &state {
            OnDisk::Verified(m) => plan.notes.push(format!(
                "already quarantined: {} record(s) in `{}` (manifest verified); nothing is written again",
                m.records, m.file
            )),
            OnDisk::Missing | OnDisk::Invalid(_) => {
                if let OnDisk::Invalid(why) = &state {
                    plan.changes.push(format!(
                        "replace the quarantine left by an earlier attempt in `{}` (it does not verify: {why})",
                        paths.dir.display()
                    ));
                }
                plan.changes.push(format!(
                    "write the {} tail record(s) of {} partition(s) of `{}` to `{}` (JSON Lines, mode 0600) and its manifest `{}`",
                    tail.tail_records,
                    tail.partitions_with_tail,
                    tail.old_primary,
                    paths.data.display(),
                    paths.manifest.display()
                ));
            }
        }
        if let Some(t) = &topic {
            let client = common::kafka(ctx.topology, &tail.new_primary, self.timeout)?;
            match self.copied(&client, t, ctx.run_id)? {
                None => {
                    plan.changes.push(format!(
                        "`{}`: create topic `{t}` (1 partition, broker-default replication factor)",
                        tail.new_primary
                    ));
                    plan.changes.push(format!(
                        "`{}`: copy the {} tail record(s) to `{t}`",
                        tail.new_primary, tail.tail_records
                    ));
                }
                Some(seen) => {
                    let missing = (tail.tail_records - seen.len() as i64).max(0);
                    if missing > 0 {
                        plan.changes.push(format!(
                            "`{}`: copy {missing} tail record(s) to `{t}` ({} already there from this run)",
                            tail.new_primary,
                            seen.len()
                        ));
                    } else {
                        plan.notes.push(format!(
                            "`{}`: `{t}` already holds the {} record(s) of this run",
                            tail.new_primary,
                            seen.len()
                        ));
                    }
                }
            }
        }
        for p in tail.partitions.iter().filter(|p| p.has_tail()) {
            plan.notes.push(format!(
                "`{}`[{}]: {} record(s) at [{}, {})",
                p.topic,
                p.partition,
                p.tail_count,
                p.tail_start(),
                p.log_end
            ));
        }
        plan.detail = json!({
            "file": paths.data.to_string_lossy(),
            "manifest": paths.manifest.to_string_lossy(),
            "cluster": tail.old_primary,
            "partitions_with_tail": tail.partitions_with_tail,
            "records": tail.tail_records,
            "already_quarantined": matches!(state, OnDisk::Verified(_)),
            "topic": topic,
        });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let tail = load_tail(ctx, &self.find_step, QUARANTINE)?;
        let topic = self.topic_target(ctx, &tail)?;
        let paths = self.paths(ctx);
        let (manifest, elapsed, written) = match self.on_disk(ctx, &paths, &tail) {
            OnDisk::Verified(m) => (*m, Duration::ZERO, false),
            OnDisk::Missing | OnDisk::Invalid(_) => {
                let (m, elapsed) = self.write(ctx, &paths, &tail)?;
                (m, elapsed, true)
            }
        };
        let secs = elapsed.as_secs_f64();
        let rate = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let round = |x: f64| (x * 100.0).round() / 100.0;
        if written {
            ctx.reporter.status(
                "Quarantined",
                &format!(
                    "{} record(s), {} byte(s) to `{}` in {:.2}s ({:.0} records/s, {:.2} MB/s)",
                    manifest.records,
                    manifest.file_bytes,
                    manifest.file,
                    secs,
                    rate(manifest.records as f64),
                    rate(manifest.file_bytes as f64 / 1e6)
                ),
            );
        }
        let copied = match &topic {
            Some(t) => Some(self.copy_to_topic(ctx, t, &manifest)?),
            None => None,
        };
        let not_replayed = manifest.aborted_records + manifest.open_records;
        if not_replayed > 0 {
            ctx.reporter.warn(&format!(
                "{} quarantined record(s) belong to aborted ({}) or still-open ({}) transactions: marked in `{}`, not to replay{}",
                not_replayed,
                manifest.aborted_records,
                manifest.open_records,
                manifest.file,
                if topic.is_some() { " (not copied to the topic)" } else { "" }
            ));
        }
        Ok(json!({
            "file": manifest.file,
            "manifest_file": paths.manifest.to_string_lossy(),
            "written": written,
            "records": manifest.records,
            "file_bytes": manifest.file_bytes,
            "bytes": manifest.bytes,
            "seconds": round(secs),
            "records_per_second": round(rate(manifest.records as f64)),
            "mb_per_second": round(rate(manifest.file_bytes as f64 / 1e6)),
            "payload_mb_per_second": round(rate(manifest.bytes as f64 / 1e6)),
            "topic": topic,
            "topic_records_produced": copied,
            "aborted_records": manifest.aborted_records,
            "open_records": manifest.open_records,
            "manifest": manifest,
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let tail = load_tail(ctx, &self.find_step, QUARANTINE)?;
        let paths = self.paths(ctx);
        let manifest = match self.on_disk(ctx, &paths, &tail) {
            OnDisk::Verified(m) => *m,
            OnDisk::Missing => {
                return Ok(Verdict::NotDone(format!(
                    "no quarantine manifest `{}`",
                    paths.manifest.display()
                )))
            }
            OnDisk::Invalid(why) => {
                return Ok(Verdict::NotDone(format!(
                    "the quarantine in `{}` does not verify: {why}",
                    paths.dir.display()
                )))
            }
        };
        if let Some(t) = self.topic_target(ctx, &tail)? {
            let client = common::kafka(ctx.topology, &tail.new_primary, self.timeout)?;
            let have = self.copied(&client, &t, ctx.run_id)?.unwrap_or_default();
            let want: BTreeSet<String> = read_sources(&manifest)?;
            let missing = want.iter().filter(|s| !have.contains(*s)).count();
            if missing > 0 {
                return Ok(Verdict::NotDone(format!(
                    "{missing} quarantined record(s) are not in topic `{t}` on `{}`",
                    tail.new_primary
                )));
            }
        }
        ctx.journal.record_quarantine(
            ctx.run_id,
            &manifest.file,
            &encode(&manifest, "the manifest")?,
        )?;
        Ok(Verdict::Done)
    }
}

/// The `cluster/topic/partition/offset` of every record of a quarantine file.
fn read_sources(manifest: &Manifest) -> Result<BTreeSet<String>, Error> {
    let path = Path::new(&manifest.file);
    let file = File::open(path).map_err(|e| io_err("open", path, e))?;
    let mut out = BTreeSet::new();
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| io_err("read", path, e))?;
        let (r, transaction) = parse_line(&line)
            .map_err(|e| Error::Io(format!("`{}` line {}: {e}", path.display(), i + 1)))?;
        // What copy_to_topic copies: the records a replay may publish.
        if transaction.is_some_and(|t| !t.replayable()) {
            continue;
        }
        out.insert(format!(
            "{}/{}/{}/{}",
            manifest.cluster, r.topic, r.partition, r.offset
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{step, Fixture};

    #[test]
    fn params_defaults_and_refusals() {
        let f = Find::new(&step("tail-find", FIND, serde_json::Value::Null)).unwrap();
        assert_eq!(
            (f.old_primary.as_str(), f.new_primary.as_str()),
            ("backup", "primary")
        );
        let q = Quarantine::new(&step("q", QUARANTINE, serde_json::Value::Null)).unwrap();
        assert_eq!(q.find_step, "tail-find");
        assert!(q.dir.is_none() && q.topic.is_none());
        let e = Quarantine::new(&step("q", QUARANTINE, json!({"dir": " "})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`dir` is empty") && e.contains("help:"), "{e}");
        assert!(Quarantine::new(&step("q", QUARANTINE, json!({"path": "x"}))).is_err());
    }

    #[test]
    fn the_quarantine_goes_beside_the_journal_by_default() {
        let f = Fixture::new();
        let ctx = f.ctx("tail-quarantine");
        let q = Quarantine::new(&step("q", QUARANTINE, serde_json::Value::Null)).unwrap();
        let p = q.paths(&ctx);
        let journal_dir = std::path::absolute(f.journal.path()).unwrap();
        assert_eq!(
            p.data,
            journal_dir
                .parent()
                .unwrap()
                .join("quarantine/run-7/tail.jsonl")
        );
    }
}
