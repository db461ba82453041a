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

/// Which ZFS snapshot holds the bytes the backup read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZfsSnapshot {
    /// This snapshot name.
    Named(String),
    /// The restic snapshot carries a tag `<prefix><name>`.
    Tag(String),
    /// The newest ZFS snapshot created at or before the restic snapshot's time.
    Auto,
}

/// Where the expected bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// The current files.
    Live,
    /// A ZFS snapshot of `dataset`, read through `<mountpoint>/.zfs/snapshot/<name>/`.
    Zfs {
        dataset: String,
        snapshot: ZfsSnapshot,
    },
}

/// The expected side of a restore test, resolved for one restic snapshot.
#[derive(Debug, Clone)]
pub struct Resolved {
    map: PathMap,
    /// For ZFS: (dataset mountpoint, `<mountpoint>/.zfs/snapshot/<name>`).
    zfs: Option<(PathBuf, PathBuf)>,
    /// The ZFS snapshot name, for the record.
    pub zfs_snapshot: Option<String>,
}

impl Resolved {
    pub fn live(map: PathMap) -> Resolved {
        Resolved {
            map,
            zfs: None,
            zfs_snapshot: None,
        }
    }

    /// The ZFS snapshot `name` of the dataset mounted at `mountpoint`, read through
    /// `root` (`<mountpoint>/.zfs/snapshot/<name>`).
    pub fn zfs(map: PathMap, mountpoint: PathBuf, root: PathBuf, name: String) -> Resolved {
        Resolved {
            map,
            zfs: Some((mountpoint, root)),
            zfs_snapshot: Some(name),
        }
    }

    /// A ZFS snapshot never changes: every difference is a mismatch.
    pub fn immutable(&self) -> bool {
        self.zfs.is_some()
    }

    /// The file to compare a tree path with.
    pub fn expected_path(&self, tree_path: &str) -> PathBuf {
        let live = self.map.map(tree_path);
        let Some((mountpoint, root)) = &self.zfs else {
            return live;
        };
        // A backup that read `<mp>/.zfs/snapshot/<x>/...` directly records that path.
        let s = live.to_string_lossy();
        if let Some(i) = s.find("/.zfs/snapshot/") {
            let rest = &s[i + "/.zfs/snapshot/".len()..];
            let rel = rest.split_once('/').map_or("", |(_, r)| r);
            return root.join(rel);
        }
        match live.strip_prefix(mountpoint) {
            Ok(rel) => root.join(rel),
            Err(_) => root.join(live.strip_prefix("/").unwrap_or(&live)),
        }
    }
}

/// Picks the newest ZFS snapshot created at or before `at` (epoch seconds) from
/// `zfs list -Hp -t snapshot -o name,creation` output.
pub fn pick_zfs_snapshot(list: &str, at: i64) -> Option<String> {
    list.lines()
        .filter_map(|l| {
            let (name, created) = l.split_once('\t')?;
            let created: i64 = created.trim().parse().ok()?;
            let short = name.split_once('@')?.1.to_owned();
            (created <= at).then_some((created, short))
        })
        .max()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod zfs_tests {
    use super::*;

    #[test]
    fn pick_zfs_snapshot_takes_the_newest_not_after_the_backup() {
        let list = "tank/home@a\t100\ntank/home@b\t200\ntank/home@c\t300\n";
        assert_eq!(pick_zfs_snapshot(list, 250), Some("b".into()));
        assert_eq!(pick_zfs_snapshot(list, 300), Some("c".into()));
        assert_eq!(pick_zfs_snapshot(list, 50), None);
    }

    #[test]
    fn resolved_maps_live_and_snapshot_mount_paths_into_the_zfs_snapshot() {
        let r = Resolved {
            map: PathMap::new(&[("/mnt/backup-snapshot".into(), "/tank/home".into())], &[]),
            zfs: Some(("/tank/home".into(), "/tank/home/.zfs/snapshot/s1".into())),
            zfs_snapshot: Some("s1".into()),
        };
        assert_eq!(
            r.expected_path("/mnt/backup-snapshot/u/f"),
            PathBuf::from("/tank/home/.zfs/snapshot/s1/u/f")
        );
        assert_eq!(
            r.expected_path("/tank/home/.zfs/snapshot/other/u/f"),
            PathBuf::from("/tank/home/.zfs/snapshot/s1/u/f")
        );
        assert!(r.immutable());
    }
}
