//! Why an audit could not run, sorted into the kinds a caller maps to exit codes.
//!
//! Damage found *while* auditing (a tree blob that cannot be loaded, a blob missing
//! from the index) is not an error: it is a `damaged` entry of the outcome. An
//! `Error` means nothing (or nothing trustworthy) was compared. Messages never hold
//! the password or the password part of a repository URL.

use std::path::PathBuf;

use rustic_core::{ErrorKind as RusticKind, RusticError};

use crate::backend::sftp;
use crate::finding::Category;
use crate::secret::Redactor;

/// What kind of problem stopped the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Wrong password, no key found.
    Auth,
    /// No repository at the location, or no snapshot matched.
    NotFound,
    /// The backend could not be reached.
    Network,
    /// The repository is damaged where the audit must start (config, keys, index,
    /// the snapshot file): a failed verification, not an environment problem.
    Corruption,
    /// The source root is missing or empty (not mounted, wrong map): never a pass.
    NotVerified,
    /// The caller cancelled.
    Cancelled,
    /// The options are wrong or the repository's backend type is not supported.
    Config,
    /// Anything else.
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Network => "network",
            ErrorKind::Corruption => "corruption",
            ErrorKind::NotVerified => "not_verified",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Config => "config",
            ErrorKind::Other => "other",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid audit options: {0}")]
    Options(String),
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    #[error("wrong password or no key found for repository {repository}")]
    Auth { repository: String },
    #[error("no repository at {repository}: {message}")]
    RepositoryNotFound { repository: String, message: String },
    #[error("no snapshot `{wanted}` in repository {repository}: {message}")]
    SnapshotNotFound {
        repository: String,
        wanted: String,
        message: String,
    },
    #[error("cannot reach repository {repository}: {message}")]
    Network { repository: String, message: String },
    #[error("repository {repository} is damaged: {message}")]
    Corruption { repository: String, message: String },
    #[error("source not verified: {root}: {reason}")]
    NotVerified { root: PathBuf, reason: String },
    #[error("audit cancelled")]
    Cancelled,
    #[error("repository {repository}: {message}")]
    Repository { repository: String, message: String },
    #[error("audit could not start its workers: {0}")]
    Threads(String),
    #[error("the audit cannot serve `rclone:` repository {repository} with rclone: {message}")]
    Rclone { repository: String, message: String },
    #[error(transparent)]
    Sftp(#[from] crate::backend::sftp::Error),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Options(_) | Error::Rclone { .. } => ErrorKind::Config,
            Error::Backend(e) => match e.category() {
                Category::Auth => ErrorKind::Auth,
                Category::Network => ErrorKind::Network,
                Category::Config => ErrorKind::Config,
                _ => ErrorKind::Other,
            },
            Error::Auth { .. } => ErrorKind::Auth,
            Error::RepositoryNotFound { .. } | Error::SnapshotNotFound { .. } => {
                ErrorKind::NotFound
            }
            Error::Network { .. } => ErrorKind::Network,
            Error::Corruption { .. } => ErrorKind::Corruption,
            Error::NotVerified { .. } => ErrorKind::NotVerified,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Repository { .. } | Error::Threads(_) => ErrorKind::Other,
            Error::Sftp(e) => match e.kind() {
                sftp::Kind::Network => ErrorKind::Network,
                sftp::Kind::Auth => ErrorKind::Auth,
                sftp::Kind::Config => ErrorKind::Config,
                sftp::Kind::File => ErrorKind::Other,
            },
        }
    }
}

/// Where in the audit a rustic_core error happened; decides what "not found" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Opening: config file, keys.
    Open,
    /// Finding the snapshot (`wanted`).
    Snapshot,
    /// Loading the index or the snapshot file after it was found.
    Load,
}

/// Turns a rustic_core error into an audit error. `repository` is already redacted;
/// `redactor` scrubs the password and URL credentials from rustic's message.
pub(crate) fn from_rustic(
    err: &RusticError,
    stage: Stage,
    repository: &str,
    wanted: &str,
    redactor: &Redactor,
) -> Error {
    let log = err.display_log();
    let kind = kind_of(&log);
    let message = redactor.redact(log.strip_prefix("Error: ").unwrap_or(&log));
    let repository = repository.to_owned();
    if err.is_incorrect_password() {
        return Error::Auth { repository };
    }
    // The SFTP backend's own errors say what they are (a file it could not read is
    // judged below, by stage, like any backend's).
    if let Some(e) = sftp_cause(err).filter(|e| e.kind() != sftp::Kind::File) {
        return Error::Sftp(e.clone());
    }
    if looks_like_network(kind, &message) {
        return Error::Network {
            repository,
            message,
        };
    }
    match (stage, kind) {
        (_, Some(RusticKind::Cryptography)) => Error::Corruption {
            repository,
            message,
        },
        (Stage::Open, Some(RusticKind::Configuration))
            if message.contains("No repository config") =>
        {
            Error::RepositoryNotFound {
                repository,
                message,
            }
        }
        // An ID (prefix) that no snapshot file has.
        (Stage::Snapshot, Some(RusticKind::Backend))
            if message.contains("No suitable id found") =>
        {
            Error::SnapshotNotFound {
                repository,
                wanted: wanted.to_owned(),
                message,
            }
        }
        (Stage::Snapshot, Some(RusticKind::InvalidInput)) => {
            Error::Options(format!("snapshot `{wanted}`: {message}"))
        }
        (
            Stage::Snapshot,
            Some(RusticKind::Repository | RusticKind::Internal | RusticKind::Other),
        ) => Error::SnapshotNotFound {
            repository,
            wanted: wanted.to_owned(),
            message,
        },
        (Stage::Load, Some(RusticKind::Internal | RusticKind::Backend)) => Error::Corruption {
            repository,
            message,
        },
        _ => Error::Repository {
            repository,
            message,
        },
    }
}

/// A lost connection (not damage) in a backend error met while reading, as the
/// error that should end the audit: the SFTP backend says so itself.
pub(crate) fn lost_connection(err: &RusticError) -> Option<Error> {
    sftp_cause(err)
        .filter(|e| matches!(e.kind(), sftp::Kind::Network | sftp::Kind::Auth))
        .map(|e| Error::Sftp(e.clone()))
}

/// The SFTP backend's error in `err`'s source chain, if any.
fn sftp_cause(err: &RusticError) -> Option<&sftp::Error> {
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        if let Some(e) = c.downcast_ref::<sftp::Error>() {
            return Some(e);
        }
        cause = c.source();
    }
    None
}

/// rustic_core keeps an error's kind private; its one-line form ("Error: …
/// (kind: related to <kind>[, code: …]): caused by: …") shows it in words.
fn kind_of(log: &str) -> Option<RusticKind> {
    const KINDS: [RusticKind; 16] = [
        RusticKind::AppendOnly,
        RusticKind::Backend,
        RusticKind::Configuration,
        RusticKind::Cryptography,
        RusticKind::ExternalCommand,
        RusticKind::Internal,
        RusticKind::InvalidInput,
        RusticKind::InputOutput,
        RusticKind::Key,
        RusticKind::MissingInput,
        RusticKind::Other,
        RusticKind::Credentials,
        RusticKind::Repository,
        RusticKind::Unsupported,
        RusticKind::Verification,
        RusticKind::Vfs,
    ];
    KINDS.into_iter().find(|k| {
        let tag = format!("(kind: related to {k}");
        log.contains(&format!("{tag})")) || log.contains(&format!("{tag},"))
    })
}

/// A backend error whose cause reads like a transport failure. rustic_backend's REST
/// client (reqwest 0.13) is not a type this crate can downcast, so this goes by text.
fn looks_like_network(kind: Option<RusticKind>, message: &str) -> bool {
    const SIGNS: [&str; 8] = [
        "error sending request",
        "connection refused",
        "Connection refused",
        "connection reset",
        "timed out",
        "dns error",
        "No route to host",
        "error trying to connect",
    ];
    kind == Some(RusticKind::Backend) && SIGNS.iter().any(|s| message.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use rstest::rstest;

    fn rerr(kind: RusticKind, msg: &str) -> Box<RusticError> {
        RusticError::new(kind, msg.to_owned())
    }

    #[rstest]
    #[case(
        Stage::Open,
        RusticKind::Configuration,
        "No repository config file found for `x`.",
        ErrorKind::NotFound
    )]
    #[case(
        Stage::Open,
        RusticKind::Backend,
        "error sending request for url (http://127.0.0.1:1/config): client error (Connect)",
        ErrorKind::Network
    )]
    #[case(
        Stage::Snapshot,
        RusticKind::Repository,
        "No snapshots found.",
        ErrorKind::NotFound
    )]
    #[case(
        Stage::Snapshot,
        RusticKind::InvalidInput,
        "Invalid snapshot identifier",
        ErrorKind::Config
    )]
    #[case(
        Stage::Load,
        RusticKind::Cryptography,
        "error processing index",
        ErrorKind::Corruption
    )]
    #[case(Stage::Open, RusticKind::Other, "something", ErrorKind::Other)]
    fn from_rustic_sorts_errors_into_kinds(
        #[case] stage: Stage,
        #[case] kind: RusticKind,
        #[case] msg: &str,
        #[case] want: ErrorKind,
    ) {
        let e = from_rustic(
            &rerr(kind, msg),
            stage,
            "/repo",
            "latest",
            &Redactor::default(),
        );
        assert_eq!(e.kind(), want, "{e}");
    }

    #[test]
    fn from_rustic_recognises_the_wrong_password_code() {
        let e = rerr(
            RusticKind::Credentials,
            "The password … seems to be incorrect.",
        )
        .attach_error_code("C002");
        let e = from_rustic(&e, Stage::Open, "/repo", "latest", &Redactor::default());
        assert_eq!(e.kind(), ErrorKind::Auth);
    }

    #[rstest]
    #[case(sftp::Error::Network { repository: "sftp:nas:/r".into(), message: "lost".into() }, Some(ErrorKind::Network))]
    #[case(sftp::Error::Auth { repository: "sftp:nas:/r".into(), message: "refused".into() }, Some(ErrorKind::Auth))]
    #[case(sftp::Error::File { repository: "sftp:nas:/r".into(), message: "no such file".into() }, None)]
    fn sftp_errors_keep_their_kind_through_rustic(
        #[case] cause: sftp::Error,
        #[case] want: Option<ErrorKind>,
    ) {
        // As `backend::sftp` hands it to rustic_core, and rustic_core wrapped again.
        let e = RusticError::with_source(RusticKind::Backend, "the sftp backend failed", cause);
        let e = RusticError::with_source(RusticKind::Repository, "reading failed", e);
        assert_eq!(lost_connection(&e).map(|l| l.kind()), want);
        let got = from_rustic(&e, Stage::Load, "sftp:nas:/r", "", &Redactor::default());
        match want {
            Some(kind) => assert_eq!(got.kind(), kind, "{got}"),
            // A file that cannot be read is judged by stage: damage while loading.
            None => assert_ne!(got.kind(), ErrorKind::Network, "{got}"),
        }
    }

    #[test]
    fn from_rustic_scrubs_secrets_from_messages() {
        let mut r = Redactor::default();
        r.add(&Secret::new("s3cret-pw"));
        let e = rerr(RusticKind::Other, "url rest:http://u:s3cret-pw@h/ failed");
        let e = from_rustic(&e, Stage::Open, "rest:http://u:[redacted]@h/", "latest", &r);
        assert!(!e.to_string().contains("s3cret-pw"), "{e}");
    }
}
