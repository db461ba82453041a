//! The in-process pack reader: reads whole pack files of a repository and verifies
//! them as `restic check --read-data` does (`verify`, pure), without a restic
//! process per pack. The repository is opened by `audit::repo` (rustic_core: key,
//! index files) on the backend `crate::backend` opens (it reads the packs, on every
//! scheme it opens): read-only, no lock, no cache.
//!
//! A pack the index lists that is missing, short, unreadable or wrong is a broken
//! pack (data, never an `Err`). A network failure while reading is an `Err` of
//! category `network`: the read stops and its packs count as unread. Workers take
//! one pack at a time each, so memory stays a few packs whatever the repository's
//! size. Nothing here writes anywhere or keeps the ledger; the check job does.

pub mod verify;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use rustic_core::repofile::{BlobType, FileType, IndexFile};
use rustic_core::{Id, WriteBackend};
use tokio_util::sync::CancellationToken;

use crate::audit::error::{from_rustic, Stage};
use crate::audit::repo::{self, id_bytes};
use crate::audit::{AuditOptions, ErrorKind};
use crate::backend::Location;
use crate::finding::Category;
use crate::secret::{Redactor, Secret};

pub use verify::{BlobFailure, Expected, Verdict};

/// The name this reader gives itself in records (`check.read.reader`).
pub const READER: &str = "restic-verify (in process)";

/// Bytes of a header entry besides its blob: type, length, ID (+ uncompressed length).
const ENTRY: u64 = 1 + 4 + 32;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening the repository or loading its index failed.
    #[error("the pack reader cannot open repository {repository}: {source}")]
    Open {
        repository: String,
        #[source]
        source: crate::audit::Error,
    },
    /// A network failure: nothing of this read counts as read.
    #[error("cannot read pack {pack} of repository {repository}: {message}; no pack of this read is recorded as read, the next run reads them again")]
    Network {
        repository: String,
        pack: String,
        message: String,
    },
    #[error("reading the packs of repository {repository} was stopped (cancelled or out of time) after {read} of {total} packs; none is recorded as read")]
    Stopped {
        repository: String,
        read: usize,
        total: usize,
    },
    #[error("the pack reader could not start its workers: {0}")]
    Threads(String),
}

impl Error {
    /// The category of a run this error stops.
    pub fn category(&self) -> Category {
        match self {
            Error::Open { source, .. } => match source.kind() {
                ErrorKind::Auth => Category::Auth,
                ErrorKind::NotFound => Category::NotFound,
                ErrorKind::Network => Category::Network,
                ErrorKind::Corruption => Category::Corruption,
                ErrorKind::Config => Category::Config,
                ErrorKind::NotVerified | ErrorKind::Cancelled | ErrorKind::Other => {
                    Category::Internal
                }
            },
            Error::Network { .. } => Category::Network,
            Error::Stopped { .. } => Category::Interrupted,
            Error::Threads(_) => Category::Internal,
        }
    }
}

/// A pack the index lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackInfo {
    /// Full ID, hex.
    pub id: String,
    /// Its size as the backend lists it, else as the index implies.
    pub size: u64,
    /// The backend lists the file.
    pub present: bool,
}

/// A pack that did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenPack {
    pub id: String,
    /// Every problem, in one line.
    pub reason: String,
    /// Indexed blobs whose content is lost (all of them for a missing pack).
    pub lost: Vec<BlobFailure>,
    /// The pack's other indexed blobs (content verified, pack to be salvaged).
    pub intact: Vec<String>,
}

/// What one read did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOutcome {
    /// Every pack whose verdict is known (verified or broken), hex.
    pub read: Vec<String>,
    pub broken: Vec<BrokenPack>,
    /// Bytes read from the backend.
    pub bytes: u64,
    pub seconds: f64,
}

/// The open repository: its backend, key and index. No `Debug`: it holds the key.
pub struct Packs {
    backend: Arc<dyn WriteBackend>,
    cipher: Aes256CtrPoly1305Aes,
    shown: String,
    redactor: Redactor,
    index: BTreeMap<[u8; 32], Vec<Expected>>,
    listed: HashMap<[u8; 32], u64>,
}

/// Opens the repository at a plain URL (no env file, no options), loads its index
/// and lists its pack files. Blocking.
///
/// # Errors
/// As `open_at`.
pub fn open(repository: &Secret, password: &Secret) -> Result<Packs, Error> {
    open_at(&Location::new(repository.clone()), password)
}

/// Opens the repository where `crate::backend` finds it, loads its index and lists
/// its pack files. Blocking.
///
/// # Errors
/// The repository cannot be opened (password, location, credentials, network) or
/// its index cannot be loaded.
pub fn open_at(location: &Location, password: &Secret) -> Result<Packs, Error> {
    let shown = location.shown();
    let mut redactor = location.redactor();
    redactor.add(password);
    let wrap = |source| Error::Open {
        repository: shown.clone(),
        source,
    };
    let mut opts = AuditOptions::new(location.repository.clone(), password.clone());
    opts.env.clone_from(&location.env);
    opts.options.clone_from(&location.options);
    let opened = repo::open(&opts, &shown, redactor.clone()).map_err(wrap)?;
    let err =
        |e: &rustic_core::RusticError| wrap(from_rustic(e, Stage::Load, &shown, "", &redactor));
    let mut index: BTreeMap<[u8; 32], Vec<Expected>> = BTreeMap::new();
    for file in opened
        .repo
        .stream_files::<IndexFile>()
        .map_err(|e| err(&e))?
    {
        let (_, file) = file.map_err(|e| err(&e))?;
        for pack in file.packs {
            let blobs = index.entry(id_bytes(&pack.id)).or_default();
            blobs.extend(pack.blobs.iter().map(|b| {
                Expected {
                    id: id_bytes(&b.id),
                    tree: b.tpe == BlobType::Tree,
                    offset: b.location.offset,
                    length: b.location.length,
                    uncompressed: b
                        .location
                        .uncompressed_length
                        .map(std::num::NonZeroU32::get),
                }
            }));
        }
    }
    for blobs in index.values_mut() {
        blobs.sort_by_key(|b| (b.offset, b.id));
        blobs.dedup();
    }
    let backend = opened.backend();
    let listed = backend
        .list_with_size(FileType::Pack)
        .map_err(|e| err(&e))?
        .into_iter()
        .map(|(id, size)| (id_bytes(&id), u64::from(size)))
        .collect();
    Ok(Packs {
        backend,
        cipher: repo::cipher(&opened.repo),
        shown,
        redactor,
        index,
        listed,
    })
}

/// The size a pack of these blobs has: the blobs, the encrypted header, its length.
pub fn implied_size(blobs: &[Expected]) -> u64 {
    let header: u64 = blobs
        .iter()
        .map(|b| ENTRY + if b.uncompressed.is_some() { 4 } else { 0 })
        .sum();
    blobs.iter().map(|b| u64::from(b.length)).sum::<u64>() + 16 + header + 16 + 4
}

impl Packs {
    /// Every pack the index lists, by ID.
    pub fn indexed(&self) -> Vec<PackInfo> {
        self.index
            .iter()
            .map(|(id, blobs)| {
                let listed = self.listed.get(id);
                PackInfo {
                    id: verify::hex(id),
                    size: listed.copied().unwrap_or_else(|| implied_size(blobs)),
                    present: listed.is_some(),
                }
            })
            .collect()
    }

    /// Reads and verifies `ids` (packs of the index; others are skipped) with
    /// `workers` threads, a whole pack at a time each. Blocking; stops at `stop`.
    ///
    /// # Errors
    /// A network failure, `stop`, or no worker thread could start: nothing counts
    /// as read then.
    pub fn read(
        &self,
        ids: &[String],
        workers: usize,
        stop: &CancellationToken,
    ) -> Result<ReadOutcome, Error> {
        let started = Instant::now();
        let wanted: Vec<[u8; 32]> = ids
            .iter()
            .filter_map(|s| verify::parse_id(s))
            .filter(|id| self.index.contains_key(id))
            .collect();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let out = Mutex::new((ReadOutcome::default(), None::<Error>));
        let work = || {
            let mut scratch = verify::Scratch::new();
            while !failed.load(Ordering::Relaxed) && !stop.is_cancelled() {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = wanted.get(i) else { break };
                let one = self.read_one(id, &mut scratch);
                let mut guard = out
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match one {
                    Ok((bytes, broken)) => {
                        guard.0.read.push(verify::hex(id));
                        guard.0.bytes += bytes;
                        guard.0.broken.extend(broken);
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        guard.1.get_or_insert(e);
                    }
                }
            }
        };
        std::thread::scope(|s| {
            let mut spawned = 0;
            for n in 0..workers.max(1) {
                let b = std::thread::Builder::new().name(format!("packread-{n}"));
                match b.spawn_scoped(s, work) {
                    Ok(_) => spawned += 1,
                    Err(e) if spawned == 0 => {
                        out.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .1
                            .get_or_insert(Error::Threads(e.to_string()));
                    }
                    Err(_) => {}
                }
            }
        });
        let (mut outcome, error) = out
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = error {
            return Err(e);
        }
        if outcome.read.len() < wanted.len() {
            return Err(Error::Stopped {
                repository: self.shown.clone(),
                read: outcome.read.len(),
                total: wanted.len(),
            });
        }
        outcome.read.sort();
        outcome.broken.sort_by(|a, b| a.id.cmp(&b.id));
        outcome.seconds = started.elapsed().as_secs_f64();
        Ok(outcome)
    }

    /// One pack: (bytes read, the pack if broken). `Err` only for the network.
    fn read_one(
        &self,
        id: &[u8; 32],
        scratch: &mut verify::Scratch,
    ) -> Result<(u64, Option<BrokenPack>), Error> {
        let expected = self.index.get(id).map(Vec::as_slice).unwrap_or_default();
        let hex = verify::hex(id);
        let broken = |reason: String, lost: Vec<BlobFailure>| {
            let intact = expected
                .iter()
                .map(|b| verify::hex(&b.id))
                .filter(|b| !lost.iter().any(|l| &l.id == b))
                .collect();
            BrokenPack {
                id: hex.clone(),
                reason,
                lost,
                intact,
            }
        };
        let all_lost = |why: &str| {
            expected
                .iter()
                .map(|b| BlobFailure {
                    id: verify::hex(&b.id),
                    tree: b.tree,
                    reason: why.to_owned(),
                })
                .collect()
        };
        if !self.listed.contains_key(id) {
            let why = "the pack file does not exist";
            return Ok((0, Some(broken(why.to_owned(), all_lost(why)))));
        }
        let bytes = match self.backend.read_full(FileType::Pack, &Id::new(*id)) {
            Ok(b) => b,
            Err(e) => {
                let e = from_rustic(&e, Stage::Load, &self.shown, "", &self.redactor);
                if e.kind() == ErrorKind::Network {
                    return Err(Error::Network {
                        repository: self.shown.clone(),
                        pack: hex,
                        message: e.to_string(),
                    });
                }
                let why = format!("the pack file cannot be read: {e}");
                return Ok((0, Some(broken(why.clone(), all_lost(&why)))));
            }
        };
        let v = verify::verify_with(id, &bytes, &self.cipher, expected, scratch);
        let n = bytes.len() as u64;
        if v.is_ok() {
            return Ok((n, None));
        }
        Ok((n, Some(broken(v.summary(), v.blobs))))
    }
}

/// How many packs to read at once: one per CPU, at least 2, at most 8.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(2)
        .clamp(2, 8)
}
