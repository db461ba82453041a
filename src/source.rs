//! Where the expected bytes of a restored file live, and how to read them.
//!
//! restic records paths as the backup saw them (`/source/...` for `restic backup
//! source` run from `/srv`, or a ZFS snapshot mount point). `PathMap` turns a
//! snapshot's tree path into the path to compare against: explicit `--map FROM=TO`
//! prefixes first (longest wins), then what the snapshot's own `paths` imply; the
//! result is a `SourcePath`: the root the operator chose (a map's TO, a snapshot
//! path, a ZFS snapshot's directory) and the path below it. The source is only ever
//! opened read-only, once per file, without following a symlink in any component
//! below its root, without opening anything but a regular file (`resolve`), and
//! without moving its access time where the kernel allows (`read_expected`,
//! `open_quietly`), and never written.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::compare::{self, Expected, HashError, Stop, Stopped};

mod resolve;
pub use resolve::{
    lstat_at, open_dir_below, open_parent, open_regular, open_root, Found, SourcePath,
};

/// Prefix rewrites from tree paths to source paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathMap {
    /// (tree prefix, source prefix), longest tree prefix first.
    pairs: Vec<(String, PathBuf)>,
    /// The snapshot's absolute paths, longest first: a tree path below one that no
    /// pair maps is resolved below it (symlinks above it are the operator's choice).
    roots: Vec<PathBuf>,
}

impl PathMap {
    /// Builds a map from explicit `FROM=TO` pairs, then the snapshot's `paths`: a path
    /// `/srv/source` backed up as `source` appears in the tree as `/source`.
    pub fn new(explicit: &[(String, PathBuf)], snapshot_paths: &[String]) -> PathMap {
        let mut pairs: Vec<(String, PathBuf)> = explicit.to_vec();
        for p in snapshot_paths {
            let path = Path::new(p);
            if let Some(base) = path.file_name() {
                let tree = format!("/{}", base.to_string_lossy());
                if tree != *p && !pairs.iter().any(|(f, _)| *f == tree) {
                    pairs.push((tree, path.to_owned()));
                }
            }
        }
        pairs.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
        let mut roots: Vec<PathBuf> = snapshot_paths
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .collect();
        roots.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        PathMap { pairs, roots }
    }

    /// The source path for a tree path. Prefixes match whole components only.
    pub fn map(&self, tree_path: &str) -> PathBuf {
        self.source(tree_path).full()
    }

    /// The source path for a tree path, split at its root: the TO of the pair that
    /// maps it, else the longest snapshot path above it, else `/`.
    pub fn source(&self, tree_path: &str) -> SourcePath {
        for (from, to) in &self.pairs {
            let from = from.trim_end_matches('/');
            if tree_path == from {
                return SourcePath {
                    root: to.clone(),
                    rel: PathBuf::new(),
                };
            }
            if let Some(rest) = tree_path
                .strip_prefix(from)
                .and_then(|r| r.strip_prefix('/'))
            {
                return SourcePath {
                    root: to.clone(),
                    rel: PathBuf::from(rest),
                };
            }
        }
        let path = Path::new(tree_path);
        let root = self
            .roots
            .iter()
            .find(|r| path.starts_with(r))
            .map_or(Path::new("/"), PathBuf::as_path);
        SourcePath {
            root: root.to_owned(),
            rel: path.strip_prefix(root).unwrap_or(path).to_owned(),
        }
    }
}

/// Parses `FROM=TO`.
///
/// # Errors
/// No `=`, or a relative FROM.
pub fn parse_map(s: &str) -> Result<(String, PathBuf), String> {
    let (from, to) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: a map is FROM=TO, e.g. /mnt/backup-snapshot=/home"))?;
    if !from.starts_with('/') {
        return Err(format!(
            "`{s}`: FROM must be an absolute tree path, e.g. /mnt/backup-snapshot"
        ));
    }
    Ok((from.to_owned(), PathBuf::from(to)))
}

/// Whether `open_quietly` still asks for `O_NOATIME`.
static NOATIME: AtomicBool = AtomicBool::new(true);

/// Opens a source file through `open` (given the extra open flags), asking for
/// `O_NOATIME` so that reading it leaves its access time alone: on a `relatime` file
/// system a weekly audit would otherwise move every file's atime once a day, and
/// tools that sort or expire by atime would see the verification as a use.
///
/// The kernel allows `O_NOATIME` only to the file's owner or a process with
/// `CAP_FOWNER`; it refuses it with `EPERM`, and the file is then opened without it.
/// The first refusal turns it off for the rest of the process: the service user
/// (`CAP_DAC_READ_SEARCH` only) reads other owners' files, and would otherwise pay
/// two opens for each of them.
pub fn open_quietly<T>(open: impl Fn(nix::libc::c_int) -> io::Result<T>) -> io::Result<T> {
    open_quietly_with(&NOATIME, open)
}

/// `open_quietly` with the switch given (tests use their own).
fn open_quietly_with<T>(
    noatime: &AtomicBool,
    open: impl Fn(nix::libc::c_int) -> io::Result<T>,
) -> io::Result<T> {
    if noatime.load(Ordering::Relaxed) {
        match open(nix::libc::O_NOATIME) {
            Err(e) if e.raw_os_error() == Some(nix::libc::EPERM) => {
                noatime.store(false, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    open(0)
}

/// Reads the expected side: size, mtime and SHA-256 of a source file.
///
/// The path below the root is resolved without following any symlink (a link
/// where a directory or the file was is a change, never followed), the file is
/// looked at through an `O_PATH` descriptor and opened for reading only if it is a
/// regular file (a device, FIFO or socket in its place is a change and is never
/// opened), with `O_NONBLOCK | O_NOCTTY` and `O_NOATIME` where allowed
/// (`open_quietly`). Everything is read from that descriptor, and it is `fstat`ed
/// after reading: a file whose size, mtime or inode moved while it was read is
/// `Changed`: an edit during the test, not damage.
///
/// # Errors
/// `stop` said to give up (deadline or cancellation).
pub fn read_expected(path: &SourcePath, stop: &Stop) -> Result<Expected, Stopped> {
    read_expected_with(path, stop, &mut || ())
}

/// `read_expected`, calling `after_first_block` once the first block was read (tests
/// change the file there).
fn read_expected_with(
    path: &SourcePath,
    stop: &Stop,
    after_first_block: &mut dyn FnMut(),
) -> Result<Expected, Stopped> {
    let full = path.full();
    let (dir, name) = match open_parent(path) {
        Ok(d) => d,
        Err(e) => return Ok(parent_error(&full, &e)),
    };
    let found = open_quietly(|extra| {
        open_regular(
            std::os::fd::AsFd::as_fd(&dir),
            name,
            nix::fcntl::OFlag::from_bits_retain(extra),
        )
    });
    let (file, before) = match found {
        Ok(Found::File(f, m)) => (f, m),
        Ok(Found::Other(m)) => return Ok(not_regular(&full, &m)),
        Err(e) => return Ok(open_error(&full, &e)),
    };
    drop(dir);
    let mut reader = AfterFirst {
        inner: &file,
        hook: Some(after_first_block),
    };
    let (hash, read) = match compare::hash_reader_until(&mut reader, stop) {
        Ok(r) => r,
        Err(HashError::Stopped(s)) => return Err(s),
        Err(HashError::Io(e)) => return Ok(Expected::Unreadable(e.to_string())),
    };
    let after = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Ok(Expected::Unreadable(e.to_string())),
    };
    if let Some(what) = moved(&before, &after, read) {
        return Ok(Expected::Changed(format!(
            "{} changed while it was read ({what}): edited during the test",
            full.display()
        )));
    }
    Ok(Expected::Read {
        size: before.len(),
        mtime_ns: mtime_ns(&before),
        hash,
    })
}

/// What stands in a regular file's place, seen and not opened: a change; a
/// directory cannot be read as the file (as before issue #20: `unreadable`).
fn not_regular(path: &Path, m: &std::fs::Metadata) -> Expected {
    let (what, how) = if m.file_type().is_symlink() {
        ("a symbolic link", "not followed")
    } else if m.is_file() {
        ("another file", "replaced while it was opened")
    } else if m.is_dir() {
        return Expected::Unreadable(format!(
            "{} is no longer a regular file (now a directory)",
            path.display()
        ));
    } else {
        (kind(m), "not opened")
    };
    Expected::Changed(format!(
        "{} is now {what} ({how}): changed since the backup",
        path.display()
    ))
}

/// What an error resolving the directory of a source file means.
fn parent_error(path: &Path, e: &io::Error) -> Expected {
    match e.raw_os_error().map(nix::errno::Errno::from_raw) {
        Some(nix::errno::Errno::ELOOP) => Expected::Changed(format!(
            "{}: a directory on its path is now a symbolic link (not followed): changed since the backup",
            path.display()
        )),
        _ => open_error(path, e),
    }
}

/// What an `open` error of the source means.
fn open_error(_path: &Path, e: &std::io::Error) -> Expected {
    match e.raw_os_error().map(nix::errno::Errno::from_raw) {
        _ if e.kind() == std::io::ErrorKind::NotFound => Expected::Missing,
        Some(nix::errno::Errno::ENOTDIR) => Expected::Missing,
        _ => Expected::Unreadable(e.to_string()),
    }
}

/// What moved between two `fstat`s of one descriptor, if anything.
fn moved(before: &std::fs::Metadata, after: &std::fs::Metadata, read: u64) -> Option<String> {
    if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
        Some("inode".to_owned())
    } else if before.len() != after.len() || read != before.len() {
        Some(format!(
            "size {} before, {} after, {read} bytes read",
            before.len(),
            after.len()
        ))
    } else if mtime_ns(before) != mtime_ns(after) {
        Some("mtime".to_owned())
    } else {
        None
    }
}

fn kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// A reader that calls a hook once, after its first successful read.
struct AfterFirst<'a, R> {
    inner: R,
    hook: Option<&'a mut dyn FnMut()>,
}

impl<R: std::io::Read> std::io::Read for AfterFirst<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hook) = self.hook.take() {
            hook();
        }
        Ok(n)
    }
}

/// What a source file looks like now, without reading it and without following a
/// symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Now {
    /// A regular file: (size, mtime ns).
    File { size: u64, mtime_ns: i128 },
    /// Nothing there (or a parent is not a directory).
    Missing,
    /// A symlink where the snapshot had a regular file.
    Symlink,
    /// A directory on the way below the source root is now a symlink (not followed).
    SymlinkAbove,
    /// A directory, FIFO, socket or device: reading sets it aside (`changed`) without
    /// opening it.
    Special,
    /// `lstat` failed otherwise (e.g. permission denied on a parent).
    Error,
}

/// Looks at a source file (`lstat` relative to its directory, resolved as
/// `read_expected` does).
pub fn look(path: &SourcePath) -> Now {
    use nix::errno::Errno;
    let found =
        open_parent(path).and_then(|(dir, name)| lstat_at(std::os::fd::AsFd::as_fd(&dir), name));
    match found {
        Ok(m) if m.is_file() => Now::File {
            size: m.len(),
            mtime_ns: mtime_ns(&m),
        },
        Ok(m) if m.file_type().is_symlink() => Now::Symlink,
        Ok(_) => Now::Special,
        Err(e) if e.raw_os_error() == Some(Errno::ELOOP as i32) => Now::SymlinkAbove,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(Errno::ENOTDIR as i32) =>
        {
            Now::Missing
        }
        Err(_) => Now::Error,
    }
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
}

/// Parses restic's RFC 3339 mtime into ns since the epoch.
pub fn parse_mtime(s: &str) -> Option<i128> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
}

/// Test support: sets `f`'s access time a year before its modification time, so
/// that a plain read on a `relatime` file system moves it, and returns that time.
/// Panics, naming the directory, where a plain read does not move it (`noatime`):
/// a test of `open_quietly` could not fail there.
#[cfg(test)]
pub(crate) fn stale_atime(f: &Path) -> std::time::SystemTime {
    use std::time::Duration;
    let set = |p: &Path| {
        let m = std::fs::metadata(p).expect("stat");
        let atime = m.modified().expect("mtime") - Duration::from_secs(365 * 86_400);
        let times = std::fs::FileTimes::new().set_accessed(atime);
        std::fs::File::options()
            .write(true)
            .open(p)
            .expect("open")
            .set_times(times)
            .expect("set_times");
        atime
    };
    let probe = f.with_extension("atime-probe");
    std::fs::write(&probe, b"probe").expect("write probe");
    let old = set(&probe);
    std::fs::read(&probe).expect("read probe");
    let moved = std::fs::metadata(&probe)
        .expect("stat")
        .accessed()
        .expect("atime")
        != old;
    std::fs::remove_file(&probe).expect("remove probe");
    assert!(
        moved,
        "{}: this file system does not update access times on a read (noatime?); run the tests with TMPDIR on one that does",
        f.parent().unwrap_or(f).display()
    );
    set(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::fs::File;

    #[rstest]
    #[case("/source/a/b.txt", "/srv/source/a/b.txt")]
    #[case("/source", "/srv/source")]
    #[case("/sourcery/x", "/sourcery/x")]
    #[case("/mnt/snap/home/u/f", "/home/u/f")]
    #[case("/etc/hosts", "/etc/hosts")]
    fn path_map_rewrites_whole_components_longest_first(#[case] tree: &str, #[case] want: &str) {
        let m = PathMap::new(
            &[
                ("/mnt/snap".into(), "/".into()),
                ("/mnt/snap/home".into(), "/home".into()),
            ],
            &["/srv/source".into()],
        );
        assert_eq!(m.map(tree), PathBuf::from(want));
    }

    #[test]
    fn parse_map_rejects_relative_and_missing_equals() {
        assert!(parse_map("/a=/b").is_ok());
        assert!(parse_map("a=/b").is_err());
        assert!(parse_map("/a").is_err());
    }

    #[test]
    fn open_quietly_without_permission_for_o_noatime_opens_without_it_from_then_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = big_file(dir.path());
        let switch = AtomicBool::new(true);
        let calls = std::cell::RefCell::new(Vec::new());
        // As the kernel answers a user who neither owns the file nor has CAP_FOWNER.
        let open = |extra: nix::libc::c_int| {
            calls.borrow_mut().push(extra);
            if extra & nix::libc::O_NOATIME != 0 {
                return Err(io::Error::from_raw_os_error(nix::libc::EPERM));
            }
            File::open(&f)
        };
        assert!(open_quietly_with(&switch, open).is_ok());
        assert_eq!(*calls.borrow(), [nix::libc::O_NOATIME, 0]);
        assert!(open_quietly_with(&switch, open).is_ok());
        assert_eq!(
            *calls.borrow(),
            [nix::libc::O_NOATIME, 0, 0],
            "asked again after a refusal"
        );
        // Other errors are the file's own, not a reason to retry.
        let missing = |extra: nix::libc::c_int| {
            calls.borrow_mut().push(extra);
            File::open(dir.path().join("nope"))
        };
        let switch = AtomicBool::new(true);
        calls.borrow_mut().clear();
        let e = open_quietly_with(&switch, missing).expect_err("missing");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(*calls.borrow(), [nix::libc::O_NOATIME]);
        assert!(switch.load(Ordering::Relaxed));
    }

    #[test]
    fn read_expected_leaves_the_access_time_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = big_file(dir.path());
        let atime = stale_atime(&f);
        let e = read_expected(&at(&f), &Stop::default()).expect("not stopped");
        assert!(matches!(e, Expected::Read { .. }), "{e:?}");
        let after = std::fs::metadata(&f)
            .expect("stat")
            .accessed()
            .expect("atime");
        assert_eq!(after, atime, "reading the source moved its atime");
    }

    /// `p` as a source path: its parent is the root.
    pub(super) fn at(p: &Path) -> SourcePath {
        SourcePath {
            root: p.parent().expect("parent").to_owned(),
            rel: p.file_name().expect("name").into(),
        }
    }

    fn big_file(dir: &Path) -> PathBuf {
        let f = dir.join("f");
        std::fs::write(&f, vec![b'x'; 600 * 1024]).expect("write");
        f
    }

    #[test]
    fn read_expected_reads_a_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = big_file(dir.path());
        let e = read_expected(&at(&f), &Stop::default()).expect("not stopped");
        assert!(
            matches!(e, Expected::Read { size, .. } if size == 600 * 1024),
            "{e:?}"
        );
        assert_eq!(
            read_expected(&at(&dir.path().join("nope")), &Stop::default()),
            Ok(Expected::Missing)
        );
        assert_eq!(
            read_expected(&at(&f.join("below-a-file")), &Stop::default()),
            Ok(Expected::Missing)
        );
    }

    #[test]
    fn read_expected_file_appended_to_while_read_is_changed_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = big_file(dir.path());
        let g = f.clone();
        let e = read_expected_with(&at(&f), &Stop::default(), &mut || {
            use std::io::Write;
            let mut h = std::fs::OpenOptions::new()
                .append(true)
                .open(&g)
                .expect("open");
            h.write_all(b"more").expect("append");
        })
        .expect("not stopped");
        assert!(
            matches!(&e, Expected::Changed(m) if m.contains("changed while it was read")),
            "{e:?}"
        );
    }

    #[test]
    fn read_expected_file_touched_while_read_is_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = big_file(dir.path());
        let g = f.clone();
        let e = read_expected_with(&at(&f), &Stop::default(), &mut || {
            let h = std::fs::File::options().write(true).open(&g).expect("open");
            h.set_modified(std::time::SystemTime::UNIX_EPOCH)
                .expect("mtime");
        })
        .expect("not stopped");
        assert!(
            matches!(&e, Expected::Changed(m) if m.contains("mtime")),
            "{e:?}"
        );
    }

    #[test]
    fn read_expected_symlink_where_the_file_was_is_changed_and_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = big_file(dir.path());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let e = read_expected(&at(&link), &Stop::default()).expect("not stopped");
        assert!(
            matches!(&e, Expected::Changed(m) if m.contains("symbolic link")),
            "{e:?}"
        );
        assert_eq!(look(&at(&link)), Now::Symlink);
        assert!(matches!(look(&at(&target)), Now::File { size, .. } if size == 600 * 1024));
    }

    #[test]
    fn read_expected_fifo_where_the_file_was_does_not_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let e = read_expected(&at(&fifo), &Stop::default()).expect("not stopped");
        assert!(
            matches!(&e, Expected::Changed(m) if m.contains("FIFO (not opened)")),
            "{e:?}"
        );
        assert_eq!(look(&at(&fifo)), Now::Special);
    }

    /// See: issue #20. `d` held the backed-up `f`; it is now a link to a directory
    /// holding a file with the same name, bytes and mtime (a root-only file whose
    /// hash must not be recorded). It is neither followed nor opened.
    #[test]
    fn read_expected_directory_replaced_by_a_symlink_is_changed_and_nothing_is_opened() {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let dir = tempfile::tempdir().expect("tempdir");
        let (root, other) = (dir.path().join("root"), dir.path().join("other"));
        std::fs::create_dir_all(&other).expect("mkdir");
        std::fs::create_dir_all(&root).expect("mkdir");
        let target = big_file(&other);
        std::os::unix::fs::symlink(&other, root.join("d")).expect("symlink");
        let ino = Inotify::init(InitFlags::IN_NONBLOCK).expect("inotify");
        ino.add_watch(&target, AddWatchFlags::IN_OPEN)
            .expect("watch");
        let p = SourcePath {
            root: root.clone(),
            rel: "d/f".into(),
        };
        let e = read_expected(&p, &Stop::default()).expect("not stopped");
        assert!(
            matches!(&e, Expected::Changed(m) if m.contains("a directory on its path is now a symbolic link")),
            "{e:?}"
        );
        assert_eq!(look(&p), Now::SymlinkAbove);
        let opened = ino.read_events().map_or(0, |v| v.len());
        assert_eq!(opened, 0, "the file behind the link was opened");
        // Through the root, a link is followed: the operator chose it.
        let p = SourcePath {
            root: root.join("d"),
            rel: "f".into(),
        };
        assert!(matches!(
            read_expected(&p, &Stop::default()),
            Ok(Expected::Read { .. })
        ));
    }

    #[test]
    fn path_map_source_splits_at_the_map_or_the_snapshot_path() {
        let m = PathMap::new(
            &[("/mnt/snap".into(), "/srv".into())],
            &["/home/u".into(), "/home".into()],
        );
        let split = |t: &str| {
            let s = m.source(t);
            (s.root, s.rel)
        };
        assert_eq!(split("/mnt/snap/a/b"), ("/srv".into(), "a/b".into()));
        assert_eq!(split("/mnt/snap"), ("/srv".into(), "".into()));
        assert_eq!(split("/home/u/f"), ("/home/u".into(), "f".into()));
        assert_eq!(split("/home/v/f"), ("/home".into(), "v/f".into()));
        assert_eq!(split("/homer/f"), ("/".into(), "homer/f".into()));
    }

    #[test]
    fn read_expected_gives_up_when_cancelled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = big_file(dir.path());
        let cancel = tokio_util::sync::CancellationToken::new();
        cancel.cancel();
        let stop = Stop {
            deadline: None,
            cancel: Some(cancel),
        };
        assert_eq!(read_expected(&at(&f), &stop), Err(Stopped::Cancelled));
    }

    #[test]
    fn parse_mtime_keeps_nanoseconds_and_offsets() {
        assert_eq!(parse_mtime("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(
            parse_mtime("1970-01-01T01:00:01+01:00"),
            Some(1_000_000_000)
        );
    }
}

/// Which ZFS snapshot holds the bytes the backup read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZfsSnapshot {
    /// This snapshot name.
    Named(String),
    /// The restic snapshot carries a tag `<prefix><name>`.
    Tag(String),
    /// The newest ZFS snapshot created at or before the restic snapshot's time.
    Auto,
}

/// Where the expected bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// The current files.
    Live,
    /// A ZFS snapshot of `dataset`, read through `<mountpoint>/.zfs/snapshot/<name>/`.
    Zfs {
        dataset: String,
        snapshot: ZfsSnapshot,
    },
}

/// The expected side of a restore test, resolved for one restic snapshot.
#[derive(Debug, Clone)]
pub struct Resolved {
    map: PathMap,
    /// For ZFS: (dataset mountpoint, `<mountpoint>/.zfs/snapshot/<name>`).
    zfs: Option<(PathBuf, PathBuf)>,
    /// The ZFS snapshot name, for the record.
    pub zfs_snapshot: Option<String>,
}

impl Resolved {
    pub fn live(map: PathMap) -> Resolved {
        Resolved {
            map,
            zfs: None,
            zfs_snapshot: None,
        }
    }

    /// The ZFS snapshot `name` of the dataset mounted at `mountpoint`, read through
    /// `root` (`<mountpoint>/.zfs/snapshot/<name>`).
    pub fn zfs(map: PathMap, mountpoint: PathBuf, root: PathBuf, name: String) -> Resolved {
        Resolved {
            map,
            zfs: Some((mountpoint, root)),
            zfs_snapshot: Some(name),
        }
    }

    /// A ZFS snapshot never changes: every difference is a mismatch.
    pub fn immutable(&self) -> bool {
        self.zfs.is_some()
    }

    /// The file to compare a tree path with.
    pub fn expected_path(&self, tree_path: &str) -> PathBuf {
        self.expected(tree_path).full()
    }

    /// The file to compare a tree path with, split at its root: for ZFS the
    /// snapshot's directory `<mountpoint>/.zfs/snapshot/<name>`.
    pub fn expected(&self, tree_path: &str) -> SourcePath {
        let live = self.map.source(tree_path);
        let Some((mountpoint, root)) = &self.zfs else {
            return live;
        };
        let live = live.full();
        let below = |rel: &Path| SourcePath {
            root: root.clone(),
            rel: rel.to_owned(),
        };
        // A backup that read `<mp>/.zfs/snapshot/<x>/...` directly records that path.
        let s = live.to_string_lossy();
        if let Some(i) = s.find("/.zfs/snapshot/") {
            let rest = &s[i + "/.zfs/snapshot/".len()..];
            let rel = rest.split_once('/').map_or("", |(_, r)| r);
            return below(Path::new(rel));
        }
        match live.strip_prefix(mountpoint) {
            Ok(rel) => below(rel),
            Err(_) => below(live.strip_prefix("/").unwrap_or(&live)),
        }
    }
}

/// Picks the newest ZFS snapshot created at or before `at` (epoch seconds) from
/// `zfs list -Hp -t snapshot -o name,creation` output.
pub fn pick_zfs_snapshot(list: &str, at: i64) -> Option<String> {
    list.lines()
        .filter_map(|l| {
            let (name, created) = l.split_once('\t')?;
            let created: i64 = created.trim().parse().ok()?;
            let short = name.split_once('@')?.1.to_owned();
            (created <= at).then_some((created, short))
        })
        .max()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod zfs_tests {
    use super::*;

    #[test]
    fn pick_zfs_snapshot_takes_the_newest_not_after_the_backup() {
        let list = "tank/home@a\t100\ntank/home@b\t200\ntank/home@c\t300\n";
        assert_eq!(pick_zfs_snapshot(list, 250), Some("b".into()));
        assert_eq!(pick_zfs_snapshot(list, 300), Some("c".into()));
        assert_eq!(pick_zfs_snapshot(list, 50), None);
    }

    #[test]
    fn resolved_maps_live_and_snapshot_mount_paths_into_the_zfs_snapshot() {
        let r = Resolved {
            map: PathMap::new(&[("/mnt/backup-snapshot".into(), "/tank/home".into())], &[]),
            zfs: Some(("/tank/home".into(), "/tank/home/.zfs/snapshot/s1".into())),
            zfs_snapshot: Some("s1".into()),
        };
        assert_eq!(
            r.expected_path("/mnt/backup-snapshot/u/f"),
            PathBuf::from("/tank/home/.zfs/snapshot/s1/u/f")
        );
        assert_eq!(
            r.expected_path("/tank/home/.zfs/snapshot/other/u/f"),
            PathBuf::from("/tank/home/.zfs/snapshot/s1/u/f")
        );
        // Below the snapshot's directory no symlink is followed.
        assert_eq!(
            r.expected("/mnt/backup-snapshot/u/f"),
            SourcePath {
                root: "/tank/home/.zfs/snapshot/s1".into(),
                rel: "u/f".into()
            }
        );
        assert!(r.immutable());
    }
}
