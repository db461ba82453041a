//! Healthchecks (healthchecks.io or self-hosted): `POST <ping-url>/start?rid=<uuid>`
//! before the job and `POST <ping-url>/<exit status>?rid=<uuid>` after, the run's log
//! as the body, cut to the server's `Ping-Body-Limit` (learnt from the start ping;
//! 10,000 bytes, the self-hosted default, when unknown). The URL (or a file holding
//! it) may also be just the check's UUID, which means healthchecks.io.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::Error;
use super::event::{Context, Event, Notify};
use super::http::{connect, origin, send};
use super::message::{tail, Finish, DRILL_NOTE};
use super::settings::{keys, secret_url, Check, Common, SecretUrl, State};

/// Where a bare check UUID pings.
pub const HOSTED: &str = "https://hc-ping.com";

/// Body limit assumed until the server states its own.
pub const DEFAULT_BODY_LIMIT: usize = 10_000;

keys! {
    /// `[notify.NAME]` with `type = "healthchecks"`.
    HealthchecksSettings {
        url: Option<Spanned<String>>,
        url_file: Option<Spanned<String>>,
    }
}

/// A Healthchecks check.
#[derive(Debug, Clone)]
pub struct Healthchecks {
    pub url: SecretUrl,
}

impl Notify for Healthchecks {
    type Settings = HealthchecksSettings;
    const DEFAULT_STATES: &'static [State] = &[State::Start, State::Success, State::Failure];
    const UUID_BASE: Option<&'static str> = Some(HOSTED);

    fn check(s: &HealthchecksSettings, name: &str, v: &mut dyn Check) -> Option<Self> {
        let needed = "the check's ping URL, e.g. url-file = \"/etc/restic-verify/hc-url\" holding https://hc-ping.com/<uuid>";
        let url = secret_url(v, name, s.url.as_ref(), s.url_file.as_ref(), true, needed)?;
        Some(Healthchecks { url })
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
            Event::Start { .. } => {
                let limit = start(ctx.client, &self.url, ctx.rid, ctx.drill).await?;
                if let Ok(mut l) = ctx.learnt.lock() {
                    *l = limit;
                }
                Ok(())
            }
            Event::Finish { finish, .. } => {
                let limit = ctx.learnt.lock().ok().and_then(|l| *l);
                self::finish(ctx.client, &self.url, ctx.rid, finish, limit).await
            }
        }
    }

    async fn probe(&self, timeout: Duration) -> Result<(), String> {
        match self.url.resolve_with(Some(HOSTED)) {
            Ok(u) => connect(&u, timeout).await,
            Err(e) => Err(e.to_string()),
        }
    }
}

/// `<ping-url>/<suffix>?rid=<rid>`.
fn ping_url(base: &reqwest::Url, suffix: &str, rid: uuid::Uuid) -> reqwest::Url {
    let mut u = base.clone();
    let path = format!("{}/{suffix}", u.path().trim_end_matches('/'));
    u.set_path(&path);
    u.query_pairs_mut().append_pair("rid", &rid.to_string());
    u
}

/// Sends the start ping (a drill's says so in its body); returns the server's
/// `Ping-Body-Limit`, if it sent one.
async fn start(
    client: &reqwest::Client,
    url: &SecretUrl,
    rid: uuid::Uuid,
    drill: bool,
) -> Result<Option<usize>, Error> {
    let base = url.resolve_with(Some(HOSTED))?;
    let target = origin(base.as_str());
    let mut req = client.post(ping_url(&base, "start", rid));
    if drill {
        req = req
            .header("content-type", "text/plain; charset=utf-8")
            .body(format!("{DRILL_NOTE}\n"));
    }
    let resp = send(&target, req).await?;
    Ok(resp
        .headers()
        .get("ping-body-limit")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok()))
}

/// Sends `/<exit status>` with the run's log.
async fn finish(
    client: &reqwest::Client,
    url: &SecretUrl,
    rid: uuid::Uuid,
    f: &Finish<'_>,
    body_limit: Option<usize>,
) -> Result<(), Error> {
    let base = url.resolve_with(Some(HOSTED))?;
    let target = origin(base.as_str());
    let body = tail(&f.log(), body_limit.unwrap_or(DEFAULT_BODY_LIMIT));
    let req = client
        .post(ping_url(&base, &f.exit_code.to_string(), rid))
        .header("content-type", "text/plain; charset=utf-8")
        .body(body);
    send(&target, req).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_uuid_means_hosted_healthchecks() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hc");
        std::fs::write(&f, "5f0b8a55-2c1e-4e7b-9d3f-0a1b2c3d4e5f\n").unwrap();
        let u = SecretUrl::File(f.clone())
            .resolve_with(Some(HOSTED))
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://hc-ping.com/5f0b8a55-2c1e-4e7b-9d3f-0a1b2c3d4e5f"
        );
        std::fs::write(&f, "not a url\n").unwrap();
        let e = SecretUrl::File(f).resolve_with(Some(HOSTED)).unwrap_err();
        assert!(e.to_string().contains("holds no http(s) URL"), "{e}");
    }

    #[test]
    fn ping_url_appends_suffix_and_rid() {
        let rid = uuid::Uuid::nil();
        let base = reqwest::Url::parse("https://hc-ping.com/abc-uuid/").unwrap();
        assert_eq!(
            ping_url(&base, "start", rid).as_str(),
            "https://hc-ping.com/abc-uuid/start?rid=00000000-0000-0000-0000-000000000000"
        );
        let slug = reqwest::Url::parse("http://127.0.0.1:8000/ping/key/backup-check").unwrap();
        assert_eq!(
            ping_url(&slug, "1", rid).as_str(),
            "http://127.0.0.1:8000/ping/key/backup-check/1?rid=00000000-0000-0000-0000-000000000000"
        );
    }
}
