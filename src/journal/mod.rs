//! STUB (replaced by the journal work): the SQLite journal.
use crate::error::ExitCode;
use thiserror::Error;
#[derive(Debug, Error)]
pub enum JournalError {
    #[error("{0}")]
    Sql(String),
}
impl JournalError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::Failure
    }
}
pub struct Journal;
