//! Content level: one source file against the content blobs the snapshot lists.
//!
//! Each blob ID is the SHA-256 of one plaintext chunk; the index gives its length.
//! Hashing the source file in exactly those lengths and comparing with the IDs
//! proves the file equals the snapshot without reading any data pack, and without
//! re-chunking (rustic_core's chunker does not always cut where restic's does).
//! After the last blob the file must be at EOF.
//!
//! The source is read once, in blocks, opened relative to its directory's
//! descriptor, which is resolved below the audit's source root without following
//! any symlink (`source::open_dir_below`: a directory swapped for a link since the
//! listing is a change, never followed), with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`
//! (a file swapped for a symlink or a FIFO since the listing is not followed or
//! waited on), and with `O_NOATIME` where the kernel allows
//! (`source::open_quietly`). Only files the listing showed as regular get here: a
//! special file in a file's place is decided by the walker and never opened.
//! A file the directory listing showed as regular is `fstat`ed through its
//! descriptor first and its size, mtime and mode compared with the snapshot's (the
//! walker does not `lstat` it); every file is `fstat`ed again after reading: a file
//! that is not the one first seen, or moved since (its ctime), is `changed`, never
//! `mismatch`. The source is never written.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use rustic_core::DataId;

use super::entry::{compare_meta, Facts, Meta};
use super::outcome::Class;
use super::repo::{resolve_blobs, Blob, Trees};
use crate::source;

/// Read block size: large enough to stream big files efficiently, small enough that
/// cancellation is noticed within milliseconds.
pub(crate) const BLOCK: usize = 512 * 1024;

/// How the bytes of a reader compare with a list of blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobCheck {
    /// Every blob hashed equal and the reader ended right after the last one.
    Equal { bytes: u64 },
    /// Blob `index` (0-based) of `count`, starting at byte `offset`, hashed differently.
    Differs {
        index: usize,
        count: usize,
        offset: u64,
    },
    /// The reader ended at `at`, inside or before blob `index`.
    Short { index: usize, at: u64 },
    /// The reader has bytes after the last blob, which ends at `at`.
    Longer { at: u64 },
}

/// Why reading stopped early.
#[derive(Debug)]
pub(crate) enum ReadStop {
    Io(io::Error),
    Cancelled,
}

/// Hashes `r` in the lengths of `blobs` and compares each hash with the blob's ID.
/// Stops at the first differing blob. `cancelled` is polled before every read.
///
/// `ends_at`: the reader's length when known (the size the listing saw). When the
/// blobs end exactly there and nothing past them was read, the extra read that
/// would prove EOF is skipped (a syscall per file); the caller must then `fstat`
/// after reading and compare with the listing, which catches a file that grew.
pub(crate) fn check_blobs(
    r: &mut impl Read,
    blobs: &[Blob],
    buf: &mut [u8],
    ends_at: Option<u64>,
    cancelled: &dyn Fn() -> bool,
) -> Result<BlobCheck, ReadStop> {
    let mut filled = 0usize;
    let mut pos = 0usize;
    let mut offset = 0u64;
    for (index, (id, len)) in blobs.iter().enumerate() {
        let start = offset;
        let mut need = *len as usize;
        let mut h = Sha256::new();
        while need > 0 {
            if pos == filled {
                filled = read_some(r, buf, cancelled)?;
                pos = 0;
                if filled == 0 {
                    return Ok(BlobCheck::Short { index, at: offset });
                }
            }
            let take = need.min(filled - pos);
            h.update(&buf[pos..pos + take]);
            pos += take;
            need -= take;
            offset += take as u64;
        }
        if h.finalize().as_slice() != id.as_slice() {
            return Ok(BlobCheck::Differs {
                index,
                count: blobs.len(),
                offset: start,
            });
        }
    }
    if pos < filled {
        return Ok(BlobCheck::Longer { at: offset });
    }
    if ends_at != Some(offset) && read_some(r, buf, cancelled)? > 0 {
        return Ok(BlobCheck::Longer { at: offset });
    }
    Ok(BlobCheck::Equal { bytes: offset })
}

fn read_some(
    r: &mut impl Read,
    buf: &mut [u8],
    cancelled: &dyn Fn() -> bool,
) -> Result<usize, ReadStop> {
    loop {
        if cancelled() {
            return Err(ReadStop::Cancelled);
        }
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadStop::Io(e)),
        }
    }
}

/// What the walker saw of a source file (`lstat`) whose size and mtime equal the
/// snapshot's, and the blobs to compare it with.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub tree_path: PathBuf,
    pub source: PathBuf,
    /// The content blob IDs and the size the snapshot records; their lengths are
    /// looked up in the index by the worker, off the walker's thread.
    pub content: Vec<DataId>,
    pub size: u64,
    pub seen: Listed,
    /// A metadata difference the walker already found (mode): reported with the
    /// content result, which still decides between `mismatch` and the rest.
    pub note: Option<String>,
}

/// What is known of a source file before a worker opens it.
#[derive(Debug, Clone)]
pub(crate) enum Listed {
    /// The walker's `lstat`: size and mtime equal the snapshot's.
    Stat(Stamp),
    /// The directory listing says "regular file", and the snapshot has a file
    /// with these facts: the worker `fstat`s the open descriptor and compares it
    /// with them before reading. An `lstat` by name costs a path lookup the
    /// descriptor does not (about 4% of the audit's CPU on the 200k-file benchmark).
    Regular(Facts),
}

/// A hashing worker's reading state: its read buffer, the source roots, and the
/// directory it last opened a file in. Files are opened relative to that directory
/// (`openat`), not by full path (path walks were about 4% of the audit's CPU): the
/// walker hands files over in directory order, so one directory open serves a run
/// of them. The directory is resolved below its root (whose descriptor is kept)
/// without following a symlink. A few descriptors per worker, whatever the tree.
pub(crate) struct Reader {
    buf: Vec<u8>,
    /// The audit's source roots, deepest first, each opened on first use.
    roots: Vec<(PathBuf, Option<OwnedFd>)>,
    dir: Option<(PathBuf, OwnedFd)>,
}

/// Why a source file could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Its directory: `ELOOP` when a component below the root is a symlink.
    Dir(io::Error),
    /// The file itself.
    File(io::Error),
}

impl Reader {
    /// A reader of files below `roots` (the audit's source roots: symlinks above
    /// and at them are followed, none below).
    pub fn new(roots: &[PathBuf]) -> Reader {
        let mut r = Reader::with_block(BLOCK);
        let mut roots: Vec<PathBuf> = roots.to_vec();
        roots.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        r.roots = roots.into_iter().map(|p| (p, None)).collect();
        r
    }

    /// A reader with no roots: every directory is resolved from `/`.
    pub fn with_block(block: usize) -> Reader {
        Reader {
            buf: vec![0; block],
            roots: Vec::new(),
            dir: None,
        }
    }

    /// Opens `path` without following a symlink below its root, relative to its
    /// directory's descriptor (resolved here unless it is the last one).
    fn open(&mut self, path: &std::path::Path) -> Result<File, OpenError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(OpenError::File(io::Error::from(
                io::ErrorKind::InvalidInput,
            )));
        };
        let dir = match self.dir.take() {
            Some((p, fd)) if p == parent => (p, fd),
            _ => (
                parent.to_owned(),
                self.open_dir(parent).map_err(OpenError::Dir)?,
            ),
        };
        let file = open_nofollow_at(&dir.1, name).map_err(OpenError::File);
        self.dir = Some(dir);
        file
    }

    /// The directory `parent`, below the deepest root that holds it (a root that is
    /// a file: its parent, followed), else below `/`.
    fn open_dir(&mut self, parent: &std::path::Path) -> io::Result<OwnedFd> {
        let Some(i) = self.roots.iter().position(|(r, _)| parent.starts_with(r)) else {
            if self.roots.iter().any(|(r, _)| r.parent() == Some(parent)) {
                return source::open_root(parent);
            }
            let root = source::open_root(std::path::Path::new("/"))?;
            return source::open_dir_below(root.as_fd(), parent);
        };
        let (root, fd) = &mut self.roots[i];
        let fd = match fd {
            Some(fd) => fd,
            None => fd.insert(source::open_root(root)?),
        };
        source::open_dir_below(fd.as_fd(), parent.strip_prefix(&*root).unwrap_or(parent))
    }

    /// `lstat` of `name` in the directory last opened, through an `O_PATH`
    /// descriptor (opens nothing).
    fn lstat_in_dir(&self, name: &std::ffi::OsStr) -> Option<Metadata> {
        let (_, dir) = self.dir.as_ref()?;
        source::lstat_at(dir.as_fd(), name).ok()
    }
}

/// The identity and change markers of a file: if any moved, the file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl Stamp {
    pub fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub class: Class,
    pub detail: String,
    /// Bytes proven equal (0 unless the content matched).
    pub verified_bytes: Option<u64>,
}

impl Verdict {
    fn new(class: Class, detail: impl Into<String>) -> Verdict {
        Verdict {
            class,
            detail: detail.into(),
            verified_bytes: None,
        }
    }
}

/// Resolves a job's blobs in the index, then reads the source file. A blob missing
/// from the index (or lengths that do not add up) is damage in the snapshot.
/// `Err` only when cancelled.
pub(crate) fn check_job(
    trees: &dyn Trees,
    job: &Job,
    immutable_source: bool,
    reader: &mut Reader,
    cancelled: &dyn Fn() -> bool,
) -> Result<Verdict, ()> {
    match resolve_blobs(trees, &job.content, job.size) {
        Ok(blobs) => verify(job, &blobs, immutable_source, reader, cancelled),
        Err(why) => Ok(Verdict::new(Class::Damaged, why)),
    }
}

/// Reads one source file against `blobs` and decides its class. `Err` only when
/// cancelled.
pub(crate) fn verify(
    job: &Job,
    blobs: &[Blob],
    immutable_source: bool,
    reader: &mut Reader,
    cancelled: &dyn Fn() -> bool,
) -> Result<Verdict, ()> {
    let differs = if immutable_source {
        Class::Mismatch
    } else {
        Class::Changed
    };
    let file = match reader.open(&job.source) {
        Ok(f) => f,
        Err(OpenError::Dir(e)) => return Ok(dir_error(&e)),
        Err(OpenError::File(e)) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Verdict::new(
                Class::SourceMissing,
                "deleted while the audit ran",
            ))
        }
        // ELOOP: the name is now a symlink.
        Err(OpenError::File(e)) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Ok(Verdict::new(
                Class::Changed,
                "replaced by a symlink while the audit ran",
            ))
        }
        Err(OpenError::File(e)) => {
            // A file that cannot be opened but whose size or mtime moved is
            // `changed` (or `mismatch`), as the walker would have said from `lstat`.
            if let (Listed::Regular(snap), Some(name)) = (&job.seen, job.source.file_name()) {
                if let Some(m) = reader.lstat_in_dir(name) {
                    if let Meta::Differs(detail) = compare_meta(snap, &Facts::of_meta(&m, None)) {
                        return Ok(Verdict::new(differs, detail));
                    }
                }
            }
            return Ok(Verdict::new(Class::Unreadable, format!("open: {e}")));
        }
    };
    let compared;
    let (seen, note) = match &job.seen {
        Listed::Stat(stamp) => (*stamp, job.note.as_deref()),
        Listed::Regular(snap) => {
            let m = match file.metadata() {
                Ok(m) => m,
                Err(e) => return Ok(Verdict::new(Class::Unreadable, format!("fstat: {e}"))),
            };
            match compare_meta(snap, &Facts::of_meta(&m, None)) {
                Meta::Content { note } => compared = note,
                Meta::Differs(detail) => return Ok(Verdict::new(differs, detail)),
                Meta::Same => return Ok(Verdict::new(differs, "no longer a regular file")),
            }
            (Stamp::of(&m), compared.as_deref())
        }
    };
    // One `fstat`, after reading, against what the walker's `lstat` saw: the same
    // file (device, inode), still regular, with the same size, mtime and ctime.
    // Anything written to it since the listing moved its ctime (user space cannot
    // set ctime back), and a file put in its place is another inode; either way
    // the bytes just read are not the listed file's, so the class is `changed`
    // whatever the read found. The listed size bounds the read.
    let check = check_blobs(
        &mut &file,
        blobs,
        &mut reader.buf,
        Some(seen.size),
        cancelled,
    );
    match file.metadata() {
        Ok(m) if m.is_file() && same_file_unchanged(&Stamp::of(&m), &seen) => {}
        Ok(m) if !m.is_file() => {
            return Ok(Verdict::new(Class::Changed, "no longer a regular file"))
        }
        Ok(_) => return Ok(Verdict::new(Class::Changed, "changed while the audit ran")),
        Err(e) => return Ok(Verdict::new(Class::Unreadable, format!("fstat: {e}"))),
    }
    let check = match check {
        Ok(c) => c,
        Err(ReadStop::Cancelled) => return Err(()),
        Err(ReadStop::Io(e)) => return Ok(Verdict::new(Class::Unreadable, format!("read: {e}"))),
    };
    Ok(match check {
        BlobCheck::Equal { bytes } => match note {
            None => Verdict {
                class: Class::Match,
                detail: String::new(),
                verified_bytes: Some(bytes),
            },
            Some(note) => Verdict {
                class: differs,
                detail: format!("{note} (content equal)"),
                verified_bytes: Some(bytes),
            },
        },
        BlobCheck::Differs {
            index,
            count,
            offset,
        } => Verdict::new(
            Class::Mismatch,
            format!(
                "same size and mtime, different bytes: blob {} of {count} (from byte {offset}) differs",
                index + 1
            ),
        ),
        BlobCheck::Short { index, at } => Verdict::new(
            Class::Mismatch,
            format!(
                "same size and mtime, but the source ended at byte {at}, inside blob {} of {}",
                index + 1,
                blobs.len()
            ),
        ),
        BlobCheck::Longer { at } => Verdict::new(
            Class::Mismatch,
            format!("same size and mtime, but the source has bytes after byte {at}, where the snapshot's content ends"),
        ),
    })
}

/// The verdict on a file whose directory could not be opened.
fn dir_error(e: &io::Error) -> Verdict {
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        Verdict::new(
            Class::Changed,
            "a directory on its path was replaced by a symlink while the audit ran (not followed)",
        )
    } else if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR) {
        Verdict::new(Class::SourceMissing, "deleted while the audit ran")
    } else {
        Verdict::new(Class::Unreadable, format!("open directory: {e}"))
    }
}

/// Same file (device, inode) with the size, mtime and ctime the walker saw.
fn same_file_unchanged(now: &Stamp, seen: &Stamp) -> bool {
    now == seen
}

/// Opens `name` in `dir` read-only without following a symlink, without blocking
/// on a FIFO that took the file's place since the listing, and without moving the
/// access time where the kernel allows (`source::open_quietly`).
fn open_nofollow_at(dir: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<File> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    source::open_quietly(|extra| {
        nix::fcntl::openat(
            dir,
            name,
            flags | OFlag::from_bits_retain(extra),
            nix::sys::stat::Mode::empty(),
        )
        .map(File::from)
        .map_err(io::Error::from)
    })
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
