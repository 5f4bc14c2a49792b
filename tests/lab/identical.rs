//! Issue 9, case 1 on the real lab: identical records (same timestamp, key, value and
//! headers: a producer retry without idempotence, identical events in one millisecond).
//!
//! Partition 0 holds r0..r19, then a second copy of r9, then r20..r29; partition 1 holds
//! r0..r9, then r5..r9 again, then r10..r19. MM2 mirrors both. Group `first` consumed up
//! to r9 in both partitions; group `copy` consumed up to the second copy of r9 in
//! partition 0. Before the fix the LAST twin won: `first` was moved past the copy,
//! skipping r10..r19, and the report said "exact". Now the run of records before each
//! candidate picks the twin (partition 0, both groups: exact), and where the runs are
//! identical too (partition 1) the earliest candidate is used and reported as ambiguous,
//! with the records that may be seen again. Checked live and from the journal alone.

use std::path::Path;
use std::time::Duration;

use kafka_dr::actions::groups_translate::TranslationReport;
use kafka_dr::actions::translation::Method;
use kafka_dr::journal::{Journal, RunState};
use kafka_dr::topology::Topology;

use crate::common::*;
use crate::groups::commit;

const TRANSLATE: &str =
    "name: identical\nsteps:\n  - id: translate\n    action: groups.translate\n    params: { timeout_seconds: 5 }\n";

fn report(topology: &Topology, journal: &Journal) -> TranslationReport {
    let r = run_runbook(topology, journal, TRANSLATE, false).expect("translate");
    assert_eq!(r.state, RunState::Succeeded);
    serde_json::from_value(step_output(journal, r.run_id, "translate")).expect("report")
}

fn position<'a>(
    r: &'a TranslationReport,
    group: &str,
    partition: i32,
) -> &'a kafka_dr::actions::groups_translate::TranslatedPosition {
    r.positions
        .iter()
        .find(|p| p.group == group && p.partition == partition)
        .unwrap_or_else(|| panic!("no position for {group}[{partition}] in {r:#?}"))
}

#[test]
fn identical_records_never_make_a_group_skip() {
    // Stops and resumes the forward flow's source connector for a moment.
    let _g = exclusive();
    let lab = lab();
    export_lab_env(lab);
    let sb = Sandbox::new("identical");
    let topology = Topology::load(&sb.topology).expect("topology");
    let journal = Journal::open(&sb.journal).expect("journal");
    let topic = sb.name("events");
    create_topic(lab, "dc1", &topic, 2);

    let base = make_records(&topic, 30, 1);
    let on = |p: i32, recs: Vec<Rec>| -> Vec<Rec> {
        recs.into_iter()
            .map(|mut r| {
                r.partition = p;
                r
            })
            .collect()
    };
    let mut p0: Vec<Rec> = base[..20].to_vec();
    p0.push(base[9].clone());
    p0.extend_from_slice(&base[20..30]);
    let mut p1: Vec<Rec> = base[..10].to_vec();
    p1.extend_from_slice(&base[5..10]);
    p1.extend_from_slice(&base[10..20]);
    let (n0, n1) = (p0.len(), p1.len());
    let mut all = on(0, p0);
    all.extend(on(1, p1));
    // MM2 copies them in one go after its source connector resumes, so its offset syncs
    // are the first record and the last (a sync between the copies would bound the
    // search to one of them and hide the case).
    let source = connect_client(lab, "dc2");
    block_on(source.stop(FORWARD_CONNECTORS[0])).expect("stop the source connector");
    produce(lab, "dc1", Principal::App, &topic, &all);
    block_on(source.resume(FORWARD_CONNECTORS[0])).expect("resume the source connector");
    let dc1 = read_all(lab, "dc1", &topic);
    assert_eq!(dc1.len(), n0 + n1);
    // The copies sit where the scenario says.
    let at = |p: i32, o: i64| {
        dc1.iter()
            .find(|r| r.partition == p && r.offset == o)
            .expect("record")
            .clone()
    };
    assert!(at(0, 9).same_content(&at(0, 20)) && !at(0, 8).same_content(&at(0, 19)));
    assert!(at(1, 9).same_content(&at(1, 14)) && at(1, 8).same_content(&at(1, 13)));
    wait_for("the records on dc2", Duration::from_secs(90), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_all(lab, "dc2", &topic).len() >= n0 + n1)
            .then_some(())
    });

    let first = sb.name("first");
    let copy = sb.name("copy");
    commit(lab, "dc1", Principal::App, &first, &topic, &[10, 10]);
    commit(lab, "dc1", Principal::App, &copy, &topic, &[21, 25]);
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["deltas", "record"]);

    // dc2 holds the same records at the same offsets (one copy each, fresh topic).
    let dc2 = read_all(lab, "dc2", &topic);
    for r in &dc1 {
        assert!(
            dc2.iter()
                .any(|x| x.partition == r.partition && x.offset == r.offset && x.same_content(r)),
            "dc2 differs from dc1 at {}[{}]",
            r.partition,
            r.offset
        );
    }

    let text = std::fs::read_to_string(&sb.topology).expect("topology text");
    let down_path = sb.dir.path().join("topology-dc1-down.yaml");
    std::fs::write(
        &down_path,
        text.replace("${env:KAFKA_LAB_DC1_BOOTSTRAP}", "127.0.0.1:1"),
    )
    .expect("write");
    let down = Topology::load(Path::new(&down_path)).expect("dc1-down topology");

    for (how, r) in [
        ("live", report(&topology, &journal)),
        ("journal", report(&down, &journal)),
    ] {
        let p = position(&r, &first, 0);
        assert_eq!(
            (p.backup_offset, p.method),
            (10, Method::Fingerprint),
            "{how}: `first` consumed r9 (offset 9); the copy at 20 must not move it past r10..r19: {p:?}"
        );
        let p = position(&r, &copy, 0);
        assert_eq!(
            (p.backup_offset, p.method),
            (21, Method::Fingerprint),
            "{how}: {p:?}"
        );
        let p = position(&r, &first, 1);
        assert!(
            p.upper_sync.is_none_or(|u| u.downstream > 14)
                && p.lower_sync.is_none_or(|l| l.downstream < 9),
            "{how}: an offset sync between the copies would hide the case: {p:?}"
        );
        assert_eq!(
            (p.backup_offset, p.method),
            (10, Method::Ambiguous),
            "{how}: r5..r9 twice: the earliest copy, reported: {p:?}"
        );
        // 5 records may repeat; from the journal, also all the group may have consumed
        // after the recording (issue 9, case 10).
        let want = match how {
            "live" => Some(5),
            _ => p.since_recording_at_most.map(|s| s.max(5)),
        };
        assert_eq!(p.worst_case_duplicates, want, "{how}: {p:?}");
        assert!(!p.method.is_exact());
        let p = position(&r, &copy, 1);
        assert_eq!(p.backup_offset, 25, "{how}: {p:?}");
    }
}

/// Issue 9, case 1 on the tail side: the old primary's unreplicated tail starts with a
/// producer retry's copies of the last 3 records the backup already has (same timestamps,
/// keys, values, headers), then new records. The new primary's last record has two
/// candidate twins on the old primary. The cut must be after the true twin (the earliest
/// candidate whose run of preceding records matches): with the later one,
/// the copies were neither kept nor quarantined, then deleted by the truncate. Every
/// record of the old primary past the cut is in the quarantine; none is lost.
#[test]
fn a_tail_starting_with_copies_of_replicated_records_is_quarantined_whole() {
    use kafka_dr::actions::quarantine_file::Manifest;
    use kafka_dr::actions::tail_find::{CutMethod, TailReport};
    use kafka_dr::engine::{Engine, RunOptions};

    let _g = shared();
    let sb = Sandbox::new("identical-tail");
    let lab = sb.lab;
    export_lab_env(lab);
    let topic = sb.name("payments");
    create_topic(lab, "dc1", &topic, 1);
    let base = make_records(&topic, 10, 1);
    produce(lab, "dc1", Principal::App, &topic, &base);
    wait_for("10 records on dc2", Duration::from_secs(90), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_committed(lab, "dc2", &topic).len() >= 10)
            .then_some(())
    });
    let topology = Topology::load(&sb.topology).expect("topology");
    crate::tail::simulate_promotion(&sb, &topology);
    // The tail: copies of r7, r8, r9 (a retried batch), then 4 new records.
    let mut tail: Vec<Rec> = base[7..10].to_vec();
    tail.extend(make_records(&format!("{topic}-tail"), 4, 1));
    produce(lab, "dc1", Principal::App, &topic, &tail);
    let dc1 = read_all(lab, "dc1", &topic);
    assert_eq!(dc1.len(), 17);
    assert!(dc1[9].same_content(&dc1[12]) && dc1[7].same_content(&dc1[10]));
    let past_cut: Vec<Rec> = dc1.iter().filter(|r| r.offset >= 10).cloned().collect();

    let gate = sb.dir.path().join("gate");
    std::fs::write(&gate, "").expect("open the gate: the run truncates");
    let journal = Journal::open(&sb.journal).expect("journal");
    let reporter = kafka_dr::report::Reporter::new(kafka_dr::report::OutputFormat::Table, 0);
    let rt = runtime();
    let engine = Engine::new(
        &topology,
        &journal,
        rt.handle().clone(),
        &reporter,
        kafka_dr::actions::build,
    );
    let run = engine
        .run(
            &crate::tail::runbook(&gate),
            &RunOptions {
                assume_yes: true,
                ..RunOptions::default()
            },
        )
        .expect("tail find, quarantine and truncate");
    assert_eq!(run.state, RunState::Succeeded);
    let found: TailReport =
        serde_json::from_value(step_output(&journal, run.run_id, "tail-find")).expect("tail");
    let p = found
        .partitions
        .iter()
        .find(|p| p.topic == topic)
        .expect("the partition's tail");
    let q = step_output(&journal, run.run_id, "tail-quarantine");
    let manifest: Manifest = serde_json::from_value(q["manifest"].clone()).expect("manifest");
    let kept = crate::tail::quarantined(&manifest.file);
    println!(
        "IDENTICAL TAIL: cut {} ({:?}, {} twin(s) in range), {} quarantined of {} past the real cut",
        p.cut,
        p.method,
        p.twins_in_range,
        kept.len(),
        past_cut.len()
    );
    // Nothing lost: every record dc1 held past the real cut is in the quarantine, at its
    // offset, and the truncate removed only what is kept there or on dc2.
    for r in &past_cut {
        assert!(
            kept.iter().any(|k| k.offset == r.offset && k.same_content(r)),
            "LOST: dc1's record at offset {} ({:?}) is not in the quarantine, and the truncate deleted it (cut {}, method {:?})",
            r.offset,
            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()),
            p.cut,
            p.method
        );
    }
    // The run of records before the later copy (r7', r8', then r9 itself) differs from
    // the backup's (r7, r8, r6): the run check picks the true twin; where it cannot, the
    // earliest candidate is used and reported as ambiguous.
    assert_eq!(
        p.cut, 10,
        "the cut is after dc2's last record's true twin: {p:?}"
    );
    assert!(
        matches!(p.method, CutMethod::Fingerprint | CutMethod::Ambiguous),
        "{p:?}"
    );
    assert!(p.twins_in_range >= 2, "both copies were candidates: {p:?}");
    assert!(
        crate::tail::marks(lab, "dc1", &topic, 1)[&0].0 >= 17,
        "the truncate removed dc1's tail after quarantining it"
    );
}
