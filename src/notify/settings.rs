//! Notifier settings, as `config` builds them from `[notify.NAME]` tables: the
//! types, their states and defaults, and secret URLs (given inline or read from a
//! file when sending). Pure data and small pure helpers; the dispatcher and the
//! senders live beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Error;
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

/// SMTP connection security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (required); port 587 by default.
    Starttls,
    /// TLS from the first byte (SMTPS); port 465 by default.
    Tls,
    /// No encryption, for a local relay; port 25 by default.
    None,
}

impl TlsMode {
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmailOptions {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub from: String,
    pub to: Vec<String>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
}

/// What kind of notifier, with its settings. `Debug` shows no secret: URLs that
/// are secrets are `SecretUrl`s, and the Pushgateway URL's password is redacted.
#[derive(Clone)]
pub enum Kind {
    Email(EmailOptions),
    Healthchecks {
        url: SecretUrl,
    },
    Ntfy {
        url: SecretUrl,
        token_file: Option<PathBuf>,
    },
    UptimeKuma {
        url: SecretUrl,
    },
    Pushgateway {
        url: reqwest::Url,
        instance: String,
    },
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Email(o) => f.debug_tuple("Email").field(o).finish(),
            Kind::Healthchecks { url } => f.debug_struct("Healthchecks").field("url", url).finish(),
            Kind::Ntfy { url, token_file } => f
                .debug_struct("Ntfy")
                .field("url", url)
                .field("token_file", token_file)
                .finish(),
            Kind::UptimeKuma { url } => f.debug_struct("UptimeKuma").field("url", url).finish(),
            Kind::Pushgateway { url, instance } => f
                .debug_struct("Pushgateway")
                .field("url", &crate::secret::redact_url(url.as_str()))
                .field("instance", instance)
                .finish(),
        }
    }
}

impl Kind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Email(_) => "email",
            Kind::Healthchecks { .. } => "healthchecks",
            Kind::Ntfy { .. } => "ntfy",
            Kind::UptimeKuma { .. } => "uptime-kuma",
            Kind::Pushgateway { .. } => "pushgateway",
        }
    }

    /// The states a notifier of this type reports when `states` is not set.
    pub fn default_states(type_name: &str) -> &'static [State] {
        match type_name {
            "healthchecks" => &[State::Start, State::Success, State::Failure],
            "uptime-kuma" | "pushgateway" => &[State::Success, State::Failure],
            _ => &[State::Failure, State::Recovery],
        }
    }

    /// Whether this type has anything to say before a job starts.
    pub fn supports_start(type_name: &str) -> bool {
        !matches!(type_name, "uptime-kuma" | "pushgateway")
    }

    /// Where it sends, safe to log.
    pub fn describe(&self) -> String {
        match self {
            Kind::Email(o) => format!("smtp://{}:{} to {}", o.host, o.port, o.to.join(", ")),
            Kind::Healthchecks { url } | Kind::Ntfy { url, .. } | Kind::UptimeKuma { url } => {
                url.describe()
            }
            Kind::Pushgateway { url, instance } => {
                format!("{} (instance {instance})", origin(url.as_str()))
            }
        }
    }
}

/// One `[notify.NAME]` table, checked.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub name: String,
    pub kind: Kind,
    pub states: Vec<State>,
    pub timeout: Duration,
}

/// `scheme://host[:port]/...`: what of a secret-bearing URL may be logged.
pub fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/...", u.scheme(), u.host_str().unwrap_or(""))
        }
        Err(_) => "an invalid URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_debug_shows_no_url_password_or_token() {
        let k = Kind::Pushgateway {
            url: reqwest::Url::parse("https://push:hunter22@pg.example/").expect("url"),
            instance: "h".into(),
        };
        let d = format!("{k:?}");
        assert!(!d.contains("hunter22") && d.contains("pg.example"), "{d}");
        let k = Kind::Ntfy {
            url: SecretUrl::Inline(Secret::new("https://ntfy.sh/topic-s3cret")),
            token_file: None,
        };
        assert!(!format!("{k:?}").contains("topic-s3cret"));
    }
}
