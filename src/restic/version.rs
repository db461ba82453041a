//! restic release numbers, parsed from `restic version`, and the features each
//! release added (pure).

use std::fmt;

/// The oldest restic this tool supports (Debian bookworm's).
pub const MIN_VERSION: Version = Version::new(0, 14, 0);

/// A restic release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `restic 0.14.0 compiled with go1.19.8 on linux/amd64` (and `0.17.3-dev`).
    pub fn parse_version_output(out: &str) -> Option<Version> {
        let rest = out.trim().strip_prefix("restic ")?;
        let word = rest.split_whitespace().next()?;
        let core = word.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        Some(Version::new(major, minor, patch))
    }

    /// restic 0.16 added `--retry-lock`.
    pub fn has_retry_lock(self) -> bool {
        self >= Version::new(0, 16, 0)
    }

    /// restic 0.17 restores a subtree: `restic restore <id>:<subfolder>` (0.14 says
    /// `invalid id "<id>:<subfolder>"`).
    pub fn has_subfolder_restore(self) -> bool {
        self >= Version::new(0, 17, 0)
    }

    /// restic 0.18 prints `check --json` summaries and `exit_error` messages.
    pub fn has_check_json(self) -> bool {
        self >= Version::new(0, 18, 0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "restic 0.14.0 compiled with go1.19.8 on linux/amd64",
        Some(Version::new(0, 14, 0))
    )]
    #[case(
        "restic 0.18.0 compiled with go1.24.4 on linux/amd64\n",
        Some(Version::new(0, 18, 0))
    )]
    #[case(
        "restic 0.19.1 compiled with go1.26.4 on linux/amd64\n",
        Some(Version::new(0, 19, 1))
    )]
    #[case(
        "restic 0.17.3-dev (compiled manually) compiled with go1.22",
        Some(Version::new(0, 17, 3))
    )]
    #[case("rustic 0.9", None)]
    fn version_parse_reads_restic_version_output(#[case] out: &str, #[case] want: Option<Version>) {
        assert_eq!(Version::parse_version_output(out), want);
    }

    #[test]
    fn version_features_switch_at_the_documented_releases() {
        assert!(!Version::new(0, 14, 0).has_retry_lock());
        assert!(Version::new(0, 16, 0).has_retry_lock());
        assert!(!Version::new(0, 17, 3).has_check_json());
        assert!(Version::new(0, 18, 0).has_check_json());
    }
}
