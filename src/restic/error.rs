//! restic's errors: a restic that cannot be run or is too old, a call that failed,
//! timed out, was interrupted or printed what we cannot read; each with the
//! category of a run that ends in it. Below the calls that return it (`detect`,
//! `session` and the calls built on it).

use std::path::PathBuf;
use std::time::Duration;

use super::classify::ResticExit;
use super::version::{Version, MIN_VERSION};
use crate::finding::Category;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("restic not found at `{}`: {source}; install it (Debian: `apt-get install restic`) or point `--restic`/`restic =` at the binary", program.display())]
    NotInstalled {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("restic {version} at `{}` is older than the oldest supported version {MIN_VERSION}; upgrade restic", program.display())]
    TooOld { program: PathBuf, version: Version },
    #[error("`{} version` printed something that is not a restic version: {output:?}", program.display())]
    UnknownVersion { program: PathBuf, output: String },
    #[error("{command} failed for repository `{repository}`: {message} ({exit}){hint}")]
    Failed {
        command: String,
        repository: String,
        exit: ResticExit,
        category: Category,
        message: String,
        hint: String,
        /// The end of restic's stderr, secrets removed.
        stderr_tail: String,
    },
    #[error("{command} for repository `{repository}` did not finish within {}; restic was stopped", humantime::format_duration(*after))]
    TimedOut {
        command: String,
        repository: String,
        after: Duration,
    },
    #[error(
        "{command} for repository `{repository}` was interrupted by a signal; restic was stopped"
    )]
    Interrupted { command: String, repository: String },
    #[error("{command} for repository `{repository}` printed output that could not be understood: {detail}")]
    Output {
        command: String,
        repository: String,
        detail: String,
    },
    #[error("could not run {command}: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Error::NotInstalled { .. } | Error::TooOld { .. } | Error::UnknownVersion { .. } => {
                Category::ResticMissing
            }
            Error::Failed { category, .. } => *category,
            Error::TimedOut { .. } => Category::Timeout,
            Error::Interrupted { .. } => Category::Interrupted,
            Error::Output { .. } | Error::Io { .. } => Category::Internal,
        }
    }
}
