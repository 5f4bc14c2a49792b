//! The runbook engine: plan -> apply -> verify per step, dry-run, resume and the lease.
//!
//! The engine owns the order of operations around each step and what is journaled when:
//! a step is recorded `started` (with an attempt row) BEFORE any side effect and
//! `finished` after verify said Done, so a crash leaves `started` behind and resume
//! verifies before re-applying. It turns `StepDef`s into actions through
//! `actions::build`, takes the topology's lease for real runs, and returns a `RunReport`
//! for the command to print. It must not talk to Kafka or Connect itself (actions do),
//! nor touch SQL (the journal does), nor write to the terminal except through `Reporter`.

pub mod action;
pub mod console;
pub mod crash;
mod error;
mod run_report;
mod runner;
#[cfg(test)]
mod tests;

pub use action::{Action, Plan, Verdict};
pub use console::{Console, PromptError, RunMode, StepProgress};
pub use error::EngineError;
pub use run_report::{RunReport, StepReport};
pub use runner::Engine;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How `Engine::run` and `Engine::resume` behave.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--dry-run`: plan every step, apply nothing. The run is journaled with
    /// `dry_run = 1` (its plans are kept, it can never be resumed) and takes no lease.
    pub dry_run: bool,
    /// `--yes`: confirmations are answered yes.
    pub assume_yes: bool,
    /// Resume: go on even though the runbook's checksum differs from the stored one.
    pub force: bool,
    /// `--take-over-lease`: displace a stale holder, or one on another host.
    pub take_over_lease: bool,
    /// Set by the Ctrl-C handler. Checked between steps (and by actions that wait): the
    /// run stops cleanly, is marked interrupted, and can be resumed.
    pub interrupted: Arc<AtomicBool>,
}

/// What an action sees while it runs one step.
pub struct StepContext<'a> {
    pub topology: &'a crate::topology::Topology,
    /// The topology file (hooks get it as `KAFKA_DR_TOPOLOGY`).
    pub topology_path: &'a Path,
    pub journal: &'a crate::journal::Journal,
    /// The run this step belongs to.
    pub run_id: i64,
    /// The runbook's name.
    pub runbook: &'a str,
    /// The step's id in the runbook.
    pub step_id: &'a str,
    /// The attempt in progress (1-based; 0 under dry-run, where nothing is attempted).
    pub attempt: u32,
    /// True under `--dry-run` / `plan`: only `plan` is called.
    pub dry_run: bool,
    /// `--yes`: confirmations are answered yes.
    pub assume_yes: bool,
    /// Set on Ctrl-C: an action that waits should stop waiting and return an error.
    pub interrupted: &'a AtomicBool,
    /// The tokio runtime async I/O runs on (`block_on`).
    pub runtime: &'a tokio::runtime::Handle,
    /// Where progress and prompts go.
    pub reporter: &'a dyn Console,
    /// One Kafka client per cluster for the whole run, and which clusters did not answer
    /// (not waited on again: see `kafka::ClusterPool`).
    pub clusters: &'a crate::kafka::ClusterPool,
}

impl StepContext<'_> {
    /// Run a future to completion on the context's runtime.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }

    /// True once Ctrl-C was pressed.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
