//! The check job's in-process read (`read-data-subset = "new"`): which packs to read
//! (`plan`, pure: the packs of the index the ledger has never seen read, oldest
//! first, up to the budget, leaving out the rotation group restic reads this run),
//! the read through `packread` under the job's deadline and cancellation, and the
//! ledger marks for what was read. Broken packs are data for the damage report; a
//! read that did not finish marks nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::packread::{self, BrokenPack, PackInfo};
use crate::secret::Secret;
use crate::state::ledger::{self, Ledger};

/// Where the reader opens the repository (the URL as restic takes it) and the
/// resolved password. No `Debug` beyond the redacted `Secret`s.
#[derive(Debug, Clone)]
pub struct Access {
    pub repository: Secret,
    pub password: Secret,
    /// The env file's variables and restic's `-o` options (object store
    /// credentials, `s3.region`, …: see `crate::backend`).
    pub env: Vec<(String, Secret)>,
    pub options: Vec<(String, String)>,
}

impl Access {
    /// Where `crate::backend` opens the repository.
    pub fn location(&self) -> crate::backend::Location {
        crate::backend::Location {
            env: self.env.clone(),
            options: self.options.clone(),
            ..crate::backend::Location::new(self.repository.clone())
        }
    }
}

/// The record's `check.read`: what the in-process read did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackRead {
    /// `new` or `new+rotate/T`.
    pub mode: String,
    pub reader: String,
    /// Packs read (verified or found broken) and their bytes.
    pub packs: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Of them, broken.
    pub broken: u64,
    /// Never-read packs the budget left for the next run, and their bytes.
    pub left_packs: u64,
    pub left_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_bytes: Option<u64>,
}

/// The packs a run reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Full IDs, oldest first.
    pub read: Vec<String>,
    pub bytes: u64,
    /// Never-read packs left for later by the budget, and their bytes.
    pub left_packs: u64,
    pub left_bytes: u64,
}

/// Chooses the packs to read: those of the index that the ledger has never seen
/// read (a pack the ledger does not know counts as new: the listing did not show
/// it, so reading finds it missing), except the ones in `restic_group` (`k/T`,
/// which restic reads this run); oldest first (first seen, then ID); with a budget,
/// as many as fit, in that order; the oldest is read even when it alone is larger,
/// so a small budget never stalls.
pub fn plan(
    indexed: &[PackInfo],
    ledger: &Ledger,
    restic_group: Option<(u16, u16)>,
    budget: Option<u64>,
) -> Plan {
    let mut new: Vec<(i64, &PackInfo)> = indexed
        .iter()
        .filter(|p| restic_group.is_none_or(|(k, t)| ledger::group_of(&p.id, t) != Some(k)))
        .filter_map(|p| match ledger.get(&p.id) {
            Some(l) if l.read.is_some() => None,
            Some(l) => Some((l.seen, p)),
            None => Some((i64::MAX, p)),
        })
        .collect();
    new.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    let mut out = Plan::default();
    for (_, p) in new {
        let fits = budget.is_none_or(|b| out.read.is_empty() || out.bytes + p.size <= b);
        if fits && out.left_packs == 0 {
            out.read.push(p.id.clone());
            out.bytes += p.size;
        } else {
            out.left_packs += 1;
            out.left_bytes += p.size;
        }
    }
    out
}

/// What a run asks of the in-process read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `new` or `new+rotate/T`, for the record.
    pub mode: String,
    /// The rotation group restic reads this run (`k`, `T`): left to restic.
    pub restic_group: Option<(u16, u16)>,
    /// `read-budget`, in bytes.
    pub budget: Option<u64>,
}

/// Why the in-process read did not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] packread::Error),
    #[error("the in-process read of new packs did not finish within the job's timeout of {}; no pack of it is recorded as read", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error("the in-process pack reader ended abnormally: {0}")]
    Panicked(String),
}

/// Reads the packs `plan` chooses, marks them read in the ledger, and returns what
/// the read did with the broken packs.
///
/// # Errors
/// The repository could not be opened, the network failed, the deadline passed or
/// the run was cancelled: nothing is marked read then.
pub async fn run(
    access: &Access,
    ledger: &mut Ledger,
    request: Request,
    cancel: &CancellationToken,
    deadline: (tokio::time::Instant, Duration),
    now: DateTime<Utc>,
) -> Result<(PackRead, Vec<BrokenPack>), Error> {
    let Request {
        mode,
        restic_group,
        budget,
    } = request;
    let stop = cancel.child_token();
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline.0).await;
            stop.cancel();
        })
    };
    let access = access.clone();
    let snapshot = ledger.clone();
    let token = stop.clone();
    let result = tokio::task::spawn_blocking(move || {
        let packs = packread::open_at(&access.location(), &access.password)?;
        let chosen = plan(&packs.indexed(), &snapshot, restic_group, budget);
        tracing::info!(
            "reading {} new pack(s) ({} bytes) in process; {} left for later",
            chosen.read.len(),
            chosen.bytes,
            chosen.left_packs
        );
        let outcome = packs.read(&chosen.read, packread::default_workers(), &token)?;
        Ok::<_, packread::Error>((chosen, outcome))
    })
    .await;
    timer.abort();
    let (chosen, outcome) = match result {
        Ok(Ok(r)) => r,
        Ok(Err(packread::Error::Stopped { .. })) if !cancel.is_cancelled() => {
            return Err(Error::TimedOut(deadline.1))
        }
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => return Err(Error::Panicked(e.to_string())),
    };
    ledger.mark_packs_read(outcome.read.iter().map(String::as_str), now);
    let read = PackRead {
        mode,
        reader: packread::READER.to_owned(),
        packs: outcome.read.len() as u64,
        bytes: outcome.bytes,
        seconds: outcome.seconds,
        broken: outcome.broken.len() as u64,
        left_packs: chosen.left_packs,
        left_bytes: chosen.left_bytes,
        budget_bytes: budget,
    };
    Ok((read, outcome.broken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, size: u64) -> PackInfo {
        PackInfo {
            id: id.repeat(64 / id.len()),
            size,
            present: true,
        }
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).expect("time")
    }

    /// Packs 00…, 01…, 02…, 03… seen at 40, 10, 30, 20; 03… already read.
    fn setup() -> (Vec<PackInfo>, Ledger) {
        let packs: Vec<PackInfo> = ["00", "01", "02", "03"]
            .iter()
            .map(|p| info(p, 100))
            .collect();
        let mut l = Ledger::default();
        for (p, seen) in packs.iter().zip([40, 10, 30, 20]) {
            let pack = ledger::Pack {
                seen,
                read: None,
                size: Some(p.size),
            };
            l.packs.insert(p.id[..16].to_owned(), pack);
        }
        l.mark_packs_read([packs[3].id.as_str()], at(50));
        (packs, l)
    }

    #[test]
    fn plan_reads_the_never_read_packs_oldest_first() {
        let (packs, l) = setup();
        let p = plan(&packs, &l, None, None);
        let firsts: Vec<&str> = p.read.iter().map(|id| &id[..2]).collect();
        assert_eq!(firsts, ["01", "02", "00"]);
        assert_eq!((p.bytes, p.left_packs), (300, 0));
    }

    #[test]
    fn plan_with_a_budget_reads_the_oldest_and_counts_the_rest() {
        let (packs, l) = setup();
        let p = plan(&packs, &l, None, Some(250));
        let firsts: Vec<&str> = p.read.iter().map(|id| &id[..2]).collect();
        assert_eq!(firsts, ["01", "02"]);
        assert_eq!((p.left_packs, p.left_bytes), (1, 100));
        // A budget below one pack still reads the oldest.
        assert_eq!(plan(&packs, &l, None, Some(1)).read.len(), 1);
    }

    #[test]
    fn plan_leaves_restics_rotation_group_and_reads_packs_the_ledger_lacks() {
        let (mut packs, l) = setup();
        // Group 2 of 2 holds odd first bytes (01, 03): restic reads those.
        let p = plan(&packs, &l, Some((2, 2)), None);
        let firsts: Vec<&str> = p.read.iter().map(|id| &id[..2]).collect();
        assert_eq!(firsts, ["02", "00"]);
        packs.push(info("04", 7));
        let p = plan(&packs, &l, None, None);
        assert_eq!(
            p.read.last().map(|id| &id[..2]),
            Some("04"),
            "unknown = newest"
        );
    }
}
