//! Prometheus Pushgateway, for hosts without node_exporter's textfile collector:
//! `PUT <base>/metrics/job/restic_verify/instance/<instance>/restic_verify_job/<job>`
//! with the run's metrics in the text format. PUT replaces the group, so each job
//! has its own group. Pushed metrics must not carry the grouping labels, so the
//! textfile's `job` label (the restic-verify job) travels as `restic_verify_job`.
//! A fire drill pushes only its drill families to its own group (`.../drill/true`),
//! so it never replaces the job's real metrics.

use std::time::Duration;

use toml::Spanned;

use super::error::Error;
use super::event::{Context, Event, Notify};
use super::http::{connect, origin, send};
use super::message::Finish;
use super::settings::{keys, Check, Common, State};
use crate::record::prometheus;

keys! {
    /// `[notify.NAME]` with `type = "pushgateway"`.
    PushgatewaySettings {
        url: Option<Spanned<String>>,
        instance: Option<Spanned<String>>,
    }
}

/// A Pushgateway. `Debug` redacts a password in its URL.
#[derive(Clone)]
pub struct Pushgateway {
    pub url: reqwest::Url,
    pub instance: String,
}

impl std::fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushgateway")
            .field("url", &crate::secret::redact_url(self.url.as_str()))
            .field("instance", &self.instance)
            .finish()
    }
}

impl Notify for Pushgateway {
    type Settings = PushgatewaySettings;
    const DEFAULT_STATES: &'static [State] = &[State::Success, State::Failure];
    const SPEAKS_AT_START: bool = false;

    fn check(s: &PushgatewaySettings, name: &str, v: &mut dyn Check) -> Option<Self> {
        let Some(u) = &s.url else {
            v.problem(None, format!("[notify.{name}] needs `url` or `url-file`: the base URL, e.g. url = \"http://pushgateway:9091\""));
            return None;
        };
        let url = match reqwest::Url::parse(u.get_ref()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            _ => {
                v.problem(Some(u.span()), format!("[notify.{name}] `url` is not an http(s) URL, e.g. url = \"http://pushgateway:9091\""));
                return None;
            }
        };
        let instance = s
            .instance
            .as_ref()
            .map_or_else(|| v.host().to_owned(), |i| i.get_ref().clone());
        if instance.is_empty() || instance.contains('/') {
            v.problem(
                s.instance.as_ref().map(Spanned::span),
                format!("[notify.{name}] `instance` must be non-empty and without `/`"),
            );
        }
        Some(Pushgateway { url, instance })
    }

    fn describe(&self) -> String {
        format!("{} (instance {})", origin(self.url.as_str()), self.instance)
    }

    async fn send(&self, ctx: &Context<'_>, event: &Event<'_>) -> Result<(), Error> {
        match event {
            Event::Start { .. } => Ok(()),
            Event::Finish { finish, .. } => {
                push(ctx.client, &self.url, &self.instance, finish).await
            }
        }
    }

    async fn probe(&self, timeout: Duration) -> Result<(), String> {
        connect(&self.url, timeout).await
    }
}

/// The grouping key's `job` value.
pub const JOB: &str = "restic_verify";

/// The group URL for `job` on `instance`.
pub fn group_url(base: &reqwest::Url, instance: &str, job: &str) -> reqwest::Url {
    let mut u = base.clone();
    let path = format!(
        "{}/metrics/job/{JOB}/instance/{}/restic_verify_job/{}",
        u.path().trim_end_matches('/'),
        segment(instance),
        segment(job)
    );
    u.set_path(&path);
    u.set_query(None);
    u
}

/// A label value as a path segment (Pushgateway URL-decodes them).
fn segment(v: &str) -> String {
    url_escape(v)
}

fn url_escape(v: &str) -> String {
    let mut s = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The textfile of the run (of a drill: its drill families), with `job` renamed
/// for the Pushgateway.
pub fn body(f: &Finish<'_>) -> String {
    let text = if f.drill {
        prometheus::render_drill(f.records, f.job, &std::collections::BTreeMap::new())
    } else {
        prometheus::render(f.records)
    };
    text.replace("{job=\"", "{restic_verify_job=\"")
}

/// Where the run's metrics go: the job's group, or a drill's own group.
fn url(base: &reqwest::Url, instance: &str, f: &Finish<'_>) -> reqwest::Url {
    let mut u = group_url(base, instance, f.job);
    if f.drill {
        let path = format!("{}/drill/true", u.path());
        u.set_path(&path);
    }
    u
}

/// Pushes the run's metrics.
async fn push(
    client: &reqwest::Client,
    base: &reqwest::Url,
    instance: &str,
    f: &Finish<'_>,
) -> Result<(), Error> {
    let target = origin(base.as_str());
    let req = client
        .put(url(base, instance, f))
        .header("content-type", "text/plain; version=0.0.4")
        .body(body(f));
    send(&target, req).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_url_has_job_instance_and_escaped_values() {
        let base = reqwest::Url::parse("http://127.0.0.1:9091/").unwrap();
        assert_eq!(
            group_url(&base, "nas 1", "weekly-check").as_str(),
            "http://127.0.0.1:9091/metrics/job/restic_verify/instance/nas%201/restic_verify_job/weekly-check"
        );
    }

    #[test]
    fn a_drill_pushes_only_drill_families_to_its_own_group() {
        let base = reqwest::Url::parse("http://127.0.0.1:9091/").unwrap();
        let mut f = Finish {
            job: "weekly-check",
            kind: "check",
            records: &[],
            exit_code: 1,
            recovery: false,
            duration: std::time::Duration::ZERO,
            host: "h",
            drill: true,
        };
        assert_eq!(
            url(&base, "nas", &f).as_str(),
            "http://127.0.0.1:9091/metrics/job/restic_verify/instance/nas/restic_verify_job/weekly-check/drill/true"
        );
        assert!(!body(&f).contains("restic_verify_success"));
        f.drill = false;
        assert!(!url(&base, "nas", &f).as_str().contains("drill"));
    }
}
