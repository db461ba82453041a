//! ntfy: `POST <server>/<topic>` with the message as the body and `X-Title`,
//! `X-Priority` (3 for good news, 4 when a run could not verify, 5 when it found
//! damage) and `X-Tags`; an access token from a file goes in `Authorization`.
//! Messages are cut to ntfy's 4,096 bytes (longer ones would become attachments).

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::Error;
use super::event::{Context, Event, Notify};
use super::http::{connect, origin, send};
use super::message::{head, start_title, Finish};
use super::settings::{keys, read_secret_file, secret_url, Check, Common, SecretUrl, State};

/// ntfy turns longer messages into attachments.
pub const MESSAGE_LIMIT: usize = 4096;

keys! {
    /// `[notify.NAME]` with `type = "ntfy"`.
    NtfySettings {
        url: Option<Spanned<String>>,
        url_file: Option<Spanned<String>>,
        token_file: Option<Spanned<String>>,
    }
}

/// An ntfy topic.
#[derive(Debug, Clone)]
pub struct Ntfy {
    pub url: SecretUrl,
    pub token_file: Option<PathBuf>,
}

impl Notify for Ntfy {
    type Settings = NtfySettings;
    const DEFAULT_STATES: &'static [State] = &[State::Failure, State::Recovery];

    fn check(s: &NtfySettings, name: &str, v: &mut dyn Check) -> Option<Self> {
        let needed = "server and topic, e.g. url = \"https://ntfy.sh/my-backups\"";
        let url = secret_url(v, name, s.url.as_ref(), s.url_file.as_ref(), false, needed)?;
        Some(Ntfy {
            url,
            token_file: s.token_file.as_ref().map(|p| v.file_path(p)),
        })
    }

    fn describe(&self) -> String {
        self.url.describe()
    }

    fn files(&self) -> Vec<(&'static str, &Path)> {
        self.url
            .file()
            .map(|f| ("url-file", f))
            .into_iter()
            .chain(self.token_file.as_deref().map(|f| ("token-file", f)))
            .collect()
    }

    async fn send(&self, ctx: &Context<'_>, event: &Event<'_>) -> Result<(), Error> {
        match event {
            Event::Start { job, repositories } => {
                let title = start_title(job, repositories, ctx.drill);
                let tags = "restic-verify,arrow_forward";
                self.post(ctx.client, &title, 2, tags, &title).await
            }
            Event::Finish { state, finish } => self.finish(ctx.client, *state, finish).await,
        }
    }

    async fn probe(&self, timeout: Duration) -> Result<(), String> {
        match self.url.resolve() {
            Ok(u) => connect(&u, timeout).await,
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Ntfy {
    async fn post(
        &self,
        client: &reqwest::Client,
        title: &str,
        priority: u8,
        tags: &str,
        message: &str,
    ) -> Result<(), Error> {
        let base = self.url.resolve()?;
        let target = origin(base.as_str());
        let mut req = client
            .post(base)
            .header("X-Title", title)
            .header("X-Priority", priority.to_string())
            .header("X-Tags", tags)
            .body(head(message, MESSAGE_LIMIT));
        if let Some(path) = &self.token_file {
            let token = read_secret_file(path, "ntfy token", "token-file")?;
            req = req.bearer_auth(token.expose());
        }
        send(&target, req).await.map(|_| ())
    }

    /// Says how a job ended.
    async fn finish(
        &self,
        client: &reqwest::Client,
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
        self.post(client, &title, priority, &tags, &f.log()).await
    }
}
