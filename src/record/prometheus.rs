//! Prometheus textfile output: `render` (pure) and `write_atomic`.
//!
//! node_exporter's textfile collector skips files with client-side timestamps and
//! can read a half-written file, so no sample carries a timestamp and the file is
//! replaced atomically (`state::atomic::replace`: temp file in the same directory,
//! fsync, rename), 0640 with the directory's group (node_exporter's), never through
//! a link planted at the target.
//! Every known series is emitted for every repository, with NaN where a value is
//! unknown (an errored run has no snapshot count; 0 would read as "fresh").
//!
//! A fire drill (`restic-verify drill`) never writes the job's file: its own file
//! (`drill_path`, `<job>.drill.prom`) holds only `restic_verify_drill*` families,
//! so the real success series neither fails nor "recovers" because of a drill.
//! The job's next real run removes the drill file (`remove_drill`), which ends a
//! drill alert by the series going away, not by a value an alert rule would read
//! as a recovery.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::{Error, RunRecord};
use crate::compare::Class;
use crate::finding::{Category, Outcome};
use crate::state::atomic;

struct Family {
    name: &'static str,
    help: &'static str,
}

const SUCCESS: Family = Family {
    name: "restic_verify_success",
    help: "Whether the last run of the job on the repository passed (1) or not (0).",
};
const LAST_RUN: Family = Family {
    name: "restic_verify_last_run_timestamp_seconds",
    help: "When the last run of the job on the repository started.",
};
const LAST_SUCCESS: Family = Family {
    name: "restic_verify_last_success_timestamp_seconds",
    help: "When the job last passed on the repository (0 if never).",
};
const DURATION: Family = Family {
    name: "restic_verify_duration_seconds",
    help: "How long the last run took.",
};
const SNAPSHOTS: Family = Family {
    name: "restic_verify_snapshots",
    help: "Snapshots matching the job's filters (NaN if the run could not list them).",
};
const NEWEST_AGE: Family = Family {
    name: "restic_verify_newest_snapshot_age_seconds",
    help: "Age of the newest matching snapshot at the last run (NaN if unknown).",
};
const CHECK_ERRORS: Family = Family {
    name: "restic_verify_check_errors",
    help: "Errors restic check reported in the last run (NaN if it did not complete).",
};
const COVERAGE: Family = Family {
    name: "restic_verify_check_cycle_coverage_ratio",
    help: "Share of pack data read in the current read-data cycle (1 for a full --read-data).",
};
const CYCLE_DONE: Family = Family {
    name: "restic_verify_check_cycle_completed_timestamp_seconds",
    help: "When every pack was last read (0 if never).",
};
const DAMAGED_PACKS: Family = Family {
    name: "restic_verify_damaged_packs",
    help: "Broken (damaged or missing) packs the last check named (NaN if it did not complete).",
};
const DAMAGED_SNAPSHOTS: Family = Family {
    name: "restic_verify_damaged_snapshots",
    help:
        "Snapshots referencing a broken pack, found by the last check (NaN if it did not complete).",
};
const UNREAD_PACKS: Family = Family {
    name: "restic_verify_unread_packs",
    help: "Packs no completed check has read since they were first seen (pack ledger; NaN without a state-dir or when the run did not complete).",
};
const UNREAD_BYTES: Family = Family {
    name: "restic_verify_unread_bytes",
    help: "Bytes of those packs (NaN where pack sizes are unknown).",
};
const OLDEST_UNREAD: Family = Family {
    name: "restic_verify_oldest_unread_pack_age_seconds",
    help: "The longest a current pack has gone unread by a completed check: since its last read, or since it was first seen.",
};
const READ_WITHIN_WINDOW: Family = Family {
    name: "restic_verify_read_within_window_ratio",
    help: "Share of pack bytes (of packs, where sizes are unknown) read within the job's outdated-after window (NaN without outdated-after).",
};
const ERROR: Family = Family {
    name: "restic_verify_error",
    help: "1 for the category of error that stopped the last run, 0 for the others.",
};
const LEGACY_STATUS: Family = Family {
    name: "restic_verification_status",
    help: "Legacy name kept for existing alert rules: 1 ok, 0 failed.",
};

const RESTORE_FILES: Family = Family {
    name: "restic_verify_restore_test_files",
    help: "Files of the last restore test per class (match, mismatch, changed, source_missing, restore_failed, unreadable).",
};
const RESTORE_BYTES: Family = Family {
    name: "restic_verify_restore_test_bytes",
    help: "Bytes restored by the last restore test.",
};
const RESTORE_THROUGHPUT: Family = Family {
    name: "restic_verify_restore_test_throughput_bytes_per_second",
    help: "Restore throughput measured by the last restore test.",
};
const RESTORE_RTO: Family = Family {
    name: "restic_verify_restore_test_estimated_full_restore_seconds",
    help: "Seconds a full restore of the snapshot takes: measured by a full drill, or modelled from calibration restore calls (NaN when no trustworthy estimate exists; the JSONL record's restore_test.rto says why).",
};
const RESTORE_VERIFIED: Family = Family {
    name: "restic_verify_restore_test_verified_files",
    help: "Files the last restore test restored and compared (match or mismatch); below min-verified the run is not_verified.",
};
const RESTORE_MIN_VERIFIED: Family = Family {
    name: "restic_verify_restore_test_min_verified_files",
    help: "The verification floor of the last restore test (min-verified).",
};
const RESTORE_REPLACEMENTS: Family = Family {
    name: "restic_verify_restore_test_replacement_draws",
    help: "Files drawn by the last restore test to replace sampled files set aside as changed or missing.",
};
const RESTORE_FULL: Family = Family {
    name: "restic_verify_restore_test_full_restore_seconds",
    help: "Wall time of the one restic restore call of the last full drill (restore-test --full): the snapshot's measured full-restore time (or its selected subset's).",
};
const LEGACY_RESTORE_STATUS: Family = Family {
    name: "restic_restore_test_status",
    help: "Legacy name kept for existing alert rules: 1 ok, 0 failed.",
};

const AUDIT_FILES: Family = Family {
    name: "restic_verify_audit_files",
    help: "Entries of the last audit per class (match, mismatch, changed, source_missing, not_in_backup, new, unreadable, damaged).",
};
const AUDIT_BYTES: Family = Family {
    name: "restic_verify_audit_bytes_verified",
    help: "Bytes the last audit hashed and found equal to the snapshot.",
};
const AUDIT_FILES_VERIFIED: Family = Family {
    name: "restic_verify_audit_files_verified",
    help: "Regular files the last audit hashed and found equal to the snapshot.",
};

/// Renders the textfile for one job's runs (one per repository).
pub fn render(runs: &[RunRecord]) -> String {
    let mut runs: Vec<&RunRecord> = runs.iter().collect();
    runs.sort_by(|a, b| (&a.job, &a.repository).cmp(&(&b.job, &b.repository)));
    let mut out = String::new();
    let ok = |r: &RunRecord| if r.outcome == Outcome::Pass { 1.0 } else { 0.0 };
    let check = |r: &RunRecord, f: &dyn Fn(&super::CheckRecord) -> Option<f64>| {
        r.check.as_ref().and_then(f).unwrap_or(f64::NAN)
    };
    gauge(&mut out, &SUCCESS, &runs, |r| ok(r));
    gauge(&mut out, &LAST_RUN, &runs, |r| ts(Some(r.ts)));
    gauge(&mut out, &LAST_SUCCESS, &runs, |r| ts(r.last_success));
    gauge(&mut out, &DURATION, &runs, |r| r.duration_seconds);
    let checks: Vec<&RunRecord> = runs.iter().copied().filter(|r| r.kind == "check").collect();
    let restores: Vec<&RunRecord> = runs
        .iter()
        .copied()
        .filter(|r| r.kind == "restore-test")
        .collect();
    let runs = &runs[..];
    gauge(&mut out, &SNAPSHOTS, &checks, |r| {
        check(r, &|c| c.snapshots.map(|n| n as f64))
    });
    gauge(&mut out, &NEWEST_AGE, &checks, |r| {
        check(r, &|c| c.newest_snapshot_age_seconds)
    });
    gauge(&mut out, &CHECK_ERRORS, &checks, |r| {
        if r.error.is_some() {
            f64::NAN
        } else {
            check(r, &|c| Some(c.errors.len() as f64))
        }
    });
    gauge(&mut out, &COVERAGE, &checks, |r| {
        check(r, &|c| match (&c.rotation, c.read_data_subset.as_deref()) {
            (Some(rot), _) => Some(rot.coverage_ratio),
            (None, Some("all")) if r.error.is_none() => Some(1.0),
            _ => Some(0.0),
        })
    });
    gauge(&mut out, &CYCLE_DONE, &checks, |r| {
        ts(r.check.as_ref().and_then(|c| c.last_full_read))
    });
    let damaged = |r: &RunRecord, f: &dyn Fn(&crate::check::damage::Damage) -> usize| match (
        &r.error, &r.damage,
    ) {
        (Some(_), _) => f64::NAN,
        (None, Some(d)) => f(d) as f64,
        (None, None) => 0.0,
    };
    gauge(&mut out, &DAMAGED_PACKS, &checks, |r| {
        damaged(r, &|d| d.packs.len())
    });
    gauge(&mut out, &DAMAGED_SNAPSHOTS, &checks, |r| {
        damaged(r, &|d| d.snapshots.len())
    });
    let cov = |r: &RunRecord, f: &dyn Fn(&crate::state::ledger::Coverage) -> Option<f64>| {
        r.check
            .as_ref()
            .and_then(|c| c.coverage.as_ref())
            .and_then(f)
            .unwrap_or(f64::NAN)
    };
    gauge(&mut out, &UNREAD_PACKS, &checks, |r| {
        cov(r, &|c| Some(c.unread_packs as f64))
    });
    gauge(&mut out, &UNREAD_BYTES, &checks, |r| {
        cov(r, &|c| c.unread_bytes.map(|b| b as f64))
    });
    gauge(&mut out, &OLDEST_UNREAD, &checks, |r| {
        cov(r, &|c| c.oldest_unread_age_seconds)
    });
    gauge(&mut out, &READ_WITHIN_WINDOW, &checks, |r| {
        cov(r, &|c| c.read_within_window_ratio)
    });
    header(&mut out, &ERROR);
    for r in runs {
        for c in Category::ALL {
            let v = if r.error.as_ref().is_some_and(|e| e.category == c) {
                1.0
            } else {
                0.0
            };
            sample(
                &mut out,
                ERROR.name,
                &[
                    ("job", &r.job),
                    ("repository", &r.repository),
                    ("category", c.as_str()),
                ],
                v,
            );
        }
    }
    // The legacy series carry `job` too: two jobs on one repository (a weekly
    // rotation and a monthly full read) would otherwise write the same series into
    // two files, which node_exporter rejects as a duplicate for the whole scrape.
    gauge(&mut out, &LEGACY_STATUS, &checks, |r| ok(r));
    if !restores.is_empty() {
        header(&mut out, &RESTORE_FILES);
        for r in &restores {
            for c in Class::ALL {
                let n = r
                    .restore_test
                    .as_ref()
                    .and_then(|t| t.counts.get(c.as_str()).copied())
                    .map_or(f64::NAN, |n| n as f64);
                sample(
                    &mut out,
                    RESTORE_FILES.name,
                    &[
                        ("job", &r.job),
                        ("repository", &r.repository),
                        ("class", c.as_str()),
                    ],
                    n,
                );
            }
        }
    }
    let restore = |r: &RunRecord, f: &dyn Fn(&super::RestoreRecord) -> Option<f64>| {
        r.restore_test
            .as_ref()
            .filter(|t| t.snapshot.is_some())
            .and_then(f)
            .unwrap_or(f64::NAN)
    };
    gauge(&mut out, &RESTORE_BYTES, &restores, |r| {
        restore(r, &|t| Some(t.bytes_restored as f64))
    });
    gauge(&mut out, &RESTORE_THROUGHPUT, &restores, |r| {
        restore(r, &|t| t.throughput_bytes_per_second)
    });
    gauge(&mut out, &RESTORE_RTO, &restores, |r| {
        restore(r, &|t| t.estimated_full_restore_seconds)
    });
    gauge(&mut out, &RESTORE_VERIFIED, &restores, |r| {
        restore(r, &|t| Some(t.verified as f64))
    });
    gauge(&mut out, &RESTORE_MIN_VERIFIED, &restores, |r| {
        restore(r, &|t| Some(t.min_verified as f64))
    });
    gauge(&mut out, &RESTORE_REPLACEMENTS, &restores, |r| {
        restore(r, &|t| Some(t.replacement_draws as f64))
    });
    // Only runs that were full drills and got as far as the restore have one.
    let drills: Vec<&RunRecord> = restores
        .iter()
        .filter(|r| r.restore_test.as_ref().is_some_and(|t| t.full.is_some()))
        .copied()
        .collect();
    gauge(&mut out, &RESTORE_FULL, &drills, |r| {
        restore(r, &|t| t.full.as_ref().map(|f| f.seconds))
    });
    gauge(&mut out, &LEGACY_RESTORE_STATUS, &restores, |r| ok(r));
    let audits: Vec<&RunRecord> = runs.iter().copied().filter(|r| r.kind == "audit").collect();
    if !audits.is_empty() {
        header(&mut out, &AUDIT_FILES);
        for r in &audits {
            for c in crate::audit::Class::ALL {
                let n = r
                    .audit
                    .as_ref()
                    .map_or(f64::NAN, |a| a.counts.get(c) as f64);
                sample(
                    &mut out,
                    AUDIT_FILES.name,
                    &[
                        ("job", &r.job),
                        ("repository", &r.repository),
                        ("class", c.as_str()),
                    ],
                    n,
                );
            }
        }
    }
    gauge(&mut out, &AUDIT_BYTES, &audits, |r| {
        r.audit
            .as_ref()
            .map_or(f64::NAN, |a| a.bytes_verified as f64)
    });
    gauge(&mut out, &AUDIT_FILES_VERIFIED, &audits, |r| {
        r.audit
            .as_ref()
            .map_or(f64::NAN, |a| a.files_verified as f64)
    });
    out
}

const DRILL: Family = Family {
    name: "restic_verify_drill",
    help: "A fire drill (restic-verify drill) of the job on the repository is in effect: 1 when its deliberately falsified finding failed the run as intended (its alerts should fire, marked DRILL), 0 when the drill could not verify. The real series are untouched; the job's next real run removes this file.",
};
const DRILL_TIMESTAMP: Family = Family {
    name: "restic_verify_drill_timestamp_seconds",
    help: "When the last fire drill of the job on the repository started.",
};
const DRILL_NOTIFICATION_FAILURES: Family = Family {
    name: "restic_verify_drill_notification_failures",
    help: "Notifications of the job's last fire drill that failed after one retry, per notifier.",
};

/// The textfile of a fire drill: only the drill families.
pub fn render_drill(runs: &[RunRecord], job: &str, failures: &BTreeMap<String, u64>) -> String {
    let mut runs: Vec<&RunRecord> = runs.iter().collect();
    runs.sort_by(|a, b| (&a.job, &a.repository).cmp(&(&b.job, &b.repository)));
    let mut out = String::new();
    gauge(&mut out, &DRILL, &runs, |r| {
        if r.outcome == Outcome::Fail {
            1.0
        } else {
            0.0
        }
    });
    gauge(&mut out, &DRILL_TIMESTAMP, &runs, |r| ts(Some(r.ts)));
    if !failures.is_empty() {
        header(&mut out, &DRILL_NOTIFICATION_FAILURES);
        for (notifier, n) in failures {
            sample(
                &mut out,
                DRILL_NOTIFICATION_FAILURES.name,
                &[("job", job), ("notifier", notifier)],
                *n as f64,
            );
        }
    }
    out
}

/// Where a fire drill of the job whose textfile is `metrics` writes:
/// `restic-verify-nightly.prom` → `restic-verify-nightly.drill.prom`.
pub fn drill_path(metrics: &Path) -> std::path::PathBuf {
    let stem = metrics
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    metrics.with_file_name(format!("{stem}.drill.prom"))
}

/// Removes the drill file of the job whose textfile is `metrics` (a real run ends
/// the drill); a missing file is fine.
///
/// # Errors
/// The file exists and cannot be removed.
pub fn remove_drill(metrics: &Path) -> Result<(), Error> {
    let path = drill_path(metrics);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Metrics { path, source }),
    }
}

const NOTIFICATION_FAILURES: Family = Family {
    name: "restic_verify_notification_failures",
    help: "Notifications of the job's last run that failed after one retry, per notifier.",
};

/// The notification-failure family for one job (nothing when it has no notifiers).
pub fn render_notifications(job: &str, failures: &BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    if failures.is_empty() {
        return out;
    }
    header(&mut out, &NOTIFICATION_FAILURES);
    for (notifier, n) in failures {
        sample(
            &mut out,
            NOTIFICATION_FAILURES.name,
            &[("job", job), ("notifier", notifier)],
            *n as f64,
        );
    }
    out
}

fn ts(t: Option<DateTime<Utc>>) -> f64 {
    t.map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0)
}

fn header(out: &mut String, f: &Family) {
    let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
    let _ = writeln!(out, "# TYPE {} gauge", f.name);
}

/// One family with one series per run; nothing at all when there are no runs.
fn gauge(out: &mut String, f: &Family, runs: &[&RunRecord], value: impl Fn(&RunRecord) -> f64) {
    if runs.is_empty() {
        return;
    }
    header(out, f);
    for r in runs {
        sample(
            out,
            f.name,
            &[("job", &r.job), ("repository", &r.repository)],
            value(r),
        );
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), format_value(v));
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Escapes a label value as the text format requires: `\`, `"` and newline.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Writes `content` to `path` atomically (`state::atomic::replace`).
///
/// The file is 0640 with the group of its directory, never world-readable:
/// node_exporter reads it as a member of that group (give the textfile directory
/// node_exporter's group; setgid when the tool does not run as root).
///
/// # Errors
/// The directory is missing or not writable.
pub fn write_atomic(path: &Path, content: &str) -> Result<(), Error> {
    let dir = atomic::dir_of(path);
    if !dir.is_dir() {
        return Err(Error::MetricsDirMissing {
            dir: dir.to_owned(),
        });
    }
    atomic::replace(path, content.as_bytes(), atomic::Access::DirGroup).map_err(|source| {
        Error::Metrics {
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CheckRecord, ErrorRecord};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn record(repo: &str, outcome: Outcome) -> RunRecord {
        let t = Utc
            .with_ymd_and_hms(2026, 1, 1, 3, 0, 0)
            .single()
            .expect("time");
        RunRecord {
            v: 1,
            ts: t,
            host: "h".into(),
            job: "weekly".into(),
            kind: "check".into(),
            repository: repo.into(),
            outcome,
            drill: false,
            duration_seconds: 1.5,
            restic_version: Some("0.14.0".into()),
            tool_version: "0.1.0".into(),
            last_success: (outcome == Outcome::Pass).then_some(t),
            check: Some(CheckRecord {
                read_data_subset: Some("all".into()),
                snapshots: Some(3),
                newest_snapshot_age_seconds: Some(3600.0),
                ..Default::default()
            }),
            restore_test: None,
            findings: vec![],
            damage: None,
            audit: None,
            error: (outcome == Outcome::Error).then(|| ErrorRecord {
                category: Category::Locked,
                message: "x".into(),
                retryable: true,
            }),
        }
    }

    #[test]
    fn render_sorts_series_and_marks_error_category() {
        let text = render(&[record("b", Outcome::Error), record("a", Outcome::Pass)]);
        let success: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("restic_verify_success{"))
            .collect();
        assert_eq!(
            success,
            [
                "restic_verify_success{job=\"weekly\",repository=\"a\"} 1",
                "restic_verify_success{job=\"weekly\",repository=\"b\"} 0"
            ]
        );
        assert!(text.contains(
            "restic_verify_error{job=\"weekly\",repository=\"b\",category=\"locked\"} 1\n"
        ));
        assert!(text.contains(
            "restic_verify_error{job=\"weekly\",repository=\"a\",category=\"locked\"} 0\n"
        ));
        assert!(text.contains("restic_verify_check_errors{job=\"weekly\",repository=\"b\"} NaN\n"));
        assert!(text.contains(
            "restic_verify_last_success_timestamp_seconds{job=\"weekly\",repository=\"b\"} 0\n"
        ));
        assert!(text.contains("restic_verification_status{job=\"weekly\",repository=\"a\"} 1\n"));
        assert_eq!(
            text.matches("# TYPE restic_verify_success gauge").count(),
            1
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn render_restore_test_not_verified_shows_the_floor_and_the_category() {
        let mut r = record("nas", Outcome::Error);
        r.kind = "restore-test".into();
        r.check = None;
        r.restore_test = Some(crate::record::RestoreRecord {
            snapshot: Some(crate::record::SnapshotRef {
                id: "abc".into(),
                time: "2026-01-01T00:00:00Z".into(),
                host: "h".into(),
                paths: vec!["/data".into()],
            }),
            sampled: 40,
            verified: 3,
            min_verified: 20,
            replacement_draws: 20,
            ..Default::default()
        });
        r.error = Some(ErrorRecord {
            category: Category::NotVerified,
            message: "only 3".into(),
            retryable: false,
        });
        let text = render(&[r]);
        for line in [
            "restic_verify_restore_test_verified_files{job=\"weekly\",repository=\"nas\"} 3\n",
            "restic_verify_restore_test_min_verified_files{job=\"weekly\",repository=\"nas\"} 20\n",
            "restic_verify_restore_test_replacement_draws{job=\"weekly\",repository=\"nas\"} 20\n",
            "restic_verify_error{job=\"weekly\",repository=\"nas\",category=\"not_verified\"} 1\n",
            "restic_verify_error{job=\"weekly\",repository=\"nas\",category=\"permission\"} 0\n",
            "restic_restore_test_status{job=\"weekly\",repository=\"nas\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }

    #[test]
    fn render_full_drill_exports_the_measured_restore_seconds_and_samples_do_not() {
        let mut drill = record("nas", Outcome::Pass);
        drill.kind = "restore-test".into();
        drill.check = None;
        let snapshot = Some(crate::record::SnapshotRef {
            id: "abc".into(),
            time: "2026-01-01T00:00:00Z".into(),
            host: "h".into(),
            paths: vec!["/data".into()],
        });
        drill.restore_test = Some(crate::record::RestoreRecord {
            snapshot: snapshot.clone(),
            full: Some(crate::record::FullRecord {
                seconds: 42.5,
                files: 200_004,
                bytes: 3_300_000_000,
                whole_snapshot: true,
            }),
            ..Default::default()
        });
        let mut sampled = drill.clone();
        sampled.repository = "usb".into();
        sampled.restore_test = Some(crate::record::RestoreRecord {
            snapshot,
            ..Default::default()
        });
        let text = render(&[drill, sampled]);
        assert!(text.contains(
            "restic_verify_restore_test_full_restore_seconds{job=\"weekly\",repository=\"nas\"} 42.5\n"
        ));
        assert!(
            !text.contains("restore_test_full_restore_seconds{job=\"weekly\",repository=\"usb\"}")
        );
        assert_eq!(
            text.matches("# TYPE restic_verify_restore_test_full_restore_seconds gauge")
                .count(),
            1
        );
    }

    #[test]
    fn render_drill_has_only_drill_families_and_a_path_beside_the_jobs() {
        let mut drill = record("nas", Outcome::Fail);
        drill.drill = true;
        let failures: BTreeMap<String, u64> = [("ntfy".to_owned(), 0)].into();
        let text = render_drill(&[drill], "weekly", &failures);
        assert!(text.contains("restic_verify_drill{job=\"weekly\",repository=\"nas\"} 1\n"));
        assert!(text.contains(
            "restic_verify_drill_timestamp_seconds{job=\"weekly\",repository=\"nas\"} 1767236400\n"
        ));
        assert!(text.contains(
            "restic_verify_drill_notification_failures{job=\"weekly\",notifier=\"ntfy\"} 0\n"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("restic_verify_drill"), "{line}");
        }
        assert_eq!(
            drill_path(Path::new("/m/restic-verify-weekly.prom")),
            Path::new("/m/restic-verify-weekly.drill.prom")
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("j.prom");
        remove_drill(&real).expect("nothing to remove is fine");
        write_atomic(&drill_path(&real), &text).expect("write");
        remove_drill(&real).expect("remove");
        assert!(!drill_path(&real).exists());
    }

    #[test]
    fn render_golden() {
        insta::assert_snapshot!(render(&[record("nas", Outcome::Pass)]));
    }

    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn escape_label_round_trips_and_never_leaves_a_bare_quote_or_newline(v in ".*") {
            let e = escape_label(&v);
            prop_assert!(!e.contains('\n'));
            prop_assert_eq!(unescape(&e), v);
        }
    }

    #[test]
    fn write_atomic_replaces_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.prom");
        write_atomic(&p, "a 1\n").expect("write");
        write_atomic(&p, "a 2\n").expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "a 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        assert!(matches!(
            write_atomic(&dir.path().join("no/x.prom"), ""),
            Err(Error::MetricsDirMissing { .. })
        ));
    }
}
