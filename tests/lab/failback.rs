//! Issue 5 on the real lab: `kafka-dr failback reverse` after a real `failover promote`.
//!
//! The failover scenario (10,000 records mirrored, then 300 written to dc1 only, dc1
//! killed) is promoted; applications then write 2,000 records to dc2 and a topic is born
//! there; dc1 returns; `failback reverse` must quarantine exactly the 300, remove them,
//! and mirror dc2's post-promotion records back, starting exactly at the promotion cut.
//! Disturbs the whole lab (stops the forward flow, kills dc1): takes `exclusive()`. The
//! reverse connectors get sandbox names and are deleted at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_dr::actions::tail::Manifest;
use kafka_dr::kafka::AclFilter;

use crate::common::*;
use crate::failover::{scenario_in, Scenario};
use crate::groups::commit;
use crate::reverse::{sandbox_with_reverse_names, DeleteConnectors};
use crate::tail::{check_manifest, marks, quarantined};

const T: Duration = Duration::from_secs(10);

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

/// The newest run of `runbook` in the sandbox's journal, as `runs show` prints it.
fn last_run(s: &Scenario, runbook: &str) -> serde_json::Value {
    let runs = s.sb.ok(&["--output", "json", "runs", "list"]).json();
    let id = runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["runbook"] == runbook && r["dry_run"] == false)
        .map(|r| r["id"].as_i64().expect("run id"))
        .max()
        .unwrap_or_else(|| panic!("no {runbook} run in {runs}"));
    s.sb.ok(&["--output", "json", "runs", "show", &id.to_string()])
        .json()
}

fn step<'a>(run: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step_id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {run}"))
}

/// kafka-dr with a crash point armed: it must die by SIGKILL at that point.
fn crash_at(s: &Scenario, point: &str, args: &[&str]) {
    let out =
        s.sb.command(args)
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

/// Issue 5, acceptance 1-8 (one scenario; 5 kills twice and resumes).
#[test]
fn failback_quarantines_the_tail_removes_it_and_mirrors_back_exactly() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("fb");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let s = scenario_in(sb, true);
    let topic = s.topic.clone();
    let quiet = s.quiet.clone().expect("quiet topic");

    // Promote; the cut is dc2's high watermark at the promotion.
    let out = s.sb.run(&["--yes", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");
    let cut: BTreeMap<i32, i64> = marks(lab, "dc2", &topic, 6)
        .into_iter()
        .map(|(p, (_, end))| (p, end))
        .collect();
    s.assert_promoted(); // also writes 3 records to dc2 as `app`
    let tail: Vec<Rec> = s
        .dc1
        .iter()
        .filter(|r| r.offset >= cut[&r.partition])
        .cloned()
        .collect();
    assert_eq!(tail.len(), 300, "the scenario's tail");

    // Life on dc2 during the outage: 2,000 records, a new topic, G moves on.
    produce(
        lab,
        "dc2",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-dc2"), 2_000, 6),
    );
    let born = s.sb.name("born-on-dc2");
    create_topic(lab, "dc2", &born, 2);
    produce(
        lab,
        "dc2",
        Principal::App,
        &born,
        &make_records(&born, 10, 2),
    );
    let g_now: Vec<i64> = s.committed_on_dc2().values().map(|o| o + 100).collect();
    commit(lab, "dc2", Principal::App, &s.group, &topic, &g_now);

    // 8. dc1 still down: refused before any change.
    let acls_dc2 = acls(lab, "dc2");
    let out = s.sb.run(&["--yes", "failback", "reverse"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("dc1") && out.stderr.to_lowercase().contains("answer"),
        "the refusal must say dc1 does not answer:\n{out}"
    );
    assert!(out.stderr.contains("help:"), "{out}");
    assert_eq!(acls(lab, "dc2"), acls_dc2, "dc2's ACLs changed");

    lab_cmd(&["start", "dc1"]);
    let acls_dc1 = acls(lab, "dc1");
    let dc1_topic = marks(lab, "dc1", &topic, 6);
    let dc1_quiet = marks(lab, "dc1", &quiet, 2);
    assert_eq!(acls(lab, "dc2"), acls_dc2);

    // 6. --dry-run: each partition's tail and the seed offsets; nothing changes.
    let dry = s.sb.run(&["--yes", "--dry-run", "failback", "reverse"]);
    assert_eq!(dry.code, Some(0), "{dry}");
    let text = format!("{}{}", dry.stdout, dry.stderr);
    for (p, c) in &cut {
        let want = format!(
            "Tail `{topic}`[{p}] on `dc1`: 50 record(s) at [{c}, {})",
            c + 50
        );
        assert!(text.contains(&want), "{want} in:\n{text}");
        let seed = format!("`{topic}`-{p} at offset {c} (the promotion cut)");
        assert!(text.contains(&seed), "{seed} in:\n{text}");
    }
    assert_eq!(acls(lab, "dc1"), acls_dc1, "--dry-run changed dc1's ACLs");
    assert_eq!(acls(lab, "dc2"), acls_dc2, "--dry-run changed dc2's ACLs");
    assert_eq!(
        marks(lab, "dc1", &topic, 6),
        dc1_topic,
        "--dry-run changed dc1"
    );
    assert_eq!(
        marks(lab, "dc1", &quiet, 2),
        dc1_quiet,
        "--dry-run changed dc1"
    );
    let dc1_connect = connect_client(lab, "dc1");
    for n in &names {
        assert!(
            !block_on(dc1_connect.exists(n)).expect("connect"),
            "--dry-run created connector {n}"
        );
    }

    // 5. SIGKILL inside tail.quarantine, then inside mirror.seed; resume finishes.
    let started = Instant::now();
    crash_at(
        &s,
        "tail.quarantine:partition-written",
        &["--yes", "failback", "reverse"],
    );
    let run = last_run(&s, "failback-reverse");
    assert_eq!(step(&run, "tail-quarantine")["state"], "started", "{run}");
    crash_at(
        &s,
        "mirror.seed:before-offsets",
        &["--yes", "resume", "--take-over-lease"],
    );
    let run = last_run(&s, "failback-reverse");
    assert_eq!(step(&run, "tail-quarantine")["state"], "finished");
    assert_eq!(step(&run, "mirror-seed")["state"], "started", "{run}");
    let out =
        s.sb.run(&["--yes", "--output", "json", "resume", "--take-over-lease"]);
    assert_eq!(out.code, Some(0), "{out}");
    let wall = started.elapsed();
    let run = last_run(&s, "failback-reverse");
    assert_eq!(run["state"], "succeeded", "{run}");
    assert!(step(&run, "tail-quarantine")["attempts"].as_u64() >= Some(2));
    assert!(step(&run, "mirror-seed")["attempts"].as_u64() >= Some(2));

    // 1 and 5. The quarantine: exactly the 300, once each, and its manifest verifies.
    let shown = s.sb.ok(&["--output", "json", "tail", "show"]).json();
    let manifest: Manifest = serde_json::from_value(shown["manifest"].clone()).expect("manifest");
    check_manifest(&manifest);
    assert_eq!(manifest.records, 300);
    let q = quarantined(shown["path"].as_str().expect("path"));
    assert_eq!(q.len(), 300, "records in the quarantine file");
    let unique: BTreeSet<(i32, i64)> = q.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(unique.len(), 300, "a record was quarantined twice");
    for r in &q {
        let orig = tail
            .iter()
            .find(|t| t.partition == r.partition && t.offset == r.offset)
            .unwrap_or_else(|| panic!("quarantined a record outside the tail: {r:?}"));
        assert!(orig.same_content(r), "quarantined {r:?}, dc1 had {orig:?}");
    }

    // 3 and 7. dc1 gets dc2's records from the cut on, in order, once, nothing older;
    // the topic born on dc2 arrives; the quiet topic (no tail) is as it was.
    let dc2_all = read_all(lab, "dc2", &topic);
    let after_cut: Vec<&Rec> = dc2_all
        .iter()
        .filter(|r| r.offset >= cut[&r.partition])
        .collect();
    assert_eq!(after_cut.len(), 2_003);
    let dc1_now = wait_for(
        "dc2's 2,003 post-promotion records on dc1",
        Duration::from_secs(120),
        || {
            let recs = read_all(lab, "dc1", &topic);
            (recs.len() >= after_cut.len()).then_some(recs)
        },
    );
    assert_eq!(
        dc1_now.len(),
        after_cut.len(),
        "dc1 holds more than the post-promotion records (something older came back, or twice)"
    );
    for p in cut.keys() {
        let want: Vec<&&Rec> = after_cut.iter().filter(|r| r.partition == *p).collect();
        let got: Vec<&Rec> = dc1_now.iter().filter(|r| r.partition == *p).collect();
        assert_eq!(got.len(), want.len(), "partition {p}");
        for (a, b) in got.iter().zip(want) {
            assert!(a.same_content(b), "partition {p}: order or content differs");
        }
    }
    // 2. None of the 300 is readable on dc1.
    for r in &tail {
        assert!(
            !dc1_now.iter().any(|x| x.same_content(r)),
            "a tail record is still on dc1: {r:?}"
        );
    }
    wait_for(
        "the topic born on dc2, on dc1",
        Duration::from_secs(120),
        || {
            (crate::smoke::topic_exists(lab, "dc1", &born)
                && read_all(lab, "dc1", &born).len() >= 10)
                .then_some(())
        },
    );
    assert_eq!(
        read_all(lab, "dc1", &quiet).len(),
        20,
        "the quiet topic changed"
    );
    let find = &step(&run, "tail-find")["output"];
    let quiet_parts: Vec<&serde_json::Value> = find["partitions"]
        .as_array()
        .expect("tail partitions")
        .iter()
        .filter(|p| p["topic"] == quiet.as_str())
        .collect();
    assert_eq!(quiet_parts.len(), 2, "{find}");
    assert!(quiet_parts.iter().all(|p| p["tail_count"] == 0), "{find}");

    // 4. Applications cannot write to dc1; the forward flow stays stopped.
    let e = try_produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records("late", 1, 6),
    )
    .expect_err("app could write to dc1 after failback");
    assert!(e.to_lowercase().contains("authoriz"), "{e}");
    let fwd = block_on(connect_client(lab, "dc2").status(FORWARD_CONNECTORS[0])).expect("status");
    assert_eq!(
        fwd.connector_state,
        kafka_dr::connect::ConnectorState::Stopped,
        "{}",
        fwd.summary()
    );

    let qout = &step(&run, "tail-quarantine")["output"];
    println!(
        "FAILBACK FIGURES: tail {} records in {} partitions (quiet: 0), quarantine {} records, {} file bytes in {} s ({} records/s, {} MB/s); run wall incl. two crashes and resumes {:.1} s; steps: {}",
        manifest.records,
        manifest.partitions.len(),
        qout["records"],
        qout["file_bytes"],
        qout["seconds"],
        qout["records_per_second"],
        qout["mb_per_second"],
        wall.as_secs_f64(),
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{} x{}", s["step_id"].as_str().unwrap_or("?"), s["attempts"]))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
