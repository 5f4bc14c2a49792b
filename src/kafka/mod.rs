//! STUB (replaced by the kafka work): the only code that imports rdkafka.
use crate::error::ExitCode;
use thiserror::Error;
#[derive(Debug, Error)]
pub enum KafkaError {
    #[error("{0}")]
    Other(String),
}
impl KafkaError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Failure
    }
}
