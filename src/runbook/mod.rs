//! STUB (replaced by the runbook work): runbook YAML model and validation.
use thiserror::Error;
#[derive(Debug, Error)]
pub enum RunbookError {
    #[error("{0}")]
    Invalid(String),
}
