//! The restic binary: `restic version` run through the process door, checked
//! against the oldest supported version, and remembered per program for the runs
//! of one process.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::Error;
use super::version::{Version, MIN_VERSION};
use crate::process;

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
