//! Restores the sample with restic into a private temporary directory (mode 0700)
//! under `test-dir`, after checking that the filesystem has room. The directory is a
//! `TempDir`: it is removed when dropped, on every exit path (pass, fail, error,
//! timeout, SIGINT/SIGTERM), unless the caller keeps it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::restic::{self, Session};

/// How many `--include` patterns one `restic restore` call gets: restic matches every
/// node against every pattern, so one call with thousands of patterns is quadratic.
pub const INCLUDE_BATCH: usize = 200;
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
pub fn prepare(test_dir: &Path, need: u64) -> Result<tempfile::TempDir, Error> {
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
    // tempfile creates the directory with mode 0700.
    tempfile::Builder::new()
        .prefix("restic-verify-restore-")
        .tempdir_in(test_dir)
        .map_err(|source| Error::Create {
            dir: test_dir.to_owned(),
            source,
        })
}

/// Where restic puts a tree path under the target.
pub fn restored_path(target: &Path, tree_path: &str) -> PathBuf {
    target.join(tree_path.trim_start_matches('/'))
}

/// Restores `paths` under `target`; returns restic's per-file errors by tree path.
///
/// # Errors
/// restic could not restore at all.
pub async fn restore(
    session: &Session<'_>,
    snapshot_id: &str,
    target: &Path,
    paths: &[String],
) -> Result<HashMap<String, String>, restic::Error> {
    let mut errors = HashMap::new();
    let (plain, special): (Vec<&String>, Vec<&String>) =
        paths.iter().partition(|p| restic::includable(p));
    for batch in plain.chunks(INCLUDE_BATCH) {
        let includes: Vec<String> = batch.iter().map(|p| (*p).clone()).collect();
        let out = session.restore(snapshot_id, target, &includes).await?;
        errors.extend(out.errors);
    }
    for path in special {
        let dest = restored_path(target, path);
        if let Some(parent) = dest.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                errors.insert(
                    path.clone(),
                    format!("cannot create {}: {e}", parent.display()),
                );
                continue;
            }
        }
        let file = match std::fs::File::create(&dest) {
            Ok(f) => f,
            Err(e) => {
                errors.insert(
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
                errors.insert(path.clone(), e.to_string());
            }
        }
    }
    Ok(errors)
}
