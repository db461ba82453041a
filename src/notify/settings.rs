//! What the settings of every notifier share: when it speaks (`State`), secret
//! URLs (given inline or read from a file when sending) and secret files, the keys
//! every `[notify.NAME]` table takes (`keys!` declares a type's settings with them),
//! and the checks of those shared keys. A type's own keys and checks live in its
//! file. `Check` is how settings report problems to `config`'s validator, which
//! implements it, so that nothing here imports `config`. Pure data and small pure
//! helpers, but for reading a secret file when sending.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::Error;
use super::http::origin;
use crate::secret::Secret;

/// How long one delivery may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// When a notifier speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Before the job starts.
    Start,
    /// The job passed on every repository.
    Success,
    /// The job failed or could not verify on some repository.
    Failure,
    /// The first success after a failure.
    Recovery,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Start,
        State::Success,
        State::Failure,
        State::Recovery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Start => "start",
            State::Success => "success",
            State::Failure => "failure",
            State::Recovery => "recovery",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A URL that is a secret: given inline or read from a file when sending.
#[derive(Debug, Clone)]
pub enum SecretUrl {
    Inline(Secret),
    File(PathBuf),
}

impl SecretUrl {
    /// The URL, read from its file if it lives in one.
    ///
    /// # Errors
    /// The file is missing, empty or holds no valid URL.
    pub fn resolve(&self) -> Result<reqwest::Url, Error> {
        self.resolve_with(None)
    }

    /// Like `resolve`, but a bare UUID (a Healthchecks check's UUID, as its web UI
    /// shows it) becomes `<uuid_base>/<uuid>`.
    ///
    /// # Errors
    /// The file is missing, empty or holds no valid URL.
    pub fn resolve_with(&self, uuid_base: Option<&str>) -> Result<reqwest::Url, Error> {
        let (text, path) = match self {
            SecretUrl::Inline(s) => (s.clone(), None),
            SecretUrl::File(path) => (read_secret_file(path, "URL", "url-file")?, Some(path)),
        };
        let text = text.expose().trim();
        let expanded = match uuid_base {
            Some(base) if uuid::Uuid::try_parse(text).is_ok() => {
                format!("{}/{text}", base.trim_end_matches('/'))
            }
            _ => text.to_owned(),
        };
        reqwest::Url::parse(&expanded)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| match path {
                Some(p) => Error::BadUrlFile { path: p.clone() },
                None => Error::Http {
                    target: "notifier".into(),
                    message: "invalid URL".into(),
                },
            })
    }

    /// What may be shown: scheme and host, or the file's path.
    pub fn describe(&self) -> String {
        match self {
            SecretUrl::Inline(s) => origin(s.expose()),
            SecretUrl::File(p) => format!("URL from {}", p.display()),
        }
    }

    pub fn file(&self) -> Option<&Path> {
        match self {
            SecretUrl::File(p) => Some(p),
            SecretUrl::Inline(_) => None,
        }
    }
}

/// Reads a one-line secret file (trimmed).
///
/// # Errors
/// Missing, unreadable or empty file.
pub fn read_secret_file(
    path: &Path,
    what: &'static str,
    key: &'static str,
) -> Result<Secret, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::SecretFile {
        what,
        key,
        path: path.to_owned(),
        source,
    })?;
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::SecretFileEmpty {
            what,
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(t.to_owned()))
}

/// Where a notifier's settings report their problems (implemented by `config`'s
/// validator: each problem located in the profile, collected, never only the first).
pub trait Check {
    /// A problem at `span`; `None`: the notifier's table.
    fn problem(&mut self, span: Option<Range<usize>>, message: String);
    /// A duration key's value, a bad one reported.
    fn duration(&mut self, key: &str, value: Option<&Spanned<String>>) -> Option<Duration>;
    /// A path key's value as a path: `$CREDENTIALS_DIRECTORY` expanded, relative to
    /// the profile's directory.
    fn file_path(&self, value: &Spanned<String>) -> PathBuf;
    /// This host's name.
    fn host(&self) -> &str;
}

/// The keys every notifier type takes (`keys!` adds them to each).
pub trait Common {
    fn states(&self) -> Option<&Spanned<Vec<String>>>;
    fn timeout(&self) -> Option<&Spanned<String>>;
}

/// Declares the `[notify.NAME]` keys of one notifier type, as serde reads them:
/// its own keys (each an `Option`; `Debug` shows only whether it is set) plus
/// `states` and `timeout`, in kebab-case, unknown keys refused (the error names the
/// valid ones). The file using it imports `Common` (the macro implements it);
/// every key must also be in `config::keys`.
macro_rules! keys {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Clone, serde::Deserialize)]
        #[serde(rename_all = "kebab-case", deny_unknown_fields)]
        pub struct $name {
            /// When to speak (`State` names).
            pub states: Option<toml::Spanned<Vec<String>>>,
            /// Per delivery.
            pub timeout: Option<toml::Spanned<String>>,
            $($(#[$fm])* pub $field: $ty,)*
        }

        /// Shows which of its own keys are set, never their values (a URL may
        /// hold a token).
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("states", &self.states)
                    .field("timeout", &self.timeout)
                    $(.field(stringify!($field), &self.$field.as_ref().map(|_| "[redacted]")))*
                    .finish()
            }
        }

        impl Common for $name {
            fn states(&self) -> Option<&toml::Spanned<Vec<String>>> {
                self.states.as_ref()
            }
            fn timeout(&self) -> Option<&toml::Spanned<String>> {
                self.timeout.as_ref()
            }
        }
    };
}
pub(crate) use keys;

/// `timeout`: above zero, 10 s when absent.
pub fn timeout(v: &mut dyn Check, name: &str, value: Option<&Spanned<String>>) -> Duration {
    let timeout = v.duration("timeout", value).unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        v.problem(
            value.map(Spanned::span),
            format!("[notify.{name}] `timeout` must be above zero"),
        );
    }
    timeout
}

/// `states`: known names; `start` only for a type that speaks at start.
pub fn states(
    v: &mut dyn Check,
    name: &str,
    type_name: &str,
    value: Option<&Spanned<Vec<String>>>,
    defaults: &[State],
    speaks_at_start: bool,
) -> Vec<State> {
    let Some(list) = value else {
        return defaults.to_vec();
    };
    let mut out = Vec::new();
    for st in list.get_ref() {
        match State::parse(st) {
            Some(State::Start) if !speaks_at_start => {
                v.problem(Some(list.span()), format!("[notify.{name}] a {type_name} notifier has nothing to send at `start`; use success, failure, recovery"));
            }
            Some(x) => out.push(x),
            None => v.problem(
                Some(list.span()),
                format!(
                    "[notify.{name}] `states` has `{st}`; use start, success, failure, recovery"
                ),
            ),
        }
    }
    out
}

/// `url` or `url-file`, exactly one: an inline URL must be http(s) (or, where
/// `bare_uuid` allows it, a Healthchecks check UUID) and is never echoed back.
/// `needed` says what the URL is, for the message when both are missing.
pub fn secret_url(
    v: &mut dyn Check,
    name: &str,
    url: Option<&Spanned<String>>,
    url_file: Option<&Spanned<String>>,
    bare_uuid: bool,
    needed: &str,
) -> Option<SecretUrl> {
    match (url, url_file) {
        (Some(u), Some(_)) => {
            v.problem(
                Some(u.span()),
                format!("[notify.{name}] sets both `url` and `url-file`; keep one"),
            );
            None
        }
        (Some(u), None) => {
            // The URL itself is a secret: never echo it back.
            let text = u.get_ref();
            let http = reqwest::Url::parse(text)
                .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
            // A bare check UUID means healthchecks.io.
            if http || (bare_uuid && uuid::Uuid::try_parse(text).is_ok()) {
                Some(SecretUrl::Inline(Secret::new(text.clone())))
            } else {
                v.problem(Some(u.span()), format!("[notify.{name}] `url` is not an http(s) URL (value not shown; it may hold a token)"));
                None
            }
        }
        (None, Some(f)) => Some(SecretUrl::File(v.file_path(f))),
        (None, None) => {
            v.problem(
                None,
                format!("[notify.{name}] needs `url` or `url-file`: {needed}"),
            );
            None
        }
    }
}
