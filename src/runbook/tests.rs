//! Unit tests of runbook loading (fixture files with one error each live in
//! tests/fixtures/bad/runbook and are driven by tests/validation.rs).

use serde_json::json;

use super::*;

const GOOD: &str = "\
name: drill
description: A drill.
steps:
  - id: confirm-start
    action: confirm
    params: { message: \"Go?\" }
  - id: hook
    action: exec
    params:
      argv: [\"/usr/local/bin/notify\", \"--stage\", \"start\"]
      env: { CHANNEL: ops }
  - id: snap
    action: watermarks.snapshot
    params:
      clusters:
        - dc1
        - dc2
      optional: [dc1]
";

#[test]
fn embedded_runbooks_load() {
    assert!(embedded_names().contains(&"snapshot"));
    for name in embedded_names() {
        let text = embedded_text(name).unwrap();
        let rb = load_str(text, &format!("embedded:{name}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rb.name, name);
        assert!(rb.description.is_some(), "{name} needs a description");
        assert_eq!(embedded(name).unwrap().checksum, rb.checksum);
        validate_against(&rb, &crate::topology::Topology::lab_example()).unwrap();
    }
    let snap = embedded("snapshot").unwrap();
    assert_eq!(snap.source, "embedded:snapshot");
    assert_eq!(snap.steps[0].action, "confirm");
    assert_eq!(snap.steps[1].params["clusters"], json!(["dc1", "dc2"]));
    assert_eq!(snap.steps[1].params["optional"], json!([]));
    assert!(embedded("nope").is_none());
}

#[test]
fn loads_types_and_defaults() {
    let rb = load_str(GOOD, "drill.yaml").unwrap();
    assert_eq!(rb.name, "drill");
    assert_eq!(rb.source, "drill.yaml");
    assert_eq!(rb.text, GOOD);
    assert_eq!(rb.checksum, checksum(GOOD));
    assert_eq!(rb.checksum.len(), 64);
    assert_eq!(rb.steps.len(), 3);
    assert_eq!(rb.steps[0].params, json!({ "message": "Go?" }));
    assert_eq!(
        rb.steps[1].params,
        json!({
            "argv": ["/usr/local/bin/notify", "--stage", "start"],
            "timeout_seconds": 60,
            "env": { "CHANNEL": "ops" }
        })
    );
    assert_eq!(
        rb.steps[2].params,
        json!({ "clusters": ["dc1", "dc2"], "timeout_seconds": 10, "optional": ["dc1"] })
    );
    assert_eq!(rb.steps[0].location, Location { line: 4, column: 3 });
    assert_eq!(
        rb.steps[2].location,
        Location {
            line: 12,
            column: 3
        }
    );
    // A different text is a different checksum.
    assert_ne!(checksum(&GOOD.replace("Go?", "Go!")), rb.checksum);
}

fn err(text: &str) -> String {
    load_str(text, "rb.yaml").unwrap_err().to_string()
}

#[test]
fn errors_point_at_the_problem() {
    let e = err(&GOOD.replace("action: watermarks.snapshot", "action: watermark.snapshot"));
    assert!(
        e.starts_with("rb.yaml:13:13: in `steps[2].action`: unknown action `watermark.snapshot`"),
        "{e}"
    );
    assert!(e.contains("did you mean `watermarks.snapshot`?"), "{e}");

    let e = err(&GOOD.replace("id: snap", "id: hook"));
    assert!(e.starts_with("rb.yaml:12:9:"), "{e}");
    assert!(
        e.contains("duplicate step id `hook`") && e.contains("line 7"),
        "{e}"
    );

    let e = err(&GOOD.replace("        - dc2\n", "        - 2\n"));
    assert!(
        e.starts_with("rb.yaml:17:11: in `steps[2].params.clusters[1]`"),
        "{e}"
    );
    assert!(e.contains("quote"), "{e}");

    let e = err(&GOOD.replace("env: { CHANNEL: ops }", "env: { CHANNEL: 5 }"));
    assert!(e.starts_with("rb.yaml:11:23:"), "{e}");

    let e = err(&GOOD.replace("optional: [dc1]", "optional: [dc3]"));
    assert!(
        e.contains("`dc3` is in `optional` but not in `clusters`"),
        "{e}"
    );
    assert!(e.starts_with("rb.yaml:18:18:"), "{e}");

    let e = err("name: x\nsteps: []\n");
    assert!(
        e.contains("no steps") && e.starts_with("rb.yaml:2:1:"),
        "{e}"
    );
}

#[test]
fn against_topology() {
    let rb = load_str(&GOOD.replace("- dc2", "- dc22"), "rb.yaml").unwrap();
    let e = validate_against(&rb, &crate::topology::Topology::lab_example())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("rb.yaml:17:11:"), "{e}");
    assert!(
        e.contains("`dc22`") && e.contains("`dc1`, `dc2`") && e.contains("did you mean `dc2`?"),
        "{e}"
    );
}

#[test]
fn named_lookup() {
    assert_eq!(load_named("snapshot").unwrap().name, "snapshot");
    let e = load_named("snapshto").unwrap_err().to_string();
    assert!(e.contains("did you mean `snapshot`?"), "{e}");
    assert!(matches!(
        load_named("./missing.yaml"),
        Err(RunbookError::Read { .. })
    ));
}

/// Issue 12: `exec` env values never reach the journal's copy of the runbook, in any
/// YAML form; the rest of the text (and the checksum of the real text) stays.
#[test]
fn journal_text_masks_exec_env_values() {
    let text = "name: t\nsteps:\n  - id: a\n    action: exec\n    params:\n      argv: [\"true\"]\n      env: { TOKEN: s3cret-flow, Q: \"s3cret-dq\", R: 'it''s-s3cret' }\n  - id: b\n    action: exec\n    params:\n      argv: [\"true\"]\n      env:\n        PLAIN: s3cret-block # comment\n        BLOCK: |\n          s3cret-multi\n  - id: c\n    action: confirm\n    params: { message: \"s3cret-flow is not an env value here\" }\n";
    let rb = load_str(text, "t.yaml").unwrap();
    let masked = journal_text(&rb);
    for s in [
        "s3cret-flow,",
        "s3cret-dq",
        "it''s-s3cret",
        "s3cret-block",
        "s3cret-multi",
    ] {
        assert!(!masked.contains(s), "{s} in:\n{masked}");
    }
    assert!(
        masked.contains("TOKEN: \"***\"") && masked.contains("# comment"),
        "{masked}"
    );
    assert!(masked.contains("action: confirm"), "{masked}");
    assert_eq!(rb.checksum, checksum(text));
    assert_eq!(masked.lines().count(), text.lines().count());
}

/// Issue 12: a step reference must name an earlier step running the right action.
#[test]
fn step_references_are_checked_at_load() {
    let base = "name: t\nsteps:\n  - id: translate\n    action: groups.translate\n";
    assert!(load_str(
        &format!("{base}  - id: commit\n    action: groups.commit\n"),
        "t.yaml"
    )
    .is_ok());
    let e = err(&format!(
        "{base}  - id: commit\n    action: groups.commit\n    params: {{ translate_step: tranlsate }}\n"
    ));
    assert!(e.starts_with("rb.yaml:7:"), "{e}");
    assert!(
        e.contains("no step `tranlsate`") && e.contains("did you mean `translate`?"),
        "{e}"
    );
    let e = err("name: t\nsteps:\n  - id: commit\n    action: groups.commit\n  - id: translate\n    action: groups.translate\n");
    assert!(e.contains("does not come before it"), "{e}");
    let e = err("name: t\nsteps:\n  - id: translate\n    action: exec\n    params: { argv: [x] }\n  - id: commit\n    action: groups.commit\n");
    assert!(
        e.contains("is a `exec` step, not `groups.translate`"),
        "{e}"
    );
    // `no_quarantine: true` reads no quarantine.
    assert!(load_str(
        "name: t\nsteps:\n  - id: tail-find\n    action: tail.find\n  - id: truncate\n    action: truncate\n    params: { no_quarantine: true }\n",
        "t.yaml"
    )
    .is_ok());
}

/// Issue 12: durations have a maximum, said where it is exceeded.
#[test]
fn durations_are_bounded() {
    let e = err("name: t\nsteps:\n  - id: a\n    action: exec\n    params: { argv: [x], timeout_seconds: 604801 }\n");
    assert!(e.starts_with("rb.yaml:5:"), "{e}");
    assert!(
        e.contains("`timeout_seconds` must be at most 604800"),
        "{e}"
    );
    assert!(load_str(
        "name: t\nsteps:\n  - id: a\n    action: exec\n    params: { argv: [x], timeout_seconds: 604800 }\n",
        "t.yaml"
    )
    .is_ok());
}

/// The seed strategy and the truncate strategy are one decision made in two steps: a
/// runbook where they disagree is refused at load, at the seed's `strategy`, before any
/// step has run (issue 11: this check used to parse the run's YAML inside `mirror.seed`).
#[test]
fn the_seed_strategy_must_match_the_truncate_step() {
    let failback = embedded_text("failback-reverse").unwrap();
    let recreate = failback.replacen(
        "params: { strategy: delete-records, cluster: backup",
        "params: { strategy: recreate, cluster: backup",
        1,
    );
    assert_ne!(recreate, failback, "the failback runbook changed shape");
    let e = load_str(&recreate, "failback.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "seeds with strategy `delete-records`, but step `truncate` truncates with `recreate`"
        ),
        "{e}"
    );
    assert!(
        e.contains("help: set `strategy: recreate` on step `mirror-seed`"),
        "{e}"
    );
    let line = failback
        .lines()
        .position(|l| l.contains("params: { strategy: delete-records }"))
        .unwrap()
        + 1;
    assert!(e.contains(&format!("failback.yaml:{line}:")), "{e}");

    // Both `recreate`: loads.
    let both = recreate.replace(
        "params: { strategy: delete-records }",
        "params: { strategy: recreate }",
    );
    load_str(&both, "failback.yaml").unwrap();

    // `keep` copies from the cut like `delete-records`; a truncate step without
    // `strategy` means its default, `delete-records`.
    let keep = failback.replacen(
        "strategy: delete-records, cluster",
        "strategy: keep, cluster",
        1,
    );
    load_str(&keep, "failback.yaml").unwrap();
    let default = failback.replacen("strategy: delete-records, cluster", "cluster", 1);
    let seed_recreate = default.replace(
        "params: { strategy: delete-records }",
        "params: { strategy: recreate }",
    );
    let e = load_str(&seed_recreate, "failback.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncates with `delete-records`"), "{e}");
    assert_eq!(
        seed_strategy_pairs(),
        [
            ("delete-records", Some("delete-records")),
            ("keep", Some("delete-records")),
            ("recreate", Some("recreate")),
            ("other", None)
        ]
    );
}

fn seed_strategy_pairs() -> Vec<(&'static str, Option<&'static str>)> {
    ["delete-records", "keep", "recreate", "other"]
        .into_iter()
        .map(|t| (t, super::load::seed_strategy_for(t)))
        .collect()
}
