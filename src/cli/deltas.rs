//! `kafka-dr deltas record [--follow --interval N] [--metrics-addr HOST:PORT]`: copy MM2's
//! offset syncs, the in-scope groups' committed positions and their fingerprints into
//! the journal (and the backup DC's copy) while the primary is up. With `--follow` it
//! is a service (systemd, Kubernetes: see contrib/): it keeps recording every N seconds
//! (all passes belong to one run), prints one line per pass (a JSON line with `--output
//! json`), keeps running while the primary or the backup is away and says when it is
//! back, and stops cleanly on SIGTERM or Ctrl-C after the current pass (exit 0). The
//! work of a pass is `actions::deltas_record::record_once`; the metrics and their
//! server are `crate::recorder`.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::json;

use super::error::Result;
use crate::actions::deltas_record::DeltasSummary;
use crate::error::Error;
use crate::recorder::{self, Metrics};

use super::session::Session;
use super::{adhoc, GlobalArgs};

#[derive(Debug, Subcommand)]
pub enum DeltasCommand {
    /// Record offset syncs, group positions and fingerprints in the journal.
    Record(RecordArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Keep recording every `--interval` seconds until SIGTERM or Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Seconds between passes with `--follow`.
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub interval: u64,
    /// Give up on a cluster after this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = crate::limits::parse_seconds, allow_hyphen_values = true)]
    pub timeout: u64,
    /// With `--follow`: serve Prometheus metrics on HOST:PORT at `/metrics`.
    #[arg(long, value_name = "HOST:PORT", requires = "follow")]
    pub metrics_addr: Option<String>,
}

pub fn run(cmd: &DeltasCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    let DeltasCommand::Record(a) = cmd;
    let params = json!({ "timeout_seconds": a.timeout.max(1) });
    let rb = adhoc::runbook("deltas-record", "record", "deltas.record", params)?;
    if !a.follow || global.dry_run {
        return adhoc::run(rb, global, session, false);
    }
    follow(a, rb, global, session)
}

/// How the last passes went, for "back again" lines.
#[derive(Default)]
struct Streak {
    failed: u64,
}

fn follow(
    a: &RecordArgs,
    rb: crate::runbook::Runbook,
    global: &GlobalArgs,
    session: &Session,
) -> Result<()> {
    session.stop_on_sigterm();
    let metrics = Metrics::new();
    if let Some(addr) = &a.metrics_addr {
        let local = recorder::serve(&session.runtime, addr, metrics.clone())?;
        session
            .reporter
            .status("Serving", &format!("metrics on http://{local}/metrics"));
    }
    let timeout = Duration::from_secs(a.timeout.max(1));
    let interval = Duration::from_secs(a.interval.max(1));
    let mut streak = Streak::default();

    // The first pass runs as a one-step run (planned, journaled, verified); later passes
    // are recorded under it. A primary that is down at start fails that run: the loop
    // goes on and records once it answers.
    let started = Instant::now();
    let first: RefCell<Option<DeltasSummary>> = RefCell::new(None);
    let journal = session.journal_for_run(false)?;
    let opts = super::run::options(global, session, false);
    let outcome = super::run::drive(
        session,
        &journal,
        &rb,
        super::run::Start::New,
        &opts,
        |report| {
            let out = report.steps.iter().find_map(|s| s.output.clone());
            *first.borrow_mut() = out.and_then(|o| serde_json::from_value(o).ok());
            Ok(())
        },
    );
    let run_id = journal
        .runs_list()?
        .into_iter()
        .find(|r| r.runbook == "deltas-record" && !r.dry_run)
        .map(|r| r.id)
        .ok_or_else(|| {
            outcome
                .as_ref()
                .err()
                .map(|e| Error::Io(e.to_string()))
                .unwrap_or_else(|| Error::Io("the first recording pass left no run".into()))
        })?;
    let first = first.into_inner();
    let result = match (outcome, first) {
        (Ok(()), Some(s)) => Ok(s),
        (Ok(()), None) => Err(Error::Io("the first pass recorded no summary".to_string())),
        (Err(e), _) => Err(e.into_cause()),
    };
    let mut passes = 1u64;
    // One client per cluster for the recorder's life: a pass costs no new connection,
    // handshake or metadata fetch (librdkafka reconnects by itself to a cluster that
    // comes back).
    let follow = crate::actions::deltas_record::Follow::default();
    pass_done(
        session,
        &follow,
        &journal,
        &metrics,
        &mut streak,
        passes,
        run_id,
        started.elapsed(),
        result,
        timeout,
    )?;
    loop {
        let next = crate::limits::deadline(Instant::now(), interval);
        while Instant::now() < next {
            if session.interrupted.load(Ordering::SeqCst) {
                session.reporter.status(
                    "Stopped",
                    &format!("recording deltas after {passes} pass(es) (run {run_id}); every pass recorded is in the journal"),
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        passes += 1;
        let started = Instant::now();
        let result = crate::actions::deltas_record::record_once(
            &session.topology,
            &journal,
            run_id,
            "record",
            &session.reporter,
            session.runtime.handle(),
            &follow,
            timeout,
        );
        pass_done(
            session,
            &follow,
            &journal,
            &metrics,
            &mut streak,
            passes,
            run_id,
            started.elapsed(),
            result,
            timeout,
        )?;
    }
}

/// Print the pass's line and update the metrics. Only a failure that a later pass cannot
/// mend (the journal cannot be written) ends the loop.
#[allow(clippy::too_many_arguments)]
fn pass_done(
    session: &Session,
    follow: &crate::actions::deltas_record::Follow,
    journal: &crate::journal::Journal,
    metrics: &Metrics,
    streak: &mut Streak,
    pass: u64,
    run_id: i64,
    took: Duration,
    result: std::result::Result<DeltasSummary, Error>,
    timeout: Duration,
) -> Result<()> {
    let observed = recorder::observe(
        &session.topology,
        journal,
        run_id,
        session.runtime.handle(),
        metrics,
        result.as_ref().ok(),
        follow,
        timeout,
    );
    metrics.pass_duration.set(took.as_secs_f64());
    release_freed_memory(pass);
    let line = match &result {
        Ok(s) => {
            let recovered = std::mem::take(&mut streak.failed);
            recorder::record_ok(metrics, s);
            recorder::pass_line_ok(pass, took, s, recovered, &observed)
        }
        Err(e) => {
            streak.failed += 1;
            let kind = recorder::error_kind(&session.topology, journal, run_id, metrics, e);
            metrics.error(kind);
            if matches!(e, Error::Journal(j) if j.is_not_writable()) {
                return Err(Error::Io(format!(
                    "pass {pass}: cannot write the journal ({e}); stopping, as no later pass could record"
                )).into());
            }
            recorder::pass_line_failed(pass, took, e, kind, streak.failed, &observed)
        }
    };
    Ok(session.reporter.pass_line(&line.text, &line.json)?)
}

/// Give the memory a pass freed back to the system. A first pass at 1,000 groups reads
/// hundreds of thousands of positions and frees them, but glibc's allocator keeps the
/// freed pages mapped: a recorder that runs for weeks would hold its first pass's peak
/// (over a gigabyte) for ever. Later passes need a fraction of it and reuse what they
/// free, so the heap is trimmed after the first two passes (the second is the first to
/// keep what the next passes reuse) and then every `TRIM_EVERY` passes only (a trim
/// walks the heap, and the next pass faults the pages back in).
fn release_freed_memory(pass: u64) {
    const TRIM_EVERY: u64 = 30;
    if pass > 2 && pass % TRIM_EVERY != 0 {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes no
    // pointer and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
