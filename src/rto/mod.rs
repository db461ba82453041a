//! The recovery-time estimate (RTO) of a snapshot, from restore calls that were
//! measured (pure: no I/O, no clock; the caller passes calls, history and "now").
//!
//! A restore call costs a fixed part (start restic, open the repository, load the
//! index), a part per file (walk its tree, create and write it) and a part per byte:
//! `seconds = per_call + per_file × files + bytes / bytes_per_second`. The three
//! are fitted (least squares, none negative) and applied to the snapshot's files and
//! bytes. Only *dense* calls are fitted: whole subtrees (calibration) and whole
//! snapshots (full drills), restored the way a real recovery restores, each
//! weighted by its duration (long calls are the most like a full restore). A restore
//! test's sampled calls restore scattered files, one `--include` each; each file
//! costs a tree load, a pack read and include matching against the walked nodes:
//! ~30 ms a file on a 200,000-file snapshot, ~150× what a full restore pays per file
//! (BENCHMARKS.md, "RTO"). Scaling them up gave estimates 500× too long, so they are
//! recorded but never fitted.
//!
//! The estimate is `None`, with the reason, whenever the calls cannot support it:
//! fewer than three, too little spread in files to separate the per-call from the
//! per-file cost, so little work that the per-call cost drowns it, times that the
//! model does not explain, the same calibration call timed twice more than 2×
//! apart (a host too busy to measure; 1.5–2× marks the estimate rough), or a failed
//! restore. When every call had
//! about the same bytes per file, per-file and per-byte cost cannot be told apart;
//! the two extremes bound the full restore, and when they lie within a factor of 4
//! the estimate is their geometric mean (within 2× of either), otherwise `None`.
//! A full drill that restored the whole snapshot *is* the RTO (basis `measured`).

pub mod call;
pub mod fit;
pub mod probe;

pub use call::{CallKind, Target};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One `restic restore` (or `dump`) call, as measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub kind: CallKind,
    /// Regular files it restored.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Wall time of the call.
    pub seconds: f64,
    /// restic reported an error for it: its time measures a failure, not a restore.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

/// A dense call remembered across runs (in the job's state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub at: DateTime<Utc>,
    /// The restic version that made it (`0.18.0`): speeds differ between versions.
    pub restic: String,
    #[serde(flatten)]
    pub call: Call,
}

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Fitted from calibration calls and applied to the snapshot.
    Model,
    /// A restore of the whole snapshot was timed in this run.
    Measured,
}

/// The recovery-time estimate of one restore test, with its basis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Seconds a full restore of the snapshot takes; `None` when the calls cannot
    /// support an estimate (`reason` says why).
    pub seconds: Option<f64>,
    pub basis: Option<Basis>,
    /// Calls the estimate rests on.
    pub calls: u64,
    pub per_call_seconds: Option<f64>,
    pub per_file_seconds: Option<f64>,
    pub bytes_per_second: Option<f64>,
    /// When per-file and per-byte cost could not be told apart: the shortest and
    /// longest full restore the calls allow.
    pub range_seconds: Option<[f64; 2]>,
    /// Why there is no estimate, or what limits it.
    pub reason: Option<String>,
    /// What the estimate is for: the snapshot's regular files and their bytes.
    pub snapshot_files: u64,
    pub snapshot_bytes: u64,
}

impl Estimate {
    /// No estimate, and why.
    pub fn unknown(calls: usize, reason: impl Into<String>) -> Estimate {
        Estimate {
            seconds: None,
            basis: None,
            calls: calls as u64,
            per_call_seconds: None,
            per_file_seconds: None,
            bytes_per_second: None,
            range_seconds: None,
            reason: Some(reason.into()),
            snapshot_files: 0,
            snapshot_bytes: 0,
        }
    }

    /// The same, for a snapshot of `target`.
    pub fn for_target(self, target: Target) -> Estimate {
        Estimate {
            snapshot_files: target.files,
            snapshot_bytes: target.bytes,
            ..self
        }
    }
}

/// Fewest dense calls the model is fitted from (three unknowns, and a residual).
pub const MIN_CALLS: usize = 3;
/// The dense calls' file counts must span this factor (per-call vs per-file cost).
const MIN_FILE_SPREAD: f64 = 4.0;
/// Their bytes per file must span this factor to tell per-file from per-byte cost.
const MIN_RATIO_SPREAD: f64 = 4.0;
/// Widest range of full-restore times (longest / shortest) still reported as an
/// estimate: the geometric mean of a range within 4× is within 2× of either end.
const MAX_RANGE: f64 = 4.0;
/// Largest root-mean-square relative error of the fit over its calls.
const MAX_RELATIVE_ERROR: f64 = 0.5;
/// The same calibration call timed twice in one run: beyond this factor apart the
/// host was too busy to measure anything; beyond `ROUGH_REPEAT` the estimate says
/// it is rough.
const MAX_REPEAT: f64 = 2.0;
const ROUGH_REPEAT: f64 = 1.5;
/// Least share of the largest call's fitted time that is per-file or per-byte
/// work: below it the per-call cost drowns what the calls were meant to measure.
const MIN_WORK_SHARE: f64 = 0.2;

/// Dense calls kept per job and repository.
pub const HISTORY_CALLS: usize = 24;
/// Remembered calls older than this are dropped.
pub const HISTORY_DAYS: i64 = 180;
/// Calibrate again when the newest remembered calibration is older than this.
pub const RECALIBRATE_DAYS: i64 = 30;

/// The estimate for `target` from this run's calls and remembered dense calls.
pub fn estimate(run: &[Call], history: &[Call], target: Target) -> Estimate {
    fitted(run, history, target).for_target(target)
}

fn fitted(run: &[Call], history: &[Call], target: Target) -> Estimate {
    let mut e = fit_calls(run, history, target);
    // A repeated call that varied (but within MAX_REPEAT): say the estimate is rough.
    let rough = repeats(run)
        .into_iter()
        .find(|(lo, hi)| *hi > ROUGH_REPEAT * lo);
    if let (Some(_), Some((lo, hi))) = (e.seconds, rough) {
        let note = format!(
            "the same calibration call took {lo:.1} s and {hi:.1} s (a busy host): the estimate is rough"
        );
        e.reason = Some(match e.reason.take() {
            Some(r) => format!("{r}; {note}"),
            None => note,
        });
    }
    e
}

/// The least-squares fit of dense calls: coefficients (per call, per file, and per
/// byte when `separable`), each call's fitted time, and the root-mean-square
/// relative error. `None` when the calls cannot be fitted.
struct Core {
    beta: Vec<f64>,
    fitted: Vec<f64>,
    rel_error: f64,
    separable: bool,
    /// Fewest and most bytes per file among the calls.
    min_r: f64,
    max_r: f64,
}

fn core(dense: &[&Call]) -> Option<Core> {
    let ratios: Vec<f64> = dense
        .iter()
        .filter(|c| c.files > 0)
        .map(|c| c.bytes as f64 / c.files as f64)
        .collect();
    let min_r = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max_r = ratios.iter().copied().fold(0.0, f64::max);
    let separable = min_r > 0.0 && max_r >= MIN_RATIO_SPREAD * min_r;
    let y: Vec<f64> = dense.iter().map(|c| c.seconds).collect();
    let rows: Vec<Vec<f64>> = dense
        .iter()
        .map(|c| {
            if separable {
                vec![1.0, c.files as f64, c.bytes as f64]
            } else {
                vec![1.0, c.files as f64]
            }
        })
        .collect();
    // Each call weighs as much as it took: a long call is more like a full restore
    // and less a matter of start-up; restores of a few hundred files run below
    // restic's full parallelism and cost more per file than a large restore
    // (BENCHMARKS.md, "RTO"), so they should not steer the slope.
    let beta = fit::nnls(&rows, &y, &y)?;
    let fitted: Vec<f64> = rows
        .iter()
        .map(|r| r.iter().zip(&beta).map(|(x, b)| x * b).sum())
        .collect();
    let rel_error = (fitted
        .iter()
        .zip(&y)
        .map(|(f, t)| ((t - f) / t).powi(2))
        .sum::<f64>()
        / dense.len() as f64)
        .sqrt();
    Some(Core {
        beta,
        fitted,
        rel_error,
        separable,
        min_r,
        max_r,
    })
}

/// The calls a fit may use: dense, not failed, with a positive time.
fn dense_calls(calls: &[Call]) -> Vec<&Call> {
    calls
        .iter()
        .filter(|c| c.kind.dense() && !c.failed && c.seconds.is_finite() && c.seconds > 0.0)
        .collect()
}

/// The fewest and most files the calls restored: `Err` when they are less than
/// `MIN_FILE_SPREAD` apart, too close to tell the per-call from the per-file cost.
fn file_spread(dense: &[&Call]) -> Result<(f64, f64), (f64, f64)> {
    let files = |c: &&Call| c.files as f64;
    let min_f = dense.iter().map(files).fold(f64::INFINITY, f64::min);
    let max_f = dense.iter().map(files).fold(0.0, f64::max);
    if max_f < MIN_FILE_SPREAD * min_f.max(1.0) {
        Err((min_f, max_f))
    } else {
        Ok((min_f, max_f))
    }
}

/// Whether the model explains these dense calls (or they are too few, or spread
/// too little, to judge).
fn explains(dense: &[&Call]) -> bool {
    if dense.len() < MIN_CALLS || file_spread(dense).is_err() {
        return true;
    }
    core(dense).is_none_or(|c| c.rel_error <= MAX_RELATIVE_ERROR)
}

/// The model fitted to the dense calls of this run and `history` (or why there is
/// none), the steps in order: what the run decides alone, enough calls to fit,
/// the fit itself, then the estimate it allows.
fn fit_calls(run: &[Call], history: &[Call], target: Target) -> Estimate {
    if let Some(e) = decided_by_run(run) {
        return e;
    }
    let mut dense = dense_calls(history);
    dense.extend(dense_calls(run));
    if let Some(e) = too_few_to_fit(run, &dense) {
        return e;
    }
    let n = dense.len();
    let Some(fit) = core(&dense) else {
        return Estimate::unknown(n, "the calibration calls could not be fitted");
    };
    let per_call = fit.beta[0];
    let work_share = fit
        .fitted
        .iter()
        .filter(|f| **f > 0.0)
        .map(|f| (f - per_call) / f)
        .fold(0.0, f64::max);
    let mut est = Estimate {
        calls: n as u64,
        per_call_seconds: Some(per_call),
        ..Estimate::unknown(n, "")
    };
    est.reason = None;
    if fit.rel_error > MAX_RELATIVE_ERROR && !history.is_empty() {
        if let Some(e) = fit_own_calls(run, n, target) {
            return e;
        }
    }
    if fit.rel_error > MAX_RELATIVE_ERROR {
        est.reason = Some(format!(
            "the model does not explain the {n} calibration calls (root-mean-square error {:.0}% of their times): the host was probably busy; the next calibration measures again",
            fit.rel_error * 100.0
        ));
        return est;
    }
    if work_share < MIN_WORK_SHARE {
        est.reason = Some(format!(
            "the calibration calls spent at least {:.0}% of their time on the per-call cost ({per_call:.1} s): too little restore work to measure the per-file cost",
            (1.0 - work_share) * 100.0
        ));
        return est;
    }
    if fit.separable {
        let (nf, nb) = (target.files as f64, target.bytes as f64);
        let (per_file, per_byte) = (fit.beta[1], fit.beta[2]);
        est.per_file_seconds = Some(per_file);
        est.bytes_per_second = (per_byte > 0.0).then(|| 1.0 / per_byte);
        est.seconds = Some(per_call + per_file * nf + per_byte * nb);
        est.basis = Some(Basis::Model);
        return est;
    }
    inseparable(est, &dense, &fit, target)
}

/// An estimate this run's own calls settle before any fit: a failed call (no
/// recovery time), a full restore (measured), or the same calibration call timed
/// too far apart (too busy to measure).
fn decided_by_run(run: &[Call]) -> Option<Estimate> {
    if let Some(c) = run.iter().find(|c| c.failed) {
        return Some(Estimate::unknown(
            0,
            format!(
                "a {} restore call of this run failed: its time measures the failure, and a repository that fails to restore has no recovery time",
                kind_name(c.kind)
            ),
        ));
    }
    if let Some(full) = run.iter().find(|c| c.kind == CallKind::Full) {
        return Some(Estimate {
            seconds: Some(full.seconds),
            basis: Some(Basis::Measured),
            calls: 1,
            per_call_seconds: None,
            per_file_seconds: None,
            bytes_per_second: None,
            range_seconds: None,
            reason: None,
            snapshot_files: 0,
            snapshot_bytes: 0,
        });
    }
    // The same calibration call made twice in this run: how steady the host was.
    let (lo, hi) = too_busy(run)?;
    Some(Estimate::unknown(
        0,
        format!(
            "the host was too busy to measure: the same calibration call took {lo:.1} s and {hi:.1} s; the next calibration measures again"
        ),
    ))
}

/// No estimate when the dense calls are too few, or restored too similar numbers
/// of files, to tell the per-call from the per-file cost.
fn too_few_to_fit(run: &[Call], dense: &[&Call]) -> Option<Estimate> {
    let sampled = run.iter().filter(|c| c.kind == CallKind::Sample).count();
    let n = dense.len();
    if n < MIN_CALLS {
        let sample_note = if sampled > 0 {
            format!(
                "; this run's {sampled} sampled call(s) are not used: one `--include` per scattered file costs include matching, a tree load and a pack read per file, far more than a full restore pays"
            )
        } else {
            String::new()
        };
        return Some(Estimate::unknown(
            n,
            format!(
                "{n} calibration call(s) (whole subtrees restored and timed), at least {MIN_CALLS} are needed; restic-verify makes them when a `state-dir` keeps them{sample_note}"
            ),
        ));
    }
    let (min_f, max_f) = file_spread(dense).err()?;
    Some(Estimate::unknown(
        n,
        format!(
            "the {n} calibration calls restored {min_f:.0} to {max_f:.0} files: too little spread (less than {MIN_FILE_SPREAD}×) to tell the per-call from the per-file cost"
        ),
    ))
}

/// Remembered calls that this run's calibration contradicts: the host changed (new
/// disks, another network); this run's calls alone decide, when they are enough
/// and the model explains them. `n`: all dense calls, remembered ones included.
fn fit_own_calls(run: &[Call], n: usize, target: Target) -> Option<Estimate> {
    let own = dense_calls(run);
    if own.len() < MIN_CALLS || !explains(&own) {
        return None;
    }
    let mut e = fit_calls(run, &[], target);
    if e.seconds.is_some() {
        let note = format!(
            "the {} remembered calibration call(s) disagree with this run's, which alone are fitted",
            n - own.len()
        );
        e.reason = Some(match e.reason.take() {
            Some(r) => format!("{r}; {note}"),
            None => note,
        });
    }
    Some(e)
}

/// Every call restored about the same bytes per file: its per-file slope is
/// per-file cost plus that many bytes' cost, in a proportion the calls cannot
/// show. All per-file and all per-byte bound the full restore.
fn inseparable(mut est: Estimate, dense: &[&Call], fit: &Core, target: Target) -> Estimate {
    let (nf, nb) = (target.files as f64, target.bytes as f64);
    let (per_call, slope) = (fit.beta[0], fit.beta[1]);
    let (sum_f, sum_b) = dense.iter().fold((0.0, 0.0), |(f, b), c| {
        (f + c.files as f64, b + c.bytes as f64)
    });
    let all_file = per_call + slope * nf;
    let all_byte = if sum_b > 0.0 {
        per_call + slope * nb * sum_f / sum_b
    } else {
        all_file
    };
    let (lo, hi) = (all_file.min(all_byte), all_file.max(all_byte));
    est.range_seconds = Some([lo, hi]);
    let (lo_shown, hi_shown) = (human_seconds(lo), human_seconds(hi));
    // The snapshot has about the calls' bytes per file: the split does not matter.
    let same = lo_shown == hi_shown;
    let takes = if same {
        format!("a full restore takes about {lo_shown} either way")
    } else {
        format!("a full restore takes between {lo_shown} and {hi_shown}")
    };
    let note = format!(
        "per-file and per-byte cost cannot be told apart: the calibration calls restored {} to {} per file, the snapshot has {} per file; {takes}",
        human_bytes(fit.min_r),
        human_bytes(fit.max_r),
        human_bytes(if nf > 0.0 { nb / nf } else { 0.0 }),
    );
    if hi > MAX_RANGE * lo.max(f64::MIN_POSITIVE) {
        est.reason = Some(format!(
            "{note}: more than {MAX_RANGE}× apart, so no estimate (a calibration call with larger files, or a full drill, would settle it)"
        ));
        return est;
    }
    est.per_file_seconds = Some(slope);
    est.seconds = Some((lo * hi).sqrt());
    est.basis = Some(Basis::Model);
    est.reason = Some(if same {
        note
    } else {
        format!("{note}; the estimate is the geometric mean, within 2× of either")
    });
    est
}

/// The widest-apart timings (fastest, slowest) of a calibration call made twice in
/// `run`, when they are more than `MAX_REPEAT` apart: the host was too busy to
/// measure anything in this run.
fn too_busy(run: &[Call]) -> Option<(f64, f64)> {
    repeats(run)
        .into_iter()
        .max_by(|x, y| (x.1 / x.0).total_cmp(&(y.1 / y.0)))
        .filter(|(lo, hi)| *hi > MAX_REPEAT * lo)
}

/// Timings (fastest, slowest) of dense calls made twice in one run: the same
/// subtree, so any difference is the host, not restic.
fn repeats(run: &[Call]) -> Vec<(f64, f64)> {
    let dense: Vec<&Call> = run.iter().filter(|c| c.kind.dense()).collect();
    let mut out = Vec::new();
    for (i, a) in dense.iter().enumerate() {
        for b in &dense[i + 1..] {
            if (a.files, a.bytes) == (b.files, b.bytes) {
                out.push((a.seconds.min(b.seconds), a.seconds.max(b.seconds)));
            }
        }
    }
    out
}

fn kind_name(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Sample => "sampled",
        CallKind::Subtree => "calibration",
        CallKind::Full => "full",
    }
}

/// `0.18` of `0.18.0` (or the whole string when it has no second dot).
fn generation(version: &str) -> &str {
    match version.match_indices('.').nth(1) {
        Some((i, _)) => &version[..i],
        None => version,
    }
}

/// The remembered calls a run with `restic` at `now` may fit: same restic
/// generation, not older than `HISTORY_DAYS`.
pub fn usable(history: &[Measured], restic: &str, now: DateTime<Utc>) -> Vec<Call> {
    history
        .iter()
        .filter(|m| generation(&m.restic) == generation(restic))
        .filter(|m| (now - m.at).num_days() <= HISTORY_DAYS)
        .map(|m| m.call.clone())
        .collect()
}

/// The history after a run: this run's dense calls that did not fail are added,
/// calls older than `HISTORY_DAYS` dropped, and the newest `HISTORY_CALLS` kept.
/// A failed run adds nothing and keeps the rest; so does a calibration the host
/// was too busy to measure: its repeated call timed more than `MAX_REPEAT` apart,
/// or its calls the model does not explain. Later runs must not fit those timings
/// (remembered, they would stop calibration for `RECALIBRATE_DAYS` and leave every
/// run without an estimate); without them, the next run calibrates again. A
/// calibration that the model explains but the remembered calls of the same restic
/// generation contradict replaces them: the host changed.
pub fn remember(
    mut history: Vec<Measured>,
    run: &[Call],
    restic: &str,
    now: DateTime<Utc>,
) -> Vec<Measured> {
    let own = dense_calls(run);
    let calibration = own.len() >= MIN_CALLS;
    if !run.iter().any(|c| c.failed) && too_busy(run).is_none() {
        if calibration && !explains(&own) {
            // Too busy to measure: not kept.
        } else {
            let earlier = usable(&history, restic, now);
            let mut all = dense_calls(&earlier);
            all.extend(own.iter().copied());
            if calibration && !explains(&all) {
                history.retain(|m| generation(&m.restic) != generation(restic));
            }
            history.extend(run.iter().filter(|c| c.kind.dense()).map(|c| Measured {
                at: now,
                restic: restic.to_owned(),
                call: c.clone(),
            }));
        }
    }
    history.retain(|m| (now - m.at).num_days() <= HISTORY_DAYS);
    history.sort_by_key(|m| m.at);
    let excess = history.len().saturating_sub(HISTORY_CALLS);
    history.drain(..excess);
    history
}

/// Whether a run should make the calibration calls `probes`: always when they
/// restore the whole (small) snapshot, since a measurement beats a model and costs
/// little; otherwise when fewer than `MIN_CALLS` usable calls are remembered or the
/// newest is older than `RECALIBRATE_DAYS`.
pub fn wants_calibration(
    history: &[Measured],
    restic: &str,
    now: DateTime<Utc>,
    probes: &[probe::Probe],
) -> bool {
    if probes.iter().any(|p| p.kind == CallKind::Full) {
        return true;
    }
    let usable: Vec<&Measured> = history
        .iter()
        .filter(|m| generation(&m.restic) == generation(restic))
        .filter(|m| (now - m.at).num_days() <= HISTORY_DAYS)
        .collect();
    let newest = usable.iter().map(|m| m.at).max();
    usable.len() < MIN_CALLS || newest.is_none_or(|t| (now - t).num_days() > RECALIBRATE_DAYS)
}

/// `4.6 KiB`: binary units, one decimal.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `1h 2m 5s` (whole seconds; `0s` for less than one).
pub fn human_seconds(s: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s.max(0.0).round() as u64))
        .to_string()
}

#[cfg(test)]
mod tests;
