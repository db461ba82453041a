//! Removing the lock an interrupted restic left behind, and `restic unlock`.
//!
//! restic writes its lock file, waits about 200 ms for competing locks, and only
//! then registers the lock for removal on SIGINT: interrupted in that window it
//! exits and leaves a lock of a dead process. Only the lock of *our* interrupted
//! process is removed here.
//!
//! Interrupted a moment earlier, restic's local backend leaves the lock half made:
//! it writes `locks/<id>-tmp-<random>` and renames it when complete. restic ignores
//! such a file (it is not a lock) and never removes it. In a local repository one is
//! removed when it is surely ours: written by our user since our restic started, and
//! open in no process of this host (a live restic saving its own lock holds it
//! open). What remains possible is a restic of the same user, on this host between
//! closing and renaming its file (microseconds) or on another host sharing the
//! directory, in the same moment; its lock would then fail and it would retry or
//! report it.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::classify::ResticExit;
use super::json;
use super::session::{Session, LOCK_CLEANUP_TIMEOUT};
use super::Error;

impl Session<'_> {
    /// When a lock of the interrupted process `pid` on this host exists, remove
    /// it and nothing else: on a local repository its file is deleted; elsewhere
    /// `restic unlock` runs only when no other stale lock would go with it (else a
    /// warning names the lock). On a local repository a half-made lock file of that
    /// process (`started` when it started) goes too. Runs with its own short
    /// deadline: the run is cancelled.
    pub(super) async fn remove_lock_left_by(&self, pid: u32, started: SystemTime) {
        if let Some(dir) = self.local_path() {
            for file in orphan_temp_locks(&dir.join("locks"), started) {
                tracing::info!(
                    repository = self.repository,
                    "restic was interrupted while saving its lock and left {} behind; removing it",
                    file.display()
                );
                if let Err(e) = std::fs::remove_file(&file) {
                    tracing::warn!(
                        repository = self.repository,
                        "cannot remove {}: {e}; restic ignores it, remove it by hand",
                        file.display()
                    );
                }
            }
        }
        let cleanup = Session {
            deadline: Instant::now() + LOCK_CLEANUP_TIMEOUT,
            timeout: LOCK_CLEANUP_TIMEOUT,
            cancel: CancellationToken::new(),
            hurry: None,
            lock_wait: Duration::ZERO,
            unlock_stale: false,
            retries: 0,
            ..*self
        };
        let mut ids = Vec::new();
        let list: Vec<OsString> = vec!["list".into(), "locks".into()];
        if cleanup
            .spawn(
                &list,
                false,
                &mut |l| ids.push(String::from_utf8_lossy(l).trim().to_owned()),
                None,
            )
            .await
            .is_err()
        {
            return;
        }
        let mut ours = None;
        let mut other_stale = 0usize;
        let now = chrono::Utc::now();
        for id in ids.iter().filter(|i| !i.is_empty()) {
            let mut text = Vec::new();
            let cat: Vec<OsString> = vec!["cat".into(), "lock".into(), id.into()];
            if cleanup
                .spawn(&cat, false, &mut |l| text.extend_from_slice(l), None)
                .await
                .is_err()
            {
                continue;
            }
            let Ok(lock) = serde_json::from_slice::<json::Lock>(&text) else {
                continue;
            };
            if lock.pid == pid && lock.hostname == self.host {
                ours = Some(id.clone());
            } else if is_stale(&lock, self.host, now) {
                other_stale += 1;
            }
        }
        let Some(id) = ours else { return };
        tracing::info!(
            repository = self.repository,
            "restic was interrupted while taking its lock and left lock {id} behind; removing it"
        );
        if let Some(file) = local_lock_file(self.local_path(), &id) {
            if let Err(e) = std::fs::remove_file(&file) {
                tracing::warn!(
                    repository = self.repository,
                    "cannot remove lock {}: {e}; run `restic unlock`",
                    file.display()
                );
            }
        } else if other_stale == 0 {
            if let Err(e) = cleanup.unlock().await {
                tracing::warn!(repository = self.repository, "{e}");
            }
        } else {
            tracing::warn!(
                repository = self.repository,
                "lock {id} of the interrupted restic is left in place: `restic unlock` would also remove {other_stale} other stale lock(s); check them and run `restic unlock` yourself"
            );
        }
    }

    /// `restic unlock`: removes stale locks only.
    pub(super) async fn unlock(&self) -> Result<(), Error> {
        let args: Vec<OsString> = vec!["unlock".into()];
        let fin = self.spawn(&args, false, &mut |_| (), None).await?;
        if fin.exit == ResticExit::Success {
            Ok(())
        } else {
            Err(self.failed(&args, &fin))
        }
    }
}

/// restic's rule: a lock is stale when older than 30 minutes, or made on this host
/// by a process that is gone.
fn is_stale(lock: &json::Lock, host: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    let old = lock
        .time
        .is_some_and(|t| now.signed_duration_since(t) > chrono::Duration::minutes(30));
    old || (lock.hostname == host && !crate::process::alive(lock.pid))
}

/// Half-made lock files in `locks` that only our interrupted restic can have left:
/// named `<64 hex>-tmp-<digits>` (restic's local backend), a regular file of our
/// user, modified since `started` (less a second: file times lag the clock), and
/// open in no process this user can see (all of them for root).
fn orphan_temp_locks(locks: &Path, started: SystemTime) -> Vec<PathBuf> {
    let since = started - Duration::from_secs(1);
    let me = nix::unistd::geteuid().as_raw();
    let Ok(entries) = std::fs::read_dir(locks) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, u64, u64)> = entries
        .filter_map(Result::ok)
        .filter(|e| is_temp_lock_name(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let m = e.path().symlink_metadata().ok()?;
            let fresh = m.modified().is_ok_and(|t| t >= since);
            (m.is_file() && m.uid() == me && fresh).then(|| (e.path(), m.dev(), m.ino()))
        })
        .collect();
    if !found.is_empty() {
        let open = open_files();
        found.retain(|(_, dev, ino)| !open.contains(&(*dev, *ino)));
    }
    found.into_iter().map(|(p, _, _)| p).collect()
}

/// `<64 lowercase hex>-tmp-<digits>`: how restic's local backend names a file it
/// is still writing.
fn is_temp_lock_name(name: &str) -> bool {
    let Some((id, random)) = name.split_once("-tmp-") else {
        return false;
    };
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_digit())
}

/// Device and inode of every file some process of this host has open (as far as
/// /proc shows them to us).
fn open_files() -> std::collections::HashSet<(u64, u64)> {
    let mut out = std::collections::HashSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.filter_map(Result::ok) {
        if !p
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.filter_map(Result::ok) {
            // Follows the link to the open file itself, even when it was renamed.
            if let Ok(m) = std::fs::metadata(fd.path()) {
                out.insert((m.dev(), m.ino()));
            }
        }
    }
    out
}

/// The lock's file when the repository is a local directory (`/path` or
/// `local:/path`), else `None`.
fn local_lock_file(url: Option<&Path>, id: &str) -> Option<PathBuf> {
    let file = url?.join("locks").join(id);
    file.is_file().then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8e2f3f5ce4b6b1c1b4fbd2a2b2a5b7fd6bd18a0a8c7a1b49e1c2e4a2d8d7c6b5";

    #[test]
    fn orphan_temp_locks_are_only_our_fresh_closed_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = SystemTime::now();
        let file = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, b"half a lock").expect("write");
            p
        };
        let ours = file(&format!("{ID}-tmp-584313511"));
        file(ID); // a lock, not a temp file
        file(&format!("{ID}-tmp-x1")); // not restic's name
        file("abc-tmp-1"); // not an ID
        let old = file(&format!("{ID}-tmp-1"));
        std::fs::File::options()
            .write(true)
            .open(&old)
            .expect("open")
            .set_modified(started - Duration::from_secs(3600))
            .expect("mtime");
        // A live writer holds its temp file open: never ours to remove.
        let held = file(&format!("{ID}-tmp-2"));
        let _open = std::fs::File::open(&held).expect("open");
        assert_eq!(orphan_temp_locks(dir.path(), started), vec![ours]);
    }

    #[test]
    fn orphan_temp_locks_of_a_missing_directory_are_none() {
        assert!(orphan_temp_locks(Path::new("/nonexistent/locks"), SystemTime::now()).is_empty());
    }

    #[test]
    fn is_stale_follows_restics_rule() {
        let now = chrono::Utc::now();
        let lock = |host: &str, pid: u32, mins: i64| json::Lock {
            hostname: host.into(),
            pid,
            time: Some((now - chrono::Duration::minutes(mins)).fixed_offset()),
        };
        assert!(is_stale(&lock("other", 1, 31), "me", now), "old");
        assert!(
            !is_stale(&lock("other", 1, 5), "me", now),
            "young, other host"
        );
        assert!(
            !is_stale(&lock("me", std::process::id(), 5), "me", now),
            "our live process"
        );
        assert!(
            is_stale(&lock("me", u32::MAX - 1, 5), "me", now),
            "dead pid"
        );
    }
}
