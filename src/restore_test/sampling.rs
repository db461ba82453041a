//! Pure sampling: which snapshot to pin, which files are candidates, and the sample
//! (which restic calls restore it is `call_plan`'s).
//! No I/O and no clock; the caller streams `restic ls` into `Sampler::offer`.

use std::collections::BTreeSet;

use globset::GlobSet;
use rand::Rng;

use crate::restic::json::{Node, Snapshot};
use crate::sample::{self, Reservoir, Weighting};
use crate::source;

/// A regular file of the snapshot that may be sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i128,
    pub mode: Option<u32>,
}

impl Candidate {
    /// What the snapshot recorded for a node.
    pub fn from_node(node: &Node) -> Candidate {
        Candidate {
            path: node.path.clone(),
            size: node.size.unwrap_or(0),
            mtime_ns: node
                .mtime
                .as_deref()
                .and_then(source::parse_mtime)
                .unwrap_or(0),
            mode: node.mode,
        }
    }
}

/// Why no snapshot could be pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinError {
    /// restic could not load some snapshot files: the newest might be among them.
    Unreadable(Vec<String>),
    NoMatch,
}

/// The newest snapshot (by time) of those listed; never an older one when restic
/// reported snapshot files it could not load.
///
/// # Errors
/// `Unreadable` or `NoMatch`.
pub fn pin_snapshot(snapshots: &[Snapshot], unreadable: &[String]) -> Result<Snapshot, PinError> {
    if !unreadable.is_empty() {
        return Err(PinError::Unreadable(unreadable.to_vec()));
    }
    snapshots
        .iter()
        .max_by(|a, b| a.time.cmp(&b.time))
        .cloned()
        .ok_or(PinError::NoMatch)
}

/// Which files may be sampled.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub include: Option<GlobSet>,
    pub exclude: Option<GlobSet>,
}

impl FileFilter {
    /// The node as a candidate, if it is a regular file that passes the filter.
    pub fn accept(&self, node: &Node) -> Option<Candidate> {
        if node.kind != "file" {
            return None;
        }
        let size = node.size.unwrap_or(0);
        if self.min_size.is_some_and(|m| size < m) || self.max_size.is_some_and(|m| size > m) {
            return None;
        }
        if self
            .include
            .as_ref()
            .is_some_and(|g| !g.is_match(&node.path))
        {
            return None;
        }
        if self
            .exclude
            .as_ref()
            .is_some_and(|g| g.is_match(&node.path))
        {
            return None;
        }
        Some(Candidate::from_node(node))
    }
}

/// How many files, and how they are chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    pub count: usize,
    /// Bernoulli sampling of this share of the candidates instead of a fixed count.
    pub percent: Option<f64>,
    pub max_bytes: Option<u64>,
    pub weighting: Weighting,
    /// Paths tested every run, beyond the sample.
    pub always: BTreeSet<String>,
}

/// The sample drawn from a stream, with spares in random order.
#[derive(Debug, Clone)]
pub struct Sample {
    pub chosen: Vec<Candidate>,
    pub spares: Vec<Candidate>,
    /// `always` paths found in the snapshot (tested even if not sampled).
    pub always: Vec<Candidate>,
    /// `always` paths the snapshot does not have.
    pub always_missing: Vec<String>,
    pub population: u64,
    pub over_budget: usize,
    /// Files whose names hold bytes that are not UTF-8: restic shows them as U+FFFD
    /// and neither `--include` nor `dump` can address them, so they cannot be tested.
    pub unaddressable: u64,
}

/// Streams candidates into a bounded reservoir.
pub struct Sampler {
    opts: SampleOptions,
    filter: FileFilter,
    main: Reservoir<Candidate>,
    /// Percent mode: everything drawn below `percent`.
    drawn: Vec<Candidate>,
    always: Vec<Candidate>,
    unaddressable: u64,
}

impl Sampler {
    pub fn new(opts: SampleOptions, filter: FileFilter) -> Sampler {
        // Twice the requested count: the extra half replaces files that turn out
        // unusable (changed or deleted since the backup) or over the byte budget.
        let cap = if opts.percent.is_some() {
            256
        } else {
            opts.count.saturating_mul(2).max(8)
        };
        Sampler {
            main: Reservoir::new(cap, opts.weighting),
            opts,
            filter,
            drawn: Vec::new(),
            always: Vec::new(),
            unaddressable: 0,
        }
    }

    pub fn offer<R: Rng + ?Sized>(&mut self, node: &Node, rng: &mut R) {
        if self.opts.always.contains(&node.path) && node.kind == "file" {
            self.always.push(Candidate::from_node(node));
            return;
        }
        let Some(c) = self.filter.accept(node) else {
            return;
        };
        if c.path.contains('\u{FFFD}') {
            self.unaddressable += 1;
            return;
        }
        if let Some(p) = self.opts.percent {
            let u: f64 = rng.random();
            if u < p / 100.0 {
                self.drawn.push(c);
                return;
            }
        }
        let size = c.size;
        self.main.offer(c, size, rng);
    }

    pub fn finish(self) -> Sample {
        let population = self.main.seen() + self.drawn.len() as u64;
        let found: BTreeSet<&str> = self.always.iter().map(|c| c.path.as_str()).collect();
        let always_missing = self
            .opts
            .always
            .iter()
            .filter(|p| !found.contains(p.as_str()))
            .cloned()
            .collect();
        let (count, ranked) = match self.opts.percent {
            Some(_) => {
                let n = self.drawn.len();
                let mut r = self.drawn;
                r.extend(self.main.into_ranked());
                (n, r)
            }
            None => (self.opts.count, self.main.into_ranked()),
        };
        let taken = sample::take(ranked, count, self.opts.max_bytes, |c| c.size);
        Sample {
            chosen: taken.chosen,
            spares: taken.spares,
            always: self.always,
            always_missing,
            population,
            over_budget: taken.over_budget,
            unaddressable: self.unaddressable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn node(path: &str, kind: &str, size: u64) -> Node {
        Node {
            struct_type: Some("node".into()),
            kind: kind.into(),
            path: path.into(),
            size: Some(size),
            mode: Some(0o644),
            mtime: Some("2024-01-01T00:00:00Z".into()),
        }
    }

    fn opts(count: usize) -> SampleOptions {
        SampleOptions {
            count,
            percent: None,
            max_bytes: None,
            weighting: Weighting::Count,
            always: BTreeSet::new(),
        }
    }

    #[test]
    fn sampler_takes_only_regular_files_and_same_seed_same_sample() {
        let run = |seed| {
            let mut s = Sampler::new(opts(5), FileFilter::default());
            let mut rng = StdRng::seed_from_u64(seed);
            for i in 0..100 {
                s.offer(&node(&format!("/d/f{i}"), "file", i), &mut rng);
                s.offer(&node(&format!("/d/dir{i}"), "dir", 0), &mut rng);
                s.offer(&node(&format!("/d/l{i}"), "symlink", 0), &mut rng);
            }
            s.finish()
        };
        let a = run(7);
        assert_eq!(a.population, 100);
        assert_eq!(a.chosen.len(), 5);
        assert!(a.chosen.iter().all(|c| c.path.starts_with("/d/f")));
        assert!(!a.spares.is_empty());
        assert_eq!(a.chosen, run(7).chosen);
        assert_ne!(a.chosen, run(8).chosen);
    }

    #[test]
    fn sampler_with_always_paths_reports_missing_ones() {
        let mut o = opts(1);
        o.always = ["/d/f1".to_owned(), "/d/nope".to_owned()].into();
        let mut s = Sampler::new(o, FileFilter::default());
        let mut rng = StdRng::seed_from_u64(1);
        for i in 0..3 {
            s.offer(&node(&format!("/d/f{i}"), "file", 1), &mut rng);
        }
        let r = s.finish();
        assert_eq!(
            r.always.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            ["/d/f1"]
        );
        assert_eq!(r.always_missing, ["/d/nope"]);
        assert!(r.chosen.iter().all(|c| c.path != "/d/f1"));
    }

    #[test]
    fn pin_snapshot_refuses_to_fall_back_when_a_snapshot_is_unreadable() {
        assert_eq!(
            pin_snapshot(&[], &["could not load snapshot x".into()]),
            Err(PinError::Unreadable(vec![
                "could not load snapshot x".into()
            ]))
        );
        assert_eq!(pin_snapshot(&[], &[]), Err(PinError::NoMatch));
    }
}
