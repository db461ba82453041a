//! `restic-verify audit`: one repository, configured by flags, audited now: every
//! file of the snapshot against its source, without restoring. Builds a one-job
//! profile like `check` does (through the profile validator) and hands it to the
//! runner.

use crate::cli::AuditArgs;
use crate::cmd::check::{flag_profile, source_keys};
use crate::config::flags::given;
use crate::config::raw::RawJob;
use crate::config::{self, Job, Profile};
use crate::error::Error;
use crate::record::Report;
use crate::runner::{self, Context};

/// Runs the audit.
///
/// # Errors
/// The flags are invalid (exit 2).
pub async fn run(args: AuditArgs, ctx: &Context) -> Result<Report, Error> {
    let profile = profile_from_flags(&args)?;
    let jobs: Vec<&Job> = profile.jobs.iter().collect();
    Ok(runner::run_jobs(&profile, &jobs, ctx).await)
}

/// Turns the flags into a validated one-job profile.
///
/// # Errors
/// Every problem with the flags, in one message.
pub fn profile_from_flags(a: &AuditArgs) -> Result<Profile, config::Error> {
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let job = RawJob {
        kind: Some(given("audit".to_owned())),
        snapshot: (a.snapshot != "latest").then(|| a.snapshot.clone()),
        include: list(&a.include),
        exclude: list(&a.exclude),
        map: list(&a.map).map(|m| m.into_iter().map(given).collect()),
        backup_excludes: list(&a.backup_exclude),
        max_listed: Some(a.max_listed),
        ..source_keys(&a.src)
    };
    flag_profile(&a.repo, &a.job, job).and_then(config::from_flags)
}
