//! Issue 14 on the real lab: the recorder as a service. The deltas `deltas record`
//! records are also kept in the backup DC (a compacted topic on dc2), so a fresh host
//! with only the topology fails over as well as the recorder's host.
//!
//! Each sandbox names its own deltas topic (`kafka-dr.deltas.<prefix>.internal`, see
//! `Sandbox::new`), so tests never read each other's copies.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::failover::scenario_in;

/// A sandbox: `Sandbox::new` names its own deltas topic on the backup.
pub fn recorder_sandbox(tag: &str) -> Sandbox {
    Sandbox::new(tag)
}

pub fn deltas_topic(sb: &Sandbox) -> String {
    format!("kafka-dr.deltas.{}.internal", sb.prefix)
}

/// The same topology with a journal of its own that never recorded anything: a fresh
/// host in the backup DC. Its fences are journaled in its own journal, so it lifts them
/// itself when dropped (before the scenario's own guard heals MM2).
struct FreshHost(Sandbox);

impl Drop for FreshHost {
    fn drop(&mut self) {
        for fence in ["replication-into-backup", "app-writes"] {
            let _ = self
                .0
                .run(&["--yes", "fence", "lift", fence, "--cluster", "dc2"]);
        }
    }
}

fn fresh_host(sb: &Sandbox) -> FreshHost {
    FreshHost(sb.second_host())
}

/// Issue 14, deliverable 1: `failover promote` from a second journal that never recorded
/// anything reads the recorder's copy on dc2 and commits the same positions as from the
/// recorder's journal: the record after the last one the group consumed on dc1.
#[test]
fn failover_from_a_fresh_journal_uses_the_backup_dc_copy() {
    let _g = exclusive();
    let started = Instant::now();
    let s = scenario_in(recorder_sandbox("rec-fresh"), false);
    let lab = s.sb.lab;
    // The recorder's pass wrote its copy to dc2 (scenario: `deltas record` before dc1 died).
    let copy = read_all(lab, "dc2", &deltas_topic(&s.sb));
    assert!(
        copy.iter().any(|r| r
            .key
            .as_deref()
            .is_some_and(|k| k.starts_with(b"[\"position\""))),
        "no position in the backup DC's copy: {} record(s)",
        copy.len()
    );

    let fresh = fresh_host(&s.sb);
    let out = fresh.0.run(&["--yes", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("imported from the backup DC's copy"),
        "the report does not say where the positions came from:\n{out}"
    );
    // The guard the recorder's host applied on dc2 was lifted by the fresh host's
    // promotion (its bindings came with the copy): applications write to dc2.
    try_produce(
        lab,
        "dc2",
        Principal::App,
        &s.topic,
        &make_records("app-after-fresh", 1, 6),
    )
    .unwrap_or_else(|e| panic!("app cannot write to dc2 after the fresh host's promotion: {e}"));
    let from_fresh = s.committed_on_dc2();
    let expected = s.expected_dc2_positions();
    assert_eq!(
        from_fresh, expected,
        "committed on dc2 from the fresh journal vs the record after G's last consumed one (lower = duplicates, higher = skipped)"
    );

    // The recorder's own journal translates to the same positions.
    let out = s.sb.run(&["--yes", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        s.committed_on_dc2(),
        from_fresh,
        "recorder's journal vs fresh journal"
    );
    println!(
        "RECORDER FIGURES: fresh-journal failover test {:?}",
        started.elapsed()
    );
}

/// `deltas record --follow` as a service, read through its stdout (JSON lines) and its
/// metrics endpoint.
struct Follower {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
    metrics: String,
}

impl Follower {
    fn start(sb: &Sandbox) -> Follower {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let metrics = format!("127.0.0.1:{port}");
        let mut child = sb
            .command(&[
                "--output",
                "json",
                "deltas",
                "record",
                "--follow",
                "--interval",
                "1",
                "--timeout",
                "3",
                "--metrics-addr",
                &metrics,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start deltas record --follow");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Follower {
            child,
            lines,
            metrics,
        }
    }

    /// The next pass line that satisfies `f`, within `timeout`.
    fn pass(
        &mut self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            assert!(
                self.child.try_wait().expect("child status").is_none(),
                "the recorder exited while waiting for {what}"
            );
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            if let Ok(v) = self.lines.recv_timeout(left.min(Duration::from_secs(1))) {
                if f(&v) {
                    return v;
                }
            }
        }
    }

    fn scrape(&self) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.metrics).expect("connect to metrics");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read metrics");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out
    }

    /// The value of the metric line starting with `series` (name and labels).
    fn value(&self, series: &str) -> Option<f64> {
        self.scrape()
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 14, deliverable 2 and test 1: the primary, then the backup, is killed and
/// started again while `--follow` runs: it keeps running, says so in its pass lines and
/// metrics, records again once each is back, and stops on SIGTERM with exit 0.
#[test]
fn follow_survives_the_primary_and_the_backup_going_away() {
    let _g = exclusive();
    let started = Instant::now();
    let sb = recorder_sandbox("rec-follow");
    let lab = sb.lab;
    let topic = sb.name("t");
    let group = sb.name("g");
    create_topic(lab, "dc1", &topic, 2);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 40, 2),
    );
    commit_on_dc1(lab, &group, &topic, &[(0, 5), (1, 7)]);

    let mut f = Follower::start(&sb);
    let ok = |v: &serde_json::Value| v["ok"] == true;
    f.pass("a first pass", Duration::from_secs(60), ok);
    let up = |c: &str| format!("kafka_dr_cluster_up{{cluster=\"{c}\"}}");
    assert_eq!(f.value(&up("dc1")), Some(1.0));
    assert_eq!(
        f.value(&format!(
            "kafka_dr_group_positions_recorded{{group=\"{group}\"}}"
        )),
        Some(2.0)
    );
    assert!(f
        .scrape()
        .contains("kafka_dr_rpo_records{flow=\"dc1->dc2\"}"));

    // The primary dies: passes fail, the recorder keeps running and says why.
    lab_cmd(&["kill", "dc1"]);
    let failed = f.pass("a failed pass", Duration::from_secs(60), |v| {
        v["ok"] == false
    });
    assert_eq!(failed["error_kind"], "primary-unreachable", "{failed}");
    assert_eq!(f.value(&up("dc1")), Some(0.0));
    assert!(
        f.value("kafka_dr_errors_total{kind=\"primary-unreachable\"}")
            .is_some_and(|n| n >= 1.0),
        "{}",
        f.scrape()
    );
    lab_cmd(&["start", "dc1"]);
    let back = f.pass("a pass after dc1 returned", Duration::from_secs(120), ok);
    assert!(
        back["recovered_after_failed_passes"].as_u64().unwrap_or(0) >= 1,
        "{back}"
    );
    assert_eq!(f.value(&up("dc1")), Some(1.0));

    // The backup dies: passes still record into the journal, without the copy.
    lab_cmd(&["kill", "dc2"]);
    let no_copy = f.pass("a pass without the backup", Duration::from_secs(60), |v| {
        v["ok"] == true && v["backup_copy"].is_null()
    });
    assert!(no_copy["connect_error"].is_string(), "{no_copy}");
    assert_eq!(f.value(&up("dc2")), Some(0.0));
    assert!(f
        .value("kafka_dr_errors_total{kind=\"backup-copy-failed\"}")
        .is_some_and(|n| n >= 1.0));
    lab_cmd(&["start", "dc2"]);
    f.pass(
        "a pass writing the copy again",
        Duration::from_secs(120),
        |v| v["ok"] == true && v["backup_copy"].is_object(),
    );
    assert_eq!(f.value(&up("dc2")), Some(1.0));

    // SIGTERM: stops after the current pass, exit 0.
    let pid = i32::try_from(f.child.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = f.child.try_wait().expect("child status") {
            break s;
        }
        assert!(Instant::now() < deadline, "the recorder ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status.code(), Some(0), "exit after SIGTERM");
    println!(
        "RECORDER FIGURES: follow kill/restart test {:?}",
        started.elapsed()
    );
}

fn commit_on_dc1(lab: &Lab, group: &str, topic: &str, positions: &[(i32, i64)]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let consumer: BaseConsumer = lab
        .client_config("dc1", Principal::App)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (p, o) in positions {
        tpl.add_partition_offset(topic, *p, rdkafka::Offset::Offset(*o))
            .unwrap();
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit on dc1");
}

/// Resumes the forward source connector however the test ends.
struct ResumeSource(&'static Lab);

impl Drop for ResumeSource {
    fn drop(&mut self) {
        let _ = block_on(connect_client(self.0, "dc2").resume("mm2-dc1-dc2-source"));
    }
}

/// Issue 14, deliverable 3 and test 4: records the primary expired before MM2 copied
/// them are an error of `kafka-dr check` (with what to do) and a recorder metric.
#[test]
fn records_expired_before_mm2_copied_them_are_reported() {
    let _g = exclusive();
    let started = Instant::now();
    let sb = recorder_sandbox("rec-expired");
    let lab = sb.lab;
    let topic = sb.name("t");
    create_topic(lab, "dc1", &topic, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 10, 1),
    );
    wait_for("10 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic) && read_all(lab, "dc2", &topic).len() >= 10)
            .then_some(())
    });
    // Connect stores the source offsets every few seconds (and on stop).
    std::thread::sleep(Duration::from_secs(6));
    let _resume = ResumeSource(lab);
    block_on(connect_client(lab, "dc2").stop("mm2-dc1-dc2-source")).expect("stop source connector");
    std::thread::sleep(Duration::from_secs(3));
    // Ten more records on dc1, gone before MM2 runs again.
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-late"), 10, 1),
    );
    kdr_client(lab, "dc1")
        .delete_records(&[(topic.as_str(), 0, -1)], Duration::from_secs(10))
        .expect("delete records on dc1");

    let out = sb.run(&["--output", "json", "check"]);
    assert_ne!(out.code, Some(0), "{out}");
    let v = out.json();
    let subject = format!("topic {topic} partition 0");
    let p = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| p["subject"] == subject.as_str())
        .unwrap_or_else(|| panic!("no problem about {subject}: {v:#}"))
        .clone();
    assert_eq!(p["severity"], "error", "{p}");
    assert!(
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("10 record(s) expired on `dc1` before MM2 copied them")),
        "{p}"
    );
    assert!(
        p["help"]
            .as_str()
            .is_some_and(|h| h.contains("retention.ms")),
        "{p}"
    );

    let mut f = Follower::start(&sb);
    let pass = f.pass("a first pass", Duration::from_secs(60), |v| v["ok"] == true);
    assert!(
        pass["silent_gaps"].as_array().is_some_and(|g| g
            .iter()
            .any(|g| g.as_str().is_some_and(|g| g.contains(&topic)))),
        "{pass}"
    );
    assert!(
        f.value("kafka_dr_silent_gap_partitions{flow=\"dc1->dc2\",kind=\"expired-before-copied\"}")
            .is_some_and(|n| n >= 1.0),
        "{}",
        f.scrape()
    );
    println!("RECORDER FIGURES: expired-gap test {:?}", started.elapsed());
}

/// A real Prometheus server (Debian's package: `lab/fetch-prometheus`, which scripts/test
/// runs; or `$KAFKA_DR_PROMETHEUS`) scraping one target every second, on 127.0.0.1 only,
/// with its storage in the sandbox. Killed when dropped, and when the test thread dies.
struct Prometheus {
    child: std::process::Child,
    api: String,
}

impl Prometheus {
    fn start(sb: &Sandbox, target: &str) -> Prometheus {
        use std::os::unix::process::CommandExt;
        let binary = std::env::var("KAFKA_DR_PROMETHEUS").unwrap_or_else(|_| {
            let out = std::process::Command::new(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/fetch-prometheus"),
            )
            .output()
            .expect("run lab/fetch-prometheus");
            assert!(
                out.status.success(),
                "no Prometheus to test with: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        });
        let dir = sb.dir.path().join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: kafka-dr\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = std::process::Command::new(&binary);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap());
        // SAFETY: prctl in the child before exec, async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start prometheus");
        Prometheus {
            child,
            api: format!("127.0.0.1:{port}"),
        }
    }

    /// The value of instant query `query`, once it has one (the first scrapes take a few
    /// seconds), as Prometheus's HTTP API returns it.
    fn value(&mut self, query: &str, timeout: Duration) -> f64 {
        let encoded: String = query
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            assert!(
                self.child.try_wait().expect("prometheus status").is_none(),
                "prometheus exited: see its log in the sandbox"
            );
            if let Some(body) = http_get(&self.api, &format!("/api/v1/query?query={encoded}")) {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                if let Some(n) = v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                {
                    return n;
                }
                last = body;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus has no value for `{query}` after {timeout:?}; last answer: {last}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of `GET path` on `addr`, or `None` if it does not answer 200 (yet).
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Issue 14, test 2: a real Prometheus server scrapes `deltas record --follow
/// --metrics-addr` and answers, through its HTTP API, what the recorder measured: the
/// scrape succeeds (`up` is 1, so Prometheus parses the exposition), the group's recorded
/// positions, the clusters up, and the replication lag of the topic and as a sum (the
/// RPO), equal to what the recorder's own endpoint says.
#[test]
fn a_real_prometheus_scrapes_the_recorder_and_answers_its_queries() {
    let sb = recorder_sandbox("rec-prom");
    let lab = sb.lab;
    let topic = sb.name("t");
    let group = sb.name("g");
    create_topic(lab, "dc1", &topic, 2);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 20, 2),
    );
    commit_on_dc1(lab, &group, &topic, &[(0, 3), (1, 4)]);
    wait_for("20 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic) && read_all(lab, "dc2", &topic).len() >= 20)
            .then_some(())
    });

    let mut f = Follower::start(&sb);
    f.pass("a first pass", Duration::from_secs(60), |v| v["ok"] == true);
    let mut prom = Prometheus::start(&sb, &f.metrics);
    let wait = Duration::from_secs(60);
    assert_eq!(
        prom.value("up{job=\"kafka-dr\"}", wait),
        1.0,
        "the scrape failed"
    );
    assert_eq!(
        prom.value(
            &format!("kafka_dr_group_positions_recorded{{group=\"{group}\"}}"),
            wait
        ),
        2.0
    );
    assert_eq!(
        prom.value("kafka_dr_cluster_up{cluster=\"dc1\"}", wait),
        1.0
    );
    assert_eq!(
        prom.value("kafka_dr_cluster_up{cluster=\"dc2\"}", wait),
        1.0
    );
    // Everything was copied before the recorder started: no lag, for the topic or summed.
    let lag = format!("kafka_dr_replication_lag_records{{flow=\"dc1->dc2\",topic=\"{topic}\"}}");
    assert_eq!(prom.value(&lag, wait), 0.0);
    assert_eq!(f.value(&lag), Some(0.0), "the recorder's own endpoint");
    assert_eq!(
        prom.value("kafka_dr_rpo_records{flow=\"dc1->dc2\"}", wait),
        f.value("kafka_dr_rpo_records{flow=\"dc1->dc2\"}")
            .expect("rpo on the endpoint")
    );
}

/// Puts the forward source connector's config back as it was.
struct RestoreSourceConfig(&'static Lab, std::collections::BTreeMap<String, String>);

impl Drop for RestoreSourceConfig {
    fn drop(&mut self) {
        let _ = block_on(connect_client(self.0, "dc2").put_config("mm2-dc1-dc2-source", &self.1));
    }
}

/// Issue 14, deliverable 3: offset syncs that stopped while MM2 keeps copying are a
/// `kafka-dr check` warning naming the partition, how far MM2 copied past the newest sync,
/// and what to look at. MM2 is made to stop writing syncs the way an operator's config
/// would (`emit.offset-syncs.enabled=false`), then copies 1,200 records of a new topic.
#[test]
fn offset_syncs_that_stopped_while_mm2_copies_are_reported() {
    let _g = exclusive();
    let sb = recorder_sandbox("rec-syncs");
    let lab = sb.lab;
    let topic = sb.name("t");
    let connect = connect_client(lab, "dc2");
    let config = block_on(connect.config("mm2-dc1-dc2-source")).expect("source config");
    let _restore = RestoreSourceConfig(lab, config.clone());
    // Connect refuses the switch while any other offset-syncs setting is present.
    let mut silenced = config;
    silenced.retain(|k, _| !k.starts_with("offset-syncs."));
    silenced.insert("emit.offset-syncs.enabled".into(), "false".into());
    block_on(connect.put_config("mm2-dc1-dc2-source", &silenced)).expect("silence the syncs");
    create_topic(lab, "dc1", &topic, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 1200, 1),
    );
    wait_for("1200 records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_all(lab, "dc2", &topic).len() >= 1200)
            .then_some(())
    });
    // MM2's source offsets reach Connect's offsets topic every few seconds.
    let subject = format!("topic {topic} partition 0");
    let p = wait_for(
        "the stalled syncs in check",
        Duration::from_secs(60),
        || {
            let v = sb.run(&["--output", "json", "check"]).json();
            v["problems"]
                .as_array()?
                .iter()
                .find(|p| p["subject"] == subject.as_str())
                .cloned()
        },
    );
    assert_eq!(p["severity"], "warning", "{p}");
    let message = p["message"].as_str().unwrap_or_default();
    assert!(message.contains("MM2's offset syncs stopped"), "{p}");
    assert!(message.contains("no offset sync at all"), "{p}");
    assert!(
        p["help"]
            .as_str()
            .is_some_and(|h| h.contains("emit.offset-syncs.enabled")),
        "{p}"
    );
}

/// Resumes the forward checkpoint connector.
struct ResumeCheckpoints(&'static Lab);

impl Drop for ResumeCheckpoints {
    fn drop(&mut self) {
        let _ = block_on(connect_client(self.0, "dc2").resume("mm2-dc1-dc2-checkpoint"));
    }
}

/// Issue 14, deliverable 3: a group whose newest MM2 checkpoint grows old while the group
/// moves on is a `kafka-dr check` warning naming the group-partition; an idle group's old
/// checkpoint is not (MM2 4.x writes a checkpoint only when a group moved). The lab's
/// checkpoint connector emits every 5 s, so "old" is 30 s here (five intervals, at least
/// 30 s).
#[test]
fn a_checkpoint_left_behind_by_a_moving_group_is_reported() {
    let _g = exclusive();
    let sb = recorder_sandbox("rec-ckpt");
    let lab = sb.lab;
    let topic = sb.name("t");
    let moving = sb.name("moving");
    let idle = sb.name("idle");
    create_topic(lab, "dc1", &topic, 1);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 600, 1),
    );
    commit_on_dc1(lab, &moving, &topic, &[(0, 50)]);
    commit_on_dc1(lab, &idle, &topic, &[(0, 50)]);
    // Both groups have a checkpoint on dc2.
    let dc2 = kdr_client(lab, "dc2");
    wait_for(
        "checkpoints of both groups",
        Duration::from_secs(120),
        || {
            let c = dc2
                .read_checkpoints("dc1.checkpoints.internal", Duration::from_secs(10))
                .ok()?;
            [&moving, &idle]
                .iter()
                .all(|g| c.iter().any(|c| &c.group == *g && c.topic == topic))
                .then_some(())
        },
    );
    let _resume = ResumeCheckpoints(lab);
    let connect = connect_client(lab, "dc2");
    block_on(connect.stop("mm2-dc1-dc2-checkpoint")).expect("stop checkpoints");
    // STOPPED is reported before its task has stopped emitting: wait until it has none.
    wait_for("the checkpoint task gone", Duration::from_secs(60), || {
        block_on(connect.status("mm2-dc1-dc2-checkpoint"))
            .ok()
            .filter(|s| s.connector_state.as_str() == "STOPPED" && s.tasks.is_empty())
    });
    commit_on_dc1(lab, &moving, &topic, &[(0, 550)]);

    let subject = format!("group {moving} topic {topic} partition 0");
    let started = Instant::now();
    let v = wait_for(
        "the stale checkpoint in check",
        Duration::from_secs(120),
        || {
            let v = sb.run(&["--output", "json", "check"]).json();
            v["problems"]
                .as_array()?
                .iter()
                .any(|p| p["subject"] == subject.as_str())
                .then_some(v)
        },
    );
    assert!(
        started.elapsed() > Duration::from_secs(20),
        "reported after {:?}, before the checkpoint could be 30 s old",
        started.elapsed()
    );
    let problems = v["problems"].as_array().expect("problems");
    let p = problems
        .iter()
        .find(|p| p["subject"] == subject.as_str())
        .expect("the moving group's problem");
    assert_eq!(p["severity"], "warning", "{p}");
    assert!(
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("says 50") && m.contains("committed 550")),
        "{p}"
    );
    assert!(
        !problems.iter().any(|p| p["subject"]
            .as_str()
            .is_some_and(|s| s.contains(idle.as_str()))),
        "the idle group's checkpoint is old too, but not stale: {v:#}"
    );
}

/// The position records of the backup DC's copy from offset `from` on: (key, committed).
fn copy_positions(sb: &Sandbox, from: i64) -> Vec<(String, i64)> {
    read_all(sb.lab, "dc2", &deltas_topic(sb))
        .into_iter()
        .filter(|r| r.offset >= from)
        .filter_map(|r| {
            let key = String::from_utf8(r.key?).ok()?;
            let value: serde_json::Value = serde_json::from_slice(&r.value?).ok()?;
            key.starts_with("[\"position\"")
                .then(|| (key, value["committed"].as_i64().unwrap_or(-1)))
        })
        .collect()
}

/// One `deltas record` pass: its `backup_copy` output and the copy topic's end.
fn pass_copy(sb: &Sandbox) -> (serde_json::Value, i64) {
    let out = sb.run(&["--output", "json", "deltas", "record"]);
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();
    let copy = v["steps"][0]["output"]["backup_copy"].clone();
    assert!(copy.is_object(), "no backup copy written: {v:#}");
    let end = read_all(sb.lab, "dc2", &deltas_topic(sb))
        .last()
        .map_or(0, |r| r.offset + 1);
    (copy, end)
}

/// A pass writes to the backup DC's copy only what the journal got since the copy it
/// last wrote (at 1,000 groups the whole copy is 300,000 records every pass), and the
/// whole copy again once the topic is another incarnation: a fresh host reading the copy
/// after any pass finds every position, at its newest value.
#[test]
fn the_backup_copy_gets_what_changed_and_everything_again_when_recreated() {
    let sb = recorder_sandbox("rec-incr");
    let lab = sb.lab;
    let topic = sb.name("t");
    create_topic(lab, "dc1", &topic, 3);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 30, 3),
    );
    let groups = [sb.name("g0"), sb.name("g1")];
    for g in &groups {
        commit_on_dc1(lab, g, &topic, &[(0, 2), (1, 3), (2, 4)]);
    }
    let key = |g: &str, p: i32| serde_json::json!(["position", "dc1", g, topic, p]).to_string();
    let ours = |v: Vec<(String, i64)>| -> std::collections::BTreeMap<String, i64> {
        v.into_iter()
            .filter(|(k, _)| groups.iter().any(|g| k.contains(&format!("\"{g}\""))))
            .collect()
    };

    let (copy, end1) = pass_copy(&sb);
    assert_eq!(copy["whole"], true, "the first copy is whole: {copy}");
    let all = ours(copy_positions(&sb, 0));
    assert_eq!(all.len(), 6, "every position in the first copy: {all:?}");

    // Nothing changed: no position is written again.
    let (copy, end2) = pass_copy(&sb);
    assert_eq!(copy["whole"], false, "{copy}");
    assert_eq!(ours(copy_positions(&sb, end1)), Default::default());

    // One position moved: just it is written, at its new offset.
    commit_on_dc1(lab, &groups[0], &topic, &[(0, 5)]);
    let (copy, _) = pass_copy(&sb);
    assert_eq!(copy["whole"], false, "{copy}");
    let written = ours(copy_positions(&sb, end2));
    assert_eq!(
        written,
        [(key(&groups[0], 0), 5)].into_iter().collect(),
        "only the moved position"
    );

    // The topic deleted (and created again by the next pass): the whole copy again.
    let admin = admin(lab, "dc2");
    let name = deltas_topic(&sb);
    block_on(admin.delete_topics(
        &[name.as_str()],
        &rdkafka::admin::AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("delete the copy topic");
    wait_for("the copy topic gone", Duration::from_secs(60), || {
        (!crate::smoke::topic_exists(lab, "dc2", &name)).then_some(())
    });
    let (copy, _) = pass_copy(&sb);
    assert_eq!(
        copy["whole"], true,
        "a recreated copy is written whole: {copy}"
    );
    let all = ours(copy_positions(&sb, 0));
    assert_eq!(all.len(), 6, "every position in the new copy: {all:?}");
    assert_eq!(all.get(&key(&groups[0], 0)), Some(&5), "{all:?}");
}

/// Issue 10 and 14: a `--follow` pass asks the primary for the offsets of the groups
/// whose partition of `__consumer_offsets` moved since the last pass, and of no other;
/// every kind of change is still recorded: a commit by a consumer that never joined the
/// group (the group stays empty), an admin reset, a group that is new.
#[test]
fn follow_asks_only_the_groups_that_moved_and_records_every_change() {
    let _g = exclusive();
    let sb = recorder_sandbox("rec-asked");
    let lab = sb.lab;
    let topic = sb.name("t");
    let (a, b, c) = (sb.name("a"), sb.name("b"), sb.name("c"));
    create_topic(lab, "dc1", &topic, 2);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 100, 2),
    );
    commit_on_dc1(lab, &a, &topic, &[(0, 5), (1, 5)]);
    commit_on_dc1(lab, &b, &topic, &[(0, 6), (1, 6)]);

    let mut f = Follower::start(&sb);
    let ok = |v: &serde_json::Value| v["ok"] == true;
    let first = f.pass("a first pass", Duration::from_secs(60), ok);
    assert!(
        first["groups_asked"].as_u64().unwrap_or(0) >= 2,
        "the first pass asks every group: {first}"
    );
    // Nothing commits in the lab meanwhile (the test runs alone): no group is asked.
    f.pass("a pass that asks no group", Duration::from_secs(60), |v| {
        ok(v) && v["groups_asked"] == 0
    });
    let recorded = |group: &str| -> Vec<(i32, i64)> {
        let journal = kafka_dr::journal::Journal::open(&sb.journal).expect("journal");
        journal
            .latest_group_positions("dc1", Some(group))
            .expect("positions")
            .into_iter()
            .filter(|r| r.topic == topic)
            .map(|r| (r.partition, r.committed_offset))
            .collect()
    };
    let wait_recorded = |f: &mut Follower, what: &str, group: &str, want: &[(i32, i64)]| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = f.pass(what, Duration::from_secs(30), ok);
            if recorded(group) == want {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the journal holds {:?} of `{group}`, not {want:?}; last pass {v}",
                recorded(group)
            );
        }
    };

    // A consumer that never joined commits: the group stays empty.
    commit_on_dc1(lab, &a, &topic, &[(0, 20), (1, 5)]);
    let v = wait_recorded(&mut f, "a's commit recorded", &a, &[(0, 20), (1, 5)]);
    assert!(v["groups_asked"].as_u64().unwrap_or(0) >= 1, "{v}");
    // An admin reset of an empty group.
    kdr_client(lab, "dc1")
        .alter_group_offsets(&b, &[(topic.as_str(), 1, 30)], Duration::from_secs(10))
        .expect("reset b on dc1");
    wait_recorded(&mut f, "b's reset recorded", &b, &[(0, 6), (1, 30)]);
    // A group that is new.
    commit_on_dc1(lab, &c, &topic, &[(0, 40)]);
    wait_recorded(&mut f, "the new group recorded", &c, &[(0, 40)]);
    // And the journal agrees with the cluster on every one of them.
    let dc1 = kdr_client(lab, "dc1");
    for g in [&a, &b, &c] {
        let on_dc1: Vec<(i32, i64)> = dc1
            .committed_offsets(g, Duration::from_secs(10))
            .expect("committed on dc1")
            .into_iter()
            .map(|(_, p, o, _)| (p, o))
            .collect();
        assert_eq!(recorded(g), on_dc1, "group `{g}`");
    }
}
