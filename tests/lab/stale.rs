//! Issue 9, cases 5 ("stale syncs") and 10 ("honest figures") on the real lab.
//!
//! Each test: a one-partition topic on dc1 with 500 records mirrored to dc2 (identity
//! policy: same name, same offsets), groups committed on dc1, `deltas record`; then
//! something that makes the journal's offset syncs or positions stale (the topic
//! deleted and created again on dc1 or on dc2), or the group consumes on after the last
//! recording; then dc1 dies and `failover promote` runs from the journal. The tests
//! kill dc1 and stop or disturb the shared MM2 flow: `exclusive()` (its guard brings dc1
//! back and heals MM2), and a `Cleanup` that lifts this sandbox's fences.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;

const T: Duration = Duration::from_secs(10);

/// Lifts this sandbox's fences (dc1 back first) whatever the test did, before the
/// `exclusive()` guard heals MM2: a fenced topic would fail MM2's tasks.
struct Cleanup<'a>(&'a Sandbox);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(kafka_lab())
            .args(["start", "dc1"])
            .status();
        for fence in ["replication-into-backup", "app-writes"] {
            let _ = self
                .0
                .run(&["--yes", "fence", "lift", fence, "--cluster", "dc2"]);
        }
    }
}

/// Commit `group` at `offset` on partition 0 of `topic` on dc1 (as the applications do).
fn commit_on_dc1(lab: &Lab, group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = lab
        .client_config("dc1", Principal::App)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("partition");
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit on dc1");
}

fn committed_on_dc2(lab: &Lab, group: &str, topic: &str) -> Option<i64> {
    kdr_client(lab, "dc2")
        .committed_offsets(group, T)
        .expect("committed offsets on dc2")
        .into_iter()
        .find(|(t, p, _, _)| t == topic && *p == 0)
        .map(|(_, _, o, _)| o)
}

/// Wait until dc2 holds at least `n` records of `topic`; returns them.
fn wait_dc2(lab: &Lab, topic: &str, n: usize) -> Vec<Rec> {
    wait_for(
        &format!("{n} records of `{topic}` on dc2"),
        Duration::from_secs(120),
        || {
            let recs = read_all(lab, "dc2", topic);
            (recs.len() >= n).then_some(recs)
        },
    )
}

/// The dc2 offset right after the copy of `last` (a dc1 record), if there is one copy.
fn after_twin(dc2: &[Rec], last: &Rec) -> i64 {
    let twins: Vec<i64> = dc2
        .iter()
        .filter(|r| r.same_content(last))
        .map(|r| r.offset)
        .collect();
    assert_eq!(twins.len(), 1, "one copy of the record on dc2: {twins:?}");
    twins[0] + 1
}

/// The set-up every test starts from: `topic` with 500 records on both sides, the
/// app-writes guard on dc2, `group` at `at` and the syncs recorded. Returns dc1's
/// records.
fn mirrored_and_recorded(sb: &Sandbox, topic: &str, groups: &[(&str, i64)]) -> Vec<Rec> {
    let lab = sb.lab;
    create_topic(lab, "dc1", topic, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        topic,
        &make_records(topic, 500, 1),
    );
    wait_dc2(lab, topic, 500);
    for (g, at) in groups {
        commit_on_dc1(lab, g, topic, *at);
    }
    // MM2 emits the syncs of the last records at its next offset flush (5 s in the lab).
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["--yes", "fence", "apply", "app-writes", "--cluster", "dc2"]);
    sb.ok(&["deltas", "record"]);
    read_all(lab, "dc1", topic)
}

fn delete_and_create(lab: &Lab, dc: &str, topic: &str) {
    let c = kdr_client(lab, dc);
    let before = c.topic_ids(&[topic.to_string()], T).expect("topic ids");
    assert!(c.delete_topic(topic, T).expect("delete topic"));
    wait_for(
        &format!("`{topic}` gone from {dc}"),
        Duration::from_secs(60),
        || {
            c.topic_ids(&[topic.to_string()], T)
                .ok()
                .filter(|ids| ids.is_empty())
        },
    );
    create_topic(lab, dc, topic, 1);
    let after = wait_for(
        &format!("`{topic}` again on {dc}"),
        Duration::from_secs(60),
        || {
            c.topic_ids(&[topic.to_string()], T)
                .ok()
                .filter(|ids| !ids.is_empty())
        },
    );
    assert_ne!(before, after, "a new incarnation has a new topic id");
}

fn failover(sb: &Sandbox) -> (serde_json::Value, Output) {
    lab_cmd(&["kill", "dc1"]);
    let out = sb.run(&["--yes", "--output", "json", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");
    (out.json(), out)
}

fn translated<'v>(v: &'v serde_json::Value, group: &str) -> &'v serde_json::Value {
    v["run"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|st| st["action"] == "groups.translate")
        .expect("translate step")["output"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .find(|p| p["group"] == group)
        .unwrap_or_else(|| panic!("group `{group}` not translated: {v}"))
}

/// The lines of kafka-dr's output that say what was discarded or ignored, and why.
fn stale_lines(out: &Output) -> String {
    out.stderr
        .lines()
        .chain(out.stdout.lines())
        .filter(|l| l.contains("older incarnation") || l.contains("not used"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn group_summary<'v>(v: &'v serde_json::Value, group: &str) -> &'v serde_json::Value {
    v["failover"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == group)
        .unwrap_or_else(|| panic!("group `{group}` not in the report: {v}"))
}

/// Case 5, the source side: the topic is deleted on dc1 and created again (a new
/// incarnation, offsets from 0), MM2 copies the new records after the old ones on dc2
/// (500..), G consumes 50 of them and commits, `deltas record` runs again; H never
/// commits on the new incarnation, so its latest recorded position (137) is the old
/// one's. The journal then holds syncs of both incarnations for the same partition.
#[test]
fn a_topic_recreated_on_the_primary_uses_only_the_new_incarnations_syncs() {
    let _g = exclusive();
    let sb = Sandbox::new("stale-src");
    let _c = Cleanup(&sb);
    let lab = sb.lab;
    let topic = sb.name("orders");
    let (g, h) = (sb.name("g"), sb.name("h"));
    mirrored_and_recorded(&sb, &topic, &[(&g, 300), (&h, 137)]);

    delete_and_create(lab, "dc1", &topic);
    let seed = format!("{topic}-new");
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&seed, 300, 1),
    );
    let dc2 = wait_dc2(lab, &topic, 800);
    let dc1 = read_all(lab, "dc1", &topic);
    assert_eq!(dc1.len(), 300, "the new incarnation on dc1");
    commit_on_dc1(lab, &g, &topic, 50);
    std::thread::sleep(Duration::from_secs(8));
    // Issue 14: `check` finds the recreation against the ids the journal recorded.
    let checked = sb.run(&["--output", "json", "check"]).json();
    let subject = format!("topic {topic} on dc1");
    let p = checked["problems"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["subject"] == subject.as_str()))
        .unwrap_or_else(|| panic!("check says nothing of the recreated {topic}: {checked:#}"));
    assert_eq!(p["severity"], "warning", "{p}");
    assert!(
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("deleted and created again")),
        "{p}"
    );
    let rec = sb.ok(&["deltas", "record"]);
    assert!(
        rec.stderr
            .contains("was deleted and created again since the last recording"),
        "deltas record must say the topic was recreated: {}",
        rec.stderr
    );

    let (v, out) = failover(&sb);
    // G consumed records 0..50 of the new incarnation: it resumes right after the copy
    // of record 49, wherever MM2 put it on dc2.
    let want_g = after_twin(&dc2, &dc1[49]);
    let got_g = committed_on_dc2(lab, &g, &topic);
    let tg = translated(&v, &g);
    assert_eq!(
        got_g,
        Some(want_g),
        "G: committed {got_g:?} on dc2, the record after its last consumed one is at {want_g} \
         (lower = duplicates, higher = skipped): {tg}\n{}",
        out.stderr
    );
    // H's position belongs to the old incarnation: ignored, and said so; H starts at the
    // first copy of the current incarnation (nothing of it consumed), not past it.
    let want_h = after_twin(&dc2, &dc1[0]) - 1;
    let got_h = committed_on_dc2(lab, &h, &topic);
    let th = translated(&v, &h);
    assert!(
        got_h.is_some_and(|o| o <= want_h),
        "H: committed {got_h:?} on dc2; the current incarnation's first record is at {want_h}, \
         a later offset skips records H never read: {th}"
    );
    let said = format!("{}{}", v["run"], out.stderr);
    assert!(
        said.contains("older incarnation"),
        "the report must say H's position was for an older incarnation:\n{said}"
    );
    println!(
        "STALE SOURCE: G committed {got_g:?} (want {want_g}), H committed {got_h:?} (first copy of the new incarnation at {want_h}); G: {tg}; H: {th}; deltas: {}\nthe operator reads:\n{}",
        rec.stderr.trim(),
        stale_lines(&out)
    );
}

/// Case 5, the target side: after the recording, the topic is deleted on dc2 and
/// created again; MM2 copies the next 300 records of dc1 (500..800) into it from offset
/// 0. G consumes on to 650 and `deltas record` runs again. H stays at 137: the syncs
/// below 500 now describe a log dc2 no longer has (offset 101 of the old copy is not
/// offset 101 of the new one).
#[test]
fn a_topic_recreated_on_the_backup_ignores_the_old_copys_syncs() {
    let _g = exclusive();
    let sb = Sandbox::new("stale-tgt");
    let _c = Cleanup(&sb);
    let lab = sb.lab;
    let topic = sb.name("orders");
    let (g, h) = (sb.name("g"), sb.name("h"));
    mirrored_and_recorded(&sb, &topic, &[(&g, 300), (&h, 137)]);

    delete_and_create(lab, "dc2", &topic);
    let seed = format!("{topic}-more");
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&seed, 300, 1),
    );
    let dc2 = wait_dc2(lab, &topic, 300);
    let dc1 = read_all(lab, "dc1", &topic);
    assert_eq!(dc1.len(), 800);
    commit_on_dc1(lab, &g, &topic, 650);
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["deltas", "record"]);

    let (v, out) = failover(&sb);
    let want_g = after_twin(&dc2, &dc1[649]);
    let got_g = committed_on_dc2(lab, &g, &topic);
    assert_eq!(got_g, Some(want_g), "G: {}", translated(&v, &g));
    // Everything H had not consumed that dc2 still holds is at or after the new copy's
    // first record: H must start there (offset 0 of the new copy), not at 101.
    let first_unconsumed = dc2
        .iter()
        .filter(|r| dc1.iter().any(|x| x.offset >= 137 && x.same_content(r)))
        .map(|r| r.offset)
        .min()
        .expect("unconsumed records on dc2");
    let got_h = committed_on_dc2(lab, &h, &topic);
    let th = translated(&v, &h);
    assert!(
        got_h.is_some_and(|o| o <= first_unconsumed),
        "H: committed {got_h:?} on dc2; its first unconsumed record there is at {first_unconsumed}: \
         records skipped ({th})\n{}",
        out.stderr
    );
    let said = format!("{}{}", v["run"], out.stderr);
    assert!(
        said.contains("older incarnation"),
        "the report must say which syncs were discarded and why:\n{said}"
    );
    println!(
        "STALE TARGET: G committed {got_g:?} (want {want_g}), H committed {got_h:?} (first unconsumed at {first_unconsumed}); H: {th}\nthe operator reads:\n{}",
        stale_lines(&out)
    );
}

/// Case 10: the group consumes on after the last `deltas record` (137 -> 400) and dc1
/// dies before another recording (MM2's checkpoints are stopped, so they cannot tell
/// either). Resuming at the recorded position re-delivers the 263 records consumed
/// since: the report's worst case must include them, and the translation is not
/// "exact" (it is exact for the recorded position only).
#[test]
fn duplicates_include_what_the_group_consumed_after_the_last_recording() {
    let _g = exclusive();
    let sb = Sandbox::new("stale-dup");
    let _c = Cleanup(&sb);
    let lab = sb.lab;
    let topic = sb.name("orders");
    let g = sb.name("g");
    let dc1 = mirrored_and_recorded(&sb, &topic, &[(&g, 137)]);
    let connect = connect_client(lab, "dc2");
    block_on(connect.stop("mm2-dc1-dc2-checkpoint")).expect("stop the checkpoint connector");
    // Stopped for good (its tasks gone), so no checkpoint tells of the move either.
    wait_for(
        "the checkpoint connector stopped",
        Duration::from_secs(60),
        || {
            block_on(connect.status("mm2-dc1-dc2-checkpoint"))
                .ok()
                .filter(|s| {
                    s.connector_state == kafka_dr::connect::ConnectorState::Stopped
                        && s.tasks.is_empty()
                })
        },
    );
    std::thread::sleep(Duration::from_secs(6));
    commit_on_dc1(lab, &g, &topic, 400);

    let (v, out) = failover(&sb);
    let dc2 = read_all(lab, "dc2", &topic);
    let committed = committed_on_dc2(lab, &g, &topic).expect("committed on dc2");
    // The records G will read again: from the committed offset up to the copy of 399.
    let truth = after_twin(&dc2, &dc1[399]) - committed;
    let s = group_summary(&v, &g);
    let p = translated(&v, &g);
    assert_eq!(
        p["position_source"], "journal",
        "no fresher source should know of the move: {p}"
    );
    assert!(
        truth >= 263,
        "G resumes at {committed}: {truth} re-delivered"
    );
    let worst = s["worst_case_duplicates"].as_i64();
    assert!(
        worst.is_none_or(|w| w >= truth),
        "G will see {truth} record(s) again; the report says at most {worst:?}: {s}"
    );
    assert_eq!(
        s["exact"], 0,
        "a position recorded before the disaster is not proven exact: {s}"
    );
    let mut figures = BTreeMap::new();
    figures.insert("committed", committed);
    figures.insert("truth", truth);
    println!(
        "HONEST DUPLICATES: {figures:?}, report: {s}, position: {}; the operator reads: {}",
        translated(&v, &g),
        out.stderr
            .lines()
            .filter(|l| l.contains("duplicate"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
