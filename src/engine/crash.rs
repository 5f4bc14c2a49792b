//! Crash points: named places in the engine and inside the mutating actions where the
//! crash-and-resume tests SIGKILL the process, so "killed between two ACL bindings" is a
//! fact of the test and not a race with a timer. Set `KAFKA_DR_CRASH_AT=<point>` (any step)
//! or `KAFKA_DR_CRASH_AT=<point>@<step id>` (only inside that step) to arm one; unset
//! (always, in operation), a crash point does nothing. The process kills itself with
//! SIGKILL: no destructor runs, no buffer is flushed, exactly like `kill -9`.
//!
//! [`REGISTRY`] lists every crash point the code has, so the lab test that arms them in
//! turn covers a new one without being told; a unit test below checks that the registry
//! and the `crash_point("...")` calls in src/ name the same points.

use std::sync::Mutex;

/// The environment variable that arms a crash point.
pub const CRASH_AT_ENV: &str = "KAFKA_DR_CRASH_AT";

/// One crash point of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPoint {
    /// What `KAFKA_DR_CRASH_AT` names (before an optional `@<step id>`).
    pub name: &'static str,
    /// The runbook actions whose apply passes it; empty for the engine's step boundaries,
    /// which every step passes.
    pub actions: &'static [&'static str],
    /// Where exactly the process dies, as a test failure explains it.
    pub what: &'static str,
}

/// The step was recorded `started` and its plan stored; nothing applied yet.
pub const STEP_STARTED: &str = "step.started";
/// The step's apply and verify are done; the step is not recorded `finished`.
pub const STEP_APPLIED: &str = "step.applied";

/// Every crash point in the code. A point with actions is passed only where such an
/// action's apply has something to do (a plan with changes) and, where it sits between
/// two items, only when there is more than one.
pub const REGISTRY: &[CrashPoint] = &[
    CrashPoint {
        name: STEP_STARTED,
        actions: &[],
        what: "the step is recorded started (plan stored), nothing applied",
    },
    CrashPoint {
        name: STEP_APPLIED,
        actions: &[],
        what: "the step is applied and verified, not recorded finished (its output not stored)",
    },
    CrashPoint {
        name: "mirror.stop:connector-stopped",
        actions: &["mirror.stop"],
        what: "the first connector of the flow was sent stop, the others not",
    },
    CrashPoint {
        name: "fence.apply:binding-created",
        actions: &["fence.apply"],
        what: "the first ACL binding of the fence is created, the others not",
    },
    CrashPoint {
        name: "fence.apply:created-not-journaled",
        actions: &["fence.apply"],
        what: "every binding is created, the fence not recorded in the journal",
    },
    CrashPoint {
        name: "fence.lift:binding-deleted",
        // `roles.promote` lifts the `app-writes` guard through the same code.
        actions: &["fence.lift", "roles.promote"],
        what: "the first ACL binding of the fence is deleted, the others not",
    },
    CrashPoint {
        name: "groups.commit:group-committed",
        actions: &["groups.commit"],
        what: "the first group's offsets are committed, the other groups' not",
    },
    CrashPoint {
        name: "roles.promote:guard-lifted",
        actions: &["roles.promote"],
        what: "the `app-writes` guard is lifted, the new roles not recorded",
    },
    CrashPoint {
        name: "tail.quarantine:partition-written",
        actions: &["tail.quarantine"],
        what: "one partition's tail is written to the quarantine folder, the others not",
    },
    CrashPoint {
        name: "truncate:partition-truncated",
        actions: &["truncate"],
        what: "the first partition's tail is deleted, the other partitions' not",
    },
    CrashPoint {
        name: "mirror.seed:connector-created",
        actions: &["mirror.seed"],
        what: "the first reverse connector is created (stopped), the others not",
    },
    CrashPoint {
        name: "mirror.seed:before-offsets",
        actions: &["mirror.seed"],
        what: "the reverse connectors exist, their offsets are not written",
    },
    CrashPoint {
        name: "mirror.start:connector-resumed",
        actions: &["mirror.start"],
        what: "the first reverse connector is resumed, the others not",
    },
];

/// The step the engine is driving in this process (for `<point>@<step id>`).
static CURRENT_STEP: Mutex<String> = Mutex::new(String::new());

/// The engine says which step it drives, so a point armed for one step fires there only.
pub fn enter_step(step_id: &str) {
    if let Ok(mut s) = CURRENT_STEP.lock() {
        step_id.clone_into(&mut s);
    }
}

/// True when `armed` (the variable's value) names `point` in step `step`.
fn armed_for(armed: &str, point: &str, step: &str) -> bool {
    match armed.split_once('@') {
        Some((name, at)) => name == point && at == step,
        None => armed == point,
    }
}

/// SIGKILL this process if `KAFKA_DR_CRASH_AT` names `point` (in the current step).
pub fn crash_point(point: &str) {
    debug_assert!(
        REGISTRY.iter().any(|p| p.name == point),
        "crash point `{point}` is not in engine::crash::REGISTRY"
    );
    let Some(armed) = std::env::var_os(CRASH_AT_ENV) else {
        return;
    };
    let step = CURRENT_STEP.lock().map(|s| s.clone()).unwrap_or_default();
    if armed_for(&armed.to_string_lossy(), point, &step) {
        // SAFETY: kill(2) on our own pid with a constant signal has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// The environment variable that arms a panic point.
pub const PANIC_AT_ENV: &str = "KAFKA_DR_PANIC_AT";

/// Panic if `KAFKA_DR_PANIC_AT` names `point` (a step id, just before its apply): how the
/// tests prove that a bug's panic marks the run failed and prints where to look. Unset
/// (always, in operation), it does nothing.
pub fn panic_point(point: &str) {
    if std::env::var_os(PANIC_AT_ENV).is_some_and(|v| v == point) {
        // Deliberate: this is the panic the hook's test needs.
        #[allow(clippy::panic)]
        {
            panic!("{PANIC_AT_ENV} asked for a panic before step `{point}` applies");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_armed_for_a_step_fires_in_that_step_only() {
        assert!(armed_for("step.started", "step.started", "commit"));
        assert!(armed_for("step.started@commit", "step.started", "commit"));
        assert!(!armed_for(
            "step.started@commit",
            "step.started",
            "translate"
        ));
        assert!(!armed_for("step.applied@commit", "step.started", "commit"));
        assert!(!armed_for("step.started", "step.applied", "commit"));
    }

    /// Every `crash_point("...")` in src/ is registered, and every registered point is in
    /// the code (the engine's two through their constants): the lab test arms the
    /// registry, so a point missing from it would never be tested.
    #[test]
    fn the_registry_names_exactly_the_crash_points_in_the_code() {
        let mut found = std::collections::BTreeSet::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("crash_point(\"").skip(1) {
                    let name = piece.split('"').next().unwrap();
                    found.insert(name.to_string());
                }
            }
        }
        found.insert(STEP_STARTED.into());
        found.insert(STEP_APPLIED.into());
        // The doc comment's example is not a call.
        found.remove("...");
        let registered: std::collections::BTreeSet<String> =
            REGISTRY.iter().map(|p| p.name.to_string()).collect();
        assert_eq!(found, registered, "crash points in src/ vs REGISTRY");
        let names: Vec<&str> = REGISTRY.iter().map(|p| p.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "a crash point is registered twice"
        );
        for p in REGISTRY {
            if let Some(action) = p.actions.first() {
                assert!(
                    p.name.starts_with(&format!("{action}:")),
                    "`{}` is named after its action `{action}`",
                    p.name
                );
            }
        }
    }
}
