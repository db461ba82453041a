//! Removing the lock an interrupted restic left behind, and `restic unlock`.
//!
//! restic writes its lock file, waits about 200 ms for competing locks, and only
//! then registers the lock for removal on SIGINT: interrupted in that window it
//! exits and leaves a lock of a dead process. Only the lock of *our* interrupted
//! process is removed here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// warning names the lock). Runs with its own short deadline: the run is
    /// cancelled.
    pub(super) async fn remove_lock_left_by(&self, pid: u32) {
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

/// The lock's file when the repository is a local directory (`/path` or
/// `local:/path`), else `None`.
fn local_lock_file(url: Option<&Path>, id: &str) -> Option<PathBuf> {
    let file = url?.join("locks").join(id);
    file.is_file().then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

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
