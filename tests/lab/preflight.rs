//! Issue 3 on the real lab: `check` passes on a healthy lab and reports a killed DC
//! within its timeout; JSON outputs parse; no lab password reaches any output or the
//! journal.

use std::time::{Duration, Instant};

use crate::common::*;

/// `check` passes against the running lab, and its JSON has the documented shape.
#[test]
fn check_passes_on_the_lab() {
    let sb = Sandbox::new("check");
    let _g = shared();
    create_topic(sb.lab, "dc1", &sb.name("orders"), 2);
    let out = sb.run(&["--output", "json", "check"]);
    let v = out.json();
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(v["ok"], true);
    for c in v["clusters"].as_array().unwrap() {
        assert_eq!(c["reachable"], true, "{c}");
        assert_eq!(c["may_alter_acls"], true, "{c}");
    }
    let connectors = v["flows"][0]["connectors"].as_array().unwrap();
    assert_eq!(connectors.len(), 3);
    assert!(v["lag"].is_array() && v["problems"].is_array());
}

/// With dc1 killed, `check` reports dc1 unreachable within its timeout and exits non-zero.
#[test]
fn check_reports_a_killed_dc_within_its_timeout() {
    let sb = Sandbox::new("check-down");
    let _g = exclusive();
    lab_cmd(&["kill", "dc1"]);
    let started = Instant::now();
    let out = sb.run(&["--output", "json", "check", "--timeout", "5"]);
    let took = started.elapsed();
    lab_cmd(&["start", "dc1"]);
    assert_eq!(out.code, Some(3), "{out}");
    let v = out.json();
    let dc1 = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dc1")
        .unwrap()
        .clone();
    assert_eq!(dc1["reachable"], false, "{dc1}");
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["subject"] == "cluster dc1"),
        "{v:#}"
    );
    assert!(
        took < Duration::from_secs(15),
        "check took {took:?} with a 5 s timeout"
    );
}

/// No lab password appears in any output or in the journal file.
#[test]
fn no_password_in_outputs_or_journal() {
    let sb = Sandbox::new("secrets");
    let _g = shared();
    create_topic(sb.lab, "dc1", &sb.name("orders"), 1);
    let mut seen = String::new();
    for args in [
        vec!["check"],
        vec!["--output", "json", "check"],
        vec!["-vv", "watermarks", "snapshot"],
        vec!["--output", "json", "runs", "list"],
        vec!["--output", "json", "runs", "show", "1"],
        vec!["plan", "snapshot"],
    ] {
        let out = sb.run(&args);
        seen.push_str(&out.stdout);
        seen.push_str(&out.stderr);
    }
    let journal = std::fs::read(&sb.journal).unwrap();
    let journal = String::from_utf8_lossy(&journal);
    for pw in sb.lab.passwords() {
        assert!(
            !seen.contains(&pw),
            "a lab password leaked into kafka-dr's output"
        );
        assert!(
            !journal.contains(&pw),
            "a lab password leaked into the journal"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sb.journal).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Issue 15: `check` is right on a healthy lab. With no in-scope topic yet it exits 0 (an
/// MM2 source connector with no task is the expected state then, said as `info`); once
/// an in-scope topic exists, a source connector with no task is an error and `check`
/// exits 3. The forward flow here is three connectors of this test's own on dc1's idle
/// Connect worker (copies of the lab's: "source" and checkpoint are checkpoint connectors
/// matching no group, so they run no task; the heartbeat runs one), so the lab's own MM2
/// is not touched.
#[test]
fn check_exit_code_follows_in_scope_topics_and_connector_tasks() {
    let sb = Sandbox::new("check-tasks");
    let _g = shared();
    let worker = connect_client(sb.lab, "dc1");
    let lab_worker = connect_client(sb.lab, "dc2");
    let tag = sb.prefix.replace('.', "-");
    let names: Vec<(String, String)> = ["source", "checkpoint", "heartbeat"]
        .iter()
        .map(|role| (format!("mm2-dc1-dc2-{role}"), format!("{tag}-{role}")))
        .collect();
    // The task-less "source" is a copy of the lab's checkpoint connector whose groups
    // match nothing: MM2 gives it no task whatever topics exist (a MirrorSourceConnector
    // always copies `heartbeats` topics, so a copy of the source could get a task).
    for ((_, name), copy_of) in names.iter().zip([
        "mm2-dc1-dc2-checkpoint",
        "mm2-dc1-dc2-checkpoint",
        "mm2-dc1-dc2-heartbeat",
    ]) {
        let mut config = block_on(lab_worker.config(copy_of)).expect("lab connector config");
        config.insert("name".into(), name.clone());
        config.insert("groups".into(), format!("{tag}-nothing"));
        block_on(worker.put_config(name, &config)).expect("create connector");
    }
    let cleanup = || {
        for (_, name) in &names {
            let _ = block_on(worker.delete(name));
        }
    };
    let text = std::fs::read_to_string(&sb.topology).unwrap();
    let mut edited = text.replace(
        "${env:KAFKA_LAB_DC2_CONNECT}",
        "${env:KAFKA_LAB_DC1_CONNECT}",
    );
    for (lab_name, name) in &names {
        edited = edited.replace(&format!(": {lab_name}"), &format!(": {name}"));
    }
    assert!(
        edited.contains(&names[0].1) && edited != text,
        "lab/topology.yaml changed shape"
    );
    std::fs::write(&sb.topology, edited).unwrap();
    wait_for(
        "the test's connectors RUNNING",
        Duration::from_secs(60),
        || {
            names
                .iter()
                .all(|(_, n)| {
                    block_on(worker.status(n))
                        .is_ok_and(|s| s.connector_state.as_str() == "RUNNING")
                })
                .then_some(())
        },
    );
    let heartbeat = &names[2].1;
    wait_for(
        "the heartbeat connector's task",
        Duration::from_secs(60),
        || {
            block_on(worker.status(heartbeat))
                .is_ok_and(|s| {
                    !s.tasks.is_empty() && s.tasks.iter().all(|t| t.state.as_str() == "RUNNING")
                })
                .then_some(())
        },
    );

    let quiet = sb.run(&["--output", "json", "check", "--timeout", "10"]);
    let human = sb.run(&["check", "--timeout", "10"]);
    create_topic(sb.lab, "dc1", &sb.name("orders"), 1);
    let busy = sb.run(&["--output", "json", "check", "--timeout", "10"]);
    cleanup();

    assert_eq!(quiet.code, Some(0), "no in-scope topic yet:\n{quiet}");
    let v = quiet.json();
    let problems = v["problems"].as_array().unwrap();
    assert!(problems.iter().all(|p| p["severity"] != "error"), "{v:#}");
    assert!(
        problems.iter().any(|p| p["severity"] == "info"
            && p["message"]
                .as_str()
                .unwrap_or("")
                .contains("no in-scope topic")),
        "the task-less source connector is explained: {v:#}"
    );
    assert_eq!(human.code, Some(0), "{human}");
    assert!(human.stdout.contains("info"), "{human}");
    for line in human.stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line}"
        );
    }

    assert_eq!(busy.code, Some(3), "an in-scope topic and no task:\n{busy}");
    let v = busy.json();
    let source = &names[0].1;
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["severity"] == "error" && p["subject"] == format!("connector {source}")),
        "{v:#}"
    );
}
