//! `restic list packs`: the pack files of the repository, for the coverage ledger.
//! On a local repository the sizes come from the pack files themselves; elsewhere
//! from the backend's own listing (`crate::backend::pack_sizes`: REST, S3, Azure,
//! GCS, Swift, SFTP). Where that cannot open the repository (`rclone:`, `b2:`)
//! or fails, the sizes stay unknown with a warning: restic's listing decides.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use super::classify::ResticExit;
use super::session::Session;
use super::Error;
use crate::backend::{self, Location};

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
        if let Some(root) = self.local_path() {
            return Ok(ids
                .into_iter()
                .map(|id| {
                    let size = pack_size(root, &id);
                    (id, size)
                })
                .collect());
        }
        let sizes = self.backend_sizes().await;
        Ok(ids
            .into_iter()
            .map(|id| {
                let size = sizes.get(&id).copied();
                (id, size)
            })
            .collect())
    }

    /// Pack sizes from the backend's listing; empty (with a warning) when the
    /// backend cannot be opened or listed in process.
    async fn backend_sizes(&self) -> HashMap<String, u64> {
        let env = &self.credentials.env;
        let Some((_, url)) = env.iter().find(|(k, _)| k == "RESTIC_REPOSITORY") else {
            return HashMap::new();
        };
        let location = Location {
            env: env
                .iter()
                .filter(|(k, _)| !k.starts_with("RESTIC_"))
                .cloned()
                .collect(),
            options: self.backend.options.clone(),
            ..Location::new(url.clone())
        };
        let listed = tokio::task::spawn_blocking(move || backend::pack_sizes(&location)).await;
        match listed {
            Ok(Ok(sizes)) => sizes,
            Ok(Err(e)) => {
                tracing::warn!(
                    repository = self.repository,
                    "pack sizes unknown (the ledger counts packs, not bytes): {}",
                    self.credentials.redactor.redact(&e.to_string())
                );
                HashMap::new()
            }
            Err(e) => {
                tracing::warn!(repository = self.repository, "pack sizes unknown: {e}");
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
