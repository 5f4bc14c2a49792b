//! Every test that needs the real two-DC lab lives in this one test binary, so one lab
//! serves them all and `common::exclusive()` can keep disruptive tests apart.

#[path = "../common/mod.rs"]
mod common;

mod bounds;
mod codecs;
mod connect;
mod crash;
mod failback;
mod failover;
mod fence;
mod groups;
mod identical;
mod kafka;
mod mirror;
mod preflight;
mod recorder;
mod reverse;
mod scale;
mod secured;
mod shapes;
mod smoke;
mod stale;
mod switchover;
mod tail;
mod transactions;
