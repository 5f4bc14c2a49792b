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
