//! Why the in-process reader could not open a repository, and the run category
//! each reason gives. Below `backend`'s opener and its backends, which all use it.

use super::{sftp, url};
use crate::finding::Category;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Url(#[from] url::Error),
    #[error("the in-process reader (audit, pack sizes, `read-data-subset = \"new\"`) cannot open `{scheme}:` repository {repository}: {why}; `check` and `restore-test` run restic and work there")]
    Unsupported {
        repository: String,
        scheme: &'static str,
        why: String,
    },
    #[error("repository {repository} refused the credentials: {message}; check {variables} in the repository's env file")]
    Auth {
        repository: String,
        variables: &'static str,
        message: String,
    },
    #[error("cannot reach repository {repository}: {message}")]
    Network { repository: String, message: String },
    #[error("no restic repository at {repository}: {message}; check the bucket (container) and prefix of the URL")]
    Missing { repository: String, message: String },
    #[error("cannot open repository {repository}: {message}")]
    Other { repository: String, message: String },
    #[error(transparent)]
    Sftp(#[from] sftp::Error),
}

impl Error {
    /// The category of a run this error stops.
    pub fn category(&self) -> Category {
        match self {
            Error::Url(_) | Error::Unsupported { .. } | Error::Missing { .. } => Category::Config,
            Error::Auth { .. } => Category::Auth,
            Error::Network { .. } => Category::Network,
            Error::Other { .. } => Category::Internal,
            Error::Sftp(e) => match e.kind() {
                sftp::Kind::Network => Category::Network,
                sftp::Kind::Auth => Category::Auth,
                sftp::Kind::Config | sftp::Kind::File => Category::Config,
            },
        }
    }
}
