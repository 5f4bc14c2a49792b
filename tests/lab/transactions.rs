//! Issue 9, case 2 on the real lab: transactions on the primary, and a mirror that writes
//! transactionally into the backup (MM2 with exactly-once: Connect's
//! `exactly.once.source.support=enabled`, the connector's `exactly.once.support` and
//! `source.consumer.isolation.level=read_committed`).
//!
//! The lab's MM2 runs without exactly-once (its source consumer reads read_uncommitted,
//! Kafka 4.1's default). Where a test needs an exactly-once MM2 task's writes into dc2, a
//! librdkafka transactional producer authenticated as `User:mirror` writes them, as the
//! task's producer would: same principal, same kind of transactional writes.
//!
//! - The failback test: dc1 holds a tail of plain records, a committed, an aborted and an
//!   open transaction; an exactly-once mirror task had copied the plain ones into dc2 in a
//!   transaction it aborted when it stopped (Connect aborts a stopping task's open
//!   transaction). Before the fix the aborted copy was taken for dc2's last record, its twin
//!   ended the cut, and the plain records were neither on dc2 nor quarantined, then deleted.
//! - The fence test: a transaction the mirror opened before `fence.apply` must not commit
//!   after it (EndTxn is authorized on the transactional id only, not on the topic).
//! - `check` warns when MM2 reads uncommitted from a primary with transactions.
//! - `watermarks snapshot` records the last stable offset beside the high watermark.

use std::time::Duration;

use crate::common::*;
use crate::reverse::{sandbox_with_reverse_names, DeleteConnectors};
use crate::tail::quarantined;

/// Copies of `recs` on another partition/offset-free basis: same content.
fn with_partition(recs: &[Rec], p: i32) -> Vec<Rec> {
    recs.iter()
        .cloned()
        .map(|mut r| {
            r.partition = p;
            r
        })
        .collect()
}

/// The raw lines of a quarantine file, as JSON.
fn quarantine_lines(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn b64(v: &Option<Vec<u8>>) -> serde_json::Value {
    use base64::Engine as _;
    match v {
        Some(b) => serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        None => serde_json::Value::Null,
    }
}

/// The quarantine line of the record with `rec`'s key and value.
fn line_of<'a>(lines: &'a [serde_json::Value], rec: &Rec) -> Option<&'a serde_json::Value> {
    lines
        .iter()
        .find(|l| l["key"] == b64(&rec.key) && l["value"] == b64(&rec.value))
}

#[test]
fn failback_quarantines_what_only_aborted_copies_reached_and_marks_transactions() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("txn-fb");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    // The exactly-once mirror below needs its transactions (an earlier failover test may
    // have left its replication fence in force).
    allow_mirror_transactions(lab, "dc2");
    let topic = sb.name("ledger");
    create_topic(lab, "dc1", &topic, 1);
    let mirrored = make_records(&topic, 10, 1);
    produce(lab, "dc1", Principal::App, &topic, &mirrored);
    wait_for("10 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic) && read_all(lab, "dc2", &topic).len() >= 10)
            .then_some(())
    });
    // MM2 emits the syncs of the last records at its next offset flush (5 s in the lab).
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["--yes", "fence", "apply", "app-writes", "--cluster", "dc2"]);
    sb.ok(&["deltas", "record"]);

    // Replication stops. dc1's tail: 5 plain records (offsets 10..14), a committed
    // transaction (15..17, marker 18), an aborted one (19, 20, marker 21), and one still
    // open when dc1 dies (22, 23).
    block_on(connect_client(lab, "dc2").stop(FORWARD_CONNECTORS[0])).expect("stop source");
    std::thread::sleep(Duration::from_secs(3));
    let plain = make_records(&format!("{topic}-plain"), 5, 1);
    produce(lab, "dc1", Principal::App, &topic, &plain);
    let committed = make_records(&format!("{topic}-committed"), 3, 1);
    let aborted = make_records(&format!("{topic}-aborted"), 2, 1);
    let open = make_records(&format!("{topic}-open"), 2, 1);
    let app_txn = TxnProducer::new(
        lab,
        "dc1",
        Principal::Admin,
        &format!("{}-app", sb.prefix),
        60_000,
    )
    .expect("a transactional producer on dc1");
    app_txn
        .transaction(&topic, &committed, true)
        .expect("committed transaction");
    app_txn
        .transaction(&topic, &aborted, false)
        .expect("aborted transaction");
    app_txn.begin().expect("begin");
    app_txn
        .send(&topic, &open)
        .expect("open transaction's records");

    // The exactly-once mirror task had copied the plain records into dc2 in a transaction
    // and aborted it when it stopped: dc2 holds the copies (10..14) and an abort marker.
    let mm2 = TxnProducer::new(
        lab,
        "dc2",
        Principal::Mirror,
        &format!("{}-mm2-eos", sb.prefix),
        60_000,
    )
    .expect("a transactional producer as the mirror on dc2");
    mm2.transaction(&topic, &with_partition(&plain, 0), false)
        .expect("the mirror's aborted transaction");
    assert_eq!(
        read_committed(lab, "dc2", &topic).len(),
        10,
        "read_committed, dc2 holds the 10 mirrored records only"
    );
    let dc1_before = read_all(lab, "dc1", &topic);
    assert_eq!(dc1_before.len(), 10 + 5 + 3 + 2 + 2, "{dc1_before:#?}");
    lab_cmd(&["kill", "dc1"]);
    drop(app_txn);

    let out = sb.run(&["--yes", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");
    lab_cmd(&["start", "dc1"]);
    let out = sb.run(&["--yes", "failback", "reverse"]);
    assert_eq!(out.code, Some(0), "{out}");

    let shown = sb.ok(&["--output", "json", "tail", "show"]).json();
    let path = shown["path"].as_str().expect("path").to_string();
    let q = quarantined(&path);
    let lines = quarantine_lines(&path);
    // Nothing lost: each plain record is on dc2 (committed) or in the quarantine.
    let dc2_committed = read_committed(lab, "dc2", &topic);
    for r in &plain {
        let on_dc2 = dc2_committed.iter().any(|x| x.same_content(r));
        let kept = q.iter().any(|x| x.same_content(r));
        assert!(
            on_dc2 || kept,
            "LOST: dc1's record {:?} is neither committed on dc2 nor in the quarantine ({} record(s) quarantined); dc2 only held an aborted copy of it\n{shown:#}",
            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()),
            q.len()
        );
    }
    // Every quarantined record says whether it may be replayed.
    for (recs, want) in [
        (&plain, &["committed"][..]),
        (&committed, &["committed"][..]),
        (&aborted, &["aborted"][..]),
        // Still open when quarantined, or aborted by its timeout by then: never committed.
        (&open, &["open", "aborted"][..]),
    ] {
        for r in recs.iter() {
            let line = line_of(&lines, r)
                .unwrap_or_else(|| panic!("{r:?} is not in the quarantine (it is in dc1's tail)"));
            let state = line["transaction"].as_str().unwrap_or("<none>");
            assert!(
                want.contains(&state),
                "quarantined {line}: `transaction` is {state}, want one of {want:?}"
            );
        }
    }
    let p = &shown["manifest"]["partitions"][0];
    let (n_aborted, n_open) = (p["aborted"].as_i64(), p["open"].as_i64());
    assert_eq!(
        n_aborted.zip(n_open).map(|(a, o)| a + o),
        Some(4),
        "the manifest counts the records not to replay: {p}"
    );
    assert!(
        p["control_markers"].as_i64() >= Some(2),
        "the commit and abort markers are counted: {p}"
    );
    let table = sb.ok(&["tail", "show"]);
    assert!(
        table.stdout.contains("aborted") && table.stdout.contains("not to replay"),
        "`tail show` tells the operator which records not to replay:\n{table}"
    );
    // The tail was removed from dc1 after it was quarantined.
    println!(
        "TXN FAILBACK: quarantine {} record(s); partition: {p}",
        q.len()
    );
}

#[test]
fn the_replication_fence_keeps_an_open_mirror_transaction_from_committing() {
    let _g = exclusive();
    let lab = lab();
    let sb = Sandbox::new("txn-fence");
    let topic = sb.name("copies");
    create_topic(lab, "dc2", &topic, 1);
    // An earlier failover test may have left its replication fence in force.
    allow_mirror_transactions(lab, "dc2");
    // A transactional id as Connect names an exactly-once MM2 task's on dc2's worker
    // group (`<group.id>-<connector>-<task>`), with a task number no real task has.
    let (topology, _) = sb.open();
    let connector = &topology.replication.forward_connectors.source;
    let txn_id = format!("connect-dc2-{connector}-{}", sb.prefix);
    // The worker's own kind of id (`connect-cluster-<group.id>`, its config-topic writer)
    // and another connector's tasks are not the flow's: the fence must leave them alone,
    // or an exactly-once worker on the backup stops answering for the whole outage.
    let not_the_flows = [
        format!("connect-cluster-{}", sb.prefix),
        format!("connect-dc2-{}-other-0", sb.prefix),
    ];
    // Out of scope (the fence denies the mirror WRITE on in-scope topics anyway).
    let outside = unique("txn-fence-outside");
    create_topic(lab, "dc2", &outside, 1);
    let mm2 = TxnProducer::new(lab, "dc2", Principal::Mirror, &txn_id, 20_000)
        .expect("a transactional producer as the mirror on dc2");
    mm2.begin().expect("begin");
    mm2.send(&topic, &make_records(&topic, 3, 1))
        .expect("the mirror's records, before the fence");

    let applied = sb.ok(&[
        "--yes",
        "fence",
        "apply",
        "replication-into-backup",
        "--cluster",
        "dc2",
        "--observe",
        "1",
    ]);
    let commit = mm2.commit();
    let after_fence = read_committed(lab, "dc2", &topic).len();
    let others: Vec<Result<(), String>> = not_the_flows
        .iter()
        .map(|id| {
            TxnProducer::new(lab, "dc2", Principal::Mirror, id, 20_000)
                .and_then(|p| p.transaction(&outside, &make_records(id, 1, 1), true))
        })
        .collect();
    // Lift before asserting, so that a failure leaves the lab as it was.
    sb.ok(&[
        "--yes",
        "fence",
        "lift",
        "replication-into-backup",
        "--cluster",
        "dc2",
    ]);
    assert!(
        commit.is_err(),
        "the mirror committed a transaction through the replication fence: its records became visible on the fenced backup ({after_fence} read_committed)"
    );
    let e = commit.err().unwrap_or_default();
    assert!(e.to_lowercase().contains("authoriz"), "{e}");
    assert_eq!(after_fence, 0, "records committed through the fence");
    for (id, r) in not_the_flows.iter().zip(&others) {
        assert!(
            r.is_ok(),
            "the fence denied transactional id `{id}`, which is not one of `{connector}`'s tasks: {r:?}\n{applied}"
        );
    }
    let said = applied
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains(&format!(
            "DENY WRITE on transactional id `connect-dc2-{connector}-` (prefixed)"
        )),
        "the run says which transactional ids it denies:\n{applied}"
    );

    // Lifted: the same transactional id works again (the new producer aborts the old one).
    drop(mm2);
    let again = TxnProducer::new(lab, "dc2", Principal::Mirror, &txn_id, 20_000)
        .expect("the mirror's transactional id, after the lift");
    again
        .transaction(&topic, &make_records(&format!("{topic}-after"), 2, 1), true)
        .expect("a transaction after the lift");
    assert_eq!(read_committed(lab, "dc2", &topic).len(), 2);
}

#[test]
fn check_says_whether_mm2_copies_exactly_once_and_warns_when_it_reads_uncommitted() {
    let _g = shared();
    let lab = lab();
    let sb = Sandbox::new("txn-check");
    let topic = sb.name("payments");
    create_topic(lab, "dc1", &topic, 1);
    let p = TxnProducer::new(
        lab,
        "dc1",
        Principal::Admin,
        &format!("{}-app", sb.prefix),
        20_000,
    )
    .expect("transactional producer");
    p.transaction(&topic, &make_records(&topic, 2, 1), false)
        .expect("an aborted transaction on dc1");
    let out = sb.run(&["--output", "json", "check"]);
    let v = out.json();
    let problems = v["problems"].as_array().cloned().unwrap_or_default();
    // `check` says whether MM2 copies exactly-once: the secured lab's MM2 does with
    // KAFKA_LAB_EXACTLY_ONCE=1 (its source connector requires it and reads read_committed).
    let delivery = &v["flows"][0]["delivery"];
    assert_eq!(
        delivery["exactly_once"].as_bool(),
        Some(lab.exactly_once()),
        "{delivery}\n{out}"
    );
    let table = sb.run(&["check"]);
    assert!(
        table.stdout.contains("MM2 copies exactly-once") == lab.exactly_once(),
        "{table}"
    );
    if lab.exactly_once() {
        assert!(
            !problems.iter().any(|p| p["message"]
                .as_str()
                .is_some_and(|m| m.contains("read_uncommitted"))),
            "an exactly-once MM2 reads read_committed: no warning\n{out}"
        );
        println!("CHECK DELIVERY: {delivery}");
        return;
    }
    let warning = problems
        .iter()
        .find(|p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.contains("read_uncommitted"))
        })
        .unwrap_or_else(|| panic!("no warning about MM2 reading uncommitted data:\n{out}"));
    assert_eq!(warning["severity"], "warning", "{warning}");
    assert!(
        warning["subject"]
            .as_str()
            .is_some_and(|s| s.contains("mm2-dc1-dc2-source")),
        "{warning}"
    );
    let help = warning["help"].as_str().unwrap_or_default();
    assert!(
        help.contains("source.consumer.isolation.level=read_committed"),
        "{warning}"
    );
    println!("CHECK WARNING: {warning}");
}

#[test]
fn snapshot_records_the_last_stable_offset_beside_the_high_watermark() {
    let _g = shared();
    let lab = lab();
    let sb = Sandbox::new("txn-snap");
    let topic = sb.name("orders");
    create_topic(lab, "dc1", &topic, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 4, 1),
    );
    let p = TxnProducer::new(
        lab,
        "dc1",
        Principal::Admin,
        &format!("{}-app", sb.prefix),
        20_000,
    )
    .expect("transactional producer");
    p.begin().expect("begin");
    p.send(&topic, &make_records(&format!("{topic}-open"), 3, 1))
        .expect("open transaction");
    let out = sb.run(&[
        "--output",
        "json",
        "watermarks",
        "snapshot",
        "--cluster",
        "dc1",
    ]);
    // Resolve the transaction before asserting, so the lab keeps no open transaction.
    let _ = p.abort();
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    let c = &v["steps"][0]["output"]["clusters"][0];
    assert_eq!(
        (
            c["partitions_with_open_transactions"].as_i64(),
            c["offsets_past_last_stable"].as_i64()
        ),
        (Some(1), Some(3)),
        "the snapshot says that 3 offsets lie past the last stable offset: {v:#}"
    );
    assert!(
        out.stderr.contains("open transaction") && out.stderr.contains("stable 4"),
        "{out}"
    );
}

const TRANSLATE_AND_COMMIT: &str = "name: lso\nsteps:\n  - id: translate\n    action: groups.translate\n    params: { timeout_seconds: 5 }\n  - id: commit\n    action: groups.commit\n    params: { cluster: backup, translate_step: translate }\n";

/// Issue 9: `groups.translate` and `groups.commit` clamp at the backup's last stable
/// offset, not its high watermark. The mirror (an exactly-once MM2 task's transactional
/// producer) has an open transaction on the backup holding copies of the 3 records the
/// group consumed last on the primary. Before the fix the twin of the group's last record
/// was found inside that open transaction and the group was committed past its start:
/// a group must never be committed past an open transaction's start on the new primary
/// (what lies there is not committed, and may never be).
#[test]
fn a_group_is_never_committed_past_an_open_transaction_on_the_backup() {
    // Stops the forward flow's source connector for a moment.
    let _g = exclusive();
    let lab = lab();
    export_lab_env(lab);
    let sb = Sandbox::new("txn-lso");
    allow_mirror_transactions(lab, "dc2");
    let topic = sb.name("orders");
    create_topic(lab, "dc1", &topic, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 10, 1),
    );
    wait_for("10 records on dc2", Duration::from_secs(90), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_committed(lab, "dc2", &topic).len() >= 10)
            .then_some(())
    });
    block_on(connect_client(lab, "dc2").stop(FORWARD_CONNECTORS[0])).expect("stop source");
    // The stop takes effect once the task has shut down: the tail must not be copied.
    std::thread::sleep(Duration::from_secs(3));
    let tail = make_records(&format!("{topic}-tail"), 3, 1);
    produce(lab, "dc1", Principal::App, &topic, &tail);
    std::thread::sleep(Duration::from_secs(2));
    let copied = read_committed(lab, "dc2", &topic).len();
    let mm2 = TxnProducer::new(
        lab,
        "dc2",
        Principal::Mirror,
        &format!("{}-mm2-eos", sb.prefix),
        60_000,
    )
    .expect("a transactional producer as the mirror on dc2");
    mm2.begin().expect("begin");
    mm2.send(&topic, &with_partition(&tail, 0))
        .expect("the mirror's open transaction");
    let group = sb.name("billing");
    crate::groups::commit(lab, "dc1", Principal::App, &group, &topic, &[13]);
    let dc2 = kdr_client(lab, "dc2");
    let wm = dc2
        .watermarks(&[(topic.as_str(), 0)], Duration::from_secs(10))
        .expect("dc2 watermarks")
        .remove(0);
    assert!(wm.stable < wm.latest, "an open transaction on dc2: {wm:?}");
    assert_eq!(
        copied, 10,
        "MM2 copied none of the tail: the scenario needs that"
    );

    let (topology, journal) = (
        kafka_dr::topology::Topology::load(&sb.topology).expect("topology"),
        kafka_dr::journal::Journal::open(&sb.journal).expect("journal"),
    );
    let run = run_runbook(&topology, &journal, TRANSLATE_AND_COMMIT, false);
    let committed = dc2
        .committed_offsets(&group, Duration::from_secs(10))
        .expect("committed offsets on dc2");
    // Heal before asserting: no open transaction left, the flow running again.
    let _ = mm2.abort();
    let _ = block_on(connect_client(lab, "dc2").resume(FORWARD_CONNECTORS[0]));
    let run = run.expect("translate and commit");
    let translated = step_output(&journal, run.run_id, "translate");
    let at: Vec<i64> = committed
        .iter()
        .filter(|(t, p, _, _)| *t == topic && *p == 0)
        .map(|(_, _, o, _)| *o)
        .collect();
    println!("LSO CLAMP: dc2 {wm:?}, committed {at:?}");
    assert_eq!(at.len(), 1, "the group is committed on dc2: {committed:?}");
    assert!(
        at[0] <= wm.stable,
        "`{group}` was committed at {} on dc2, past the open transaction that starts at its last stable offset {} (high watermark {}):\n{translated:#}",
        at[0],
        wm.stable,
        wm.latest
    );
}

/// Issue 9: the twin of a group's last consumed record is looked for among what a
/// read_committed consumer of the backup is served. An exactly-once mirror task whose
/// transaction was aborted (a task restart, a rebalance) copies the same records again in
/// its next transaction, so the backup holds an aborted copy, then the committed one.
/// Before the fix the backup was read uncommitted: the aborted copy was a twin too, the
/// earliest won, and the group was committed before the committed copy (records it had
/// consumed delivered again, the translation reported ambiguous instead of exact).
#[test]
fn a_group_lands_after_the_committed_copy_not_an_aborted_one() {
    // Stops the forward flow's source connector for a moment.
    let _g = exclusive();
    let lab = lab();
    export_lab_env(lab);
    let sb = Sandbox::new("txn-twin");
    allow_mirror_transactions(lab, "dc2");
    let topic = sb.name("orders");
    create_topic(lab, "dc1", &topic, 1);
    let recs = make_records(&topic, 10, 1);
    produce(lab, "dc1", Principal::App, &topic, &recs[..5]);
    wait_for("5 records on dc2", Duration::from_secs(90), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_committed(lab, "dc2", &topic).len() >= 5)
            .then_some(())
    });
    let source = connect_client(lab, "dc2");
    block_on(source.stop(FORWARD_CONNECTORS[0])).expect("stop source");
    // The stop takes effect once the task has shut down: r5..r9 must not be copied by it.
    std::thread::sleep(Duration::from_secs(3));
    produce(lab, "dc1", Principal::App, &topic, &recs[5..]);
    std::thread::sleep(Duration::from_secs(2));
    let copied = read_all(lab, "dc2", &topic).len();
    // The mirror's first transaction with r5..r9 aborted, its retry committed.
    let mm2 = TxnProducer::new(
        lab,
        "dc2",
        Principal::Mirror,
        &format!("{}-mm2-eos", sb.prefix),
        60_000,
    )
    .expect("a transactional producer as the mirror on dc2");
    let tail = with_partition(&recs[5..], 0);
    mm2.begin().expect("begin");
    mm2.send(&topic, &tail).expect("the aborted copy");
    mm2.abort().expect("abort");
    mm2.begin().expect("begin");
    mm2.send(&topic, &tail).expect("the committed copy");
    mm2.commit().expect("commit");
    drop(mm2);
    // The group consumed r0..r7 on dc1.
    let group = sb.name("billing");
    crate::groups::commit(lab, "dc1", Principal::App, &group, &topic, &[8]);

    let (topology, journal) = (
        kafka_dr::topology::Topology::load(&sb.topology).expect("topology"),
        kafka_dr::journal::Journal::open(&sb.journal).expect("journal"),
    );
    let run = run_runbook(&topology, &journal, TRANSLATE_AND_COMMIT, false);
    let _ = block_on(source.resume(FORWARD_CONNECTORS[0]));
    assert_eq!(
        copied, 5,
        "MM2 copied none of r5..r9: the scenario needs that"
    );
    let dc2 = kdr_client(lab, "dc2");
    // dc2: r0..r4 at 0..4, the aborted r5..r9 at 5..9, its marker at 10, the committed
    // r5..r9 at 11..15, its marker at 16. The committed r7 is at 13.
    let committed_copy = read_committed(lab, "dc2", &topic);
    let r7 = committed_copy
        .iter()
        .find(|r| r.same_content(&recs[7]))
        .expect("the committed copy of r7 on dc2")
        .offset;
    assert!(
        r7 > 10,
        "the committed copy follows the aborted one: r7 at {r7}"
    );
    let run = run.expect("translate and commit");
    let translated = step_output(&journal, run.run_id, "translate");
    let at: Vec<i64> = dc2
        .committed_offsets(&group, Duration::from_secs(10))
        .expect("committed offsets on dc2")
        .into_iter()
        .filter(|(t, p, _, _)| *t == topic && *p == 0)
        .map(|(_, _, o, _)| o)
        .collect();
    assert_eq!(
        at,
        vec![r7 + 1],
        "`{group}` consumed r7: on dc2 it resumes right after the committed copy of r7 ({r7}), with nothing consumed delivered again:\n{translated:#}"
    );
    let position = &translated["positions"][0];
    assert_eq!(position["method"], "fingerprint", "exact: {translated:#}");
}
