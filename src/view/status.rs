//! Where every job × repository stands: the latest record of each, folded from a
//! stream of records (`Latest`), and the rows `status` prints (`rows`, pure: the
//! caller passes the clock).
//!
//! Memory is one record per job × repository plus the newest check, restore test
//! and audit of each repository, whatever the length of the history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Entry, ErrorPart, Verdict};
use crate::state::JobState;

/// The outcome of a row whose job has no record yet.
pub const NEVER_RUN: &str = "none";

/// What one job × repository is known for.
#[derive(Debug, Clone, Default)]
struct Slot {
    kind: Option<String>,
    latest: Option<Entry>,
    last_pass: Option<DateTime<Utc>>,
    /// The newest record of this slot that has a check part.
    check: Option<Entry>,
    state: Option<JobState>,
}

/// What one repository is known for, across its jobs.
#[derive(Debug, Clone, Default)]
struct RepoFacts {
    newest_snapshot: Option<DateTime<Utc>>,
    check: Option<Entry>,
    restore: Option<Entry>,
    audit: Option<Entry>,
}

/// The fold of a history into the latest facts.
#[derive(Debug, Clone, Default)]
pub struct Latest {
    slots: BTreeMap<(String, String), Slot>,
    repos: BTreeMap<String, RepoFacts>,
}

fn keep_newer(slot: &mut Option<Entry>, e: &Entry) {
    if slot.as_ref().is_none_or(|old| e.supersedes(old)) {
        *slot = Some(e.clone());
    }
}

impl Latest {
    /// A job × repository the profile defines: it gets a row even with no record.
    pub fn expect(&mut self, job: &str, kind: &str, repository: &str, state: Option<JobState>) {
        let slot = self
            .slots
            .entry((job.to_owned(), repository.to_owned()))
            .or_default();
        slot.kind = Some(kind.to_owned());
        slot.state = state;
    }

    /// Takes one record into account.
    pub fn add(&mut self, e: Entry) {
        let repo = self.repos.entry(e.repository.clone()).or_default();
        repo.newest_snapshot = repo.newest_snapshot.max(e.newest_snapshot_time());
        if e.check.is_some() {
            keep_newer(&mut repo.check, &e);
        }
        if e.kind == "restore-test" || e.restore_test.is_some() {
            keep_newer(&mut repo.restore, &e);
        }
        if e.kind == "audit" || e.audit.is_some() {
            keep_newer(&mut repo.audit, &e);
        }
        let slot = self
            .slots
            .entry((e.job.clone(), e.repository.clone()))
            .or_default();
        if e.verdict() == Verdict::Pass {
            slot.last_pass = slot.last_pass.max(e.ts);
        }
        if e.check.is_some() {
            keep_newer(&mut slot.check, &e);
        }
        keep_newer(&mut slot.latest, &e);
    }

    /// The rows, sorted by job and repository, as of `now`.
    pub fn rows(&self, now: DateTime<Utc>) -> Vec<Row> {
        self.slots
            .iter()
            .map(|((job, repository), slot)| self.row(job, repository, slot, now))
            .collect()
    }

    fn row(&self, job: &str, repository: &str, slot: &Slot, now: DateTime<Utc>) -> Row {
        let facts = self.repos.get(repository);
        let latest = slot.latest.as_ref();
        let state = slot.state.as_ref();
        let kind = latest
            .map(|e| e.kind.clone())
            .or_else(|| slot.kind.clone())
            .unwrap_or_default();
        let last_success = [
            slot.last_pass,
            latest.and_then(|e| e.last_success),
            state.and_then(|s| s.last_success),
        ]
        .into_iter()
        .flatten()
        .max();
        // The row's own check when it is a check job, else the repository's newest.
        let check = slot
            .check
            .as_ref()
            .or_else(|| facts.and_then(|f| f.check.as_ref()));
        let check_part = check.and_then(|e| e.check.as_ref());
        let rotation = check_part.and_then(|c| c.rotation.as_ref());
        let ledger = check_part.and_then(|c| c.coverage.as_ref());
        let state_rotation = state.and_then(|s| s.rotation.as_ref());
        let own_or_repo = |wanted: &str, repo: Option<&Entry>| -> Option<Entry> {
            if kind == wanted {
                latest.cloned()
            } else {
                repo.cloned()
            }
        };
        let restore = own_or_repo("restore-test", facts.and_then(|f| f.restore.as_ref()));
        let audit = own_or_repo("audit", facts.and_then(|f| f.audit.as_ref()));
        let newest = facts.and_then(|f| f.newest_snapshot);
        Row {
            job: job.to_owned(),
            repository: repository.to_owned(),
            kind,
            outcome: latest.map_or_else(|| NEVER_RUN.to_owned(), |e| e.outcome.clone()),
            last_run: latest.and_then(|e| e.ts).or(state.and_then(|s| s.last_run)),
            duration_seconds: latest.and_then(|e| e.duration_seconds),
            host: latest.and_then(|e| e.host.clone()),
            last_success,
            error: latest.and_then(|e| e.error.clone()),
            findings: latest
                .map(|e| e.findings.iter().map(|f| f.detail.clone()).collect())
                .unwrap_or_default(),
            newest_snapshot_time: newest,
            newest_snapshot_age_seconds: newest.map(|t| seconds(now - t)),
            check_job: check.map(|e| e.job.clone()),
            check_read_data_subset: check_part.and_then(|c| c.read_data_subset.clone()),
            check_coverage_ratio: check
                .and_then(Entry::coverage)
                .or_else(|| state_rotation.map(crate::state::Rotation::coverage)),
            check_cycle_started: rotation
                .and_then(|r| r.cycle_started)
                .or_else(|| state_rotation.map(|r| r.cycle_started)),
            last_full_read: [
                check_part.and_then(|c| c.last_full_read),
                state.and_then(|s| s.last_full_read),
            ]
            .into_iter()
            .flatten()
            .max(),
            unread_packs: ledger.and_then(|l| l.unread_packs),
            overdue_packs: ledger.and_then(|l| l.overdue_packs),
            oldest_unread_age_seconds: ledger.and_then(|l| l.oldest_unread_age_seconds),
            last_restore_test: restore.map(|e| RestoreSummary {
                ts: e.ts,
                job: e.job.clone(),
                outcome: e.outcome.clone(),
                files_sampled: e.restore_test.as_ref().and_then(|r| r.sampled),
                files_verified: e.restore_test.as_ref().and_then(|r| r.verified()),
                bytes_restored: e.restore_test.as_ref().and_then(|r| r.bytes_restored),
                throughput_bytes_per_second: e
                    .restore_test
                    .as_ref()
                    .and_then(|r| r.throughput_bytes_per_second),
                estimated_full_restore_seconds: e
                    .restore_test
                    .as_ref()
                    .and_then(|r| r.estimated_full_restore_seconds),
            }),
            last_audit: audit.map(|e| AuditSummary {
                ts: e.ts,
                job: e.job.clone(),
                outcome: e.outcome.clone(),
                findings: usize::try_from(e.findings.total()).unwrap_or(usize::MAX),
                detail: e.audit.clone(),
            }),
        }
    }
}

fn seconds(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// One line of `status`: where a job stands on a repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub job: String,
    pub repository: String,
    /// `check`, `restore-test`, `audit`, … (empty when unknown).
    pub kind: String,
    /// `pass`, `fail`, `error`, or `none` (no run recorded).
    pub outcome: String,
    pub last_run: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub host: Option<String>,
    /// The last passing run (from the records and the state file).
    pub last_success: Option<DateTime<Utc>>,
    /// Why the latest run could not verify.
    pub error: Option<ErrorPart>,
    /// What failed the latest run.
    pub findings: Vec<String>,
    /// The newest snapshot any run on this repository saw.
    pub newest_snapshot_time: Option<DateTime<Utc>>,
    /// Its age now.
    pub newest_snapshot_age_seconds: Option<f64>,
    /// The check job the check columns come from (this row's, or the repository's
    /// newest check).
    pub check_job: Option<String>,
    pub check_read_data_subset: Option<String>,
    /// Share of pack data read in the current cycle (1 for `--read-data`).
    pub check_coverage_ratio: Option<f64>,
    pub check_cycle_started: Option<DateTime<Utc>>,
    /// When every pack was last read.
    pub last_full_read: Option<DateTime<Utc>>,
    /// From the coverage ledger, when the check keeps one: packs never read, packs
    /// unread for longer than its window, and the longest a pack has gone unread.
    pub unread_packs: Option<u64>,
    pub overdue_packs: Option<u64>,
    pub oldest_unread_age_seconds: Option<f64>,
    /// This row's run when it is a restore test, else the repository's newest.
    pub last_restore_test: Option<RestoreSummary>,
    /// This row's run when it is an audit, else the repository's newest.
    pub last_audit: Option<AuditSummary>,
}

impl Row {
    pub fn verdict(&self) -> Verdict {
        Verdict::parse(&self.outcome)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreSummary {
    pub ts: Option<DateTime<Utc>>,
    pub job: String,
    pub outcome: String,
    pub files_sampled: Option<u64>,
    /// Files restored and compared with their source.
    pub files_verified: Option<u64>,
    pub bytes_restored: Option<u64>,
    pub throughput_bytes_per_second: Option<f64>,
    /// The RTO estimate the run recorded.
    pub estimated_full_restore_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditSummary {
    pub ts: Option<DateTime<Utc>>,
    pub job: String,
    pub outcome: String,
    pub findings: usize,
    /// The record's `audit` object, as written.
    pub detail: Option<super::Raw>,
}

/// The exit code of `status`: 1 when any latest outcome is `fail`, 3 when any is
/// `error` (or unknown, or never run, or there is no row at all: nothing verified),
/// else 0.
pub fn exit_code(rows: &[Row]) -> u8 {
    if rows.iter().any(|r| r.verdict() == Verdict::Fail) {
        crate::exit::VERIFICATION_FAILED
    } else if rows.is_empty() || rows.iter().any(|r| r.verdict() != Verdict::Pass) {
        crate::exit::COULD_NOT_VERIFY
    } else {
        crate::exit::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn entry(json: &str) -> Entry {
        serde_json::from_str(json).expect("entry")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-10T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn rows_take_the_latest_record_and_remember_the_last_pass() {
        let mut l = Latest::default();
        l.add(entry(r#"{"ts":"2026-01-01T00:00:00Z","job":"c","kind":"check","repository":"r","outcome":"pass","check":{"newest_snapshot_age_seconds":60,"read_data_subset":"1/4","rotation":{"coverage_ratio":0.25}}}"#));
        l.add(entry(r#"{"ts":"2026-01-02T00:00:00Z","job":"c","kind":"check","repository":"r","outcome":"fail","findings":[{"severity":"fail","kind":"check_error","detail":"pack x: does not exist"}],"check":{"read_data_subset":"2/4","rotation":{"coverage_ratio":0.5}}}"#));
        l.add(entry(r#"{"ts":"2026-01-03T00:00:00Z","job":"t","kind":"restore-test","repository":"r","outcome":"pass","restore_test":{"sampled":5,"counts":{"match":4,"changed":1},"estimated_full_restore_seconds":40}}"#));
        let rows = l.rows(now());
        assert_eq!(rows.len(), 2);
        let c = &rows[0];
        assert_eq!((c.job.as_str(), c.outcome.as_str()), ("c", "fail"));
        assert_eq!(
            c.last_success.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-01-01T00:00:00+00:00")
        );
        assert_eq!(c.check_coverage_ratio, Some(0.5));
        assert_eq!(c.findings, vec!["pack x: does not exist".to_owned()]);
        assert_eq!(
            c.last_restore_test.as_ref().and_then(|r| r.files_verified),
            Some(4)
        );
        let t = &rows[1];
        assert_eq!(t.kind, "restore-test");
        // The restore-test row shows the repository's newest check.
        assert_eq!(t.check_job.as_deref(), Some("c"));
        assert_eq!(t.newest_snapshot_age_seconds, Some(9.0 * 86400.0 + 60.0));
        assert_eq!(exit_code(&rows), crate::exit::VERIFICATION_FAILED);
    }

    #[test]
    fn rows_show_the_coverage_ledger_when_there_is_no_rotation() {
        let mut l = Latest::default();
        l.add(entry(r#"{"ts":"2026-01-01T00:00:00Z","job":"c","kind":"check","repository":"r","outcome":"pass","check":{"read_data_subset":"500M","coverage":{"packs":40,"unread_packs":7,"read_within_window_ratio":0.8,"overdue_packs":2}}}"#));
        let row = &l.rows(now())[0];
        assert_eq!(row.check_coverage_ratio, Some(0.8));
        assert_eq!((row.unread_packs, row.overdue_packs), (Some(7), Some(2)));
    }

    #[test]
    fn rows_of_expected_jobs_without_records_say_none() {
        let mut l = Latest::default();
        l.expect("weekly", "check", "nas", None);
        let rows = l.rows(now());
        assert_eq!(rows[0].outcome, NEVER_RUN);
        assert_eq!(rows[0].kind, "check");
        assert_eq!(exit_code(&rows), crate::exit::COULD_NOT_VERIFY);
    }

    #[rstest]
    #[case(&["pass", "pass"], 0)]
    #[case(&["pass", "error"], 3)]
    #[case(&["error", "fail", "pass"], 1)]
    #[case(&["pass", "something-new"], 3)]
    #[case(&[], 3)]
    fn exit_code_with_mixed_outcomes_picks_the_most_serious(
        #[case] outcomes: &[&str],
        #[case] want: u8,
    ) {
        let mut l = Latest::default();
        for (i, o) in outcomes.iter().enumerate() {
            l.add(entry(&format!(
                r#"{{"ts":"2026-01-01T00:00:00Z","job":"j{i}","repository":"r","outcome":"{o}"}}"#
            )));
        }
        assert_eq!(exit_code(&l.rows(now())), want);
    }

    #[test]
    fn add_with_an_older_record_later_in_the_stream_keeps_the_newer() {
        let mut l = Latest::default();
        l.add(entry(
            r#"{"ts":"2026-01-05T00:00:00Z","job":"j","repository":"r","outcome":"pass"}"#,
        ));
        l.add(entry(
            r#"{"ts":"2026-01-01T00:00:00Z","job":"j","repository":"r","outcome":"fail"}"#,
        ));
        assert_eq!(l.rows(now())[0].outcome, "pass");
    }
}
