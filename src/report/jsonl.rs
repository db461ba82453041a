//! Appends one versioned JSON object per job run to the history file.
//!
//! Each record is serialised to a single line and written with one `write` call on
//! a file opened with `O_APPEND`, so concurrent writers never interleave lines.

use std::io::Write;
use std::path::Path;

use super::{Error, RunRecord};

/// Serialises a record as one line, newline included.
pub fn line(record: &RunRecord) -> String {
    // INVARIANT: RunRecord holds only strings, numbers, timestamps and enums, which
    // serde_json always serialises; fall back to an error object rather than panic.
    let mut s = serde_json::to_string(record)
        .unwrap_or_else(|e| format!("{{\"v\":1,\"serialization_error\":{:?}}}", e.to_string()));
    s.push('\n');
    s
}

/// Appends a record to `path`.
///
/// # Errors
/// The file cannot be opened or written.
pub fn append(path: &Path, record: &RunRecord) -> Result<(), Error> {
    let err = |source| Error::Results {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(line(record).as_bytes()).map_err(err)?;
    Ok(())
}
