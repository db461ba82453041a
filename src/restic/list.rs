//! `restic list packs`: the pack files of the repository, for the coverage ledger.
//! On a local repository the sizes come from the pack files themselves; other
//! backends give IDs only (sizes unknown).

use std::ffi::OsString;
use std::path::Path;

use super::classify::ResticExit;
use super::session::Session;
use super::Error;

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
        Ok(ids
            .into_iter()
            .map(|id| {
                let size = local.and_then(|root| pack_size(root, &id));
                (id, size)
            })
            .collect())
    }
}

/// The size of a pack file in a local repository (`data/<2 hex>/<id>`).
fn pack_size(root: &Path, id: &str) -> Option<u64> {
    let file = root.join("data").join(id.get(..2)?).join(id);
    std::fs::metadata(file).ok().map(|m| m.len())
}
