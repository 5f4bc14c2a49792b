//! The runbook engine: plan -> apply -> verify per step, dry-run, resume and the lease.
//!
//! STUB of the context type; the engine work fills in the rest.

pub mod action;

pub use action::{Action, Plan, Verdict};

use crate::error::ExitCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{0}")]
    Other(String),
}
impl EngineError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Failure
    }
}

/// What an action sees while it runs one step.
pub struct StepContext<'a> {
    pub topology: &'a crate::topology::Topology,
    pub journal: &'a crate::journal::Journal,
    /// The run this step belongs to.
    pub run_id: i64,
    /// The step's id in the runbook.
    pub step_id: &'a str,
    /// True under `--dry-run` / `plan`: only `plan` is called.
    pub dry_run: bool,
    /// `--yes`: confirmations are answered yes.
    pub assume_yes: bool,
    /// The tokio runtime async I/O runs on (`block_on`).
    pub runtime: &'a tokio::runtime::Handle,
    /// Where progress and prompts go.
    pub reporter: &'a crate::report::Reporter,
}

impl StepContext<'_> {
    /// Run a future to completion on the context's runtime.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }
}
