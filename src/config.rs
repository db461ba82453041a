//! TOML profiles: raw types, layered merge, validation into a checked `Profile`.
//!
//! Precedence: command line, then environment, then profile, where `[job.X]` beats
//! `[repository.Y]`, which beats `[defaults]`. Validation reports *every* problem it finds, each with the file,
//! line and column of the offending key, and the checked `Profile` holds parsed
//! durations, read-data specs and paths, so no later code handles raw strings.
//! Secrets are accepted only as files or commands, and their `Debug` is redacted.
//! This module reads the profile, env files and password files; it writes nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use crate::check::CheckOptions;
use crate::notify::{self, EmailOptions, Notifier, SecretUrl, State, TlsMode};
use crate::restore_test::plan::{FileFilter, SampleOptions};
use crate::restore_test::{RestoreOptions, DEFAULT_SAMPLE};
use crate::sample::Weighting;
use crate::schedule::{self, Schedule};
use crate::source::{SourceKind, ZfsSnapshot};

use crate::credentials::{password_file_warning, PasswordSource};
use crate::restic::args::{parse_read_data_subset, ReadData, SnapshotFilter};
use crate::secret::{self, Secret};

/// Where `run` and `validate` look for the profile when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/restic-verify/config.toml";
/// How long a locked repository is retried by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5 * 60);
/// How long one job run on one repository may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// How many times a network failure is retried by default.
pub const DEFAULT_RETRIES: u32 = 2;
/// How many repositories are worked on at once by default.
pub const DEFAULT_MAX_CONCURRENT: usize = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read profile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid profile {}:\n{}", path.display(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("{0}")]
    Flags(String),
}

/// One thing wrong with a profile, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column of the key or value, when known.
    pub location: Option<(usize, usize)>,
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.path.display(), self.message)
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

// ---------------------------------------------------------------- checked types

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
    pub env_file: Option<PathBuf>,
    /// The restic binary to run.
    pub restic: PathBuf,
    pub lock_wait: Duration,
    pub unlock_stale: bool,
    pub retries: u32,
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
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Check(_) => "check",
            JobKind::RestoreTest(_) => "restore-test",
        }
    }
}

/// Parses a size such as `500M`, `2G`, `1024` (bytes; K/M/G/T are powers of 1024).
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("`{s}` is not a size; write e.g. `500M`, `2G`, `4096`"))
}

/// Compiles glob patterns matched against tree paths (`**` crosses directories).
///
/// # Errors
/// The first pattern that does not compile.
pub fn compile_globs(patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("`{p}` is not a glob: {e}"))?;
        b.add(g);
    }
    b.build().map(Some).map_err(|e| e.to_string())
}

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
    pub outputs: Outputs,
    /// When the daemon runs the job; `None`: only on demand.
    pub schedule: Option<Schedule>,
    /// Random delay added to each scheduled start (below this).
    pub jitter: Duration,
    /// Names of `[notify.*]` tables told about this job's runs.
    pub notify: Vec<String>,
}

// ---------------------------------------------------------------- raw TOML

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    repository: BTreeMap<String, Spanned<RawRepository>>,
    #[serde(default)]
    job: BTreeMap<String, Spanned<RawJob>>,
    #[serde(default)]
    notify: BTreeMap<String, Spanned<RawNotify>>,
}

/// `[notify.NAME]`: which keys apply depends on `type`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawNotify {
    r#type: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    url_file: Option<Spanned<String>>,
    states: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<String>>,
    smtp_host: Option<Spanned<String>>,
    smtp_port: Option<u16>,
    tls: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<OneOrMany>,
    username: Option<String>,
    password_file: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    instance: Option<Spanned<String>>,
}

/// Keys that say how to reach a repository.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawDefaults {
    max_concurrent: Option<Spanned<usize>>,
    notify: Option<Spanned<Vec<String>>>,
    jitter: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    password_command: Option<Spanned<String>>,
    env_file: Option<Spanned<String>>,
    restic: Option<Spanned<String>>,
    lock_wait: Option<Spanned<String>>,
    unlock_stale: Option<bool>,
    retries: Option<u32>,
    results: Option<Spanned<String>>,
    metrics_dir: Option<Spanned<String>>,
    state_dir: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    max_age: Option<Spanned<String>>,
    min_snapshots: Option<u32>,
    read_data: Option<bool>,
    read_data_subset: Option<Spanned<String>>,
    host: Option<OneOrMany>,
    tag: Option<OneOrMany>,
    path: Option<OneOrMany>,
    sample: Option<usize>,
    sample_percent: Option<f64>,
    sample_by: Option<Spanned<String>>,
    max_bytes: Option<Spanned<String>>,
    min_size: Option<Spanned<String>>,
    max_size: Option<Spanned<String>>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    always: Option<Vec<String>>,
    test_dir: Option<Spanned<String>>,
    keep: Option<bool>,
    map: Option<Vec<Spanned<String>>>,
    snapshot: Option<String>,
    seed: Option<u64>,
    verbose_results: Option<bool>,
    source: Option<Spanned<String>>,
    zfs_dataset: Option<String>,
    zfs_snapshot: Option<String>,
    zfs_snapshot_tag: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawRepository {
    url: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    password_command: Option<Spanned<String>>,
    env_file: Option<Spanned<String>>,
    restic: Option<Spanned<String>>,
    lock_wait: Option<Spanned<String>>,
    unlock_stale: Option<bool>,
    retries: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawJob {
    kind: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    notify: Option<Spanned<Vec<String>>>,
    repositories: Option<Spanned<Vec<String>>>,
    results: Option<Spanned<String>>,
    metrics_dir: Option<Spanned<String>>,
    state_dir: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    max_age: Option<Spanned<String>>,
    min_snapshots: Option<u32>,
    read_data: Option<bool>,
    read_data_subset: Option<Spanned<String>>,
    host: Option<OneOrMany>,
    tag: Option<OneOrMany>,
    path: Option<OneOrMany>,
    lock_wait: Option<Spanned<String>>,
    sample: Option<usize>,
    sample_percent: Option<f64>,
    sample_by: Option<Spanned<String>>,
    max_bytes: Option<Spanned<String>>,
    min_size: Option<Spanned<String>>,
    max_size: Option<Spanned<String>>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    always: Option<Vec<String>>,
    test_dir: Option<Spanned<String>>,
    keep: Option<bool>,
    map: Option<Vec<Spanned<String>>>,
    snapshot: Option<String>,
    seed: Option<u64>,
    verbose_results: Option<bool>,
    source: Option<Spanned<String>>,
    zfs_dataset: Option<String>,
    zfs_snapshot: Option<String>,
    zfs_snapshot_tag: Option<String>,
}

// ---------------------------------------------------------------- parsing values

/// Parses a duration such as `48h`, `30m`, `1h 30m`, `0s`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. `90s`, `30m`, `48h`, `7d`"))
}

// ---------------------------------------------------------------- loading

/// Reads and validates a profile file.
///
/// # Errors
/// `Error::Read` when the file cannot be read, `Error::Invalid` with every problem otherwise.
pub fn load(path: &Path) -> Result<Profile, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut profile = parse(&text, path, &Env::from_process())?;
    for r in profile.repositories.values() {
        if let PasswordSource::File(p) = &r.password {
            profile.warnings.extend(password_file_warning(&r.name, p));
        }
    }
    Ok(profile)
}

/// What parsing may know about the world, passed in so that parsing itself does no
/// I/O and reads no clock: the systemd credentials directory, this host's name
/// (a Pushgateway `instance` default) and the time (a schedule must fire again).
#[derive(Debug, Clone)]
pub struct Env {
    pub credentials_directory: Option<std::ffi::OsString>,
    pub host: String,
    pub now: chrono::DateTime<chrono::Local>,
}

impl Env {
    /// This process's environment, host name and clock.
    pub fn from_process() -> Env {
        Env {
            credentials_directory: std::env::var_os("CREDENTIALS_DIRECTORY"),
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            now: chrono::Local::now(),
        }
    }
}

/// Validates profile text as if it had been read from `path`.
///
/// # Errors
/// `Error::Invalid` listing every problem.
pub fn parse(text: &str, path: &Path, env: &Env) -> Result<Profile, Error> {
    let mut v = Validator {
        text,
        path,
        env,
        base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        problems: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let message = toml_message(&e);
            v.problem(e.span(), message);
            return Err(v.into_error());
        }
    };
    let profile = v.check(raw);
    match profile {
        Some(p) if v.problems.is_empty() => Ok(p),
        _ => Err(v.into_error()),
    }
}

/// A toml error's message, with the nearest valid key suggested for an unknown one.
fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_owned();
    // serde's wording: "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((unknown, expected)) = rest.split_once('`') {
            let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            let best = candidates
                .iter()
                .map(|c| (strsim::levenshtein(unknown, c), *c))
                .min();
            return match best {
                Some((d, c)) if d <= 3 || c.starts_with(unknown) || unknown.starts_with(c) => {
                    format!(
                        "unknown key `{unknown}`; did you mean `{c}`? (valid keys here: {})",
                        candidates.join(", ")
                    )
                }
                _ => format!(
                    "unknown key `{unknown}` (valid keys here: {})",
                    candidates.join(", ")
                ),
            };
        }
    }
    msg
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
    env: &'a Env,
    base: PathBuf,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn location(&self, span: Option<Range<usize>>) -> Option<(usize, usize)> {
        let start = span?.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Some((line, col))
    }

    fn problem(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let location = self.location(span);
        self.problems.push(Problem {
            location,
            path: self.path.to_owned(),
            message: message.into(),
        });
    }

    fn into_error(self) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            problems: self.problems,
        }
    }

    fn duration(&mut self, key: &str, v: &Option<Spanned<String>>) -> Option<Duration> {
        let v = v.as_ref()?;
        match parse_duration(v.get_ref()) {
            Ok(d) => Some(d),
            Err(m) => {
                self.problem(Some(v.span()), format!("`{key}`: {m}"));
                None
            }
        }
    }

    fn file_path(&self, v: &Spanned<String>) -> PathBuf {
        let p = expand_credentials_dir(v.get_ref(), self.env.credentials_directory.clone());
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    fn check(&mut self, raw: RawFile) -> Option<Profile> {
        let d = raw.defaults;
        let warnings = Vec::new();
        let mut repositories = BTreeMap::new();
        for (name, spanned) in &raw.repository {
            let span = spanned.span();
            let r = spanned.get_ref();
            if !valid_name(name) {
                self.problem(Some(span.clone()), format!("repository name `{name}` may only contain letters, digits, `.`, `_` and `-`"));
            }
            let Some(url) = r.url.as_ref() else {
                self.problem(Some(span), format!("[repository.{name}] has no `url`; add e.g. url = \"/mnt/nas/restic/{{name}}\""));
                continue;
            };
            let expanded = url.get_ref().replace("{name}", name);
            if expanded.trim().is_empty() {
                self.problem(
                    Some(url.span()),
                    format!("[repository.{name}] `url` is empty"),
                );
            }
            let pf = r.password_file.as_ref().or(d.password_file.as_ref());
            let pc = r.password_command.as_ref().or(d.password_command.as_ref());
            let env_file = r
                .env_file
                .as_ref()
                .or(d.env_file.as_ref())
                .map(|p| self.file_path(p));
            let password = match (
                r.password_file.as_ref(),
                r.password_command.as_ref(),
                pf,
                pc,
            ) {
                (Some(a), Some(_), _, _) => {
                    self.problem(Some(a.span()), format!("[repository.{name}] sets both `password-file` and `password-command`; keep one"));
                    None
                }
                (Some(f), None, _, _) => Some(PasswordSource::File(self.file_path(f))),
                (None, Some(c), _, _) => {
                    Some(PasswordSource::Command(Secret::new(c.get_ref().clone())))
                }
                (None, None, Some(f), None) => Some(PasswordSource::File(self.file_path(f))),
                (None, None, None, Some(c)) => {
                    Some(PasswordSource::Command(Secret::new(c.get_ref().clone())))
                }
                (None, None, Some(f), Some(_)) => {
                    self.problem(
                        Some(f.span()),
                        "[defaults] sets both `password-file` and `password-command`; keep one",
                    );
                    None
                }
                (None, None, None, None) if env_file.is_some() => Some(PasswordSource::EnvFile),
                (None, None, None, None) => {
                    self.problem(Some(span.clone()), format!("[repository.{name}] has no password: set `password-file` (or `password-command`) here or in [defaults]"));
                    None
                }
            };
            let lock_wait = self
                .duration(
                    "lock-wait",
                    r.lock_wait.as_ref().map_or(&d.lock_wait, |_| &r.lock_wait),
                )
                .unwrap_or(DEFAULT_LOCK_WAIT);
            let restic = r
                .restic
                .as_ref()
                .or(d.restic.as_ref())
                .map_or_else(|| PathBuf::from("restic"), |s| PathBuf::from(s.get_ref()));
            if let Some(password) = password {
                repositories.insert(
                    name.clone(),
                    Repository {
                        name: name.clone(),
                        url: Secret::new(expanded),
                        password,
                        env_file,
                        restic,
                        lock_wait,
                        unlock_stale: r.unlock_stale.or(d.unlock_stale).unwrap_or(false),
                        retries: r.retries.or(d.retries).unwrap_or(DEFAULT_RETRIES),
                    },
                );
            }
        }

        if raw.job.is_empty() {
            self.problem(None, "the profile defines no job; add e.g. [job.weekly-check] with kind = \"check\" and repositories = [...]");
        }
        let mut jobs = Vec::new();
        for (name, spanned) in &raw.job {
            let span = spanned.span();
            let j = spanned.get_ref();
            if !valid_name(name) {
                self.problem(
                    Some(span.clone()),
                    format!("job name `{name}` may only contain letters, digits, `.`, `_` and `-`"),
                );
            }
            let repos: Vec<String> = match &j.repositories {
                Some(r) => {
                    for repo in r.get_ref() {
                        if !raw.repository.contains_key(repo) {
                            let known: Vec<&str> =
                                raw.repository.keys().map(String::as_str).collect();
                            let hint = nearest(repo, &known)
                                .map(|k| format!("; did you mean `{k}`?"))
                                .unwrap_or_default();
                            self.problem(Some(r.span()), format!("[job.{name}] names repository `{repo}`, which no [repository.*] table defines{hint}"));
                        }
                    }
                    if r.get_ref().is_empty() {
                        self.problem(
                            Some(r.span()),
                            format!("[job.{name}] `repositories` is empty"),
                        );
                    }
                    r.get_ref().clone()
                }
                None => {
                    self.problem(
                        Some(span.clone()),
                        format!(
                            "[job.{name}] has no `repositories`; add e.g. repositories = [\"nas\"]"
                        ),
                    );
                    Vec::new()
                }
            };
            let kind_name = j.kind.as_ref().map(|k| k.get_ref().as_str());
            let read_data_subset = j.read_data_subset.as_ref().or(d.read_data_subset.as_ref());
            let read_data = match (j.read_data.or(d.read_data), read_data_subset) {
                (Some(true), Some(s)) => {
                    self.problem(Some(s.span()), format!("[job.{name}] sets both `read-data = true` and `read-data-subset`; keep one"));
                    ReadData::Full
                }
                (Some(true), None) => ReadData::Full,
                (_, Some(s)) => match parse_read_data_subset(s.get_ref()) {
                    Ok(r) => r,
                    Err(m) => {
                        self.problem(Some(s.span()), format!("`read-data-subset`: {m}"));
                        ReadData::None
                    }
                },
                (_, None) => ReadData::None,
            };
            let max_age = self.duration(
                "max-age",
                if j.max_age.is_some() {
                    &j.max_age
                } else {
                    &d.max_age
                },
            );
            let timeout = self
                .duration(
                    "timeout",
                    if j.timeout.is_some() {
                        &j.timeout
                    } else {
                        &d.timeout
                    },
                )
                .unwrap_or(DEFAULT_TIMEOUT);
            if timeout.is_zero() {
                self.problem(
                    j.timeout.as_ref().or(d.timeout.as_ref()).map(Spanned::span),
                    "`timeout` must be above zero",
                );
            }
            if let Some(lw) = &j.lock_wait {
                // A job-level lock-wait overrides every repository's.
                if let Some(lw) = self.duration("lock-wait", &Some(lw.clone())) {
                    for repo in &repos {
                        if let Some(r) = repositories.get_mut(repo) {
                            r.lock_wait = lw;
                        }
                    }
                }
            }
            let state_dir = j
                .state_dir
                .as_ref()
                .or(d.state_dir.as_ref())
                .map(|p| self.file_path(p));
            if matches!(read_data, ReadData::Rotate(_)) && state_dir.is_none() {
                self.problem(read_data_subset.map(Spanned::span), format!("[job.{name}] `read-data-subset = \"rotate/T\"` needs `state-dir` to remember where the rotation stands"));
            }
            let metrics = j
                .metrics_dir
                .as_ref()
                .or(d.metrics_dir.as_ref())
                .map(|p| self.file_path(p).join(metrics_file_name(name)));
            let outputs = Outputs {
                results: j
                    .results
                    .as_ref()
                    .or(d.results.as_ref())
                    .map(|p| self.file_path(p)),
                metrics,
                state_dir,
            };
            let filter = SnapshotFilter {
                host: j
                    .host
                    .clone()
                    .or(d.host.clone())
                    .map(OneOrMany::into_vec)
                    .unwrap_or_default(),
                tag: j
                    .tag
                    .clone()
                    .or(d.tag.clone())
                    .map(OneOrMany::into_vec)
                    .unwrap_or_default(),
                path: j
                    .path
                    .clone()
                    .or(d.path.clone())
                    .map(OneOrMany::into_vec)
                    .unwrap_or_default(),
            };
            let kind = match kind_name {
                Some("check") => JobKind::Check(CheckOptions {
                    read_data,
                    max_age,
                    min_snapshots: j.min_snapshots.or(d.min_snapshots).unwrap_or(1),
                    filter,
                }),
                Some("restore-test") => {
                    JobKind::RestoreTest(Box::new(self.restore_options(name, j, &d, filter)))
                }
                Some(other) => {
                    let span = j.kind.as_ref().map(Spanned::span);
                    self.problem(
                        span,
                        format!(
                            "[job.{name}] `kind = \"{other}\"` is not a job kind; use \"check\" or \"restore-test\""
                        ),
                    );
                    continue;
                }
                None => {
                    self.problem(
                        Some(span),
                        format!("[job.{name}] has no `kind`; add kind = \"check\""),
                    );
                    continue;
                }
            };
            let (schedule, jitter) = self.schedule(name, j, &d);
            let notify = match j.notify.as_ref().or(d.notify.as_ref()) {
                Some(list) => {
                    for n in list.get_ref() {
                        if !raw.notify.contains_key(n) {
                            let known: Vec<&str> = raw.notify.keys().map(String::as_str).collect();
                            let hint = nearest(n, &known)
                                .map(|k| format!("; did you mean `{k}`?"))
                                .unwrap_or_default();
                            self.problem(Some(list.span()), format!("[job.{name}] `notify` names `{n}`, which no [notify.*] table defines{hint}"));
                        }
                    }
                    list.get_ref().clone()
                }
                None => Vec::new(),
            };
            jobs.push(Job {
                name: name.clone(),
                kind,
                repositories: repos,
                timeout,
                outputs,
                schedule,
                jitter,
                notify,
            });
        }
        let mut notifiers = BTreeMap::new();
        for (name, spanned) in &raw.notify {
            if let Some(n) = self.notifier(name, spanned) {
                notifiers.insert(name.clone(), n);
            }
        }
        let max_concurrent = match &d.max_concurrent {
            Some(m) if *m.get_ref() == 0 => {
                self.problem(Some(m.span()), "`max-concurrent` must be at least 1");
                1
            }
            Some(m) => *m.get_ref(),
            None => DEFAULT_MAX_CONCURRENT,
        };
        Some(Profile {
            source: Some(self.path.to_owned()),
            repositories,
            jobs,
            notifiers,
            max_concurrent,
            warnings,
        })
    }
}

impl Validator<'_> {
    /// `schedule` and `jitter` of a job: the cron expression must parse and fire
    /// again, and the jitter must stay below the shortest interval between runs.
    fn schedule(
        &mut self,
        name: &str,
        j: &RawJob,
        d: &RawDefaults,
    ) -> (Option<Schedule>, Duration) {
        let jitter_raw = j.jitter.as_ref().or(d.jitter.as_ref());
        let jitter = self
            .duration("jitter", &jitter_raw.cloned())
            .unwrap_or(Duration::ZERO);
        let Some(expr) = &j.schedule else {
            if let Some(js) = &j.jitter {
                self.problem(Some(js.span()), format!("[job.{name}] sets `jitter` but no `schedule`; add e.g. schedule = \"0 3 * * 0\""));
            }
            return (None, jitter);
        };
        let s = match schedule::parse(expr.get_ref()) {
            Ok(s) => s,
            Err(m) => {
                self.problem(Some(expr.span()), format!("[job.{name}] `schedule`: {m}"));
                return (None, jitter);
            }
        };
        let now = self.env.now;
        if schedule::next_fire(&s, &now).is_none() {
            self.problem(Some(expr.span()), format!("[job.{name}] `schedule = \"{s}\"` never fires (no such date in the coming years)"));
            return (None, jitter);
        }
        if let Some(period) = schedule::shortest_interval(&s, &now) {
            if !jitter.is_zero() && jitter >= period {
                self.problem(
                    jitter_raw.map(Spanned::span),
                    format!(
                        "[job.{name}] `jitter = \"{}\"` is not shorter than the shortest interval between runs of `{s}` ({}); runs would overlap or be skipped: lower it",
                        humantime::format_duration(jitter),
                        humantime::format_duration(period)
                    ),
                );
            }
        }
        (Some(s), jitter)
    }

    /// One `[notify.NAME]` table.
    fn notifier(&mut self, name: &str, spanned: &Spanned<RawNotify>) -> Option<Notifier> {
        let span = spanned.span();
        let n = spanned.get_ref();
        if !valid_name(name) {
            self.problem(
                Some(span.clone()),
                format!(
                    "notifier name `{name}` may only contain letters, digits, `.`, `_` and `-`"
                ),
            );
        }
        const TYPES: [&str; 5] = [
            "email",
            "healthchecks",
            "ntfy",
            "uptime-kuma",
            "pushgateway",
        ];
        let Some(ty) = &n.r#type else {
            self.problem(
                Some(span),
                format!(
                    "[notify.{name}] has no `type`; use one of {}",
                    TYPES.join(", ")
                ),
            );
            return None;
        };
        let type_name = ty.get_ref().as_str();
        if !TYPES.contains(&type_name) {
            let hint = nearest(type_name, &TYPES)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            self.problem(Some(ty.span()), format!("[notify.{name}] `type = \"{type_name}\"` is not a notifier type; {hint}(types: {})", TYPES.join(", ")));
            return None;
        }
        // Keys that belong to another type are mistakes worth naming.
        let email_only = [
            ("smtp-host", n.smtp_host.is_some()),
            ("smtp-port", n.smtp_port.is_some()),
            ("tls", n.tls.is_some()),
            ("from", n.from.is_some()),
            ("to", n.to.is_some()),
            ("username", n.username.is_some()),
            ("password-file", n.password_file.is_some()),
            ("ca-file", n.ca_file.is_some()),
        ];
        let mut foreign: Vec<&str> = Vec::new();
        if type_name != "email" {
            foreign.extend(email_only.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
        } else if n.url.is_some() || n.url_file.is_some() {
            foreign.push(if n.url.is_some() { "url" } else { "url-file" });
        }
        if type_name != "ntfy" && n.token_file.is_some() {
            foreign.push("token-file");
        }
        if type_name != "pushgateway" && n.instance.is_some() {
            foreign.push("instance");
        }
        if type_name == "pushgateway" && n.url_file.is_some() {
            foreign.push("url-file");
        }
        if !foreign.is_empty() {
            self.problem(
                Some(span.clone()),
                format!(
                    "[notify.{name}] (type {type_name}) does not use {}",
                    foreign
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let timeout = self
            .duration("timeout", &n.timeout)
            .unwrap_or(notify::DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            self.problem(
                n.timeout.as_ref().map(Spanned::span),
                format!("[notify.{name}] `timeout` must be above zero"),
            );
        }
        let states = match &n.states {
            None => notify::Kind::default_states(type_name).to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for st in list.get_ref() {
                    match State::parse(st) {
                        Some(State::Start) if !notify::Kind::supports_start(type_name) => {
                            self.problem(Some(list.span()), format!("[notify.{name}] a {type_name} notifier has nothing to send at `start`; use success, failure, recovery"));
                        }
                        Some(x) => out.push(x),
                        None => self.problem(Some(list.span()), format!("[notify.{name}] `states` has `{st}`; use start, success, failure, recovery")),
                    }
                }
                out
            }
        };
        let url = match (&n.url, &n.url_file) {
            (Some(u), Some(_)) => {
                self.problem(
                    Some(u.span()),
                    format!("[notify.{name}] sets both `url` and `url-file`; keep one"),
                );
                None
            }
            (Some(u), None) => {
                // The URL itself is a secret: never echo it back.
                match reqwest::Url::parse(u.get_ref()) {
                    Ok(parsed)
                        if matches!(parsed.scheme(), "http" | "https")
                            && parsed.host_str().is_some() =>
                    {
                        Some(SecretUrl::Inline(Secret::new(u.get_ref().clone())))
                    }
                    // A bare check UUID means healthchecks.io.
                    _ if type_name == "healthchecks"
                        && uuid::Uuid::try_parse(u.get_ref()).is_ok() =>
                    {
                        Some(SecretUrl::Inline(Secret::new(u.get_ref().clone())))
                    }
                    _ => {
                        self.problem(Some(u.span()), format!("[notify.{name}] `url` is not an http(s) URL (value not shown; it may hold a token)"));
                        None
                    }
                }
            }
            (None, Some(f)) => Some(SecretUrl::File(self.file_path(f))),
            (None, None) => None,
        };
        let need_url = |v: &mut Self| {
            let what = match type_name {
                "healthchecks" => "the check's ping URL, e.g. url-file = \"/etc/restic-verify/hc-url\" holding https://hc-ping.com/<uuid>",
                "ntfy" => "server and topic, e.g. url = \"https://ntfy.sh/my-backups\"",
                "uptime-kuma" => "the push URL, e.g. url-file holding https://kuma.example/api/push/<token>",
                _ => "the base URL, e.g. url = \"http://pushgateway:9091\"",
            };
            v.problem(
                Some(span.clone()),
                format!("[notify.{name}] needs `url` or `url-file`: {what}"),
            );
        };
        let kind = match type_name {
            "email" => {
                let host = n.smtp_host.as_ref().map(|h| h.get_ref().clone());
                if host.is_none() {
                    self.problem(Some(span.clone()), format!("[notify.{name}] needs `smtp-host`, e.g. smtp-host = \"mail.example.org\""));
                }
                let tls = match n.tls.as_ref().map(|t| t.get_ref().as_str()) {
                    None | Some("starttls") => TlsMode::Starttls,
                    Some("tls") => TlsMode::Tls,
                    Some("none") => TlsMode::None,
                    Some(other) => {
                        self.problem(n.tls.as_ref().map(Spanned::span), format!("[notify.{name}] `tls = \"{other}\"`: use \"starttls\" (port 587), \"tls\" (port 465) or \"none\" (local relay, port 25)"));
                        TlsMode::Starttls
                    }
                };
                let from = n.from.as_ref().map(|f| f.get_ref().clone());
                match &from {
                    None => self.problem(Some(span.clone()), format!("[notify.{name}] needs `from`, e.g. from = \"restic-verify <backup@example.org>\"")),
                    Some(f) => {
                        if f.parse::<lettre::message::Mailbox>().is_err() {
                            self.problem(n.from.as_ref().map(Spanned::span), format!("[notify.{name}] `from = \"{f}\"` is not an email address"));
                        }
                    }
                }
                let to = n.to.clone().map(OneOrMany::into_vec).unwrap_or_default();
                if to.is_empty() {
                    self.problem(
                        Some(span.clone()),
                        format!("[notify.{name}] needs `to`, e.g. to = [\"admin@example.org\"]"),
                    );
                }
                for t in &to {
                    if t.parse::<lettre::message::Mailbox>().is_err() {
                        self.problem(
                            Some(span.clone()),
                            format!(
                                "[notify.{name}] `to` has `{t}`, which is not an email address"
                            ),
                        );
                    }
                }
                if n.username.is_some() != n.password_file.is_some() {
                    self.problem(Some(span.clone()), format!("[notify.{name}] `username` and `password-file` go together; set both or neither"));
                }
                if tls == TlsMode::None
                    && n.username.is_some()
                    && host.as_deref().is_some_and(|h| !is_loopback(h))
                {
                    self.problem(Some(span.clone()), format!("[notify.{name}] would send the SMTP password unencrypted to {}; use tls = \"starttls\" or \"tls\"", host.as_deref().unwrap_or("")));
                }
                notify::Kind::Email(EmailOptions {
                    port: n.smtp_port.unwrap_or(tls.default_port()),
                    host: host.unwrap_or_default(),
                    tls,
                    from: from.unwrap_or_default(),
                    to,
                    username: n.username.clone(),
                    password_file: n.password_file.as_ref().map(|p| self.file_path(p)),
                    ca_file: n.ca_file.as_ref().map(|p| self.file_path(p)),
                })
            }
            "pushgateway" => {
                let Some(u) = &n.url else {
                    need_url(self);
                    return None;
                };
                let url = match reqwest::Url::parse(u.get_ref()) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => url,
                    _ => {
                        self.problem(Some(u.span()), format!("[notify.{name}] `url` is not an http(s) URL, e.g. url = \"http://pushgateway:9091\""));
                        return None;
                    }
                };
                let instance = n
                    .instance
                    .as_ref()
                    .map_or_else(|| self.env.host.clone(), |i| i.get_ref().clone());
                if instance.is_empty() || instance.contains('/') {
                    self.problem(
                        n.instance.as_ref().map(Spanned::span),
                        format!("[notify.{name}] `instance` must be non-empty and without `/`"),
                    );
                }
                notify::Kind::Pushgateway { url, instance }
            }
            other => {
                let Some(url) = url else {
                    if n.url.is_none() && n.url_file.is_none() {
                        need_url(self);
                    }
                    return None;
                };
                match other {
                    "healthchecks" => notify::Kind::Healthchecks { url },
                    "ntfy" => notify::Kind::Ntfy {
                        url,
                        token_file: n.token_file.as_ref().map(|p| self.file_path(p)),
                    },
                    _ => notify::Kind::UptimeKuma { url },
                }
            }
        };
        Some(Notifier {
            name: name.to_owned(),
            kind,
            states,
            timeout,
        })
    }

    fn restore_options(
        &mut self,
        name: &str,
        j: &RawJob,
        d: &RawDefaults,
        filter: SnapshotFilter,
    ) -> RestoreOptions {
        let mut size = |key: &str, v: Option<&Spanned<String>>| -> Option<u64> {
            let v = v?;
            parse_size(v.get_ref())
                .map_err(|m| self.problem(Some(v.span()), format!("`{key}`: {m}")))
                .ok()
        };
        let max_bytes = size("max-bytes", j.max_bytes.as_ref().or(d.max_bytes.as_ref()));
        let min_size = size("min-size", j.min_size.as_ref().or(d.min_size.as_ref()));
        let max_size = size("max-size", j.max_size.as_ref().or(d.max_size.as_ref()));
        let count = j.sample.or(d.sample).unwrap_or(DEFAULT_SAMPLE);
        if count == 0 {
            self.problem(None, format!("[job.{name}] `sample` must be at least 1"));
        }
        let percent = j.sample_percent.or(d.sample_percent);
        if percent.is_some_and(|p| !(p > 0.0 && p <= 100.0)) {
            self.problem(
                None,
                format!("[job.{name}] `sample-percent` must be above 0 and at most 100"),
            );
        }
        let weighting = match j.sample_by.as_ref().or(d.sample_by.as_ref()) {
            None => Weighting::Count,
            Some(v) if v.get_ref() == "count" => Weighting::Count,
            Some(v) if v.get_ref() == "bytes" => Weighting::Bytes,
            Some(v) => {
                self.problem(
                    Some(v.span()),
                    format!(
                        "`sample-by = \"{}\"`: use \"count\" or \"bytes\"",
                        v.get_ref()
                    ),
                );
                Weighting::Count
            }
        };
        let mut globs = |key: &str, v: Option<&Vec<String>>| match compile_globs(
            v.map_or(&[][..], Vec::as_slice),
        ) {
            Ok(g) => g,
            Err(m) => {
                self.problem(None, format!("[job.{name}] `{key}`: {m}"));
                None
            }
        };
        let include = globs("include", j.include.as_ref().or(d.include.as_ref()));
        let exclude = globs("exclude", j.exclude.as_ref().or(d.exclude.as_ref()));
        let mut map = Vec::new();
        for m in j.map.as_ref().or(d.map.as_ref()).into_iter().flatten() {
            match crate::source::parse_map(m.get_ref()) {
                Ok(pair) => map.push(pair),
                Err(msg) => self.problem(Some(m.span()), format!("`map`: {msg}")),
            }
        }
        let test_dir = j
            .test_dir
            .as_ref()
            .or(d.test_dir.as_ref())
            .map_or_else(std::env::temp_dir, |p| self.file_path(p));
        let source = match j.source.as_ref().or(d.source.as_ref()) {
            None => SourceKind::Live,
            Some(v) if v.get_ref() == "live" => SourceKind::Live,
            Some(v) if v.get_ref() == "zfs" => {
                match j.zfs_dataset.clone().or(d.zfs_dataset.clone()) {
                    Some(dataset) => SourceKind::Zfs {
                        dataset,
                        snapshot: zfs_choice(
                            j.zfs_snapshot.clone().or(d.zfs_snapshot.clone()),
                            j.zfs_snapshot_tag.clone().or(d.zfs_snapshot_tag.clone()),
                        ),
                    },
                    None => {
                        self.problem(Some(v.span()), format!("[job.{name}] `source = \"zfs\"` needs `zfs-dataset`, e.g. zfs-dataset = \"tank/home\""));
                        SourceKind::Live
                    }
                }
            }
            Some(v) => {
                self.problem(
                    Some(v.span()),
                    format!("`source = \"{}\"`: use \"live\" or \"zfs\"", v.get_ref()),
                );
                SourceKind::Live
            }
        };
        RestoreOptions {
            source,
            snapshot: j.snapshot.clone().or(d.snapshot.clone()),
            filter,
            sample: SampleOptions {
                count,
                percent,
                max_bytes,
                weighting,
                always: j
                    .always
                    .clone()
                    .or(d.always.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            },
            filter_files: FileFilter {
                min_size,
                max_size,
                include,
                exclude,
            },
            seed: j.seed.or(d.seed),
            map,
            test_dir,
            keep: j.keep.or(d.keep).unwrap_or(false),
            verbose_results: j.verbose_results.or(d.verbose_results).unwrap_or(false),
        }
    }
}

/// How the ZFS snapshot is chosen: an explicit name beats a tag prefix beats auto.
pub fn zfs_choice(name: Option<String>, tag_prefix: Option<String>) -> ZfsSnapshot {
    match (name, tag_prefix) {
        (Some(n), _) => ZfsSnapshot::Named(n),
        (None, Some(p)) => ZfsSnapshot::Tag(p),
        (None, None) => ZfsSnapshot::Auto,
    }
}

/// Expands a leading `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=` directory,
/// which differs per unit and instance). Outside such a service it stays as written.
pub fn expand_credentials_dir(value: &str, dir: Option<std::ffi::OsString>) -> PathBuf {
    for prefix in ["$CREDENTIALS_DIRECTORY", "${CREDENTIALS_DIRECTORY}"] {
        if let (Some(rest), Some(dir)) = (value.strip_prefix(prefix), dir.as_ref()) {
            if rest.is_empty() || rest.starts_with('/') {
                return PathBuf::from(format!("{}{rest}", dir.to_string_lossy()));
            }
        }
    }
    PathBuf::from(value)
}

/// The textfile a job's metrics go to inside `metrics-dir`: one per job, so that
/// concurrent jobs never overwrite each other's series.
pub fn metrics_file_name(job: &str) -> String {
    format!("restic-verify-{job}.prom")
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_env() -> Env {
        Env {
            credentials_directory: None,
            host: "testhost".into(),
            now: chrono::Local::now(),
        }
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text, Path::new("/etc/rv.toml"), &test_env()) {
            Ok(_) => Vec::new(),
            Err(Error::Invalid { problems, .. }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    const MINIMAL: &str = r#"
[defaults]
password-file = "/run/pw"

[repository.nas]
url = "/mnt/nas/restic/{name}"

[job.weekly]
kind = "check"
repositories = ["nas"]
"#;

    #[test]
    fn parse_minimal_profile_expands_name_and_applies_defaults() {
        let p = parse(MINIMAL, Path::new("/etc/rv.toml"), &test_env()).expect("valid");
        let repo = &p.repositories["nas"];
        assert_eq!(repo.url.expose(), "/mnt/nas/restic/nas");
        assert_eq!(repo.password, PasswordSource::File("/run/pw".into()));
        assert_eq!(repo.lock_wait, DEFAULT_LOCK_WAIT);
        let job = p.job("weekly").expect("job");
        assert_eq!(job.timeout, DEFAULT_TIMEOUT);
        let JobKind::Check(opts) = &job.kind else {
            panic!("check job")
        };
        assert_eq!(opts.read_data, ReadData::None);
        assert_eq!(opts.min_snapshots, 1);
    }

    #[test]
    fn parse_unknown_key_reports_line_column_and_nearest_key() {
        let text = MINIMAL.replace("url =", "ulr =");
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("/etc/rv.toml:6:1: unknown key `ulr`; did you mean `url`?"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn parse_reports_every_problem_not_just_the_first() {
        let text = r#"
[repository.nas]
url = "/x"
password-file = "/pw"

[job.a]
kind = "check"
repositories = ["nsa"]
max-age = "two days"
read-data-subset = "6/5"

[job.b]
kind = "verify"
repositories = ["nas"]
"#;
        let p = problems(text);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p[0].contains(":8:16:") && p[0].contains("did you mean `nas`?"),
            "{}",
            p[0]
        );
        assert!(p
            .iter()
            .any(|m| m.contains(":9:11:") && m.contains("`max-age`")));
        assert!(p
            .iter()
            .any(|m| m.contains(":10:20:") && m.contains("n must be from 1 to 5")));
        assert!(p
            .iter()
            .any(|m| m.contains(":13:8:") && m.contains("not a job kind")));
    }

    #[test]
    fn parse_rotation_without_state_dir_is_rejected() {
        let text = MINIMAL.replace(
            "repositories = [\"nas\"]",
            "repositories = [\"nas\"]\nread-data-subset = \"rotate/4\"",
        );
        let p = problems(&text);
        assert!(p.iter().any(|m| m.contains("needs `state-dir`")), "{p:?}");
    }

    #[test]
    fn parse_job_keys_override_defaults_and_relative_paths_follow_the_profile() {
        let text = MINIMAL
            .replace("[defaults]", "[defaults]\nmax-age = \"7d\"\nresults = \"log/results.jsonl\"\nmetrics-dir = \"/prom\"")
            .replace("repositories = [\"nas\"]", "repositories = [\"nas\"]\nmax-age = \"48h\"");
        let p = parse(&text, Path::new("/etc/rv/config.toml"), &test_env()).expect("valid");
        let job = p.job("weekly").expect("job");
        let JobKind::Check(opts) = &job.kind else {
            panic!("check job")
        };
        assert_eq!(opts.max_age, Some(Duration::from_secs(48 * 3600)));
        assert_eq!(
            job.outputs.results,
            Some(PathBuf::from("/etc/rv/log/results.jsonl"))
        );
        assert_eq!(
            job.outputs.metrics,
            Some(PathBuf::from("/prom/restic-verify-weekly.prom"))
        );
    }

    #[test]
    fn parse_repository_without_password_names_the_fix() {
        let text = MINIMAL.replace("password-file = \"/run/pw\"", "");
        let p = problems(&text);
        assert!(p[0].contains("[repository.nas] has no password"), "{p:?}");
    }

    #[test]
    fn password_command_debug_is_redacted() {
        let text = MINIMAL.replace(
            "password-file = \"/run/pw\"",
            "password-command = \"pass show restic-s3cr3t\"",
        );
        let p = parse(&text, Path::new("/x.toml"), &test_env()).expect("valid");
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
    }

    #[test]
    fn credentials_directory_expands_only_when_systemd_set_it() {
        let dir = Some(std::ffi::OsString::from("/run/credentials/x@y.service"));
        assert_eq!(
            expand_credentials_dir("$CREDENTIALS_DIRECTORY/restic-password", dir.clone()),
            PathBuf::from("/run/credentials/x@y.service/restic-password")
        );
        assert_eq!(
            expand_credentials_dir("${CREDENTIALS_DIRECTORY}/pw", dir),
            PathBuf::from("/run/credentials/x@y.service/pw")
        );
        assert_eq!(
            expand_credentials_dir("$CREDENTIALS_DIRECTORY/pw", None),
            PathBuf::from("$CREDENTIALS_DIRECTORY/pw")
        );
    }
}
