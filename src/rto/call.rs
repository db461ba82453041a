//! What a restore call restored and what a full restore would: the two small
//! types the model (`rto`) and the calibration picker (`probe`) share, kept here
//! so that neither imports the other for them.

use serde::{Deserialize, Serialize};

/// How a restore call chose what it restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// Sampled files, one `--include` (or `dump`) each: measured, never fitted.
    Sample,
    /// A whole subtree (a calibration call): restored as a recovery restores.
    Subtree,
    /// The whole snapshot (a full drill of every file, or the calibration of a
    /// small snapshot): its time is the recovery time.
    Full,
}

impl CallKind {
    /// Whether calls of this kind restore the way a full restore does.
    pub fn dense(self) -> bool {
        matches!(self, CallKind::Subtree | CallKind::Full)
    }
}

/// What a full restore restores: the snapshot's regular files and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Target {
    pub files: u64,
    pub bytes: u64,
}
