//! Validation of a raw profile (or of the command-line flags, turned into the same
//! raw tables) into a checked `Profile`: every problem is collected with its
//! location, not just the first. Repositories and jobs here; `validate_job` has a
//! job's schedule and restore-test keys, `validate_notify` the notifier tables.
//! Pure: the world comes in through `Env`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::env::Env;
use super::error::{Error, Problem};
use super::profile::{
    Job, JobKind, Outputs, Profile, Repository, DEFAULT_LOCK_WAIT, DEFAULT_MAX_CONCURRENT,
    DEFAULT_RETRIES, DEFAULT_TIMEOUT,
};
use super::raw::{OneOrMany, RawDefaults, RawFile, RawJob, RawRepository};
use super::shard::Shard;
use super::value::{
    expand_credentials_dir, metrics_file_name, nearest, parse_duration, valid_name,
};
use crate::check::CheckOptions;
use crate::credentials::PasswordSource;
use crate::restic::args::{
    parse_option, parse_read_data_subset, BackendOptions, ReadData, SnapshotFilter,
};
use crate::secret::Secret;

/// Where the keys being validated came from: a profile file or the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Profile,
    Flags,
}

pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
    pub(super) env: &'a Env,
    /// Relative paths are relative to this (the profile's directory; empty for flags).
    pub(super) base: PathBuf,
    pub(super) problems: Vec<Problem>,
    pub(super) mode: Mode,
    /// The keys each `[job.NAME]` sets, with their spans (profiles only).
    pub(super) job_keys: BTreeMap<String, Vec<(String, Range<usize>)>>,
    /// Where a problem with no span of its own points: the table being checked.
    pub(super) fallback: Option<Range<usize>>,
}

impl Validator<'_> {
    /// A key as the user wrote it: `` `max-age` `` in a profile, `--max-age` on the
    /// command line.
    pub(super) fn key(&self, key: &str) -> String {
        match self.mode {
            Mode::Profile => format!("`{key}`"),
            Mode::Flags => format!("--{key}"),
        }
    }

    /// A key with its value as the user wrote it.
    pub(super) fn setting(&self, key: &str, value: &str) -> String {
        match self.mode {
            Mode::Profile => format!("`{key} = \"{value}\"`"),
            Mode::Flags => format!("--{key} {value}"),
        }
    }

    /// `[job.NAME] ` before a message about a job's key in a profile; nothing for flags.
    pub(super) fn job_ctx(&self, name: &str) -> String {
        match self.mode {
            Mode::Profile => format!("[job.{name}] "),
            Mode::Flags => String::new(),
        }
    }

    pub(super) fn location(&self, span: Option<Range<usize>>) -> Option<(usize, usize)> {
        let start = span?.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Some((line, col))
    }

    pub(super) fn problem(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let location = self.location(span.or_else(|| self.fallback.clone()));
        self.problems.push(Problem {
            location,
            path: self.path.to_owned(),
            message: message.into(),
        });
    }

    /// Every problem, in file order (those with no place in the file last).
    pub(super) fn into_error(mut self) -> Error {
        self.problems
            .sort_by_key(|p| p.location.unwrap_or((usize::MAX, usize::MAX)));
        match self.mode {
            Mode::Profile => Error::Invalid {
                path: self.path.to_owned(),
                problems: self.problems,
            },
            Mode::Flags => Error::Flags(
                self.problems
                    .into_iter()
                    .map(|p| p.message)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        }
    }

    pub(super) fn duration(&mut self, key: &str, v: &Option<Spanned<String>>) -> Option<Duration> {
        let v = v.as_ref()?;
        match parse_duration(v.get_ref()) {
            Ok(d) => Some(d),
            Err(m) => {
                let key = self.key(key);
                self.problem(Some(v.span()), format!("{key}: {m}"));
                None
            }
        }
    }

    pub(super) fn file_path(&self, v: &Spanned<String>) -> PathBuf {
        let p = expand_credentials_dir(v.get_ref(), self.env.credentials_directory.clone());
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    /// A repository's `options` (its own list, else `[defaults]`'s: a list replaces,
    /// it is not merged) and `limit-download`.
    fn backend_options(
        &mut self,
        name: &str,
        r: &RawRepository,
        d: &RawDefaults,
    ) -> BackendOptions {
        let mut options: Vec<(String, String)> = Vec::new();
        if let Some(list) = r.options.as_ref().or(d.options.as_ref()) {
            let (ctx, key) = match self.mode {
                Mode::Profile if r.options.is_some() => {
                    (format!("[repository.{name}] "), "`options`")
                }
                Mode::Profile => (String::new(), "[defaults] `options`"),
                Mode::Flags => (String::new(), "--option"),
            };
            for o in list.get_ref() {
                let message = match parse_option(o) {
                    Ok((k, _)) if options.iter().any(|(seen, _)| *seen == k) => {
                        format!("{ctx}{key}: `{k}` is given twice; keep one")
                    }
                    Ok(kv) => {
                        options.push(kv);
                        continue;
                    }
                    Err(m) => format!("{ctx}{key}: {m}"),
                };
                // `[defaults]`' list is checked once per repository: say it once.
                if !self.problems.iter().any(|p| p.message == message) {
                    self.problem(Some(list.span()), message);
                }
            }
        }
        let limit_download = match r.limit_download.as_ref().or(d.limit_download.as_ref()) {
            Some(l) => match u64::try_from(*l.get_ref()) {
                Ok(kib) => Some(kib).filter(|k| *k > 0),
                Err(_) => {
                    let key = self.key("limit-download");
                    self.problem(
                        Some(l.span()),
                        format!("{key} must be 0 (no limit) or more KiB/s"),
                    );
                    None
                }
            },
            None => None,
        };
        BackendOptions {
            options,
            limit_download,
        }
    }

    pub(super) fn check(&mut self, raw: RawFile) -> Option<Profile> {
        let d = &raw.defaults;
        let warnings = Vec::new();
        let mut repositories = BTreeMap::new();
        for (name, spanned) in &raw.repository {
            if let Some(r) = self.repository(name, spanned, d) {
                repositories.insert(name.clone(), r);
            }
        }

        self.fallback = None;
        if raw.job.is_empty() {
            self.problem(None, "the profile defines no job; add e.g. [job.weekly-check] with kind = \"check\" and repositories = [...]");
        }
        let mut jobs = Vec::new();
        // Jobs run in the order the profile lists them; the map holds them by name.
        let mut ordered: Vec<_> = raw.job.iter().collect();
        ordered.sort_by_key(|(_, j)| j.span().start);
        for (name, spanned) in ordered {
            if let Some(job) = self.job(name, spanned, &raw) {
                jobs.push(job);
            }
        }
        let mut notifiers = BTreeMap::new();
        for (name, spanned) in &raw.notify {
            self.fallback = Some(spanned.span());
            if let Some(n) = self.notifier(name, spanned) {
                notifiers.insert(name.clone(), n);
            }
        }
        self.fallback = None;
        let max_concurrent = match &d.max_concurrent {
            Some(m) if *m.get_ref() == 0 => {
                self.problem(Some(m.span()), "`max-concurrent` must be at least 1");
                1
            }
            Some(m) => *m.get_ref(),
            None => DEFAULT_MAX_CONCURRENT,
        };
        let shard = d.shard.as_ref().and_then(|s| {
            s.get_ref()
                .parse::<Shard>()
                .map_err(|e| self.problem(Some(s.span()), format!("[defaults] `shard`: {e}")))
                .ok()
        });
        Some(Profile {
            source: Some(self.path.to_owned()),
            repositories,
            jobs,
            notifiers,
            max_concurrent,
            shard,
            warnings,
        })
    }

    /// One `[repository.NAME]` table (with `[defaults]`) → a `Repository`, or `None`
    /// after recording why not.
    fn repository(
        &mut self,
        name: &String,
        spanned: &Spanned<RawRepository>,
        d: &RawDefaults,
    ) -> Option<Repository> {
        let span = spanned.span();
        self.fallback = Some(span.clone());
        let r = spanned.get_ref();
        if !valid_name(name) {
            self.problem(
                Some(span.clone()),
                format!(
                    "repository name `{name}` may only contain letters, digits, `.`, `_` and `-`"
                ),
            );
        }
        let Some(url) = r.url.as_ref() else {
            self.problem(
                Some(span),
                format!(
                    "[repository.{name}] has no `url`; add e.g. url = \"/mnt/nas/restic/{{name}}\""
                ),
            );
            return None;
        };
        let expanded = url.get_ref().replace("{name}", name);
        if expanded.trim().is_empty() {
            let message = match self.mode {
                Mode::Profile => format!("[repository.{name}] `url` is empty"),
                Mode::Flags => "--repo is empty".to_owned(),
            };
            self.problem(Some(url.span()), message);
        }
        let env_file = r
            .env_file
            .as_ref()
            .or(d.env_file.as_ref())
            .map(|p| self.file_path(p));
        let password = self.password(name, r, d, &span, env_file.is_some());
        let password_at = match &password {
            Some(PasswordSource::File(_)) if self.mode == Mode::Profile => self.location(
                r.password_file
                    .as_ref()
                    .or(d.password_file.as_ref())
                    .map(Spanned::span),
            ),
            _ => None,
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
        let backend = self.backend_options(name, r, d);
        Some(Repository {
            name: name.clone(),
            url: Secret::new(expanded),
            password: password?,
            password_at,
            env_file,
            restic,
            lock_wait,
            unlock_stale: r.unlock_stale.or(d.unlock_stale).unwrap_or(false),
            retries: r.retries.or(d.retries).unwrap_or(DEFAULT_RETRIES),
            backend,
        })
    }

    /// Where a repository's password comes from: its own `password-file` or
    /// `password-command`, else `[defaults]`', else its env file; `None` after
    /// recording a conflict or a missing password.
    fn password(
        &mut self,
        name: &str,
        r: &RawRepository,
        d: &RawDefaults,
        span: &Range<usize>,
        has_env_file: bool,
    ) -> Option<PasswordSource> {
        let pf = r.password_file.as_ref().or(d.password_file.as_ref());
        let pc = r.password_command.as_ref().or(d.password_command.as_ref());
        match (
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
            (None, None, None, None) if has_env_file => Some(PasswordSource::EnvFile),
            (None, None, None, None) => {
                let message = match self.mode {
                    Mode::Profile => format!("[repository.{name}] has no password: set `password-file` (or `password-command`) here or in [defaults]"),
                    Mode::Flags => "no password: give --password-file FILE or --password-command CMD".to_owned(),
                };
                self.problem(Some(span.clone()), message);
                None
            }
        }
    }

    /// One `[job.NAME]` table (with `[defaults]`) → a `Job`, or `None` when it has
    /// no valid kind. Its problems are recorded in the order of its keys' checks.
    fn job(&mut self, name: &String, spanned: &Spanned<RawJob>, raw: &RawFile) -> Option<Job> {
        let d = &raw.defaults;
        let span = spanned.span();
        self.fallback = Some(span.clone());
        let j = spanned.get_ref();
        if !valid_name(name) {
            self.problem(
                Some(span.clone()),
                format!("job name `{name}` may only contain letters, digits, `.`, `_` and `-`"),
            );
        }
        let repos = self.job_repositories(name, j, &span, raw);
        let kind_name = j.kind.as_ref().map(|k| k.get_ref().as_str());
        let read_data_subset = j.read_data_subset.as_ref().or(d.read_data_subset.as_ref());
        let read_data = self.read_data(name, j, d);
        let (max_age, timeout, lock_wait) = self.limits(j, d);
        let state_dir = j
            .state_dir
            .as_ref()
            .or(d.state_dir.as_ref())
            .map(|p| self.file_path(p));
        self.needs_state_dir(name, &read_data, read_data_subset, state_dir.is_some());
        let (read_data, outdated_after) = self.coverage(name, j, d, read_data, state_dir.is_some());
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
        let filter = snapshot_filter(j, d);
        let kind = match kind_name {
            Some("check") => JobKind::Check(CheckOptions {
                read_data,
                max_age,
                min_snapshots: j.min_snapshots.or(d.min_snapshots).unwrap_or(1),
                filter,
                outdated_after,
            }),
            Some("restore-test") => {
                JobKind::RestoreTest(Box::new(self.restore_options(name, j, d, filter)))
            }
            Some("audit") => JobKind::Audit(Box::new(self.audit_settings(name, j, d, filter))),
            Some(other) => {
                let span = j.kind.as_ref().map(Spanned::span);
                self.problem(
                    span,
                    format!(
                        "[job.{name}] `kind = \"{other}\"` is not a job kind; use \"check\", \"restore-test\" or \"audit\""
                    ),
                );
                return None;
            }
            None => {
                self.problem(
                    Some(span),
                    format!("[job.{name}] has no `kind`; add kind = \"check\""),
                );
                return None;
            }
        };
        if let Some(k) = kind_name {
            self.keys_of_kind(name, k);
        }
        let (schedule, jitter) = self.schedule(name, j, d);
        let notify = self.job_notify(name, j, raw);
        Some(Job {
            name: name.clone(),
            kind,
            repositories: repos,
            timeout,
            lock_wait,
            outputs,
            schedule,
            jitter,
            notify,
        })
    }

    /// A job's `repositories`, each checked against the `[repository.*]` tables.
    fn job_repositories(
        &mut self,
        name: &str,
        j: &RawJob,
        span: &Range<usize>,
        raw: &RawFile,
    ) -> Vec<String> {
        match &j.repositories {
            Some(r) => {
                for repo in r.get_ref() {
                    if !raw.repository.contains_key(repo) {
                        let known: Vec<&str> = raw.repository.keys().map(String::as_str).collect();
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
        }
    }

    /// A job's `read-data` / `read-data-subset` (its own, else `[defaults]`').
    fn read_data(&mut self, name: &str, j: &RawJob, d: &RawDefaults) -> ReadData {
        let read_data_subset = j.read_data_subset.as_ref().or(d.read_data_subset.as_ref());
        match (j.read_data.or(d.read_data), read_data_subset) {
            (Some(true), Some(s)) => {
                self.problem(Some(s.span()), format!("[job.{name}] sets both `read-data = true` and `read-data-subset`; keep one"));
                ReadData::Full
            }
            (Some(true), None) => ReadData::Full,
            (_, Some(s)) => match parse_read_data_subset(s.get_ref()) {
                Ok(r) => r,
                Err(m) => {
                    let key = self.key("read-data-subset");
                    self.problem(Some(s.span()), format!("{key}: {m}"));
                    ReadData::None
                }
            },
            (_, None) => ReadData::None,
        }
    }

    /// A job's `max-age`, `timeout` (above zero) and `lock-wait` (its own only: it
    /// applies to this job's runs).
    fn limits(
        &mut self,
        j: &RawJob,
        d: &RawDefaults,
    ) -> (Option<Duration>, Duration, Option<Duration>) {
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
            let key = self.key("timeout");
            self.problem(
                j.timeout.as_ref().or(d.timeout.as_ref()).map(Spanned::span),
                format!("{key} must be above zero"),
            );
        }
        // A job-level lock-wait applies to this job's runs only.
        let lock_wait = self.duration("lock-wait", &j.lock_wait);
        (max_age, timeout, lock_wait)
    }

    /// `rotate/T` and `new` keep their place in the `state-dir`: a problem without one.
    fn needs_state_dir(
        &mut self,
        name: &str,
        read_data: &ReadData,
        read_data_subset: Option<&Spanned<String>>,
        has_state_dir: bool,
    ) {
        if matches!(read_data, ReadData::Rotate(_)) && !has_state_dir {
            let message = format!(
                "{}{} needs {} to remember where the rotation stands",
                self.job_ctx(name),
                self.setting("read-data-subset", "rotate/T"),
                self.key("state-dir")
            );
            self.problem(read_data_subset.map(Spanned::span), message);
        }
        if matches!(read_data, ReadData::New { .. }) && !has_state_dir {
            let message = format!(
                "{}{} needs {}: the pack ledger that remembers which packs were read lives there",
                self.job_ctx(name),
                self.setting("read-data-subset", "new"),
                self.key("state-dir")
            );
            self.problem(read_data_subset.map(Spanned::span), message);
        }
    }

    /// A job's `notify` list (its own, else `[defaults]`'), each name checked
    /// against the `[notify.*]` tables.
    fn job_notify(&mut self, name: &str, j: &RawJob, raw: &RawFile) -> Vec<String> {
        let d = &raw.defaults;
        match j.notify.as_ref().or(d.notify.as_ref()) {
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
        }
    }
}

/// The snapshots a job looks at: its own `host`, `tag` and `path`, else `[defaults]`'.
fn snapshot_filter(j: &RawJob, d: &RawDefaults) -> SnapshotFilter {
    SnapshotFilter {
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
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::flags::{given, profile as from_flags, FlagProfile};
    use super::super::raw::{RawJob, RawRepository};
    use super::super::{parse, Env, Error};

    fn env() -> Env {
        Env {
            credentials_directory: None,
            host: "testhost".into(),
            now: chrono::Local::now(),
        }
    }

    fn problems(text: &str) -> Vec<String> {
        match parse(text, Path::new("/etc/rv.toml"), &env()) {
            Ok(_) => Vec::new(),
            Err(Error::Invalid { problems, .. }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    const PROFILE: &str = r#"
[defaults]
password-file = "/run/pw"
options = ["sftp.command=ssh -p 2222 -i /k nas -s sftp"]
limit-download = 4096

[repository.nas]
url = "sftp:nas:/srv/restic"

[repository.b2]
url = "s3:s3.example.com/bucket"
options = ["s3.storage-class=STANDARD_IA"]
limit-download = 0

[job.weekly]
kind = "check"
repositories = ["nas", "b2"]
"#;

    #[test]
    fn options_and_limit_download_are_inherited_from_defaults_and_replaced_per_repository() {
        let p = parse(PROFILE, Path::new("/etc/rv.toml"), &env()).expect("valid");
        let nas = &p.repositories["nas"].backend;
        assert_eq!(
            nas.options,
            [(
                "sftp.command".to_owned(),
                "ssh -p 2222 -i /k nas -s sftp".to_owned()
            )]
        );
        assert_eq!(nas.limit_download, Some(4096));
        let b2 = &p.repositories["b2"].backend;
        assert_eq!(
            b2.options,
            [("s3.storage-class".to_owned(), "STANDARD_IA".to_owned())],
            "a repository's list replaces [defaults]'"
        );
        assert_eq!(b2.limit_download, None, "0 means no limit");
    }

    #[test]
    fn options_that_look_like_secrets_or_lack_a_dotted_key_are_config_errors() {
        let text = PROFILE.replace(
            "options = [\"s3.storage-class=STANDARD_IA\"]",
            "options = [\"s3.secret-key=hunter2\", \"storage-class=x\", \"s3.region=a\", \"s3.region=b\"]",
        );
        let p = problems(&text);
        assert!(
            p.iter().any(|m| m.contains(
                "[repository.b2] `options`: `s3.secret-key` looks like it carries a secret"
            ) && m.contains("`env-file`")),
            "{p:?}"
        );
        assert!(p.iter().all(|m| !m.contains("hunter2")), "{p:?}");
        assert!(
            p.iter()
                .any(|m| m.contains("`storage-class` is not a restic option name")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.contains("`s3.region` is given twice")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .filter(|m| m.contains("[repository.b2] `options`"))
                .all(|m| m.starts_with("/etc/rv.toml:12:")),
            "the problems point at the list: {p:?}"
        );
    }

    #[test]
    fn a_bad_option_in_defaults_is_reported_once_not_per_repository() {
        let text = PROFILE.replace("ssh -p 2222", "ssh --password=x");
        let p = problems(&text);
        let n = p
            .iter()
            .filter(|m| m.contains("[defaults] `options`: `sftp.command` looks like"))
            .count();
        assert_eq!(n, 1, "{p:?}");
    }

    #[test]
    fn limit_download_must_be_a_whole_number_of_kib() {
        let p = problems(&PROFILE.replace("limit-download = 4096", "limit-download = -1"));
        assert!(
            p.iter().any(|m| m.contains(
                "/etc/rv.toml:5:18: `limit-download` must be 0 (no limit) or more KiB/s"
            )),
            "{p:?}"
        );
        let p = problems(&PROFILE.replace("limit-download = 4096", "limit-download = \"4M\""));
        assert!(p.iter().any(|m| m.contains("/etc/rv.toml:5:18")), "{p:?}");
    }

    #[test]
    fn option_flags_go_through_the_same_validation_and_name_the_flag() {
        let flags = |options: Vec<String>| FlagProfile {
            repository_name: "nas".into(),
            repository: RawRepository {
                url: Some(given("sftp:nas:/srv/restic".into())),
                password_file: Some(given("/run/pw".into())),
                options: Some(given(options)),
                limit_download: Some(given(512)),
                ..RawRepository::default()
            },
            job_name: "check".into(),
            job: RawJob {
                kind: Some(given("check".into())),
                ..RawJob::default()
            },
            metrics_file: None,
        };
        let p = from_flags(
            flags(vec!["sftp.command=ssh -p 2 nas -s sftp".into()]),
            &env(),
        )
        .expect("valid");
        let b = &p.repositories["nas"].backend;
        assert_eq!(b.options.len(), 1);
        assert_eq!(b.limit_download, Some(512));
        let Err(Error::Flags(msg)) = from_flags(flags(vec!["b2.account-key-id=1".into()]), &env())
        else {
            panic!("a secret in --option was accepted")
        };
        assert!(
            msg.starts_with("--option: `b2.account-key-id` looks like it carries a secret"),
            "{msg}"
        );
    }
}
