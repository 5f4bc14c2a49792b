//! Issue 10 on the real lab: `failover promote` over many partitions and groups, with the
//! primary dead, and every group-partition checked where it landed.
//!
//! The suite runs a small size (4 topics x 6 partitions, 12 groups); `scripts/bench
//! failover` runs it at the sizes it is given (KAFKA_DR_BENCH_TOPICS, _PARTITIONS,
//! _GROUPS, _TOPICS_PER_GROUP, _RECORDS per partition) and prints each figure on a
//! `BENCH` line: `deltas record`, the promotion with its steps, and the manual runbook
//! (one `kafka-consumer-groups --reset-offsets` JVM per group, timed on a sample, plus
//! one `kafka-acls` JVM). `scripts/bench follow` adds `deltas record --follow`'s CPU and
//! memory over a while (KAFKA_DR_BENCH_FOLLOW_SECONDS). No speed is asserted; correctness
//! is.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Brings dc1 back and lifts this sandbox's fences whatever happens (before the
/// `exclusive()` guard heals MM2).
struct Heal<'a>(&'a Sandbox);

impl Drop for Heal<'_> {
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

/// The committed position of group `g` on topic `t` partition `p`: 1..=records, never 0,
/// spread so that few land on one of MM2's sync points (translation by fingerprint).
fn position(g: usize, t: usize, p: usize, records: usize) -> i64 {
    (1 + (g * 31 + t * 7 + p * 13) % records) as i64
}

/// `KAFKA_DR_BENCH_HOLD=FILE` (`scripts/bench` passes it through): with the primary dead
/// and before the promotion, write to FILE the shell lines that run kafka-dr on this
/// sandbox (lab env, topology, journal) and wait until FILE is removed. For profiling the
/// promotion by hand (`--dry-run` under perf, say) on a set-up that takes minutes to make.
/// `KAFKA_DR_BENCH_HOLD_RECORD=FILE` holds the same way earlier: with the primary up,
/// before the first `deltas record` pass (to profile the recorder).
fn hold_for_profiling(sb: &Sandbox, variable: &str) {
    let Ok(file) = std::env::var(variable) else {
        return;
    };
    let mut text = String::new();
    for (k, v) in sb.lab.child_env() {
        text.push_str(&format!("export {k}='{v}'\n"));
    }
    text.push_str(&format!(
        "kdr() {{ '{}' --topology '{}' --journal '{}' \"$@\"; }}\n",
        env!("CARGO_BIN_EXE_kafka-dr"),
        sb.topology.display(),
        sb.journal.display()
    ));
    std::fs::write(&file, text).expect("write the hold file");
    eprintln!("BENCH holding: source {file}, then `kdr ...`; remove it to go on");
    while std::path::Path::new(&file).exists() {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `deltas record --follow --interval 10` for `how_long` (`scripts/bench follow`): its
/// CPU (utime + stime from /proc, as a share of one core over the whole run, and over the
/// passes after the first) and its resident memory (VmHWM: the peak), on `BENCH` lines.
/// Stopped with SIGTERM, which must end it with exit 0.
fn measure_follow(sb: &Sandbox, how_long: Duration, env: Option<(&str, &str)>) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let cpu_seconds = |pid: u32| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which is in parentheses): utime is the 12th
        // and stime the 13th of them.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<f64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect();
        (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / ticks
    };
    let status_kb = |pid: u32, key: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut command = sb.command(&["deltas", "record", "--follow", "--interval", "10"]);
    if let Some((k, v)) = env {
        command.env(k, v);
    }
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start deltas record --follow");
    let pid = child.id();
    let started = Instant::now();
    // The first pass reads everything; after it only changes cost anything.
    std::thread::sleep(Duration::from_secs(12));
    let (cpu_after_first, at_first) = (cpu_seconds(pid), started.elapsed());
    let rss_after_first = status_kb(pid, "VmRSS:");
    std::thread::sleep(how_long.saturating_sub(Duration::from_secs(12)));
    let (cpu_total, wall) = (cpu_seconds(pid), started.elapsed());
    let (rss, peak) = (status_kb(pid, "VmRSS:"), status_kb(pid, "VmHWM:"));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait for the recorder");
    let steady = (cpu_total - cpu_after_first) / (wall - at_first).as_secs_f64().max(0.001);
    eprintln!(
        "BENCH deltas record --follow --interval 10{} for {} s: {:.1}% of one core on average ({:.1}% after the first pass), RSS {} MB after the first pass, {} MB at the end, peak {} MB; exit {:?} on SIGTERM",
        env.map(|(k, v)| format!(" with {k}={v}")).unwrap_or_default(),
        s(wall),
        100.0 * cpu_total / wall.as_secs_f64().max(0.001),
        100.0 * steady,
        rss_after_first / 1024,
        rss / 1024,
        peak / 1024,
        status.code()
    );
}

/// Seconds with one decimal.
fn s(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// The time a Kafka tool takes as a JVM (one sample), or None when it failed.
fn time_tool(args: &[&str]) -> Option<Duration> {
    let started = Instant::now();
    let out = std::process::Command::new(kafka_lab())
        .arg("tool")
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "manual runbook sample failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(started.elapsed())
}

#[test]
fn failover_at_scale_lands_every_group_partition() {
    let lab = lab();
    let _g = exclusive();
    let topics = env_usize("KAFKA_DR_BENCH_TOPICS", 4);
    let partitions = env_usize("KAFKA_DR_BENCH_PARTITIONS", 6);
    let groups = env_usize("KAFKA_DR_BENCH_GROUPS", 12);
    let per_group = env_usize("KAFKA_DR_BENCH_TOPICS_PER_GROUP", 2).min(topics);
    let records = env_usize("KAFKA_DR_BENCH_RECORDS", 20);
    let sb = Sandbox::new("scale");
    let _heal = Heal(&sb);
    eprintln!(
        "BENCH size: {topics} topics x {partitions} partitions = {} partitions, {groups} groups x {per_group} topics = {} group-partitions, {records} records per partition",
        topics * partitions,
        groups * per_group * partitions
    );

    let setup = Instant::now();
    let names: Vec<String> = (0..topics).map(|t| sb.name(&format!("t{t}"))).collect();
    for n in &names {
        create_topic(lab, "dc1", n, partitions as i32);
    }
    for n in &names {
        produce(
            lab,
            "dc1",
            Principal::App,
            n,
            &make_records(n, records * partitions, partitions as i32),
        );
    }
    // The groups' positions on dc1, and where each must land on dc2: MM2 copies a fresh
    // topic offset for offset (identity policy, no gaps), so at the same offset.
    let dc1 = kdr_client(lab, "dc1");
    let mut expected: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
    for g in 0..groups {
        let group = sb.name(&format!("g{g}"));
        let mut set = Vec::new();
        for k in 0..per_group {
            let t = (g * per_group + k) % topics;
            for p in 0..partitions {
                let pos = position(g, t, p, records);
                set.push((names[t].clone(), p as i32, pos));
                expected.insert((group.clone(), names[t].clone(), p as i32), pos);
            }
        }
        dc1.alter_group_offsets(&group, &set, Duration::from_secs(30))
            .expect("commit on dc1");
    }
    drop(dc1);
    let dc2 = kdr_client(lab, "dc2");
    let all: Vec<(String, i32)> = names
        .iter()
        .flat_map(|n| (0..partitions as i32).map(move |p| (n.clone(), p)))
        .collect();
    wait_for(
        "every partition mirrored to dc2",
        Duration::from_secs(600),
        || {
            let w = dc2.watermarks(&all, Duration::from_secs(30)).ok()?;
            (w.len() == all.len() && w.iter().all(|w| w.latest == records as i64)).then_some(())
        },
    );
    // MM2 emits the syncs of the last records at its next offset flush (5 s in the lab).
    std::thread::sleep(Duration::from_secs(8));
    sb.ok(&["--yes", "fence", "apply", "app-writes", "--cluster", "dc2"]);
    eprintln!("BENCH set-up: {} s", s(setup.elapsed()));

    hold_for_profiling(&sb, "KAFKA_DR_BENCH_HOLD_RECORD");
    let started = Instant::now();
    sb.ok(&["deltas", "record"]);
    eprintln!("BENCH deltas record (one pass): {} s", s(started.elapsed()));
    if let Some(seconds) = std::env::var("KAFKA_DR_BENCH_FOLLOW_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        measure_follow(&sb, Duration::from_secs(seconds), None);
        // A second run with one variable set, to compare (e.g. MALLOC_ARENA_MAX=2).
        if let Ok(also) = std::env::var("KAFKA_DR_BENCH_FOLLOW_ALSO") {
            if let Some((k, v)) = also.split_once('=') {
                measure_follow(&sb, Duration::from_secs(seconds), Some((k, v)));
            }
        }
    }

    lab_cmd(&["kill", "dc1"]);
    hold_for_profiling(&sb, "KAFKA_DR_BENCH_HOLD");
    let started = Instant::now();
    let out = sb.ok(&["--yes", "-o", "json", "failover", "promote"]);
    let wall = started.elapsed();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let report = doc.get("failover").unwrap_or(&doc);
    let mut window = Duration::ZERO;
    if let Some(steps) = report["steps"].as_array() {
        for st in steps {
            let ms = st["duration_ms"].as_u64().unwrap_or(0);
            eprintln!(
                "BENCH   step {} ({}): {} s",
                st["step"].as_str().unwrap_or("?"),
                st["action"].as_str().unwrap_or("?"),
                s(Duration::from_millis(ms))
            );
            if st["action"] == "fence.apply" {
                window = Duration::from_secs(5);
            }
        }
    }
    let excluding = wall.saturating_sub(window);
    eprintln!(
        "BENCH failover promote: {} s wall, {} s without the fence's {} s observation window",
        s(wall),
        s(excluding),
        window.as_secs()
    );

    // Every group-partition landed where its record is on dc2.
    let mut checked = 0;
    let mut wrong = Vec::new();
    for g in 0..groups {
        let group = sb.name(&format!("g{g}"));
        let got: BTreeMap<(String, i32), i64> = dc2
            .committed_offsets(&group, Duration::from_secs(30))
            .expect("committed offsets on dc2")
            .into_iter()
            .map(|(t, p, o, _)| ((t, p), o))
            .collect();
        for ((eg, t, p), want) in expected.range((group.clone(), String::new(), i32::MIN)..) {
            if *eg != group {
                break;
            }
            checked += 1;
            if got.get(&(t.clone(), *p)) != Some(want) {
                wrong.push(format!(
                    "{group} {t}[{p}]: {:?}, expected {want}",
                    got.get(&(t.clone(), *p))
                ));
            }
        }
    }
    eprintln!(
        "BENCH checked: {checked} group-partition(s), {} wrong",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(checked, groups * per_group * partitions);

    // The manual runbook, same run: one reset JVM per group (a sample, on a group of its
    // own) and one kafka-acls JVM.
    let admin_props = format!(
        "{}/admin.properties",
        lab.env
            .get("KAFKA_LAB_CLIENT_DIR")
            .cloned()
            .unwrap_or_default()
    );
    let bootstrap = lab.bootstrap("dc2");
    let sample_group = sb.name("manual-sample");
    let topic_arg = format!("{}:0", names[0]);
    let reset = time_tool(&[
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        &bootstrap,
        "--command-config",
        &admin_props,
        "--reset-offsets",
        "--group",
        &sample_group,
        "--topic",
        &topic_arg,
        "--to-offset",
        "1",
        "--execute",
    ]);
    let sample_topic = sb.name("manual-acl");
    let acls = time_tool(&[
        "org.apache.kafka.tools.AclCommand",
        "--bootstrap-server",
        &bootstrap,
        "--command-config",
        &admin_props,
        "--add",
        "--deny-principal",
        "User:nobody",
        "--operation",
        "Write",
        "--topic",
        &sample_topic,
    ]);
    if let (Some(reset), Some(acls)) = (reset, acls) {
        let manual = reset * groups as u32 + acls;
        eprintln!(
            "BENCH manual runbook: {} s ({groups} x {} s reset JVM + {} s kafka-acls JVM); kafka-dr {:.1}x faster without the window ({:.1}x with it)",
            s(manual),
            s(reset),
            s(acls),
            manual.as_secs_f64() / excluding.as_secs_f64().max(0.001),
            manual.as_secs_f64() / wall.as_secs_f64().max(0.001)
        );
    }
}
