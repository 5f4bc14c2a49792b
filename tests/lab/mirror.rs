//! `mirror.stop` on the real lab, through the library's engine: the forward flow's three
//! connectors on dc2's Connect are STOPPED (and resumed afterwards by the `exclusive()`
//! guard, so the lab is left as found), and an unreachable Connect is a note, not a failure.

use std::time::Duration;

use kafka_dr::actions::mirror::{self, Flow};
use kafka_dr::connect::ConnectorState;
use kafka_dr::journal::{RunState, StepOutcome};

use crate::common::*;
use crate::fence::run;

const CONNECTORS: [&str; 3] = FORWARD_CONNECTORS;

const T: Duration = Duration::from_secs(10);

const STOP_FORWARD: &str = "\
name: t
steps:
  - id: stop
    action: mirror.stop
    params: { flow: forward, timeout_seconds: 60 }
";

#[test]
fn mirror_stop_stops_the_forward_connectors() {
    let lab = lab();
    let _g = exclusive();
    let sb = Sandbox::new("mirrorstop");
    let (topology, journal) = sb.open();
    let c = connect_client(lab, "dc2");

    let rt = runtime();
    let before =
        mirror::status(&topology, &journal, Flow::Forward, rt.handle(), T).expect("status");
    assert_eq!(before.cluster, "dc2");
    assert_eq!(before.into_role, "backup");
    assert!(before.unreachable.is_none(), "{before:?}");
    let names: Vec<&str> = before.connectors.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, CONNECTORS);
    assert!(before.connectors.iter().all(|c| c.exists), "{before:?}");

    let report = run(&topology, &journal, STOP_FORWARD, false);
    assert_eq!(report.state, RunState::Succeeded, "{:#?}", report.steps);
    let step = &report.steps[0];
    assert_eq!(step.outcome, StepOutcome::Applied, "{step:#?}");
    for name in CONNECTORS {
        let want = format!(
            "connector `{name}` on Connect `{}` (cluster `dc2`)",
            lab.connect("dc2")
        );
        assert!(
            step.changes
                .iter()
                .any(|c| c.starts_with("stop ") && c.contains(&want)),
            "{want} in {:#?}",
            step.changes
        );
        let st = block_on(c.status(name)).expect("status");
        assert_eq!(
            st.connector_state,
            ConnectorState::Stopped,
            "{name}: {}",
            st.summary()
        );
        assert!(st.tasks.is_empty(), "{name}: {}", st.summary());
    }

    let after = mirror::status(&topology, &journal, Flow::Forward, rt.handle(), T).expect("status");
    assert!(
        after
            .connectors
            .iter()
            .all(|c| c.state.as_deref() == Some("STOPPED")),
        "{after:?}"
    );

    // Again: nothing to do.
    let again = run(&topology, &journal, STOP_FORWARD, false);
    assert_eq!(again.state, RunState::Succeeded, "{:#?}", again.steps);
    assert_eq!(again.steps[0].outcome, StepOutcome::NothingToDo);
    assert!(again.steps[0].notes[0].starts_with("nothing to do"));
}

/// The Connect of the flow's target does not answer (the DC is gone): the step says so
/// and succeeds, changing nothing; the fence is what counts.
#[test]
fn mirror_stop_with_unreachable_connect_is_a_note() {
    let lab = lab();
    let _g = shared();
    let sb = Sandbox::new("mirrorgone");
    let text = std::fs::read_to_string(&sb.topology).expect("read sandbox topology");
    let gone = text.replace("${env:KAFKA_LAB_DC2_CONNECT}", "http://127.0.0.1:1");
    assert_ne!(
        gone, text,
        "lab/topology.yaml changed shape; update this test"
    );
    std::fs::write(&sb.topology, gone).expect("write sandbox topology");
    let (topology, journal) = sb.open();
    let c = connect_client(lab, "dc2");
    let states = || -> Vec<String> {
        CONNECTORS
            .iter()
            .map(|n| {
                block_on(c.status(n))
                    .map(|s| s.summary())
                    .unwrap_or_default()
            })
            .collect()
    };
    let before = states();

    let report = run(&topology, &journal, STOP_FORWARD, false);
    assert_eq!(report.state, RunState::Succeeded, "{:#?}", report.steps);
    let step = &report.steps[0];
    assert_eq!(step.outcome, StepOutcome::NothingToDo, "{step:#?}");
    let note = step.notes.join("\n");
    assert!(
        note.contains("Connect for `dc2` at `http://127.0.0.1:1` is unreachable"),
        "{note}"
    );
    assert!(
        note.contains("the ACL fence is what keeps replication out"),
        "{note}"
    );
    assert_eq!(states(), before, "the real connectors were touched");

    let rt = runtime();
    let st = mirror::status(&topology, &journal, Flow::Forward, rt.handle(), T).expect("status");
    assert!(st.unreachable.is_some(), "{st:?}");
}
