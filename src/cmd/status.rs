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
use crate::record::Report;
use crate::view::human::{age, duration};
use crate::view::status::{self as hstatus, Latest, Row};
use crate::view::Verdict;

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
        // One line, so that every line of stdout parses as JSON.
        let mut s = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned());
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
        table(&rows, now, color, width())
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

/// What a job's own latest run says beyond its outcome: a check's cycle, a restore
/// test's files and RTO, an audit's findings. Never another job's run.
fn detail(r: &Row) -> String {
    match r.kind.as_str() {
        "check" => match (r.check_coverage_ratio, &r.check_read_data_subset) {
            (Some(c), Some(s)) => format!("cycle {:.0}% ({})", c * 100.0, escape::text(s)),
            (Some(c), None) => format!("cycle {:.0}%", c * 100.0),
            (None, Some(s)) => format!("read {}", escape::text(s)),
            (None, None) => "-".to_owned(),
        },
        "restore-test" => r.last_restore_test.as_ref().map_or_else(
            || "-".to_owned(),
            |t| {
                let mut parts = Vec::new();
                if let (Some(v), Some(n)) = (t.files_verified, t.files_sampled) {
                    parts.push(format!("{v}/{n} files"));
                }
                if let Some(rto) = t.estimated_full_restore_seconds {
                    parts.push(format!("RTO {}", duration(rto)));
                }
                if parts.is_empty() {
                    "-".to_owned()
                } else {
                    parts.join(", ")
                }
            },
        ),
        "audit" => r.last_audit.as_ref().map_or_else(
            || "-".to_owned(),
            |a| match a.findings {
                0 => "no findings".to_owned(),
                1 => "1 finding".to_owned(),
                n => format!("{n} findings"),
            },
        ),
        _ => "-".to_owned(),
    }
}

/// The columns of one job row, as plain text with the ANSI style of each.
fn cells(r: &Row, now: DateTime<Utc>) -> Vec<(String, Option<&'static str>)> {
    vec![
        (escape::text(&r.job).into_owned(), None),
        (escape::text(&r.kind).into_owned(), None),
        (
            escape::text(&r.outcome).into_owned(),
            Some(outcome_style(&r.outcome)),
        ),
        (
            r.last_run
                .map_or_else(|| "-".to_owned(), |t| ago(Some(t), now)),
            None,
        ),
        (ago(r.last_success, now), None),
        (detail(r), None),
    ]
}

const HEADER: [&str; 6] = ["JOB", "KIND", "OUTCOME", "LAST RUN", "LAST PASS", "DETAIL"];

/// Job rows are indented under their repository's line.
const INDENT: &str = "  ";

/// The narrowest the JOB and DETAIL columns get before a line is cut.
const MIN_FLEX: usize = 8;

fn paint(text: &str, style: Option<&str>, color: bool) -> String {
    match style {
        Some(s) if color => format!("\x1b[{s}m{text}\x1b[0m"),
        _ => text.to_owned(),
    }
}

/// `text` cut to `width` characters, the cut marked with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `text` in lines of at most `width` characters (the lines after the first are
/// meant to be indented by `INDENT`), broken at spaces where there is one.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    let mut room = width.max(MIN_FLEX);
    while rest.len() > room {
        let cut = rest[..=room]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|i| *i > 0)
            .unwrap_or(room);
        lines.push(rest[..cut].iter().collect::<String>().trim_end().to_owned());
        rest = rest[cut..].to_vec();
        while rest.first() == Some(&' ') {
            rest.remove(0);
        }
        room = width.saturating_sub(INDENT.len()).max(MIN_FLEX);
    }
    lines.push(rest.into_iter().collect());
    lines
}

/// The width `status` fits its table to: `COLUMNS`, else the terminal's, else 80.
pub fn width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map(|w| usize::from(w.ws_col))
        .filter(|n| *n > 0)
        .unwrap_or(80)
}

/// The line about one repository: the facts shared by all its jobs (newest
/// snapshot, the pack ledger, the last full read).
fn repository_line(repository: &str, rows: &[&Row], now: DateTime<Utc>) -> String {
    let mut facts = Vec::new();
    let newest = rows
        .iter()
        .filter_map(|r| r.newest_snapshot_age_seconds)
        .reduce(f64::min);
    facts.push(newest.map_or_else(
        || "newest snapshot unknown".to_owned(),
        |a| format!("newest snapshot {} old", age(a)),
    ));
    if let Some(n) = rows.iter().filter_map(|r| r.unread_packs).max() {
        facts.push(format!("{n} pack(s) never read"));
    }
    if let Some(n) = rows
        .iter()
        .filter_map(|r| r.overdue_packs)
        .max()
        .filter(|n| *n > 0)
    {
        facts.push(format!("{n} overdue"));
    }
    if let Some(t) = rows.iter().filter_map(|r| r.last_full_read).max() {
        facts.push(format!("every pack read {}", ago(Some(t), now)));
    }
    format!(
        "repository {}: {}",
        escape::text(repository),
        facts.join(", ")
    )
}

/// The table, fitted to `width` columns: one line per repository with its shared
/// facts, its jobs below it (each with its own latest outcome), then one line per
/// job that did not pass saying why. ANSI styles only with `color`.
pub fn table(rows: &[Row], now: DateTime<Utc>, color: bool, width: usize) -> String {
    if rows.is_empty() {
        return "no runs recorded\n".to_owned();
    }
    let mut repos: Vec<&str> = rows.iter().map(|r| r.repository.as_str()).collect();
    repos.sort_unstable();
    repos.dedup();
    let body: Vec<_> = rows.iter().map(|r| cells(r, now)).collect();
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for cells in &body {
        for (w, (text, _)) in widths.iter_mut().zip(cells) {
            *w = (*w).max(text.chars().count());
        }
    }
    // The fixed columns keep their width; JOB and DETAIL share what is left.
    let gaps = 2 * (HEADER.len() - 1);
    let fixed: usize = widths[1..5].iter().sum::<usize>() + gaps + INDENT.len();
    let room = width.saturating_sub(fixed);
    let detail = widths[5].min(room.saturating_sub(widths[0]).max(room / 2));
    widths[0] = widths[0].min(room.saturating_sub(detail).max(MIN_FLEX));
    widths[5] = detail.max(MIN_FLEX);
    let line = |cells: Vec<(String, Option<&str>)>, out: &mut String| {
        let n = cells.len();
        let mut plain = String::from(INDENT);
        let mut painted = String::from(INDENT);
        for (i, ((text, style), w)) in cells.into_iter().zip(&widths).enumerate() {
            let text = fit(&text, *w);
            plain.push_str(&text);
            painted.push_str(&paint(&text, style, color));
            if i + 1 < n {
                let pad = " ".repeat(w.saturating_sub(text.chars().count()) + 2);
                plain.push_str(&pad);
                painted.push_str(&pad);
            }
        }
        // A terminal narrower than the fixed columns: cut the line itself.
        if plain.trim_end().chars().count() > width {
            painted = fit(plain.trim_end(), width);
        }
        out.push_str(painted.trim_end());
        out.push('\n');
    };
    let mut out = String::new();
    for (i, repo) in repos.iter().enumerate() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.repository == *repo).collect();
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&paint(
            &fit(&repository_line(repo, &mine, now), width),
            Some("1"),
            color,
        ));
        out.push('\n');
        line(
            HEADER
                .iter()
                .map(|h| ((*h).to_owned(), Some("1")))
                .collect(),
            &mut out,
        );
        for (r, cells) in rows.iter().zip(&body) {
            if r.repository == *repo {
                line(cells.clone(), &mut out);
            }
        }
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
        let head = escape::text(&r.outcome.to_uppercase()).into_owned();
        let text = format!(
            "{head} {} on {}: {why}",
            escape::text(&r.job),
            escape::text(&r.repository)
        );
        // The reason is wrapped, never cut: it is what the operator acts on.
        let lines = wrap(&text, width);
        for (i, l) in lines.iter().enumerate() {
            if let (0, Some(tail)) = (i, l.strip_prefix(head.as_str())) {
                notes.push_str(&paint(&head, Some(outcome_style(&r.outcome)), color));
                notes.push_str(tail);
            } else if i == 0 {
                notes.push_str(l);
            } else {
                notes.push_str(INDENT);
                notes.push_str(l);
            }
            notes.push('\n');
        }
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
        let t = table(&rows, now, false, 200);
        assert!(!t.contains('\x1b'), "{t}");
        assert!(
            t.contains("repository nas:") && t.contains("repository b2:") && t.contains("weekly"),
            "{t}"
        );
        assert!(t.contains("cycle 25% (3/12)"), "{t}");
        assert!(
            t.contains("ERROR weekly on b2: locked: repository is locked\n"),
            "{t}"
        );
        // Columns line up under their headers.
        let lines: Vec<&str> = t.lines().collect();
        let col = lines[1].find("OUTCOME").expect("header");
        assert!(lines[2][col..].starts_with("error "), "{t}");
    }

    #[test]
    fn table_with_color_paints_outcomes() {
        let (rows, now) = rows();
        let t = table(&rows, now, true, 200);
        assert!(t.contains("\x1b[32mpass\x1b[0m"), "{t}");
        assert!(t.contains("\x1b[33merror\x1b[0m"), "{t}");
    }

    #[rstest::rstest]
    #[case(80)]
    #[case(40)]
    #[case(20)]
    fn table_fits_the_width_and_cuts_long_names_with_an_ellipsis(#[case] width: usize) {
        let (mut rows, now) = rows();
        rows[0].job = "a-very-long-job-name-that-goes-on-and-on-and-on".to_owned();
        let t = table(&rows, now, false, width);
        for l in t.lines() {
            assert!(l.chars().count() <= width, "{width}: {l:?}\n{t}");
        }
        assert!(t.contains('…'), "{t}");
        // The reason of a row that did not pass is wrapped, not cut.
        let joined: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(joined.contains("locked: repository is locked"), "{t}");
    }

    #[rstest::rstest]
    #[case("short", 20, &["short"])]
    #[case("one two three four", 9, &["one two", "three", "four"])]
    #[case("abcdefghijklmnopqrst", 10, &["abcdefghij", "klmnopqr", "st"])]
    fn wrap_breaks_at_spaces_within_the_width(
        #[case] text: &str,
        #[case] width: usize,
        #[case] want: &[&str],
    ) {
        assert_eq!(wrap(text, width), want);
    }
}
