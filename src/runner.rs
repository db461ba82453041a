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
//! comparison of each completed run (`record::falsify`) and marks the records; it
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

use crate::check::{self, CheckOptions};
use crate::config::{Job, JobKind, Profile, Repository};
use crate::credentials;
use crate::finding::{self, Category};
use crate::lock;
use crate::notify;
use crate::report::record::{self, Work};
use crate::report::{self, jsonl, prometheus, Report, RunRecord};
use crate::restic::ReadData;
use crate::restic::{CheckRead, Restic, Session};
use crate::restore_test;
use crate::rto;
use crate::state::{self, Rotation};

/// The name prefix of the throw-away restic caches in the temp directory.
const CACHE_PREFIX: &str = "restic-verify-cache-";

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
    detected: Arc<tokio::sync::Mutex<HashMap<PathBuf, Restic>>>,
}

impl Shared {
    pub fn new(max_concurrent: usize) -> Shared {
        Shared {
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            repos: Arc::default(),
            detected: Arc::default(),
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
    let mut preflight = report::preflight(results, metrics).map_err(|e| e.to_string());
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

    let runs = job.repositories.iter().map(|name| {
        let preflight = &preflight;
        async move {
            let repo = profile.repositories.get(name)?; // INVARIANT: validation resolved every name.
                                                        // A repository whose turn never came (SIGINT/SIGTERM while waiting) is
                                                        // recorded as interrupted, never left out.
            let not_started = || {
                record::error(
                    &facts(job, repo, ctx, Utc::now()),
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
                (Some(_turn), Ok(())) => run_one(job, repo, ctx, shared).await,
                (Some(_), Err(message)) => record::error(
                    &facts(job, repo, ctx, Utc::now()),
                    Category::Config,
                    message.clone(),
                ),
            };
            let mut record = record;
            if let Some(path) = results {
                if let Err(e) = report::damage_list::write(path, &mut record) {
                    tracing::error!("{e}");
                }
            }
            summarize(&record);
            let mut unwritable = false;
            if let Some(path) = results {
                if let Err(e) = jsonl::append(path, &record) {
                    tracing::error!("{e}");
                    unwritable = true;
                }
            }
            Some((record, unwritable))
        }
    });
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
                kind: job.kind.name(),
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
        let written = if ctx.drill {
            prometheus::write_atomic(
                &prometheus::drill_path(path),
                &prometheus::render_drill(records, &job.name, &failures),
            )
        } else {
            let text = prometheus::render(records)
                + &prometheus::render_notifications(&job.name, &failures);
            // A real run ends the last drill's series.
            prometheus::write_atomic(path, &text).and_then(|()| prometheus::remove_drill(path))
        };
        if let Err(e) = written {
            tracing::error!("{e}");
        }
    }
    outcome.notification_failures = failures;
    outcome
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
    repo: &'a Repository,
    ctx: &'a Context,
    started: chrono::DateTime<Utc>,
) -> record::Facts<'a> {
    record::Facts {
        host: &ctx.host,
        job: &job.name,
        kind: job.kind.name(),
        repository: &repo.name,
        started,
        duration_seconds: 0.0,
        restic_version: None,
        read: None,
        seed: 0,
        verbose_results: matches!(&job.kind, JobKind::RestoreTest(o) if o.verbose_results),
        rto_history: &[],
        drill: ctx.drill,
    }
}

/// Runs an audit job: the password resolved like restic would, the engine in
/// process under the job's deadline.
async fn audit(
    settings: &crate::audit::job::AuditSettings,
    repo: &Repository,
    creds: &credentials::Credentials,
    ctx: &Context,
    clock: tokio::time::Instant,
    timeout: Duration,
) -> Result<Work, (Category, String)> {
    use crate::audit::{job, ErrorKind};
    let password = crate::password::resolve(&repo.password, creds, &ctx.cancel)
        .await
        .map_err(|e| (Category::Auth, e.to_string()))?;
    let deadline = clock
        .checked_add(timeout)
        .unwrap_or(clock + Duration::from_secs(100 * 365 * 86_400));
    job::run(
        settings,
        job::Target {
            repository: repo.url.clone(),
            password,
            env: creds.env.clone(),
            options: repo.backend.options.clone(),
        },
        &crate::process::Limits {
            deadline,
            cancel: ctx.cancel.clone(),
            grace: ctx.grace,
            hurry: ctx.hurry.clone(),
        },
        timeout,
    )
    .await
    .map(|r| Work::Audit(Box::new(r)))
    .map_err(|e| {
        let category = match &e {
            job::JobError::Audit(a) => match a.kind() {
                ErrorKind::Auth => Category::Auth,
                ErrorKind::NotFound => Category::NotFound,
                ErrorKind::Network => Category::Network,
                ErrorKind::Corruption => Category::Corruption,
                ErrorKind::NotVerified => Category::NotVerified,
                ErrorKind::Cancelled => Category::Interrupted,
                ErrorKind::Config => Category::Config,
                ErrorKind::Other => Category::Internal,
            },
            job::JobError::Zfs(_) => Category::NotFound,
            job::JobError::TimedOut(_) => Category::Timeout,
            job::JobError::Panicked(_) => Category::Internal,
        };
        (category, creds.redactor.redact(&e.to_string()))
    })
}

/// Which category a credentials problem belongs to.
fn credentials_category(e: &credentials::Error) -> Category {
    if e.is_password() {
        Category::Auth
    } else {
        Category::Config
    }
}

// LONG: over 150 lines, kept whole for now: issue #21 (the redesign) splits it with
// the job interface; splitting it alone would churn code that redesign replaces.
async fn run_one(job: &Job, repo: &Repository, ctx: &Context, shared: &Shared) -> RunRecord {
    let started = Utc::now();
    let clock = tokio::time::Instant::now();
    let state_path = job
        .outputs
        .state_dir
        .as_deref()
        .map(|d| state::path(d, &job.name, &repo.name));
    let mut job_state = match state_path.as_deref().map(state::load) {
        Some(Ok((s, warning))) => {
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
            s
        }
        Some(Err(e)) => {
            return record::error(
                &facts(job, repo, ctx, started),
                Category::Config,
                e.to_string(),
            );
        }
        None => state::JobState::default(),
    };
    let mut rotation = match &job.kind {
        JobKind::Check(CheckOptions {
            read_data:
                ReadData::Rotate(t)
                | ReadData::New {
                    rotate: Some(t), ..
                },
            ..
        }) => Some(Rotation::begin(job_state.rotation.take(), *t, started)),
        _ => None,
    };
    let read = match &job.kind {
        JobKind::Check(opts) => {
            CheckRead::from_read_data(&opts.read_data, rotation.as_ref().map(Rotation::group))
        }
        JobKind::RestoreTest(_) | JobKind::Audit(_) => CheckRead::Structure,
    };
    // The seed is drawn here so that even a run that fails early records it.
    let seed = match &job.kind {
        JobKind::RestoreTest(o) => o.seed.unwrap_or_else(rand::random),
        JobKind::Check(_) | JobKind::Audit(_) => 0,
    };
    let facts = record::Facts {
        read: matches!(job.kind, JobKind::Check(_)).then_some(&read),
        seed,
        ..facts(job, repo, ctx, started)
    };
    let program = ctx
        .restic_override
        .clone()
        .unwrap_or_else(|| repo.restic.clone());
    // Only a check reads pack data; the other kinds say nothing about it.
    let reading = match job.kind {
        JobKind::Check(_) => format!(
            " (read data: {})",
            read.describe().unwrap_or_else(|| "none".into())
        ),
        JobKind::RestoreTest(_) | JobKind::Audit(_) => String::new(),
    };
    tracing::info!(
        job = job.name,
        repository = repo.name,
        "{} {}{reading}",
        job.kind.name(),
        repo.display_url(),
    );

    // The pack ledger of the repository (shared by the check jobs of this state dir).
    let ledger_path = match (&job.kind, job.outputs.state_dir.as_deref()) {
        (JobKind::Check(_), Some(dir)) => Some(state::ledger::path(dir, &repo.name)),
        _ => None,
    };
    let mut ledger = match ledger_path.as_deref().map(state::ledger::load) {
        Some(Ok((l, warning))) => {
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
            Some(l)
        }
        Some(Err(e)) => {
            return record::error(&facts, Category::Config, e.to_string());
        }
        None => None,
    };
    // A job's own `lock-wait` beats the repository's, for this job only.
    let lock_wait = job.lock_wait.unwrap_or(repo.lock_wait);
    let mut restic_version = None;
    let result: Result<Work, (Category, String)> = async {
        // Another restic-verify run (a timer, the daemon) on the same repository waits.
        let _repo_lock = lock::acquire(&repo.name, repo.url.expose(), lock_wait, &ctx.cancel)
            .await
            .map_err(|e| {
                let category = match e {
                    lock::Error::Busy { .. } => Category::Locked,
                    lock::Error::Interrupted { .. } => Category::Interrupted,
                    lock::Error::Open { .. } | lock::Error::Unsafe { .. } => Category::Config,
                };
                (category, e.to_string())
            })?;
        let creds = credentials::load(&credentials::Source {
            repository: &repo.name,
            url: &repo.url,
            password: &repo.password,
            env_file: repo.env_file.as_deref(),
        })
        .map_err(|e| (credentials_category(&e), e.to_string()))?;
        // The audit reads the repository in process: no restic, no cache.
        if let JobKind::Audit(settings) = &job.kind {
            return audit(settings, repo, &creds, ctx, clock, job.timeout).await;
        }
        let known = shared.detected.lock().await.get(&program).cloned();
        let restic = match known {
            Some(r) => r,
            None => {
                let r = Restic::detect(&program)
                    .await
                    .map_err(|e| (e.category(), e.to_string()))?;
                shared
                    .detected
                    .lock()
                    .await
                    .insert(program.clone(), r.clone());
                r
            }
        };
        restic_version = Some(restic.version.to_string());
        // A run that was killed (SIGKILL, the OOM killer) left its cache behind:
        // each live run holds a lock on its own.
        let temp = std::env::temp_dir();
        restore_test::execute::sweep_leftovers(&temp, CACHE_PREFIX, "a throw-away restic cache");
        let cache = tempfile::Builder::new()
            .prefix(CACHE_PREFIX)
            .tempdir_in(&temp)
            .map_err(|e| {
                (
                    Category::NoSpace,
                    format!("cannot create a throw-away restic cache in the temp directory: {e}"),
                )
            })?;
        // Held until the cache is removed: no other run's sweep takes it meanwhile.
        let _cache_lock = restore_test::execute::lock_dir(cache.path());
        let session = Session {
            restic: &restic,
            repository: &repo.name,
            backend: &repo.backend,
            credentials: &creds,
            cache_dir: cache.path(),
            // A timeout of centuries must not overflow the clock.
            deadline: clock
                .checked_add(job.timeout)
                .unwrap_or(clock + Duration::from_secs(100 * 365 * 86_400)),
            timeout: job.timeout,
            cancel: ctx.cancel.clone(),
            lock_wait,
            unlock_stale: repo.unlock_stale,
            retries: repo.retries,
            grace: ctx.grace,
            hurry: ctx.hurry.clone(),
            host: &ctx.host,
        };
        match &job.kind {
            JobKind::Check(opts) => {
                // `new` reads packs in process: with the password restic would use.
                let access = match opts.read_data {
                    ReadData::New { .. } => Some(check::read::Access {
                        repository: repo.url.clone(),
                        password: crate::password::resolve(&repo.password, &creds, &ctx.cancel)
                            .await
                            .map_err(|e| (Category::Auth, e.to_string()))?,
                    }),
                    _ => None,
                };
                check::run(
                    &session,
                    opts,
                    &read,
                    started,
                    ledger.as_mut(),
                    access.as_ref(),
                )
                .await
                .map(|r| Work::Check(Box::new(r)))
                .map_err(|e| (e.category(), creds.redactor.redact(&e.to_string())))
            }
            JobKind::RestoreTest(opts) => {
                let mut res = restore_test::run(&session, opts, seed)
                    .await
                    .map_err(|e| (e.category(), creds.redactor.redact(&e.to_string())))?;
                // Calibration calls for the RTO model: only where they are remembered
                // (a state dir), when the remembered ones are too few or too old, and
                // after a sample that restored cleanly.
                let clean = !res.calls.iter().any(|c| c.failed)
                    && finding::verdict(&res.findings) == finding::Outcome::Pass;
                if state_path.is_some()
                    && !ctx.drill
                    && clean
                    && rto::wants_calibration(
                        &job_state.restore_calls,
                        &restic.version.to_string(),
                        started,
                        &res.probes,
                    )
                {
                    restore_test::calibrate::run(&session, &opts.test_dir, &mut res).await;
                }
                Ok(Work::Restore(Box::new(res)))
            }
            JobKind::Audit(_) => Err((Category::Internal, "audit ran through restic".into())),
        }
    }
    .await;

    let finished = Utc::now();
    let completed_check = matches!(result, Ok(Work::Check(_)));
    let history = restic_version
        .as_deref()
        .map(|v| rto::usable(&job_state.restore_calls, v, started))
        .unwrap_or_default();
    let facts = record::Facts {
        duration_seconds: clock.elapsed().as_secs_f64(),
        restic_version,
        rto_history: &history,
        ..facts
    };
    let mut record = record::build(&facts, result);
    if let (Some(t), Some(v)) = (&record.restore_test, &facts.restic_version) {
        job_state.restore_calls = rto::remember(
            std::mem::take(&mut job_state.restore_calls),
            &t.calls,
            v,
            started,
        );
    }
    if completed_check {
        if let Some(r) = rotation.as_mut() {
            r.complete(finished);
            if r.last_cycle_completed == Some(finished) {
                job_state.last_full_read = Some(finished);
            }
        }
        if read == CheckRead::All {
            job_state.last_full_read = Some(finished);
        }
    }
    job_state.last_run = Some(started);
    if record.outcome == finding::Outcome::Pass {
        job_state.last_success = Some(started);
    }
    record::with_state(&mut record, &job_state, rotation.as_ref());
    if ctx.drill {
        tracing::info!(
            job = job.name,
            "fire drill: no state saved (last run, rotation, pack ledger and RTO calls are as before)"
        );
        return record;
    }
    if let (true, Some(path), Some(l)) = (completed_check, &ledger_path, &ledger) {
        if let Err(e) = state::ledger::save(path, l) {
            tracing::error!("{e}; the packs this run read will count as unread");
        }
    }
    job_state.rotation = rotation;
    if let Some(path) = &state_path {
        if let Err(e) = state::save(path, &job_state) {
            tracing::error!("{e}; the rotation will repeat this group next time");
        }
    }
    record
}
