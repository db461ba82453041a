//! Hashes restored and expected copies (in parallel across files) and classifies
//! each sampled file; decides whether enough was verified (`shortfall`). Reads only;
//! the source and the restore are never written. Hashing stops at the job's
//! deadline or on cancellation, and a worker that panics is an error of the run,
//! never a silently shorter list of results.

use std::path::Path;

use super::execute::RestoreErrors;
use super::sampling::Candidate;
use crate::compare::FileResult;
use crate::compare::{self, Class, Expected, HashError, Restored, Stop, Stopped};
use crate::progress;
use crate::restic::restore_output::{restore_line, RestoreLine};
use crate::source::{self, Now, Resolved};

/// Why comparing did not give one result per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The job's deadline passed or the run was cancelled.
    Stopped(Stopped),
    /// A hash worker panicked (a bug): its files have no result.
    Panicked(String),
}

/// Runs `f` on every item across up to `workers` threads; results keep the order of
/// `items`. The first `Err` stops the rest; a panicking worker is `Panicked`.
///
/// # Errors
/// What `f` returned, or `Panicked`.
pub fn parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<R, Stopped> + Sync,
) -> Result<Vec<R>, VerifyError> {
    let workers = workers.clamp(1, items.len().max(1));
    let chunk = items.len().div_ceil(workers).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Result<Vec<R>, Stopped>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(part)) => out.extend(part),
                Ok(Err(stopped)) => {
                    first_err.get_or_insert(VerifyError::Stopped(stopped));
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".to_owned());
                    first_err = Some(VerifyError::Panicked(what));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

/// Compares every candidate; `errors` are restic's per-file errors. `progress`
/// advances by each file's size once it is compared.
///
/// # Errors
/// Stopped (deadline, cancellation), or a worker panicked.
pub fn verify(
    files: &[Candidate],
    target: &Path,
    errors: &RestoreErrors,
    map: &Resolved,
    stop: &Stop,
    progress: &progress::Bar,
) -> Result<Vec<FileResult>, VerifyError> {
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    parallel(files, workers, |c| {
        let r = verify_one(c, target, errors, map, stop);
        progress.inc(c.size);
        r
    })
}

/// restic's reasons for one file, split into those that may mean damage and those
/// that only concern metadata.
fn split_reasons(reasons: &[String], target: &Path) -> (Vec<String>, Vec<String>) {
    let target = target.to_string_lossy();
    reasons
        .iter()
        .cloned()
        .partition(|r| restore_line(r, &target) != RestoreLine::Metadata)
}

fn verify_one(
    c: &Candidate,
    target: &Path,
    errors: &RestoreErrors,
    map: &Resolved,
    stop: &Stop,
) -> Result<FileResult, Stopped> {
    stop.check()?;
    let reasons = errors.by_path.get(&c.path).map_or(&[][..], Vec::as_slice);
    let hashed = if has_serious(reasons, target) {
        None
    } else {
        Some(hash_restored(target, c, stop)?)
    };
    let expected = source::read_expected(&map.expected(&c.path), stop)?;
    Ok(conclude(
        c,
        target,
        reasons,
        hashed,
        expected,
        map.immutable(),
    ))
}

/// Whether restic said something about a file that may mean damage (not only
/// metadata it could not set): then its bytes are not worth hashing.
pub fn has_serious(reasons: &[String], target: &Path) -> bool {
    !split_reasons(reasons, target).0.is_empty()
}

/// The restored copy's hash and size, or why it could not be read.
///
/// # Errors
/// `stop` said to give up.
pub fn hash_restored(
    target: &Path,
    c: &Candidate,
    stop: &Stop,
) -> Result<Result<(String, u64), String>, Stopped> {
    let path = super::execute::restored_path(target, &c.path);
    match compare::hash_file_until(&path, stop) {
        Ok(h) => Ok(Ok(h)),
        Err(HashError::Stopped(s)) => Err(s),
        Err(HashError::Io(e)) => Ok(Err(e.to_string())),
    }
}

/// Classifies one file from what restic said about it (`reasons`), the restored
/// copy's hash (`None` when restic reported damage, so it was not read) and the
/// source as read: the policy of a sampled and a full restore alike. Also checks the
/// restored file's permission bits (restic sets them last, after the content).
pub fn conclude(
    c: &Candidate,
    target: &Path,
    reasons: &[String],
    hashed: Option<Result<(String, u64), String>>,
    expected: Expected,
    immutable: bool,
) -> FileResult {
    let restored_path = super::execute::restored_path(target, &c.path);
    let (serious, metadata) = split_reasons(reasons, target);
    let mut warnings: Vec<String> = Vec::new();
    if !metadata.is_empty() {
        warnings.push(format!(
            "restic could not restore metadata: {}",
            metadata.join("; ")
        ));
    }
    // Metadata errors alone are not damage: the content is hashed anyway.
    let restored = match (serious.is_empty(), hashed) {
        (true, Some(Ok((hash, size)))) => Restored::Arrived { size, hash },
        (true, Some(Err(e))) if metadata.is_empty() => Restored::Failed(format!(
            "restic reported no error but the file did not arrive ({e})"
        )),
        (true, Some(Err(e))) => Restored::Failed(format!(
            "the file did not arrive ({e}); restic said: {}",
            metadata.join("; ")
        )),
        (true, None) => Restored::Failed("the restored file was not read".to_owned()),
        (false, _) => Restored::Failed(serious.join("; ")),
    };
    // What the snapshot promised beyond the bytes: the permission bits. When restic
    // said it could not restore metadata, a different mode is that, not damage.
    let restored = match (restored, c.mode) {
        (Restored::Arrived { size, hash }, Some(mode)) if !mode_matches(&restored_path, mode) => {
            let why = format!(
                "restored with mode {:04o}, the snapshot recorded {:04o}",
                file_mode(&restored_path).unwrap_or(0),
                mode & 0o777
            );
            if metadata.is_empty() {
                Restored::Failed(why)
            } else {
                warnings.push(why);
                Restored::Arrived { size, hash }
            }
        }
        (r, _) => r,
    };
    let class = compare::classify((c.size, c.mtime_ns), &restored, &expected, immutable);
    let detail = match (&restored, &expected, class) {
        (Restored::Failed(why), _, _) => Some(why.clone()),
        (Restored::Arrived { size, .. }, _, Class::RestoreFailed) => Some(format!(
            "restored {size} bytes, the snapshot recorded {}",
            c.size
        )),
        (_, Expected::Unreadable(why) | Expected::Changed(why), _) => Some(why.clone()),
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
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
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

/// A file found unusable before restoring (changed, replaced by a symlink, or
/// deleted since the backup). Symlinks are not followed.
pub fn precheck(c: &Candidate, map: &Resolved) -> Option<FileResult> {
    if map.immutable() {
        // A ZFS snapshot cannot have changed since the backup read it.
        return None;
    }
    let source = map.expected(&c.path);
    let (class, detail) = match source::look(&source) {
        Now::Missing => (Class::SourceMissing, None),
        Now::Symlink => (
            Class::Changed,
            Some(format!(
                "{} is now a symbolic link (not followed): changed since the backup",
                source.full().display()
            )),
        ),
        Now::SymlinkAbove => (
            Class::Changed,
            Some(format!(
                "{}: a directory on its path is now a symbolic link (not followed): changed since the backup",
                source.full().display()
            )),
        ),
        Now::File { size, mtime_ns } if size != c.size || mtime_ns != c.mtime_ns => {
            (Class::Changed, None)
        }
        // A regular file as recorded, or one that cannot be looked at: reading says.
        Now::File { .. } | Now::Special | Now::Error => return None,
    };
    Some(FileResult {
        path: c.path.clone(),
        size: c.size,
        class,
        restored_sha256: None,
        expected_sha256: None,
        detail,
        warning: None,
    })
}

/// Files that were restored and compared: a match or a mismatch.
pub fn verified(files: &[FileResult]) -> usize {
    files
        .iter()
        .filter(|f| matches!(f.class, Class::Match | Class::Mismatch))
        .count()
}

/// Why a restore test verified fewer files than `floor`, or `None` when it verified
/// enough. `drawn` is every file the sample drew (replacements included, `always`
/// paths too); `source_root` is the directory the missing files have in common.
pub fn shortfall(
    files: &[FileResult],
    floor: usize,
    population: u64,
    source_root: Option<&Path>,
) -> Option<String> {
    shortfall_of(tally(files), floor, population, source_root)
}

/// The counts of `files` that `shortfall_of` judges.
pub fn tally(files: &[FileResult]) -> FloorCounts {
    let count = |class: Class| files.iter().filter(|f| f.class == class).count();
    FloorCounts {
        verified: verified(files),
        drawn: files.len(),
        missing: count(Class::SourceMissing),
        changed: count(Class::Changed),
    }
}

/// What a restore test counted, for `shortfall_of`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloorCounts {
    /// Restored and compared (match or mismatch).
    pub verified: usize,
    /// Every file tested.
    pub drawn: usize,
    pub missing: usize,
    pub changed: usize,
}

/// `shortfall` from counts (a full restore does not keep every matching file).
pub fn shortfall_of(
    t: FloorCounts,
    floor: usize,
    population: u64,
    source_root: Option<&Path>,
) -> Option<String> {
    let FloorCounts {
        verified: done,
        drawn,
        missing,
        changed,
    } = t;
    if done >= floor {
        return None;
    }
    let mut why: Vec<String> = Vec::new();
    if missing > 0 {
        let root =
            source_root.map_or_else(|| "the source".to_owned(), |p| format!("`{}`", p.display()));
        why.push(format!(
            "{missing} of {drawn} sampled files are missing from the source: is {root} mounted, is `map` right?"
        ));
    }
    if changed > 0 {
        why.push(format!(
            "{changed} of {drawn} changed since the backup: compare with a ZFS snapshot, or test at a quieter time"
        ));
    }
    if why.is_empty() {
        why.push(format!(
            "the snapshot has {population} file(s) that pass the filters and {drawn} were tested: lower `min-verified` or widen the filters"
        ));
    }
    Some(format!(
        "only {done} file(s) were restored and compared, `min-verified` is {floor}: {}",
        why.join("; ")
    ))
}

/// The deepest directory that all `paths` share (for "is it mounted?").
pub fn common_dir<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Option<std::path::PathBuf> {
    let mut common: Option<std::path::PathBuf> = None;
    for p in paths {
        let dir = p.parent().unwrap_or(p);
        common = Some(match common {
            None => dir.to_owned(),
            Some(c) => c
                .components()
                .zip(dir.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.filter(|c| !c.as_os_str().is_empty())
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

    #[test]
    fn parallel_turns_a_panicking_worker_into_an_error_not_fewer_results() {
        let items: Vec<u32> = (0..40).collect();
        let ok = parallel(&items, 4, |i| Ok(i * 2)).expect("no panic");
        assert_eq!(ok, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let r = parallel(&items, 4, |i| {
            if *i == 17 {
                panic!("boom on 17");
            }
            Ok(*i)
        });
        assert_eq!(r, Err(VerifyError::Panicked("boom on 17".to_owned())));
        let r = parallel(&items, 4, |i| {
            if *i == 3 {
                Err(Stopped::Deadline)
            } else {
                Ok(*i)
            }
        });
        assert_eq!(r, Err(VerifyError::Stopped(Stopped::Deadline)));
    }

    fn result(path: &str, class: Class) -> FileResult {
        FileResult {
            path: path.into(),
            size: 1,
            class,
            restored_sha256: None,
            expected_sha256: None,
            detail: None,
            warning: None,
        }
    }

    #[test]
    fn shortfall_says_why_files_were_set_aside() {
        let missing: Vec<FileResult> = (0..20)
            .map(|i| result(&format!("/d/{i}"), Class::SourceMissing))
            .collect();
        assert_eq!(
            shortfall(&missing, 10, 100, Some(Path::new("/data"))).as_deref(),
            Some("only 0 file(s) were restored and compared, `min-verified` is 10: 20 of 20 sampled files are missing from the source: is `/data` mounted, is `map` right?")
        );
        let mut busy: Vec<FileResult> = (0..37)
            .map(|i| result(&format!("/d/{i}"), Class::Changed))
            .collect();
        busy.extend((0..3).map(|i| result(&format!("/m/{i}"), Class::Match)));
        assert_eq!(
            shortfall(&busy, 20, 254, None).as_deref(),
            Some("only 3 file(s) were restored and compared, `min-verified` is 20: 37 of 40 changed since the backup: compare with a ZFS snapshot, or test at a quieter time")
        );
        assert_eq!(shortfall(&busy, 3, 254, None), None);
        let few = vec![result("/a", Class::Match)];
        assert!(shortfall(&few, 2, 1, None).is_some_and(|m| m.contains("lower `min-verified`")));
    }

    #[test]
    fn common_dir_is_the_shared_parent() {
        let paths = [
            Path::new("/data/a/x"),
            Path::new("/data/b/y"),
            Path::new("/data/a/z"),
        ];
        assert_eq!(common_dir(paths), Some("/data".into()));
        assert_eq!(common_dir([Path::new("/data/a/x")]), Some("/data/a".into()));
        assert_eq!(common_dir(std::iter::empty::<&Path>()), None);
    }

    #[test]
    fn split_reasons_keeps_metadata_apart_from_damage() {
        let target = Path::new("/t/restic-verify-restore-x");
        let reasons = vec![
            "ciphertext verification failed".to_owned(),
            "UtimesNano: no such file or directory".to_owned(),
            "lchown /t/restic-verify-restore-x/source/a: invalid argument".to_owned(),
        ];
        let (serious, metadata) = split_reasons(&reasons, target);
        assert_eq!(serious, ["ciphertext verification failed"]);
        assert_eq!(metadata.len(), 2);
    }
}
