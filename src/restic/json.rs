//! serde types for the parts of restic's `--json` output this tool relies on.
//!
//! Only fields present in every supported version (0.14 to 0.19) are required;
//! everything newer is optional. Pure data: no I/O here.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

/// One element of `restic snapshots --json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Snapshot {
    pub time: DateTime<FixedOffset>,
    pub tree: String,
    pub paths: Vec<String>,
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    pub id: String,
    #[serde(default)]
    pub short_id: Option<String>,
}

impl Snapshot {
    /// The backup set this snapshot belongs to: restic groups by host and paths.
    pub fn backup_set(&self) -> (String, Vec<String>) {
        let mut paths = self.paths.clone();
        paths.sort();
        (self.hostname.clone(), paths)
    }

    pub fn short(&self) -> &str {
        self.short_id
            .as_deref()
            .unwrap_or_else(|| self.id.get(..8).unwrap_or(&self.id))
    }
}

/// One line of `restic ls --json`: the snapshot first, then one node per line.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Node {
    #[serde(default)]
    pub struct_type: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub mode: Option<u32>,
    #[serde(default)]
    pub mtime: Option<String>,
}

/// `restic check --json` summary line (restic ≥ 0.18).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CheckSummary {
    pub num_errors: u64,
    #[serde(default)]
    pub broken_packs: Option<Vec<String>>,
    #[serde(default)]
    pub suggest_repair_index: bool,
    #[serde(default)]
    pub suggest_prune: bool,
}

/// Any JSON message restic ≥ 0.18 prints, told apart by `message_type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "message_type", rename_all = "snake_case")]
pub enum Message {
    Summary(CheckSummary),
    ExitError {
        code: i32,
        message: String,
    },
    Error {
        #[serde(default)]
        message: Option<String>,
    },
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_parses_0_14_output_without_optional_fields() {
        let s: Vec<Snapshot> = serde_json::from_str(
            r#"[{"time":"2024-01-01T10:00:00.123456789+01:00","tree":"ab","paths":["/src"],"hostname":"h","username":"u","id":"0123456789abcdef"}]"#,
        )
        .expect("parse");
        assert_eq!(s[0].short(), "01234567");
        assert_eq!(s[0].backup_set(), ("h".into(), vec!["/src".into()]));
    }

    #[test]
    fn message_tells_summary_from_exit_error() {
        let m: Message = serde_json::from_str(
            r#"{"message_type":"summary","num_errors":2,"broken_packs":["aa"],"suggest_repair_index":false,"suggest_prune":true}"#,
        )
        .expect("parse");
        assert!(matches!(
            m,
            Message::Summary(CheckSummary { num_errors: 2, .. })
        ));
        let m: Message = serde_json::from_str(
            r#"{"message_type":"exit_error","code":12,"message":"Fatal: wrong password"}"#,
        )
        .expect("parse");
        assert!(matches!(m, Message::ExitError { code: 12, .. }));
        let m: Message = serde_json::from_str(r#"{"message_type":"status","x":1}"#).expect("parse");
        assert!(matches!(m, Message::Other));
    }
}

/// A lock file (`restic cat lock <id>`): who holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct Lock {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub pid: u32,
    /// When the lock was created (RFC 3339).
    #[serde(default)]
    pub time: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// The ID on the snapshot line that `ls --json` prints first.
#[derive(Debug, Clone, Deserialize)]
pub struct SnapshotId {
    pub id: String,
}

/// One match of `restic find --json` (blob, tree or pack search).
#[derive(Debug, Clone, Deserialize)]
pub struct FindMatch {
    #[serde(default)]
    pub path: Option<String>,
    /// The blob or tree found (full ID, hex).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub snapshot: Option<String>,
}
