//! What every child of the process door shares, below the ways of running one
//! (`run` in the door itself, `server`, `piped`): the error of a child that could
//! not be started, the limits a child runs under and why it was stopped, and the
//! signal sent to its process group.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long pipes may stay open after the child exited (a grandchild holding them).
pub(super) const PIPE_DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{}` not found: {source}", program.display())]
    NotFound {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not run `{}`: {source}", program.display())]
    Io {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// When to stop it.
#[derive(Debug, Clone)]
pub struct Limits {
    pub deadline: Instant,
    pub cancel: CancellationToken,
    /// Between SIGINT and SIGKILL.
    pub grace: Duration,
    /// A second cancellation (a second SIGINT/SIGTERM) that cuts the grace short.
    pub hurry: Option<CancellationToken>,
}

/// Why a child was stopped by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Deadline,
    Cancelled,
}

/// Why `program` could not be started.
pub(super) fn spawn_error(program: &Path, source: std::io::Error) -> Error {
    let program = program.to_owned();
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound { program, source }
    } else {
        Error::Io { program, source }
    }
}

/// Sends `sig` to the child's process group (the child leads it).
pub(super) fn signal_group(pid: Option<u32>, sig: nix::sys::signal::Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), sig);
    }
}
