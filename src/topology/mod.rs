//! STUB (replaced by the topology work): the topology YAML model and its loading.
use thiserror::Error;
#[derive(Debug, Error)]
pub enum TopologyError {
    #[error("{0}")]
    Invalid(String),
}
#[derive(Debug, Clone)]
pub struct Topology;
