//! The charts of the HTML report, as inline SVG written by hand (pure): a timeline
//! of runs and verdicts per job, and line charts over time (check coverage,
//! restore throughput, RTO estimate). No script, no external font: the page draws
//! the same offline, printed, and in a mail client that shows HTML.
//!
//! Every text from a record goes through `markup::escape`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::markup::escape;
use crate::view::timeline::{Lane, Period, BINS};
use crate::view::Verdict;

/// Width of every chart, in SVG user units (pixels at 100%).
pub const WIDTH: f64 = 760.0;
/// Left margin of the timeline: room for job names.
const LANE_LABEL: f64 = 170.0;
/// Left margin of the line charts: room for the y-axis labels.
const Y_LABEL: f64 = 78.0;
const RIGHT: f64 = 12.0;
/// Colours of the line series, one per job.
const PALETTE: [&str; 6] = [
    "#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#4e342e", "#ad1457",
];

/// The colour a verdict is drawn in (also used by the page's badges).
pub fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "#2e7d32",
        Verdict::Fail => "#c62828",
        Verdict::Error => "#e08600",
        Verdict::Unknown => "#7b1fa2",
    }
}

fn fmt_time(period: &Period, t: chrono::DateTime<chrono::Utc>) -> String {
    if period.end - period.start > chrono::Duration::days(3) {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// Vertical grid lines and date labels under a plot from `x0` to `x1`.
fn time_axis(s: &mut String, period: &Period, x0: f64, x1: f64, top: f64, bottom: f64) {
    let _ = write!(
        s,
        r##"<line x1="{x0}" y1="{bottom}" x2="{x1}" y2="{bottom}" stroke="#888" stroke-width="1"/>"##
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let x = x0 + f * (x1 - x0);
        let total = (period.end - period.start).num_milliseconds() as f64;
        let t = period.start + chrono::Duration::milliseconds((f * total) as i64);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#ddd" stroke-width="1"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="{anchor}" fill="#444">{}</text>"##,
            bottom + 14.0,
            escape(&fmt_time(period, t))
        );
    }
}

fn open_svg(s: &mut String, height: f64, label: &str) {
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif"><title>{}</title>"#,
        escape(label)
    );
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// One lane per job: each time bin with runs is a bar in the colour of its most
/// serious verdict, with the counts as a tooltip.
pub fn runs_chart(period: &Period, lanes: &BTreeMap<String, Lane>, label: &str) -> String {
    let lane_h = 22.0;
    let top = 6.0;
    let bottom = top + lane_h * lanes.len() as f64;
    let height = bottom + 22.0;
    let (x0, x1) = (LANE_LABEL, WIDTH - RIGHT);
    let bw = (x1 - x0) / BINS as f64;
    let mut s = String::new();
    open_svg(&mut s, height, label);
    time_axis(&mut s, period, x0, x1, top, bottom);
    for (row, (job, lane)) in lanes.iter().enumerate() {
        let y = top + lane_h * row as f64;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#222"><title>{} ({})</title>{}</text>"##,
            x0 - 8.0,
            y + 15.0,
            escape(job),
            escape(&lane.kind),
            escape(&shorten(job, 24))
        );
        let _ = write!(
            s,
            r##"<rect x="{x0}" y="{:.1}" width="{:.1}" height="16" fill="#f3f3f3"/>"##,
            y + 3.0,
            x1 - x0
        );
        for (i, tally) in lane.bins.iter().enumerate() {
            let Some(worst) = tally.worst() else { continue };
            let from = period.bin_start(i);
            let to = period.bin_start(i + 1);
            let mut tip = format!(
                "{} – {}: {} pass",
                from.format("%Y-%m-%d %H:%M"),
                to.format("%Y-%m-%d %H:%M UTC"),
                tally.pass
            );
            for (n, what) in [
                (tally.fail, "fail"),
                (tally.error, "error"),
                (tally.unknown, "other"),
            ] {
                if n > 0 {
                    let _ = write!(tip, ", {n} {what}");
                }
            }
            let _ = write!(
                s,
                r#"<rect class="run" x="{:.2}" y="{:.1}" width="{:.2}" height="16" fill="{}"><title>{}</title></rect>"#,
                x0 + bw * i as f64,
                y + 3.0,
                (bw - 0.6).max(1.0),
                verdict_color(worst),
                escape(&tip)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// How a line chart's y axis reads.
#[derive(Debug, Clone, Copy)]
pub struct Axis<'a> {
    pub label: &'a str,
    pub format: fn(f64) -> String,
    /// A fixed top (e.g. 1 for a ratio); otherwise from the data.
    pub max: Option<f64>,
}

/// `x` rounded up to 1, 2, 2.5 or 5 times a power of ten.
fn nice_ceiling(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= x {
            return m * p;
        }
    }
    10.0 * p
}

/// One line per series (a job), through the bins that have a value; a dot per
/// value with the value as a tooltip. `None` when no series has a value.
pub fn line_chart(
    period: &Period,
    series: &[(String, Vec<Option<f64>>)],
    axis: &Axis<'_>,
) -> Option<String> {
    let values = series.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let data_max = values.clone().fold(f64::NAN, f64::max);
    if data_max.is_nan() {
        return None;
    }
    let y_max = axis.max.unwrap_or_else(|| nice_ceiling(data_max * 1.05));
    let (top, bottom) = (10.0, 150.0);
    let legend = 18.0 * series.len() as f64;
    let height = bottom + 26.0 + legend;
    let (x0, x1) = (Y_LABEL, WIDTH - RIGHT);
    let bw = (x1 - x0) / BINS as f64;
    let y_of = |v: f64| bottom - (v / y_max).clamp(0.0, 1.0) * (bottom - top);
    let mut s = String::new();
    open_svg(&mut s, height, axis.label);
    time_axis(&mut s, period, x0, x1, top, bottom);
    for f in [0.0, 0.5, 1.0] {
        let y = y_of(f * y_max);
        let _ = write!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#444">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            escape(&(axis.format)(f * y_max))
        );
    }
    for (k, (name, values)) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let points: Vec<(usize, f64, f64, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, x0 + bw * (i as f64 + 0.5), y_of(v), v)))
            .collect();
        let mut d = String::new();
        for (i, (_, x, y, _)) in points.iter().enumerate() {
            let _ = write!(d, "{}{x:.1} {y:.1} ", if i == 0 { "M" } else { "L" });
        }
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            d.trim_end()
        );
        for (bin, x, y, v) in &points {
            let _ = write!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"><title>{}: {} ({})</title></circle>"#,
                escape(name),
                escape(&(axis.format)(*v)),
                escape(&fmt_time(period, period.bin_start(*bin)))
            );
        }
        let ly = bottom + 30.0 + 18.0 * k as f64;
        let _ = write!(
            s,
            r##"<rect x="{x0}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{ly:.1}" font-size="12" fill="#222">{}</text>"##,
            ly - 6.0,
            x0 + 20.0,
            escape(name)
        );
    }
    s.push_str("</svg>");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::timeline::{Span, VerdictCounts};

    fn period() -> Period {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&chrono::Utc)
        };
        Period::new(
            &Span {
                first: Some(t("2026-01-01T00:00:00Z")),
                last: Some(t("2026-01-10T00:00:00Z")),
                records: 2,
            },
            None,
            t("2026-01-10T00:00:00Z"),
        )
    }

    #[test]
    fn runs_chart_escapes_job_names_and_draws_a_bar_per_bin_with_runs() {
        let mut bins = vec![VerdictCounts::default(); BINS];
        bins[3].add(Verdict::Fail);
        bins[7].add(Verdict::Pass);
        let lanes = BTreeMap::from([(
            "<script>alert(1)</script>".to_owned(),
            Lane {
                kind: "check".into(),
                bins,
                total: VerdictCounts::default(),
                latest: None,
            },
        )]);
        let svg = runs_chart(&period(), &lanes, "runs");
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert_eq!(svg.matches(r#"class="run""#).count(), 2);
        assert!(svg.contains(verdict_color(Verdict::Fail)));
    }

    #[test]
    fn line_chart_without_values_is_none_and_with_values_draws_a_path_and_dots() {
        let axis = Axis {
            label: "coverage",
            format: |v| format!("{:.0}%", v * 100.0),
            max: Some(1.0),
        };
        assert!(line_chart(&period(), &[("c".into(), vec![None; BINS])], &axis).is_none());
        let mut v = vec![None; BINS];
        v[0] = Some(0.25);
        v[50] = Some(0.5);
        let svg = line_chart(&period(), &[("c".into(), v)], &axis).expect("chart");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("<path d=\"M"), "{svg}");
        assert!(svg.contains("100%"), "{svg}");
    }

    #[test]
    fn nice_ceiling_rounds_up_to_a_readable_value() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(170.0), 200.0);
        assert_eq!(nice_ceiling(2.2e6), 2.5e6);
    }
}
