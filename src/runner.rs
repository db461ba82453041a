//! Runs jobs of a checked `Profile`: for each job and each of its repositories, one
//! verification, one `RunRecord`, one JSONL line; then the job's metrics file.
//!
//! Shared by `check` (a one-job profile built from flags), `run` and the daemon. It
//! decides the order of side effects: results are checked writable before any
//! repository is touched, notifiers hear `start` before and the outcome after, state
//! is saved after each run, the metrics file (with notification failures) is written
//! last, and a run that could not verify is recorded as such, never skipped.
//!
//! A fire drill (`Context::drill`) runs the job for real, then falsifies one
//! comparison of each completed run (`record::assemble::falsify`) and marks the records; it
//! saves no state (no last run, success, rotation, ledger or RTO calls), writes its
//! metrics to the drill file instead of the job's, never counts as a recovery, and
//! makes no RTO calibration calls.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{Job, Profile, Repository};
use crate::credentials;
use crate::finding::{self, Category};
use crate::job::{self, Plan, Ran, Reach, Verification};
use crate::lock;
use crate::notify;
use crate::record::assemble;
use crate::record::{damage_list, jsonl, preflight, prometheus, Report, RunRecord};
use crate::restic::{self, CheckRead};
use crate::rto;
use crate::state;

/// What every run of one invocation shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub cancel: CancellationToken,
    /// `--restic` / `RESTIC_VERIFY_RESTIC`, which beats the profile's `restic`.
    pub restic_override: Option<PathBuf>,
    /// How long restic gets after SIGINT before SIGKILL.
    pub grace: Duration,
    /// A second SIGINT/SIGTERM: stop children at once (the grace is cut short).
    pub hurry: Option<CancellationToken>,
    /// This machine's host name (records, notifications, restic's lock owner).
    pub host: String,
    /// A fire drill (`restic-verify drill`).
    pub drill: bool,
}

impl Context {
    /// A context for this process: the host name is read once, here.
    pub fn new(cancel: CancellationToken, grace: Duration) -> Context {
        Context {
            cancel,
            restic_override: None,
            grace,
            hurry: None,
            drill: false,
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// What concurrent job runs of one process share: the `max-concurrent` slots, one
/// queue per repository (two jobs never work on one repository at once inside a
/// process; `lock.rs` does the same across processes), and detected restic versions.
#[derive(Debug, Clone)]
pub struct Shared {
    slots: Arc<Semaphore>,
    repos: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    detected: restic::Detected,
}

impl Shared {
    pub fn new(max_concurrent: usize) -> Shared {
        Shared {
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            repos: Arc::default(),
            detected: restic::Detected::default(),
        }
    }

    /// The same repository queues and restic cache with a new `max-concurrent` (a
    /// reloaded profile); runs already going keep their slots.
    pub fn with_slots(&self, max_concurrent: usize) -> Shared {
        Shared {
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            ..self.clone()
        }
    }

    /// Waits for the repository's turn, then for a free slot.
    async fn enter(&self, url: &str) -> Option<(OwnedMutexGuard<()>, OwnedSemaphorePermit)> {
        let queue = {
            let mut repos = self.repos.lock().ok()?;
            repos.entry(url.to_owned()).or_default().clone()
        };
        let turn = queue.lock_owned().await;
        let slot = self.slots.clone().acquire_owned().await.ok()?;
        Some((turn, slot))
    }
}

/// Runs `jobs` (all from `profile`) one after the other and returns what happened.
pub async fn run_jobs(profile: &Profile, jobs: &[&Job], ctx: &Context) -> Report {
    for w in &profile.warnings {
        tracing::warn!("{w}");
    }
    let shared = Shared::new(profile.max_concurrent);
    let mut report = Report::default();
    for job in jobs {
        let outcome = run_job(profile, job, ctx, &shared).await;
        if outcome.results_unwritable {
            report.exit_override = Some(crate::exit::COULD_NOT_VERIFY);
        }
        report.runs.extend(outcome.records);
    }
    report
}

/// The run's one-line summary on stderr: a text line, or with JSON logs a log
/// event (at warn unless it passed, so `-q` keeps failures), so stderr stays JSON.
fn summarize(record: &RunRecord) {
    if crate::logging::json() {
        let summary = record.summary();
        let outcome = record.outcome.as_str();
        if record.exit_code() == crate::exit::SUCCESS {
            tracing::info!(
                job = record.job,
                repository = record.repository,
                outcome,
                "{summary}"
            );
        } else {
            tracing::warn!(
                job = record.job,
                repository = record.repository,
                outcome,
                "{summary}"
            );
        }
    } else {
        crate::progress::suspend(|| eprintln!("{}", record.summary()));
    }
}

/// What one run of one job produced.
#[derive(Debug, Default)]
pub struct JobOutcome {
    pub records: Vec<RunRecord>,
    /// A JSONL line could not be written (the run must not exit 0).
    pub results_unwritable: bool,
    /// Failed notification deliveries per notifier.
    pub notification_failures: BTreeMap<String, u64>,
}

/// Runs one job on all its repositories (up to `max-concurrent` at once), tells its
/// notifiers, appends the JSONL lines and writes the job's metrics file.
pub async fn run_job(profile: &Profile, job: &Job, ctx: &Context, shared: &Shared) -> JobOutcome {
    let started = tokio::time::Instant::now();
    let results = job.outputs.results.as_deref();
    let metrics = job.outputs.metrics.as_deref();
    let mut preflight = preflight::check(results, metrics).map_err(|e| e.to_string());
    if let (Ok(()), Some(dir)) = (&preflight, &job.outputs.state_dir) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            preflight = Err(format!(
                "cannot create state directory {}: {e}; check `state-dir`",
                dir.display()
            ));
        }
    }
    let notifiers: Vec<&notify::Notifier> = job
        .notify
        .iter()
        .filter_map(|n| profile.notifiers.get(n))
        .collect();
    let mut notices = notify::Run::new(notifiers);
    notices.drill = ctx.drill;
    // A drill is never a recovery (and saves no state, so the next real run's
    // recovery is judged against the last real one).
    let previous_failed = !ctx.drill && previous_run_failed(job);
    let mut failures = BTreeMap::new();
    if !notices.is_empty() && !ctx.cancel.is_cancelled() {
        merge(
            &mut failures,
            notices.start(&job.name, &job.repositories).await,
        );
    }

    let verification = job::from_config(job);
    let verification = &*verification;
    let runs = job
        .repositories
        .iter()
        .map(|name| run_on(profile, job, verification, name, ctx, shared, &preflight));
    let mut outcome = JobOutcome::default();
    for (record, unwritable) in futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
    {
        outcome.results_unwritable |= unwritable;
        outcome.records.push(record);
    }
    let records = &outcome.records;
    let interrupted = records.iter().any(|r| {
        r.error
            .as_ref()
            .is_some_and(|e| e.category == Category::Interrupted)
    });
    if !notices.is_empty() && !records.is_empty() {
        if interrupted {
            tracing::warn!(
                job = job.name,
                "the run was interrupted; no outcome is sent to the notifiers"
            );
        } else {
            let finish = notify::Finish {
                job: &job.name,
                kind: verification.kind(),
                records,
                exit_code: crate::exit::combine(records.iter().map(RunRecord::exit_code)),
                recovery: previous_failed,
                host: &ctx.host,
                duration: started.elapsed(),
                drill: ctx.drill,
            };
            merge(&mut failures, notices.finish(&finish).await);
        }
    }
    if let (Some(path), false) = (metrics, records.is_empty()) {
        write_metrics(path, job, records, &failures, ctx.drill);
    }
    outcome.notification_failures = failures;
    outcome
}

/// Runs the job on one repository when its turn comes (or records why it did not
/// run) and appends the JSONL line; `None` only for a name validation did not
/// resolve. The flag says the line could not be written.
async fn run_on(
    profile: &Profile,
    job: &Job,
    verification: &dyn Verification,
    name: &str,
    ctx: &Context,
    shared: &Shared,
    preflight: &Result<(), String>,
) -> Option<(RunRecord, bool)> {
    let repo = profile.repositories.get(name)?; // INVARIANT: validation resolved every name.
                                                // A repository whose turn never came (SIGINT/SIGTERM while waiting) is
                                                // recorded as interrupted, never left out.
    let not_started = || {
        assemble::error(
            &facts(job, verification, repo, ctx, Utc::now()),
            Category::Interrupted,
            format!(
                "interrupted before the run on repository `{}` started",
                repo.name
            ),
        )
    };
    let turn = if ctx.cancel.is_cancelled() {
        None
    } else {
        tokio::select! {
            t = shared.enter(repo.url.expose()) => t,
            () = ctx.cancel.cancelled() => None,
        }
    };
    let record = match (turn, preflight) {
        (None, _) => not_started(),
        (Some(_), _) if ctx.cancel.is_cancelled() => not_started(),
        (Some(_turn), Ok(())) => run_one(job, verification, repo, ctx, shared).await,
        (Some(_), Err(message)) => assemble::error(
            &facts(job, verification, repo, ctx, Utc::now()),
            Category::Config,
            message.clone(),
        ),
    };
    let mut record = record;
    if let Some(path) = job.outputs.results.as_deref() {
        // A capped damage list: the complete lists go to a file beside the results.
        if let Err(e) = damage_list::write(path, &mut record) {
            tracing::error!("{e}");
        }
    }
    summarize(&record);
    let mut unwritable = false;
    if let Some(path) = job.outputs.results.as_deref() {
        if let Err(e) = jsonl::append(path, &record) {
            tracing::error!("{e}");
            unwritable = true;
        }
    }
    Some((record, unwritable))
}

/// Writes the job's metrics file: a fire drill's to the drill file, a real run's
/// to the job's (ending the last drill's series).
fn write_metrics(
    path: &std::path::Path,
    job: &Job,
    records: &[RunRecord],
    failures: &BTreeMap<String, u64>,
    drill: bool,
) {
    let written = if drill {
        prometheus::write_atomic(
            &prometheus::drill_path(path),
            &prometheus::render_drill(records, &job.name, failures),
        )
    } else {
        let text =
            prometheus::render(records) + &prometheus::render_notifications(&job.name, failures);
        // A real run ends the last drill's series.
        prometheus::write_atomic(path, &text).and_then(|()| prometheus::remove_drill(path))
    };
    if let Err(e) = written {
        tracing::error!("{e}");
    }
}

fn merge(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_insert(0) += v;
    }
}

/// Whether the job's last recorded run on any of its repositories did not pass
/// (so that a pass now is a recovery). Needs `state-dir`; without it, `false`.
fn previous_run_failed(job: &Job) -> bool {
    let Some(dir) = job.outputs.state_dir.as_deref() else {
        return false;
    };
    job.repositories.iter().any(
        |repo| match state::load(&state::path(dir, &job.name, repo)) {
            Ok((s, _)) => s.last_run.is_some() && s.last_success != s.last_run,
            Err(_) => false,
        },
    )
}

/// When the job last started on each of its repositories (`None` for one it never
/// ran on); the daemon's catch-up reads this.
pub fn last_runs(job: &Job) -> Vec<Option<chrono::DateTime<Utc>>> {
    let Some(dir) = job.outputs.state_dir.as_deref() else {
        return job.repositories.iter().map(|_| None).collect();
    };
    job.repositories
        .iter()
        .map(|repo| {
            state::load(&state::path(dir, &job.name, repo))
                .ok()
                .and_then(|(s, _)| s.last_run)
        })
        .collect()
}

/// The facts of a run known before it starts.
fn facts<'a>(
    job: &'a Job,
    verification: &dyn Verification,
    repo: &'a Repository,
    ctx: &'a Context,
    started: chrono::DateTime<Utc>,
) -> assemble::Facts<'a> {
    assemble::Facts {
        host: &ctx.host,
        job: &job.name,
        kind: verification.kind(),
        repository: &repo.name,
        started,
        duration_seconds: 0.0,
        restic_version: None,
        read: None,
        seed: 0,
        verbose_results: verification.verbose_results(),
        rto_history: &[],
        drill: ctx.drill,
    }
}

/// Which category a credentials problem belongs to.
fn credentials_category(e: &credentials::Error) -> Category {
    if e.is_password() {
        Category::Auth
    } else {
        Category::Config
    }
}

/// The job's state and pack ledger as this run starts, and where they are saved.
struct Stored {
    state_path: Option<PathBuf>,
    state: state::JobState,
    ledger_path: Option<PathBuf>,
}

/// Loads the job's state on `repo` (default without `state-dir`).
fn load_state(job: &Job, repo: &Repository) -> Result<Stored, String> {
    let state_path = job
        .outputs
        .state_dir
        .as_deref()
        .map(|d| state::path(d, &job.name, &repo.name));
    let state = match state_path.as_deref().map(state::load) {
        Some(Ok((s, warning))) => {
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
            s
        }
        Some(Err(e)) => return Err(e.to_string()),
        None => state::JobState::default(),
    };
    Ok(Stored {
        state_path,
        state,
        ledger_path: None,
    })
}

/// Loads the repository's pack ledger (shared by the check jobs of this state dir)
/// into the plan, when the job keeps one.
fn load_ledger(
    job: &Job,
    repo: &Repository,
    verification: &dyn Verification,
    stored: &mut Stored,
    plan: &mut Plan,
) -> Result<(), String> {
    let Some(dir) = job.outputs.state_dir.as_deref() else {
        return Ok(());
    };
    if !verification.keeps_ledger() {
        return Ok(());
    }
    let path = state::ledger::path(dir, &repo.name);
    let (ledger, warning) = state::ledger::load(&path).map_err(|e| e.to_string())?;
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    plan.ledger = Some(ledger);
    stored.ledger_path = Some(path);
    Ok(())
}

async fn run_one(
    job: &Job,
    verification: &dyn Verification,
    repo: &Repository,
    ctx: &Context,
    shared: &Shared,
) -> RunRecord {
    let started = Utc::now();
    let clock = tokio::time::Instant::now();
    let mut stored = match load_state(job, repo) {
        Ok(s) => s,
        Err(e) => {
            let facts = facts(job, verification, repo, ctx, started);
            return assemble::error(&facts, Category::Config, e);
        }
    };
    let mut plan = verification.plan(&mut stored.state, started);
    let read = plan.read.clone();
    let facts = assemble::Facts {
        read: read.as_ref(),
        seed: plan.seed,
        ..facts(job, verification, repo, ctx, started)
    };
    // Only a check reads pack data; the other kinds say nothing about it.
    let reading = read.as_ref().map_or_else(String::new, |r| {
        let what = r.describe().unwrap_or_else(|| "none".into());
        format!(" (read data: {what})")
    });
    tracing::info!(
        job = job.name,
        repository = repo.name,
        "{} {}{reading}",
        verification.kind(),
        repo.display_url(),
    );
    if let Err(e) = load_ledger(job, repo, verification, &mut stored, &mut plan) {
        return assemble::error(&facts, Category::Config, e);
    }
    let ran = locked(
        job,
        verification,
        repo,
        ctx,
        shared,
        &stored,
        &mut plan,
        started,
        clock,
    )
    .await;
    let history = ran
        .restic_version
        .as_deref()
        .map(|v| rto::usable(&stored.state.restore_calls, v, started))
        .unwrap_or_default();
    let facts = assemble::Facts {
        duration_seconds: clock.elapsed().as_secs_f64(),
        restic_version: ran.restic_version,
        rto_history: &history,
        ..facts
    };
    let completed = ran.result.is_ok();
    let mut record = assemble::build(&facts, ran.result);
    settle(&mut stored, &mut plan, &record, &facts, completed, started);
    assemble::with_state(&mut record, &stored.state, plan.rotation.as_ref());
    if ctx.drill {
        tracing::info!(
            job = job.name,
            "fire drill: no state saved (last run, rotation, pack ledger and RTO calls are as before)"
        );
        return record;
    }
    save(stored, plan, completed);
    record
}

/// Runs the job with the repository locked and the credentials loaded.
#[allow(clippy::too_many_arguments)]
async fn locked(
    job: &Job,
    verification: &dyn Verification,
    repo: &Repository,
    ctx: &Context,
    shared: &Shared,
    stored: &Stored,
    plan: &mut Plan,
    started: chrono::DateTime<Utc>,
    clock: tokio::time::Instant,
) -> Ran {
    let failed = |category, message| Ran {
        result: Err((category, message)),
        restic_version: None,
    };
    // A job's own `lock-wait` beats the repository's, for this job only.
    let lock_wait = job.lock_wait.unwrap_or(repo.lock_wait);
    // Another restic-verify run (a timer, the daemon) on the same repository waits.
    let _repo_lock =
        match lock::acquire(&repo.name, repo.url.expose(), lock_wait, &ctx.cancel).await {
            Ok(l) => l,
            Err(e) => {
                let category = match e {
                    lock::Error::Busy { .. } => Category::Locked,
                    lock::Error::Interrupted { .. } => Category::Interrupted,
                    lock::Error::Open { .. } | lock::Error::Unsafe { .. } => Category::Config,
                };
                return failed(category, e.to_string());
            }
        };
    let creds = match credentials::load(&credentials::Source {
        repository: &repo.name,
        url: &repo.url,
        password: &repo.password,
        env_file: repo.env_file.as_deref(),
    }) {
        Ok(c) => c,
        Err(e) => return failed(credentials_category(&e), e.to_string()),
    };
    let program = ctx
        .restic_override
        .clone()
        .unwrap_or_else(|| repo.restic.clone());
    let reach = Reach {
        repo,
        creds: &creds,
        program: &program,
        detected: &shared.detected,
        started,
        clock,
        timeout: job.timeout,
        lock_wait,
        cancel: &ctx.cancel,
        grace: ctx.grace,
        hurry: ctx.hurry.as_ref(),
        host: &ctx.host,
        calibration: (stored.state_path.is_some() && !ctx.drill)
            .then_some(stored.state.restore_calls.as_slice()),
    };
    verification.run(plan, reach).await
}

/// What a run changes in the job's state: the RTO calls it made, the rotation and
/// the last full read of a completed check, the last run and the last success.
fn settle(
    stored: &mut Stored,
    plan: &mut Plan,
    record: &RunRecord,
    facts: &assemble::Facts<'_>,
    completed: bool,
    started: chrono::DateTime<Utc>,
) {
    let finished = Utc::now();
    let job_state = &mut stored.state;
    if let (Some(t), Some(v)) = (&record.restore_test, &facts.restic_version) {
        job_state.restore_calls = rto::remember(
            std::mem::take(&mut job_state.restore_calls),
            &t.calls,
            v,
            started,
        );
    }
    if completed {
        if let Some(r) = plan.rotation.as_mut() {
            r.complete(finished);
            if r.last_cycle_completed == Some(finished) {
                job_state.last_full_read = Some(finished);
            }
        }
        if facts.read == Some(&CheckRead::All) {
            job_state.last_full_read = Some(finished);
        }
    }
    job_state.last_run = Some(started);
    if record.outcome == finding::Outcome::Pass {
        job_state.last_success = Some(started);
    }
}

/// Saves the pack ledger (after a completed run) and the job's state.
fn save(stored: Stored, plan: Plan, completed: bool) {
    if let (true, Some(path), Some(l)) = (completed, &stored.ledger_path, &plan.ledger) {
        if let Err(e) = state::ledger::save(path, l) {
            tracing::error!("{e}; the packs this run read will count as unread");
        }
    }
    let mut job_state = stored.state;
    job_state.rotation = plan.rotation;
    if let Some(path) = &stored.state_path {
        if let Err(e) = state::save(path, &job_state) {
            tracing::error!("{e}; the rotation will repeat this group next time");
        }
    }
}
