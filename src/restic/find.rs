//! `restic find --json --pack`: which files of which snapshot use a pack's blobs.
//! restic reports each blob once per search, so the damage report asks snapshot by
//! snapshot to learn every snapshot that references a broken pack.

use std::ffi::OsString;

use super::args::display_command;
use super::classify::ResticExit;
use super::json::FindMatch;
use super::session::Session;
use super::Error;

impl Session<'_> {
    /// The tree paths in `snapshot` whose content uses a blob of one of `packs`,
    /// with the blob each uses: (path, blob ID), sorted, without repeats.
    ///
    /// # Errors
    /// restic failed or printed something that is not `find --json` output.
    pub async fn find_packs_in(
        &self,
        packs: &[String],
        snapshot: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut args: Vec<OsString> = vec![
            "--json".into(),
            "find".into(),
            "--pack".into(),
            "--snapshot".into(),
            snapshot.into(),
        ];
        args.extend(packs.iter().map(OsString::from));
        let (out, fin) = self.call(&args, false, |_| ()).await?;
        if fin.exit != ResticExit::Success {
            return Err(self.failed(&args, &fin));
        }
        let text = String::from_utf8_lossy(&out);
        let mut paths = Vec::new();
        // 0.14 prints one array; later versions may print one per line.
        for line in text.lines().filter(|l| l.trim_start().starts_with('[')) {
            let matches: Vec<FindMatch> =
                serde_json::from_str(line).map_err(|e| Error::Output {
                    command: display_command(&args),
                    repository: self.repository.to_owned(),
                    detail: e.to_string(),
                })?;
            paths.extend(
                matches
                    .into_iter()
                    .filter_map(|m| Some((m.path?, m.id.unwrap_or_default()))),
            );
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }
}
