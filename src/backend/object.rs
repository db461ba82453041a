//! Object stores (`s3:`, `b2:`, `azure:`, `gs:`, `swift:`) through Apache OpenDAL,
//! read-only: a small rustic_core backend over an OpenDAL blocking operator whose
//! write calls all fail. Requests run on a private two-thread tokio runtime, so
//! callers stay blocking (the audit and the pack reader run on their own threads).
//!
//! Opening probes the repository's `config` object once, so a stopped server, keys
//! that are refused and a missing bucket or prefix are told apart there, from
//! OpenDAL's typed errors, before rustic_core reads anything. Transient failures
//! are retried a few times (about 7 s in all); refusals never are.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use opendal::blocking::Operator;
use opendal::layers::RetryLayer;
use opendal::options::{ListOptions, ReadOptions};
use rustic_core::{
    BytesList, ErrorKind as RusticKind, FileType, Id, ReadBackend, RusticError, RusticResult,
    WriteBackend,
};

use super::error::Error;
use super::url::{AzureKey, GcsCredentials, S3Keys, Spec};
use crate::secret::Redactor;

/// Retries of a transient failure (1 s, 2 s, 4 s with jitter), like restic's few.
const RETRIES: usize = 3;

fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            // OpenDAL's HTTP client (reqwest); services are built directly, not
            // looked up by name.
            opendal::install_default();
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("backend-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The OpenDAL operator of an object store spec, rooted at the repository.
fn operator(spec: &Spec) -> Result<opendal::Operator, opendal::Error> {
    use opendal::services;
    let root = |prefix: &str| format!("/{prefix}");
    let op = match spec {
        Spec::S3(s) => {
            let mut b = services::S3::default()
                .endpoint(&s.endpoint)
                .bucket(&s.bucket)
                .root(&root(&s.prefix))
                // minio-go (restic) signs for us-east-1 where no region is given.
                .region(s.region.as_deref().unwrap_or("us-east-1"))
                .disable_ec2_metadata();
            if s.virtual_host {
                b = b.enable_virtual_host_style();
            }
            b = match &s.keys {
                S3Keys::Static {
                    access_key_id,
                    secret_access_key,
                    session_token,
                } => {
                    let b = b
                        .disable_config_load()
                        .access_key_id(access_key_id.expose())
                        .secret_access_key(secret_access_key.expose());
                    match session_token {
                        Some(t) => b.session_token(t.expose()),
                        None => b,
                    }
                }
                // The shared credentials file of the user, as restic reads it.
                S3Keys::Profile(p) => b.profile(p),
            };
            opendal::Operator::new(b)?
        }
        Spec::Azure(a) => {
            let b = services::Azblob::default()
                .container(&a.container)
                .root(&root(&a.prefix))
                .endpoint(&a.endpoint)
                .account_name(&a.account);
            let b = match &a.key {
                AzureKey::Account(k) => b.account_key(k.expose()),
                AzureKey::Sas(s) => b.sas_token(s.expose()),
            };
            opendal::Operator::new(b)?
        }
        Spec::Gcs(g) => {
            let b = services::Gcs::default()
                .bucket(&g.bucket)
                .root(&root(&g.prefix));
            let b = match &g.credentials {
                GcsCredentials::File(f) => b.credential_path(f),
                GcsCredentials::Token(t) => b.token(t.expose().to_owned()),
            };
            opendal::Operator::new(b)?
        }
        Spec::Swift(s) => {
            let b = services::Swift::default()
                .endpoint(&s.storage_url)
                .container(&s.container)
                .root(&root(&s.prefix))
                .token(s.token.expose());
            opendal::Operator::new(b)?
        }
        Spec::Local(_) | Spec::Rest(_) | Spec::Rclone(_) | Spec::Sftp(_) | Spec::B2(_) => {
            return Err(opendal::Error::new(
                opendal::ErrorKind::Unsupported,
                "not an object store this reader opens",
            ))
        }
    };
    Ok(op.layer(RetryLayer::new().with_max_times(RETRIES).with_jitter()))
}

/// The variables that hold a scheme's credentials, for messages.
fn key_variables(spec: &Spec) -> &'static str {
    match spec {
        Spec::S3(s) => match s.keys {
            S3Keys::Static { .. } => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if the keys are temporary)",
            S3Keys::Profile(_) => "AWS_PROFILE and the keys of that profile in ~/.aws/credentials",
        },
        Spec::B2(_) => "B2_ACCOUNT_ID and B2_ACCOUNT_KEY",
        Spec::Azure(_) => "AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY (or AZURE_ACCOUNT_SAS)",
        Spec::Gcs(_) => "GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_ACCESS_TOKEN)",
        Spec::Swift(_) => "OS_STORAGE_URL and OS_AUTH_TOKEN",
        Spec::Local(_) | Spec::Rest(_) | Spec::Rclone(_) | Spec::Sftp(_) => "the repository's credentials",
    }
}

/// What an OpenDAL error means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meaning {
    Network,
    Refused,
    Missing,
    Other,
}

/// Sorts an OpenDAL error (kind, temporariness and the server's error code).
pub(crate) fn meaning(kind: opendal::ErrorKind, temporary: bool, text: &str) -> Meaning {
    const REFUSED: [&str; 6] = [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AuthenticationFailed",
        "AuthorizationFailure",
        "ExpiredToken",
    ];
    const MISSING: [&str; 2] = ["NoSuchBucket", "ContainerNotFound"];
    const NETWORK: [&str; 7] = [
        "error sending request",
        "connection refused",
        "Connection refused",
        "connection reset",
        "dns error",
        "timed out",
        "error trying to connect",
    ];
    if REFUSED.iter().any(|c| text.contains(c))
        || kind == opendal::ErrorKind::PermissionDenied
        || text.contains("status: 401")
    {
        Meaning::Refused
    } else if MISSING.iter().any(|c| text.contains(c)) || kind == opendal::ErrorKind::NotFound {
        Meaning::Missing
    } else if temporary || NETWORK.iter().any(|c| text.contains(c)) {
        Meaning::Network
    } else {
        Meaning::Other
    }
}

/// An OpenDAL error without its context (request URI, response headers): its
/// message, kind and the chain of causes.
fn short(e: &opendal::Error) -> String {
    let mut out = format!("{} ({})", e.message(), e.kind());
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(&format!(": {c}"));
        cause = c.source();
    }
    out
}

/// Opens an object store and probes its `config` object.
pub(crate) fn open(
    spec: &Spec,
    shown: &str,
    redactor: &Redactor,
) -> Result<Arc<dyn WriteBackend>, Error> {
    let rt = runtime().map_err(|e| Error::Other {
        repository: shown.to_owned(),
        message: format!("cannot start the backend's I/O threads: {e}"),
    })?;
    let _guard = rt.enter();
    let classify = |e: opendal::Error| {
        let text = redactor.redact(&e.to_string());
        let short = redactor.redact(&short(&e));
        let repository = shown.to_owned();
        match meaning(e.kind(), e.is_temporary(), &text) {
            Meaning::Refused => Error::Auth {
                repository,
                variables: key_variables(spec),
                message: short,
            },
            Meaning::Network => Error::Network {
                repository,
                message: short,
            },
            Meaning::Missing => Error::Missing {
                repository,
                message: short,
            },
            Meaning::Other if e.kind() == opendal::ErrorKind::ConfigInvalid => Error::Unsupported {
                repository,
                scheme: spec.scheme(),
                why: short,
            },
            Meaning::Other => Error::Other {
                repository,
                message: text,
            },
        }
    };
    let op = operator(spec).map_err(classify)?;
    let op = Operator::new(op).map_err(classify)?;
    match op.stat("config") {
        Ok(_) => {}
        Err(e)
            if e.kind() == opendal::ErrorKind::NotFound
                && !e.to_string().contains("NoSuchBucket") =>
        {
            return Err(Error::Missing {
                repository: shown.to_owned(),
                message: "there is no `config` object under the URL's prefix".to_owned(),
            })
        }
        Err(e) => return Err(classify(e)),
    }
    Ok(Arc::new(ObjectStore {
        op,
        location: shown.to_owned(),
    }))
}

/// A read-only rustic_core backend over an OpenDAL operator.
#[derive(Debug)]
struct ObjectStore {
    op: Operator,
    location: String,
}

fn failed(what: &str, path: &str, e: &opendal::Error) -> Box<RusticError> {
    // The error's text goes into the message (not only its source), so that the
    // callers' classification sees "error sending request" and the like.
    RusticError::new(
        RusticKind::Backend,
        format!("{what} `{path}` failed: {e}").replace(['{', '}'], ""),
    )
}

fn path(tpe: FileType, id: &Id) -> String {
    let hex = id.to_hex();
    match tpe {
        FileType::Config => "config".to_owned(),
        FileType::Pack => format!("data/{}/{}", &hex[..2], &*hex),
        _ => format!("{}/{}", tpe.dirname(), &*hex),
    }
}

impl ReadBackend for ObjectStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    /// Unlike rustic_backend's OpenDAL backend, a failed listing entry fails the
    /// listing: a partial list must not look like missing files.
    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            return match self.op.stat("config") {
                Ok(m) => Ok(vec![(
                    Id::default(),
                    u32::try_from(m.content_length()).unwrap_or(u32::MAX),
                )]),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(failed("reading", "config", &e)),
            };
        }
        let dir = format!("{}/", tpe.dirname());
        let opts = ListOptions {
            recursive: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        for entry in self
            .op
            .lister_options(&dir, opts)
            .map_err(|e| failed("listing", &dir, &e))?
        {
            let entry = entry.map_err(|e| failed("listing", &dir, &e))?;
            let meta = entry.metadata();
            if !meta.is_file() {
                continue;
            }
            let Some(id) = Id::parse_some(entry.name(), tpe) else {
                continue;
            };
            let Ok(len) = u32::try_from(meta.content_length()) else {
                continue;
            };
            out.push((id, len));
        }
        Ok(out)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let p = path(tpe, id);
        self.op
            .read(&p)
            .map(|b| b.to_bytes())
            .map_err(|e| failed("reading", &p, &e))
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let p = path(tpe, id);
        let range = u64::from(offset)..u64::from(offset) + u64::from(length);
        let opts = ReadOptions {
            range: range.into(),
            ..Default::default()
        };
        self.op
            .read_options(&p, opts)
            .map(|b| b.to_bytes())
            .map_err(|e| failed("reading", &p, &e))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        path(tpe, id)
    }
}

fn read_only() -> Box<RusticError> {
    RusticError::new(
        RusticKind::Unsupported,
        "restic-verify never writes to a repository",
    )
}

impl WriteBackend for ObjectStore {
    fn create(&self) -> RusticResult<()> {
        Err(read_only())
    }

    fn write_bytes(
        &self,
        _tpe: FileType,
        _id: &Id,
        _cacheable: bool,
        _buf: BytesList,
    ) -> RusticResult<()> {
        Err(read_only())
    }

    fn remove(&self, _tpe: FileType, _id: &Id, _cacheable: bool) -> RusticResult<()> {
        Err(read_only())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendal::ErrorKind as K;
    use rstest::rstest;

    #[rstest]
    #[case(
        K::PermissionDenied,
        false,
        "S3Error { code: \"InvalidAccessKeyId\" }",
        Meaning::Refused
    )]
    #[case(
        K::Unexpected,
        false,
        "S3Error { code: \"SignatureDoesNotMatch\" }",
        Meaning::Refused
    )]
    #[case(
        K::Unexpected,
        false,
        "Unexpected, context: { status: 401 }",
        Meaning::Refused
    )]
    #[case(
        K::NotFound,
        false,
        "S3Error { code: \"NoSuchBucket\" }",
        Meaning::Missing
    )]
    #[case(
        K::Unexpected,
        true,
        "send http request, source: error sending request for url",
        Meaning::Network
    )]
    #[case(
        K::Unexpected,
        false,
        "client error (Connect): tcp connect error: Connection refused",
        Meaning::Network
    )]
    #[case(K::Unexpected, false, "something else", Meaning::Other)]
    fn meaning_sorts_refusals_missing_buckets_and_network(
        #[case] kind: K,
        #[case] temporary: bool,
        #[case] text: &str,
        #[case] want: Meaning,
    ) {
        assert_eq!(meaning(kind, temporary, text), want);
    }

    #[test]
    fn pack_paths_follow_restics_layout() {
        let id = Id::new([0xab; 32]);
        assert_eq!(
            path(FileType::Pack, &id),
            format!("data/ab/{}", "ab".repeat(32))
        );
        assert_eq!(
            path(FileType::Index, &id),
            format!("index/{}", "ab".repeat(32))
        );
        assert_eq!(path(FileType::Config, &id), "config");
    }
}
