//! The crate-level `Error`: what stops an invocation before or outside a job run,
//! and the one exhaustive function that maps it to an exit code.
//!
//! Errors *inside* a job run (a locked repository, a wrong password) do not end up
//! here: they are recorded in that run's `RunRecord` so the other jobs still run.

use crate::{config, exit, record, restic, state, view};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error(transparent)]
    Restic(#[from] restic::Error),
    #[error(transparent)]
    Report(#[from] record::Error),
    #[error(transparent)]
    State(#[from] state::Error),
    #[error(transparent)]
    History(#[from] view::Error),
    #[error("unknown job `{name}` in profile {profile}; the profile defines: {known}")]
    UnknownJob {
        name: String,
        profile: String,
        known: String,
    },
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The process exit code for this error. Exhaustive on purpose: a new variant
    /// must decide its code here.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::UnknownJob { .. } | Error::Usage(_) | Error::History(_) => {
                exit::USAGE
            }
            Error::Restic(e) => e.category().exit_code(),
            Error::Report(_) | Error::State(_) => exit::COULD_NOT_VERIFY,
        }
    }
}
