//! STUB (replaced by the connect work): Kafka Connect REST client.
use crate::error::ExitCode;
use thiserror::Error;
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("{0}")]
    Other(String),
}
impl ConnectError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Failure
    }
}
