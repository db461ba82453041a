//! Loads tree blobs ahead of the walker, on helper threads, in the walker's order.
//!
//! The walker needs one tree at a time, depth first in name order, and each load is
//! a read (an HTTP request on a remote repository), a decryption, a decompression
//! and a parse. `Prefetch` wraps the repository's `Trees` and walks the same tree
//! ahead of it: every tree it knows of has a key, the path of child positions from
//! the root, so that the walker's order is the keys' order. When any tree finishes
//! loading (on a loader or on the walker), its subtrees become known; loaders always
//! load the earliest known tree not yet loaded, up to `window` trees loading or
//! loaded and not yet taken. So the loaders run down the tree ahead of the walker,
//! many requests in flight, instead of one level at a time behind it. When the
//! walker asks for a tree, everything before it in that order is dropped (a subtree
//! it skipped), so skipped trees never fill the window. A tree not (yet) loaded is
//! loaded on the spot, so the result never depends on timing. A tree ID seen at
//! several places (identical directories) is loaded once for all of them that are
//! waiting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rustic_core::{DataId, TreeId};

use super::repo::{Named, Trees};

/// Trees loading or loaded but not yet taken, at most, by default.
const WINDOW: usize = 128;

/// A tree's place in the walk: child positions from its root. Depth-first order is
/// the lexicographic order of keys.
type Key = Vec<u32>;

type Loaded = Result<Vec<Named>, String>;

enum Slot {
    Pending,
    Loading,
    Done(Loaded),
}

struct Entry {
    id: TreeId,
    slot: Slot,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<Key, Entry>,
    pending: BTreeSet<Key>,
    by_id: HashMap<TreeId, BTreeSet<Key>>,
    /// Loads in flight on the loaders, and trees loaded and not taken.
    in_flight: usize,
    done: usize,
    /// Keys handed to trees the walker asked for before anyone knew them (roots).
    roots: u32,
    closed: bool,
}

impl State {
    fn insert(&mut self, key: Key, id: TreeId) {
        self.by_id.entry(id).or_default().insert(key.clone());
        self.pending.insert(key.clone());
        self.entries.insert(
            key,
            Entry {
                id,
                slot: Slot::Pending,
            },
        );
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.pending.remove(key);
        if let Some(keys) = self.by_id.get_mut(&entry.id) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_id.remove(&entry.id);
            }
        }
        if matches!(entry.slot, Slot::Done(_)) {
            self.done -= 1;
        }
        Some(entry)
    }

    /// Drops every tree before `key` in the walk (all of them without a key): the
    /// walker has passed them. True if any was dropped.
    fn drop_before(&mut self, key: Option<&Key>) -> bool {
        let passed: Vec<Key> = match key {
            Some(key) => self
                .entries
                .range::<Key, _>(..key)
                .map(|(k, _)| k.clone())
                .collect(),
            None => self.entries.keys().cloned().collect(),
        };
        for k in &passed {
            self.remove(k);
        }
        !passed.is_empty()
    }

    /// The subtrees of the tree at `key` become known.
    fn add_children(&mut self, key: &Key, loaded: &Loaded) {
        let Ok(nodes) = loaded else { return };
        for (pos, node) in nodes.iter().enumerate() {
            if let Some(sub) = node.node.subtree {
                let mut child = key.clone();
                child.push(u32::try_from(pos).unwrap_or(u32::MAX));
                if !self.entries.contains_key(&child) {
                    self.insert(child, sub);
                }
            }
        }
    }

    /// Marks every pending place of `id` as loading.
    fn start(&mut self, id: &TreeId) {
        let keys: Vec<Key> = self.by_id.get(id).into_iter().flatten().cloned().collect();
        for k in keys {
            if let Some(e) = self.entries.get_mut(&k) {
                if matches!(e.slot, Slot::Pending) {
                    e.slot = Slot::Loading;
                    self.pending.remove(&k);
                }
            }
        }
    }

    /// Hands a finished load to every place of `id` waiting for it.
    fn fill(&mut self, id: &TreeId, loaded: Loaded) {
        let waiting: Vec<Key> = self
            .by_id
            .get(id)
            .into_iter()
            .flatten()
            .filter(|k| {
                self.entries
                    .get(*k)
                    .is_some_and(|e| matches!(e.slot, Slot::Loading))
            })
            .cloned()
            .collect();
        for k in &waiting {
            self.add_children(k, &loaded);
        }
        // Copies only for a tree waited for at more than one place.
        let mut loaded = Some(loaded);
        for (n, k) in waiting.iter().enumerate() {
            let slot = if n + 1 == waiting.len() {
                loaded.take()
            } else {
                loaded.clone()
            };
            if let (Some(e), Some(l)) = (self.entries.get_mut(k), slot) {
                e.slot = Slot::Done(l);
                self.done += 1;
            }
        }
    }
}

pub(crate) struct Prefetch<'a> {
    inner: &'a (dyn Trees + Sync),
    window: usize,
    state: Mutex<State>,
    /// A tree finished loading.
    loaded: Condvar,
    /// Work was queued, a place in the window came free, or the prefetcher closed.
    work: Condvar,
}

impl<'a> Prefetch<'a> {
    pub fn new(inner: &'a (dyn Trees + Sync)) -> Self {
        Self::with_window(inner, WINDOW)
    }

    pub fn with_window(inner: &'a (dyn Trees + Sync), window: usize) -> Self {
        Prefetch {
            inner,
            window: window.max(1),
            state: Mutex::new(State::default()),
            loaded: Condvar::new(),
            work: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A loader thread's loop: until `close`.
    pub fn run_loader(&self) {
        let mut st = self.lock();
        loop {
            if st.closed {
                return;
            }
            let next = st.pending.first().cloned();
            let room = st.in_flight + st.done < self.window;
            let Some(key) = next.filter(|_| room) else {
                st = self.work.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let id = st.entries[&key].id;
            st.start(&id);
            st.in_flight += 1;
            drop(st);
            let loaded = self.inner.load(&id);
            st = self.lock();
            st.in_flight -= 1;
            st.fill(&id, loaded);
            self.loaded.notify_all();
            self.work.notify_all();
        }
    }

    /// Stops the loader threads (they finish the load in hand).
    pub fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
    }

    /// Loads `id` on the caller's thread for a place nobody knew: a new root.
    fn load_unknown(&self, mut st: MutexGuard<'_, State>, id: &TreeId) -> Loaded {
        let key = vec![st.roots];
        st.roots += 1;
        st.drop_before(None);
        drop(st);
        let loaded = self.inner.load(id);
        let mut st = self.lock();
        st.add_children(&key, &loaded);
        self.work.notify_all();
        loaded
    }
}

impl Trees for Prefetch<'_> {
    fn load(&self, id: &TreeId) -> Result<Vec<Named>, String> {
        let mut st = self.lock();
        loop {
            let Some(key) = st.by_id.get(id).and_then(|keys| keys.first()).cloned() else {
                return self.load_unknown(st, id);
            };
            if st.drop_before(Some(&key)) {
                self.work.notify_all();
            }
            match st.entries.get(&key).map(|e| &e.slot) {
                Some(Slot::Done(_)) => {
                    if let Some(Entry {
                        slot: Slot::Done(loaded),
                        ..
                    }) = st.remove(&key)
                    {
                        self.work.notify_all();
                        return loaded;
                    }
                }
                Some(Slot::Loading) => {
                    st = self.loaded.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
                Some(Slot::Pending) | None => {
                    st.start(id);
                    drop(st);
                    let loaded = self.inner.load(id);
                    st = self.lock();
                    st.fill(id, loaded);
                    self.loaded.notify_all();
                }
            }
        }
    }

    fn blob_len(&self, id: &DataId) -> Option<u32> {
        self.inner.blob_len(id)
    }
}

/// Closes a `Prefetch` when dropped, so loader threads end even if the walk stops
/// early or panics (a scope would otherwise wait for them forever).
pub(crate) struct CloseOnDrop<'p, 'a>(pub &'p Prefetch<'a>);

impl Drop for CloseOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustic_core::repofile::{Node, NodeType};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A chain of trees: tree i holds `fanout` directories, all pointing to tree i+1.
    struct Chain {
        depth: u8,
        fanout: usize,
        loads: AtomicUsize,
    }

    fn id(n: u8) -> TreeId {
        rustic_core::Id::new([n; 32]).into()
    }

    /// A directory node named `name` pointing to `subtree`.
    fn dir(name: &str, subtree: Option<TreeId>) -> Named {
        let mut node = Node::new_node(name.as_ref(), NodeType::Dir, Default::default());
        node.subtree = subtree;
        Named {
            name: name.into(),
            node,
        }
    }

    impl Trees for Chain {
        fn load(&self, t: &TreeId) -> Result<Vec<Named>, String> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let level = (0..self.depth)
                .find(|l| id(*l) == *t)
                .ok_or("unknown tree")?;
            if level == 3 {
                return Err("tree 3 is damaged".into());
            }
            Ok((0..self.fanout)
                .map(|i| {
                    dir(
                        &format!("d{i}"),
                        (level + 1 < self.depth).then(|| id(level + 1)),
                    )
                })
                .collect())
        }
        fn blob_len(&self, _: &DataId) -> Option<u32> {
            None
        }
    }

    #[test]
    fn prefetch_gives_the_same_trees_and_errors_as_the_inner_loader() {
        let inner = Chain {
            depth: 6,
            fanout: 3,
            loads: AtomicUsize::new(0),
        };
        let p = Prefetch::new(&inner);
        std::thread::scope(|s| {
            let _close = CloseOnDrop(&p);
            for _ in 0..2 {
                s.spawn(|| p.run_loader());
            }
            for level in 0..6u8 {
                let got = p.load(&id(level));
                let want = inner.load(&id(level));
                match (got, want) {
                    (Ok(g), Ok(w)) => {
                        let names =
                            |v: &[Named]| v.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
                        assert_eq!(names(&g), names(&w));
                    }
                    (Err(g), Err(w)) => assert_eq!(g, w),
                    (g, w) => panic!("level {level}: {:?} vs {:?}", g.is_ok(), w.is_ok()),
                }
            }
        });
    }

    /// Trees from a table: each tree lists `(name, subtree)`; counts loads per tree.
    struct Table {
        trees: HashMap<TreeId, Vec<(String, Option<TreeId>)>>,
        loads: Mutex<HashMap<TreeId, usize>>,
    }

    impl Table {
        /// Tree `n` holds the directories `children[n]`.
        fn new(children: &[(u8, &[u8])]) -> Self {
            let trees = children
                .iter()
                .map(|(n, subs)| {
                    let list = subs
                        .iter()
                        .map(|s| (format!("d{s:03}"), Some(id(*s))))
                        .collect();
                    (id(*n), list)
                })
                .collect();
            Table {
                trees,
                loads: Mutex::default(),
            }
        }

        fn loads(&self, n: u8) -> usize {
            self.loads.lock().unwrap().get(&id(n)).copied().unwrap_or(0)
        }

        /// Waits until every tree of `ns` was loaded (by the loaders): the state the
        /// test needs, with a deadline only to fail instead of hanging.
        fn wait_loaded(&self, ns: &[u8]) {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while ns.iter().any(|n| self.loads(*n) == 0) {
                let missing: Vec<_> = ns.iter().filter(|n| self.loads(**n) == 0).collect();
                assert!(
                    std::time::Instant::now() < deadline,
                    "trees {missing:?} were never prefetched"
                );
                std::thread::yield_now();
            }
        }
    }

    impl Trees for Table {
        fn load(&self, t: &TreeId) -> Result<Vec<Named>, String> {
            *self.loads.lock().unwrap().entry(*t).or_default() += 1;
            let list = self.trees.get(t).ok_or("unknown tree")?;
            Ok(list.iter().map(|(name, sub)| dir(name, *sub)).collect())
        }
        fn blob_len(&self, _: &DataId) -> Option<u32> {
            None
        }
    }

    /// 0 -> 1 -> 2 -> ... -> `depth - 1`, one directory each.
    fn chain(from: u8, depth: u8) -> Vec<(u8, Vec<u8>)> {
        (from..from + depth)
            .map(|n| {
                (
                    n,
                    if n + 1 < from + depth {
                        vec![n + 1]
                    } else {
                        vec![]
                    },
                )
            })
            .collect()
    }

    fn table(rows: &[(u8, Vec<u8>)]) -> Table {
        let rows: Vec<(u8, &[u8])> = rows.iter().map(|(n, c)| (*n, c.as_slice())).collect();
        Table::new(&rows)
    }

    #[test]
    fn loaders_run_down_the_tree_ahead_of_the_walker() {
        let inner = table(&chain(0, 12));
        let p = Prefetch::new(&inner);
        std::thread::scope(|s| {
            let _close = CloseOnDrop(&p);
            for _ in 0..2 {
                s.spawn(|| p.run_loader());
            }
            p.load(&id(0)).unwrap();
            // Only the root was asked for; the loaders find and load the rest.
            inner.wait_loaded(&(1..12).collect::<Vec<_>>());
            for n in 1..12 {
                let got = p.load(&id(n)).unwrap();
                assert_eq!(got.len(), usize::from(n < 11), "tree {n}");
            }
        });
        for n in 0..12 {
            assert_eq!(inner.loads(n), 1, "tree {n} was loaded once");
        }
    }

    #[test]
    fn a_skipped_subtree_does_not_hold_the_window() {
        // The root holds 1 (a chain the walker skips) and 20 (a chain it walks).
        let mut rows = vec![(0, vec![1, 20])];
        rows.extend(chain(1, 10));
        rows.extend(chain(20, 6));
        let inner = table(&rows);
        let p = Prefetch::with_window(&inner, 2);
        std::thread::scope(|s| {
            let _close = CloseOnDrop(&p);
            s.spawn(|| p.run_loader());
            p.load(&id(0)).unwrap();
            p.load(&id(20)).unwrap();
            // Trees under 1 come first in the walk and fill the window; asking for
            // 20 drops them, so the loaders go on with 20's subtrees.
            inner.wait_loaded(&[21, 22]);
            for n in 21..26 {
                p.load(&id(n)).unwrap();
            }
        });
        assert!(
            inner.loads(10) == 0,
            "the window stopped the loaders in the skipped chain"
        );
    }

    #[test]
    fn a_tree_at_several_places_is_loaded_once_for_all_of_them() {
        let mut st = State::default();
        st.insert(vec![0, 0], id(3));
        st.insert(vec![0, 1], id(3));
        st.insert(vec![0, 2], id(4));
        st.start(&id(3));
        assert_eq!(st.pending.iter().collect::<Vec<_>>(), [&vec![0, 2]]);
        st.fill(&id(3), Ok(vec![]));
        assert_eq!(st.done, 2, "both places of tree 3 got the one load");
        assert!(matches!(st.entries[&vec![0, 1]].slot, Slot::Done(Ok(_))));
        st.drop_before(Some(&vec![0, 2]));
        assert_eq!((st.done, st.entries.len(), st.by_id.len()), (0, 1, 1));
    }

    #[test]
    fn prefetch_closes_its_loaders_when_the_walk_stops() {
        let inner = Chain {
            depth: 3,
            fanout: 2,
            loads: AtomicUsize::new(0),
        };
        let p = Prefetch::new(&inner);
        std::thread::scope(|s| {
            let _close = CloseOnDrop(&p);
            s.spawn(|| p.run_loader());
            let _ = p.load(&id(0));
        });
        assert!(p.lock().closed);
    }
}
