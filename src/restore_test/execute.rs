//! Restores the sample with restic into a private directory (mode 0700) under
//! `test-dir`, after checking that the filesystem has room. The directory holds an
//! flock on its own descriptor while in use and is removed when dropped, on every
//! exit path (pass, fail, error, timeout, SIGINT/SIGTERM), unless the caller keeps
//! it; a failure to remove it is logged, not swallowed. A run killed outright
//! (SIGKILL, the OOM killer) cannot remove it: the next restore test in the same
//! `test-dir` removes every directory of ours whose flock it can take (`sweep`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};

use crate::restic::{self, Session};

/// The name prefix of restore directories in `test-dir`.
pub const DIR_PREFIX: &str = "restic-verify-restore-";
/// Where `keep` moves a restore directory: a name the sweep leaves alone.
pub const KEPT_PREFIX: &str = "restic-verify-kept-";

/// Free space required beyond the sample's size.
const MARGIN: f64 = 1.1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("test-dir {} does not exist; create it or set `test-dir`", dir.display())]
    TestDirMissing { dir: PathBuf },
    #[error("test-dir {} has {free} bytes free, the sample needs {need} (plus 10%); free space or choose another `test-dir`", dir.display())]
    NoSpace { dir: PathBuf, free: u64, need: u64 },
    #[error("cannot create a private directory in test-dir {}: {source}", dir.display())]
    Create {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the private restore directory after checking free space for `need` bytes.
///
/// # Errors
/// `test-dir` missing, too small, or not writable.
pub fn prepare(test_dir: &Path, need: u64) -> Result<RestoreDir, Error> {
    if !test_dir.is_dir() {
        return Err(Error::TestDirMissing {
            dir: test_dir.to_owned(),
        });
    }
    if let Ok(st) = nix::sys::statvfs::statvfs(test_dir) {
        let free = st.blocks_available().saturating_mul(st.fragment_size());
        let need_with_margin = (need as f64 * MARGIN) as u64;
        if free < need_with_margin {
            return Err(Error::NoSpace {
                dir: test_dir.to_owned(),
                free,
                need,
            });
        }
    }
    RestoreDir::create(test_dir)
}

/// The private restore directory: mode 0700, locked while in use, removed on drop.
#[derive(Debug)]
pub struct RestoreDir {
    path: PathBuf,
    /// The flock on the directory's own descriptor: a run that finds it free knows
    /// no live run owns the directory. Dropped after the directory is removed.
    lock: Option<Flock<File>>,
}

/// Opens a directory itself (not a symlink to one), for locking.
fn open_dir(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).bits())
        .open(path)
}

fn same_inode(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

impl RestoreDir {
    /// Makes `<test-dir>/restic-verify-restore-<random>` and locks it. Between the
    /// `mkdir` and the lock another run's sweep could take the directory for a
    /// leftover and remove it; a directory that is not ours after locking is skipped.
    fn create(test_dir: &Path) -> Result<RestoreDir, Error> {
        let create_error = |source| Error::Create {
            dir: test_dir.to_owned(),
            source,
        };
        let mut last = std::io::Error::other("no unused name found");
        for _ in 0..16 {
            let suffix: String = (0..10)
                .map(|_| {
                    char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)])
                })
                .collect();
            let path = test_dir.join(format!("{DIR_PREFIX}{suffix}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    last = e;
                    continue;
                }
                Err(e) => return Err(create_error(e)),
            }
            let file = open_dir(&path).map_err(create_error)?;
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => l,
                Err((_, errno)) => {
                    last = errno.into();
                    continue;
                }
            };
            if same_inode(&lock, &path) {
                return Ok(RestoreDir {
                    path,
                    lock: Some(lock),
                });
            }
        }
        Err(create_error(last))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the restored files: the directory is renamed to `restic-verify-kept-…`
    /// (so no later sweep removes it) and unlocked. Returns where it is.
    pub fn keep(mut self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().replacen(DIR_PREFIX, KEPT_PREFIX, 1))
            .unwrap_or_else(|| KEPT_PREFIX.to_owned());
        let kept = self.path.with_file_name(name);
        let path = match std::fs::rename(&self.path, &kept) {
            Ok(()) => kept,
            Err(e) => {
                tracing::warn!(
                    "cannot rename the kept restore directory {} to {}: {e}; the next restore test in this test-dir will remove it",
                    self.path.display(),
                    kept.display()
                );
                self.path.clone()
            }
        };
        self.lock = None;
        self.path = PathBuf::new();
        path
    }
}

impl Drop for RestoreDir {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(
                    "cannot remove the restore directory {}: {e}; restored files are left there: remove it by hand",
                    self.path.display()
                );
            }
        }
        // The lock goes after the directory (field drop order).
    }
}

/// Removes the restore directories of runs that were killed (SIGKILL, the OOM
/// killer): directories in `test_dir` named `restic-verify-restore-*`, owned by this
/// user, not symlinks, whose flock can be taken (no live run holds it). Each removal
/// is logged; a failure to remove is logged at `warn`, never an error of this run.
pub fn sweep(test_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(test_dir) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let path = entry.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if !ours {
            continue;
        }
        let Ok(file) = open_dir(&path) else {
            continue;
        };
        let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            tracing::debug!("{} is in use by another run", path.display());
            continue;
        };
        if !same_inode(&lock, &path) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(
                "removed {}: a restore directory left by a run that was killed (no live owner)",
                path.display()
            ),
            Err(e) => tracing::warn!(
                "cannot remove {}, a restore directory left by a run that was killed: {e}; remove it by hand",
                path.display()
            ),
        }
        drop(lock);
    }
}

/// Where restic puts a tree path under the target.
pub fn restored_path(target: &Path, tree_path: &str) -> PathBuf {
    target.join(tree_path.trim_start_matches('/'))
}

/// How many nodes lie below each directory of the top `COUNT_DEPTH` levels of the
/// snapshot, gathered while `restic ls` streams: enough to plan restore calls, and
/// bounded by the number of such directories, not by the number of files.
#[derive(Debug, Clone, Default)]
pub struct TreeCounts {
    below: HashMap<String, u64>,
    total: u64,
}

/// Deepest directory level `TreeCounts` tracks.
const COUNT_DEPTH: usize = 3;
/// The fixed cost of one `restic restore` call (open the repository, load the index,
/// walk to the start), in units of "one node matched against one include pattern".
/// Measured on a 200,000-file snapshot: about 1.2 s per call and 27 ms per pattern per
/// call, i.e. 1.35e-7 s per node-pattern (BENCHMARKS.md).
const CALL_COST: u64 = 9_000_000;
/// Up to this many paths go into one call.
const SINGLE_CALL_UP_TO: usize = 200;
/// Larger samples go in sorted batches of this many `--include`s.
const SORTED_BATCH: usize = 200;

impl TreeCounts {
    /// Records one node of `restic ls`.
    pub fn record(&mut self, path: &str) {
        self.total += 1;
        // Every ancestor directory (up to COUNT_DEPTH) walks past this node.
        for (i, _) in path.match_indices('/').skip(1).take(COUNT_DEPTH) {
            *self.below.entry(path[..i].to_owned()).or_default() += 1;
        }
    }

    fn nodes_below(&self, dir: &str) -> u64 {
        if dir.is_empty() {
            self.total
        } else {
            self.below.get(dir).copied().unwrap_or(self.total)
        }
    }
}

/// The fixed cost of a restore call: `RESTIC_VERIFY_RESTORE_CALL_COST` overrides the
/// measured default, for a repository far slower or faster to open than local disk.
fn call_cost() -> u64 {
    std::env::var("RESTIC_VERIFY_RESTORE_CALL_COST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CALL_COST)
}

/// One `restic restore` call: the subtree it starts at (`<id>:<root>`; "" is the whole
/// snapshot) and the tree paths it restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreCall {
    pub root: String,
    pub paths: Vec<String>,
}

/// The ancestor directory of `path` at `depth` (or its parent, if shallower).
fn ancestor(path: &str, depth: usize) -> &str {
    if depth == 0 {
        return "";
    }
    let parent = path.rfind('/').map_or("", |i| &path[..i]);
    match parent.match_indices('/').nth(depth) {
        Some((i, _)) => &parent[..i],
        None => parent,
    }
}

/// Plans the restore calls: restic matches every node it walks against every include
/// pattern, so one call with thousands of patterns over a large snapshot is slow.
/// Where restic can start at a subtree (`<id>:<subfolder>`, restic ≥ 0.17), the
/// paths are grouped by the ancestor depth that minimises calls × fixed cost + nodes
/// walked × patterns; otherwise the whole snapshot, in sorted batches.
pub fn plan_calls(
    paths: &[String],
    counts: &TreeCounts,
    subtrees: bool,
    call_cost: u64,
) -> Vec<RestoreCall> {
    let depths: &[usize] = if subtrees { &[0, 1, 2, 3] } else { &[0] };
    let mut best: Option<(u64, Vec<RestoreCall>)> = None;
    for &d in depths {
        let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for p in paths {
            groups.entry(ancestor(p, d)).or_default().push(p.clone());
        }
        let mut cost = 0u64;
        let mut calls = Vec::new();
        for (root, mut members) in groups {
            let nodes = counts.nodes_below(root);
            // Sorted batches share subtrees, and restic does not descend into a
            // directory no pattern of the call can match: on a 200,000-file snapshot
            // (restic 0.14) sorted batches of 200 restored 1,000 files in 14.8 s and
            // 5,000 in 42.6 s, against 30.2 s and > 60 s for one call with every
            // include, and 26.7 s / > 60 s for sorted batches of 50 (BENCHMARKS.md).
            members.sort();
            let batch = if members.len() <= SINGLE_CALL_UP_TO {
                SINGLE_CALL_UP_TO
            } else {
                SORTED_BATCH
            };
            for chunk in members.chunks(batch) {
                cost = cost
                    .saturating_add(call_cost)
                    .saturating_add(nodes.saturating_mul(chunk.len() as u64));
                calls.push(RestoreCall {
                    root: root.to_owned(),
                    paths: chunk.to_vec(),
                });
            }
        }
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, calls));
        }
    }
    best.map(|(_, c)| c).unwrap_or_default()
}

/// What restic reported about the files of a restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreErrors {
    /// Per-file errors by tree path; a file may have several.
    pub by_path: HashMap<String, Vec<String>>,
    /// Per-file errors that name no sampled file, as printed (tree paths of subtree
    /// calls as restic printed them, relative to the subtree).
    pub unmatched: Vec<String>,
}

impl RestoreErrors {
    fn add(&mut self, path: String, why: String) {
        self.by_path.entry(path).or_default().push(why);
    }
}

/// Restores `paths` under `target`; returns restic's per-file errors.
///
/// # Errors
/// restic could not restore at all, or the environment failed it (see
/// `Session::restore`).
pub async fn restore(
    session: &Session<'_>,
    snapshot_id: &str,
    target: &Path,
    paths: &[String],
    counts: &TreeCounts,
) -> Result<RestoreErrors, restic::Error> {
    let mut errors = RestoreErrors::default();
    let (plain, special): (Vec<String>, Vec<String>) = paths
        .iter()
        .cloned()
        .partition(|p| restic::args::includable(p));
    let subtrees = session.restic.version.has_subfolder_restore();
    for call in plan_calls(&plain, counts, subtrees, call_cost()) {
        // `<id>:<root>` restores the subtree's content into the target itself, so the
        // target is moved down to keep every file at `target/<tree path>`.
        let (snapshot, call_target) = if call.root.is_empty() {
            (snapshot_id.to_owned(), target.to_owned())
        } else {
            (
                format!("{snapshot_id}:{}", call.root),
                restored_path(target, &call.root),
            )
        };
        let includes: Vec<String> = call
            .paths
            .iter()
            .map(|p| p[call.root.len()..].to_owned())
            .collect();
        let out = session.restore(&snapshot, &call_target, &includes).await?;
        for (p, why) in out.errors {
            errors.add(format!("{}{p}", call.root), why);
        }
        errors.unmatched.extend(out.unmatched);
    }
    for path in &special {
        let dest = restored_path(target, path);
        if let Some(parent) = dest.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                errors.add(
                    path.clone(),
                    format!("cannot create {}: {e}", parent.display()),
                );
                continue;
            }
        }
        let file = match std::fs::File::create(&dest) {
            Ok(f) => f,
            Err(e) => {
                errors.add(
                    path.clone(),
                    format!("cannot create {}: {e}", dest.display()),
                );
                continue;
            }
        };
        match session.dump(snapshot_id, path, file).await {
            Ok(()) => {}
            Err(e @ (restic::Error::Interrupted { .. } | restic::Error::TimedOut { .. })) => {
                return Err(e)
            }
            Err(e) => {
                errors.add(path.clone(), e.to_string());
            }
        }
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(paths: &[&str]) -> TreeCounts {
        let mut c = TreeCounts::default();
        for p in paths {
            c.record(p);
        }
        c
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn restore_dir_is_private_locked_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let test_dir = tempfile::tempdir().expect("tempdir");
        let dir = prepare(test_dir.path(), 0).expect("prepare");
        let path = dir.path().to_owned();
        assert!(path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(DIR_PREFIX)));
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(path.join("f"), "x").expect("write");
        // In use: another run's sweep must leave it alone.
        sweep(test_dir.path());
        assert!(path.join("f").exists(), "a live run's directory was swept");
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn sweep_removes_unlocked_leftovers_and_nothing_else() {
        let test_dir = tempfile::tempdir().expect("tempdir");
        let t = test_dir.path();
        // What a SIGKILLed run leaves: our prefix, no lock held.
        std::fs::create_dir_all(t.join(format!("{DIR_PREFIX}dead/source"))).expect("mkdir");
        std::fs::write(t.join(format!("{DIR_PREFIX}dead/source/f")), "x").expect("write");
        // Not ours: another name, a kept directory, a file and a symlink with our prefix.
        std::fs::create_dir(t.join("other")).expect("mkdir");
        std::fs::create_dir(t.join(format!("{KEPT_PREFIX}old"))).expect("mkdir");
        std::fs::write(t.join(format!("{DIR_PREFIX}file")), "x").expect("write");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        std::fs::write(elsewhere.path().join("precious"), "x").expect("write");
        std::os::unix::fs::symlink(elsewhere.path(), t.join(format!("{DIR_PREFIX}link")))
            .expect("symlink");
        let live = prepare(t, 0).expect("prepare");
        let live_name = live
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        sweep(t);
        let mut want = vec![
            format!("{KEPT_PREFIX}old"),
            format!("{DIR_PREFIX}file"),
            format!("{DIR_PREFIX}link"),
            live_name,
            "other".to_owned(),
        ];
        want.sort();
        assert_eq!(entries(t), want);
        assert!(elsewhere.path().join("precious").exists());
    }

    #[test]
    fn restore_dir_kept_is_renamed_out_of_the_sweeps_way() {
        let test_dir = tempfile::tempdir().expect("tempdir");
        let dir = prepare(test_dir.path(), 0).expect("prepare");
        std::fs::write(dir.path().join("f"), "x").expect("write");
        let kept = dir.keep();
        assert!(kept
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(KEPT_PREFIX)));
        sweep(test_dir.path());
        assert!(kept.join("f").exists());
    }

    #[test]
    fn ancestor_cuts_at_depth_or_parent() {
        assert_eq!(ancestor("/a/b/c/f.txt", 0), "");
        assert_eq!(ancestor("/a/b/c/f.txt", 1), "/a");
        assert_eq!(ancestor("/a/b/c/f.txt", 2), "/a/b");
        assert_eq!(ancestor("/a/f.txt", 3), "/a");
    }

    #[test]
    fn tree_counts_count_nodes_below_each_top_directory() {
        let c = counts(&["/a", "/a/b", "/a/b/f1", "/a/b/f2", "/c", "/c/f3"]);
        assert_eq!(c.nodes_below("/a"), 3);
        assert_eq!(c.nodes_below("/a/b"), 2);
        assert_eq!(c.nodes_below("/c"), 1);
        assert_eq!(c.nodes_below(""), 6);
    }

    #[test]
    fn plan_calls_without_subtrees_is_sorted_batches_or_one_small_call() {
        let paths: Vec<String> = (0..420).map(|i| format!("/d{}/f{i:03}", i % 7)).collect();
        let calls = plan_calls(&paths, &TreeCounts::default(), false, CALL_COST);
        assert_eq!(
            calls.iter().map(|c| c.paths.len()).collect::<Vec<_>>(),
            [200, 200, 20]
        );
        assert!(calls.iter().all(|c| c.root.is_empty()));
        assert!(calls[0].paths.windows(2).all(|w| w[0] <= w[1]), "sorted");
        assert_eq!(calls[0].paths[0], "/d0/f000");
        let small = plan_calls(&paths[..200], &TreeCounts::default(), false, CALL_COST);
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn plan_calls_groups_by_subtree_when_the_snapshot_is_large() {
        // 20 top directories of 10,000 nodes each; 1,000 sampled files.
        let mut c = TreeCounts::default();
        for d in 0..20 {
            for f in 0..10_000 {
                c.record(&format!("/top{d}/f{f}"));
            }
        }
        let paths: Vec<String> = (0..1000).map(|i| format!("/top{}/f{i}", i % 20)).collect();
        let calls = plan_calls(&paths, &c, true, CALL_COST);
        let roots: std::collections::BTreeSet<&str> =
            calls.iter().map(|c| c.root.as_str()).collect();
        assert_eq!(roots.len(), 20, "calls start at each top directory");
        assert!(calls.iter().all(|c| c.root.starts_with("/top")
            && c.paths
                .iter()
                .all(|p| p.starts_with(&format!("{}/", c.root)))));
        let mut all: Vec<String> = calls.into_iter().flat_map(|c| c.paths).collect();
        all.sort();
        let mut want = paths.clone();
        want.sort();
        assert_eq!(all, want, "every path exactly once");
    }

    #[test]
    fn plan_calls_keeps_one_call_for_a_small_sample() {
        let mut c = TreeCounts::default();
        for f in 0..200_000 {
            c.record(&format!("/top{}/f{f}", f % 20));
        }
        let paths: Vec<String> = (0..10).map(|i| format!("/top{i}/f{i}")).collect();
        assert_eq!(plan_calls(&paths, &c, true, CALL_COST).len(), 1);
    }
}
