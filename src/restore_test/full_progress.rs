//! The progress line of a long full restore, on a terminal only: files and bytes
//! restic has restored (from its `--json` status lines, restic ≥ 0.16) and files
//! compared so far. Drawn with `indicatif` on stderr among the other bars of
//! `crate::progress` (so log lines hide it while they are written); a no-op when
//! progress is off there (stderr not a terminal, JSON logs, `-q`) or the caller
//! did not ask for it (a timer or the daemon). It only displays: nothing here
//! decides a result.

use std::time::Duration;

use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressStyle};

/// The progress line (cheap to clone; shared with the hash workers).
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress line for `files` files to compare, shown only when `enabled` and
    /// stderr is a terminal. `reports` says whether restic will report its own
    /// progress (restic ≥ 0.16 with `--json`).
    pub fn new(enabled: bool, files: u64, reports: bool) -> Progress {
        if !enabled || !crate::progress::active() {
            return Progress { bar: None };
        }
        let bar = crate::progress::attach(ProgressBar::new(files));
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] restore: {msg} | compared {human_pos}/{human_len} files",
        ) {
            bar.set_style(style);
        }
        bar.set_message(if reports {
            "starting".to_owned()
        } else {
            "running (this restic reports no progress)".to_owned()
        });
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// A progress line that never draws (tests, non-terminals).
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// restic's status line.
    pub fn restored(&self, files: u64, total_files: u64, bytes: u64, total_bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_message(format!(
                "{}/{} files, {}/{}",
                HumanCount(files),
                HumanCount(total_files),
                HumanBytes(bytes),
                HumanBytes(total_bytes)
            ));
        }
    }

    /// The restore ended; comparing goes on.
    pub fn restore_done(&self, seconds: f64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("done in {seconds:.1} s"));
        }
    }

    /// One more file compared.
    pub fn compared(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Removes the line (the summary follows in the log).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Clears the progress line when dropped: on every exit path of a full restore (errors,
/// SIGTERM), so no half-drawn line stays above the summary.
#[derive(Debug)]
pub struct ClearOnDrop(pub Progress);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish();
    }
}
