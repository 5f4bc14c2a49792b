//! Issue 5 on the real lab, the tail part: `tail.find`, `tail.quarantine` and `truncate`
//! driven through the engine (library), without a real outage.
//!
//! dc1 cannot be killed here (other tests share it), so each test builds the failback
//! situation in its own sandbox: records produced to dc1 and mirrored to dc2 by the live
//! MM2, `deltas record`, then a simulated promotion in the sandbox's journal (a run that
//! records dc2's watermarks and the role change dc2 = primary, dc1 = backup), and only
//! THEN the tail produced to dc1. MM2 copies the tail to dc2 as well, but `tail.find`
//! works from the promotion snapshot, so it must still find exactly those records.
//! These tests only touch their own topics: they take `shared()`.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use base64::Engine as _;
use kafka_dr::actions::common;
use kafka_dr::actions::quarantine_file::{self, Manifest};
use kafka_dr::actions::tail_find::{self as tail_action, TailReport};
use kafka_dr::engine::{Engine, EngineError, RunOptions, StepContext, Verdict};
use kafka_dr::journal::{Journal, NewRun, NewStep, Role, RunState, WatermarkRow};
use kafka_dr::report::{OutputFormat, Reporter};
use kafka_dr::topology::Topology;
use sha2::{Digest, Sha256};

use crate::common::*;

const T: Duration = Duration::from_secs(10);

/// `dc`'s (earliest, latest) per partition of `topic`.
pub fn marks(lab: &Lab, dc: &str, topic: &str, partitions: i32) -> BTreeMap<i32, (i64, i64)> {
    let parts: Vec<(&str, i32)> = (0..partitions).map(|p| (topic, p)).collect();
    kdr_client(lab, dc)
        .watermarks(&parts, T)
        .expect("watermarks")
        .into_iter()
        .map(|w| (w.partition, (w.earliest, w.latest)))
        .collect()
}

/// A promotion as `failover promote` records it: a run with dc2's watermark snapshot
/// (the cut) and the role change dc2 = primary, dc1 = backup.
pub fn simulate_promotion(sb: &Sandbox, topology: &Topology) -> i64 {
    let journal = Journal::open(&sb.journal).expect("journal");
    let client = kdr_client(sb.lab, "dc2");
    let parts = common::in_scope_partitions(topology, &client, T).expect("dc2 partitions");
    let rows: Vec<WatermarkRow> = client
        .watermarks(&parts, T)
        .expect("dc2 watermarks")
        .into_iter()
        .map(|w| WatermarkRow {
            cluster: "dc2".into(),
            topic: w.topic,
            partition: w.partition,
            earliest: w.earliest,
            latest: w.latest,
            stable: Some(w.stable),
        })
        .collect();
    let run = journal
        .create_run(&NewRun {
            topology: &topology.name,
            runbook: "failover-promote",
            source: "test: simulated promotion",
            checksum: "0",
            text: "simulated",
            dry_run: false,
            steps: vec![NewStep {
                step_id: "snapshot",
                action: "watermarks.snapshot",
            }],
        })
        .expect("promotion run");
    journal
        .record_watermarks(run, "snapshot", &rows)
        .expect("snapshot");
    journal
        .record_role_change(Some(run), "dc2", Role::Primary)
        .expect("role");
    journal
        .record_role_change(Some(run), "dc1", Role::Backup)
        .expect("role");
    journal
        .finish_run(run, RunState::Succeeded, None)
        .expect("finish promotion run");
    run
}

pub fn runbook(gate: &Path) -> kafka_dr::runbook::Runbook {
    runbook_with(gate, "", "delete-records")
}

/// The test runbook; `quarantine_extra` is added to the quarantine step's params.
fn runbook_with(gate: &Path, quarantine_extra: &str, strategy: &str) -> kafka_dr::runbook::Runbook {
    let text = format!(
        r#"name: failback-tail-test
description: tail.find, tail.quarantine and truncate, gated before the delete
steps:
  - id: tail-find
    action: tail.find
    params: {{ old_primary: backup, new_primary: primary }}
  - id: tail-quarantine
    action: tail.quarantine
    params: {{ find_step: tail-find{quarantine_extra} }}
  - id: gate
    action: exec
    params: {{ argv: ["test", "-f", "{}"] }}
  - id: truncate
    action: truncate
    params: {{ strategy: {strategy}, cluster: backup, quarantine_step: tail-quarantine }}
"#,
        gate.display()
    );
    kafka_dr::runbook::load_str(&text, "test").expect("runbook")
}

/// One line of tail.jsonl, decoded.
pub fn quarantined(path: &str) -> Vec<Rec> {
    let text = std::fs::read_to_string(path).expect("quarantine file");
    let b64 = base64::engine::general_purpose::STANDARD;
    let dec = |v: &serde_json::Value| v.as_str().map(|s| b64.decode(s).expect("base64"));
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                [
                    "headers",
                    "key",
                    "offset",
                    "partition",
                    "timestamp_ms",
                    "topic",
                    "transaction",
                    "value"
                ],
                "fields of {l}"
            );
            Rec {
                partition: v["partition"].as_i64().unwrap() as i32,
                offset: v["offset"].as_i64().unwrap(),
                timestamp: v["timestamp_ms"].as_i64().unwrap(),
                key: dec(&v["key"]),
                value: dec(&v["value"]),
                headers: v["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (h[0].as_str().unwrap().to_string(), dec(&h[1])))
                    .collect(),
            }
        })
        .collect()
}

/// Recompute the manifest's checksums from the file, independently of kafka-dr.
pub fn check_manifest(m: &Manifest) {
    let bytes = std::fs::read(&m.file).expect("quarantine file");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), m.file_sha256);
    assert_eq!(bytes.len() as u64, m.file_bytes);
    let mut per: BTreeMap<(String, i64), (u64, Sha256)> = BTreeMap::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        let e = per
            .entry((
                v["topic"].as_str().unwrap().to_string(),
                v["partition"].as_i64().unwrap(),
            ))
            .or_insert_with(|| (0, Sha256::new()));
        e.0 += 1;
        e.1.update(line);
    }
    let mut total = 0;
    for p in &m.partitions {
        let (count, sha) = per
            .remove(&(p.topic.clone(), p.partition as i64))
            .map(|(c, h)| (c, hex::encode(h.finalize())))
            .unwrap_or((0, hex::encode(Sha256::digest(b""))));
        assert_eq!(
            (count, &sha),
            (p.count, &p.sha256),
            "{}[{}]",
            p.topic,
            p.partition
        );
        total += count;
    }
    assert!(
        per.is_empty(),
        "lines of partitions the manifest does not list"
    );
    assert_eq!(total, m.records);
}

#[allow(clippy::too_many_arguments)] // a test helper mirroring StepContext's fields
fn context<'a>(
    topology: &'a Topology,
    topology_path: &'a Path,
    journal: &'a Journal,
    run_id: i64,
    step_id: &'a str,
    rt: &'a tokio::runtime::Runtime,
    reporter: &'a Reporter,
    interrupted: &'a AtomicBool,
) -> StepContext<'a> {
    StepContext {
        topology,
        topology_path,
        journal,
        run_id,
        runbook: "failback-tail-test",
        step_id,
        attempt: 2,
        dry_run: false,
        assume_yes: true,
        interrupted,
        runtime: rt.handle(),
        reporter,
        // A pool per context, as the engine has one per run; leaked (a test process).
        clusters: Box::leak(Box::new(kafka_dr::kafka::ClusterPool::new())),
    }
}

/// The whole tail path on the lab: dry-run changes nothing; the quarantine holds exactly
/// the tail; a re-run quarantines nothing twice; truncate deletes the tail (and only
/// where there is one); partitions without a tail pass with an empty tail.
#[test]
fn tail_is_found_quarantined_and_removed() {
    let _g = shared();
    let sb = Sandbox::new("tail");
    let lab = sb.lab;
    export_lab_env(lab);
    let orders = sb.name("orders");
    let idle = sb.name("idle");
    create_topic(lab, "dc1", &orders, 3);
    create_topic(lab, "dc1", &idle, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        &orders,
        &make_records(&orders, 600, 3),
    );
    produce(
        lab,
        "dc1",
        Principal::App,
        &idle,
        &make_records(&idle, 50, 1),
    );
    wait_for("600 + 50 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &orders)
            && crate::smoke::topic_exists(lab, "dc2", &idle)
            && read_all(lab, "dc2", &orders).len() >= 600
            && read_all(lab, "dc2", &idle).len() >= 50)
            .then_some(())
    });
    // MM2 emits the syncs of the last records at its next offset flush (5 s in the lab).
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["deltas", "record"]);
    // More records reach dc2 after the last `deltas record`: no recorded sync names the
    // last replicated record, so its twin is found by fingerprint.
    produce(
        lab,
        "dc1",
        Principal::App,
        &orders,
        &make_records(&format!("{orders}-late"), 45, 3),
    );
    wait_for("645 records on dc2", Duration::from_secs(120), || {
        (read_all(lab, "dc2", &orders).len() >= 645).then_some(())
    });

    let topology = Topology::load(&sb.topology).expect("topology");
    let promotion = simulate_promotion(&sb, &topology);
    let before_tail = marks(lab, "dc1", &orders, 3);
    // The tail: 30 records each to partitions 0 and 1 of `orders`, none to partition 2
    // nor to `idle`. MM2 copies them to dc2 too; the promotion cut says they are tail.
    let tail = make_records(&format!("{orders}-tail"), 60, 2);
    produce(lab, "dc1", Principal::App, &orders, &tail);
    let with_tail = marks(lab, "dc1", &orders, 3);
    let idle_marks = marks(lab, "dc1", &idle, 1);
    let dc1_before = read_all(lab, "dc1", &orders);
    assert_eq!(dc1_before.len(), 705);

    let journal = Journal::open(&sb.journal).expect("journal");
    let reporter = Reporter::new(OutputFormat::Table, 0);
    let rt = runtime();
    let engine = Engine::new(
        &topology,
        &journal,
        rt.handle().clone(),
        &reporter,
        kafka_dr::actions::build,
    );
    let gate = sb.dir.path().join("gate");
    let rb = runbook(&gate);
    let quarantine_dir = sb.dir.path().join("quarantine");

    // 1. --dry-run: every plan, nothing changed, no file written.
    let dry = engine
        .run(
            &rb,
            &RunOptions {
                dry_run: true,
                ..RunOptions::default()
            },
        )
        .expect("dry-run");
    assert_eq!(dry.state, RunState::Succeeded);
    let planned: TailReport =
        serde_json::from_value(step_output(&journal, dry.run_id, "tail-find")).unwrap();
    let sizes: BTreeMap<(String, i32), i64> = planned
        .partitions
        .iter()
        .map(|p| ((p.topic.clone(), p.partition), p.tail_count))
        .collect();
    assert_eq!(
        sizes,
        BTreeMap::from([
            ((idle.clone(), 0), 0),
            ((orders.clone(), 0), 30),
            ((orders.clone(), 1), 30),
            ((orders.clone(), 2), 0),
        ]),
        "the dry-run reports each partition's tail size"
    );
    let truncate_plan = &dry
        .steps
        .iter()
        .find(|s| s.id == "truncate")
        .unwrap()
        .changes;
    assert_eq!(truncate_plan.len(), 2, "{truncate_plan:#?}");
    assert!(
        truncate_plan[0].contains(&format!(
            "DeleteRecords `{orders}`[0] before offset {}",
            with_tail[&0].1
        )),
        "{truncate_plan:#?}"
    );
    assert_eq!(
        marks(lab, "dc1", &orders, 3),
        with_tail,
        "--dry-run changed dc1"
    );
    assert!(!quarantine_dir.exists(), "--dry-run wrote a quarantine");

    // 2. The real run: find and quarantine, then the gate stops it before truncate.
    let started = Instant::now();
    let err = engine
        .run(
            &rb,
            &RunOptions {
                assume_yes: true,
                ..RunOptions::default()
            },
        )
        .expect_err("the gate stops the run");
    let run = match err {
        EngineError::StepFailed {
            run_id, ref step, ..
        } if step == "gate" => run_id,
        other => panic!("unexpected: {other}"),
    };
    let found: TailReport =
        serde_json::from_value(step_output(&journal, run, "tail-find")).unwrap();
    assert_eq!(found.promotion_run, promotion);
    assert_eq!(found.tail_records, 60);
    for p in &found.partitions {
        if p.topic == orders {
            assert_eq!(
                p.cut, before_tail[&p.partition].1,
                "cut of partition {}",
                p.partition
            );
            assert_eq!(p.log_end, with_tail[&p.partition].1);
            assert_eq!(p.twin_found_at, Some(p.cut - 1), "{p:?}");
            assert_eq!(p.method, tail_action::CutMethod::Fingerprint, "{p:?}");
            assert!(p.search_from.unwrap() <= p.cut - 16, "{p:?}");
        } else {
            assert_eq!((p.tail_count, p.cut), (0, idle_marks[&0].1), "{p:?}");
        }
    }
    let q = step_output(&journal, run, "tail-quarantine");
    let manifest: Manifest = serde_json::from_value(q["manifest"].clone()).unwrap();
    assert_eq!(manifest.records, 60);
    check_manifest(&manifest);
    let mode = std::fs::metadata(&manifest.file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "quarantine file mode");
    assert!(manifest
        .file
        .starts_with(&*quarantine_dir.to_string_lossy()));
    // Exactly the tail: same keys, values, headers, timestamps, partitions, in order.
    let lines = quarantined(&manifest.file);
    assert_eq!(lines.len(), tail.len());
    for p in 0..2 {
        let want: Vec<&Rec> = tail.iter().filter(|r| r.partition == p).collect();
        let got: Vec<&Rec> = lines.iter().filter(|r| r.partition == p).collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(g.same_content(w), "partition {p}: {g:?} is not {w:?}");
            assert!(g.offset >= before_tail[&p].1);
        }
    }
    eprintln!(
        "quarantine of {} records: {} records/s, {} MB/s (file {} bytes)",
        manifest.records, q["records_per_second"], q["mb_per_second"], manifest.file_bytes
    );

    // 3. A second quarantine of the same run writes nothing twice: a verified manifest is
    //    left alone; a damaged file is rewritten from scratch, identical.
    let interrupted = AtomicBool::new(false);
    let mut ctx = context(
        &topology,
        &sb.topology,
        &journal,
        run,
        "tail-quarantine",
        &rt,
        &reporter,
        &interrupted,
    );
    let step = rb.steps.iter().find(|s| s.id == "tail-quarantine").unwrap();
    let mut action = kafka_dr::actions::build(step).unwrap();
    let inode = std::fs::metadata(&manifest.file).unwrap().ino();
    let plan = action.plan(&mut ctx).unwrap();
    assert!(plan.changes.is_empty(), "{plan:?}");
    let out = action.apply(&mut ctx, &plan).unwrap();
    assert_eq!(out["written"], false);
    assert_eq!(
        std::fs::metadata(&manifest.file).unwrap().ino(),
        inode,
        "rewritten"
    );
    let bytes = std::fs::read(&manifest.file).unwrap();
    std::fs::write(&manifest.file, &bytes[..bytes.len() / 2]).unwrap();
    let plan = action.plan(&mut ctx).unwrap();
    assert!(plan.changes[0].contains("does not verify"), "{plan:?}");
    let out = action.apply(&mut ctx, &plan).unwrap();
    assert_eq!(out["written"], true);
    let v = action.verify(&mut ctx, &plan).unwrap();
    assert_eq!(v, Verdict::Done);
    let again: Manifest = serde_json::from_value(out["manifest"].clone()).unwrap();
    assert_eq!(
        again.file_sha256, manifest.file_sha256,
        "the rewrite differs"
    );
    assert_eq!(
        quarantined(&again.file).len(),
        60,
        "a record was quarantined twice"
    );
    drop(action);

    // 4. Resume past the gate: truncate deletes the tail partitions up to their log end.
    std::fs::write(&gate, b"").unwrap();
    let done = engine
        .resume(
            Some(run),
            &rb,
            &RunOptions {
                assume_yes: true,
                ..RunOptions::default()
            },
        )
        .expect("resume");
    assert_eq!(done.state, RunState::Succeeded);
    eprintln!("run {run}: wall time {:?}", started.elapsed());
    let truncated = step_output(&journal, run, "truncate");
    let deleted = truncated["deleted"].as_array().unwrap();
    assert_eq!(deleted.len(), 2, "{truncated:#}");
    let after = marks(lab, "dc1", &orders, 3);
    for p in 0..2 {
        assert_eq!(
            after[&p],
            (with_tail[&p].1, with_tail[&p].1),
            "partition {p} is not empty"
        );
    }
    assert_eq!(
        after[&2], with_tail[&2],
        "partition 2 had no tail and must be untouched"
    );
    assert_eq!(
        marks(lab, "dc1", &idle, 1),
        idle_marks,
        "`idle` had no tail"
    );
    let dc1_after = read_all(lab, "dc1", &orders);
    assert!(
        dc1_after
            .iter()
            .all(|r| !tail.iter().any(|t| t.same_content(r))),
        "a tail record is still readable on dc1"
    );
    assert_eq!(dc1_after.len(), 215, "partition 2's 215 records stay");

    // `tail show` reads the journal: the manifest and its path.
    let shown = quarantine_file::show(&journal, Some(run)).expect("tail show");
    assert_eq!(shown.manifest.records, 60);
    assert!(shown.file_present);
    assert_eq!(shown.path, manifest.file);
    assert!(Path::new(&shown.manifest_path).is_file());
}

/// Quarantine throughput on a 20,000-record tail (`KAFKA_DR_BENCH_TAIL_RECORDS` sets
/// another size: scripts/bench), and the cut found among 6 partitions. Prints the
/// figures; asserts only correctness (speed is measured by scripts/bench, not timed here).
#[test]
fn quarantine_throughput_on_a_large_tail() {
    let _g = shared();
    let n: i64 = std::env::var("KAFKA_DR_BENCH_TAIL_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let sb = Sandbox::new("tailperf");
    let lab = sb.lab;
    export_lab_env(lab);
    let topic = sb.name("events");
    create_topic(lab, "dc1", &topic, 6);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 3_000, 6),
    );
    wait_for("3,000 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_all(lab, "dc2", &topic).len() >= 3_000)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["deltas", "record"]);
    let topology = Topology::load(&sb.topology).expect("topology");
    simulate_promotion(&sb, &topology);
    let tail = make_records(&format!("{topic}-tail"), n as usize, 6);
    produce(lab, "dc1", Principal::App, &topic, &tail);

    let journal = Journal::open(&sb.journal).expect("journal");
    let reporter = Reporter::new(OutputFormat::Table, 0);
    let rt = runtime();
    let engine = Engine::new(
        &topology,
        &journal,
        rt.handle().clone(),
        &reporter,
        kafka_dr::actions::build,
    );
    let gate = sb.dir.path().join("gate");
    std::fs::write(&gate, b"").unwrap();
    let started = Instant::now();
    let report = engine
        .run(
            &runbook(&gate),
            &RunOptions {
                assume_yes: true,
                ..RunOptions::default()
            },
        )
        .expect("run");
    let wall = started.elapsed();
    let run = report.run_id;
    let found: TailReport =
        serde_json::from_value(step_output(&journal, run, "tail-find")).unwrap();
    assert_eq!(found.tail_records, n);
    assert!(found
        .partitions
        .iter()
        .all(|p| p.tail_count == n / 6 || p.tail_count == n / 6 + 1));
    let q = step_output(&journal, run, "tail-quarantine");
    let manifest: Manifest = serde_json::from_value(q["manifest"].clone()).unwrap();
    assert_eq!(manifest.records, n as u64);
    check_manifest(&manifest);
    let dc1 = read_all(lab, "dc1", &topic);
    assert!(dc1.is_empty(), "{} records left on dc1", dc1.len());
    let ms = |id: &str| {
        report
            .steps
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.duration_ms)
    };
    eprintln!(
        "THROUGHPUT: {} records, {} file bytes, {} payload bytes in {}s: {} records/s, {} MB/s (file), {} MB/s (payload); tail.find {:?} ms, quarantine step {:?} ms, truncate {:?} ms, run wall {:?}",
        manifest.records,
        manifest.file_bytes,
        manifest.bytes,
        q["seconds"],
        q["records_per_second"],
        q["mb_per_second"],
        q["payload_mb_per_second"],
        ms("tail-find"),
        ms("tail-quarantine"),
        ms("truncate"),
        wall
    );
}

/// `recreate` on a topic MM2 does not mirror (`*.replica` is excluded by the lab's MM2),
/// so all of it is tail; the quarantine is also copied to a topic on dc2, once.
#[test]
fn recreate_strategy_and_quarantine_topic() {
    let _g = shared();
    let sb = Sandbox::new("tailrc");
    let lab = sb.lab;
    export_lab_env(lab);
    let topic = sb.name("ledger.replica");
    let qtopic = format!("quarantine.{}", sb.prefix);
    kdr_client(lab, "dc1")
        .create_topic(&topic, 2, 1, &[("retention.ms", "604800001")], T)
        .expect("create topic");
    let records = make_records(&topic, 40, 2);
    produce(lab, "dc1", Principal::App, &topic, &records);
    // A mirrored topic without a tail beside it (and a promotion snapshot that is not
    // empty: an empty one is not recorded).
    let other = sb.name("other");
    create_topic(lab, "dc1", &other, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        &other,
        &make_records(&other, 5, 1),
    );
    wait_for("`other` on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &other) && read_all(lab, "dc2", &other).len() >= 5)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["deltas", "record"]);
    let topology = Topology::load(&sb.topology).expect("topology");
    simulate_promotion(&sb, &topology);

    let journal = Journal::open(&sb.journal).expect("journal");
    let reporter = Reporter::new(OutputFormat::Table, 0);
    let rt = runtime();
    let engine = Engine::new(
        &topology,
        &journal,
        rt.handle().clone(),
        &reporter,
        kafka_dr::actions::build,
    );
    let gate = sb.dir.path().join("gate");
    std::fs::write(&gate, b"").unwrap();
    let rb = runbook_with(&gate, &format!(", topic: {qtopic}"), "recreate");
    let report = engine
        .run(
            &rb,
            &RunOptions {
                assume_yes: true,
                ..RunOptions::default()
            },
        )
        .expect("run");
    let run = report.run_id;
    let found: TailReport =
        serde_json::from_value(step_output(&journal, run, "tail-find")).unwrap();
    for p in &found.partitions {
        if p.topic == topic {
            assert_eq!(
                (p.method, p.cut, p.tail_count),
                (tail_action::CutMethod::NotMirrored, 0, 20),
                "{p:?}"
            );
        } else {
            assert_eq!(
                (p.topic.as_str(), p.tail_count),
                (other.as_str(), 0),
                "{p:?}"
            );
        }
    }
    assert_eq!(found.partitions.len(), 3);
    let q = step_output(&journal, run, "tail-quarantine");
    assert_eq!(q["topic_records_produced"], 40);
    let manifest: Manifest = serde_json::from_value(q["manifest"].clone()).unwrap();
    check_manifest(&manifest);
    assert_eq!(quarantined(&manifest.file).len(), 40);
    // The copies on dc2: same content, plus two kafka-dr headers naming run and source.
    let copies = read_all(lab, "dc2", &qtopic);
    assert_eq!(copies.len(), 40);
    for r in &records {
        let found = copies.iter().find(|c| {
            let mut c = (*c).clone();
            c.headers
                .retain(|(k, _)| !k.starts_with("kafka-dr.quarantine."));
            c.partition = r.partition;
            c.same_content(r)
        });
        assert!(found.is_some(), "{r:?} is not in `{qtopic}`");
    }
    // Recreated: same partitions and non-default configs, empty from offset 0.
    let dc1 = kdr_client(lab, "dc1");
    assert_eq!(
        marks(lab, "dc1", &topic, 2),
        BTreeMap::from([(0, (0, 0)), (1, (0, 0))])
    );
    let configs = dc1.topic_configs(&topic, T).expect("configs");
    assert!(
        configs.contains(&("retention.ms".to_string(), "604800001".to_string())),
        "{configs:?}"
    );
    let out = step_output(&journal, run, "truncate");
    assert_eq!(out["recreated"][0]["topic"], topic.as_str(), "{out:#}");
    assert_eq!(out["recreated"].as_array().unwrap().len(), 1, "{out:#}");
    assert_eq!(
        read_all(lab, "dc1", &other).len(),
        5,
        "`other` had no tail: untouched"
    );

    // A second copy to the topic produces nothing.
    let interrupted = AtomicBool::new(false);
    let mut ctx = context(
        &topology,
        &sb.topology,
        &journal,
        run,
        "tail-quarantine",
        &rt,
        &reporter,
        &interrupted,
    );
    let step = rb.steps.iter().find(|s| s.id == "tail-quarantine").unwrap();
    let mut action = kafka_dr::actions::build(step).unwrap();
    let plan = action.plan(&mut ctx).unwrap();
    assert!(plan.changes.is_empty(), "{plan:?}");
    let out = action.apply(&mut ctx, &plan).unwrap();
    assert_eq!(
        (
            out["written"].clone(),
            out["topic_records_produced"].clone()
        ),
        (false.into(), 0.into())
    );
    assert_eq!(action.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
    assert_eq!(read_all(lab, "dc2", &qtopic).len(), 40);
}
