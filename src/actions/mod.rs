//! One file per runbook action, each implementing `engine::Action`, and the registry that
//! turns a runbook step into one (`build`).
//!
//! An action's file owns its parameters (parsed and checked when the runbook is built,
//! before anything runs), its plan wording and its verification. Actions reach Kafka and
//! Connect only through `crate::kafka` / `crate::connect`, the journal only through its
//! typed methods, and the terminal only through `ctx.reporter`.
//!
//! `ActionError` (defined with the other step errors in `crate::error`, re-exported
//! here) holds the failures that belong to no other module: hooks, prompts, parameters.

pub mod common;
pub mod confirm;
pub mod deltas_import;
pub mod deltas_record;
pub mod deltas_topic;
pub mod exec;
pub mod fence;
pub mod fence_apply;
pub mod fence_lift;
pub mod group_offsets;
pub mod groups_commit;
pub mod groups_exact;
pub mod groups_idle;
pub mod groups_translate;
pub mod mirror;
pub mod mirror_dedicated;
pub mod mirror_drain;
pub mod mirror_seed;
pub mod mirror_start;
pub mod mirror_stop;
pub mod quarantine_file;
pub mod reverse_flow;
pub mod roles_promote;
pub mod switchover_preflight;
pub mod switchover_support;
pub mod tail_deliver;
pub mod tail_find;
pub mod tail_quarantine;
pub mod translation;
pub mod truncate;
pub mod watermarks_snapshot;

use crate::engine::Action;
pub use crate::error::ActionError;
use crate::error::Error;
use crate::runbook::StepDef;

/// Builds one action from its step.
type Builder = fn(&StepDef) -> Result<Box<dyn Action>, Error>;

/// Every action kafka-dr runs, by the name runbooks use. Adding an action: one file in
/// this folder named as the action, one line here and one entry in
/// `runbook::catalog::ACTIONS` (its parameters, their kinds and defaults: defined there
/// only); a test checks that the two lists name the same actions.
const BUILDERS: &[(&str, Builder)] = &[
    (confirm::NAME, |s| Ok(Box::new(confirm::Confirm::new(s)?))),
    (deltas_import::NAME, |s| {
        Ok(Box::new(deltas_import::Import::new(s)?))
    }),
    (deltas_record::NAME, |s| {
        Ok(Box::new(deltas_record::RecordDeltas::new(s)?))
    }),
    (exec::NAME, |s| Ok(Box::new(exec::Exec::new(s)?))),
    (fence_apply::APPLY, |s| {
        Ok(Box::new(fence_apply::Apply::new(s)?))
    }),
    (fence_lift::LIFT, |s| {
        Ok(Box::new(fence_lift::Lift::new(s)?))
    }),
    (mirror_stop::STOP, |s| {
        Ok(Box::new(mirror_stop::Stop::new(s)?))
    }),
    (mirror_seed::SEED, |s| {
        Ok(Box::new(mirror_seed::Seed::new(s)?))
    }),
    (mirror_start::START, |s| {
        Ok(Box::new(mirror_start::Start::new(s)?))
    }),
    (roles_promote::NAME, |s| {
        Ok(Box::new(roles_promote::Promote::new(s)?))
    }),
    (groups_translate::TRANSLATE, |s| {
        Ok(Box::new(groups_translate::Translate::new(s)?))
    }),
    (groups_commit::COMMIT, |s| {
        Ok(Box::new(groups_commit::Commit::new(s)?))
    }),
    (watermarks_snapshot::NAME, |s| {
        Ok(Box::new(watermarks_snapshot::Snapshot::new(s)?))
    }),
    (tail_find::FIND, |s| Ok(Box::new(tail_find::Find::new(s)?))),
    (tail_quarantine::QUARANTINE, |s| {
        Ok(Box::new(tail_quarantine::Quarantine::new(s)?))
    }),
    (tail_deliver::NAME, |s| {
        Ok(Box::new(tail_deliver::Deliver::new(s)?))
    }),
    (truncate::NAME, |s| {
        Ok(Box::new(truncate::Truncate::new(s)?))
    }),
    (switchover_preflight::NAME, |s| {
        Ok(Box::new(switchover_preflight::Preflight::new(s)?))
    }),
    (mirror_drain::NAME, |s| {
        Ok(Box::new(mirror_drain::Drain::new(s)?))
    }),
    (groups_idle::NAME, |s| {
        Ok(Box::new(groups_idle::Idle::new(s)?))
    }),
    (groups_exact::NAME, |s| {
        Ok(Box::new(groups_exact::Exact::new(s)?))
    }),
];

/// Turn a runbook step into its action.
pub fn build(step: &StepDef) -> Result<Box<dyn Action>, Error> {
    match BUILDERS.iter().find(|(name, _)| *name == step.action) {
        Some((_, builder)) => builder(step),
        None => Err(ActionError::Unknown {
            step: step.id.clone(),
            action: step.action.clone(),
        }
        .into()),
    }
}

/// Parse a step's `params` into an action's parameter struct (serde, unknown keys
/// refused), naming the step in the error.
fn params<T: serde::de::DeserializeOwned>(
    step: &StepDef,
    action: &'static str,
) -> Result<T, ActionError> {
    let mut value = match &step.params {
        // A step with no `params:` at all reads as an empty map.
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        v => v.clone(),
    };
    // The catalog is the one place a parameter's default is defined: the runbook loader
    // fills them in, and so does this, for steps built any other way.
    if let (Some(spec), Some(map)) = (
        crate::runbook::catalog::action(action),
        value.as_object_mut(),
    ) {
        for p in spec.params {
            if let Some(default) = p.presence.default_value() {
                map.entry(p.name).or_insert(default);
            }
        }
    }
    serde_json::from_value(value).map_err(|e| ActionError::Params {
        step: step.id.clone(),
        action,
        reason: e.to_string(),
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A StepContext for action tests, without Kafka.

    use std::path::PathBuf;
    use std::sync::atomic::AtomicBool;

    use crate::engine::StepContext;
    use crate::journal::Journal;
    use crate::report::Reporter;
    use crate::runbook::{Location, StepDef};
    use crate::topology::Topology;

    pub struct Fixture {
        pub _dir: tempfile::TempDir,
        pub journal: Journal,
        pub topology: Topology,
        pub topology_path: PathBuf,
        pub runtime: tokio::runtime::Runtime,
        pub reporter: Reporter,
        pub interrupted: AtomicBool,
        pub clusters: crate::kafka::ClusterPool,
    }

    impl Fixture {
        pub fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::open(dir.path().join("journal.db")).unwrap();
            Fixture {
                topology_path: dir.path().join("topology.yaml"),
                _dir: dir,
                journal,
                topology: Topology::lab_example(),
                runtime: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
                reporter: Reporter::default(),
                interrupted: AtomicBool::new(false),
                clusters: crate::kafka::ClusterPool::new(),
            }
        }

        pub fn ctx<'a>(&'a self, step_id: &'a str) -> StepContext<'a> {
            StepContext {
                topology: &self.topology,
                topology_path: &self.topology_path,
                journal: &self.journal,
                run_id: 7,
                runbook: "test-runbook",
                step_id,
                attempt: 1,
                dry_run: false,
                assume_yes: false,
                interrupted: &self.interrupted,
                runtime: self.runtime.handle(),
                reporter: &self.reporter,
                clusters: &self.clusters,
            }
        }
    }

    pub fn step(id: &str, action: &str, params: serde_json::Value) -> StepDef {
        StepDef {
            id: id.into(),
            action: action.into(),
            params,
            location: Location { line: 3, column: 5 },
        }
    }

    pub(crate) const FAILBACK: &str = "\
name: fb
description: failback
steps:
  - id: truncate
    action: truncate
    params: { strategy: recreate }
  - id: mirror-seed
    action: mirror.seed
  - id: mirror-start
    action: mirror.start
";

    /// A run of a three-step failback (truncate, mirror.seed, mirror.start) in `f`'s journal.
    pub(crate) fn failback_run(f: &Fixture) -> i64 {
        run_with_text(f, FAILBACK)
    }

    pub(crate) fn run_with_text(f: &Fixture, text: &str) -> i64 {
        f.journal
            .create_run(&crate::journal::NewRun {
                topology: "lab",
                runbook: "fb",
                source: "test",
                checksum: "0",
                text,
                dry_run: false,
                steps: vec![
                    crate::journal::NewStep {
                        step_id: "truncate",
                        action: "truncate",
                    },
                    crate::journal::NewStep {
                        step_id: "mirror-seed",
                        action: super::mirror_seed::SEED,
                    },
                    crate::journal::NewStep {
                        step_id: "mirror-start",
                        action: super::mirror_start::START,
                    },
                ],
            })
            .unwrap()
    }
}

/// The catalog (what runbooks may say) and `BUILDERS` (what runs) must agree: the same
/// actions, and every parameter an action reads defined (kind and default) in the catalog
/// only, so a default cannot differ between a validated runbook and a built action.
#[cfg(test)]
mod catalog_agrees {
    use std::collections::BTreeSet;

    use serde_json::{json, Map, Value};

    use super::test_support::step;
    use super::{build, BUILDERS};
    use crate::runbook::catalog::{ParamKind, Presence, ACTIONS};

    /// A value a parameter takes, for a build with only the required ones: a value of its
    /// kind, or for a string that names one of a few choices, one of them.
    fn sample(name: &str, kind: ParamKind) -> Value {
        if name == "fence" {
            return json!("app-writes");
        }
        match kind {
            ParamKind::String => json!("x"),
            ParamKind::PositiveInt => json!(1),
            ParamKind::Bool => json!(true),
            ParamKind::StringList => json!(["x"]),
            ParamKind::StringMap => json!({}),
            ParamKind::Cluster => json!("backup"),
            ParamKind::ClusterList => json!(["backup"]),
            ParamKind::Step(_) => json!("earlier-step"),
        }
    }

    #[test]
    fn the_catalog_and_the_builders_name_the_same_actions() {
        let catalog: BTreeSet<&str> = ACTIONS.iter().map(|a| a.name).collect();
        let built: BTreeSet<&str> = BUILDERS.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            catalog.difference(&built).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "in the catalog but not built (add a line to BUILDERS)"
        );
        assert_eq!(
            built.difference(&catalog).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "built but not in the catalog (add an entry to runbook::catalog::ACTIONS)"
        );
        assert_eq!(built.len(), BUILDERS.len(), "an action is built twice");
    }

    /// With only its required parameters, every action builds: every default it needs
    /// comes from the catalog (the action structs declare none of their own).
    #[test]
    fn every_catalog_action_builds_from_its_required_parameters() {
        for spec in ACTIONS {
            let mut params = Map::new();
            for p in spec.params {
                if p.presence == Presence::Required {
                    params.insert(p.name.to_string(), sample(p.name, p.kind));
                }
            }
            if let Err(e) = build(&step("s", spec.name, Value::Object(params))) {
                panic!("`{}` does not build from the catalog: {e}", spec.name);
            }
        }
    }

    /// Every parameter the catalog lists is one the action reads: each is accepted on its
    /// own (a parameter the action's struct does not know is refused by serde).
    #[test]
    fn every_catalog_parameter_is_read_by_its_action() {
        for spec in ACTIONS {
            let mut required = Map::new();
            for p in spec.params {
                if p.presence == Presence::Required {
                    required.insert(p.name.to_string(), sample(p.name, p.kind));
                }
            }
            for p in spec.params {
                let mut params = required.clone();
                let value = p
                    .presence
                    .default_value()
                    .unwrap_or_else(|| sample(p.name, p.kind));
                params.insert(p.name.to_string(), value);
                if let Err(e) = build(&step("s", spec.name, Value::Object(params))) {
                    panic!(
                        "`{}` refuses its catalog parameter `{}`: {e}",
                        spec.name, p.name
                    );
                }
            }
        }
    }
}
