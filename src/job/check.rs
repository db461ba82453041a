//! The check job (`check::run`: restic's snapshots and check → findings) and the
//! new-pack read (`read-data-subset = "new"`: the same check, then the packs never
//! read are read in process through `packread`, with the password restic would use)
//! as job values.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::verification::{open_restic, password, session, Plan, Ran, Reach, Verification};
use crate::check::{self, read::Access, CheckOptions};
use crate::record::assemble::Work;
use crate::restic::{CheckRead, ReadData};
use crate::state::{JobState, Rotation};

/// A check job.
pub(super) struct Check(pub CheckOptions);

/// A check job that reads the packs never read in process (`new`).
pub(super) struct NewPackRead(pub Check);

impl Check {
    async fn check(&self, plan: &mut Plan, at: &Reach<'_>, new: bool) -> Ran {
        let mut restic_version = None;
        let result = async {
            let (restic, cache) = open_restic(at, &mut restic_version).await?;
            let session = session(at, &restic, &cache);
            let access = match new {
                true => Some(Access {
                    repository: at.repo.url.clone(),
                    password: password(at).await?,
                    options: at.repo.backend.options.clone(),
                    env: at.creds.env.clone(),
                }),
                false => None,
            };
            let read = plan.read.clone().unwrap_or(CheckRead::Structure);
            check::run(
                &session,
                &self.0,
                &read,
                at.started,
                plan.ledger.as_mut(),
                access.as_ref(),
            )
            .await
            .map(|r| Work::Check(Box::new(r)))
            .map_err(|e| (e.category(), at.creds.redactor.redact(&e.to_string())))
        }
        .await;
        Ran {
            result,
            restic_version,
        }
    }
}

impl Verification for Check {
    fn kind(&self) -> &'static str {
        "check"
    }

    fn plan(&self, state: &mut JobState, started: DateTime<Utc>) -> Plan {
        let rotation = match self.0.read_data {
            ReadData::Rotate(t)
            | ReadData::New {
                rotate: Some(t), ..
            } => Some(Rotation::begin(state.rotation.take(), t, started)),
            _ => None,
        };
        Plan {
            read: Some(CheckRead::from_read_data(
                &self.0.read_data,
                rotation.as_ref().map(Rotation::group),
            )),
            seed: 0,
            rotation,
            ledger: None,
        }
    }

    fn keeps_ledger(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, plan: &'a mut Plan, at: Reach<'a>) -> BoxFuture<'a, Ran> {
        async move { self.check(plan, &at, false).await }.boxed()
    }
}

impl Verification for NewPackRead {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }

    fn plan(&self, state: &mut JobState, started: DateTime<Utc>) -> Plan {
        self.0.plan(state, started)
    }

    fn keeps_ledger(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, plan: &'a mut Plan, at: Reach<'a>) -> BoxFuture<'a, Ran> {
        async move { self.0.check(plan, &at, true).await }.boxed()
    }
}
