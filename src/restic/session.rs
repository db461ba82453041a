//! The typed restic calls of one job run on one repository (`snapshots`, `check`,
//! `ls`, `restore`, `dump`), with lock and network retries, and the mapping of a
//! failed call to a classified `Error` whose message names the command in short.
//! Every call goes through `process`.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::args::{
    check_args, display_command, global_args, push_filter, restore_args_with, snapshots_args,
    BackendOptions, CheckRead, SnapshotFilter,
};
use super::classify::{
    backend_auth_hint, backend_hint, cache_version_race, classify, is_check_error_line,
    key_message, network_line, ssh_reason_lost, tail, LockHolder, ResticExit,
    SNAPSHOT_LOAD_MARKERS,
};
pub use super::restore_output::RestoreEvent;
use super::restore_output::{classify_restore, parse_restore, restore_event};
use super::{detect::Restic, error::Error, json, ssh_reason};
use crate::credentials::Credentials;
use crate::finding::Category;
use crate::process;
use crate::secret::Secret;

/// What a finished restic call left behind.
#[derive(Debug)]
pub struct Finished {
    pub exit: ResticExit,
    pub stderr: String,
}

/// How often a call that met another restic making the run's cache is started again.
const CACHE_RACE_RETRIES: u32 = 3;

/// How long the clean-up of a lock left by an interrupted restic may take.
pub(super) const LOCK_CLEANUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything one job run on one repository needs to call restic.
pub struct Session<'a> {
    pub restic: &'a Restic,
    pub repository: &'a str,
    /// restic's `-o` options and download limit for this repository.
    pub backend: &'a BackendOptions,
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
    /// A second SIGINT/SIGTERM: skip the rest of the grace period.
    pub hurry: Option<CancellationToken>,
    /// This machine's host name, as restic writes it into locks.
    pub host: &'a str,
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
    /// (include, reason): per-file errors matched to the include they name exactly;
    /// a file may have several.
    pub errors: Vec<(String, String)>,
    /// Per-file errors that name none of the includes, as printed (secrets removed).
    pub unmatched: Vec<String>,
}

/// What one restore call is asked to do.
pub struct RestoreSpec<'r> {
    /// The snapshot ID, or `<id>:<subfolder>` (restic ≥ 0.17).
    pub snapshot: &'r str,
    pub target: &'r Path,
    /// Tree paths (relative to the call's start); none restores everything.
    pub includes: &'r [String],
    /// restic's own `--verify` (reads every restored file again).
    pub verify: bool,
    /// Whether a tree path (relative to the call's start) is a file whose per-file
    /// errors the caller wants by path.
    pub is_file: &'r (dyn Fn(&str) -> bool + Sync),
    /// Ask restic for progress (`--json`, 0.16+) and completed items (`-vv`, 0.17+).
    pub events: bool,
}

/// The paths `is_file` accepts that restic's per-file error lines could name (text
/// `ignoring error for <path>: …`, cut at every `": "`, or JSON `item`): the small
/// list the line parser matches against, however many files a restore wrote.
fn attributable(stderr: &str, is_file: &dyn Fn(&str) -> bool) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Item {
        item: Option<String>,
    }
    let mut out = std::collections::BTreeSet::new();
    for line in stderr.lines().map(str::trim) {
        if line.starts_with('{') {
            if let Some(i) = serde_json::from_str::<Item>(line).ok().and_then(|i| i.item) {
                if is_file(&i) {
                    out.insert(i);
                }
            }
        } else if let Some(rest) = line.strip_prefix("ignoring error for ") {
            for (i, _) in rest.match_indices(": ") {
                if is_file(&rest[..i]) {
                    out.insert(rest[..i].to_owned());
                }
            }
        }
    }
    out.into_iter().collect()
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

    /// `restic restore <id> --target DIR [--include …] [--verify]` (with `--json` from
    /// 0.17.1, whose per-file errors name the exact path), reporting restic's progress
    /// to `on_event` while it runs (`spec.events`: status lines from 0.16, each
    /// completed file from 0.17). Per-file errors are matched to the paths
    /// `spec.is_file` accepts (tree paths relative to the call's start), so files
    /// restored inside a whole directory get their own errors; they are `Ok` when
    /// they report damage or something unknown. When the most serious line of the
    /// run says the backend could not be reached (`network`) or the target is full
    /// or unwritable (`no_space`, `permission`), the restore is an `Err`: the files
    /// did not come back for a reason that is not the backup's.
    ///
    /// # Errors
    /// restic could not restore at all (lock, password, damaged index, …), or the
    /// environment failed it (backend, target).
    pub async fn restore_with(
        &self,
        spec: &RestoreSpec<'_>,
        on_event: &mut (dyn FnMut(RestoreEvent) + Send),
    ) -> Result<RestoreOutput, Error> {
        let version = self.restic.version;
        let mut args = restore_args_with(spec.snapshot, spec.target, spec.includes, spec.verify);
        let json = version >= super::version::Version::new(0, 17, 1)
            || (spec.events && version >= super::version::Version::new(0, 16, 0));
        if json {
            args.push("--json".into());
        }
        if spec.events && version.has_subfolder_restore() {
            // Verbosity 3 makes restic print each item once its data is written.
            args.push("-vv".into());
        }
        let fin = self
            .call_lines(&args, true, false, &mut |line: &[u8]| {
                if let Some(e) = restore_event(line) {
                    on_event(e);
                }
            })
            .await?
            .1;
        let candidates = attributable(&fin.stderr, spec.is_file);
        let target = spec.target.to_string_lossy();
        let parsed = parse_restore(&fin.stderr, &candidates, &target);
        let category = classify_restore(fin.exit, &parsed, &fin.stderr);
        let per_file = !parsed.errors.is_empty() || !parsed.unmatched.is_empty();
        let reported =
            fin.exit == ResticExit::Fatal && per_file && fin.stderr.contains("There were");
        let environment = matches!(
            category,
            Category::Network | Category::NoSpace | Category::Permission
        );
        if fin.exit == ResticExit::Success || (reported && !environment) {
            return Ok(RestoreOutput {
                errors: parsed
                    .errors
                    .into_iter()
                    .map(|(p, why)| (p, self.redact(&why)))
                    .collect(),
                unmatched: parsed.unmatched.iter().map(|l| self.redact(l)).collect(),
            });
        }
        let mut err = self.failed(&args, &fin);
        if let Error::Failed {
            category: c,
            message,
            hint,
            ..
        } = &mut err
        {
            *c = category;
            if let Some(line) = parsed.worst_line.as_deref().filter(|_| environment) {
                *message = self.redact(line);
            }
            match category {
                Category::NoSpace => {
                    "; the test dir filled up while restic restored into it: free space there or choose another `test-dir`".clone_into(hint);
                }
                Category::Permission => {
                    "; restic cannot write into the test dir: give the service user write access to `test-dir` (and check it is not mounted read-only)".clone_into(hint);
                }
                _ => {}
            }
        }
        Err(err)
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

    pub(super) fn failed(&self, args: &[OsString], fin: &Finished) -> Error {
        let category = classify(fin.exit, &fin.stderr);
        let message = self.redact(&key_message(&fin.stderr));
        let hint = match category {
            Category::Auth => backend_auth_hint(&fin.stderr).map_or_else(
                || "; check the repository's `password-file`/`password-command`".to_owned(),
                str::to_owned,
            ),
            Category::NotFound => {
                "; check the repository's `url` (is the disk mounted?)".to_owned()
            }
            Category::Locked => self.lock_hint(&fin.stderr),
            Category::Network => format!(
                "; is the backend reachable from this host?{}",
                backend_hint(&fin.stderr).unwrap_or_default()
            ),
            Category::NoSpace => {
                "; free space on the disk holding restic's cache (TMPDIR)".to_owned()
            }
            Category::Config => match backend_hint(&fin.stderr) {
                Some(h) => h.to_owned(),
                None => {
                    "; check the repository's `url` (a local directory may need a `local:` prefix)"
                        .to_owned()
                }
            },
            Category::Permission => "; restic takes a lock even to read: the user running restic-verify must be able to write the repository's `locks/` (the shipped units run as `restic-verify`)".to_owned(),
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
            Some(h) if h.is_stale(self.host, process::alive) => format!(
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
    pub(super) async fn call(
        &self,
        args: &[OsString],
        takes_lock: bool,
        mut on_line: impl FnMut(&[u8]) + Send,
    ) -> Result<(Vec<u8>, Finished), Error> {
        self.call_lines(args, takes_lock, true, &mut on_line).await
    }

    /// `call`, keeping stdout only with `keep` (a restore's progress lines are many).
    async fn call_lines(
        &self,
        args: &[OsString],
        takes_lock: bool,
        keep: bool,
        on_line: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<(Vec<u8>, Finished), Error> {
        let started = Instant::now();
        let mut network_attempts = 0;
        let mut lock_attempts = 0u32;
        let mut unlocked = false;
        let mut asked_ssh = false;
        let mut cache_races = 0u32;
        loop {
            let mut full = Vec::new();
            let mut fin = self
                .spawn(
                    args,
                    takes_lock,
                    &mut |l: &[u8]| {
                        on_line(l);
                        if keep {
                            full.extend_from_slice(l);
                        }
                    },
                    None,
                )
                .await?;
            if fin.exit == ResticExit::Success {
                return Ok((full, fin));
            }
            if cache_version_race(&fin.stderr) && cache_races < CACHE_RACE_RETRIES {
                // The other restic writes the file right after making it.
                cache_races += 1;
                tracing::debug!(
                    repository = self.repository,
                    "restic read its fresh cache while another restic made it; starting it again"
                );
                self.pause(args, Duration::from_millis(100 << cache_races))
                    .await?;
                continue;
            }
            if !asked_ssh && ssh_reason_lost(&fin.stderr) {
                asked_ssh = true;
                if let Some(said) = self.ask_ssh().await {
                    fin.stderr.push_str(&said);
                    fin.stderr.push('\n');
                }
            }
            match classify(fin.exit, &fin.stderr) {
                Category::Locked => {
                    let holder = LockHolder::parse(&fin.stderr);
                    let stale = holder
                        .as_ref()
                        .is_some_and(|h| h.is_stale(self.host, process::alive));
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
                    let pause = network_backoff(network_attempts);
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

    async fn pause(&self, args: &[OsString], pause: Duration) -> Result<(), Error> {
        let command = display_command(args);
        tokio::select! {
            () = tokio::time::sleep(pause) => Ok(()),
            () = tokio::time::sleep_until(self.deadline) => Err(Error::TimedOut { command, repository: self.repository.to_owned(), after: self.timeout }),
            () = self.cancel.cancelled() => Err(Error::Interrupted { command, repository: self.repository.to_owned() }),
        }
    }

    /// restic's URL of the repository, as its environment holds it.
    fn url(&self) -> Option<&Secret> {
        let found = self
            .credentials
            .env
            .iter()
            .find(|(k, _)| k == "RESTIC_REPOSITORY");
        found.map(|(_, v)| v)
    }

    /// The repository's directory when it is local (`/path` or `local:/path`).
    pub(super) fn local_path(&self) -> Option<&Path> {
        let url = self.url()?.expose();
        let path = url.strip_prefix("local:").unwrap_or(url);
        path.starts_with('/').then(|| Path::new(path))
    }

    /// What ssh says when started again the way restic starts it (`ssh_reason`).
    async fn ask_ssh(&self) -> Option<String> {
        let ask = ssh_reason::Ask {
            url: self.url()?.clone(),
            options: self.backend.options.clone(),
            env: self.credentials.env.clone(),
            redactor: self.credentials.redactor.clone(),
        };
        tracing::info!(repository = self.repository, "restic could not start the sftp session and did not say why; starting ssh again to see");
        ssh_reason::ask(ask, &self.cancel, self.deadline).await
    }

    /// Runs restic once through `process`, feeds each stdout line to `on_line`,
    /// and turns a stop (deadline, cancellation) into the matching error.
    pub(super) async fn spawn(
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
            self.backend,
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
        let limits = process::Limits {
            deadline: self.deadline,
            cancel: self.cancel.clone(),
            grace: self.grace,
            hurry: self.hurry.clone(),
        };
        let started = std::time::SystemTime::now();
        let exit = process::run(
            process::Spec {
                program: &self.restic.program,
                args: &full_args,
                sealed_prefix: Some("RESTIC_"),
                env: &self.credentials.env,
                stdout: match stdout_file {
                    Some(f) => process::Stdout::File(f),
                    None => process::Stdout::Lines,
                },
            },
            &limits,
            on_line,
        )
        .await
        .map_err(|e| match e {
            process::Error::NotFound { source, .. } => Error::NotInstalled {
                program: self.restic.program.clone(),
                source,
            },
            process::Error::Io { source, .. } => Error::Io {
                command: command.clone(),
                source,
            },
        })?;
        let code = ResticExit::from_status(exit.status);
        if let (Some(process::Stopped::Cancelled), true, Some(pid)) =
            (exit.stopped, takes_lock, exit.pid)
        {
            Box::pin(self.remove_lock_left_by(pid, started)).await;
        }
        tracing::debug!(repository = self.repository, "{command}: {code}");
        let stderr = exit.stderr;
        match exit.stopped {
            // Still waiting for a lock (restic ≥ 0.16's --retry-lock) when the deadline
            // came: the lock is the cause, with its hint, never the network.
            Some(process::Stopped::Deadline)
                if classify(code, &stderr) == Category::Locked =>
            {
                Err(self.failed(
                    args,
                    &Finished {
                        exit: code,
                        stderr,
                    },
                ))
            }
            // restic ≥ 0.16 retries an unreachable backend for up to 15 minutes; when the
            // deadline cut that short, the cause is the network, not a slow check.
            Some(process::Stopped::Deadline) if network_line(&stderr).is_some() => {
                Err(Error::Failed {
                    command: command.clone(),
                    repository: self.repository.to_owned(),
                    exit: code,
                    category: Category::Network,
                    message: self.redact(&network_line(&stderr).unwrap_or_default()),
                    hint: format!(
                        "; restic was still retrying when the timeout of {} ran out; is the backend reachable from this host?",
                        humantime::format_duration(self.timeout)
                    ),
                    stderr_tail: self.redact(tail(&stderr)),
                })
            }
            Some(process::Stopped::Deadline) => Err(Error::TimedOut {
                command,
                repository: self.repository.to_owned(),
                after: self.timeout,
            }),
            Some(process::Stopped::Cancelled) => Err(Error::Interrupted {
                command,
                repository: self.repository.to_owned(),
            }),
            None => Ok(Finished { exit: code, stderr }),
        }
    }
}

/// The pause before network retry `attempt` (1-based): 10 s, 20 s, 40 s … capped at
/// 5 minutes, for any number of retries.
pub fn network_backoff(attempt: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempt.min(16));
    Duration::from_secs(secs.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributable_finds_files_named_by_text_and_json_error_lines() {
        let stderr = "ignoring error for /s/a: b.txt: ciphertext verification failed\n\
            {\"message_type\":\"error\",\"error\":{\"message\":\"x\"},\"during\":\"restore\",\"item\":\"/s/c.txt\"}\n\
            ignoring error for /s/dir: lchown: invalid argument\nFatal: There were 3 errors\n";
        let files = ["/s/a: b.txt", "/s/c.txt", "/s/other"];
        let got = attributable(stderr, &|p: &str| files.contains(&p));
        assert_eq!(got, ["/s/a: b.txt", "/s/c.txt"]);
    }

    #[test]
    fn network_backoff_doubles_then_caps_without_overflow() {
        assert_eq!(network_backoff(1), Duration::from_secs(10));
        assert_eq!(network_backoff(2), Duration::from_secs(20));
        assert_eq!(network_backoff(6), Duration::from_secs(300));
        assert_eq!(network_backoff(u32::MAX), Duration::from_secs(300));
    }
}
