//! ntfy: `POST <server>/<topic>` with the message as the body and `X-Title`,
//! `X-Priority` (3 for good news, 4 when a run could not verify, 5 when it found
//! damage) and `X-Tags`; an access token from a file goes in `Authorization`.
//! Messages are cut to ntfy's 4,096 bytes (longer ones would become attachments).

use std::path::Path;

use super::{head, origin, read_secret_file, send, Error, Finish, SecretUrl, State};

/// ntfy turns longer messages into attachments.
pub const MESSAGE_LIMIT: usize = 4096;

async fn post(
    client: &reqwest::Client,
    url: &SecretUrl,
    token_file: Option<&Path>,
    title: &str,
    priority: u8,
    tags: &str,
    message: &str,
) -> Result<(), Error> {
    let base = url.resolve()?;
    let target = origin(base.as_str());
    let mut req = client
        .post(base)
        .header("X-Title", title)
        .header("X-Priority", priority.to_string())
        .header("X-Tags", tags)
        .body(head(message, MESSAGE_LIMIT));
    if let Some(path) = token_file {
        let token = read_secret_file(path, "ntfy token", "token-file")?;
        req = req.bearer_auth(token.expose());
    }
    send(&target, req).await.map(|_| ())
}

/// Says that a job started.
///
/// # Errors
/// Token or URL file unreadable, request failed, error status.
pub async fn start(
    client: &reqwest::Client,
    url: &SecretUrl,
    token_file: Option<&Path>,
    job: &str,
    repositories: &[String],
    drill: bool,
) -> Result<(), Error> {
    let title = format!(
        "restic-verify {}started: {job} on {}",
        if drill { "DRILL " } else { "" },
        repositories.join(", ")
    );
    post(
        client,
        url,
        token_file,
        &title,
        2,
        "restic-verify,arrow_forward",
        &title,
    )
    .await
}

/// Says how a job ended.
///
/// # Errors
/// Token or URL file unreadable, request failed, error status.
pub async fn finish(
    client: &reqwest::Client,
    url: &SecretUrl,
    token_file: Option<&Path>,
    state: State,
    f: &Finish<'_>,
) -> Result<(), Error> {
    let (priority, tag) = match (state, f.verdict()) {
        (State::Recovery, _) => (3, "white_check_mark"),
        (_, "PASS") => (3, "white_check_mark"),
        (_, "FAIL") => (5, "rotating_light"),
        _ => (4, "warning"),
    };
    let title = if state == State::Recovery {
        format!("{} (recovered)", f.title())
    } else {
        f.title()
    };
    let mut tags = format!("restic-verify,{tag},{}", state.as_str());
    if f.drill {
        tags.push_str(",drill");
    }
    post(client, url, token_file, &title, priority, &tags, &f.log()).await
}
