//! Snapshot tests (insta) of the human output an operator reads: `check`, the
//! `failover promote` and `failback reverse` summaries, and `runs show` (the `--help` snapshots are in tests/cli.rs,
//! from the binary itself), at the fixed piped width (100 columns), from fixture data shaped like the demo's (no lab).
//! A change to any of them shows up as a snapshot diff to review; under CI (`CI` set)
//! insta fails on a mismatch instead of writing a `.snap.new`.

use serde_json::json;

use super::Reporter;
use crate::check::{
    CheckReport, ClusterCheck, ConnectorCheck, FlowCheck, PartitionLag, Problem, Severity,
};
use crate::engine::{RunReport, StepReport};
use crate::failover::{FailoverReport, GroupSummary, Rpo, StepTiming};
use crate::journal::{
    AttemptOutcome, AttemptRecord, RunDetail, RunState, RunSummary, StepOutcome, StepRecord,
    StepState,
};

/// What `kafka-dr` prints when stdout is not a terminal: the fixed 100 columns.
fn piped() -> Reporter {
    Reporter::default()
}

/// Every line of a rendering fits in the piped width.
fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= usize::from(crate::human::PIPED_WIDTH),
            "line of {} columns:\n{line}",
            line.chars().count()
        );
    }
}

fn cluster(name: &str, role: &str, id: &str, port: u16) -> ClusterCheck {
    ClusterCheck {
        name: name.into(),
        role: role.into(),
        bootstrap: format!("127.0.0.1:{port}"),
        reachable: true,
        authenticated: true,
        cluster_id: Some(id.into()),
        brokers: vec![format!("1@127.0.0.1:{port}")],
        topics_in_scope: vec!["app.orders".into()],
        groups_in_scope: vec!["app.billing".into()],
        may_describe_acls: Some(true),
        may_alter_acls: Some(true),
        groups_not_alterable: Vec::new(),
        error: None,
    }
}

fn connector(name: &str, tasks: &[&str]) -> ConnectorCheck {
    ConnectorCheck {
        name: name.into(),
        state: "RUNNING".into(),
        tasks: tasks.iter().map(|t| t.to_string()).collect(),
    }
}

fn flow(connectors: Vec<ConnectorCheck>) -> FlowCheck {
    FlowCheck {
        flow: "dc1->dc2".into(),
        connect_url: Some("http://127.0.0.1:26083".into()),
        reachable: true,
        connect_version: Some("4.1.2".into()),
        connectors,
        // The lab's forward source connector: no exactly-once setting, MM2's defaults.
        delivery: {
            let iso = crate::dr::transactions::mm2_source_isolation(&Default::default());
            Some(crate::check::FlowDelivery {
                exactly_once: iso.exactly_once(),
                why: iso.delivery(),
            })
        },
    }
}

fn check(
    problems: Vec<Problem>,
    clusters: Vec<ClusterCheck>,
    lag: Vec<PartitionLag>,
) -> CheckReport {
    let ok = !problems.iter().any(|p| p.severity == Severity::Error);
    let rpo_records = (!lag.is_empty()).then(|| lag.iter().map(|l| l.lag).sum());
    CheckReport {
        topology: "lab".into(),
        primary: "dc1".into(),
        backup: "dc2".into(),
        shape: crate::check::shape_of(
            crate::topology::Policy::Identity,
            "dc1",
            Some(
                &[(
                    "replication.policy.class".to_string(),
                    "org.apache.kafka.connect.mirror.IdentityReplicationPolicy".to_string(),
                )]
                .into_iter()
                .collect(),
            ),
        )
        .0,
        clusters,
        flows: vec![flow(vec![
            connector("mm2-dc1-dc2-source", &["0:RUNNING", "1:RUNNING"]),
            connector("mm2-dc1-dc2-checkpoint", &["0:RUNNING"]),
            connector("mm2-dc1-dc2-heartbeat", &["0:RUNNING"]),
        ])],
        lag,
        rpo_records,
        problems,
        ok,
    }
}

#[test]
fn check_on_a_healthy_lab() {
    let r = check(
        Vec::new(),
        vec![
            cluster("dc1", "primary", "pBm9OlOmZYU31-P5xzktcA", 16092),
            cluster("dc2", "backup", "sd30ftGMvSaLOukAhOWdGw", 26092),
        ],
        (0..2)
            .map(|p| PartitionLag {
                topic: "app.orders".into(),
                partition: p,
                primary_start: 0,
                primary_end: 1700 + i64::from(p),
                next_to_copy: Some(1700 + i64::from(p)),
                lag: 0,
                method: "mm2-offsets".into(),
            })
            .collect(),
    );
    let text = piped().render_check(&r);
    assert_fits(&text);
    insta::assert_snapshot!(text);
}

#[test]
fn check_with_problems_of_each_severity() {
    let mut dc1 = cluster("dc1", "primary", "", 16092);
    dc1.reachable = false;
    dc1.authenticated = false;
    dc1.cluster_id = None;
    dc1.brokers.clear();
    dc1.may_alter_acls = None;
    dc1.may_describe_acls = None;
    let problems = vec![
        Problem {
            severity: Severity::Error,
            subject: "cluster dc1".into(),
            message: "cannot reach Kafka cluster `dc1` at 127.0.0.1:16092 (no broker accepts connections: gave up after 10 s) (last error: Connection refused)".into(),
            help: Some("check that the cluster is up and that this host can reach 127.0.0.1:16092".into()),
        },
        Problem {
            severity: Severity::Warning,
            subject: "cluster dc2".into(),
            message: "applications may write to 1 in-scope topic(s) on the backup `dc2`: no `app-writes` guard (app.orders)".into(),
            help: Some("apply it once: `kafka-dr fence apply app-writes --cluster dc2`".into()),
        },
        Problem {
            severity: Severity::Info,
            subject: "cluster dc1".into(),
            message: "no in-scope topic on the primary `dc1` yet: MM2's source connector runs no task until one exists, and a failover now would have nothing to move".into(),
            help: None,
        },
    ];
    let r = check(
        problems,
        vec![
            dc1,
            cluster("dc2", "backup", "sd30ftGMvSaLOukAhOWdGw", 26092),
        ],
        Vec::new(),
    );
    let text = piped().render_check(&r);
    assert_fits(&text);
    insta::assert_snapshot!(text);
}

fn step(id: &str, action: &str, ms: u64, changes: &[&str]) -> StepReport {
    StepReport {
        id: id.into(),
        action: action.into(),
        outcome: StepOutcome::Applied,
        attempt: Some(1),
        duration_ms: ms,
        changes: changes.iter().map(|c| c.to_string()).collect(),
        notes: Vec::new(),
        output: None,
        error: None,
    }
}

fn run(runbook: &str, steps: Vec<StepReport>, wall_ms: u64) -> RunReport {
    RunReport {
        run_id: 4,
        topology: "lab".into(),
        runbook: runbook.into(),
        runbook_source: format!("embedded:{runbook}"),
        runbook_checksum: "5cc9bf566a98".into(),
        dry_run: false,
        resumed: false,
        state: RunState::Succeeded,
        steps,
        wall_ms,
    }
}

#[test]
fn failover_promote_summary() {
    let steps = [
        ("confirm", "confirm", 24),
        ("stop-mirror", "mirror.stop", 1_800),
        ("fence-replication", "fence.apply", 6_300),
        ("snapshot", "watermarks.snapshot", 316),
        ("translate", "groups.translate", 203),
        ("commit", "groups.commit", 39),
        ("promote", "roles.promote", 47),
    ];
    let fo = FailoverReport {
        // This host's journal recorded the positions itself: nothing imported.
        imported_deltas: None,
        run_id: 3,
        dry_run: false,
        rto_ms: 8_800,
        steps: steps
            .iter()
            .map(|(s, a, ms)| StepTiming {
                step: s.to_string(),
                action: a.to_string(),
                outcome: "applied".into(),
                duration_ms: *ms,
            })
            .collect(),
        groups: vec![GroupSummary {
            group: "app.billing".into(),
            partitions: 6,
            exact: 0,
            exact_when_recorded: 4,
            conservative: 6,
            worst_case_duplicates: Some(3900),
            mm2_would_redeliver: Some(213),
            ..GroupSummary::default()
        }],
        rpo: Rpo {
            records: Some(0),
            source: "recorded-lag".into(),
            recorded_at: Some("2026-12-02T06:28:21.622Z".into()),
            note: "the primary did not answer; `deltas record` measured a lag of 0 record(s) at 2026-12-02T06:28:21.622Z".into(),
        },
    };
    let text = piped().render_failover(&fo);
    assert_fits(&text);
    insta::assert_snapshot!(text);
}

#[test]
fn failback_reverse_summary() {
    let mut steps = vec![
        step("confirm", "confirm", 5, &["would ask: Fail back: quarantine and remove the old primary's unreplicated tail, then mirror the new primary back into it?"]),
        step("fence-old-primary", "fence.apply", 1_200, &[
            "`dc1`: create ACL DENY WRITE on topic `app.` (prefixed) for User:app from *",
            "journal: record fence `app-writes` on `dc1` (1 binding(s))",
        ]),
        step("stop-forward", "mirror.stop", 66, &[]),
        step("snapshot", "watermarks.snapshot", 102, &["journal: record the watermarks of 6 in-scope partition(s) on `dc1`"]),
        step("tail-find", "tail.find", 1_100, &["journal: keep the cut and tail of 6 partition(s) of `dc1` as this step's output (nothing is written to any cluster)"]),
        step("tail-quarantine", "tail.quarantine", 277, &["write the 300 tail record(s) of 1 partition(s) of `dc1` to `/var/lib/kafka-dr/quarantine/run-4/tail.jsonl` (JSON Lines, mode 0600)"]),
        step("truncate", "truncate", 1_000, &["`dc1`: DeleteRecords `app.orders`[1] before offset 1875: removes offsets [0, 1875), 1875 record(s)"]),
        step("mirror-seed", "mirror.seed", 4_100, &[
            "create reverse source connector `mm2-dc2-dc1-source` on Connect `http://127.0.0.1:16083` (cluster `dc1`), STOPPED: MirrorSourceConnector dc2 (127.0.0.1:26092) -> dc1 (127.0.0.1:16092), topics `app\\..*`, IdentityReplicationPolicy, 35 keys (4 redacted)",
            "start copying `app.orders`-1 at offset 1575 (the promotion cut): 0 records to copy now",
        ]),
        step("mirror-start", "mirror.start", 11_000, &["resume reverse source connector `mm2-dc2-dc1-source` on Connect `http://127.0.0.1:16083` (cluster `dc1`): now STOPPED (no tasks)"]),
    ];
    steps[2].outcome = StepOutcome::NothingToDo;
    let partition = |p: i32, count: i64| {
        if count == 0 {
            json!({"topic": "app.orders", "partition": p, "count": 0, "bytes": 0,
                   "first_offset": null, "last_offset": null,
                   "first_timestamp_ms": null, "last_timestamp_ms": null})
        } else {
            json!({"topic": "app.orders", "partition": p, "count": count, "bytes": 1390,
                   "first_offset": 1575, "last_offset": 1874,
                   "first_timestamp_ms": 1_796_192_910_920_i64,
                   "last_timestamp_ms": 1_796_192_911_026_i64})
        }
    };
    steps[5].output = Some(json!({
        "file": "/var/lib/kafka-dr/quarantine/run-4/tail.jsonl",
        "manifest": {"partitions": (0..6).map(|p| partition(p, if p == 1 { 300 } else { 0 })).collect::<Vec<_>>()},
    }));
    steps[6].output = Some(json!({
        "cluster": "dc1", "strategy": "delete-records",
        "deleted": [{"topic": "app.orders", "partition": 1, "records": 1875, "tail_records": 300}],
    }));
    let starts = [1707, 1575, 1592, 1796, 1726, 1604];
    steps[7].output = Some(json!({
        "partitions": starts.iter().enumerate().map(|(p, n)| json!({
            "topic": "app.orders", "partition": p, "next_offset": n, "reason": "promotion-cut",
        })).collect::<Vec<_>>(),
    }));
    steps[8].output = Some(json!({
        "new_primary": "dc2", "old_primary": "dc1", "total_copied": 2000, "total_lag": 0,
        "max_lag": 0, "waited_ms": 9_000,
    }));
    let text = piped().render_failback(&run("failback-reverse", steps, 19_000));
    assert_fits(&text);
    insta::assert_snapshot!(text);
}

#[test]
fn runs_show_of_a_failed_then_resumed_run() {
    let attempt = |n: u32, outcome: AttemptOutcome, ms: u64, error: Option<&str>| AttemptRecord {
        attempt: n,
        started_at: "2026-12-02T06:28:30.000Z".into(),
        finished_at: Some("2026-12-02T06:28:31.000Z".into()),
        duration_ms: Some(ms),
        outcome: Some(outcome),
        error: error.map(str::to_string),
        host: "dr-bastion".into(),
        pid: 4242,
    };
    let record = |i: u32, id: &str, action: &str, log: Vec<AttemptRecord>| StepRecord {
        index: i,
        step_id: id.into(),
        action: action.into(),
        state: StepState::Finished,
        outcome: Some(StepOutcome::Applied),
        attempts: log.len() as u32,
        started_at: Some("2026-12-02T06:28:30.000Z".into()),
        finished_at: Some("2026-12-02T06:28:41.000Z".into()),
        plan: None,
        output: None,
        last_error: None,
        attempt_log: log,
    };
    let d = RunDetail {
        run: RunSummary {
            id: 3,
            topology: "lab".into(),
            runbook: "failover-promote".into(),
            runbook_source: "embedded:failover-promote".into(),
            runbook_checksum: "9f2c1e0d5b7a4c3e8d6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d".into(),
            state: RunState::Succeeded,
            dry_run: false,
            started_at: "2026-12-02T06:28:30.000Z".into(),
            finished_at: Some("2026-12-02T06:29:41.512Z".into()),
            host: "dr-bastion".into(),
            pid: 4242,
            steps_total: 3,
            steps_finished: 3,
            error: None,
        },
        runbook_text: String::new(),
        steps: vec![
            record(0, "confirm", "confirm", vec![attempt(1, AttemptOutcome::Applied, 24, None)]),
            record(1, "fence-replication", "fence.apply", vec![
                attempt(1, AttemptOutcome::Failed, 10_400, Some("cannot reach Kafka cluster `dc2` at 127.0.0.1:26092 (no broker accepts connections: gave up after 10 s)\nhelp: check that the cluster is up and that this host can reach it")),
                attempt(2, AttemptOutcome::Applied, 6_300, None),
            ]),
            record(2, "promote", "roles.promote", vec![attempt(1, AttemptOutcome::Applied, 47, None)]),
        ],
    };
    let text = piped().render_run_detail(&d);
    assert_fits(&text);
    insta::assert_snapshot!(text);
}
