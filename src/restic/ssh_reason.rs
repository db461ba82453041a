//! Why restic could not start an SFTP session, when restic exited before printing
//! it: ssh is started again, the way restic starts it, through `backend::sftp`
//! (and so through the process door); the category `backend::sftp` gives ssh's
//! answer, with ssh's words, becomes one more stderr line for the classifier
//! (`classify::SSH_ASKED`). restic copies ssh's stderr from a goroutine its exit
//! does not wait for, so a refused key otherwise reads as a network failure and is
//! retried for nothing.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::classify::SSH_ASKED;
use crate::backend::sftp;
use crate::secret::{self, Redactor, Secret};

/// What asking ssh again needs: the repository and what restic was given.
pub(super) struct Ask {
    pub url: Secret,
    pub options: Vec<(String, String)>,
    pub env: Vec<(String, Secret)>,
    pub redactor: Redactor,
}

/// The line to add to restic's stderr (secrets removed), or `None` when the SFTP
/// session starts now, or the run is cancelled or out of time first.
pub(super) async fn ask(ask: Ask, cancel: &CancellationToken, deadline: Instant) -> Option<String> {
    let task = tokio::task::spawn_blocking(move || {
        let shown = secret::redact_url(ask.url.expose());
        let access = sftp::Access {
            options: &ask.options,
            env: &ask.env,
            shown: &shown,
        };
        // Opened and dropped at once: the drop ends the session and kills ssh.
        let e = sftp::open(ask.url.expose(), access, &ask.redactor).err()?;
        let category = match e.kind() {
            sftp::Kind::Auth => "auth",
            sftp::Kind::Config => "config",
            sftp::Kind::Network => "network",
            sftp::Kind::File => "file",
        };
        let said = ask.redactor.redact(e.message()).replace('\n', " ");
        Some(format!("{SSH_ASKED} {category}: {said}"))
    });
    tokio::select! {
        said = task => said.ok().flatten(),
        () = cancel.cancelled() => None,
        () = tokio::time::sleep_until(deadline) => None,
    }
}
