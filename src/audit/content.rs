//! Content level: one source file against the content blobs the snapshot lists.
//!
//! Each blob ID is the SHA-256 of one plaintext chunk; the index gives its length.
//! Hashing the source file in exactly those lengths and comparing with the IDs
//! proves the file equals the snapshot without reading any data pack, and without
//! re-chunking (rustic_core's chunker does not always cut where restic's does).
//! After the last blob the file must be at EOF.
//!
//! The source is read once, in blocks, opened with `O_NOFOLLOW | O_NONBLOCK` (a file
//! swapped for a symlink or a FIFO since the listing is not followed or waited on).
//! A file the directory listing showed as regular is `fstat`ed through its
//! descriptor first and its size, mtime and mode compared with the snapshot's (the
//! walker does not `lstat` it); every file is `fstat`ed again after reading: a file
//! that is not the one first seen, or moved since (its ctime), is `changed`, never
//! `mismatch`. The source is never written.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use rustic_core::DataId;

use super::entry::{compare_meta, Facts, Meta};
use super::outcome::Class;
use super::repo::{resolve_blobs, Trees};

/// Read block size: large enough to stream big files efficiently, small enough that
/// cancellation is noticed within milliseconds.
pub(crate) const BLOCK: usize = 512 * 1024;

/// One content blob: its ID (SHA-256 of the plaintext) and plaintext length.
pub(crate) type Blob = ([u8; 32], u32);

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

/// A hashing worker's reading state: its read buffer, and the directory it last
/// opened a file in. Files are opened relative to that directory (`openat`), not
/// by full path (path walks were about 4% of the audit's CPU): the walker hands
/// files over in directory order, so one directory open serves a run of them.
/// One descriptor per worker, whatever the tree.
pub(crate) struct Reader {
    buf: Vec<u8>,
    dir: Option<(PathBuf, OwnedFd)>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::with_block(BLOCK)
    }

    pub fn with_block(block: usize) -> Reader {
        Reader {
            buf: vec![0; block],
            dir: None,
        }
    }

    /// Opens `path` without following a final symlink, relative to its directory's
    /// descriptor (opened here, `O_PATH | O_NOFOLLOW`, unless it is the last one).
    /// Falls back to the full path when the directory cannot be opened, so errors
    /// are the file's own.
    fn open(&mut self, path: &std::path::Path) -> io::Result<File> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return open_nofollow(path);
        };
        if self.dir.as_ref().is_none_or(|(p, _)| p != parent) {
            self.dir = open_dir(parent).map(|fd| (parent.to_owned(), fd));
        }
        match &self.dir {
            Some((_, fd)) => open_nofollow_at(fd, name),
            None => open_nofollow(path),
        }
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
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Verdict::new(
                Class::SourceMissing,
                "deleted while the audit ran",
            ))
        }
        // ELOOP: the name is now a symlink.
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Ok(Verdict::new(
                Class::Changed,
                "replaced by a symlink while the audit ran",
            ))
        }
        Err(e) => {
            // A file that cannot be opened but whose size or mtime moved is
            // `changed` (or `mismatch`), as the walker would have said from `lstat`.
            if let Listed::Regular(snap) = &job.seen {
                if let Ok(m) = std::fs::symlink_metadata(&job.source) {
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

/// Same file (device, inode) with the size, mtime and ctime the walker saw.
fn same_file_unchanged(now: &Stamp, seen: &Stamp) -> bool {
    now == seen
}

/// Opens read-only without following a final symlink and without blocking on a
/// FIFO or device that took the file's place.
fn open_nofollow(path: &std::path::Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
}

/// `open_nofollow` of `name` in the directory `dir`.
fn open_nofollow_at(dir: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<File> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    nix::fcntl::openat(dir, name, flags, nix::sys::stat::Mode::empty())
        .map(File::from)
        .map_err(io::Error::from)
}

/// A directory's descriptor to open its files with `open_nofollow_at` (`O_PATH`:
/// nothing is read through it). `None` when it cannot be opened.
fn open_dir(path: &std::path::Path) -> Option<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn sha(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    /// Blobs for `data` cut at `cuts` (lengths).
    fn blobs(data: &[u8], cuts: &[usize]) -> Vec<Blob> {
        let mut out = Vec::new();
        let mut at = 0;
        for &n in cuts {
            out.push((sha(&data[at..at + n]), n as u32));
            at += n;
        }
        out
    }

    fn check(data: &[u8], bl: &[Blob], block: usize) -> BlobCheck {
        let mut buf = vec![0u8; block];
        check_blobs(&mut &data[..], bl, &mut buf, None, &|| false).unwrap()
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[rstest]
    #[case(1)]
    #[case(3)]
    #[case(4096)]
    #[case(BLOCK)]
    fn check_blobs_equal_file_is_equal_at_any_block_size(#[case] block: usize) {
        let d = data(10_000);
        let bl = blobs(&d, &[1, 4000, 5999]);
        assert_eq!(check(&d, &bl, block), BlobCheck::Equal { bytes: 10_000 });
    }

    #[test]
    fn check_blobs_empty_file_with_no_blobs_is_equal() {
        assert_eq!(check(&[], &[], 16), BlobCheck::Equal { bytes: 0 });
    }

    #[test]
    fn check_blobs_flip_in_last_blob_names_the_last_blob() {
        let d = data(9000);
        let bl = blobs(&d, &[3000, 3000, 3000]);
        let mut bad = d.clone();
        bad[8999] ^= 1;
        assert_eq!(
            check(&bad, &bl, 1024),
            BlobCheck::Differs {
                index: 2,
                count: 3,
                offset: 6000
            }
        );
    }

    #[rstest]
    #[case(1)]
    #[case(1024)]
    fn check_blobs_extra_trailing_bytes_are_longer(#[case] block: usize) {
        let d = data(5000);
        let bl = blobs(&d, &[2500, 2500]);
        let mut longer = d.clone();
        longer.push(0);
        assert_eq!(check(&longer, &bl, block), BlobCheck::Longer { at: 5000 });
    }

    #[test]
    fn check_blobs_missing_tail_is_short() {
        let d = data(5000);
        let bl = blobs(&d, &[2500, 2500]);
        assert_eq!(
            check(&d[..4000], &bl, 700),
            BlobCheck::Short { index: 1, at: 4000 }
        );
    }

    /// Counts the reads that reach the data.
    struct Counting<'a>(&'a [u8], usize);

    impl Read for Counting<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.1 += 1;
            self.0.read(b)
        }
    }

    #[test]
    fn check_blobs_skips_the_eof_read_only_where_the_known_length_ends() {
        let d = data(5000);
        let bl = blobs(&d, &[2500, 2500]);
        let mut buf = vec![0u8; 8192];
        let mut r = Counting(&d, 0);
        let c = check_blobs(&mut r, &bl, &mut buf, Some(5000), &|| false).unwrap();
        assert_eq!((c, r.1), (BlobCheck::Equal { bytes: 5000 }, 1));
        let mut r = Counting(&d, 0);
        let c = check_blobs(&mut r, &bl, &mut buf, None, &|| false).unwrap();
        assert_eq!(
            (c, r.1),
            (BlobCheck::Equal { bytes: 5000 }, 2),
            "EOF proven"
        );
        // The file had grown by the time it was opened: its length says so, the
        // extra read is made and finds the bytes.
        let mut longer = d.clone();
        longer.extend_from_slice(&[0; 3]);
        let mut small = vec![0u8; 2500];
        let mut r = Counting(&longer, 0);
        let c = check_blobs(&mut r, &bl, &mut small, Some(5003), &|| false).unwrap();
        assert_eq!(c, BlobCheck::Longer { at: 5000 });
        // Bytes already buffered past the last blob are found without a read.
        let mut r = Counting(&longer, 0);
        let c = check_blobs(&mut r, &bl, &mut buf, Some(5000), &|| false).unwrap();
        assert_eq!((c, r.1), (BlobCheck::Longer { at: 5000 }, 1));
    }

    #[test]
    fn check_blobs_stops_when_cancelled() {
        let d = data(5000);
        let bl = blobs(&d, &[5000]);
        let mut buf = vec![0u8; 64];
        let r = check_blobs(&mut &d[..], &bl, &mut buf, None, &|| true);
        assert!(matches!(r, Err(ReadStop::Cancelled)));
    }

    proptest! {
        /// Any cut of any data into blobs verifies, whatever the read block size.
        #[test]
        fn check_blobs_accepts_every_cut(
            d in proptest::collection::vec(any::<u8>(), 0..3000),
            cuts in proptest::collection::vec(1usize..500, 0..12),
            block in 1usize..700,
        ) {
            let mut lens = Vec::new();
            let mut left = d.len();
            for c in cuts {
                if left == 0 { break; }
                let n = c.min(left);
                lens.push(n);
                left -= n;
            }
            if left > 0 { lens.push(left); }
            let bl = blobs(&d, &lens);
            prop_assert_eq!(check(&d, &bl, block), BlobCheck::Equal { bytes: d.len() as u64 });
        }
    }

    fn job_for(path: PathBuf) -> Job {
        let m = std::fs::symlink_metadata(&path).unwrap();
        Job {
            tree_path: "/t".into(),
            source: path,
            content: Vec::new(),
            size: m.len(),
            seen: Listed::Stat(Stamp::of(&m)),
            note: None,
        }
    }

    #[test]
    fn reader_opens_files_relative_to_the_directory_it_last_opened() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let d = data(300);
        let bl = blobs(&d, &[300]);
        let (p, q) = (sub.join("f"), sub.join("g"));
        std::fs::write(&p, &d).unwrap();
        std::fs::write(&q, &d).unwrap();
        let (jp, jq) = (job_for(p), job_for(q));
        let mut reader = Reader::with_block(512);
        let v = verify(&jp, &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!((v.class, v.verified_bytes), (Class::Match, Some(300)));
        // The directory moves: the reader's descriptor still holds it, so the next
        // file of the same directory is opened through it, not by its old path.
        std::fs::rename(&sub, dir.path().join("moved")).unwrap();
        let v = verify(&jq, &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!((v.class, v.verified_bytes), (Class::Match, Some(300)));
        let v = verify(&jq, &bl, false, &mut Reader::with_block(512), &|| false).unwrap();
        assert_eq!(
            v.class,
            Class::SourceMissing,
            "a fresh reader opens by path"
        );
    }

    #[test]
    fn open_dir_does_not_follow_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        assert!(open_dir(&link).is_none());
        assert!(open_dir(dir.path()).is_some());
    }

    #[test]
    fn verify_matching_file_is_match_with_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let d = data(3000);
        std::fs::write(&p, &d).unwrap();
        let job = job_for(p);
        let bl = blobs(&d, &[1000, 2000]);
        let v = verify(&job, &bl, false, &mut Reader::with_block(512), &|| false).unwrap();
        assert_eq!(v.class, Class::Match);
        assert_eq!(v.verified_bytes, Some(3000));
    }

    /// A 100-byte file `f` listed as a job, its blobs, and a reader: `warm`, the
    /// reader already holds the directory (it read a file there before this one).
    fn file_of_100_bytes(warm: bool) -> (tempfile::TempDir, PathBuf, Job, Vec<Blob>, Reader) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let d = data(100);
        std::fs::write(&p, &d).unwrap();
        let job = job_for(p.clone());
        let bl = blobs(&d, &[100]);
        let mut reader = Reader::with_block(512);
        if warm {
            // The reader already holds the directory (a file before this one).
            let other = dir.path().join("other");
            std::fs::write(&other, &d).unwrap();
            let v = verify(&job_for(other), &bl, false, &mut reader, &|| false).unwrap();
            assert_eq!(v.class, Class::Match);
        }
        (dir, p, job, bl, reader)
    }

    #[rstest]
    #[case(false)]
    #[case(true)]
    fn verify_symlink_in_place_of_the_file_is_changed_not_followed(#[case] warm: bool) {
        let (_dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &p).unwrap();
        let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Changed, "{v:?}");
    }

    #[rstest]
    #[case(false)]
    #[case(true)]
    fn verify_file_replaced_since_the_listing_is_changed(#[case] warm: bool) {
        let (dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
        let q = dir.path().join("g");
        std::fs::write(&q, data(100)).unwrap();
        std::fs::rename(&q, &p).unwrap();
        let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Changed, "{v:?}");
    }

    #[rstest]
    #[case(false)]
    #[case(true)]
    fn verify_file_edited_since_the_listing_with_its_mtime_put_back_is_changed_not_mismatch(
        #[case] warm: bool,
    ) {
        let (_dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
        let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
        let mut d = data(100);
        d[40] ^= 1;
        std::fs::write(&p, &d).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        let now = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!((now.len(), now.modified().unwrap()), (100, mtime));
        let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Changed, "{v:?}");
        // Listed after the edit, the same bytes are a mismatch.
        let v = verify(&job_for(p), &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Mismatch, "{v:?}");
    }

    #[rstest]
    #[case(false)]
    #[case(true)]
    fn verify_fifo_or_directory_in_place_of_the_file_is_changed_not_unreadable(#[case] warm: bool) {
        let (_dir, p, job, bl, mut reader) = file_of_100_bytes(warm);
        std::fs::remove_file(&p).unwrap();
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // A writer holds it open: a non-blocking read fails with EAGAIN, not EOF.
        let (reader_end, writer) = {
            let r = open_nofollow(&p).unwrap();
            let w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            (r, w)
        };
        let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Changed, "{v:?}");
        drop((reader_end, writer));
        std::fs::remove_file(&p).unwrap();
        std::fs::create_dir(&p).unwrap();
        let v = verify(&job, &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Changed, "{v:?}");
    }

    #[test]
    fn verify_mode_note_with_equal_content_is_changed_or_mismatch_when_immutable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let d = data(10);
        std::fs::write(&p, &d).unwrap();
        let mut job = job_for(p);
        let bl = blobs(&d, &[10]);
        job.note = Some("mode 0644 → 0600".into());
        let v = verify(&job, &bl, false, &mut Reader::with_block(512), &|| false).unwrap();
        assert_eq!(v.class, Class::Changed);
        let v = verify(&job, &bl, true, &mut Reader::with_block(512), &|| false).unwrap();
        assert_eq!(v.class, Class::Mismatch);
    }

    /// A job as the walker hands over a file the listing showed as regular: only
    /// the snapshot's facts, no `lstat`.
    fn regular_job(path: PathBuf, facts: Facts) -> Job {
        Job {
            tree_path: "/t".into(),
            source: path,
            content: Vec::new(),
            size: facts.size,
            seen: Listed::Regular(facts),
            note: None,
        }
    }

    fn facts_of(path: &std::path::Path) -> Facts {
        Facts::of_meta(&std::fs::symlink_metadata(path).unwrap(), None)
    }

    #[test]
    fn verify_compares_a_file_listed_as_regular_through_its_descriptor_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let d = data(100);
        std::fs::write(&p, &d).unwrap();
        let bl = blobs(&d, &[60, 40]);
        let mut reader = Reader::with_block(64);
        let same = facts_of(&p);
        let v = verify(
            &regular_job(p.clone(), same.clone()),
            &bl,
            false,
            &mut reader,
            &|| false,
        )
        .unwrap();
        assert_eq!(
            (v.class, v.verified_bytes),
            (Class::Match, Some(100)),
            "{v:?}"
        );

        // The snapshot recorded another size: changed (mismatch when immutable),
        // from the descriptor's fstat, without reading.
        let mut bigger = same.clone();
        bigger.size = 101;
        let v = verify(
            &regular_job(p.clone(), bigger.clone()),
            &bl,
            false,
            &mut reader,
            &|| false,
        )
        .unwrap();
        assert_eq!((v.class, v.verified_bytes), (Class::Changed, None), "{v:?}");
        assert!(v.detail.contains("size 101 → 100"), "{}", v.detail);
        let v = verify(
            &regular_job(p.clone(), bigger),
            &bl,
            true,
            &mut reader,
            &|| false,
        )
        .unwrap();
        assert_eq!(v.class, Class::Mismatch, "{v:?}");

        // Another mode rides along as a note on equal content.
        let mut other_mode = same.clone();
        other_mode.perm = Some(same.perm.unwrap() ^ 0o070);
        let v = verify(
            &regular_job(p.clone(), other_mode),
            &bl,
            false,
            &mut reader,
            &|| false,
        )
        .unwrap();
        assert_eq!(
            (v.class, v.verified_bytes),
            (Class::Changed, Some(100)),
            "{v:?}"
        );
        assert!(v.detail.ends_with("(content equal)"), "{}", v.detail);

        // Same size and mtime, other bytes: a mismatch.
        let mut flipped = d.clone();
        flipped[70] ^= 1;
        std::fs::write(&p, &flipped).unwrap();
        let mtime = std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_nanos(u64::try_from(same.mtime_ns.unwrap()).unwrap());
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let v = verify(&regular_job(p, same), &bl, false, &mut reader, &|| false).unwrap();
        assert_eq!(v.class, Class::Mismatch, "{v:?}");
        assert!(v.detail.contains("blob 2 of 2"), "{}", v.detail);
    }

    #[test]
    fn verify_a_file_replaced_by_what_cannot_be_opened_is_changed_not_unreadable() {
        // A socket cannot be opened (ENXIO); its lstat shows the type changed.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let d = data(10);
        std::fs::write(&p, &d).unwrap();
        let facts = facts_of(&p);
        std::fs::remove_file(&p).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let bl = blobs(&d, &[10]);
        let v = verify(
            &regular_job(p, facts),
            &bl,
            false,
            &mut Reader::with_block(64),
            &|| false,
        )
        .unwrap();
        assert_eq!(v.class, Class::Changed, "{v:?}");
        assert!(v.detail.contains("socket"), "{}", v.detail);
    }
}
