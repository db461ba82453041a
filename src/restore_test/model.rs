//! What a restore test takes and gives: its options, its errors and their
//! categories, its result, the listing of the pinned snapshot, and the findings
//! made of restic's own output. Below the pipelines (`sampled`, `full`,
//! `wrap_up`) and the entry point in `mod.rs`, which all use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::sampling::{self, FileFilter, SampleOptions};
use super::{call_plan, execute, verify};
use crate::compare::Class;
use crate::compare::FileResult;
use crate::compare::Stopped;
use crate::finding::{Category, Finding, FindingKind};
use crate::restic::args::SnapshotFilter;
use crate::restic::{self, json::Snapshot};
use crate::rto;
use crate::source::SourceKind;
use crate::zfs;

/// Knobs of a restore-test job.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// A snapshot ID; `None` pins the newest snapshot matching `filter`.
    pub snapshot: Option<String>,
    pub filter: SnapshotFilter,
    pub sample: SampleOptions,
    pub filter_files: FileFilter,
    /// Replays a run exactly; `None` draws a seed from the OS (and records it).
    pub seed: Option<u64>,
    /// `FROM=TO` prefix rewrites from tree paths to source paths.
    pub map: Vec<(String, PathBuf)>,
    /// Where the private restore directory is created.
    pub test_dir: PathBuf,
    pub keep: bool,
    /// Record every file in the JSONL, not only those that are not `match`.
    pub verbose_results: bool,
    /// Live files, or the ZFS snapshot the backup was read from.
    pub source: SourceKind,
    /// The test passes only when at least this many files were restored and
    /// compared; `None`: half the sample drawn (rounded up), at least 1.
    pub min_verified: Option<usize>,
    /// Restore every selected file in one call and compare them all (a full restore).
    pub full: bool,
    /// Draw a progress line on a terminal (the command line sets it; never for
    /// JSON logs, timers or the daemon).
    pub progress: bool,
}

impl RestoreOptions {
    /// Whether this run is a full restore: `full`, or a 100% sample without a byte cap.
    pub fn is_full(&self) -> bool {
        self.full
            || (self.sample.percent.is_some_and(|p| p >= 100.0) && self.sample.max_bytes.is_none())
    }
}

/// Default number of files a restore test samples.
pub const DEFAULT_SAMPLE: usize = 20;

/// Files set aside (changed, missing) are replaced by further draws, at most this
/// many times the sample: a source that is mostly gone or busy ends the test with
/// `not_verified` instead of walking the whole snapshot.
pub const MAX_REPLACEMENT_FACTOR: usize = 4;

/// The default verification floor: half the sample drawn, rounded up, at least 1.
pub fn default_min_verified(drawn: usize) -> usize {
    drawn.div_ceil(2).max(1)
}

/// Why a restore test could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Restic(#[from] restic::Error),
    #[error(transparent)]
    Execute(#[from] execute::Error),
    #[error("restic could not load some snapshot files, so the newest snapshot is unknown (restic would silently use an older one): {}", .0.join("; "))]
    SnapshotUnreadable(Vec<String>),
    #[error("no snapshot matches{0}")]
    NoSnapshot(String),
    #[error("snapshot {0} has no regular file matching the filters: nothing to restore-test")]
    NothingToTest(String),
    #[error(transparent)]
    Source(#[from] zfs::Error),
    #[error("comparing the restored files did not finish within {}; stopped", humantime::format_duration(*after))]
    TimedOut { after: std::time::Duration },
    #[error("comparing the restored files was interrupted by a signal")]
    Interrupted,
    #[error("internal error while comparing the restored files: {0}")]
    Internal(String),
}

impl Error {
    /// Why comparing stopped: the deadline (`timeout`), a signal, or a bug.
    pub(crate) fn stopped(e: verify::VerifyError, timeout: std::time::Duration) -> Error {
        match e {
            verify::VerifyError::Stopped(Stopped::Deadline) => Error::TimedOut { after: timeout },
            verify::VerifyError::Stopped(Stopped::Cancelled) => Error::Interrupted,
            verify::VerifyError::Panicked(what) => {
                Error::Internal(format!("a hash worker panicked: {what}"))
            }
        }
    }

    pub fn category(&self) -> Category {
        match self {
            Error::Restic(e) => e.category(),
            Error::Execute(execute::Error::NoSpace { .. } | execute::Error::NoInodes { .. }) => {
                Category::NoSpace
            }
            Error::Execute(_) => Category::Config,
            Error::SnapshotUnreadable(_) => Category::Corruption,
            Error::NoSnapshot(_) | Error::NothingToTest(_) => Category::NotFound,
            Error::Source(zfs::Error::Spawn { .. }) => Category::Config,
            Error::Source(zfs::Error::Failed { .. }) => Category::Internal,
            Error::Source(zfs::Error::TimedOut { .. }) => Category::Timeout,
            Error::Source(zfs::Error::Interrupted { .. }) => Category::Interrupted,
            Error::Source(_) => Category::NotFound,
            Error::TimedOut { .. } => Category::Timeout,
            Error::Interrupted => Category::Interrupted,
            Error::Internal(_) => Category::Internal,
        }
    }
}

/// What a completed restore test saw.
#[derive(Debug, Clone)]
pub struct RestoreResult {
    pub snapshot: Snapshot,
    pub seed: u64,
    pub population: u64,
    /// Files skipped because their names are not UTF-8 (see `sampling::Sample`).
    pub unaddressable: u64,
    pub files: Vec<FileResult>,
    pub bytes_restored: u64,
    pub restore_seconds: f64,
    pub snapshot_restore_size: Option<u64>,
    pub findings: Vec<Finding>,
    /// Where the restored files were kept (`keep`).
    pub kept: Option<PathBuf>,
    /// `live`, or `zfs:<dataset>@<snapshot>`.
    pub source: String,
    /// Files restored and compared (match or mismatch).
    pub verified: u64,
    /// The floor: fewer verified files and the test cannot pass.
    pub min_verified: u64,
    /// Replacements drawn for files set aside, and the most that were allowed.
    pub replacement_draws: u64,
    pub max_replacement_draws: u64,
    /// Why fewer than `min_verified` files were verified (`None`: enough were).
    pub shortfall: Option<String>,
    /// Files that matched but are not in `files` (a full restore keeps only the
    /// files worth reading, unless `verbose-results`).
    pub elided_matches: u64,
    /// A full restore: the measured restore.
    pub full: Option<FullRestore>,
    /// Every restore call, timed (the sample's; calibration calls are added by
    /// `calibrate::run`).
    pub calls: Vec<rto::Call>,
    /// What a full restore of the snapshot restores (regular files and bytes).
    pub target: rto::Target,
    /// Subtrees that would calibrate the RTO model (see `rto::probe`).
    pub probes: Vec<rto::probe::Probe>,
}

/// The one restore call of a full restore, as measured: the snapshot's measured
/// full-restore time when it restored the whole snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct FullRestore {
    /// Wall time of the `restic restore` call.
    pub seconds: f64,
    /// Regular files and their bytes it wrote.
    pub files: u64,
    pub bytes: u64,
    /// Whether it restored the whole snapshot (no filter).
    pub whole_snapshot: bool,
}

impl RestoreResult {
    pub fn counts(&self) -> BTreeMap<Class, u64> {
        let mut m: BTreeMap<Class, u64> = Class::ALL.iter().map(|c| (*c, 0)).collect();
        for f in &self.files {
            *m.entry(f.class).or_default() += 1;
        }
        *m.entry(Class::Match).or_default() += self.elided_matches;
        m
    }

    /// Files tested: those listed and the matches left out of the list.
    pub fn tested(&self) -> u64 {
        self.files.len() as u64 + self.elided_matches
    }
}

/// What the pinned snapshot's listing gave: the sample (every selected file for a
/// full restore), the tree counts, and the snapshot's shape for the RTO model.
pub(crate) struct Listing {
    pub(crate) snapshot: Snapshot,
    pub(crate) seed: u64,
    pub(crate) sample: sampling::Sample,
    pub(crate) tree: call_plan::Tree,
    /// What a full restore of the snapshot restores.
    pub(crate) whole: rto::Target,
    pub(crate) probes: Vec<rto::probe::Probe>,
}

/// Where the expected bytes came from, for the record.
pub(crate) fn source_label(opts: &RestoreOptions, map: &crate::source::Resolved) -> String {
    match (&opts.source, &map.zfs_snapshot) {
        (SourceKind::Zfs { dataset, .. }, Some(name)) => format!("zfs:{dataset}@{name}"),
        _ => "live".to_owned(),
    }
}

/// Findings from what restic printed beside the per-file results: one warning for
/// files restored without some metadata (not damage), and every error line that
/// named no sampled file (damage fails the run; anything else is a warning).
pub(crate) fn restic_findings(
    results: &[FileResult],
    unmatched: &[String],
    target: &Path,
) -> Vec<Finding> {
    use crate::restic::restore_output::{restore_line, RestoreLine};
    let mut findings = Vec::new();
    let metadata: Vec<&FileResult> = results.iter().filter(|f| f.warning.is_some()).collect();
    if let Some(first) = metadata.first() {
        findings.push(Finding::warn(
            FindingKind::RestoreMetadata,
            format!(
                "{} file(s) came back with the right bytes but without some metadata (e.g. {}: {}): not damage; restic lacked the privilege (a non-root user, a user namespace, `RestrictSUIDSGID=yes`)",
                metadata.len(),
                first.path,
                first.warning.as_deref().unwrap_or_default()
            ),
        ));
    }
    let target = target.to_string_lossy();
    for line in unmatched {
        let detail =
            format!("restic reported an error for a path that is not a sampled file: {line}");
        findings.push(match restore_line(line, &target) {
            RestoreLine::Integrity => Finding::fail(FindingKind::RestoreFailed, detail),
            _ => Finding::warn(FindingKind::RestoreUnattributed, detail),
        });
    }
    findings
}
