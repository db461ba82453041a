//! Restores the sample with restic into a private directory (mode 0700) under
//! `test-dir`, after checking that the filesystem has room. The directory holds an
//! flock on its own descriptor while in use and is removed when dropped, on every
//! exit path (pass, fail, error, timeout, SIGINT/SIGTERM), unless the caller keeps
//! it; a failure to remove it is logged, not swallowed. A run killed outright
//! (SIGKILL, the OOM killer) cannot remove it: the next restore test in the same
//! `test-dir` removes every directory of ours whose flock it can take (`sweep`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::call_plan::{self, CostModel, Plan, RestoreCall, Tree};
use crate::progress;
use crate::restic::cache::{open_dir, same_inode, sweep_leftovers};
use crate::restic::restore_output::{restore_line, RestoreLine};
use crate::restic::{self, Session};
use crate::rto;

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
    #[error("test-dir {} has {} free, {what} needs {} (plus 10%); nothing was restored: free space or choose another `test-dir`", dir.display(), human(*free), human(*need))]
    NoSpace {
        dir: PathBuf,
        free: u64,
        need: u64,
        what: String,
    },
    #[error("test-dir {} has {free} free inodes, {what} needs {need} (plus 10%); nothing was restored: choose another `test-dir` (a filesystem with more inodes)", dir.display())]
    NoInodes {
        dir: PathBuf,
        free: u64,
        need: u64,
        what: String,
    },
    #[error("test-dir {} is writable by other users (mode {mode:04o}) without the sticky bit: another user could rename or replace the restore directory while restic writes into it; run `chmod o-w {}` (or `chmod +t`, as /tmp has), or choose another `test-dir`", dir.display(), dir.display())]
    TestDirShared { dir: PathBuf, mode: u32 },
    #[error("cannot create a private directory in test-dir {}: {source}", dir.display())]
    Create {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a restore will write into the test dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Bytes on disk (file sizes rounded up to blocks, directories).
    pub bytes: u64,
    /// Nodes (files, directories, links); 0 when unknown.
    pub inodes: u64,
    /// What is restored, for the message ("the sample", "a full restore of …").
    pub what: String,
}

/// Bytes as people read them, with the exact figure.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {} ({bytes} bytes)", UNITS[u])
    }
}

/// Creates the private restore directory after checking free space for `need` bytes.
///
/// # Errors
/// `test-dir` missing, too small, or not writable.
pub fn prepare(test_dir: &Path, need: u64) -> Result<RestoreDir, Error> {
    prepare_for(
        test_dir,
        &Need {
            bytes: need,
            inodes: 0,
            what: "the sample".to_owned(),
        },
    )
}

/// Creates the private restore directory after checking that the test dir's
/// filesystem has room (bytes and inodes, with a 10% margin) for `need`: a restore
/// that cannot fit is never started.
///
/// # Errors
/// `test-dir` missing, too small, or not writable.
pub fn prepare_for(test_dir: &Path, need: &Need) -> Result<RestoreDir, Error> {
    let Some(meta) = std::fs::metadata(test_dir).ok().filter(|m| m.is_dir()) else {
        return Err(Error::TestDirMissing {
            dir: test_dir.to_owned(),
        });
    };
    // Writable by others: safe only with the sticky bit (like /tmp's 1777), where
    // nobody else can rename or remove the private 0700 directory made below.
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(Error::TestDirShared {
            dir: test_dir.to_owned(),
            mode,
        });
    }
    if let Ok(st) = nix::sys::statvfs::statvfs(test_dir) {
        let free = st.blocks_available().saturating_mul(st.fragment_size());
        if free < (need.bytes as f64 * MARGIN) as u64 {
            return Err(Error::NoSpace {
                dir: test_dir.to_owned(),
                free,
                need: need.bytes,
                what: need.what.clone(),
            });
        }
        // Filesystems without an inode limit report 0 files in total.
        let inodes_free = st.files_available();
        if st.files() > 0 && inodes_free < (need.inodes as f64 * MARGIN) as u64 {
            return Err(Error::NoInodes {
                dir: test_dir.to_owned(),
                free: inodes_free,
                need: need.inodes,
                what: need.what.clone(),
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
/// killer): directories in `test_dir` named `restic-verify-restore-*` (see
/// `sweep_leftovers`).
pub fn sweep(test_dir: &Path) {
    sweep_leftovers(test_dir, DIR_PREFIX, "a restore directory");
}

/// Where restic puts a tree path under the target.
pub fn restored_path(target: &Path, tree_path: &str) -> PathBuf {
    target.join(tree_path.trim_start_matches('/'))
}

/// The cost model for this restic: the measured constants of its generation, with
/// the fixed cost of a call overridden by `RESTIC_VERIFY_RESTORE_CALL_SECONDS` (a
/// repository far slower or faster to open than a local disk).
pub fn cost_model(version: restic::Version) -> CostModel {
    let mut m = if version.has_subfolder_restore() {
        CostModel::RESTIC_017
    } else {
        CostModel::RESTIC_014
    };
    if let Some(s) = std::env::var("RESTIC_VERIFY_RESTORE_CALL_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
    {
        m.call = s;
    }
    m
}

/// Plans the restore calls of `paths` (those `--include` can address; sizes as
/// recorded): see `call_plan::plan`.
pub fn plan(paths: &[(String, u64)], tree: &Tree, version: restic::Version) -> Plan {
    call_plan::plan(
        paths,
        tree,
        &cost_model(version),
        version.has_subfolder_restore(),
        &restic::args::includable,
    )
}

/// What restic reported about the files of a restore, and how long each call took.
#[derive(Debug, Clone, Default)]
pub struct RestoreErrors {
    /// Per-file errors by tree path; a file may have several.
    pub by_path: HashMap<String, Vec<String>>,
    /// Per-file errors that name no sampled file, as printed (tree paths of subtree
    /// calls as restic printed them, relative to the subtree).
    pub unmatched: Vec<String>,
    /// Each `restic restore`/`dump` call, timed: files and bytes that arrived, wall
    /// seconds (two calls may run at once). The RTO model records them and never
    /// fits them (see `rto`).
    pub calls: Vec<rto::Call>,
}

/// Regular files and their bytes that arrived at `path` (a file, or a directory
/// restored whole).
fn arrived(path: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut todo = vec![path.to_owned()];
    while let Some(p) = todo.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_file() {
            files += 1;
            bytes += m.len();
        } else if m.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    (files, bytes)
}

/// What one planned call restored under `target`.
fn call_arrived(target: &Path, call: &RestoreCall) -> (u64, u64) {
    if call.includes.is_empty() {
        return arrived(&restored_path(target, &call.root));
    }
    call.includes
        .iter()
        .map(|p| arrived(&restored_path(target, p)))
        .fold((0, 0), |(f, b), (f2, b2)| (f + f2, b + b2))
}

/// Whether restic's lines for a call say more than "metadata not restored" (a
/// non-root restic's usual lines): then its time measures a failure.
pub fn call_failed<'a>(lines: impl IntoIterator<Item = &'a String>, target: &Path) -> bool {
    let target = target.to_string_lossy();
    lines
        .into_iter()
        .any(|l| restore_line(l, &target) != RestoreLine::Metadata)
}

/// The output of `f` and the seconds it took.
async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, f64) {
    let started = std::time::Instant::now();
    let out = f.await;
    (out, started.elapsed().as_secs_f64())
}

impl RestoreErrors {
    pub(super) fn add(&mut self, path: String, why: String) {
        self.by_path.entry(path).or_default().push(why);
    }
}

/// One planned call: `<id>:<root>` restores the subtree's content into the target
/// itself, so the target is moved down to keep every file at `target/<tree path>`.
async fn restore_call(
    session: &Session<'_>,
    snapshot_id: &str,
    target: &Path,
    call: &RestoreCall,
    wanted: &HashSet<&str>,
) -> Result<restic::RestoreOutput, restic::Error> {
    let (snapshot, call_target) = if call.root.is_empty() {
        (snapshot_id.to_owned(), target.to_owned())
    } else {
        (
            format!("{snapshot_id}:{}", call.root),
            restored_path(target, &call.root),
        )
    };
    let includes: Vec<String> = call
        .includes
        .iter()
        .map(|p| p[call.root.len()..].to_owned())
        .collect();
    let root = call.root.as_str();
    let is_file = |p: &str| wanted.contains(format!("{root}{p}").as_str());
    let spec = restic::session::RestoreSpec {
        snapshot: &snapshot,
        target: &call_target,
        includes: &includes,
        verify: true,
        is_file: &is_file,
        events: false,
    };
    session.restore_with(&spec, &mut |_| ()).await
}

/// Runs the planned `calls` under `target`, then `restic dump` for each of `special`
/// (names `--include` cannot express); returns restic's per-file errors for the
/// `files` (tree paths) the caller compares, and each call's time. `progress`
/// advances by what each call restored.
///
/// # Errors
/// restic could not restore at all, or the environment failed it (see
/// `Session::restore`).
pub async fn restore(
    session: &Session<'_>,
    snapshot_id: &str,
    target: &Path,
    calls: &[RestoreCall],
    files: &[String],
    special: &[String],
    progress: &progress::Bar,
) -> Result<RestoreErrors, restic::Error> {
    let mut errors = RestoreErrors::default();
    let wanted: HashSet<&str> = files.iter().map(String::as_str).collect();
    // Two calls at once (`call_plan::LANES`): most of a call is opening the repository
    // and loading the index on one core. A failed call stops the next ones; its
    // partner finishes (dropping it would SIGKILL restic and leave its lock behind).
    for pair in calls.chunks(call_plan::LANES) {
        let outcomes = match pair {
            [a, b] => {
                let (ra, rb) = tokio::join!(
                    timed(restore_call(session, snapshot_id, target, a, &wanted)),
                    timed(restore_call(session, snapshot_id, target, b, &wanted))
                );
                vec![(a, ra), (b, rb)]
            }
            _ => {
                let mut v = Vec::new();
                for c in pair {
                    v.push((
                        c,
                        timed(restore_call(session, snapshot_id, target, c, &wanted)).await,
                    ));
                }
                v
            }
        };
        for (call, (outcome, seconds)) in outcomes {
            let out = outcome?;
            let (files, bytes) = call_arrived(target, call);
            progress.inc(bytes);
            errors.calls.push(rto::Call {
                kind: rto::CallKind::Sample,
                files,
                bytes,
                seconds,
                failed: call_failed(
                    out.errors.iter().map(|(_, why)| why).chain(&out.unmatched),
                    target,
                ),
            });
            for (p, why) in out.errors {
                errors.add(format!("{}{p}", call.root), why);
            }
            errors.unmatched.extend(out.unmatched);
        }
    }
    for path in special {
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
        let (dumped, seconds) = timed(session.dump(snapshot_id, path, file)).await;
        let (files, bytes) = arrived(&dest);
        progress.inc(bytes);
        errors.calls.push(rto::Call {
            kind: rto::CallKind::Sample,
            files,
            bytes,
            seconds,
            failed: dumped.is_err(),
        });
        match dumped {
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

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    // See: issue #20 ("a test-dir writable by others without the sticky bit").
    #[test]
    fn prepare_refuses_a_world_writable_test_dir_without_the_sticky_bit() {
        use std::os::unix::fs::PermissionsExt;
        let test_dir = tempfile::tempdir().expect("tempdir");
        let set = |mode| {
            std::fs::set_permissions(test_dir.path(), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        };
        set(0o777);
        let e = prepare(test_dir.path(), 0).expect_err("shared");
        assert!(matches!(e, Error::TestDirShared { mode: 0o777, .. }), "{e}");
        assert!(e.to_string().contains("chmod o-w"), "{e}");
        assert!(entries(test_dir.path()).is_empty());
        set(0o1777);
        drop(prepare(test_dir.path(), 0).expect("sticky like /tmp"));
        set(0o755);
        drop(prepare(test_dir.path(), 0).expect("private"));
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
}
