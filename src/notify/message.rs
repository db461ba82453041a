//! What a notification says: the finished job as notifiers see it (`Finish`: its
//! verdict, title and log), the start title, the fire drill's note, and cutting a
//! text to a server's limit. Pure; imports nothing of `notify`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::escape;
use crate::finding::Outcome;
use crate::record::RunRecord;

/// `restic-verify [DRILL ]started: JOB on REPOSITORIES`, the title (and subject) of
/// a start notification.
pub fn start_title(job: &str, repositories: &[String], drill: bool) -> String {
    format!(
        "restic-verify {}started: {job} on {}",
        if drill { "DRILL " } else { "" },
        repositories.join(", ")
    )
}

/// The finished job, as notifiers see it.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    pub job: &'a str,
    pub kind: &'a str,
    pub records: &'a [RunRecord],
    /// The job's combined exit code (0, 1, 3, ...).
    pub exit_code: u8,
    /// The previous run failed or could not verify, and this one passed.
    pub recovery: bool,
    pub duration: Duration,
    /// This machine's host name.
    pub host: &'a str,
    /// A fire drill: one comparison was falsified on purpose.
    pub drill: bool,
}

/// The first line of a fire drill's message body.
pub const DRILL_NOTE: &str = "DRILL: a fire drill (`restic-verify drill`): one comparison was falsified on purpose to test that alerts arrive; nothing is damaged.";

impl Finish<'_> {
    pub fn passed(&self) -> bool {
        !self.records.is_empty() && self.records.iter().all(|r| r.outcome == Outcome::Pass)
    }

    /// `PASS`, `FAIL` or `ERROR`: the most serious outcome of the job's runs.
    pub fn verdict(&self) -> &'static str {
        if self.records.iter().any(|r| r.outcome == Outcome::Fail) {
            "FAIL"
        } else if self.passed() {
            "PASS"
        } else {
            "ERROR"
        }
    }

    pub fn repositories(&self) -> String {
        self.records
            .iter()
            .map(|r| escape::text(&r.repository))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One line: verdict, job, repositories.
    pub fn title(&self) -> String {
        format!(
            "restic-verify {}{}: {} on {}",
            if self.drill { "DRILL " } else { "" },
            self.verdict(),
            escape::text(self.job),
            self.repositories()
        )
    }

    /// The run's log: the files that did not match, then each repository's summary
    /// with its findings and error, and last the verdict line of each repository, so
    /// that a tail cut to a server's limit keeps the verdicts.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if self.drill {
            let _ = writeln!(s, "{DRILL_NOTE}");
        }
        for r in self.records {
            if let Some(t) = &r.restore_test {
                for f in t
                    .files
                    .iter()
                    .filter(|f| f.class != crate::compare::Class::Match)
                {
                    let _ = writeln!(
                        s,
                        "{} on {}: {} {} ({} bytes)",
                        escape::text(&r.job),
                        escape::text(&r.repository),
                        f.class.as_str(),
                        escape::text(&f.path),
                        f.size
                    );
                }
            }
        }
        for r in self.records {
            let _ = writeln!(s, "{}", r.summary());
        }
        for r in self.records {
            let summary = r.summary();
            let _ = writeln!(s, "{}", summary.lines().next().unwrap_or_default());
        }
        s
    }
}

/// Keeps the last `limit` bytes of `text` (on a character boundary), marking the cut.
pub fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    const MARK: &str = "[... truncated]\n";
    let keep = limit.saturating_sub(MARK.len());
    let mut start = text.len() - keep;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("{MARK}{}", &text[start..])
}

/// Keeps the first `limit` bytes of `text` (on a character boundary).
pub fn head(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_end_within_limit_on_char_boundary() {
        let text = "ä".repeat(100) + "summary line\n";
        let t = tail(&text, 50);
        assert!(t.len() <= 50, "{}", t.len());
        assert!(t.ends_with("summary line\n"));
        assert!(t.starts_with("[... truncated]"));
        assert_eq!(tail("short", 50), "short");
    }

    #[test]
    fn head_keeps_start_within_limit() {
        let h = head(&"é".repeat(3000), 4096);
        assert!(h.len() <= 4096);
        assert!(h.ends_with("..."));
    }
}
