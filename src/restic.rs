//! THE ONLY place that spawns restic: argument building, environment, timeouts,
//! cancellation, exit-code mapping and failure classification.
//!
//! Repository and password reach restic through its environment (never argv); stdin
//! is /dev/null so restic can never block on a password prompt; stdout is always
//! drained to the end (a closed pipe kills restic with SIGPIPE and leaves a lock).
//! To stop restic (timeout, SIGINT/SIGTERM to us) it gets SIGINT, then SIGKILL after a
//! grace period, so it can remove its lock. Every call uses a throw-away cache: a
//! warm cache hides damaged index and snapshot files. Argument builders are pure
//! functions with unit tests; classification of a failure is a pure function too.

pub mod json;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Credentials, ReadData, SnapshotFilter};
use crate::finding::Category;

/// The oldest restic this tool supports (Debian bookworm's).
pub const MIN_VERSION: Version = Version::new(0, 14, 0);
/// How long restic gets to clean up after SIGINT before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// How much of restic's stderr is kept (the start and the rest is counted).
const STDERR_KEEP: usize = 256 * 1024;
/// How much of stderr an error message quotes.
const STDERR_TAIL: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("restic not found at `{}`: {source}; install it (Debian: `apt-get install restic`) or point `--restic`/`restic =` at the binary", program.display())]
    NotInstalled {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("restic {version} at `{}` is older than the oldest supported version {MIN_VERSION}; upgrade restic", program.display())]
    TooOld { program: PathBuf, version: Version },
    #[error("`{} version` printed something that is not a restic version: {output:?}", program.display())]
    UnknownVersion { program: PathBuf, output: String },
    #[error("{command} failed for repository `{repository}`: {message} ({exit}){hint}")]
    Failed {
        command: String,
        repository: String,
        exit: ResticExit,
        category: Category,
        message: String,
        hint: String,
        /// The end of restic's stderr, secrets removed.
        stderr_tail: String,
    },
    #[error("{command} for repository `{repository}` did not finish within {}; restic was stopped", humantime::format_duration(*after))]
    TimedOut {
        command: String,
        repository: String,
        after: Duration,
    },
    #[error(
        "{command} for repository `{repository}` was interrupted by a signal; restic was stopped"
    )]
    Interrupted { command: String, repository: String },
    #[error("{command} for repository `{repository}` printed output that could not be understood: {detail}")]
    Output {
        command: String,
        repository: String,
        detail: String,
    },
    #[error("could not run {command}: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Error::NotInstalled { .. } | Error::TooOld { .. } | Error::UnknownVersion { .. } => {
                Category::ResticMissing
            }
            Error::Failed { category, .. } => *category,
            Error::TimedOut { .. } => Category::Timeout,
            Error::Interrupted { .. } => Category::Interrupted,
            Error::Output { .. } | Error::Io { .. } => Category::Internal,
        }
    }
}

// ---------------------------------------------------------------- versions

/// A restic release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `restic 0.14.0 compiled with go1.19.8 on linux/amd64` (and `0.17.3-dev`).
    pub fn parse_version_output(out: &str) -> Option<Version> {
        let rest = out.trim().strip_prefix("restic ")?;
        let word = rest.split_whitespace().next()?;
        let core = word.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        Some(Version::new(major, minor, patch))
    }

    /// restic 0.16 added `--retry-lock`.
    pub fn has_retry_lock(self) -> bool {
        self >= Version::new(0, 16, 0)
    }

    /// restic 0.17 restores a subtree: `restic restore <id>:<subfolder>` (0.14 says
    /// `invalid id "<id>:<subfolder>"`).
    pub fn has_subfolder_restore(self) -> bool {
        self >= Version::new(0, 17, 0)
    }

    /// restic 0.18 prints `check --json` summaries and `exit_error` messages.
    pub fn has_check_json(self) -> bool {
        self >= Version::new(0, 18, 0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

// ---------------------------------------------------------------- exit codes

/// restic's exit status, as its scripting documentation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResticExit {
    Success,
    /// 1: fatal error (0.14 uses it for nearly everything).
    Fatal,
    /// 2: Go runtime error; also `dump` with a missing path.
    Runtime,
    /// 3: backup could not read some source data.
    PartialRead,
    /// 10 (≥ 0.17): repository does not exist.
    RepositoryMissing,
    /// 11 (≥ 0.17): failed to lock the repository.
    LockFailed,
    /// 12 (≥ 0.17.1): wrong password.
    WrongPassword,
    /// 130: interrupted (SIGINT).
    Interrupted,
    /// Killed by a signal (SIGTERM, SIGKILL, SIGPIPE).
    Signal(i32),
    /// Anything else; restic's docs say it MUST be treated as a failure.
    Other(i32),
}

impl ResticExit {
    pub fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match status.code() {
            Some(0) => ResticExit::Success,
            Some(1) => ResticExit::Fatal,
            Some(2) => ResticExit::Runtime,
            Some(3) => ResticExit::PartialRead,
            Some(10) => ResticExit::RepositoryMissing,
            Some(11) => ResticExit::LockFailed,
            Some(12) => ResticExit::WrongPassword,
            Some(130) => ResticExit::Interrupted,
            Some(c) => ResticExit::Other(c),
            None => ResticExit::Signal(status.signal().unwrap_or(0)),
        }
    }
}

impl fmt::Display for ResticExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResticExit::Success => f.write_str("exit 0"),
            ResticExit::Fatal => f.write_str("exit 1"),
            ResticExit::Runtime => f.write_str("exit 2"),
            ResticExit::PartialRead => f.write_str("exit 3"),
            ResticExit::RepositoryMissing => f.write_str("exit 10"),
            ResticExit::LockFailed => f.write_str("exit 11"),
            ResticExit::WrongPassword => f.write_str("exit 12"),
            ResticExit::Interrupted => f.write_str("exit 130"),
            ResticExit::Signal(s) => write!(f, "killed by signal {s}"),
            ResticExit::Other(c) => write!(f, "exit {c}"),
        }
    }
}

// ---------------------------------------------------------------- classification

/// What `restic snapshots` prints on stderr for a snapshot file it cannot load
/// before leaving it out of its output and exiting 0: 0.14 says `could not load
/// snapshot <id>: …`, 0.18 says `Ignoring "<id>": failed to load snapshot <id>: …`.
const SNAPSHOT_LOAD_MARKERS: [&str; 3] = [
    "could not load snapshot",
    "unable to load snapshot",
    "failed to load snapshot",
];

/// Text restic prints when it found damage while loading what it needs.
const CORRUPTION_MARKERS: [&str; 10] = [
    "failed to load snapshot",
    "repository contains errors",
    "LoadIndex returned errors",
    "error loading index",
    "ciphertext verification failed",
    "Pack ID does not match",
    "could not load snapshot",
    "unexpected end of JSON input",
    "invalid data returned",
    "load <snapshot/",
];

const NETWORK_MARKERS: [&str; 10] = [
    "connection refused",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "connection reset",
    "TLS handshake timeout",
    "no route to host",
    "dial tcp",
    "server misbehaving",
    "context deadline exceeded",
];

/// Decides why a restic call failed, from its exit code and stderr.
///
/// restic ≥ 0.17 says it with exit codes 10/11/12; 0.14 says everything with exit 1,
/// so its stderr texts are matched too. Unknown failures are `Internal`, never success.
pub fn classify(exit: ResticExit, stderr: &str) -> Category {
    let has = |m: &str| stderr.contains(m);
    match exit {
        ResticExit::WrongPassword => return Category::Auth,
        ResticExit::LockFailed => return Category::Locked,
        ResticExit::RepositoryMissing => return Category::NotFound,
        ResticExit::Interrupted => return Category::Interrupted,
        _ => {}
    }
    if has("wrong password or no key found")
        || has("an empty password is not a password")
        || has("Resolving password failed")
        || has("password command failed")
    {
        Category::Auth
    } else if has("repository is already locked") || has("unable to create lock") {
        Category::Locked
    } else if has("no space left on device") {
        Category::NoSpace
    } else if NETWORK_MARKERS.iter().any(|m| has(m)) {
        Category::Network
    } else if has("Is there a repository at the following location?")
        || has("repository does not exist")
        || (has("unable to open config file") && has("no such file or directory"))
    {
        Category::NotFound
    } else if has("parsing repository location failed") || has("invalid backend") {
        Category::Config
    } else if CORRUPTION_MARKERS.iter().any(|m| has(m)) {
        Category::Corruption
    } else {
        Category::Internal
    }
}

/// The line of stderr that says best what went wrong.
pub fn key_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // restic ≥ 0.18 with --json: {"message_type":"exit_error","message":"..."}
    for l in lines.iter().rev() {
        if let Ok(json::Message::ExitError { message, .. }) = serde_json::from_str(l) {
            return one_line(&message);
        }
    }
    let pick = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Fatal:"))
        .or_else(|| lines.iter().find(|l| l.contains("already locked")))
        .or_else(|| lines.iter().rev().find(|l| !l.starts_with('{')))
        .copied()
        .unwrap_or("restic printed nothing on stderr");
    pick.to_owned()
}

/// Joins a multi-line restic message into one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The last stderr line that names a network failure, if any.
fn network_line(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .rev()
        .find(|l| NETWORK_MARKERS.iter().any(|m| l.contains(m)))
        .map(|l| l.trim().to_owned())
}

/// Who holds a lock, as restic describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub age: Option<Duration>,
}

impl LockHolder {
    /// Parses `… already locked [exclusively ]by PID 1234 on HOST by USER …` and
    /// `lock was created at … (1h2m3s ago)`.
    pub fn parse(stderr: &str) -> Option<LockHolder> {
        let after = stderr.split("by PID ").nth(1)?;
        let mut words = after.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        if words.next()? != "on" {
            return None;
        }
        let host = words.next()?.to_owned();
        let age = stderr
            .split("lock was created at ")
            .nth(1)
            .and_then(|s| s.split('(').nth(1))
            .and_then(|s| s.split(" ago)").next())
            .and_then(parse_go_duration);
        Some(LockHolder { pid, host, age })
    }

    /// restic's own rule: a lock is stale when it is older than 30 minutes, or when it
    /// was made on this host by a process that no longer exists.
    pub fn is_stale(&self, this_host: &str, pid_alive: impl Fn(u32) -> bool) -> bool {
        self.age.is_some_and(|a| a > Duration::from_secs(30 * 60))
            || (self.host == this_host && !pid_alive(self.pid))
    }
}

/// Parses Go's `time.Duration` text (`1h2m3.5s`, `350ms`, `2.1µs`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' {
                break;
            }
            unit.push(n);
            chars.next();
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += v * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then(|| Duration::from_secs_f64(total))
}

// ---------------------------------------------------------------- argument builders

/// Arguments of `restic snapshots --json` with filters.
pub fn snapshots_args(filter: &SnapshotFilter) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["snapshots".into(), "--json".into()];
    push_filter(&mut a, filter);
    a
}

fn push_filter(a: &mut Vec<OsString>, filter: &SnapshotFilter) {
    for h in &filter.host {
        a.push("--host".into());
        a.push(h.into());
    }
    for t in &filter.tag {
        a.push("--tag".into());
        a.push(t.into());
    }
    for p in &filter.path {
        a.push("--path".into());
        a.push(p.into());
    }
}

/// What `restic check` is asked to read; `Rotate` is resolved to a group before this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRead {
    Structure,
    All,
    Subset(String),
}

impl CheckRead {
    /// The subset as the JSONL record reports it.
    pub fn describe(&self) -> Option<String> {
        match self {
            CheckRead::Structure => None,
            CheckRead::All => Some("all".to_owned()),
            CheckRead::Subset(s) => Some(s.clone()),
        }
    }

    pub fn from_read_data(r: &ReadData, rotation_group: Option<(u16, u16)>) -> CheckRead {
        match (r, rotation_group) {
            (ReadData::None, _) => CheckRead::Structure,
            (ReadData::Full, _) => CheckRead::All,
            (ReadData::Subset(s), _) => CheckRead::Subset(s.clone()),
            (ReadData::Rotate(_), Some((k, t))) => CheckRead::Subset(format!("{k}/{t}")),
            (ReadData::Rotate(t), None) => CheckRead::Subset(format!("1/{t}")),
        }
    }
}

/// Arguments of `restic check`.
pub fn check_args(read: &CheckRead, version: Version) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["check".into()];
    match read {
        CheckRead::Structure => {}
        CheckRead::All => a.push("--read-data".into()),
        CheckRead::Subset(s) => a.push(format!("--read-data-subset={s}").into()),
    }
    if version.has_check_json() {
        a.push("--json".into());
    }
    a
}

/// Global options every repository call gets.
pub fn global_args(
    version: Version,
    cache_dir: &Path,
    lock_wait: Duration,
    takes_lock: bool,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["--cache-dir".into(), cache_dir.into(), "--no-lock".into()];
    if takes_lock {
        a.pop();
        if version.has_retry_lock() && !lock_wait.is_zero() {
            a.push(format!("--retry-lock={}s", lock_wait.as_secs().max(1)).into());
        }
    }
    a
}

/// Shows a command for logs and messages: program name and arguments, no environment.
pub fn display_command(args: &[OsString]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| !a.starts_with("--cache-dir") && !a.starts_with('/'))
        .collect();
    format!("restic {}", shown.join(" "))
}

// ---------------------------------------------------------------- the driver

/// A detected restic binary.
#[derive(Debug, Clone)]
pub struct Restic {
    pub program: PathBuf,
    pub version: Version,
}

/// What a finished restic call left behind.
#[derive(Debug)]
pub struct Finished {
    pub exit: ResticExit,
    pub stderr: String,
}

impl Restic {
    /// Runs `restic version` and checks the version is supported.
    ///
    /// # Errors
    /// `NotInstalled`, `TooOld`, `UnknownVersion`, or a timeout.
    pub async fn detect(program: &Path) -> Result<Restic, Error> {
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new(program)
                .arg("version")
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| Error::TimedOut {
            command: "restic version".to_owned(),
            repository: "-".to_owned(),
            after: Duration::from_secs(30),
        })?
        .map_err(|source| Error::NotInstalled {
            program: program.to_owned(),
            source,
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version =
            Version::parse_version_output(&text).ok_or_else(|| Error::UnknownVersion {
                program: program.to_owned(),
                output: text.trim().chars().take(200).collect(),
            })?;
        if version < MIN_VERSION {
            return Err(Error::TooOld {
                program: program.to_owned(),
                version,
            });
        }
        Ok(Restic {
            program: program.to_owned(),
            version,
        })
    }
}

/// How long the clean-up of a lock left by an interrupted restic may take.
const LOCK_CLEANUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything one job run on one repository needs to call restic.
pub struct Session<'a> {
    pub restic: &'a Restic,
    pub repository: &'a str,
    pub credentials: &'a Credentials,
    /// The throw-away cache of this run.
    pub cache_dir: &'a Path,
    pub deadline: Instant,
    pub timeout: Duration,
    pub cancel: CancellationToken,
    pub lock_wait: Duration,
    pub unlock_stale: bool,
    pub retries: u32,
    pub grace: Duration,
}

/// Output of `restic snapshots`.
#[derive(Debug)]
pub struct SnapshotsOutput {
    pub snapshots: Vec<json::Snapshot>,
    /// Snapshot files restic could not load (`could not load snapshot …` on stderr).
    pub unreadable: Vec<String>,
}

/// Output of `restic restore`: the files restic reported an error for.
#[derive(Debug, Default)]
pub struct RestoreOutput {
    /// (tree path, reason) as restic printed them.
    pub errors: Vec<(String, String)>,
}

/// Escapes a tree path for restic's `--include`: `\ * ? [ ]` get a backslash
/// (unescaped, `a[b].txt` silently restores `ab.txt`).
pub fn escape_include(path: &str) -> String {
    let mut s = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Whether `--include` can name this path at all: restic splits patterns on
/// newlines nowhere, but its matcher cannot match a newline, so such names go
/// through `restic dump`.
pub fn includable(path: &str) -> bool {
    !path.contains(['\n', '\r', '\u{FFFD}'])
}

/// Arguments of `restic restore`.
pub fn restore_args(snapshot_id: &str, target: &Path, includes: &[String]) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "restore".into(),
        snapshot_id.into(),
        "--target".into(),
        target.into(),
        "--verify".into(),
    ];
    for i in includes {
        a.push("--include".into());
        a.push(escape_include(i).into());
    }
    a
}

/// Output of `restic check`, whether it found damage or not.
#[derive(Debug)]
pub struct CheckOutput {
    pub exit: ResticExit,
    /// Error lines as restic printed them.
    pub errors: Vec<String>,
    /// restic ≥ 0.18 summary.
    pub summary: Option<json::CheckSummary>,
}

impl CheckOutput {
    pub fn found_damage(&self) -> bool {
        self.exit != ResticExit::Success
            || !self.errors.is_empty()
            || self.summary.as_ref().is_some_and(|s| s.num_errors > 0)
    }
}

impl Session<'_> {
    /// `restic snapshots --json`, with unreadable snapshot files reported, not hidden.
    ///
    /// # Errors
    /// Any failure to list snapshots, classified.
    pub async fn snapshots(&self, filter: &SnapshotFilter) -> Result<SnapshotsOutput, Error> {
        self.list_snapshots(snapshots_args(filter)).await
    }

    async fn list_snapshots(&self, args: Vec<OsString>) -> Result<SnapshotsOutput, Error> {
        let (out, fin) = self.call(&args, false, |_| ()).await?;
        if fin.exit != ResticExit::Success {
            return Err(self.failed(&args, &fin));
        }
        let snapshots: Vec<json::Snapshot> = if out.iter().all(u8::is_ascii_whitespace) {
            Vec::new()
        } else {
            serde_json::from_slice(&out).map_err(|e| Error::Output {
                command: display_command(&args),
                repository: self.repository.to_owned(),
                detail: e.to_string(),
            })?
        };
        let unreadable = fin
            .stderr
            .lines()
            .filter(|l| SNAPSHOT_LOAD_MARKERS.iter().any(|m| l.contains(m)))
            .map(|l| self.redact(l.trim()))
            .collect();
        Ok(SnapshotsOutput {
            snapshots,
            unreadable,
        })
    }

    /// `restic snapshots --json <id>`: one snapshot by ID (or prefix).
    ///
    /// # Errors
    /// Any failure to list snapshots, classified.
    pub async fn snapshots_by_id(&self, id: &str) -> Result<SnapshotsOutput, Error> {
        let mut args: Vec<OsString> = vec!["snapshots".into(), "--json".into()];
        args.push(id.into());
        self.list_snapshots(args).await
    }

    /// `restic check`. Damage is `Ok` with `found_damage()`; `Err` only when restic
    /// could not check (lock, password, network, …).
    ///
    /// # Errors
    /// Any failure that is not a report of damage.
    pub async fn check(&self, read: &CheckRead) -> Result<CheckOutput, Error> {
        let args = check_args(read, self.restic.version);
        let (out, fin) = self.call(&args, true, |_| ()).await?;
        let stdout = String::from_utf8_lossy(&out);
        let mut summary = None;
        let mut errors = Vec::new();
        for line in stdout.lines().chain(fin.stderr.lines()) {
            let line = line.trim();
            if line.starts_with('{') {
                match serde_json::from_str::<json::Message>(line) {
                    Ok(json::Message::Summary(s)) => summary = Some(s),
                    Ok(json::Message::Error { message: Some(m) }) => {
                        errors.push(self.redact(m.trim()))
                    }
                    _ => {}
                }
            } else if is_check_error_line(line) {
                errors.push(self.redact(line));
            }
        }
        let damage = fin.exit == ResticExit::Fatal
            && (classify(fin.exit, &fin.stderr) == Category::Corruption
                || summary.as_ref().is_some_and(|s| s.num_errors > 0));
        if fin.exit == ResticExit::Success || damage {
            if damage && errors.is_empty() {
                errors.push(self.redact(&key_message(&fin.stderr)));
            }
            return Ok(CheckOutput {
                exit: fin.exit,
                errors,
                summary,
            });
        }
        Err(self.failed(&args, &fin))
    }

    /// `restic ls --json <id>`, streamed: `on_node` sees every node as it arrives and
    /// nothing is kept, so memory does not grow with the snapshot.
    ///
    /// # Errors
    /// restic failed, or printed a line that is not a node.
    pub async fn ls(
        &self,
        snapshot_id: &str,
        on_node: &mut (dyn FnMut(json::Node) + Send),
    ) -> Result<u64, Error> {
        self.ls_with(snapshot_id, None, on_node)
            .await
            .map(|(nodes, _)| nodes)
    }

    /// `restic ls --json latest` with the filters: streams the newest matching
    /// snapshot as restic picks it, and returns the node count and the ID of the
    /// snapshot restic listed (the caller checks it against its own pin, because
    /// restic silently skips snapshot files it cannot load).
    ///
    /// # Errors
    /// As `ls`.
    pub async fn ls_latest(
        &self,
        filter: &SnapshotFilter,
        on_node: &mut (dyn FnMut(json::Node) + Send),
    ) -> Result<(u64, Option<String>), Error> {
        self.ls_with("latest", Some(filter), on_node).await
    }

    async fn ls_with(
        &self,
        target: &str,
        filter: Option<&SnapshotFilter>,
        on_node: &mut (dyn FnMut(json::Node) + Send),
    ) -> Result<(u64, Option<String>), Error> {
        let mut args: Vec<OsString> = vec!["ls".into(), "--json".into()];
        if let Some(f) = filter {
            push_filter(&mut args, f);
        }
        args.push(target.into());
        let mut listed: Option<String> = None;
        let mut nodes = 0u64;
        let mut bad: Option<String> = None;
        let fin = self
            .spawn(
                &args,
                false,
                &mut |line: &[u8]| {
                    if bad.is_some() || line.iter().all(u8::is_ascii_whitespace) {
                        return;
                    }
                    match serde_json::from_slice::<json::Node>(line) {
                        Ok(n) if n.struct_type.as_deref() == Some("snapshot") => {
                            listed = serde_json::from_slice::<json::SnapshotId>(line)
                                .ok()
                                .map(|s| s.id);
                        }
                        Ok(n) => {
                            nodes += 1;
                            on_node(n);
                        }
                        Err(e) => {
                            bad = Some(format!(
                                "{e}: {}",
                                String::from_utf8_lossy(&line[..line.len().min(200)])
                            ))
                        }
                    }
                },
                None,
            )
            .await?;
        if fin.exit != ResticExit::Success {
            return Err(self.failed(&args, &fin));
        }
        if let Some(detail) = bad {
            return Err(Error::Output {
                command: display_command(&args),
                repository: self.repository.to_owned(),
                detail,
            });
        }
        Ok((nodes, listed))
    }

    /// `restic restore <id> --target DIR --include …  --verify`. Per-file errors are
    /// `Ok` (`ignoring error for <path>: <reason>`); anything else is `Err`.
    ///
    /// # Errors
    /// restic could not restore at all (lock, password, damaged index, …).
    pub async fn restore(
        &self,
        snapshot_id: &str,
        target: &Path,
        includes: &[String],
    ) -> Result<RestoreOutput, Error> {
        let args = restore_args(snapshot_id, target, includes);
        let (_, fin) = self.call(&args, true, |_| ()).await?;
        let errors: Vec<(String, String)> = fin
            .stderr
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ignoring error for "))
            .filter_map(|rest| rest.split_once(": "))
            .map(|(p, why)| (p.to_owned(), self.redact(why)))
            .collect();
        if fin.exit == ResticExit::Success
            || (fin.exit == ResticExit::Fatal
                && !errors.is_empty()
                && fin.stderr.contains("There were"))
        {
            return Ok(RestoreOutput { errors });
        }
        Err(self.failed(&args, &fin))
    }

    /// `restic dump <id> <path>` into `out`: for names `--include` cannot express.
    ///
    /// # Errors
    /// restic failed (exit 2 when the path is missing or unreadable).
    pub async fn dump(
        &self,
        snapshot_id: &str,
        path: &str,
        out: std::fs::File,
    ) -> Result<(), Error> {
        let args: Vec<OsString> = vec!["dump".into(), snapshot_id.into(), path.into()];
        let fin = self.spawn(&args, true, &mut |_| (), Some(out)).await?;
        if fin.exit == ResticExit::Success {
            Ok(())
        } else {
            Err(self.failed(&args, &fin))
        }
    }

    fn redact(&self, s: &str) -> String {
        self.credentials.redactor.redact(s)
    }

    fn failed(&self, args: &[OsString], fin: &Finished) -> Error {
        let category = classify(fin.exit, &fin.stderr);
        let message = self.redact(&key_message(&fin.stderr));
        let hint = match category {
            Category::Auth => {
                "; check the repository's `password-file`/`password-command`".to_owned()
            }
            Category::NotFound => {
                "; check the repository's `url` (is the disk mounted?)".to_owned()
            }
            Category::Locked => self.lock_hint(&fin.stderr),
            Category::Network => "; is the backend reachable from this host?".to_owned(),
            Category::NoSpace => {
                "; free space on the disk holding restic's cache (TMPDIR)".to_owned()
            }
            Category::Config => {
                "; check the repository's `url` (a local directory may need a `local:` prefix)"
                    .to_owned()
            }
            _ => String::new(),
        };
        Error::Failed {
            command: display_command(args),
            repository: self.repository.to_owned(),
            exit: fin.exit,
            category,
            message,
            hint,
            stderr_tail: self.redact(tail(&fin.stderr)),
        }
    }

    fn lock_hint(&self, stderr: &str) -> String {
        match LockHolder::parse(stderr) {
            Some(h) if h.is_stale(&this_host(), pid_alive) => format!(
                "; the lock is stale (PID {} on {} is gone or the lock is older than 30 minutes): run `restic unlock` on the repository, or set `unlock-stale = true`",
                h.pid, h.host
            ),
            Some(h) => format!(
                "; held by PID {} on {}; waited {}, raise `lock-wait` to wait longer",
                h.pid,
                h.host,
                humantime::format_duration(self.lock_wait)
            ),
            None => format!("; waited {}", humantime::format_duration(self.lock_wait)),
        }
    }

    /// Runs one restic call with lock and network retries; returns stdout and the end state.
    async fn call(
        &self,
        args: &[OsString],
        takes_lock: bool,
        mut on_line: impl FnMut(&[u8]) + Send,
    ) -> Result<(Vec<u8>, Finished), Error> {
        let started = Instant::now();
        let mut network_attempts = 0;
        let mut lock_attempts = 0u32;
        let mut unlocked = false;
        loop {
            let mut full = Vec::new();
            let fin = self
                .spawn(
                    args,
                    takes_lock,
                    &mut |l: &[u8]| {
                        on_line(l);
                        full.extend_from_slice(l);
                    },
                    None,
                )
                .await?;
            if fin.exit == ResticExit::Success {
                return Ok((full, fin));
            }
            match classify(fin.exit, &fin.stderr) {
                Category::Locked => {
                    let holder = LockHolder::parse(&fin.stderr);
                    let stale = holder
                        .as_ref()
                        .is_some_and(|h| h.is_stale(&this_host(), pid_alive));
                    if stale && self.unlock_stale && !unlocked {
                        tracing::warn!(
                            repository = self.repository,
                            "removing a stale lock (`unlock-stale = true`)"
                        );
                        self.unlock().await?;
                        unlocked = true;
                        continue;
                    }
                    // restic ≥ 0.16 waited itself (--retry-lock); 0.14 needs us to retry.
                    let waited = started.elapsed();
                    if stale || self.restic.version.has_retry_lock() || waited >= self.lock_wait {
                        return Ok((full, fin));
                    }
                    let pause = Duration::from_secs(1u64 << lock_attempts.min(5))
                        .min(self.lock_wait.saturating_sub(waited));
                    lock_attempts += 1;
                    tracing::info!(
                        repository = self.repository,
                        "repository is locked; retrying in {}",
                        humantime::format_duration(pause)
                    );
                    self.pause(args, pause).await?;
                }
                Category::Network if network_attempts < self.retries => {
                    network_attempts += 1;
                    let pause = Duration::from_secs(5 << network_attempts);
                    tracing::warn!(
                        repository = self.repository,
                        "network error; retry {network_attempts} of {} in {}",
                        self.retries,
                        humantime::format_duration(pause)
                    );
                    self.pause(args, pause).await?;
                }
                _ => return Ok((full, fin)),
            }
        }
    }

    /// restic writes its lock file, waits about 200 ms for competing locks, and only
    /// then registers the lock for removal on SIGINT: interrupted in that window it
    /// exits and leaves a lock of a dead process behind. When a lock of the
    /// interrupted process `pid` on this host exists, `restic unlock` (stale locks
    /// only) removes it. Runs with its own short deadline: the run is cancelled.
    async fn remove_lock_left_by(&self, pid: u32) {
        let cleanup = Session {
            restic: self.restic,
            repository: self.repository,
            credentials: self.credentials,
            cache_dir: self.cache_dir,
            deadline: Instant::now() + LOCK_CLEANUP_TIMEOUT,
            timeout: LOCK_CLEANUP_TIMEOUT,
            cancel: CancellationToken::new(),
            lock_wait: Duration::ZERO,
            unlock_stale: false,
            retries: 0,
            grace: self.grace,
        };
        let host = this_host();
        let mut ids = Vec::new();
        let list: Vec<OsString> = vec!["list".into(), "locks".into()];
        if cleanup
            .spawn(
                &list,
                false,
                &mut |l| ids.push(String::from_utf8_lossy(l).trim().to_owned()),
                None,
            )
            .await
            .is_err()
        {
            return;
        }
        for id in ids.iter().filter(|i| !i.is_empty()) {
            let mut text = Vec::new();
            let cat: Vec<OsString> = vec!["cat".into(), "lock".into(), id.into()];
            if cleanup
                .spawn(&cat, false, &mut |l| text.extend_from_slice(l), None)
                .await
                .is_err()
            {
                continue;
            }
            let Ok(lock) = serde_json::from_slice::<json::Lock>(&text) else {
                continue;
            };
            if lock.pid == pid && lock.hostname == host {
                tracing::info!(
                    repository = self.repository,
                    "restic was interrupted while taking its lock and left it behind; removing it with `restic unlock`"
                );
                if let Err(e) = cleanup.unlock().await {
                    tracing::warn!(repository = self.repository, "{e}");
                }
                return;
            }
        }
    }

    /// `restic unlock`: removes stale locks only.
    async fn unlock(&self) -> Result<(), Error> {
        let args: Vec<OsString> = vec!["unlock".into()];
        let fin = self.spawn(&args, false, &mut |_| (), None).await?;
        if fin.exit == ResticExit::Success {
            Ok(())
        } else {
            Err(self.failed(&args, &fin))
        }
    }

    async fn pause(&self, args: &[OsString], pause: Duration) -> Result<(), Error> {
        let command = display_command(args);
        tokio::select! {
            () = tokio::time::sleep(pause) => Ok(()),
            () = tokio::time::sleep_until(self.deadline) => Err(Error::TimedOut { command, repository: self.repository.to_owned(), after: self.timeout }),
            () = self.cancel.cancelled() => Err(Error::Interrupted { command, repository: self.repository.to_owned() }),
        }
    }

    /// Spawns restic once, feeds each stdout line to `on_line`, and stops it on
    /// timeout or cancellation (SIGINT, then SIGKILL after the grace period).
    async fn spawn(
        &self,
        args: &[OsString],
        takes_lock: bool,
        on_line: &mut (dyn FnMut(&[u8]) + Send),
        stdout_file: Option<std::fs::File>,
    ) -> Result<Finished, Error> {
        let mut full_args = global_args(
            self.restic.version,
            self.cache_dir,
            self.lock_wait,
            takes_lock,
        );
        full_args.extend(args.iter().cloned());
        let command = display_command(args);
        // Nothing new starts once the run is cancelled.
        if self.cancel.is_cancelled() {
            return Err(Error::Interrupted {
                command,
                repository: self.repository.to_owned(),
            });
        }
        tracing::debug!(
            repository = self.repository,
            "running {}",
            display_command(&full_args)
        );
        let mut cmd = tokio::process::Command::new(&self.restic.program);
        cmd.args(&full_args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let to_file = stdout_file.is_some();
        match stdout_file {
            Some(f) => cmd.stdout(Stdio::from(f)),
            None => cmd.stdout(Stdio::piped()),
        };
        // A sealed environment: restic's variables come from the profile only.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RESTIC_") {
                cmd.env_remove(key);
            }
        }
        for (k, v) in &self.credentials.env {
            cmd.env(k, v.expose());
        }
        let mut child = cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::NotInstalled {
                    program: self.restic.program.clone(),
                    source,
                }
            } else {
                Error::Io {
                    command: command.clone(),
                    source,
                }
            }
        })?;
        let io_err = |source| Error::Io {
            command: command.clone(),
            source,
        };
        let Some(stderr) = child.stderr.take() else {
            return Err(io_err(std::io::Error::other(
                "restic's stderr pipe was not set up",
            )));
        };
        let child_pid = child.id();
        let stderr_task = tokio::spawn(read_capped(stderr));
        let mut stdout = child.stdout.take().map(BufReader::new);
        if stdout.is_none() && !to_file {
            return Err(io_err(std::io::Error::other(
                "restic's stdout pipe was not set up",
            )));
        }
        let mut line = Vec::new();
        let mut stdout_open = stdout.is_some();
        let mut stop: Option<Stop> = None;
        let mut kill_at: Option<Instant> = None;
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let status = loop {
            tokio::select! {
                r = read_line(&mut stdout, &mut line), if stdout_open => {
                    match r {
                        Ok(0) => stdout_open = false,
                        Ok(_) => { on_line(&line); line.clear(); }
                        Err(e) => return Err(io_err(e)),
                    }
                }
                status = child.wait(), if !stdout_open => break status.map_err(io_err)?,
                () = tokio::time::sleep_until(self.deadline), if stop.is_none() => {
                    stop = Some(Stop::Timeout);
                    interrupt(&child);
                    kill_at = Some(Instant::now() + self.grace);
                }
                () = self.cancel.cancelled(), if stop.is_none() => {
                    stop = Some(Stop::Cancelled);
                    interrupt(&child);
                    kill_at = Some(Instant::now() + self.grace);
                }
                () = tokio::time::sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() => {
                    tracing::warn!(repository = self.repository, "{command} did not stop within {} of SIGINT; killing it", humantime::format_duration(self.grace));
                    let _ = child.start_kill();
                    kill_at = None;
                }
            }
        };
        if !line.is_empty() {
            on_line(&line);
        }
        let stderr = stderr_task.await.unwrap_or_default();
        let exit = ResticExit::from_status(status);
        if let (Some(Stop::Cancelled), true, Some(pid)) = (&stop, takes_lock, child_pid) {
            Box::pin(self.remove_lock_left_by(pid)).await;
        }
        tracing::debug!(repository = self.repository, "{command}: {exit}");
        match stop {
            // restic ≥ 0.16 retries an unreachable backend for up to 15 minutes; when the
            // deadline cut that short, the cause is the network, not a slow check.
            Some(Stop::Timeout) if network_line(&stderr).is_some() => Err(Error::Failed {
                command: command.clone(),
                repository: self.repository.to_owned(),
                exit,
                category: Category::Network,
                message: self.redact(&network_line(&stderr).unwrap_or_default()),
                hint: format!(
                    "; restic was still retrying when the timeout of {} ran out; is the backend reachable from this host?",
                    humantime::format_duration(self.timeout)
                ),
                stderr_tail: self.redact(tail(&stderr)),
            }),
            Some(Stop::Timeout) => Err(Error::TimedOut {
                command,
                repository: self.repository.to_owned(),
                after: self.timeout,
            }),
            Some(Stop::Cancelled) => Err(Error::Interrupted {
                command,
                repository: self.repository.to_owned(),
            }),
            None => Ok(Finished { exit, stderr }),
        }
    }
}

/// The last `STDERR_TAIL` bytes of stderr, cut at a character boundary.
fn tail(stderr: &str) -> &str {
    let start = stderr.len().saturating_sub(STDERR_TAIL);
    let start = (start..stderr.len())
        .find(|i| stderr.is_char_boundary(*i))
        .unwrap_or(stderr.len());
    &stderr[start..]
}

enum Stop {
    Timeout,
    Cancelled,
}

/// Reads one line from restic's stdout (cancel safe: partial data stays in `line`).
async fn read_line(
    stdout: &mut Option<BufReader<tokio::process::ChildStdout>>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match stdout {
        Some(s) => s.read_until(b'\n', line).await,
        None => Ok(0),
    }
}

/// Asks restic to stop the way that lets it remove its lock.
fn interrupt(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    }
}

async fn read_capped(mut r: tokio::process::ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut dropped = 0usize;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped += n.saturating_sub(room);
            }
        }
    }
    let mut s = String::from_utf8_lossy(&kept).into_owned();
    if dropped > 0 {
        s.push_str(&format!("\n[{dropped} more bytes of stderr not kept]\n"));
    }
    s
}

/// This machine's host name, as restic writes it into locks.
pub fn this_host() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Lines of `restic check` output that report a problem (text output, restic < 0.18).
fn is_check_error_line(line: &str) -> bool {
    const MARKERS: [&str; 10] = [
        "error",
        "Error",
        "does not exist",
        "does not match",
        "not referenced in any index",
        "contains errors",
        "invalid",
        "unexpected",
        "is damaged",
        "failed",
    ];
    !line.is_empty()
        && !line.starts_with("no errors were found")
        // The summary line, and restic's own retries of a missing file, add nothing.
        && line != "Fatal: repository contains errors"
        && !line.contains("returned error, retrying after")
        && !line.contains("check snapshots, trees and blobs")
        && MARKERS.iter().any(|m| line.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "restic 0.14.0 compiled with go1.19.8 on linux/amd64",
        Some(Version::new(0, 14, 0))
    )]
    #[case(
        "restic 0.18.0 compiled with go1.24.4 on linux/amd64\n",
        Some(Version::new(0, 18, 0))
    )]
    #[case(
        "restic 0.17.3-dev (compiled manually) compiled with go1.22",
        Some(Version::new(0, 17, 3))
    )]
    #[case("rustic 0.9", None)]
    fn version_parse_reads_restic_version_output(#[case] out: &str, #[case] want: Option<Version>) {
        assert_eq!(Version::parse_version_output(out), want);
    }

    #[test]
    fn version_features_switch_at_the_documented_releases() {
        assert!(!Version::new(0, 14, 0).has_retry_lock());
        assert!(Version::new(0, 16, 0).has_retry_lock());
        assert!(!Version::new(0, 17, 3).has_check_json());
        assert!(Version::new(0, 18, 0).has_check_json());
    }

    #[rstest]
    #[case(
        ResticExit::Fatal,
        "Fatal: wrong password or no key found\n",
        Category::Auth
    )]
    #[case(ResticExit::WrongPassword, "", Category::Auth)]
    #[case(
        ResticExit::Fatal,
        "Resolving password failed: Fatal: /x does not exist\n",
        Category::Auth
    )]
    #[case(ResticExit::Fatal, "Fatal: unable to open config file: stat /r/config: no such file or directory\nIs there a repository at the following location?\n/r\n", Category::NotFound)]
    #[case(ResticExit::RepositoryMissing, "", Category::NotFound)]
    #[case(ResticExit::Fatal, "unable to create lock in backend: repository is already locked exclusively by PID 7 on h by u (UID 0, GID 0)\n", Category::Locked)]
    #[case(ResticExit::LockFailed, "", Category::Locked)]
    #[case(
        ResticExit::Fatal,
        "Fatal: repository contains errors\n",
        Category::Corruption
    )]
    #[case(ResticExit::Fatal, "Fatal: unable to open config file: Head \"http://127.0.0.1:1/config\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\n", Category::Network)]
    #[case(
        ResticExit::Fatal,
        "write /tmp/x: no space left on device\n",
        Category::NoSpace
    )]
    #[case(
        ResticExit::Interrupted,
        "signal interrupt received, cleaning up\n",
        Category::Interrupted
    )]
    #[case(ResticExit::Fatal, "Fatal: parsing repository location failed: invalid backend\nIf the repository is in a local directory, you need to add a `local:` prefix\n", Category::Config)]
    #[case(ResticExit::Fatal, "{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: parsing repository location failed: s3: invalid format\"}\n", Category::Config)]
    #[case(ResticExit::Other(42), "", Category::Internal)]
    #[case(ResticExit::Signal(9), "", Category::Internal)]
    fn classify_maps_exit_codes_and_0_14_texts(
        #[case] exit: ResticExit,
        #[case] stderr: &str,
        #[case] want: Category,
    ) {
        assert_eq!(classify(exit, stderr), want);
    }

    #[test]
    fn key_message_prefers_json_exit_error_then_fatal_line() {
        assert_eq!(
            key_message("noise\n{\"message_type\":\"exit_error\",\"code\":12,\"message\":\"Fatal: wrong password or no key found\\n\"}\n"),
            "Fatal: wrong password or no key found"
        );
        assert_eq!(key_message("a\nFatal: boom\nb\n"), "Fatal: boom");
        assert_eq!(key_message(""), "restic printed nothing on stderr");
    }

    #[test]
    fn lock_holder_parses_0_14_message_and_judges_staleness() {
        let stderr = "unable to create lock in backend: repository is already locked exclusively by PID 4242 on myhost by root (UID 0, GID 0)\nlock was created at 2024-01-01 10:00:00 (1h2m3.5s ago)\nstorage ID 1a2b3c4d\n";
        let h = LockHolder::parse(stderr).expect("parsed");
        assert_eq!(h.pid, 4242);
        assert_eq!(h.host, "myhost");
        assert_eq!(h.age, Some(Duration::from_secs_f64(3723.5)));
        assert!(h.is_stale("otherhost", |_| true), "older than 30 min");
        let young = LockHolder {
            age: Some(Duration::from_secs(5)),
            ..h
        };
        assert!(!young.is_stale("myhost", |_| true), "live process");
        assert!(
            young.is_stale("myhost", |_| false),
            "dead process on this host"
        );
        assert!(!young.is_stale("otherhost", |_| false), "other host, young");
    }

    #[rstest]
    #[case("1h2m3.5s", Some(3723.5))]
    #[case("350ms", Some(0.35))]
    #[case("2m0s", Some(120.0))]
    #[case("soon", None)]
    fn parse_go_duration_reads_go_format(#[case] s: &str, #[case] secs: Option<f64>) {
        assert_eq!(parse_go_duration(s).map(|d| d.as_secs_f64()), secs);
    }

    #[rstest]
    #[case(CheckRead::Structure, Version::new(0, 14, 0), &["check"])]
    #[case(CheckRead::All, Version::new(0, 14, 0), &["check", "--read-data"])]
    #[case(CheckRead::Subset("3/12".into()), Version::new(0, 14, 0), &["check", "--read-data-subset=3/12"])]
    #[case(CheckRead::Subset("5%".into()), Version::new(0, 18, 0), &["check", "--read-data-subset=5%", "--json"])]
    fn check_args_adapt_to_version(
        #[case] read: CheckRead,
        #[case] v: Version,
        #[case] want: &[&str],
    ) {
        let got: Vec<String> = check_args(&read, v)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn global_args_use_retry_lock_only_where_supported() {
        let cache = Path::new("/tmp/c");
        let show = |v, lw, lock| -> Vec<String> {
            global_args(v, cache, lw, lock)
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            show(Version::new(0, 14, 0), Duration::from_secs(60), true),
            ["--cache-dir", "/tmp/c"]
        );
        assert_eq!(
            show(Version::new(0, 16, 0), Duration::from_secs(60), true),
            ["--cache-dir", "/tmp/c", "--retry-lock=60s"]
        );
        assert_eq!(
            show(Version::new(0, 18, 0), Duration::ZERO, true),
            ["--cache-dir", "/tmp/c"]
        );
        assert_eq!(
            show(Version::new(0, 18, 0), Duration::from_secs(60), false),
            ["--cache-dir", "/tmp/c", "--no-lock"]
        );
    }

    #[rstest]
    #[case("/src/a[b].txt", "/src/a\\[b\\].txt")]
    #[case("/src/star*.txt", "/src/star\\*.txt")]
    #[case("/src/q?.txt", "/src/q\\?.txt")]
    #[case("/src/back\\slash.txt", "/src/back\\\\slash.txt")]
    #[case("/src/dollar$HOME and spaces.txt", "/src/dollar$HOME and spaces.txt")]
    fn escape_include_escapes_glob_characters(#[case] path: &str, #[case] want: &str) {
        assert_eq!(escape_include(path), want);
    }

    #[test]
    fn snapshots_args_pass_filters_as_separate_arguments() {
        let f = SnapshotFilter {
            host: vec!["h".into()],
            tag: vec!["a,b".into()],
            path: vec!["/srv".into()],
        };
        let got: Vec<String> = snapshots_args(&f)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "snapshots",
                "--json",
                "--host",
                "h",
                "--tag",
                "a,b",
                "--path",
                "/srv"
            ]
        );
    }
}
