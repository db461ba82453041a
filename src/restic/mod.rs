//! restic, driven as a child process: version detection (`version`, `detect`), its
//! errors (`error`), argument building (`args`), exit codes and stderr
//! classification (`classify`), the typed calls of one job run on one repository
//! (`session`), lock clean-up (`lock`) and the JSON restic prints (`json`), and the
//! throw-away cache every call uses (`cache`: made, locked, removed, and swept after
//! killed runs).
//!
//! Repository and password reach restic through its environment (never argv);
//! every call goes through `process`, the one door for child processes (stdin
//! /dev/null, own process group, sealed environment, SIGINT then SIGKILL). Every
//! call uses a throw-away cache: a warm cache hides damaged index and snapshot
//! files. Argument builders and classification are pure functions with unit tests.

pub mod args;
pub mod cache;
pub mod classify;
mod detect;
mod error;
mod find;
pub mod json;
mod list;
mod lock;
pub mod restore_output;
pub mod session;
mod ssh_reason;
pub mod version;

use std::time::Duration;

pub use args::{CheckRead, ReadData, SnapshotFilter};
pub use classify::{classify, ResticExit};
pub use detect::{Detected, Restic};
pub use error::Error;
pub use session::{CheckOutput, RestoreOutput, Session, SnapshotsOutput};
pub use version::{Version, MIN_VERSION};

/// How long restic gets to clean up after SIGINT before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
