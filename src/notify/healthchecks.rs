//! Healthchecks (healthchecks.io or self-hosted): `POST <ping-url>/start?rid=<uuid>`
//! before the job and `POST <ping-url>/<exit status>?rid=<uuid>` after, the run's log
//! as the body, cut to the server's `Ping-Body-Limit` (learnt from the start ping;
//! 10,000 bytes, the self-hosted default, when unknown). The URL (or a file holding
//! it) may also be just the check's UUID, which means healthchecks.io.

use super::{origin, send, tail, Error, Finish, SecretUrl};

/// Where a bare check UUID pings.
pub const HOSTED: &str = "https://hc-ping.com";

/// Body limit assumed until the server states its own.
pub const DEFAULT_BODY_LIMIT: usize = 10_000;

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
///
/// # Errors
/// URL file unreadable, request failed or answered with an error status.
pub async fn start(
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
            .body(format!("{}\n", super::DRILL_NOTE));
    }
    let resp = send(&target, req).await?;
    Ok(resp
        .headers()
        .get("ping-body-limit")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok()))
}

/// Sends `/<exit status>` with the run's log.
///
/// # Errors
/// URL file unreadable, request failed or answered with an error status.
pub async fn finish(
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
