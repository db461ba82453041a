//! `restic-verify drill <job>`: a fire drill. Runs the job of the profile for real,
//! then falsifies one comparison of each completed run (a restore test treats one
//! matching file's expected hash as different; a check gets one synthetic damage
//! finding), so the run fails with exit 1 and its alerts go out, every one marked
//! DRILL. The repository and the source are only read, as in any run; the job's
//! state and metrics file are left as they were (see `runner`).

use crate::cli::DrillArgs;
use crate::config::{self, Job};
use crate::error::Error;
use crate::record::Report;
use crate::runner::{self, Context};

/// Runs the drill.
///
/// # Errors
/// The profile is invalid or names no such job (exit 2).
pub async fn run(args: DrillArgs, ctx: &Context) -> Result<Report, Error> {
    let profile = config::load(&args.config)?;
    let job: &Job = profile.job(&args.job).ok_or_else(|| Error::UnknownJob {
        name: args.job.clone(),
        profile: args.config.display().to_string(),
        known: profile
            .jobs
            .iter()
            .map(|j| j.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    tracing::warn!(
        job = job.name,
        "fire drill: the job runs for real, then one comparison is falsified on purpose; expect a FAIL marked DRILL and exit 1"
    );
    let ctx = Context {
        drill: true,
        ..ctx.clone()
    };
    Ok(runner::run_jobs(&profile, &[job], &ctx).await)
}
