//! The contract every runbook action implements: plan, apply, verify.
//!
//! `plan` only reads and says exactly what `apply` would change; `apply` is idempotent
//! (running it twice changes nothing the second time); `verify` reads back and says
//! whether the step's effect is in place. The engine relies on these three properties to
//! make `--dry-run` safe and resume correct: Kafka side effects cannot share a transaction
//! with SQLite, so a step found "started" on resume is verified first and re-applied only
//! if verification says it is not done.

use serde::{Deserialize, Serialize};

use super::StepContext;
use crate::error::Error;

/// What a step would change, as the operator reads it before anything happens.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// One line per change, precise enough to act on by hand
    /// (e.g. "dc2: create ACL DENY WRITE on topic `orders` for `User:mirror`").
    pub changes: Vec<String>,
    /// Facts the plan read that are worth showing but change nothing (e.g. a tail size).
    pub notes: Vec<String>,
    /// Machine-readable detail, stored in the journal and printed by `--output json`.
    pub detail: serde_json::Value,
}

impl Plan {
    /// True when applying would change nothing on any cluster.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The verdict of `verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    /// The step's effect is in place.
    Done,
    /// It is not (yet): the reason says what is missing.
    NotDone(String),
}

/// One runbook action. Implementations live in src/actions/, one file each.
///
/// Methods are synchronous; an action that needs async I/O uses `ctx.block_on`.
pub trait Action: Send {
    /// The runbook name of the action, e.g. `watermarks.snapshot`.
    fn name(&self) -> &'static str;
    /// Read-only: what would `apply` change? Must not write to any cluster.
    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error>;
    /// Make the change. Idempotent. Returns the step's output, stored in the journal.
    fn apply(&mut self, ctx: &mut StepContext<'_>, plan: &Plan)
        -> Result<serde_json::Value, Error>;
    /// Read back and say whether the effect is in place.
    fn verify(&mut self, ctx: &mut StepContext<'_>, plan: &Plan) -> Result<Verdict, Error>;
}
