//! Issue 16 on the real lab: the failover and failback of the existing tests on the MM2
//! shapes other than identity-on-Connect. These tests need a lab started in that shape
//! (`KAFKA_LAB_SHAPE=prefix lab/kafka-lab up`): `scripts/test` runs them in a phase of
//! their own and skips them on the identity lab.
//!
//! The prefix shape (DefaultReplicationPolicy): dc1's `T` arrives on dc2 as `dc1.T`.
//! The scenario is the failover tests' one, smaller (the code paths are the same: 1,200
//! records instead of 10,000, a 30-record tail instead of 300): a 3-partition topic on
//! dc1, group G committed at uneven positions between MM2's sync points, `deltas
//! record`, the forward source connector stopped and 30 records written to dc1 only,
//! then dc1 killed. After the promotion, applications write to their local `T` on dc2
//! (and read `dc1.T` too); when dc1 returns, `failback reverse` either quarantines and
//! removes the tail or delivers it late into `dc1.T`, and the reverse flow copies dc2's
//! `T` into dc1 as `dc2.T`, from the exact start.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;
use crate::failover::Scenario;
use crate::reverse::{sandbox_with_reverse_names, DeleteConnectors};
use crate::tail::{check_manifest, marks};

const T: Duration = Duration::from_secs(10);
const PARTITIONS: i32 = 3;
const RECORDS: usize = 1_200;
const TAIL: usize = 30;
/// Uneven committed positions, between MM2's sync points (about every 100 records).
const POSITIONS: [i64; 3] = [137, 211, 290];
/// Records applications write to their local topic on dc2 after the promotion.
const ON_DC2: usize = 200;

fn prefix_lab() -> &'static Lab {
    let lab = lab();
    assert_eq!(
        lab.shape(),
        "prefix",
        "these tests need the prefix-shape lab (KAFKA_LAB_SHAPE=prefix): scripts/test runs them in a phase of their own"
    );
    lab
}

fn dedicated_lab() -> &'static Lab {
    let lab = lab();
    assert_eq!(
        lab.shape(),
        "dedicated",
        "these tests need the dedicated-shape lab (KAFKA_LAB_SHAPE=dedicated): scripts/test runs them in a phase of their own"
    );
    lab
}

/// The failover scenario on the prefix shape, up to and including `kill dc1`.
fn prefix_scenario(tag: &str) -> (Scenario, [String; 3], DeleteConnectors) {
    let lab = prefix_lab();
    let (sb, names) = sandbox_with_reverse_names(tag);
    let delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let s = scenario_on(sb, || {
        block_on(connect_client(lab, "dc2").stop(FORWARD_CONNECTORS[0])).expect("stop source")
    });
    (s, names, delete)
}

/// The failover scenario on the dedicated shape, up to and including `kill dc1`: the
/// forward MM2 is stopped as its host would stop it (`kafka-lab mm2 stop forward`).
fn dedicated_scenario_in(sb: Sandbox) -> Scenario {
    dedicated_lab();
    scenario_on(sb, || lab_cmd(&["mm2", "stop", "forward"]))
}

/// The scenario on any shape: records mirrored, G committed at uneven positions, the
/// deltas recorded, then the forward flow stopped (`stop_forward`), a tail written to dc1
/// only, and dc1 killed.
fn scenario_on(sb: Sandbox, stop_forward: impl FnOnce()) -> Scenario {
    let lab = sb.lab;
    let topic = sb.name("orders");
    let group = sb.name("billing");
    let replica = lab.replica("dc1", &topic);
    create_topic(lab, "dc1", &topic, PARTITIONS);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, RECORDS, PARTITIONS),
    );
    wait_for(
        &format!("{RECORDS} records in `{replica}` on dc2"),
        Duration::from_secs(120),
        || {
            (crate::smoke::topic_exists(lab, "dc2", &replica)
                && read_all(lab, "dc2", &replica).len() >= RECORDS)
                .then_some(())
        },
    );
    let consumer: BaseConsumer = lab
        .client_config("dc1", Principal::App)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (p, pos) in POSITIONS.iter().enumerate() {
        tpl.add_partition_offset(&topic, p as i32, Offset::Offset(*pos))
            .unwrap();
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit on dc1");
    drop(consumer);
    // MM2 emits the syncs of the last records at its next offset flush (5 s in the lab).
    std::thread::sleep(Duration::from_secs(7));
    sb.ok(&["--yes", "fence", "apply", "app-writes", "--cluster", "dc2"]);
    sb.ok(&["deltas", "record"]);
    stop_forward();
    std::thread::sleep(Duration::from_secs(3));
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-tail"), TAIL, PARTITIONS),
    );
    let dc1 = read_all(lab, "dc1", &topic);
    assert_eq!(dc1.len(), RECORDS + TAIL);
    lab_cmd(&["kill", "dc1"]);
    Scenario {
        sb,
        topic,
        group,
        dc1,
        quiet: None,
        extras: Vec::new(),
    }
}

fn committed(lab: &Lab, dc: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    kdr_client(lab, dc)
        .committed_offsets(group, T)
        .expect("committed offsets")
        .into_iter()
        .filter(|(t, _, _, _)| t == topic)
        .map(|(_, p, o, _)| (p, o))
        .collect()
}

fn is_tail(s: &Scenario, r: &Rec) -> bool {
    r.key
        .as_deref()
        .is_some_and(|k| k.starts_with(format!("{}-tail-", s.topic).as_bytes()))
}

/// Promote dc2 and check the outcome a user cares about: G's committed offsets on
/// `dc1.T` sit right after the twin of the last record G consumed on dc1 (no loss, no
/// duplicate), the mirror principal is fenced off `dc1.T`, applications write to dc2.
/// Returns the report and the promotion cut of `dc1.T`.
fn promote_and_check(s: &Scenario) -> (serde_json::Value, BTreeMap<i32, i64>, Duration) {
    let lab = s.sb.lab;
    let replica = lab.replica("dc1", &s.topic);
    let started = Instant::now();
    let out =
        s.sb.run(&["--yes", "--output", "json", "failover", "promote"]);
    let wall = started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    let dc2 = read_all(lab, "dc2", &replica);
    assert_eq!(
        dc2.len(),
        RECORDS,
        "`{replica}` on dc2 holds what was mirrored"
    );
    let got = committed(lab, "dc2", &s.group, &replica);
    for (p, pos) in POSITIONS.iter().enumerate() {
        let p = p as i32;
        let last = s
            .dc1
            .iter()
            .find(|r| r.partition == p && r.offset == pos - 1)
            .expect("G's last consumed record on dc1");
        let twin = dc2
            .iter()
            .find(|r| r.same_content(last))
            .expect("its twin in dc1.T on dc2");
        assert_eq!(
            got.get(&p).copied(),
            Some(twin.offset + 1),
            "partition {p}: G's committed offset on `{replica}` (lower = duplicates, higher = loss): {got:?}"
        );
        // Reading on from there gives exactly G's unconsumed, replicated records.
        let read: Vec<&Rec> = dc2
            .iter()
            .filter(|r| r.partition == p && r.offset >= got[&p])
            .collect();
        let want: Vec<&Rec> = s
            .dc1
            .iter()
            .filter(|r| r.partition == p && r.offset >= *pos && !is_tail(s, r))
            .collect();
        assert_eq!(read.len(), want.len(), "partition {p}: duplicates or gaps");
        assert!(read.iter().zip(&want).all(|(a, b)| a.same_content(b)));
    }
    // Nothing was committed under dc1's own name on dc2 (that topic is the applications'
    // local one there).
    assert!(
        replica == s.topic || committed(lab, "dc2", &s.group, &s.topic).is_empty(),
        "G was committed on `{}` on dc2: the prefix policy's name is `{replica}`",
        s.topic
    );
    let e = try_produce(
        lab,
        "dc2",
        Principal::Mirror,
        &replica,
        &make_records("mirror", 1, PARTITIONS),
    )
    .expect_err("User:mirror could still write into dc1.T on dc2 after failover");
    assert!(e.to_lowercase().contains("authoriz"), "{e}");
    let cut: BTreeMap<i32, i64> = marks(lab, "dc2", &replica, PARTITIONS)
        .into_iter()
        .map(|(p, (_, end))| (p, end))
        .collect();
    (v, cut, wall)
}

/// Life on dc2 during the outage: applications write to their local `T` (new there on
/// the prefix shape; the replica itself on the identity policy). Returns the records
/// written on dc2.
fn live_on_dc2(s: &Scenario) -> Vec<Rec> {
    let lab = s.sb.lab;
    let identity = lab.replica("dc1", &s.topic) == s.topic;
    if !identity {
        create_topic(lab, "dc2", &s.topic, PARTITIONS);
    }
    let tag = format!("{}-dc2", s.topic);
    let recs = make_records(&tag, ON_DC2, PARTITIONS);
    produce(lab, "dc2", Principal::App, &s.topic, &recs);
    read_all(lab, "dc2", &s.topic)
        .into_iter()
        .filter(|r| {
            r.key
                .as_deref()
                .is_some_and(|k| k.starts_with(format!("{tag}-").as_bytes()))
        })
        .collect()
}

/// dc1 holds dc2's local records in `dc2.T`, by partition, in order, once each, and no
/// replica of dc2's `dc1.T` came back (MM2's cycle rule).
fn assert_reverse_copied(s: &Scenario, dc2_local: &[Rec]) {
    let lab = s.sb.lab;
    let back = lab.replica("dc2", &s.topic);
    let identity = back == s.topic;
    let got = wait_for(
        &format!("{ON_DC2} records in `{back}` on dc1"),
        Duration::from_secs(120),
        || {
            (crate::smoke::topic_exists(lab, "dc1", &back)
                && read_all(lab, "dc1", &back).len() >= ON_DC2)
                .then_some(read_all(lab, "dc1", &back))
        },
    );
    // Identity policy: dc1's `T` was cut at its log end, so all it serves now is what the
    // reverse flow copied; the copies land after the old log end, at other offsets.
    assert_eq!(
        got.len(),
        ON_DC2,
        "`{back}` on dc1 holds more than dc2's records"
    );
    for p in 0..PARTITIONS {
        let w: Vec<&Rec> = dc2_local.iter().filter(|r| r.partition == p).collect();
        let g: Vec<&Rec> = got.iter().filter(|r| r.partition == p).collect();
        assert_eq!(g.len(), w.len(), "`{back}` partition {p}");
        for (a, b) in g.iter().zip(&w) {
            assert!(
                a.same_content(b),
                "`{back}` partition {p}: order or content"
            );
            if !identity {
                assert_eq!(a.offset, b.offset, "`{back}` partition {p}: offsets");
            }
        }
    }
    if identity {
        return;
    }
    let cycled = format!("dc2.{}", lab.replica("dc1", &s.topic));
    assert!(
        !crate::smoke::topic_exists(lab, "dc1", &cycled),
        "`{cycled}` exists on dc1: dc2's replica of dc1 went round"
    );
}

/// Issue 16: failover, then failback with the tail quarantined and removed, on the
/// prefix shape.
#[test]
fn prefix_failover_then_failback_quarantines_the_tail() {
    let _g = exclusive();
    let started = Instant::now();
    let (s, names, _delete) = prefix_scenario("pfx-q");
    let lab = s.sb.lab;
    let (v, cut, wall) = promote_and_check(&s);
    let tail: Vec<Rec> = s.dc1.iter().filter(|r| is_tail(&s, r)).cloned().collect();
    assert_eq!(tail.len(), TAIL);
    let dc2_local = live_on_dc2(&s);
    lab_cmd(&["start", "dc1"]);

    // --dry-run: says what it would do, changes nothing on either cluster.
    let dc1_marks = marks(lab, "dc1", &s.topic, PARTITIONS);
    let dry = s.sb.run(&["--yes", "--dry-run", "failback", "reverse"]);
    assert_eq!(dry.code, Some(0), "{dry}");
    let text = format!("{}{}", dry.stdout, dry.stderr);
    for (p, c) in &cut {
        let n = tail.iter().filter(|r| r.partition == *p).count();
        let want = format!("Tail `{}`[{p}] on `dc1`: {n} record(s)", s.topic);
        assert!(text.contains(&want), "{want} in:\n{text}");
        let _ = c;
    }
    assert_eq!(
        marks(lab, "dc1", &s.topic, PARTITIONS),
        dc1_marks,
        "--dry-run changed dc1"
    );
    let c1 = connect_client(lab, "dc1");
    for n in &names {
        assert!(
            !block_on(c1.exists(n)).expect("connect"),
            "--dry-run created {n}"
        );
    }

    let fb_started = Instant::now();
    let out =
        s.sb.run(&["--yes", "--output", "json", "failback", "reverse"]);
    let fb_wall = fb_started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let fb = out.json();

    // The quarantine holds exactly the tail, and dc1's `T` no longer serves it.
    let shown = s.sb.ok(&["--output", "json", "tail", "show"]).json();
    let manifest: kafka_dr::actions::quarantine_file::Manifest =
        serde_json::from_value(shown["manifest"].clone()).expect("manifest");
    check_manifest(&manifest);
    assert_eq!(manifest.records as usize, TAIL, "{shown:#}");
    let q = crate::tail::quarantined(shown["path"].as_str().expect("path"));
    let keys: BTreeSet<(i32, i64)> = q.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(keys.len(), TAIL, "a record was quarantined twice");
    for r in &q {
        let orig = tail
            .iter()
            .find(|t| t.partition == r.partition && t.offset == r.offset)
            .unwrap_or_else(|| panic!("quarantined a record outside the tail: {r:?}"));
        assert!(orig.same_content(r));
    }
    let dc1_now = read_all(lab, "dc1", &s.topic);
    assert!(
        dc1_now.iter().all(|r| !is_tail(&s, r)),
        "a tail record is still readable in dc1's `{}`",
        s.topic
    );
    // The tail never reached dc2.
    assert_eq!(
        read_all(lab, "dc2", &lab.replica("dc1", &s.topic)).len(),
        RECORDS
    );
    assert_reverse_copied(&s, &dc2_local);
    println!(
        "PREFIX FIGURES (quarantine): failover RTO {} ms (wall {:.1} s), groups {}; failback RTO {} ms (wall {:.1} s), tail {} quarantined; test {:.1} s",
        v["failover"]["rto_ms"],
        wall.as_secs_f64(),
        v["failover"]["groups"],
        fb["failback"]["rto_ms"],
        fb_wall.as_secs_f64(),
        manifest.records,
        started.elapsed().as_secs_f64()
    );
}

/// Issue 16: failover, then failback with the tail delivered late (`--tail deliver`) on
/// the prefix shape: the 30 records reach `dc1.T` on dc2 once, right after the cut, where
/// G reads them next; dc1 keeps its topic whole; the reverse flow still copies exactly.
#[test]
fn prefix_failover_then_failback_delivers_the_tail_late() {
    let _g = exclusive();
    let started = Instant::now();
    let (s, names, _delete) = prefix_scenario("pfx-d");
    let lab = s.sb.lab;
    let replica = lab.replica("dc1", &s.topic);
    let (v, cut, wall) = promote_and_check(&s);
    let tail: Vec<Rec> = s.dc1.iter().filter(|r| is_tail(&s, r)).cloned().collect();
    assert_eq!(tail.len(), TAIL);
    let dc2_local = live_on_dc2(&s);
    let g_before = committed(lab, "dc2", &s.group, &replica);
    lab_cmd(&["start", "dc1"]);

    // --dry-run says where each partition's tail would land and changes nothing.
    let dc1_marks = marks(lab, "dc1", &s.topic, PARTITIONS);
    let dc2_marks = marks(lab, "dc2", &replica, PARTITIONS);
    let dry = s.sb.run(&[
        "--yes",
        "--dry-run",
        "failback",
        "reverse",
        "--tail",
        "deliver",
    ]);
    assert_eq!(dry.code, Some(0), "{dry}");
    let text = format!("{}{}", dry.stdout, dry.stderr);
    for (p, c) in &cut {
        let n = tail.iter().filter(|r| r.partition == *p).count();
        let want = format!("append {n} tail record(s) of `{}`[{p}]", s.topic);
        assert!(text.contains(&want), "{want} in:\n{text}");
        let at = format!("to `{replica}`[{p}] from offset {c}");
        assert!(text.contains(&at), "{at} in:\n{text}");
    }
    assert_eq!(
        marks(lab, "dc1", &s.topic, PARTITIONS),
        dc1_marks,
        "--dry-run changed dc1"
    );
    assert_eq!(
        marks(lab, "dc2", &replica, PARTITIONS),
        dc2_marks,
        "--dry-run changed dc2"
    );
    let c1 = connect_client(lab, "dc1");
    for n in &names {
        assert!(
            !block_on(c1.exists(n)).expect("connect"),
            "--dry-run created {n}"
        );
    }

    let fb_started = Instant::now();
    let out = s.sb.run(&[
        "--yes", "--output", "json", "failback", "reverse", "--tail", "deliver",
    ]);
    let fb_wall = fb_started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let fb = out.json();

    // Each partition's tail sits in `dc1.T` right after the cut, in order, once.
    let dc2_now = read_all(lab, "dc2", &replica);
    assert_eq!(dc2_now.len(), RECORDS + TAIL, "`{replica}` on dc2");
    for (p, c) in &cut {
        let got: Vec<&Rec> = dc2_now
            .iter()
            .filter(|r| r.partition == *p && r.offset >= *c)
            .collect();
        let want: Vec<&Rec> = tail.iter().filter(|r| r.partition == *p).collect();
        assert_eq!(
            got.len(),
            want.len(),
            "partition {p}: tail records delivered"
        );
        for (a, b) in got.iter().zip(&want) {
            assert!(
                a.same_content(b),
                "partition {p}: order or content: {a:?} vs {b:?}"
            );
        }
    }
    // G's offsets were not moved: it reads on, and gets its unconsumed records then the
    // tail, each once.
    assert_eq!(committed(lab, "dc2", &s.group, &replica), g_before);
    for (p, pos) in POSITIONS.iter().enumerate() {
        let p = p as i32;
        let read: Vec<&Rec> = dc2_now
            .iter()
            .filter(|r| r.partition == p && r.offset >= g_before[&p])
            .collect();
        let want: Vec<&Rec> = s
            .dc1
            .iter()
            .filter(|r| r.partition == p && r.offset >= *pos)
            .collect();
        assert_eq!(read.len(), want.len(), "partition {p}: G's records on dc2");
        assert!(read.iter().zip(&want).all(|(a, b)| a.same_content(b)));
    }
    // dc1 keeps its topic whole; the audit copy holds the tail.
    assert_eq!(
        marks(lab, "dc1", &s.topic, PARTITIONS),
        dc1_marks,
        "dc1's `{}` changed",
        s.topic
    );
    let shown = s.sb.ok(&["--output", "json", "tail", "show"]).json();
    assert_eq!(shown["manifest"]["records"], TAIL as u64, "{shown:#}");
    assert_reverse_copied(&s, &dc2_local);

    // Resuming or re-running delivers nothing twice.
    let again = s.sb.run(&[
        "--yes",
        "--dry-run",
        "failback",
        "reverse",
        "--tail",
        "deliver",
    ]);
    let again_text = format!("{}{}", again.stdout, again.stderr);
    for p in 0..PARTITIONS {
        let n = tail.iter().filter(|r| r.partition == p).count();
        let want = format!("`{replica}`[{p}] on `dc2` already holds the {n} tail record(s)");
        assert!(again_text.contains(&want), "{want} in:\n{again_text}");
    }
    assert!(
        !again_text
            .lines()
            .any(|l| l.contains("append ") && l.contains("tail record(s) of `")),
        "a second failback would deliver again:\n{again_text}"
    );
    assert_eq!(read_all(lab, "dc2", &replica).len(), RECORDS + TAIL);
    println!(
        "PREFIX FIGURES (deliver): failover RTO {} ms (wall {:.1} s), groups {}; failback RTO {} ms (wall {:.1} s), tail {} delivered late; test {:.1} s",
        v["failover"]["rto_ms"],
        wall.as_secs_f64(),
        v["failover"]["groups"],
        fb["failback"]["rto_ms"],
        fb_wall.as_secs_f64(),
        TAIL,
        started.elapsed().as_secs_f64()
    );
}

/// Issue 16: failover, then failback with the tail quarantined and removed, on MM2
/// dedicated mode: no Connect REST; the topology's hooks stop and start each flow, and
/// kafka-dr seeds the reverse flow by writing its source offsets into
/// `mm2-offsets.dc2.internal` on dc1, in the bytes and partitions MM2 itself uses.
#[test]
fn dedicated_failover_then_failback_quarantines_the_tail() {
    let _g = exclusive();
    let _heal = HealDedicated;
    let started = Instant::now();
    let sb = Sandbox::new("ded-q");
    // `check` explains the shape, and reads the forward flow's positions from its offsets
    // topic (no Connect to ask): the lag is measured from MM2's own offsets.
    let topic = sb.name("probe");
    create_topic(sb.lab, "dc1", &topic, PARTITIONS);
    produce(
        sb.lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 30, PARTITIONS),
    );
    let checked = wait_for(
        "check to measure the lag from MM2's offsets",
        Duration::from_secs(60),
        || {
            let v = sb.run(&["--output", "json", "check"]).json();
            let measured = v["lag"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|p| p["topic"] == topic.as_str() && p["method"] == "mm2-offsets")
            });
            measured.then_some(v)
        },
    );
    assert_eq!(checked["shape"]["mode"], "dedicated", "{checked:#}");
    let shape_text = checked["shape"]["failback"].as_str().unwrap_or_default();
    assert!(
        shape_text.contains("mm2-offsets.dc2.internal") && shape_text.contains("mm2 start reverse"),
        "{checked:#}"
    );
    let s = dedicated_scenario_in(sb);
    let lab = s.sb.lab;
    let (v, _cut, wall) = promote_and_check(&s);
    let tail: Vec<Rec> = s.dc1.iter().filter(|r| is_tail(&s, r)).cloned().collect();
    assert_eq!(tail.len(), TAIL);
    let dc2_local = live_on_dc2(&s);
    assert_eq!(dc2_local.len(), ON_DC2);
    lab_cmd(&["start", "dc1"]);

    // --dry-run: says what it would do, changes nothing on either cluster (no offsets
    // topic for the reverse flow, no reverse MM2 started).
    let offsets_topic = "mm2-offsets.dc2.internal";
    let had_offsets = read_all_if_exists(lab, "dc1", offsets_topic);
    let dc1_marks = marks(lab, "dc1", &s.topic, PARTITIONS);
    let dry = s.sb.run(&["--yes", "--dry-run", "failback", "reverse"]);
    assert_eq!(dry.code, Some(0), "{dry}");
    let text = format!("{}{}", dry.stdout, dry.stderr);
    for p in 0..PARTITIONS {
        let n = tail.iter().filter(|r| r.partition == p).count();
        let want = format!("Tail `{}`[{p}] on `dc1`: {n} record(s)", s.topic);
        assert!(text.contains(&want), "{want} in:\n{text}");
    }
    assert!(
        text.contains("start the reverse flow's MM2") && text.contains("mm2 start reverse"),
        "the plan names the start hook:\n{text}"
    );
    assert_eq!(
        marks(lab, "dc1", &s.topic, PARTITIONS),
        dc1_marks,
        "--dry-run changed dc1"
    );
    assert_eq!(
        read_all_if_exists(lab, "dc1", offsets_topic),
        had_offsets,
        "--dry-run wrote into {offsets_topic}"
    );
    assert!(!mm2_running("reverse"), "--dry-run started the reverse MM2");

    let fb_started = Instant::now();
    let out =
        s.sb.run(&["--yes", "--output", "json", "failback", "reverse"]);
    let fb_wall = fb_started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let fb = out.json();
    assert!(
        mm2_running("reverse"),
        "the start hook did not start the reverse MM2"
    );

    // The quarantine holds exactly the tail, and dc1's `T` no longer serves it.
    let shown = s.sb.ok(&["--output", "json", "tail", "show"]).json();
    let manifest: kafka_dr::actions::quarantine_file::Manifest =
        serde_json::from_value(shown["manifest"].clone()).expect("manifest");
    check_manifest(&manifest);
    assert_eq!(manifest.records as usize, TAIL, "{shown:#}");
    let q = crate::tail::quarantined(shown["path"].as_str().expect("path"));
    let keys: BTreeSet<(i32, i64)> = q.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(keys.len(), TAIL, "a record was quarantined twice");
    for r in &q {
        let orig = tail
            .iter()
            .find(|t| t.partition == r.partition && t.offset == r.offset)
            .unwrap_or_else(|| panic!("quarantined a record outside the tail: {r:?}"));
        assert!(orig.same_content(r));
    }
    // The reverse flow copied dc2's new records into dc1, from the cut, once each.
    assert_reverse_copied(&s, &dc2_local);
    let dc1_now = read_all(lab, "dc1", &s.topic);
    assert!(
        dc1_now.iter().all(|r| !is_tail(&s, r)),
        "a tail record is still readable in dc1's `{}`",
        s.topic
    );
    assert_eq!(
        dc1_now.len(),
        ON_DC2,
        "dc1's `{}` after the failback",
        s.topic
    );

    // MM2's own commits after the start use the very keys and partitions of the seed:
    // one entry per partition of T, each in one offsets-topic partition, now at the
    // copies' positions (a key in another byte form would be a second entry).
    let stored = read_all(lab, "dc1", offsets_topic);
    let mine: Vec<&Rec> = stored
        .iter()
        .filter(|r| {
            r.key.as_deref().is_some_and(|k| {
                std::str::from_utf8(k)
                    .is_ok_and(|k| k.contains(&format!("\"topic\":\"{}\"", s.topic)))
            })
        })
        .collect();
    let distinct: BTreeMap<Vec<u8>, BTreeSet<i32>> =
        mine.iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(r.key.clone().unwrap_or_default())
                .or_default()
                .insert(r.partition);
            m
        });
    assert_eq!(
        distinct.len(),
        PARTITIONS as usize,
        "one key per partition of T: {distinct:?}"
    );
    assert!(
        distinct.values().all(|ps| ps.len() == 1),
        "a key in two partitions: {distinct:?}"
    );
    assert!(
        mine.len() > PARTITIONS as usize,
        "MM2 committed nothing after the seed: {} records",
        mine.len()
    );
    let fb_steps = fb["failback"].clone();
    let step_times: Vec<String> = fb["run"]["steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|st| {
                    format!(
                        "{} {} ms",
                        st["id"].as_str().or(st["step_id"].as_str()).unwrap_or("?"),
                        st["duration_ms"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!("DEDICATED FAILBACK STEPS: {}", step_times.join(", "));
    println!(
        "DEDICATED FIGURES (quarantine): failover RTO {} ms (wall {:.1} s), groups {}; failback RTO {} ms (wall {:.1} s), tail {} quarantined; test {:.1} s",
        v["failover"]["rto_ms"],
        wall.as_secs_f64(),
        v["failover"]["groups"],
        fb_steps["rto_ms"],
        fb_wall.as_secs_f64(),
        manifest.records,
        started.elapsed().as_secs_f64()
    );
}

/// Whether the lab's dedicated MM2 of `flow` runs.
fn mm2_running(flow: &str) -> bool {
    std::process::Command::new(kafka_lab())
        .args(["mm2", "status", flow])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run lab/kafka-lab")
        .success()
}

/// Puts the dedicated lab back as it was, however the test ends: dc1 up, the reverse
/// MM2 stopped, the forward one running.
struct HealDedicated;

impl Drop for HealDedicated {
    fn drop(&mut self) {
        for args in [
            &["start", "dc1"][..],
            &["mm2", "stop", "reverse"],
            &["mm2", "start", "forward"],
        ] {
            let _ = std::process::Command::new(kafka_lab()).args(args).status();
        }
    }
}

fn read_all_if_exists(lab: &Lab, dc: &str, topic: &str) -> Vec<Rec> {
    if crate::smoke::topic_exists(lab, dc, topic) {
        read_all(lab, dc, topic)
    } else {
        Vec::new()
    }
}
