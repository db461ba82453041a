//! Assembly of a `RunRecord` from what a run produced (pure): the verdict, the
//! findings, the check and restore-test parts, and what the job's state says
//! (last success, rotation, last full read). The runner gathers the facts and
//! the state; this module decides what the record says and nothing else.

use chrono::{DateTime, Utc};

use super::{AuditRecord, CheckRecord, ErrorRecord, RestoreRecord, RotationRecord, RunRecord};
use crate::audit::job::AuditResult;
use crate::check::{damage, CheckResult};
use crate::compare::Class;
use crate::finding::{self, Category, Outcome};
use crate::restic::CheckRead;
use crate::restic::Version;
use crate::restore_test::RestoreResult;
use crate::state::{JobState, Rotation};

/// What a completed verification of either kind produced.
#[derive(Debug)]
pub enum Work {
    Check(Box<CheckResult>),
    Restore(Box<RestoreResult>),
    Audit(Box<AuditResult>),
}

/// What the runner knows about a run besides its result.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub host: &'a str,
    pub job: &'a str,
    /// `check` or `restore-test`.
    pub kind: &'a str,
    pub repository: &'a str,
    pub started: DateTime<Utc>,
    pub duration_seconds: f64,
    pub restic_version: Option<String>,
    /// What `restic check` read (check jobs), `None` for other kinds.
    pub read: Option<&'a CheckRead>,
    /// Restore tests: the seed, recorded even when the run failed early.
    pub seed: u64,
    /// Restore tests: record every file, not only those that are not `match`.
    pub verbose_results: bool,
}

/// A record of a run that could not verify.
pub fn error(facts: &Facts<'_>, category: Category, message: String) -> RunRecord {
    RunRecord {
        v: super::SCHEMA_VERSION,
        ts: facts.started,
        host: facts.host.to_owned(),
        job: facts.job.to_owned(),
        kind: facts.kind.to_owned(),
        repository: facts.repository.to_owned(),
        outcome: category.outcome(),
        duration_seconds: facts.duration_seconds,
        restic_version: facts.restic_version.clone(),
        tool_version: super::TOOL_VERSION.to_owned(),
        last_success: None,
        check: None,
        restore_test: None,
        findings: Vec::new(),
        damage: None,
        audit: None,
        error: Some(ErrorRecord {
            category,
            message,
            retryable: category.retryable(),
        }),
    }
}

/// The record of a run from its result; `with_state` adds what the state says.
pub fn build(facts: &Facts<'_>, result: Result<Work, (Category, String)>) -> RunRecord {
    let mut record = error(facts, Category::Internal, String::new());
    record.error = None;
    match result {
        Ok(Work::Restore(res)) => {
            record.outcome = finding::verdict(&res.findings);
            let unreadable: Vec<&str> = res
                .files
                .iter()
                .filter(|f| f.class == Class::Unreadable)
                .map(|f| f.path.as_str())
                .collect();
            if record.outcome == Outcome::Pass && !unreadable.is_empty() {
                record.outcome = Outcome::Error;
                record.error = Some(ErrorRecord {
                    category: Category::SourceUnreadable,
                    message: format!(
                        "{} source file(s) could not be read, so they were not verified: {}; give the service read access (e.g. CAP_DAC_READ_SEARCH)",
                        unreadable.len(),
                        unreadable.join(", ")
                    ),
                    retryable: false,
                });
            }
            if let (Outcome::Pass, Some(why)) = (record.outcome, &res.shortfall) {
                record.outcome = Outcome::Error;
                record.error = Some(ErrorRecord {
                    category: Category::NotVerified,
                    message: why.clone(),
                    retryable: Category::NotVerified.retryable(),
                });
            }
            record.findings.clone_from(&res.findings);
            let damaged: Vec<String> = res
                .files
                .iter()
                .filter(|f| matches!(f.class, Class::Mismatch | Class::RestoreFailed))
                .map(|f| f.path.clone())
                .collect();
            if !damaged.is_empty() {
                record.damage = Some(damage::from_restore(
                    &res.snapshot.id,
                    damaged,
                    facts
                        .restic_version
                        .as_deref()
                        .and_then(|v| Version::parse_version_output(&format!("restic {v}"))),
                    res.source != "live",
                ));
            }
            record.restore_test = Some(RestoreRecord::from_result(&res, facts.verbose_results));
        }
        Ok(Work::Audit(res)) => {
            let res = *res;
            record.outcome = res.outcome.verdict();
            let unreadable = res.outcome.counts.get(crate::audit::Class::Unreadable);
            if record.outcome == Outcome::Error {
                record.error = Some(ErrorRecord {
                    category: Category::SourceUnreadable,
                    message: format!(
                        "{unreadable} source entr{} could not be read, so they were not verified; give the service read access (e.g. CAP_DAC_READ_SEARCH)",
                        if unreadable == 1 { "y" } else { "ies" }
                    ),
                    retryable: false,
                });
            }
            record.findings.clone_from(&res.findings);
            record.audit = Some(AuditRecord::from_result(res));
        }
        Ok(Work::Check(res)) => {
            let res = *res;
            record.outcome = finding::verdict(&res.findings);
            record.check = Some(CheckRecord {
                read_data_subset: res.read.describe(),
                errors: res.errors,
                coverage: res.coverage,
                budget: res.budget,
                snapshots: Some(res.snapshots),
                newest_snapshot_age_seconds: res.newest_snapshot_age.map(|d| d.as_secs_f64()),
                unreadable_snapshots: res.unreadable_snapshots,
                ..CheckRecord::default()
            });
            record.findings = res.findings;
            record.damage = res.damage;
        }
        Err((category, message)) => {
            record.outcome = category.outcome();
            record.error = Some(ErrorRecord {
                category,
                message,
                retryable: category.retryable(),
            });
            if facts.read.is_some() {
                record.check = Some(CheckRecord {
                    read_data_subset: facts.read.and_then(CheckRead::describe),
                    ..CheckRecord::default()
                });
            } else {
                record.restore_test = Some(RestoreRecord {
                    seed: facts.seed,
                    ..RestoreRecord::default()
                });
            }
        }
    }
    record
}

/// Adds what the job's state says after this run: the last success, where the
/// rotation stands (the group this run read, not the next one), and the last
/// full read.
pub fn with_state(record: &mut RunRecord, state: &JobState, rotation: Option<&Rotation>) {
    record.last_success = state.last_success;
    if let Some(check) = record.check.as_mut() {
        check.rotation = rotation.map(|r| RotationRecord {
            group: r.group().0,
            groups: r.groups,
            coverage_ratio: r.coverage(),
            cycle_started: r.cycle_started,
            last_cycle_completed: r.last_cycle_completed,
        });
        if let (Some(rot), Some(subset)) = (check.rotation.as_mut(), &check.read_data_subset) {
            if let Some(k) = subset.split('/').next().and_then(|k| k.parse().ok()) {
                rot.group = k;
            }
        }
        check.last_full_read = state.last_full_read;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, FindingKind};

    fn facts() -> Facts<'static> {
        Facts {
            host: "h",
            job: "restore",
            kind: "restore-test",
            repository: "nas",
            started: chrono::DateTime::<Utc>::UNIX_EPOCH,
            duration_seconds: 1.0,
            restic_version: None,
            read: None,
            seed: 7,
            verbose_results: false,
        }
    }

    fn result(shortfall: Option<&str>, findings: Vec<Finding>) -> RestoreResult {
        let snapshot: crate::restic::json::Snapshot = serde_json::from_str(
            r#"{"time":"2024-01-01T10:00:00Z","tree":"ab","paths":["/data"],"hostname":"h","id":"0123456789abcdef"}"#,
        )
        .expect("snapshot");
        RestoreResult {
            snapshot,
            seed: 7,
            population: 40,
            unaddressable: 0,
            files: Vec::new(),
            bytes_restored: 0,
            restore_seconds: 0.0,
            snapshot_restore_size: None,
            findings,
            kept: None,
            source: "live".into(),
            verified: 0,
            min_verified: 10,
            replacement_draws: 20,
            max_replacement_draws: 80,
            shortfall: shortfall.map(str::to_owned),
            elided_matches: 0,
            full: None,
        }
    }

    #[test]
    fn build_restore_below_the_floor_is_not_verified_and_keeps_its_counts() {
        let r = build(
            &facts(),
            Ok(Work::Restore(Box::new(result(
                Some("only 0 file(s)"),
                vec![],
            )))),
        );
        assert_eq!(r.outcome, Outcome::Error);
        let e = r.error.as_ref().expect("error");
        assert_eq!(e.category, Category::NotVerified);
        assert_eq!(e.message, "only 0 file(s)");
        assert!(!e.retryable);
        assert_eq!(r.exit_code(), crate::exit::COULD_NOT_VERIFY);
        let t = r.restore_test.as_ref().expect("restore part");
        assert_eq!(
            (t.verified, t.min_verified, t.replacement_draws),
            (0, 10, 20)
        );
    }

    #[test]
    fn build_restore_damage_below_the_floor_still_fails() {
        let damage = Finding::fail(
            FindingKind::RestoreFailed,
            "/a: ciphertext verification failed",
        );
        let r = build(
            &facts(),
            Ok(Work::Restore(Box::new(result(
                Some("only 0 file(s)"),
                vec![damage],
            )))),
        );
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.error.is_none());
        let r = build(&facts(), Ok(Work::Restore(Box::new(result(None, vec![])))));
        assert_eq!(r.outcome, Outcome::Pass);
    }
}
