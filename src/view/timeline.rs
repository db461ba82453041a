//! A history folded into what the HTML report draws: per repository, runs and
//! verdicts per job over time, check coverage, restore throughput and the RTO
//! estimate, every distinct damage finding and error, and the most recent runs.
//!
//! Built in two passes over the files so memory does not follow their length:
//! the first (`Span`) finds the period, the second (`Timeline`) puts each record
//! into one of a fixed number of time bins. Findings are kept once per distinct
//! text, with when they were first and last seen and how often. Pure: the caller
//! passes the clock.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::{Entry, Verdict};

/// Time bins per chart: fine enough for a 700-pixel-wide chart, bounded whatever
/// the history holds.
pub const BINS: usize = 120;
/// Runs listed per repository in the "recent runs" table.
pub const RECENT: usize = 20;
/// restic error lines kept per finding.
const MAX_LINES: usize = 50;

/// What the histories span (first pass).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub records: u64,
}

impl Span {
    pub fn add(&mut self, e: &Entry) {
        self.records += 1;
        if let Some(t) = e.ts {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }
}

/// The period a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// From `now - since` (or the first record) to `now` (or the last record, if
    /// one is later than `now`). It begins at the first record, never before it;
    /// with no record at all it is the hour before `now`; a period shorter than a
    /// minute is stretched at its end.
    pub fn new(span: &Span, since: Option<std::time::Duration>, now: DateTime<Utc>) -> Period {
        let end = span.last.map_or(now, |l| l.max(now));
        let start = match (since.and_then(|s| Duration::from_std(s).ok()), span.first) {
            (Some(s), _) => now
                .checked_sub_signed(s)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            (None, Some(first)) => first,
            (None, None) => end - Duration::hours(1),
        };
        let end = end.max(start + Duration::minutes(1));
        Period { start, end }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && t <= self.end
    }

    /// Where `t` lies in the period, from 0 to 1.
    pub fn fraction(&self, t: DateTime<Utc>) -> f64 {
        let total = (self.end - self.start).num_milliseconds().max(1) as f64;
        ((t - self.start).num_milliseconds() as f64 / total).clamp(0.0, 1.0)
    }

    /// The bin of `t`.
    pub fn bin(&self, t: DateTime<Utc>) -> usize {
        ((self.fraction(t) * BINS as f64) as usize).min(BINS - 1)
    }

    /// The start of bin `i`.
    pub fn bin_start(&self, i: usize) -> DateTime<Utc> {
        let total = (self.end - self.start).num_milliseconds();
        self.start + Duration::milliseconds(total * i as i64 / BINS as i64)
    }
}

/// Runs per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    pub pass: u32,
    pub fail: u32,
    pub error: u32,
    pub unknown: u32,
}

impl VerdictCounts {
    pub fn add(&mut self, v: Verdict) {
        let n = match v {
            Verdict::Pass => &mut self.pass,
            Verdict::Fail => &mut self.fail,
            Verdict::Error => &mut self.error,
            Verdict::Unknown => &mut self.unknown,
        };
        *n = n.saturating_add(1);
    }

    pub fn total(&self) -> u64 {
        u64::from(self.pass)
            + u64::from(self.fail)
            + u64::from(self.error)
            + u64::from(self.unknown)
    }

    /// The most serious verdict counted, if any.
    pub fn worst(&self) -> Option<Verdict> {
        if self.fail > 0 {
            Some(Verdict::Fail)
        } else if self.error > 0 {
            Some(Verdict::Error)
        } else if self.unknown > 0 {
            Some(Verdict::Unknown)
        } else if self.pass > 0 {
            Some(Verdict::Pass)
        } else {
            None
        }
    }
}

/// Mean of the values that fell into a bin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    sum: f64,
    n: u32,
}

impl Mean {
    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            self.sum += x;
            self.n += 1;
        }
    }

    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }
}

/// One job's runs on a repository, per bin.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub kind: String,
    pub bins: Vec<VerdictCounts>,
    pub total: VerdictCounts,
    pub latest: Option<(Option<DateTime<Utc>>, String)>,
}

/// A finding seen in one or more runs, kept once.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    pub job: String,
    pub kind: String,
    pub detail: String,
    /// restic's error lines of the first run that reported it (check findings).
    pub lines: Vec<String>,
    /// The finding's or the record's `damage` object (with its `recipe`), as written.
    pub damage: Option<super::Raw>,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub count: u64,
}

/// An error (could not verify) seen in one or more runs, kept once.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorSeen {
    pub job: String,
    pub category: String,
    pub message: String,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub count: u64,
}

/// One line of the "recent runs" table.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLine {
    pub ts: Option<DateTime<Utc>>,
    pub job: String,
    pub kind: String,
    pub outcome: String,
    pub duration_seconds: Option<f64>,
    pub note: String,
}

/// Everything the report shows about one repository.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepoTimeline {
    pub lanes: BTreeMap<String, Lane>,
    /// Per check job: the coverage of its cycle at the last run in each bin.
    pub coverage: BTreeMap<String, Vec<Option<f64>>>,
    /// Per restore-test job: mean measured throughput per bin (bytes/s).
    pub throughput: BTreeMap<String, Vec<Mean>>,
    /// Per restore-test job: mean RTO estimate per bin (seconds).
    pub rto: BTreeMap<String, Vec<Mean>>,
    pub damage: Vec<Damage>,
    pub errors: Vec<ErrorSeen>,
    /// The most recent runs (at most `RECENT`), in no particular order.
    pub recent: VecDeque<RunLine>,
    pub last_full_read: Option<DateTime<Utc>>,
    pub total: VerdictCounts,
    damage_index: HashMap<String, usize>,
    error_index: HashMap<String, usize>,
}

/// The second pass: every record of the period, folded per repository.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub period: Period,
    pub repos: BTreeMap<String, RepoTimeline>,
    pub total: VerdictCounts,
    /// Records outside the period (left out).
    pub outside: u64,
}

impl Timeline {
    pub fn new(period: Period) -> Timeline {
        Timeline {
            period,
            repos: BTreeMap::new(),
            total: VerdictCounts::default(),
            outside: 0,
        }
    }

    /// Takes one record into account (those outside the period are counted only).
    pub fn add(&mut self, e: Entry) {
        // A record without a time (a writer's fallback line) still counts, at the end.
        let t = e.ts.unwrap_or(self.period.end);
        if !self.period.contains(t) {
            self.outside += 1;
            return;
        }
        let bin = self.period.bin(t);
        let verdict = e.verdict();
        self.total.add(verdict);
        let repo = self.repos.entry(e.repository.clone()).or_default();
        repo.total.add(verdict);
        let lane = repo.lanes.entry(e.job.clone()).or_insert_with(|| Lane {
            kind: e.kind.clone(),
            bins: vec![VerdictCounts::default(); BINS],
            total: VerdictCounts::default(),
            latest: None,
        });
        lane.bins[bin].add(verdict);
        lane.total.add(verdict);
        if lane.latest.as_ref().is_none_or(|(lt, _)| match (e.ts, lt) {
            (Some(a), Some(b)) => a >= *b,
            _ => true,
        }) {
            lane.latest = Some((e.ts, e.outcome.clone()));
        }
        if let Some(c) = e.coverage() {
            repo.coverage
                .entry(e.job.clone())
                .or_insert_with(|| vec![None; BINS])[bin] = Some(c.clamp(0.0, 1.0));
        }
        if let Some(c) = &e.check {
            repo.last_full_read = repo.last_full_read.max(c.last_full_read);
        }
        if let Some(r) = &e.restore_test {
            if let Some(x) = r.throughput_bytes_per_second {
                repo.throughput
                    .entry(e.job.clone())
                    .or_insert_with(|| vec![Mean::default(); BINS])[bin]
                    .add(x);
            }
            if let Some(x) = r.estimated_full_restore_seconds {
                repo.rto
                    .entry(e.job.clone())
                    .or_insert_with(|| vec![Mean::default(); BINS])[bin]
                    .add(x);
            }
        }
        repo.note_findings(&e);
        repo.recent.push_back(RunLine {
            ts: e.ts,
            job: e.job.clone(),
            kind: e.kind.clone(),
            outcome: e.outcome.clone(),
            duration_seconds: e.duration_seconds,
            note: note(&e),
        });
        if repo.recent.len() > RECENT {
            // Drop the oldest (files need not be in time order, e.g. several files).
            let oldest = repo
                .recent
                .iter()
                .enumerate()
                .min_by_key(|(_, r)| r.ts)
                .map_or(0, |(i, _)| i);
            repo.recent.remove(oldest);
        }
    }
}

impl RepoTimeline {
    fn note_findings(&mut self, e: &Entry) {
        let lines: Vec<String> = e
            .check
            .as_ref()
            .map(|c| c.errors.iter().take(MAX_LINES).cloned().collect())
            .unwrap_or_default();
        for f in &e.findings {
            let kind = f.kind.clone().unwrap_or_default();
            let damage = f.damage.clone().or_else(|| e.damage.clone());
            let key = format!(
                "{}\u{0}{kind}\u{0}{}\u{0}{}",
                e.job,
                f.detail,
                damage.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            let i = *self.damage_index.entry(key).or_insert_with(|| {
                self.damage.push(Damage {
                    job: e.job.clone(),
                    kind: kind.clone(),
                    detail: f.detail.clone(),
                    lines: if kind == "check_error" {
                        lines.clone()
                    } else {
                        Vec::new()
                    },
                    damage,
                    first: e.ts,
                    last: e.ts,
                    count: 0,
                });
                self.damage.len() - 1
            });
            let d = &mut self.damage[i];
            seen(&mut d.first, &mut d.last, e.ts);
            d.count += 1;
        }
        // A damage description without a finding to hang it on is shown on its own.
        if e.findings.is_empty() {
            if let Some(d) = &e.damage {
                let key = format!("{}\u{0}\u{0}\u{0}{d}", e.job);
                let i = *self.damage_index.entry(key).or_insert_with(|| {
                    self.damage.push(Damage {
                        job: e.job.clone(),
                        kind: "damage".to_owned(),
                        detail: String::new(),
                        lines: lines.clone(),
                        damage: Some(d.clone()),
                        first: e.ts,
                        last: e.ts,
                        count: 0,
                    });
                    self.damage.len() - 1
                });
                let d = &mut self.damage[i];
                seen(&mut d.first, &mut d.last, e.ts);
                d.count += 1;
            }
        }
        if let Some(err) = &e.error {
            let category = err.category.clone().unwrap_or_default();
            let key = format!("{}\u{0}{category}\u{0}{}", e.job, err.message);
            let i = *self.error_index.entry(key).or_insert_with(|| {
                self.errors.push(ErrorSeen {
                    job: e.job.clone(),
                    category,
                    message: err.message.clone(),
                    first: e.ts,
                    last: e.ts,
                    count: 0,
                });
                self.errors.len() - 1
            });
            let x = &mut self.errors[i];
            seen(&mut x.first, &mut x.last, e.ts);
            x.count += 1;
        }
    }
}

fn seen(
    first: &mut Option<DateTime<Utc>>,
    last: &mut Option<DateTime<Utc>>,
    t: Option<DateTime<Utc>>,
) {
    if let Some(t) = t {
        *first = Some(first.map_or(t, |f| f.min(t)));
        *last = Some(last.map_or(t, |l| l.max(t)));
    }
}

/// A few words on what a run did, for the "recent runs" table.
fn note(e: &Entry) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &e.check {
        if let Some(s) = &c.read_data_subset {
            parts.push(format!("read data {s}"));
        }
        if let Some(r) = e.coverage() {
            parts.push(format!("cycle {:.0}% covered", r * 100.0));
        }
        if let Some(n) = c.snapshots {
            parts.push(format!("{n} snapshot(s)"));
        }
    }
    if let Some(r) = &e.restore_test {
        if let (Some(s), Some(v)) = (r.sampled, r.verified()) {
            parts.push(format!("{v} of {s} file(s) verified"));
        }
    }
    if let Some(f) = e.findings.first() {
        parts.push(f.detail.clone());
    }
    if let Some(err) = &e.error {
        parts.push(format!(
            "{}: {}",
            err.category.as_deref().unwrap_or("error"),
            err.message
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> Entry {
        serde_json::from_str(json).expect("entry")
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn period_with_since_starts_that_long_before_now() {
        let span = Span {
            first: Some(t("2020-01-01T00:00:00Z")),
            last: Some(t("2026-01-01T00:00:00Z")),
            records: 2,
        };
        let p = Period::new(
            &span,
            Some(std::time::Duration::from_secs(86400)),
            t("2026-01-02T00:00:00Z"),
        );
        assert_eq!(p.start, t("2026-01-01T00:00:00Z"));
        assert_eq!(p.end, t("2026-01-02T00:00:00Z"));
        assert_eq!(p.bin(p.start), 0);
        assert_eq!(p.bin(p.end), BINS - 1);
        let empty = Period::new(&Span::default(), None, t("2026-01-02T00:00:00Z"));
        assert_eq!(empty.end - empty.start, Duration::hours(1));
    }

    #[test]
    fn period_without_since_begins_at_the_first_record_however_recent() {
        let span = Span {
            first: Some(t("2026-01-01T23:50:00Z")),
            last: Some(t("2026-01-01T23:55:00Z")),
            records: 2,
        };
        let p = Period::new(&span, None, t("2026-01-02T00:00:00Z"));
        assert_eq!(p.start, t("2026-01-01T23:50:00Z"));
        assert_eq!(p.end, t("2026-01-02T00:00:00Z"));
    }

    #[test]
    fn timeline_repeated_findings_are_kept_once_with_a_count() {
        let span = Span {
            first: Some(t("2026-01-01T00:00:00Z")),
            last: Some(t("2026-01-03T00:00:00Z")),
            records: 3,
        };
        let mut tl = Timeline::new(Period::new(&span, None, t("2026-01-04T00:00:00Z")));
        for day in 1..=3 {
            tl.add(entry(&format!(r#"{{"ts":"2026-01-0{day}T00:00:00Z","job":"c","kind":"check","repository":"r","outcome":"fail","findings":[{{"kind":"check_error","detail":"pack x: does not exist"}}],"check":{{"errors":["pack x: does not exist"],"rotation":{{"coverage_ratio":0.5}}}}}}"#)));
        }
        tl.add(entry(
            r#"{"ts":"2019-01-01T00:00:00Z","job":"c","repository":"r","outcome":"pass"}"#,
        ));
        let r = &tl.repos["r"];
        assert_eq!(r.damage.len(), 1);
        assert_eq!(r.damage[0].count, 3);
        assert_eq!(r.damage[0].lines, vec!["pack x: does not exist".to_owned()]);
        assert_eq!(r.damage[0].first, Some(t("2026-01-01T00:00:00Z")));
        assert_eq!(r.lanes["c"].total.fail, 3);
        assert_eq!(tl.outside, 1);
        assert_eq!(r.coverage["c"].iter().flatten().count(), 3);
    }

    #[test]
    fn timeline_recent_runs_are_bounded() {
        let mut tl = Timeline::new(Period::new(
            &Span::default(),
            None,
            t("2026-01-04T00:00:00Z"),
        ));
        for _ in 0..(RECENT + 5) {
            tl.add(entry(r#"{"job":"c","repository":"r","outcome":"pass"}"#));
        }
        assert_eq!(tl.repos["r"].recent.len(), RECENT);
        assert_eq!(tl.total.pass as usize, RECENT + 5);
    }
}
