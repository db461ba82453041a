//! The repository's backend for the in-process readers (the audit, the pack
//! reader, the check job's pack sizes): restic's URL, env file and `-o` options
//! (`url`, pure) opened as a rustic_core backend. A local path, `rest:` and
//! `rclone:` (as REST from the `rclone serve restic` the audit starts) go through
//! rustic_backend; `s3:`, `azure:`, `gs:` and `swift:` through OpenDAL (`object`);
//! `sftp:` through restic's own ssh command, started by the process door (`sftp`).
//! Read-only: nothing here writes to a repository, takes a lock or keeps a cache.
//!
//! Errors carry the run's category: a server that cannot be reached is `network`,
//! refused keys `auth` (naming the variables to fix), a missing bucket or prefix and
//! a scheme that cannot be opened here `config` (`check` and `restore-test`, which
//! run restic, work there anyway). Messages never hold a secret: the URL is shown
//! redacted and the caller's redactor scrubs the backends' texts.

mod error;
mod object;
pub mod sftp;
pub mod url;

pub use error::Error;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rustic_backend::BackendOptions;
use rustic_core::repofile::FileType;
use rustic_core::WriteBackend;

use crate::secret::{self, Redactor, Secret};
pub use url::{Environment, Spec};

/// Where a repository is and what restic would be given to reach it.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// restic's URL (may hold credentials).
    pub repository: Secret,
    /// The env file's variables (the inherited environment is added on opening,
    /// after them, as restic's process gets both).
    pub env: Vec<(String, Secret)>,
    /// restic's `-o` options of the repository.
    pub options: Vec<(String, String)>,
    /// For `rclone:`: the REST URL of the `rclone serve restic` serving it.
    pub endpoint: Option<Secret>,
    /// rustic_backend options of the REST backend (`retry`, `timeout`).
    pub tuning: BTreeMap<String, String>,
}

impl Location {
    /// A location of `repository` with no env file, options or endpoint.
    pub fn new(repository: Secret) -> Self {
        Location {
            repository,
            ..Location::default()
        }
    }

    /// The URL as messages show it (credentials redacted).
    pub fn shown(&self) -> String {
        secret::redact_url(self.repository.expose())
    }

    /// A redactor for every secret of the location: URL passwords and the env
    /// file's values.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::default();
        for url in std::iter::once(&self.repository).chain(&self.endpoint) {
            if let Some(pw) = secret::url_password(url.expose()) {
                r.add(&pw);
            }
        }
        for (_, v) in &self.env {
            r.add(v);
        }
        r
    }
}

/// The inherited environment restic would get besides the env file (its own
/// `RESTIC_*` variables are set by this tool, never inherited).
fn inherited() -> Vec<(String, Secret)> {
    std::env::vars()
        .filter(|(k, _)| !k.starts_with("RESTIC_"))
        .map(|(k, v)| (k, Secret::new(v)))
        .collect()
}

/// Opens the repository's backend (for an object store, with one request that
/// proves the bucket, the prefix and the keys). Blocking.
///
/// # Errors
/// A malformed URL or option, a missing credential variable, a scheme not opened
/// here, or the probe failed (network, credentials, bucket or prefix).
pub fn open(loc: &Location) -> Result<Arc<dyn WriteBackend>, Error> {
    let shown = loc.shown();
    let redactor = loc.redactor();
    let env = Environment::new(loc.env.iter().cloned().chain(inherited()).collect());
    let spec = url::parse(loc.repository.expose(), &env, &loc.options)?;
    let through_rustic = |location: String| {
        BackendOptions::default()
            .repository(location)
            .options(loc.tuning.clone())
            .to_backends()
            .map(|b| b.repository())
            .map_err(|e| Error::Other {
                repository: shown.clone(),
                message: redactor.redact(&e.display_log()),
            })
    };
    match &spec {
        Spec::Local(path) => through_rustic(format!("local:{path}")),
        Spec::Rest(url) => through_rustic(url.expose().to_owned()),
        Spec::Rclone(_) => match &loc.endpoint {
            Some(e) => through_rustic(format!("rest:{}", e.expose())),
            None => Err(Error::Unsupported {
                repository: shown,
                scheme: "rclone",
                why: "it is read through the `rclone serve restic` that the audit starts".to_owned(),
            }),
        },
        Spec::Sftp(_) => {
            let access = sftp::Access {
                options: &loc.options,
                env: &loc.env,
                shown: &shown,
            };
            let backend = sftp::open(loc.repository.expose(), access, &redactor)?;
            Ok(Arc::new(backend) as Arc<dyn WriteBackend>)
        }
        Spec::B2(_) => Err(Error::Unsupported {
            repository: shown,
            scheme: "b2",
            why: "OpenDAL's B2 service needs the bucket's ID, which restic's URL does not carry; B2's S3-compatible endpoint works (`s3:https://s3.REGION.backblazeb2.com/BUCKET/PREFIX` with the application key in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".to_owned(),
        }),
        Spec::S3(_) | Spec::Azure(_) | Spec::Gcs(_) | Spec::Swift(_) => {
            object::open(&spec, &shown, &redactor)
        }
    }
}

/// Every pack file's size as the backend lists it, by full hex ID. Blocking.
///
/// # Errors
/// As `open`, or the listing failed.
pub fn pack_sizes(loc: &Location) -> Result<HashMap<String, u64>, Error> {
    let backend = open(loc)?;
    let listed = backend.list_with_size(FileType::Pack).map_err(|e| {
        let message = loc.redactor().redact(&e.display_log());
        let repository = loc.shown();
        if object::meaning(opendal::ErrorKind::Unexpected, false, &message)
            == object::Meaning::Network
        {
            Error::Network {
                repository,
                message,
            }
        } else {
            Error::Other {
                repository,
                message,
            }
        }
    })?;
    Ok(listed
        .into_iter()
        .map(|(id, size)| (id.to_hex().to_string(), u64::from(size)))
        .collect())
}
