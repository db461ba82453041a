//! Notifications: the events of a job run and the dispatcher (the settings that
//! `config` builds are in `settings`). This module and its children are the only code that sends anything.
//!
//! Rules: every delivery runs under the notifier's timeout (10 s by default) and is
//! retried once; a delivery that still fails is logged at `warn` and counted (the
//! count goes into `restic_verify_notification_failures{notifier}`), and it never
//! changes the run's outcome or exit code. Notifier URLs hold secrets (a
//! Healthchecks UUID, an ntfy topic, an Uptime Kuma token): they are logged only as
//! scheme and host, and request errors are stripped of their URL.
//!
//! A fire drill (`restic-verify drill`) says so in every message: `DRILL` in each
//! title and subject, a first line explaining it in each body, and every
//! repository's summary line starts with `DRILL`. A drill is never a recovery, and
//! the Pushgateway gets the drill's own group, never the job's.

pub mod email;
pub mod healthchecks;
pub mod ntfy;
pub mod pushgateway;
pub mod settings;
pub mod uptime_kuma;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::escape;
use crate::finding::Outcome;
use crate::record::RunRecord;

pub use settings::{
    origin, read_secret_file, EmailOptions, Kind, Notifier, SecretUrl, State, TlsMode,
    DEFAULT_TIMEOUT,
};

/// Pause before the one retry.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

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

/// The finished job, as notifiers see it.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    pub job: &'a str,
    pub kind: &'a str,
    pub records: &'a [RunRecord],
    /// The job's combined exit code (0, 1, 3, ...).
    pub exit_code: u8,
    /// The previous run failed or could not verify, and this one passed.
    pub recovery: bool,
    pub duration: Duration,
    /// This machine's host name.
    pub host: &'a str,
    /// A fire drill: one comparison was falsified on purpose.
    pub drill: bool,
}

/// The first line of a fire drill's message body.
pub const DRILL_NOTE: &str = "DRILL: a fire drill (`restic-verify drill`): one comparison was falsified on purpose to test that alerts arrive; nothing is damaged.";

impl Finish<'_> {
    pub fn passed(&self) -> bool {
        !self.records.is_empty() && self.records.iter().all(|r| r.outcome == Outcome::Pass)
    }

    /// `PASS`, `FAIL` or `ERROR`: the most serious outcome of the job's runs.
    pub fn verdict(&self) -> &'static str {
        if self.records.iter().any(|r| r.outcome == Outcome::Fail) {
            "FAIL"
        } else if self.passed() {
            "PASS"
        } else {
            "ERROR"
        }
    }

    pub fn repositories(&self) -> String {
        self.records
            .iter()
            .map(|r| escape::text(&r.repository))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One line: verdict, job, repositories.
    pub fn title(&self) -> String {
        format!(
            "restic-verify {}{}: {} on {}",
            if self.drill { "DRILL " } else { "" },
            self.verdict(),
            escape::text(self.job),
            self.repositories()
        )
    }

    /// The run's log: the files that did not match, then each repository's summary
    /// with its findings and error, and last the verdict line of each repository, so
    /// that a tail cut to a server's limit keeps the verdicts.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if self.drill {
            let _ = writeln!(s, "{DRILL_NOTE}");
        }
        for r in self.records {
            if let Some(t) = &r.restore_test {
                for f in t
                    .files
                    .iter()
                    .filter(|f| f.class != crate::compare::Class::Match)
                {
                    let _ = writeln!(
                        s,
                        "{} on {}: {} {} ({} bytes)",
                        escape::text(&r.job),
                        escape::text(&r.repository),
                        f.class.as_str(),
                        escape::text(&f.path),
                        f.size
                    );
                }
            }
        }
        for r in self.records {
            let _ = writeln!(s, "{}", r.summary());
        }
        for r in self.records {
            let summary = r.summary();
            let _ = writeln!(s, "{}", summary.lines().next().unwrap_or_default());
        }
        s
    }
}

/// Keeps the last `limit` bytes of `text` (on a character boundary), marking the cut.
pub fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    const MARK: &str = "[... truncated]\n";
    let keep = limit.saturating_sub(MARK.len());
    let mut start = text.len() - keep;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("{MARK}{}", &text[start..])
}

/// Keeps the first `limit` bytes of `text` (on a character boundary).
pub fn head(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// One job run's notifications: the shared run id and what servers told us.
pub struct Run<'a> {
    notifiers: Vec<&'a Notifier>,
    /// A fire drill: the start notifications say so too.
    pub drill: bool,
    /// Pairs Healthchecks' start and finish pings.
    pub rid: uuid::Uuid,
    /// Healthchecks' `Ping-Body-Limit`, learnt from the start ping.
    body_limit: Mutex<Option<usize>>,
    client: reqwest::Client,
}

impl<'a> Run<'a> {
    pub fn new(notifiers: Vec<&'a Notifier>) -> Run<'a> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("restic-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Run {
            notifiers,
            drill: false,
            rid: uuid::Uuid::new_v4(),
            body_limit: Mutex::new(None),
            client,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.notifiers.is_empty()
    }

    /// Sends `start` to the notifiers that want it; failures per notifier.
    pub async fn start(&self, job: &str, repositories: &[String]) -> BTreeMap<String, u64> {
        let wanted: Vec<&Notifier> = self
            .notifiers
            .iter()
            .copied()
            .filter(|n| n.states.contains(&State::Start))
            .collect();
        let sends = wanted.iter().map(|n| async move {
            let ok = self
                .deliver(n, State::Start, || self.send_start(n, job, repositories))
                .await;
            (n.name.clone(), u64::from(!ok))
        });
        futures_collect(sends).await
    }

    /// Sends the finish (success, failure or recovery) to the notifiers that want
    /// it; returns the failed deliveries per notifier (every notifier of the job
    /// listed, 0 where all went well).
    pub async fn finish(&self, f: &Finish<'_>) -> BTreeMap<String, u64> {
        let sends = self.notifiers.iter().map(|n| async move {
            let state = if f.passed() {
                if f.recovery && n.states.contains(&State::Recovery) {
                    Some(State::Recovery)
                } else if n.states.contains(&State::Success) {
                    Some(State::Success)
                } else {
                    None
                }
            } else if n.states.contains(&State::Failure) {
                Some(State::Failure)
            } else {
                None
            };
            let ok = match state {
                Some(state) => {
                    self.deliver(n, state, || self.send_finish(n, state, f))
                        .await
                }
                None => true,
            };
            (n.name.clone(), u64::from(!ok))
        });
        futures_collect(sends).await
    }

    /// Runs one delivery with the timeout and one retry; logs the outcome.
    async fn deliver<F, Fut>(&self, n: &Notifier, state: State, send: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), Error>>,
    {
        for attempt in 1..=2 {
            let result = match tokio::time::timeout(n.timeout, send()).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout {
                    target: n.kind.describe(),
                    timeout: n.timeout,
                }),
            };
            match result {
                Ok(()) => {
                    tracing::info!(
                        notifier = n.name,
                        "notified {} ({})",
                        state.as_str(),
                        n.kind.type_name()
                    );
                    return true;
                }
                Err(e) if attempt == 1 => {
                    tracing::warn!(
                        notifier = n.name,
                        "notification `{}` ({}) failed, retrying once: {e}",
                        n.name,
                        state.as_str()
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::warn!(
                        notifier = n.name,
                        "notification `{}` ({}) failed; the run's outcome is unchanged: {e}",
                        n.name,
                        state.as_str()
                    );
                }
            }
        }
        false
    }

    async fn send_start(
        &self,
        n: &Notifier,
        job: &str,
        repositories: &[String],
    ) -> Result<(), Error> {
        match &n.kind {
            Kind::Healthchecks { url } => {
                let limit = healthchecks::start(&self.client, url, self.rid, self.drill).await?;
                if let Ok(mut l) = self.body_limit.lock() {
                    *l = limit;
                }
                Ok(())
            }
            Kind::Ntfy { url, token_file } => {
                ntfy::start(
                    &self.client,
                    url,
                    token_file.as_deref(),
                    job,
                    repositories,
                    self.drill,
                )
                .await
            }
            Kind::Email(o) => email::start(o, n.timeout, job, repositories, self.drill).await,
            Kind::UptimeKuma { .. } | Kind::Pushgateway { .. } => Ok(()),
        }
    }

    async fn send_finish(&self, n: &Notifier, state: State, f: &Finish<'_>) -> Result<(), Error> {
        match &n.kind {
            Kind::Healthchecks { url } => {
                let limit = self.body_limit.lock().ok().and_then(|l| *l);
                healthchecks::finish(&self.client, url, self.rid, f, limit).await
            }
            Kind::Ntfy { url, token_file } => {
                ntfy::finish(&self.client, url, token_file.as_deref(), state, f).await
            }
            Kind::UptimeKuma { url } => uptime_kuma::finish(&self.client, url, f).await,
            Kind::Pushgateway { url, instance } => {
                pushgateway::push(&self.client, url, instance, f).await
            }
            Kind::Email(o) => email::finish(o, n.timeout, state, f).await,
        }
    }
}

/// Awaits the deliveries concurrently and sums `(name, failures)` pairs.
async fn futures_collect<F>(futures: impl Iterator<Item = F>) -> BTreeMap<String, u64>
where
    F: std::future::Future<Output = (String, u64)>,
{
    let mut out = BTreeMap::new();
    for (name, failed) in futures_util::future::join_all(futures).await {
        *out.entry(name).or_insert(0) += failed;
    }
    out
}

/// Maps a request error to ours, without the URL (which may hold a secret).
pub(crate) fn http_error(target: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let _ = write!(message, ": {s}");
        src = s.source();
    }
    Error::Http {
        target: target.to_owned(),
        message,
    }
}

/// Sends a request; a transport error or a non-2xx answer becomes our error,
/// naming only `target` (scheme and host).
pub(crate) async fn send(
    target: &str,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, Error> {
    let resp = req.send().await.map_err(|e| http_error(target, e))?;
    check_status(target, resp).await
}

/// Turns a non-2xx answer into an error with the start of its body.
pub(crate) async fn check_status(
    target: &str,
    resp: reqwest::Response,
) -> Result<reqwest::Response, Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(Error::Status {
        target: target.to_owned(),
        status: status.as_u16(),
        body: head(body.trim(), 200),
    })
}

/// Reaches a notifier without sending anything (any request would count as a
/// ping): logs in to an SMTP server, opens (and closes) a TCP connection to an HTTP
/// one, after reading its URL file.
///
/// # Errors
/// What stopped it, URL shown only as scheme and host.
pub async fn probe(n: &Notifier) -> Result<(), String> {
    match &n.kind {
        Kind::Email(o) => email::probe(o, n.timeout).await.map_err(|e| e.to_string()),
        Kind::Healthchecks { url } => match url.resolve_with(Some(healthchecks::HOSTED)) {
            Ok(u) => connect(&u, n.timeout).await,
            Err(e) => Err(e.to_string()),
        },
        Kind::UptimeKuma { url } | Kind::Ntfy { url, .. } => match url.resolve() {
            Ok(u) => connect(&u, n.timeout).await,
            Err(e) => Err(e.to_string()),
        },
        Kind::Pushgateway { url, .. } => connect(url, n.timeout).await,
    }
}

/// Opens (and closes) a TCP connection to the URL's host and port.
async fn connect(url: &reqwest::Url, timeout: Duration) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let shown = origin(url.as_str());
    match tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{shown}: {e}")),
        Err(_) => Err(format!(
            "{shown}: no answer within {}",
            humantime::format_duration(timeout)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_end_within_limit_on_char_boundary() {
        let text = "ä".repeat(100) + "summary line\n";
        let t = tail(&text, 50);
        assert!(t.len() <= 50, "{}", t.len());
        assert!(t.ends_with("summary line\n"));
        assert!(t.starts_with("[... truncated]"));
        assert_eq!(tail("short", 50), "short");
    }

    #[test]
    fn head_keeps_start_within_limit() {
        let h = head(&"é".repeat(3000), 4096);
        assert!(h.len() <= 4096);
        assert!(h.ends_with("..."));
    }

    #[test]
    fn origin_hides_path_query_and_userinfo() {
        assert_eq!(
            origin("https://user:pw@hc-ping.com/0f3c2d1e-uuid?x=1"),
            "https://hc-ping.com/..."
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/topic"),
            "http://127.0.0.1:8080/..."
        );
        assert_eq!(origin("not a url"), "an invalid URL");
    }

    #[test]
    fn default_states_per_type() {
        assert_eq!(
            Kind::default_states("healthchecks"),
            &[State::Start, State::Success, State::Failure]
        );
        assert_eq!(
            Kind::default_states("email"),
            &[State::Failure, State::Recovery]
        );
        assert_eq!(
            Kind::default_states("ntfy"),
            &[State::Failure, State::Recovery]
        );
        assert_eq!(
            Kind::default_states("uptime-kuma"),
            &[State::Success, State::Failure]
        );
    }
}
