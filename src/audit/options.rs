//! What to audit and how (`AuditOptions`, with the snapshot it selects), below
//! everything of the audit that reads them: the caller builds them, `repo` opens
//! the repository and selects the snapshot from them, mod.rs runs the audit.

use std::collections::BTreeMap;
use std::path::PathBuf;

use globset::GlobSet;

use crate::secret::Secret;

/// Which snapshot to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotSelector {
    /// The newest snapshot that passes the filter.
    Latest(SnapshotFilter),
    /// A snapshot ID or unique prefix; filters do not apply.
    Id(String),
}

impl Default for SnapshotSelector {
    fn default() -> Self {
        SnapshotSelector::Latest(SnapshotFilter::default())
    }
}

/// restic's `--host`, `--tag`, `--path` filters for `latest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFilter {
    /// Any of these hosts (empty: any host).
    pub hosts: Vec<String>,
    /// Any group whose tags are all present (restic's `--tag a,b --tag c`).
    pub tags: Vec<Vec<String>>,
    /// Every one of these absolute paths in the snapshot's `paths`.
    pub paths: Vec<String>,
}

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// restic repository URL: a local path, `rest:http(s)://…`, `rclone:…`, `s3:…`,
    /// `azure:…`, `gs:…`, `swift:…` (see `crate::backend`). May hold
    /// credentials, hence a `Secret`; shown only through `secret::redact_url`.
    pub repository: Secret,
    /// The repository password (read by the caller like restic reads it).
    pub password: Secret,
    /// rustic_backend options for the repository's backend, e.g. for REST `retry`
    /// (count, or `false`; default 5 with exponential backoff from 1 s) and
    /// `timeout` (default 10 min per request). Cancellation does not interrupt a
    /// request in flight.
    pub backend_options: BTreeMap<String, String>,
    /// For an `rclone:` repository: the REST URL (with its credentials) of the
    /// `rclone serve restic` that serves it. `job::run` starts rclone through the
    /// process door and sets this; without it an `rclone:` repository is refused.
    pub endpoint: Option<Secret>,
    /// The env file's variables: credentials of object stores (`AWS_*`, `AZURE_*`,
    /// …), read like restic reads them (`crate::backend::url`).
    pub env: Vec<(String, Secret)>,
    /// restic's `-o` options of the repository (`s3.region`, …).
    pub options: Vec<(String, String)>,
    pub snapshot: SnapshotSelector,
    /// `(FROM, TO)`: the source for the snapshot path whose tree path (or snapshot
    /// path) is FROM or below it is found under TO. Longest FROM wins; without one a
    /// snapshot path is its own source. Every FROM must match a snapshot path.
    pub map: Vec<(String, PathBuf)>,
    /// Only non-directory entries whose tree path matches are compared (directories
    /// are then walked but not classified).
    pub include: Option<GlobSet>,
    /// Entries whose tree path matches are skipped, directories with everything
    /// below them.
    pub exclude: Option<GlobSet>,
    /// restic `--exclude` patterns the backup used but did not record (restic keeps
    /// none from `--exclude-file`); added to the snapshot's recorded `excludes`.
    pub restic_excludes: Vec<String>,
    /// The source is exactly what the backup read (a ZFS snapshot): every
    /// difference is a failure.
    pub immutable_source: bool,
    /// At most this many non-`match` entries are listed in the outcome.
    pub max_entries: usize,
    /// Hashing threads; 0 = one per CPU.
    pub threads: usize,
}

impl AuditOptions {
    /// Audit `latest`, identity map, no filters, a mutable (live) source, 1000
    /// listed entries, one hashing thread per CPU.
    pub fn new(repository: Secret, password: Secret) -> Self {
        AuditOptions {
            repository,
            password,
            backend_options: BTreeMap::new(),
            endpoint: None,
            env: Vec::new(),
            options: Vec::new(),
            snapshot: SnapshotSelector::default(),
            map: Vec::new(),
            include: None,
            exclude: None,
            restic_excludes: Vec::new(),
            immutable_source: false,
            max_entries: 1000,
            threads: 0,
        }
    }
}

impl AuditOptions {
    /// Where `crate::backend` opens the repository.
    pub fn location(&self) -> crate::backend::Location {
        crate::backend::Location {
            repository: self.repository.clone(),
            env: self.env.clone(),
            options: self.options.clone(),
            endpoint: self.endpoint.clone(),
            tuning: self.backend_options.clone(),
        }
    }
}
