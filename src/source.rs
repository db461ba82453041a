//! Where the expected bytes of a restored file live, and how to read them.
//!
//! restic records paths as the backup saw them (`/source/...` for `restic backup
//! source` run from `/srv`, or a ZFS snapshot mount point). `PathMap` turns a
//! snapshot's tree path into the path to compare against: explicit `--map FROM=TO`
//! prefixes first (longest wins), then what the snapshot's own `paths` imply. The
//! source is only ever opened read-only.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::compare::{self, Expected};

/// Prefix rewrites from tree paths to source paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathMap {
    /// (tree prefix, source prefix), longest tree prefix first.
    pairs: Vec<(String, PathBuf)>,
}

impl PathMap {
    /// Builds a map from explicit `FROM=TO` pairs, then the snapshot's `paths`: a path
    /// `/srv/source` backed up as `source` appears in the tree as `/source`.
    pub fn new(explicit: &[(String, PathBuf)], snapshot_paths: &[String]) -> PathMap {
        let mut pairs: Vec<(String, PathBuf)> = explicit.to_vec();
        for p in snapshot_paths {
            let path = Path::new(p);
            if let Some(base) = path.file_name() {
                let tree = format!("/{}", base.to_string_lossy());
                if tree != *p && !pairs.iter().any(|(f, _)| *f == tree) {
                    pairs.push((tree, path.to_owned()));
                }
            }
        }
        pairs.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
        PathMap { pairs }
    }

    /// The source path for a tree path. Prefixes match whole components only.
    pub fn map(&self, tree_path: &str) -> PathBuf {
        for (from, to) in &self.pairs {
            let from = from.trim_end_matches('/');
            if tree_path == from {
                return to.clone();
            }
            if let Some(rest) = tree_path
                .strip_prefix(from)
                .and_then(|r| r.strip_prefix('/'))
            {
                return to.join(rest);
            }
        }
        PathBuf::from(tree_path)
    }
}

/// Parses `FROM=TO`.
///
/// # Errors
/// No `=`, or a relative FROM.
pub fn parse_map(s: &str) -> Result<(String, PathBuf), String> {
    let (from, to) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: a map is FROM=TO, e.g. /mnt/backup-snapshot=/home"))?;
    if !from.starts_with('/') {
        return Err(format!(
            "`{s}`: FROM must be an absolute tree path, e.g. /mnt/backup-snapshot"
        ));
    }
    Ok((from.to_owned(), PathBuf::from(to)))
}

/// Reads the expected side: size, mtime and SHA-256 of a source file.
pub fn read_expected(path: &Path) -> Expected {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Expected::Missing,
        Err(e) => return Expected::Unreadable(e.to_string()),
    };
    if !meta.is_file() {
        return Expected::Unreadable(format!("{} is no longer a regular file", path.display()));
    }
    match compare::hash_file(path) {
        Ok((hash, _)) => Expected::Read {
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
            hash,
        },
        Err(e) => Expected::Unreadable(e.to_string()),
    }
}

/// What a source file looks like now, without reading it: (size, mtime ns).
pub fn stat(path: &Path) -> Option<(u64, i128)> {
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| (m.len(), mtime_ns(&m)))
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec())
}

/// Parses restic's RFC 3339 mtime into ns since the epoch.
pub fn parse_mtime(s: &str) -> Option<i128> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("/source/a/b.txt", "/srv/source/a/b.txt")]
    #[case("/source", "/srv/source")]
    #[case("/sourcery/x", "/sourcery/x")]
    #[case("/mnt/snap/home/u/f", "/home/u/f")]
    #[case("/etc/hosts", "/etc/hosts")]
    fn path_map_rewrites_whole_components_longest_first(#[case] tree: &str, #[case] want: &str) {
        let m = PathMap::new(
            &[
                ("/mnt/snap".into(), "/".into()),
                ("/mnt/snap/home".into(), "/home".into()),
            ],
            &["/srv/source".into()],
        );
        assert_eq!(m.map(tree), PathBuf::from(want));
    }

    #[test]
    fn parse_map_rejects_relative_and_missing_equals() {
        assert!(parse_map("/a=/b").is_ok());
        assert!(parse_map("a=/b").is_err());
        assert!(parse_map("/a").is_err());
    }

    #[test]
    fn parse_mtime_keeps_nanoseconds_and_offsets() {
        assert_eq!(parse_mtime("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(
            parse_mtime("1970-01-01T01:00:01+01:00"),
            Some(1_000_000_000)
        );
    }
}
