//! The audit as a job value: the password resolved as restic would, then the
//! engine in process under the job's deadline (`audit::job::run`); no restic, no
//! cache, no lock on the repository.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::verification::{password, Plan, Ran, Reach, Verification};
use crate::audit::job::{self, AuditSettings};
use crate::record::assemble::Work;
use crate::state::JobState;

/// An audit job.
pub(super) struct Audit(pub AuditSettings);

impl Audit {
    async fn audit(&self, at: &Reach<'_>) -> Ran {
        let result = async {
            let password = password(at).await?;
            job::run(
                &self.0,
                job::Target {
                    repository: at.repo.url.clone(),
                    password,
                    env: at.creds.env.clone(),
                    options: at.repo.backend.options.clone(),
                },
                &crate::process::Limits {
                    deadline: at.deadline(),
                    cancel: at.cancel.clone(),
                    grace: at.grace,
                    hurry: at.hurry.cloned(),
                },
                at.timeout,
            )
            .await
            .map(|r| Work::Audit(Box::new(r)))
            .map_err(|e| (e.category(), at.creds.redactor.redact(&e.to_string())))
        }
        .await;
        Ran {
            result,
            restic_version: None,
        }
    }
}

impl Verification for Audit {
    fn kind(&self) -> &'static str {
        "audit"
    }

    fn plan(&self, _state: &mut JobState, _started: DateTime<Utc>) -> Plan {
        Plan::default()
    }

    fn run<'a>(&'a self, _plan: &'a mut Plan, at: Reach<'a>) -> BoxFuture<'a, Ran> {
        async move { self.audit(&at).await }.boxed()
    }
}
