//! The repository side, through rustic_core: open read-only without a cache and
//! without a lock, pick the snapshot, read its recorded excludes, load the index
//! (blob lengths) and tree blobs. Nothing here writes to the repository.
//!
//! The backend is `crate::backend`'s for the repository's URL (every scheme it
//! opens: a local path, `rest:`, `rclone:` through the rclone `audit::job` started,
//! `s3:`, `azure:`, `gs:`, `swift:`); rustic_backend or OpenDAL never start a
//! process here.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use aes256ctr_poly1305aes::aead::Aead;
use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Nonce};
use rustic_core::repofile::{BlobType, FileType, IndexFile, Node, SnapshotFile};
use rustic_core::{
    Credentials, DataId, Id, OpenStatus, Repository, RepositoryBackends, RepositoryOptions, TreeId,
    WriteBackend,
};
use sha2::{Digest, Sha256};

use super::index::{BlobIndex, Builder, Listed};

use super::error::{from_rustic, Error, Stage};
use super::options::{AuditOptions, SnapshotFilter, SnapshotSelector};
use super::outcome::SnapshotInfo;
use crate::secret::Redactor;

/// An open repository and what the audit needs to report errors.
pub(crate) struct Opened {
    pub repo: Repository<OpenStatus>,
    /// The backend itself, for reading tree blobs from their packs.
    backend: Arc<dyn WriteBackend>,
    pub shown: String,
    pub redactor: Redactor,
}

/// Opens the repository (config and key only; the index comes later) through the
/// backend `crate::backend` opens for its URL.
pub(crate) fn open(opts: &AuditOptions, shown: &str, redactor: Redactor) -> Result<Opened, Error> {
    let backend = crate::backend::open(&opts.location())?;
    let err = |e: &rustic_core::RusticError| from_rustic(e, Stage::Open, shown, "", &redactor);
    let backends = RepositoryBackends::new(Arc::clone(&backend), None);
    let repo = Repository::new(&RepositoryOptions::default().no_cache(true), &backends)
        .map_err(|e| err(&e))?
        .open(&Credentials::password(opts.password.expose()))
        .map_err(|e| err(&e))?;
    Ok(Opened {
        repo,
        backend,
        shown: shown.to_owned(),
        redactor,
    })
}

impl SnapshotFilter {
    /// restic's `--host`, `--tag` and `--path` semantics: any host; any tag group
    /// whose tags are all present; every path present.
    pub(crate) fn matches(&self, s: &SnapshotFile) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.hostname))
            && (self.tags.is_empty()
                || self
                    .tags
                    .iter()
                    .any(|group| group.iter().all(|t| s.tags.contains(t))))
            && self.paths.iter().all(|p| s.paths.contains(p))
    }
}

impl Opened {
    /// Finds the snapshot to audit.
    pub fn snapshot(&self, sel: &SnapshotSelector) -> Result<SnapshotFile, Error> {
        let (wanted, found) = match sel {
            SnapshotSelector::Latest(f) => (
                "latest".to_owned(),
                self.repo.get_snapshot_from_str("latest", |s| f.matches(s)),
            ),
            SnapshotSelector::Id(id) => (id.clone(), self.repo.get_snapshot_from_str(id, |_| true)),
        };
        found.map_err(|e| from_rustic(&e, Stage::Snapshot, &self.shown, &wanted, &self.redactor))
    }

    /// The snapshot's `excludes`, which rustic_core's `SnapshotFile` does not keep.
    pub fn recorded_excludes(&self, snap: &SnapshotFile) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            #[serde(default)]
            excludes: Option<Vec<String>>,
        }
        let bytes = self
            .repo
            .cat_file(FileType::Snapshot, &snap.id.to_hex())
            .map_err(|e| from_rustic(&e, Stage::Load, &self.shown, "", &self.redactor))?;
        let raw: Raw = serde_json::from_slice(&bytes).map_err(|e| Error::Corruption {
            repository: self.shown.clone(),
            message: format!("snapshot {} is not valid JSON: {e}", snap.id),
        })?;
        Ok(raw.excludes.unwrap_or_default())
    }

    /// Loads the index: every data blob's length and every tree blob's place (the
    /// index files are read and decrypted by rustic_core, in parallel).
    pub fn indexed(self) -> Result<Indexed, Error> {
        let Opened {
            repo,
            backend,
            shown,
            redactor,
        } = self;
        let err = |e: &rustic_core::RusticError| from_rustic(e, Stage::Load, &shown, "", &redactor);
        let mut builder = Builder::default();
        for file in repo.stream_files::<IndexFile>().map_err(|e| err(&e))? {
            let (_, file) = file.map_err(|e| err(&e))?;
            for pack in file.packs {
                builder.pack(
                    id_bytes(&pack.id),
                    pack.blobs.iter().map(|b| Listed {
                        id: id_bytes(&b.id),
                        is_tree: b.tpe == BlobType::Tree,
                        offset: b.location.offset,
                        length: b.location.length,
                        uncompressed: b.location.uncompressed_length,
                    }),
                );
            }
        }
        Ok(Indexed {
            backend,
            cipher: cipher(&repo),
            index: builder.build(),
            lost: Mutex::new(None),
        })
    }

    /// The backend itself (the pack reader reads whole packs through it).
    pub(crate) fn backend(&self) -> Arc<dyn WriteBackend> {
        Arc::clone(&self.backend)
    }
}

/// The cipher of the repository's master key: decrypts and MAC-checks blobs.
pub(crate) fn cipher(repo: &Repository<OpenStatus>) -> Aes256CtrPoly1305Aes {
    let key = repo.key();
    let mut raw = aes256ctr_poly1305aes::Key::default();
    raw[0..32].copy_from_slice(&key.encrypt);
    raw[32..48].copy_from_slice(&key.mac.k);
    raw[48..64].copy_from_slice(&key.mac.r);
    Aes256CtrPoly1305Aes::new(&raw)
}

/// The facts of a snapshot the outcome reports.
pub(crate) fn snapshot_info(snap: &SnapshotFile, excludes: Vec<String>) -> SnapshotInfo {
    let ts = snap.time.timestamp();
    SnapshotInfo {
        id: snap.id.to_hex().to_string(),
        time: chrono::DateTime::from_timestamp(
            ts.as_second(),
            u32::try_from(ts.subsec_nanosecond()).unwrap_or(0),
        )
        .unwrap_or_default(),
        hostname: snap.hostname.clone(),
        paths: snap.paths.iter().cloned().collect(),
        tags: snap.tags.iter().cloned().collect(),
        excludes,
    }
}

/// When the backup started, in ns since the epoch: `summary.backup_start` (restic
/// 0.17+) when recorded, else the snapshot's `time` (which `backup --time` can set
/// to anything). A source entry with an older ctime existed when the backup ran.
pub(crate) fn backup_start_ns(snap: &SnapshotFile) -> i128 {
    snap.summary
        .as_ref()
        .map_or_else(|| snap.time.timestamp(), |s| s.backup_start.timestamp())
        .as_nanosecond()
}

/// A tree node with its name unescaped to the raw bytes restic read.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub name: OsString,
    pub node: Node,
}

/// What the walker needs from the repository; a fake stands in for unit tests.
pub(crate) trait Trees {
    /// The nodes of a tree, sorted by name bytes. `Err` describes the damage.
    fn load(&self, id: &TreeId) -> Result<Vec<Named>, String>;
    /// A content blob's plaintext length, from the index.
    fn blob_len(&self, id: &DataId) -> Option<u32>;
}

/// One content blob: its ID (SHA-256 of the plaintext) and plaintext length.
pub(crate) type Blob = ([u8; 32], u32);

/// A file's content blobs with their lengths from the index. `Err` names the damage:
/// a blob missing from the index, or lengths that do not add up to the file's size.
pub(crate) fn resolve_blobs(
    trees: &dyn Trees,
    ids: &[DataId],
    size: u64,
) -> Result<Vec<Blob>, String> {
    let mut out = Vec::with_capacity(ids.len());
    let mut total = 0u64;
    for (i, id) in ids.iter().enumerate() {
        let Some(len) = trees.blob_len(id) else {
            return Err(format!(
                "content blob {} of {} ({}) is not in the index",
                i + 1,
                ids.len(),
                id.to_hex().as_str()
            ));
        };
        total += u64::from(len);
        out.push((id_bytes(id), len));
    }
    if total != size {
        return Err(format!(
            "the content blobs add up to {total} bytes, the snapshot records {size}"
        ));
    }
    Ok(out)
}

/// Sorts nodes by raw name, as restic writes them (kept robust to any order).
pub(crate) fn named(nodes: Vec<Node>) -> Vec<Named> {
    use std::os::unix::ffi::OsStrExt;
    let mut v: Vec<Named> = nodes
        .into_iter()
        .map(|node| Named {
            name: node.name().into_owned(),
            node,
        })
        .collect();
    v.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    v
}

/// The repository with its index loaded. No `Debug`: it holds the master key.
pub(crate) struct Indexed {
    backend: Arc<dyn WriteBackend>,
    cipher: Aes256CtrPoly1305Aes,
    index: BlobIndex,
    /// The first lost connection while reading trees: the trees it kept from
    /// loading are not damage, and the audit ends with this error instead.
    lost: Mutex<Option<Error>>,
}

impl Indexed {
    /// How many data blobs the index lists.
    pub fn data_blobs(&self) -> usize {
        self.index.data.len()
    }

    /// The connection to the repository was lost while reading trees (`backend::sftp`
    /// says so): the error to end the audit with.
    pub fn lost(&self) -> Option<Error> {
        self.lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// A tree blob's plaintext: read from its pack, decrypted (the MAC checked) and
    /// decompressed, as rustic_core does. `Err` says why not.
    fn tree_bytes(&self, id: &TreeId) -> Result<Vec<u8>, String> {
        let loc = self
            .index
            .trees
            .get(&id_bytes(id))
            .ok_or("it is not in the index")?;
        let pack = Id::new(self.index.packs[loc.pack as usize]);
        let name = pack.to_hex();
        let name = name.as_str();
        let data = self
            .backend
            .read_partial(FileType::Pack, &pack, true, loc.offset, loc.length)
            .map_err(|e| {
                if let Some(lost) = super::error::lost_connection(&e) {
                    self.lost
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get_or_insert(lost);
                }
                short(&e)
            })?;
        if data.len() < 16 {
            return Err(format!("pack {name}: the blob is too short to decrypt"));
        }
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&data[..16]), &data[16..])
            .map_err(|_| format!("pack {name}: decryption failed (MAC check failed)"))?;
        let Some(want) = loc.uncompressed else {
            return Ok(plain);
        };
        let out = zstd::bulk::decompress(&plain, want.get() as usize)
            .map_err(|e| format!("pack {name}: zstd: {e}"))?;
        if out.len() != want.get() as usize {
            return Err(format!(
                "pack {name}: decompressed to {} bytes, the index says {want}",
                out.len()
            ));
        }
        Ok(out)
    }
}

impl Trees for Indexed {
    fn load(&self, id: &TreeId) -> Result<Vec<Named>, String> {
        let hex = id.to_hex();
        let hex = hex.as_str();
        let data = self
            .tree_bytes(id)
            .map_err(|e| format!("tree {hex} cannot be loaded: {e}"))?;
        if Sha256::digest(&data).as_slice() != id_bytes(id).as_slice() {
            return Err(format!("tree {hex} does not hash to its ID"));
        }
        let nodes = super::tree::decode(&data)
            .map_err(|e| format!("tree {hex} is not a valid tree: {e}"))?;
        Ok(named(nodes))
    }

    fn blob_len(&self, id: &DataId) -> Option<u32> {
        self.index.data.get(&id_bytes(id))
    }
}

/// The 32 bytes of an ID (rustic_core shows them only as hex or through binrw).
pub(crate) fn id_bytes(id: &Id) -> [u8; 32] {
    use binrw::BinWrite;
    let mut out = std::io::Cursor::new([0u8; 32]);
    // Writing 32 bytes into a 32-byte buffer cannot fail.
    let _ = id.write_le(&mut out);
    out.into_inner()
}

fn short(e: &rustic_core::RusticError) -> String {
    let s = e.display_log();
    s.strip_prefix("Error: ").unwrap_or(&s).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_bytes_round_trips_hex() {
        let d: [u8; 32] = Sha256::digest(b"x").into();
        let id = Id::new(d);
        assert_eq!(id_bytes(&id), d);
    }
}
