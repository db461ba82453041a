//! Email through lettre: SMTP with STARTTLS (required, never downgraded), implicit
//! TLS, or plain for a local relay; the password from a file; a subject that says
//! outcome, job and repositories; a body with the summary and the failing files.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{read_secret_file, EmailOptions, Error, Finish, State, TlsMode};

fn target(o: &EmailOptions) -> String {
    format!("smtp://{}:{}", o.host, o.port)
}

fn smtp_error(o: &EmailOptions, e: impl std::fmt::Display) -> Error {
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
    o: &EmailOptions,
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

fn message(o: &EmailOptions, subject: &str, body: String) -> Result<Message, Error> {
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

async fn send(
    o: &EmailOptions,
    timeout: Duration,
    subject: &str,
    body: String,
) -> Result<(), Error> {
    let msg = message(o, subject, body)?;
    transport(o, timeout)?
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| smtp_error(o, e))
}

/// Connects and logs in without sending (for `validate --check-notifiers`).
///
/// # Errors
/// The server cannot be reached or refuses the login.
pub async fn probe(o: &EmailOptions, timeout: Duration) -> Result<(), Error> {
    match transport(o, timeout)?.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(smtp_error(o, "the server did not answer NOOP")),
        Err(e) => Err(smtp_error(o, e)),
    }
}

/// Says that a job started.
///
/// # Errors
/// Sending failed.
pub async fn start(
    o: &EmailOptions,
    timeout: Duration,
    job: &str,
    repositories: &[String],
    drill: bool,
) -> Result<(), Error> {
    let subject = format!(
        "restic-verify {}started: {job} on {}",
        if drill { "DRILL " } else { "" },
        repositories.join(", ")
    );
    let body = if drill {
        format!("{}\n\n{subject}\n", super::DRILL_NOTE)
    } else {
        format!("{subject}\n")
    };
    send(o, timeout, &subject, body).await
}

/// Says how a job ended.
///
/// # Errors
/// Sending failed.
pub async fn finish(
    o: &EmailOptions,
    timeout: Duration,
    state: State,
    f: &Finish<'_>,
) -> Result<(), Error> {
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
