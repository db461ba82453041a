//! restic's repository URLs, with the environment and `-o` options restic would
//! get, turned into a typed description of the backend to open (pure: no I/O, no
//! process environment; the caller hands in both).
//!
//! The forms are restic's own (its docs, "Preparing a new repository"):
//! `s3:https://host/bucket/prefix`, `s3:http://…`, `s3:host/bucket/prefix` (https),
//! `b2:bucket:prefix`, `azure:container:/prefix`, `gs:bucket:/prefix`,
//! `swift:container:/prefix`, besides a local path, `rest:` and `rclone:`.
//! Credentials come from the variables restic reads for each scheme; an option of
//! the scheme that has no equivalent here, or a missing variable, is an error that
//! names it. Secrets stay in `Secret`s.

use std::fmt;

use crate::secret::Secret;

/// The variables restic's process would see: the env file's first, then the
/// inherited environment (restic's own `RESTIC_*` excepted by the caller).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: Vec<(String, Secret)>,
}

impl Environment {
    /// From variables in precedence order (the first of a name wins).
    pub fn new(vars: Vec<(String, Secret)>) -> Self {
        Environment { vars }
    }

    /// A variable's value; an empty one counts as unset, as restic treats it.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.expose().is_empty())
    }

    fn plain(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.expose().to_owned())
    }

    /// Both variables, or an error naming the ones missing.
    fn pair(&self, scheme: &str, a: &str, b: &str) -> Result<(Secret, Secret), Error> {
        match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => Ok((x.clone(), y.clone())),
            (x, _) => Err(Error::MissingVariable {
                scheme: scheme.to_owned(),
                names: if x.is_none() { a } else { b }.to_owned(),
            }),
        }
    }
}

/// What to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A local directory (a bare path or `local:`).
    Local(String),
    /// `rest:http(s)://…` as written (may hold credentials).
    Rest(Secret),
    /// `rclone:remote:path`, read as REST from an `rclone serve restic`.
    Rclone(String),
    /// `sftp:…`: not opened in process yet.
    Sftp(String),
    S3(S3),
    B2(B2),
    Azure(Azure),
    Gcs(Gcs),
    Swift(Swift),
}

/// An S3 (or S3-compatible) bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3 {
    /// `https://host[:port]` or `http://…`.
    pub endpoint: String,
    pub bucket: String,
    /// The repository's directory in the bucket, without leading or trailing `/`.
    pub prefix: String,
    /// `s3.region`, else `AWS_DEFAULT_REGION`; `None`: the endpoint's default.
    pub region: Option<String>,
    /// Virtual-host style (`bucket.host`) rather than path style (`host/bucket`).
    pub virtual_host: bool,
    pub keys: S3Keys,
}

/// Where S3 requests get their signature from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Keys {
    Static {
        access_key_id: Secret,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// `AWS_PROFILE`: the shared credentials file of the user.
    Profile(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B2 {
    pub bucket: String,
    pub prefix: String,
    pub account_id: Secret,
    pub account_key: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Azure {
    pub account: String,
    pub container: String,
    pub prefix: String,
    /// `https://ACCOUNT.blob.SUFFIX` (`AZURE_ENDPOINT_SUFFIX`, default `core.windows.net`).
    pub endpoint: String,
    pub key: AzureKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureKey {
    Account(Secret),
    Sas(Secret),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gcs {
    pub bucket: String,
    pub prefix: String,
    pub credentials: GcsCredentials,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcsCredentials {
    /// `GOOGLE_APPLICATION_CREDENTIALS`: a service account's JSON key file.
    File(String),
    /// `GOOGLE_ACCESS_TOKEN`.
    Token(Secret),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swift {
    pub container: String,
    pub prefix: String,
    /// `OS_STORAGE_URL`.
    pub storage_url: String,
    /// `OS_AUTH_TOKEN`.
    pub token: Secret,
}

/// Why a URL, an option or the environment does not describe a backend to open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("repository URL {shown} is not valid for `{scheme}:`: {why} (restic's form: {form})")]
    Url {
        shown: String,
        scheme: String,
        why: String,
        form: &'static str,
    },
    #[error("restic option `{key}` has no equivalent in the in-process reader of `{scheme}:` repositories; remove it from the repository's `options` or run only `check` and `restore-test` there")]
    Option { scheme: String, key: String },
    #[error("restic option `{key}`: {why}")]
    OptionValue { key: String, why: String },
    #[error("{names} is not set for the `{scheme}:` repository: put it into the repository's env file (the same variables restic reads)")]
    MissingVariable { scheme: String, names: String },
    #[error("{what}")]
    Unusable { what: String },
}

impl Spec {
    /// The scheme as restic writes it (`local` for a path).
    pub fn scheme(&self) -> &'static str {
        match self {
            Spec::Local(_) => "local",
            Spec::Rest(_) => "rest",
            Spec::Rclone(_) => "rclone",
            Spec::Sftp(_) => "sftp",
            Spec::S3(_) => "s3",
            Spec::B2(_) => "b2",
            Spec::Azure(_) => "azure",
            Spec::Gcs(_) => "gs",
            Spec::Swift(_) => "swift",
        }
    }
}

impl fmt::Display for Spec {
    /// Without any secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::S3(s) => write!(f, "s3:{}/{}/{}", s.endpoint, s.bucket, s.prefix),
            Spec::B2(b) => write!(f, "b2:{}:{}", b.bucket, b.prefix),
            Spec::Azure(a) => write!(f, "azure:{}:/{}", a.container, a.prefix),
            Spec::Gcs(g) => write!(f, "gs:{}:/{}", g.bucket, g.prefix),
            Spec::Swift(s) => write!(f, "swift:{}:/{}", s.container, s.prefix),
            Spec::Local(p) => write!(f, "{p}"),
            Spec::Rest(u) => write!(f, "{}", crate::secret::redact_url(u.expose())),
            Spec::Rclone(r) => write!(f, "rclone:{r}"),
            Spec::Sftp(s) => write!(f, "sftp:{s}"),
        }
    }
}

/// restic's `-o` options: `(key, value)` with keys like `s3.region`.
pub type Options = [(String, String)];

/// Parses `url` as restic would, taking credentials from `env` and the options of
/// its scheme from `options` (options of other schemes are ignored, like restic).
///
/// # Errors
/// A malformed URL, an option of the scheme without equivalent (or with a bad
/// value), or a credential variable missing.
pub fn parse(url: &str, env: &Environment, options: &Options) -> Result<Spec, Error> {
    let shown = crate::secret::redact_url(url);
    let bad = |scheme: &str, why: &str, form: &'static str| Error::Url {
        shown: shown.clone(),
        scheme: scheme.to_owned(),
        why: why.to_owned(),
        form,
    };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Ok(Spec::Local(url.to_owned()));
    };
    match scheme {
        "local" => Ok(Spec::Local(rest.to_owned())),
        "rest" => Ok(Spec::Rest(Secret::new(url))),
        "rclone" => Ok(Spec::Rclone(rest.to_owned())),
        "sftp" => Ok(Spec::Sftp(rest.to_owned())),
        "s3" => s3(url, env, options).map_err(|e| e.unwrap_or_else(|why| bad("s3", why, S3_FORM))),
        "b2" => {
            let (bucket, prefix) =
                bucket_and_prefix(rest).ok_or_else(|| bad("b2", "no bucket name", B2_FORM))?;
            only(options, "b2", &["connections"])?;
            let (account_id, account_key) = env.pair("b2", "B2_ACCOUNT_ID", "B2_ACCOUNT_KEY")?;
            Ok(Spec::B2(B2 {
                bucket,
                prefix,
                account_id,
                account_key,
            }))
        }
        "azure" => azure(rest, env, options)
            .map_err(|e| e.unwrap_or_else(|why| bad("azure", why, AZURE_FORM))),
        "gs" => {
            let (bucket, prefix) =
                bucket_and_prefix(rest).ok_or_else(|| bad("gs", "no bucket name", GS_FORM))?;
            // `gs.region` only matters when restic creates the bucket.
            only(options, "gs", &["connections", "region"])?;
            let credentials = match (
                env.plain("GOOGLE_APPLICATION_CREDENTIALS"),
                env.get("GOOGLE_ACCESS_TOKEN"),
            ) {
                (_, Some(t)) => GcsCredentials::Token(t.clone()),
                (Some(f), None) => GcsCredentials::File(f),
                (None, None) => {
                    return Err(Error::MissingVariable {
                        scheme: "gs".to_owned(),
                        names: "GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_ACCESS_TOKEN)".to_owned(),
                    })
                }
            };
            Ok(Spec::Gcs(Gcs {
                bucket,
                prefix,
                credentials,
            }))
        }
        "swift" => swift(rest, env, options)
            .map_err(|e| e.unwrap_or_else(|why| bad("swift", why, SWIFT_FORM))),
        // restic reads anything else as a local path, even with a `:` in it.
        _ => Ok(Spec::Local(url.to_owned())),
    }
}

const S3_FORM: &str = "s3:https://host/bucket/prefix or s3:host/bucket/prefix";
const B2_FORM: &str = "b2:bucket:prefix";
const AZURE_FORM: &str = "azure:container:/prefix";
const GS_FORM: &str = "gs:bucket:/prefix";
const SWIFT_FORM: &str = "swift:container:/prefix";

/// A parse failure: `Err(why)` is a URL problem the caller words, `Ok(e)` any other.
type Parsed<T> = Result<T, Result<Error, &'static str>>;

/// The options of `scheme` that are not in `known` are errors; other schemes'
/// options are not this backend's business.
fn only(options: &Options, scheme: &str, known: &[&str]) -> Result<(), Error> {
    for (key, _) in options {
        if let Some(name) = key.strip_prefix(scheme).and_then(|k| k.strip_prefix('.')) {
            if !known.contains(&name) {
                return Err(Error::Option {
                    scheme: scheme.to_owned(),
                    key: key.clone(),
                });
            }
        }
    }
    Ok(())
}

fn option<'a>(options: &'a Options, key: &str) -> Option<&'a str> {
    options
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `bucket:prefix` or `bucket:/prefix` (restic cleans the prefix: no leading or
/// trailing `/`, no `.` components).
fn bucket_and_prefix(rest: &str) -> Option<(String, String)> {
    let (bucket, prefix) = rest.split_once(':').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), clean(prefix)))
}

/// A path prefix as restic's `path.Clean` leaves it, without the outer slashes.
fn clean(prefix: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in prefix.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn s3(url: &str, env: &Environment, options: &Options) -> Parsed<Spec> {
    let (endpoint, path) = if let Some(rest) = url.strip_prefix("s3:http://") {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        (format!("http://{host}"), path)
    } else if let Some(rest) = url.strip_prefix("s3:https://") {
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        (format!("https://{host}"), path)
    } else {
        let rest = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3:"))
            .unwrap_or(url);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        (format!("https://{host}"), path)
    };
    if endpoint.ends_with("//") || endpoint.contains('@') {
        return Err(Err(
            "no host (or credentials in it: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ));
    }
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return Err(Err("no bucket name"));
    }
    // `storage-class` only matters for writing; `connections` bounds restic's own
    // parallel requests (the readers here use a few of their own).
    only(
        options,
        "s3",
        &["region", "bucket-lookup", "storage-class", "connections"],
    )
    .map_err(Ok)?;
    let region = option(options, "s3.region")
        .map(str::to_owned)
        .or_else(|| env.plain("AWS_DEFAULT_REGION"));
    let virtual_host = match option(options, "s3.bucket-lookup").unwrap_or("auto") {
        // minio-go's `auto`: virtual-host style only where it knows the host wants it.
        "auto" => endpoint.ends_with(".amazonaws.com") || endpoint.contains(".amazonaws.com:"),
        "dns" => true,
        "path" => false,
        other => {
            return Err(Ok(Error::OptionValue {
                key: "s3.bucket-lookup".to_owned(),
                why: format!("`{other}` is not one of `auto`, `dns`, `path`"),
            }))
        }
    };
    let keys = match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
        env.plain("AWS_PROFILE"),
    ) {
        (Some(id), Some(key), _) => S3Keys::Static {
            access_key_id: id.clone(),
            secret_access_key: key.clone(),
            session_token: env.get("AWS_SESSION_TOKEN").cloned(),
        },
        (None, None, Some(profile)) => S3Keys::Profile(profile),
        (id, _, _) => {
            let names = match id {
                Some(_) => "AWS_SECRET_ACCESS_KEY",
                None => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
            };
            return Err(Ok(Error::MissingVariable {
                scheme: "s3".to_owned(),
                names: names.to_owned(),
            }));
        }
    };
    Ok(Spec::S3(S3 {
        endpoint,
        bucket: bucket.to_owned(),
        prefix: clean(prefix),
        region,
        virtual_host,
        keys,
    }))
}

fn azure(rest: &str, env: &Environment, options: &Options) -> Parsed<Spec> {
    let (container, prefix) = bucket_and_prefix(rest).ok_or(Err("no container name"))?;
    // `access-tier` only matters for writing.
    only(options, "azure", &["connections", "access-tier"]).map_err(Ok)?;
    let account = env.plain("AZURE_ACCOUNT_NAME").ok_or_else(|| {
        Ok(Error::MissingVariable {
            scheme: "azure".to_owned(),
            names: "AZURE_ACCOUNT_NAME".to_owned(),
        })
    })?;
    let key = match (env.get("AZURE_ACCOUNT_KEY"), env.get("AZURE_ACCOUNT_SAS")) {
        (Some(k), _) => AzureKey::Account(k.clone()),
        (None, Some(s)) => AzureKey::Sas(s.clone()),
        (None, None) => {
            return Err(Ok(Error::MissingVariable {
                scheme: "azure".to_owned(),
                names: "AZURE_ACCOUNT_KEY (or AZURE_ACCOUNT_SAS)".to_owned(),
            }))
        }
    };
    let suffix = env
        .plain("AZURE_ENDPOINT_SUFFIX")
        .unwrap_or_else(|| "core.windows.net".to_owned());
    Ok(Spec::Azure(Azure {
        endpoint: format!("https://{account}.blob.{suffix}"),
        account,
        container,
        prefix,
        key,
    }))
}

fn swift(rest: &str, env: &Environment, options: &Options) -> Parsed<Spec> {
    let (container, prefix) = bucket_and_prefix(rest).ok_or(Err("no container name"))?;
    only(options, "swift", &["connections"]).map_err(Ok)?;
    match (env.plain("OS_STORAGE_URL"), env.get("OS_AUTH_TOKEN")) {
        (Some(storage_url), Some(token)) => Ok(Spec::Swift(Swift {
            container,
            prefix,
            storage_url,
            token: token.clone(),
        })),
        _ if env.get("OS_AUTH_URL").is_some() => Err(Ok(Error::Unusable {
            what: "the in-process reader of `swift:` repositories cannot log in to Keystone (OS_AUTH_URL, OS_USERNAME, …): put OS_STORAGE_URL and OS_AUTH_TOKEN (`swift auth` prints them) into the env file; `check` and `restore-test` work either way".to_owned(),
        })),
        _ => Err(Ok(Error::MissingVariable {
            scheme: "swift".to_owned(),
            names: "OS_STORAGE_URL and OS_AUTH_TOKEN".to_owned(),
        })),
    }
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
