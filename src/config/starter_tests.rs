//! Unit tests of the starter profile: it always validates, sizes the rotation to
//! the repository, and comments out what cannot run here.

use super::*;
use crate::config::{parse, Env, JobKind};
use rstest::rstest;
use std::path::Path;

fn env() -> Env {
    Env {
        credentials_directory: None,
        host: "testhost".into(),
        // A fixed time: the module is pure, its tests read no clock either.
        now: chrono::TimeZone::with_ymd_and_hms(&chrono::Local, 2026, 12, 1, 12, 0, 0)
            .single()
            .expect("a valid local time"),
    }
}

fn set(host: &str, paths: &[&str], missing: &[&str]) -> BackupSet {
    BackupSet {
        host: host.into(),
        paths: paths.iter().map(|s| (*s).to_owned()).collect(),
        snapshots: 3,
        newest: "2026-11-01T03:00:00+00:00".into(),
        missing: missing.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn input(url: &str, sets: Vec<BackupSet>) -> StarterInput {
    StarterInput {
        repository_name: "nas".into(),
        url: url.into(),
        password: PasswordRef::File("/etc/restic-verify/password".into()),
        env_file: None,
        restic: None,
        options: Vec::new(),
        state_dir: "/var/lib/restic-verify".into(),
        results: "/var/log/restic-verify/results.jsonl".into(),
        metrics_dir: "/var/lib/prometheus/node-exporter".into(),
        size: RepoSize {
            bytes: 3 << 30,
            packs: 200,
            estimated: false,
        },
        sets,
    }
}

fn kinds(text: &str) -> Vec<(String, &'static str)> {
    let p = parse(text, Path::new("/etc/restic-verify/config.toml"), &env())
        .unwrap_or_else(|e| panic!("starter profile does not validate: {e}\n{text}"));
    p.jobs
        .iter()
        .map(|j| {
            let k = match j.kind {
                JobKind::Check(_) => "check",
                JobKind::Audit(_) => "audit",
                JobKind::RestoreTest(_) => "restore-test",
            };
            (j.name.clone(), k)
        })
        .collect()
}

#[rstest]
#[case(1 << 30, 4)]
#[case(200 << 30, 8)]
#[case(5 << 40, 12)]
fn rotation_groups_grow_with_the_repository(#[case] bytes: u64, #[case] want: u32) {
    let size = RepoSize {
        bytes,
        packs: 10,
        estimated: false,
    };
    assert_eq!(rotation_groups(size).0, want);
}

#[test]
fn render_with_present_sources_validates_with_check_audit_and_restore_test() {
    let sets = vec![set("h1", &["/home"], &[]), set("h2", &["/srv/a b"], &[])];
    let plan = render(&input("/srv/restic", sets));
    let jobs = kinds(&plan.text);
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    assert_eq!(
        jobs.iter().filter(|j| j.1 == "audit").count(),
        2,
        "{jobs:?}"
    );
    assert_eq!(jobs.iter().filter(|j| j.1 == "restore-test").count(), 2);
    assert!(plan.jobs.iter().all(|j| j.enabled), "{:?}", plan.jobs);
    assert!(plan.text.contains("read-data-subset = \"rotate/4\""));
}

#[test]
fn render_with_absent_sources_comments_their_jobs_out_and_says_why() {
    let plan = render(&input(
        "/srv/restic",
        vec![set("h1", &["/nowhere"], &["/nowhere"])],
    ));
    assert_eq!(
        kinds(&plan.text),
        vec![("weekly-check".to_owned(), "check")]
    );
    assert!(plan
        .text
        .contains("# Commented out: nothing to compare with, as this host lacks /nowhere."));
    assert!(plan.text.contains("# [job.weekly-audit]"), "{}", plan.text);
    assert!(plan.text.contains("# [job.monthly-restore-test]"));
}

#[test]
fn render_for_an_sftp_repository_keeps_the_audit() {
    let plan = render(&input(
        "sftp:nas:/srv/restic",
        vec![set("h", &["/home"], &[])],
    ));
    let jobs = kinds(&plan.text);
    assert!(jobs.iter().any(|j| j.1 == "audit"), "{jobs:?}");
}

#[test]
fn render_for_a_b2_repository_comments_out_the_audit_only() {
    let plan = render(&input("b2:bucket:restic", vec![set("h", &["/home"], &[])]));
    let jobs = kinds(&plan.text);
    assert!(!jobs.iter().any(|j| j.1 == "audit"), "{jobs:?}");
    assert!(jobs.iter().any(|j| j.1 == "restore-test"), "{jobs:?}");
    assert!(plan.text.contains("cannot open this repository's backend"));
}

#[test]
fn render_of_hostile_names_stays_one_valid_profile() {
    let mut i = input(
        "/srv/\"restic\"\n",
        vec![set("h\n[job.x]", &["/a\"b\n"], &[])],
    );
    i.repository_name = "a.b".into();
    let jobs = kinds(&render(&i).text);
    assert!(!jobs.iter().any(|j| j.0 == "x"), "{jobs:?}");
    assert_eq!(jobs.len(), 3, "{jobs:?}");
}

#[test]
fn render_lists_every_notifier_type_commented_out() {
    let text = render(&input("/srv/restic", vec![])).text;
    for t in [
        "email",
        "healthchecks",
        "ntfy",
        "uptime-kuma",
        "pushgateway",
    ] {
        assert!(text.contains(&format!("# type = \"{t}\"")), "{t}");
    }
    assert!(!text.contains("\n[notify"), "{text}");
}
