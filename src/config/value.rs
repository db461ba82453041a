//! Parsers for profile values and flags (pure): durations, sizes, globs, the
//! systemd credentials directory, names. Each error message names the accepted
//! forms.

use std::path::PathBuf;
use std::time::Duration;

use globset::{GlobSet, GlobSetBuilder};

use crate::source::ZfsSnapshot;

pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("`{s}` is not a size; write e.g. `500M`, `2G`, `4096`"))
}

/// Compiles glob patterns matched against tree paths (`**` crosses directories).
///
/// # Errors
/// The first pattern that does not compile.
pub fn compile_globs(patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("`{p}` is not a glob: {e}"))?;
        b.add(g);
    }
    b.build().map(Some).map_err(|e| e.to_string())
}

/// Parses a duration such as `48h`, `30m`, `1h 30m`, `0s`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. `90s`, `30m`, `48h`, `7d`"))
}

/// How the ZFS snapshot is chosen: an explicit name beats a tag prefix beats auto.
pub fn zfs_choice(name: Option<String>, tag_prefix: Option<String>) -> ZfsSnapshot {
    match (name, tag_prefix) {
        (Some(n), _) => ZfsSnapshot::Named(n),
        (None, Some(p)) => ZfsSnapshot::Tag(p),
        (None, None) => ZfsSnapshot::Auto,
    }
}

/// Expands a leading `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=` directory,
/// which differs per unit and instance). Outside such a service it stays as written.
pub fn expand_credentials_dir(value: &str, dir: Option<std::ffi::OsString>) -> PathBuf {
    for prefix in ["$CREDENTIALS_DIRECTORY", "${CREDENTIALS_DIRECTORY}"] {
        if let (Some(rest), Some(dir)) = (value.strip_prefix(prefix), dir.as_ref()) {
            if rest.is_empty() || rest.starts_with('/') {
                return PathBuf::from(format!("{}{rest}", dir.to_string_lossy()));
            }
        }
    }
    PathBuf::from(value)
}

/// The textfile a job's metrics go to inside `metrics-dir`: one per job, so that
/// concurrent jobs never overwrite each other's series.
pub fn metrics_file_name(job: &str) -> String {
    format!("restic-verify-{job}.prom")
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(crate) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, c)| c)
}
