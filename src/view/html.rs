//! The HTML report: one self-contained page (inline CSS and inline SVG only; no
//! script, no external style, font or image, and a Content-Security-Policy that
//! forbids loading any) rendered from a `Timeline` (pure), and its atomic write
//! (`state::atomic::replace`: temp file in the same directory, fsync, rename; 0640
//! with the directory's group).
//!
//! Per repository: the jobs and their latest verdicts, a timeline of runs and
//! verdicts, check coverage, restore throughput and RTO estimate over time, every
//! damage finding with its text (and a `damage` object with its `recipe` when a
//! record has one), errors, and the most recent runs. Every string that comes
//! from a record is escaped (`markup::escape`) here or in `svg`.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::markup::escape;
use super::svg::{self, Axis};
use crate::record::Error;
use crate::state::atomic;
use crate::view::human;
use crate::view::timeline::{Mean, RepoTimeline, Timeline};
use crate::view::Verdict;

/// One results file that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: String,
    pub records: u64,
    /// Lines that were not records.
    pub skipped: u64,
    /// A profile's results file that does not exist yet.
    pub missing: bool,
}

/// What the page is made from.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub generated: DateTime<Utc>,
    /// `--since`, when given.
    pub since: Option<std::time::Duration>,
    pub sources: &'a [Source],
    pub timeline: &'a Timeline,
    /// Every job × repository of the profile (`report --config`), with its latest
    /// outcome; empty when only --results files were named.
    pub jobs: &'a [ProfileJob],
}

/// A job × repository of the profile and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileJob {
    pub job: String,
    pub kind: String,
    pub repository: String,
    /// The latest outcome, or `None`: the job never ran on the repository.
    pub outcome: Option<String>,
    pub last_run: Option<DateTime<Utc>>,
}

/// The jobs of the profile, those that never ran first named.
fn profile_jobs(out: &mut String, jobs: &[ProfileJob]) {
    if jobs.is_empty() {
        return;
    }
    let never = jobs.iter().filter(|j| j.outcome.is_none()).count();
    let _ = write!(
        out,
        r#"<p>The profile has {} job run(s) per job × repository{}.</p><table id="profile-jobs"><tr><th>job</th><th>kind</th><th>repository</th><th>latest</th><th>when</th></tr>"#,
        jobs.len(),
        if never > 0 {
            format!(
                r#"; <strong class="v-error">{never} never ran</strong>: nothing verified them"#
            )
        } else {
            String::new()
        }
    );
    for j in jobs {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&j.job),
            escape(&j.kind),
            escape(&j.repository),
            j.outcome.as_deref().map_or_else(
                || r#"<span class="badge v-error">never ran</span>"#.to_owned(),
                badge
            ),
            when(j.last_run),
        );
    }
    out.push_str("</table>");
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d1d1d; background: #fff; margin: 0 auto; max-width: 64rem; padding: 1.5rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 .6rem; padding-top: .8rem; border-top: 2px solid #333; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p, ul { margin: .3rem 0; }
table { border-collapse: collapse; margin: .4rem 0; font-size: .9rem; }
th, td { text-align: left; padding: .2rem .7rem .2rem 0; border-bottom: 1px solid #ddd; vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
td { overflow-wrap: anywhere; }
td.num { text-align: right; }
td.when { white-space: nowrap; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .3rem; color: #fff; font-weight: 600; font-size: .85rem; }
.v-pass { background: #2e7d32; } .v-fail { background: #c62828; } .v-error { background: #e08600; } .v-unknown { background: #7b1fa2; }
.muted { color: #666; }
.finding { border-left: 4px solid #c62828; padding: .2rem .8rem; margin: .6rem 0; background: #fdf3f3; }
.finding.err { border-left-color: #e08600; background: #fff8ec; }
.finding p { margin: .2rem 0; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; word-break: break-word; background: #f5f5f5; padding: .4rem .6rem; margin: .3rem 0; font-size: .82rem; }
dl { margin: .3rem 0; } dt { font-weight: 600; } dd { margin: 0 0 .3rem 1.2rem; }
.recipe { background: #eef5ee; border-left: 3px solid #2e7d32; }
svg.chart { display: block; max-width: 100%; height: auto; margin: .3rem 0; }
nav ul { columns: 2; }
.legend span { margin-right: 1rem; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-before: page; }
  section:first-of-type h2 { break-before: auto; }
  svg.chart, .finding, tr { break-inside: avoid; }
  .badge, .finding, pre, .recipe { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  nav { display: none; }
}
"#;

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "v-pass",
        Verdict::Fail => "v-fail",
        Verdict::Error => "v-error",
        Verdict::Unknown => "v-unknown",
    }
}

fn badge(outcome: &str) -> String {
    format!(
        r#"<span class="badge {}">{}</span>"#,
        class(Verdict::parse(outcome)),
        escape(outcome)
    )
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn verdict_word(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "pass",
        Some(Verdict::Fail) => "fail",
        Some(Verdict::Error) => "error",
        Some(Verdict::Unknown) | None => "unknown",
    }
}

/// A JSON value from a record, as nested HTML (keys and strings escaped).
fn value(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Null => out.push('—'),
        Value::Bool(b) => out.push_str(if *b { "yes" } else { "no" }),
        Value::Number(n) => out.push_str(&escape(&n.to_string())),
        Value::String(s) if s.contains('\n') => {
            let _ = write!(out, "<pre>{}</pre>", escape(s));
        }
        Value::String(s) => out.push_str(&escape(s)),
        Value::Array(items) => {
            out.push_str("<ol>");
            for item in items {
                out.push_str("<li>");
                value(item, out);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
        }
        Value::Object(map) => {
            out.push_str("<dl>");
            for (k, item) in map {
                let _ = write!(out, "<dt>{}</dt><dd>", escape(k));
                value(item, out);
                out.push_str("</dd>");
            }
            out.push_str("</dl>");
        }
    }
}

/// A `damage` object: its `recipe` first (the steps to repair), then the rest.
fn damage(d: &serde_json::Value, out: &mut String) {
    let Some(map) = d.as_object() else {
        value(d, out);
        return;
    };
    if let Some(recipe) = map.get("recipe") {
        out.push_str(r#"<div class="recipe"><p><strong>Recipe</strong></p>"#);
        match recipe {
            serde_json::Value::String(s) => {
                let _ = write!(out, "<pre>{}</pre>", escape(s));
            }
            serde_json::Value::Array(steps) => {
                out.push_str("<ol>");
                for step in steps {
                    out.push_str("<li>");
                    match step.as_str() {
                        Some(s) => {
                            let _ = write!(out, "<pre>{}</pre>", escape(s));
                        }
                        None => value(step, out),
                    }
                    out.push_str("</li>");
                }
                out.push_str("</ol>");
            }
            other => value(other, out),
        }
        out.push_str("</div>");
    }
    let rest: serde_json::Map<String, serde_json::Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "recipe")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        value(&serde_json::Value::Object(rest), out);
    }
}

fn series(map: &std::collections::BTreeMap<String, Vec<Mean>>) -> Vec<(String, Vec<Option<f64>>)> {
    map.iter()
        .map(|(job, bins)| (job.clone(), bins.iter().map(Mean::value).collect()))
        .collect()
}

fn chart_or_note(out: &mut String, chart: Option<String>, note: &str) {
    match chart {
        Some(svg) => out.push_str(&svg),
        None => {
            let _ = write!(out, r#"<p class="muted">{}</p>"#, escape(note));
        }
    }
}

fn repository(out: &mut String, page: &Page<'_>, id: usize, name: &str, r: &RepoTimeline) {
    let period = &page.timeline.period;
    let _ = write!(
        out,
        r#"<section id="repo-{id}"><h2>Repository {} {}</h2>"#,
        escape(name),
        badge(verdict_word(
            r.lanes
                .values()
                .filter_map(|l| l.latest.as_ref())
                .map(|(_, o)| Verdict::parse(o))
                .max()
        ))
    );
    out.push_str("<table><tr><th>job</th><th>kind</th><th>latest</th><th>when</th><th>runs</th><th>pass</th><th>fail</th><th>error</th></tr>");
    for (job, lane) in &r.lanes {
        let (ts, outcome) = lane.latest.clone().unwrap_or((None, "unknown".to_owned()));
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape(job),
            escape(&lane.kind),
            badge(&outcome),
            when(ts),
            lane.total.total(),
            lane.total.pass,
            lane.total.fail,
            lane.total.error + lane.total.unknown
        );
    }
    out.push_str("</table>");

    out.push_str("<h3>Runs and verdicts</h3>");
    out.push_str(&svg::runs_chart(
        period,
        &r.lanes,
        &format!("Runs and verdicts on {name}"),
    ));
    out.push_str(r#"<p class="legend muted"><span style="color:#2e7d32">■ pass</span><span style="color:#c62828">■ fail</span><span style="color:#e08600">■ error (could not verify)</span><span style="color:#7b1fa2">■ other</span> Each bar is the most serious verdict of its period; hover for counts.</p>"#);

    out.push_str("<h3>Check coverage</h3>");
    let coverage: Vec<(String, Vec<Option<f64>>)> = r
        .coverage
        .iter()
        .map(|(j, v)| (j.clone(), v.clone()))
        .collect();
    chart_or_note(
        out,
        svg::line_chart(
            period,
            &coverage,
            &Axis {
                label: "Share of pack data read in the current check cycle",
                format: human::percent,
                max: Some(1.0),
            },
        ),
        "No check in this period recorded a rotation (rotate/T) or a full --read-data.",
    );
    match r.last_full_read {
        Some(t) => {
            let _ = write!(
                out,
                r#"<p>Every pack last read: <strong>{}</strong></p>"#,
                when(Some(t))
            );
        }
        None => out.push_str(
            "<p>Every pack read: <strong>never in this period</strong> (no full <code>--read-data</code> and no completed rotation cycle)</p>",
        ),
    }

    out.push_str("<h3>Restore throughput</h3>");
    chart_or_note(
        out,
        svg::line_chart(
            period,
            &series(&r.throughput),
            &Axis {
                label: "Measured restore throughput",
                format: human::rate,
                max: None,
            },
        ),
        "No restore test in this period measured a throughput.",
    );
    out.push_str("<h3>RTO estimate (full restore)</h3>");
    chart_or_note(
        out,
        svg::line_chart(
            period,
            &series(&r.rto),
            &Axis {
                label: "Estimated time to restore the whole snapshot",
                format: human::duration,
                max: None,
            },
        ),
        "No restore test in this period recorded an RTO estimate.",
    );

    problems(out, r);
    recent_runs(out, r);
}

/// The damage found and the runs that could not verify, each once with its count.
fn problems(out: &mut String, r: &RepoTimeline) {
    out.push_str("<h3>Damage found</h3>");
    if r.damage.is_empty() {
        out.push_str(r#"<p class="muted">None in this period.</p>"#);
    }
    for d in &r.damage {
        let _ = write!(
            out,
            r#"<div class="finding"><p><strong>{}</strong> · job {} · seen {} time(s), first {}, last {}</p><p>{}</p>"#,
            escape(&d.kind),
            escape(&d.job),
            d.count,
            when(d.first),
            when(d.last),
            escape(&d.detail)
        );
        if !d.lines.is_empty() {
            let _ = write!(out, "<pre>{}</pre>", escape(&d.lines.join("\n")));
        }
        if let Some(x) = &d.damage {
            damage(&x.parse(), out);
        }
        out.push_str("</div>");
    }

    out.push_str("<h3>Could not verify</h3>");
    if r.errors.is_empty() {
        out.push_str(r#"<p class="muted">No run in this period failed to verify.</p>"#);
    }
    for e in &r.errors {
        let _ = write!(
            out,
            r#"<div class="finding err"><p><strong>{}</strong> · job {} · {} time(s), first {}, last {}</p><pre>{}</pre></div>"#,
            escape(&e.category),
            escape(&e.job),
            e.count,
            when(e.first),
            when(e.last),
            escape(&e.message)
        );
    }
}

/// The repository's most recent runs, newest first, and the end of its section.
fn recent_runs(out: &mut String, r: &RepoTimeline) {
    let _ = write!(
        out,
        "<h3>Recent runs</h3><table><tr><th>when</th><th>job</th><th>kind</th><th>outcome</th><th>duration</th><th>what</th></tr>"
    );
    let mut recent: Vec<_> = r.recent.iter().collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r.ts));
    for run in recent {
        let _ = write!(
            out,
            r#"<tr><td class="when">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            when(run.ts),
            escape(&run.job),
            escape(&run.kind),
            badge(&run.outcome),
            run.duration_seconds
                .map_or_else(|| "—".to_owned(), human::duration),
            escape(&run.note)
        );
    }
    out.push_str("</table></section>");
}

/// The whole page.
pub fn render(page: &Page<'_>) -> String {
    let tl = page.timeline;
    let mut out = String::with_capacity(64 << 10);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><meta name="generator" content="restic-verify {}"><title>restic-verify report {} – {}</title><style>{STYLE}</style></head><body>"#,
        escape(crate::record::TOOL_VERSION),
        tl.period.start.format("%Y-%m-%d"),
        tl.period.end.format("%Y-%m-%d"),
    );
    let length = human::duration((tl.period.end - tl.period.start).num_seconds() as f64);
    let _ = write!(
        out,
        r#"<header><h1>restic-verify report</h1><p class="period">Period covered: <strong>{}</strong> to <strong>{}</strong> ({}{}).</p><p>{} run(s) on {} repositor{}: {} pass, {} fail, {} could not verify{}.</p><p class="muted">Generated {} by restic-verify {}. Times are UTC.</p>"#,
        when(Some(tl.period.start)),
        when(Some(tl.period.end)),
        length,
        page.since.map_or_else(String::new, |s| format!(
            ", --since {}",
            humantime::format_duration(s)
        )),
        tl.total.total(),
        tl.repos.len(),
        if tl.repos.len() == 1 { "y" } else { "ies" },
        tl.total.pass,
        tl.total.fail,
        tl.total.error,
        if tl.total.unknown > 0 {
            format!(", {} other", tl.total.unknown)
        } else {
            String::new()
        },
        when(Some(page.generated)),
        escape(crate::record::TOOL_VERSION),
    );
    out.push_str("<p>Results read:</p><ul>");
    for s in page.sources {
        let _ = write!(
            out,
            "<li><code>{}</code>: {}</li>",
            escape(&s.path),
            if s.missing {
                "does not exist yet (no run recorded)".to_owned()
            } else if s.skipped > 0 {
                format!(
                    "{} record(s), {} line(s) skipped (not records)",
                    s.records, s.skipped
                )
            } else {
                format!("{} record(s)", s.records)
            }
        );
    }
    out.push_str("</ul>");
    profile_jobs(&mut out, page.jobs);
    if tl.outside > 0 {
        let _ = write!(
            out,
            r#"<p class="muted">{} older run(s) before the period are left out.</p>"#,
            tl.outside
        );
    }
    if tl.repos.is_empty() {
        out.push_str("<p><strong>No runs recorded in this period.</strong></p>");
    } else {
        out.push_str("<nav><ul>");
        for (i, (name, r)) in tl.repos.iter().enumerate() {
            let latest = r
                .lanes
                .values()
                .filter_map(|l| l.latest.as_ref())
                .map(|(_, o)| Verdict::parse(o))
                .max();
            let _ = write!(
                out,
                r##"<li><a href="#repo-{i}">{}</a> {}</li>"##,
                escape(name),
                badge(verdict_word(latest))
            );
        }
        out.push_str("</ul></nav>");
    }
    out.push_str("</header>");
    for (i, (name, r)) in tl.repos.iter().enumerate() {
        repository(&mut out, page, i, name, r);
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes the page to `path` atomically (`state::atomic::replace`), so a reader
/// never sees half a report: 0640 with the group of the directory, never
/// world-readable (a web server reads it as a member of that group).
///
/// # Errors
/// The directory does not exist or cannot be written.
pub fn write(path: &Path, html: &str) -> Result<(), Error> {
    let dir = atomic::dir_of(path);
    if !dir.is_dir() {
        return Err(Error::ReportDirMissing {
            path: path.to_owned(),
            dir: dir.to_owned(),
        });
    }
    atomic::replace(path, html.as_bytes(), atomic::Access::DirGroup).map_err(|source| {
        Error::ReportFile {
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::timeline::{Period, Span};

    fn page_with(lines: &[&str]) -> String {
        let entries: Vec<crate::view::Entry> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("entry"))
            .collect();
        let mut span = Span::default();
        entries.iter().for_each(|e| span.add(e));
        let now = DateTime::parse_from_rfc3339("2026-01-10T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut tl = Timeline::new(Period::new(&span, None, now));
        entries.into_iter().for_each(|e| tl.add(e));
        render(&Page {
            generated: now,
            since: None,
            sources: &[Source {
                path: "/var/log/<x>.jsonl".into(),
                records: lines.len() as u64,
                skipped: 0,
                missing: false,
            }],
            timeline: &tl,
            jobs: &[],
        })
    }

    #[test]
    fn render_escapes_every_record_string_and_loads_nothing() {
        let html = page_with(&[
            r#"{"ts":"2026-01-01T00:00:00Z","job":"<script>alert(1)</script>","kind":"check","repository":"<img src=x onerror=alert(2)>","outcome":"fail","findings":[{"kind":"check_error","detail":"</pre><script>alert(3)</script>"}],"check":{"errors":["<b>x</b>"]}}"#,
        ]);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>x"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("/var/log/&lt;x&gt;.jsonl"));
        for bad in ["src=\"", "<link", "url(", "@import", "http://", "https://"] {
            // The SVG namespace is an identifier, not a resource.
            let stripped = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!stripped.contains(bad), "{bad} in the page");
        }
    }

    // See issue #24, item 9: "Every pack last read: —" when no check read them all.
    #[test]
    fn render_says_when_no_check_read_every_pack_instead_of_a_dash() {
        let html = page_with(&[
            r#"{"ts":"2026-01-01T00:00:00Z","job":"c","kind":"check","repository":"r","outcome":"pass","check":{"errors":[]}}"#,
        ]);
        assert!(!html.contains("Every pack last read: <strong>—"), "{html}");
        assert!(
            html.contains("Every pack read: <strong>never in this period</strong>"),
            "{html}"
        );
    }

    #[test]
    fn render_shows_a_damage_recipe_from_a_finding_or_the_record() {
        let html = page_with(&[
            r#"{"ts":"2026-01-01T00:00:00Z","job":"c","kind":"check","repository":"r","outcome":"fail","findings":[{"kind":"check_error","detail":"pack d8: damaged"}],"damage":{"packs":["d8"],"recipe":["restic repair packs d8","restic repair snapshots --forget"]}}"#,
            r#"{"ts":"2026-01-02T00:00:00Z","job":"a","kind":"audit","repository":"r","outcome":"fail","audit":{"files":3},"damage":{"recipe":"restic repair index"}}"#,
        ]);
        assert!(html.contains("<strong>Recipe</strong>"), "{html}");
        assert!(html.contains("<pre>restic repair packs d8</pre>"), "{html}");
        assert!(html.contains("<pre>restic repair index</pre>"), "{html}");
        assert!(html.contains("pack d8: damaged"));
    }

    #[test]
    fn write_into_a_missing_directory_names_it() {
        let e = write(Path::new("/nonexistent-dir/r.html"), "x").expect_err("missing dir");
        assert!(e.to_string().contains("/nonexistent-dir"), "{e}");
    }

    #[test]
    fn write_replaces_the_file_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("r.html");
        std::fs::write(&p, "old").expect("write");
        write(&p, "<!DOCTYPE html>new").expect("write");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "<!DOCTYPE html>new"
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
