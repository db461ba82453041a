//! What an audit found, as data: the class of every entry, the counts, and a capped,
//! deterministic list of the entries that are not `match`.
//!
//! `Collector` is the one place results are added; the walker and the hashing workers
//! share it behind a mutex. The failure policy (`Class::is_failure`) lives here and
//! nowhere else. This module does no I/O.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::finding;

/// The class of one entry (file, directory, symlink, special file) of the snapshot
/// or of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// In both, equal: for a regular file every content blob hashed equal.
    Match,
    /// Size and mtime equal, bytes differ (bit rot in the source or the backup). With
    /// an immutable source also any metadata difference.
    Mismatch,
    /// Size, mtime, type, mode or symlink target differ: the source changed since the
    /// backup.
    Changed,
    /// In the snapshot, not in the source: deleted since.
    SourceMissing,
    /// In the source, older than the snapshot, not excluded by it, yet not in it: the
    /// backup missed it (restic probably could not read it).
    NotInBackup,
    /// In the source, created after the snapshot.
    New,
    /// The source could not be read (permissions, I/O error): not verified.
    Unreadable,
    /// The snapshot itself is damaged here: a tree blob that cannot be loaded or does
    /// not hash to its ID, or a content blob missing from the index.
    Damaged,
}

impl Class {
    /// Every class, in the order counts list them.
    pub const ALL: [Class; 8] = [
        Class::Match,
        Class::Mismatch,
        Class::Changed,
        Class::SourceMissing,
        Class::NotInBackup,
        Class::New,
        Class::Unreadable,
        Class::Damaged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Match => "match",
            Class::Mismatch => "mismatch",
            Class::Changed => "changed",
            Class::SourceMissing => "source_missing",
            Class::NotInBackup => "not_in_backup",
            Class::New => "new",
            Class::Unreadable => "unreadable",
            Class::Damaged => "damaged",
        }
    }

    /// Whether an entry of this class fails the audit. With an immutable source (a
    /// ZFS snapshot the backup read) the source cannot have changed, so every
    /// difference fails. `Unreadable` is never a failure: it is an error (could not
    /// verify), see [`AuditOutcome::verdict`].
    pub fn is_failure(self, immutable_source: bool) -> bool {
        match self {
            Class::Match | Class::Unreadable => false,
            Class::Mismatch | Class::NotInBackup | Class::Damaged => true,
            Class::Changed | Class::SourceMissing | Class::New => immutable_source,
        }
    }

    fn index(self) -> usize {
        match self {
            Class::Match => 0,
            Class::Mismatch => 1,
            Class::Changed => 2,
            Class::SourceMissing => 3,
            Class::NotInBackup => 4,
            Class::New => 5,
            Class::Unreadable => 6,
            Class::Damaged => 7,
        }
    }
}

/// Entries per class. Serialises as a map with every class present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u64; 8]);

impl Counts {
    pub fn get(&self, class: Class) -> u64 {
        self.0[class.index()]
    }

    pub fn add(&mut self, class: Class, n: u64) {
        self.0[class.index()] += n;
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Classes with a non-zero count, in `Class::ALL` order.
    pub fn nonzero(&self) -> impl Iterator<Item = (Class, u64)> + '_ {
        Class::ALL
            .into_iter()
            .map(|c| (c, self.get(c)))
            .filter(|(_, n)| *n > 0)
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(Class::ALL.len()))?;
        for c in Class::ALL {
            m.serialize_entry(c.as_str(), &self.get(c))?;
        }
        m.end()
    }
}

/// One entry that is not `match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path in the snapshot's tree (as `restic ls` shows it); for an entry only in
    /// the source, where it would be. Raw bytes: names need not be UTF-8.
    pub path: PathBuf,
    /// The path in the source that was compared.
    pub source: PathBuf,
    pub class: Class,
    /// Whether this entry fails the audit (see [`Class::is_failure`]).
    pub failure: bool,
    /// What differs, in words ("size 10 → 12", "blob 3 of 5 differs at byte 8388608").
    pub detail: String,
}

impl Entry {
    /// The path for people: invalid UTF-8 shown as U+FFFD.
    pub fn display_path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Sort key: failures first, then errors, then the rest; by path bytes within.
    fn rank(&self) -> u8 {
        if self.failure {
            0
        } else if self.class == Class::Unreadable {
            1
        } else {
            2
        }
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank()
            .cmp(&other.rank())
            .then_with(|| self.path.cmp(&other.path))
            .then_with(|| self.class.cmp(&other.class))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `path` and `source` as (lossy) strings, plus `path_hex` when the tree path is not
/// UTF-8, so a consumer can still address the exact name.
impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let raw = self.path.as_os_str().to_str().is_none();
        let mut m = s.serialize_map(Some(if raw { 6 } else { 5 }))?;
        m.serialize_entry("path", &self.display_path())?;
        if raw {
            m.serialize_entry("path_hex", &hex(self.path.as_os_str()))?;
        }
        m.serialize_entry("source", &self.source.to_string_lossy())?;
        m.serialize_entry("class", &self.class)?;
        m.serialize_entry("failure", &self.failure)?;
        m.serialize_entry("detail", &self.detail)?;
        m.end()
    }
}

fn hex(s: &OsStr) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.as_bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The snapshot that was audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// Full hex ID.
    pub id: String,
    pub time: chrono::DateTime<chrono::Utc>,
    pub hostname: String,
    /// Absolute paths as the backup recorded them.
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    /// The `--exclude` patterns the backup recorded; source entries they match are
    /// not expected in the snapshot.
    pub excludes: Vec<String>,
}

/// One backed-up path and the source it was compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Root {
    /// The snapshot path (from `paths`).
    pub snapshot_path: String,
    /// Where it sits in the snapshot's tree (follows how the backup path was typed).
    pub tree_path: PathBuf,
    /// The directory or file it was compared with.
    pub source: PathBuf,
}

/// The result of one audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditOutcome {
    pub snapshot: SnapshotInfo,
    pub roots: Vec<Root>,
    pub immutable_source: bool,
    /// Entries per class (directories, symlinks and special files count too).
    pub counts: Counts,
    /// Entries that fail the audit.
    pub failures: u64,
    /// Regular files whose every byte was hashed and found equal.
    pub files_verified: u64,
    pub bytes_verified: u64,
    /// Source entries skipped because the snapshot's recorded excludes match them
    /// (an excluded directory counts once).
    pub excluded: u64,
    pub seconds: f64,
    /// Entries that are not `match`: failures first, then `unreadable`, then the rest,
    /// each group by path. At most the configured cap; below a listed directory that
    /// exists on one side only, non-failure entries are summarised in its detail.
    pub entries: Vec<Entry>,
    /// Entries left out of `entries` by the cap.
    pub truncated: u64,
}

impl AuditOutcome {
    /// Fail if anything failed; else error if anything could not be read; else pass.
    pub fn verdict(&self) -> finding::Outcome {
        if self.failures > 0 {
            finding::Outcome::Fail
        } else if self.counts.get(Class::Unreadable) > 0 {
            finding::Outcome::Error
        } else {
            finding::Outcome::Pass
        }
    }
}

/// Accumulates results; keeps the `cap` first entries in `Entry` order, so the list
/// does not depend on the order in which threads finish.
#[derive(Debug)]
pub(crate) struct Collector {
    pub immutable_source: bool,
    pub counts: Counts,
    pub failures: u64,
    pub files_verified: u64,
    pub bytes_verified: u64,
    pub excluded: u64,
    cap: usize,
    listed: u64,
    /// Max-heap: the largest kept entry is evicted first.
    kept: BinaryHeap<Entry>,
    /// Entries counted so far, on a terminal (`crate::progress`; a no-op elsewhere).
    pub progress: crate::progress::Bar,
}

impl Collector {
    pub fn new(cap: usize, immutable_source: bool) -> Self {
        Collector {
            immutable_source,
            counts: Counts::default(),
            failures: 0,
            files_verified: 0,
            bytes_verified: 0,
            excluded: 0,
            cap,
            listed: 0,
            kept: BinaryHeap::new(),
            progress: crate::progress::Bar::hidden(),
        }
    }

    /// Counts `n` entries of `class` without listing them (matches, or entries a
    /// listed directory summarises).
    pub fn count(&mut self, class: Class, n: u64) {
        self.progress.inc(n);
        self.counts.add(class, n);
        if class.is_failure(self.immutable_source) {
            self.failures += n;
        }
    }

    /// Counts and lists one entry.
    pub fn record(&mut self, path: PathBuf, source: PathBuf, class: Class, detail: String) {
        self.count(class, 1);
        self.list(path, source, class, detail);
    }

    /// Lists an entry already counted.
    pub fn list(&mut self, path: PathBuf, source: PathBuf, class: Class, detail: String) {
        if class == Class::Match {
            return;
        }
        self.listed += 1;
        let entry = Entry {
            path,
            source,
            class,
            failure: class.is_failure(self.immutable_source),
            detail,
        };
        if self.kept.len() < self.cap {
            self.kept.push(entry);
        } else if let Some(top) = self.kept.peek() {
            if entry < *top {
                self.kept.pop();
                self.kept.push(entry);
            }
        }
    }

    pub fn verified(&mut self, bytes: u64) {
        self.files_verified += 1;
        self.bytes_verified += bytes;
    }

    /// The kept entries in order and how many were left out.
    pub fn into_entries(self) -> (Vec<Entry>, u64) {
        let kept = self.kept.into_sorted_vec();
        let truncated = self.listed - kept.len() as u64;
        (kept, truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Class::Match, false, false)]
    #[case(Class::Mismatch, false, true)]
    #[case(Class::Changed, false, false)]
    #[case(Class::Changed, true, true)]
    #[case(Class::SourceMissing, false, false)]
    #[case(Class::SourceMissing, true, true)]
    #[case(Class::NotInBackup, false, true)]
    #[case(Class::New, false, false)]
    #[case(Class::Unreadable, true, false)]
    #[case(Class::Damaged, false, true)]
    fn class_is_failure_follows_the_source_kind(
        #[case] class: Class,
        #[case] immutable: bool,
        #[case] want: bool,
    ) {
        assert_eq!(class.is_failure(immutable), want);
    }

    #[test]
    fn tally_keeps_failures_first_and_counts_what_the_cap_left_out() {
        let mut t = Collector::new(2, false);
        t.record("/b".into(), "/s/b".into(), Class::New, String::new());
        t.record("/c".into(), "/s/c".into(), Class::Mismatch, String::new());
        t.record("/a".into(), "/s/a".into(), Class::Changed, String::new());
        t.record("/d".into(), "/s/d".into(), Class::Unreadable, String::new());
        t.count(Class::Match, 5);
        assert_eq!(t.failures, 1);
        assert_eq!(t.counts.total(), 9);
        let (entries, truncated) = t.into_entries();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.display_path(), e.class))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/c".to_owned(), Class::Mismatch),
                ("/d".to_owned(), Class::Unreadable)
            ]
        );
        assert_eq!(truncated, 2);
    }

    #[test]
    fn entry_serialises_non_utf8_paths_lossy_plus_hex() {
        use std::os::unix::ffi::OsStringExt;
        let e = Entry {
            path: PathBuf::from(std::ffi::OsString::from_vec(b"/a\xffb".to_vec())),
            source: "/s".into(),
            class: Class::Mismatch,
            failure: true,
            detail: "x".into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["path"], "/a\u{fffd}b");
        assert_eq!(v["path_hex"], "2f61ff62");
        assert_eq!(v["class"], "mismatch");
    }

    #[test]
    fn counts_serialise_every_class() {
        let mut c = Counts::default();
        c.add(Class::New, 2);
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v["new"], 2);
        assert_eq!(v["match"], 0);
        assert_eq!(v.as_object().unwrap().len(), 8);
    }
}
