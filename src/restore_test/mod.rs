//! The restore-test job on one repository: pin the snapshot, sample while streaming
//! `restic ls`, set aside files that changed since the backup (and draw a bounded
//! number of replacements), restore the rest with restic into a private directory,
//! compare, classify, and say whether enough was verified (`min-verified`).
//! Pin and list (`sampling`: the snapshot and the sample, pure), then either the
//! sampled test (`sampled`: set aside, restore with the calls `call_plan` picks,
//! compare) or the full restore (`full`: every selected file in one restic call),
//! both ending in `wrap_up` (findings, floor, result).

pub mod calibrate;
pub mod call_plan;
pub mod execute;
pub mod full;
pub mod full_progress;
pub mod model;
mod sampled;
pub mod sampling;
pub mod tree;
pub mod verify;
mod wrap_up;

use model::Listing;
pub use model::{
    default_min_verified, Error, FullRestore, RestoreOptions, RestoreResult, DEFAULT_SAMPLE,
    MAX_REPLACEMENT_FACTOR,
};

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::restic::{self, json::Snapshot, Session};
use crate::rto;
use crate::source::PathMap;
use crate::zfs;

/// What the `ls` stream feeds: the seeded sampler, the tree counts for planning
/// restore calls, the snapshot's restore size and shape (files, bytes, calibration
/// subtrees for the RTO model), and the progress line. The size is summed from the
/// same stream because `restic stats` would read every tree again (about 3 s on a
/// 200,000-file snapshot); hard links count once per name here, so the figure can
/// exceed `stats`' by their size.
struct Stream {
    rng: StdRng,
    sampler: sampling::Sampler,
    tree: call_plan::Tree,
    shape: rto::probe::Shape,
    listed: crate::progress::Bar,
}

impl Stream {
    fn new(seed: u64, opts: &RestoreOptions) -> Stream {
        let mut sample = opts.sample.clone();
        if opts.is_full() {
            // Every file that passes the filters.
            sample.percent = Some(100.0);
            sample.max_bytes = None;
        }
        Stream {
            rng: StdRng::seed_from_u64(seed),
            sampler: sampling::Sampler::new(sample, opts.filter_files.clone()),
            tree: call_plan::Tree::default(),
            shape: rto::probe::Shape::default(),
            listed: crate::progress::Bar::count("listing the snapshot", "entries"),
        }
    }

    fn offer(&mut self, node: &restic::json::Node) {
        self.listed.inc(1);
        self.tree
            .record(&node.path, &node.kind, node.size.unwrap_or(0));
        self.shape
            .record(&node.path, &node.kind, node.size.unwrap_or(0));
        self.sampler.offer(node, &mut self.rng);
    }
}

/// The snapshot to test, from the listing (an unreadable snapshot file is an error).
fn pin(opts: &RestoreOptions, listed: &restic::SnapshotsOutput) -> Result<Snapshot, Error> {
    sampling::pin_snapshot(&listed.snapshots, &listed.unreadable).map_err(|e| match e {
        sampling::PinError::Unreadable(lines) => Error::SnapshotUnreadable(lines),
        sampling::PinError::NoMatch => Error::NoSnapshot(
            opts.snapshot
                .as_ref()
                .map(|s| format!(" `{s}`"))
                .unwrap_or_default(),
        ),
    })
}

/// Runs the restore test: pin and list the snapshot, find the source, then the
/// sampled test (`sampled`) or the full restore (`full`); both end in `wrap_up`.
///
/// # Errors
/// The test could not run (see `Error::category`).
pub async fn run(
    session: &Session<'_>,
    opts: &RestoreOptions,
    seed: u64,
) -> Result<RestoreResult, Error> {
    // A run killed outright (SIGKILL, the OOM killer) left its restore directory
    // behind: remove what no live run holds.
    execute::sweep(&opts.test_dir);
    let listing = list(session, opts, seed).await?;
    let snapshot = &listing.snapshot;
    let map = zfs::resolve(
        &session.cancel,
        &opts.source,
        PathMap::new(&opts.map, &snapshot.paths),
        snapshot.time.timestamp(),
        &snapshot.time.to_rfc3339(),
        snapshot.tags.as_deref().unwrap_or_default(),
    )
    .await?;
    if opts.is_full() {
        full::run(session, opts, listing, map).await
    } else {
        sampled::run(session, opts, listing, map).await
    }
}

/// Pins the snapshot once (every later call uses its full ID) and samples while
/// streaming `restic ls`.
///
/// Without an explicit ID, the listing and `ls latest` run at once (the listing
/// costs ~0.4 s of key derivation and snapshot loading); the stream is kept only
/// when restic listed the snapshot that the pin chose, else it is read again by
/// ID. The same seed gives the same sample either way: the stream is the same.
async fn list(session: &Session<'_>, opts: &RestoreOptions, seed: u64) -> Result<Listing, Error> {
    let mut stream = Stream::new(seed, opts);
    let listing = Instant::now();
    let snapshot = match &opts.snapshot {
        Some(id) => {
            let listed = session.snapshots_by_id(id).await?;
            let snapshot = pin(opts, &listed)?;
            session
                .ls(&snapshot.id, &mut |node| stream.offer(&node))
                .await?;
            snapshot
        }
        None => {
            let mut offer = |node: restic::json::Node| stream.offer(&node);
            let (listed, streamed) = tokio::join!(
                session.snapshots(&opts.filter),
                session.ls_latest(&opts.filter, &mut offer)
            );
            let snapshot = pin(opts, &listed?)?;
            let same = matches!(&streamed, Ok((_, Some(id))) if *id == snapshot.id);
            if !same {
                tracing::debug!(
                    "`restic ls latest` listed {:?}, the pin is {}: reading the pinned snapshot",
                    streamed.as_ref().ok().and_then(|(_, id)| id.clone()),
                    snapshot.short()
                );
                stream.listed.finish();
                stream = Stream::new(seed, opts);
                session
                    .ls(&snapshot.id, &mut |node| stream.offer(&node))
                    .await?;
            }
            snapshot
        }
    };
    tracing::debug!(
        "snapshot {} pinned and listed in {:.1} s",
        snapshot.short(),
        listing.elapsed().as_secs_f64()
    );
    let Stream {
        sampler,
        mut tree,
        shape,
        listed,
        ..
    } = stream;
    listed.finish();
    tree.finish();
    let (whole, probes) = shape.finish();
    let sample = sampler.finish();
    if sample.unaddressable > 0 {
        tracing::warn!(
            "{} file(s) have names that are not UTF-8; restic cannot address them for restore, so they are not sampled",
            sample.unaddressable
        );
    }
    Ok(Listing {
        snapshot,
        seed,
        sample,
        tree,
        whole,
        probes,
    })
}
