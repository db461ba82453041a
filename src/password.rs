//! The repository password for a reader that runs in process (the audit), found
//! the way restic finds it: the profile's password file (trimmed), its password
//! command (run through `process`, sealed like restic, with the env file's
//! variables), or the env file's `RESTIC_PASSWORD`/`_FILE`/`_COMMAND`. The value
//! never leaves a `Secret`.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::credentials::{Credentials, PasswordSource};
use crate::process;
use crate::secret::Secret;

/// How long a password command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("password file {} cannot be read: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the password command failed: {0}; check `password-command`")]
    Command(String),
    #[error("no password: neither the profile nor the env file gives one")]
    Missing,
}

/// The password of a repository, for an in-process reader.
///
/// # Errors
/// The file cannot be read, the command fails or prints nothing, or no source.
pub async fn resolve(
    source: &PasswordSource,
    creds: &Credentials,
    cancel: &CancellationToken,
) -> Result<Secret, Error> {
    match source {
        PasswordSource::File(path) => read_file(path),
        PasswordSource::Command(cmd) => run_command(cmd.expose(), creds, cancel).await,
        PasswordSource::EnvFile => {
            let var = |k: &str| creds.env.iter().find(|(n, _)| n == k).map(|(_, v)| v);
            if let Some(v) = var("RESTIC_PASSWORD") {
                Ok(v.clone())
            } else if let Some(f) = var("RESTIC_PASSWORD_FILE") {
                read_file(Path::new(f.expose()))
            } else if let Some(c) = var("RESTIC_PASSWORD_COMMAND") {
                run_command(c.expose(), creds, cancel).await
            } else {
                Err(Error::Missing)
            }
        }
    }
}

fn read_file(path: &Path) -> Result<Secret, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.to_owned(),
        source,
    })?;
    Ok(Secret::new(text.trim()))
}

async fn run_command(
    cmd: &str,
    creds: &Credentials,
    cancel: &CancellationToken,
) -> Result<Secret, Error> {
    let args: Vec<OsString> = vec!["-c".into(), cmd.into()];
    let env: Vec<(String, Secret)> = creds
        .env
        .iter()
        .filter(|(k, _)| !k.starts_with("RESTIC_"))
        .cloned()
        .collect();
    let mut out = Vec::new();
    let exit = process::run(
        process::Spec {
            program: Path::new("/bin/sh"),
            args: &args,
            sealed_prefix: Some("RESTIC_"),
            env: &env,
            stdout: process::Stdout::Lines,
        },
        &process::Limits {
            deadline: Instant::now() + COMMAND_TIMEOUT,
            cancel: cancel.clone(),
            grace: Duration::from_secs(5),
            hurry: None,
        },
        &mut |l| out.extend_from_slice(l),
    )
    .await
    .map_err(|e| Error::Command(e.to_string()))?;
    if exit.stopped.is_some() || !exit.status.success() {
        // Its stderr may hold the secret's neighbourhood: say only how it ended.
        return Err(Error::Command(format!("it ended with {}", exit.status)));
    }
    let pw = String::from_utf8_lossy(&out).trim().to_owned();
    if pw.is_empty() {
        return Err(Error::Command("it printed nothing".into()));
    }
    Ok(Secret::new(pw))
}
