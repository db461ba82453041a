//! The audit as a job: the profile's (or the flags') settings, the engine run in a
//! blocking task under the job's deadline and cancellation, the ZFS snapshot the
//! backup read resolved first when the source is `zfs`, and the outcome turned
//! into findings. The record is assembled by `record::assemble`. For an `rclone:`
//! repository the job starts `rclone serve restic` first (`rclone`) and stops it on
//! every way out (SIGINT, then SIGKILL; killed if the job's future is dropped).

use std::path::PathBuf;

use globset::GlobSet;

use super::{
    AuditOptions, AuditOutcome, Class, Error, ErrorKind, SnapshotFilter, SnapshotSelector,
};
use crate::finding::{Category, Finding, FindingKind};
use crate::process;
use crate::restic;
use crate::secret::Secret;
use crate::source::{PathMap, SourceKind};
use crate::zfs;

/// Default cap on the entries a record lists.
pub const DEFAULT_MAX_LISTED: usize = 1000;

/// Knobs of an audit job.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// A snapshot ID; `None`: the newest matching `filter`.
    pub snapshot: Option<String>,
    pub filter: restic::SnapshotFilter,
    /// `FROM=TO` rewrites from tree (or snapshot) paths to source paths.
    pub map: Vec<(String, PathBuf)>,
    pub include: Option<GlobSet>,
    pub exclude: Option<GlobSet>,
    /// `--exclude` patterns the backup used that restic did not record (from an
    /// `--exclude-file`): source entries they match are not expected in the snapshot.
    pub backup_excludes: Vec<String>,
    pub source: SourceKind,
    /// At most this many entries are listed in the record.
    pub max_listed: usize,
}

/// What a completed audit produced.
#[derive(Debug, Clone)]
pub struct AuditResult {
    pub outcome: AuditOutcome,
    /// `live`, or `zfs:<dataset>@<snapshot>`.
    pub source: String,
    pub findings: Vec<Finding>,
    /// The cap on listed entries.
    pub max_listed: usize,
}

/// The repository as the audit reaches it.
#[derive(Debug, Clone)]
pub struct Target {
    /// restic's URL (may hold credentials).
    pub repository: Secret,
    pub password: Secret,
    /// The env file's variables: rclone and the ssh of an `sftp:` repository get
    /// them (restic's `RESTIC_*` excepted), object stores take their credentials
    /// from them (`crate::backend`).
    pub env: Vec<(String, Secret)>,
    /// restic's `-o` options; the audit honours `rclone.program`, `rclone.args`,
    /// `sftp.command`, `sftp.args` and the object stores' options
    /// `crate::backend::url` maps.
    pub options: Vec<(String, String)>,
}

/// Why the audit job did not complete, besides the engine's errors.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Audit(#[from] Error),
    #[error(transparent)]
    Zfs(#[from] zfs::Error),
    #[error("the audit did not finish within the job's timeout of {}", humantime::format_duration(*.0))]
    TimedOut(std::time::Duration),
    #[error("the audit task ended abnormally: {0}")]
    Panicked(String),
}

impl JobError {
    /// The category of the run this error stops.
    pub fn category(&self) -> Category {
        match self {
            JobError::Audit(a) => match a.kind() {
                ErrorKind::Auth => Category::Auth,
                ErrorKind::NotFound => Category::NotFound,
                ErrorKind::Network => Category::Network,
                ErrorKind::Corruption => Category::Corruption,
                ErrorKind::NotVerified => Category::NotVerified,
                ErrorKind::Cancelled => Category::Interrupted,
                ErrorKind::Config => Category::Config,
                ErrorKind::Other => Category::Internal,
            },
            JobError::Zfs(_) => Category::NotFound,
            JobError::TimedOut(_) => Category::Timeout,
            JobError::Panicked(_) => Category::Internal,
        }
    }
}

/// Runs the audit of one repository within `limits` (its deadline, the run's
/// cancellation, and the grace rclone gets to stop); `timeout` is what the
/// deadline came from, for the message.
///
/// # Errors
/// The engine could not compare (see `audit::ErrorKind`), rclone could not serve
/// the repository, the ZFS snapshot could not be found, the deadline passed, or the
/// run was cancelled.
pub async fn run(
    settings: &AuditSettings,
    target: Target,
    limits: &process::Limits,
    timeout: std::time::Duration,
) -> Result<AuditResult, JobError> {
    let cancel = &limits.cancel;
    let deadline = limits.deadline;
    let mut opts = AuditOptions::new(target.repository.clone(), target.password);
    opts.env.clone_from(&target.env);
    opts.options.clone_from(&target.options);
    opts.snapshot = match &settings.snapshot {
        Some(id) => SnapshotSelector::Id(id.clone()),
        None => SnapshotSelector::Latest(SnapshotFilter {
            hosts: settings.filter.host.clone(),
            tags: settings
                .filter
                .tag
                .iter()
                .map(|t| t.split(',').map(str::to_owned).collect())
                .collect(),
            paths: settings.filter.path.clone(),
        }),
    };
    opts.map.clone_from(&settings.map);
    opts.include.clone_from(&settings.include);
    opts.exclude.clone_from(&settings.exclude);
    opts.restic_excludes.clone_from(&settings.backup_excludes);
    opts.max_entries = settings.max_listed;
    // The engine stops at this token: the run's cancellation or the deadline.
    let stop = cancel.child_token();
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            stop.cancel();
        })
    };
    let shown = crate::secret::redact_url(target.repository.expose());
    let serving = process::Limits {
        cancel: stop.clone(),
        ..limits.clone()
    };
    let mut served = None;
    let result = async {
        if let Some(remote) = super::rclone::remote(target.repository.expose()) {
            let s = super::rclone::start(remote, &target.options, &target.env, &serving, &shown)
                .await?;
            opts.endpoint = Some(s.endpoint.clone());
            served = Some(s);
        }
        let mut source = "live".to_owned();
        if let SourceKind::Zfs { dataset, .. } = &settings.source {
            let probe = opts.clone();
            let info = blocking(move || super::snapshot_info(&probe)).await??;
            let resolved = zfs::resolve(
                &stop,
                &settings.source,
                PathMap::new(&[], &[]),
                info.time.timestamp(),
                &info.time.to_rfc3339(),
                &info.tags,
            )
            .await?;
            // Every snapshot path is read from the ZFS snapshot; a ZFS snapshot cannot
            // change, so every difference fails.
            opts.map = info
                .paths
                .iter()
                .map(|p| (p.clone(), resolved.expected_path(p)))
                .collect();
            opts.immutable_source = true;
            source = format!(
                "zfs:{dataset}@{}",
                resolved.zfs_snapshot.clone().unwrap_or_default()
            );
        }
        let engine = opts.clone();
        let token = stop.clone();
        let outcome = blocking(move || super::run(&engine, &token)).await??;
        Ok::<_, JobError>((outcome, source))
    }
    .await;
    timer.abort();
    if let Some(s) = served {
        s.stop(limits).await;
    }
    let (outcome, source) = match result {
        Err(JobError::Audit(e))
            if e.kind() == super::ErrorKind::Cancelled && !cancel.is_cancelled() =>
        {
            return Err(JobError::TimedOut(timeout));
        }
        other => other?,
    };
    let findings = findings(&outcome);
    Ok(AuditResult {
        outcome,
        source,
        findings,
        max_listed: settings.max_listed,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JobError::Panicked(e.to_string()))
}

/// One finding per failing class, naming how many entries and the first paths.
pub fn findings(o: &AuditOutcome) -> Vec<Finding> {
    let mut out = Vec::new();
    for (class, kind, what) in [
        (Class::Mismatch, FindingKind::AuditMismatch, ["differs from the source although its size and mtime are the same (bit rot in the source or the backup)", "differ from the source although their size and mtime are the same (bit rot in the source or the backup)"]),
        (Class::NotInBackup, FindingKind::AuditNotInBackup, ["is in the source, older than the snapshot and not excluded, but missing from it (restic probably could not read it: look for `error:` lines and exit code 3 in the backup's log)", "are in the source, older than the snapshot and not excluded, but missing from it (restic probably could not read them: look for `error:` lines and exit code 3 in the backup's log)"]),
        (Class::Damaged, FindingKind::AuditDamaged, ["could not be checked because the snapshot's trees or index are damaged"; 2]),
    ] {
        let n = o.counts.get(class);
        if n == 0 {
            continue;
        }
        let first: Vec<String> = o
            .entries
            .iter()
            .filter(|e| e.class == class)
            .take(5)
            .map(|e| e.display_path())
            .collect();
        out.push(Finding::fail(
            kind,
            format!(
                "{n} {}: {}",
                if n == 1 {
                    format!("entry {}", what[0])
                } else {
                    format!("entries {}", what[1])
                },
                first.join(", ")
            ),
        ));
    }
    // With a ZFS snapshot as the source every other difference fails too.
    if o.immutable_source {
        for class in [Class::Changed, Class::SourceMissing, Class::New] {
            let n = o.counts.get(class);
            if n > 0 {
                out.push(Finding::fail(
                    FindingKind::AuditMismatch,
                    format!(
                        "{n} entr{} {} although the source is the ZFS snapshot the backup read",
                        if n == 1 { "y is" } else { "ies are" },
                        class.as_str()
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::outcome::{Counts, Entry, SnapshotInfo};

    fn outcome(mismatched: u64) -> AuditOutcome {
        let mut counts = Counts::default();
        counts.add(Class::Mismatch, mismatched);
        AuditOutcome {
            snapshot: SnapshotInfo {
                id: "0123456789abcdef".into(),
                time: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                hostname: "h".into(),
                paths: vec!["/data".into()],
                tags: Vec::new(),
                excludes: Vec::new(),
            },
            roots: Vec::new(),
            immutable_source: false,
            counts,
            failures: mismatched,
            files_verified: 0,
            bytes_verified: 0,
            excluded: 0,
            seconds: 0.0,
            entries: (0..mismatched)
                .map(|i| Entry {
                    path: format!("/data/f{i}").into(),
                    source: format!("/data/f{i}").into(),
                    class: Class::Mismatch,
                    failure: true,
                    detail: String::new(),
                })
                .collect(),
            truncated: 0,
        }
    }

    // See issue #24, item 9: "1 entry differ".
    #[test]
    fn findings_agree_in_number_with_the_count() {
        let one = findings(&outcome(1));
        assert!(
            one[0]
                .detail
                .starts_with("1 entry differs from the source although its size"),
            "{}",
            one[0].detail
        );
        let two = findings(&outcome(2));
        assert!(
            two[0]
                .detail
                .starts_with("2 entries differ from the source although their size"),
            "{}",
            two[0].detail
        );
    }
}
