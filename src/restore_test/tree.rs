//! Per-directory statistics of a snapshot, gathered while `restic ls` streams
//! (pure; no I/O): for each directory the nodes listed in it, and the nodes, files,
//! bytes and disk space below it. The planner prices restore calls with them.
//! Memory is bounded by the number of directories tracked, never by files.

use std::collections::HashMap;

/// The most directories `Tree` keeps statistics for: beyond it, a directory's
/// nodes count towards its nearest tracked ancestor (memory stays bounded on
/// snapshots with millions of directories; plans get coarser, never wrong).
pub const MAX_TRACKED_DIRS: usize = 200_000;

/// What lies below one directory of the snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Direct children (what restic matches when it lists the directory).
    pub entries: u64,
    /// Every node below, at any depth.
    pub nodes: u64,
    /// Regular files below, at any depth.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// What restoring everything below takes on disk: file sizes rounded up to
    /// `BLOCK`, one block per directory.
    pub disk: u64,
}

/// The allocation unit assumed for the space a restore needs (ext4, XFS, tmpfs).
pub const BLOCK: u64 = 4096;

/// A file's size rounded up to whole blocks.
pub fn on_disk(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

impl DirStats {
    fn absorb(&mut self, child: &DirStats) {
        self.nodes += child.nodes;
        self.files += child.files;
        self.bytes += child.bytes;
        self.disk += child.disk;
    }
}

/// Per-directory statistics of a snapshot, gathered while `restic ls` streams
/// (depth first): a stack of open directories, folded into the map when the
/// stream leaves them. The root (`""`) holds the whole snapshot.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    dirs: HashMap<String, DirStats>,
    open: Vec<(String, DirStats)>,
    root: DirStats,
}

/// The directory holding a tree path (`""` for a top-level node).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn is_below(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

impl Tree {
    /// Records one node of `restic ls` (`size` counts for regular files only).
    pub fn record(&mut self, path: &str, kind: &str, size: u64) {
        let dir = parent(path);
        // Leave the directories the stream is done with.
        while let Some((top, _)) = self.open.last() {
            if top == dir || is_below(dir, top) {
                break;
            }
            self.close_top();
        }
        // A node whose directories were not listed first (out of order): open them.
        let top = self.open.last().map_or("", |(p, _)| p.as_str()).to_owned();
        if top != dir {
            let mut missing: Vec<&str> = Vec::new();
            let mut d = dir;
            while d != top && !d.is_empty() {
                missing.push(d);
                d = parent(d);
            }
            for m in missing.into_iter().rev() {
                self.add_node(0, "dir");
                self.open.push((m.to_owned(), DirStats::default()));
            }
        }
        self.add_node(size, kind);
        if kind == "dir" {
            self.open.push((path.to_owned(), DirStats::default()));
        }
    }

    fn add_node(&mut self, size: u64, kind: &str) {
        let s = match self.open.last_mut() {
            Some((_, s)) => s,
            None => &mut self.root,
        };
        s.entries += 1;
        s.nodes += 1;
        match kind {
            "file" => {
                s.files += 1;
                s.bytes += size;
                s.disk += on_disk(size);
            }
            "dir" => s.disk += BLOCK,
            _ => {}
        }
    }

    fn close_top(&mut self) {
        let Some((path, stats)) = self.open.pop() else {
            return;
        };
        match self.open.last_mut() {
            Some((_, p)) => p.absorb(&stats),
            None => self.root.absorb(&stats),
        }
        let tracked = self.dirs.len() < MAX_TRACKED_DIRS || self.dirs.contains_key(&path);
        if tracked {
            let e = self.dirs.entry(path).or_default();
            e.entries += stats.entries;
            e.absorb(&stats);
        }
    }

    /// Folds the directories still open (call once the stream ended).
    pub fn finish(&mut self) {
        while !self.open.is_empty() {
            self.close_top();
        }
    }

    /// The whole snapshot.
    pub fn total(&self) -> DirStats {
        self.root
    }

    /// A tracked directory's statistics (`""` is the root).
    pub fn get(&self, dir: &str) -> Option<DirStats> {
        if dir.is_empty() {
            Some(self.root)
        } else {
            self.dirs.get(dir).copied()
        }
    }

    /// The nearest tracked directory holding `path` (itself, if it is one).
    pub(super) fn home<'p>(&self, path: &'p str) -> &'p str {
        let mut d = path;
        while !d.is_empty() && !self.dirs.contains_key(d) {
            d = parent(d);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_counts_entries_nodes_files_bytes_and_disk_per_directory() {
        let mut t = Tree::default();
        for (p, k, s) in [
            ("/a", "dir", 0),
            ("/a/b", "dir", 0),
            ("/a/b/f1", "file", 10),
            ("/a/b/f2", "file", 5000),
            ("/a/l", "symlink", 0),
            ("/c", "dir", 0),
            ("/c/f3", "file", 1),
        ] {
            t.record(p, k, s);
        }
        t.finish();
        let ab = t.get("/a/b").expect("/a/b");
        assert_eq!((ab.entries, ab.nodes, ab.files, ab.bytes), (2, 2, 2, 5010));
        assert_eq!(ab.disk, 4096 + 8192);
        let a = t.get("/a").expect("/a");
        assert_eq!((a.entries, a.nodes, a.files, a.bytes), (2, 4, 2, 5010));
        let root = t.total();
        assert_eq!(
            (root.entries, root.nodes, root.files, root.bytes),
            (2, 7, 3, 5011)
        );
    }

    #[test]
    fn tree_opens_directories_that_the_stream_did_not_list_first() {
        let mut t = Tree::default();
        t.record("/x/y/f", "file", 1);
        t.record("/z", "file", 2);
        t.finish();
        assert_eq!(t.get("/x/y").map(|s| s.files), Some(1));
        assert_eq!(t.get("/x").map(|s| s.nodes), Some(2));
        assert_eq!(t.total().files, 2);
    }
}
