//! The repository side, through rustic_core: open read-only without a cache and
//! without a lock, pick the snapshot, read its recorded excludes, load the index
//! (blob lengths) and tree blobs. Nothing here writes to the repository.
//!
//! Backends: a local path (or `local:`), `rest:http(s)://…` and `rclone:remote:path`
//! (read as REST from the `rclone serve restic` that `audit::job` started through
//! the process door: `AuditOptions::endpoint`; rustic_backend never starts a
//! process here), and `sftp:` through `backend::sftp` (restic's ssh command,
//! started through the process door). restic's other schemes (`s3:`, `b2:`,
//! `azure:`, `gs:`, `swift:`) are refused with `Error::Unsupported`: rustic_backend
//! reaches them only through OpenDAL, with different URLs and options.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use aes256ctr_poly1305aes::aead::Aead;
use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Nonce};
use rustic_backend::BackendOptions;
use rustic_core::repofile::{BlobType, FileType, IndexFile, Node, SnapshotFile};
use rustic_core::{
    Credentials, DataId, Id, OpenStatus, Repository, RepositoryBackends, RepositoryOptions, TreeId,
    WriteBackend,
};
use sha2::{Digest, Sha256};

use super::index::{BlobIndex, Builder, Listed};

use super::error::{from_rustic, Error, Stage};
use super::outcome::SnapshotInfo;
use super::{AuditOptions, SnapshotFilter, SnapshotSelector};
use crate::backend::sftp;
use crate::secret::{Redactor, Secret};

/// Schemes restic knows that this audit cannot open.
const UNSUPPORTED: [&str; 6] = ["s3", "b2", "azure", "gs", "swift", "opendal"];

/// The location string rustic_backend expects for a restic repository URL;
/// `endpoint` is the REST URL serving an `rclone:` repository.
pub(crate) fn backend_location(
    url: &str,
    shown: &str,
    endpoint: Option<&Secret>,
) -> Result<String, Error> {
    if let Some((scheme, _)) = url.split_once(':') {
        if scheme == "rest" || scheme == "local" {
            return Ok(url.to_owned());
        }
        if scheme == "rclone" {
            return match endpoint {
                Some(e) => Ok(format!("rest:{}", e.expose())),
                None => Err(Error::Options(format!(
                    "`rclone:` repository {shown} needs the rclone server that `audit::job::run` starts"
                ))),
            };
        }
        // `sftp:` is opened by `backend::sftp` (see `open`), never by rustic_backend.
        if scheme == "sftp" {
            return Err(Error::Options(format!(
                "`sftp:` repository {shown} is read through `backend::sftp`, not rustic_backend"
            )));
        }
        if UNSUPPORTED.contains(&scheme) {
            return Err(Error::Unsupported {
                repository: shown.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
    }
    // restic reads anything else as a local path, even with a `:` in it.
    Ok(format!("local:{url}"))
}

/// An open repository and what the audit needs to report errors.
pub(crate) struct Opened {
    pub repo: Repository<OpenStatus>,
    /// The backend itself, for reading tree blobs from their packs.
    backend: Arc<dyn WriteBackend>,
    pub shown: String,
    pub redactor: Redactor,
}

/// Opens the repository (config and key only; the index comes later).
pub(crate) fn open(opts: &AuditOptions, shown: &str, redactor: Redactor) -> Result<Opened, Error> {
    let url = opts.repository.expose();
    let err = |e: &rustic_core::RusticError| from_rustic(e, Stage::Open, shown, "", &redactor);
    let backends = if url.starts_with("sftp:") {
        let access = sftp::Access {
            options: &opts.restic_options,
            env: &opts.env,
            shown,
        };
        let backend: Arc<dyn WriteBackend> = Arc::new(sftp::open(url, access, &redactor)?);
        RepositoryBackends::new(backend, None)
    } else {
        let location = backend_location(url, shown, opts.endpoint.as_ref())?;
        BackendOptions::default()
            .repository(location)
            .options(opts.backend_options.clone())
            .to_backends()
            .map_err(|e| err(&e))?
    };
    let repo = Repository::new(&RepositoryOptions::default().no_cache(true), &backends)
        .map_err(|e| err(&e))?
        .open(&Credentials::password(opts.password.expose()))
        .map_err(|e| err(&e))?;
    Ok(Opened {
        repo,
        backend: backends.repository(),
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

/// A file's content blobs with their lengths from the index. `Err` names the damage:
/// a blob missing from the index, or lengths that do not add up to the file's size.
pub(crate) fn resolve_blobs(
    trees: &dyn Trees,
    ids: &[DataId],
    size: u64,
) -> Result<Vec<super::content::Blob>, String> {
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
    use rstest::rstest;

    #[rstest]
    #[case("/srv/restic", Some("local:/srv/restic"))]
    #[case("relative/repo", Some("local:relative/repo"))]
    #[case("/mnt/a:b/repo", Some("local:/mnt/a:b/repo"))]
    #[case("local:/srv/restic", Some("local:/srv/restic"))]
    #[case("rest:http://127.0.0.1:8000/r", Some("rest:http://127.0.0.1:8000/r"))]
    #[case("s3:https://s3.example.com/bucket", None)]
    #[case("b2:bucket:path", None)]
    fn backend_location_maps_restic_urls(#[case] url: &str, #[case] want: Option<&str>) {
        let got = backend_location(url, url, None);
        match want {
            Some(w) => assert_eq!(got.unwrap(), w),
            None => assert!(matches!(got, Err(Error::Unsupported { .. }))),
        }
    }

    #[test]
    fn backend_location_leaves_sftp_to_backend_sftp() {
        let url = "sftp:user@host:/srv/restic";
        let e = backend_location(url, url, None).unwrap_err();
        assert!(matches!(e, Error::Options(_)), "{e}");
    }

    #[test]
    fn backend_location_reads_rclone_through_its_endpoint_only() {
        let url = "rclone:remote:bucket/path";
        let served = Secret::new("http://u:p@127.0.0.1:4000/");
        assert_eq!(
            backend_location(url, url, Some(&served)).unwrap(),
            "rest:http://u:p@127.0.0.1:4000/"
        );
        let e = backend_location(url, url, None).unwrap_err();
        assert!(matches!(e, Error::Options(_)), "{e}");
    }

    #[test]
    fn id_bytes_round_trips_hex() {
        let d: [u8; 32] = Sha256::digest(b"x").into();
        let id = Id::new(d);
        assert_eq!(id_bytes(&id), d);
    }
}
