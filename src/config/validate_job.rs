//! Validation of a job's schedule and of its restore-test keys.

use std::path::PathBuf;
use std::time::Duration;

use globset::GlobSet;
use toml::Spanned;

use super::keys::{self, Table};
use super::raw::{RawDefaults, RawJob};
use super::validate::{Mode, Validator};
use super::value::{compile_globs, parse_size, zfs_choice};
use crate::audit::job::{AuditSettings, DEFAULT_MAX_LISTED};
use crate::restic::args::{ReadData, SnapshotFilter};
use crate::restore_test::sampling::{FileFilter, SampleOptions};
use crate::restore_test::{RestoreOptions, DEFAULT_SAMPLE};
use crate::sample::Weighting;
use crate::schedule::{self, Schedule};
use crate::source::SourceKind;

impl Validator<'_> {
    /// Keys set in `[job.NAME]` that do nothing for the job's kind (the kinds
    /// column of `keys`). `[defaults]` serves every kind, so it may hold them.
    pub(super) fn keys_of_kind(&mut self, name: &str, kind: &str) {
        let set = self.job_keys.get(name).cloned().unwrap_or_default();
        for (key, span) in set {
            let Some(k) = keys::KEYS
                .iter()
                .find(|k| k.name == key && k.tables.contains(&Table::Job))
            else {
                continue;
            };
            if k.applies_to.is_empty() || k.applies_to.contains(&kind) {
                continue;
            }
            let kinds = k
                .applies_to
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(" and ");
            self.problem(
                Some(span),
                format!(
                    "[job.{name}] `{key}` does nothing for a job of kind \"{kind}\"; it acts only on {kinds} jobs: remove it here (in [defaults] it may stay)"
                ),
            );
        }
    }

    /// `schedule` and `jitter` of a job: the cron expression must parse and fire
    /// again, and the jitter must stay below the shortest interval between runs.
    pub(super) fn schedule(
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

    /// A restore test's keys (an audit shares most of them: `audit_settings`),
    /// checked in this order so that problems without a place keep theirs.
    pub(super) fn restore_options(
        &mut self,
        name: &str,
        j: &RawJob,
        d: &RawDefaults,
        filter: SnapshotFilter,
    ) -> RestoreOptions {
        let max_bytes = self.size("max-bytes", j.max_bytes.as_ref().or(d.max_bytes.as_ref()));
        let min_size = self.size("min-size", j.min_size.as_ref().or(d.min_size.as_ref()));
        let max_size = self.size("max-size", j.max_size.as_ref().or(d.max_size.as_ref()));
        let (count, percent, full, min_verified) = self.sample_size(name, j, d);
        let weighting = self.weighting(j.sample_by.as_ref().or(d.sample_by.as_ref()));
        let include = self.globs(name, "include", j.include.as_ref().or(d.include.as_ref()));
        let exclude = self.globs(name, "exclude", j.exclude.as_ref().or(d.exclude.as_ref()));
        let map = self.maps(j.map.as_ref().or(d.map.as_ref()));
        let test_dir = j
            .test_dir
            .as_ref()
            .or(d.test_dir.as_ref())
            .map_or_else(std::env::temp_dir, |p| self.file_path(p));
        let source = self.source_kind(name, j, d);
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
            min_verified,
            full,
            progress: false,
        }
    }

    /// A size key (`max-bytes`, `min-size`, `max-size`) in bytes.
    fn size(&mut self, key: &str, v: Option<&Spanned<String>>) -> Option<u64> {
        let v = v?;
        let shown = self.key(key);
        parse_size(v.get_ref())
            .map_err(|m| self.problem(Some(v.span()), format!("{shown}: {m}")))
            .ok()
    }

    /// `sample`, `sample-percent`, `full` and `min-verified`, which limit each
    /// other: the sample's count and share, whether the test is full, and the
    /// fewest files it must verify.
    fn sample_size(
        &mut self,
        name: &str,
        j: &RawJob,
        d: &RawDefaults,
    ) -> (usize, Option<f64>, bool, Option<usize>) {
        let count = j.sample.or(d.sample).unwrap_or(DEFAULT_SAMPLE);
        if count == 0 {
            let message = format!(
                "{}{} must be at least 1",
                self.job_ctx(name),
                self.key("sample")
            );
            self.problem(None, message);
        }
        let percent = j.sample_percent.or(d.sample_percent);
        if percent.is_some_and(|p| !(p > 0.0 && p <= 100.0)) {
            let message = format!(
                "{}{} must be above 0 and at most 100",
                self.job_ctx(name),
                self.key("sample-percent")
            );
            self.problem(None, message);
        }
        let full = j.full.or(d.full).unwrap_or(false);
        if full {
            self.full_without_sample_keys(name, j);
        }
        let min_verified = j.min_verified.or(d.min_verified);
        match min_verified {
            Some(0) => {
                let message = format!(
                    "{}{} must be at least 1: a restore test that compared nothing must not pass",
                    self.job_ctx(name),
                    self.key("min-verified")
                );
                self.problem(None, message);
            }
            Some(m) if percent.is_none() && !full && m > count => {
                let message = format!(
                    "{}{} ({m}) is above {} ({count}): it could never be reached; lower it",
                    self.job_ctx(name),
                    self.key("min-verified"),
                    self.key("sample")
                );
                self.problem(None, message);
            }
            _ => {}
        }
        (count, percent, full, min_verified)
    }

    /// A full drill restores every selected file: a sample size or byte cap set on
    /// the same job would be silently ignored, so it is refused.
    fn full_without_sample_keys(&mut self, name: &str, j: &RawJob) {
        let set: Vec<&str> = [
            ("sample", j.sample.is_some()),
            ("sample-percent", j.sample_percent.is_some()),
            ("max-bytes", j.max_bytes.is_some()),
            ("sample-by", j.sample_by.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        if !set.is_empty() {
            let keys: Vec<String> = set.iter().map(|k| self.key(k)).collect();
            let message = format!(
                "{}{} restores every selected file; {} would be ignored: drop {}",
                self.job_ctx(name),
                self.key("full"),
                keys.join(", "),
                if keys.len() == 1 { "it" } else { "them" }
            );
            self.problem(None, message);
        }
    }

    /// `sample-by`: "count" (the default) or "bytes".
    fn weighting(&mut self, v: Option<&Spanned<String>>) -> Weighting {
        match v {
            None => Weighting::Count,
            Some(v) if v.get_ref() == "count" => Weighting::Count,
            Some(v) if v.get_ref() == "bytes" => Weighting::Bytes,
            Some(v) => {
                let message = format!(
                    "{}: use \"count\" or \"bytes\"",
                    self.setting("sample-by", v.get_ref())
                );
                self.problem(Some(v.span()), message);
                Weighting::Count
            }
        }
    }

    /// `include` or `exclude` globs (`None`: none given, or a pattern is invalid).
    fn globs(&mut self, name: &str, key: &str, v: Option<&Vec<String>>) -> Option<GlobSet> {
        match compile_globs(v.map_or(&[][..], Vec::as_slice)) {
            Ok(g) => g,
            Err(m) => {
                let message = format!("{}{}: {m}", self.job_ctx(name), self.key(key));
                self.problem(None, message);
                None
            }
        }
    }

    /// `map` entries (`FROM=TO`); an invalid one is reported and left out.
    fn maps(&mut self, v: Option<&Vec<Spanned<String>>>) -> Vec<(String, PathBuf)> {
        let mut map = Vec::new();
        for m in v.into_iter().flatten() {
            match crate::source::parse_map(m.get_ref()) {
                Ok(pair) => map.push(pair),
                Err(msg) => {
                    let key = self.key("map");
                    self.problem(Some(m.span()), format!("{key}: {msg}"));
                }
            }
        }
        map
    }

    /// `source`: "live" (the default) or "zfs", which needs `zfs-dataset`.
    fn source_kind(&mut self, name: &str, j: &RawJob, d: &RawDefaults) -> SourceKind {
        match j.source.as_ref().or(d.source.as_ref()) {
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
                        let message = match self.mode {
                            Mode::Profile => format!("[job.{name}] `source = \"zfs\"` needs `zfs-dataset`, e.g. zfs-dataset = \"tank/home\""),
                            Mode::Flags => "--source zfs needs --zfs-dataset DATASET".to_owned(),
                        };
                        self.problem(Some(v.span()), message);
                        SourceKind::Live
                    }
                }
            }
            Some(v) => {
                let message = format!(
                    "{}: use \"live\" or \"zfs\"",
                    self.setting("source", v.get_ref())
                );
                self.problem(Some(v.span()), message);
                SourceKind::Live
            }
        }
    }

    /// `read-budget` (which replaces `read-data`/`read-data-subset`, except `new`,
    /// whose in-process read it caps) and `outdated-after`: both work from the pack
    /// ledger, which lives in `state-dir`.
    pub(super) fn coverage(
        &mut self,
        name: &str,
        j: &RawJob,
        d: &RawDefaults,
        read_data: ReadData,
        has_state_dir: bool,
    ) -> (ReadData, Option<Duration>) {
        let budget = j.read_budget.as_ref().or(d.read_budget.as_ref());
        let read_data = match budget {
            None => read_data,
            Some(b) => {
                let new = match read_data {
                    ReadData::New { rotate, .. } => Some(rotate),
                    _ => None,
                };
                if read_data != ReadData::None && new.is_none() {
                    let message = format!(
                        "{}{} replaces {} and {}; keep one",
                        self.job_ctx(name),
                        self.key("read-budget"),
                        self.key("read-data"),
                        self.key("read-data-subset")
                    );
                    self.problem(Some(b.span()), message);
                }
                match parse_size(b.get_ref()) {
                    Ok(0) => {
                        let key = self.key("read-budget");
                        self.problem(Some(b.span()), format!("{key} must be above zero"));
                        ReadData::None
                    }
                    Ok(n) => match new {
                        Some(rotate) => ReadData::New {
                            rotate,
                            budget: Some(n),
                        },
                        None => ReadData::Budget(n),
                    },
                    Err(m) => {
                        let key = self.key("read-budget");
                        self.problem(Some(b.span()), format!("{key}: {m}"));
                        ReadData::None
                    }
                }
            }
        };
        let outdated = j.outdated_after.as_ref().or(d.outdated_after.as_ref());
        let outdated_after = self.duration("outdated-after", &outdated.cloned());
        for (key, span) in [
            ("read-budget", budget.map(Spanned::span)),
            ("outdated-after", outdated.map(Spanned::span)),
        ] {
            if span.is_some() && !has_state_dir {
                let message = format!(
                    "{}{} needs {}: the pack ledger that remembers when each pack was read lives there",
                    self.job_ctx(name),
                    self.key(key),
                    self.key("state-dir")
                );
                self.problem(span, message);
            }
        }
        (read_data, outdated_after)
    }

    /// An audit job's keys: the restore test's snapshot, map, include/exclude and
    /// source keys mean the same here (validated by the same code), plus
    /// `backup-excludes` and `max-listed`.
    pub(super) fn audit_settings(
        &mut self,
        name: &str,
        j: &RawJob,
        d: &RawDefaults,
        filter: SnapshotFilter,
    ) -> AuditSettings {
        let shared = self.restore_options(name, j, d, filter);
        let max_listed = j.max_listed.or(d.max_listed).unwrap_or(DEFAULT_MAX_LISTED);
        if max_listed == 0 {
            let message = format!(
                "{}{} must be at least 1",
                self.job_ctx(name),
                self.key("max-listed")
            );
            self.problem(None, message);
        }
        AuditSettings {
            snapshot: shared.snapshot,
            filter: shared.filter,
            map: shared.map,
            include: shared.filter_files.include,
            exclude: shared.filter_files.exclude,
            backup_excludes: j
                .backup_excludes
                .clone()
                .or(d.backup_excludes.clone())
                .unwrap_or_default(),
            source: shared.source,
            max_listed: max_listed.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, Env, Error, JobKind};
    use std::path::Path;

    fn parsed(job_keys: &str) -> Result<crate::config::Profile, Vec<String>> {
        let text = format!(
            "[defaults]\npassword-file = \"/run/pw\"\nmin-verified = 3\n\n[repository.nas]\nurl = \"/mnt/nas\"\n\n[job.r]\nkind = \"restore-test\"\nrepositories = [\"nas\"]\n{job_keys}\n"
        );
        let env = Env {
            credentials_directory: None,
            host: "h".into(),
            now: chrono::Local::now(),
        };
        parse(&text, Path::new("/etc/rv.toml"), &env).map_err(|e| match e {
            Error::Invalid { problems, .. } => problems.iter().map(ToString::to_string).collect(),
            e => vec![e.to_string()],
        })
    }

    fn min_verified(p: &crate::config::Profile) -> Option<usize> {
        match &p.job("r").expect("job").kind {
            JobKind::RestoreTest(o) => o.min_verified,
            JobKind::Check(_) | JobKind::Audit(_) => None,
        }
    }

    #[test]
    fn min_verified_is_inherited_checked_against_the_sample_and_never_zero() {
        assert_eq!(parsed("").map(|p| min_verified(&p)), Ok(Some(3)));
        assert_eq!(
            parsed("min-verified = 20").map(|p| min_verified(&p)),
            Ok(Some(20))
        );
        let p = parsed("min-verified = 21").expect_err("above the default sample of 20");
        assert!(
            p.iter()
                .any(|m| m.contains("`min-verified` (21) is above `sample` (20)")),
            "{p:?}"
        );
        let p = parsed("min-verified = 0").expect_err("zero");
        assert!(p.iter().any(|m| m.contains("must be at least 1")), "{p:?}");
        // With `sample-percent` the sample size is known only at run time.
        assert!(parsed("sample-percent = 1.0\nmin-verified = 500").is_ok());
    }
}
