//! `restic-verify status`: one row per job × repository from the results files (and
//! the profile's state directories): a table, coloured on a terminal, or JSON.
//!
//! Touches no repository and writes nothing. The exit code makes it usable in a
//! shell `if`: 1 when any latest outcome is `fail`, 3 when any could not verify
//! (or never ran), else 0.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};

use crate::cli::{ColorChoice, StatusArgs};
use crate::cmd::inputs;
use crate::error::Error;
use crate::escape;
use crate::history::human::{age, duration};
use crate::history::status::{self as hstatus, Latest, Row};
use crate::history::Verdict;
use crate::report::Report;

/// Prints the status.
///
/// # Errors
/// A results file is missing or unreadable, or the profile is invalid (exit 2).
pub fn run(args: StatusArgs) -> Result<Report, Error> {
    let inputs = inputs::resolve(&args.history)?;
    let mut latest = Latest::default();
    inputs.expect_into(&mut latest);
    for input in &inputs.files {
        inputs::read_one(input, None, true, &mut |e| latest.add(e))?;
    }
    let now = Utc::now();
    let rows = latest.rows(now);
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned());
        s.push('\n');
        s
    } else {
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        table(&rows, now, color)
    };
    super::print_stdout(text.as_bytes());
    Ok(Report {
        runs: Vec::new(),
        exit_override: Some(hstatus::exit_code(&rows)),
    })
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(
        || "never".to_owned(),
        |t| format!("{} ago", age((now - t).num_milliseconds() as f64 / 1000.0)),
    )
}

fn outcome_style(outcome: &str) -> &'static str {
    match Verdict::parse(outcome) {
        Verdict::Pass => "32",
        Verdict::Fail => "1;31",
        Verdict::Error => "33",
        Verdict::Unknown => "35",
    }
}

/// The columns of one row, as plain text with the ANSI style of each.
fn cells(r: &Row, now: DateTime<Utc>) -> Vec<(String, Option<&'static str>)> {
    let mut cycle = match (r.check_coverage_ratio, &r.check_read_data_subset) {
        (Some(c), Some(s)) => format!("{:.0}% ({})", c * 100.0, escape::text(s)),
        (Some(c), None) => format!("{:.0}%", c * 100.0),
        (None, Some(s)) => escape::text(s).into_owned(),
        (None, None) => "-".to_owned(),
    };
    if let Some(n) = r.unread_packs.filter(|n| *n > 0) {
        cycle.push_str(&format!(", {n} unread"));
    }
    let restore = r.last_restore_test.as_ref().map_or_else(
        || "-".to_owned(),
        |t| {
            let mut s = format!("{} {}", escape::text(&t.outcome), ago(t.ts, now));
            if let (Some(v), Some(n)) = (t.files_verified, t.files_sampled) {
                s.push_str(&format!(", {v}/{n} files"));
            }
            if let Some(rto) = t.estimated_full_restore_seconds {
                s.push_str(&format!(", RTO {}", duration(rto)));
            }
            s
        },
    );
    let audit = r.last_audit.as_ref().map_or_else(
        || "-".to_owned(),
        |a| format!("{} {}", escape::text(&a.outcome), ago(a.ts, now)),
    );
    let outcome = escape::text(&r.outcome).into_owned();
    let style = outcome_style(&r.outcome);
    vec![
        (escape::text(&r.job).into_owned(), None),
        (escape::text(&r.repository).into_owned(), None),
        (escape::text(&r.kind).into_owned(), None),
        (outcome, Some(style)),
        (
            r.last_run
                .map_or_else(|| "-".to_owned(), |t| ago(Some(t), now)),
            None,
        ),
        (ago(r.last_success, now), None),
        (
            r.newest_snapshot_age_seconds
                .map_or_else(|| "-".to_owned(), age),
            None,
        ),
        (cycle, None),
        (
            r.last_full_read
                .map_or_else(|| "-".to_owned(), |t| ago(Some(t), now)),
            None,
        ),
        (restore, None),
        (audit, None),
    ]
}

const HEADER: [&str; 11] = [
    "JOB",
    "REPOSITORY",
    "KIND",
    "OUTCOME",
    "LAST RUN",
    "LAST PASS",
    "SNAPSHOT AGE",
    "CHECK CYCLE",
    "FULL READ",
    "RESTORE TEST",
    "AUDIT",
];

fn paint(text: &str, style: Option<&str>, color: bool) -> String {
    match style {
        Some(s) if color => format!("\x1b[{s}m{text}\x1b[0m"),
        _ => text.to_owned(),
    }
}

/// The table, then one line per row that did not pass saying why. ANSI styles only
/// with `color`.
pub fn table(rows: &[Row], now: DateTime<Utc>, color: bool) -> String {
    if rows.is_empty() {
        return "no runs recorded\n".to_owned();
    }
    let body: Vec<_> = rows.iter().map(|r| cells(r, now)).collect();
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for cells in &body {
        for (w, (text, _)) in widths.iter_mut().zip(cells) {
            *w = (*w).max(text.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, Option<&str>)>, out: &mut String| {
        let n = cells.len();
        for (i, ((text, style), w)) in cells.into_iter().zip(&widths).enumerate() {
            out.push_str(&paint(&text, style, color));
            if i + 1 < n {
                let pad = w.saturating_sub(text.chars().count()) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(
        HEADER
            .iter()
            .map(|h| ((*h).to_owned(), Some("1")))
            .collect(),
        &mut out,
    );
    for cells in body {
        line(cells, &mut out);
    }
    let mut notes = String::new();
    for r in rows.iter().filter(|r| r.verdict() != Verdict::Pass) {
        // Names and messages come from the results file (file names, restic's
        // stderr): escaped, so none can redraw the line (see `escape`). An error
        // shows its first line; a finding (one line by design) shows whole.
        let why = match (&r.error, r.findings.first()) {
            (Some(e), _) => format!(
                "{}: {}",
                escape::text(e.category.as_deref().unwrap_or("error")),
                escape::text(e.message.lines().next().unwrap_or_default())
            ),
            (None, Some(f)) => {
                let more = r.findings.len() - 1;
                if more > 0 {
                    format!("{} (and {more} more)", escape::text(f))
                } else {
                    escape::text(f).into_owned()
                }
            }
            (None, None) if r.outcome == hstatus::NEVER_RUN => "no run recorded".to_owned(),
            (None, None) => format!("outcome `{}`", escape::text(&r.outcome)),
        };
        notes.push_str(&format!(
            "{} {} on {}: {why}\n",
            paint(
                &escape::text(&r.outcome.to_uppercase()),
                Some(outcome_style(&r.outcome)),
                color
            ),
            escape::text(&r.job),
            escape::text(&r.repository)
        ));
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> (Vec<Row>, DateTime<Utc>) {
        let now = DateTime::parse_from_rfc3339("2026-01-10T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut l = Latest::default();
        for line in [
            r#"{"ts":"2026-01-09T00:00:00Z","job":"weekly","kind":"check","repository":"nas","outcome":"pass","check":{"read_data_subset":"3/12","rotation":{"coverage_ratio":0.25}}}"#,
            r#"{"ts":"2026-01-09T12:00:00Z","job":"weekly","kind":"check","repository":"b2","outcome":"error","error":{"category":"locked","message":"repository is locked\nby pid 7"}}"#,
        ] {
            l.add(serde_json::from_str(line).expect("entry"));
        }
        (l.rows(now), now)
    }

    #[test]
    fn table_without_color_has_no_ansi_and_names_every_row() {
        let (rows, now) = rows();
        let t = table(&rows, now, false);
        assert!(!t.contains('\x1b'), "{t}");
        assert!(
            t.contains("nas") && t.contains("b2") && t.contains("weekly"),
            "{t}"
        );
        assert!(t.contains("25% (3/12)"), "{t}");
        assert!(
            t.contains("ERROR weekly on b2: locked: repository is locked\n"),
            "{t}"
        );
        // Columns line up under their headers.
        let lines: Vec<&str> = t.lines().collect();
        let col = lines[0].find("REPOSITORY").expect("header");
        assert!(lines[1][col..].starts_with("b2 "), "{t}");
        assert!(lines[2][col..].starts_with("nas "), "{t}");
    }

    #[test]
    fn table_with_color_paints_outcomes() {
        let (rows, now) = rows();
        let t = table(&rows, now, true);
        assert!(t.contains("\x1b[32mpass\x1b[0m"), "{t}");
        assert!(t.contains("\x1b[33merror\x1b[0m"), "{t}");
    }
}
