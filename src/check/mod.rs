//! The check job on one repository: `restic snapshots` (freshness, count, snapshot
//! files that cannot be loaded) and `restic check` (structure and pack data), turned
//! into findings.
//!
//! With `read-data-subset = "new"` the structural `restic check` (with a rotation
//! group for `new+rotate/T`) starts at once; meanwhile the snapshots and packs are
//! listed and the packs the ledger has never seen read are read in process
//! (`read`); their broken packs join restic's in the same damage report.
//!
//! Damage is a finding, never an `Err`: `Err` means the check could not run. The
//! freshness rules (`evaluate_snapshots`) are pure and take the clock as a parameter.

pub mod damage;
pub mod read;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::finding::{Category, Finding, FindingKind};
use crate::packread::BrokenPack;
use crate::restic::args::{ReadData, SnapshotFilter};
use crate::restic::{self, json::Snapshot, CheckRead, Session};
use crate::state::ledger::{self, Coverage, Ledger};

/// Knobs of a check job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    pub read_data: ReadData,
    /// The newest snapshot of every backup set must be younger than this.
    pub max_age: Option<Duration>,
    /// The repository must hold at least this many (matching) snapshots.
    pub min_snapshots: u32,
    pub filter: SnapshotFilter,
    /// A pack unread by a completed check for longer than this fails the run.
    pub outdated_after: Option<Duration>,
}

/// What a completed check saw.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub findings: Vec<Finding>,
    pub snapshots: u64,
    pub newest_snapshot_age: Option<Duration>,
    /// Error lines as restic printed them.
    pub errors: Vec<String>,
    pub unreadable_snapshots: Vec<String>,
    /// What is broken and what to do, when the check found damage.
    pub damage: Option<damage::Damage>,
    /// What `restic check` was asked to read (a budget picks its group here).
    pub read: CheckRead,
    /// Where pack coverage stands after this run (with a ledger).
    pub coverage: Option<Coverage>,
    /// `read-budget`: the group read and its bytes.
    pub budget: Option<Budget>,
    /// `new`: what the in-process read did.
    pub pack_read: Option<read::PackRead>,
}

/// Why a check could not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Restic(#[from] restic::Error),
    #[error(transparent)]
    Read(#[from] read::Error),
}

impl Error {
    /// The category of the run this error stops.
    pub fn category(&self) -> Category {
        match self {
            Error::Restic(e) => e.category(),
            Error::Read(read::Error::Read(e)) => e.category(),
            Error::Read(read::Error::TimedOut(_)) => Category::Timeout,
            Error::Read(read::Error::Panicked(_)) => Category::Internal,
        }
    }
}

/// What a `read-budget` run chose.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Budget {
    /// The budget, in bytes.
    pub budget_bytes: u64,
    /// The groups read (`n/t`), the ones whose packs waited longest.
    pub groups: Vec<String>,
    /// Bytes in those groups.
    pub bytes: u64,
}

/// Runs the check on one repository. `access` opens the repository in process for
/// `read-data-subset = "new"` (with a ledger).
///
/// # Errors
/// restic could not list snapshots or could not check (lock, password, network, …),
/// or the in-process read could not complete.
pub async fn run(
    session: &Session<'_>,
    opts: &CheckOptions,
    read: &CheckRead,
    now: DateTime<Utc>,
    mut ledger: Option<&mut Ledger>,
    access: Option<&read::Access>,
) -> Result<CheckResult, Error> {
    let (listed, checked, pack_read, broken, budget, read) =
        match (&opts.read_data, access, ledger.as_deref_mut()) {
            (ReadData::New { budget, rotate }, Some(access), Some(l)) => {
                let request = new_packs_request(*rotate, *budget, read);
                let (listed, checked, r, broken) =
                    check_while_reading_new(session, &opts.filter, read, access, l, request, now)
                        .await?;
                (listed, checked, Some(r), broken, None, read.clone())
            }
            (_, _, l) => {
                let listed = list(session, &opts.filter, l, now).await?;
                let (read, budget) = match (&opts.read_data, ledger.as_deref()) {
                    (ReadData::Budget(b), Some(l)) => budget_read(*b, l, now),
                    _ => (read.clone(), None),
                };
                let checked = session.check(&read).await?;
                (listed, checked, None, Vec::new(), budget, read)
            }
        };
    let read = &read;
    let (mut findings, newest) =
        evaluate_snapshots(&listed.snapshots, &listed.unreadable, opts, now);
    // The check completed (damage or not): what it read has been read.
    if let Some(l) = ledger.as_deref_mut() {
        l.mark_read(ledger_read(read), now);
    }
    let coverage = ledger.map(|l| l.coverage(now, opts.outdated_after));
    if let (Some(c), Some(window)) = (&coverage, opts.outdated_after) {
        if c.overdue_packs > 0 {
            findings.push(Finding::fail(
                FindingKind::CoverageOutdated,
                format!(
                    "{} pack(s){} have not been read by a completed check for more than {} (outdated-after); read them with `restic check --read-data`, a faster rotation or a larger read-budget",
                    c.overdue_packs,
                    c.overdue_bytes
                        .map(|b| format!(" ({b} bytes)"))
                        .unwrap_or_default(),
                    humantime::format_duration(window)
                ),
            ));
        }
    }
    if checked.found_damage() {
        let mut detail = match &checked.summary {
            Some(s) => format!("restic check found {} error(s)", s.num_errors),
            None => format!(
                "restic check found {} error(s)",
                checked.errors.len().max(1)
            ),
        };
        if let Some(first) = checked.errors.first() {
            detail.push_str(&format!(": {first}"));
        }
        if read == &CheckRead::Structure {
            detail.push_str("; run `restic check --read-data` to see which data is affected");
        }
        findings.insert(0, Finding::fail(FindingKind::CheckError, detail));
    }
    if !broken.is_empty() {
        findings.insert(
            0,
            Finding::fail(FindingKind::CheckError, read_detail(&broken)),
        );
    }
    let damage = if checked.found_damage() || !broken.is_empty() {
        Some(report_damage(session, &checked, &broken, &listed.snapshots, opts).await)
    } else {
        None
    };
    Ok(CheckResult {
        findings,
        snapshots: listed.snapshots.len() as u64,
        newest_snapshot_age: newest,
        errors: checked.errors,
        unreadable_snapshots: listed.unreadable,
        damage,
        read: read.clone(),
        coverage,
        budget,
        pack_read,
    })
}

/// `restic snapshots` and, with a ledger, the pack listing (independent calls, each
/// deriving the key: at the same time); the ledger observes the packs as they are
/// before anything reads them.
async fn list(
    session: &Session<'_>,
    filter: &SnapshotFilter,
    ledger: Option<&mut Ledger>,
    now: DateTime<Utc>,
) -> Result<restic::SnapshotsOutput, Error> {
    let want_packs = ledger.is_some();
    let (listed, packs) = tokio::join!(session.snapshots(filter), async {
        if want_packs {
            session.list_packs().await.map(Some)
        } else {
            Ok(None)
        }
    });
    let listed = listed?;
    if let (Some(l), Some(packs)) = (ledger, packs?) {
        let (added, removed) = l.observe(packs.iter().map(|(id, s)| (id.as_str(), *s)), now);
        tracing::debug!(
            repository = session.repository,
            "pack ledger: {} packs, {added} new, {removed} gone",
            l.packs.len()
        );
    }
    Ok(listed)
}

/// restic's structural check from the start, and meanwhile the listing and the
/// in-process read of the new packs (which leaves restic's rotation group to
/// restic). A listing error comes first, then the check's, as when they ran one
/// after the other; a listing error, or a read that lost the network, stops the
/// check, which would retry for many minutes.
async fn check_while_reading_new(
    session: &Session<'_>,
    filter: &SnapshotFilter,
    read: &CheckRead,
    access: &read::Access,
    ledger: &mut Ledger,
    request: read::Request,
    now: DateTime<Utc>,
) -> Result<NewRun, Error> {
    let stop_check = session.cancel.child_token();
    let check_session = Session {
        cancel: stop_check.clone(),
        hurry: session.hurry.clone(),
        ..*session
    };
    let limits = (session.deadline, session.timeout);
    let list_and_read = async {
        let listed = list(session, filter, Some(&mut *ledger), now)
            .await
            .inspect_err(|_| stop_check.cancel())?;
        let r = read::run(access, ledger, request, &session.cancel, limits, now).await;
        if matches!(&r, Err(read::Error::Read(e)) if e.category() == Category::Network) {
            stop_check.cancel();
        }
        Ok::<_, Error>((listed, r))
    };
    let (checked, listed_and_read) = tokio::join!(check_session.check(read), list_and_read);
    let (listed, outcome) = listed_and_read?;
    let outcome = match outcome {
        Err(e) if stop_check.is_cancelled() && !session.cancel.is_cancelled() => {
            return Err(e.into())
        }
        o => o,
    };
    let checked = checked?;
    let (r, broken) = outcome?;
    Ok((listed, checked, r, broken))
}

/// What a `new` run listed, checked and read.
type NewRun = (
    restic::SnapshotsOutput,
    restic::CheckOutput,
    read::PackRead,
    Vec<BrokenPack>,
);

/// What the in-process read of `read-data-subset = "new"` (or `new+rotate/T`) is
/// asked: no budget of its own in the mode's name, and restic's group to leave out.
fn new_packs_request(rotate: Option<u16>, budget: Option<u64>, read: &CheckRead) -> read::Request {
    let group = match ledger_read(read) {
        ledger::Read::Group(k, t) => Some((k, t)),
        ledger::Read::All | ledger::Read::Unknown => None,
    };
    let mode = ReadData::New {
        rotate,
        budget: None,
    };
    read::Request {
        mode: mode.to_string(),
        restic_group: group,
        budget,
    }
}

/// The finding of an in-process read that found broken packs: how many, and the
/// first with its reasons.
fn read_detail(broken: &[BrokenPack]) -> String {
    let mut detail = format!(
        "the in-process read of new packs found {} broken pack(s)",
        broken.len()
    );
    if let Some(b) = broken.first() {
        detail.push_str(&format!(": pack {}: {}", b.id, b.reason));
    }
    detail
}

/// The read of a `read-budget` run: the group whose packs waited longest, in as
/// many groups as make one group about the budget. When pack sizes are unknown
/// (not a local repository), restic's own size subset reads about the budget at
/// random, and nothing is recorded as read.
fn budget_read(budget: u64, ledger: &Ledger, now: DateTime<Utc>) -> (CheckRead, Option<Budget>) {
    match ledger.budget_group(budget, now) {
        Some((g, t, bytes)) => (
            CheckRead::Subset(format!("{g}/{t}")),
            Some(Budget {
                budget_bytes: budget,
                groups: vec![format!("{g}/{t}")],
                bytes,
            }),
        ),
        None => {
            tracing::warn!("pack sizes are unknown for this backend: reading about {budget} bytes of packs at random (restic's size subset); the ledger cannot count them as read");
            (
                CheckRead::Subset(budget.to_string()),
                Some(Budget {
                    budget_bytes: budget,
                    groups: Vec::new(),
                    bytes: 0,
                }),
            )
        }
    }
}

/// What the ledger may count as read after a completed `restic check`.
fn ledger_read(read: &CheckRead) -> ledger::Read {
    match read {
        CheckRead::All => ledger::Read::All,
        CheckRead::Subset(s) => match s.split_once('/').map(|(n, t)| (n.parse(), t.parse())) {
            Some((Ok(n), Ok(t))) => ledger::Read::Group(n, t),
            // `x%` and sizes pick packs at random: which ones is unknown.
            _ => ledger::Read::Unknown,
        },
        CheckRead::Structure => ledger::Read::Unknown,
    }
}

/// Names the broken packs, the snapshots and files that use them, and the recipe.
/// Searches every snapshot of the repository, not only those the job's filters
/// select: a broken pack can hurt any of them.
async fn report_damage(
    session: &Session<'_>,
    checked: &restic::CheckOutput,
    broken: &[BrokenPack],
    filtered: &[Snapshot],
    opts: &CheckOptions,
) -> damage::Damage {
    let summary = checked.summary.as_ref();
    let mut packs = damage::broken_packs(
        &checked.errors,
        summary.and_then(|s| s.broken_packs.as_deref()),
    );
    packs.extend(broken.iter().map(|b| b.id.clone()));
    packs.sort();
    packs.dedup();
    let mut d = damage::Damage {
        packs,
        index_damaged: damage::index_damaged(
            &checked.errors,
            summary.is_some_and(|s| s.suggest_repair_index),
        ),
        ..damage::Damage::default()
    };
    if !d.packs.is_empty() {
        let all = if opts.filter == SnapshotFilter::default() {
            Ok(filtered.to_vec())
        } else {
            session
                .snapshots(&SnapshotFilter::default())
                .await
                .map(|l| l.snapshots)
        };
        match all {
            Ok(snapshots) => {
                damage::locate(session, &d.packs.clone(), &snapshots, broken, &mut d).await;
            }
            Err(e) => d.note = Some(format!("could not list the snapshots to search: {e}")),
        }
    }
    d.recipe = damage::recipe(session.restic.version, &d);
    d
}

/// Applies `max-age` (per backup set: host + paths) and `min-snapshots`, and turns
/// unloadable snapshot files into findings. Returns the age of the newest snapshot.
pub fn evaluate_snapshots(
    snapshots: &[Snapshot],
    unreadable: &[String],
    opts: &CheckOptions,
    now: DateTime<Utc>,
) -> (Vec<Finding>, Option<Duration>) {
    let mut findings = Vec::new();
    for line in unreadable {
        findings.push(Finding::fail(
            FindingKind::SnapshotUnreadable,
            format!("a snapshot file cannot be loaded and restic silently leaves it out: {line}"),
        ));
    }
    let age = |s: &Snapshot| {
        (now - s.time.with_timezone(&Utc))
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    let newest = snapshots.iter().map(age).min();
    if (snapshots.len() as u64) < u64::from(opts.min_snapshots) {
        findings.push(Finding::fail(
            FindingKind::TooFewSnapshots,
            format!(
                "{} snapshot(s) match, fewer than min-snapshots = {}",
                snapshots.len(),
                opts.min_snapshots
            ),
        ));
    }
    if let Some(max_age) = opts.max_age {
        let mut sets: BTreeMap<(String, Vec<String>), &Snapshot> = BTreeMap::new();
        for s in snapshots {
            let e = sets.entry(s.backup_set()).or_insert(s);
            if s.time > e.time {
                *e = s;
            }
        }
        for ((host, paths), s) in sets {
            let a = age(s);
            if a > max_age {
                findings.push(Finding::fail(
                    FindingKind::SnapshotTooOld,
                    format!(
                        "newest snapshot of {host}:{} is {} old ({}, {}); max-age is {}",
                        paths.join(","),
                        humantime::format_duration(Duration::from_secs(a.as_secs())),
                        s.short(),
                        s.time.to_rfc3339(),
                        humantime::format_duration(max_age)
                    ),
                ));
            }
        }
    }
    (findings, newest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn snap(id: &str, host: &str, path: &str, hours_ago: i64, now: DateTime<Utc>) -> Snapshot {
        Snapshot {
            time: (now - chrono::Duration::hours(hours_ago)).fixed_offset(),
            tree: "t".into(),
            paths: vec![path.into()],
            hostname: host.into(),
            username: "u".into(),
            tags: None,
            id: format!("{id}00000000"),
            short_id: None,
        }
    }

    fn opts(max_age_h: Option<u64>, min: u32) -> CheckOptions {
        CheckOptions {
            read_data: ReadData::None,
            max_age: max_age_h.map(|h| Duration::from_secs(h * 3600)),
            min_snapshots: min,
            filter: SnapshotFilter::default(),
            outdated_after: None,
        }
    }

    #[test]
    fn evaluate_snapshots_flags_each_stale_backup_set_separately() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time");
        let s = vec![
            snap("aaaa", "h1", "/a", 100, now),
            snap("bbbb", "h1", "/a", 10, now),
            snap("cccc", "h2", "/b", 72, now),
        ];
        let (f, newest) = evaluate_snapshots(&s, &[], &opts(Some(48), 3), now);
        assert_eq!(newest, Some(Duration::from_secs(10 * 3600)));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, FindingKind::SnapshotTooOld);
        assert!(
            f[0].detail
                .starts_with("newest snapshot of h2:/b is 3days old (cccc0000"),
            "{}",
            f[0].detail
        );
    }

    #[test]
    fn evaluate_snapshots_with_too_few_or_none_fails() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time");
        let (f, newest) = evaluate_snapshots(&[], &[], &opts(None, 1), now);
        assert_eq!(newest, None);
        assert_eq!(f[0].kind, FindingKind::TooFewSnapshots);
        let (f, _) = evaluate_snapshots(
            &[snap("a", "h", "/a", 1, now)],
            &[],
            &opts(Some(48), 2),
            now,
        );
        assert_eq!(
            f.iter().map(|x| x.kind).collect::<Vec<_>>(),
            vec![FindingKind::TooFewSnapshots]
        );
    }

    #[test]
    fn evaluate_snapshots_reports_unloadable_snapshot_files_as_damage() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time");
        let (f, _) = evaluate_snapshots(
            &[snap("a", "h", "/a", 1, now)],
            &["could not load snapshot 1234abcd: ciphertext verification failed".into()],
            &opts(None, 1),
            now,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::SnapshotUnreadable);
    }
}
