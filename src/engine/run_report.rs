//! The result of a run as the command prints it (table or `--output json`): per step,
//! what happened, how long it took, what the plan said and what apply returned.

use serde::Serialize;

use super::Plan;
use crate::journal::{RunState, StepOutcome};
use crate::runbook::StepDef;

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub topology: String,
    pub runbook: String,
    pub runbook_source: String,
    pub runbook_checksum: String,
    pub dry_run: bool,
    /// True when this invocation resumed an earlier run.
    pub resumed: bool,
    /// How the run stands after this invocation.
    pub state: RunState,
    pub steps: Vec<StepReport>,
    /// Wall time of this invocation, in milliseconds.
    pub wall_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub id: String,
    pub action: String,
    pub outcome: StepOutcome,
    /// The attempt this invocation made (None if it made none: skipped, planned, not run).
    pub attempt: Option<u32>,
    pub duration_ms: u64,
    /// The plan's changes (empty if the step was not planned in this invocation).
    pub changes: Vec<String>,
    pub notes: Vec<String>,
    /// What apply returned (journaled too).
    pub output: Option<serde_json::Value>,
    /// Why the step failed.
    pub error: Option<String>,
}

impl StepReport {
    pub(super) fn new(def: &StepDef, outcome: StepOutcome) -> StepReport {
        StepReport {
            id: def.id.clone(),
            action: def.action.clone(),
            outcome,
            attempt: None,
            duration_ms: 0,
            changes: Vec::new(),
            notes: Vec::new(),
            output: None,
            error: None,
        }
    }

    pub(super) fn with_plan(mut self, plan: Option<&Plan>) -> StepReport {
        if let Some(plan) = plan {
            self.changes = plan.changes.clone();
            self.notes = plan.notes.clone();
        }
        self
    }
}
