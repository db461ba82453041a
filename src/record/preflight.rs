//! Before any repository is touched: checks that the results file and the metrics
//! directory a job names can be written, so a run's verdict is never lost at the
//! end. Creates nothing that stays (a probe temp file is removed at once).

use std::path::{Path, PathBuf};

use super::Error;

/// Checks before any repository is touched that results can be written where the
/// profile says, so a run's verdict is never lost at the end.
///
/// # Errors
/// The results directory or the metrics directory is missing or not writable.
pub fn check(results: Option<&Path>, metrics: Option<&Path>) -> Result<(), Error> {
    if let Some(path) = results {
        let dir = parent_dir(path);
        if !dir.is_dir() {
            return Err(Error::ResultsDirMissing {
                path: path.to_owned(),
                dir,
            });
        }
        match super::jsonl::open(path) {
            Ok(_) => {}
            // Refused again when the record is appended: the run still verifies and
            // reports its verdict, and ends as a results-file write failure (exit 3).
            Err(e @ Error::ResultsLink { .. }) => {
                tracing::error!("{e}; this run's verdict will not be recorded there")
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(path) = metrics {
        let dir = parent_dir(path);
        if !dir.is_dir() {
            return Err(Error::MetricsDirMissing { dir });
        }
        tempfile::NamedTempFile::new_in(&dir).map_err(|source| Error::Metrics {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}
