//! `restic-verify run`: runs named jobs of a profile once (all when none are named),
//! on the repositories of this host's shard (`--shard`, else `[defaults] shard`).

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
    let full = config::load(&args.config)?;
    // Job names are checked against the whole profile: a job whose repositories
    // all belong to other shards is not unknown, it just has nothing to do here.
    for name in &args.jobs {
        if full.job(name).is_none() {
            return Err(Error::UnknownJob {
                name: name.clone(),
                profile: args.config.display().to_string(),
                known: full
                    .jobs
                    .iter()
                    .map(|j| j.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let shard = args.shard.or(full.shard);
    let profile = full.for_shard(shard);
    if let Some(s) = shard {
        tracing::info!(
            "shard {s}: {} of {} repositories of {} are this host's",
            profile.repositories.len(),
            full.repositories.len(),
            args.config.display()
        );
    }
    let jobs: Vec<&Job> = if args.jobs.is_empty() {
        profile.jobs.iter().collect()
    } else {
        args.jobs
            .iter()
            .filter_map(|name| {
                let job = profile.job(name);
                if job.is_none() {
                    tracing::info!(
                        "`{name}` has no repository in this host's shard; nothing to run"
                    );
                }
                job
            })
            .collect()
    };
    Ok(runner::run_jobs(&profile, &jobs, ctx).await)
}
