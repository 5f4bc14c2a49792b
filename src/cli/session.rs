//! What most commands need before they act: the topology (validated), the journal
//! beside it (or `--journal`), a tokio runtime for async I/O, and the Ctrl-C flag.
//! Built once per invocation, in the order an operator's mistakes are best caught:
//! the topology first (bad input exits 2 before anything is touched).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::Result;
use crate::error::Error;
use crate::journal::Journal;
use crate::report::Reporter;
use crate::runbook::{self, Runbook};
use crate::topology::Topology;

use super::GlobalArgs;

pub struct Session {
    pub topology: Topology,
    pub journal_path: PathBuf,
    pub runtime: tokio::runtime::Runtime,
    pub reporter: Reporter,
    pub interrupted: Arc<AtomicBool>,
}

impl Session {
    /// Load and validate the topology; nothing is contacted yet.
    pub fn open(global: &GlobalArgs, reporter: &Reporter) -> Result<Session> {
        // References are not resolved here: a command that never connects (`runs list`,
        // `plan` of hooks) must not read secret files or need the variables. The topology
        // registers each secret with crate::redact as it resolves it.
        let topology = Topology::load(&global.topology)?;
        let journal_path = match &global.journal {
            Some(p) => p.clone(),
            None => default_journal_path(&topology.path),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Io(format!("cannot start the async runtime: {e}")))?;
        let interrupted = Arc::new(AtomicBool::new(false));
        install_ctrl_c(&runtime, interrupted.clone(), reporter.clone());
        Ok(Session {
            topology,
            journal_path,
            runtime,
            reporter: reporter.clone(),
            interrupted,
        })
    }

    /// Open (or create) the journal.
    pub fn journal(&self) -> Result<Journal> {
        Ok(Journal::open(&self.journal_path)?)
    }

    /// Open the journal for a command that only reads it: never created or changed.
    pub fn journal_read_only(&self) -> Result<Journal> {
        Ok(Journal::open_read_only(&self.journal_path)?)
    }

    /// Open the journal for a dry-run; on a journal this user cannot write, a private
    /// copy (with a warning: the plan is shown but not kept).
    pub fn journal_for_plan(&self) -> Result<Journal> {
        let journal = Journal::open_for_plan(&self.journal_path)?;
        if journal.is_scratch() {
            self.reporter.warn(&format!(
                "the journal `{}` is not writable: planning on a copy of it, so this plan is not recorded",
                self.journal_path.display()
            ));
        }
        Ok(journal)
    }

    /// The journal for a command that runs a runbook: `journal_for_plan` under
    /// `--dry-run` (nothing changes, so an unwritable journal is planned on a copy),
    /// else `journal`. The one place that choice is made.
    pub fn journal_for_run(&self, dry_run: bool) -> Result<Journal> {
        if dry_run {
            self.journal_for_plan()
        } else {
            self.journal()
        }
    }

    /// A runbook by embedded name (`failover-promote`) or file path, validated against
    /// the topology.
    pub fn runbook(&self, name_or_path: &str) -> Result<Runbook> {
        let rb = load_runbook(name_or_path)?;
        runbook::validate_against(&rb, &self.topology)?;
        Ok(rb)
    }
}

/// `<dir of topology>/<topology file stem>.journal.db`: beside the topology, so each
/// topology has its own journal and lease by default.
pub fn default_journal_path(topology: &Path) -> PathBuf {
    let stem = topology
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kafka-dr".to_string());
    topology
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(format!("{stem}.journal.db"))
}

/// A file path if it looks like one or exists; otherwise an embedded runbook's name.
pub fn load_runbook(name_or_path: &str) -> Result<Runbook> {
    let looks_like_path = name_or_path.contains('/')
        || name_or_path.ends_with(".yaml")
        || name_or_path.ends_with(".yml")
        || Path::new(name_or_path).exists();
    if looks_like_path {
        return Ok(runbook::load_file(Path::new(name_or_path))?);
    }
    Ok(runbook::embedded(name_or_path).ok_or_else(|| {
        Error::Usage(format!(
            "no runbook named `{name_or_path}`\nhelp: the embedded runbooks are: {}; or give a path to a runbook file",
            runbook::embedded_names().join(", ")
        ))
    })?)
}

impl Session {
    /// SIGTERM (systemd's and Kubernetes' stop) sets the same flag as a first Ctrl-C:
    /// a long-running command stops after its current pass, never half-way through it.
    pub fn stop_on_sigterm(&self) {
        let flag = self.interrupted.clone();
        let reporter = self.reporter.clone();
        let _guard = self.runtime.enter();
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            reporter.warn("cannot handle SIGTERM: it stops the recorder at once (the journal stays consistent)");
            return;
        };
        self.runtime.spawn(async move {
            if term.recv().await.is_some() {
                flag.store(true, Ordering::SeqCst);
                reporter.status("Stopping", "SIGTERM: after the current pass");
            }
        });
    }
}

/// First Ctrl-C: stop after the current step (the journal stays consistent).
/// Second Ctrl-C: stop now (a step left `started` is verified on resume).
fn install_ctrl_c(rt: &tokio::runtime::Runtime, flag: Arc<AtomicBool>, reporter: Reporter) {
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        flag.store(true, Ordering::SeqCst);
        reporter.warn(
            "interrupted: stopping after the current step; press Ctrl-C again to stop at once \
             (then `kafka-dr resume` verifies the step it was in)",
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            // Die of SIGINT as if no handler were installed (exit status 130 in a
            // shell): the operator asked twice, and the journal is safe at any point.
            // SAFETY: restoring the default disposition and raising a signal in our own
            // process has no memory-safety preconditions.
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::raise(libc::SIGINT);
            }
        }
    });
}
