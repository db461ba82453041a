//! The interface every job kind implements (`Verification`), the data it plans and
//! returns (`Plan`, `Ran`) and what it reaches (`Reach`), with the helpers the kinds
//! share: restic and its throw-away cache for one run, the restic session, and the
//! password for the jobs that read the repository in process. Below the kinds, so
//! they import it and nothing here imports them.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Repository;
use crate::credentials::Credentials;
use crate::finding::Category;
use crate::record::assemble::Work;
use crate::restic::cache::Cache;
use crate::restic::{self, CheckRead, Restic, Session};
use crate::rto;
use crate::state::ledger::Ledger;
use crate::state::{JobState, Rotation};

/// One kind of verification of one repository.
pub trait Verification: Send + Sync {
    /// `check`, `restore-test` or `audit` (the record's `kind`).
    fn kind(&self) -> &'static str;

    /// Plans a run from the job's state, taking from it what the run moves on (the
    /// rotation cursor; the runner puts it back after the run).
    fn plan(&self, state: &mut JobState, started: DateTime<Utc>) -> Plan;

    /// Whether the run reads and updates the repository's pack ledger.
    fn keeps_ledger(&self) -> bool {
        false
    }

    /// Whether the record lists every file (restore tests' `verbose-results`).
    fn verbose_results(&self) -> bool {
        false
    }

    /// Runs the planned verification; the lock is held and the credentials loaded.
    fn run<'a>(&'a self, plan: &'a mut Plan, at: Reach<'a>) -> BoxFuture<'a, Ran>;
}

/// What a run is to do, planned from the job's state (data the runner records and
/// saves back).
#[derive(Debug, Default)]
pub struct Plan {
    /// What `restic check` reads (check jobs: the record's `read`).
    pub read: Option<CheckRead>,
    /// Restore tests: the seed, drawn when planning so that even a run that fails
    /// early records it.
    pub seed: u64,
    /// The rotation cursor this run moves (check jobs with a rotation).
    pub rotation: Option<Rotation>,
    /// The repository's pack ledger, loaded by the runner when `keeps_ledger`.
    pub ledger: Option<Ledger>,
}

/// What a job's run reaches: the repository, its credentials, the run's limits.
pub struct Reach<'a> {
    pub repo: &'a Repository,
    pub creds: &'a Credentials,
    /// The restic program to run.
    pub program: &'a Path,
    pub detected: &'a restic::Detected,
    pub started: DateTime<Utc>,
    /// When the run started (the deadline counts from here).
    pub clock: Instant,
    pub timeout: Duration,
    pub lock_wait: Duration,
    pub cancel: &'a CancellationToken,
    pub grace: Duration,
    pub hurry: Option<&'a CancellationToken>,
    pub host: &'a str,
    /// The RTO calls remembered from earlier runs, when this run may make
    /// calibration calls (a state dir, not a fire drill); `None`: it makes none.
    pub calibration: Option<&'a [rto::Measured]>,
}

impl Reach<'_> {
    /// The run's deadline (a timeout of centuries must not overflow the clock).
    pub fn deadline(&self) -> Instant {
        self.clock
            .checked_add(self.timeout)
            .unwrap_or(self.clock + Duration::from_secs(100 * 365 * 86_400))
    }
}

/// What a run returned: the completed work, or why it could not verify.
#[derive(Debug)]
pub struct Ran {
    pub result: Result<Work, (Category, String)>,
    /// The restic version the run used (`None`: it did not get as far, or ran none).
    pub restic_version: Option<String>,
}

/// restic (detected once per program and process) and a throw-away cache for one
/// run; records the version in `version` as soon as it is known.
pub(super) async fn open_restic(
    at: &Reach<'_>,
    version: &mut Option<String>,
) -> Result<(Restic, Cache), (Category, String)> {
    let restic = at
        .detected
        .get(at.program)
        .await
        .map_err(|e| (e.category(), e.to_string()))?;
    *version = Some(restic.version.to_string());
    let cache = Cache::create().map_err(|e| {
        (
            Category::NoSpace,
            format!("cannot create a throw-away restic cache in the temp directory: {e}"),
        )
    })?;
    Ok((restic, cache))
}

/// The restic calls of one run on one repository.
pub(super) fn session<'s>(at: &'s Reach<'_>, restic: &'s Restic, cache: &'s Cache) -> Session<'s> {
    Session {
        restic,
        repository: &at.repo.name,
        backend: &at.repo.backend,
        credentials: at.creds,
        cache_dir: cache.path(),
        deadline: at.deadline(),
        timeout: at.timeout,
        cancel: at.cancel.clone(),
        lock_wait: at.lock_wait,
        unlock_stale: at.repo.unlock_stale,
        retries: at.repo.retries,
        grace: at.grace,
        hurry: at.hurry.cloned(),
        host: at.host,
    }
}

/// The password restic would use, for the jobs that read the repository in process.
pub(super) async fn password(at: &Reach<'_>) -> Result<crate::secret::Secret, (Category, String)> {
    crate::password::resolve(&at.repo.password, at.creds, at.cancel)
        .await
        .map_err(|e| (Category::Auth, e.to_string()))
}
