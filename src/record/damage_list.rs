//! The complete file lists of a damage report, in a JSON file next to the results
//! file, when a list in the record is capped (`check::damage::FILES_CAP`): the
//! record keeps the first paths of each list with its total and names this file
//! in `damage.files_list`. Written once per run through `state::atomic::replace`
//! (0640, the directory's group, like the results), never through a link.

use std::path::{Path, PathBuf};

use super::{Error, RunRecord};
use crate::state::atomic;

/// The file for `record`'s lists: `<results file name>.damage-<time>-<job>-<repository>.json`
/// in the results file's directory; characters other than letters, digits, `.`,
/// `_` and `-` in the job and repository names become `_`.
pub fn path_for(results: &Path, record: &RunRecord) -> PathBuf {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = results
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".to_owned());
    atomic::dir_of(results).join(format!(
        "{name}.damage-{}-{}-{}.json",
        record.ts.format("%Y%m%dT%H%M%S%.3fZ"),
        clean(&record.job),
        clean(&record.repository)
    ))
}

/// Writes the complete lists when the record's are capped, and names the file in
/// the record (`damage.files_list`). Does nothing when every list is whole.
///
/// # Errors
/// The file cannot be written; the record then keeps its capped lists and totals
/// and says the full list could not be written.
pub fn write(results: &Path, record: &mut RunRecord) -> Result<(), Error> {
    let Some(d) = record.damage.as_ref() else {
        return Ok(());
    };
    let Some(full) = d.full.as_ref() else {
        return Ok(());
    };
    let path = path_for(results, record);
    let mut text = serde_json::to_string_pretty(full).unwrap_or_else(|e| {
        serde_json::json!({ "serialization_error": e.to_string() }).to_string()
    });
    text.push('\n');
    let written = atomic::replace(&path, text.as_bytes(), atomic::Access::DirGroup);
    if let Some(d) = record.damage.as_mut() {
        match &written {
            Ok(()) => d.files_list = Some(path.display().to_string()),
            Err(e) => {
                let why = format!(
                    "the complete file lists could not be written to {}: {e}",
                    path.display()
                );
                d.note = Some(match d.note.take() {
                    Some(n) => format!("{n}; {why}"),
                    None => why,
                });
            }
        }
    }
    written.map_err(|source| Error::DamageList { path, source })
}
