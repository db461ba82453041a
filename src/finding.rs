//! Verification results as data: `Outcome`, `Category`, `Finding`.
//!
//! A damaged pack is a *successful* verification with a bad result, so it is a
//! `Finding`, never an `Err`. Errors (could not verify) carry a `Category` that
//! decides the exit code and whether retrying can help. This module does no I/O.

use serde::Serialize;

use crate::exit;

/// The verdict of one job run on one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Really verified, nothing wrong.
    Pass,
    /// Verified, and found damage (or a stale/insufficient backup).
    Fail,
    /// Could not verify.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }
}

/// Why a run could not verify. Each category has one exit code and a retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Wrong password, missing or empty password file, no key found.
    Auth,
    /// The repository (or the requested snapshot) does not exist.
    NotFound,
    /// Another process holds a lock on the repository.
    Locked,
    /// The backend could not be reached.
    Network,
    /// restic reported damage while it was loading what it needs (index, snapshot).
    Corruption,
    /// A disk filled up (restic's cache, the restore target, the results file).
    NoSpace,
    /// The run exceeded its timeout.
    Timeout,
    /// restic is not installed, not executable, or too old.
    ResticMissing,
    /// The request or the profile is wrong.
    Config,
    /// SIGINT or SIGTERM arrived during the run.
    Interrupted,
    /// A source file to compare against could not be read (permissions).
    SourceUnreadable,
    /// The restore target could not be written: permission denied, read-only file system.
    Permission,
    /// A restore test compared fewer files than `min-verified` (source missing or
    /// changed since the backup): it ran, but verified too little to pass.
    NotVerified,
    /// Anything else: an unknown restic exit code, output that could not be parsed.
    Internal,
}

impl Category {
    /// Every category, in the order metrics list them.
    pub const ALL: [Category; 14] = [
        Category::Auth,
        Category::NotFound,
        Category::Locked,
        Category::Network,
        Category::Corruption,
        Category::NoSpace,
        Category::Timeout,
        Category::ResticMissing,
        Category::Config,
        Category::Interrupted,
        Category::SourceUnreadable,
        Category::Permission,
        Category::NotVerified,
        Category::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Auth => "auth",
            Category::NotFound => "not_found",
            Category::Locked => "locked",
            Category::Network => "network",
            Category::Corruption => "corruption",
            Category::NoSpace => "no_space",
            Category::Timeout => "timeout",
            Category::ResticMissing => "restic_missing",
            Category::Config => "config",
            Category::Interrupted => "interrupted",
            Category::SourceUnreadable => "source_unreadable",
            Category::Permission => "permission",
            Category::NotVerified => "not_verified",
            Category::Internal => "internal",
        }
    }

    /// Whether trying again later can plausibly succeed without anyone changing anything.
    pub fn retryable(self) -> bool {
        match self {
            Category::Locked | Category::Network | Category::Timeout => true,
            Category::Auth
            | Category::NotFound
            | Category::Corruption
            | Category::NoSpace
            | Category::ResticMissing
            | Category::Config
            | Category::Interrupted
            | Category::SourceUnreadable
            | Category::Permission
            | Category::NotVerified
            | Category::Internal => false,
        }
    }

    /// The outcome a run ends with when it stops with this category.
    ///
    /// Corruption found while loading the repository is damage, so it fails the run;
    /// everything else means the run could not verify.
    pub fn outcome(self) -> Outcome {
        match self {
            Category::Corruption => Outcome::Fail,
            Category::Auth
            | Category::NotFound
            | Category::Locked
            | Category::Network
            | Category::NoSpace
            | Category::Timeout
            | Category::ResticMissing
            | Category::Config
            | Category::Interrupted
            | Category::SourceUnreadable
            | Category::Permission
            | Category::NotVerified
            | Category::Internal => Outcome::Error,
        }
    }

    /// The process exit code for a run that stopped with this category.
    pub fn exit_code(self) -> u8 {
        match self {
            Category::Corruption => exit::VERIFICATION_FAILED,
            Category::Config => exit::USAGE,
            Category::Interrupted => exit::INTERRUPTED,
            Category::Auth
            | Category::NotFound
            | Category::Locked
            | Category::Network
            | Category::NoSpace
            | Category::Timeout
            | Category::ResticMissing
            | Category::SourceUnreadable
            | Category::Permission
            | Category::NotVerified
            | Category::Internal => exit::COULD_NOT_VERIFY,
        }
    }
}

/// How much a finding matters for the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth reporting; does not change the verdict.
    Warn,
    /// Fails the run.
    Fail,
}

/// What was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// `restic check` reported errors.
    CheckError,
    /// A snapshot file exists but restic could not load it.
    SnapshotUnreadable,
    /// The newest snapshot of a backup set is older than `max-age`.
    SnapshotTooOld,
    /// Fewer snapshots than `min-snapshots`.
    TooFewSnapshots,
    /// A restored file differs from an unchanged source.
    RestoreMismatch,
    /// restic could not restore a file, or it came back wrong-sized or not at all.
    RestoreFailed,
    /// Packs went unread by any completed check for longer than `outdated-after`.
    CoverageOutdated,
    /// An audited file differs from an unchanged source (size and mtime equal).
    AuditMismatch,
    /// A source file older than the snapshot and not excluded is missing from it.
    AuditNotInBackup,
    /// The audit found a damaged tree or index entry in the snapshot.
    AuditDamaged,
    /// Files came back with the right bytes but without some metadata (owner, mode,
    /// times, extended attributes): what a non-root restic or `RestrictSUIDSGID=yes`
    /// gives. Not damage.
    RestoreMetadata,
    /// restic reported an error for a path that is none of the sampled files (a
    /// directory, or a path it printed differently).
    RestoreUnattributed,
}

/// One observation of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    pub detail: String,
    /// Deliberately falsified by a fire drill (`restic-verify drill`): not real.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
}

impl Finding {
    pub fn fail(kind: FindingKind, detail: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Fail,
            kind,
            detail: detail.into(),
            drill: false,
        }
    }

    pub fn warn(kind: FindingKind, detail: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warn,
            kind,
            detail: detail.into(),
            drill: false,
        }
    }

    /// The same finding, marked as a fire drill's.
    pub fn drill(self) -> Self {
        Finding {
            drill: true,
            ..self
        }
    }
}

/// The verdict implied by a set of findings from a run that completed.
pub fn verdict(findings: &[Finding]) -> Outcome {
    if findings.iter().any(|f| f.severity == Severity::Fail) {
        Outcome::Fail
    } else {
        Outcome::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_exit_code_never_maps_an_error_to_success() {
        for c in Category::ALL {
            assert_ne!(c.exit_code(), exit::SUCCESS, "{c:?}");
            assert_ne!(c.outcome(), Outcome::Pass, "{c:?}");
        }
    }

    #[test]
    fn category_not_verified_and_permission_are_could_not_verify_exit_3() {
        for c in [Category::NotVerified, Category::Permission] {
            assert_eq!(c.exit_code(), exit::COULD_NOT_VERIFY, "{c:?}");
            assert_eq!(c.outcome(), Outcome::Error, "{c:?}");
            assert!(!c.retryable(), "{c:?}");
        }
        assert_eq!(Category::NotVerified.as_str(), "not_verified");
        assert_eq!(Category::Permission.as_str(), "permission");
    }

    #[test]
    fn category_retryable_only_for_transient_conditions() {
        let retryable: Vec<_> = Category::ALL
            .into_iter()
            .filter(|c| c.retryable())
            .collect();
        assert_eq!(
            retryable,
            vec![Category::Locked, Category::Network, Category::Timeout]
        );
    }

    #[test]
    fn verdict_with_a_warning_only_passes_and_with_a_failure_fails() {
        let warn = Finding {
            severity: Severity::Warn,
            kind: FindingKind::CheckError,
            detail: String::new(),
            drill: false,
        };
        assert_eq!(verdict(std::slice::from_ref(&warn)), Outcome::Pass);
        let fail = Finding::fail(FindingKind::CheckError, "x");
        assert_eq!(verdict(&[warn, fail]), Outcome::Fail);
        assert_eq!(verdict(&[]), Outcome::Pass);
    }
}
