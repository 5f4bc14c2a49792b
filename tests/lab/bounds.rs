//! Issue 9, cases 4 and 6 on the real lab: the bounds of the logs.
//!
//! Case 4 ("Bounds"): a group's translated position below the backup's log start (its
//! next records expired on dc2 before the failover) is committed at the log start, and
//! the failover report counts the records the group will never see.
//! Case 6 ("Truncate keeps the last copy"): when dc2 no longer holds the early history
//! of a partition (retention after the failover), failback's `truncate` must not delete
//! the only copy on dc1.
//! Both disturb the whole lab (the failover scenario kills dc1): `exclusive()`.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::failover::scenario_in;
use crate::reverse::{sandbox_with_reverse_names, DeleteConnectors};
use crate::tail::marks;

const T: Duration = Duration::from_secs(10);

/// Case 4. The scenario's group G is at 137 on dc1 partition 0 (dc2 holds the same
/// offsets: the mirror copied from the start). Retention on dc2 deletes [0, 500) before
/// the failover: G's next 363 records there are gone.
#[test]
fn a_group_below_the_backups_log_start_is_committed_there_and_the_skip_is_reported() {
    let _g = exclusive();
    let s = scenario_in(Sandbox::new("bounds-fo"), false);
    let lab = s.sb.lab;
    const START: i64 = 500;
    const G_AT: i64 = 137; // failover::POSITIONS[0]
                           // Where G's next record is on dc2 (before it expires there).
    let last = s
        .dc1
        .iter()
        .find(|r| r.partition == 0 && r.offset == G_AT - 1)
        .expect("G's last consumed record on dc1");
    let next_on_dc2 = read_all(lab, "dc2", &s.topic)
        .iter()
        .filter(|r| r.partition == 0 && r.same_content(last))
        .map(|r| r.offset + 1)
        .min()
        .expect("its twin on dc2");
    assert!(next_on_dc2 < START);
    let dc2 = kdr_client(lab, "dc2");
    let low = dc2
        .delete_records(&[(s.topic.as_str(), 0, START)], T)
        .expect("DeleteRecords on dc2");
    assert_eq!(low[0].2, START, "dc2's log start");

    let started = Instant::now();
    let out =
        s.sb.run(&["--yes", "--output", "json", "failover", "promote"]);
    let took = started.elapsed();
    assert_eq!(out.code, Some(0), "{out}");
    let v = out.json();

    // Committed at the log start, not below it (a consumer would reset by its
    // auto.offset.reset: to the end, with `latest`, skipping everything).
    let committed = s.committed_on_dc2();
    assert_eq!(committed.get(&0), Some(&START), "{committed:?}");

    // The report says how many records G will never see, and why.
    let g = v["failover"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == s.group.as_str())
        .expect("G in the report")
        .clone();
    let at_most = g["expired_skipped"]
        .as_i64()
        .unwrap_or_else(|| panic!("the report does not count the expired records: {g}"));
    let at_least = g["expired_skipped_at_least"]
        .as_i64()
        .unwrap_or_else(|| panic!("no lower bound in the report: {g}"));
    let truth = START - next_on_dc2;
    assert!(
        at_least <= truth && truth <= at_most,
        "G skips {truth} expired record(s); the report says {at_least}..{at_most}: {g}"
    );
    assert!(
        at_least > 0,
        "the skip is certain, the report must say so: {g}"
    );
    let notes = g["expired_notes"].to_string();
    assert!(
        notes.contains("expired on `dc2`") && notes.contains(&format!("log start {START}")),
        "{notes}"
    );
    // The other five partitions are untouched and exact (as recorded: dc1 died after
    // the recording, so not proven now).
    assert_eq!(g["exact_when_recorded"], 5, "{g}");
    // Nothing expired is counted as a possible duplicate either.
    let translate = v["run"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|st| st["action"] == "groups.translate")
        .expect("translate step")
        .clone();
    let p0 = translate["output"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .find(|p| p["group"] == s.group.as_str() && p["partition"] == 0)
        .expect("G partition 0")
        .clone();
    assert_eq!(p0["backup_offset"], START, "{p0}");
    // Only what G may have consumed since the recording (the rest of dc2).
    assert_eq!(
        p0["worst_case_duplicates"], p0["since_recording_at_most"],
        "{p0}"
    );
    println!(
        "BOUNDS FIGURES: G at {G_AT} on dc1 (next record at {next_on_dc2} on dc2), dc2's log start {START}: committed {:?}, reported skipped {at_least}..{at_most} (truth {truth}); promote took {took:?}; {notes}",
        committed.get(&0)
    );
}

/// Case 6. After the failover, retention on dc2 (the new primary) deletes the first 50
/// records of partition 0: dc1 (the old primary) holds their only copy. `truncate`
/// (delete-records) would delete [log start, log end) of every partition with a tail,
/// them included. It must refuse in its plan, with the count, and delete nothing.
#[test]
fn failback_keeps_the_records_only_the_old_primary_still_has() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("bounds-fb");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let s = scenario_in(sb, false);
    let out = s.sb.run(&["--yes", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");
    s.assert_promoted();
    const LOST: i64 = 50;
    let low = kdr_client(lab, "dc2")
        .delete_records(&[(s.topic.as_str(), 0, LOST)], T)
        .expect("DeleteRecords on dc2");
    assert_eq!(low[0].2, LOST);
    lab_cmd(&["start", "dc1"]);
    let dc1_before = marks(lab, "dc1", &s.topic, 6);
    assert_eq!(
        dc1_before[&0].0, 0,
        "dc1 still holds partition 0 from offset 0"
    );
    let only_on_dc1: Vec<Rec> = s
        .dc1
        .iter()
        .filter(|r| r.partition == 0 && r.offset < LOST)
        .cloned()
        .collect();
    let want = format!("`{}`[0]: {LOST} record(s) at offsets [0, {LOST})", s.topic);

    // The plan refuses, with the count, under --dry-run too.
    let started = Instant::now();
    let dry = s.sb.run(&["--yes", "--dry-run", "failback", "reverse"]);
    assert_ne!(dry.code, Some(0), "{dry}");
    assert!(
        dry.stderr.contains(&want) && dry.stderr.contains("ONLY copy"),
        "the refusal names the partition and the count:\n{dry}"
    );
    let out = s.sb.run(&["--yes", "failback", "reverse"]);
    let took = started.elapsed();
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains(&want), "{out}");
    assert!(out.stderr.contains("help:"), "{out}");
    println!(
        "LAST COPY REFUSAL ({took:?} for both runs):\n{}",
        out.stderr
    );

    // Nothing was deleted: the 50 records are still on dc1, and so is every tail.
    assert_eq!(marks(lab, "dc1", &s.topic, 6), dc1_before, "dc1 changed");
    let dc1_now = read_all(lab, "dc1", &s.topic);
    for r in &only_on_dc1 {
        assert!(
            dc1_now
                .iter()
                .any(|x| x.offset == r.offset && x.same_content(r)),
            "dc1 lost offset {} of partition 0, its only copy",
            r.offset
        );
    }
}

/// Case 4 at commit time: the log start moves between `groups.translate` and
/// `groups.commit` (the promotion is killed as the commit step starts, retention runs on
/// dc2, the run is resumed). The commit clamps again, with a fresh read, and says what
/// the group skips.
#[test]
fn the_commit_clamps_again_when_the_log_start_moved_since_the_translation() {
    let _g = exclusive();
    let s = scenario_in(Sandbox::new("bounds-commit"), false);
    let lab = s.sb.lab;
    const START: i64 = 500;
    crate::failover::killed_during(
        &s.sb,
        &["--yes", "failover", "promote"],
        "commit",
        Duration::from_millis(0),
    );
    kdr_client(lab, "dc2")
        .delete_records(&[(s.topic.as_str(), 0, START)], T)
        .expect("DeleteRecords on dc2");
    let out = s.sb.run(&["--yes", "resume", "--take-over-lease"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(s.committed_on_dc2().get(&0), Some(&START));
    let runs = s.sb.ok(&["--output", "json", "runs", "list"]).json();
    let id = runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["runbook"] == "failover-promote")
        .expect("the promotion")["id"]
        .to_string();
    let shown = s.sb.ok(&["--output", "json", "runs", "show", &id]).json();
    let steps = shown["steps"].as_array().expect("steps");
    let translated = steps
        .iter()
        .find(|st| st["action"] == "groups.translate")
        .expect("translate")["output"]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .find(|p| p["group"] == s.group.as_str() && p["partition"] == 0)
        .expect("G partition 0")["backup_offset"]
        .as_i64()
        .expect("offset");
    assert!(
        translated < START,
        "translated before the deletion: {translated}"
    );
    let clamped = steps
        .iter()
        .find(|st| st["action"] == "groups.commit")
        .expect("commit")["output"]["clamped"]
        .clone();
    let c = clamped
        .as_array()
        .and_then(|a| a.iter().find(|c| c["group"] == s.group.as_str()))
        .unwrap_or_else(|| panic!("the commit does not say it clamped: {clamped}"));
    assert_eq!(c["from"], translated, "{c}");
    assert_eq!(c["to"], START, "{c}");
    assert_eq!(c["expired_skipped"], START - translated, "{c}");
    assert!(
        out.stderr.contains("will NEVER see those"),
        "the resume warns:\n{}",
        out.stderr
    );
    println!("COMMIT CLAMP: translated {translated}, log start {START} at commit: {c}");
}
