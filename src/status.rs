//! `kafka-dr status`: where things stand now, for the operator who comes in after a
//! failover, a failback or a switchover: which cluster is primary (the journal's roles),
//! which MM2 flow runs (both flows' connectors, asked of their Connect clusters) and what
//! the last run was. It reads the journal and Connect; it writes nothing anywhere.

use std::time::Duration;

use serde::Serialize;

use crate::actions::common::{current_roles, Roles};
use crate::actions::mirror::{self, Flow, FlowStatus};
use crate::error::Error;
use crate::journal::{Journal, RunSummary};
use crate::topology::Topology;

#[derive(Debug, Clone, Serialize)]
pub struct DrStatus {
    pub roles: Roles,
    /// True when the roles are the topology's own (no failover or switchover in force).
    pub original_roles: bool,
    /// Each flow's connectors, or why they could not be asked.
    pub flows: Vec<FlowStatus>,
    /// The flow copying primary -> backup, when its source connector is RUNNING.
    pub running_flow: Option<String>,
    /// The newest run that is not a dry run.
    pub last_run: Option<RunSummary>,
}

/// Read the roles, both flows and the last run.
pub fn status(
    topology: &Topology,
    journal: &Journal,
    rt: &tokio::runtime::Handle,
    timeout: Duration,
) -> Result<DrStatus, Error> {
    let roles = current_roles(topology, journal)?;
    let mut flows = Vec::new();
    for flow in [Flow::Forward, Flow::Reverse] {
        flows.push(mirror::status(topology, journal, flow, rt, timeout)?);
    }
    let running = |f: &FlowStatus| {
        f.connectors
            .iter()
            .any(|c| c.role == "source" && c.state.as_deref() == Some("RUNNING"))
    };
    let running_flow = flows.iter().find(|f| running(f)).map(|f| {
        let (from, to) = match f.flow {
            Flow::Forward => (&topology.replication.primary, &topology.replication.backup),
            Flow::Reverse => (&topology.replication.backup, &topology.replication.primary),
        };
        format!("{} ({from} -> {to})", f.flow.name())
    });
    let last_run = journal.runs_list()?.into_iter().find(|r| !r.dry_run);
    Ok(DrStatus {
        original_roles: roles.primary == topology.replication.primary,
        roles,
        flows,
        running_flow,
        last_run,
    })
}
