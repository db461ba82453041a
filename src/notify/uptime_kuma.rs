//! Uptime Kuma push monitors: `GET <push-url>?status=up|down&msg=…&ping=<ms>`. The
//! push URL as Kuma shows it carries example parameters (`?status=up&msg=OK&ping=`);
//! they are replaced. Kuma answers `{"ok":true}`, or `{"ok":false,"msg":…}`.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::Error;
use super::event::{Context, Event, Notify};
use super::http::{connect, origin, send};
use super::message::{head, Finish};
use super::settings::{keys, secret_url, Check, Common, SecretUrl, State};

keys! {
    /// `[notify.NAME]` with `type = "uptime-kuma"`.
    UptimeKumaSettings {
        url: Option<Spanned<String>>,
        url_file: Option<Spanned<String>>,
    }
}

/// An Uptime Kuma push monitor.
#[derive(Debug, Clone)]
pub struct UptimeKuma {
    pub url: SecretUrl,
}

impl Notify for UptimeKuma {
    type Settings = UptimeKumaSettings;
    const DEFAULT_STATES: &'static [State] = &[State::Success, State::Failure];
    const SPEAKS_AT_START: bool = false;

    fn check(s: &UptimeKumaSettings, name: &str, v: &mut dyn Check) -> Option<Self> {
        let needed = "the push URL, e.g. url-file holding https://kuma.example/api/push/<token>";
        let url = secret_url(v, name, s.url.as_ref(), s.url_file.as_ref(), false, needed)?;
        Some(UptimeKuma { url })
    }

    fn describe(&self) -> String {
        self.url.describe()
    }

    fn files(&self) -> Vec<(&'static str, &Path)> {
        self.url
            .file()
            .map(|f| ("url-file", f))
            .into_iter()
            .collect()
    }

    async fn send(&self, ctx: &Context<'_>, event: &Event<'_>) -> Result<(), Error> {
        match event {
            Event::Start { .. } => Ok(()),
            Event::Finish { finish: f, .. } => finish(ctx.client, &self.url, f).await,
        }
    }

    async fn probe(&self, timeout: Duration) -> Result<(), String> {
        match self.url.resolve() {
            Ok(u) => connect(&u, timeout).await,
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Kuma shows `msg` in its UI; keep it short.
const MSG_LIMIT: usize = 250;

fn push_url(base: &reqwest::Url, f: &Finish<'_>) -> reqwest::Url {
    let mut u = base.clone();
    u.set_query(None);
    let msg = f
        .records
        .iter()
        .map(|r| r.summary())
        .collect::<Vec<_>>()
        .join("; ");
    u.query_pairs_mut()
        .append_pair("status", if f.passed() { "up" } else { "down" })
        .append_pair("msg", &head(&msg, MSG_LIMIT))
        .append_pair("ping", &f.duration.as_millis().to_string());
    u
}

/// Pushes the job's state.
async fn finish(client: &reqwest::Client, url: &SecretUrl, f: &Finish<'_>) -> Result<(), Error> {
    let base = url.resolve()?;
    let target = origin(base.as_str());
    let resp = send(&target, client.get(push_url(&base, f))).await?;
    let body = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) if v.get("ok") == Some(&serde_json::Value::Bool(false)) => Err(Error::Status {
            target,
            status: 200,
            body: head(
                v.get("msg").and_then(|m| m.as_str()).unwrap_or("ok: false"),
                200,
            ),
        }),
        _ => Ok(()),
    }
}
