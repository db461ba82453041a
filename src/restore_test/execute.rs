//! Restores the sample with restic into a private temporary directory (mode 0700)
//! under `test-dir`, after checking that the filesystem has room. The directory is a
//! `TempDir`: it is removed when dropped, on every exit path (pass, fail, error,
//! timeout, SIGINT/SIGTERM), unless the caller keeps it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::restic::{self, Session};

/// Free space required beyond the sample's size.
const MARGIN: f64 = 1.1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("test-dir {} does not exist; create it or set `test-dir`", dir.display())]
    TestDirMissing { dir: PathBuf },
    #[error("test-dir {} has {free} bytes free, the sample needs {need} (plus 10%); free space or choose another `test-dir`", dir.display())]
    NoSpace { dir: PathBuf, free: u64, need: u64 },
    #[error("cannot create a private directory in test-dir {}: {source}", dir.display())]
    Create {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the private restore directory after checking free space for `need` bytes.
///
/// # Errors
/// `test-dir` missing, too small, or not writable.
pub fn prepare(test_dir: &Path, need: u64) -> Result<tempfile::TempDir, Error> {
    if !test_dir.is_dir() {
        return Err(Error::TestDirMissing {
            dir: test_dir.to_owned(),
        });
    }
    if let Ok(st) = nix::sys::statvfs::statvfs(test_dir) {
        let free = st.blocks_available().saturating_mul(st.fragment_size());
        let need_with_margin = (need as f64 * MARGIN) as u64;
        if free < need_with_margin {
            return Err(Error::NoSpace {
                dir: test_dir.to_owned(),
                free,
                need,
            });
        }
    }
    // tempfile creates the directory with mode 0700.
    tempfile::Builder::new()
        .prefix("restic-verify-restore-")
        .tempdir_in(test_dir)
        .map_err(|source| Error::Create {
            dir: test_dir.to_owned(),
            source,
        })
}

/// Where restic puts a tree path under the target.
pub fn restored_path(target: &Path, tree_path: &str) -> PathBuf {
    target.join(tree_path.trim_start_matches('/'))
}

/// How many nodes lie below each directory of the top `COUNT_DEPTH` levels of the
/// snapshot, gathered while `restic ls` streams: enough to plan restore calls, and
/// bounded by the number of such directories, not by the number of files.
#[derive(Debug, Clone, Default)]
pub struct TreeCounts {
    below: HashMap<String, u64>,
    total: u64,
}

/// Deepest directory level `TreeCounts` tracks.
const COUNT_DEPTH: usize = 3;
/// The fixed cost of one `restic restore` call (open the repository, load the index,
/// walk to the start), in units of "one node matched against one include pattern".
/// Measured on a 200,000-file snapshot: about 1.2 s per call and 27 ms per pattern per
/// call, i.e. 1.35e-7 s per node-pattern (BENCHMARKS.md).
const CALL_COST: u64 = 9_000_000;
/// Up to this many paths go into one call.
const SINGLE_CALL_UP_TO: usize = 200;
/// Larger samples go in sorted batches of this many `--include`s.
const SORTED_BATCH: usize = 200;

impl TreeCounts {
    /// Records one node of `restic ls`.
    pub fn record(&mut self, path: &str) {
        self.total += 1;
        // Every ancestor directory (up to COUNT_DEPTH) walks past this node.
        for (i, _) in path.match_indices('/').skip(1).take(COUNT_DEPTH) {
            *self.below.entry(path[..i].to_owned()).or_default() += 1;
        }
    }

    fn nodes_below(&self, dir: &str) -> u64 {
        if dir.is_empty() {
            self.total
        } else {
            self.below.get(dir).copied().unwrap_or(self.total)
        }
    }
}

/// The fixed cost of a restore call: `RESTIC_VERIFY_RESTORE_CALL_COST` overrides the
/// measured default, for a repository far slower or faster to open than local disk.
fn call_cost() -> u64 {
    std::env::var("RESTIC_VERIFY_RESTORE_CALL_COST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CALL_COST)
}

/// One `restic restore` call: the subtree it starts at (`<id>:<root>`; "" is the whole
/// snapshot) and the tree paths it restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreCall {
    pub root: String,
    pub paths: Vec<String>,
}

/// The ancestor directory of `path` at `depth` (or its parent, if shallower).
fn ancestor(path: &str, depth: usize) -> &str {
    if depth == 0 {
        return "";
    }
    let parent = path.rfind('/').map_or("", |i| &path[..i]);
    match parent.match_indices('/').nth(depth) {
        Some((i, _)) => &parent[..i],
        None => parent,
    }
}

/// Plans the restore calls: restic matches every node it walks against every include
/// pattern, so one call with thousands of patterns over a large snapshot is slow.
/// Where restic can start at a subtree (`<id>:<subfolder>`, restic ≥ 0.17), the
/// paths are grouped by the ancestor depth that minimises calls × fixed cost + nodes
/// walked × patterns; otherwise the whole snapshot, in sorted batches.
pub fn plan_calls(
    paths: &[String],
    counts: &TreeCounts,
    subtrees: bool,
    call_cost: u64,
) -> Vec<RestoreCall> {
    let depths: &[usize] = if subtrees { &[0, 1, 2, 3] } else { &[0] };
    let mut best: Option<(u64, Vec<RestoreCall>)> = None;
    for &d in depths {
        let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for p in paths {
            groups.entry(ancestor(p, d)).or_default().push(p.clone());
        }
        let mut cost = 0u64;
        let mut calls = Vec::new();
        for (root, mut members) in groups {
            let nodes = counts.nodes_below(root);
            // Sorted batches share subtrees, and restic does not descend into a
            // directory no pattern of the call can match: on a 200,000-file snapshot
            // (restic 0.14) sorted batches of 200 restored 1,000 files in 14.8 s and
            // 5,000 in 42.6 s, against 30.2 s and > 60 s for one call with every
            // include, and 26.7 s / > 60 s for sorted batches of 50 (BENCHMARKS.md).
            members.sort();
            let batch = if members.len() <= SINGLE_CALL_UP_TO {
                SINGLE_CALL_UP_TO
            } else {
                SORTED_BATCH
            };
            for chunk in members.chunks(batch) {
                cost = cost
                    .saturating_add(call_cost)
                    .saturating_add(nodes.saturating_mul(chunk.len() as u64));
                calls.push(RestoreCall {
                    root: root.to_owned(),
                    paths: chunk.to_vec(),
                });
            }
        }
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            best = Some((cost, calls));
        }
    }
    best.map(|(_, c)| c).unwrap_or_default()
}

/// Restores `paths` under `target`; returns restic's per-file errors by tree path.
///
/// # Errors
/// restic could not restore at all.
pub async fn restore(
    session: &Session<'_>,
    snapshot_id: &str,
    target: &Path,
    paths: &[String],
    counts: &TreeCounts,
) -> Result<HashMap<String, String>, restic::Error> {
    let mut errors = HashMap::new();
    let (plain, special): (Vec<String>, Vec<String>) = paths
        .iter()
        .cloned()
        .partition(|p| restic::args::includable(p));
    let subtrees = session.restic.version.has_subfolder_restore();
    for call in plan_calls(&plain, counts, subtrees, call_cost()) {
        // `<id>:<root>` restores the subtree's content into the target itself, so the
        // target is moved down to keep every file at `target/<tree path>`.
        let (snapshot, call_target) = if call.root.is_empty() {
            (snapshot_id.to_owned(), target.to_owned())
        } else {
            (
                format!("{snapshot_id}:{}", call.root),
                restored_path(target, &call.root),
            )
        };
        let includes: Vec<String> = call
            .paths
            .iter()
            .map(|p| p[call.root.len()..].to_owned())
            .collect();
        let out = session.restore(&snapshot, &call_target, &includes).await?;
        errors.extend(
            out.errors
                .into_iter()
                .map(|(p, why)| (format!("{}{p}", call.root), why)),
        );
    }
    for path in &special {
        let dest = restored_path(target, path);
        if let Some(parent) = dest.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                errors.insert(
                    path.clone(),
                    format!("cannot create {}: {e}", parent.display()),
                );
                continue;
            }
        }
        let file = match std::fs::File::create(&dest) {
            Ok(f) => f,
            Err(e) => {
                errors.insert(
                    path.clone(),
                    format!("cannot create {}: {e}", dest.display()),
                );
                continue;
            }
        };
        match session.dump(snapshot_id, path, file).await {
            Ok(()) => {}
            Err(e @ (restic::Error::Interrupted { .. } | restic::Error::TimedOut { .. })) => {
                return Err(e)
            }
            Err(e) => {
                errors.insert(path.clone(), e.to_string());
            }
        }
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(paths: &[&str]) -> TreeCounts {
        let mut c = TreeCounts::default();
        for p in paths {
            c.record(p);
        }
        c
    }

    #[test]
    fn ancestor_cuts_at_depth_or_parent() {
        assert_eq!(ancestor("/a/b/c/f.txt", 0), "");
        assert_eq!(ancestor("/a/b/c/f.txt", 1), "/a");
        assert_eq!(ancestor("/a/b/c/f.txt", 2), "/a/b");
        assert_eq!(ancestor("/a/f.txt", 3), "/a");
    }

    #[test]
    fn tree_counts_count_nodes_below_each_top_directory() {
        let c = counts(&["/a", "/a/b", "/a/b/f1", "/a/b/f2", "/c", "/c/f3"]);
        assert_eq!(c.nodes_below("/a"), 3);
        assert_eq!(c.nodes_below("/a/b"), 2);
        assert_eq!(c.nodes_below("/c"), 1);
        assert_eq!(c.nodes_below(""), 6);
    }

    #[test]
    fn plan_calls_without_subtrees_is_sorted_batches_or_one_small_call() {
        let paths: Vec<String> = (0..420).map(|i| format!("/d{}/f{i:03}", i % 7)).collect();
        let calls = plan_calls(&paths, &TreeCounts::default(), false, CALL_COST);
        assert_eq!(
            calls.iter().map(|c| c.paths.len()).collect::<Vec<_>>(),
            [200, 200, 20]
        );
        assert!(calls.iter().all(|c| c.root.is_empty()));
        assert!(calls[0].paths.windows(2).all(|w| w[0] <= w[1]), "sorted");
        assert_eq!(calls[0].paths[0], "/d0/f000");
        let small = plan_calls(&paths[..200], &TreeCounts::default(), false, CALL_COST);
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn plan_calls_groups_by_subtree_when_the_snapshot_is_large() {
        // 20 top directories of 10,000 nodes each; 1,000 sampled files.
        let mut c = TreeCounts::default();
        for d in 0..20 {
            for f in 0..10_000 {
                c.record(&format!("/top{d}/f{f}"));
            }
        }
        let paths: Vec<String> = (0..1000).map(|i| format!("/top{}/f{i}", i % 20)).collect();
        let calls = plan_calls(&paths, &c, true, CALL_COST);
        let roots: std::collections::BTreeSet<&str> =
            calls.iter().map(|c| c.root.as_str()).collect();
        assert_eq!(roots.len(), 20, "calls start at each top directory");
        assert!(calls.iter().all(|c| c.root.starts_with("/top")
            && c.paths
                .iter()
                .all(|p| p.starts_with(&format!("{}/", c.root)))));
        let mut all: Vec<String> = calls.into_iter().flat_map(|c| c.paths).collect();
        all.sort();
        let mut want = paths.clone();
        want.sort();
        assert_eq!(all, want, "every path exactly once");
    }

    #[test]
    fn plan_calls_keeps_one_call_for_a_small_sample() {
        let mut c = TreeCounts::default();
        for f in 0..200_000 {
            c.record(&format!("/top{}/f{f}", f % 20));
        }
        let paths: Vec<String> = (0..10).map(|i| format!("/top{i}/f{i}")).collect();
        assert_eq!(plan_calls(&paths, &c, true, CALL_COST).len(), 1);
    }
}
