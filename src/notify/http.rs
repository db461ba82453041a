//! HTTP for the notifiers: the client (user agent), sending a request with errors
//! that name only scheme and host, the TCP probe, and `origin`, what of a
//! secret-bearing URL may be shown. The timeout and the one retry are the
//! dispatcher's (`notify::Run`), around each whole delivery.

use std::fmt::Write as _;
use std::time::Duration;

use super::error::Error;
use super::message::head;

/// The client every delivery of a run shares.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("restic-verify/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// `scheme://host[:port]/...`: what of a secret-bearing URL may be logged.
pub fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/...", u.scheme(), u.host_str().unwrap_or(""))
        }
        Err(_) => "an invalid URL".to_owned(),
    }
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

/// Opens (and closes) a TCP connection to the URL's host and port: a probe that
/// sends nothing (any request would count as a ping).
///
/// # Errors
/// What stopped it, the URL shown only as scheme and host.
pub async fn connect(url: &reqwest::Url, timeout: Duration) -> Result<(), String> {
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
}
