//! STUB (replaced by the runbook work): runbook YAML loading and validation.
pub mod model;
pub use model::{Location, Runbook, StepDef};
use thiserror::Error;
#[derive(Debug, Error)]
pub enum RunbookError {
    #[error("{0}")]
    Invalid(String),
}
