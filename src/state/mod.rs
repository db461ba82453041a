//! Persisted per-job, per-repository state: last run, last success, the
//! `rotate/T` cursor of `check --read-data-subset`, and the dense restore calls the
//! RTO model fits across runs (bounded by `rto::remember`); `ledger` keeps per-pack
//! coverage.
//!
//! The rotation logic is pure (`Rotation`); `load`/`save` are the only file I/O and
//! save atomically (`atomic::replace`: temp file in the same directory, fsync,
//! rename, mode 0600), so a crash never leaves a half-written cursor. A state file that cannot be parsed is moved aside,
//! never silently overwritten.

pub mod atomic;
pub mod ledger;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::rto;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read state file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write state file {}: {source}; check that `state-dir` exists and is writable", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What is remembered between runs of one job on one repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// Schema version.
    pub v: u32,
    pub last_run: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub rotation: Option<Rotation>,
    /// When every pack was last read: a full `--read-data`, or the end of a rotation cycle.
    #[serde(default)]
    pub last_full_read: Option<DateTime<Utc>>,
    /// Restore tests: calibration and full-restore calls of earlier runs, timed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_calls: Vec<rto::Measured>,
}

/// Where a `rotate/T` cycle stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// T: the number of groups.
    pub groups: u16,
    /// The group the next run reads (1-based).
    pub next: u16,
    /// Groups read in the current cycle.
    pub done: Vec<u16>,
    pub cycle_started: DateTime<Utc>,
    /// When a cycle last covered every group.
    pub last_cycle_completed: Option<DateTime<Utc>>,
}

impl Rotation {
    /// The rotation for a run starting at `now`: continues `prev`, or starts a new
    /// cycle when there is none, when T changed, or when the last cycle completed.
    pub fn begin(prev: Option<Rotation>, groups: u16, now: DateTime<Utc>) -> Rotation {
        match prev {
            Some(r) if r.groups == groups && r.next >= 1 && r.next <= groups => {
                if usize::from(groups) <= r.done.len() {
                    Rotation {
                        done: Vec::new(),
                        cycle_started: now,
                        ..r
                    }
                } else {
                    r
                }
            }
            Some(r) => Rotation {
                groups,
                next: 1,
                done: Vec::new(),
                cycle_started: now,
                last_cycle_completed: r.last_cycle_completed.filter(|_| r.groups == groups),
            },
            None => Rotation {
                groups,
                next: 1,
                done: Vec::new(),
                cycle_started: now,
                last_cycle_completed: None,
            },
        }
    }

    /// The group this run reads: `(k, T)`.
    pub fn group(&self) -> (u16, u16) {
        (self.next, self.groups)
    }

    /// Records that the run reading the current group completed (pass or fail).
    pub fn complete(&mut self, now: DateTime<Utc>) {
        if !self.done.contains(&self.next) {
            self.done.push(self.next);
        }
        self.next = self.next % self.groups + 1;
        if usize::from(self.groups) <= self.done.len() {
            self.last_cycle_completed = Some(now);
        }
    }

    /// The share of packs read in the current cycle.
    pub fn coverage(&self) -> f64 {
        self.done.len() as f64 / f64::from(self.groups)
    }
}

/// The state file of a job on a repository.
pub fn path(state_dir: &Path, job: &str, repository: &str) -> PathBuf {
    state_dir.join(format!("{}.{}.json", sanitize(job), sanitize(repository)))
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Loads state; a missing file is a fresh state. An unparsable file is moved to
/// `<file>.corrupt` (so nothing is lost) and a fresh state is returned with a warning.
///
/// # Errors
/// The file exists but cannot be read.
pub fn load(path: &Path) -> Result<(JobState, Option<String>), Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((JobState::default(), None))
        }
        Err(source) => {
            return Err(Error::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    match serde_json::from_str(&text) {
        Ok(s) => Ok((s, None)),
        Err(e) => {
            let aside = path.with_extension("json.corrupt");
            let _ = std::fs::rename(path, &aside);
            Ok((
                JobState::default(),
                Some(format!(
                    "state file {} could not be parsed ({e}); moved it to {} and started afresh",
                    path.display(),
                    aside.display()
                )),
            ))
        }
    }
}

/// Saves state atomically (`atomic::replace`, mode 0600).
///
/// # Errors
/// The directory is missing or not writable.
pub fn save(path: &Path, state: &JobState) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut body = serde_json::to_vec_pretty(&JobState {
        v: 1,
        ..state.clone()
    })
    .map_err(|e| err(std::io::Error::other(e)))?;
    body.push(b'\n');
    atomic::replace(path, &body, atomic::Access::Owner).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn rotation_over_t_runs_reads_each_group_once_then_completes_the_cycle() {
        let mut r: Option<Rotation> = None;
        let mut seen = Vec::new();
        for run in 0..4 {
            let mut cur = Rotation::begin(r.take(), 4, t(run));
            seen.push(cur.group());
            cur.complete(t(run));
            r = Some(cur);
        }
        assert_eq!(seen, vec![(1, 4), (2, 4), (3, 4), (4, 4)]);
        let done = r.expect("state");
        assert_eq!(done.coverage(), 1.0);
        assert_eq!(done.last_cycle_completed, Some(t(3)));
        let next = Rotation::begin(Some(done), 4, t(5));
        assert_eq!(next.group(), (1, 4));
        assert_eq!(next.coverage(), 0.0);
        assert_eq!(next.cycle_started, t(5));
        assert_eq!(next.last_cycle_completed, Some(t(3)));
    }

    #[test]
    fn rotation_does_not_advance_without_a_completed_run() {
        let first = Rotation::begin(None, 3, t(0));
        // The run errored: `complete` is not called, state is saved unchanged.
        let again = Rotation::begin(Some(first.clone()), 3, t(1));
        assert_eq!(again.group(), (1, 3));
    }

    #[test]
    fn rotation_with_changed_group_count_restarts() {
        let mut r = Rotation::begin(None, 3, t(0));
        r.complete(t(0));
        let r = Rotation::begin(Some(r), 5, t(1));
        assert_eq!((r.group(), r.done.len()), ((1, 5), 0));
    }

    proptest! {
        #[test]
        fn rotation_any_t_covers_every_group_exactly_once_per_cycle(t_groups in 1u16..=256) {
            let mut r = None;
            let mut seen = Vec::new();
            for i in 0..t_groups {
                let mut cur = Rotation::begin(r.take(), t_groups, t(0) + chrono::Duration::hours(i.into()));
                seen.push(cur.group().0);
                cur.complete(t(0));
                r = Some(cur);
            }
            seen.sort_unstable();
            prop_assert_eq!(seen, (1..=t_groups).collect::<Vec<_>>());
            prop_assert!(r.expect("state").last_cycle_completed.is_some());
        }
    }

    #[test]
    fn save_then_load_round_trips_and_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "weekly", "nas");
        let mut s = JobState {
            last_run: Some(t(1)),
            ..Default::default()
        };
        s.rotation = Some(Rotation::begin(None, 12, t(1)));
        save(&p, &s).expect("save");
        let (loaded, warn) = load(&p).expect("load");
        assert_eq!(loaded.rotation, s.rotation);
        assert!(warn.is_none());
        std::fs::write(&p, "{not json").expect("write");
        let (fresh, warn) = load(&p).expect("load");
        assert_eq!(fresh, JobState::default());
        assert!(warn.expect("warning").contains("moved it to"));
        assert!(p.with_extension("json.corrupt").exists());
    }

    #[test]
    fn timed_calls_round_trip_bit_for_bit_so_a_refit_gives_the_same_estimate() {
        // 12.563200461909359 is one of the values serde_json's fast float parser
        // reads one ULP off; the state file (and the JSONL readers) need the
        // exact value.
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "monthly", "nas");
        let seconds = [12.563_200_461_909_359, 0.1 + 0.2, 1e-7 / 3.0];
        let s = JobState {
            restore_calls: seconds
                .iter()
                .map(|&seconds| rto::Measured {
                    at: t(2),
                    restic: "0.18.0".to_owned(),
                    call: rto::Call {
                        kind: rto::CallKind::Subtree,
                        files: 10,
                        bytes: 100,
                        seconds,
                        failed: false,
                    },
                })
                .collect(),
            ..Default::default()
        };
        save(&p, &s).expect("save");
        let (loaded, _) = load(&p).expect("load");
        let back: Vec<u64> = loaded
            .restore_calls
            .iter()
            .map(|m| m.call.seconds.to_bits())
            .collect();
        let want: Vec<u64> = seconds.iter().map(|s| s.to_bits()).collect();
        assert_eq!(back, want);
    }
}
