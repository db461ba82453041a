//! The job interface: every job kind (the check, the new-pack read, the restore
//! test, the audit) is a value implementing `Verification`. A job plans its run
//! from the job's state (`plan`: what it reads, its seed, the rotation cursor it
//! moves, whether it keeps the pack ledger) and runs it on one repository with the
//! lock held and the credentials loaded (`run`), returning what it found as data
//! (`Ran`: the completed work or the error's category and message). Each job owns
//! the mapping of its errors to categories. The runner orders the side effects
//! around it (lock, credentials, record, state, outputs) without asking which kind
//! it runs; `from_config` is the one place that tells the kinds apart.
//!
//! A trait object rather than an enum of job values: the runner holds one
//! `Box<dyn Verification>` and never matches on it, and a new kind is one new file
//! and one arm in `from_config`, where an enum would need an arm in every method.

mod audit;
mod check;
mod restore;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Job, JobKind, Repository};
use crate::credentials::Credentials;
use crate::finding::Category;
use crate::record::assemble::Work;
use crate::restic::cache::Cache;
use crate::restic::{self, CheckRead, ReadData, Restic, Session};
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

/// The job value for a configured job: the one place that tells the kinds apart.
pub fn from_config(job: &Job) -> Box<dyn Verification> {
    match &job.kind {
        JobKind::Check(opts) if matches!(opts.read_data, ReadData::New { .. }) => {
            Box::new(check::NewPackRead(check::Check(opts.clone())))
        }
        JobKind::Check(opts) => Box::new(check::Check(opts.clone())),
        JobKind::RestoreTest(opts) => Box::new(restore::RestoreTest((**opts).clone())),
        JobKind::Audit(settings) => Box::new(audit::Audit((**settings).clone())),
    }
}

/// restic (detected once per program and process) and a throw-away cache for one
/// run; records the version in `version` as soon as it is known.
async fn open_restic(
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
fn session<'s>(at: &'s Reach<'_>, restic: &'s Restic, cache: &'s Cache) -> Session<'s> {
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
async fn password(at: &Reach<'_>) -> Result<crate::secret::Secret, (Category, String)> {
    crate::password::resolve(&at.repo.password, at.creds, at.cancel)
        .await
        .map_err(|e| (Category::Auth, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn job(kind_keys: &str) -> Job {
        let text = format!(
            r#"
[defaults]
password-file = "/run/pw"
state-dir = "/var/lib/rv"

[repository.nas]
url = "/mnt/nas"

[job.j]
repositories = ["nas"]
{kind_keys}
"#
        );
        let env = crate::config::Env {
            credentials_directory: None,
            host: "testhost".into(),
            now: chrono::Local::now(),
        };
        let profile =
            crate::config::parse(&text, Path::new("/etc/rv.toml"), &env).expect("valid profile");
        profile.job("j").expect("job").clone()
    }

    #[rstest]
    #[case::check("kind = \"check\"", "check", true, Some(CheckRead::Structure))]
    #[case::new_packs(
        "kind = \"check\"\nread-data-subset = \"new\"",
        "check",
        true,
        Some(CheckRead::Structure)
    )]
    #[case::full_read(
        "kind = \"check\"\nread-data = true",
        "check",
        true,
        Some(CheckRead::All)
    )]
    #[case::restore(
        "kind = \"restore-test\"\nmap = [\"/src=/srv\"]",
        "restore-test",
        false,
        None
    )]
    #[case::audit("kind = \"audit\"\nmap = [\"/src=/srv\"]", "audit", false, None)]
    fn from_config_gives_each_kind_its_job_value(
        #[case] keys: &str,
        #[case] kind: &str,
        #[case] ledger: bool,
        #[case] read: Option<CheckRead>,
    ) {
        let v = from_config(&job(keys));
        assert_eq!(v.kind(), kind);
        assert_eq!(v.keeps_ledger(), ledger);
        let plan = v.plan(&mut JobState::default(), Utc::now());
        assert_eq!(plan.read, read);
        assert!(plan.rotation.is_none());
    }

    #[test]
    fn check_plan_takes_the_rotation_cursor_and_reads_its_group() {
        let v = from_config(&job("kind = \"check\"\nread-data-subset = \"rotate/4\""));
        let now = Utc::now();
        let mut cursor = Rotation::begin(None, 4, now);
        cursor.complete(now);
        cursor.complete(now);
        let mut state = JobState {
            rotation: Some(cursor),
            ..JobState::default()
        };
        let plan = v.plan(&mut state, now);
        assert!(state.rotation.is_none(), "the plan carries the cursor");
        assert_eq!(plan.rotation.expect("a rotation").group(), (3, 4));
        assert_eq!(plan.read, Some(CheckRead::Subset("3/4".into())));
    }

    #[test]
    fn restore_plan_records_the_configured_seed_and_verbose_results() {
        let v = from_config(&job(
            "kind = \"restore-test\"\nmap = [\"/src=/srv\"]\nseed = 7\nverbose-results = true",
        ));
        assert_eq!(v.plan(&mut JobState::default(), Utc::now()).seed, 7);
        assert!(v.verbose_results());
    }
}
