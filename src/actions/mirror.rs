//! The MM2 flows of a topology (`Flow`), where their connectors run, and the `mirror
//! status` query; `mirror.stop` itself is in mirror_stop.rs.
//!
//! The topology names its flows by its own (seed) roles, and so do the connector names
//! (`mm2-dc1-dc2-*`): `forward` is `replication.forward_connectors`, copying the
//! topology's primary into its backup and run by the Connect cluster that writes into the
//! topology's backup; `reverse` is `replication.reverse_connectors`, the other way, on the
//! Connect that writes into the topology's primary. These do not move when a failover
//! swaps the roles in the journal, so `flow: forward` still finds the dc1 -> dc2
//! connectors on dc2's Connect during a failback.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::common::{self, first_line};
use crate::connect::{ConnectClient, ConnectError};
use crate::error::Error;
use crate::journal::Journal;
use crate::topology::{Connectors, Topology};

/// A mirror direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// primary -> backup, on the backup's Connect.
    Forward,
    /// backup -> primary, on the primary's Connect.
    Reverse,
}

impl Flow {
    pub fn name(self) -> &'static str {
        match self {
            Flow::Forward => "forward",
            Flow::Reverse => "reverse",
        }
    }

    pub fn parse(s: &str) -> Option<Flow> {
        match s {
            "forward" => Some(Flow::Forward),
            "reverse" => Some(Flow::Reverse),
            _ => None,
        }
    }

    /// The flow's connectors, and the cluster they copy into (whose Connect runs them).
    /// Fixed by the topology, whatever the journal's current roles (see the module doc).
    /// The cluster the flow copies from (by the topology's seed roles, like `placement`).
    pub fn source(self, topology: &Topology) -> &str {
        let r = &topology.replication;
        match self {
            Flow::Forward => r.primary.as_str(),
            Flow::Reverse => r.backup.as_str(),
        }
    }

    pub fn placement(self, topology: &Topology) -> (&Connectors, &str) {
        let r = &topology.replication;
        match self {
            Flow::Forward => (&r.forward_connectors, r.backup.as_str()),
            Flow::Reverse => (&r.reverse_connectors, r.primary.as_str()),
        }
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// (role in the flow, connector name), in the order they are stopped: the source first,
/// so no record is copied after the checkpoints stop.
pub(super) fn connector_list(c: &Connectors) -> [(&'static str, String); 3] {
    [
        ("source", c.source.clone()),
        ("checkpoint", c.checkpoint.clone()),
        ("heartbeat", c.heartbeat.clone()),
    ]
}

/// Connect could not be asked at all: no URL in the topology, or no answer.
pub(super) fn unreachable_note(flow: Flow, cluster: &str, url: Option<&str>, why: &str) -> String {
    let at = url.map(|u| format!(" at `{u}`")).unwrap_or_default();
    format!(
        "Connect for `{cluster}`{at} is unreachable ({why}): cannot stop the {flow} flow's connectors; the ACL fence is what keeps replication out"
    )
}

/// The Connect client of `cluster`, or why there is none to talk to.
pub(super) fn client_for(
    topology: &Topology,
    cluster: &str,
    timeout: Duration,
) -> Result<Result<ConnectClient, String>, Error> {
    match common::connect(topology, cluster, timeout.min(common::NETWORK_TIMEOUT))? {
        Some(c) => Ok(Ok(c)),
        None => Ok(Err(format!(
            "the topology names no `connect` URL for `{cluster}`"
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// mirror status
// ---------------------------------------------------------------------------------------

/// One connector of a flow, as `mirror status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorReport {
    /// `source`, `checkpoint` or `heartbeat`.
    pub role: &'static str,
    pub name: String,
    pub exists: bool,
    /// The connector's state (`RUNNING`...), None when it does not exist.
    pub state: Option<String>,
    /// `RUNNING, tasks: 0 RUNNING`.
    pub summary: Option<String>,
    /// FAILED connector or tasks, with the first line of their traces.
    pub failures: Vec<String>,
}

/// A flow's connectors on the Connect cluster that runs them.
#[derive(Debug, Clone, Serialize)]
pub struct FlowStatus {
    pub flow: Flow,
    /// The cluster the flow writes into (whose Connect runs it).
    pub cluster: String,
    /// That cluster's current role (`primary` or `backup`): a flow into the primary
    /// should not be running unless this is a failback.
    pub into_role: &'static str,
    pub url: Option<String>,
    /// Why Connect could not be asked (no URL, or no answer).
    pub unreachable: Option<String>,
    pub connectors: Vec<ConnectorReport>,
    /// `connect`, or `dedicated` (MM2 dedicated mode: no connectors to ask).
    pub mode: &'static str,
    /// Dedicated mode: the hooks that stop and start the flow, as the operator reads them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<FlowHooks>,
}

/// A dedicated-mode flow's hooks and offsets topic.
#[derive(Debug, Clone, Serialize)]
pub struct FlowHooks {
    pub stop: Vec<String>,
    pub start: Vec<String>,
    /// Where MM2 keeps the flow's positions, on the cluster it writes into.
    pub offsets_topic: String,
}

/// The connectors of `flow` (roles as the journal has them now) and their states. Async
/// Connect calls run on `rt` (call from outside its worker threads).
pub fn status(
    topology: &Topology,
    journal: &Journal,
    flow: Flow,
    rt: &tokio::runtime::Handle,
    timeout: Duration,
) -> Result<FlowStatus, Error> {
    let roles = common::current_roles(topology, journal)?;
    let (connectors, cluster) = flow.placement(topology);
    let cluster = cluster.to_string();
    let into_role = if cluster == roles.primary {
        "primary"
    } else {
        "backup"
    };
    let mut out = FlowStatus {
        flow,
        into_role,
        cluster: cluster.clone(),
        url: None,
        unreachable: None,
        connectors: Vec::new(),
        mode: topology.replication.mirror_maker.mode(),
        hooks: None,
    };
    if let Some(d) = super::mirror_dedicated::flow_of(topology, flow) {
        out.hooks = Some(FlowHooks {
            stop: d.stop.argv.clone(),
            start: d.start.argv.clone(),
            offsets_topic: d.offsets_topic(flow.source(topology)),
        });
        return Ok(out);
    }
    let client = match client_for(topology, &cluster, timeout)? {
        Ok(c) => c,
        Err(why) => {
            out.unreachable = Some(why);
            return Ok(out);
        }
    };
    out.url = Some(client.url().to_string());
    for (role, name) in connector_list(connectors) {
        match rt.block_on(client.status_if_exists(&name)) {
            Ok(st) => out.connectors.push(ConnectorReport {
                role,
                name,
                exists: st.is_some(),
                state: st.as_ref().map(|s| s.connector_state.to_string()),
                summary: st.as_ref().map(|s| s.summary()),
                failures: st.map(|s| s.failures()).unwrap_or_default(),
            }),
            Err(ConnectError::Unreachable { detail, .. }) => {
                out.unreachable = Some(first_line(&detail).to_string());
                out.connectors.clear();
                return Ok(out);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
