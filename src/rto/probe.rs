//! Which subtrees to restore whole to calibrate the RTO model (pure): gathered
//! while `restic ls` streams, chosen when it ends.
//!
//! `Shape` folds the depth-first stream into subtree totals with a stack of open
//! directories (memory: the depth of the tree) and keeps, per power of two of
//! files, the subtree with the fewest and the one with the most bytes per file
//! (memory: a few dozen candidates, whatever the snapshot's size). `pick` then
//! chooses three subtrees of graded size (about 4× apart, the largest at most
//! `LARGE_FILES` files and an eighth of the snapshot) so the per-call and the
//! per-file cost separate, plus, when the snapshot holds far more bytes per file
//! than those, the largest single file or subtree with far more bytes per file
//! (up to a quarter of the snapshot's bytes and `HEAVY_BYTES`), so the per-byte cost
//! separates too. The largest graded subtree is restored once more, last: the
//! per-file slope rests on it. A snapshot small enough is restored whole: then the
//! recovery time is measured, not modelled.

use std::collections::BTreeMap;

use super::call::{CallKind, Target};

/// A snapshot with at most this many files and `WHOLE_BYTES` is calibrated by
/// restoring all of it.
pub const WHOLE_FILES: u64 = 20_000;
pub const WHOLE_BYTES: u64 = 256 << 20;
/// The largest calibration subtree holds at most this many files. Restores of a
/// few thousand small files run below restic's full parallelism and cost up to 2×
/// more per file than a full restore (BENCHMARKS.md, "RTO"); ~20,000 files are
/// close to what a large restore pays.
pub const LARGE_FILES: u64 = 32_000;
/// No subtree of the graded calls restores more than this.
pub const PROBE_BYTES: u64 = 128 << 20;
/// The graded calls together restore at most this.
pub const TOTAL_BYTES: u64 = 256 << 20;
/// The bytes-heavy call restores at most this, and at most a quarter of the
/// snapshot: a few seconds of restic's throughput, enough to time it.
pub const HEAVY_BYTES: u64 = 1 << 30;
/// A file at least this large is a candidate on its own (bytes-heavy calibration).
const HEAVY_FILE: u64 = 1 << 20;
/// The bytes-heavy call restores at least this much...
const HEAVY_MIN_BYTES: u64 = 4 << 20;
/// ...with at least this many times the bytes per file of the other calls.
const HEAVY_RATIO: u64 = 4;

/// One calibration call: a subtree (`path`) restored whole, or the whole snapshot
/// (`path` empty, `kind` `Full`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
    pub kind: CallKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    path: String,
    files: u64,
    bytes: u64,
}

impl Candidate {
    /// Whether its bytes per file are below `other`'s.
    fn leaner(&self, other: &Candidate) -> bool {
        u128::from(self.bytes) * u128::from(other.files)
            < u128::from(other.bytes) * u128::from(self.files)
    }
}

/// Subtree totals and calibration candidates of one snapshot, fed node by node.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Open directories, outermost first: path, files and bytes so far.
    open: Vec<(String, u64, u64)>,
    total: Target,
    /// Per ⌊log₂ files⌋: the candidate with the fewest / the most bytes per file.
    lean: BTreeMap<u32, Candidate>,
    heavy: BTreeMap<u32, Candidate>,
}

fn is_below(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

impl Shape {
    /// Records one node of `restic ls` (`kind` as restic prints it; `size` of a file).
    pub fn record(&mut self, path: &str, kind: &str, size: u64) {
        while self
            .open
            .last()
            .is_some_and(|(dir, _, _)| !is_below(path, dir))
        {
            self.close_top();
        }
        match kind {
            "dir" => self.open.push((path.to_owned(), 0, 0)),
            "file" => {
                self.total.files += 1;
                self.total.bytes += size;
                if let Some((_, f, b)) = self.open.last_mut() {
                    *f += 1;
                    *b += size;
                }
                if size >= HEAVY_FILE {
                    self.offer(Candidate {
                        path: path.to_owned(),
                        files: 1,
                        bytes: size,
                    });
                }
            }
            _ => {}
        }
    }

    fn close_top(&mut self) {
        let Some((path, files, bytes)) = self.open.pop() else {
            return;
        };
        if let Some((_, f, b)) = self.open.last_mut() {
            *f += files;
            *b += bytes;
        }
        self.offer(Candidate { path, files, bytes });
    }

    fn offer(&mut self, c: Candidate) {
        if c.files == 0 || c.bytes > HEAVY_BYTES {
            return;
        }
        let bucket = c.files.ilog2();
        if c.bytes <= PROBE_BYTES && self.lean.get(&bucket).is_none_or(|have| c.leaner(have)) {
            self.lean.insert(bucket, c.clone());
        }
        match self.heavy.get(&bucket) {
            Some(have) if !have.leaner(&c) => {}
            _ => {
                self.heavy.insert(bucket, c);
            }
        }
    }

    /// The snapshot's regular files and bytes (what a full restore restores).
    pub fn target(&self) -> Target {
        self.total
    }

    /// Closes the stream and chooses the calibration calls.
    pub fn finish(mut self) -> (Target, Vec<Probe>) {
        while !self.open.is_empty() {
            self.close_top();
        }
        let probes = pick(self.total, &self.lean, &self.heavy);
        (self.total, probes)
    }
}

/// The calibration calls for a snapshot of `total` from the candidates kept.
fn pick(
    total: Target,
    lean: &BTreeMap<u32, Candidate>,
    heavy: &BTreeMap<u32, Candidate>,
) -> Vec<Probe> {
    if total.files == 0 {
        return Vec::new();
    }
    if total.files <= WHOLE_FILES && total.bytes <= WHOLE_BYTES {
        return vec![Probe {
            path: String::new(),
            files: total.files,
            bytes: total.bytes,
            kind: CallKind::Full,
        }];
    }
    let mut chosen: Vec<&Candidate> = Vec::new();
    let mut cap = LARGE_FILES.min(total.files / 8).max(1);
    let mut budget = TOTAL_BYTES;
    for _ in 0..3 {
        let best = lean
            .values()
            .filter(|c| c.files <= cap && c.bytes <= budget)
            .filter(|c| !chosen.iter().any(|h| h.path == c.path))
            .max_by_key(|c| c.files);
        let Some(c) = best else { break };
        budget -= c.bytes;
        cap = c.files / 4;
        chosen.push(c);
        if cap == 0 {
            break;
        }
    }
    // Bytes per file of the graded calls (the heaviest of them). When the snapshot
    // has about as many per file, they already measure what a full restore pays;
    // otherwise a call with HEAVY_RATIO× more bytes per file separates the costs.
    let lean_ratio = chosen
        .iter()
        .map(|c| c.bytes / c.files.max(1))
        .max()
        .unwrap_or(0)
        .max(1);
    let snapshot_ratio = total.bytes / total.files.max(1);
    let heavy_cap = HEAVY_BYTES
        .min(total.bytes / 4)
        .max(PROBE_BYTES.min(budget));
    let heavy_pick = heavy
        .values()
        .filter(|c| c.bytes >= HEAVY_MIN_BYTES && c.bytes <= heavy_cap)
        .filter(|c| c.bytes / c.files.max(1) >= HEAVY_RATIO * lean_ratio)
        .filter(|c| !chosen.iter().any(|h| h.path == c.path))
        .max_by_key(|c| c.bytes)
        .filter(|_| snapshot_ratio >= 2 * lean_ratio);
    chosen.extend(heavy_pick);
    // The largest graded call sets the per-file slope almost alone; one timing of a
    // few seconds can be off by half on a busy host (BENCHMARKS.md, "RTO"). It runs
    // again last, at another moment, and both timings are fitted.
    if let Some(largest) = chosen.first().copied() {
        chosen.push(largest);
    }
    chosen
        .into_iter()
        .map(|c| Probe {
            path: c.path.clone(),
            files: c.files,
            bytes: c.bytes,
            kind: CallKind::Subtree,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A depth-first listing: `dirs` of `per_dir` files of `size` bytes under /top.
    fn stream(shape: &mut Shape, dirs: &[(&str, u64, u64)]) {
        shape.record("/top", "dir", 0);
        for (name, n, size) in dirs {
            let d = format!("/top/{name}");
            shape.record(&d, "dir", 0);
            for i in 0..*n {
                shape.record(&format!("{d}/f{i}"), "file", *size);
            }
        }
    }

    #[test]
    fn shape_totals_every_file_and_folds_subtrees_into_their_parents() {
        let mut s = Shape::default();
        s.record("/a", "dir", 0);
        s.record("/a/b", "dir", 0);
        s.record("/a/b/f1", "file", 10);
        s.record("/a/b/l", "symlink", 0);
        s.record("/a/f2", "file", 5);
        s.record("/c", "dir", 0);
        s.record("/c/f3", "file", 1);
        let lean = {
            let mut t = s.clone();
            while !t.open.is_empty() {
                t.close_top();
            }
            t.lean
        };
        let (total, _) = s.finish();
        assert_eq!(
            total,
            Target {
                files: 3,
                bytes: 16
            }
        );
        // /a holds 2 files (15 bytes): bucket 1; /a/b and /c one file each: bucket 0.
        assert_eq!(lean[&1].path, "/a");
        assert_eq!((lean[&1].files, lean[&1].bytes), (2, 15));
        assert_eq!(lean[&0].path, "/c", "the leaner of the one-file subtrees");
    }

    #[test]
    fn pick_restores_a_small_snapshot_whole() {
        let mut s = Shape::default();
        stream(&mut s, &[("a", 30, 100), ("b", 10, 100)]);
        let (total, probes) = s.finish();
        assert_eq!(total.files, 40);
        assert_eq!(
            probes,
            vec![Probe {
                path: String::new(),
                files: 40,
                bytes: 4000,
                kind: CallKind::Full
            }]
        );
    }

    #[test]
    fn pick_chooses_three_graded_subtrees_and_a_bytes_heavy_file() {
        let mut s = Shape::default();
        // 100,000 small files in directories of graded sizes, five 100 MiB files.
        let mut dirs: Vec<(String, u64, u64)> = Vec::new();
        for (i, n) in [20_000u64, 9_000, 2_000, 500, 120, 30, 7]
            .iter()
            .enumerate()
        {
            dirs.push((format!("d{i}"), *n, 4096));
        }
        dirs.push(("bulk".into(), 100_000 - 31_657, 4096));
        let refs: Vec<(&str, u64, u64)> =
            dirs.iter().map(|(n, c, b)| (n.as_str(), *c, *b)).collect();
        stream(&mut s, &refs);
        s.record("/top/video", "dir", 0);
        for i in 0..5 {
            s.record(&format!("/top/video/v{i}"), "file", 100 << 20);
        }
        let (total, probes) = s.finish();
        assert_eq!(total.files, 100_005);
        let got: Vec<(&str, u64)> = probes.iter().map(|p| (p.path.as_str(), p.files)).collect();
        // Largest ≤ min(32,000, 100,005/8 = 12,500): d1 (9,000); then ≤ 2,250: d2;
        // then ≤ 500: d3; then a 100 MiB file (25,600× the bytes per file; the
        // snapshot has 2.3× the graded calls' bytes per file). The 500 MiB
        // directory is more than a quarter of the snapshot.
        assert_eq!(
            got,
            vec![
                ("/top/d1", 9_000),
                ("/top/d2", 2_000),
                ("/top/d3", 500),
                ("/top/video/v0", 1),
                ("/top/d1", 9_000)
            ]
        );
        assert!(probes.iter().all(|p| p.kind == CallKind::Subtree));
        assert!(probes[..3].iter().map(|p| p.bytes).sum::<u64>() <= TOTAL_BYTES);
    }

    #[test]
    fn pick_leaves_out_a_heavy_call_when_nothing_is_heavier_or_all_too_big() {
        let mut s = Shape::default();
        let dirs: Vec<(String, u64, u64)> = (0..60)
            .map(|i| (format!("d{i:02}"), 50 * (i + 1), 4096))
            .collect();
        let refs: Vec<(&str, u64, u64)> =
            dirs.iter().map(|(n, c, b)| (n.as_str(), *c, *b)).collect();
        stream(&mut s, &refs);
        // A 512 MiB file is more than a quarter of the snapshot: never a probe.
        s.record("/top/media", "dir", 0);
        s.record("/top/media/huge", "file", 512 << 20);
        let (_, probes) = s.finish();
        assert_eq!(
            probes.len(),
            4,
            "three graded, the largest again: {probes:?}"
        );
        assert_eq!(probes[3], probes[0]);
        assert!(probes.iter().all(|p| p.bytes / p.files == 4096));
        let files: Vec<u64> = probes.iter().map(|p| p.files).collect();
        assert!(
            files[0] >= 4 * files[1] && files[1] >= 4 * files[2],
            "{files:?}"
        );
    }

    #[test]
    fn pick_of_an_empty_snapshot_is_nothing() {
        let (total, probes) = Shape::default().finish();
        assert_eq!(total, Target::default());
        assert!(probes.is_empty());
    }
}
