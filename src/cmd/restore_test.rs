//! `restic-verify restore-test`: one repository, configured by flags, restore-tested
//! now. Builds a one-job profile like `check` does (through the profile validator)
//! and hands it to the runner.

use crate::cli::{LogFormat, RestoreTestArgs};
use crate::cmd::check::{flag_profile, source_keys};
use crate::config::flags::given;
use crate::config::raw::RawJob;
use crate::config::{self, Job, Profile};
use crate::error::Error;
use crate::record::Report;
use crate::runner::{self, Context};

/// Runs the restore test.
///
/// # Errors
/// The flags are invalid (exit 2).
pub async fn run(args: RestoreTestArgs, ctx: &Context) -> Result<Report, Error> {
    let mut profile = profile_from_flags(&args)?;
    // Someone watching a terminal sees the progress of a long drill; JSON logs and
    // -q get none (the drill checks that stderr is a terminal).
    let progress = matches!(args.log_format, LogFormat::Text) && !args.quiet;
    for job in &mut profile.jobs {
        if let config::JobKind::RestoreTest(o) = &mut job.kind {
            o.progress = progress;
        }
    }
    let jobs: Vec<&Job> = profile.jobs.iter().collect();
    Ok(runner::run_jobs(&profile, &jobs, ctx).await)
}

/// Turns the flags into a validated one-job profile (the same validation as a
/// profile's `[job.*]` keys).
///
/// # Errors
/// Every problem with the flags, in one message.
pub fn profile_from_flags(a: &RestoreTestArgs) -> Result<Profile, config::Error> {
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let job = RawJob {
        kind: Some(given("restore-test".to_owned())),
        snapshot: (a.snapshot != "latest").then(|| a.snapshot.clone()),
        // `--sample` has a default; a full drill takes no sample size.
        sample: (!a.full).then_some(a.sample),
        sample_percent: a.sample_percent,
        full: a.full.then_some(true),
        min_verified: a.min_verified,
        sample_by: (!a.full).then(|| given(a.sample_by.clone())),
        max_bytes: a.max_bytes.clone().map(given),
        min_size: a.min_size.clone().map(given),
        max_size: a.max_size.clone().map(given),
        include: list(&a.include),
        exclude: list(&a.exclude),
        always: list(&a.always),
        seed: a.seed,
        map: list(&a.map).map(|m| m.into_iter().map(given).collect()),
        test_dir: a
            .test_dir
            .as_ref()
            .map(|p| given(p.to_string_lossy().into_owned())),
        keep: Some(a.keep),
        verbose_results: Some(a.verbose_results),
        ..source_keys(&a.src)
    };
    let flags = flag_profile(&a.repo, &a.job, job).and_then(config::from_flags);
    // The one fact about the world the validator leaves to the command.
    let missing_dir = a
        .test_dir
        .as_ref()
        .filter(|d| !d.is_dir())
        .map(|d| format!("--test-dir {} does not exist; create it first", d.display()));
    match (flags, missing_dir) {
        (Ok(p), None) => Ok(p),
        (Ok(_), Some(m)) => Err(config::Error::Flags(m)),
        (Err(config::Error::Flags(e)), Some(m)) => Err(config::Error::Flags(format!("{e}\n{m}"))),
        (Err(e), _) => Err(e),
    }
}
