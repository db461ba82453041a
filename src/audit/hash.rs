//! The hashing workers and how files reach them: the walker's `Job`s are handed
//! over in batches, and each worker merges a batch's verdicts into the shared tally
//! under one lock.
//!
//! One hand-off per file cost the audit of the 200,004-file benchmark snapshot
//! about 410,000 context switches and 14–17% of its CPU samples in scheduler code
//! (BENCHMARKS.md, "Audit"); a batch of up to `BATCH_FILES` files or `BATCH_BYTES`
//! bytes makes that a few thousand. A file larger than `BATCH_BYTES` closes its
//! batch at once, so large files spread over the workers.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use super::content::{self, Job};
use super::outcome::{Class, Collector};
use super::repo::Trees;
use super::walk::Cancelled;

/// Files per hand-off at most.
pub(crate) const BATCH_FILES: usize = 64;
/// Bytes (by the snapshot's sizes) per hand-off at most, unless one file is larger.
pub(crate) const BATCH_BYTES: u64 = 8 << 20;
/// Batches queued per worker at most: how far the walker may run ahead. With 4, the
/// walker (and the tree loaders behind it) stood still while the workers hashed a
/// run of large files, then the workers waited for it; with 32 the audit of the
/// benchmark snapshot took 2.80 s instead of 2.91 s (medians of 6 alternating
/// pairs). Memory: at most this many × `BATCH_FILES` jobs per worker (about 1 MiB).
pub(crate) const QUEUED_BATCHES: usize = 32;

/// The walker's side: collects jobs and sends them in batches.
pub(crate) struct Batcher {
    tx: SyncSender<Vec<Job>>,
    pending: RefCell<(Vec<Job>, u64)>,
}

impl Batcher {
    pub fn new(tx: SyncSender<Vec<Job>>) -> Batcher {
        Batcher {
            tx,
            pending: RefCell::new((Vec::with_capacity(BATCH_FILES), 0)),
        }
    }

    /// Queues a job; sends the batch when it is full. `Err` when the workers are
    /// gone (cancelled).
    pub fn submit(&self, job: Job) -> Result<(), Cancelled> {
        let full = {
            let mut p = self.pending.borrow_mut();
            p.1 = p.1.saturating_add(job.size);
            p.0.push(job);
            p.0.len() >= BATCH_FILES || p.1 >= BATCH_BYTES
        };
        if full {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Sends what is queued.
    pub fn flush(&self) -> Result<(), Cancelled> {
        let batch = {
            let mut p = self.pending.borrow_mut();
            p.1 = 0;
            std::mem::replace(&mut p.0, Vec::with_capacity(BATCH_FILES))
        };
        if batch.is_empty() {
            return Ok(());
        }
        self.tx.send(batch).map_err(|_| Cancelled)
    }
}

/// What one batch found, merged into the tally at once.
#[derive(Default)]
struct Found {
    matched: u64,
    verified: Vec<u64>,
    listed: Vec<(PathBuf, PathBuf, Class, String)>,
}

impl Found {
    fn merge_into(&mut self, tally: &Mutex<Collector>) {
        if self.matched == 0 && self.verified.is_empty() && self.listed.is_empty() {
            return;
        }
        let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
        for bytes in self.verified.drain(..) {
            t.verified(bytes);
        }
        t.count(Class::Match, std::mem::take(&mut self.matched));
        for (path, source, class, detail) in self.listed.drain(..) {
            t.record(path, source, class, detail);
        }
    }
}

/// Takes batches until the queue closes; records each verdict. A cancelled audit
/// drains the queue without reading (its result is thrown away).
pub(crate) fn worker(
    trees: &dyn Trees,
    rx: &Mutex<Receiver<Vec<Job>>>,
    tally: &Mutex<Collector>,
    immutable: bool,
    cancel: &CancellationToken,
    roots: &[PathBuf],
) {
    let mut reader = content::Reader::new(roots);
    let stop = || cancel.is_cancelled();
    let mut found = Found::default();
    loop {
        let batch = {
            let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(batch) = batch else { return };
        for job in batch {
            if stop() {
                break;
            }
            let Ok(v) = content::check_job(trees, &job, immutable, &mut reader, &stop) else {
                break;
            };
            if let Some(bytes) = v.verified_bytes {
                found.verified.push(bytes);
            }
            if v.class == Class::Match {
                found.matched += 1;
            } else {
                found
                    .listed
                    .push((job.tree_path, job.source, v.class, v.detail));
            }
        }
        found.merge_into(tally);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::content::{Listed, Stamp};
    use std::sync::mpsc::sync_channel;

    fn job(name: &str, size: u64) -> Job {
        Job {
            tree_path: PathBuf::from(name),
            source: PathBuf::from(name),
            content: Vec::new(),
            size,
            seen: Listed::Stat(Stamp {
                dev: 0,
                ino: 0,
                size,
                mtime_ns: 0,
                ctime_ns: 0,
            }),
            note: None,
        }
    }

    fn sizes(rx: &Receiver<Vec<Job>>) -> Vec<Vec<u64>> {
        rx.try_iter()
            .map(|b| b.iter().map(|j| j.size).collect())
            .collect()
    }

    #[test]
    fn batcher_sends_full_batches_by_count_and_the_rest_on_flush() {
        let (tx, rx) = sync_channel(16);
        let b = Batcher::new(tx);
        for i in 0..(BATCH_FILES * 2 + 3) {
            b.submit(job(&format!("f{i}"), 1)).unwrap();
        }
        let sent = sizes(&rx);
        assert_eq!(sent.len(), 2, "two full batches before the flush");
        assert!(sent.iter().all(|s| s.len() == BATCH_FILES));
        b.flush().unwrap();
        assert_eq!(sizes(&rx), vec![vec![1, 1, 1]]);
        b.flush().unwrap();
        assert!(sizes(&rx).is_empty(), "an empty batch is never sent");
    }

    #[test]
    fn a_large_file_closes_its_batch_at_once() {
        let (tx, rx) = sync_channel(16);
        let b = Batcher::new(tx);
        b.submit(job("small", 10)).unwrap();
        b.submit(job("big", BATCH_BYTES + 1)).unwrap();
        b.submit(job("big2", BATCH_BYTES * 4)).unwrap();
        assert_eq!(
            sizes(&rx),
            vec![vec![10, BATCH_BYTES + 1], vec![BATCH_BYTES * 4]]
        );
    }

    #[test]
    fn submit_fails_once_the_workers_are_gone() {
        let (tx, rx) = sync_channel(1);
        let b = Batcher::new(tx);
        drop(rx);
        let r = (0..BATCH_FILES).try_for_each(|i| b.submit(job(&format!("f{i}"), 1)));
        assert_eq!(r, Err(Cancelled));
    }

    #[test]
    fn found_merges_counts_bytes_and_listed_entries_in_one_go() {
        let tally = Mutex::new(Collector::new(10, false));
        let mut f = Found {
            matched: 2,
            verified: vec![5, 7],
            listed: vec![(
                PathBuf::from("/a"),
                PathBuf::from("/src/a"),
                Class::Changed,
                "edited".into(),
            )],
        };
        f.merge_into(&tally);
        let t = tally.into_inner().unwrap();
        assert_eq!(t.counts.get(Class::Match), 2);
        assert_eq!(t.counts.get(Class::Changed), 1);
        assert_eq!((t.files_verified, t.bytes_verified), (2, 12));
        let (entries, left_out) = t.into_entries();
        assert_eq!((entries.len(), left_out), (1, 0));
        assert!(f.listed.is_empty() && f.verified.is_empty() && f.matched == 0);
    }
}
