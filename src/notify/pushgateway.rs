//! Prometheus Pushgateway, for hosts without node_exporter's textfile collector:
//! `PUT <base>/metrics/job/restic_verify/instance/<instance>/restic_verify_job/<job>`
//! with the run's metrics in the text format. PUT replaces the group, so each job
//! has its own group. Pushed metrics must not carry the grouping labels, so the
//! textfile's `job` label (the restic-verify job) travels as `restic_verify_job`.

use super::{origin, send, Error, Finish};
use crate::report::prometheus;

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

/// The textfile of the run, with `job` renamed for the Pushgateway.
pub fn body(f: &Finish<'_>) -> String {
    prometheus::render(f.records).replace("{job=\"", "{restic_verify_job=\"")
}

/// Pushes the run's metrics.
///
/// # Errors
/// Request failed or answered with an error status.
pub async fn push(
    client: &reqwest::Client,
    base: &reqwest::Url,
    instance: &str,
    f: &Finish<'_>,
) -> Result<(), Error> {
    let target = origin(base.as_str());
    let req = client
        .put(group_url(base, instance, f.job))
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
}
