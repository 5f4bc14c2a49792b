//! Commands that run one action by hand (`kafka-dr watermarks snapshot`, `fence apply`,
//! ...). Each builds a one-step runbook in memory and hands it to the engine, so a
//! step run by hand is validated, planned, journaled, dry-runnable and resumable exactly
//! like the same step inside a runbook. The run's source is `command:<name>`; resume
//! reads such a runbook back from the journal's copy.

use super::error::Result;
use crate::error::Error;
use crate::runbook::{self, Runbook};

use super::session::Session;
use super::GlobalArgs;

/// The source prefix of runbooks built by commands.
pub const SOURCE_PREFIX: &str = "command:";

/// A one-step runbook `name` running `action` with `params`.
pub fn runbook(
    name: &str,
    step_id: &str,
    action: &str,
    params: serde_json::Value,
) -> Result<Runbook> {
    let params = serde_json::to_string(&params)
        .map_err(|e| Error::Io(format!("cannot encode parameters: {e}")))?;
    // JSON is YAML: the parameters go in as a flow mapping.
    let text = format!(
        "name: {name}\ndescription: run by hand with `kafka-dr {}`\nsteps:\n  - id: {step_id}\n    action: {action}\n    params: {params}\n",
        name.replace('-', " ")
    );
    Ok(runbook::load_str(&text, &format!("{SOURCE_PREFIX}{name}"))?)
}

/// Run a one-step runbook built by a command and print its report.
pub fn run(
    rb: Runbook,
    global: &GlobalArgs,
    session: &Session,
    take_over_lease: bool,
) -> Result<()> {
    runbook::validate_against(&rb, &session.topology)?;
    let journal = session.journal_for_run(global.dry_run)?;
    let mut opts = super::run::options(global, session, false);
    opts.take_over_lease = take_over_lease;
    super::run::drive(
        session,
        &journal,
        &rb,
        super::run::Start::New,
        &opts,
        |report| Ok(session.reporter.run_report(report)?),
    )
}
