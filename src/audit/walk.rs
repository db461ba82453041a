//! Tree level: the snapshot's tree and the source, both in name order, merged
//! directory by directory.
//!
//! Memory stays bounded by the depth of the tree: only the listings of the
//! directories on the current path are held (one tree blob and one `readdir` each).
//! Names are compared as raw bytes; restic's tree keeps them (quoted, rustic_core
//! unquotes). Every tree blob of the snapshot below the roots is loaded, also below
//! entries the source no longer has, so damage anywhere is found and named.
//!
//! The walk does not follow symlinks. It descends into other file systems where the
//! snapshot has entries; an empty snapshot directory over a mount point is taken as
//! restic's `--one-file-system` and not descended. Below a directory that exists on
//! one side only, other file systems are not entered.
//!
//! Regular files whose size and mtime equal the snapshot's go to the hashing
//! workers as `Job`s; everything else is decided here.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustic_core::repofile::{Node, NodeType};
use tokio_util::sync::CancellationToken;

use super::content::{Blob, Job, Stamp};
use super::filter::{ResticExcludes, Selection};
use super::outcome::{Class, Counts, Tally};
use super::repo::{resolve_blobs, Named, Trees};

/// The walk was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cancelled;

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

    fn of_node(t: &NodeType) -> Kind {
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

    fn of_meta(m: &Metadata) -> Kind {
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

/// Finds the node at `path` below the root tree. `Ok(None)`: no such path.
/// `Err((path, why))`: a tree on the way cannot be loaded.
pub(crate) fn find_node(
    trees: &dyn Trees,
    root: &rustic_core::TreeId,
    path: &Path,
) -> Result<Option<Node>, (PathBuf, String)> {
    let mut node = Node::new_node(
        std::ffi::OsStr::new(""),
        NodeType::Dir,
        rustic_core::repofile::Metadata::default(),
    );
    node.subtree = Some(*root);
    let mut at = PathBuf::from("/");
    for c in path.components().skip(1) {
        let Some(sub) = node.subtree else {
            return Ok(None);
        };
        let nodes = trees.load(&sub).map_err(|e| (at.clone(), e))?;
        let name = c.as_os_str();
        match nodes.into_iter().find(|n| n.name == name) {
            Some(n) => node = n.node,
            None => return Ok(None),
        }
        at.push(name);
    }
    Ok(Some(node))
}

/// Where results and jobs go, and what the walk needs to decide.
pub(crate) struct Walk<'a> {
    pub trees: &'a dyn Trees,
    pub selection: &'a Selection,
    pub excludes: &'a ResticExcludes,
    pub snapshot_ns: i128,
    pub immutable: bool,
    pub cancel: &'a CancellationToken,
    pub tally: &'a Mutex<Tally>,
    pub submit: &'a dyn Fn(Job) -> Result<(), Cancelled>,
}

/// One entry's three paths: in the tree, in the source now, and where the backup
/// read it (for restic's exclude patterns).
#[derive(Debug, Clone)]
struct Paths {
    tree: PathBuf,
    src: PathBuf,
    orig: PathBuf,
}

impl Paths {
    fn join(&self, name: &std::ffi::OsStr) -> Paths {
        Paths {
            tree: self.tree.join(name),
            src: self.src.join(name),
            orig: self.orig.join(name),
        }
    }
}

/// A source directory entry, `lstat`ed.
struct SrcEntry {
    name: OsString,
    meta: std::io::Result<Metadata>,
}

/// A both-sided directory being merged.
struct Frame {
    at: Paths,
    dev: u64,
    nodes: std::iter::Peekable<std::vec::IntoIter<Named>>,
    entries: std::iter::Peekable<std::vec::IntoIter<SrcEntry>>,
}

/// Summary of a listed entry's one-sided subtree.
struct Fold {
    class: Class,
    below: Counts,
}

enum Next {
    Tree(Named),
    Src(SrcEntry),
    Both(Named, SrcEntry),
}

/// Lists a source directory in name order.
fn list_dir(dir: &Path) -> std::io::Result<Vec<SrcEntry>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        v.push(SrcEntry {
            name: e.file_name(),
            meta: e.metadata(),
        });
    }
    v.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(v)
}

impl Walk<'_> {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check_cancel(&self) -> Result<(), Cancelled> {
        if self.cancel.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    fn differs_class(&self) -> Class {
        if self.immutable {
            Class::Mismatch
        } else {
            Class::Changed
        }
    }

    fn record(&self, at: &Paths, class: Class, detail: impl Into<String>) {
        self.tally()
            .record(at.tree.clone(), at.src.clone(), class, detail.into());
    }

    /// Counts a subtree entry; lists it unless the fold absorbs it.
    fn fold_or_record(&self, fold: Option<&mut Fold>, at: &Paths, class: Class, detail: &str) {
        match fold {
            Some(f)
                if class == f.class
                    || (!class.is_failure(self.immutable) && class != Class::Unreadable) =>
            {
                f.below.add(class, 1);
                self.tally().count(class, 1);
            }
            _ => self.record(at, class, detail),
        }
    }

    /// Lists the top of a folded subtree, with what was summarised below it.
    fn finish_fold(&self, at: &Paths, fold: Fold, detail: &str) {
        let below = fold.below.total();
        let detail = if below == 0 {
            detail.to_owned()
        } else {
            let parts: Vec<String> = fold
                .below
                .nonzero()
                .map(|(c, n)| format!("{n} {}", c.as_str()))
                .collect();
            let noun = if below == 1 { "entry" } else { "entries" };
            format!("{detail}; {below} {noun} below ({})", parts.join(", "))
        };
        self.tally()
            .list(at.tree.clone(), at.src.clone(), fold.class, detail);
    }

    /// A file node's blobs with their lengths; `Err` names the damage.
    fn blobs_of(&self, node: &Node) -> Result<Vec<Blob>, String> {
        resolve_blobs(
            self.trees,
            node.content.as_deref().unwrap_or(&[]),
            node.meta.size,
        )
    }

    /// Audits one root: the snapshot node at `tree`, the source at `src`, read by
    /// the backup at `orig`. The caller has checked that the source root exists.
    pub fn root(
        &self,
        node: Named,
        tree: PathBuf,
        src: PathBuf,
        orig: PathBuf,
    ) -> Result<(), Cancelled> {
        let at = Paths { tree, src, orig };
        let meta = std::fs::symlink_metadata(&at.src);
        let name = node.name.clone();
        let entry = SrcEntry { name, meta };
        if let Some(frame) = self.both(node, entry, at, None)? {
            self.merge(frame)?;
        }
        Ok(())
    }

    /// Merges both-sided directories depth first.
    fn merge(&self, first: Frame) -> Result<(), Cancelled> {
        let mut stack = vec![first];
        while let Some(top) = stack.last_mut() {
            self.check_cancel()?;
            let order = match (top.nodes.peek(), top.entries.peek()) {
                (None, None) => None,
                (Some(_), None) => Some(Ordering::Less),
                (None, Some(_)) => Some(Ordering::Greater),
                (Some(n), Some(e)) => Some(n.name.as_bytes().cmp(e.name.as_bytes())),
            };
            let next = match order {
                None => {
                    stack.pop();
                    continue;
                }
                Some(Ordering::Less) => top.nodes.next().map(Next::Tree),
                Some(Ordering::Greater) => top.entries.next().map(Next::Src),
                Some(Ordering::Equal) => match (top.nodes.next(), top.entries.next()) {
                    (Some(n), Some(e)) => Some(Next::Both(n, e)),
                    _ => None,
                },
            };
            let parent_dev = top.dev;
            let base = top.at.clone();
            match next {
                None => {}
                Some(Next::Tree(n)) => {
                    let at = base.join(&n.name);
                    self.tree_only(&n.node, &at, Class::SourceMissing, "not in the source")?;
                }
                Some(Next::Src(e)) => {
                    let at = base.join(&e.name);
                    self.source_only(e.meta, &at)?;
                }
                Some(Next::Both(n, e)) => {
                    let at = base.join(&n.name);
                    if let Some(frame) = self.both(n, e, at, Some(parent_dev))? {
                        stack.push(frame);
                    }
                }
            }
        }
        Ok(())
    }

    /// An entry on both sides. Returns the frame to merge next if both are
    /// directories to descend into.
    fn both(
        &self,
        n: Named,
        e: SrcEntry,
        at: Paths,
        parent_dev: Option<u64>,
    ) -> Result<Option<Frame>, Cancelled> {
        if self.selection.skips_subtree(&at.tree) {
            return Ok(None);
        }
        let node = n.node;
        let tree_kind = Kind::of_node(&node.node_type);
        let meta = match e.meta {
            Ok(m) => m,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.tree_only(
                    &node,
                    &at,
                    Class::SourceMissing,
                    "deleted while the audit ran",
                )?;
                return Ok(None);
            }
            Err(err) => {
                self.tree_only(&node, &at, Class::Unreadable, &format!("lstat: {err}"))?;
                return Ok(None);
            }
        };
        let src_kind = Kind::of_meta(&meta);
        let leaf = tree_kind != Kind::Dir && src_kind != Kind::Dir;
        if leaf && !self.selection.includes_leaf(&at.tree) {
            return Ok(None);
        }
        let link = if src_kind == Kind::Symlink {
            match std::fs::read_link(&at.src) {
                Ok(t) => Some(t.into_os_string().into_vec()),
                Err(err) => {
                    self.record(&at, Class::Unreadable, format!("readlink: {err}"));
                    return Ok(None);
                }
            }
        } else {
            None
        };
        let verdict = compare_meta(&Facts::of_node(&node), &Facts::of_meta(&meta, link));
        // Damage in the snapshot wins over any comparison. A file whose content is
        // compared is checked by the hashing worker (off this thread).
        if tree_kind == Kind::File && !matches!(verdict, Meta::Content { .. }) {
            if let Err(why) = self.blobs_of(&node) {
                self.record(&at, Class::Damaged, why);
                if src_kind == Kind::Dir {
                    self.source_children(&at, None)?;
                }
                return Ok(None);
            }
        }
        if tree_kind != src_kind {
            let Meta::Differs(detail) = verdict else {
                return Ok(None);
            };
            // A type change: whatever hangs below either side is one-sided.
            let below = if tree_kind == Kind::Dir {
                match self.load_subtree(&node) {
                    Ok(n) => n,
                    Err(why) => {
                        self.record(&at, Class::Damaged, why);
                        if src_kind == Kind::Dir {
                            self.source_children(&at, None)?;
                        }
                        return Ok(None);
                    }
                }
            } else {
                Vec::new()
            };
            let class = self.differs_class();
            self.tally().count(class, 1);
            let mut fold = Fold {
                class,
                below: Counts::default(),
            };
            self.nodes_below(
                below,
                &at,
                Class::SourceMissing,
                "not in the source",
                Some(&mut fold),
            )?;
            if src_kind == Kind::Dir {
                self.source_children(&at, Some(&mut fold))?;
            }
            self.finish_fold(&at, fold, &detail);
            return Ok(None);
        }
        if let Meta::Content { note } = verdict {
            let job = Job {
                tree_path: at.tree,
                source: at.src,
                content: node.content.unwrap_or_default(),
                size: node.meta.size,
                seen: Stamp::of(&meta),
                note,
            };
            (self.submit)(job)?;
            return Ok(None);
        }
        if tree_kind != Kind::Dir {
            self.record_verdict(&at, verdict, false);
            return Ok(None);
        }
        // Both directories: load the tree, list the source, descend. The directory
        // itself is counted once, as damaged, unreadable or by its verdict.
        let nodes = match self.load_subtree(&node) {
            Ok(n) => n,
            Err(why) => {
                self.record(&at, Class::Damaged, why);
                return Ok(None);
            }
        };
        if parent_dev.is_some_and(|d| d != meta.dev()) && nodes.is_empty() {
            // A mount point the backup did not enter (--one-file-system).
            self.record_verdict(&at, verdict, true);
            return Ok(None);
        }
        let entries = match list_dir(&at.src) {
            Ok(v) => v,
            Err(err) => {
                let class = Class::Unreadable;
                self.tally().count(class, 1);
                let mut fold = Fold {
                    class,
                    below: Counts::default(),
                };
                let detail = format!("cannot list: {err}");
                self.nodes_below(nodes, &at, class, &detail, Some(&mut fold))?;
                self.finish_fold(&at, fold, &detail);
                return Ok(None);
            }
        };
        self.record_verdict(&at, verdict, true);
        Ok(Some(Frame {
            dev: meta.dev(),
            at,
            nodes: nodes.into_iter().peekable(),
            entries: entries.into_iter().peekable(),
        }))
    }

    /// Counts an entry by its tree-level verdict (a directory only if directories
    /// are classified).
    fn record_verdict(&self, at: &Paths, verdict: Meta, dir: bool) {
        if dir && !self.selection.classifies_dirs() {
            return;
        }
        match verdict {
            Meta::Differs(detail) => self.record(at, self.differs_class(), detail),
            Meta::Same | Meta::Content { .. } => self.tally().count(Class::Match, 1),
        }
    }

    /// An entry only in the snapshot (or whose source cannot be compared): it and
    /// everything below it get `class`, except damage.
    fn tree_only(
        &self,
        node: &Node,
        at: &Paths,
        class: Class,
        detail: &str,
    ) -> Result<(), Cancelled> {
        if self.selection.skips_subtree(&at.tree) {
            return Ok(());
        }
        if !node.is_dir() {
            if !self.selection.includes_leaf(&at.tree) {
                return Ok(());
            }
            match self.blobs_of_if_file(node) {
                Err(why) => self.record(at, Class::Damaged, why),
                Ok(()) => self.record(at, class, detail),
            }
            return Ok(());
        }
        let nodes = match self.load_subtree(node) {
            Ok(n) => n,
            Err(why) => {
                self.record(at, Class::Damaged, why);
                return Ok(());
            }
        };
        if self.selection.classifies_dirs() {
            self.tally().count(class, 1);
            let mut fold = Fold {
                class,
                below: Counts::default(),
            };
            self.nodes_below(nodes, at, class, detail, Some(&mut fold))?;
            self.finish_fold(at, fold, detail);
        } else {
            self.nodes_below(nodes, at, class, detail, None)?;
        }
        Ok(())
    }

    fn blobs_of_if_file(&self, node: &Node) -> Result<(), String> {
        if node.is_file() {
            self.blobs_of(node).map(|_| ())
        } else {
            Ok(())
        }
    }

    /// A directory node's entries; `Err` describes the damage.
    fn load_subtree(&self, node: &Node) -> Result<Vec<Named>, String> {
        match node.subtree {
            Some(id) => self.trees.load(&id),
            None => Err("directory without a subtree".to_owned()),
        }
    }

    /// Walks the nodes of a one-sided subtree depth first, loading every tree.
    fn nodes_below(
        &self,
        nodes: Vec<Named>,
        at: &Paths,
        class: Class,
        detail: &str,
        mut fold: Option<&mut Fold>,
    ) -> Result<(), Cancelled> {
        let mut stack: Vec<(Paths, std::vec::IntoIter<Named>)> =
            vec![(at.clone(), nodes.into_iter())];
        while let Some((base, it)) = stack.last_mut() {
            let Some(n) = it.next() else {
                stack.pop();
                continue;
            };
            self.check_cancel()?;
            let here = base.join(&n.name);
            if self.selection.skips_subtree(&here.tree) {
                continue;
            }
            if !n.node.is_dir() {
                if !self.selection.includes_leaf(&here.tree) {
                    continue;
                }
                match self.blobs_of_if_file(&n.node) {
                    Err(why) => self.record(&here, Class::Damaged, why),
                    Ok(()) => self.fold_or_record(fold.as_deref_mut(), &here, class, detail),
                }
                continue;
            }
            // Loaded before counting: a directory is damaged or of `class`, once.
            match self.load_subtree(&n.node) {
                Ok(sub) => {
                    if self.selection.classifies_dirs() {
                        self.fold_or_record(fold.as_deref_mut(), &here, class, detail);
                    }
                    stack.push((here, sub.into_iter()));
                }
                Err(why) => self.record(&here, Class::Damaged, why),
            }
        }
        Ok(())
    }

    fn source_only_detail(&self, class: Class) -> &'static str {
        match class {
            Class::NotInBackup if self.immutable => "in the source the backup read, not in the snapshot",
            Class::NotInBackup => {
                "in the source since before the snapshot and not excluded, yet not in it: restic probably could not read it"
            }
            _ => "created after the snapshot",
        }
    }

    /// Class of a source-only entry, or None if restic's excludes explain it.
    fn source_class(&self, meta: &Metadata, at: &Paths) -> Option<Class> {
        if self.excludes.excludes(&at.orig) {
            self.tally().excluded += 1;
            return None;
        }
        let ctime = i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec());
        Some(source_only_class(ctime, self.snapshot_ns, self.immutable))
    }

    /// An entry only in the source.
    fn source_only(&self, meta: std::io::Result<Metadata>, at: &Paths) -> Result<(), Cancelled> {
        if self.selection.skips_subtree(&at.tree) {
            return Ok(());
        }
        let meta = match meta {
            Ok(m) => m,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => {
                if !self.excludes.excludes(&at.orig) {
                    self.record(at, Class::Unreadable, format!("lstat: {err}"));
                }
                return Ok(());
            }
        };
        let Some(class) = self.source_class(&meta, at) else {
            return Ok(());
        };
        let detail = self.source_only_detail(class);
        if !meta.is_dir() {
            if self.selection.includes_leaf(&at.tree) {
                self.record(at, class, detail);
            }
            return Ok(());
        }
        if self.selection.classifies_dirs() {
            self.tally().count(class, 1);
            let mut fold = Fold {
                class,
                below: Counts::default(),
            };
            self.source_children(at, Some(&mut fold))?;
            self.finish_fold(at, fold, detail);
        } else {
            self.source_children(at, None)?;
        }
        Ok(())
    }

    /// Walks a source-only directory (walkdir, sorted, no symlinks followed, same
    /// file system), classifying each entry by its own ctime.
    fn source_children(&self, at: &Paths, mut fold: Option<&mut Fold>) -> Result<(), Cancelled> {
        let mut it = walkdir::WalkDir::new(&at.src)
            .min_depth(1)
            .follow_links(false)
            .same_file_system(true)
            .sort_by_file_name()
            .into_iter();
        while let Some(item) = it.next() {
            self.check_cancel()?;
            let entry = match item {
                Ok(e) => e,
                Err(err) => {
                    let p = err.path().unwrap_or(&at.src).to_owned();
                    let rel = p.strip_prefix(&at.src).unwrap_or(Path::new("")).to_owned();
                    let here = Paths {
                        tree: at.tree.join(&rel),
                        src: p,
                        orig: at.orig.join(&rel),
                    };
                    self.record(&here, Class::Unreadable, err.to_string());
                    continue;
                }
            };
            let rel = entry.path().strip_prefix(&at.src).unwrap_or(Path::new(""));
            let here = Paths {
                tree: at.tree.join(rel),
                src: entry.path().to_owned(),
                orig: at.orig.join(rel),
            };
            let is_dir = entry.file_type().is_dir();
            if self.selection.skips_subtree(&here.tree) {
                if is_dir {
                    it.skip_current_dir();
                }
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(err) => {
                    self.record(&here, Class::Unreadable, err.to_string());
                    continue;
                }
            };
            let Some(class) = self.source_class(&meta, &here) else {
                if is_dir {
                    it.skip_current_dir();
                }
                continue;
            };
            if is_dir {
                if !self.selection.classifies_dirs() {
                    continue;
                }
            } else if !self.selection.includes_leaf(&here.tree) {
                continue;
            }
            let detail = self.source_only_detail(class);
            self.fold_or_record(fold.as_deref_mut(), &here, class, detail);
        }
        Ok(())
    }
}

trait IntoVec {
    fn into_vec(self) -> Vec<u8>;
}

impl IntoVec for OsString {
    fn into_vec(self) -> Vec<u8> {
        std::os::unix::ffi::OsStringExt::into_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn file(size: u64, mtime: i128, perm: u32) -> Facts {
        Facts {
            kind: Kind::File,
            size,
            mtime_ns: Some(mtime),
            perm: Some(perm),
            link: None,
        }
    }

    fn other(kind: Kind, perm: u32, link: Option<&str>) -> Facts {
        Facts {
            kind,
            size: 0,
            mtime_ns: Some(1),
            perm: Some(perm),
            link: link.map(|l| l.as_bytes().to_vec()),
        }
    }

    #[rstest]
    #[case::equal_file(file(10, 5, 0o644), file(10, 5, 0o644), Meta::Content { note: None })]
    #[case::mode_only(file(10, 5, 0o644), file(10, 5, 0o600), Meta::Content { note: Some("mode 0644 → 0600".into()) })]
    #[case::size(file(10, 5, 0o644), file(11, 5, 0o644), Meta::Differs("size 10 → 11".into()))]
    #[case::mtime(file(10, 1_000_000_000, 0o644), file(10, 2_500_000_000, 0o644),
        Meta::Differs("mtime 1970-01-01T00:00:01Z → 1970-01-01T00:00:02.500Z".into()))]
    #[case::size_and_mode(file(10, 5, 0o644), file(11, 5, 0o600), Meta::Differs("size 10 → 11; mode 0644 → 0600".into()))]
    #[case::type_change(file(10, 5, 0o644), other(Kind::Dir, 0o755, None), Meta::Differs("type file → dir".into()))]
    #[case::dir_same_ignores_mtime(other(Kind::Dir, 0o755, None), Facts { mtime_ns: Some(9), ..other(Kind::Dir, 0o755, None) }, Meta::Same)]
    #[case::dir_mode(other(Kind::Dir, 0o755, None), other(Kind::Dir, 0o700, None), Meta::Differs("mode 0755 → 0700".into()))]
    #[case::symlink_same(
        other(Kind::Symlink, 0o777, Some("a")),
        other(Kind::Symlink, 0o777, Some("a")),
        Meta::Same
    )]
    #[case::symlink_target(other(Kind::Symlink, 0o777, Some("a")), other(Kind::Symlink, 0o777, Some("b")), Meta::Differs("symlink target a → b".into()))]
    #[case::fifo(
        other(Kind::Fifo, 0o644, None),
        other(Kind::Fifo, 0o644, None),
        Meta::Same
    )]
    #[case::setuid(other(Kind::Dir, 0o4755, None), other(Kind::Dir, 0o755, None), Meta::Differs("mode 4755 → 0755".into()))]
    fn compare_meta_classifies_differences(
        #[case] snap: Facts,
        #[case] src: Facts,
        #[case] want: Meta,
    ) {
        assert_eq!(compare_meta(&snap, &src), want);
    }

    #[rstest]
    #[case(10, 20, false, Class::NotInBackup)]
    #[case(20, 20, false, Class::New)]
    #[case(30, 20, false, Class::New)]
    #[case(30, 20, true, Class::NotInBackup)]
    fn source_only_class_uses_ctime_against_the_snapshot(
        #[case] ctime: i128,
        #[case] snap: i128,
        #[case] immutable: bool,
        #[case] want: Class,
    ) {
        assert_eq!(source_only_class(ctime, snap, immutable), want);
    }

    #[rstest]
    #[case(0o644, 0o644)]
    #[case(0x8000_01ED, 0o755)] // dir bit + 0755
    #[case((1 << 23) | 0o755, 0o4755)]
    #[case((1 << 22) | (1 << 20) | 0o775, 0o3775)]
    fn go_perm_maps_go_file_mode_to_unix(#[case] go: u32, #[case] unix: u32) {
        assert_eq!(go_perm(go), unix);
    }

    #[rstest]
    #[case("/tmp/x/src", true, &["/tmp/x/src", "/x/src", "/src", "/"])]
    #[case("/tmp/x/src", false, &["/tmp/x/src", "/x/src", "/src"])]
    #[case("/", true, &["/"])]
    fn root_candidates_are_suffixes_longest_first(
        #[case] path: &str,
        #[case] single: bool,
        #[case] want: &[&str],
    ) {
        let got: Vec<PathBuf> = root_candidates(path, single);
        let want: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
        assert_eq!(got, want);
    }

    #[rstest]
    #[case("/src", "/tmp/x/src", &[], "/tmp/x/src", None)]
    #[case("/src", "/tmp/x/src", &[("/src", "/mnt/s")], "/mnt/s", Some(0))]
    #[case("/tank/data", "/tank/data", &[("/tank", "/snap/tank"), ("/tank/data", "/z")], "/z", Some(1))]
    #[case("/tank/data", "/tank/data", &[("/tank", "/snap/tank")], "/snap/tank/data", Some(0))]
    #[case("/src", "/tmp/x/src", &[("/tmp/x", "/m")], "/m/src", Some(0))]
    #[case("/srcx", "/tmp/srcx", &[("/src", "/m")], "/tmp/srcx", None)]
    fn map_root_takes_the_longest_whole_component_prefix(
        #[case] tree: &str,
        #[case] snap: &str,
        #[case] maps: &[(&str, &str)],
        #[case] want: &str,
        #[case] used: Option<usize>,
    ) {
        let maps: Vec<(String, PathBuf)> = maps
            .iter()
            .map(|(f, t)| ((*f).to_owned(), PathBuf::from(t)))
            .collect();
        assert_eq!(
            map_root(Path::new(tree), Path::new(snap), &maps),
            (PathBuf::from(want), used)
        );
    }

    /// A snapshot held in memory for the walker: trees by ID, blob lengths.
    #[derive(Default)]
    struct FakeTrees {
        trees: std::collections::HashMap<rustic_core::TreeId, Vec<Node>>,
        blobs: std::collections::HashMap<rustic_core::DataId, u32>,
        damaged: Vec<rustic_core::TreeId>,
    }

    impl Trees for FakeTrees {
        fn load(&self, id: &rustic_core::TreeId) -> Result<Vec<Named>, String> {
            if self.damaged.contains(id) {
                return Err(format!("tree {id} cannot be loaded"));
            }
            Ok(super::super::repo::named(self.trees[id].clone()))
        }
        fn blob_len(&self, id: &rustic_core::DataId) -> Option<u32> {
            self.blobs.get(id).copied()
        }
    }

    fn tree_id(n: u8) -> rustic_core::TreeId {
        rustic_core::Id::new([n; 32]).into()
    }

    /// Snapshot nodes mirroring what is on disk under `dir` now (recursively),
    /// minus the names in `drop`; returns the root tree's ID.
    fn mirror(
        fake: &mut FakeTrees,
        dir: &Path,
        next: &mut u8,
        drop: &[&[u8]],
    ) -> rustic_core::TreeId {
        use sha2::Digest;
        let mut nodes = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if drop.contains(&e.file_name().as_bytes()) {
                continue;
            }
            let m = e.metadata().unwrap();
            let mut meta = rustic_core::repofile::Metadata {
                mode: Some(m.mode() & 0o777),
                mtime: Some(
                    rustic_core::jiff::Timestamp::from_nanosecond(
                        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                    )
                    .unwrap(),
                ),
                ..Default::default()
            };
            let node = if m.is_dir() {
                let id = mirror(fake, &e.path(), next, drop);
                let mut n = Node::new_node(&e.file_name(), NodeType::Dir, meta);
                n.subtree = Some(id);
                n
            } else {
                let data = std::fs::read(e.path()).unwrap();
                meta.size = data.len() as u64;
                let id: rustic_core::DataId =
                    rustic_core::Id::new(sha2::Sha256::digest(&data).into()).into();
                fake.blobs.insert(id, data.len() as u32);
                let mut n = Node::new_node(&e.file_name(), NodeType::File, meta);
                n.content = Some(if data.is_empty() { vec![] } else { vec![id] });
                n
            };
            nodes.push(node);
        }
        *next += 1;
        let id = tree_id(*next);
        fake.trees.insert(id, nodes);
        id
    }

    /// Runs the walker over `root` (source dir `src`), hashing jobs inline.
    fn walk(fake: &FakeTrees, root: rustic_core::TreeId, src: &Path, snapshot_ns: i128) -> Tally {
        let tally = Mutex::new(Tally::new(100, false));
        let jobs = std::cell::RefCell::new(Vec::new());
        let submit = |j: Job| {
            jobs.borrow_mut().push(j);
            Ok(())
        };
        let (sel, exc) = (Selection::default(), ResticExcludes::default());
        let w = Walk {
            trees: fake,
            selection: &sel,
            excludes: &exc,
            snapshot_ns,
            immutable: false,
            cancel: &CancellationToken::new(),
            tally: &tally,
            submit: &submit,
        };
        let mut top = Node::new_node(OsStr::new("src"), NodeType::Dir, Default::default());
        top.subtree = Some(root);
        top.meta.mode = Some(std::fs::metadata(src).unwrap().mode() & 0o777);
        let named = Named {
            name: "src".into(),
            node: top,
        };
        w.root(named, "/src".into(), src.to_owned(), src.to_owned())
            .unwrap();
        let mut t = tally.into_inner().unwrap();
        for j in jobs.into_inner() {
            let v =
                super::super::content::check_job(fake, &j, false, &mut [0; 64], &|| false).unwrap();
            t.record(j.tree_path, j.source, v.class, v.detail);
        }
        t
    }

    fn listed(t: Tally) -> Vec<(String, Class)> {
        t.into_entries()
            .0
            .into_iter()
            .map(|e| (e.display_path(), e.class))
            .collect()
    }

    use std::ffi::OsStr;

    fn touch(dir: &Path, name: &[u8], data: &[u8]) {
        let p = dir.join(OsStr::from_bytes(name));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    #[rstest]
    // Source-only entries older than the snapshot were missed; newer ones are new.
    #[case::missed(i128::MAX, Class::NotInBackup)]
    #[case::created_later(0, Class::New)]
    fn walk_merges_by_name_bytes_and_classifies_one_sided_entries(
        #[case] snapshot_ns: i128,
        #[case] source_only: Class,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path();
        // Names around the byte order traps: uppercase before lowercase, a dot, a
        // space, non-ASCII UTF-8 and bytes that are not UTF-8.
        for n in [
            &b"B"[..],
            b"a",
            b"a b",
            b"a.b",
            b"ab",
            b"\xc3\xa9",
            b"\xff\xfe",
            b"z/inner",
        ] {
            touch(src, n, n);
        }
        let mut fake = FakeTrees::default();
        let mut next = 0;
        let root = mirror(&mut fake, src, &mut next, &[]);
        // Only in the snapshot: a file and a directory with two entries.
        let mut gone = Node::new_node(OsStr::new("a-gone"), NodeType::File, Default::default());
        gone.content = Some(vec![]);
        let sub = tree_id(200);
        fake.trees.insert(
            sub,
            vec![gone.clone(), {
                let mut g = gone.clone();
                g.name = "b-gone".into();
                g
            }],
        );
        let mut gone_dir =
            Node::new_node(OsStr::new("\u{e9}-dir"), NodeType::Dir, Default::default());
        gone_dir.subtree = Some(sub);
        fake.trees
            .get_mut(&root)
            .unwrap()
            .extend([gone.clone(), gone_dir]);
        // Only in the source.
        touch(src, b"a-new", b"n");
        touch(src, b"\xff\xfe-new/x", b"x");
        let t = walk(&fake, root, src, snapshot_ns);
        assert_eq!(t.counts.get(Class::Match), 10, "{:?}", t);
        assert_eq!(t.counts.get(Class::SourceMissing), 4);
        assert_eq!(t.counts.get(source_only), 3);
        assert_eq!(listed(t), {
            let mut want = vec![
                ("/src/a-gone".to_owned(), Class::SourceMissing),
                ("/src/a-new".to_owned(), source_only),
                ("/src/\u{e9}-dir".to_owned(), Class::SourceMissing),
                ("/src/\u{fffd}\u{fffd}-new".to_owned(), source_only),
            ];
            if source_only == Class::NotInBackup {
                // Failures are listed first.
                want = vec![
                    want[1].clone(),
                    want[3].clone(),
                    want[0].clone(),
                    want[2].clone(),
                ];
            }
            want
        });
    }

    #[test]
    fn walk_type_change_lists_the_entry_once_and_summarises_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path();
        touch(src, b"d/one", b"1");
        touch(src, b"d/two", b"2");
        touch(src, b"f", b"f");
        let mut fake = FakeTrees::default();
        let mut next = 0;
        let root = mirror(&mut fake, src, &mut next, &[]);
        std::fs::remove_dir_all(src.join("d")).unwrap();
        std::fs::write(src.join("d"), b"now a file").unwrap();
        let t = walk(&fake, root, src, 0);
        let (entries, _) = t.into_entries();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].display_path(), "/src/d");
        assert_eq!(entries[0].class, Class::Changed);
        assert_eq!(
            entries[0].detail,
            "type dir → file; 2 entries below (2 source_missing)"
        );
    }

    #[test]
    fn walk_damaged_subtree_is_damage_and_the_rest_is_still_compared() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path();
        touch(src, b"d/one", b"1");
        touch(src, b"e/two", b"2");
        let mut fake = FakeTrees::default();
        let mut next = 0;
        let root = mirror(&mut fake, src, &mut next, &[]);
        let d = fake.trees[&root]
            .iter()
            .find(|n| n.name == "d")
            .and_then(|n| n.subtree)
            .unwrap();
        fake.damaged.push(d);
        fake.blobs.clear();
        let t = walk(&fake, root, src, 0);
        // Each entry counted once: /src and /src/e match, /src/d and e/two damaged.
        assert_eq!(
            t.counts.nonzero().collect::<Vec<_>>(),
            vec![(Class::Match, 2), (Class::Damaged, 2)]
        );
        // e/two's blob is gone from the index too: per-file damage, not a crash.
        assert_eq!(
            listed(t),
            vec![
                ("/src/d".to_owned(), Class::Damaged),
                ("/src/e/two".to_owned(), Class::Damaged),
            ]
        );
    }

    #[test]
    fn walk_deleted_directory_with_damage_below_counts_each_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path();
        touch(src, b"d/e/f", b"f");
        touch(src, b"d/g", b"g");
        let mut fake = FakeTrees::default();
        let mut next = 0;
        let root = mirror(&mut fake, src, &mut next, &[]);
        let d = fake.trees[&root][0].subtree.unwrap();
        let e = fake.trees[&d]
            .iter()
            .find(|n| n.name == "e")
            .and_then(|n| n.subtree)
            .unwrap();
        fake.damaged.push(e);
        std::fs::remove_dir_all(src.join("d")).unwrap();
        let t = walk(&fake, root, src, 0);
        assert_eq!(
            t.counts.nonzero().collect::<Vec<_>>(),
            vec![
                (Class::Match, 1),
                (Class::SourceMissing, 2),
                (Class::Damaged, 1)
            ]
        );
        let (entries, _) = t.into_entries();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.display_path(), e.class, e.detail.clone()))
            .collect();
        assert_eq!(got[0].0, "/src/d/e");
        assert_eq!(got[0].1, Class::Damaged);
        assert_eq!(
            got[1],
            (
                "/src/d".to_owned(),
                Class::SourceMissing,
                "not in the source; 1 entry below (1 source_missing)".to_owned()
            )
        );
    }
}
