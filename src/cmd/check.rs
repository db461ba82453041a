//! `restic-verify check`: one repository, configured by flags, checked now.
//!
//! Builds a one-job `Profile` from the flags (through the profile validator, so a
//! flag and its key accept the same values) and hands it to the runner, so ad hoc
//! checks and profile jobs behave identically.

use crate::cli::{CheckArgs, RepoArgs};
use crate::config::flags::{given, FlagProfile};
use crate::config::raw::{OneOrMany, RawJob, RawRepository};
use crate::config::{self, Job, Profile};
use crate::error::Error;
use crate::record::Report;
use crate::runner::{self, Context};

/// Runs the check.
///
/// # Errors
/// The flags are invalid (exit 2).
pub async fn run(args: CheckArgs, ctx: &Context) -> Result<Report, Error> {
    let profile = profile_from_flags(&args)?;
    let jobs: Vec<&Job> = profile.jobs.iter().collect();
    Ok(runner::run_jobs(&profile, &jobs, ctx).await)
}

/// The name a repository gets from its URL: the last path component, e.g.
/// `/mnt/nas/restic/photos` and `sftp:nas:/srv/restic/photos` both give `photos`.
pub fn derive_name(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed
        .rsplit(['/', ':', '@'])
        // A trailing port (`rest:http://host:8000/`) names nothing.
        .find(|s| !s.is_empty() && !s.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or("repository");
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "repository".to_owned()
    } else {
        name
    }
}

/// Turns the flags into a validated one-job profile (the same validation as a
/// profile's `[job.*]` keys).
///
/// # Errors
/// Every problem with the flags, in one message.
pub fn profile_from_flags(a: &CheckArgs) -> Result<Profile, config::Error> {
    let job = RawJob {
        kind: Some(given("check".to_owned())),
        read_data: a.read_data.then_some(true),
        read_data_subset: a.read_data_subset.clone().map(given),
        max_age: a.max_age.clone().map(given),
        min_snapshots: Some(a.min_snapshots),
        read_budget: a.read_budget.clone().map(given),
        outdated_after: a.outdated_after.clone().map(given),
        ..RawJob::default()
    };
    config::from_flags(flag_profile(&a.repo, &a.job, job)?)
}

/// The raw keys of `--source` and `--zfs-*` (restore test and audit), the rest
/// default.
pub(crate) fn source_keys(a: &crate::cli::SourceArgs) -> RawJob {
    RawJob {
        source: Some(given(a.source.clone())),
        zfs_dataset: a.zfs_dataset.clone(),
        zfs_snapshot: a.zfs_snapshot.clone(),
        zfs_snapshot_tag: a.zfs_snapshot_tag.clone(),
        ..RawJob::default()
    }
}

/// The repository flags every command shares, and the job keys they carry
/// (filters, timeout, outputs), added to `job`.
pub(crate) fn flag_profile(
    a: &RepoArgs,
    job_name: &str,
    mut job: RawJob,
) -> Result<FlagProfile, config::Error> {
    let url = repository_url(a)?;
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref().map(|p| given(p.to_string_lossy().into_owned()))
    };
    job.host = (!a.host.is_empty()).then(|| OneOrMany::Many(a.host.clone()));
    job.tag = (!a.tag.is_empty()).then(|| OneOrMany::Many(a.tag.clone()));
    job.path = (!a.path.is_empty()).then(|| OneOrMany::Many(a.path.clone()));
    job.timeout = Some(given(a.timeout.clone()));
    job.results = path(&a.results);
    job.state_dir = path(&a.state_dir);
    Ok(FlagProfile {
        repository_name: a.name.clone().unwrap_or_else(|| derive_name(&url)),
        repository: RawRepository {
            url: Some(given(url)),
            password_file: path(&a.password_file),
            password_command: a.password_command.clone().map(given),
            env_file: path(&a.env_file),
            restic: a
                .restic
                .restic
                .as_ref()
                .map(|p| given(p.to_string_lossy().into_owned())),
            lock_wait: Some(given(a.lock_wait.clone())),
            unlock_stale: Some(a.unlock_stale),
            retries: Some(a.retries),
            options: (!a.options.is_empty()).then(|| given(a.options.clone())),
            limit_download: a
                .limit_download
                .map(|k| given(i64::try_from(k).unwrap_or(i64::MAX))),
        },
        job_name: job_name.to_owned(),
        job,
        metrics_file: a.metrics.clone(),
    })
}

/// `--repo`, `RESTIC_VERIFY_REPOSITORY` or the first line of `--repo-file`.
fn repository_url(a: &RepoArgs) -> Result<String, config::Error> {
    if let Some(url) = &a.repo {
        return Ok(url.clone());
    }
    let Some(path) = &a.repo_file else {
        return Err(config::Error::Flags(
            "no repository: give --repo, --repo-file FILE or RESTIC_VERIFY_REPOSITORY".into(),
        ));
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        config::Error::Flags(format!(
            "--repo-file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    let url = text.lines().next().unwrap_or("").trim().to_owned();
    if url.is_empty() {
        return Err(config::Error::Flags(format!(
            "--repo-file {} is empty; write the repository path or URL on its first line",
            path.display()
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("/mnt/nas/restic/photos", "photos")]
    #[case("/mnt/nas/restic/photos/", "photos")]
    #[case("sftp:nas:/srv/restic/photos", "photos")]
    #[case("rest:https://u:p@host:8000/my repo", "my_repo")]
    #[case("s3:s3.amazonaws.com/bucket", "bucket")]
    #[case("rest:http://127.0.0.1:8000/", "127.0.0.1")]
    fn derive_name_takes_the_last_component(#[case] url: &str, #[case] want: &str) {
        assert_eq!(derive_name(url), want);
    }
}
