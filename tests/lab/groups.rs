//! `deltas.record`, `groups.translate` and `groups.commit` on the real lab, driven through
//! the library's engine with a sandbox topology (scope: only this test's names).
//!
//! A 6-partition topic on dc1 with 3,000 keyed records, mirrored to dc2 by the lab's MM2;
//! consumer groups commit uneven positions on dc1 that fall between MM2's sync points.
//! Offsets are translated and committed on dc2 while dc1 is up, then again from the
//! journal alone (a second topology whose dc1 bootstrap is a closed port). The committed
//! offsets must make a consumer on dc2 read exactly the records after the last one it
//! consumed on dc1. The figures MM2's own translation would give are printed beside ours.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use kafka_dr::actions::deltas_record::DeltasSummary;
use kafka_dr::actions::groups_translate::{PositionSource, TranslationReport};
use kafka_dr::actions::translation::Method;
use kafka_dr::engine::RunReport;
use kafka_dr::journal::{Journal, RunState};
use kafka_dr::kafka::KafkaClient;
use kafka_dr::topology::Topology;

use crate::common::*;

const T: Duration = Duration::from_secs(10);
const PARTITIONS: i32 = 6;
const RECORDS: usize = 3000;

fn ok(topology: &Topology, journal: &Journal, text: &str) -> RunReport {
    let r =
        run_runbook(topology, journal, text, false).unwrap_or_else(|e| panic!("run failed: {e}"));
    assert_eq!(r.state, RunState::Succeeded);
    r
}

fn translate_commit(groups: Option<&[&str]>, skip_active: bool, timeout: u64) -> String {
    let groups = match groups {
        Some(g) => format!(
            ", groups: [{}]",
            g.iter()
                .map(|g| format!("\"{g}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    format!(
        "name: groups-test\nsteps:\n  - id: translate\n    action: groups.translate\n    params: {{ timeout_seconds: {timeout}{groups} }}\n  - id: commit\n    action: groups.commit\n    params: {{ skip_active: {skip_active} }}\n"
    )
}

/// Commit `positions` (one per partition) for `group` on `dc`.
pub fn commit(lab: &Lab, dc: &str, who: Principal, group: &str, topic: &str, positions: &[i64]) {
    let consumer: BaseConsumer = lab
        .client_config(dc, who)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (p, o) in positions.iter().enumerate() {
        tpl.add_partition_offset(topic, p as i32, Offset::Offset(*o))
            .unwrap();
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .unwrap_or_else(|e| panic!("commit {group} on {dc}: {e}"));
}

/// The committed offsets of `group` on `dc`, by partition.
fn committed(client: &KafkaClient, group: &str) -> BTreeMap<i32, i64> {
    client
        .committed_offsets(group, T)
        .expect("committed offsets")
        .into_iter()
        .map(|(_, p, o, _)| (p, o))
        .collect()
}

type Index = BTreeMap<(i32, i64), Rec>;

fn index(recs: Vec<Rec>) -> Index {
    recs.into_iter()
        .map(|r| ((r.partition, r.offset), r))
        .collect()
}

/// The dc2 offsets in `at` resume exactly after the last record consumed on dc1
/// (`positions`): the record at the dc2 offset is dc1's record at the position, and
/// the one before it is dc1's last consumed record (nothing skipped, nothing again).
fn assert_exact_resume(dc1: &Index, dc2: &Index, positions: &[i64], at: &BTreeMap<i32, i64>) {
    for (p, &c) in positions.iter().enumerate() {
        let p = p as i32;
        let o = at[&p];
        let next_dc1 = &dc1[&(p, c)];
        let next_dc2 = dc2
            .get(&(p, o))
            .unwrap_or_else(|| panic!("partition {p}: no record at dc2 offset {o}"));
        assert!(
            next_dc2.same_content(next_dc1),
            "partition {p}: dc2 offset {o} is not dc1 record {c}:\n dc1 {next_dc1:?}\n dc2 {next_dc2:?}"
        );
        let last_dc1 = &dc1[&(p, c - 1)];
        let last_dc2 = &dc2[&(p, o - 1)];
        assert!(
            last_dc2.same_content(last_dc1),
            "partition {p}: dc2 offset {} is not the last consumed dc1 record {}",
            o - 1,
            c - 1
        );
    }
}

fn print_figures(label: &str, report: &TranslationReport) {
    eprintln!("--- {label}: {} -> {}", report.from, report.to);
    let mut ours = 0;
    let mut rule = 0;
    let mut checkpoint = 0;
    for p in &report.positions {
        eprintln!(
            "  {} [{}]: position {} ({:?}) -> {} {:?}, worst-case duplicates {:?}; MM2 rule {:?} (+{:?}), MM2 checkpoint {:?}",
            p.group.rsplit('.').next().unwrap_or(&p.group),
            p.partition,
            p.primary_position,
            p.position_source,
            p.backup_offset,
            p.method,
            p.worst_case_duplicates,
            p.mm2_rule_offset,
            p.mm2_rule_redelivered,
            p.mm2_checkpoint.as_ref().map(|c| (c.upstream, c.downstream, c.redelivered)),
        );
        ours += p.worst_case_duplicates.unwrap_or(0);
        rule += p.mm2_rule_redelivered.unwrap_or(0);
        checkpoint += p.mm2_checkpoint.as_ref().map_or(0, |c| c.redelivered);
    }
    eprintln!(
        "  duplicates: ours {ours}; MM2's rule would re-deliver {rule}; MM2's checkpoints {checkpoint}"
    );
}

/// Poll `f` every second until it is true or `timeout` passes.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A copy of the sandbox topology whose dc1 is a closed port: "the primary is down".
fn topology_with_dc1_down(sb: &Sandbox) -> Topology {
    let text = std::fs::read_to_string(&sb.topology).expect("read topology");
    let down = text.replace("${env:KAFKA_LAB_DC1_BOOTSTRAP}", "127.0.0.1:1");
    assert_ne!(
        down, text,
        "lab topology changed shape: dc1 bootstrap not found"
    );
    let path = sb.dir.path().join("topology-dc1-down.yaml");
    std::fs::write(&path, down).expect("write topology");
    Topology::load(Path::new(&path)).expect("load dc1-down topology")
}

/// Issue: record deltas while dc1 is up, then translate and commit consumer groups to
/// dc2 (live, and from the journal alone): exact positions, zero duplicates, nothing
/// skipped; an active group on dc2 is refused by name; an out-of-scope group untouched.
#[test]
fn groups_move_to_the_backup_exactly_live_and_from_the_journal() {
    let lab = lab();
    let _g = shared();
    export_lab_env(lab);
    let sb = Sandbox::new("groups");
    let topology = Topology::load(&sb.topology).expect("topology");
    let journal = Journal::open(&sb.journal).expect("journal");
    let dc2_client = kafka_dr::actions::common::kafka(&topology, "dc2", T).expect("dc2");

    let topic = sb.name("orders");
    create_topic(lab, "dc1", &topic, PARTITIONS);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, RECORDS, PARTITIONS),
    );
    let dc2_recs = wait_for("3,000 records on dc2", Duration::from_secs(90), || {
        let recs = std::panic::catch_unwind(|| read_all(lab, "dc2", &topic)).ok()?;
        (recs.len() >= RECORDS).then_some(recs)
    });
    let dc1 = index(read_all(lab, "dc1", &topic));
    let dc2 = index(dc2_recs);

    // Groups: uneven positions between MM2's sync points (one about every 100 records).
    let live = sb.name("live");
    let from_journal = sb.name("journal");
    let active = sb.name("active");
    let moved = sb.name("moved");
    let outside = unique("groups-outside"); // in the lab's scope, not the sandbox's
    let live_pos = [37, 141, 255, 333, 418, 489];
    let journal_pos = [12, 177, 260, 351, 455, 250];
    let active_pos = [55, 66, 77, 88, 99, 111];
    // MM2 emits a new checkpoint only when the translated downstream offset grows, i.e.
    // when the group passes a sync point: each later position is past the next one.
    let moved_first = [20, 120, 220, 320, 380, 20];
    let moved_later = [170, 270, 370, 470, 470, 170];
    let outside_pos = [150, 150, 150, 150, 150, 150];
    commit(lab, "dc1", Principal::App, &live, &topic, &live_pos);
    commit(
        lab,
        "dc1",
        Principal::App,
        &from_journal,
        &topic,
        &journal_pos,
    );
    commit(lab, "dc1", Principal::App, &active, &topic, &active_pos);
    commit(lab, "dc1", Principal::App, &moved, &topic, &moved_first);
    commit(lab, "dc1", Principal::App, &outside, &topic, &outside_pos);
    // The out-of-scope group on dc2 sits at the log end: MM2 never rewinds it, and
    // kafka-dr must not touch it.
    let sentinel = [500i64; PARTITIONS as usize];
    commit(lab, "dc2", Principal::Admin, &outside, &topic, &sentinel);
    // Let MM2 flush its last syncs (offset.flush.interval.ms is 5 s in the lab) and
    // emit checkpoints (every 5 s).
    std::thread::sleep(Duration::from_secs(12));

    // 1. deltas.record while dc1 is up.
    let text = "name: record\nsteps:\n  - id: record\n    action: deltas.record\n";
    let dry = run_runbook(&topology, &journal, text, true).expect("dry-run");
    assert_eq!(dry.state, RunState::Succeeded);
    let plan_line = &dry.steps[0].changes[0];
    assert!(
        plan_line.starts_with("journal: record ")
            && plan_line.contains("group position(s) of 4 group(s)"),
        "{plan_line}"
    );
    assert!(
        journal
            .latest_group_positions("dc1", None)
            .unwrap()
            .is_empty(),
        "a dry-run recorded positions"
    );
    let rec = ok(&topology, &journal, text);
    let summary: DeltasSummary =
        serde_json::from_value(step_output(&journal, rec.run_id, "record")).expect("summary");
    eprintln!(
        "deltas: {} syncs ({} new), {} positions of {} groups, lag {} ({:?})",
        summary.offset_syncs,
        summary.offset_syncs_new,
        summary.group_positions,
        summary.groups,
        summary.total_lag,
        summary
            .partitions
            .iter()
            .map(|p| p.lag_source)
            .collect::<Vec<_>>()
    );
    assert_eq!((summary.groups, summary.group_positions), (4, 24));
    assert!(summary.offset_syncs >= PARTITIONS as usize, "{summary:?}");
    assert_eq!(summary.offset_syncs, summary.offset_syncs_new);
    assert_eq!(summary.partitions.len(), PARTITIONS as usize);
    assert!(summary.partitions.iter().all(|p| p.latest == 500));
    assert_eq!(summary.total_lag, 0, "everything was mirrored: {summary:?}");
    let recorded = journal.latest_group_positions("dc1", None).unwrap();
    assert_eq!(recorded.len(), 24);
    assert!(recorded.iter().all(|r| r.fingerprint.is_some()));
    assert!(!recorded.iter().any(|r| r.group == outside));
    // Recording again changes nothing: no new sync, no changed position.
    let again = ok(&topology, &journal, text);
    let summary2: DeltasSummary =
        serde_json::from_value(step_output(&journal, again.run_id, "record")).unwrap();
    assert_eq!(
        (summary2.offset_syncs_new, summary2.group_positions_changed),
        (0, 0)
    );
    let syncs = journal
        .offset_sync_history("dc1", "dc2", &topic, 1)
        .unwrap();
    eprintln!(
        "syncs of partition 1: {:?}",
        syncs
            .iter()
            .map(|s| (s.upstream_offset, s.downstream_offset))
            .collect::<Vec<_>>()
    );

    // The `moved` group goes on after the recording; wait for MM2's checkpoints of it.
    // MM2 checkpoints a partition again only when its translation moves forward, and its
    // offset-sync store keeps a sparse set of syncs, so not every partition need get one:
    // wait for the first, then two more checkpoint intervals, and take what MM2 emitted.
    commit(lab, "dc1", Principal::App, &moved, &topic, &moved_later);
    let mut seen = BTreeMap::new();
    let read_seen = |seen: &mut BTreeMap<i32, (i64, i64)>| {
        let Ok(cps) = dc2_client.read_checkpoints("dc1.checkpoints.internal", T) else {
            return;
        };
        seen.clear();
        for c in cps.iter().filter(|c| c.group == moved && c.topic == topic) {
            seen.insert(c.partition, (c.upstream, c.downstream));
        }
    };
    let found = wait_until(Duration::from_secs(120), || {
        read_seen(&mut seen);
        (0..PARTITIONS).any(|p| seen.get(&p).map(|c| c.0) == Some(moved_later[p as usize]))
    });
    assert!(
        found,
        "no MM2 checkpoint of the moved group at a new position within 120 s; last seen \
         (partition: upstream, downstream): {seen:?}"
    );
    std::thread::sleep(Duration::from_secs(12));
    read_seen(&mut seen);
    let moved_by_checkpoint: BTreeSet<i32> = (0..PARTITIONS)
        .filter(|p| seen.get(p).map(|c| c.0) == Some(moved_later[*p as usize]))
        .collect();
    eprintln!(
        "moved group: MM2 checkpointed the new position of partitions {moved_by_checkpoint:?}"
    );

    // An active member of `active` on dc2.
    let member: BaseConsumer = lab
        .client_config("dc2", Principal::Admin)
        .set("group.id", &active)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .create()
        .expect("consumer");
    member.subscribe(&[&topic]).expect("subscribe");
    wait_for(
        "the dc2 member's assignment",
        Duration::from_secs(60),
        || {
            let _ = member.poll(Duration::from_millis(200));
            member
                .assignment()
                .ok()
                .filter(|a| a.count() > 0)
                .map(|_| ())
        },
    );
    let active_before = committed(&dc2_client, &active);

    // 2. Live: translate + commit `live` while dc1 is up.
    let dry = run_runbook(
        &topology,
        &journal,
        &translate_commit(Some(&[&live]), false, 10),
        true,
    )
    .expect("dry-run");
    assert_eq!(dry.state, RunState::Succeeded);
    let planned: TranslationReport =
        serde_json::from_value(step_output(&journal, dry.run_id, "translate")).unwrap();
    assert_eq!(planned.positions.len(), PARTITIONS as usize);
    assert!(
        dry.steps[1]
            .changes
            .iter()
            .any(|c| c.contains(&format!("group `{live}`: commit"))),
        "{:?}",
        dry.steps[1].changes
    );
    let live_offsets_before = committed(&dc2_client, &live);
    let r = ok(
        &topology,
        &journal,
        &translate_commit(Some(&[&live]), false, 10),
    );
    let live_report: TranslationReport =
        serde_json::from_value(step_output(&journal, r.run_id, "translate")).unwrap();
    print_figures("live", &live_report);
    assert!(live_report.primary_answered);
    assert_eq!(live_report.positions.len(), PARTITIONS as usize);
    for p in &live_report.positions {
        assert_eq!(p.position_source, PositionSource::Live);
        assert!(p.method.is_exact(), "{p:?}");
        assert_eq!(p.worst_case_duplicates, Some(0));
    }
    assert!(
        live_report
            .positions
            .iter()
            .any(|p| p.method == Method::Fingerprint),
        "no position between syncs: the test does not exercise the twin search"
    );
    assert!(
        live_report
            .positions
            .iter()
            .filter_map(|p| p.mm2_rule_redelivered)
            .sum::<i64>()
            > 0,
        "MM2's rule would have been exact too"
    );
    let live_at = committed(&dc2_client, &live);
    eprintln!("live group on dc2: before {live_offsets_before:?}, after {live_at:?}");
    assert_exact_resume(&dc1, &dc2, &live_pos, &live_at);
    // Idempotent: a second run changes nothing.
    let r = ok(
        &topology,
        &journal,
        &translate_commit(Some(&[&live]), false, 10),
    );
    assert!(r.steps[1].changes.is_empty(), "{:?}", r.steps[1].changes);

    // 3. The active group is refused by name, and nothing is committed.
    let err = run_runbook(
        &topology,
        &journal,
        &translate_commit(Some(&[&active, &live]), false, 10),
        false,
    )
    .expect_err("an active group must be refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("group `{active}` has 1 active member(s) on `dc2`")),
        "{msg}"
    );
    assert!(msg.contains("skip_active"), "{msg}");
    assert_eq!(committed(&dc2_client, &active), active_before);
    // With skip_active it is skipped (and still untouched).
    let r = ok(
        &topology,
        &journal,
        &translate_commit(Some(&[&active]), true, 10),
    );
    // Nothing else to commit: the step is "nothing to do", and says what it skipped.
    assert!(
        r.steps[1].notes.iter().any(
            |n| n.contains(&format!("group `{active}`")) && n.contains("skipped (skip_active)")
        ),
        "{:#?}",
        r.steps[1]
    );
    assert_eq!(committed(&dc2_client, &active), active_before);

    // 4. dc1 down: every in-scope group from the journal (and MM2's checkpoints).
    let down = topology_with_dc1_down(&sb);
    let dry =
        run_runbook(&down, &journal, &translate_commit(None, true, 3), true).expect("dry-run");
    assert_eq!(dry.state, RunState::Succeeded);
    let journal_before = committed(&dc2_client, &from_journal);
    let r = ok(&down, &journal, &translate_commit(None, true, 3));
    let report: TranslationReport =
        serde_json::from_value(step_output(&journal, r.run_id, "translate")).unwrap();
    print_figures("journal only (dc1 down)", &report);
    assert!(!report.primary_answered);
    assert!(!report.positions.iter().any(|p| p.group == outside));
    let of = |g: &str| -> Vec<_> { report.positions.iter().filter(|p| p.group == g).collect() };
    assert_eq!(of(&from_journal).len(), PARTITIONS as usize);
    for p in of(&from_journal).into_iter().chain(of(&live)) {
        assert_eq!(p.position_source, PositionSource::Journal, "{p:?}");
        assert!(p.method.is_exact(), "{p:?}");
        assert_eq!(p.worst_case_duplicates, Some(0));
    }
    // The journal gives the same answer as the live primary.
    for p in of(&live) {
        let l = live_report
            .positions
            .iter()
            .find(|x| x.partition == p.partition)
            .unwrap();
        assert_eq!(p.backup_offset, l.backup_offset);
    }
    // The moved group: where MM2 checkpointed the later position, that beats the older
    // recording; elsewhere the recorded position stands.
    for p in of(&moved) {
        if moved_by_checkpoint.contains(&p.partition) {
            assert_eq!(p.position_source, PositionSource::Checkpoint, "{p:?}");
            assert_eq!(p.primary_position, moved_later[p.partition as usize]);
        } else {
            assert_eq!(
                p.primary_position, moved_first[p.partition as usize],
                "{p:?}"
            );
        }
    }
    let journal_at = committed(&dc2_client, &from_journal);
    eprintln!("journal group on dc2: before {journal_before:?}, after {journal_at:?}");
    assert_exact_resume(&dc1, &dc2, &journal_pos, &journal_at);
    assert_exact_resume(&dc1, &dc2, &live_pos, &committed(&dc2_client, &live));
    // The moved group never skips: at most at the exact position, past the recording.
    let moved_at = committed(&dc2_client, &moved);
    for p in 0..PARTITIONS {
        let o = moved_at[&p];
        let rec = &dc2[&(p, o)];
        let later = &dc1[&(p, moved_later[p as usize])];
        let first = &dc1[&(p, moved_first[p as usize])];
        assert!(
            rec.timestamp <= later.timestamp,
            "moved group skipped on {p}"
        );
        assert!(
            rec.timestamp >= first.timestamp,
            "moved group went back on {p}"
        );
    }
    // The active group was skipped, the out-of-scope group never touched.
    assert_eq!(committed(&dc2_client, &active), active_before);
    let outside_at = committed(&dc2_client, &outside);
    assert!(
        outside_at.values().all(|o| *o == 500),
        "out-of-scope group changed on dc2: {outside_at:?}"
    );
    drop(member);
}
