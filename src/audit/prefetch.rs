//! Loads tree blobs ahead of the walker, on helper threads.
//!
//! The walker needs one tree at a time, in depth-first order, and each load is a
//! read (an HTTP request on REST), a decryption, a decompression and a JSON parse
//! on the walker's thread, the one the whole audit waits for. `Prefetch` wraps the
//! repository's `Trees`: whenever a tree is handed out, the subtrees it lists are
//! queued for the loader threads, up to `WINDOW` trees held or in flight, newest
//! first: the walker goes depth first, so the subtrees of the tree it just took are
//! the ones it asks for next (oldest first, loaders fetched siblings it would reach
//! last and left it loading its next tree itself, one round trip at a time). A tree
//! not (yet) prefetched is loaded on the spot, so the result never depends on
//! timing. Trees prefetched but never asked for (a subtree the caller's excludes
//! skip) only take a place in the window.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rustic_core::{DataId, TreeId};

use super::repo::{Named, Trees};

/// Trees queued, loading or loaded but not yet taken, at most.
const WINDOW: usize = 64;

#[derive(Default)]
struct State {
    queue: VecDeque<TreeId>,
    loading: HashSet<TreeId>,
    done: HashMap<TreeId, Result<Vec<Named>, String>>,
    closed: bool,
}

impl State {
    fn held(&self) -> usize {
        self.queue.len() + self.loading.len() + self.done.len()
    }

    fn knows(&self, id: &TreeId) -> bool {
        self.done.contains_key(id) || self.loading.contains(id) || self.queue.contains(id)
    }
}

pub(crate) struct Prefetch<'a> {
    inner: &'a (dyn Trees + Sync),
    state: Mutex<State>,
    /// A tree finished loading.
    loaded: Condvar,
    /// Work was queued, or the prefetcher closed.
    work: Condvar,
}

impl<'a> Prefetch<'a> {
    pub fn new(inner: &'a (dyn Trees + Sync)) -> Self {
        Prefetch {
            inner,
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
            let Some(id) = st.queue.pop_back() else {
                st = self.work.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            st.loading.insert(id);
            drop(st);
            let result = self.inner.load(&id);
            st = self.lock();
            st.loading.remove(&id);
            st.done.insert(id, result);
            self.loaded.notify_all();
        }
    }

    /// Stops the loader threads (they finish the load in hand).
    pub fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
    }
}

impl Trees for Prefetch<'_> {
    fn load(&self, id: &TreeId) -> Result<Vec<Named>, String> {
        let mut st = self.lock();
        let result = loop {
            if let Some(r) = st.done.remove(id) {
                break r;
            }
            if st.loading.contains(id) {
                st = self.loaded.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            if let Some(at) = st.queue.iter().position(|q| q == id) {
                st.queue.remove(at);
            }
            drop(st);
            let r = self.inner.load(id);
            st = self.lock();
            break r;
        };
        if let Ok(nodes) = &result {
            let mut queued = false;
            // The first subtree last in, so that it is the first out.
            let subtrees: Vec<TreeId> = nodes.iter().filter_map(|n| n.node.subtree).collect();
            for sub in subtrees.into_iter().rev() {
                if st.closed || st.held() >= WINDOW {
                    break;
                }
                if !st.knows(&sub) {
                    st.queue.push_back(sub);
                    queued = true;
                }
            }
            if queued {
                self.work.notify_all();
            }
        }
        result
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
                    let name = format!("d{i}");
                    let mut node = Node::new_node(name.as_ref(), NodeType::Dir, Default::default());
                    node.subtree = (level + 1 < self.depth).then(|| id(level + 1));
                    Named {
                        name: name.into(),
                        node,
                    }
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
