//! Appends one versioned JSON object per job run to the history file.
//!
//! Each record is serialised to a single line and written with ONE `write` call on
//! a file opened with `O_APPEND`, so concurrent writers never interleave lines. A
//! line that the disk could take only in part (a short write, ENOSPC) is cut off
//! again when nothing was appended after it, and otherwise ended with a newline, so
//! a torn line never swallows the next record; a file whose last line was torn by
//! a crash gets a newline before ours. Every line written is valid JSON.
//!
//! The file is never opened through a symbolic link (`open`: `O_NOFOLLOW`), and a
//! new one is created 0640.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{Error, RunRecord};

/// Serialises a record as one line, newline included.
pub fn line(record: &RunRecord) -> String {
    // RunRecord holds only strings, numbers, timestamps and enums, which serde_json
    // always serialises; should that ever fail, the fallback is still one valid
    // JSON object that says so.
    let mut s = serde_json::to_string(record).unwrap_or_else(|e| {
        serde_json::json!({
            "v": super::SCHEMA_VERSION,
            "job": record.job,
            "repository": record.repository,
            "outcome": "error",
            "serialization_error": e.to_string(),
        })
        .to_string()
    });
    s.push('\n');
    s
}

/// Appends a record to `path`.
///
/// # Errors
/// The file cannot be opened (a symbolic link is refused), or the line could not
/// be written whole.
pub fn append(path: &Path, record: &RunRecord) -> Result<(), Error> {
    let mut f = open(path)?;
    append_line(&mut f, line(record).as_bytes()).map_err(|source| Error::Results {
        path: path.to_owned(),
        source,
    })
}

/// Opens (or creates) the results file for appending, never through a symbolic
/// link: `O_NOFOLLOW` refuses a link at the path, dangling or not, so a link
/// planted there cannot redirect the writes of a root run. A new file is created
/// 0640 (the umask can only narrow that: never world-readable); an existing file
/// keeps the mode its operator gave it. A FIFO or device is refused without
/// blocking (`O_NONBLOCK`, then `fstat`).
///
/// # Errors
/// A symbolic link or a file that is not regular is at the path, or it cannot be
/// opened.
pub fn open(path: &Path) -> Result<std::fs::File, Error> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| Error::Results {
        path: path.to_owned(),
        source,
    };
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o640)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(path);
    let f = match opened {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) && is_link(path) => {
            return Err(Error::ResultsLink {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(err(e)),
    };
    if !f.metadata().map_err(err)?.is_file() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file; set `results` to a file",
        )));
    }
    Ok(f)
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Writes `line` (ending in a newline) with one `write` on an `O_APPEND` file.
fn append_line(f: &mut std::fs::File, line: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    if !ends_with_newline(f)? {
        buf.push(b'\n');
    }
    buf.extend_from_slice(line);
    // One write: a loop of writes could interleave with another writer's line.
    let written = f.write(&buf)?;
    if written == buf.len() {
        return Ok(());
    }
    // A torn line: remove it if it is still the file's end, else end it.
    let end = f.stream_position()?;
    let start = end.saturating_sub(written as u64);
    if written > 0 {
        if f.metadata()?.len() == end {
            f.set_len(start)?;
        } else {
            let _ = f.write(b"\n");
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::StorageFull,
        format!(
            "only {written} of {} bytes could be written (disk full?); the partial line was removed",
            buf.len()
        ),
    ))
}

/// Whether the file is empty or ends with a newline.
fn ends_with_newline(f: &mut std::fs::File) -> std::io::Result<bool> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .expect("open")
    }

    #[test]
    fn append_line_after_a_torn_last_line_starts_a_new_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("r.jsonl");
        std::fs::write(&p, "{\"v\":1}\n{\"v\":1,\"tor").expect("write");
        append_line(&mut open(&p), b"{\"v\":1,\"ok\":true}\n").expect("append");
        let text = std::fs::read_to_string(&p).expect("read");
        let last = text.lines().last().expect("line");
        assert_eq!(last, "{\"v\":1,\"ok\":true}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn append_line_on_a_full_device_is_an_error_and_writes_nothing() {
        let mut full = std::fs::OpenOptions::new()
            .append(true)
            .read(true)
            .open("/dev/full")
            .expect("/dev/full");
        // /dev/full reads zeros, so the "last byte" check sees no newline; the
        // write fails with ENOSPC either way.
        let e = append_line(&mut full, b"{}\n").expect_err("ENOSPC");
        assert_eq!(e.raw_os_error(), Some(28), "{e}");
    }

    #[test]
    fn line_is_one_valid_json_object_per_record() {
        let record = crate::record::assemble::error(
            &crate::record::assemble::Facts {
                host: "h",
                job: "j\n\"x\"",
                kind: "check",
                repository: "r",
                started: chrono::Utc::now(),
                duration_seconds: 0.0,
                restic_version: None,
                read: None,
                seed: 0,
                verbose_results: false,
                rto_history: &[],
                drill: false,
            },
            crate::finding::Category::Config,
            "line one\nline two".into(),
        );
        let l = line(&record);
        assert_eq!(l.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(l.trim_end()).expect("json");
        assert_eq!(v["job"], "j\n\"x\"");
    }
}
