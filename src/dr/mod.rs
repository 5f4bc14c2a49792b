//! The DR arithmetic, Kafka-free and I/O-free (ARCHITECTURE.md section 4): what the
//! actions decide from offsets, ids, bounds and transaction markers, values in and values
//! out, unit- and property-tested here. It imports nothing of ours but other `dr`
//! modules, and never touches a cluster, the journal or the terminal.

pub mod coordinator;
pub mod gaps;
pub mod marks;
pub mod sync_store;
pub mod transactions;

pub use sync_store::{older_incarnation, valid_syncs, Logs, RecordedSync, Stale, SyncPoint, Valid};
