//! `mirror.seed` and `mirror.start` (issue 5) on the real lab, driven through the library.
//!
//! A real failover cannot run here (other tests share the lab), so each test writes the
//! journal a promotion would have left: a run that made dc2 primary and dc1 backup, with
//! dc2's watermark snapshot (the promotion cut). The sandbox topic exists only on dc2 and
//! is named `<sandbox>.orders.replica`: the lab's forward flow (`topics.exclude` has
//! `.*\.replica`) never copies it from dc1 back to dc2, so the reverse flow closes no
//! cycle. The reverse connectors get fresh names (the sandbox topology's
//! `reverse_connectors`) and are deleted by a drop guard; the lab's `mm2-dc1-dc2-*`
//! connectors are only read.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_dr::connect::{ConnectClient, ConnectorState, TargetState};
use kafka_dr::journal::{Journal, NewRun, Role, RunState, StepOutcome, WatermarkRow};
use kafka_dr::topology::Topology;

use crate::common::*;

const TIMEOUT: Duration = Duration::from_secs(20);

/// Deletes the connectors a test created, whatever happens.
pub struct DeleteConnectors {
    pub client: ConnectClient,
    pub names: Vec<String>,
}

impl Drop for DeleteConnectors {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = block_on(self.client.delete(n));
        }
    }
}

/// A sandbox whose topology names fresh reverse connectors; returns their names
/// (source, checkpoint, heartbeat).
pub fn sandbox_with_reverse_names(tag: &str) -> (Sandbox, [String; 3]) {
    let sb = Sandbox::new(tag);
    let base = format!("kdr-test-{}", sb.prefix.replace('.', "-"));
    let names = [
        format!("{base}-source"),
        format!("{base}-checkpoint"),
        format!("{base}-heartbeat"),
    ];
    let mut text = std::fs::read_to_string(&sb.topology).expect("read sandbox topology");
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("  groups:"),
        "the sandbox topology no longer ends inside `replication:`; update this test"
    );
    text.push_str(&format!(
        "  reverse_connectors:\n    source: {}\n    checkpoint: {}\n    heartbeat: {}\n",
        names[0], names[1], names[2]
    ));
    std::fs::write(&sb.topology, text).expect("write sandbox topology");
    (sb, names)
}

/// What `failover promote` leaves behind: a run that made dc2 primary and dc1 backup,
/// with dc2's watermarks of `topic` (the promotion cut). Returns the cut per partition.
fn fake_promotion(
    sb: &Sandbox,
    topology: &Topology,
    journal: &Journal,
    topic: &str,
) -> BTreeMap<i32, i64> {
    let run = journal
        .create_run(&NewRun {
            topology: &topology.name,
            runbook: "failover-promote",
            source: "test:fake-promotion",
            checksum: "0",
            text: "",
            dry_run: false,
            steps: Vec::new(),
        })
        .expect("create the promotion run");
    let client = kdr_client(sb.lab, "dc2");
    let parts = client.topic_partitions(topic, TIMEOUT).expect("partitions");
    let wm = client
        .watermarks(
            &parts.iter().map(|p| (topic, *p)).collect::<Vec<_>>(),
            TIMEOUT,
        )
        .expect("watermarks");
    let rows: Vec<WatermarkRow> = wm
        .iter()
        .map(|w| WatermarkRow {
            cluster: "dc2".into(),
            topic: w.topic.clone(),
            partition: w.partition,
            earliest: w.earliest,
            latest: w.latest,
            stable: Some(w.stable),
        })
        .collect();
    journal
        .record_watermarks(run, "snapshot", &rows)
        .expect("record the cut");
    journal
        .record_role_change(Some(run), "dc2", Role::Primary)
        .expect("role");
    journal
        .record_role_change(Some(run), "dc1", Role::Backup)
        .expect("role");
    journal
        .finish_run(run, RunState::Succeeded, None)
        .expect("finish the promotion run");
    wm.iter().map(|w| (w.partition, w.latest)).collect()
}

const RUNBOOK: &str = "\
name: reverse-test
description: seed and start the reverse flow
steps:
  - id: mirror-seed
    action: mirror.seed
    params: { strategy: delete-records }
  - id: mirror-start
    action: mirror.start
    params: { seed_step: mirror-seed, timeout_seconds: 180 }
";

const SEED_ONLY: &str = "\
name: reverse-seed
description: seed the reverse flow
steps:
  - id: mirror-seed
    action: mirror.seed
";

fn exists(client: &ConnectClient, name: &str) -> bool {
    block_on(client.exists(name)).expect("GET connector")
}

/// The records of `topic` on `dc`, by partition, in offset order.
fn by_partition(lab: &Lab, dc: &str, topic: &str) -> BTreeMap<i32, Vec<Rec>> {
    let mut out: BTreeMap<i32, Vec<Rec>> = BTreeMap::new();
    for r in read_all(lab, dc, topic) {
        out.entry(r.partition).or_default().push(r);
    }
    out
}

fn no_secret_in(lab: &Lab, what: &str, text: &str) {
    for p in lab.passwords() {
        assert!(!text.contains(&p), "a lab password leaked into {what}");
    }
}

#[test]
fn reverse_flow_copies_exactly_what_came_after_the_promotion_cut() {
    let _guard = shared();
    let (sb, names) = sandbox_with_reverse_names("reverse");
    let lab = sb.lab;
    let dc1 = connect_client(lab, "dc1");
    let _cleanup = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let topic = sb.name("orders.replica");
    create_topic(lab, "dc2", &topic, 3);
    produce(
        lab,
        "dc2",
        Principal::Admin,
        &topic,
        &make_records("before", 500, 3),
    );

    let (topology, journal) = sb.open();
    let cut = fake_promotion(&sb, &topology, &journal, &topic);
    assert_eq!(cut.values().sum::<i64>(), 500);
    produce(
        lab,
        "dc2",
        Principal::Admin,
        &topic,
        &make_records("after", 200, 3),
    );
    // A topic created on the new primary after the promotion: all of it is copied.
    let late = sb.name("late.replica");
    create_topic(lab, "dc2", &late, 2);
    produce(
        lab,
        "dc2",
        Principal::Admin,
        &late,
        &make_records("late", 40, 2),
    );

    // Dry run: the plan names every partition's seed and changes nothing.
    let report =
        run_runbook(&topology, &journal, RUNBOOK, true).unwrap_or_else(|e| panic!("dry run: {e}"));
    let seed_plan = &report.steps[0];
    for (p, c) in &cut {
        let line = format!("start copying `{topic}`-{p} at offset {c} (the promotion cut)");
        assert!(
            seed_plan.changes.iter().any(|l| l.starts_with(&line)),
            "no `{line}` in {:#?}",
            seed_plan.changes
        );
    }
    assert!(
        seed_plan
            .changes
            .iter()
            .any(|l| l.contains(&format!("create reverse source connector `{}`", names[0]))),
        "{:#?}",
        seed_plan.changes
    );
    for n in &names {
        assert!(!exists(&dc1, n), "the dry run created `{n}`");
    }
    no_secret_in(lab, "the dry run's plan", &format!("{report:?}"));

    // A stale heartbeat connector of the same name, STOPPED with another config: the seed
    // replaces its config (it stays STOPPED).
    let mut stale = BTreeMap::new();
    for (k, v) in [
        (
            "connector.class",
            "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector",
        ),
        ("source.cluster.alias", "dc2"),
        ("target.cluster.alias", "dc1"),
        ("source.cluster.bootstrap.servers", "127.0.0.1:1"),
        ("target.cluster.bootstrap.servers", "127.0.0.1:1"),
        ("emit.heartbeats.enabled", "false"),
    ] {
        stale.insert(k.to_string(), v.to_string());
    }
    block_on(dc1.create(&names[2], &stale, Some(TargetState::Stopped)))
        .expect("create the stale heartbeat connector");
    wait_for(
        "the stale heartbeat connector to report STOPPED",
        Duration::from_secs(30),
        || {
            block_on(dc1.status(&names[2]))
                .ok()
                .filter(|s| s.connector_state == ConnectorState::Stopped)
        },
    );

    // Seed: create two, replace one config, write the offsets.
    let seeded =
        run_runbook(&topology, &journal, SEED_ONLY, false).unwrap_or_else(|e| panic!("seed: {e}"));
    let step = &seeded.steps[0];
    assert_eq!(step.outcome, StepOutcome::Applied, "{step:#?}");
    assert!(
        step.changes.iter().any(|l| l.starts_with(&format!(
            "replace the config of reverse heartbeat connector `{}`",
            names[2]
        ))),
        "{:#?}",
        step.changes
    );
    for n in &names {
        let st = block_on(dc1.status(n)).expect("status");
        assert!(st.is_in(TargetState::Stopped), "{n}: {st:?}");
    }
    let offsets = block_on(dc1.get_mirror_source_offsets(&names[0])).expect("offsets");
    let stored: BTreeMap<i32, Option<i64>> = offsets
        .iter()
        .filter(|o| o.topic == topic && o.source_alias == "dc2")
        .map(|o| (o.partition, o.last_copied))
        .collect();
    let want: BTreeMap<i32, Option<i64>> = cut.iter().map(|(p, c)| (*p, Some(c - 1))).collect();
    assert_eq!(stored, want, "stored offsets are the LAST COPIED ones");
    assert!(
        offsets
            .iter()
            .filter(|o| o.topic == late)
            .all(|o| o.last_copied.is_none()),
        "the late topic has no position (it starts at the earliest): {offsets:?}"
    );
    let seed = step.output.clone().expect("seed output");
    let seeded_parts = seed["partitions"].as_array().expect("seed partitions");
    assert_eq!(seeded_parts.len(), 5, "{seed:#}");
    for sp in seeded_parts {
        let p = sp["partition"].as_i64().unwrap() as i32;
        if sp["topic"] == topic.as_str() {
            assert_eq!(sp["next_offset"], cut[&p], "{sp:#}");
            assert_eq!(sp["reason"], "promotion-cut", "{sp:#}");
        } else {
            assert_eq!(sp["topic"], late.as_str(), "{sp:#}");
            assert_eq!(sp["next_offset"], serde_json::Value::Null, "{sp:#}");
            assert_eq!(sp["reason"], "created-after-promotion", "{sp:#}");
        }
        assert_eq!(sp["old_log_end"], 0, "{sp:#}");
        assert_eq!(sp["old_exists"], false, "{sp:#}");
    }

    // Seeding again changes nothing.
    let again = run_runbook(&topology, &journal, SEED_ONLY, false)
        .unwrap_or_else(|e| panic!("reseed: {e}"));
    assert_eq!(
        again.steps[0].outcome,
        StepOutcome::NothingToDo,
        "{again:#?}"
    );

    // Seed (nothing to do, so it stores no output: start reads its plan) and start.
    let report =
        run_runbook(&topology, &journal, RUNBOOK, false).unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!(report.state, RunState::Succeeded, "{report:#?}");
    assert_eq!(report.steps[0].outcome, StepOutcome::NothingToDo);
    no_secret_in(lab, "the run's report", &format!("{report:?}"));
    let detail = journal.run_detail(report.run_id).expect("run detail");
    no_secret_in(
        lab,
        "the journal",
        &serde_json::to_string(&detail.steps).unwrap(),
    );

    // The reverse source connector: derived from the forward one, narrowed to the scope.
    let cfg = block_on(dc1.config(&names[0])).expect("reverse source config");
    assert_eq!(cfg["source.cluster.alias"], "dc2");
    assert_eq!(cfg["target.cluster.alias"], "dc1");
    assert_eq!(
        cfg["source.cluster.bootstrap.servers"],
        lab.bootstrap("dc2")
    );
    assert_eq!(
        cfg["target.cluster.bootstrap.servers"],
        lab.bootstrap("dc1")
    );
    assert!(
        cfg["topics"].starts_with(&regex::escape(&sb.prefix)),
        "{}",
        cfg["topics"]
    );
    assert!(
        !cfg["topics.exclude"].contains("replica"),
        "{}",
        cfg["topics.exclude"]
    );
    assert_eq!(
        cfg["replication.policy.class"],
        "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
    );
    for n in &names {
        let st = block_on(dc1.status(n)).expect("status");
        assert_eq!(st.connector_state, ConnectorState::Running, "{n}: {st:?}");
    }

    // dc1 holds exactly the 200 records after the cut, in order, none twice.
    let want = by_partition(lab, "dc2", &topic);
    let got = by_partition(lab, "dc1", &topic);
    let mut total = 0;
    for (p, recs) in &want {
        let after: Vec<&Rec> = recs.iter().filter(|r| r.offset >= cut[p]).collect();
        let copies = got.get(p).cloned().unwrap_or_default();
        assert_eq!(
            copies.len(),
            after.len(),
            "partition {p}: copies {copies:?}"
        );
        for (i, (a, b)) in after.iter().zip(&copies).enumerate() {
            assert!(
                a.same_content(b),
                "partition {p} record {i}: {a:?} vs {b:?}"
            );
            assert_eq!(b.offset, i as i64, "partition {p}: offsets on dc1");
            assert!(
                b.key.as_deref().unwrap_or_default().starts_with(b"after-"),
                "a record from before the cut was copied: {b:?}"
            );
        }
        total += copies.len();
    }
    assert_eq!(total, 200);
    // The late topic arrives whole.
    let late_want = read_all(lab, "dc2", &late);
    let late_got = read_all(lab, "dc1", &late);
    assert_eq!(late_got.len(), 40);
    for (a, b) in late_want.iter().zip(&late_got) {
        assert!(a.same_content(b) && a.offset == b.offset, "{a:?} vs {b:?}");
    }

    // The start step's output: no lag, every first copy checked by fingerprint.
    let out = report.steps[1].output.as_ref().expect("start output");
    assert_eq!(out["total_lag"], 0, "{out:#}");
    assert_eq!(out["total_copied"], 240, "{out:#}");
    for p in out["partitions"].as_array().expect("partitions") {
        assert_eq!(p["first_copy"]["status"], "matches", "{p:#}");
        assert_eq!(p["first_copy"]["downstream_offset"], 0, "{p:#}");
    }
    // The verified reverse deltas are in the journal.
    for (p, c) in &cut {
        let syncs = journal
            .offset_sync_history("dc2", "dc1", &topic, *p)
            .expect("syncs");
        assert!(
            syncs
                .iter()
                .any(|s| s.upstream_offset == *c && s.downstream_offset == 0),
            "partition {p}: {syncs:?}"
        );
    }

    // Seeding again while the flow runs past its seed is refused, and changes nothing.
    let err = run_runbook(&topology, &journal, SEED_ONLY, false)
        .expect_err("a second seed must be refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("reverse source connector `{}`", names[0]))
            && text.contains("offsets differ from the seed")
            && text.contains("help:"),
        "{text}"
    );
    let st = block_on(dc1.status(&names[0])).expect("status");
    assert_eq!(st.connector_state, ConnectorState::Running);
}

#[test]
fn seeding_is_refused_while_a_forward_flow_runs_on_the_same_topics() {
    let _guard = shared();
    let (sb, names) = sandbox_with_reverse_names("revfwd");
    let lab = sb.lab;
    let dc1 = connect_client(lab, "dc1");
    let dc2 = connect_client(lab, "dc2");
    let _cleanup = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let topic = sb.name("orders.replica");
    create_topic(lab, "dc2", &topic, 2);
    produce(
        lab,
        "dc2",
        Principal::Admin,
        &topic,
        &make_records("x", 50, 2),
    );
    let (topology, journal) = sb.open();
    fake_promotion(&sb, &topology, &journal, &topic);

    // A fresh dc1 -> dc2 source connector on the dc2 worker, on the sandbox topic only (it
    // copies nothing: the topic does not exist on dc1).
    let forward = format!("kdr-test-{}-fwd-source", sb.prefix.replace('.', "-"));
    let _forward_cleanup = DeleteConnectors {
        client: connect_client(lab, "dc2"),
        names: vec![forward.clone()],
    };
    let mut cfg = block_on(dc2.config("mm2-dc1-dc2-source")).expect("forward config");
    cfg.insert("name".into(), forward.clone());
    cfg.insert("topics".into(), regex::escape(&topic));
    cfg.insert("topics.exclude".into(), "__.*".into());
    cfg.insert("emit.offset-syncs.enabled".into(), "false".into());
    // MM2 refuses offset-syncs settings when it emits none.
    cfg.retain(|k, _| !k.starts_with("offset-syncs."));
    cfg.insert("sync.topic.configs.enabled".into(), "false".into());
    cfg.insert("refresh.topics.interval.seconds".into(), "600".into());
    block_on(dc2.create(&forward, &cfg, None)).expect("create the forward test connector");
    wait_for(
        "the forward test connector to run",
        Duration::from_secs(60),
        || {
            block_on(dc2.status(&forward))
                .ok()
                .filter(|s| s.connector_state == ConnectorState::Running)
        },
    );

    for dry_run in [true, false] {
        let err = run_runbook(&topology, &journal, RUNBOOK, dry_run)
            .expect_err("seeding must be refused while a forward flow runs");
        let text = err.to_string();
        assert!(
            text.contains(&format!("connector `{forward}`"))
                && text.contains(&lab.connect("dc2"))
                && text.contains("worker ")
                && text.contains(&format!("`{topic}`"))
                && text.contains(&format!(
                    "help: stop each of them (PUT {}/connectors/<name>/stop)",
                    lab.connect("dc2")
                )),
            "dry_run {dry_run}: {text}"
        );
        no_secret_in(lab, "the refusal", &text);
        for n in &names {
            assert!(!exists(&dc1, n), "dry_run {dry_run}: `{n}` was created");
        }
    }
    // The topic never reached dc1.
    let md = kdr_client(lab, "dc1").metadata(TIMEOUT).expect("metadata");
    assert!(md.topic(&topic).is_none());
}

#[test]
fn a_first_copy_that_is_not_the_seeded_record_fails_the_start() {
    let _guard = shared();
    let (sb, names) = sandbox_with_reverse_names("revbad");
    let lab = sb.lab;
    let _cleanup = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let topic = sb.name("orders.replica");
    create_topic(lab, "dc2", &topic, 1);
    produce(
        lab,
        "dc2",
        Principal::Admin,
        &topic,
        &make_records("before", 30, 1),
    );
    let (topology, journal) = sb.open();
    let cut = fake_promotion(&sb, &topology, &journal, &topic);
    produce(
        lab,
        "dc2",
        Principal::Admin,
        &topic,
        &make_records("after", 10, 1),
    );
    // The old primary has the (empty) topic; between the seed and the start, something
    // that is not the reverse flow writes into it (as an unfenced producer would).
    create_topic(lab, "dc1", &topic, 1);
    let rogue = format!(
        "echo rogue | '{}' tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server {} --producer.config '{}/admin.properties' --topic '{}'",
        kafka_lab().display(),
        lab.bootstrap("dc1"),
        lab.var("KAFKA_LAB_CLIENT_DIR"),
        topic
    );
    let runbook = format!(
        "\
name: reverse-rogue
description: a write into the old primary between seed and start
steps:
  - id: mirror-seed
    action: mirror.seed
  - id: rogue-write
    action: exec
    params:
      argv: [sh, -c, {rogue:?}]
  - id: mirror-start
    action: mirror.start
    params: {{ timeout_seconds: 120 }}
"
    );
    let err = run_runbook(&topology, &journal, &runbook, false).expect_err("the start must fail");
    let text = err.to_string();
    assert!(
        text.contains("did not start where the seed said")
            && text.contains(&format!(
                "`{topic}`-0: the first record `dc1` received after the seed (offset 0 of `{topic}`"
            ))
            && text.contains(&format!(
                "is not the seeded record (offset {} on `dc2`",
                cut[&0]
            ))
            && text.contains("its connectors are left running")
            && text.contains("help:"),
        "{text}"
    );
    no_secret_in(lab, "the mismatch error", &text);
    let st = block_on(connect_client(lab, "dc1").status(&names[0])).expect("status");
    assert_eq!(st.connector_state, ConnectorState::Running);
}
