//! The Kafka Connect REST client for MM2 connectors (ARCHITECTURE.md section 3).
//!
//! Owns everything kafka-dr says to a Connect cluster over HTTP: version and capability
//! checks (KIP-875 offsets, stop, `initial_state`), connector lifecycle (create, config,
//! pause, resume, stop, restart, delete), status and waiting, connector offsets, and the
//! typed MirrorSourceConnector offset helpers. It must not touch Kafka directly (that is
//! `crate::kafka`), the journal, or the terminal (progress goes through a callback).
//! Errors never carry credentials: userinfo is stripped from URLs before any use.
//!
//! The client is async (reqwest); the engine runs it with `StepContext::block_on`.

mod client;
mod error;
mod model;
mod version;

pub use client::{ConnectClient, ConnectTls, Feature};
pub use error::ConnectError;
pub use model::{
    mirror_source_offset, parse_mirror_source_offset, ConfigOutcome, ConnectInfo, ConnectorOffset,
    ConnectorState, ConnectorStatus, InitialState, MirrorSourceOffset, TargetState, TaskStatus,
    MIRROR_CLUSTER_KEY, MIRROR_OFFSET_KEY, MIRROR_PARTITION_KEY, MIRROR_TOPIC_KEY,
};
pub use version::ConnectVersion;
