//! Cron schedules: parsing and normalisation into the `cron` crate's form, and the
//! pure `next_fire` (a schedule and a clock in, a time out).
//!
//! Accepted: the 5-field crontab form (`0 3 * * 0`), a 6-field form with seconds
//! first, and `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`. Day-of-week uses
//! crontab numbering in both forms (0 or 7 = Sunday), which this module rewrites to
//! names because the `cron` crate counts 1 = Sunday. Times are wall-clock times in
//! a time zone: a time that a DST change skips fires at the end of the gap, a time
//! that it repeats fires once (at its first occurrence). Nothing here reads the
//! clock or sleeps; the daemon loop (`cmd/daemon.rs`) does that.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};

/// A parsed schedule, with the expression as the user wrote it.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    inner: cron::Schedule,
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.expr)
    }
}

const HELP: &str = "use 5 fields (minute hour day-of-month month day-of-week, e.g. `0 3 * * 0` for Sundays at 03:00), 6 fields with seconds first, or @daily/@weekly/@monthly";

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Parses a cron expression.
///
/// # Errors
/// A message naming the expression and what is wrong with it.
pub fn parse(expr: &str) -> Result<Schedule, String> {
    let trimmed = expr.trim();
    let expanded = match trimmed.to_ascii_lowercase().as_str() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        s if s.starts_with('@') => {
            return Err(format!("`{trimmed}` is not a known shorthand; {HELP}"));
        }
        _ => trimmed,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let (sec, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        n => {
            return Err(format!(
                "cron expression `{trimmed}` has {n} field{}, not 5 (minute hour day-of-month month day-of-week) or 6 (seconds first); {HELP}",
                if n == 1 { "" } else { "s" }
            ))
        }
    };
    let (min, hour, dom, month, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);
    for (field, name, lo, hi) in [
        (sec, "second", 0, 59),
        (min, "minute", 0, 59),
        (hour, "hour", 0, 23),
        (dom, "day of month", 1, 31),
        (month, "month", 1, 12),
    ] {
        check_field(field, name, lo, hi).map_err(|m| format!("{m} in schedule `{trimmed}`"))?;
    }
    let restricted = |f: &str| f != "*" && f != "?";
    if restricted(dom) && restricted(dow) {
        return Err(format!(
            "cron expression `{trimmed}` restricts both day-of-month (`{dom}`) and day-of-week (`{dow}`); crontab runs on either, other cron dialects only on both: keep one of them `*`"
        ));
    }
    let dow = if restricted(dow) {
        normalize_dow(dow).map_err(|m| format!("{m} in schedule `{trimmed}`"))?
    } else {
        "*".to_owned()
    };
    let dom = if dom == "?" { "*" } else { dom };
    let six = format!("{sec} {min} {hour} {dom} {month} {dow}");
    let inner = cron::Schedule::from_str(&six).map_err(|e| {
        // The crate's message quotes its own 6-field form; keep only its reason.
        let e = e.to_string();
        let reason = e.lines().last().unwrap_or_default().trim().to_owned();
        format!("cron expression `{trimmed}` is invalid: {reason}; {HELP}")
    })?;
    Ok(Schedule {
        expr: trimmed.to_owned(),
        inner,
    })
}

/// Checks the numbers of one field (lists, ranges, steps) against its range, so
/// that the message quotes the field as the user wrote it. Names (months) are left
/// to the `cron` crate.
fn check_field(field: &str, name: &str, lo: u32, hi: u32) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(s) = step {
            if !s.parse::<u32>().is_ok_and(|n| n > 0) {
                return Err(format!(
                    "{name} `{field}`: step `{s}` is not a positive number"
                ));
            }
        }
        for end in range.split('-') {
            if let Ok(n) = end.parse::<u32>() {
                if !(lo..=hi).contains(&n) {
                    return Err(format!("{name} `{n}` is out of range {lo}–{hi}"));
                }
            }
        }
    }
    Ok(())
}

/// Rewrites a crontab day-of-week field (0-7, names, ranges, lists, steps) to a
/// list of day names, which the `cron` crate reads without numbering questions.
fn normalize_dow(field: &str) -> Result<String, String> {
    let day = |s: &str| -> Result<u32, String> {
        if let Ok(n) = s.parse::<u32>() {
            return if n <= 7 {
                Ok(n % 7)
            } else {
                Err(format!(
                    "day of week `{s}` is out of range 0–7 (0 and 7 = Sunday)"
                ))
            };
        }
        DAY_NAMES
            .iter()
            .position(|d| d.eq_ignore_ascii_case(s) || full_day(d).eq_ignore_ascii_case(s))
            .map(|i| i as u32)
            .ok_or_else(|| format!("day of week `{s}` is not a day (0–7 or Sun..Sat)"))
    };
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("step `{s}` is not a positive number"))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            _ if range == "*" => (0, 6),
            Some((a, b)) => {
                // 7 on the right means Sunday at the end of the week: 5-7 = Fri..Sun.
                let hi = if b.trim() == "7" { 7 } else { day(b)? };
                let lo = day(a)?;
                if lo > hi {
                    return Err(format!("range `{range}` runs backwards"));
                }
                (lo, hi)
            }
            None if step > 1 => (day(range)?, 6),
            None => {
                let d = day(range)?;
                (d, d)
            }
        };
        let mut d = lo;
        while d <= hi {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    Ok(DAY_NAMES
        .iter()
        .zip(days)
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(","))
}

fn full_day(short: &str) -> &'static str {
    match short {
        "Sun" => "Sunday",
        "Mon" => "Monday",
        "Tue" => "Tuesday",
        "Wed" => "Wednesday",
        "Thu" => "Thursday",
        "Fri" => "Friday",
        _ => "Saturday",
    }
}

/// How far candidates are searched before a schedule counts as never firing again.
const MAX_CANDIDATES: usize = 200_000;

/// The first fire time strictly after `after`, in `after`'s time zone; `None` when
/// the schedule never fires again (e.g. `0 0 30 2 *`).
///
/// Wall-clock semantics: the schedule is evaluated on local times; a local time in a
/// DST gap fires at the first valid minute after the gap, and a local time that
/// occurs twice fires at its first occurrence only.
pub fn next_fire<Tz: TimeZone>(s: &Schedule, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
    let tz = after.timezone();
    let local = after.naive_local();
    // Iterate local wall-clock times by treating them as UTC (which has no DST).
    let start = Utc.from_utc_datetime(&local);
    for candidate in s.inner.after(&start).take(MAX_CANDIDATES) {
        let Some(t) = resolve(&tz, candidate.naive_utc()) else {
            continue;
        };
        if t > *after {
            return Some(t);
        }
    }
    None
}

/// The instant of a local wall-clock time (see `next_fire` for gaps and repeats).
fn resolve<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(first, _) => Some(first),
        LocalResult::None => (1..=24 * 60).find_map(|m| {
            match tz.from_local_datetime(&(local + chrono::Duration::minutes(m))) {
                LocalResult::Single(t) => Some(t),
                LocalResult::Ambiguous(first, _) => Some(first),
                LocalResult::None => None,
            }
        }),
    }
}

/// The next `n` fire times after `after`.
pub fn upcoming<Tz: TimeZone>(s: &Schedule, after: &DateTime<Tz>, n: usize) -> Vec<DateTime<Tz>> {
    let mut out = Vec::with_capacity(n);
    let mut t = after.clone();
    while out.len() < n {
        match next_fire(s, &t) {
            Some(next) => {
                t = next.clone();
                out.push(next);
            }
            None => break,
        }
    }
    out
}

/// The shortest interval between the next few fire times after `from` (what a
/// jitter must stay below), or `None` when the schedule fires fewer than twice.
pub fn shortest_interval<Tz: TimeZone>(s: &Schedule, from: &DateTime<Tz>) -> Option<Duration> {
    upcoming(s, from, 24)
        .windows(2)
        .filter_map(|w| (w[1].clone() - w[0].clone()).to_std().ok())
        .min()
}

/// Whether a fire time passed while nothing ran: the schedule fired after the last
/// recorded run and at or before `now` (systemd's `Persistent=true`). A job that
/// never ran has nothing to catch up.
pub fn missed<Tz: TimeZone>(
    s: &Schedule,
    last_run: Option<&DateTime<Tz>>,
    now: &DateTime<Tz>,
) -> Option<DateTime<Tz>> {
    let next = next_fire(s, last_run?)?;
    (next <= *now).then_some(next)
}

/// A random start delay below `jitter` (systemd's `RandomizedDelaySec`).
pub fn jitter_delay<R: rand::Rng + ?Sized>(jitter: Duration, rng: &mut R) -> Duration {
    // Nanoseconds, so that a jitter below a millisecond is not an empty range.
    let max = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
    if max == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.random_range(0..max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;
    use rand::SeedableRng;
    use rstest::rstest;

    #[test]
    fn jitter_delay_below_a_millisecond_and_huge_jitters_do_not_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let tiny = Duration::from_micros(500);
        assert!(jitter_delay(tiny, &mut rng) < tiny);
        assert_eq!(jitter_delay(Duration::ZERO, &mut rng), Duration::ZERO);
        let huge = Duration::from_secs(u64::MAX);
        assert!(jitter_delay(huge, &mut rng) < huge);
    }

    fn berlin(s: &str) -> DateTime<chrono_tz::Tz> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        Berlin.from_local_datetime(&naive).earliest().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fmt<Tz: TimeZone>(t: &DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        t.format("%Y-%m-%d %H:%M:%S %:z").to_string()
    }

    #[rstest]
    // Sunday 2026-11-22 03:00 local; Monday after.
    #[case("0 3 * * 0", "2026-11-23 10:00:00", "2026-11-29 03:00:00 +01:00")]
    #[case("0 3 * * 7", "2026-11-23 10:00:00", "2026-11-29 03:00:00 +01:00")]
    #[case("0 3 * * sun", "2026-11-23 10:00:00", "2026-11-29 03:00:00 +01:00")]
    #[case("0 3 * * 1-5", "2026-11-28 10:00:00", "2026-11-30 03:00:00 +01:00")]
    #[case("0 3 * * 5-7", "2026-11-23 10:00:00", "2026-11-27 03:00:00 +01:00")]
    #[case("30 0 3 * * 1", "2026-11-23 10:00:00", "2026-11-30 03:00:30 +01:00")]
    #[case("@daily", "2026-11-23 10:00:00", "2026-11-24 00:00:00 +01:00")]
    #[case("@weekly", "2026-11-23 10:00:00", "2026-11-29 00:00:00 +01:00")]
    #[case("@monthly", "2026-11-23 10:00:00", "2026-12-01 00:00:00 +01:00")]
    // Month ends: the 31st skips months without one; Feb 29 waits for a leap year.
    #[case("0 4 31 * *", "2026-04-01 00:00:00", "2026-05-31 04:00:00 +02:00")]
    #[case("0 4 31 * *", "2026-01-31 05:00:00", "2026-03-31 04:00:00 +02:00")]
    #[case("0 0 29 2 *", "2026-03-01 00:00:00", "2028-02-29 00:00:00 +01:00")]
    #[case("0 0 1 * *", "2026-12-31 23:59:59", "2027-01-01 00:00:00 +01:00")]
    fn next_fire_in_berlin(#[case] expr: &str, #[case] after: &str, #[case] want: &str) {
        let s = parse(expr).unwrap();
        assert_eq!(fmt(&next_fire(&s, &berlin(after)).unwrap()), want);
    }

    #[test]
    fn next_fire_skipped_by_spring_forward_runs_at_end_of_gap() {
        // 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST.
        let s = parse("30 2 * * *").unwrap();
        let t = next_fire(&s, &berlin("2026-03-29 01:00:00")).unwrap();
        assert_eq!(fmt(&t), "2026-03-29 03:00:00 +02:00");
        // And the next day it is back at 02:30.
        let t2 = next_fire(&s, &t).unwrap();
        assert_eq!(fmt(&t2), "2026-03-30 02:30:00 +02:00");
    }

    #[test]
    fn next_fire_in_repeated_hour_fires_once() {
        // 2026-10-25: Berlin goes back from 03:00 CEST to 02:00 CET; 02:30 happens twice.
        let s = parse("30 2 * * *").unwrap();
        let first = next_fire(&s, &berlin("2026-10-25 01:00:00")).unwrap();
        assert_eq!(fmt(&first), "2026-10-25 02:30:00 +02:00");
        let second = next_fire(&s, &first).unwrap();
        assert_eq!(fmt(&second), "2026-10-26 02:30:00 +01:00");
        // Asked from inside the second pass, it does not fire again that day either.
        let inside = Berlin
            .from_local_datetime(
                &NaiveDateTime::parse_from_str("2026-10-25 02:10:00", "%Y-%m-%d %H:%M:%S").unwrap(),
            )
            .latest()
            .unwrap();
        assert_eq!(
            fmt(&next_fire(&s, &inside).unwrap()),
            "2026-10-26 02:30:00 +01:00"
        );
    }

    #[test]
    fn next_fire_keeps_local_time_across_dst_in_utc() {
        let s = parse("0 3 * * *").unwrap();
        let before = next_fire(&s, &berlin("2026-10-23 12:00:00")).unwrap();
        let after = next_fire(&s, &berlin("2026-10-25 12:00:00")).unwrap();
        assert_eq!(
            before.with_timezone(&Utc).to_rfc3339(),
            "2026-10-24T01:00:00+00:00"
        );
        assert_eq!(
            after.with_timezone(&Utc).to_rfc3339(),
            "2026-10-26T02:00:00+00:00"
        );
    }

    #[test]
    fn next_fire_of_impossible_date_is_none() {
        let s = parse("0 0 30 2 *").unwrap();
        assert!(next_fire(&s, &utc("2026-01-01T00:00:00Z")).is_none());
    }

    #[test]
    fn next_fire_is_strictly_after() {
        let s = parse("*/5 * * * * *").unwrap();
        let t = utc("2026-01-01T00:00:05Z");
        assert_eq!(next_fire(&s, &t).unwrap(), utc("2026-01-01T00:00:10Z"));
    }

    #[rstest]
    #[case("0 3 * *", "has 4 fields")]
    #[case("0 3 * * * * *", "has 7 fields")]
    #[case("@fortnightly", "not a known shorthand")]
    #[case("0 3 1 * 1", "restricts both")]
    #[case("0 3 * * 8", "out of range")]
    #[case("0 3 * * funday", "not a day")]
    #[case("0 3 * * 5-1", "runs backwards")]
    #[case(
        "61 3 * * *",
        "minute `61` is out of range 0–59 in schedule `61 3 * * *`"
    )]
    #[case(
        "0 25 * * 0",
        "hour `25` is out of range 0–23 in schedule `0 25 * * 0`"
    )]
    #[case(
        "0 3 0 * *",
        "day of month `0` is out of range 1–31 in schedule `0 3 0 * *`"
    )]
    #[case("0 3 1-32 * *", "day of month `32` is out of range 1–31")]
    #[case(
        "0 3 * 13 *",
        "month `13` is out of range 1–12 in schedule `0 3 * 13 *`"
    )]
    #[case(
        "0 3 * * 8",
        "day of week `8` is out of range 0–7 (0 and 7 = Sunday) in schedule `0 3 * * 8`"
    )]
    #[case("60 0 3 * * *", "second `60` is out of range 0–59")]
    #[case("*/0 3 * * *", "minute `*/0`: step `0` is not a positive number")]
    #[case("0 3 * * 1,2,30", "day of week `30` is out of range 0–7")]
    fn parse_rejects_with_reason(#[case] expr: &str, #[case] reason: &str) {
        let e = parse(expr).unwrap_err();
        assert!(e.contains(reason), "{e}");
        assert!(e.contains(expr.trim()), "{e}");
    }

    #[rstest]
    #[case("1-5", "Mon,Tue,Wed,Thu,Fri")]
    #[case("0", "Sun")]
    #[case("7", "Sun")]
    #[case("*/2", "Sun,Tue,Thu,Sat")]
    #[case("1/3", "Mon,Thu")]
    #[case("sat,SUN", "Sun,Sat")]
    #[case("Monday-wed", "Mon,Tue,Wed")]
    fn normalize_dow_uses_crontab_numbering(#[case] field: &str, #[case] want: &str) {
        assert_eq!(normalize_dow(field).unwrap(), want);
    }

    #[test]
    fn upcoming_and_shortest_interval() {
        let s = parse("0 3 * * 0").unwrap();
        let from = utc("2026-11-23T00:00:00Z");
        let next = upcoming(&s, &from, 5);
        assert_eq!(next.len(), 5);
        assert_eq!(next[0], utc("2026-11-29T03:00:00Z"));
        assert_eq!(next[4], utc("2026-12-27T03:00:00Z"));
        assert_eq!(
            shortest_interval(&s, &from),
            Some(Duration::from_secs(7 * 86400))
        );
        let monthly = parse("@monthly").unwrap();
        assert_eq!(
            shortest_interval(&monthly, &from),
            Some(Duration::from_secs(28 * 86400))
        );
    }

    #[test]
    fn missed_only_when_a_fire_passed_since_last_run() {
        let s = parse("0 3 * * *").unwrap();
        let now = utc("2026-11-23T12:00:00Z");
        assert_eq!(
            missed(&s, Some(&utc("2026-11-22T03:05:00Z")), &now),
            Some(utc("2026-11-23T03:00:00Z"))
        );
        assert_eq!(missed(&s, Some(&utc("2026-11-23T03:00:10Z")), &now), None);
        assert_eq!(missed::<Utc>(&s, None, &now), None);
    }

    #[test]
    fn jitter_delay_stays_below_jitter_and_is_seeded() {
        let mut a = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = rand::rngs::StdRng::seed_from_u64(1);
        let j = Duration::from_secs(1800);
        for _ in 0..1000 {
            let d = jitter_delay(j, &mut a);
            assert!(d < j);
            assert_eq!(d, jitter_delay(j, &mut b));
        }
        assert_eq!(jitter_delay(Duration::ZERO, &mut a), Duration::ZERO);
    }
}
