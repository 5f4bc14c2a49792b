//! Issue 5 on the real lab: `kafka-dr failback reverse` after a real `failover promote`.
//!
//! The failover scenario (10,000 records mirrored, then 300 written to dc1 only, dc1
//! killed) is promoted; applications then write 2,000 records to dc2 and a topic is born
//! there; dc1 returns; `failback reverse` must quarantine exactly the 300, remove them,
//! and mirror dc2's post-promotion records back, starting exactly at the promotion cut.
//! Disturbs the whole lab (stops the forward flow, kills dc1): takes `exclusive()`. The
//! reverse connectors get sandbox names and are deleted at the end.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use kafka_dr::actions::quarantine_file::Manifest;
use kafka_dr::kafka::AclFilter;

use crate::common::*;
use crate::failover::{scenario_in, scenario_with, ExtraTopic, Scenario};
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

/// A record's partition, timestamp, key and value: what finds its copy on the other side.
type Content = (i32, i64, Option<Vec<u8>>, Option<Vec<u8>>);

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
    // The tail: dc1's records without a committed copy on dc2. Offsets are the same on
    // both sides only when MM2 copies without transactions (the default lab); an
    // exactly-once MM2 (the secured lab) leaves control markers on dc2, so dc1's cut is
    // found by content, and it is where dc1's tail starts.
    let on_dc2: HashSet<Content> = read_committed(lab, "dc2", &topic)
        .into_iter()
        .map(|r| (r.partition, r.timestamp, r.key, r.value))
        .collect();
    s.assert_promoted(); // also writes 3 records to dc2 as `app`
    let tail: Vec<Rec> = s
        .dc1
        .iter()
        .filter(|r| !on_dc2.contains(&(r.partition, r.timestamp, r.key.clone(), r.value.clone())))
        .cloned()
        .collect();
    assert_eq!(tail.len(), 300, "the scenario's tail");
    let dc1_cut: BTreeMap<i32, i64> = cut
        .keys()
        .map(|p| {
            let start = tail
                .iter()
                .filter(|r| r.partition == *p)
                .map(|r| r.offset)
                .min();
            (*p, start.expect("50 tail records in each partition"))
        })
        .collect();
    if !lab.exactly_once() {
        assert_eq!(
            dc1_cut, cut,
            "without exactly-once, offsets are the same on both sides"
        );
    }

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
            "Tail `{topic}`[{p}] on `dc1`: 50 record(s) at [{}, {})",
            dc1_cut[p],
            dc1_cut[p] + 50
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

/// The cut of `topics` (dc2's log end per partition at the promotion), after promoting.
type Cut = BTreeMap<(String, i32), i64>;

/// Promote dc2 (the scenario's `failover promote`, checked), then live on dc2 while dc1
/// is down: 2,000 more records to the main topic and `per_extra` to each extra topic;
/// then dc1 returns. Returns the cut of the main and extra topics and the quiet one.
fn promote_then_live_on_dc2(s: &Scenario, per_extra: usize) -> Cut {
    let lab = s.sb.lab;
    let out = s.sb.run(&["--yes", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");
    let mut topics: Vec<(String, i32)> = vec![(s.topic.clone(), 6)];
    topics.extend(s.quiet.iter().map(|q| (q.clone(), 2)));
    topics.extend(s.extras.iter().map(|(x, _)| (x.name.clone(), x.partitions)));
    let mut cut = Cut::new();
    for (t, n) in &topics {
        for (p, (_, end)) in marks(lab, "dc2", t, *n) {
            cut.insert((t.clone(), p), end);
        }
    }
    s.assert_promoted(); // also writes 3 records to dc2 as `app`
    produce(
        lab,
        "dc2",
        Principal::App,
        &s.topic,
        &make_records(&format!("{}-dc2", s.topic), 2_000, 6),
    );
    for (x, _) in &s.extras {
        produce(
            lab,
            "dc2",
            Principal::App,
            &x.name,
            &make_records(&format!("{}-dc2", x.name), per_extra, x.partitions),
        );
    }
    lab_cmd(&["start", "dc1"]);
    cut
}

/// dc1's tail records of the scenario (main and extra topics), by topic.
fn tails(s: &Scenario, cut: &Cut) -> BTreeMap<String, Vec<Rec>> {
    let mut out = BTreeMap::new();
    let main: Vec<Rec> = s
        .dc1
        .iter()
        .filter(|r| r.offset >= cut[&(s.topic.clone(), r.partition)])
        .cloned()
        .collect();
    assert_eq!(main.len(), 300, "the scenario's tail");
    assert!(main.iter().all(|r| s.is_tail(r)));
    out.insert(s.topic.clone(), main);
    for (x, recs) in &s.extras {
        let t: Vec<Rec> = recs
            .iter()
            .filter(|r| r.offset >= cut[&(x.name.clone(), r.partition)])
            .cloned()
            .collect();
        assert_eq!(t.len(), x.tail, "the tail of `{}`", x.name);
        out.insert(x.name.clone(), t);
    }
    out
}

/// The quarantine holds exactly `tails`, once each, and its manifest verifies.
fn assert_quarantine_holds(s: &Scenario, tails: &BTreeMap<String, Vec<Rec>>) {
    let shown = s.sb.ok(&["--output", "json", "tail", "show"]).json();
    let manifest: Manifest = serde_json::from_value(shown["manifest"].clone()).expect("manifest");
    check_manifest(&manifest);
    let total: usize = tails.values().map(Vec::len).sum();
    assert_eq!(manifest.records as usize, total, "{shown:#}");
    let text = std::fs::read_to_string(shown["path"].as_str().expect("path")).expect("file");
    let q = quarantined(shown["path"].as_str().expect("path"));
    assert_eq!(q.len(), total, "records in the quarantine file");
    for (line, r) in text.lines().zip(&q) {
        let v: serde_json::Value = serde_json::from_str(line).expect("line");
        let topic = v["topic"].as_str().expect("topic");
        let want = tails
            .get(topic)
            .and_then(|t| {
                t.iter()
                    .find(|t| t.offset == r.offset && t.partition == r.partition)
            })
            .unwrap_or_else(|| panic!("quarantined a record outside the tail: {topic} {r:?}"));
        assert!(want.same_content(r), "quarantined {r:?}, dc1 had {want:?}");
    }
    let unique: BTreeSet<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("line");
            format!("{}/{}/{}", v["topic"], v["partition"], v["offset"])
        })
        .collect();
    assert_eq!(unique.len(), total, "a record was quarantined twice");
}

/// Wait until dc1's `topic` holds `want` (by partition, in order, same offsets when
/// `same_offsets`), and nothing more.
fn assert_mirrored_back(lab: &Lab, topic: &str, want: &[Rec], same_offsets: bool) {
    let got = wait_for(
        &format!("{} records of `{topic}` on dc1", want.len()),
        Duration::from_secs(180),
        || {
            let recs = read_all(lab, "dc1", topic);
            (recs.len() >= want.len()).then_some(recs)
        },
    );
    assert_eq!(
        got.len(),
        want.len(),
        "dc1's `{topic}` holds more than wanted (something came back, or twice)"
    );
    let parts: BTreeSet<i32> = want.iter().map(|r| r.partition).collect();
    for p in parts {
        let w: Vec<&Rec> = want.iter().filter(|r| r.partition == p).collect();
        let g: Vec<&Rec> = got.iter().filter(|r| r.partition == p).collect();
        assert_eq!(g.len(), w.len(), "`{topic}` partition {p}");
        for (a, b) in g.iter().zip(w) {
            assert!(
                a.same_content(b),
                "`{topic}` partition {p}: order or content differs: dc1 {a:?}, dc2 {b:?}"
            );
            if same_offsets {
                assert_eq!(
                    a.offset, b.offset,
                    "`{topic}` partition {p}: offsets differ"
                );
            }
        }
    }
}

/// The embedded failback runbook with `edit` applied, written into the sandbox.
fn runbook_variant(s: &Scenario, file: &str, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(repo_root().join("runbooks/failback-reverse.yaml"))
        .expect("embedded runbook");
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the runbook edit changed nothing");
    let path = s.sb.dir.path().join(file);
    std::fs::write(&path, edited).expect("write runbook");
    path_str(&path)
}

/// Issue 9, case 7: a compact-only topic with a tail among three topics. DeleteRecords
/// is refused on it, so the plan recreates it (and says so) before anything is deleted;
/// `compacted: refuse` refuses the run in the plan; the run completes, the reverse flow
/// copies the compacted topic's whole history back from offset 0.
#[test]
fn failback_recreates_a_compact_only_topic_that_delete_records_cannot_cut() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("fbcompact");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let ledger = sb.name("ledger");
    let s = scenario_with(
        sb,
        true,
        vec![ExtraTopic {
            name: ledger.clone(),
            partitions: 2,
            configs: vec![("cleanup.policy", "compact")],
            mirrored: 40,
            tail: 30,
        }],
    );
    let quiet = s.quiet.clone().expect("quiet topic");
    let cut = promote_then_live_on_dc2(&s, 10);
    let tails = tails(&s, &cut);
    let dc1_before: Vec<_> = [(&s.topic, 6), (&ledger, 2), (&quiet, 2)]
        .iter()
        .map(|(t, n)| marks(lab, "dc1", t, *n))
        .collect();
    let acls_dc1 = acls(lab, "dc1");

    // The plan says what happens to the compacted topic, and why; nothing changes.
    let dry = s.sb.run(&["--yes", "--dry-run", "failback", "reverse"]);
    assert_eq!(dry.code, Some(0), "{dry}");
    let text = format!("{}{}", dry.stdout, dry.stderr);
    assert!(
        text.contains(&format!(
            "`{ledger}` is compact-only (cleanup.policy=compact)"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("delete topic `{ledger}`")), "{text}");
    assert!(
        text.contains(&format!("create topic `{ledger}` again")),
        "{text}"
    );

    // `compacted: refuse`: the plan refuses, with the topic and the choices.
    let refuse = runbook_variant(&s, "refuse.yaml", |t| {
        t.replace(
            "strategy: delete-records, cluster: backup,",
            "strategy: delete-records, compacted: refuse, cluster: backup,",
        )
    });
    let out = s.sb.run(&[
        "--yes",
        "--dry-run",
        "failback",
        "reverse",
        "--runbook",
        &refuse,
    ]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains(&format!("`{ledger}`")) && out.stderr.contains("compacted: recreate"),
        "the refusal names the topic and the choices:\n{out}"
    );
    println!("COMPACTED REFUSAL (compacted: refuse):\n{}", out.stderr);
    let after: Vec<_> = [(&s.topic, 6), (&ledger, 2), (&quiet, 2)]
        .iter()
        .map(|(t, n)| marks(lab, "dc1", t, *n))
        .collect();
    assert_eq!(after, dc1_before, "--dry-run changed dc1");
    assert_eq!(acls(lab, "dc1"), acls_dc1, "--dry-run changed dc1's ACLs");

    // The run.
    let started = Instant::now();
    let out =
        s.sb.run(&["--yes", "--output", "json", "failback", "reverse"]);
    let wall = started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let run = last_run(&s, "failback-reverse");
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_quarantine_holds(&s, &tails);
    let trunc = &step(&run, "truncate")["output"];
    let recreated: Vec<&str> = trunc["recreated"]
        .as_array()
        .expect("recreated")
        .iter()
        .map(|r| r["topic"].as_str().expect("topic"))
        .collect();
    assert_eq!(recreated, [ledger.as_str()], "{trunc:#}");

    // The compacted topic: recreated compact-only with its partitions, then all of dc2's
    // history copied back from offset 0, and none of its tail.
    let configs = kdr_client(lab, "dc1")
        .topic_configs(&ledger, T)
        .expect("configs");
    assert!(
        configs.contains(&("cleanup.policy".to_string(), "compact".to_string())),
        "{configs:?}"
    );
    let dc2_ledger = read_all(lab, "dc2", &ledger);
    assert_eq!(dc2_ledger.len(), 50);
    assert_mirrored_back(lab, &ledger, &dc2_ledger, true);
    // The main topic: cut with DeleteRecords; dc2's post-promotion records only.
    let after_cut: Vec<Rec> = read_all(lab, "dc2", &s.topic)
        .into_iter()
        .filter(|r| r.offset >= cut[&(s.topic.clone(), r.partition)])
        .collect();
    assert_eq!(after_cut.len(), 2_003);
    assert_mirrored_back(lab, &s.topic, &after_cut, false);
    let dc1_now: Vec<Rec> = [&s.topic, &ledger]
        .iter()
        .flat_map(|t| read_all(lab, "dc1", t))
        .collect();
    for r in tails.values().flatten() {
        assert!(
            !dc1_now.iter().any(|x| x.same_content(r)),
            "a tail record is still on dc1: {r:?}"
        );
    }
    assert_eq!(
        read_all(lab, "dc1", &quiet).len(),
        20,
        "the quiet topic changed"
    );
    println!(
        "COMPACTED FAILBACK FIGURES: run wall {:.1} s; truncate: {}",
        wall.as_secs_f64(),
        trunc
    );
}

/// Issue 9, case 8: `strategy: recreate` end to end, three topics of which one has no
/// tail. Topics with a tail are recreated with their partitions, replication factor and
/// configs and get the new primary's whole history back from offset 0; the one without
/// a tail is left alone and seeded at the promotion cut; the tails are quarantined.
#[test]
fn failback_with_strategy_recreate_copies_the_whole_history_back() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("fbrecreate");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let ledger = sb.name("ledger");
    let s = scenario_with(
        sb,
        true,
        vec![ExtraTopic {
            name: ledger.clone(),
            partitions: 3,
            configs: vec![
                ("retention.ms", "604800001"),
                ("max.message.bytes", "1048577"),
            ],
            mirrored: 40,
            tail: 30,
        }],
    );
    let quiet = s.quiet.clone().expect("quiet topic");
    let cut = promote_then_live_on_dc2(&s, 12);
    let tails = tails(&s, &cut);
    let recreate = runbook_variant(&s, "recreate.yaml", |t| {
        t.replace("strategy: delete-records", "strategy: recreate")
    });

    let started = Instant::now();
    let out = s.sb.run(&[
        "--yes",
        "--output",
        "json",
        "failback",
        "reverse",
        "--runbook",
        &recreate,
    ]);
    let wall = started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let run = last_run(&s, "failback-reverse");
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_quarantine_holds(&s, &tails);

    // Recreated with the same shape.
    let dc1 = kdr_client(lab, "dc1");
    let configs = dc1.topic_configs(&ledger, T).expect("configs");
    for kv in [
        ("retention.ms", "604800001"),
        ("max.message.bytes", "1048577"),
    ] {
        assert!(
            configs.contains(&(kv.0.to_string(), kv.1.to_string())),
            "{kv:?} not kept: {configs:?}"
        );
    }
    assert_eq!(
        dc1.topic_partitions(&ledger, T).expect("partitions").len(),
        3
    );
    assert_eq!(
        dc1.topic_partitions(&s.topic, T).expect("partitions").len(),
        6
    );
    let trunc = &step(&run, "truncate")["output"];
    let mut recreated: Vec<&str> = trunc["recreated"]
        .as_array()
        .expect("recreated")
        .iter()
        .map(|r| r["topic"].as_str().expect("topic"))
        .collect();
    recreated.sort();
    let mut want = vec![s.topic.as_str(), ledger.as_str()];
    want.sort();
    assert_eq!(recreated, want, "{trunc:#}");
    for r in trunc["recreated"].as_array().expect("recreated") {
        assert_eq!(r["replication_factor"], 1, "the old factor is kept: {r}");
    }

    // The seed: recreated topics from the earliest, the quiet one at the cut.
    let seed = &step(&run, "mirror-seed")["output"];
    for sp in seed["partitions"].as_array().expect("seed partitions") {
        let t = sp["topic"].as_str().expect("topic");
        if t == quiet {
            let p = sp["partition"].as_i64().expect("partition") as i32;
            assert_eq!(sp["reason"], "promotion-cut", "{sp}");
            assert_eq!(sp["next_offset"], cut[&(quiet.clone(), p)], "{sp}");
        } else {
            assert_eq!(sp["reason"], "recreate", "{sp}");
        }
    }

    // dc1 gets dc2's whole history of the recreated topics, at the same offsets; none
    // of the tails; the quiet topic is as it was (no duplicates).
    for t in [&s.topic, &ledger] {
        let dc2_all = read_all(lab, "dc2", t);
        assert_mirrored_back(lab, t, &dc2_all, true);
    }
    assert_eq!(read_all(lab, "dc2", &s.topic).len(), 12_003);
    let dc1_now: Vec<Rec> = [&s.topic, &ledger]
        .iter()
        .flat_map(|t| read_all(lab, "dc1", t))
        .collect();
    for r in tails.values().flatten() {
        assert!(
            !dc1_now.iter().any(|x| x.same_content(r)),
            "a tail record is on dc1: {r:?}"
        );
    }
    assert_eq!(
        read_all(lab, "dc1", &quiet).len(),
        20,
        "the quiet topic changed"
    );
    println!(
        "RECREATE FAILBACK FIGURES: run wall {:.1} s; truncate: {}",
        wall.as_secs_f64(),
        trunc
    );
}
