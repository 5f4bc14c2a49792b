//! kafka-dr: the library behind the `kafka-dr` binary.
//!
//! The binary (src/main.rs) only parses arguments, calls into this library and maps the
//! resulting error to an exit code. Everything else lives here so that tests can drive the
//! engine without spawning the binary. Module ownership follows ARCHITECTURE.md section 4:
//! only `kafka` touches rdkafka, only `journal` touches rusqlite, only `report` writes to
//! the terminal.

pub mod actions;
pub mod check;
pub mod cli;
pub mod connect;
pub mod dr;
pub mod engine;
pub mod error;
pub mod exit_code;
pub mod failover;
pub mod human;
pub mod journal;
pub mod kafka;
pub mod limits;
pub mod recorder;
pub mod redact;
pub mod report;
pub mod runbook;
pub mod status;
pub mod switchover;
pub mod topology;
pub mod yamlpos;
