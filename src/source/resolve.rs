//! Resolving a source path without following a symlink below its root, and opening
//! a source file without opening anything that is not a regular file.
//!
//! `O_NOFOLLOW` covers only the last component of a path: a user who owns a backed-up
//! directory could replace it with a symlink to `/dev` or to a root-only directory,
//! and a root run would open a device or hash a file it was never asked to read
//! (issue #20). So a source path is a root the operator chose (followed: a mount
//! point may be a link) and a path below it, resolved with `openat2` and
//! `RESOLVE_NO_SYMLINKS` where the kernel has it, else one `O_PATH | O_NOFOLLOW`
//! component at a time; `..` is refused. A file is looked at through an `O_PATH`
//! descriptor first (which opens nothing: a device's driver is not called, a FIFO's
//! writer is not woken) and opened for reading only when it is a regular file, by
//! reopening that very inode. Nothing here writes.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// A source file or directory: the root the operator chose (its own path may pass
/// through symlinks) and the path below it, which may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePath {
    pub root: PathBuf,
    pub rel: PathBuf,
}

impl SourcePath {
    /// The whole path, for messages and for looking things up by name.
    pub fn full(&self) -> PathBuf {
        if self.rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(&self.rel)
        }
    }
}

/// Whether `openat2` is still tried: the first `ENOSYS` (a kernel before 5.6) or
/// `EPERM` (a seccomp filter that does not know it) turns it off for the process.
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// Whether a file is still reopened through `/proc/self/fd`: off once `/proc` is
/// found missing.
static PROC: AtomicBool = AtomicBool::new(true);

/// An `O_PATH` directory descriptor: nothing is read through it.
const DIR: OFlag = OFlag::O_PATH
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_CLOEXEC);

/// How a file is read once it is known to be regular.
pub const READ: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_NOCTTY)
    .union(OFlag::O_CLOEXEC);

/// Opens `root` as an `O_PATH` directory, following symlinks: the operator chose it.
///
/// # Errors
/// It cannot be opened or is not a directory.
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    nix::fcntl::open(root, DIR, Mode::empty()).map_err(io::Error::from)
}

/// Opens the directory `rel` below `dir` (`O_PATH`) without following a symlink in
/// any of its components. An empty `rel` is `dir` itself.
///
/// # Errors
/// `ELOOP`: a component is a symlink. `InvalidInput`: `rel` has a `..` component.
/// Otherwise the kernel's error (`ENOENT`, `ENOTDIR`, `EACCES`).
pub fn open_dir_below(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    open_dir_below_with(&OPENAT2, dir, rel)
}

/// `open_dir_below` with the `openat2` switch given (tests turn it off).
pub(crate) fn open_dir_below_with(
    openat2: &AtomicBool,
    dir: BorrowedFd<'_>,
    rel: &Path,
) -> io::Result<OwnedFd> {
    let parts = components(rel)?;
    if parts.is_empty() {
        return dir.try_clone_to_owned();
    }
    if openat2.load(Ordering::Relaxed) {
        let joined: PathBuf = parts.iter().collect();
        // No O_NOFOLLOW: with it a final link is "not a directory"; without it
        // RESOLVE_NO_SYMLINKS refuses it with ELOOP, as one in the middle.
        let how = OpenHow::new()
            .flags(DIR)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
        match nix::fcntl::openat2(dir, &joined, how) {
            Err(Errno::ENOSYS | Errno::EPERM) => openat2.store(false, Ordering::Relaxed),
            other => return other.map_err(io::Error::from),
        }
    }
    walk(dir, &parts)
}

/// One component at a time, each `O_PATH | O_NOFOLLOW | O_DIRECTORY`.
fn walk(dir: BorrowedFd<'_>, parts: &[&OsStr]) -> io::Result<OwnedFd> {
    let mut fd: Option<OwnedFd> = None;
    for part in parts {
        let at = fd.as_ref().map_or(dir, AsFd::as_fd);
        match nix::fcntl::openat(at, *part, DIR | OFlag::O_NOFOLLOW, Mode::empty()) {
            Ok(next) => fd = Some(next),
            // `O_DIRECTORY | O_NOFOLLOW` on a symlink says ENOTDIR: say ELOOP, as
            // `openat2` does, so that callers tell a link from a file.
            Err(Errno::ENOTDIR) if is_symlink(at, part) => {
                return Err(io::Error::from(Errno::ELOOP))
            }
            Err(e) => return Err(io::Error::from(e)),
        }
    }
    match fd {
        Some(fd) => Ok(fd),
        None => dir.try_clone_to_owned(),
    }
}

fn is_symlink(dir: BorrowedFd<'_>, name: &OsStr) -> bool {
    nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFLNK)
}

/// The normal components of `rel`; `.` is skipped, `..` refused (a tree name is
/// never `..`, so one can only come from a path that tries to climb out).
fn components(rel: &Path) -> io::Result<Vec<&OsStr>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "source path {} has a `..` component: refused, a source path may not climb out of its root",
                        rel.display()
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// What stands at a source file's place.
#[derive(Debug)]
pub enum Found {
    /// A regular file, open for reading, and its `fstat`.
    File(File, Metadata),
    /// Anything else (symlink, directory, FIFO, socket, device): looked at through
    /// an `O_PATH` descriptor, never opened.
    Other(Metadata),
}

/// Opens `name` in `dir` for reading if it is a regular file, without following a
/// symlink, and without opening anything else. `extra` is added to the open flags
/// (`O_NOATIME`, see `source::open_quietly`).
///
/// # Errors
/// The kernel's error for `name` (`ENOENT`, `EACCES`, `EPERM` for `O_NOATIME`).
pub fn open_regular(dir: BorrowedFd<'_>, name: &OsStr, extra: OFlag) -> io::Result<Found> {
    open_regular_with(&PROC, dir, name, extra)
}

/// `open_regular` with the `/proc` switch given (tests turn it off).
pub(crate) fn open_regular_with(
    proc: &AtomicBool,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    extra: OFlag,
) -> io::Result<Found> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let path = File::from(nix::fcntl::openat(dir, name, flags, Mode::empty())?);
    let seen = path.metadata()?;
    if !seen.is_file() {
        return Ok(Found::Other(seen));
    }
    if proc.load(Ordering::Relaxed) {
        // The very inode just looked at: nothing can be swapped in between.
        let magic = format!("/proc/self/fd/{}", path.as_raw_fd());
        match nix::fcntl::open(magic.as_str(), READ | extra, Mode::empty()) {
            Err(Errno::ENOENT) => proc.store(false, Ordering::Relaxed),
            Err(e) => return Err(io::Error::from(e)),
            Ok(fd) => return Ok(Found::File(File::from(fd), seen)),
        }
    }
    // Without /proc: by name again, and only if it is still the inode looked at.
    // A FIFO swapped in between is opened without blocking and set aside here.
    let file = File::from(nix::fcntl::openat(
        dir,
        name,
        READ | OFlag::O_NOFOLLOW | extra,
        Mode::empty(),
    )?);
    let now = file.metadata()?;
    use std::os::unix::fs::MetadataExt;
    if (now.dev(), now.ino()) != (seen.dev(), seen.ino()) || !now.is_file() {
        return Ok(Found::Other(now));
    }
    Ok(Found::File(file, now))
}

/// `lstat` of `name` in `dir`, through an `O_PATH` descriptor (opens nothing).
///
/// # Errors
/// The kernel's error for `name`.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Metadata> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    File::from(nix::fcntl::openat(dir, name, flags, Mode::empty())?).metadata()
}

/// The parent directory of a source path (opened as `open_dir_below`) and the name
/// of the file in it. A path that is its root (a backed-up file) is looked up in
/// the root's parent, which the operator chose too.
///
/// # Errors
/// As `open_root` and `open_dir_below`.
pub fn open_parent(p: &SourcePath) -> io::Result<(OwnedFd, &OsStr)> {
    open_parent_with(&OPENAT2, p)
}

pub(crate) fn open_parent_with<'p>(
    openat2: &AtomicBool,
    p: &'p SourcePath,
) -> io::Result<(OwnedFd, &'p OsStr)> {
    let not_a_file = || io::Error::new(io::ErrorKind::InvalidInput, "not a file path");
    match (p.rel.parent(), p.rel.file_name()) {
        (Some(parent), Some(name)) => {
            let root = open_root(&p.root)?;
            Ok((open_dir_below_with(openat2, root.as_fd(), parent)?, name))
        }
        _ if p.rel.as_os_str().is_empty() => {
            let (Some(parent), Some(name)) = (p.root.parent(), p.root.file_name()) else {
                return Err(not_a_file());
            };
            Ok((open_root(parent)?, name))
        }
        _ => Err(not_a_file()),
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
