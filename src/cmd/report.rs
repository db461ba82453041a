//! `restic-verify report --output report.html`: reads the results files twice (the
//! period first, then the bins of each chart, so memory does not follow the length
//! of the history) and writes one self-contained HTML page through `view::html`.
//!
//! The second pass reads only the bytes the first one saw, so a run appending
//! meanwhile cannot shift the period under the charts.

use chrono::Utc;

use crate::cli::ReportArgs;
use crate::cmd::inputs;
use crate::config;
use crate::error::Error;
use crate::record::Report;
use crate::view::html::{self, Page, ProfileJob, Source};
use crate::view::status::{self as hstatus, Latest};
use crate::view::timeline::{Period, Span, Timeline};

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
    let mut latest = Latest::default();
    inputs.expect_into(&mut latest);
    let mut read = Vec::new();
    for input in &inputs.files {
        let stats = inputs::read_one(input, None, true, &mut |e| {
            span.add(&e);
            if !inputs.expected.is_empty() {
                latest.add(e);
            }
        })?;
        read.push((input, stats));
    }
    // The jobs of the profile only (a job a results file names but the profile no
    // longer has is in the charts, not in this list).
    let jobs: Vec<ProfileJob> = latest
        .rows(now)
        .into_iter()
        .filter(|r| {
            inputs
                .expected
                .iter()
                .any(|x| x.job == r.job && x.repository == r.repository)
        })
        .map(|r| ProfileJob {
            outcome: (r.outcome != hstatus::NEVER_RUN).then(|| r.outcome.clone()),
            last_run: r.last_run,
            job: r.job,
            kind: r.kind,
            repository: r.repository,
        })
        .collect();
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
        jobs: &jobs,
    });
    html::write(&args.output, &page)?;
    tracing::info!(
        "wrote {} ({} on {}, {} to {})",
        args.output.display(),
        crate::escape::count(timeline.total.total(), "run", "runs"),
        crate::escape::count(timeline.repos.len() as u64, "repository", "repositories"),
        timeline.period.start.format("%Y-%m-%d %H:%M"),
        timeline.period.end.format("%Y-%m-%d %H:%M UTC")
    );
    // As `status`: a job of the profile that never ran, or no run at all, means
    // nothing was verified (exit 3), never a clean report.
    let never_ran: Vec<String> = jobs
        .iter()
        .filter(|j| j.outcome.is_none())
        .map(|j| format!("`{}` on `{}`", j.job, j.repository))
        .collect();
    if !never_ran.is_empty() {
        tracing::warn!(
            "{} job run(s) of the profile never ran: {}",
            never_ran.len(),
            never_ran.join(", ")
        );
    }
    let nothing = timeline.total.total() == 0;
    if nothing {
        tracing::warn!("no run recorded: the report verifies nothing");
    }
    Ok(Report {
        runs: Vec::new(),
        exit_override: (nothing || !never_ran.is_empty()).then_some(crate::exit::COULD_NOT_VERIFY),
    })
}
