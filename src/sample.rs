//! Pure streaming sampling: a bounded reservoir that ranks candidates by a random
//! key, so memory stays proportional to the sample, not to the snapshot.
//!
//! Each candidate gets the key `u` (uniform by file count) or `u^(1/size)` (weighted
//! by bytes, Efraimidis–Spirakis), and the reservoir keeps the `capacity` largest
//! keys. Taken in key order the kept items are a random sample *and* a random
//! sequence, so the items past the requested count are valid replacements for files
//! that turn out unusable. `take` then applies the count and the byte budget. The
//! caller passes the `Rng`: production seeds it from the OS and records the seed, and
//! `--seed` replays a run exactly. No I/O, no clock.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::Rng;

/// How candidates are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// Every file has the same chance.
    Count,
    /// A file's chance grows with its size, so large files are not starved.
    Bytes,
}

struct Keyed<T> {
    key: f64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Keyed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Keyed<T> {}
impl<T> PartialOrd for Keyed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Keyed<T> {
    // Reversed, so the BinaryHeap (a max-heap) keeps the smallest key on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Keeps the `capacity` candidates with the largest random keys.
pub struct Reservoir<T> {
    capacity: usize,
    weighting: Weighting,
    heap: BinaryHeap<Keyed<T>>,
    seen: u64,
}

impl<T> Reservoir<T> {
    pub fn new(capacity: usize, weighting: Weighting) -> Self {
        Reservoir {
            capacity,
            weighting,
            heap: BinaryHeap::with_capacity(capacity.min(1 << 16) + 1),
            seen: 0,
        }
    }

    /// Offers one candidate of `size` bytes.
    pub fn offer<R: Rng + ?Sized>(&mut self, item: T, size: u64, rng: &mut R) {
        self.seen += 1;
        // One draw per candidate, whatever happens next: the sequence of draws, and so
        // the sample, depends only on the seed and the stream.
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let key = match self.weighting {
            Weighting::Count => u,
            // ln(u)/w orders like u^(1/w) without underflowing for large w.
            Weighting::Bytes => u.ln() / (size.max(1) as f64),
        };
        if self.capacity == 0 {
            return;
        }
        let keyed = Keyed {
            key,
            seq: self.seen,
            item,
        };
        if self.heap.len() < self.capacity {
            self.heap.push(keyed);
        } else if let Some(min) = self.heap.peek() {
            if keyed.key > min.key {
                self.heap.pop();
                self.heap.push(keyed);
            }
        }
    }

    /// How many candidates were offered.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The kept candidates, largest key first: a random sequence.
    pub fn into_ranked(self) -> Vec<T> {
        // into_sorted_vec is ascending by Ord, which is descending by key.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|k| k.item)
            .collect()
    }
}

/// The result of applying count and byte budget to a ranked sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken<T> {
    pub chosen: Vec<T>,
    /// Ranked items not chosen, in order: replacements for unusable files.
    pub spares: Vec<T>,
    /// Items passed over because they alone would exceed the remaining budget.
    pub over_budget: usize,
}

/// Takes up to `count` items in rank order whose sizes fit `max_bytes` together.
pub fn take<T>(
    ranked: Vec<T>,
    count: usize,
    max_bytes: Option<u64>,
    size: impl Fn(&T) -> u64,
) -> Taken<T> {
    let mut chosen = Vec::new();
    let mut spares = Vec::new();
    let mut over_budget = 0;
    let mut used = 0u64;
    for item in ranked {
        if chosen.len() >= count {
            spares.push(item);
            continue;
        }
        let s = size(&item);
        match max_bytes {
            Some(b) if used.saturating_add(s) > b => over_budget += 1,
            _ => {
                used += s;
                chosen.push(item);
            }
        }
    }
    Taken {
        chosen,
        spares,
        over_budget,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn sample(n: u64, cap: usize, seed: u64, w: Weighting) -> Vec<u64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut r = Reservoir::new(cap, w);
        for i in 0..n {
            r.offer(i, i + 1, &mut rng);
        }
        r.into_ranked()
    }

    proptest! {
        #[test]
        fn sample_is_a_subset_without_duplicates_of_the_right_size(n in 0u64..500, cap in 0usize..60, seed: u64) {
            let s = sample(n, cap, seed, Weighting::Count);
            prop_assert_eq!(s.len(), cap.min(n as usize));
            let mut d = s.clone();
            d.sort_unstable();
            d.dedup();
            prop_assert_eq!(d.len(), s.len());
            prop_assert!(s.iter().all(|x| *x < n));
        }

        #[test]
        fn same_seed_gives_same_sample(n in 0u64..300, cap in 1usize..30, seed: u64) {
            prop_assert_eq!(sample(n, cap, seed, Weighting::Bytes), sample(n, cap, seed, Weighting::Bytes));
        }

        #[test]
        fn take_respects_count_and_byte_budget(sizes in proptest::collection::vec(0u64..1000, 0..100), count in 0usize..50, budget in 0u64..5000) {
            let t = take(sizes.clone(), count, Some(budget), |s| *s);
            prop_assert!(t.chosen.len() <= count);
            prop_assert!(t.chosen.iter().sum::<u64>() <= budget);
            prop_assert_eq!(t.chosen.len() + t.spares.len() + t.over_budget, sizes.len());
        }
    }

    #[test]
    fn uniform_sampling_is_roughly_uniform() {
        // 2,000 draws of 10 out of 100: every item expected 200 times.
        let mut hits = [0u32; 100];
        for seed in 0..2000 {
            for i in sample(100, 10, seed, Weighting::Count) {
                hits[i as usize] += 1;
            }
        }
        assert!(hits.iter().all(|h| (120..=290).contains(h)), "{hits:?}");
    }

    #[test]
    fn byte_weighting_favours_large_files() {
        // Item 99 is 100x the size of item 0.
        let (mut small, mut large) = (0, 0);
        for seed in 0..2000 {
            let s = sample(100, 5, seed, Weighting::Bytes);
            small += s.iter().filter(|i| **i == 0).count();
            large += s.iter().filter(|i| **i == 99).count();
        }
        assert!(large > small * 10, "large {large}, small {small}");
    }

    #[test]
    fn take_skips_a_file_larger_than_the_budget_and_keeps_going() {
        let t = take(vec![10, 5000, 20, 30], 3, Some(100), |s| *s);
        assert_eq!(t.chosen, vec![10, 20, 30]);
        assert_eq!(t.over_budget, 1);
        assert!(t.spares.is_empty());
    }
}
