//! Calibration calls of the RTO model: after a restore test, restore the subtrees
//! `rto::probe` chose whole (one `--include` each, or the whole snapshot when it is
//! small) into a private directory under `test-dir` each, time each call, and remove
//! what they wrote after the last one. Each is a plain `restic restore` (no
//! `--verify`), as a recovery runs it; only the restic calls are timed, not the
//! removal.
//!
//! Why not remove each directory before the next call: a recovery does not start
//! right after a mass removal, and on some file systems a restore that does is
//! slower. ext4 without a journal skips recently freed inodes when it allocates
//! new ones, a scan per new file: a 17,292-file restore took 2.1 s into a quiet
//! file system and 4.5–8.6 s right after the removal of an earlier restore's files
//! (2.1–2.2 s either way on ext4 with a journal; BENCHMARKS.md, "RTO"). Together
//! the calls hold at most what `rto::probe` allows (the graded subtrees, the
//! largest twice, and the bytes-heavy call: under 1.5 GiB); each call checks the
//! space and inodes those before it left.
//!
//! A restore test's own calls restore scattered files and measure the wrong costs
//! for a recovery (see `rto`); these calls restore the way a recovery does. They
//! verify nothing by themselves, but what restic says about them is not ignored:
//! damage it reports is a failing finding (it is damage in the backup, found by this
//! run), any other error a warning; either way the call counts as failed and the
//! run has no estimate.

use std::path::Path;

use super::execute;
use super::model::RestoreResult;
use crate::finding::{Category, Finding, FindingKind};
use crate::progress;
use crate::restic::restore_output::{restore_line, RestoreLine};
use crate::restic::{self, Session};
use crate::rto;

/// Restores `result.probes`, adds the timed calls to `result.calls` and any finding
/// to `result.findings`. Stops at the first call that fails, at a full test dir, or
/// when the run is cancelled (the restore test's verdict stands; the run simply
/// has no calibration).
pub async fn run(session: &Session<'_>, test_dir: &Path, result: &mut RestoreResult) {
    let probes: Vec<rto::probe::Probe> = result
        .probes
        .iter()
        .filter(|p| p.path.is_empty() || restic::args::includable(&p.path))
        .cloned()
        .collect();
    if probes.is_empty() {
        return;
    }
    let total: u64 = probes.iter().map(|p| p.bytes).sum();
    tracing::info!(
        "calibrating the RTO model: {} restore call(s) of whole subtrees ({} files, {})",
        probes.len(),
        probes.iter().map(|p| p.files).sum::<u64>(),
        rto::human_bytes(total as f64)
    );
    let bar = progress::Bar::bytes("calibrating the RTO model", total);
    // Every call's directory, removed (untimed) when this returns, on every path.
    let mut written: Vec<execute::RestoreDir> = Vec::with_capacity(probes.len());
    for probe in &probes {
        if session.cancel.is_cancelled() {
            break;
        }
        let need = execute::Need {
            bytes: probe.bytes,
            inodes: probe.files,
            what: "an RTO calibration call".to_owned(),
        };
        let dir = match execute::prepare_for(test_dir, &need) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("RTO calibration skipped: {e}");
                break;
            }
        };
        let includes: Vec<String> = if probe.path.is_empty() {
            Vec::new()
        } else {
            vec![probe.path.clone()]
        };
        let shown = if probe.path.is_empty() {
            "the whole snapshot"
        } else {
            probe.path.as_str()
        };
        bar.set_message(shown.to_owned());
        // A plain restore, without restic's `--verify`: what a recovery runs.
        let spec = restic::session::RestoreSpec {
            snapshot: &result.snapshot.id,
            target: dir.path(),
            includes: &includes,
            verify: false,
            is_file: &|_: &str| false,
            events: false,
        };
        let started = std::time::Instant::now();
        let out = session.restore_with(&spec, &mut |_| ()).await;
        let seconds = started.elapsed().as_secs_f64();
        bar.inc(probe.bytes);
        let mut call = rto::Call {
            kind: probe.kind,
            files: probe.files,
            bytes: probe.bytes,
            seconds,
            failed: false,
        };
        match out {
            Ok(out) => {
                let lines: Vec<&String> = out
                    .errors
                    .iter()
                    .map(|(_, why)| why)
                    .chain(&out.unmatched)
                    .collect();
                call.failed = execute::call_failed(lines.iter().copied(), dir.path());
                let target = dir.path().to_string_lossy();
                for line in lines {
                    let detail = format!(
                        "RTO calibration restore of {shown} (not part of the sample): {line}"
                    );
                    result.findings.push(match restore_line(line, &target) {
                        RestoreLine::Integrity => Finding::fail(FindingKind::RestoreFailed, detail),
                        RestoreLine::Metadata => continue,
                        _ => Finding::warn(FindingKind::RestoreUnattributed, detail),
                    });
                }
                tracing::debug!(
                    "calibration: {shown}: {} files, {} in {seconds:.2} s",
                    probe.files,
                    rto::human_bytes(probe.bytes as f64)
                );
            }
            Err(e) => {
                call.failed = !matches!(
                    e,
                    restic::Error::Interrupted { .. } | restic::Error::TimedOut { .. }
                );
                if call.failed {
                    tracing::warn!("RTO calibration restore of {shown} failed: {e}");
                    if e.category() == Category::Corruption {
                        result.findings.push(Finding::fail(
                            FindingKind::RestoreFailed,
                            format!(
                                "RTO calibration restore of {shown} (not part of the sample): {e}"
                            ),
                        ));
                    }
                    result.calls.push(call);
                }
                break;
            }
        }
        let failed = call.failed;
        result.calls.push(call);
        written.push(dir);
        if failed {
            break;
        }
    }
    bar.finish();
    drop(written);
}
