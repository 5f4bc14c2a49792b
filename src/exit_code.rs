//! The exit codes of the `kafka-dr` binary, in a module of its own that imports nothing,
//! so every module's error can say which code it maps to without depending on
//! `crate::error` (which wraps them all).

/// Exit codes of the `kafka-dr` binary. Keep README.md's table in step with this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: the command did what it was asked.
    Success = 0,
    /// 1: a step failed while talking to Kafka, Connect or a hook.
    Failure = 1,
    /// 2: bad input: arguments, topology file, runbook file.
    Usage = 2,
    /// 3: `check` ran and found an error-level problem (warnings and info exit 0).
    CheckFailed = 3,
    /// 4: another run holds the lease on this topology, or a run cannot be resumed as asked.
    Conflict = 4,
    /// 5: a confirmation was refused (or there was no TTY and no `--yes`).
    NotConfirmed = 5,
    /// 6: a cluster or Connect endpoint could not be reached within its timeout.
    Unreachable = 6,
    /// 7: the journal cannot be used: not a regular file (a symbolic link, a directory,
    /// a device), not creatable or readable, not an SQLite journal, or too new.
    Journal = 7,
    /// 130: interrupted (Ctrl-C); the journal says where the run stopped.
    Interrupted = 130,
}
