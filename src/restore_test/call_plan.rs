//! Pure planning of the `restic restore` calls of a restore test: which calls, each
//! starting where (`<id>:<subfolder>` on restic ≥ 0.17) and with which `--include`s,
//! chosen by a measured cost model. No I/O and no clock: the caller streams
//! `restic ls` into `Tree::record` and hands the sample in.
//!
//! restic matches every node it walks against every include pattern of a call, and
//! it walks only the directories on the way to a pattern plus everything below a
//! pattern that names a directory. So a call costs a fixed part (open the repository,
//! load the index), plus nodes walked × patterns, plus what it writes (files and
//! bytes). A directory include costs one pattern however many files it holds: when a
//! sample covers a large share of a subtree, restoring the subtree whole and
//! comparing only the sampled files is cheaper than thousands of file includes.

use std::collections::{BTreeMap, HashMap, HashSet};

pub use super::tree::{on_disk, parent, DirStats, Tree, BLOCK};

/// At most this many `--include`s go into one call (sorted, so a call's patterns
/// share subtrees and restic prunes the rest of the tree).
pub const BATCH: usize = 800;
/// The batch sizes the model chooses from: fewer, larger calls save the fixed cost
/// of a call (about a second) and pay nodes walked × patterns instead. A sparse
/// 5,000-file sample of the benchmark snapshot prices 400 cheapest, 1,000 files
/// 200 (measured constants, section 6 of BENCHMARKS.md's restore drills).
const BATCH_SIZES: [usize; 4] = [100, 200, 400, BATCH];
/// restore calls run at once (one per core: most of a call is opening the
/// repository and loading the index on one core). The model's seconds of a plan
/// are its calls' seconds spread over this many lanes.
pub const LANES: usize = 2;

/// What two calls running at once cost beyond the slower one, as a share of the
/// faster one: restic uses more than one thread, so two calls on two cores do not
/// run fully side by side (measured, four sorted batches of 200: 0.18 17.1 s one
/// after the other, 11.8 s two at a time, i.e. about 0.3 of the faster one).
const CONTENTION: f64 = 0.3;

/// Wall seconds of calls costing `each` run `LANES` at a time, in lockstep: each
/// pair ends with its slower call plus `CONTENTION` of the faster one.
fn wall(each: &[f64]) -> f64 {
    each.chunks(LANES)
        .map(|g| {
            let slow = g.iter().copied().fold(0.0, f64::max);
            let rest: f64 = g.iter().sum::<f64>() - slow;
            slow + CONTENTION * rest
        })
        .sum()
}

/// Seconds a `restic restore` call costs, by what it does. Measured on the 200,004-file
/// benchmark snapshot (BENCHMARKS.md, "Cost model"): per restic generation, because
/// 0.17+ restores small files faster and opens the repository differently.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// Fixed: start, open the repository, load the index, walk to the start.
    pub call: f64,
    /// One node walked, matched against one include pattern.
    pub node_pattern: f64,
    /// One node restored (create, write, set metadata).
    pub file: f64,
    /// One byte restored.
    pub byte: f64,
}

impl CostModel {
    /// restic 0.14–0.16 (measured with 0.14.0, BENCHMARKS.md section 6: one include
    /// 0.97 s; the four 512 MiB files 10.5 s; every other file 32.1 s; 1,000
    /// random includes walking 146,652 nodes 34.2 s; all with `--verify`).
    pub const RESTIC_014: CostModel = CostModel {
        call: 0.97,
        node_pattern: 2.25e-7,
        file: 1.34e-4,
        byte: 4.42e-9,
    };
    /// restic ≥ 0.17 (measured with 0.18.0, the same calls: 1.05 s, 7.7 s, 33.1 s,
    /// 31.6 s).
    pub const RESTIC_017: CostModel = CostModel {
        call: 1.05,
        node_pattern: 2.07e-7,
        file: 1.45e-4,
        byte: 3.10e-9,
    };

    /// Seconds of one call that walks `walked` nodes against `patterns` includes and
    /// restores `files` nodes holding `bytes`.
    pub fn call_seconds(&self, walked: u64, patterns: u64, files: u64, bytes: u64) -> f64 {
        self.call
            + self.node_pattern * walked as f64 * patterns as f64
            + self.file * files as f64
            + self.byte * bytes as f64
    }
}

/// What a call restores: one sampled file, or a directory whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    File(String, u64),
    Dir(String),
}

impl Entry {
    pub fn path(&self) -> &str {
        match self {
            Entry::File(p, _) | Entry::Dir(p) => p,
        }
    }
}

/// One `restic restore` call: the subtree it starts at (`<id>:<root>`; `""` is the
/// whole snapshot) and the tree paths it includes (none: everything below `root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreCall {
    pub root: String,
    pub includes: Vec<String>,
}

/// The calls chosen, what the model says they cost, and what they write.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub calls: Vec<RestoreCall>,
    pub seconds: f64,
    /// Files written (sampled ones and the rest of whole directories).
    pub files: u64,
    pub bytes: u64,
    /// What they take on disk (see `DirStats::disk`).
    pub disk: u64,
    /// Nodes written (files, directories, links): inodes.
    pub nodes: u64,
    /// Directories restored whole.
    pub whole_dirs: usize,
}

/// The directory `entry` lives in (a directory: itself) cut at `depth` components,
/// or that directory if it is shallower.
fn root_at(entry: &Entry, depth: usize) -> &str {
    let dir = match entry {
        Entry::File(p, _) => parent(p),
        Entry::Dir(p) => p.as_str(),
    };
    if depth == 0 {
        return "";
    }
    match dir.match_indices('/').nth(depth) {
        Some((i, _)) => &dir[..i],
        None => dir,
    }
}

fn depth_of(dir: &str) -> usize {
    dir.matches('/').count()
}

/// What the model says one call costs and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cost {
    seconds: f64,
    files: u64,
    bytes: u64,
    disk: u64,
    nodes: u64,
}

/// The model's cost of one call.
fn call_cost(call: &RestoreCall, sizes: &HashMap<&str, u64>, tree: &Tree, m: &CostModel) -> Cost {
    let unknown = DirStats {
        entries: 1,
        nodes: 1,
        ..DirStats::default()
    };
    let stats = |d: &str| tree.get(d).unwrap_or(unknown);
    if call.includes.is_empty() {
        let s = stats(&call.root);
        return Cost {
            seconds: m.call_seconds(s.nodes, 0, s.nodes, s.bytes),
            files: s.files,
            bytes: s.bytes,
            disk: s.disk,
            nodes: s.nodes,
        };
    }
    let mut visited: HashSet<&str> = HashSet::new();
    let mut walked = stats(&call.root).entries;
    let mut c = Cost::default();
    let mut nodes = 0u64;
    for inc in &call.includes {
        let mut d = parent(inc);
        while d != call.root && visited.insert(d) {
            walked += stats(d).entries;
            c.disk += BLOCK;
            nodes += 1;
            d = parent(d);
        }
        match sizes.get(inc.as_str()) {
            Some(size) => {
                c.files += 1;
                nodes += 1;
                c.bytes += size;
                c.disk += on_disk(*size);
            }
            None => {
                let s = stats(inc);
                walked += s.nodes;
                c.files += s.files;
                nodes += s.nodes;
                c.bytes += s.bytes;
                c.disk += s.disk;
            }
        }
    }
    c.seconds = m.call_seconds(walked, call.includes.len() as u64, nodes, c.bytes);
    c.nodes = nodes;
    c
}

/// Arranges entries into calls: grouped under the ancestor depth that the model
/// prices lowest (restic ≥ 0.17 starts a call at a subtree), sorted, in batches of
/// the size (`BATCH_SIZES`) the model prices lowest. A directory entry that is a group's root becomes a call
/// with no includes.
fn arrange(
    entries: &[Entry],
    tree: &Tree,
    m: &CostModel,
    subtrees: bool,
    sizes: &HashMap<&str, u64>,
) -> (f64, Vec<RestoreCall>) {
    let base = entries
        .iter()
        .map(|e| root_at(e, usize::MAX))
        .reduce(common_dir)
        .unwrap_or("");
    let base_depth = depth_of(base);
    let mut depths = vec![0];
    if subtrees {
        depths.extend((0..4).map(|k| base_depth + k).filter(|d| *d > 0));
    }
    let mut best: Option<(f64, Vec<RestoreCall>)> = None;
    for &d in &depths {
        let mut groups: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in entries {
            groups.entry(root_at(e, d)).or_default().push(e);
        }
        for (root, members) in &mut groups {
            members.sort();
            if members
                .iter()
                .any(|e| matches!(e, Entry::Dir(p) if p == root))
            {
                members.clear();
            }
        }
        let largest = groups.values().map(Vec::len).max().unwrap_or(0);
        for (i, &batch) in BATCH_SIZES.iter().enumerate() {
            // A larger batch size changes nothing once every group fits.
            if i > 0 && BATCH_SIZES[i - 1] >= largest {
                break;
            }
            let mut calls = Vec::new();
            for (root, members) in &groups {
                if members.is_empty() {
                    // The group's root is itself restored whole.
                    calls.push(RestoreCall {
                        root: (*root).to_owned(),
                        includes: Vec::new(),
                    });
                    continue;
                }
                for chunk in members.chunks(batch) {
                    calls.push(RestoreCall {
                        root: (*root).to_owned(),
                        includes: chunk.iter().map(|e| e.path().to_owned()).collect(),
                    });
                }
            }
            let each: Vec<f64> = calls
                .iter()
                .map(|c| call_cost(c, sizes, tree, m).seconds)
                .collect();
            let cost = wall(&each);
            if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                best = Some((cost, calls));
            }
        }
    }
    best.unwrap_or((0.0, Vec::new()))
}

/// The deepest directory two paths share, by whole components (`""`: none).
fn common_dir<'a>(a: &'a str, b: &str) -> &'a str {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < x.len().min(y.len()) && x[i] == y[i] {
        i += 1;
    }
    if (i == x.len() || x[i] == b'/') && (i == y.len() || y[i] == b'/') {
        return &a[..i];
    }
    a[..i].rfind('/').map_or("", |j| &a[..j])
}

/// The cover of the sample under a per-pattern price `lambda`: for each directory,
/// restore it whole or descend (its sampled files as file includes), whichever the
/// model prices lower. `coverable` says whether a directory can be an include.
fn cover(
    sample: &[(String, u64)],
    tree: &Tree,
    m: &CostModel,
    lambda: f64,
    coverable: &dyn Fn(&str) -> bool,
) -> Vec<Entry> {
    // Sampled files by their nearest tracked directory, and the tracked directories
    // that hold samples, with their children.
    let mut files_in: HashMap<&str, Vec<(&str, u64)>> = HashMap::new();
    let mut children: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (p, size) in sample {
        let home = tree.home(parent(p));
        files_in.entry(home).or_default().push((p.as_str(), *size));
        let mut d = home;
        while !d.is_empty() {
            let up = tree.home(parent(d));
            if !children.entry(up).or_default().insert(d) {
                break;
            }
            d = up;
        }
    }
    let mut out = Vec::new();
    Cover {
        files_in,
        children,
        tree,
        m,
        lambda,
        coverable,
    }
    .solve("", &mut out);
    out
}

/// What `cover` solves over: sampled files by directory, the directories holding
/// samples, and the prices.
struct Cover<'a, 'c> {
    files_in: HashMap<&'a str, Vec<(&'a str, u64)>>,
    children: HashMap<&'a str, HashSet<&'a str>>,
    tree: &'c Tree,
    m: &'c CostModel,
    lambda: f64,
    coverable: &'c dyn Fn(&str) -> bool,
}

impl<'a> Cover<'a, '_> {
    /// Post-order: the cheaper of restoring `d` whole and descending; appends the
    /// chosen entries to `out` and returns their price.
    fn solve(&self, d: &'a str, out: &mut Vec<Entry>) -> f64 {
        let (m, lambda) = (self.m, self.lambda);
        let mut split = 0.0;
        let mut mine = Vec::new();
        for (p, size) in self.files_in.get(d).into_iter().flatten() {
            split += lambda + m.file + m.byte * *size as f64;
            mine.push(Entry::File((*p).to_owned(), *size));
        }
        let mut kids: Vec<&'a str> = self
            .children
            .get(d)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        kids.sort_unstable();
        for c in kids {
            split += self.solve(c, &mut mine);
        }
        let whole = match self.tree.get(d) {
            Some(s) if !d.is_empty() && (self.coverable)(d) => {
                lambda + m.file * s.nodes as f64 + m.byte * s.bytes as f64
            }
            _ => f64::INFINITY,
        };
        if whole < split {
            out.push(Entry::Dir(d.to_owned()));
            whole
        } else {
            out.extend(mine);
            split
        }
    }
}

/// Plans the restore calls of a sample (tree paths and recorded sizes; no path
/// twice). Candidates: file includes in sorted batches; covers that restore some
/// directories whole, for a range of per-pattern prices; the whole snapshot (or
/// the sample's common subtree on ≥ 0.17) without includes. The model picks.
pub fn plan(
    sample: &[(String, u64)],
    tree: &Tree,
    m: &CostModel,
    subtrees: bool,
    coverable: &dyn Fn(&str) -> bool,
) -> Plan {
    if sample.is_empty() {
        return finish(Vec::new(), Vec::new(), &HashMap::new(), tree, m);
    }
    let sizes: HashMap<&str, u64> = sample.iter().map(|(p, s)| (p.as_str(), *s)).collect();
    let files: Vec<Entry> = sample
        .iter()
        .map(|(p, s)| Entry::File(p.clone(), *s))
        .collect();
    let mut best = arrange(&files, tree, m, subtrees, &sizes);
    let mut best_entries = files;
    let mut consider = |entries: Vec<Entry>, (cost, calls): (f64, Vec<RestoreCall>)| {
        if cost < best.0 {
            best = (cost, calls);
            best_entries = entries;
        }
    };
    for entries in covers(sample, tree, m, coverable) {
        let arranged = arrange(&entries, tree, m, subtrees, &sizes);
        consider(entries, arranged);
    }
    let everything = everything(sample, tree, subtrees);
    let cost = call_cost(&everything, &sizes, tree, m).seconds;
    consider(
        vec![Entry::Dir(everything.root.clone())],
        (cost, vec![everything]),
    );
    let (_, calls) = best;
    finish(best_entries, calls, &sizes, tree, m)
}

/// Plans the single `restic restore` call of a full restore over `sample` (every
/// selected file): no include at all when `all` (the whole snapshot is selected),
/// otherwise as few directory includes as the model finds cheapest against
/// restoring unselected files, never more than `BATCH` patterns.
pub fn plan_single(
    sample: &[(String, u64)],
    tree: &Tree,
    m: &CostModel,
    subtrees: bool,
    coverable: &dyn Fn(&str) -> bool,
    all: bool,
) -> Plan {
    let sizes: HashMap<&str, u64> = sample.iter().map(|(p, s)| (p.as_str(), *s)).collect();
    let everything = if all {
        RestoreCall {
            root: String::new(),
            includes: Vec::new(),
        }
    } else {
        everything(sample, tree, subtrees)
    };
    let mut options = vec![(
        call_cost(&everything, &sizes, tree, m).seconds,
        vec![Entry::Dir(everything.root.clone())],
        everything,
    )];
    if !all && !sample.is_empty() {
        for entries in covers(sample, tree, m, coverable) {
            let call = single_call(&entries, subtrees);
            if call.includes.len() <= BATCH {
                options.push((call_cost(&call, &sizes, tree, m).seconds, entries, call));
            }
        }
    }
    // Within the model's precision (5%, at least half a second) fewer patterns
    // win: a drill is "as few directory restores as needed", never file includes
    // that only a tiny snapshot makes look cheaper.
    let cheapest = options.iter().map(|o| o.0).fold(f64::INFINITY, f64::min);
    let slack = (cheapest * 0.05).max(0.5);
    let pick = options
        .iter()
        .enumerate()
        .filter(|(_, o)| o.0 <= cheapest + slack)
        .min_by_key(|(_, o)| o.2.includes.len())
        .map_or(0, |(i, _)| i);
    let (_, best_entries, call) = options.swap_remove(pick);
    finish(best_entries, vec![call], &sizes, tree, m)
}

/// Covers for a range of per-pattern prices, from one pattern's matching over the
/// whole snapshot down to almost nothing; each has at least one whole directory.
fn covers(
    sample: &[(String, u64)],
    tree: &Tree,
    m: &CostModel,
    coverable: &dyn Fn(&str) -> bool,
) -> Vec<Vec<Entry>> {
    let mut out: Vec<Vec<Entry>> = Vec::new();
    let mut lambda = m.node_pattern * tree.total().nodes.max(1) as f64;
    for _ in 0..10 {
        let entries = cover(sample, tree, m, lambda, coverable);
        if entries.iter().any(|e| matches!(e, Entry::Dir(_))) && !out.contains(&entries) {
            out.push(entries);
        }
        lambda /= 4.0;
    }
    out
}

/// One call for `entries`: starting at their common directory (restic ≥ 0.17), with
/// no include when that directory is itself an entry.
fn single_call(entries: &[Entry], subtrees: bool) -> RestoreCall {
    let root = if subtrees {
        entries
            .iter()
            .map(|e| root_at(e, usize::MAX))
            .reduce(common_dir)
            .unwrap_or("")
    } else {
        ""
    };
    let mut includes: Vec<String> = if entries
        .iter()
        .any(|e| matches!(e, Entry::Dir(p) if p == root))
    {
        Vec::new()
    } else {
        entries.iter().map(|e| e.path().to_owned()).collect()
    };
    includes.sort();
    RestoreCall {
        root: root.to_owned(),
        includes,
    }
}

/// Everything below the sample's common directory (restic ≥ 0.17) or the whole
/// snapshot, without includes.
fn everything(sample: &[(String, u64)], tree: &Tree, subtrees: bool) -> RestoreCall {
    let mut root = if subtrees {
        sample
            .iter()
            .map(|(p, _)| parent(p))
            .reduce(common_dir)
            .unwrap_or("")
    } else {
        ""
    };
    // Only a directory with statistics can be priced.
    while tree.get(root).is_none() {
        root = parent(root);
    }
    RestoreCall {
        root: root.to_owned(),
        includes: Vec::new(),
    }
}

fn finish(
    entries: Vec<Entry>,
    calls: Vec<RestoreCall>,
    sizes: &HashMap<&str, u64>,
    tree: &Tree,
    m: &CostModel,
) -> Plan {
    let mut total = Cost::default();
    let mut each = Vec::new();
    for call in &calls {
        let c = call_cost(call, sizes, tree, m);
        each.push(c.seconds);
        total.files += c.files;
        total.bytes += c.bytes;
        total.disk += c.disk;
        total.nodes += c.nodes;
    }
    total.seconds = wall(&each);
    Plan {
        whole_dirs: entries
            .iter()
            .filter(|e| matches!(e, Entry::Dir(_)))
            .count(),
        calls,
        seconds: total.seconds,
        files: total.files,
        bytes: total.bytes,
        disk: total.disk,
        nodes: total.nodes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dirs` top directories of `per_dir` files of 4 KiB each, streamed as
    /// `restic ls` does (depth first, directory before its children).
    fn tree(dirs: usize, per_dir: usize) -> Tree {
        let mut t = Tree::default();
        t.record("/src", "dir", 0);
        for d in 0..dirs {
            t.record(&format!("/src/d{d:02}"), "dir", 0);
            for f in 0..per_dir {
                t.record(&format!("/src/d{d:02}/f{f:05}"), "file", 4096);
            }
        }
        t.finish();
        t
    }

    fn files(list: impl IntoIterator<Item = (usize, usize)>) -> Vec<(String, u64)> {
        list.into_iter()
            .map(|(d, f)| (format!("/src/d{d:02}/f{f:05}"), 4096))
            .collect()
    }

    fn every(_: &str) -> bool {
        true
    }

    /// Every sampled file is written by some call, and no call has more than BATCH
    /// includes.
    fn assert_covers(plan: &Plan, sample: &[(String, u64)]) {
        for c in &plan.calls {
            assert!(c.includes.len() <= BATCH, "{} includes", c.includes.len());
        }
        for (p, _) in sample {
            let under = |dir: &str| dir.is_empty() || p == dir || p.starts_with(&format!("{dir}/"));
            assert!(
                plan.calls.iter().any(|c| under(&c.root)
                    && (c.includes.is_empty() || c.includes.iter().any(|i| under(i)))),
                "{p} is restored by no call: {:?}",
                plan.calls
            );
        }
    }

    #[test]
    fn call_seconds_is_fixed_plus_matching_plus_writing() {
        let m = CostModel {
            call: 1.0,
            node_pattern: 1e-7,
            file: 1e-4,
            byte: 1e-9,
        };
        let s = m.call_seconds(200_000, 100, 100, 1_000_000);
        assert!((s - (1.0 + 2.0 + 0.01 + 0.001)).abs() < 1e-9, "{s}");
    }

    #[test]
    fn plan_restores_a_mostly_sampled_subtree_whole_and_the_sparse_rest_by_file() {
        // 20 directories of 10,000 files; 9,000 files of d03 and 10 elsewhere.
        let t = tree(20, 10_000);
        let mut sample = files((0..9_000).map(|f| (3, f)));
        sample.extend(files((0..10).map(|i| (5 + i, i * 7))));
        for subtrees in [false, true] {
            let m = if subtrees {
                CostModel::RESTIC_017
            } else {
                CostModel::RESTIC_014
            };
            let p = plan(&sample, &t, &m, subtrees, &every);
            assert_covers(&p, &sample);
            assert_eq!(p.whole_dirs, 1, "{:?}", p.calls);
            let d03 = "/src/d03";
            assert!(
                p.calls.iter().any(|c| c.includes.iter().any(|i| i == d03)
                    || (c.root == d03 && c.includes.is_empty())),
                "d03 not restored whole: {:?}",
                p.calls
            );
            // The sparse files stay file includes: nothing else is restored whole.
            assert_eq!(p.files, 10_000 + 10, "subtrees {subtrees}");
            let includes: usize = p.calls.iter().map(|c| c.includes.len()).sum();
            assert!(includes <= 11, "{includes} includes");
        }
    }

    #[test]
    fn plan_of_a_sparse_sample_uses_file_includes_in_sorted_batches() {
        let t = tree(20, 10_000);
        // 500 files spread evenly: 25 per directory of 10,000.
        let sample = files((0..500).map(|i| (i % 20, (i * 397) % 10_000)));
        let p = plan(&sample, &t, &CostModel::RESTIC_014, false, &every);
        assert_covers(&p, &sample);
        assert_eq!(p.whole_dirs, 0, "{:?}", p.calls.len());
        assert_eq!(p.files, 500);
        // Directories of 10,000 entries make every pattern dear: batches of 100
        // (5 calls) cost less than 200 (3 calls) by the model.
        assert_eq!(p.calls.len(), 5);
        for c in &p.calls {
            assert!(c.includes.windows(2).all(|w| w[0] <= w[1]), "sorted");
        }
    }

    #[test]
    fn plan_batch_size_trades_calls_against_patterns_by_the_model() {
        // The benchmark's shape: 2,000 directories of 100 files, 5,000 sampled.
        let t = tree(2_000, 100);
        let sample = files((0..5_000).map(|i| (i % 2_000, (i * 37) % 100)));
        let m = CostModel::RESTIC_017;
        let p = plan(&sample, &t, &m, false, &every);
        assert_covers(&p, &sample);
        let widest = p.calls.iter().map(|c| c.includes.len()).max().unwrap();
        assert!(
            widest > 200,
            "small directories: larger batches pay ({widest})"
        );
        assert!(p.calls.len() < 25, "{} calls", p.calls.len());
        let by_200 = wall(&[m.call_seconds(8_000, 200, 200, 200 * 4096); 25]);
        assert!(p.seconds < by_200, "{} s vs {by_200} s", p.seconds);
        // A call that costs next to nothing: many small batches.
        let cheap = CostModel { call: 0.01, ..m };
        let p = plan(&sample, &t, &cheap, false, &every);
        assert!(p.calls.iter().all(|c| c.includes.len() <= 100));
    }

    #[test]
    fn plan_of_every_file_is_one_call_without_includes() {
        let t = tree(13, 2_000);
        let sample = files((0..13).flat_map(|d| (0..2_000).map(move |f| (d, f))));
        for subtrees in [false, true] {
            let p = plan(&sample, &t, &CostModel::RESTIC_014, subtrees, &every);
            assert_eq!(p.calls.len(), 1, "{:?}", p.calls.len());
            assert!(p.calls[0].includes.is_empty());
            assert_eq!(p.files, 26_000);
        }
    }

    #[test]
    fn plan_never_grows_with_the_square_of_the_sample() {
        // 5,000 of 200,000 files (the benchmark's shape): the model's cost of the
        // chosen plan stays below one call per 200 files.
        let t = tree(20, 10_000);
        let sample = files((0..5_000).map(|i| (i % 20, (i * 7_919) % 10_000)));
        let m = CostModel::RESTIC_014;
        let p = plan(&sample, &t, &m, false, &every);
        assert_covers(&p, &sample);
        assert!(p.seconds <= 25.0 * m.call + 0.5 * 25.0, "{} s", p.seconds);
        let single = m.call_seconds(200_021, 5_000, 5_000, 5_000 * 4096);
        assert!(
            p.seconds < single / 4.0,
            "{} vs one call {single}",
            p.seconds
        );
    }

    #[test]
    fn plan_does_not_cover_directories_that_cannot_be_included() {
        let t = tree(2, 1_000);
        let sample = files((0..1_000).map(|f| (1, f)));
        let never = |d: &str| !d.ends_with("d01");
        let p = plan(&sample, &t, &CostModel::RESTIC_014, false, &never);
        assert!(p
            .calls
            .iter()
            .all(|c| c.includes.iter().all(|i| i != "/src/d01")));
        assert_covers(&p, &sample);
    }

    #[test]
    fn plan_single_is_one_call_whole_snapshot_or_few_directory_includes() {
        let t = tree(13, 2_000);
        let all = files((0..13).flat_map(|d| (0..2_000).map(move |f| (d, f))));
        let p = plan_single(&all, &t, &CostModel::RESTIC_014, false, &every, true);
        assert_eq!(
            p.calls,
            vec![RestoreCall {
                root: String::new(),
                includes: Vec::new()
            }]
        );
        // A subset: two directories entirely (an include/exclude filter).
        let subset = files((0..2_000).flat_map(|f| [(2, f), (7, f)]));
        for subtrees in [false, true] {
            let p = plan_single(&subset, &t, &CostModel::RESTIC_014, subtrees, &every, false);
            assert_eq!(p.calls.len(), 1);
            assert_eq!(
                p.calls[0].includes,
                ["/src/d02", "/src/d07"],
                "subtrees {subtrees}: {:?}",
                p.calls[0]
            );
            assert_eq!(p.files, 4_000);
            assert_covers(&p, &subset);
        }
        // One directory on restic ≥ 0.17: a call that starts there, no includes.
        let one = files((0..2_000).map(|f| (4, f)));
        let p = plan_single(&one, &t, &CostModel::RESTIC_017, true, &every, false);
        assert_eq!(
            p.calls,
            vec![RestoreCall {
                root: "/src/d04".into(),
                includes: Vec::new()
            }]
        );
    }

    #[test]
    fn common_dir_cuts_at_whole_components() {
        assert_eq!(common_dir("/a/b", "/a/c"), "/a");
        assert_eq!(common_dir("/a", "/a/b"), "/a");
        assert_eq!(common_dir("/ab", "/ac"), "");
        assert_eq!(common_dir("/a/b", "/a/b"), "/a/b");
    }
}
