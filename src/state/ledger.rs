//! The pack coverage ledger of one repository: for every pack, when it was first
//! seen and when its data was last read by a check that completed, so that the
//! longest any byte has waited unverified is known (not just where a rotation
//! stands). Pure bookkeeping plus its file in `state-dir`, written atomically.
//!
//! A pack belongs to group `n/t` the way restic decides it: `(first byte of the pack
//! ID) % t == n - 1`. `--read-data` reads every pack; a random `x%` or size subset
//! reads an unknown set, so nothing is marked read for it. Packs that are gone
//! (prune) leave the ledger. The file keeps a 16-hex-digit prefix of each pack ID
//! (64 bits: no collision in any real repository) and a format version; an unknown
//! version is set aside and the ledger starts again, like `state`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of the ledger file format.
pub const LEDGER_VERSION: u32 = 1;
/// Hex digits of a pack ID the ledger keeps.
const KEY_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read pack ledger {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write pack ledger {}: {source}; check `state-dir`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What is known about one pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    /// First seen, epoch seconds.
    pub seen: i64,
    /// Data last read by a completed check, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<i64>,
    /// Size in bytes, when the listing gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The ledger of one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub v: u32,
    /// Pack ID prefix → what is known.
    pub packs: BTreeMap<String, Pack>,
}

/// Which packs a completed check read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `--read-data`.
    All,
    /// Group `n` of `t` (1-based).
    Group(u16, u16),
    /// Structure only, or a random subset: nothing known to be read.
    Unknown,
}

/// Where coverage stands, for metrics, records and `outdated-after`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub packs: u64,
    /// Packs never read since first seen.
    pub unread_packs: u64,
    /// Their bytes, when every size is known.
    pub unread_bytes: Option<u64>,
    /// The longest a current pack has gone unread (since its last read, or since it
    /// was first seen).
    pub oldest_unread_age_seconds: Option<f64>,
    /// Share of bytes (or of packs, when sizes are unknown) read within the window.
    pub read_within_window_ratio: Option<f64>,
    /// Packs (and bytes) unread for longer than the window.
    pub overdue_packs: u64,
    pub overdue_bytes: Option<u64>,
}

/// The key the ledger keeps for a pack ID.
fn key(id: &str) -> Option<String> {
    let id = id.trim();
    (id.len() >= KEY_LEN && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| id[..KEY_LEN].to_ascii_lowercase())
}

/// The group (1-based) a pack belongs to in `t` groups, as restic computes it.
pub fn group_of(id: &str, t: u16) -> Option<u16> {
    let first = u8::from_str_radix(id.get(..2)?, 16).ok()?;
    Some(u16::from(first) % t.max(1) + 1)
}

impl Ledger {
    /// Brings the ledger in line with the repository's packs: new ones are seen
    /// now, vanished ones leave, sizes are refreshed. Returns (added, removed).
    pub fn observe<'a>(
        &mut self,
        listing: impl IntoIterator<Item = (&'a str, Option<u64>)>,
        now: DateTime<Utc>,
    ) -> (usize, usize) {
        self.v = LEDGER_VERSION;
        let mut current = BTreeMap::new();
        let mut added = 0;
        for (id, size) in listing {
            let Some(k) = key(id) else { continue };
            let entry = match self.packs.get(&k) {
                Some(p) => Pack {
                    size: size.or(p.size),
                    ..*p
                },
                None => {
                    added += 1;
                    Pack {
                        seen: now.timestamp(),
                        read: None,
                        size,
                    }
                }
            };
            current.insert(k, entry);
        }
        let removed = self
            .packs
            .keys()
            .filter(|k| !current.contains_key(*k))
            .count();
        self.packs = current;
        (added, removed)
    }

    /// Marks what a completed check read.
    pub fn mark_read(&mut self, read: Read, now: DateTime<Utc>) {
        let t = now.timestamp();
        for (k, p) in &mut self.packs {
            let hit = match read {
                Read::All => true,
                Read::Group(n, total) => group_of(k, total) == Some(n),
                Read::Unknown => false,
            };
            if hit {
                p.read = Some(t);
            }
        }
    }

    /// What the ledger knows of a pack (by its full or 16-digit ID).
    pub fn get(&self, id: &str) -> Option<&Pack> {
        self.packs.get(&key(id)?)
    }

    /// Marks packs read one by one (the in-process reader's); unknown IDs are
    /// skipped. Returns how many were marked.
    pub fn mark_packs_read<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> usize {
        let mut n = 0;
        for id in ids {
            if let Some(p) = key(id).and_then(|k| self.packs.get_mut(&k)) {
                p.read = Some(now.timestamp());
                n += 1;
            }
        }
        n
    }

    /// Where coverage stands at `now`, with `window` as `outdated-after`.
    pub fn coverage(&self, now: DateTime<Utc>, window: Option<Duration>) -> Coverage {
        let now_s = now.timestamp();
        let sizes_known = self.packs.values().all(|p| p.size.is_some());
        let size = |p: &Pack| p.size.unwrap_or(0);
        let waited = |p: &Pack| now_s.saturating_sub(p.read.unwrap_or(p.seen)).max(0);
        let unread: Vec<&Pack> = self.packs.values().filter(|p| p.read.is_none()).collect();
        let window_s = window.map(|w| i64::try_from(w.as_secs()).unwrap_or(i64::MAX));
        let overdue: Vec<&Pack> = match window_s {
            Some(w) => self.packs.values().filter(|p| waited(p) > w).collect(),
            None => Vec::new(),
        };
        let ratio = window_s.and_then(|w| {
            let fresh = |p: &&Pack| p.read.is_some_and(|r| now_s.saturating_sub(r) <= w);
            if self.packs.is_empty() {
                None
            } else if sizes_known {
                let total: u64 = self.packs.values().map(size).sum();
                let done: u64 = self.packs.values().filter(fresh).map(size).sum();
                (total > 0).then(|| done as f64 / total as f64)
            } else {
                let done = self.packs.values().filter(fresh).count();
                Some(done as f64 / self.packs.len() as f64)
            }
        });
        Coverage {
            packs: self.packs.len() as u64,
            unread_packs: unread.len() as u64,
            unread_bytes: sizes_known.then(|| unread.iter().map(|p| size(p)).sum()),
            oldest_unread_age_seconds: self.packs.values().map(waited).max().map(|s| s as f64),
            read_within_window_ratio: ratio,
            overdue_packs: overdue.len() as u64,
            overdue_bytes: (window.is_some() && sizes_known)
                .then(|| overdue.iter().map(|p| size(p)).sum()),
        }
    }

    /// For `read-budget`: the number of groups `t` such that one group holds about
    /// `budget` bytes, and the group whose packs have waited longest (by the sum of
    /// bytes × wait, so a large old pack counts more). `None` when sizes are unknown.
    pub fn budget_group(&self, budget: u64, now: DateTime<Utc>) -> Option<(u16, u16, u64)> {
        let total: u64 = self.packs.values().map(|p| p.size).sum::<Option<u64>>()?;
        if total == 0 || self.packs.is_empty() {
            return None;
        }
        let t = total.div_ceil(budget.max(1)).clamp(1, u64::from(u16::MAX));
        let t = u16::try_from(t).unwrap_or(u16::MAX).min(256);
        let now_s = now.timestamp();
        let mut weight = vec![(0u128, 0u64); usize::from(t)];
        for (k, p) in &self.packs {
            let Some(g) = group_of(k, t) else { continue };
            let wait = u128::try_from(now_s.saturating_sub(p.read.unwrap_or(p.seen)).max(0))
                .unwrap_or(0)
                + 1;
            let size = p.size.unwrap_or(0);
            let slot = &mut weight[usize::from(g - 1)];
            slot.0 += wait * u128::from(size.max(1));
            slot.1 += size;
        }
        let (idx, (_, bytes)) = weight
            .iter()
            .enumerate()
            .max_by_key(|(i, (w, _))| (*w, std::cmp::Reverse(*i)))?;
        Some((u16::try_from(idx + 1).ok()?, t, *bytes))
    }
}

/// The ledger file of a repository in a state directory (shared by every job that
/// checks the repository with the same state directory).
pub fn path(state_dir: &Path, repository: &str) -> PathBuf {
    state_dir.join(format!("ledger-{repository}.json"))
}

/// Loads a ledger; a missing file is an empty ledger. A file of an unknown format
/// version (or unreadable JSON) is renamed aside and the ledger starts again, with
/// a warning.
///
/// # Errors
/// The file exists but cannot be read.
pub fn load(path: &Path) -> Result<(Ledger, Option<String>), Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Ledger::default(), None)),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    match serde_json::from_str::<Ledger>(&text) {
        Ok(l) if l.v == LEDGER_VERSION => Ok((l, None)),
        Ok(_) | Err(_) => {
            let aside = path.with_extension("json.unreadable");
            let _ = std::fs::rename(path, &aside);
            Ok((
                Ledger::default(),
                Some(format!(
                    "pack ledger {} has an unknown format; kept it as {} and started a new ledger (every pack counts as unread until a check reads it)",
                    path.display(),
                    aside.display()
                )),
            ))
        }
    }
}

/// Writes the ledger atomically (`super::atomic::replace`, mode 0600).
///
/// # Errors
/// The state directory is not writable.
pub fn save(path: &Path, ledger: &Ledger) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let body = serde_json::to_vec(ledger).map_err(|e| err(std::io::Error::other(e)))?;
    super::atomic::replace(path, &body, super::atomic::Access::Owner).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("time")
    }

    const A: &str = "00aa000000000000000000000000000000000000000000000000000000000000";
    const B: &str = "01bb000000000000000000000000000000000000000000000000000000000000";
    const C: &str = "02cc000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn group_of_follows_restics_first_byte_rule() {
        assert_eq!(group_of(A, 3), Some(1));
        assert_eq!(group_of(B, 3), Some(2));
        assert_eq!(group_of(C, 3), Some(3));
        assert_eq!(group_of("ff", 256), Some(256));
    }

    #[test]
    fn rotation_over_a_cycle_reads_every_pack_once() {
        let mut l = Ledger::default();
        l.observe([(A, Some(10)), (B, Some(20)), (C, Some(30))], at(0));
        assert_eq!(l.coverage(at(0), None).unread_packs, 3);
        for (k, n) in [(1, 100), (2, 200), (3, 300)] {
            l.mark_read(Read::Group(k, 3), at(n));
        }
        let c = l.coverage(at(300), None);
        assert_eq!(c.unread_packs, 0);
        assert_eq!(c.unread_bytes, Some(0));
        // Pack A was read longest ago.
        assert_eq!(c.oldest_unread_age_seconds, Some(200.0));
    }

    #[test]
    fn observe_adds_new_packs_as_unread_and_drops_vanished_ones() {
        let mut l = Ledger::default();
        l.observe([(A, None), (B, None)], at(0));
        l.mark_read(Read::All, at(10));
        let (added, removed) = l.observe([(B, None), (C, None)], at(20));
        assert_eq!((added, removed), (1, 1));
        let c = l.coverage(at(50), None);
        assert_eq!(c.packs, 2);
        assert_eq!(c.unread_packs, 1);
        assert_eq!(c.unread_bytes, None, "sizes unknown");
        assert_eq!(c.oldest_unread_age_seconds, Some(40.0), "B read at 10");
    }

    #[test]
    fn mark_packs_read_marks_exactly_the_named_known_packs() {
        let mut l = Ledger::default();
        l.observe([(A, Some(1)), (B, Some(2))], at(0));
        let unknown = "ff00000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(l.mark_packs_read([B, unknown], at(9)), 1);
        assert_eq!(l.get(B).and_then(|p| p.read), Some(9));
        assert_eq!(l.get(A).and_then(|p| p.read), None);
        assert_eq!(l.get(unknown), None);
    }

    #[test]
    fn random_subsets_mark_nothing_read() {
        let mut l = Ledger::default();
        l.observe([(A, Some(1))], at(0));
        l.mark_read(Read::Unknown, at(5));
        assert_eq!(l.coverage(at(5), None).unread_packs, 1);
    }

    #[test]
    fn coverage_counts_overdue_packs_and_the_share_read_within_the_window() {
        let mut l = Ledger::default();
        l.observe([(A, Some(100)), (B, Some(300))], at(0));
        l.mark_read(Read::Group(1, 2), at(1000)); // A (group 1 of 2: 0x00 % 2 = 0)
        let c = l.coverage(at(1500), Some(Duration::from_secs(600)));
        assert_eq!(c.overdue_packs, 1, "B waited 1500 s since first seen");
        assert_eq!(c.overdue_bytes, Some(300));
        assert_eq!(c.read_within_window_ratio, Some(0.25));
    }

    #[test]
    fn budget_group_picks_the_group_that_waited_longest() {
        let mut l = Ledger::default();
        l.observe([(A, Some(100)), (B, Some(100)), (C, Some(100))], at(0));
        l.mark_read(Read::Group(1, 3), at(500));
        l.mark_read(Read::Group(3, 3), at(600));
        let (g, t, bytes) = l.budget_group(100, at(700)).expect("sizes known");
        assert_eq!((g, t, bytes), (2, 3, 100), "B never read");
        let mut unknown = Ledger::default();
        unknown.observe([(A, None)], at(0));
        assert_eq!(unknown.budget_group(100, at(1)), None);
    }

    #[test]
    fn load_sets_an_unknown_format_aside_and_save_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "nas");
        assert_eq!(load(&p).expect("missing is empty").0, Ledger::default());
        let mut l = Ledger::default();
        l.observe([(A, Some(7))], at(3));
        save(&p, &l).expect("save");
        assert_eq!(load(&p).expect("load").0, l);
        std::fs::write(&p, "{\"v\":99,\"packs\":{}}").expect("write");
        let (fresh, warning) = load(&p).expect("load");
        assert_eq!(fresh, Ledger::default());
        assert!(warning.expect("warned").contains("unknown format"));
        assert!(dir.path().join("ledger-nas.json.unreadable").exists());
    }
}
