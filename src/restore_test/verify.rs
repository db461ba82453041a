//! Hashes restored and expected copies (in parallel across files) and classifies
//! each sampled file. Reads only; the source and the restore are never written.

use std::collections::HashMap;
use std::path::Path;

use super::plan::Candidate;
use crate::compare::FileResult;
use crate::compare::{self, Class, Expected, Restored};
use crate::source::{self, Resolved};

/// Compares every candidate; `errors` are restic's per-file errors.
pub fn verify(
    files: &[Candidate],
    target: &Path,
    errors: &HashMap<String, String>,
    map: &Resolved,
) -> Vec<FileResult> {
    let workers = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .min(files.len().max(1));
    let chunk = files.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|c| verify_one(c, target, errors, map))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn verify_one(
    c: &Candidate,
    target: &Path,
    errors: &HashMap<String, String>,
    map: &Resolved,
) -> FileResult {
    let restored_path = super::execute::restored_path(target, &c.path);
    let restored = match errors.get(&c.path) {
        Some(why) => Restored::Failed(why.clone()),
        None => match compare::hash_file(&restored_path) {
            Ok((hash, size)) => Restored::Arrived { size, hash },
            Err(e) => Restored::Failed(format!(
                "restic reported no error but the file did not arrive ({e})"
            )),
        },
    };
    // What the snapshot promised beyond the bytes: the permission bits.
    let restored = match (restored, c.mode) {
        (Restored::Arrived { .. }, Some(mode)) if !mode_matches(&restored_path, mode) => {
            Restored::Failed(format!(
                "restored with mode {:04o}, the snapshot recorded {:04o}",
                file_mode(&restored_path).unwrap_or(0),
                mode & 0o777
            ))
        }
        (r, _) => r,
    };
    let expected = source::read_expected(&map.expected_path(&c.path));
    let class = compare::classify((c.size, c.mtime_ns), &restored, &expected, map.immutable());
    let detail = match (&restored, &expected, class) {
        (Restored::Failed(why), _, _) => Some(why.clone()),
        (Restored::Arrived { size, .. }, _, Class::RestoreFailed) => Some(format!(
            "restored {size} bytes, the snapshot recorded {}",
            c.size
        )),
        (_, Expected::Unreadable(why), _) => Some(why.clone()),
        _ => None,
    };
    FileResult {
        path: c.path.clone(),
        size: c.size,
        class,
        restored_sha256: match restored {
            Restored::Arrived { hash, .. } => Some(hash),
            Restored::Failed(_) => None,
        },
        expected_sha256: match expected {
            Expected::Read { hash, .. } => Some(hash),
            _ => None,
        },
        detail,
    }
}

fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// restic records Go's FileMode: the permission bits are the low nine.
fn mode_matches(path: &Path, recorded: u32) -> bool {
    file_mode(path).is_none_or(|m| m == recorded & 0o777)
}

/// A file found unusable before restoring (changed or deleted since the backup).
pub fn precheck(c: &Candidate, map: &Resolved) -> Option<FileResult> {
    if map.immutable() {
        // A ZFS snapshot cannot have changed since the backup read it.
        return None;
    }
    let path = map.expected_path(&c.path);
    let class = match source::stat(&path) {
        None if !path.exists() => Class::SourceMissing,
        None => return None, // not a regular file or unreadable: let verify say so
        Some((size, mtime)) if size != c.size || mtime != c.mtime_ns => Class::Changed,
        Some(_) => return None,
    };
    Some(FileResult {
        path: c.path.clone(),
        size: c.size,
        class,
        restored_sha256: None,
        expected_sha256: None,
        detail: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_matches_compares_permission_bits_of_the_restored_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        std::fs::write(&f, "x").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(mode_matches(&f, 0o600));
        // Go's FileMode keeps type bits high; only the low nine count.
        assert!(mode_matches(&f, 0x8000_0000 | 0o600));
        assert!(!mode_matches(&f, 0o644));
    }
}
