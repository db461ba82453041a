//! What is compared of one entry on either side, and the pure decisions of the
//! tree level: kinds, facts, metadata comparison, the class of a source-only
//! entry, and where each snapshot path's tree root and source are.

use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustic_core::repofile::{Node, NodeType};

use super::outcome::Class;

/// The kind of a filesystem entry, on either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    BlockDev,
    CharDev,
    Fifo,
    Socket,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::BlockDev => "block device",
            Kind::CharDev => "char device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }

    pub(crate) fn of_node(t: &NodeType) -> Kind {
        match t {
            NodeType::File => Kind::File,
            NodeType::Dir => Kind::Dir,
            NodeType::Symlink { .. } => Kind::Symlink,
            NodeType::Dev { .. } => Kind::BlockDev,
            NodeType::Chardev { .. } => Kind::CharDev,
            NodeType::Fifo => Kind::Fifo,
            NodeType::Socket => Kind::Socket,
        }
    }

    pub(crate) fn of_meta(m: &Metadata) -> Kind {
        let t = m.file_type();
        if t.is_dir() {
            Kind::Dir
        } else if t.is_symlink() {
            Kind::Symlink
        } else if t.is_block_device() {
            Kind::BlockDev
        } else if t.is_char_device() {
            Kind::CharDev
        } else if t.is_fifo() {
            Kind::Fifo
        } else if t.is_socket() {
            Kind::Socket
        } else {
            Kind::File
        }
    }
}

/// What is compared of one entry, on either side (pure data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub kind: Kind,
    pub size: u64,
    pub mtime_ns: Option<i128>,
    /// Permission bits with setuid/setgid/sticky, in Unix form (0o7777).
    pub perm: Option<u32>,
    pub link: Option<Vec<u8>>,
}

impl Facts {
    pub fn of_node(n: &Node) -> Facts {
        let kind = Kind::of_node(&n.node_type);
        Facts {
            kind,
            size: n.meta.size,
            mtime_ns: n.meta.mtime.map(|t| t.as_nanosecond()),
            perm: n.meta.mode.map(go_perm),
            link: match &n.node_type {
                NodeType::Symlink { .. } => {
                    Some(n.node_type.to_link().as_os_str().as_bytes().to_vec())
                }
                _ => None,
            },
        }
    }

    pub fn of_meta(m: &Metadata, link: Option<Vec<u8>>) -> Facts {
        Facts {
            kind: Kind::of_meta(m),
            size: m.size(),
            mtime_ns: Some(i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())),
            perm: Some(m.mode() & 0o7777),
            link,
        }
    }
}

/// Go's `os.FileMode` (what restic stores) to Unix permission bits.
pub(crate) fn go_perm(mode: u32) -> u32 {
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const STICKY: u32 = 1 << 20;
    let mut p = mode & 0o777;
    if mode & SETUID != 0 {
        p |= 0o4000;
    }
    if mode & SETGID != 0 {
        p |= 0o2000;
    }
    if mode & STICKY != 0 {
        p |= 0o1000;
    }
    p
}

/// The tree-level verdict on an entry present on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Meta {
    /// Nothing differs that the tree level can see (directories, symlinks, specials).
    Same,
    /// A regular file with the snapshot's size and mtime: its content decides. A
    /// mode difference rides along as a note.
    Content { note: Option<String> },
    /// Type, size, mtime, mode or symlink target differ.
    Differs(String),
}

/// Compares the snapshot's view of an entry with the source's (pure).
pub(crate) fn compare_meta(snap: &Facts, src: &Facts) -> Meta {
    if snap.kind != src.kind {
        return Meta::Differs(format!(
            "type {} → {}",
            snap.kind.as_str(),
            src.kind.as_str()
        ));
    }
    let mut diffs = Vec::new();
    if snap.kind == Kind::File {
        if snap.size != src.size {
            diffs.push(format!("size {} → {}", snap.size, src.size));
        }
        if snap.mtime_ns != src.mtime_ns {
            diffs.push(format!(
                "mtime {} → {}",
                show_ns(snap.mtime_ns),
                show_ns(src.mtime_ns)
            ));
        }
    }
    if snap.kind == Kind::Symlink && snap.link != src.link {
        diffs.push(format!(
            "symlink target {} → {}",
            show_bytes(snap.link.as_deref()),
            show_bytes(src.link.as_deref())
        ));
    }
    let mode = match (snap.perm, src.perm) {
        // A symlink's own mode means nothing on Linux.
        (Some(a), Some(b)) if a != b && snap.kind != Kind::Symlink => {
            Some(format!("mode {a:04o} → {b:04o}"))
        }
        _ => None,
    };
    if snap.kind == Kind::File && diffs.is_empty() {
        return Meta::Content { note: mode };
    }
    diffs.extend(mode);
    if diffs.is_empty() {
        Meta::Same
    } else {
        Meta::Differs(diffs.join("; "))
    }
}

/// An entry only in the source: missed by the backup, or created after it (pure).
pub(crate) fn source_only_class(ctime_ns: i128, snapshot_ns: i128, immutable: bool) -> Class {
    if immutable || ctime_ns < snapshot_ns {
        Class::NotInBackup
    } else {
        Class::New
    }
}

fn show_ns(ns: Option<i128>) -> String {
    let Some(ns) = ns else {
        return "none".to_owned();
    };
    let secs = i64::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(0);
    let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ns.to_string())
}

fn show_bytes(b: Option<&[u8]>) -> String {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| "none".to_owned())
}

/// Candidate tree paths for a snapshot path, longest first: the tree follows how
/// the backup path was typed (`restic backup src` from `/tmp/x` stores `/src`,
/// `restic backup .` stores the directory's entries at `/`). `/` is a candidate
/// only when the snapshot has a single path.
pub(crate) fn root_candidates(snapshot_path: &str, single: bool) -> Vec<PathBuf> {
    let comps: Vec<&str> = snapshot_path.split('/').filter(|c| !c.is_empty()).collect();
    let mut out: Vec<PathBuf> = (0..comps.len())
        .map(|skip| {
            let mut p = PathBuf::from("/");
            p.extend(&comps[skip..]);
            p
        })
        .collect();
    if single {
        out.push(PathBuf::from("/"));
    }
    out
}

/// The source for a root: the longest explicit map whose FROM is the tree path or
/// a whole-component prefix of it; else the same against the snapshot path; else
/// the snapshot path itself. Returns the index of the map used.
pub(crate) fn map_root(
    tree_path: &Path,
    snapshot_path: &Path,
    maps: &[(String, PathBuf)],
) -> (PathBuf, Option<usize>) {
    for base in [tree_path, snapshot_path] {
        let best = maps
            .iter()
            .enumerate()
            .filter(|(_, (from, _))| base.starts_with(Path::new(from)))
            .max_by_key(|(_, (from, _))| Path::new(from).components().count());
        if let Some((i, (from, to))) = best {
            let rest = base.strip_prefix(Path::new(from)).unwrap_or(Path::new(""));
            let mapped = if rest.as_os_str().is_empty() {
                to.clone()
            } else {
                to.join(rest)
            };
            return (mapped, Some(i));
        }
    }
    (snapshot_path.to_owned(), None)
}
