//! The checked profile: everything parsed, every reference resolved. What the
//! runner, the daemon and `validate` work from; built only by `validate` (from a
//! file) and `flags` (from the command line).

use super::shard::Shard;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::job::AuditSettings;
use crate::check::CheckOptions;
use crate::credentials::PasswordSource;
use crate::notify::Notifier;
use crate::restic::args::BackendOptions;
use crate::restore_test::RestoreOptions;
use crate::schedule::Schedule;
use crate::secret::{self, Secret};

/// How long a locked repository is retried by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5 * 60);
/// How long one job run on one repository may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// How many times a network failure is retried by default.
pub const DEFAULT_RETRIES: u32 = 2;
/// How many repositories are worked on at once by default.
pub const DEFAULT_MAX_CONCURRENT: usize = 1;

/// A validated profile: everything parsed, every reference resolved.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The file it came from, or `None` for a profile built from flags.
    pub source: Option<PathBuf>,
    pub repositories: BTreeMap<String, Repository>,
    pub jobs: Vec<Job>,
    /// `[notify.NAME]` tables, by name.
    pub notifiers: BTreeMap<String, Notifier>,
    /// How many repositories are worked on at once (`[defaults] max-concurrent`).
    pub max_concurrent: usize,
    /// `[defaults] shard`: the part of the repositories this host takes (`--shard`
    /// beats it; `shard::restrict` applies it). `None`: all of them.
    pub shard: Option<Shard>,
    /// Things worth saying that do not stop the run (e.g. a world-readable password file).
    pub warnings: Vec<String>,
}

impl Profile {
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// A repository and how to reach it.
#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    /// The URL or path as restic takes it; may contain credentials: show `display_url()`.
    pub url: Secret,
    pub password: PasswordSource,
    /// Where the profile names a password file (line, column), for `validate`'s
    /// message when the file is missing.
    pub password_at: Option<(usize, usize)>,
    pub env_file: Option<PathBuf>,
    /// The restic binary to run.
    pub restic: PathBuf,
    pub lock_wait: Duration,
    pub unlock_stale: bool,
    pub retries: u32,
    /// restic's `-o key=value` options and `--limit-download` (no secrets in them).
    pub backend: BackendOptions,
}

impl Repository {
    /// The URL with any password in it replaced.
    pub fn display_url(&self) -> String {
        secret::redact_url(self.url.expose())
    }
}

#[derive(Debug, Clone)]
pub enum JobKind {
    Check(CheckOptions),
    RestoreTest(Box<RestoreOptions>),
    Audit(Box<AuditSettings>),
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Check(_) => "check",
            JobKind::RestoreTest(_) => "restore-test",
            JobKind::Audit(_) => "audit",
        }
    }
}

/// Parses a size such as `500M`, `2G`, `1024` (bytes; K/M/G/T are powers of 1024).
///
/// # Errors
/// A message naming the accepted forms.
/// Where a job's results go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// JSONL history file.
    pub results: Option<PathBuf>,
    /// Prometheus textfile for this job.
    pub metrics: Option<PathBuf>,
    /// Persistent state (rotation cursor, last success).
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub kind: JobKind,
    pub repositories: Vec<String>,
    pub timeout: Duration,
    /// `lock-wait` set on the job: beats the repository's for this job's runs.
    pub lock_wait: Option<Duration>,
    pub outputs: Outputs,
    /// When the daemon runs the job; `None`: only on demand.
    pub schedule: Option<Schedule>,
    /// Random delay added to each scheduled start (below this).
    pub jitter: Duration,
    /// Names of `[notify.*]` tables told about this job's runs.
    pub notify: Vec<String>,
}

impl Profile {
    /// The profile as a host of `shard` runs it: only the repositories the shard
    /// takes, each job only on those, and jobs left with none dropped (a job runs on
    /// the host that has its repositories). `None`: the whole profile.
    pub fn for_shard(&self, shard: Option<Shard>) -> Profile {
        let mut p = self.clone();
        let Some(shard) = shard else {
            return p;
        };
        p.repositories.retain(|name, _| shard.takes(name));
        for job in &mut p.jobs {
            job.repositories.retain(|name| shard.takes(name));
        }
        p.jobs.retain(|j| !j.repositories.is_empty());
        p
    }
}
