//! The shared end of the sampled test and the full restore: the findings (damaged
//! files, what restic printed beside them, `always` paths the snapshot lacks),
//! whether enough files were verified (`min-verified`), the restore directory kept
//! or removed, and the `RestoreResult`.

use std::path::PathBuf;
use std::time::Instant;

use super::execute::RestoreDir;
use super::model::{
    default_min_verified, restic_findings, source_label, FullRestore, RestoreOptions, RestoreResult,
};
use super::verify::{self, FloorCounts};
use crate::compare::{Class, FileResult};
use crate::finding::{Finding, FindingKind};
use crate::restic::json::Snapshot;
use crate::rto;
use crate::source::Resolved;

/// The pinned snapshot and what its listing and source gave.
pub(super) struct Pinned {
    pub snapshot: Snapshot,
    pub seed: u64,
    pub population: u64,
    pub unaddressable: u64,
    /// `always` paths the snapshot does not have.
    pub always_missing: Vec<String>,
    pub restore_size: u64,
    pub map: Resolved,
}

/// What a pipeline restored and compared.
pub(super) struct Tested {
    /// The files the record lists, sorted by path.
    pub results: Vec<FileResult>,
    /// Matches with a metadata warning held apart (a full restore lists them, and
    /// judges restic's output with them, after its file findings).
    pub warned: Vec<FileResult>,
    pub tally: FloorCounts,
    /// Files drawn (the default floor is half of them).
    pub drawn: usize,
    /// One finding per damaged file up to this many, then one counting the rest.
    pub max_file_findings: usize,
    /// restic's error lines that named no tested file.
    pub unmatched: Vec<String>,
    pub dir: RestoreDir,
    pub bytes_restored: u64,
    pub restore_seconds: f64,
    pub elided_matches: u64,
    pub replacement_draws: u64,
    pub max_replacement_draws: u64,
    pub full: Option<FullRestore>,
    pub calls: Vec<rto::Call>,
    pub target: rto::Target,
    pub probes: Vec<rto::probe::Probe>,
}

/// Turns what was tested into the result: findings, floor, shortfall, the kept
/// directory.
pub(super) fn wrap_up(opts: &RestoreOptions, pinned: Pinned, tested: Tested) -> RestoreResult {
    let Pinned {
        snapshot,
        seed,
        population,
        unaddressable,
        always_missing,
        restore_size,
        map,
    } = pinned;
    let mut results = tested.results;
    let mut findings = file_findings(&results, tested.max_file_findings);
    let mut with_warnings = results.clone();
    with_warnings.extend(tested.warned.iter().cloned());
    findings.extend(restic_findings(
        &with_warnings,
        &tested.unmatched,
        tested.dir.path(),
    ));
    drop(with_warnings);
    // Matches with a metadata warning are kept in the record (as a sampled test
    // keeps every file that is not a plain match).
    results.extend(tested.warned);
    results.sort_by(|a, b| a.path.cmp(&b.path));
    for missing in &always_missing {
        findings.push(Finding::fail(
            FindingKind::RestoreFailed,
            format!(
                "{missing}: listed in `always` but not in snapshot {}",
                snapshot.short()
            ),
        ));
    }
    let floor = opts
        .min_verified
        .unwrap_or_else(|| default_min_verified(tested.drawn));
    let missing: Vec<PathBuf> = results
        .iter()
        .filter(|f| f.class == Class::SourceMissing)
        .map(|f| map.expected_path(&f.path))
        .collect();
    let missing_root = verify::common_dir(missing.iter().map(PathBuf::as_path));
    let shortfall = verify::shortfall_of(tested.tally, floor, population, missing_root.as_deref());
    if let Some(full) = &tested.full {
        tracing::info!(
            "full drill: restic restored in {:.1} s; {} of {} file(s) verified",
            full.seconds,
            tested.tally.verified,
            tested.drawn
        );
    }
    RestoreResult {
        snapshot,
        seed,
        population,
        unaddressable,
        files: results,
        elided_matches: tested.elided_matches,
        bytes_restored: tested.bytes_restored,
        restore_seconds: tested.restore_seconds,
        snapshot_restore_size: Some(restore_size),
        findings,
        kept: keep_or_remove(tested.dir, opts.keep),
        source: source_label(opts, &map),
        verified: tested.tally.verified as u64,
        min_verified: floor as u64,
        replacement_draws: tested.replacement_draws,
        max_replacement_draws: tested.max_replacement_draws,
        shortfall,
        full: tested.full,
        calls: tested.calls,
        target: tested.target,
        probes: tested.probes,
    }
}

/// Keeps the restored files (`keep`) or removes them.
fn keep_or_remove(dir: RestoreDir, keep: bool) -> Option<PathBuf> {
    if keep {
        let p = dir.keep();
        tracing::info!("restored files kept in {}", p.display());
        Some(p)
    } else {
        let removing = Instant::now();
        drop(dir);
        tracing::debug!(
            "restore directory removed in {:.1} s",
            removing.elapsed().as_secs_f64()
        );
        None
    }
}

/// One finding per damaged file (mismatch, restore failed), at most `max`, then
/// one that counts the rest.
fn file_findings(results: &[FileResult], max: usize) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut more = 0usize;
    for f in results {
        let finding = match f.class {
            Class::Mismatch => Finding::fail(
                FindingKind::RestoreMismatch,
                format!("{}: restored bytes differ from the source, whose size and mtime are unchanged since the backup", f.path),
            ),
            Class::RestoreFailed => Finding::fail(
                FindingKind::RestoreFailed,
                format!("{}: {}", f.path, f.detail.as_deref().unwrap_or("restore failed")),
            ),
            _ => continue,
        };
        if out.len() < max {
            out.push(finding);
        } else {
            more += 1;
        }
    }
    if more > 0 {
        out.push(Finding::fail(
            FindingKind::RestoreFailed,
            format!("{more} more damaged file(s); the record lists every one"),
        ));
    }
    out
}
