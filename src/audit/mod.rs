//! Whole-snapshot audit: every entry of a snapshot against its source, without
//! restoring, in process (restic is not run): rustic_core opens the repository and
//! reads its snapshots and index files; `index` keeps what the audit needs of the
//! index, `repo` reads tree blobs through rustic_core's backend and `tree` decodes
//! them.
//!
//! Tree level (`walk`): the snapshot's tree and the source are merged in name
//! order; entries only in one, and differences of type, size, mtime, mode and
//! symlink target, are classified there. Content level (`content`): every regular
//! file whose size and mtime equal the snapshot's is read once and hashed in the
//! lengths of its content blobs (from the index), each hash compared with the blob
//! ID. Only the index and the tree blobs are read from the repository; no data pack.
//!
//! This module owns no side effect besides reading the repository (no lock, no
//! cache: nothing is written there) and reading the source. It knows nothing of
//! profiles, restic, reports or notifications: the caller builds `AuditOptions`
//! (the password from the same file or command as restic) and turns the
//! `AuditOutcome` or `Error` into a report. `run` blocks; call it from
//! `spawn_blocking`.
//!
//! Verdict: any entry whose class `is_failure` fails the audit (including
//! `damaged`: tree damage is a finding, not an `Err`); else any `unreadable` entry
//! makes it an error; else it passes. An `Err` means nothing trustworthy was
//! compared; `ErrorKind::Corruption` (index, keys or snapshot file damaged) is
//! still damage and should fail, `NotVerified` (source root missing or empty) must
//! never pass.
//!
//! What the audit does not see: damage inside data packs (it never reads them;
//! `check --read-data` rotation does), ownership, xattrs and device numbers, and
//! entries the backup skipped through options it does not record (`--exclude-file`,
//! `--iexclude`, `--exclude-if-present`, `--exclude-caches`, `--exclude-larger-than`):
//! the caller passes such patterns as `restic_excludes` or `exclude` globs, else
//! those entries show as `not_in_backup`. A file restic could not read and whose
//! permissions were fixed since shows as `new` (its ctime moved). Cancellation is
//! checked between entries and read blocks, not while rustic_core loads the index
//! or waits on a request.
//!
//! Threads: the caller's thread walks; `threads` hashing workers read files handed
//! over in batches through a bounded queue (`hash`); tree loaders (2 on a local
//! repository, 16 on a remote one) load tree blobs ahead of the walker, in its order
//! (`prefetch`).

mod content;
mod entry;
pub(crate) mod error;
mod filter;
mod hash;
mod index;
pub mod job;
mod options;
mod outcome;
mod prefetch;
mod rclone;
pub(crate) mod repo;
mod tree;
mod walk;

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

pub use error::{Error, ErrorKind};
pub use options::{AuditOptions, SnapshotFilter, SnapshotSelector};
pub use outcome::{AuditOutcome, Class, Counts, Entry, Root, SnapshotInfo};

use crate::secret::{self, Redactor};
use filter::{ResticExcludes, Selection};
use outcome::Collector;
use prefetch::{CloseOnDrop, Prefetch};
use repo::{Named, Trees};
use walk::{Cancelled, Walk};

/// Threads loading tree blobs ahead of the walker (see `prefetch`) from a local
/// repository: the work is decryption and parsing, and two keep the walker fed.
const TREE_LOADERS_LOCAL: usize = 2;
/// The same over a network, where each load mostly waits for its round trip: a
/// snapshot of 200,000 files has about 2,000 trees, which one at a time cost 40 s
/// at 20 ms a request (issue #22; benches/latency.py).
const TREE_LOADERS_REMOTE: usize = 16;

/// How many tree loaders an audit of `repository` runs: restic reads a URL whose
/// scheme is none of its remote backends' as a local path.
fn tree_loaders(repository: &str) -> usize {
    const REMOTE: [&str; 8] = ["rest", "rclone", "sftp", "s3", "b2", "azure", "gs", "swift"];
    match repository.split_once(':') {
        Some((scheme, _)) if REMOTE.contains(&scheme) => TREE_LOADERS_REMOTE,
        _ => TREE_LOADERS_LOCAL,
    }
}

/// The repository as messages show it, and a redactor for the password and every
/// credential of its URL and of the rclone endpoint, and the env file's values.
fn shown_and_redactor(opts: &AuditOptions) -> (String, Redactor) {
    let mut redactor = Redactor::default();
    redactor.add(&opts.password);
    for (_, v) in &opts.env {
        redactor.add(v);
    }
    for url in std::iter::once(&opts.repository).chain(&opts.endpoint) {
        if let Some(pw) = secret::url_password(url.expose()) {
            redactor.add(&pw);
        }
    }
    for (_, v) in &opts.env {
        redactor.add(v);
    }
    (secret::redact_url(opts.repository.expose()), redactor)
}

/// The snapshot `opts` selects, without auditing it (for a caller that must know
/// its paths and time first, e.g. to find the ZFS snapshot the backup read).
/// Blocking.
///
/// # Errors
/// As `run`, for opening the repository and selecting the snapshot.
pub fn snapshot_info(opts: &AuditOptions) -> Result<SnapshotInfo, Error> {
    let (shown, redactor) = shown_and_redactor(opts);
    let opened = repo::open(opts, &shown, redactor)?;
    let snap = opened.snapshot(&opts.snapshot)?;
    let recorded = opened.recorded_excludes(&snap)?;
    Ok(repo::snapshot_info(&snap, recorded))
}

/// Runs the audit. Blocking: checks `cancel` between entries and between read
/// blocks of large files.
///
/// # Errors
/// Anything that keeps the audit from comparing the snapshot with its source: see
/// [`ErrorKind`]. Damage found in the snapshot's trees is not an error but
/// `damaged` entries in the outcome.
pub fn run(opts: &AuditOptions, cancel: &CancellationToken) -> Result<AuditOutcome, Error> {
    let start = Instant::now();
    for (from, _) in &opts.map {
        if !from.starts_with('/') {
            return Err(Error::Options(format!(
                "map FROM `{from}` must be an absolute path"
            )));
        }
    }
    let (shown, redactor) = shown_and_redactor(opts);
    let cancelled = || {
        if cancel.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    };

    let started = std::time::Instant::now();
    let opened = repo::open(opts, &shown, redactor)?;
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        "audit: repository opened"
    );
    cancelled()?;
    let snap = opened.snapshot(&opts.snapshot)?;
    let recorded = opened.recorded_excludes(&snap)?;
    tracing::debug!(snapshot = %snap.id, paths = %snap.paths, "audit: snapshot selected");
    let info = repo::snapshot_info(&snap, recorded.clone());
    let snapshot_ns = repo::backup_start_ns(&snap);
    cancelled()?;
    let trees = opened.indexed()?;
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        data_blobs = trees.data_blobs(),
        "audit: index loaded"
    );
    cancelled()?;

    let immutable = opts.immutable_source;
    let mut tally = Collector::new(opts.max_entries, immutable);
    tally.progress = crate::progress::Bar::count("auditing the snapshot", "entries");
    let tally = Mutex::new(tally);
    let prefetch = Prefetch::new(&trees);
    let roots = plan_roots(&prefetch, &snap, opts, &tally)?;
    let excludes = ResticExcludes::new(recorded.iter().chain(&opts.restic_excludes));
    let selection = Selection {
        include: opts.include.clone(),
        exclude: opts.exclude.clone(),
    };
    let workers = match opts.threads {
        0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        n => n,
    };

    let sources: Vec<PathBuf> = roots.iter().map(|(_, r)| r.source.clone()).collect();
    let (tx, rx) = sync_channel(workers * hash::QUEUED_BATCHES);
    let rx = Mutex::new(rx);
    let walked = std::thread::scope(|s| -> Result<Result<(), Cancelled>, Error> {
        // Owned here, so that any early return closes the queue for the workers and
        // stops the tree loaders.
        let tx = tx;
        let _close = CloseOnDrop(&prefetch);
        for i in 0..tree_loaders(opts.repository.expose()) {
            let prefetch = &prefetch;
            std::thread::Builder::new()
                .name(format!("audit-tree-{i}"))
                .spawn_scoped(s, move || prefetch.run_loader())
                .map_err(|e| Error::Threads(e.to_string()))?;
        }
        for i in 0..workers {
            let (rx, tally, trees, sources) = (&rx, &tally, &trees, &sources);
            std::thread::Builder::new()
                .name(format!("audit-hash-{i}"))
                .spawn_scoped(s, move || {
                    hash::worker(trees, rx, tally, immutable, cancel, sources)
                })
                .map_err(|e| Error::Threads(e.to_string()))?;
        }
        let batcher = hash::Batcher::new(tx);
        let submit = |job| batcher.submit(job);
        let walk = Walk {
            trees: &prefetch,
            selection: &selection,
            excludes: &excludes,
            snapshot_ns,
            immutable,
            cancel,
            tally: &tally,
            submit: &submit,
        };
        let mut result = Ok(());
        for (node, r) in roots.iter().cloned() {
            result = walk.root(
                node,
                r.tree_path.clone(),
                r.source.clone(),
                PathBuf::from(&r.snapshot_path),
            );
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = batcher.flush();
        }
        // Dropping the sender closes the queue: the workers drain it and stop.
        drop(batcher);
        Ok(result)
    })?;
    // Trees a lost connection kept from loading are not damage.
    if let Some(e) = trees.lost() {
        return Err(e);
    }
    if walked.is_err() || cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }

    let tally = tally
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tally.progress.finish();
    let counts = tally.counts;
    let (failures, files_verified, bytes_verified, excluded) = (
        tally.failures,
        tally.files_verified,
        tally.bytes_verified,
        tally.excluded,
    );
    let (entries, truncated) = tally.into_entries();
    Ok(AuditOutcome {
        snapshot: info,
        roots: roots.into_iter().map(|(_, r)| r).collect(),
        immutable_source: immutable,
        counts,
        failures,
        files_verified,
        bytes_verified,
        excluded,
        seconds: start.elapsed().as_secs_f64(),
        entries,
        truncated,
    })
}

/// Resolves every snapshot path to its tree node and source, and refuses to go on
/// when a source root is missing or empty. Damage on the way is recorded.
fn plan_roots(
    trees: &dyn Trees,
    snap: &rustic_core::repofile::SnapshotFile,
    opts: &AuditOptions,
    tally: &Mutex<Collector>,
) -> Result<Vec<(Named, Root)>, Error> {
    let paths: Vec<&String> = snap.paths.iter().collect();
    let single = paths.len() == 1;
    let mut used = vec![false; opts.map.len()];
    let mut roots = Vec::new();
    let record = |path: PathBuf, source: PathBuf, class: Class, detail: String| {
        tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(path, source, class, detail);
    };
    for p in paths {
        let mut found = None;
        let mut damaged = None;
        for cand in walk::root_candidates(p, single) {
            match walk::find_node(trees, &snap.tree, &cand) {
                Ok(Some(node)) => {
                    found = Some((cand, node));
                    break;
                }
                Ok(None) => {}
                Err(d) => {
                    damaged = Some(d);
                    break;
                }
            }
        }
        let snapshot_path = PathBuf::from(p);
        if let Some((at, why)) = damaged {
            record(at, snapshot_path, Class::Damaged, why);
            continue;
        }
        let Some((tree_path, node)) = found else {
            let (source, i) = walk::map_root(&snapshot_path, &snapshot_path, &opts.map);
            if let Some(i) = i {
                used[i] = true;
            }
            if std::fs::symlink_metadata(&source).is_ok() {
                record(
                    snapshot_path,
                    source,
                    Class::NotInBackup,
                    "the snapshot lists this path, but its tree does not hold it".into(),
                );
            }
            continue;
        };
        let (source, i) = walk::map_root(&tree_path, &snapshot_path, &opts.map);
        if let Some(i) = i {
            used[i] = true;
        }
        // A mapped source directory may be reached through a symlink (a mount
        // point linked elsewhere): follow it at the root only.
        let source = match std::fs::symlink_metadata(&source) {
            Ok(m) if m.file_type().is_symlink() && node.is_dir() => {
                std::fs::canonicalize(&source).unwrap_or(source)
            }
            _ => source,
        };
        check_source_root(trees, &node, &source)?;
        let named = repo::named(vec![node]).pop();
        let Some(named) = named else { continue };
        roots.push((
            named,
            Root {
                snapshot_path: p.clone(),
                tree_path,
                source,
            },
        ));
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(Error::Options(format!(
            "map `{}={}` matches no path of snapshot {} (paths: {})",
            opts.map[i].0,
            opts.map[i].1.display(),
            snap.id,
            snap.paths
        )));
    }
    Ok(roots)
}

/// A source root must exist, be the same kind as the snapshot's, and not be empty
/// where the snapshot is not: otherwise nothing would really be compared (an
/// unmounted file system, a wrong map).
fn check_source_root(
    trees: &dyn Trees,
    node: &rustic_core::repofile::Node,
    source: &std::path::Path,
) -> Result<(), Error> {
    let not_verified = |reason: String| Error::NotVerified {
        root: source.to_owned(),
        reason,
    };
    let meta = match std::fs::symlink_metadata(source) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_verified(
                "does not exist (not mounted? wrong map?)".into(),
            ))
        }
        Err(e) => return Err(not_verified(format!("cannot be read: {e}"))),
    };
    if !node.is_dir() {
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(not_verified(
            "is not a directory, the snapshot has a directory here".into(),
        ));
    }
    let snapshot_has_entries = match node.subtree.map(|id| trees.load(&id)) {
        Some(Ok(nodes)) => !nodes.is_empty(),
        // Damage is reported by the walk.
        _ => true,
    };
    let mut listing =
        std::fs::read_dir(source).map_err(|e| not_verified(format!("cannot be listed: {e}")))?;
    if snapshot_has_entries && listing.next().is_none() {
        return Err(not_verified(
            "is empty, the snapshot has entries here (not mounted? wrong map?)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("/srv/restic", TREE_LOADERS_LOCAL)]
    #[case("local:/srv/restic", TREE_LOADERS_LOCAL)]
    #[case("/mnt/a:b/restic", TREE_LOADERS_LOCAL)]
    #[case("rest:http://127.0.0.1:8000/r", TREE_LOADERS_REMOTE)]
    #[case("rclone:remote:bucket", TREE_LOADERS_REMOTE)]
    #[case("sftp:nas:/srv/restic", TREE_LOADERS_REMOTE)]
    #[case("s3:https://s3.example.com/bucket", TREE_LOADERS_REMOTE)]
    #[case("b2:bucket:prefix", TREE_LOADERS_REMOTE)]
    fn remote_repositories_get_more_tree_loaders(#[case] url: &str, #[case] want: usize) {
        assert_eq!(tree_loaders(url), want);
    }
}
