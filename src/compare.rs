//! Streaming SHA-256 of files, and the classification of one sampled file.
//!
//! Hashing reads in 256 KiB blocks into `sha2::Sha256`, which uses the CPU's SHA
//! instructions when present (detected at run time), and checks between blocks
//! whether the job's deadline passed or the run was cancelled (`Stop`), so a large
//! file cannot keep a run alive past its timeout. `classify` is the pure policy: it
//! never calls a file damaged when the source merely changed since the backup.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

const BLOCK: usize = 256 * 1024;

/// One verified file, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileResult {
    pub path: String,
    pub size: u64,
    pub class: Class,
    pub restored_sha256: Option<String>,
    pub expected_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Something worth knowing that is not damage: metadata restic could not restore
    /// (owner, mode, times, extended attributes) on a file whose bytes were compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Why hashing gave up before the end of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The job's deadline passed.
    Deadline,
    /// SIGINT/SIGTERM: the run was cancelled.
    Cancelled,
}

/// When hashing must give up: the job's deadline and its cancellation token,
/// checked before every block.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub deadline: Option<Instant>,
    pub cancel: Option<CancellationToken>,
}

impl Stop {
    /// `Err` once the deadline passed or the run was cancelled.
    ///
    /// # Errors
    /// The reason to stop.
    pub fn check(&self) -> Result<(), Stopped> {
        if self
            .cancel
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
        {
            return Err(Stopped::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Stopped::Deadline);
        }
        Ok(())
    }
}

/// Why a hash could not be computed.
#[derive(Debug)]
pub enum HashError {
    Io(std::io::Error),
    Stopped(Stopped),
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::Io(e) => e.fmt(f),
            HashError::Stopped(Stopped::Deadline) => f.write_str("the job's timeout ran out"),
            HashError::Stopped(Stopped::Cancelled) => f.write_str("interrupted by a signal"),
        }
    }
}

/// Hex SHA-256 of everything `r` yields, and the number of bytes.
///
/// # Errors
/// Any read error.
pub fn hash_reader(r: impl Read) -> std::io::Result<(String, u64)> {
    hash_reader_until(r, &Stop::default()).map_err(|e| match e {
        HashError::Io(e) => e,
        HashError::Stopped(_) => std::io::Error::other("stopped"),
    })
}

/// Like `hash_reader`, but gives up between blocks when `stop` says so.
///
/// # Errors
/// A read error, or `Stopped`.
pub fn hash_reader_until(mut r: impl Read, stop: &Stop) -> Result<(String, u64), HashError> {
    thread_local! {
        /// One read buffer per thread: a drill hashes 400,000 files, and a fresh
        /// zeroed 256 KiB buffer for each was 2% of its CPU.
        static BUF: std::cell::RefCell<Box<[u8]>> =
            std::cell::RefCell::new(vec![0u8; BLOCK].into_boxed_slice());
    }
    BUF.with_borrow_mut(|buf| {
        let mut h = Sha256::new();
        let mut n = 0u64;
        loop {
            stop.check().map_err(HashError::Stopped)?;
            let k = match r.read(buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HashError::Io(e)),
            };
            h.update(&buf[..k]);
            n += k as u64;
        }
        Ok((hex(&h.finalize()), n))
    })
}

/// Hex SHA-256 of a file's contents (opened read-only, never written).
///
/// # Errors
/// The file cannot be opened or read.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    hash_reader(std::fs::File::open(path)?)
}

/// Like `hash_file`, but gives up between blocks when `stop` says so.
///
/// # Errors
/// The file cannot be opened or read, or `Stopped`.
pub fn hash_file_until(path: &Path, stop: &Stop) -> Result<(String, u64), HashError> {
    hash_reader_until(std::fs::File::open(path).map_err(HashError::Io)?, stop)
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// What became of one sampled file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Same bytes.
    Match,
    /// The source still has the size and mtime the snapshot recorded (or is a ZFS
    /// snapshot), yet the bytes differ: damage in the backup or bit rot in the source.
    Mismatch,
    /// The source's size or mtime differ from the snapshot: changed since the backup.
    Changed,
    /// Deleted since the backup.
    SourceMissing,
    /// restic reported an error for the file, it did not arrive, or its size is wrong.
    RestoreFailed,
    /// The source could not be read.
    Unreadable,
}

impl Class {
    pub const ALL: [Class; 6] = [
        Class::Match,
        Class::Mismatch,
        Class::Changed,
        Class::SourceMissing,
        Class::RestoreFailed,
        Class::Unreadable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Match => "match",
            Class::Mismatch => "mismatch",
            Class::Changed => "changed",
            Class::SourceMissing => "source_missing",
            Class::RestoreFailed => "restore_failed",
            Class::Unreadable => "unreadable",
        }
    }
}

/// The expected side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// The source file was read: its size, mtime (ns since the epoch) and hash.
    Read {
        size: u64,
        mtime_ns: i128,
        hash: String,
    },
    Missing,
    Unreadable(String),
    /// The source is no longer what the snapshot recorded in a way that needs no
    /// hashing to see (a symlink where the file was), or it moved while it was read
    /// (size, mtime or inode differ before and after): changed, never a mismatch.
    Changed(String),
}

/// The restored side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    Arrived {
        size: u64,
        hash: String,
    },
    /// restic reported an error for this path, or the file is not there.
    Failed(String),
}

/// Classifies one file. `recorded` is the snapshot's (size, mtime ns); `immutable`
/// is true for a ZFS snapshot source, where every difference is a mismatch.
pub fn classify(
    recorded: (u64, i128),
    restored: &Restored,
    expected: &Expected,
    immutable: bool,
) -> Class {
    let (size, hash) = match restored {
        Restored::Failed(_) => return Class::RestoreFailed,
        Restored::Arrived { size, hash } => (*size, hash),
    };
    if size != recorded.0 {
        return Class::RestoreFailed;
    }
    match expected {
        Expected::Missing => Class::SourceMissing,
        Expected::Unreadable(_) => Class::Unreadable,
        Expected::Changed(_) => Class::Changed,
        Expected::Read { hash: h, .. } if h == hash => Class::Match,
        Expected::Read { .. } if immutable => Class::Mismatch,
        Expected::Read {
            size: s, mtime_ns, ..
        } if *s == recorded.0 && *mtime_ns == recorded.1 => Class::Mismatch,
        Expected::Read { .. } => Class::Changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[test]
    fn hash_of_known_input() {
        assert_eq!(
            hash_reader(&b"abc"[..]).expect("hash").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_reader_until_stops_on_cancellation_and_at_the_deadline() {
        let data = vec![7u8; 3 * BLOCK];
        let cancel = CancellationToken::new();
        let stop = Stop {
            deadline: None,
            cancel: Some(cancel.clone()),
        };
        assert!(hash_reader_until(&data[..], &stop).is_ok());
        cancel.cancel();
        assert!(matches!(
            hash_reader_until(&data[..], &stop),
            Err(HashError::Stopped(Stopped::Cancelled))
        ));
        let past = Stop {
            deadline: Some(Instant::now()),
            cancel: None,
        };
        assert!(matches!(
            hash_reader_until(&data[..], &past),
            Err(HashError::Stopped(Stopped::Deadline))
        ));
    }

    /// A reader that cancels the run after its first block: hashing stops between
    /// blocks, not only before a file.
    #[test]
    fn hash_reader_until_checks_between_blocks() {
        struct CancelAfterFirst<'a>(&'a [u8], CancellationToken);
        impl Read for CancelAfterFirst<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1.cancel();
                Ok(n)
            }
        }
        let data = vec![1u8; 3 * BLOCK];
        let cancel = CancellationToken::new();
        let stop = Stop {
            deadline: None,
            cancel: Some(cancel.clone()),
        };
        assert!(matches!(
            hash_reader_until(CancelAfterFirst(&data[..], cancel), &stop),
            Err(HashError::Stopped(Stopped::Cancelled))
        ));
    }

    proptest! {
        // Few cases: each hashes up to 300 KB (more than one 256 KiB block) in a debug build.
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn streaming_hash_equals_one_shot_hash(data in proptest::collection::vec(any::<u8>(), 0..300_000)) {
            let (h, n) = hash_reader(&data[..]).expect("hash");
            prop_assert_eq!(n, data.len() as u64);
            prop_assert_eq!(h, hex(&Sha256::digest(&data)));
        }
    }

    fn read(size: u64, mtime: i128, hash: &str) -> Expected {
        Expected::Read {
            size,
            mtime_ns: mtime,
            hash: hash.into(),
        }
    }
    fn arrived(size: u64, hash: &str) -> Restored {
        Restored::Arrived {
            size,
            hash: hash.into(),
        }
    }

    #[rstest]
    #[case(arrived(5, "a"), read(5, 7, "a"), false, Class::Match)]
    #[case(arrived(5, "a"), read(5, 7, "b"), false, Class::Mismatch)]
    #[case(arrived(5, "a"), read(5, 8, "b"), false, Class::Changed)]
    #[case(arrived(5, "a"), read(6, 7, "b"), false, Class::Changed)]
    #[case(arrived(5, "a"), read(6, 8, "b"), true, Class::Mismatch)]
    #[case(arrived(5, "a"), Expected::Missing, false, Class::SourceMissing)]
    #[case(arrived(5, "a"), Expected::Unreadable("EACCES".into()), false, Class::Unreadable)]
    #[case(arrived(5, "b"), Expected::Changed("grew while it was read".into()), false, Class::Changed)]
    #[case(arrived(5, "b"), Expected::Changed("grew while it was read".into()), true, Class::Changed)]
    #[case(arrived(4, "a"), read(5, 7, "a"), false, Class::RestoreFailed)]
    #[case(Restored::Failed("ciphertext verification failed".into()), read(5, 7, "a"), false, Class::RestoreFailed)]
    fn classify_tells_damage_from_change(
        #[case] restored: Restored,
        #[case] expected: Expected,
        #[case] immutable: bool,
        #[case] want: Class,
    ) {
        assert_eq!(classify((5, 7), &restored, &expected, immutable), want);
    }
}
