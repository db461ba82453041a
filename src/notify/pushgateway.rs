//! Prometheus Pushgateway, for hosts without node_exporter's textfile collector:
//! `PUT <base>/metrics/job/restic_verify/instance/<instance>/restic_verify_job/<job>`
//! with the run's metrics in the text format. PUT replaces the group, so each job
//! has its own group. Pushed metrics must not carry the grouping labels, so the
//! textfile's `job` label (the restic-verify job) travels as `restic_verify_job`.
//! A fire drill pushes only its drill families to its own group (`.../drill/true`),
//! so it never replaces the job's real metrics.

use super::{origin, send, Error, Finish};
use crate::record::prometheus;

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
