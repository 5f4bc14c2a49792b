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
            (p.backup_offset, p.method, p.worst_case_duplicates),
            (10, Method::Ambiguous, Some(5)),
            "{how}: r5..r9 twice: the earliest copy, reported, 5 records may repeat: {p:?}"
        );
        assert!(!p.method.is_exact());
        let p = position(&r, &copy, 1);
        assert_eq!(p.backup_offset, 25, "{how}: {p:?}");
    }
}
