//! Unit tests of profile parsing and validation.

use super::*;
use crate::credentials::PasswordSource;
use crate::restic::ReadData;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn test_env() -> Env {
    Env {
        credentials_directory: None,
        host: "testhost".into(),
        now: chrono::Local::now(),
    }
}

fn problems(text: &str) -> Vec<String> {
    match parse(text, Path::new("/etc/rv.toml"), &test_env()) {
        Ok(_) => Vec::new(),
        Err(Error::Invalid { problems, .. }) => problems.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    }
}

const MINIMAL: &str = r#"
[defaults]
password-file = "/run/pw"

[repository.nas]
url = "/mnt/nas/restic/{name}"

[job.weekly]
kind = "check"
repositories = ["nas"]
"#;

#[test]
fn parse_minimal_profile_expands_name_and_applies_defaults() {
    let p = parse(MINIMAL, Path::new("/etc/rv.toml"), &test_env()).expect("valid");
    let repo = &p.repositories["nas"];
    assert_eq!(repo.url.expose(), "/mnt/nas/restic/nas");
    assert_eq!(repo.password, PasswordSource::File("/run/pw".into()));
    assert_eq!(repo.lock_wait, DEFAULT_LOCK_WAIT);
    let job = p.job("weekly").expect("job");
    assert_eq!(job.timeout, DEFAULT_TIMEOUT);
    let JobKind::Check(opts) = &job.kind else {
        panic!("check job")
    };
    assert_eq!(opts.read_data, ReadData::None);
    assert_eq!(opts.min_snapshots, 1);
}

#[test]
fn parse_unknown_key_reports_line_column_and_nearest_key() {
    let text = MINIMAL.replace("url =", "ulr =");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("/etc/rv.toml:6:1: unknown key `ulr`; did you mean `url`?"),
        "{}",
        p[0]
    );
}

#[test]
fn parse_reports_every_problem_not_just_the_first() {
    let text = r#"
[repository.nas]
url = "/x"
password-file = "/pw"

[job.a]
kind = "check"
repositories = ["nsa"]
max-age = "two days"
read-data-subset = "6/5"

[job.b]
kind = "verify"
repositories = ["nas"]
"#;
    let p = problems(text);
    assert_eq!(p.len(), 4, "{p:#?}");
    assert!(
        p[0].contains(":8:16:") && p[0].contains("did you mean `nas`?"),
        "{}",
        p[0]
    );
    assert!(p
        .iter()
        .any(|m| m.contains(":9:11:") && m.contains("`max-age`")));
    assert!(p
        .iter()
        .any(|m| m.contains(":10:20:") && m.contains("n must be from 1 to 5")));
    assert!(p
        .iter()
        .any(|m| m.contains(":13:8:") && m.contains("not a job kind")));
}

#[test]
fn parse_collects_every_unknown_key_and_mistyped_value_in_file_order_without_echoes() {
    let text = r#"
[defaults]
smaple = 5

[repository.nas]
ulr = "/x"
url = "/x"
password-file = "/pw"

[job.a]
kind = 3
repositories = ["nas"]
min-snapshots = "two"
"#;
    let p = problems(text);
    let at: Vec<&str> = p
        .iter()
        .map(|m| m.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        at,
        [
            "/etc/rv.toml:3:1",
            "/etc/rv.toml:6:1",
            "/etc/rv.toml:11:8",
            "/etc/rv.toml:13:17"
        ],
        "{p:#?}"
    );
    assert!(
        p[0].contains("unknown key `smaple`; did you mean `sample`?"),
        "{p:?}"
    );
    assert!(
        p[2].contains("[job.a] `kind`: invalid type: integer"),
        "{p:?}"
    );
    assert!(
        p[3].contains("[job.a] `min-snapshots`: invalid type"),
        "{p:?}"
    );
    assert!(
        p.iter().all(|m| !m.contains("has no `kind`")),
        "a mistyped kind is not also missing: {p:?}"
    );
    // A misspelt inherited password is not also every repository's missing one.
    let p = problems(&MINIMAL.replace("password-file", "pasword-file"));
    assert_eq!(p.len(), 1, "{p:#?}");
}

#[test]
fn parse_rotation_without_state_dir_is_rejected() {
    let text = MINIMAL.replace(
        "repositories = [\"nas\"]",
        "repositories = [\"nas\"]\nread-data-subset = \"rotate/4\"",
    );
    let p = problems(&text);
    assert!(p.iter().any(|m| m.contains("needs `state-dir`")), "{p:?}");
}

#[test]
fn parse_job_keys_override_defaults_and_relative_paths_follow_the_profile() {
    let text = MINIMAL
        .replace("[defaults]", "[defaults]\nmax-age = \"7d\"\nresults = \"log/results.jsonl\"\nmetrics-dir = \"/prom\"")
        .replace("repositories = [\"nas\"]", "repositories = [\"nas\"]\nmax-age = \"48h\"");
    let p = parse(&text, Path::new("/etc/rv/config.toml"), &test_env()).expect("valid");
    let job = p.job("weekly").expect("job");
    let JobKind::Check(opts) = &job.kind else {
        panic!("check job")
    };
    assert_eq!(opts.max_age, Some(Duration::from_secs(48 * 3600)));
    assert_eq!(
        job.outputs.results,
        Some(PathBuf::from("/etc/rv/log/results.jsonl"))
    );
    assert_eq!(
        job.outputs.metrics,
        Some(PathBuf::from("/prom/restic-verify-weekly.prom"))
    );
}

#[test]
fn parse_repository_without_password_names_the_fix() {
    let text = MINIMAL.replace("password-file = \"/run/pw\"", "");
    let p = problems(&text);
    assert!(p[0].contains("[repository.nas] has no password"), "{p:?}");
}

#[test]
fn password_command_debug_is_redacted() {
    let text = MINIMAL.replace(
        "password-file = \"/run/pw\"",
        "password-command = \"pass show restic-s3cr3t\"",
    );
    let p = parse(&text, Path::new("/x.toml"), &test_env()).expect("valid");
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("s3cr3t"), "{dbg}");
}

#[test]
fn credentials_directory_expands_only_when_systemd_set_it() {
    let dir = Some(std::ffi::OsString::from("/run/credentials/x@y.service"));
    assert_eq!(
        expand_credentials_dir("$CREDENTIALS_DIRECTORY/restic-password", dir.clone()),
        PathBuf::from("/run/credentials/x@y.service/restic-password")
    );
    assert_eq!(
        expand_credentials_dir("${CREDENTIALS_DIRECTORY}/pw", dir),
        PathBuf::from("/run/credentials/x@y.service/pw")
    );
    assert_eq!(
        expand_credentials_dir("$CREDENTIALS_DIRECTORY/pw", None),
        PathBuf::from("$CREDENTIALS_DIRECTORY/pw")
    );
}

#[test]
fn parse_job_lock_wait_applies_to_that_job_only() {
    let text = format!(
        "{MINIMAL}\n[job.slow]\nkind = \"check\"\nrepositories = [\"nas\"]\nlock-wait = \"2h\"\n"
    );
    let p = parse(&text, Path::new("/etc/rv.toml"), &test_env()).expect("valid");
    let slow = p.job("slow").expect("slow");
    let other = p.jobs.iter().find(|j| j.name != "slow").expect("other job");
    assert_eq!(slow.lock_wait, Some(Duration::from_secs(7200)));
    assert_eq!(other.lock_wait, None);
    assert_eq!(p.repositories["nas"].lock_wait, DEFAULT_LOCK_WAIT);
}

#[test]
fn flags_go_through_the_profile_validator_and_name_the_flag() {
    use super::flags::{given, profile as from_flags, FlagProfile};
    use super::raw::{RawJob, RawRepository};
    let flags = FlagProfile {
        repository_name: "nas".into(),
        repository: RawRepository {
            url: Some(given("/srv/restic".into())),
            password_file: Some(given("/run/pw".into())),
            ..RawRepository::default()
        },
        job_name: "restore-test".into(),
        job: RawJob {
            kind: Some(given("restore-test".into())),
            sample: Some(0),
            sample_by: Some(given("weight".into())),
            max_age: Some(given("two days".into())),
            ..RawJob::default()
        },
        metrics_file: None,
    };
    let Err(Error::Flags(msg)) = from_flags(flags, &test_env()) else {
        panic!("flags accepted")
    };
    assert!(msg.contains("--sample must be at least 1"), "{msg}");
    assert!(msg.contains("--sample-by weight: use"), "{msg}");
    assert!(
        msg.contains("--max-age: `two days` is not a duration"),
        "{msg}"
    );
    assert!(
        !msg.contains("[job."),
        "profile wording in a flag message: {msg}"
    );
    // The same keys in a profile are refused with the profile's wording.
    let text = MINIMAL.replace(
        "kind = \"check\"",
        "kind = \"restore-test\"\nsample = 0\nsample-by = \"weight\"",
    );
    let p = problems(&text);
    assert!(
        p.iter()
            .any(|m| m.contains("[job.weekly] `sample` must be at least 1")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("`sample-by = \"weight\"`: use")),
        "{p:?}"
    );
}

// See issue #24, item 9: jobs ran in alphabetical order, not in the profile's.
#[test]
fn parse_keeps_the_jobs_in_the_order_the_profile_lists_them() {
    let text = format!(
        "{MINIMAL}\n[job.b-restore]\nkind = \"check\"\nrepositories = [\"nas\"]\n\n[job.a-audit]\nkind = \"check\"\nrepositories = [\"nas\"]\n"
    );
    let p = parse(&text, Path::new("/etc/rv.toml"), &test_env()).expect("valid");
    let names: Vec<&str> = p.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["weekly", "b-restore", "a-audit"]);
}
