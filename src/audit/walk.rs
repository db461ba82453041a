//! Tree level: the snapshot's tree and the source, both in name order, merged
//! directory by directory.
//!
//! Memory is bounded by the directories on the current path, not by the snapshot:
//! only their listings are held (one decoded tree blob and one sorted `readdir`
//! each), so it is the depth times the width of the widest directories (about
//! 1.2 KiB per entry, BENCHMARKS.md).
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
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustic_core::repofile::{Node, NodeType};
use tokio_util::sync::CancellationToken;

use super::content::{Job, Listed, Stamp};
pub(crate) use super::entry::*;
use super::filter::{ResticExcludes, Selection};
use super::outcome::{Class, Collector, Counts};
use super::repo::{resolve_blobs, Blob, Named, Trees};

/// The walk was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cancelled;

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
    pub tally: &'a Mutex<Collector>,
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
    /// `None`: a regular file by the directory listing, not `lstat`ed yet (a file
    /// also in the snapshot is `fstat`ed by the hashing worker instead).
    meta: Option<std::io::Result<Metadata>>,
}

impl SrcEntry {
    /// The entry's `lstat`, taken now if the listing did not.
    fn stat(self, path: &Path) -> std::io::Result<Metadata> {
        self.meta.unwrap_or_else(|| std::fs::symlink_metadata(path))
    }
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
        let regular = e.file_type().is_ok_and(|t| t.is_file());
        v.push(SrcEntry {
            name: e.file_name(),
            meta: (!regular).then(|| e.metadata()),
        });
    }
    v.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(v)
}

impl Walk<'_> {
    fn tally(&self) -> std::sync::MutexGuard<'_, Collector> {
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
        let meta = Some(std::fs::symlink_metadata(&at.src));
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
                    let meta = e.stat(&at.src);
                    self.source_only(meta, &at)?;
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
        if tree_kind == Kind::File && e.meta.is_none() {
            self.regular_on_both_sides(node, at)?;
            return Ok(None);
        }
        let Some(meta) = self.stat_source(&node, e, &at)? else {
            return Ok(None);
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
                self.damaged_on_both_sides(&at, why, src_kind)?;
                return Ok(None);
            }
        }
        if tree_kind != src_kind {
            if let Meta::Differs(detail) = verdict {
                self.type_changed(&node, &at, tree_kind, src_kind, &detail)?;
            }
            return Ok(None);
        }
        if let Meta::Content { note } = verdict {
            let job = Job {
                tree_path: at.tree,
                source: at.src,
                content: node.content.unwrap_or_default(),
                size: node.meta.size,
                seen: Listed::Stat(Stamp::of(&meta)),
                note,
            };
            (self.submit)(job)?;
            return Ok(None);
        }
        if tree_kind != Kind::Dir {
            self.record_verdict(&at, verdict, false);
            return Ok(None);
        }
        self.dirs_on_both_sides(&node, at, verdict, &meta, parent_dev)
    }

    /// A file on both sides, regular by the listing: the worker compares size,
    /// mtime and mode from the open descriptor, then the content (damage in the
    /// snapshot first).
    fn regular_on_both_sides(&self, node: Node, at: Paths) -> Result<(), Cancelled> {
        if self.selection.includes_leaf(&at.tree) {
            let snap = Facts::of_node(&node);
            (self.submit)(Job {
                tree_path: at.tree,
                source: at.src,
                content: node.content.unwrap_or_default(),
                size: node.meta.size,
                seen: Listed::Regular(snap),
                note: None,
            })?;
        }
        Ok(())
    }

    /// The source entry's metadata; `None` when it went away or cannot be read
    /// (then the snapshot's side is recorded as tree-only).
    fn stat_source(
        &self,
        node: &Node,
        e: SrcEntry,
        at: &Paths,
    ) -> Result<Option<Metadata>, Cancelled> {
        match e.stat(&at.src) {
            Ok(m) => Ok(Some(m)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.tree_only(
                    node,
                    at,
                    Class::SourceMissing,
                    "deleted while the audit ran",
                )?;
                Ok(None)
            }
            Err(err) => {
                self.tree_only(node, at, Class::Unreadable, &format!("lstat: {err}"))?;
                Ok(None)
            }
        }
    }

    /// Damage in the snapshot at an entry on both sides: it is `damaged`, and what
    /// lies below a source directory there is source-only.
    fn damaged_on_both_sides(
        &self,
        at: &Paths,
        why: String,
        src_kind: Kind,
    ) -> Result<(), Cancelled> {
        self.record(at, Class::Damaged, why);
        if src_kind == Kind::Dir {
            self.source_children(at, None)?;
        }
        Ok(())
    }

    /// A type change: whatever hangs below either side is one-sided, folded into
    /// the entry's own record.
    fn type_changed(
        &self,
        node: &Node,
        at: &Paths,
        tree_kind: Kind,
        src_kind: Kind,
        detail: &str,
    ) -> Result<(), Cancelled> {
        let below = if tree_kind == Kind::Dir {
            match self.load_subtree(node) {
                Ok(n) => n,
                Err(why) => return self.damaged_on_both_sides(at, why, src_kind),
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
            at,
            Class::SourceMissing,
            "not in the source",
            Some(&mut fold),
        )?;
        if src_kind == Kind::Dir {
            self.source_children(at, Some(&mut fold))?;
        }
        self.finish_fold(at, fold, detail);
        Ok(())
    }

    /// Both directories: load the tree, list the source, descend. The directory
    /// itself is counted once, as damaged, unreadable or by its verdict.
    fn dirs_on_both_sides(
        &self,
        node: &Node,
        at: Paths,
        verdict: Meta,
        meta: &Metadata,
        parent_dev: Option<u64>,
    ) -> Result<Option<Frame>, Cancelled> {
        let nodes = match self.load_subtree(node) {
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
#[path = "walk_tests.rs"]
mod tests;
