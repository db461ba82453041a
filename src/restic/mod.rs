//! restic, driven as a child process: version detection (`version`), argument
//! building (`args`), exit codes and stderr classification (`classify`), the typed
//! calls of one job run on one repository (`session`), lock clean-up (`lock`) and
//! the JSON restic prints (`json`), and the throw-away cache every call uses
//! (`cache`: made, locked, removed, and swept after killed runs).
//!
//! Repository and password reach restic through its environment (never argv);
//! every call goes through `process`, the one door for child processes (stdin
//! /dev/null, own process group, sealed environment, SIGINT then SIGKILL). Every
//! call uses a throw-away cache: a warm cache hides damaged index and snapshot
//! files. Argument builders and classification are pure functions with unit tests.

pub mod args;
pub mod cache;
pub mod classify;
mod find;
pub mod json;
mod list;
mod lock;
pub mod restore_output;
pub mod session;
pub mod version;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::finding::Category;
use crate::process;

pub use args::{CheckRead, ReadData, SnapshotFilter};
pub use classify::{classify, ResticExit};
pub use session::{CheckOutput, RestoreOutput, Session, SnapshotsOutput};
pub use version::{Version, MIN_VERSION};

/// How long restic gets to clean up after SIGINT before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

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

/// A detected restic binary.
#[derive(Debug, Clone)]
pub struct Restic {
    pub program: PathBuf,
    pub version: Version,
}

impl Restic {
    /// Runs `restic version` and checks the version is supported.
    ///
    /// # Errors
    /// `NotInstalled`, `TooOld`, `UnknownVersion`, or a timeout.
    pub async fn detect(program: &Path) -> Result<Restic, Error> {
        let args: Vec<OsString> = vec!["version".into()];
        let mut out = Vec::new();
        let limits = process::Limits {
            deadline: Instant::now() + Duration::from_secs(30),
            cancel: CancellationToken::new(),
            grace: Duration::from_secs(5),
            hurry: None,
        };
        let exit = process::run(
            process::Spec {
                program,
                args: &args,
                sealed_prefix: Some("RESTIC_"),
                env: &[],
                stdout: process::Stdout::Lines,
            },
            &limits,
            &mut |l| out.extend_from_slice(l),
        )
        .await
        .map_err(|e| match e {
            process::Error::NotFound { source, .. } => Error::NotInstalled {
                program: program.to_owned(),
                source,
            },
            process::Error::Io { source, .. } => Error::Io {
                command: "restic version".to_owned(),
                source,
            },
        })?;
        if exit.stopped.is_some() {
            return Err(Error::TimedOut {
                command: "restic version".to_owned(),
                repository: "-".to_owned(),
                after: Duration::from_secs(30),
            });
        }
        let text = String::from_utf8_lossy(&out);
        let version =
            Version::parse_version_output(&text).ok_or_else(|| Error::UnknownVersion {
                program: program.to_owned(),
                output: text.trim().chars().take(200).collect(),
            })?;
        if version < MIN_VERSION {
            return Err(Error::TooOld {
                program: program.to_owned(),
                version,
            });
        }
        Ok(Restic {
            program: program.to_owned(),
            version,
        })
    }
}

/// The restic binaries this process has detected, by program (each detected once;
/// the runs of one process share them).
#[derive(Debug, Clone, Default)]
pub struct Detected(std::sync::Arc<tokio::sync::Mutex<std::collections::HashMap<PathBuf, Restic>>>);

impl Detected {
    /// The detected `program`, detecting it on first use.
    ///
    /// # Errors
    /// As `Restic::detect`.
    pub async fn get(&self, program: &Path) -> Result<Restic, Error> {
        let known = self.0.lock().await.get(program).cloned();
        if let Some(r) = known {
            return Ok(r);
        }
        let r = Restic::detect(program).await?;
        self.0.lock().await.insert(program.to_owned(), r.clone());
        Ok(r)
    }
}
