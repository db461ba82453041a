//! `restic-verify run`: runs named jobs of a profile once (all when none are named).

use crate::cli::RunArgs;
use crate::config::{self, Job};
use crate::error::Error;
use crate::record::Report;
use crate::runner::{self, Context};

/// Runs the jobs.
///
/// # Errors
/// The profile is invalid or names no such job (exit 2).
pub async fn run(args: RunArgs, ctx: &Context) -> Result<Report, Error> {
    let profile = config::load(&args.config)?;
    let jobs: Vec<&Job> = if args.jobs.is_empty() {
        profile.jobs.iter().collect()
    } else {
        args.jobs
            .iter()
            .map(|name| {
                profile.job(name).ok_or_else(|| Error::UnknownJob {
                    name: name.clone(),
                    profile: args.config.display().to_string(),
                    known: profile
                        .jobs
                        .iter()
                        .map(|j| j.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .collect::<Result<_, _>>()?
    };
    Ok(runner::run_jobs(&profile, &jobs, ctx).await)
}
