//! The error of one delivery (or of reading a notifier's secret file): what
//! every notifier returns and the dispatcher logs. URLs appear only as scheme and
//! host. Imports nothing of `notify`.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} file {} cannot be read: {source}; create it or fix `{key}`", path.display())]
    SecretFile {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} file {} is empty", path.display())]
    SecretFileEmpty { what: &'static str, path: PathBuf },
    #[error("{} holds no http(s) URL (nor, for Healthchecks, a check UUID)", path.display())]
    BadUrlFile { path: PathBuf },
    #[error("request to {target} failed: {message}")]
    Http { target: String, message: String },
    #[error("{target} answered {status}: {body}")]
    Status {
        target: String,
        status: u16,
        body: String,
    },
    #[error("timed out after {} talking to {target}", humantime::format_duration(*timeout))]
    Timeout { target: String, timeout: Duration },
    #[error("email through {target}: {message}")]
    Smtp { target: String, message: String },
}
