//! Uptime Kuma push monitors: `GET <push-url>?status=up|down&msg=…&ping=<ms>`. The
//! push URL as Kuma shows it carries example parameters (`?status=up&msg=OK&ping=`);
//! they are replaced. Kuma answers `{"ok":true}`, or `{"ok":false,"msg":…}`.

use super::{head, origin, send, Error, Finish, SecretUrl};

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
///
/// # Errors
/// URL file unreadable, request failed, error status or `"ok": false`.
pub async fn finish(
    client: &reqwest::Client,
    url: &SecretUrl,
    f: &Finish<'_>,
) -> Result<(), Error> {
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
