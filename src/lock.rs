//! A per-repository lock (flock on a file in the runtime directory) that stops two
//! restic-verify runs — two timers, or a timer and the daemon — from working on the
//! same repository at once. The second waits up to `lock-wait`, then reports `locked`.
//!
//! The lock file is keyed by the repository URL (not its name, which differs between
//! profiles) with every credential left out first (`identity`: user-info, query,
//! fragment, rclone connection-string parameters), then hashed: two spellings of
//! one repository that differ only in credentials share a lock, and the name gives
//! nothing to test password guesses against. The kernel
//! releases a flock when its holder dies, so a crash never leaves a stale lock. The
//! directory must not be writable by everyone (a predictable name in /tmp could be
//! planted by another user), and the file is opened with O_NOFOLLOW.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("another restic-verify run is working on repository `{repository}` ({}); waited {}, raise `lock-wait` to wait longer", path.display(), humantime::format_duration(*waited))]
    Busy {
        repository: String,
        path: PathBuf,
        waited: Duration,
    },
    #[error("cannot open lock file {}: {source}; set RESTIC_VERIFY_RUNTIME_DIR to a writable directory", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted while waiting for the lock on repository `{repository}`")]
    Interrupted { repository: String },
    #[error("lock directory {} is writable by every user (or is not a directory we own); set RESTIC_VERIFY_RUNTIME_DIR to a private directory (systemd: RuntimeDirectory=)", path.display())]
    Unsafe { path: PathBuf },
}

/// Held while a run works on a repository; released on drop.
#[derive(Debug)]
pub struct RepoLock {
    _lock: Flock<std::fs::File>,
}

/// Where lock files live: `RESTIC_VERIFY_RUNTIME_DIR`, systemd's `RUNTIME_DIRECTORY`,
/// `/run/restic-verify` when it exists, else a private `restic-verify-<uid>`
/// directory in the temp directory (never the shared temp directory itself).
pub fn runtime_dir() -> PathBuf {
    for var in ["RESTIC_VERIFY_RUNTIME_DIR", "RUNTIME_DIRECTORY"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            // systemd may list several directories separated by ':'.
            let first = v
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            return PathBuf::from(first);
        }
    }
    let run = Path::new("/run/restic-verify");
    if run.is_dir() {
        return run.to_owned();
    }
    std::env::temp_dir().join(format!("restic-verify-{}", nix::unistd::getuid()))
}

/// Makes sure `dir` exists (created 0700 when missing), is a real directory (not a
/// symlink) and is not writable by every user.
fn private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let unsafe_dir = || Error::Unsafe {
        path: dir.to_owned(),
    };
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(|source| Error::Open {
                    path: dir.to_owned(),
                    source,
                })?;
        }
        Err(source) => {
            return Err(Error::Open {
                path: dir.to_owned(),
                source,
            })
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|source| Error::Open {
        path: dir.to_owned(),
        source,
    })?;
    let world_writable = meta.mode() & 0o002 != 0;
    let foreign = meta.uid() != nix::unistd::getuid().as_raw() && meta.uid() != 0;
    if !meta.is_dir() || world_writable || foreign {
        return Err(unsafe_dir());
    }
    Ok(())
}

/// The lock file of a repository URL: a hash of its `identity`, so no credential
/// reaches the name.
pub fn path(dir: &Path, url: &str) -> PathBuf {
    let digest = Sha256::digest(identity(url).as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    dir.join(format!("restic-verify-repo-{hex}.lock"))
}

/// The part of a repository URL that names the repository, with every place a
/// credential can sit left out: the user-info of `scheme://user:password@host/…`
/// (`rest:`, `s3:`, `sftp://`) and of `sftp:user@host:/path`, a query string and a
/// fragment (`?token=…`), and the parameters of an rclone connection string
/// (`rclone::sftp,host=h,pass=…:path`). A `local:` prefix and trailing slashes go
/// too, so that spellings of one repository share its lock.
fn identity(url: &str) -> String {
    let url = url.strip_prefix("local:").unwrap_or(url);
    let named = if let Some(scheme_end) = url.find("://") {
        let (scheme, rest) = url.split_at(scheme_end + 3);
        let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let host = match rest[..authority_end].rfind('@') {
            Some(at) => &rest[at + 1..],
            None => rest,
        };
        format!("{scheme}{host}")
    } else if let Some(rest) = url.strip_prefix("sftp:") {
        let host_end = rest.find(':').unwrap_or(rest.len());
        match rest[..host_end].rfind('@') {
            Some(at) => format!("sftp:{}", &rest[at + 1..]),
            None => url.to_owned(),
        }
    } else if let Some(rest) = url.strip_prefix("rclone:") {
        format!("rclone:{}", without_rclone_parameters(rest))
    } else {
        url.to_owned()
    };
    match named.trim_end_matches('/') {
        "" => named,
        trimmed => trimmed.to_owned(),
    }
}

/// `remote,key=value,…:path` → `remote:path`. rclone quotes a value holding `,` or
/// `:` with `"` or `'` (doubled inside), so the parameters end at the first `:`
/// outside quotes.
fn without_rclone_parameters(spec: &str) -> String {
    // An on-the-fly backend (`:sftp,…`) starts with a colon that is part of its name.
    let start = usize::from(spec.starts_with(':'));
    let Some(comma) = spec[start..].find([',', ':']).map(|i| i + start) else {
        return spec.to_owned();
    };
    if !spec[comma..].starts_with(',') {
        return spec.to_owned();
    }
    let mut quote = None;
    for (i, c) in spec[comma..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, ':') => return format!("{}{}", &spec[..comma], &spec[comma + i..]),
            _ => {}
        }
    }
    // No path after the parameters: the remote's name alone.
    spec[..comma].to_owned()
}

/// Takes the lock of `url`, waiting up to `wait`.
///
/// # Errors
/// `Busy` after `wait`, `Interrupted` on cancel, `Open` when the file cannot be made.
pub async fn acquire(
    repository: &str,
    url: &str,
    wait: Duration,
    cancel: &CancellationToken,
) -> Result<RepoLock, Error> {
    acquire_in(&runtime_dir(), repository, url, wait, cancel).await
}

/// `acquire` with the lock directory given.
async fn acquire_in(
    dir: &Path,
    repository: &str,
    url: &str,
    wait: Duration,
    cancel: &CancellationToken,
) -> Result<RepoLock, Error> {
    private_dir(dir)?;
    let path = path(dir, url);
    let started = tokio::time::Instant::now();
    let mut logged = false;
    loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(RepoLock { _lock: lock }),
            Err((_, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {}
            Err((_, errno)) => {
                return Err(Error::Open {
                    path,
                    source: std::io::Error::from(errno),
                })
            }
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Err(Error::Busy {
                repository: repository.to_owned(),
                path,
                waited,
            });
        }
        if !logged {
            tracing::info!(
                repository,
                "another restic-verify run holds the repository; waiting up to {}",
                humantime::format_duration(wait)
            );
            logged = true;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250).min(wait - waited)) => {}
            () = cancel.cancelled() => return Err(Error::Interrupted { repository: repository.to_owned() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // See: issue #20, item 8: the name was a hash of the whole URL, so it changed
    // with the password and could be tested against password guesses.
    #[rstest::rstest]
    #[case(
        "rest:https://alice:first-pw@h:8000/r",
        "rest:https://bob:other-pw@h:8000/r/"
    )]
    #[case("rest:https://token-one@h/r", "rest:https://h/r")]
    #[case("rest:https://h/r?token=first-pw", "rest:https://h/r?token=other-pw#x")]
    #[case(
        "s3:https://key:first-pw@s3.example.com/b/p",
        "s3:https://s3.example.com/b/p"
    )]
    #[case("sftp:alice@h:/srv/restic", "sftp:bob@h:/srv/restic")]
    #[case("sftp://alice:first-pw@h:22//srv/restic", "sftp://h:22//srv/restic")]
    #[case(
        "rclone::sftp,host=h,user=u,pass='first-pw:,x':repo",
        "rclone::sftp,host=h,user=u,pass=other-pw:repo"
    )]
    #[case("rclone:nas,pass=first-pw:repo", "rclone:nas:repo")]
    #[case("local:/mnt/nas/restic/", "/mnt/nas/restic")]
    fn path_of_urls_differing_only_in_credentials_is_the_same_and_shows_none(
        #[case] a: &str,
        #[case] b: &str,
    ) {
        let dir = Path::new("/run/x");
        assert_eq!(path(dir, a), path(dir, b), "{a} vs {b}");
        for url in [a, b] {
            let id = identity(url);
            for secret in ["first-pw", "other-pw", "token-one", "alice", "bob"] {
                assert!(!id.contains(secret), "{url} -> {id}");
            }
        }
        // `a` always carries a credential: its name is not a hash of it.
        let digest = Sha256::digest(a.as_bytes());
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        assert!(
            !path(dir, a).to_string_lossy().contains(&hex),
            "{a}: the name is a hash of the URL with its credentials"
        );
    }

    #[rstest::rstest]
    #[case("rest:https://u:pw@h/r", "rest:https://h/other")]
    #[case("rest:https://h1/r", "rest:https://h2/r")]
    #[case("sftp:u@h:/a", "sftp:u@h:/b")]
    #[case("rclone:nas,pass=x:a", "rclone:nas,pass=x:b")]
    #[case("rclone:nas:a", "rclone:usb:a")]
    #[case("/mnt/a", "/mnt/b")]
    fn path_of_different_repositories_differs(#[case] a: &str, #[case] b: &str) {
        let dir = Path::new("/run/x");
        assert_ne!(path(dir, a), path(dir, b), "{a} vs {b}");
    }

    #[test]
    fn path_hides_the_url_and_differs_per_repository() {
        let a = path(Path::new("/run/x"), "rest:https://u:secret@h/r");
        assert!(!a.to_string_lossy().contains("secret"));
        assert_ne!(a, path(Path::new("/run/x"), "/other"));
        assert_eq!(a, path(Path::new("/run/x"), "rest:https://u:secret@h/r"));
    }

    #[tokio::test]
    async fn acquire_waits_for_the_holder_then_reports_busy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let cancel = CancellationToken::new();
        let held = acquire_in(d, "r", "/repo", Duration::ZERO, &cancel)
            .await
            .expect("first");
        let start = std::time::Instant::now();
        let second = acquire_in(d, "r", "/repo", Duration::from_millis(600), &cancel).await;
        assert!(matches!(second, Err(Error::Busy { .. })), "{second:?}");
        assert!(start.elapsed() >= Duration::from_millis(600));
        drop(held);
        acquire_in(d, "r", "/repo", Duration::ZERO, &cancel)
            .await
            .expect("free again");
    }

    #[test]
    fn private_dir_refuses_a_world_writable_directory_and_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert!(matches!(private_dir(&open), Err(Error::Unsafe { .. })));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
        assert!(matches!(private_dir(&link), Err(Error::Unsafe { .. })));
        let fresh = dir.path().join("fresh");
        private_dir(&fresh).expect("created");
        let mode = std::fs::metadata(&fresh)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[tokio::test]
    async fn acquire_does_not_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("victim");
        std::fs::write(&target, "keep").expect("write");
        let lock = path(dir.path(), "/planted");
        std::os::unix::fs::symlink(&target, &lock).expect("symlink");
        let r = acquire_in(
            dir.path(),
            "r",
            "/planted",
            Duration::ZERO,
            &CancellationToken::new(),
        )
        .await;
        assert!(matches!(r, Err(Error::Open { .. })), "{r:?}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
    }
}
