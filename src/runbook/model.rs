//! The validated runbook: what the engine executes. Produced by the runbook loader
//! (src/runbook/mod.rs) from YAML; consumed by the engine and the action registry.

use serde::{Deserialize, Serialize};

pub use crate::yamlpos::Location;

/// A loaded and validated runbook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runbook {
    /// `name:` from the file, e.g. `failover-promote`.
    pub name: String,
    /// Where it came from: a file path, or `embedded:<name>` for the defaults in runbooks/.
    pub source: String,
    /// The exact text that was loaded (stored with the run so resume can compare).
    pub text: String,
    /// sha256 hex of `text`; resume refuses a changed runbook unless forced.
    pub checksum: String,
    /// Free text shown in plans.
    pub description: Option<String>,
    pub steps: Vec<StepDef>,
}

/// One step: an action with its parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepDef {
    /// Unique within the runbook.
    pub id: String,
    /// The action name, e.g. `watermarks.snapshot`.
    pub action: String,
    /// Parameters, already checked against the action's catalog entry.
    pub params: serde_json::Value,
    /// Where the step starts in its file.
    pub location: Location,
}
