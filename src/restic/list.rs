//! `restic list packs`: the pack files of the repository, for the coverage ledger.
//! On a local repository the sizes come from the pack files themselves, on an
//! `sftp:` one from a listing over SFTP (`backend::sftp`, with the same ssh
//! command, options and env file as restic); other backends give IDs only (sizes
//! unknown).

use std::collections::HashMap;

use std::ffi::OsString;
use std::path::Path;

use super::classify::ResticExit;
use super::session::Session;
use super::Error;
use crate::backend::sftp;

impl Session<'_> {
    /// Every pack ID, with its size where the repository is a local directory.
    ///
    /// # Errors
    /// restic could not list the packs.
    pub async fn list_packs(&self) -> Result<Vec<(String, Option<u64>)>, Error> {
        let args: Vec<OsString> = vec!["list".into(), "packs".into()];
        let mut ids: Vec<String> = Vec::new();
        let (_, fin) = self
            .call(&args, false, |l| {
                let id = String::from_utf8_lossy(l).trim().to_owned();
                if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    ids.push(id);
                }
            })
            .await?;
        if fin.exit != ResticExit::Success {
            return Err(self.failed(&args, &fin));
        }
        let local = self.local_path();
        let listed = self.sftp_pack_sizes().await;
        Ok(ids
            .into_iter()
            .map(|id| {
                let size = match local {
                    Some(root) => pack_size(root, &id),
                    None => listed.get(&id).copied(),
                };
                (id, size)
            })
            .collect())
    }

    /// The sizes of an `sftp:` repository's packs, listed in process; empty (sizes
    /// unknown, with a warning) for other backends or when the listing fails.
    async fn sftp_pack_sizes(&self) -> HashMap<String, u64> {
        let Some(url) = self
            .credentials
            .env
            .iter()
            .find(|(k, _)| k == "RESTIC_REPOSITORY")
            .map(|(_, v)| v.clone())
        else {
            return HashMap::new();
        };
        if !url.expose().starts_with("sftp:") {
            return HashMap::new();
        }
        let options = self.backend.options.clone();
        let env = self.credentials.env.clone();
        let redactor = self.credentials.redactor.clone();
        let shown = crate::secret::redact_url(url.expose());
        let listed = tokio::task::spawn_blocking(move || {
            let access = sftp::Access {
                options: &options,
                env: &env,
                shown: &shown,
            };
            sftp::pack_sizes(url.expose(), access, &redactor)
        })
        .await;
        match listed {
            Ok(Ok(sizes)) => sizes.into_iter().collect(),
            Ok(Err(e)) => {
                tracing::warn!("pack sizes unknown: {e}");
                HashMap::new()
            }
            Err(e) => {
                tracing::warn!("pack sizes unknown: the listing ended abnormally: {e}");
                HashMap::new()
            }
        }
    }
}

/// The size of a pack file in a local repository (`data/<2 hex>/<id>`).
fn pack_size(root: &Path, id: &str) -> Option<u64> {
    let file = root.join("data").join(id.get(..2)?).join(id);
    std::fs::metadata(file).ok().map(|m| m.len())
}
