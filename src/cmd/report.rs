//! `restic-verify report --output report.html`: reads the results files twice (the
//! period first, then the bins of each chart, so memory does not follow the length
//! of the history) and writes one self-contained HTML page through `report::html`.
//!
//! The second pass reads only the bytes the first one saw, so a run appending
//! meanwhile cannot shift the period under the charts.

use chrono::Utc;

use crate::cli::ReportArgs;
use crate::cmd::inputs;
use crate::config;
use crate::error::Error;
use crate::history::timeline::{Period, Span, Timeline};
use crate::report::html::{self, Page, Source};
use crate::report::Report;

/// Writes the report.
///
/// # Errors
/// A results file is missing or unreadable, `--since` is not a duration, the
/// profile is invalid (exit 2), or the report cannot be written (exit 3).
pub fn run(args: ReportArgs) -> Result<Report, Error> {
    let since = args
        .since
        .as_deref()
        .map(config::parse_duration)
        .transpose()
        .map_err(|e| Error::Usage(format!("--since: {e}")))?;
    let inputs = inputs::resolve(&args.history)?;
    let now = Utc::now();
    let mut span = Span::default();
    let mut read = Vec::new();
    for input in &inputs.files {
        let stats = inputs::read_one(input, None, true, &mut |e| span.add(&e))?;
        read.push((input, stats));
    }
    let mut timeline = Timeline::new(Period::new(&span, since, now));
    let mut sources = Vec::new();
    for (input, stats) in read {
        if let Some(stats) = &stats {
            inputs::read_one(input, Some(stats.bytes), false, &mut |e| timeline.add(e))?;
        }
        sources.push(Source {
            path: input.path.display().to_string(),
            records: stats.as_ref().map_or(0, |s| s.records),
            skipped: stats.as_ref().map_or(0, |s| s.skipped),
            missing: stats.is_none(),
        });
    }
    let page = html::render(&Page {
        generated: now,
        since,
        sources: &sources,
        timeline: &timeline,
    });
    html::write(&args.output, &page)?;
    tracing::info!(
        "wrote {} ({} runs on {} repositories, {} to {})",
        args.output.display(),
        timeline.total.total(),
        timeline.repos.len(),
        timeline.period.start.format("%Y-%m-%d %H:%M"),
        timeline.period.end.format("%Y-%m-%d %H:%M UTC")
    );
    Ok(Report::default())
}
