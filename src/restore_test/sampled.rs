//! The sampled restore test after planning: set aside files that changed or
//! vanished since the backup (drawing a bounded number of replacements), restore
//! the rest with as few restic calls as the planner finds (whole subtrees where the
//! sample covers much of them) into a private directory, and compare them with the
//! source in parallel, off the async runtime, under the job's deadline. The end is
//! shared with the full restore (`wrap_up`).

use std::collections::VecDeque;
use std::time::Instant;

use super::execute::{self, RestoreErrors};
use super::model::{Error, Listing, RestoreOptions, RestoreResult, MAX_REPLACEMENT_FACTOR};
use super::sampling::{Candidate, Sample};
use super::wrap_up::{self, Tested};
use super::{call_plan, verify};
use crate::compare::{FileResult, Stop};
use crate::restic::{self, Session};
use crate::source::Resolved;

/// The sample after setting aside: files to restore, files already judged, and
/// the replacement draws.
struct SetAside {
    to_restore: Vec<Candidate>,
    results: Vec<FileResult>,
    drawn: usize,
    replacements: usize,
    max_replacements: usize,
}

/// Runs the sampled test on the pinned, listed snapshot.
///
/// # Errors
/// As `restore_test::run`.
pub(super) async fn run(
    session: &Session<'_>,
    opts: &RestoreOptions,
    listing: Listing,
    map: Resolved,
) -> Result<RestoreResult, Error> {
    let Listing {
        snapshot,
        seed,
        sample,
        tree,
        whole,
        probes,
    } = listing;
    let restore_size = tree.total().bytes;
    let always_missing = sample.always_missing.clone();
    let (population, unaddressable) = (sample.population, sample.unaddressable);
    let set = set_aside(sample, opts, &map);
    if set.to_restore.is_empty() && set.results.is_empty() {
        return Err(Error::NothingToTest(snapshot.short().to_owned()));
    }
    let restored = restore(session, opts, &snapshot.id, &set.to_restore, tree).await?;
    let verified = compare(session, &set.to_restore, &restored, &map).await?;
    let bytes_restored = verified
        .iter()
        .filter(|f| f.restored_sha256.is_some())
        .map(|f| f.size)
        .sum();
    let mut results = set.results;
    results.extend(verified);
    results.sort_by(|a, b| a.path.cmp(&b.path));
    let pinned = wrap_up::Pinned {
        snapshot,
        seed,
        population,
        unaddressable,
        always_missing,
        restore_size,
        map,
    };
    let tested = Tested {
        tally: verify::tally(&results),
        drawn: set.drawn,
        results,
        warned: Vec::new(),
        max_file_findings: usize::MAX,
        unmatched: restored.errors.unmatched,
        dir: restored.dir,
        bytes_restored,
        restore_seconds: restored.seconds,
        elided_matches: 0,
        replacement_draws: set.replacements as u64,
        max_replacement_draws: set.max_replacements as u64,
        full: None,
        calls: restored.errors.calls,
        target: whole,
        probes,
    };
    Ok(wrap_up::wrap_up(opts, pinned, tested))
}

/// Sets aside files that changed or vanished since the backup and draws a bounded
/// number of replacements that fit the byte budget, in random order.
fn set_aside(sample: Sample, opts: &RestoreOptions, map: &Resolved) -> SetAside {
    let drawn = sample.chosen.len();
    let max_replacements = drawn.saturating_mul(MAX_REPLACEMENT_FACTOR);
    let mut replacements = 0usize;
    let mut results: Vec<FileResult> = Vec::new();
    let mut to_restore: Vec<Candidate> = Vec::new();
    let mut spares = sample.spares.into_iter();
    let mut budget_used: u64 = sample.chosen.iter().map(|c| c.size).sum();
    let mut queue: VecDeque<Candidate> = sample.chosen.into();
    while let Some(c) = queue.pop_front() {
        match verify::precheck(&c, map) {
            None => to_restore.push(c),
            Some(r) => {
                budget_used -= c.size;
                results.push(r);
                if replacements >= max_replacements {
                    continue;
                }
                if let Some(next) = spares.by_ref().find(|s| {
                    opts.sample
                        .max_bytes
                        .is_none_or(|b| budget_used + s.size <= b)
                }) {
                    budget_used += next.size;
                    replacements += 1;
                    queue.push_back(next);
                }
            }
        }
    }
    to_restore.extend(sample.always);
    SetAside {
        to_restore,
        results,
        drawn,
        replacements,
        max_replacements,
    }
}

/// The sample restored: where, what restic reported, how long it took, and the
/// disk it needed (the comparison's progress total).
struct Restored {
    dir: execute::RestoreDir,
    errors: RestoreErrors,
    seconds: f64,
    need: u64,
}

/// Plans the restore calls (whole subtrees where the sample covers much of them),
/// then restores into a private directory, removed on every exit path.
async fn restore(
    session: &Session<'_>,
    opts: &RestoreOptions,
    snapshot_id: &str,
    to_restore: &[Candidate],
    tree: call_plan::Tree,
) -> Result<Restored, Error> {
    let (plain, special): (Vec<&Candidate>, Vec<&Candidate>) = to_restore
        .iter()
        .partition(|c| restic::args::includable(&c.path));
    let listed: Vec<(String, u64)> = plain.iter().map(|c| (c.path.clone(), c.size)).collect();
    let calls = execute::plan(&listed, &tree, session.restic.version);
    drop(tree);
    if calls.whole_dirs > 0 {
        tracing::info!(
            "restoring {} sampled file(s) with {} restic call(s), {} directory(ies) whole (model: {:.1} s)",
            listed.len(),
            calls.calls.len(),
            calls.whole_dirs,
            calls.seconds
        );
    }
    let special_paths: Vec<String> = special.iter().map(|c| c.path.clone()).collect();
    let need: u64 = calls.disk
        + special
            .iter()
            .map(|c| call_plan::on_disk(c.size))
            .sum::<u64>();
    let dir = execute::prepare(&opts.test_dir, need)?;
    let paths: Vec<String> = listed.into_iter().map(|(p, _)| p).collect();
    let started = Instant::now();
    let restoring = crate::progress::Bar::bytes(
        "restoring the sample",
        calls.bytes + special.iter().map(|c| c.size).sum::<u64>(),
    );
    let errors = if to_restore.is_empty() {
        RestoreErrors::default()
    } else {
        execute::restore(
            session,
            snapshot_id,
            dir.path(),
            &calls.calls,
            &paths,
            &special_paths,
            &restoring,
        )
        .await?
    };
    restoring.finish();
    Ok(Restored {
        dir,
        errors,
        seconds: started.elapsed().as_secs_f64(),
        need,
    })
}

/// Compares the restored files with the source, in parallel, off the async
/// runtime, under the job's deadline.
async fn compare(
    session: &Session<'_>,
    to_restore: &[Candidate],
    restored: &Restored,
    map: &Resolved,
) -> Result<Vec<FileResult>, Error> {
    let stop = Stop {
        deadline: Some(session.deadline.into_std()),
        cancel: Some(session.cancel.clone()),
    };
    let target = restored.dir.path().to_owned();
    let map = map.clone();
    let files = to_restore.to_vec();
    let errors = restored.errors.clone();
    let comparing = crate::progress::Bar::bytes("comparing", restored.need);
    let bar = comparing.clone();
    let verified = tokio::task::spawn_blocking(move || {
        verify::verify(&files, &target, &errors, &map, &stop, &bar)
    })
    .await
    .map_err(|e| Error::Internal(format!("the comparison task failed: {e}")))?
    .map_err(|e| Error::stopped(e, session.timeout))?;
    comparing.finish();
    if verified.len() != to_restore.len() {
        return Err(Error::Internal(format!(
            "{} file(s) were restored but {} compared",
            to_restore.len(),
            verified.len()
        )));
    }
    Ok(verified)
}
