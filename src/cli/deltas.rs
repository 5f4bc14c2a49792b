//! `kafka-dr deltas record [--follow --interval N]`: copy MM2's offset syncs, the
//! in-scope groups' committed positions and their fingerprints into the journal while
//! the primary is up. With `--follow` it keeps recording every N seconds (all passes
//! belong to one run) until Ctrl-C, which ends it cleanly after the current pass.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::json;

use crate::error::Result;

use super::session::Session;
use super::{adhoc, GlobalArgs};

#[derive(Debug, Subcommand)]
pub enum DeltasCommand {
    /// Record offset syncs, group positions and fingerprints in the journal.
    Record(RecordArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Keep recording every `--interval` seconds until interrupted (Ctrl-C).
    #[arg(long)]
    pub follow: bool,
    /// Seconds between passes with `--follow`.
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub interval: u64,
    /// Give up on a cluster after this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
}

pub fn run(cmd: &DeltasCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    let DeltasCommand::Record(a) = cmd;
    let params = json!({ "timeout_seconds": a.timeout.max(1) });
    let rb = adhoc::runbook("deltas-record", "record", "deltas.record", params)?;
    adhoc::run(rb, global, session, false)?;
    if !a.follow || global.dry_run {
        return Ok(());
    }
    // Later passes are recorded under the first pass's run.
    let journal = session.journal()?;
    let run_id = journal
        .runs_list()?
        .into_iter()
        .find(|r| r.runbook == "deltas-record" && !r.dry_run)
        .map(|r| r.id)
        .unwrap_or(0);
    let interval = Duration::from_secs(a.interval.max(1));
    let mut passes = 1u64;
    // The first pass wrote the whole backup DC's copy; a pass whose copy failed makes
    // the next one write it whole again.
    let mut full_copy = false;
    loop {
        let next = crate::limits::deadline(Instant::now(), interval);
        while Instant::now() < next {
            if session.interrupted.load(Ordering::SeqCst) {
                session.reporter.status(
                    "Stopped",
                    &format!("recording deltas after {passes} pass(es) (run {run_id})"),
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        match crate::actions::deltas_record::record_once(
            &session.topology,
            &journal,
            run_id,
            "record",
            &session.reporter,
            session.runtime.handle(),
            Duration::from_secs(a.timeout.max(1)),
            full_copy,
        ) {
            Ok(s) => {
                passes += 1;
                full_copy = s.backup_copy.is_none();
                session.reporter.status(
                    "Recorded",
                    &format!(
                        "pass {passes}: {} sync(s) ({} new), {} position(s) of {} group(s), lag {}",
                        s.offset_syncs,
                        s.offset_syncs_new,
                        s.group_positions,
                        s.groups,
                        s.total_lag
                    ),
                );
            }
            // The primary may blink; keep following, the last good pass stays recorded.
            Err(e) => session
                .reporter
                .warn(&format!("pass failed, retrying next interval: {e}")),
        }
    }
}
