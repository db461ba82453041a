//! `Report`: the result of one invocation, and `RunRecord`: one job run on one
//! repository: the record side of the outputs. Records are assembled here
//! (`assemble`, pure) and are the only input to the writers (`jsonl`, `prometheus`)
//! and the notifiers. This module and its children are the only code that writes run
//! results; the `view` module reads them back and shows them.

pub mod assemble;
pub mod damage_list;
pub mod jsonl;
pub mod preflight;
pub mod prometheus;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::check::damage::{self, Damage};
use crate::check::Budget;
use crate::compare::Class;
use crate::compare::FileResult;
use crate::finding::{Category, Finding, Outcome};
use crate::restore_test::RestoreResult;
use crate::rto;
use crate::state::ledger::Coverage;
use crate::{escape, exit};

/// Version of the JSONL schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// This tool's version, recorded in every result.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("results file {}: directory {} does not exist; create it or change `results`", path.display(), dir.display())]
    ResultsDirMissing { path: PathBuf, dir: PathBuf },
    #[error("cannot append to results file {}: {source}", path.display())]
    Results {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("results file {} is a symbolic link; restic-verify never writes through a link (one planted there would redirect its writes): remove the link, or set `results` to the file it points to", path.display())]
    ResultsLink { path: PathBuf },
    #[error("metrics directory {} does not exist; create it or change `metrics-dir` (node_exporter's --collector.textfile.directory)", dir.display())]
    MetricsDirMissing { dir: PathBuf },
    #[error("cannot write metrics file {}: {source}", path.display())]
    Metrics {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the complete damage file lists to {}: {source}; the record keeps the first paths of each list and their totals", path.display())]
    DamageList {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("report {}: directory {} does not exist", path.display(), dir.display())]
    ReportDirMissing { path: PathBuf, dir: PathBuf },
    #[error("cannot write report {}: {source}", path.display())]
    ReportFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a run could not verify, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRecord {
    pub category: Category,
    pub message: String,
    pub retryable: bool,
}

/// Where a `rotate/T` cycle stood after the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RotationRecord {
    pub group: u16,
    pub groups: u16,
    pub coverage_ratio: f64,
    pub cycle_started: DateTime<Utc>,
    pub last_cycle_completed: Option<DateTime<Utc>>,
}

/// The check part of a record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckRecord {
    /// The `--read-data-subset` actually passed to restic (`all` for `--read-data`).
    pub read_data_subset: Option<String>,
    /// Error lines as restic printed them.
    pub errors: Vec<String>,
    pub snapshots: Option<u64>,
    pub newest_snapshot_age_seconds: Option<f64>,
    pub unreadable_snapshots: Vec<String>,
    pub rotation: Option<RotationRecord>,
    /// When every pack was last read (a full `--read-data`, or a completed rotation).
    pub last_full_read: Option<DateTime<Utc>>,
    /// Pack coverage from the ledger (with a `state-dir`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// `read-budget`: the groups read and their bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// `new`: the in-process read (mode, packs, bytes, seconds, reader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<crate::check::read::PackRead>,
}

/// The snapshot a restore test pinned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRef {
    pub id: String,
    pub time: String,
    pub host: String,
    pub paths: Vec<String>,
}

/// The restore of a full drill, as measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FullRecord {
    /// Wall time of the one `restic restore` call.
    pub seconds: f64,
    /// Regular files and bytes it restored.
    pub files: u64,
    pub bytes: u64,
    /// The whole snapshot (no include/exclude subset).
    pub whole_snapshot: bool,
}

/// The restore-test part of a record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RestoreRecord {
    pub snapshot: Option<SnapshotRef>,
    /// Where the expected bytes came from: `live` or `zfs:<dataset>@<snapshot>`.
    pub source: String,
    /// `--seed` with this value replays the sample exactly.
    pub seed: u64,
    /// Regular files of the snapshot that passed the filters.
    pub population: u64,
    /// Files skipped because their names are not UTF-8 (restic cannot address them).
    pub unaddressable: u64,
    /// Files tested (restored and compared, or set aside as changed/missing).
    pub sampled: u64,
    /// Files restored and compared (`match` or `mismatch`).
    pub verified: u64,
    /// The floor: a test that verified fewer files is `not_verified`, never a pass.
    pub min_verified: u64,
    /// Replacements drawn for files set aside as changed or missing (at most
    /// `4 ×` the sample).
    pub replacement_draws: u64,
    /// Files per class; every class present.
    pub counts: BTreeMap<String, u64>,
    pub bytes_restored: u64,
    pub restore_seconds: f64,
    /// `bytes_restored / restore_seconds` of the sample: a fact of this test, not a
    /// speed a full restore reaches (scattered small files restore far slower).
    pub throughput_bytes_per_second: Option<f64>,
    /// Seconds a full restore of the snapshot takes (`rto.seconds`): `null` when no
    /// trustworthy estimate exists.
    pub estimated_full_restore_seconds: Option<f64>,
    /// The recovery-time estimate with its basis (`model`/`measured`), the fitted
    /// costs, and why there is none or what limits it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto: Option<rto::Estimate>,
    /// Every restore call of this run, timed (`sample`, `subtree`, `full`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<rto::Call>,
    /// Every file that is not `match` (all files with `verbose-results`).
    pub files: Vec<FileResult>,
    /// A full drill (`full`): the measured restore, the snapshot's measured
    /// full-restore time when `whole_snapshot`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full: Option<FullRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<std::path::PathBuf>,
}

impl RestoreRecord {
    /// The record of a completed restore test; `history` holds the dense restore
    /// calls remembered from earlier runs (same restic generation), fitted along
    /// with this run's.
    pub fn from_result(r: &RestoreResult, verbose: bool, history: &[rto::Call]) -> RestoreRecord {
        let throughput = (r.restore_seconds > 0.0 && r.bytes_restored > 0)
            .then(|| r.bytes_restored as f64 / r.restore_seconds);
        // A file that did not come back (restic said nothing, or it arrived with the
        // wrong size) fails the restore as surely as an error line does.
        let estimate = if r.files.iter().any(|f| f.class == Class::RestoreFailed) {
            rto::Estimate::unknown(
                0,
                "a sampled file failed to restore: its time measures the failure, and a repository that fails to restore has no recovery time",
            )
            .for_target(r.target)
        } else {
            rto::estimate(&r.calls, history, r.target)
        };
        RestoreRecord {
            snapshot: Some(SnapshotRef {
                id: r.snapshot.id.clone(),
                time: r.snapshot.time.to_rfc3339(),
                host: r.snapshot.hostname.clone(),
                paths: r.snapshot.paths.clone(),
            }),
            source: r.source.clone(),
            seed: r.seed,
            population: r.population,
            unaddressable: r.unaddressable,
            sampled: r.tested(),
            verified: r.verified,
            min_verified: r.min_verified,
            replacement_draws: r.replacement_draws,
            counts: r
                .counts()
                .into_iter()
                .map(|(c, n)| (c.as_str().to_owned(), n))
                .collect(),
            bytes_restored: r.bytes_restored,
            restore_seconds: r.restore_seconds,
            throughput_bytes_per_second: throughput,
            estimated_full_restore_seconds: estimate.seconds,
            rto: Some(estimate),
            calls: r.calls.clone(),
            files: r
                .files
                .iter()
                .filter(|f| verbose || f.class != Class::Match)
                .cloned()
                .collect(),
            kept: r.kept.clone(),
            full: r.full.as_ref().map(|f| FullRecord {
                seconds: f.seconds,
                files: f.files,
                bytes: f.bytes,
                whole_snapshot: f.whole_snapshot,
            }),
        }
    }
}

/// The audit part of a record: the snapshot, where the source was, counts per class,
/// what was verified, and every entry that is not `match` (up to `files_cap`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub snapshot: crate::audit::SnapshotInfo,
    /// `live`, or `zfs:<dataset>@<snapshot>`.
    pub source: String,
    pub roots: Vec<crate::audit::Root>,
    pub counts: crate::audit::Counts,
    pub files_verified: u64,
    pub bytes_verified: u64,
    /// Source entries the snapshot's recorded excludes (and `backup-excludes`) match.
    pub excluded: u64,
    pub seconds: f64,
    pub files: Vec<crate::audit::Entry>,
    /// Entries left out of `files` by the cap.
    pub files_truncated: u64,
    pub files_cap: usize,
}

impl AuditRecord {
    pub fn from_result(r: crate::audit::job::AuditResult) -> AuditRecord {
        let o = r.outcome;
        AuditRecord {
            snapshot: o.snapshot,
            source: r.source,
            roots: o.roots,
            counts: o.counts,
            files_verified: o.files_verified,
            bytes_verified: o.bytes_verified,
            excluded: o.excluded,
            seconds: o.seconds,
            files_cap: r.max_listed,
            files: o.entries,
            files_truncated: o.truncated,
        }
    }
}

/// One job run on one repository: one JSONL line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub v: u32,
    pub ts: DateTime<Utc>,
    pub host: String,
    pub job: String,
    pub kind: String,
    pub repository: String,
    pub outcome: Outcome,
    /// A fire drill (`restic-verify drill`): one comparison was falsified on
    /// purpose; not a real verdict (readers of the history skip these records).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
    pub duration_seconds: f64,
    pub restic_version: Option<String>,
    pub tool_version: String,
    pub last_success: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_test: Option<RestoreRecord>,
    pub findings: Vec<Finding>,
    /// What is broken and what to do, when damage was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damage: Option<Damage>,
    /// The audit part of a record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
}

/// The recovery-time part of the summary: the estimate and its basis, never a
/// number the calls do not support.
/// `compared`: files compared with the source; a measured restore of a run that
/// compared none is a time, not a verified recovery.
fn rto_text(e: Option<&rto::Estimate>, compared: u64) -> String {
    let Some(e) = e else {
        return String::new();
    };
    match (e.seconds, e.basis) {
        (Some(s), Some(rto::Basis::Measured)) if compared == 0 => format!(
            ", the full restore took {} (measured) but no file was compared with the source",
            rto::human_seconds(s)
        ),
        (Some(s), Some(rto::Basis::Measured)) => {
            format!(", full restore took {} (measured)", rto::human_seconds(s))
        }
        (Some(s), _) => {
            let range = e
                .range_seconds
                .map(|[lo, hi]| {
                    format!(
                        ", between {} and {}",
                        rto::human_seconds(lo),
                        rto::human_seconds(hi)
                    )
                })
                .unwrap_or_default();
            format!(
                ", full restore ~{} (model of {} calibration call(s){range})",
                rto::human_seconds(s),
                e.calls
            )
        }
        (None, _) => ", no RTO estimate".to_owned(),
    }
}

/// The damage report as the summary, the log and every notification show it.
fn damage_text(d: &Damage) -> String {
    let mut s = String::new();
    if !d.packs.is_empty() {
        s.push_str(&format!("\n  - broken pack(s): {}", d.packs.join(", ")));
    }
    if d.index_damaged {
        s.push_str("\n  - an index file cannot be loaded");
    }
    if !d.snapshots.is_empty() {
        let short: Vec<&str> = d
            .snapshots
            .iter()
            .map(|i| i.get(..8).unwrap_or(i))
            .collect();
        s.push_str(&format!("\n  - affected snapshot(s): {}", short.join(", ")));
    }
    let list = |files: &[String], total: u64| {
        let first: Vec<Cow<'_, str>> = files.iter().take(5).map(|f| escape::text(f)).collect();
        let more = usize::try_from(total)
            .unwrap_or(usize::MAX)
            .max(files.len())
            - first.len();
        let mut s = first.join(", ");
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        s
    };
    if !d.lost.is_empty() {
        s.push_str(&format!(
            "\n  - lost file(s) (they use a blob that failed): {}",
            list(&d.lost, d.lost_total)
        ));
    }
    if !d.at_risk.is_empty() {
        let why = if d.at_risk_reason.as_deref() == Some(damage::AT_RISK_SALVAGEABLE) {
            "salvageable with `restic repair packs`"
        } else {
            "restic's check does not say which blobs failed: some may be lost"
        };
        s.push_str(&format!(
            "\n  - at-risk file(s) ({why}): {}",
            list(&d.at_risk, d.at_risk_total)
        ));
    }
    if d.lost.is_empty() && d.at_risk.is_empty() && !d.files.is_empty() {
        let total = d.files.len() as u64 + d.files_truncated;
        s.push_str(&format!(
            "\n  - affected file(s): {}",
            list(&d.files, total)
        ));
    }
    if let Some(f) = &d.files_list {
        s.push_str(&format!("\n  - complete file lists: {}", escape::text(f)));
    }
    if let Some(n) = &d.note {
        s.push_str(&format!(
            "\n  - damage report incomplete: {}",
            escape::text(n)
        ));
    }
    if !d.recipe.is_empty() {
        s.push_str("\n  - to repair (read restic's troubleshooting guide first):");
        for (i, step) in d.recipe.iter().enumerate() {
            s.push_str(&format!("\n      {}. {}", i + 1, escape::text(step)));
        }
    }
    s
}

impl RunRecord {
    /// The exit code this run alone would give.
    pub fn exit_code(&self) -> u8 {
        match (self.outcome, &self.error) {
            (Outcome::Pass, _) => exit::SUCCESS,
            (Outcome::Fail, _) => exit::VERIFICATION_FAILED,
            (Outcome::Error, Some(e)) => e.category.exit_code(),
            (Outcome::Error, None) => exit::COULD_NOT_VERIFY,
        }
    }

    /// One line for a person reading stderr.
    pub fn summary(&self) -> String {
        let verdict = match self.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Error => "ERROR",
        };
        let mut s = format!(
            "{}{verdict} {} `{}` on repository `{}` ({:.1}s)",
            if self.drill { "DRILL " } else { "" },
            self.kind,
            escape::text(&self.job),
            escape::text(&self.repository),
            self.duration_seconds
        );
        if let Some(c) = &self.check {
            if let Some(n) = c.snapshots {
                s.push_str(&format!(", {n} snapshot(s)"));
            }
            if let Some(a) = c.newest_snapshot_age_seconds {
                let a = std::time::Duration::from_secs(a as u64);
                s.push_str(&format!(", newest {} old", humantime::format_duration(a)));
            }
            if let Some(r) = &c.read_data_subset {
                s.push_str(&format!(", read data {r}"));
            }
            if let Some(r) = &c.rotation {
                s.push_str(&format!(
                    " (cycle {:.0}% covered)",
                    r.coverage_ratio * 100.0
                ));
            }
        }
        if let Some(r) = &self.restore_test {
            if r.snapshot.is_some() {
                let counts: Vec<String> = r
                    .counts
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(c, n)| format!("{n} {c}"))
                    .collect();
                // What "tested" counts: files the sample (and `always`) drew, plus the
                // replacements drawn for files set aside as changed or missing.
                let drawn = if r.replacement_draws > 0 {
                    format!(
                        " ({} drawn by the sample, {} to replace files set aside as changed or missing)",
                        r.sampled.saturating_sub(r.replacement_draws),
                        r.replacement_draws
                    )
                } else {
                    String::new()
                };
                s.push_str(&format!(
                    ", {}{drawn}: {} (seed {}); {} compared with the source (at least {} needed)",
                    escape::count(r.sampled, "file tested", "files tested"),
                    counts.join(", "),
                    r.seed,
                    r.verified,
                    r.min_verified
                ));
                if let Some(f) = r.full.as_ref().filter(|f| !f.whole_snapshot) {
                    s.push_str(&format!(
                        ", the selected subset restored in {:.1} s (measured)",
                        f.seconds
                    ));
                }
                s.push_str(&rto_text(r.rto.as_ref(), r.verified));
            }
        }
        if let Some(a) = &self.audit {
            let counts: Vec<String> = a
                .counts
                .nonzero()
                .map(|(c, n)| format!("{n} {}", c.as_str()))
                .collect();
            // Entries (files, directories, links) per class add up to the total; the
            // regular files read byte for byte are a part of the matches.
            s.push_str(&format!(
                ", snapshot {} against {}: {} compared ({}), {} of them read whole and equal ({} bytes)",
                a.snapshot.id.get(..8).unwrap_or(&a.snapshot.id),
                escape::text(&a.source),
                escape::count(a.counts.total(), "entry", "entries"),
                counts.join(", "),
                escape::count(a.files_verified, "regular file", "regular files"),
                a.bytes_verified,
            ));
        }
        for f in &self.findings {
            s.push_str(&format!("\n  - {}", escape::text(&f.detail)));
        }
        if let Some(reason) = self
            .restore_test
            .as_ref()
            .and_then(|r| r.rto.as_ref())
            .filter(|e| e.seconds.is_none())
            .and_then(|e| e.reason.as_deref())
        {
            s.push_str(&format!("\n  - no RTO estimate: {}", escape::text(reason)));
        }
        if let Some(d) = &self.damage {
            s.push_str(&damage_text(d));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(
                "\n  - {} error: {}",
                e.category.as_str(),
                escape::lines(&e.message, "    ")
            ));
        }
        s
    }
}

/// The result of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub runs: Vec<RunRecord>,
    /// Set when the invocation itself ended early (e.g. a configuration error).
    pub exit_override: Option<u8>,
}

impl Report {
    /// The combined exit code: the most serious outcome wins.
    pub fn exit_code(&self) -> u8 {
        exit::combine(
            self.runs
                .iter()
                .map(RunRecord::exit_code)
                .chain(self.exit_override),
        )
    }
}
