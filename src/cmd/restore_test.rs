//! `restic-verify restore-test`: one repository, configured by flags, restore-tested
//! now. Builds a one-job profile like `check` does and hands it to the runner.

use crate::cli::RestoreTestArgs;
use crate::cmd::check::{one_job_profile, snapshot_filter};
use crate::config::{self, Job, JobKind, Profile};
use crate::error::Error;
use crate::report::Report;
use crate::restore_test::plan::{FileFilter, SampleOptions};
use crate::restore_test::RestoreOptions;
use crate::runner::{self, Context};
use crate::sample::Weighting;
use crate::source::{self, SourceKind};

/// Runs the restore test.
///
/// # Errors
/// The flags are invalid (exit 2).
pub async fn run(args: RestoreTestArgs, ctx: &Context) -> Result<Report, Error> {
    let profile = profile_from_flags(&args)?;
    let jobs: Vec<&Job> = profile.jobs.iter().collect();
    Ok(runner::run_jobs(&profile, &jobs, ctx).await)
}

/// Turns the flags into a validated one-job profile.
///
/// # Errors
/// Every problem with the flags, in one message.
pub fn profile_from_flags(a: &RestoreTestArgs) -> Result<Profile, config::Error> {
    let mut problems = Vec::new();
    let mut size = |flag: &str, v: &Option<String>| {
        v.as_deref().and_then(|v| {
            config::parse_size(v)
                .map_err(|m| problems.push(format!("{flag}: {m}")))
                .ok()
        })
    };
    let max_bytes = size("--max-bytes", &a.max_bytes);
    let min_size = size("--min-size", &a.min_size);
    let max_size = size("--max-size", &a.max_size);
    if a.sample == 0 {
        problems.push("--sample must be at least 1".to_owned());
    }
    if a.sample_percent.is_some_and(|p| !(p > 0.0 && p <= 100.0)) {
        problems.push("--sample-percent must be above 0 and at most 100".to_owned());
    }
    let weighting = match a.sample_by.as_str() {
        "count" => Weighting::Count,
        "bytes" => Weighting::Bytes,
        other => {
            problems.push(format!("--sample-by `{other}`: use `count` or `bytes`"));
            Weighting::Count
        }
    };
    let mut globs = |flag: &str, v: &[String]| {
        config::compile_globs(v)
            .map_err(|m| problems.push(format!("{flag}: {m}")))
            .ok()
            .flatten()
    };
    let include = globs("--include", &a.include);
    let exclude = globs("--exclude", &a.exclude);
    let mut map = Vec::new();
    for m in &a.map {
        match source::parse_map(m) {
            Ok(pair) => map.push(pair),
            Err(msg) => problems.push(format!("--map: {msg}")),
        }
    }
    if let Some(dir) = &a.test_dir {
        if !dir.is_dir() {
            problems.push(format!(
                "--test-dir {} does not exist; create it first",
                dir.display()
            ));
        }
    }
    let source = match (a.source.as_str(), &a.zfs_dataset) {
        ("live", _) => SourceKind::Live,
        ("zfs", Some(dataset)) => SourceKind::Zfs {
            dataset: dataset.clone(),
            snapshot: config::zfs_choice(a.zfs_snapshot.clone(), a.zfs_snapshot_tag.clone()),
        },
        ("zfs", None) => {
            problems.push("--source zfs needs --zfs-dataset DATASET".to_owned());
            SourceKind::Live
        }
        (other, _) => {
            problems.push(format!("--source `{other}`: use `live` or `zfs`"));
            SourceKind::Live
        }
    };
    let kind = JobKind::RestoreTest(Box::new(RestoreOptions {
        source,
        snapshot: (a.snapshot != "latest").then(|| a.snapshot.clone()),
        filter: snapshot_filter(&a.repo),
        sample: SampleOptions {
            count: a.sample,
            percent: a.sample_percent,
            max_bytes,
            weighting,
            always: a.always.iter().cloned().collect(),
        },
        filter_files: FileFilter {
            min_size,
            max_size,
            include,
            exclude,
        },
        seed: a.seed,
        map,
        test_dir: a.test_dir.clone().unwrap_or_else(std::env::temp_dir),
        keep: a.keep,
        verbose_results: a.verbose_results,
    }));
    one_job_profile(&a.repo, &a.job, kind, problems)
}
