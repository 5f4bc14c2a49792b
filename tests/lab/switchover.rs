//! Issue 13 on the real lab: `kafka-dr switchover`, the planned switchover with both
//! clusters up.
//!
//! The main test keeps a producer (idempotent, acks=all, retrying the same record on any
//! error, producing to whichever cluster the client-switch hook names) and a consumer
//! group (committing after every record) running through the switchover, and counts by
//! its own record ids: every record acknowledged is on the new primary exactly once, and
//! the group consumed every one exactly once across both clusters. The refusals: a group
//! that keeps consuming, and a mirror that does not drain. `--dry-run` changes nothing.
//! These tests stop the lab's forward flow: they take `exclusive()`, lift their fences and
//! delete their reverse connectors before the lab is healed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_dr::kafka::AclFilter;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use crate::common::*;
use crate::reverse::{sandbox_with_reverse_names, DeleteConnectors};

const T: Duration = Duration::from_secs(10);
const PARTITIONS: i32 = 3;

fn acls(lab: &Lab, dc: &str) -> Vec<String> {
    let mut v: Vec<String> = kdr_client(lab, dc)
        .describe_acls(&AclFilter::any(), T)
        .expect("describe acls")
        .iter()
        .map(|b| b.to_string())
        .collect();
    v.sort();
    v
}

fn ends(lab: &Lab, dc: &str, topic: &str) -> Vec<(i64, i64)> {
    let parts: Vec<(&str, i32)> = (0..PARTITIONS).map(|p| (topic, p)).collect();
    kdr_client(lab, dc)
        .watermarks(&parts, T)
        .expect("watermarks")
        .into_iter()
        .map(|w| (w.earliest, w.latest))
        .collect()
}

fn committed(lab: &Lab, dc: &str, group: &str) -> BTreeMap<(String, i32), i64> {
    kdr_client(lab, dc)
        .committed_offsets(group, T)
        .expect("committed offsets")
        .into_iter()
        .map(|(t, p, o, _)| ((t, p), o))
        .collect()
}

/// The group's offsets on `dc` once nothing writes them any more: two reads a sync
/// interval and more apart (MM2 syncs every 5 s) that agree while the group keeps
/// consuming on the primary. Seen in CI: the checkpoint connector reported STOPPED and
/// its task still synced once during the dry run, so a single read before it was not
/// what "changed nothing" must be compared against.
fn committed_settled(lab: &Lab, dc: &str, group: &str) -> BTreeMap<(String, i32), i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = committed(lab, dc, group);
    loop {
        std::thread::sleep(Duration::from_secs(6));
        let now = committed(lab, dc, group);
        if now == last {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the group's offsets on {dc} never settled: {last:?} then {now:?}"
        );
        last = now;
    }
}

/// Lifts every fence the sandbox may have left and deletes its topic, before the
/// connectors are deleted and the lab healed (a fenced topic would fail MM2's tasks).
struct Cleanup<'a> {
    sb: &'a Sandbox,
    topics: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for dc in ["dc1", "dc2"] {
            for fence in ["replication-into-backup", "app-writes"] {
                let _ = self
                    .sb
                    .run(&["--yes", "fence", "lift", fence, "--cluster", dc]);
            }
        }
        for dc in ["dc1", "dc2"] {
            let admin = admin(self.sb.lab, dc);
            let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
            let _ = block_on(admin.delete_topics(&names, &rdkafka::admin::AdminOptions::new()));
        }
    }
}

/// Which cluster the applications use: the file the client-switch hook writes.
fn cluster_in(file: &Path) -> String {
    std::fs::read_to_string(file)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "dc1".into())
}

#[derive(Default)]
struct Produced {
    /// Acknowledged ids and the cluster that acknowledged them.
    acked: Vec<(u64, String)>,
    /// Errors per cluster (authorization refusals while the fence holds).
    errors: BTreeMap<String, Vec<String>>,
}

/// The application producer: ids 0, 1, 2 ... one at a time, each retried until a cluster
/// acknowledges it.
fn producer_thread(
    lab: &'static Lab,
    topic: String,
    cluster_file: PathBuf,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Produced>>,
) -> std::thread::JoinHandle<()> {
    #[derive(Clone, Default)]
    struct Ctx(Arc<Mutex<Vec<String>>>);
    impl rdkafka::ClientContext for Ctx {}
    impl rdkafka::producer::ProducerContext for Ctx {
        type DeliveryOpaque = ();
        fn delivery(&self, r: &rdkafka::message::DeliveryResult<'_>, _: ()) {
            if let Err((e, _)) = r {
                self.0.lock().unwrap().push(e.to_string());
            }
        }
    }
    std::thread::spawn(move || {
        let mut id: u64 = 0;
        let mut current: Option<(String, ThreadedProducer<Ctx>, Ctx)> = None;
        while !stop.load(Ordering::SeqCst) {
            let dc = cluster_in(&cluster_file);
            if current.as_ref().is_none_or(|(c, _, _)| *c != dc) {
                let ctx = Ctx::default();
                let p: ThreadedProducer<Ctx> = lab
                    .client_config(&dc, Principal::App)
                    .set("enable.idempotence", "true")
                    .set("acks", "all")
                    .set("message.timeout.ms", "10000")
                    .create_with_context(ctx.clone())
                    .expect("producer");
                current = Some((dc.clone(), p, ctx));
            }
            let (_, producer, ctx) = current.as_ref().expect("producer");
            let key = format!("id-{id}");
            let value = format!("record {id}");
            let rec: BaseRecord<'_, str, str, ()> = BaseRecord::to(&topic)
                .partition((id % PARTITIONS as u64) as i32)
                .key(key.as_str())
                .payload(value.as_str());
            let sent = producer.send(rec).map_err(|(e, _)| e.to_string());
            let flushed = sent.and_then(|()| producer.flush(T).map_err(|e| e.to_string()));
            let failed: Vec<String> = std::mem::take(&mut *ctx.0.lock().unwrap());
            match (flushed, failed.first().cloned()) {
                (Ok(()), None) => {
                    out.lock().unwrap().acked.push((id, dc.clone()));
                    id += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                (Err(e), _) | (Ok(()), Some(e)) => {
                    out.lock()
                        .unwrap()
                        .errors
                        .entry(dc.clone())
                        .or_default()
                        .push(e.to_string());
                    // A refused producer may be left in a state it cannot leave: a new one.
                    current = None;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    })
}

/// The application consumer group: consumes from the cluster the hook names, commits after
/// every record, and leaves the group while the stop hook's file names its cluster.
fn consumer_thread(
    lab: &'static Lab,
    topic: String,
    group: String,
    cluster_file: PathBuf,
    stop_file: PathBuf,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut current: Option<(String, BaseConsumer)> = None;
        while !stop.load(Ordering::SeqCst) {
            let dc = cluster_in(&cluster_file);
            let stopped_on = std::fs::read_to_string(&stop_file)
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if stopped_on == dc || current.as_ref().is_some_and(|(c, _)| *c != dc) {
                if let Some((_, c)) = current.take() {
                    c.unsubscribe();
                    drop(c);
                }
                if stopped_on == dc {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
            if current.is_none() {
                let c: BaseConsumer = lab
                    .client_config(&dc, Principal::App)
                    .set("group.id", &group)
                    .set("enable.auto.commit", "false")
                    .set("auto.offset.reset", "earliest")
                    .set("session.timeout.ms", "10000")
                    .create()
                    .expect("consumer");
                c.subscribe(&[&topic]).expect("subscribe");
                current = Some((dc.clone(), c));
            }
            let (_, c) = current.as_ref().expect("consumer");
            match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                    if c.commit_message(&m, CommitMode::Sync).is_ok() {
                        seen.lock().unwrap().push((key, dc.clone()));
                    } else {
                        // Not committed: it will be delivered again, so it is not counted.
                        drop(m);
                        if let Some((_, c)) = current.take() {
                            drop(c);
                        }
                    }
                }
                Some(Err(e)) => eprintln!("consumer on {dc}: {e}"),
                None => {}
            }
        }
        if let Some((_, c)) = current.take() {
            c.unsubscribe();
        }
    })
}

/// The embedded switchover runbook with the operator's hooks: one that stops the
/// consumers on the old primary before the groups are waited for, one that points the
/// applications at the new primary once it is open. `edit` changes parameters.
fn runbook_with_hooks(
    dir: &Path,
    stop_file: &Path,
    cluster_file: &Path,
    edit: &[(&str, &str)],
) -> PathBuf {
    let mut text = kafka_dr::runbook::embedded_text("switchover")
        .expect("embedded switchover runbook")
        .to_string();
    let stop_hook = format!(
        "  - id: stop-consumers\n    action: exec\n    params: {{ argv: [sh, -c, \"echo dc1 > '{}'\"] }}\n  - id: consumers-idle\n",
        stop_file.display()
    );
    let switch_hook = format!(
        "  - id: switch-clients\n    action: exec\n    params: {{ argv: [sh, -c, \"echo dc2 > '{}'\"] }}\n  - id: mirror-seed\n",
        cluster_file.display()
    );
    assert!(text.contains("  - id: consumers-idle\n") && text.contains("  - id: mirror-seed\n"));
    text = text
        .replace("  - id: consumers-idle\n", &stop_hook)
        .replace("  - id: mirror-seed\n", &switch_hook);
    for (from, to) in edit {
        assert!(text.contains(from), "the runbook has no `{from}`");
        text = text.replace(from, to);
    }
    let path = dir.join("switchover-with-hooks.yaml");
    std::fs::write(&path, text).expect("write runbook");
    path
}

/// The applications of a switchover test: a producer and a consumer group on the topic,
/// both following the hooks' files.
struct Apps {
    topic: String,
    group: String,
    cluster_file: PathBuf,
    stop_file: PathBuf,
    stop_producer: Arc<AtomicBool>,
    stop_consumer: Arc<AtomicBool>,
    produced: Arc<Mutex<Produced>>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    producer: Option<std::thread::JoinHandle<()>>,
    consumer: Option<std::thread::JoinHandle<()>>,
}

/// What the applications did, counted.
struct Counts {
    acked: usize,
    acked_by_dc1: usize,
    refused_on_dc1: usize,
    consumed: usize,
    consumed_on_dc1: usize,
}

impl Apps {
    /// A fresh topic mirrored to dc2, and both applications running on dc1.
    fn start(sb: &Sandbox) -> Apps {
        let lab = sb.lab;
        let topic = sb.name("orders");
        let group = sb.name("readers");
        create_topic(lab, "dc1", &topic, PARTITIONS);
        let dc2 = kdr_client(lab, "dc2");
        wait_for("the topic on dc2", Duration::from_secs(60), || {
            dc2.metadata(T)
                .ok()?
                .topic(&topic)
                .is_some_and(|t| t.partitions.len() == PARTITIONS as usize)
                .then_some(())
        });
        let cluster_file = sb.dir.path().join("cluster");
        let stop_file = sb.dir.path().join("consumers-stopped-on");
        std::fs::write(&cluster_file, "dc1\n").expect("cluster file");
        let mut apps = Apps {
            topic,
            group,
            cluster_file,
            stop_file,
            stop_producer: Arc::new(AtomicBool::new(false)),
            stop_consumer: Arc::new(AtomicBool::new(false)),
            produced: Arc::new(Mutex::new(Produced::default())),
            seen: Arc::new(Mutex::new(Vec::new())),
            producer: None,
            consumer: None,
        };
        apps.producer = Some(producer_thread(
            lab,
            apps.topic.clone(),
            apps.cluster_file.clone(),
            apps.stop_producer.clone(),
            apps.produced.clone(),
        ));
        apps.consumer = Some(consumer_thread(
            lab,
            apps.topic.clone(),
            apps.group.clone(),
            apps.cluster_file.clone(),
            apps.stop_file.clone(),
            apps.stop_consumer.clone(),
            apps.seen.clone(),
        ));
        wait_for("traffic on dc1", Duration::from_secs(60), || {
            (apps.acked() > 100 && apps.seen.lock().unwrap().len() > 50).then_some(())
        });
        apps
    }

    fn acked(&self) -> usize {
        self.produced.lock().unwrap().acked.len()
    }

    /// After the switchover: more records on dc2, then both applications stop, and every
    /// record is checked: acknowledged => on dc2 exactly once; consumed exactly once.
    fn finish_and_check(&mut self, lab: &Lab) -> Counts {
        let before = self.acked();
        wait_for("records produced to dc2", Duration::from_secs(60), || {
            (self.acked() > before + 100).then_some(())
        });
        self.stop_producer.store(true, Ordering::SeqCst);
        if let Some(p) = self.producer.take() {
            p.join().expect("producer thread");
        }
        let produced = std::mem::take(&mut *self.produced.lock().unwrap());
        let acked: BTreeSet<String> = produced
            .acked
            .iter()
            .map(|(id, _)| format!("id-{id}"))
            .collect();
        wait_for(
            "the group to consume everything",
            Duration::from_secs(120),
            || {
                let seen: BTreeSet<String> = self
                    .seen
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(k, _)| k.clone())
                    .collect();
                acked.is_subset(&seen).then_some(())
            },
        );
        self.stop_consumer.store(true, Ordering::SeqCst);
        if let Some(c) = self.consumer.take() {
            c.join().expect("consumer thread");
        }

        // Producers were refused on dc1 during the outage, by authorization.
        let refused = produced.errors.get("dc1").cloned().unwrap_or_default();
        assert!(
            refused
                .iter()
                .any(|e| e.to_lowercase().contains("authoriz")),
            "no authorization refusal on dc1 during the outage: {:?}",
            produced.errors
        );
        let acked_by_dc1 = produced.acked.iter().filter(|(_, dc)| dc == "dc1").count();
        assert!(
            acked_by_dc1 > 0 && acked_by_dc1 < produced.acked.len(),
            "{acked_by_dc1} of {} acknowledged by dc1",
            produced.acked.len()
        );

        // Every acknowledged record is on the new primary exactly once, and nothing else.
        let mut on_new: BTreeMap<String, usize> = BTreeMap::new();
        for r in read_all(lab, "dc2", &self.topic) {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            *on_new.entry(key).or_default() += 1;
        }
        let twice: Vec<&String> = on_new
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k)
            .collect();
        assert!(twice.is_empty(), "on dc2 more than once: {twice:?}");
        let keys: BTreeSet<String> = on_new.keys().cloned().collect();
        assert_eq!(
            keys.symmetric_difference(&acked).count(),
            0,
            "dc2 holds {} record(s), {} were acknowledged; missing: {:?}, unexpected: {:?}",
            keys.len(),
            acked.len(),
            acked.difference(&keys).take(5).collect::<Vec<_>>(),
            keys.difference(&acked).take(5).collect::<Vec<_>>()
        );

        // The group consumed every record exactly once across both clusters.
        let seen = self.seen.lock().unwrap().clone();
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for (k, _) in &seen {
            *count.entry(k.as_str()).or_default() += 1;
        }
        let again: Vec<&&str> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k)
            .collect();
        assert!(again.is_empty(), "consumed twice: {again:?}");
        let consumed_on_dc1 = seen.iter().filter(|(_, dc)| dc == "dc1").count();
        assert!(
            consumed_on_dc1 > 0 && consumed_on_dc1 < seen.len(),
            "{consumed_on_dc1} of {} consumed on dc1",
            seen.len()
        );

        // The old primary receives the new primary's records through the reverse flow.
        wait_for(
            "the reverse flow to copy dc2's records into dc1",
            Duration::from_secs(90),
            || {
                let n: i64 = ends(lab, "dc1", &self.topic)
                    .iter()
                    .map(|(lo, hi)| hi - lo)
                    .sum();
                (n as usize >= acked.len()).then_some(())
            },
        );
        let counts = Counts {
            acked: acked.len(),
            acked_by_dc1,
            refused_on_dc1: refused.len(),
            consumed: seen.len(),
            consumed_on_dc1,
        };
        eprintln!(
            "switchover counts: {} acknowledged ({} by dc1, {} by dc2), {} refused on dc1, {} consumed ({} on dc1), 0 twice, 0 missing",
            counts.acked,
            counts.acked_by_dc1,
            counts.acked - counts.acked_by_dc1,
            counts.refused_on_dc1,
            counts.consumed,
            counts.consumed_on_dc1
        );
        counts
    }
}

impl Drop for Apps {
    fn drop(&mut self) {
        self.stop_producer.store(true, Ordering::SeqCst);
        self.stop_consumer.store(true, Ordering::SeqCst);
        if let Some(p) = self.producer.take() {
            let _ = p.join();
        }
        if let Some(c) = self.consumer.take() {
            let _ = c.join();
        }
    }
}

/// The report of a successful switchover: roles swapped, every partition counted with
/// nothing lost or repeated, every position of the group exact.
fn check_report(so: &serde_json::Value, group: &str) {
    assert_eq!(so["new_primary"], "dc2", "{so}");
    assert_eq!(so["old_primary"], "dc1", "{so}");
    assert!(
        so["write_outage_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{so}"
    );
    assert!(
        so["rto_ms"].as_u64() >= so["write_outage_ms"].as_u64(),
        "{so}"
    );
    assert_eq!(so["partitions_counted"], PARTITIONS, "{so}");
    assert_eq!(
        (so["lost"].as_i64(), so["duplicated"].as_i64()),
        (Some(0), Some(0)),
        "{so}"
    );
    let groups = so["groups"].as_array().expect("groups");
    let ours = groups
        .iter()
        .find(|g| g["group"] == group)
        .expect("our group");
    assert_eq!(ours["exact"], ours["partitions"], "{ours}");
    assert_eq!(ours["partitions"], PARTITIONS, "{ours}");
    assert_eq!(ours["duplicates"], 0, "{ours}");
}

/// Issue 13, acceptance 1 and 4: a switchover with traffic, after a dry run that changes
/// nothing.
#[test]
fn switchover_with_traffic_loses_nothing_and_delivers_nothing_twice() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("so");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let _cleanup = Cleanup {
        sb: &sb,
        topics: vec![sb.name("orders")],
    };
    let mut apps = Apps::start(&sb);
    let (topic, group) = (apps.topic.clone(), apps.group.clone());

    // 4. --dry-run: the plan, and nothing changes on either cluster. MM2's checkpoint
    // connector syncs the group's offsets into dc2 every 5 s (`sync.group.offsets`): it
    // is stopped first, so that only kafka-dr could change them.
    let dc2_connect = connect_client(lab, "dc2");
    block_on(dc2_connect.stop(FORWARD_CONNECTORS[1])).expect("stop the checkpoint connector");
    wait_for(
        "the checkpoint connector stopped",
        Duration::from_secs(60),
        || {
            block_on(dc2_connect.status(FORWARD_CONNECTORS[1]))
                .ok()
                .filter(|s| s.connector_state.as_str() == "STOPPED" && s.tasks.is_empty())
        },
    );
    let (acl1, acl2) = (acls(lab, "dc1"), acls(lab, "dc2"));
    let dc2_ends = ends(lab, "dc2", &topic);
    let dc2_group = committed_settled(lab, "dc2", &group);
    let dry = sb.run(&["--yes", "--dry-run", "switchover"]);
    assert_eq!(dry.code, Some(0), "{dry}");
    let text = format!("{}{}", dry.stdout, dry.stderr);
    for want in [
        "create ACL",
        "wait up to 120s until the mirror has copied every record",
        "have no active members",
        "journal: record `dc2` as primary and `dc1` as backup",
        "create reverse source connector",
    ] {
        assert!(text.contains(want), "`{want}` in the plan:\n{text}");
    }
    assert_eq!(acls(lab, "dc1"), acl1, "--dry-run changed dc1's ACLs");
    assert_eq!(acls(lab, "dc2"), acl2, "--dry-run changed dc2's ACLs");
    assert_eq!(
        committed(lab, "dc2", &group),
        dc2_group,
        "--dry-run committed on dc2"
    );
    let dc1_connect = connect_client(lab, "dc1");
    for n in &names {
        assert!(
            !block_on(dc1_connect.exists(n)).expect("connect"),
            "--dry-run created connector {n}"
        );
    }
    for (n, was) in FORWARD_CONNECTORS
        .iter()
        .zip(["RUNNING", "STOPPED", "RUNNING"])
    {
        let st = block_on(dc2_connect.status(n)).expect("status");
        assert_eq!(st.connector_state.as_str(), was, "--dry-run touched {n}");
    }
    // dc2 only grows by what the mirror copies; the test's producer writes to dc1.
    assert!(ends(lab, "dc2", &topic)
        .iter()
        .zip(&dc2_ends)
        .all(|(now, was)| now.0 == was.0 && now.1 >= was.1));
    let runs = sb.ok(&["--output", "json", "runs", "list"]).json();
    assert!(
        runs["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["dry_run"] == true),
        "{runs}"
    );
    assert_eq!(role_changes(&sb), 0, "--dry-run recorded roles");

    // 1. The switchover, with the hooks, while both applications run.
    let runbook = runbook_with_hooks(sb.dir.path(), &apps.stop_file, &apps.cluster_file, &[]);
    let started = Instant::now();
    let out = sb.run(&[
        "--yes",
        "--output",
        "json",
        "switchover",
        "--runbook",
        &path_str(&runbook),
    ]);
    let wall = started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let report = out.json();
    let so = &report["switchover"];
    eprintln!(
        "switchover: write outage {} ms, RTO {} ms (wall {:.1} s)",
        so["write_outage_ms"],
        so["rto_ms"],
        wall.as_secs_f64()
    );
    check_report(so, &group);
    apps.finish_and_check(lab);
    let runs = sb.ok(&["--output", "json", "runs", "list"]).json();
    assert!(
        runs["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .any(|r| r["runbook"] == "switchover" && r["state"] == "succeeded"),
        "{runs}"
    );
}

/// kafka-dr with a crash point armed: it must die by SIGKILL at that point.
fn crash_at(sb: &Sandbox, point: &str, args: &[&str]) {
    let out = sb
        .command(args)
        .env("KAFKA_DR_CRASH_AT", point)
        .output()
        .expect("run kafka-dr");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(9),
        "kafka-dr did not die at crash point {point}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 13, acceptance 3: SIGKILL right after each step's effect (before the journal
/// records it), then `resume`, one step further each time: the same result as a run that
/// was never interrupted, with the applications running throughout.
#[test]
fn switchover_killed_after_every_step_resumes_to_the_same_result() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("so-crash");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let _cleanup = Cleanup {
        sb: &sb,
        topics: vec![sb.name("orders")],
    };
    let mut apps = Apps::start(&sb);
    let runbook = runbook_with_hooks(sb.dir.path(), &apps.stop_file, &apps.cluster_file, &[]);
    let text = std::fs::read_to_string(&runbook).expect("runbook");
    let steps: Vec<String> = kafka_dr::runbook::load_str(&text, "test")
        .expect("runbook")
        .steps
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let runbook = path_str(&runbook);
    for (i, step) in steps.iter().enumerate() {
        let point = format!("step.applied@{step}");
        if i == 0 {
            crash_at(&sb, &point, &["--yes", "switchover", "--runbook", &runbook]);
        } else {
            crash_at(&sb, &point, &["--yes", "resume", "--take-over-lease"]);
        }
    }
    let out = sb.run(&["--yes", "--output", "json", "resume", "--take-over-lease"]);
    assert_eq!(out.code, Some(0), "{out}");
    let run = out.json();
    assert_eq!(run["state"], "succeeded", "{run}");
    // Every step was found started once, verified, and finished (or re-applied).
    let id = run["run_id"].as_i64().expect("run id");
    let shown = sb
        .ok(&["--output", "json", "runs", "show", &id.to_string()])
        .json();
    for s in shown["steps"].as_array().expect("steps") {
        assert_eq!(s["state"], "finished", "{s}");
    }
    // The report of the whole run, as `switchover` prints it, from the journal.
    let (_, journal) = sb.open();
    let report = kafka_dr::engine::RunReport {
        run_id: id,
        topology: String::new(),
        runbook: "switchover".into(),
        runbook_source: String::new(),
        runbook_checksum: String::new(),
        dry_run: false,
        resumed: true,
        state: kafka_dr::journal::RunState::Succeeded,
        steps: Vec::new(),
        wall_ms: 0,
    };
    let so = serde_json::to_value(kafka_dr::switchover::SwitchoverReport::build(
        &report, &journal,
    ))
    .expect("report");
    eprintln!("switchover after {} crashes: {so}", steps.len());
    check_report(&so, &apps.group);
    apps.finish_and_check(lab);
    assert_eq!(role_changes(&sb), 2);
}

/// A topic of the sandbox with `n` records on dc1, copied to dc2 by the lab's mirror.
fn mirrored_topic(sb: &Sandbox, what: &str, n: usize) -> String {
    let lab = sb.lab;
    let topic = sb.name(what);
    create_topic(lab, "dc1", &topic, PARTITIONS);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, n, PARTITIONS),
    );
    wait_for("the records on dc2", Duration::from_secs(90), || {
        let on_dc2: i64 = kdr_client(lab, "dc2")
            .metadata(T)
            .ok()?
            .topic(&topic)
            .map(|_| {
                ends(lab, "dc2", &topic)
                    .iter()
                    .map(|(lo, hi)| hi - lo)
                    .sum()
            })?;
        (on_dc2 == n as i64).then_some(())
    });
    topic
}

fn role_changes(sb: &Sandbox) -> usize {
    let (_, journal) = sb.open();
    journal.role_history().expect("role history").len()
}

/// Issue 13: a group that keeps consuming on the primary stops the switchover before any
/// commit, naming the group; once its consumer stops, `resume` finishes the switchover.
#[test]
fn switchover_waits_for_active_groups_names_them_and_resumes_once_they_stop() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("so-active");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let topic = mirrored_topic(&sb, "busy", 60);
    let group = sb.name("never-stops");
    let _cleanup = Cleanup {
        sb: &sb,
        topics: vec![topic.clone()],
    };
    let cluster_file = sb.dir.path().join("cluster");
    let stop_file = sb.dir.path().join("consumers-stopped-on");
    std::fs::write(&cluster_file, "dc1\n").expect("cluster file");
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let consumer = consumer_thread(
        lab,
        topic.clone(),
        group.clone(),
        cluster_file.clone(),
        // This consumer ignores the stop hook: its file is never written.
        sb.dir.path().join("nobody-writes-this"),
        stop.clone(),
        seen.clone(),
    );
    wait_for(
        "the group consuming on dc1",
        Duration::from_secs(60),
        || (seen.lock().unwrap().len() == 60).then_some(()),
    );
    let runbook = runbook_with_hooks(
        sb.dir.path(),
        &stop_file,
        &cluster_file,
        &[(
            "params: { cluster: primary, timeout_seconds: 300 }",
            "params: { cluster: primary, timeout_seconds: 5 }",
        )],
    );
    let out = sb.run(&["--yes", "switchover", "--runbook", &path_str(&runbook)]);
    assert_eq!(out.code, Some(1), "{out}");
    let want = "1 in-scope consumer group(s) still have active members on `dc1` after waiting 5s";
    assert!(out.stderr.contains(want), "`{want}` in:\n{out}");
    assert!(
        out.stderr
            .contains(&format!("group `{group}`: 1 member(s)")),
        "{out}"
    );
    assert!(
        out.stderr.contains("help: stop these consumers on `dc1`"),
        "{out}"
    );
    assert_eq!(role_changes(&sb), 0, "the roles changed");
    let dc1_connect = connect_client(lab, "dc1");
    for n in &names {
        assert!(
            !block_on(dc1_connect.exists(n)).expect("connect"),
            "connector {n} created"
        );
    }
    let run = sb.ok(&["--output", "json", "runs", "list"]).json();
    let id = run["runs"][0]["id"].as_i64().expect("run id");
    assert_eq!(run["runs"][0]["state"], "failed", "{run}");
    let shown = sb
        .ok(&["--output", "json", "runs", "show", &id.to_string()])
        .json();
    let state = |step: &str| {
        shown["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["step_id"] == step)
            .map(|s| s["state"].clone())
    };
    assert_eq!(state("commit"), Some("pending".into()), "{shown}");
    assert_eq!(state("consumers-idle"), Some("failed".into()), "{shown}");
    // The operator stops the consumer; resume goes on from the wait and finishes.
    stop.store(true, Ordering::SeqCst);
    consumer.join().expect("consumer thread");
    let out = sb.run(&["--yes", "--output", "json", "resume", &id.to_string()]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.json()["state"], "succeeded", "{out}");
    assert_eq!(role_changes(&sb), 2, "dc2 primary, dc1 backup");
    // The group resumes on dc2 exactly where it stopped on dc1: at the end.
    let dc2_end: BTreeMap<(String, i32), i64> = ends(lab, "dc2", &topic)
        .into_iter()
        .enumerate()
        .map(|(p, (_, hi))| ((topic.clone(), p as i32), hi))
        .collect();
    assert_eq!(committed(lab, "dc2", &group), dc2_end);
}

/// Issue 13: a mirror that does not run is refused by the preflight with nothing changed;
/// without the preflight, a mirror that does not drain within the timeout stops the run
/// before anything is committed or promoted, naming the partitions behind.
#[test]
fn switchover_refuses_a_mirror_that_does_not_drain() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("so-lag");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let topic = mirrored_topic(&sb, "stuck", 30);
    let _cleanup = Cleanup {
        sb: &sb,
        topics: vec![topic.clone()],
    };
    let dc2_connect = connect_client(lab, "dc2");
    block_on(dc2_connect.stop(FORWARD_CONNECTORS[0])).expect("stop the source connector");
    wait_for(
        "the source connector stopped",
        Duration::from_secs(60),
        || {
            block_on(dc2_connect.status(FORWARD_CONNECTORS[0]))
                .ok()
                .filter(|s| s.connector_state.as_str() == "STOPPED")
        },
    );
    // STOPPED is reported before the task has flushed its last batch: let it settle.
    std::thread::sleep(Duration::from_secs(3));
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-late"), 9, PARTITIONS),
    );

    // The preflight refuses, and nothing is fenced.
    let acl1 = acls(lab, "dc1");
    let out = sb.run(&["--yes", "switchover"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("is not healthy"), "{out}");
    assert!(
        out.stderr
            .contains(&format!("source connector `{}`", FORWARD_CONNECTORS[0])),
        "{out}"
    );
    assert!(out.stderr.contains("STOPPED"), "{out}");
    assert!(out.stderr.contains("help: resume it"), "{out}");
    assert_eq!(acls(lab, "dc1"), acl1, "a refused preflight fenced dc1");

    // Without the preflight (an operator's runbook), the drain times out.
    let mut text = kafka_dr::runbook::embedded_text("switchover")
        .expect("embedded")
        .to_string();
    let preflight =
        "  - id: preflight\n    action: switchover.preflight\n    params: { max_lag: 10000 }\n";
    assert!(text.contains(preflight));
    text = text.replace(preflight, "").replace(
        "params: { from: primary, to: backup, timeout_seconds: 120 }",
        "params: { from: primary, to: backup, timeout_seconds: 3 }",
    );
    let path = sb.dir.path().join("no-preflight.yaml");
    std::fs::write(&path, text).expect("runbook");
    let out = sb.run(&["--yes", "switchover", "--runbook", &path_str(&path)]);
    assert_eq!(out.code, Some(1), "{out}");
    let want =
        "the mirror `dc1` -> `dc2` did not copy every record below the last stable offset within";
    assert!(out.stderr.contains(want), "`{want}` in:\n{out}");
    assert!(out.stderr.contains("partition(s) are behind"), "{out}");
    assert!(out.stderr.contains(&format!("`{topic}`[")), "{out}");
    assert!(
        out.stderr
            .contains("help: look at the MM2 source connector"),
        "{out}"
    );
    assert_eq!(role_changes(&sb), 0, "the roles changed");
    let dc1_connect = connect_client(lab, "dc1");
    for n in &names {
        assert!(
            !block_on(dc1_connect.exists(n)).expect("connect"),
            "connector {n} created"
        );
    }
    // The old primary stays fenced for applications, as the refusal says.
    assert!(try_produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records("refused", 1, 1)
    )
    .is_err());
}

/// A sandbox with its own forward connectors (created here from the lab's, copying only
/// the sandbox's topics) and its own reverse ones: the whole cycle re-seeds the forward
/// flow, which must never touch the lab's. The lab's forward flow is stopped until the
/// lab is healed. Returns (sandbox, forward names, reverse names).
fn sandbox_with_own_flows(tag: &str) -> (Sandbox, [String; 3], [String; 3]) {
    let (sb, reverse) = sandbox_with_reverse_names(tag);
    let lab = sb.lab;
    let base = format!("kdr-test-{}-fwd", sb.prefix.replace('.', "-"));
    let forward = [
        format!("{base}-source"),
        format!("{base}-checkpoint"),
        format!("{base}-heartbeat"),
    ];
    let dc2 = connect_client(lab, "dc2");
    let scope = format!("{}\\..*", regex::escape(&sb.prefix));
    for (lab_name, ours) in FORWARD_CONNECTORS.iter().zip(&forward) {
        let mut config = block_on(dc2.config(lab_name)).expect("the lab's forward config");
        config.insert("name".into(), ours.clone());
        config.insert("topics".into(), scope.clone());
        config.insert("groups".into(), scope.clone());
        block_on(dc2.stop(lab_name)).expect("stop the lab's forward connector");
        block_on(dc2.create(ours, &config, None)).expect("create the sandbox's forward connector");
    }
    let text = std::fs::read_to_string(&sb.topology).expect("topology");
    let text = text
        .replace("mm2-dc1-dc2-source", &forward[0])
        .replace("mm2-dc1-dc2-checkpoint", &forward[1])
        .replace("mm2-dc1-dc2-heartbeat", &forward[2]);
    std::fs::write(&sb.topology, text).expect("topology");
    (sb, forward, reverse)
}

/// Records of `topic` on `dc` by partition and offset, from the log start.
fn by_offset(lab: &Lab, dc: &str, topic: &str) -> BTreeMap<(i32, i64), Rec> {
    read_all(lab, dc, topic)
        .into_iter()
        .map(|r| ((r.partition, r.offset), r))
        .collect()
}

fn group_positions(lab: &Lab, dc: &str, group: &str, topic: &str) -> Vec<i64> {
    let c = committed(lab, dc, group);
    (0..PARTITIONS)
        .map(|p| c.get(&(topic.to_string(), p)).copied().unwrap_or(-1))
        .collect()
}

/// Issue 13, acceptance 2: the way home. `failover promote` (dc1 dead), `failback
/// reverse` (dc1 back), then `switchover` back: the original roles, the forward flow
/// running again, the group exact on dc1, and the journal shows the cycle. Then a second
/// failover from the journal lands groups exactly on dc2 (issue 9, case 5).
#[test]
fn the_full_cycle_ends_with_the_original_roles_and_the_forward_flow_running() {
    let _g = exclusive();
    let (sb, forward, reverse) = sandbox_with_own_flows("so-cycle");
    let lab = sb.lab;
    let _delete_reverse = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: reverse.to_vec(),
    };
    let _delete_forward = DeleteConnectors {
        client: connect_client(lab, "dc2"),
        names: forward.to_vec(),
    };
    let topic = sb.name("orders");
    let group = sb.name("billing");
    let _cleanup = Cleanup {
        sb: &sb,
        topics: vec![topic.clone()],
    };
    // 300 records mirrored; the group consumed part of them on dc1; deltas recorded.
    create_topic(lab, "dc1", &topic, PARTITIONS);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 300, PARTITIONS),
    );
    wait_for("300 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_all(lab, "dc2", &topic).len() >= 300)
            .then_some(())
    });
    crate::groups::commit(lab, "dc1", Principal::App, &group, &topic, &[40, 50, 60]);
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["--yes", "fence", "apply", "app-writes", "--cluster", "dc2"]);
    sb.ok(&["deltas", "record"]);
    // A tail of 30 records dc1 never copies, then dc1 dies.
    block_on(connect_client(lab, "dc2").stop(&forward[0])).expect("stop the source");
    std::thread::sleep(Duration::from_secs(3));
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-tail"), 30, PARTITIONS),
    );
    lab_cmd(&["kill", "dc1"]);

    // 1. Failover: dc2 primary, the group exact there (both logs hold the same 300).
    sb.ok(&["--yes", "failover", "promote"]);
    assert_eq!(
        group_positions(lab, "dc2", &group, &topic),
        vec![40, 50, 60]
    );
    let status = sb.ok(&["--output", "json", "status"]).json();
    assert_eq!(status["roles"]["primary"], "dc2", "{status}");
    // Life on dc2: 60 records, and the group moves on.
    produce(
        lab,
        "dc2",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-dc2"), 60, PARTITIONS),
    );
    crate::groups::commit(lab, "dc2", Principal::App, &group, &topic, &[105, 110, 115]);

    // 2. dc1 returns: failback quarantines the tail and mirrors dc2 back.
    lab_cmd(&["start", "dc1"]);
    sb.ok(&["--yes", "failback", "reverse"]);
    let status = sb.ok(&["--output", "json", "status"]).json();
    assert!(
        status["running_flow"]
            .as_str()
            .is_some_and(|f| f.starts_with("reverse")),
        "{status}"
    );

    // 3. Switchover back to dc1.
    let out = sb.ok(&["--yes", "--output", "json", "switchover"]);
    let so = &out.json()["switchover"];
    eprintln!(
        "switchover back: write outage {} ms, RTO {} ms",
        so["write_outage_ms"], so["rto_ms"]
    );
    assert_eq!(so["new_primary"], "dc1", "{so}");
    assert_eq!(
        (so["lost"].as_i64(), so["duplicated"].as_i64()),
        (Some(0), Some(0)),
        "{so}"
    );
    let ours = so["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == group.as_str())
        .cloned()
        .expect("group");
    assert_eq!(ours["exact"], PARTITIONS, "{ours}");

    // The original roles, the forward flow running, nothing else running.
    let status = sb.ok(&["--output", "json", "status"]).json();
    assert_eq!(status["roles"]["primary"], "dc1", "{status}");
    assert_eq!(status["original_roles"], true, "{status}");
    assert!(
        status["running_flow"]
            .as_str()
            .is_some_and(|f| f.starts_with("forward")),
        "{status}"
    );
    let dc1_connect = connect_client(lab, "dc1");
    let st = block_on(dc1_connect.status(&reverse[0])).expect("reverse source");
    assert_eq!(
        st.connector_state.as_str(),
        "STOPPED",
        "the reverse flow must be stopped"
    );

    // The group on dc1 at the exact twin of its dc2 position: the record before it on dc1
    // is the one before it on dc2.
    let on_dc1 = by_offset(lab, "dc1", &topic);
    let on_dc2 = by_offset(lab, "dc2", &topic);
    let at_dc1 = group_positions(lab, "dc1", &group, &topic);
    for (p, (pos1, pos2)) in at_dc1.iter().zip([105i64, 110, 115]).enumerate() {
        let p = p as i32;
        let last1 = on_dc1
            .get(&(p, pos1 - 1))
            .unwrap_or_else(|| panic!("dc1 [{p}] has no record at {}", pos1 - 1));
        let last2 = &on_dc2[&(p, pos2 - 1)];
        assert!(
            last1.same_content(last2),
            "[{p}]: dc1 {pos1} does not follow dc2 {pos2}"
        );
    }
    // Every record written to dc2 after the promotion cut (100 per partition: the 300
    // mirrored ones), dc1 holds once; the records before the cut the failback's truncate
    // removed from dc1 with the tail (the tail is in quarantine).
    let count_of = |recs: &BTreeMap<(i32, i64), Rec>, r: &Rec| {
        recs.values().filter(|x| x.same_content(r)).count()
    };
    let after_cut: Vec<&Rec> = on_dc2.values().filter(|r| r.offset >= 100).collect();
    assert_eq!(after_cut.len(), 60);
    for r in after_cut {
        assert_eq!(count_of(&on_dc1, r), 1, "{r:?} on dc1");
    }
    for r in on_dc1.values() {
        assert_eq!(count_of(&on_dc1, r), 1, "{r:?} twice on dc1");
    }
    // The forward flow copies dc1's new records to dc2, once.
    let fresh = make_records(&format!("{topic}-home"), 9, PARTITIONS);
    produce(lab, "dc1", Principal::App, &topic, &fresh);
    wait_for("the new records on dc2", Duration::from_secs(90), || {
        let now = by_offset(lab, "dc2", &topic);
        fresh.iter().all(|r| count_of(&now, r) == 1).then_some(())
    });
    // The journal shows the cycle.
    let runs = sb.ok(&["--output", "json", "runs", "list"]).json();
    let done: Vec<&str> = runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .rev()
        .filter(|r| r["dry_run"] == false && r["state"] == "succeeded")
        .filter_map(|r| r["runbook"].as_str())
        .filter(|r| matches!(*r, "failover-promote" | "failback-reverse" | "switchover"))
        .collect();
    assert_eq!(
        done,
        vec!["failover-promote", "failback-reverse", "switchover"],
        "{runs}"
    );

    // 4. A second failover (issue 9, case 5): the journal now holds the first cycle's
    // syncs and positions, the reverse flow's, and the forward flow's new ones, and dc1's
    // offsets no longer match dc2's. `billing` consumed 2 of the 3 new records of each
    // partition; `late` stopped in what the reverse flow copied from dc2 (dc2's 5th
    // record after the cut, in each partition).
    let on_dc1 = by_offset(lab, "dc1", &topic);
    let on_dc2 = by_offset(lab, "dc2", &topic);
    let dc1_offset_of = |r: &Rec| {
        on_dc1
            .values()
            .find(|x| x.same_content(r))
            .map(|x| x.offset)
            .unwrap_or_else(|| panic!("{r:?} is not on dc1"))
    };
    let billing: Vec<i64> = (0..PARTITIONS)
        .map(|p| {
            let mine: Vec<&Rec> = fresh.iter().filter(|r| r.partition == p).collect();
            dc1_offset_of(mine[1]) + 1
        })
        .collect();
    let late_group = sb.name("late");
    let late: Vec<i64> = (0..PARTITIONS)
        .map(|p| dc1_offset_of(&on_dc2[&(p, 104)]) + 1)
        .collect();
    crate::groups::commit(lab, "dc1", Principal::App, &group, &topic, &billing);
    crate::groups::commit(lab, "dc1", Principal::App, &late_group, &topic, &late);
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["deltas", "record"]);
    lab_cmd(&["kill", "dc1"]);
    let second = sb.run(&["--yes", "--output", "json", "failover", "promote"]);
    lab_cmd(&["start", "dc1"]);
    assert_eq!(second.code, Some(0), "the second failover: {second}");
    let on_dc2 = by_offset(lab, "dc2", &topic);
    for (name, at_dc1) in [(&group, &billing), (&late_group, &late)] {
        let at_dc2 = group_positions(lab, "dc2", name, &topic);
        for p in 0..PARTITIONS {
            let i = p as usize;
            let last1 = &on_dc1[&(p, at_dc1[i] - 1)];
            let last2 = on_dc2.get(&(p, at_dc2[i] - 1));
            assert!(
                last2.is_some_and(|r| r.same_content(last1)),
                "second failover: `{name}`[{p}] at {} on dc1 must land right after its twin on dc2, not at {}: {second}",
                at_dc1[i],
                at_dc2[i]
            );
        }
    }
}

/// Issue 13: `switchover --drill` switches over and straight back, reporting both write
/// outages; the roles, the forward flow and the group's position are as before.
#[test]
fn a_drill_switches_over_and_back() {
    let _g = exclusive();
    let (sb, forward, reverse) = sandbox_with_own_flows("so-drill");
    let lab = sb.lab;
    let _delete_reverse = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: reverse.to_vec(),
    };
    let _delete_forward = DeleteConnectors {
        client: connect_client(lab, "dc2"),
        names: forward.to_vec(),
    };
    let topic = sb.name("drill");
    let group = sb.name("drillers");
    let _cleanup = Cleanup {
        sb: &sb,
        topics: vec![topic.clone()],
    };
    create_topic(lab, "dc1", &topic, PARTITIONS);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 90, PARTITIONS),
    );
    wait_for("90 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic) && read_all(lab, "dc2", &topic).len() >= 90)
            .then_some(())
    });
    // The group consumed everything on dc1.
    crate::groups::commit(lab, "dc1", Principal::App, &group, &topic, &[30, 30, 30]);
    let out = sb.ok(&["--yes", "--output", "json", "switchover", "--drill"]);
    let drill = &out.json()["drill"];
    let (there, back) = (&drill["there"]["switchover"], &drill["back"]["switchover"]);
    eprintln!(
        "drill: there write outage {} ms (RTO {} ms), back {} ms (RTO {} ms)",
        there["write_outage_ms"], there["rto_ms"], back["write_outage_ms"], back["rto_ms"]
    );
    assert_eq!(there["new_primary"], "dc2", "{drill}");
    assert_eq!(back["new_primary"], "dc1", "{drill}");
    for so in [there, back] {
        assert!(
            so["write_outage_ms"].as_u64().is_some_and(|ms| ms > 0),
            "{so}"
        );
        let g = so["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["group"] == group.as_str())
            .cloned()
            .expect("group");
        assert_eq!(g["exact"], PARTITIONS, "{g}");
    }
    assert_eq!(
        group_positions(lab, "dc1", &group, &topic),
        vec![30, 30, 30]
    );
    let status = sb.ok(&["--output", "json", "status"]).json();
    assert_eq!(status["original_roles"], true, "{status}");
    assert!(
        status["running_flow"]
            .as_str()
            .is_some_and(|f| f.starts_with("forward")),
        "{status}"
    );
    // Nothing was copied twice either way.
    for dc in ["dc1", "dc2"] {
        assert_eq!(read_all(lab, dc, &topic).len(), 90, "{dc}");
    }
}
