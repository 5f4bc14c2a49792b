//! Issue 9 case 9 on the real lab: resume at every crash point.
//!
//! The crash points come from the code (`kafka_dr::engine::crash::REGISTRY`): for each step
//! of the failover runbook and of the failback runbook, the engine's step boundaries and
//! every point of the step's action. Each is armed in turn (`KAFKA_DR_CRASH_AT=<point>@<step>`)
//! in a fixture of its own; the process must die there by SIGKILL, `kafka-dr resume` must
//! finish the run, and the end state must equal that of a clean run of the same runbook on
//! an identical fixture: group offsets, ACLs, roles, connector states (failover); ACLs,
//! quarantine contents, the old primary's records, reverse connector states and offsets
//! (failback). A registered point that no runbook reaches fails the test.
//!
//! One lab scenario serves every fixture: each fixture is a sandbox (its own topic, two
//! groups, journal, reverse connector names) set up while dc1 is up; then the forward flow
//! stops, every fixture's topic gets a tail on dc1 only, dc1 dies once for all of them, the
//! failover crash points run (a few at a time); dc1 returns once and the failback crash
//! points run on the promoted fixtures. The runbooks are the shipped ones with shorter
//! observation windows. Disturbs the whole lab: takes `exclusive()`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_dr::engine::crash::{CrashPoint, REGISTRY};
use kafka_dr::kafka::AclFilter;

use crate::common::*;
use crate::groups::commit;
use crate::reverse::sandbox_with_reverse_names;

const T: Duration = Duration::from_secs(10);
const PARTITIONS: i32 = 2;
/// Records mirrored to dc2 before the forward flow stops.
const MIRRORED: usize = 60;
/// Records written to dc1 only (the tail a failback quarantines).
const TAIL: usize = 10;
/// Records applications write to dc2 after the promotion (the reverse flow copies them).
const AFTER_PROMOTION: usize = 20;
/// Two groups, so `groups.commit` has a crash point between them.
const POSITIONS: [[i64; 2]; 2] = [[7, 19], [13, 25]];
/// Fixtures driven at once (each mostly waits on Kafka and Connect; 2 cores).
const PARALLEL: usize = 3;

/// One crash point in one step of one runbook.
#[derive(Debug, Clone)]
struct Candidate {
    point: CrashPoint,
    step: String,
}

impl Candidate {
    fn armed(&self) -> String {
        format!("{}@{}", self.point.name, self.step)
    }
}

/// One sandbox with its topic and groups, set up identically to every other.
struct Fixture {
    sb: Sandbox,
    reverse: [String; 3],
    topic: String,
    groups: [String; 2],
}

impl Fixture {
    fn new() -> Fixture {
        let (sb, reverse) = sandbox_with_reverse_names("crash");
        let topic = sb.name("orders");
        let groups = [sb.name("g1"), sb.name("g2")];
        Fixture {
            sb,
            reverse,
            topic,
            groups,
        }
    }

    /// Text with this fixture's names made the same for every fixture.
    fn normal(&self, text: &str) -> String {
        let base = format!("kdr-test-{}", self.sb.prefix.replace('.', "-"));
        text.replace(&self.sb.prefix, "<sb>")
            .replace(&base, "<rev>")
    }

    /// This fixture's ACL bindings on `dc`, normalized and sorted.
    fn acls(&self, dc: &str) -> Vec<String> {
        let mut v: Vec<String> = kdr_client(self.sb.lab, dc)
            .describe_acls(&AclFilter::any(), T)
            .expect("describe acls")
            .iter()
            .map(|b| b.to_string())
            .filter(|b| b.contains(&self.sb.prefix))
            .map(|b| self.normal(&b))
            .collect();
        v.sort();
        v
    }

    fn committed(&self, dc: &str) -> BTreeMap<String, BTreeMap<i32, i64>> {
        let c = kdr_client(self.sb.lab, dc);
        self.groups
            .iter()
            .map(|g| {
                let offsets = c
                    .committed_offsets(g, T)
                    .expect("committed offsets")
                    .into_iter()
                    .filter(|(t, _, _, _)| t == &self.topic)
                    .map(|(_, p, o, _)| (p, o))
                    .collect();
                (self.normal(g), offsets)
            })
            .collect()
    }

    fn roles(&self) -> Vec<String> {
        let journal = kafka_dr::journal::Journal::open(&self.sb.journal).expect("journal");
        journal
            .current_roles()
            .expect("roles")
            .iter()
            .map(|r| format!("{}={:?}", r.cluster, r.role))
            .collect()
    }

    /// The newest run of `runbook`: its state and, per step, state and whether it kept an
    /// output (a later step or the report reads it).
    fn run_shape(&self, runbook: &str) -> Vec<String> {
        let runs = self.sb.ok(&["--output", "json", "runs", "list"]).json();
        let Some(id) = runs["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter(|r| r["runbook"] == runbook && r["dry_run"] == false)
            .filter_map(|r| r["id"].as_i64())
            .max()
        else {
            return vec![format!("no {runbook} run")];
        };
        let run = self
            .sb
            .ok(&["--output", "json", "runs", "show", &id.to_string()])
            .json();
        let mut out = vec![format!("run {}", run["state"])];
        for s in run["steps"].as_array().expect("steps") {
            out.push(format!(
                "{} {} output:{}",
                s["step_id"].as_str().unwrap_or("?"),
                s["state"],
                !s["output"].is_null()
            ));
        }
        out
    }

    /// The steps the newest run of `runbook` applied (changed something in): only there
    /// are the points inside an action's apply passed.
    fn applied_steps(&self, runbook: &str) -> BTreeSet<String> {
        let runs = self.sb.ok(&["--output", "json", "runs", "list"]).json();
        let id = runs["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter(|r| r["runbook"] == runbook && r["dry_run"] == false)
            .filter_map(|r| r["id"].as_i64())
            .max()
            .expect("a run");
        let run = self
            .sb
            .ok(&["--output", "json", "runs", "show", &id.to_string()])
            .json();
        run["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter(|s| s["outcome"] == "applied")
            .filter_map(|s| s["step_id"].as_str().map(String::from))
            .collect()
    }

    /// What a failover must leave behind.
    fn failover_state(&self) -> Vec<String> {
        let mut v = self.run_shape("failover-promote");
        v.push(format!("dc2 offsets {:?}", self.committed("dc2")));
        v.extend(self.acls("dc2").into_iter().map(|a| format!("dc2 {a}")));
        v.extend(self.roles());
        // A stop sent while a task hangs on the dead primary is confirmed by Connect a
        // few seconds later (mirror.stop goes on without waiting): give it 20 s.
        let c = connect_client(self.sb.lab, "dc2");
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in FORWARD_CONNECTORS {
            let state = loop {
                let st = block_on(c.status(n)).expect("forward connector status");
                if st.connector_state == kafka_dr::connect::ConnectorState::Stopped
                    || Instant::now() > deadline
                {
                    break st.connector_state;
                }
                std::thread::sleep(Duration::from_millis(500));
            };
            v.push(format!("{n} {state:?}"));
        }
        v
    }

    /// What a failback must leave behind.
    fn failback_state(&self) -> Vec<String> {
        let lab = self.sb.lab;
        let mut v = self.run_shape("failback-reverse");
        v.extend(self.acls("dc1").into_iter().map(|a| format!("dc1 {a}")));
        v.extend(self.acls("dc2").into_iter().map(|a| format!("dc2 {a}")));
        v.extend(self.roles());
        let shown = self.sb.run(&["--output", "json", "tail", "show"]);
        if shown.code == Some(0) {
            let j = shown.json();
            v.push(format!(
                "quarantine manifest records {}",
                j["manifest"]["records"]
            ));
            let q: BTreeSet<Rec> = crate::tail::quarantined(j["path"].as_str().expect("path"))
                .into_iter()
                .collect();
            v.push(format!("quarantine {q:?}"));
        } else {
            v.push(format!("tail show failed: {shown}"));
        }
        // dc1 now: the tail gone, dc2's post-promotion records copied once each.
        let dc1: Vec<(i32, Option<Vec<u8>>)> = read_all(lab, "dc1", &self.topic)
            .into_iter()
            .map(|r| (r.partition, r.key))
            .collect();
        v.push(format!("dc1 records {dc1:?}"));
        let c = connect_client(lab, "dc1");
        for n in &self.reverse {
            match block_on(c.status(n)) {
                Ok(st) => v.push(format!(
                    "{} {:?} tasks {:?}",
                    self.normal(n),
                    st.connector_state,
                    st.tasks
                        .iter()
                        .map(|t| format!("{:?}", t.state))
                        .collect::<Vec<_>>()
                )),
                Err(e) => v.push(format!("{}: {e}", self.normal(n))),
            }
        }
        let offsets = block_on(c.get_offsets(&self.reverse[0])).expect("reverse offsets");
        let mut offsets: Vec<String> = offsets
            .iter()
            .map(|o| self.normal(&serde_json::to_string(o).expect("json")))
            .collect();
        offsets.sort();
        v.push(format!("reverse source offsets {offsets:?}"));
        v
    }

    /// Delete this fixture's reverse connectors (the Connect worker serves them all).
    fn delete_reverse(&self) {
        let c = connect_client(self.sb.lab, "dc1");
        for n in &self.reverse {
            let _ = block_on(c.delete(n));
        }
    }
}

impl Drop for Fixture {
    /// Leave nothing of this fixture in force: its ACL bindings on both DCs (the lab's
    /// heal needs MM2 to write again) and its reverse connectors.
    fn drop(&mut self) {
        self.delete_reverse();
        for dc in ["dc1", "dc2"] {
            // No panic here: this may run while the test unwinds.
            let Ok(c) = kafka_dr::kafka::KafkaClient::connect(
                dc,
                self.sb.lab.rd_settings(dc, Principal::Admin),
                T,
            ) else {
                continue;
            };
            if let Ok(all) = c.describe_acls(&AclFilter::any(), T) {
                let mine: Vec<_> = all
                    .into_iter()
                    .filter(|b| b.name.contains(&self.sb.prefix))
                    .collect();
                let _ = c.delete_acls(&mine, T);
            }
        }
    }
}

/// The bindings on the cluster resource (a fence denies topic creation there, shared by
/// every sandbox) as they were before the test; dropped, it deletes those added since.
struct ClusterAcls(Vec<(&'static str, Vec<kafka_dr::kafka::AclBinding>)>);

fn cluster_bindings(c: &kafka_dr::kafka::KafkaClient) -> Vec<kafka_dr::kafka::AclBinding> {
    c.describe_acls(&AclFilter::any(), T)
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b.resource_type == kafka_dr::kafka::ResourceType::Cluster)
        .collect()
}

impl ClusterAcls {
    fn now(lab: &Lab) -> ClusterAcls {
        ClusterAcls(
            ["dc1", "dc2"]
                .into_iter()
                .map(|dc| (dc, cluster_bindings(&kdr_client(lab, dc))))
                .collect(),
        )
    }
}

impl Drop for ClusterAcls {
    fn drop(&mut self) {
        for (dc, before) in &self.0 {
            let Ok(c) = kafka_dr::kafka::KafkaClient::connect(
                dc,
                lab().rd_settings(dc, Principal::Admin),
                T,
            ) else {
                continue;
            };
            let added: Vec<_> = cluster_bindings(&c)
                .into_iter()
                .filter(|b| !before.contains(b))
                .collect();
            let _ = c.delete_acls(&added, T);
        }
    }
}

/// Starts dc1 when dropped (whatever happened to the test).
struct StartDc1;

impl Drop for StartDc1 {
    fn drop(&mut self) {
        let _ = std::process::Command::new(kafka_lab())
            .args(["start", "dc1"])
            .status();
    }
}

/// The candidates of a shipped runbook: for each step, the engine's points and its
/// action's.
fn candidates(runbook_text: &str) -> Vec<Candidate> {
    let rb = kafka_dr::runbook::load_str(runbook_text, "crash-test").expect("runbook");
    let mut out = Vec::new();
    for step in &rb.steps {
        for p in REGISTRY {
            if p.actions.is_empty() || p.actions.contains(&step.action.as_str()) {
                out.push(Candidate {
                    point: *p,
                    step: step.id.clone(),
                });
            }
        }
    }
    out
}

/// A shipped runbook with shorter observation windows, written beside the fixtures.
fn fast_runbook(dir: &std::path::Path, name: &str, edits: &[(&str, &str)]) -> (String, String) {
    let mut text =
        std::fs::read_to_string(repo_root().join("runbooks").join(name)).expect("shipped runbook");
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "`{from}` not in {name}: update this test"
        );
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, &text).expect("write runbook");
    (path.to_string_lossy().into_owned(), text)
}

/// How one armed crash point went.
enum Outcome {
    /// Died there, resumed, and reached the clean end state.
    Clean,
    /// The process did not die: the point was not reached.
    NotReached(String),
    /// Died, but the resume or the end state differs.
    Differs(String),
}

/// Run `args` with `cand` armed; then resume; then compare with `clean`.
fn crash_and_resume(
    f: &Fixture,
    cand: &Candidate,
    args: &[&str],
    clean: &[String],
    state: impl Fn(&Fixture) -> Vec<String>,
) -> Outcome {
    let out =
        f.sb.command(args)
            .env("KAFKA_DR_CRASH_AT", cand.armed())
            .output()
            .expect("run kafka-dr");
    if out.status.signal() != Some(9) {
        return Outcome::NotReached(format!(
            "exit {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let resumed = f.sb.run(&["--yes", "resume", "--take-over-lease"]);
    if resumed.code != Some(0) {
        return Outcome::Differs(format!("resume failed: {resumed}"));
    }
    let got = state(f);
    if got == clean {
        Outcome::Clean
    } else {
        let missing: Vec<&String> = clean.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !clean.contains(l)).collect();
        Outcome::Differs(format!(
            "end state differs from the clean run's\n  clean only: {missing:#?}\n  resumed only: {extra:#?}"
        ))
    }
}

/// The candidates whose point the clean run passed: every engine point, and an action's
/// own points only in a step the clean run applied (a step with nothing to do never
/// enters its apply: the failback's `mirror.stop` finds the flow stopped by the failover).
/// The others go to `unarmed`, with the reason.
fn reachable<'a>(
    cands: Vec<(&'a Candidate, &'a Fixture)>,
    applied: &BTreeSet<String>,
    unarmed: &Mutex<Vec<String>>,
) -> Vec<(&'a Candidate, &'a Fixture)> {
    let (keep, skip): (Vec<_>, Vec<_>) = cands
        .into_iter()
        .partition(|(c, _)| c.point.actions.is_empty() || applied.contains(&c.step));
    for (c, _) in skip {
        unarmed.lock().unwrap().push(format!(
            "{} (the clean run had nothing to do in step `{}`)",
            c.armed(),
            c.step
        ));
    }
    keep
}

/// Run `jobs` on up to PARALLEL threads.
fn in_parallel<J: Send>(jobs: Vec<J>, work: impl Fn(J) + Sync) {
    let queue = Mutex::new(jobs);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let Some(job) = queue.lock().unwrap().pop() else {
                    break;
                };
                work(job);
            });
        }
    });
}

/// `lab/kafka-lab start dc1`, tried three times: the broker's port (in the ephemeral
/// range) was seen taken for a moment by a client socket right after the kill.
fn start_dc1() {
    for attempt in 1..=3 {
        let ok = std::process::Command::new(kafka_lab())
            .args(["start", "dc1"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        eprintln!("lab/kafka-lab start dc1 failed (attempt {attempt} of 3)");
        std::thread::sleep(Duration::from_secs(5));
    }
    panic!("lab/kafka-lab start dc1 failed three times (see its output above)");
}

fn stop_forward_connectors(lab: &Lab) {
    let c = connect_client(lab, "dc2");
    for n in FORWARD_CONNECTORS {
        block_on(c.stop(n)).expect("stop forward connector");
    }
    wait_for(
        "the forward connectors to stop",
        Duration::from_secs(60),
        || {
            FORWARD_CONNECTORS
                .iter()
                .all(|n| {
                    block_on(c.status(n)).is_ok_and(|s| {
                        s.connector_state == kafka_dr::connect::ConnectorState::Stopped
                    })
                })
                .then_some(())
        },
    );
}

fn resume_forward_connectors(lab: &Lab) {
    let c = connect_client(lab, "dc2");
    for n in FORWARD_CONNECTORS {
        block_on(c.resume(n)).expect("resume forward connector");
    }
    wait_for(
        "the forward connectors to run",
        Duration::from_secs(60),
        || {
            FORWARD_CONNECTORS
                .iter()
                .all(|n| {
                    block_on(c.status(n)).is_ok_and(|s| {
                        s.connector_state == kafka_dr::connect::ConnectorState::Running
                    })
                })
                .then_some(())
        },
    );
}

/// Issue 9, case 9: every registered crash point reachable by the failover and the
/// failback runbooks, armed in turn; each resume reaches the clean run's end state.
#[test]
fn every_crash_point_resumes_to_the_clean_end_state() {
    let _g = exclusive();
    let lab = lab();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let (fo_path, fo_text) = fast_runbook(
        dir.path(),
        "failover-promote.yaml",
        &[
            ("observe_seconds: 5", "observe_seconds: 1"),
            (
                "optional: [primary], timeout_seconds: 5",
                "optional: [primary], timeout_seconds: 2",
            ),
        ],
    );
    let (fb_path, fb_text) = fast_runbook(
        dir.path(),
        "failback-reverse.yaml",
        &[(
            "{ fence: app-writes, cluster: backup }",
            "{ fence: app-writes, cluster: backup, observe_seconds: 1 }",
        )],
    );
    let fo = candidates(&fo_text);
    let fb = candidates(&fb_text);
    // A development filter runs a subset; it can never pass (see the coverage check).
    let only = std::env::var("KAFKA_DR_CRASH_ONLY").ok();
    let keep = |c: &Candidate| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|o| c.armed().contains(o)))
    };
    let fo: Vec<Candidate> = fo.into_iter().filter(keep).collect();
    let fb: Vec<Candidate> = fb.into_iter().filter(keep).collect();
    eprintln!(
        "crash points: {} in the failover runbook, {} in the failback runbook{}",
        fo.len(),
        fb.len(),
        only.as_deref()
            .map(|o| format!(" (KAFKA_DR_CRASH_ONLY={o}: this run cannot pass)"))
            .unwrap_or_default()
    );

    // Fixture 0 runs clean with the forward flow stopped beforehand, fixture 1 with it
    // running (the reference of mirror.stop's own points); one fixture per candidate from
    // 2 on for the failover; the failback reuses them all from 1 on.
    let n = 2 + fo.len().max(fb.len().saturating_sub(1));
    // Dropped after the fixtures (and after dc1 is back).
    let _cluster_acls = ClusterAcls::now(lab);
    let fixtures: Vec<Fixture> = (0..n).map(|_| Fixture::new()).collect();
    for f in &fixtures {
        create_topic(lab, "dc1", &f.topic, PARTITIONS);
        produce(
            lab,
            "dc1",
            Principal::App,
            &f.topic,
            &make_records("crash", MIRRORED, PARTITIONS),
        );
    }
    for f in &fixtures {
        wait_for(
            "a fixture's records on dc2",
            Duration::from_secs(180),
            || {
                (crate::smoke::topic_exists(lab, "dc2", &f.topic)
                    && read_all(lab, "dc2", &f.topic).len() >= MIRRORED)
                    .then_some(())
            },
        );
        for (g, pos) in f.groups.iter().zip(POSITIONS) {
            commit(lab, "dc1", Principal::App, g, &f.topic, &pos);
        }
    }
    // MM2 emits the syncs of the last records at its next offset flush (5 s in the lab).
    std::thread::sleep(Duration::from_secs(8));
    in_parallel(fixtures.iter().collect(), |f: &Fixture| {
        f.sb.ok(&["--yes", "fence", "apply", "app-writes", "--cluster", "dc2"]);
        f.sb.ok(&["deltas", "record"]);
    });
    let failures = Mutex::new(Vec::<String>::new());
    let unarmed = Mutex::new(Vec::<String>::new());
    let armed = AtomicUsize::new(0);
    let reached = Mutex::new(BTreeSet::<&'static str>::new());
    let clean_count = Mutex::new(0usize);
    let record = |which: &str, cand: &Candidate, outcome: Outcome| match outcome {
        Outcome::Clean => {
            reached.lock().unwrap().insert(cand.point.name);
            *clean_count.lock().unwrap() += 1;
            eprintln!(
                "crash {which} {}: resumed to the clean end state",
                cand.armed()
            );
        }
        Outcome::NotReached(why) => failures.lock().unwrap().push(format!(
            "{which} {} ({}): not reached: {why}",
            cand.armed(),
            cand.point.what
        )),
        Outcome::Differs(why) => {
            reached.lock().unwrap().insert(cand.point.name);
            failures.lock().unwrap().push(format!(
                "{which} {} ({}): {why}",
                cand.armed(),
                cand.point.what
            ))
        }
    };

    let fo_args = ["--yes", "run", fo_path.as_str()];

    // mirror.stop's own points need the forward connectors running. Connect cannot start
    // them again while dc1 is dead (the source connector waits on it), so these fail over
    // with dc1 up (the runbook works either way), one at a time, against a clean run that
    // also found the flow running and dc1 up (fixture 1). Their tails are written below
    // with everyone else's: after their cut, so the failback sees the same tail.
    let fo_pre = Instant::now();
    let (stops, others): (Vec<_>, Vec<_>) = fo
        .iter()
        .zip(&fixtures[2..])
        .partition(|(c, _)| c.point.actions.contains(&"mirror.stop"));
    let out = fixtures[1].sb.run(&fo_args);
    assert_eq!(out.code, Some(0), "clean failover (dc1 up): {out}");
    let fo_clean_running = fixtures[1].failover_state();
    let stops = reachable(
        stops,
        &fixtures[1].applied_steps("failover-promote"),
        &unarmed,
    );
    for (cand, f) in stops {
        armed.fetch_add(1, Ordering::SeqCst);
        resume_forward_connectors(lab);
        record(
            "failover",
            cand,
            crash_and_resume(
                f,
                cand,
                &fo_args,
                &fo_clean_running,
                Fixture::failover_state,
            ),
        );
    }
    let fo_pre = fo_pre.elapsed();

    // The whole forward flow stops while dc1 answers (promptly confirmed): every other
    // fixture then starts its failover from the same connector states, dc1 dead.
    stop_forward_connectors(lab);
    for f in &fixtures {
        produce(
            lab,
            "dc1",
            Principal::App,
            &f.topic,
            &make_records("crash-tail", TAIL, PARTITIONS),
        );
    }
    lab_cmd(&["kill", "dc1"]);
    // Dropped before the fixtures: their clean-up needs dc1.
    let _dc1_back = StartDc1;
    let set_up = started.elapsed();

    // Failover, dc1 dead: the clean run first.
    let out = fixtures[0].sb.run(&fo_args);
    assert_eq!(out.code, Some(0), "clean failover: {out}");
    let fo_clean = fixtures[0].failover_state();
    let want_offsets = format!(
        "dc2 offsets {:?}",
        fixtures[0]
            .groups
            .iter()
            .zip(POSITIONS)
            .map(|(g, pos)| (
                fixtures[0].normal(g),
                pos.iter()
                    .enumerate()
                    .map(|(p, o)| (p as i32, *o))
                    .collect::<BTreeMap<i32, i64>>()
            ))
            .collect::<BTreeMap<_, _>>()
    );
    assert!(
        fo_clean.contains(&want_offsets),
        "the clean failover did not commit G's positions ({want_offsets}): {fo_clean:#?}"
    );
    let fo_started = Instant::now();
    let others = reachable(
        others,
        &fixtures[0].applied_steps("failover-promote"),
        &unarmed,
    );
    armed.fetch_add(others.len(), Ordering::SeqCst);
    in_parallel(others, |(cand, f): (&Candidate, &Fixture)| {
        record(
            "failover",
            cand,
            crash_and_resume(f, cand, &fo_args, &fo_clean, Fixture::failover_state),
        )
    });
    // Fixtures that armed no failover point are promoted cleanly.
    let unpromoted: Vec<&Fixture> = fixtures[2..]
        .iter()
        .filter(|f| {
            f.run_shape("failover-promote").first().map(String::as_str) != Some("run \"succeeded\"")
        })
        .collect();
    in_parallel(unpromoted, |f: &Fixture| {
        let out = f.sb.run(&fo_args);
        assert_eq!(out.code, Some(0), "failover: {out}");
    });
    let fo_wall = fo_started.elapsed() + fo_pre;

    // Life on dc2 while dc1 is down; then dc1 returns with its tails.
    for f in &fixtures {
        // A fixture whose failover did not finish keeps the guard: its failure is recorded.
        if let Err(e) = try_produce(
            lab,
            "dc2",
            Principal::App,
            &f.topic,
            &make_records("crash-dc2", AFTER_PROMOTION, PARTITIONS),
        ) {
            eprintln!("cannot write to dc2 after a failover: {e}");
        }
    }
    start_dc1();
    let fb_started = Instant::now();
    let fb_args = ["--yes", "run", fb_path.as_str()];
    let out = fixtures[0].sb.run(&fb_args);
    assert_eq!(out.code, Some(0), "clean failback: {out}");
    let fb_clean = fixtures[0].failback_state();
    fixtures[0].delete_reverse();
    assert!(
        fb_clean
            .iter()
            .any(|l| l == &format!("quarantine manifest records {}", TAIL)),
        "the clean failback did not quarantine the {TAIL} tail records: {fb_clean:#?}"
    );
    let fb_armed = reachable(
        fb.iter().zip(&fixtures[1..]).collect(),
        &fixtures[0].applied_steps("failback-reverse"),
        &unarmed,
    );
    armed.fetch_add(fb_armed.len(), Ordering::SeqCst);
    in_parallel(fb_armed, |(cand, f): (&Candidate, &Fixture)| {
        let outcome = crash_and_resume(f, cand, &fb_args, &fb_clean, Fixture::failback_state);
        f.delete_reverse();
        record("failback", cand, outcome)
    });
    let fb_wall = fb_started.elapsed();

    let armed = armed.into_inner();
    let unarmed = unarmed.into_inner().unwrap();
    let clean = *clean_count.lock().unwrap();
    let reached = reached.into_inner().unwrap();
    let never: Vec<&str> = REGISTRY
        .iter()
        .map(|p| p.name)
        .filter(|n| !reached.contains(n))
        .collect();
    println!(
        "CRASH FIGURES: {armed} crash points armed, {clean} reached the clean end state ({} candidates: {} failover, {} failback; not armed: {}); {} of {} registered points reached; set-up {:.1} s, failover points {:.1} s, failback points {:.1} s, total {:.1} s",
        fo.len() + fb.len(),
        fo.len(),
        fb.len(),
        if unarmed.is_empty() { "none".to_string() } else { unarmed.join(", ") },
        reached.len(),
        REGISTRY.len(),
        set_up.as_secs_f64(),
        fo_wall.as_secs_f64(),
        fb_wall.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty() && never.is_empty(),
        "{} of {armed} crash points did not resume to the clean end state; registered but never reached: {never:?}\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
