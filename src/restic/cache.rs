//! The one home of restic cache housekeeping: every job run's restic calls share a
//! throw-away cache (a warm cache hides damaged index and snapshot files) made in
//! the temp directory, flock'ed on its own descriptor while in use and removed when
//! dropped. A run killed outright (SIGKILL, the OOM killer) cannot remove it: the
//! next run removes every cache of ours whose flock it can take (`sweep_leftovers`,
//! which the restore test also uses for its restore directories).

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg, OFlag};

/// The name prefix of the throw-away restic caches in the temp directory.
pub const PREFIX: &str = "restic-verify-cache-";

/// A throw-away restic cache: removed when dropped, then unlocked.
#[derive(Debug)]
pub struct Cache {
    dir: tempfile::TempDir,
    /// Held until the cache is removed (fields drop in order): no other run's
    /// sweep takes it meanwhile.
    _lock: Option<Flock<File>>,
}

impl Cache {
    /// Removes the caches killed runs left in the temp directory, then makes and
    /// locks a new one.
    ///
    /// # Errors
    /// The temp directory has no room or is not writable.
    pub fn create() -> std::io::Result<Cache> {
        let temp = std::env::temp_dir();
        sweep_leftovers(&temp, PREFIX, "a throw-away restic cache");
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(&temp)?;
        let lock = lock_dir(dir.path());
        Ok(Cache { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Opens a directory itself (not a symlink to one), for locking.
pub(crate) fn open_dir(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).bits())
        .open(path)
}

/// Whether `file` is what `path` names now (not replaced since it was opened).
pub(crate) fn same_inode(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Locks a directory this run made, for as long as the lock is held, so that no
/// other run's `sweep_leftovers` takes it for a leftover. `None` when it cannot be
/// locked: the directory is then only at risk from a sweep, never a reason to fail
/// the run.
pub fn lock_dir(path: &Path) -> Option<Flock<File>> {
    let file = open_dir(path).ok()?;
    let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()?;
    same_inode(&lock, path).then_some(lock)
}

/// Removes what runs that were killed left in `dir`: directories named
/// `prefix*`, owned by this user, not symlinks, whose flock can be taken (no live
/// run holds it). Each removal is logged, naming `what` was removed; a failure to
/// remove is logged at `warn`, never an error of this run.
pub fn sweep_leftovers(dir: &Path, prefix: &str, what: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
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
                "removed {}: {what} left by a run that was killed (no live owner)",
                path.display()
            ),
            Err(e) => tracing::warn!(
                "cannot remove {}, {what} left by a run that was killed: {e}; remove it by hand",
                path.display()
            ),
        }
        drop(lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_leftovers_spares_locked_directories() {
        let t = tempfile::tempdir().expect("tempdir");
        let (dead, live) = (t.path().join("cache-dead"), t.path().join("cache-live"));
        std::fs::create_dir_all(dead.join("sub")).expect("mkdir");
        std::fs::create_dir(&live).expect("mkdir");
        let lock = lock_dir(&live).expect("lock");
        assert!(
            lock_dir(&live).is_none(),
            "a locked directory cannot be locked again"
        );
        sweep_leftovers(t.path(), "cache-", "a cache");
        assert!(!dead.exists(), "the unlocked leftover is removed");
        assert!(live.exists(), "the locked one stays");
        sweep_leftovers(t.path(), "other-", "another");
        assert!(live.exists(), "another prefix does not match");
        drop(lock);
        sweep_leftovers(t.path(), "cache-", "a cache");
        assert!(!live.exists(), "unlocked, it is a leftover");
    }

    #[test]
    fn a_cache_is_locked_while_held_and_removed_when_dropped() {
        let cache = Cache::create().expect("cache");
        let path = cache.path().to_owned();
        assert!(lock_dir(&path).is_none(), "a live cache is locked");
        sweep_leftovers(&std::env::temp_dir(), PREFIX, "a cache");
        assert!(path.exists(), "no sweep takes a live cache");
        drop(cache);
        assert!(!path.exists());
    }
}
