//! `restic-verify check`: one repository, configured by flags, checked now.
//!
//! Builds a one-job `Profile` from the flags (validated like a profile file) and
//! hands it to the runner, so ad hoc checks and profile jobs behave identically.

use std::collections::BTreeMap;

use crate::check::CheckOptions;
use crate::cli::{CheckArgs, RepoArgs};
use crate::config::{self, Job, JobKind, Outputs, Profile, Repository};
use crate::credentials::{password_file_warning, PasswordSource};
use crate::error::Error;
use crate::report::Report;
use crate::restic::{ReadData, SnapshotFilter};
use crate::runner::{self, Context};
use crate::secret::Secret;

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

/// Turns the flags into a validated one-job profile.
///
/// # Errors
/// Every problem with the flags, in one message.
pub fn profile_from_flags(a: &CheckArgs) -> Result<Profile, config::Error> {
    let mut problems = Vec::new();
    let read_data = if a.read_data {
        ReadData::Full
    } else {
        match a
            .read_data_subset
            .as_deref()
            .map(crate::restic::args::parse_read_data_subset)
        {
            None => ReadData::None,
            Some(Ok(r)) => r,
            Some(Err(m)) => {
                problems.push(format!("--read-data-subset: {m}"));
                ReadData::None
            }
        }
    };
    if matches!(read_data, ReadData::Rotate(_)) && a.repo.state_dir.is_none() {
        problems.push("--read-data-subset rotate/T needs --state-dir DIR to remember where the rotation stands".to_owned());
    }
    let max_age = a
        .max_age
        .as_deref()
        .and_then(|v| match config::parse_duration(v) {
            Ok(d) => Some(d),
            Err(m) => {
                problems.push(format!("--max-age: {m}"));
                None
            }
        });
    let kind = JobKind::Check(CheckOptions {
        read_data,
        max_age,
        min_snapshots: a.min_snapshots,
        filter: snapshot_filter(&a.repo),
    });
    one_job_profile(&a.repo, &a.job, kind, problems)
}

/// The `--host`/`--tag`/`--path` filter.
pub fn snapshot_filter(r: &RepoArgs) -> SnapshotFilter {
    SnapshotFilter {
        host: r.host.clone(),
        tag: r.tag.clone(),
        path: r.path.clone(),
    }
}

/// A profile with one repository and one job, from the flags every command shares;
/// `problems` already found by the caller are reported together with these.
///
/// # Errors
/// Every problem, in one message.
pub fn one_job_profile(
    a: &RepoArgs,
    job: &str,
    kind: JobKind,
    mut problems: Vec<String>,
) -> Result<Profile, config::Error> {
    let name = a.name.clone().unwrap_or_else(|| derive_name(&a.repo));
    let password = match (&a.password_file, &a.password_command, &a.env_file) {
        (Some(f), _, _) => Some(PasswordSource::File(f.clone())),
        (None, Some(c), _) => Some(PasswordSource::Command(Secret::new(c.clone()))),
        (None, None, Some(_)) => Some(PasswordSource::EnvFile),
        (None, None, None) => {
            problems.push(
                "no password: give --password-file FILE or --password-command CMD".to_owned(),
            );
            None
        }
    };
    let mut duration = |flag: &str, v: &str| match config::parse_duration(v) {
        Ok(d) => Some(d),
        Err(m) => {
            problems.push(format!("{flag}: {m}"));
            None
        }
    };
    let lock_wait = duration("--lock-wait", &a.lock_wait).unwrap_or(config::DEFAULT_LOCK_WAIT);
    let timeout = duration("--timeout", &a.timeout).unwrap_or(config::DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        problems.push("--timeout must be above zero".to_owned());
    }
    if a.repo.trim().is_empty() {
        problems.push("--repo is empty".to_owned());
    }
    let Some(password) = password.filter(|_| problems.is_empty()) else {
        return Err(config::Error::Flags(problems.join("\n")));
    };
    let mut warnings = Vec::new();
    if let PasswordSource::File(p) = &password {
        warnings.extend(password_file_warning(&name, p));
    }
    let repository = Repository {
        name: name.clone(),
        url: Secret::new(a.repo.clone()),
        password,
        env_file: a.env_file.clone(),
        restic: a.restic.restic.clone().unwrap_or_else(|| "restic".into()),
        lock_wait,
        unlock_stale: a.unlock_stale,
        retries: a.retries,
    };
    let job = Job {
        name: job.to_owned(),
        kind,
        repositories: vec![name.clone()],
        timeout,
        outputs: Outputs {
            results: a.results.clone(),
            metrics: a.metrics.clone(),
            state_dir: a.state_dir.clone(),
        },
        schedule: None,
        jitter: std::time::Duration::ZERO,
        notify: Vec::new(),
    };
    Ok(Profile {
        source: None,
        repositories: BTreeMap::from([(name, repository)]),
        jobs: vec![job],
        notifiers: BTreeMap::new(),
        max_concurrent: 1,
        warnings,
    })
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
