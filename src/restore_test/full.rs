//! The full restore (`full = true`, `--full`, `--sample-percent 100`): every
//! selected file of the snapshot restored by ONE `restic restore` call without
//! per-file includes (the whole snapshot, or for an `include`/`exclude` subset the
//! few whole directories the planner picks), then every regular file compared with
//! the source, classified exactly as a sampled test classifies (`verify::conclude`).
//!
//! Work overlaps where that is safe. Two hash workers (one per core) read the
//! source while restic restores (the source is read-only and independent of the
//! restore). The restored side is hashed in restic's completion order where restic
//! reports it (≥ 0.17 with `--json -vv`: an item is printed once the last write of
//! its content returned, so its bytes no longer change); with older restic it is
//! hashed right after the restore. Restic's per-file errors and the permission bits
//! (set after the content) are only judged once the restore has ended. The private
//! directory is removed on every exit path (`execute::RestoreDir`), after the
//! workers have stopped.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

use super::call_plan::{self, Tree};
use super::execute::{self, RestoreErrors};
use super::full_progress::Progress;
use super::model::{Error, FullRestore, Listing, RestoreOptions, RestoreResult};
use super::sampling::{Candidate, Sample};
use super::verify::{self, FloorCounts};
use super::wrap_up::{self, Tested};
use crate::compare::{Class, Expected, FileResult, Stop, Stopped};
use crate::restic::json::Snapshot;
use crate::restic::session::{RestoreEvent, RestoreSpec};
use crate::restic::Session;
use crate::rto;
use crate::source::{self, Resolved};

/// Per-file findings listed in a record at most; the rest are counted in one more.
const MAX_FILE_FINDINGS: usize = 1000;
/// Files classified per parallel round after the restore (bounds the memory of
/// results in flight).
const CONCLUDE_CHUNK: usize = 4096;

/// What is known about one file's source side before the restore ended.
#[derive(Debug)]
enum SourceSide {
    /// Set aside before reading (changed or deleted since the backup), as a sampled
    /// test would.
    SetAside(FileResult),
    Read(Expected),
}

/// The state the hash workers and the restore share.
struct Shared {
    files: Vec<Candidate>,
    /// Indices of `files`, sorted by path (restic names completed items by path).
    by_path: Vec<u32>,
    source: Vec<OnceLock<SourceSide>>,
    restored: Vec<OnceLock<Result<(String, u64), String>>>,
    /// Bit 1: source done, bit 2: restored done, bit 4: restored queued.
    state: Vec<AtomicU8>,
    queue: Mutex<Queue>,
    wake: Condvar,
    target: PathBuf,
    map: Resolved,
    stop: Stop,
    progress: Progress,
    compared: AtomicUsize,
}

#[derive(Default)]
struct Queue {
    restored: VecDeque<u32>,
    next_source: usize,
    /// No more restored hashes will be queued.
    closed: bool,
}

const SOURCE_DONE: u8 = 1;
const RESTORED_DONE: u8 = 2;
const RESTORED_QUEUED: u8 = 4;

impl Shared {
    fn new(
        files: Vec<Candidate>,
        dir: &execute::RestoreDir,
        map: Resolved,
        stop: Stop,
        progress: Progress,
    ) -> Shared {
        let n = files.len();
        let mut by_path: Vec<u32> = (0..n as u32).collect();
        by_path.sort_by(|a, b| files[*a as usize].path.cmp(&files[*b as usize].path));
        Shared {
            files,
            by_path,
            source: (0..n).map(|_| OnceLock::new()).collect(),
            restored: (0..n).map(|_| OnceLock::new()).collect(),
            state: (0..n).map(|_| AtomicU8::new(0)).collect(),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            target: dir.path().to_owned(),
            map,
            stop,
            progress,
            compared: AtomicUsize::new(0),
        }
    }

    fn find(&self, path: &str) -> Option<usize> {
        self.by_path
            .binary_search_by(|i| self.files[*i as usize].path.as_str().cmp(path))
            .ok()
            .map(|k| self.by_path[k] as usize)
    }

    /// Queues the restored side of file `i` (once).
    fn queue_restored(&self, i: usize) {
        let before = self.state[i].fetch_or(RESTORED_QUEUED, Ordering::AcqRel);
        if before & RESTORED_QUEUED != 0 {
            return;
        }
        if let Ok(mut q) = self.queue.lock() {
            q.restored.push_back(i as u32);
        }
        self.wake.notify_one();
    }

    fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.closed = true;
        }
        self.wake.notify_all();
    }

    fn done(&self, i: usize, bit: u8) {
        let before = self.state[i].fetch_or(bit, Ordering::AcqRel);
        let both = SOURCE_DONE | RESTORED_DONE;
        if before & both != both && (before | bit) & both == both {
            self.compared.fetch_add(1, Ordering::Relaxed);
            self.progress.compared();
        }
    }

    /// One hash worker: restored copies first (just written, still in the page
    /// cache), else the next source file; ends when the queue is closed and empty.
    fn work(&self) -> Result<(), Stopped> {
        loop {
            self.stop.check()?;
            enum Job {
                Restored(usize),
                Source(usize),
            }
            let job = {
                let Ok(mut q) = self.queue.lock() else {
                    return Ok(());
                };
                loop {
                    if let Some(i) = q.restored.pop_front() {
                        break Job::Restored(i as usize);
                    }
                    if q.next_source < self.files.len() {
                        q.next_source += 1;
                        break Job::Source(q.next_source - 1);
                    }
                    if q.closed {
                        return Ok(());
                    }
                    // Wake up now and then to notice a stop.
                    q = match self
                        .wake
                        .wait_timeout(q, std::time::Duration::from_millis(200))
                    {
                        Ok((q, _)) => q,
                        Err(_) => return Ok(()),
                    };
                    self.stop.check()?;
                }
            };
            match job {
                Job::Restored(i) => {
                    let h = verify::hash_restored(&self.target, &self.files[i], &self.stop)?;
                    let _ = self.restored[i].set(h);
                    self.done(i, RESTORED_DONE);
                }
                Job::Source(i) => {
                    let c = &self.files[i];
                    let side = match verify::precheck(c, &self.map) {
                        Some(r) => {
                            // Nothing to compare: the restored copy need not be read.
                            self.state[i].fetch_or(RESTORED_QUEUED, Ordering::AcqRel);
                            self.done(i, RESTORED_DONE);
                            SourceSide::SetAside(r)
                        }
                        None => SourceSide::Read(source::read_expected(
                            &self.map.expected(&c.path),
                            &self.stop,
                        )?),
                    };
                    let _ = self.source[i].set(side);
                    self.done(i, SOURCE_DONE);
                }
            }
        }
    }
}

/// Runs `workers` hash workers until the queue is closed and drained.
///
/// Each worker runs on a thread of its own at a lower CPU priority (`YIELD_NICE`):
/// restic's restore is the full restore's critical path, and the workers are to use the
/// cores it leaves idle rather than slow it down. Measured at `baa40bb`, restic 0.18,
/// warm page cache: restic's restore took 1.30x as long inside the full restore as alone
/// (29.7-30.1 s vs 22.9 s) while the workers competed with it as equals.
fn run_workers(shared: &Shared, workers: usize) -> Result<(), verify::VerifyError> {
    let ids: Vec<usize> = (0..workers.max(1)).collect();
    verify::parallel(&ids, ids.len(), |_| {
        yield_to_restic();
        shared.work()
    })
    .map(|_| ())
}

/// The nice value the hash workers add to their own (CFS gives a thread at +10
/// about a tenth of the share of one at +0 when both want a core).
const YIELD_NICE: i32 = 10;

/// Lowers the calling thread's priority by `YIELD_NICE` (Linux: per thread, allowed
/// to any user; it cannot be raised back, so only threads that end with the full restore
/// call it). A refusal changes nothing but speed, so it is logged, not raised.
fn yield_to_restic() {
    use rustix::process::{getpriority_process, setpriority_process};
    let tid = Some(rustix::thread::gettid());
    let now = getpriority_process(tid).unwrap_or(0);
    if let Err(e) = setpriority_process(tid, (now + YIELD_NICE).min(19)) {
        tracing::debug!("restore drill: a hash worker keeps its priority ({e})");
    }
}

/// Whether the file filter selects every regular file (then the restore needs no
/// include at all).
fn selects_everything(opts: &RestoreOptions) -> bool {
    let f = &opts.filter_files;
    f.include.is_none() && f.exclude.is_none() && f.min_size.is_none() && f.max_size.is_none()
}

/// The full restore planned: every selected file, the one restic call, and the
/// files `restic dump` writes (names `--include` cannot express).
struct Planned {
    files: Vec<Candidate>,
    call: call_plan::RestoreCall,
    dumped: Vec<String>,
    /// Files and bytes the call and the dumps write.
    files_written: u64,
    bytes_written: u64,
    /// The filter selects every file: the call restores the whole snapshot.
    everything: bool,
    need: execute::Need,
}

/// Runs the full restore on the pinned snapshot: the listing's sample holds every
/// selected file.
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
        ..
    } = listing;
    let restore_size = tree.total().bytes;
    let always_missing = sample.always_missing.clone();
    let (population, unaddressable) = (sample.population, sample.unaddressable);
    let mut planned = plan(session, opts, sample, &tree, &snapshot)?;
    drop(tree);
    let dir = execute::prepare_for(&opts.test_dir, &planned.need)?;
    log_plan(&snapshot, &planned);
    let n = planned.files.len();
    let progress = Progress::new(
        opts.progress,
        n as u64,
        session.restic.version >= crate::restic::Version::new(0, 16, 0),
    );
    let _clear = super::full_progress::ClearOnDrop(progress.clone());
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    // The job's deadline and cancellation, and a stop of our own for the workers
    // when the restore ends early.
    let halt = session.cancel.child_token();
    let _halt_on_exit = halt.clone().drop_guard();
    let shared = Arc::new(Shared::new(
        std::mem::take(&mut planned.files),
        &dir,
        map.clone(),
        Stop {
            deadline: Some(session.deadline.into_std()),
            cancel: Some(halt.clone()),
        },
        progress.clone(),
    ));
    let pool = {
        let s = Arc::clone(&shared);
        tokio::task::spawn_blocking(move || run_workers(&s, workers))
    };
    let started = Instant::now();
    let (restored, restore_seconds) =
        restore(session, &snapshot.id, &planned, &dir, &shared, &progress).await;
    let errors = finish_hashing(restored, &shared, &dir, &halt, pool, session).await?;
    tracing::debug!(
        "full drill: hashing finished {:.1} s after the restore",
        started.elapsed().as_secs_f64() - restore_seconds
    );
    let judging = Instant::now();
    let judged = judge(&shared, &dir, &errors, workers, opts.verbose_results)
        .map_err(|e| Error::stopped(e, session.timeout))?;
    progress.finish();
    tracing::debug!(
        "full drill: {n} file(s) judged in {:.1} s",
        judging.elapsed().as_secs_f64()
    );
    let (full, call) = measured(&planned, restore_seconds);
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
        results: judged.results,
        warned: judged.warned,
        tally: judged.tally,
        drawn: n,
        max_file_findings: MAX_FILE_FINDINGS,
        unmatched: errors.unmatched,
        dir,
        bytes_restored: judged.bytes_restored,
        restore_seconds,
        elided_matches: judged.matched,
        replacement_draws: 0,
        max_replacement_draws: 0,
        full: Some(full),
        calls: vec![call],
        target: whole,
        probes: Vec::new(),
    };
    Ok(wrap_up::wrap_up(opts, pinned, tested))
}

/// The one restore call, as measured, and timed for the RTO model: the measured
/// RTO when it restored the whole snapshot, a dense calibration call of the model
/// when a subset.
fn measured(planned: &Planned, seconds: f64) -> (FullRestore, rto::Call) {
    let full = FullRestore {
        seconds,
        files: planned.files_written,
        bytes: planned.bytes_written,
        whole_snapshot: planned.everything,
    };
    let call = rto::Call {
        kind: if full.whole_snapshot {
            rto::CallKind::Full
        } else {
            rto::CallKind::Subtree
        },
        files: full.files,
        bytes: full.bytes,
        seconds,
        failed: false,
    };
    (full, call)
}

/// Plans the one restore call over every selected file, and the dumps beside it.
fn plan(
    session: &Session<'_>,
    opts: &RestoreOptions,
    sample: Sample,
    tree: &Tree,
    snapshot: &Snapshot,
) -> Result<Planned, Error> {
    let mut files: Vec<Candidate> = sample.chosen;
    files.extend(sample.always);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    if files.is_empty() {
        return Err(Error::NothingToTest(snapshot.short().to_owned()));
    }
    let (plain, special): (Vec<&Candidate>, Vec<&Candidate>) = files
        .iter()
        .partition(|c| crate::restic::args::includable(&c.path));
    let version = session.restic.version;
    let listed: Vec<(String, u64)> = plain.iter().map(|c| (c.path.clone(), c.size)).collect();
    let everything = selects_everything(opts);
    let plan = call_plan::plan_single(
        &listed,
        tree,
        &execute::cost_model(version),
        version.has_subfolder_restore(),
        &crate::restic::args::includable,
        everything,
    );
    drop(listed);
    let Some(call) = plan.calls.first().cloned() else {
        return Err(Error::Internal(
            "the full drill planned no restore".to_owned(),
        ));
    };
    // Files the call does not write (names `--include` cannot express, outside the
    // directories restored whole) come from `restic dump`.
    let dumps: Vec<&&Candidate> = special
        .iter()
        .filter(|c| !planner_covers(&call, &c.path))
        .collect();
    let dumped: Vec<String> = dumps.iter().map(|c| c.path.clone()).collect();
    let dump_bytes: u64 = dumps.iter().map(|c| c.size).sum();
    let dump_disk: u64 = dumps.iter().map(|c| call_plan::on_disk(c.size)).sum();
    let files_written = plan.files + dumped.len() as u64;
    let bytes_written = plan.bytes + dump_bytes;
    let need = execute::Need {
        bytes: plan.disk + dump_disk,
        inodes: plan.nodes + dumped.len() as u64,
        what: format!(
            "a full restore of snapshot {} ({} files, {} bytes)",
            snapshot.short(),
            files_written,
            bytes_written
        ),
    };
    Ok(Planned {
        files,
        call,
        dumped,
        files_written,
        bytes_written,
        everything,
        need,
    })
}

fn log_plan(snapshot: &Snapshot, planned: &Planned) {
    let call = &planned.call;
    tracing::info!(
        "full drill of snapshot {}: {} file(s) to compare, one restic call{}{}",
        snapshot.short(),
        planned.files.len(),
        if call.root.is_empty() {
            String::new()
        } else {
            format!(" starting at {}", call.root)
        },
        if call.includes.is_empty() {
            " without includes".to_owned()
        } else {
            format!(" with {} directory/file include(s)", call.includes.len())
        }
    );
}

/// The one restore call (completed items go to the workers as restic reports
/// them), then the dumps: restic's per-file errors, and the call's wall time.
async fn restore(
    session: &Session<'_>,
    snapshot_id: &str,
    planned: &Planned,
    dir: &execute::RestoreDir,
    shared: &Arc<Shared>,
    progress: &Progress,
) -> (Result<RestoreErrors, Error>, f64) {
    let started = Instant::now();
    let restored = restore_call(session, snapshot_id, &planned.call, dir, shared, progress).await;
    let seconds = started.elapsed().as_secs_f64();
    progress.restore_done(seconds);
    let mut errors = match restored {
        Ok(e) => e,
        Err(e) => return (Err(e), seconds),
    };
    if !planned.dumped.is_empty() {
        let dumped = execute::restore(
            session,
            snapshot_id,
            dir.path(),
            &[],
            &[],
            &planned.dumped,
            &crate::progress::Bar::hidden(),
        )
        .await;
        match dumped {
            Ok(e) => {
                for (p, whys) in e.by_path {
                    for why in whys {
                        errors.add(p.clone(), why);
                    }
                }
            }
            Err(e) => return (Err(e.into()), seconds),
        }
    }
    (Ok(errors), seconds)
}

/// The one `restic restore` call.
async fn restore_call(
    session: &Session<'_>,
    snapshot_id: &str,
    call: &call_plan::RestoreCall,
    dir: &execute::RestoreDir,
    shared: &Arc<Shared>,
    progress: &Progress,
) -> Result<RestoreErrors, Error> {
    let (snapshot_arg, call_target) = if call.root.is_empty() {
        (snapshot_id.to_owned(), dir.path().to_owned())
    } else {
        (
            format!("{snapshot_id}:{}", call.root),
            execute::restored_path(dir.path(), &call.root),
        )
    };
    let includes: Vec<String> = call
        .includes
        .iter()
        .map(|p| p[call.root.len()..].to_owned())
        .collect();
    let root = call.root.clone();
    let is_file = {
        let s = Arc::clone(shared);
        let root = root.clone();
        move |p: &str| s.find(&format!("{root}{p}")).is_some()
    };
    let spec = RestoreSpec {
        snapshot: &snapshot_arg,
        target: &call_target,
        includes: &includes,
        verify: false,
        is_file: &is_file,
        events: true,
    };
    let out = session
        .restore_with(&spec, &mut |e| match e {
            RestoreEvent::Restored(item) => {
                if let Some(i) = shared.find(&format!("{root}{item}")) {
                    shared.queue_restored(i);
                }
            }
            RestoreEvent::Status {
                files_restored,
                total_files,
                bytes_restored,
                total_bytes,
            } => progress.restored(files_restored, total_files, bytes_restored, total_bytes),
        })
        .await?;
    let mut errors = RestoreErrors::default();
    for (p, why) in out.errors {
        errors.add(format!("{root}{p}"), why);
    }
    errors.unmatched.extend(out.unmatched);
    Ok(errors)
}

/// After the restore: queues the rest of the restored side (in listing order;
/// restic < 0.17 reports nothing per file, and items it did report are already
/// queued or done) and waits for the workers; a failed restore stops them first.
async fn finish_hashing(
    restored: Result<RestoreErrors, Error>,
    shared: &Shared,
    dir: &execute::RestoreDir,
    halt: &tokio_util::sync::CancellationToken,
    pool: tokio::task::JoinHandle<Result<(), verify::VerifyError>>,
    session: &Session<'_>,
) -> Result<RestoreErrors, Error> {
    match &restored {
        Ok(errors) => {
            for i in 0..shared.files.len() {
                let reasons = errors
                    .by_path
                    .get(&shared.files[i].path)
                    .map_or(&[][..], Vec::as_slice);
                if !verify::has_serious(reasons, dir.path()) {
                    shared.queue_restored(i);
                } else {
                    shared.done(i, RESTORED_DONE);
                }
            }
        }
        Err(_) => halt.cancel(),
    }
    shared.close();
    let pooled = pool
        .await
        .map_err(|e| Error::Internal(format!("the comparison task failed: {e}")));
    let errors = restored?;
    pooled?.map_err(|e| Error::stopped(e, session.timeout))?;
    Ok(errors)
}

/// Every file judged, now that restic has finished (errors, permission bits).
struct Judged {
    /// The files the record lists (all with `verbose-results`, else those that
    /// are not plain matches).
    results: Vec<FileResult>,
    /// Matches with a metadata warning (without `verbose-results`).
    warned: Vec<FileResult>,
    tally: FloorCounts,
    /// Plain matches left out of `results`.
    matched: u64,
    bytes_restored: u64,
}

/// Judges every file in parallel rounds of `CONCLUDE_CHUNK`.
fn judge(
    s: &Shared,
    dir: &execute::RestoreDir,
    errors: &RestoreErrors,
    workers: usize,
    verbose: bool,
) -> Result<Judged, verify::VerifyError> {
    let n = s.files.len();
    let mut out = Judged {
        results: Vec::new(),
        warned: Vec::new(),
        tally: FloorCounts {
            drawn: n,
            ..FloorCounts::default()
        },
        matched: 0,
        bytes_restored: 0,
    };
    let ids: Vec<usize> = (0..n).collect();
    let immutable = s.map.immutable();
    let target = dir.path();
    for chunk in ids.chunks(CONCLUDE_CHUNK) {
        let judged = verify::parallel(chunk, workers, move |&i| {
            let c = &s.files[i];
            let reasons = errors.by_path.get(&c.path).map_or(&[][..], Vec::as_slice);
            let serious = verify::has_serious(reasons, target);
            if let (false, Some(SourceSide::SetAside(r))) = (serious, s.source[i].get()) {
                return Ok(r.clone());
            }
            let expected = match s.source[i].get() {
                Some(SourceSide::Read(e)) => e.clone(),
                _ if serious => Expected::Missing,
                _ => source::read_expected(&s.map.expected(&c.path), &s.stop)?,
            };
            let hashed = if serious {
                None
            } else {
                s.restored[i].get().cloned()
            };
            Ok(verify::conclude(
                c, target, reasons, hashed, expected, immutable,
            ))
        })?;
        for r in judged {
            match r.class {
                Class::Match | Class::Mismatch => out.tally.verified += 1,
                Class::SourceMissing => out.tally.missing += 1,
                Class::Changed => out.tally.changed += 1,
                _ => {}
            }
            if r.restored_sha256.is_some() {
                out.bytes_restored += r.size;
            }
            if r.class == Class::Match && !verbose && r.warning.is_none() {
                out.matched += 1;
            } else if r.class == Class::Match && !verbose {
                out.warned.push(r);
            } else {
                out.results.push(r);
            }
        }
    }
    Ok(out)
}

/// Whether `call` writes `path`: below its start, and either without includes or
/// at or under one of them.
fn planner_covers(call: &call_plan::RestoreCall, path: &str) -> bool {
    let below = |dir: &str| {
        dir.is_empty()
            || path == dir
            || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
    };
    below(&call.root) && (call.includes.is_empty() || call.includes.iter().any(|i| below(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yield_to_restic_lowers_only_the_calling_threads_priority() {
        use rustix::process::getpriority_process;
        let here = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let (before, after) = std::thread::spawn(|| {
            let tid = Some(rustix::thread::gettid());
            let before = getpriority_process(tid).unwrap();
            yield_to_restic();
            (before, getpriority_process(tid).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(after, (before + YIELD_NICE).min(19));
        assert_eq!(
            getpriority_process(Some(rustix::thread::gettid())).unwrap(),
            here,
            "the caller's own thread is untouched"
        );
    }
}
