//! The view side of the outputs: reading back what earlier runs left (JSONL result
//! histories and job state files) and showing it: `status` rows, `timeline` bins,
//! the `html` report with its `svg` charts, `human` durations and ages.
//!
//! Read-only towards what it reads: nothing here writes, renames or locks a results
//! or state file (a state file that does not parse is reported, not moved aside as
//! `state::load` does); the one file written here is the HTML report page
//! (`html::write`, through `state::atomic::replace`). Histories are
//! streamed one line at a time into a visitor, so memory follows what the caller
//! keeps (`status` keeps the latest record per job × repository, `timeline` fixed
//! bins per chart), never the length of the file. A line that is not a record —
//! torn by a crash, edited by hand, from a future version with a different shape —
//! is skipped with a warning naming the file and line number, never a crash.
//! Records are read leniently: unknown fields are ignored and unknown kinds (e.g.
//! `audit`) and outcomes are kept, so a newer writer does not break an older reader.
//!
//! Memory per line stays near the line's length: a line is read up to
//! `MAX_LINE_BYTES` (a longer one is skipped, with a warning naming the file and
//! line number), fields the readers do not use are skipped without being built
//! (serde's `IgnoredAny`), the objects shown as written (`audit`, `damage`) are
//! kept as their raw JSON text (`Raw`), never as a `serde_json::Value` tree, and
//! lists (`findings`, `check.errors`) keep their first `MAX_ITEMS` elements and
//! count the rest (`Capped`).

pub mod html;
pub mod human;
pub mod markup;
pub mod status;
pub mod svg;
pub mod timeline;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::state::{self, JobState};

/// Longest line read as a record; a longer one is skipped with a warning so that
/// one runaway line cannot take all memory. The writer's lines are far shorter:
/// an audit lists at most `max-listed` files, a verbose restore test its sample.
pub const MAX_LINE_BYTES: usize = 64 << 20;
/// Elements of a list (`findings`, `check.errors`) kept per record; the rest are
/// counted, not kept.
pub const MAX_ITEMS: usize = 10_000;
/// Malformed lines warned about one by one per file; the rest are counted.
const MAX_LINE_WARNINGS: u64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("results file {} does not exist; pass the JSONL file a job writes (`results` in the profile, --results of check/restore-test)", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read results file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The verdict of a recorded run, as far as this reader understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Pass,
    /// An outcome this version does not know: read as "not verified".
    Unknown,
    Error,
    Fail,
}

impl Verdict {
    pub fn parse(outcome: &str) -> Verdict {
        match outcome {
            "pass" => Verdict::Pass,
            "fail" => Verdict::Fail,
            "error" => Verdict::Error,
            _ => Verdict::Unknown,
        }
    }
}

/// One JSONL record as read back (the fields `record::RunRecord` writes that the
/// readers use; everything else is ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    #[serde(default)]
    pub ts: Option<DateTime<Utc>>,
    #[serde(default)]
    pub host: Option<String>,
    pub job: String,
    #[serde(default)]
    pub kind: String,
    pub repository: String,
    pub outcome: String,
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub check: Option<CheckPart>,
    #[serde(default)]
    pub restore_test: Option<RestorePart>,
    #[serde(default)]
    pub findings: Capped<FindingPart>,
    #[serde(default)]
    pub error: Option<ErrorPart>,
    /// A description of damage (with a `recipe` to repair it), when a writer adds one.
    #[serde(default)]
    pub damage: Option<Raw>,
    /// The audit part of an `audit` record, shown as it is.
    #[serde(default)]
    pub audit: Option<Raw>,
    /// A fire drill's record (`restic-verify drill`): not a real verdict, so the
    /// readers never see it (`read_from` skips it).
    #[serde(default)]
    pub drill: bool,
}

impl Entry {
    pub fn verdict(&self) -> Verdict {
        Verdict::parse(&self.outcome)
    }

    /// When the newest snapshot this run saw was taken, if it says.
    pub fn newest_snapshot_time(&self) -> Option<DateTime<Utc>> {
        let from_check = self.check.as_ref().and_then(|c| {
            let age = c.newest_snapshot_age_seconds?;
            let age = chrono::Duration::try_milliseconds((age * 1000.0) as i64)?;
            // The age was measured a moment after `ts`: whole seconds are what it says.
            Some((self.ts? - age).trunc_subsecs(0))
        });
        let from_restore = self
            .restore_test
            .as_ref()
            .and_then(|r| r.snapshot.as_ref())
            .and_then(|s| s.time.as_deref())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        from_check.max(from_restore)
    }

    /// The share of pack data this run's check cycle has read, if it says: the
    /// rotation's coverage, 1 for `--read-data`, else the ledger's share read
    /// within its window.
    pub fn coverage(&self) -> Option<f64> {
        let c = self.check.as_ref()?;
        match (&c.rotation, c.read_data_subset.as_deref()) {
            (Some(r), _) if r.coverage_ratio.is_some() => r.coverage_ratio,
            (_, Some("all")) => Some(1.0),
            _ => c.coverage.as_ref().and_then(|l| l.read_within_window_ratio),
        }
    }

    /// Whether `self` is at least as recent as `other` (file order breaks ties, so
    /// the later line wins; a record without a time counts as the latest so far).
    pub fn supersedes(&self, other: &Entry) -> bool {
        match (self.ts, other.ts) {
            (Some(a), Some(b)) => a >= b,
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CheckPart {
    #[serde(default)]
    pub read_data_subset: Option<String>,
    #[serde(default, deserialize_with = "capped")]
    pub errors: Vec<String>,
    #[serde(default)]
    pub snapshots: Option<u64>,
    #[serde(default)]
    pub newest_snapshot_age_seconds: Option<f64>,
    #[serde(default)]
    pub rotation: Option<RotationPart>,
    #[serde(default)]
    pub last_full_read: Option<DateTime<Utc>>,
    /// Pack coverage from the ledger (check jobs with a `state-dir`).
    #[serde(default)]
    pub coverage: Option<LedgerPart>,
}

/// The ledger's view of which packs have been read (`check.coverage`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LedgerPart {
    #[serde(default)]
    pub packs: Option<u64>,
    /// Packs never read since first seen.
    #[serde(default)]
    pub unread_packs: Option<u64>,
    #[serde(default)]
    pub oldest_unread_age_seconds: Option<f64>,
    /// Share of bytes (or packs) read within the window.
    #[serde(default)]
    pub read_within_window_ratio: Option<f64>,
    /// Packs unread for longer than the window.
    #[serde(default)]
    pub overdue_packs: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RotationPart {
    #[serde(default)]
    pub group: Option<u32>,
    #[serde(default)]
    pub groups: Option<u32>,
    #[serde(default)]
    pub coverage_ratio: Option<f64>,
    #[serde(default)]
    pub cycle_started: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_cycle_completed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SnapshotPart {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub time: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RestorePart {
    #[serde(default)]
    pub snapshot: Option<SnapshotPart>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub sampled: Option<u64>,
    /// Files restored and compared.
    #[serde(default)]
    pub verified: Option<u64>,
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    #[serde(default)]
    pub bytes_restored: Option<u64>,
    #[serde(default)]
    pub restore_seconds: Option<f64>,
    #[serde(default)]
    pub throughput_bytes_per_second: Option<f64>,
    #[serde(default)]
    pub estimated_full_restore_seconds: Option<f64>,
}

impl RestorePart {
    /// Files restored and compared with their source (older records: the
    /// files that matched).
    pub fn verified(&self) -> Option<u64> {
        self.verified.or_else(|| self.counts.get("match").copied())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct FindingPart {
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damage: Option<Raw>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ErrorPart {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// A JSON value kept as the text it was written as: shown or passed on verbatim,
/// parsed only where it is rendered, never held as a `serde_json::Value` tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Raw(Box<serde_json::value::RawValue>);

impl Raw {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value, parsed (to render it).
    pub fn parse(&self) -> serde_json::Value {
        serde_json::from_str(self.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl PartialEq for Raw {
    fn eq(&self, other: &Raw) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

/// A JSON list of which the first `MAX_ITEMS` elements are kept; the others are
/// skipped without being built, and counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Capped<T> {
    items: Vec<T>,
    total: u64,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Capped {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T> Capped<T> {
    /// Elements in the list as written, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl<T> std::ops::Deref for Capped<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<'a, T> IntoIterator for &'a Capped<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Capped<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = Capped<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Capped<T>, A::Error> {
                let mut out = Capped::default();
                loop {
                    if out.items.len() < MAX_ITEMS {
                        match seq.next_element::<T>()? {
                            Some(x) => out.items.push(x),
                            None => break,
                        }
                    } else if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                        break;
                    }
                    out.total += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// `deserialize_with` for a list of which only the first `MAX_ITEMS` are kept.
fn capped<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Capped::deserialize(d).map(|c| c.items)
}

/// What reading one file came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes read (a second pass reads only these, so it sees the same lines).
    pub bytes: u64,
    pub records: u64,
    /// Lines that were not records (each warned about, up to a limit).
    pub skipped: u64,
}

/// Streams every record of the JSONL file `path` to `visit`, in file order, reading
/// at most `limit` bytes when given. Lines that are not records are skipped, with a
/// warning naming the line number when `warn` (a second pass over the same bytes
/// passes `false`).
///
/// # Errors
/// The file does not exist or cannot be read.
pub fn read(
    path: &Path,
    limit: Option<u64>,
    warn: bool,
    visit: &mut dyn FnMut(Entry),
) -> Result<ReadStats, Error> {
    let file = std::fs::File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                path: path.to_owned(),
            }
        } else {
            Error::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let reader = BufReader::with_capacity(1 << 16, file.take(limit.unwrap_or(u64::MAX)));
    let name = warn.then(|| path.display().to_string());
    read_from(reader, name.as_deref(), visit).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// `read` on any reader; `name` names it in warnings (none without a name).
///
/// # Errors
/// The reader fails (a directory, an I/O error).
pub fn read_from(
    mut reader: impl BufRead,
    name: Option<&str>,
    visit: &mut dyn FnMut(Entry),
) -> std::io::Result<ReadStats> {
    let mut stats = ReadStats::default();
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        let (n, complete) = next_line(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        stats.bytes += n as u64;
        number += 1;
        let problem = if !complete {
            Some(format!("longer than {MAX_LINE_BYTES} bytes"))
        } else if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            match serde_json::from_slice::<Entry>(&buf) {
                Ok(entry) => {
                    stats.records += 1;
                    // A fire drill failed on purpose: it is no job's latest outcome.
                    if !entry.drill {
                        visit(entry);
                    }
                    None
                }
                Err(e) => {
                    // serde_json says where in the line; the line number is ours.
                    let msg = e.to_string();
                    let at = format!(" at line {} column {}", e.line(), e.column());
                    // A last line without its newline may be a record being appended.
                    let unterminated = if n == buf.len() {
                        "; it has no newline: a run may be writing it"
                    } else {
                        ""
                    };
                    Some(format!(
                        "column {}: {}{unterminated}",
                        e.column(),
                        msg.strip_suffix(&at).unwrap_or(&msg)
                    ))
                }
            }
        };
        if let Some(problem) = problem {
            stats.skipped += 1;
            if let Some(name) = name.filter(|_| stats.skipped <= MAX_LINE_WARNINGS) {
                tracing::warn!("{name}: line {number} skipped, not a result record ({problem})");
            }
        }
    }
    if let Some(name) = name.filter(|_| stats.skipped > MAX_LINE_WARNINGS) {
        tracing::warn!(
            "{name}: {} more lines skipped ({} in all)",
            stats.skipped - MAX_LINE_WARNINGS,
            stats.skipped
        );
    }
    Ok(stats)
}

/// Reads one line into `buf` (without its newline), keeping at most
/// `MAX_LINE_BYTES`; returns the bytes consumed and whether the line was kept whole.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut complete = true;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((consumed, complete));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if complete && buf.len() + chunk.len() <= MAX_LINE_BYTES {
            buf.extend_from_slice(chunk);
        } else {
            complete = false;
            buf.clear();
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        consumed += used;
        if done.is_some() {
            return Ok((consumed, complete));
        }
    }
}

/// The state of `job` on `repository` in `state_dir`, read without changing
/// anything: `Ok(None)` when there is none yet, `Err` with a message when it
/// cannot be read or parsed.
///
/// # Errors
/// A message naming the file.
pub fn read_state(
    state_dir: &Path,
    job: &str,
    repository: &str,
) -> Result<Option<JobState>, String> {
    let path = state::path(state_dir, job, repository);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("state file {} cannot be parsed: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read state file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &[u8]) -> (Vec<Entry>, ReadStats) {
        let mut out = Vec::new();
        let stats = read_from(text, Some("t.jsonl"), &mut |e| out.push(e)).expect("read");
        (out, stats)
    }

    const PASS: &str = r#"{"v":1,"ts":"2026-01-01T00:00:00Z","job":"j","kind":"check","repository":"r","outcome":"pass","findings":[],"future_field":{"x":[1,2]}}"#;

    #[test]
    fn read_from_with_malformed_lines_skips_them_and_keeps_the_rest() {
        let text = format!("{PASS}\nnot json\n\n{{\"v\":1,\"tor\n{PASS}\n\u{0}\u{ff}\n{PASS}");
        let (entries, stats) = collect(text.as_bytes());
        assert_eq!(entries.len(), 3);
        assert_eq!(stats.records, 3);
        assert_eq!(stats.skipped, 3);
        assert_eq!(stats.bytes, text.len() as u64);
    }

    #[test]
    fn read_from_unknown_kind_and_outcome_is_kept_as_unknown() {
        let line = br#"{"ts":"2026-01-01T00:00:00Z","job":"a","kind":"audit","repository":"r","outcome":"drill","audit":{"files":3}}"#;
        let (entries, _) = collect(line);
        assert_eq!(entries[0].kind, "audit");
        assert_eq!(entries[0].verdict(), Verdict::Unknown);
        assert!(entries[0].audit.is_some());
    }

    #[test]
    fn read_from_skips_fire_drill_records() {
        let drill = r#"{"ts":"2026-01-02T00:00:00Z","job":"j","kind":"check","repository":"r","outcome":"fail","drill":true}"#;
        let (entries, stats) = collect(format!("{PASS}\n{drill}\n").as_bytes());
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].outcome, "pass");
        assert_eq!(stats.records, 2);
        assert_eq!(stats.skipped, 0);
    }

    #[test]
    fn read_from_line_without_required_fields_is_skipped() {
        let (entries, stats) = collect(b"{\"v\":1,\"job\":\"j\"}\n[1,2]\n42\n");
        assert!(entries.is_empty());
        assert_eq!(stats.skipped, 3);
    }

    #[test]
    fn next_line_over_the_limit_is_consumed_and_reported_incomplete() {
        let mut text = vec![b'x'; MAX_LINE_BYTES + 10];
        text.push(b'\n');
        text.extend_from_slice(PASS.as_bytes());
        let mut reader = std::io::BufReader::with_capacity(1 << 16, &text[..]);
        let mut buf = Vec::new();
        let (n, complete) = next_line(&mut reader, &mut buf).expect("line");
        assert_eq!(n, MAX_LINE_BYTES + 11);
        assert!(!complete);
        assert!(buf.is_empty());
        buf.clear();
        let (_, complete) = next_line(&mut reader, &mut buf).expect("line");
        assert!(complete);
        assert_eq!(buf, PASS.as_bytes());
    }

    #[test]
    fn entry_newest_snapshot_time_takes_the_newer_of_check_and_restore() {
        let line = r#"{"ts":"2026-01-02T00:00:00Z","job":"j","repository":"r","outcome":"pass","check":{"newest_snapshot_age_seconds":3600}}"#;
        let (e, _) = collect(line.as_bytes());
        assert_eq!(
            e[0].newest_snapshot_time().map(|t| t.to_rfc3339()),
            Some("2026-01-01T23:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn read_from_long_lists_keep_the_first_items_and_count_the_rest() {
        let n = MAX_ITEMS + 5;
        let findings = vec![r#"{"detail":"d"}"#; n].join(",");
        let errors = vec![r#""e""#; n].join(",");
        let line = format!(
            r#"{{"job":"j","repository":"r","outcome":"fail","findings":[{findings}],"check":{{"errors":[{errors}]}}}}"#
        );
        let (e, stats) = collect(line.as_bytes());
        assert_eq!(stats.records, 1);
        assert_eq!(e[0].findings.len(), MAX_ITEMS);
        assert_eq!(e[0].findings.total(), n as u64);
        assert_eq!(e[0].check.as_ref().map(|c| c.errors.len()), Some(MAX_ITEMS));
    }

    #[test]
    fn read_from_audit_and_damage_are_kept_as_written() {
        let line = br#"{"job":"j","repository":"r","outcome":"fail","audit":[0, 0,{"a":1}],"damage":{"recipe":"restic repair index"}}"#;
        let (e, _) = collect(line);
        assert_eq!(e[0].audit.as_ref().map(Raw::get), Some(r#"[0, 0,{"a":1}]"#));
        let damage = e[0].damage.as_ref().map(Raw::parse);
        assert_eq!(
            damage.as_ref().map(|d| &d["recipe"]),
            Some(&serde_json::json!("restic repair index"))
        );
        assert_eq!(
            serde_json::to_string(&e[0].audit).expect("json"),
            r#"[0, 0,{"a":1}]"#
        );
    }

    #[test]
    fn read_missing_file_names_it() {
        let e =
            read(Path::new("/nonexistent/r.jsonl"), None, true, &mut |_| {}).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/r.jsonl"), "{e}");
    }
}
