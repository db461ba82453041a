//! The job interface: every job kind (the check, the new-pack read, the restore
//! test, the audit) is a value implementing `Verification`. A job plans its run
//! from the job's state (`plan`: what it reads, its seed, the rotation cursor it
//! moves, whether it keeps the pack ledger) and runs it on one repository with the
//! lock held and the credentials loaded (`run`), returning what it found as data
//! (`Ran`: the completed work or the error's category and message). Each job owns
//! the mapping of its errors to categories. The runner orders the side effects
//! around it (lock, credentials, record, state, outputs) without asking which kind
//! it runs; `from_config` is the one place that tells the kinds apart.
//!
//! A trait object rather than an enum of job values: the runner holds one
//! `Box<dyn Verification>` and never matches on it, and a new kind is one new file
//! and one arm in `from_config`, where an enum would need an arm in every method.

mod audit;
mod check;
mod restore;
mod verification;

pub use verification::{Plan, Ran, Reach, Verification};

use crate::config::{Job, JobKind};
use crate::restic::ReadData;

/// The job value for a configured job: the one place that tells the kinds apart.
pub fn from_config(job: &Job) -> Box<dyn Verification> {
    match &job.kind {
        JobKind::Check(opts) if matches!(opts.read_data, ReadData::New { .. }) => {
            Box::new(check::NewPackRead(check::Check(opts.clone())))
        }
        JobKind::Check(opts) => Box::new(check::Check(opts.clone())),
        JobKind::RestoreTest(opts) => Box::new(restore::RestoreTest((**opts).clone())),
        JobKind::Audit(settings) => Box::new(audit::Audit((**settings).clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restic::CheckRead;
    use crate::state::{JobState, Rotation};
    use chrono::Utc;
    use rstest::rstest;
    use std::path::Path;

    fn job(kind_keys: &str) -> Job {
        let text = format!(
            r#"
[defaults]
password-file = "/run/pw"
state-dir = "/var/lib/rv"

[repository.nas]
url = "/mnt/nas"

[job.j]
repositories = ["nas"]
{kind_keys}
"#
        );
        let env = crate::config::Env {
            credentials_directory: None,
            host: "testhost".into(),
            now: chrono::Local::now(),
        };
        let profile =
            crate::config::parse(&text, Path::new("/etc/rv.toml"), &env).expect("valid profile");
        profile.job("j").expect("job").clone()
    }

    #[rstest]
    #[case::check("kind = \"check\"", "check", true, Some(CheckRead::Structure))]
    #[case::new_packs(
        "kind = \"check\"\nread-data-subset = \"new\"",
        "check",
        true,
        Some(CheckRead::Structure)
    )]
    #[case::full_read(
        "kind = \"check\"\nread-data = true",
        "check",
        true,
        Some(CheckRead::All)
    )]
    #[case::restore(
        "kind = \"restore-test\"\nmap = [\"/src=/srv\"]",
        "restore-test",
        false,
        None
    )]
    #[case::audit("kind = \"audit\"\nmap = [\"/src=/srv\"]", "audit", false, None)]
    fn from_config_gives_each_kind_its_job_value(
        #[case] keys: &str,
        #[case] kind: &str,
        #[case] ledger: bool,
        #[case] read: Option<CheckRead>,
    ) {
        let v = from_config(&job(keys));
        assert_eq!(v.kind(), kind);
        assert_eq!(v.keeps_ledger(), ledger);
        let plan = v.plan(&mut JobState::default(), Utc::now());
        assert_eq!(plan.read, read);
        assert!(plan.rotation.is_none());
    }

    #[test]
    fn check_plan_takes_the_rotation_cursor_and_reads_its_group() {
        let v = from_config(&job("kind = \"check\"\nread-data-subset = \"rotate/4\""));
        let now = Utc::now();
        let mut cursor = Rotation::begin(None, 4, now);
        cursor.complete(now);
        cursor.complete(now);
        let mut state = JobState {
            rotation: Some(cursor),
            ..JobState::default()
        };
        let plan = v.plan(&mut state, now);
        assert!(state.rotation.is_none(), "the plan carries the cursor");
        assert_eq!(plan.rotation.expect("a rotation").group(), (3, 4));
        assert_eq!(plan.read, Some(CheckRead::Subset("3/4".into())));
    }

    #[test]
    fn restore_plan_records_the_configured_seed_and_verbose_results() {
        let v = from_config(&job(
            "kind = \"restore-test\"\nmap = [\"/src=/srv\"]\nseed = 7\nverbose-results = true",
        ));
        assert_eq!(v.plan(&mut JobState::default(), Utc::now()).seed, 7);
        assert!(v.verbose_results());
    }
}
