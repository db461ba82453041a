//! The restore test as a job value: the sample (or full restore) restored and
//! compared (`restore_test::run`), then, where the RTO model wants them, the
//! calibration calls (`restore_test::calibrate`).

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::verification::{open_restic, session, Plan, Ran, Reach, Verification};
use crate::finding;
use crate::record::assemble::Work;
use crate::restore_test::{self, RestoreOptions};
use crate::rto;
use crate::state::JobState;

/// A restore-test job.
pub(super) struct RestoreTest(pub RestoreOptions);

impl RestoreTest {
    async fn test(&self, plan: &Plan, at: &Reach<'_>) -> Ran {
        let mut restic_version = None;
        let result = async {
            let (restic, cache) = open_restic(at, &mut restic_version).await?;
            let session = session(at, &restic, &cache);
            let mut res = restore_test::run(&session, &self.0, plan.seed)
                .await
                .map_err(|e| (e.category(), at.creds.redactor.redact(&e.to_string())))?;
            // Calibration calls for the RTO model: only where they are remembered
            // (a state dir, not a fire drill), when the remembered ones are too few
            // or too old, and after a sample that restored cleanly.
            let clean = !res.calls.iter().any(|c| c.failed)
                && finding::verdict(&res.findings) == finding::Outcome::Pass;
            if let (true, Some(remembered)) = (clean, at.calibration) {
                let version = restic.version.to_string();
                if rto::wants_calibration(remembered, &version, at.started, &res.probes) {
                    restore_test::calibrate::run(&session, &self.0.test_dir, &mut res).await;
                }
            }
            Ok(Work::Restore(Box::new(res)))
        }
        .await;
        Ran {
            result,
            restic_version,
        }
    }
}

impl Verification for RestoreTest {
    fn kind(&self) -> &'static str {
        "restore-test"
    }

    fn plan(&self, _state: &mut JobState, _started: DateTime<Utc>) -> Plan {
        Plan {
            seed: self.0.seed.unwrap_or_else(rand::random),
            ..Plan::default()
        }
    }

    fn verbose_results(&self) -> bool {
        self.0.verbose_results
    }

    fn run<'a>(&'a self, plan: &'a mut Plan, at: Reach<'a>) -> BoxFuture<'a, Ran> {
        async move { self.test(plan, &at).await }.boxed()
    }
}
