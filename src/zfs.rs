//! The ZFS side of a restore test or audit: which ZFS snapshot holds the bytes the
//! backup read, found with the `zfs` command through `process` (the one door for
//! child processes: bounded, cancellable, stdin /dev/null).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::process;
use crate::source::{pick_zfs_snapshot, PathMap, Resolved, SourceKind, ZfsSnapshot};

/// How long one `zfs` call may take.
const ZFS_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run `zfs {args}`: {source}; is ZFS installed (zfsutils-linux)?")]
    Spawn {
        args: String,
        #[source]
        source: process::Error,
    },
    #[error(
        "`zfs {args}` did not finish within {}; it was stopped",
        humantime::format_duration(ZFS_TIMEOUT)
    )]
    TimedOut { args: String },
    #[error("`zfs {args}` was interrupted by a signal")]
    Interrupted { args: String },
    #[error("`zfs {args}` failed ({status}): {stderr}")]
    Failed {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("no ZFS snapshot of {dataset} was created at or before the restic snapshot's time {time}; name one with `zfs-snapshot`")]
    NoZfsSnapshot { dataset: String, time: String },
    #[error("the restic snapshot has no tag starting with `{prefix}` naming its ZFS snapshot")]
    NoTag { prefix: String },
    #[error("ZFS snapshot directory {} does not exist (is snapdir reachable, is the name right?)", path.display())]
    Missing { path: PathBuf },
}

async fn zfs(cancel: &CancellationToken, args: &[&str]) -> Result<String, Error> {
    let shown = args.join(" ");
    let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    let mut out = Vec::new();
    let exit = process::run(
        process::Spec {
            program: Path::new("zfs"),
            args: &argv,
            sealed_prefix: None,
            env: &[],
            stdout: process::Stdout::Lines,
        },
        &process::Limits {
            deadline: Instant::now() + ZFS_TIMEOUT,
            cancel: cancel.clone(),
            grace: Duration::from_secs(5),
            hurry: None,
        },
        &mut |l| out.extend_from_slice(l),
    )
    .await
    .map_err(|source| Error::Spawn {
        args: shown.clone(),
        source,
    })?;
    match exit.stopped {
        Some(process::Stopped::Deadline) => return Err(Error::TimedOut { args: shown }),
        Some(process::Stopped::Cancelled) => return Err(Error::Interrupted { args: shown }),
        None => {}
    }
    if !exit.status.success() {
        return Err(Error::Failed {
            args: shown,
            status: exit.status.to_string(),
            stderr: exit.stderr.trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Resolves the expected side for a restic snapshot (time as epoch seconds, tags).
///
/// # Errors
/// `zfs` missing or failing, no fitting ZFS snapshot, or its directory missing.
pub async fn resolve(
    cancel: &CancellationToken,
    kind: &SourceKind,
    map: PathMap,
    time: i64,
    time_text: &str,
    tags: &[String],
) -> Result<Resolved, Error> {
    let (dataset, choice) = match kind {
        SourceKind::Live => return Ok(Resolved::live(map)),
        SourceKind::Zfs { dataset, snapshot } => (dataset, snapshot),
    };
    let mountpoint = PathBuf::from(
        zfs(
            cancel,
            &["get", "-H", "-p", "-o", "value", "mountpoint", dataset],
        )
        .await?
        .trim(),
    );
    let name = match choice {
        ZfsSnapshot::Named(n) => n.clone(),
        ZfsSnapshot::Tag(prefix) => tags
            .iter()
            .find_map(|t| t.strip_prefix(prefix.as_str()))
            .map(str::to_owned)
            .ok_or_else(|| Error::NoTag {
                prefix: prefix.clone(),
            })?,
        ZfsSnapshot::Auto => {
            let list = zfs(
                cancel,
                &[
                    "list",
                    "-H",
                    "-p",
                    "-t",
                    "snapshot",
                    "-o",
                    "name,creation",
                    dataset,
                ],
            )
            .await?;
            pick_zfs_snapshot(&list, time).ok_or_else(|| Error::NoZfsSnapshot {
                dataset: dataset.clone(),
                time: time_text.to_owned(),
            })?
        }
    };
    let root = mountpoint.join(".zfs/snapshot").join(&name);
    if !root.is_dir() {
        return Err(Error::Missing { path: root });
    }
    Ok(Resolved::zfs(map, mountpoint, root, name))
}
