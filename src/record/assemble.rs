//! Assembly of a `RunRecord` from what a run produced (pure): the verdict, the
//! findings, the check and restore-test parts, and what the job's state says
//! (last success, rotation, last full read). The runner gathers the facts and
//! the state; this module decides what the record says and nothing else.

use chrono::{DateTime, Utc};

use super::{AuditRecord, CheckRecord, ErrorRecord, RestoreRecord, RotationRecord, RunRecord};
use crate::audit::job::AuditResult;
use crate::check::{damage, CheckResult};
use crate::compare::Class;
use crate::finding::{self, Category, Finding, FindingKind, Outcome};
use crate::restic::CheckRead;
use crate::restic::Version;
use crate::restore_test::RestoreResult;
use crate::rto;
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
    /// Restore tests: dense restore calls remembered from earlier runs (the RTO
    /// model fits them with this run's).
    pub rto_history: &'a [rto::Call],
    /// A fire drill (`restic-verify drill`): one comparison of a completed run is
    /// falsified (`falsify`) and the record is marked.
    pub drill: bool,
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
        drill: facts.drill,
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

/// What a fire drill falsifies: of a restore test, the first file (by path) that
/// matched is treated as if its expected hash differed; of a check or an audit, one
/// synthetic damage finding is added. Either way exactly one finding, marked
/// `drill`, fails the run. Nothing is touched but this run's result. Returns the
/// path of the falsified file, if one was.
pub fn falsify(work: &mut Work) -> Option<String> {
    const NOTHING: &str =
        "deliberately falsified by `restic-verify drill` (a fire drill: nothing is damaged)";
    let synthetic = |kind, what: &str| {
        Finding::fail(
            kind,
            format!("DRILL: {what}: a synthetic finding, {NOTHING}"),
        )
        .drill()
    };
    match work {
        Work::Restore(res) => {
            let Some(f) = res.files.iter_mut().find(|f| f.class == Class::Match) else {
                res.findings.push(synthetic(
                    FindingKind::RestoreMismatch,
                    "a restored file differs from the source (no file matched, so none was falsified)",
                ));
                return None;
            };
            f.class = Class::Mismatch;
            f.expected_sha256 = f.expected_sha256.as_ref().map(|h| {
                let first = if h.starts_with('0') { '1' } else { '0' };
                format!("{first}{}", h.get(1..).unwrap_or_default())
            });
            f.detail = Some(format!("DRILL: the expected hash was {NOTHING}"));
            res.findings.push(
                Finding::fail(
                    FindingKind::RestoreMismatch,
                    format!(
                        "DRILL: {}: restored bytes differ from the source: {NOTHING}; the file matched",
                        f.path
                    ),
                )
                .drill(),
            );
            Some(f.path.clone())
        }
        Work::Check(res) => {
            res.findings.push(synthetic(
                FindingKind::CheckError,
                "restic check found damage",
            ));
            None
        }
        Work::Audit(res) => {
            res.findings.push(synthetic(
                FindingKind::AuditMismatch,
                "an audited file differs from the source",
            ));
            None
        }
    }
}

/// The record of a run from its result; `with_state` adds what the state says. A
/// drill's completed result is falsified first (`falsify`).
pub fn build(facts: &Facts<'_>, result: Result<Work, (Category, String)>) -> RunRecord {
    let mut record = error(facts, Category::Internal, String::new());
    record.error = None;
    let mut falsified = None;
    let result = match result {
        Ok(mut work) if facts.drill => {
            falsified = falsify(&mut work);
            Ok(work)
        }
        other => other,
    };
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
                .filter(|f| falsified.as_ref() != Some(&f.path))
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
            record.restore_test = Some(RestoreRecord::from_result(
                &res,
                facts.verbose_results,
                facts.rto_history,
            ));
        }
        Ok(Work::Audit(res)) => {
            let res = *res;
            record.outcome = res.outcome.verdict();
            // A drill's falsified finding fails the audit, as damage beats an error.
            if res.findings.iter().any(|f| f.drill) {
                record.outcome = Outcome::Fail;
            }
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
                read: res.pack_read,
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
            rto_history: &[],
            drill: false,
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
            calls: Vec::new(),
            target: crate::rto::Target::default(),
            probes: Vec::new(),
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

    // See issue #24, item 9: "100 file(s) tested" for `sample = 50` said nothing of
    // the replacements, and a measured full restore read as a verified recovery in
    // a run that compared nothing.
    #[test]
    fn summary_of_a_restore_test_says_what_tested_counts_and_when_nothing_was_compared() {
        let mut res = result(None, vec![]);
        res.files = (0..70)
            .map(|i| file(&format!("/data/f{i}"), Class::Changed))
            .collect();
        let mut r = build(&facts(), Ok(Work::Restore(Box::new(res))));
        let t = r.restore_test.as_mut().expect("restore part");
        t.rto = Some(crate::rto::Estimate {
            seconds: Some(1.0),
            basis: Some(crate::rto::Basis::Measured),
            ..crate::rto::Estimate::unknown(1, "")
        });
        let s = r.summary();
        assert!(
            s.contains(", 70 files tested (50 drawn by the sample, 20 to replace files set aside as changed or missing): 70 changed (seed 7); 0 compared with the source (at least 10 needed)"),
            "{s}"
        );
        assert!(
            s.contains(
                "the full restore took 1s (measured) but no file was compared with the source"
            ),
            "{s}"
        );
        assert!(!s.contains("file(s)"), "{s}");
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

    fn file(path: &str, class: Class) -> crate::compare::FileResult {
        crate::compare::FileResult {
            path: path.into(),
            size: 3,
            class,
            restored_sha256: Some("ab".repeat(32)),
            expected_sha256: Some("ab".repeat(32)),
            detail: None,
            warning: None,
        }
    }

    #[test]
    fn build_drill_of_a_restore_test_falsifies_the_first_match_and_fails() {
        let mut res = result(None, vec![]);
        res.files = vec![
            file("/a", Class::Changed),
            file("/b", Class::Match),
            file("/c", Class::Match),
        ];
        let drill = Facts {
            drill: true,
            ..facts()
        };
        let r = build(&drill, Ok(Work::Restore(Box::new(res.clone()))));
        assert!(r.drill);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.exit_code(), crate::exit::VERIFICATION_FAILED);
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].drill);
        assert!(
            r.findings[0].detail.starts_with("DRILL: /b: "),
            "{:?}",
            r.findings
        );
        let t = r.restore_test.as_ref().expect("restore part");
        let b = t
            .files
            .iter()
            .find(|f| f.path == "/b")
            .expect("/b listed: not a match now");
        assert_eq!(b.class, Class::Mismatch);
        assert_ne!(b.expected_sha256, b.restored_sha256);
        assert_eq!(t.counts["match"], 1);
        assert!(
            r.summary().starts_with("DRILL FAIL restore-test"),
            "{}",
            r.summary()
        );
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["drill"], true);
        assert_eq!(json["findings"][0]["drill"], true);
        // The same result, not a drill: passes, and says nothing of drills.
        let real = build(&facts(), Ok(Work::Restore(Box::new(res))));
        assert_eq!(real.outcome, Outcome::Pass);
        let json = serde_json::to_value(&real).expect("json");
        assert!(json.get("drill").is_none());
    }

    #[test]
    fn build_drill_without_a_match_still_fails_with_a_synthetic_finding() {
        let mut res = result(None, vec![]);
        res.files = vec![file("/a", Class::SourceMissing)];
        let r = build(
            &Facts {
                drill: true,
                ..facts()
            },
            Ok(Work::Restore(Box::new(res))),
        );
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.findings.iter().all(|f| f.drill));
        assert!(
            r.findings[0].detail.contains("a synthetic finding"),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn build_drill_of_a_check_adds_one_synthetic_damage_finding() {
        let check = crate::check::CheckResult {
            findings: Vec::new(),
            snapshots: 3,
            newest_snapshot_age: None,
            errors: Vec::new(),
            unreadable_snapshots: Vec::new(),
            damage: None,
            read: CheckRead::Structure,
            coverage: None,
            budget: None,
            pack_read: None,
        };
        let read = CheckRead::Structure;
        let f = Facts {
            kind: "check",
            read: Some(&read),
            drill: true,
            ..facts()
        };
        let r = build(&f, Ok(Work::Check(Box::new(check))));
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].drill);
        assert_eq!(r.findings[0].kind, FindingKind::CheckError);
        assert!(r.findings[0].detail.starts_with("DRILL: "));
    }

    #[test]
    fn build_drill_that_could_not_verify_stays_an_error_marked_drill() {
        let f = Facts {
            drill: true,
            ..facts()
        };
        let r = build(&f, Err((Category::Locked, "locked".into())));
        assert!(r.drill);
        assert_eq!(r.outcome, Outcome::Error);
        assert!(r.findings.is_empty(), "nothing to falsify");
    }
}
