//! Email through lettre: SMTP with STARTTLS (required, never downgraded), implicit
//! TLS, or plain for a local relay; the password from a file; a subject that says
//! outcome, job and repositories; a body with the summary and the failing files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use toml::Spanned;

use super::error::Error;
use super::event::{Context, Event, Notify};
use super::message::{start_title, Finish, DRILL_NOTE};
use super::settings::{keys, read_secret_file, Check, Common, State};

keys! {
    /// `[notify.NAME]` with `type = "email"`.
    EmailSettings {
        smtp_host: Option<Spanned<String>>,
        smtp_port: Option<u16>,
        tls: Option<Spanned<String>>,
        from: Option<Spanned<String>>,
        to: Option<Recipients>,
        username: Option<String>,
        password_file: Option<Spanned<String>>,
        ca_file: Option<Spanned<String>>,
    }
}

/// `to`: one address or a list.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

impl Recipients {
    fn into_vec(self) -> Vec<String> {
        match self {
            Recipients::One(s) => vec![s],
            Recipients::Many(v) => v,
        }
    }
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

/// Email through an SMTP server.
#[derive(Debug, Clone)]
pub struct Email {
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

impl Notify for Email {
    type Settings = EmailSettings;
    const DEFAULT_STATES: &'static [State] = &[State::Failure, State::Recovery];

    fn check(s: &EmailSettings, name: &str, v: &mut dyn Check) -> Option<Self> {
        let host = s.smtp_host.as_ref().map(|h| h.get_ref().clone());
        if host.is_none() {
            v.problem(
                None,
                format!("[notify.{name}] needs `smtp-host`, e.g. smtp-host = \"mail.example.org\""),
            );
        }
        let tls = tls_mode(s, name, v);
        let from = s.from.as_ref().map(|f| f.get_ref().clone());
        match &from {
            None => v.problem(None, format!("[notify.{name}] needs `from`, e.g. from = \"restic-verify <backup@example.org>\"")),
            Some(f) if f.parse::<Mailbox>().is_err() => {
                v.problem(s.from.as_ref().map(Spanned::span), format!("[notify.{name}] `from = \"{f}\"` is not an email address"));
            }
            Some(_) => {}
        }
        let to = s.to.clone().map(Recipients::into_vec).unwrap_or_default();
        if to.is_empty() {
            v.problem(
                None,
                format!("[notify.{name}] needs `to`, e.g. to = [\"admin@example.org\"]"),
            );
        }
        for t in to.iter().filter(|t| t.parse::<Mailbox>().is_err()) {
            v.problem(
                None,
                format!("[notify.{name}] `to` has `{t}`, which is not an email address"),
            );
        }
        if s.username.is_some() != s.password_file.is_some() {
            v.problem(None, format!("[notify.{name}] `username` and `password-file` go together; set both or neither"));
        }
        if tls == TlsMode::None && s.username.is_some() {
            if let Some(h) = host.as_deref().filter(|h| !is_loopback(h)) {
                v.problem(None, format!("[notify.{name}] would send the SMTP password unencrypted to {h}; use tls = \"starttls\" or \"tls\""));
            }
        }
        Some(Email {
            port: s.smtp_port.unwrap_or(tls.default_port()),
            host: host.unwrap_or_default(),
            tls,
            from: from.unwrap_or_default(),
            to,
            username: s.username.clone(),
            password_file: s.password_file.as_ref().map(|p| v.file_path(p)),
            ca_file: s.ca_file.as_ref().map(|p| v.file_path(p)),
        })
    }

    fn describe(&self) -> String {
        format!(
            "smtp://{}:{} to {}",
            self.host,
            self.port,
            self.to.join(", ")
        )
    }

    fn files(&self) -> Vec<(&'static str, &Path)> {
        self.password_file
            .as_deref()
            .map(|f| ("password-file", f))
            .into_iter()
            .chain(self.ca_file.as_deref().map(|f| ("ca-file", f)))
            .collect()
    }

    async fn send(&self, ctx: &Context<'_>, event: &Event<'_>) -> Result<(), Error> {
        match event {
            Event::Start { job, repositories } => {
                start(self, ctx.timeout, job, repositories, ctx.drill).await
            }
            Event::Finish { state, finish: f } => finish(self, ctx.timeout, *state, f).await,
        }
    }

    async fn probe(&self, timeout: Duration) -> Result<(), String> {
        probe(self, timeout).await.map_err(|e| e.to_string())
    }
}

/// `tls`: starttls when absent.
fn tls_mode(s: &EmailSettings, name: &str, v: &mut dyn Check) -> TlsMode {
    match s.tls.as_ref().map(|t| t.get_ref().as_str()) {
        None | Some("starttls") => TlsMode::Starttls,
        Some("tls") => TlsMode::Tls,
        Some("none") => TlsMode::None,
        Some(other) => {
            v.problem(s.tls.as_ref().map(Spanned::span), format!("[notify.{name}] `tls = \"{other}\"`: use \"starttls\" (port 587), \"tls\" (port 465) or \"none\" (local relay, port 25)"));
            TlsMode::Starttls
        }
    }
}

/// Whether an SMTP host is this machine (a password may travel unencrypted there).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn target(o: &Email) -> String {
    format!("smtp://{}:{}", o.host, o.port)
}

fn smtp_error(o: &Email, e: impl std::fmt::Display) -> Error {
    Error::Smtp {
        target: target(o),
        message: e.to_string(),
    }
}

/// The transport for `o`.
///
/// # Errors
/// Password or CA file unreadable, TLS set-up failed.
pub fn transport(
    o: &Email,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, Error> {
    let tls = match o.tls {
        TlsMode::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(o.host.clone());
            if let Some(ca) = &o.ca_file {
                let pem = std::fs::read(ca).map_err(|source| Error::SecretFile {
                    what: "CA certificate",
                    key: "ca-file",
                    path: ca.clone(),
                    source,
                })?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| smtp_error(o, format!("CA file {}: {e}", ca.display())))?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build().map_err(|e| smtp_error(o, e))?;
            if mode == TlsMode::Tls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(o.host.clone())
        .port(o.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(user) = &o.username {
        let password = match &o.password_file {
            Some(p) => read_secret_file(p, "SMTP password", "password-file")?,
            None => crate::secret::Secret::new(String::new()),
        };
        b = b.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(b.build())
}

fn message(o: &Email, subject: &str, body: String) -> Result<Message, Error> {
    let from: Mailbox = o
        .from
        .parse()
        .map_err(|e| smtp_error(o, format!("`from` {:?}: {e}", o.from)))?;
    let mut m = Message::builder().from(from).subject(subject);
    for to in &o.to {
        let mb: Mailbox = to
            .parse()
            .map_err(|e| smtp_error(o, format!("`to` {to:?}: {e}")))?;
        m = m.to(mb);
    }
    m.header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| smtp_error(o, e))
}

async fn send(o: &Email, timeout: Duration, subject: &str, body: String) -> Result<(), Error> {
    let msg = message(o, subject, body)?;
    transport(o, timeout)?
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| smtp_error(o, e))
}

/// Connects and logs in without sending (for `validate --check-notifiers`).
async fn probe(o: &Email, timeout: Duration) -> Result<(), Error> {
    match transport(o, timeout)?.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(smtp_error(o, "the server did not answer NOOP")),
        Err(e) => Err(smtp_error(o, e)),
    }
}

/// Says that a job started.
async fn start(
    o: &Email,
    timeout: Duration,
    job: &str,
    repositories: &[String],
    drill: bool,
) -> Result<(), Error> {
    let subject = start_title(job, repositories, drill);
    let body = if drill {
        format!("{DRILL_NOTE}\n\n{subject}\n")
    } else {
        format!("{subject}\n")
    };
    send(o, timeout, &subject, body).await
}

/// Says how a job ended.
async fn finish(o: &Email, timeout: Duration, state: State, f: &Finish<'_>) -> Result<(), Error> {
    let subject = if state == State::Recovery {
        format!("{} (recovered)", f.title())
    } else {
        f.title()
    };
    let body = format!(
        "{subject}\n\nExit status {} after {:.0} s. Details (the summary of each repository comes last):\n\n{}\n-- \nrestic-verify {} on {}\n",
        f.exit_code,
        f.duration.as_secs_f64(),
        f.log(),
        env!("CARGO_PKG_VERSION"),
        f.host,
    );
    send(o, timeout, &subject, body).await
}
