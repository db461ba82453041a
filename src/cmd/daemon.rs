//! `restic-verify daemon`: runs every job of a profile on its `schedule` until
//! SIGTERM/SIGINT. The loop owns the clock and the sleeping; `schedule.rs` computes
//! fire times, `runner.rs` runs a job (with its notifications, results and metrics).
//!
//! Rules: a job never runs twice at once (a fire that comes while it still runs is
//! skipped and logged); two jobs never work on one repository at once, and at most
//! `max-concurrent` repositories are worked on (`runner::Shared`); a run missed while
//! the daemon was down is started once at start-up; SIGHUP swaps the profile only
//! when the new one is valid; SIGUSR1 starts every job that is not running; on
//! SIGTERM/SIGINT no new job starts, running restic gets SIGINT (through the shared
//! cancellation token), the cut-short runs are recorded, and the daemon exits 0.
//! With a shard (`--shard k/n` or `[defaults] shard`) it runs only the shard's
//! repositories, and only the jobs that have some (again after each SIGHUP).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use tokio::task::JoinSet;

use crate::cli::DaemonArgs;
use crate::config::{self, Job, Profile, Shard};
use crate::error::Error;
use crate::record::Report;
use crate::runner::{self, Context, JobOutcome, Shared};
use crate::schedule;
use crate::signal;

/// The longest single sleep: the loop wakes at least this often so that a clock
/// change (suspend, NTP step) delays a fire by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// When a job fires next.
#[derive(Debug, Clone)]
struct Next {
    /// The schedule's fire time.
    fire: DateTime<Local>,
    /// The fire time plus this fire's jitter: when the job actually starts.
    start: DateTime<Utc>,
}

fn plan_next(job: &Job, after: &DateTime<Local>) -> Option<Next> {
    let s = job.schedule.as_ref()?;
    let fire = schedule::next_fire(s, after)?;
    let delay = schedule::jitter_delay(job.jitter, &mut rand::rng());
    let start = fire.with_timezone(&Utc) + chrono::Duration::from_std(delay).unwrap_or_default();
    Some(Next { fire, start })
}

/// The plan after a reload: the new profile's fire times, except that a start that
/// already fired and waits out its jitter is kept (when its job still exists with a
/// schedule), so a SIGHUP never loses a pending run.
fn replan(
    old: &BTreeMap<String, Next>,
    mut fresh: BTreeMap<String, Next>,
    profile: &Profile,
    now: DateTime<Utc>,
) -> BTreeMap<String, Next> {
    for (name, n) in old {
        let fired = n.fire.with_timezone(&Utc) <= now;
        let still_scheduled = profile.job(name).is_some_and(|j| j.schedule.is_some());
        if fired && still_scheduled {
            tracing::info!(
                job = name,
                "`{name}` fired at {} and still starts at {} after the reload",
                n.fire.to_rfc3339(),
                n.start.with_timezone(&Local).to_rfc3339()
            );
            fresh.insert(name.clone(), n.clone());
        }
    }
    fresh
}

fn log_next(job: &str, next: Option<&Next>) {
    match next {
        Some(n) if n.start > n.fire.with_timezone(&Utc) => tracing::info!(
            job,
            "next run of `{job}`: {} (jitter: starts {})",
            n.fire.to_rfc3339(),
            n.start.with_timezone(&Local).to_rfc3339()
        ),
        Some(n) => tracing::info!(job, "next run of `{job}`: {}", n.fire.to_rfc3339()),
        None => tracing::info!(job, "`{job}` has no schedule; it runs only on SIGUSR1"),
    }
}

/// Fire times of every job of `profile` after `now`, with catch-up starts for runs
/// missed since the last recorded run.
fn plan(profile: &Profile, now: &DateTime<Local>, catch_up: bool) -> BTreeMap<String, Next> {
    let mut out = BTreeMap::new();
    for job in &profile.jobs {
        let Some(s) = &job.schedule else {
            log_next(&job.name, None);
            continue;
        };
        if catch_up {
            if job.outputs.state_dir.is_none() {
                tracing::warn!(job = job.name, "`{}` has no `state-dir`: a run missed while the daemon was down cannot be caught up", job.name);
            }
            let last = runner::last_runs(job).into_iter().flatten().min();
            let last_local = last.map(|t| t.with_timezone(&Local));
            if let Some(missed) = schedule::missed(s, last_local.as_ref(), now) {
                let delay = schedule::jitter_delay(job.jitter, &mut rand::rng());
                tracing::info!(
                    job = job.name,
                    "catch-up: `{}` missed its run at {} (last run {}); starting it now",
                    job.name,
                    missed.to_rfc3339(),
                    last_local.map(|t| t.to_rfc3339()).unwrap_or_default()
                );
                out.insert(
                    job.name.clone(),
                    Next {
                        fire: missed,
                        start: now.with_timezone(&Utc)
                            + chrono::Duration::from_std(delay).unwrap_or_default(),
                    },
                );
                continue;
            }
        }
        let next = plan_next(job, now);
        log_next(&job.name, next.as_ref());
        if let Some(n) = next {
            out.insert(job.name.clone(), n);
        }
    }
    out
}

/// The profile as this host runs it: only the repositories (and jobs) of its shard
/// (`--shard`, else `[defaults] shard`); and whether any job of the whole profile
/// has a schedule (a host whose shard holds nothing today still runs, idle, so
/// that a reload can give it work).
fn load(path: &Path, flag: Option<Shard>) -> Result<(Profile, bool), Error> {
    let full = config::load(path)?;
    for w in &full.warnings {
        tracing::warn!("{w}");
    }
    let scheduled = full.jobs.iter().any(|j| j.schedule.is_some());
    let shard = flag.or(full.shard);
    let profile = full.for_shard(shard);
    if let Some(s) = shard {
        tracing::info!(
            "shard {s}: {} of {} repositories and {} of {} jobs of {} are this host's",
            profile.repositories.len(),
            full.repositories.len(),
            profile.jobs.len(),
            full.jobs.len(),
            path.display()
        );
    }
    Ok((profile, scheduled))
}

/// Runs the scheduler until cancelled.
///
/// # Errors
/// The profile is invalid or schedules nothing (exit 2); signal handlers could not
/// be installed (exit 3).
pub async fn run(args: DaemonArgs, ctx: &Context) -> Result<Report, Error> {
    let mut signals = signal::daemon()
        .map_err(|e| Error::Usage(format!("cannot install signal handlers: {e}")))?;
    let (first, scheduled) = load(&args.config, args.shard)?;
    let mut profile = Arc::new(first);
    if !scheduled {
        return Err(Error::Usage(format!(
            "no job in {} has a `schedule`, so the daemon would never run anything; add e.g. schedule = \"0 3 * * 0\" to a [job.*] table, or use `restic-verify run` from a timer",
            args.config.display()
        )));
    }
    let mut shared = Shared::new(profile.max_concurrent);
    tracing::info!(
        "daemon started with {} ({} jobs, max-concurrent {}); pid {}",
        args.config.display(),
        profile.jobs.len(),
        profile.max_concurrent,
        std::process::id()
    );
    let mut next = plan(&profile, &Local::now(), !args.no_catch_up);
    let mut tasks: JoinSet<(String, JobOutcome)> = JoinSet::new();
    // Running jobs by task, so that even a task that panicked can be cleared.
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();

    let spawn = |tasks: &mut JoinSet<(String, JobOutcome)>,
                 running: &mut HashMap<tokio::task::Id, String>,
                 profile: &Arc<Profile>,
                 shared: &Shared,
                 name: &str,
                 why: &str| {
        if running.values().any(|n| n == name) {
            tracing::info!(job = name, "`{name}` is still running; {why} skipped");
            return;
        }
        tracing::info!(job = name, "starting `{name}` ({why})");
        let (profile, shared, ctx, owned) = (
            profile.clone(),
            shared.clone(),
            ctx.clone(),
            name.to_owned(),
        );
        let handle = tasks.spawn(async move {
            let outcome = match profile.job(&owned) {
                Some(job) => runner::run_job(&profile, job, &ctx, &shared).await,
                None => JobOutcome::default(),
            };
            (owned, outcome)
        });
        running.insert(handle.id(), name.to_owned());
    };

    loop {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let now = Utc::now();
        let due: Vec<String> = next
            .iter()
            .filter(|(_, n)| n.start <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for name in due {
            let Some(job) = profile.job(&name) else {
                next.remove(&name);
                continue;
            };
            let fire = next.get(&name).map(|n| n.fire);
            let why =
                fire.map_or_else(String::new, |f| format!("scheduled for {}", f.to_rfc3339()));
            spawn(&mut tasks, &mut running, &profile, &shared, &name, &why);
            // The next fire counts from this one, so a slow run never shifts the plan.
            let after = fire.map_or_else(Local::now, |f| f.max(Local::now()));
            match plan_next(job, &after) {
                Some(n) => {
                    next.insert(name.clone(), n);
                }
                None => {
                    next.remove(&name);
                }
            }
        }
        let wake = next
            .values()
            .map(|n| n.start)
            .min()
            .map_or(MAX_SLEEP, |t| {
                (t - Utc::now()).to_std().unwrap_or(Duration::ZERO)
            })
            .min(MAX_SLEEP);
        tokio::select! {
            () = ctx.cancel.cancelled() => break,
            () = tokio::time::sleep(wake) => {}
            _ = signals.reload.recv() => {
                tracing::info!("SIGHUP: reloading {}", args.config.display());
                match load(&args.config, args.shard) {
                    Ok((p, _)) => {
                        profile = Arc::new(p);
                        shared = shared.with_slots(profile.max_concurrent);
                        next = replan(&next, plan(&profile, &Local::now(), false), &profile, Utc::now());
                        tracing::info!("reloaded {}: {} jobs, max-concurrent {}", args.config.display(), profile.jobs.len(), profile.max_concurrent);
                    }
                    Err(e) => tracing::error!("reload failed, keeping the running profile: {e}"),
                }
            }
            _ = signals.run_now.recv() => {
                tracing::info!("SIGUSR1: running every job now");
                let names: Vec<String> = profile.jobs.iter().map(|j| j.name.clone()).collect();
                for name in names {
                    spawn(&mut tasks, &mut running, &profile, &shared, &name, "SIGUSR1");
                }
            }
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                finished(done, &mut running, &next);
            }
        }
    }
    if !tasks.is_empty() {
        tracing::info!(
            "stopping: interrupting {} running job(s) and waiting for them to clean up",
            tasks.len()
        );
    }
    while let Some(done) = tasks.join_next_with_id().await {
        finished(done, &mut running, &next);
    }
    tracing::info!("daemon stopped");
    Ok(Report::default())
}

fn finished(
    done: Result<(tokio::task::Id, (String, JobOutcome)), tokio::task::JoinError>,
    running: &mut HashMap<tokio::task::Id, String>,
    next: &BTreeMap<String, Next>,
) {
    match done {
        Ok((id, (name, outcome))) => {
            running.remove(&id);
            let failed: u64 = outcome.notification_failures.values().sum();
            tracing::info!(
                job = name,
                "`{name}` finished: {} run(s), exit status {}{}",
                outcome.records.len(),
                crate::exit::combine(
                    outcome
                        .records
                        .iter()
                        .map(crate::record::RunRecord::exit_code)
                ),
                if failed > 0 {
                    format!(", {failed} notification(s) failed")
                } else {
                    String::new()
                }
            );
            log_next(&name, next.get(&name));
        }
        Err(e) => {
            let name = running.remove(&e.id()).unwrap_or_default();
            tracing::error!(job = name, "`{name}` ended abnormally: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(text: &str) -> Profile {
        let env = config::Env {
            credentials_directory: None,
            host: "h".into(),
            now: Local::now(),
        };
        config::parse(text, Path::new("/p.toml"), &env).expect("profile")
    }

    const TWO_JOBS: &str = r#"
[defaults]
password-file = "/pw"
[repository.r]
url = "/r"
[job.a]
kind = "check"
repositories = ["r"]
schedule = "0 3 * * *"
jitter = "1h"
[job.b]
kind = "check"
repositories = ["r"]
schedule = "0 4 * * *"
"#;

    #[test]
    fn replan_keeps_a_start_that_fired_and_waits_out_its_jitter() {
        let p = profile(TWO_JOBS);
        let now = Utc::now();
        let fired = Next {
            fire: (now - chrono::Duration::minutes(5)).with_timezone(&Local),
            start: now + chrono::Duration::minutes(20),
        };
        let later = Next {
            fire: (now + chrono::Duration::hours(3)).with_timezone(&Local),
            start: now + chrono::Duration::hours(3),
        };
        let old = BTreeMap::from([("a".to_owned(), fired.clone()), ("b".to_owned(), later)]);
        let fresh = plan(&p, &Local::now(), false);
        let got = replan(&old, fresh.clone(), &p, now);
        assert_eq!(got["a"].start, fired.start, "pending start of `a` lost");
        assert_eq!(got["b"].fire, fresh["b"].fire, "`b` follows the new plan");
        // A job that the new profile dropped (or unscheduled) is not kept.
        let only_b = profile(&TWO_JOBS.replace("schedule = \"0 3 * * *\"\njitter = \"1h\"\n", ""));
        let got = replan(&old, plan(&only_b, &Local::now(), false), &only_b, now);
        assert!(!got.contains_key("a"), "{got:?}");
    }
}
