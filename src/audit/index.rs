//! The part of the repository's index the audit needs: every data blob's plaintext
//! length, and where each tree blob lies (pack, offset, length, compression).
//!
//! rustic_core's index answers the same questions by a binary search over one
//! sorted array of 48-byte entries: 18 probes at 250k blobs, nearly each a cache
//! miss, about 6% of the audit's CPU on the 200k-file benchmark. Blob IDs are
//! SHA-256 hashes, so their first bytes are uniform: here a table of bucket starts,
//! indexed by an ID's leading bits (about four IDs per bucket), narrows each
//! lookup to a few neighbouring entries. Entries are 36 bytes for data blobs (ID and
//! length), so the table is also smaller than rustic_core's. Pure: built from
//! the index files' pack lists, then read-only and shared by the threads.

use std::num::NonZeroU32;

/// Where a tree blob lies, as the index records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TreeLoc {
    /// Position in `BlobIndex::packs`.
    pub pack: u32,
    pub offset: u32,
    /// Bytes in the pack (encrypted, maybe compressed).
    pub length: u32,
    /// Plaintext length when the blob is compressed (repository v2).
    pub uncompressed: Option<NonZeroU32>,
}

/// IDs sorted, with the start of each bucket of equal leading bits.
#[derive(Debug)]
pub(crate) struct Table<V> {
    entries: Vec<([u8; 32], V)>,
    starts: Vec<u32>,
    shift: u32,
}

impl<V: Copy> Table<V> {
    /// Sorts, drops repeated IDs (a blob stored twice: the first is kept) and
    /// builds the buckets.
    pub fn new(mut entries: Vec<([u8; 32], V)>) -> Table<V> {
        entries.sort_unstable_by_key(|e| e.0);
        entries.dedup_by(|a, b| a.0 == b.0);
        entries.shrink_to_fit();
        // About four entries per bucket; at least 1 bit, at most 24 (64 MiB of starts).
        let bits = (entries.len() / 4).max(2).ilog2().clamp(1, 23) + 1;
        let shift = 32 - bits;
        let mut starts = vec![0u32; (1usize << bits) + 1];
        let mut at = 0usize;
        for (bucket, start) in starts.iter_mut().enumerate() {
            while at < entries.len() && (lead(&entries[at].0) >> shift) < bucket as u32 {
                at += 1;
            }
            *start = u32::try_from(at).unwrap_or(u32::MAX);
        }
        Table {
            entries,
            starts,
            shift,
        }
    }

    pub fn get(&self, id: &[u8; 32]) -> Option<V> {
        let b = (lead(id) >> self.shift) as usize;
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        let run = &self.entries[lo..hi];
        run.binary_search_by(|e| e.0.cmp(id)).ok().map(|i| run[i].1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

fn lead(id: &[u8; 32]) -> u32 {
    u32::from_be_bytes([id[0], id[1], id[2], id[3]])
}

/// The index as the audit reads it.
#[derive(Debug)]
pub(crate) struct BlobIndex {
    /// Data blob ID → plaintext length.
    pub data: Table<u32>,
    pub trees: Table<TreeLoc>,
    /// Pack IDs, by `TreeLoc::pack`.
    pub packs: Vec<[u8; 32]>,
}

/// Collects the packs of every index file, then sorts once.
#[derive(Default)]
pub(crate) struct Builder {
    data: Vec<([u8; 32], u32)>,
    trees: Vec<([u8; 32], TreeLoc)>,
    packs: Vec<[u8; 32]>,
}

/// A blob as an index file lists it.
pub(crate) struct Listed {
    pub id: [u8; 32],
    pub is_tree: bool,
    pub offset: u32,
    pub length: u32,
    pub uncompressed: Option<NonZeroU32>,
}

/// Encryption adds a 16-byte nonce and a 16-byte MAC to every blob.
const CRYPTO_OVERHEAD: u32 = 32;

impl Builder {
    /// Adds one pack's blobs. Only tree packs' locations are kept (a data pack is
    /// never read); a data blob keeps its plaintext length.
    pub fn pack(&mut self, pack: [u8; 32], blobs: impl IntoIterator<Item = Listed>) {
        let idx = u32::try_from(self.packs.len()).unwrap_or(u32::MAX);
        let mut has_tree = false;
        for b in blobs {
            if b.is_tree {
                has_tree = true;
                self.trees.push((
                    b.id,
                    TreeLoc {
                        pack: idx,
                        offset: b.offset,
                        length: b.length,
                        uncompressed: b.uncompressed,
                    },
                ));
            } else {
                let len = b
                    .uncompressed
                    .map_or(b.length.saturating_sub(CRYPTO_OVERHEAD), NonZeroU32::get);
                self.data.push((b.id, len));
            }
        }
        if has_tree {
            self.packs.push(pack);
        }
    }

    pub fn build(self) -> BlobIndex {
        BlobIndex {
            data: Table::new(self.data),
            trees: Table::new(self.trees),
            packs: self.packs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn id(n: u32) -> [u8; 32] {
        Sha256::digest(n.to_le_bytes()).into()
    }

    #[test]
    fn every_id_is_found_and_no_other() {
        for n in [0u32, 1, 2, 3, 5, 17, 1000, 70_000] {
            let t = Table::new((0..n).map(|i| (id(i), i)).collect());
            assert_eq!(t.len(), n as usize);
            for i in 0..n {
                assert_eq!(t.get(&id(i)), Some(i), "{i} of {n}");
            }
            for i in n..n + 50 {
                assert_eq!(t.get(&id(i)), None, "{i} is not in a table of {n}");
            }
        }
    }

    #[test]
    fn extreme_ids_land_in_the_first_and_last_bucket() {
        let (lo, hi) = ([0u8; 32], [0xffu8; 32]);
        let t = Table::new(vec![(hi, 2), (lo, 1), (id(7), 3)]);
        assert_eq!(
            (t.get(&lo), t.get(&hi), t.get(&id(7))),
            (Some(1), Some(2), Some(3))
        );
    }

    #[test]
    fn a_blob_stored_twice_is_kept_once() {
        let t = Table::new(vec![(id(1), 10), (id(2), 20), (id(1), 10)]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(&id(1)), Some(10));
    }

    #[test]
    fn data_lengths_and_tree_locations_come_from_the_listing() {
        let mut b = Builder::default();
        let blob = |n, is_tree, uncompressed| Listed {
            id: id(n),
            is_tree,
            offset: n * 100,
            length: 90,
            uncompressed: NonZeroU32::new(uncompressed),
        };
        b.pack(id(1000), [blob(1, false, 0), blob(2, false, 500)]);
        b.pack(id(1001), [blob(3, true, 0), blob(4, true, 700)]);
        let ix = b.build();
        // v1: plaintext = stored length - nonce - MAC; v2 compressed: as recorded
        assert_eq!(ix.data.get(&id(1)), Some(58));
        assert_eq!(ix.data.get(&id(2)), Some(500));
        assert_eq!(ix.data.get(&id(3)), None, "a tree is not a data blob");
        assert_eq!(ix.packs, vec![id(1001)], "only tree packs are kept");
        let t = ix.trees.get(&id(4)).unwrap();
        assert_eq!((t.pack, t.offset, t.length), (0, 400, 90));
        assert_eq!(t.uncompressed, NonZeroU32::new(700));
    }
}
