//! Command line and profile handling: bad input gets a clear error and exit 2,
//! `validate` prints the plan, `run` runs a profile's jobs, shipped profiles parse.

use crate::util::{self, promtool_check, sample, TestEnv};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_documents_exit_codes() {
    let env = TestEnv::new();
    let out = env.cmd().arg("--help").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    for code in [
        "0    every job ran and passed",
        "1    verification failed",
        "2    usage",
        "3    could not verify",
        "130  interrupted",
    ] {
        assert!(text.contains(code), "{code} missing from --help:\n{text}");
    }
}

#[test]
fn check_read_data_subset_out_of_range_is_usage_error() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    for (spec, want) in [
        ("0/5", "n must be from 1 to 5"),
        ("6/5", "n must be from 1 to 5"),
        ("rotate/300", "T must be from 1 to 256"),
        ("1/300", "t must be from 1 to 256"),
    ] {
        let out = env
            .check(&repo)
            .args(["--read-data-subset", spec])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{spec}");
        assert!(stderr(&out).contains(want), "{spec}: {}", stderr(&out));
    }
    assert!(
        !env.path("results.jsonl").exists(),
        "nothing was attempted, nothing recorded"
    );
}

#[test]
fn check_unparsable_duration_is_usage_error() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "check",
            "--repo",
            "/x",
            "--password-file",
            "/p",
            "--max-age",
            "two days",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--max-age: `two days` is not a duration"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_rotation_without_state_dir_is_usage_error() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args([
            "check",
            "--repo",
            "/x",
            "--password-file",
            "/p",
            "--read-data-subset",
            "rotate/4",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs --state-dir"));
}

#[test]
fn check_results_in_missing_directory_is_config_error_before_touching_the_repository() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let out = env
        .check(&repo)
        .arg("--results")
        .arg(env.path("nodir/results.jsonl"))
        .output()
        .expect("run");
    util::assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("directory")
            && stderr(&out).contains("nodir")
            && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
    // The metrics file still records the error.
    let m = std::fs::read_to_string(env.path("metrics.prom")).expect("metrics");
    assert_eq!(
        sample(
            &m,
            "restic_verify_error{job=\"check\",repository=\"clean\",category=\"config\"}"
        ),
        1.0
    );
}

#[test]
fn check_results_in_unwritable_directory_is_config_error() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    // /proc refuses new files even to root.
    let out = env
        .check(&repo)
        .args(["--results", "/proc/restic-verify-results.jsonl"])
        .output()
        .expect("run");
    util::assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("/proc/restic-verify-results.jsonl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_metrics_dir_missing_is_config_error() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let out = env
        .check(&repo)
        .arg("--metrics")
        .arg(env.path("nope/m.prom"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("metrics directory"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.last_record()["error"]["category"], "config");
}

fn write_profile(env: &TestEnv, body: &str) -> std::path::PathBuf {
    let p = env.path("config.toml");
    std::fs::write(&p, body).expect("write profile");
    p
}

#[test]
fn validate_malformed_profile_reports_file_line_column_and_nearest_key() {
    let env = TestEnv::new();
    let p = write_profile(&env, "[defaults]\npasword-file = \"/pw\"\n\n[repository.a]\nurl = \"/r\"\n\n[job.j]\nkind = \"check\"\nrepositories = [\"a\"]\n");
    let out = env
        .cmd()
        .arg("validate")
        .arg("--config")
        .arg(&p)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains(&format!(
            "{}:2:1: unknown key `pasword-file`; did you mean `password-file`?",
            p.display()
        )),
        "{e}"
    );
}

#[test]
fn run_with_missing_profile_names_the_file() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["run", "--config", "/nonexistent/rv.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read profile /nonexistent/rv.toml"));
}

fn two_repo_profile(env: &TestEnv) -> std::path::PathBuf {
    env.fixture_repo("clean");
    env.fixture_repo("missing-pack");
    let pw = env.fixture_password();
    std::fs::create_dir_all(env.path("prom")).expect("mkdir");
    write_profile(
        env,
        &format!(
            r#"
[defaults]
password-file = "{pw}"
results = "results.jsonl"
metrics-dir = "prom"
state-dir = "state"

[repository.clean]
url = "repos/{{name}}"

[repository.missing-pack]
url = "repos/{{name}}"
password-command = "cat {pw}"

[job.weekly]
kind = "check"
repositories = ["clean", "missing-pack"]
read-data-subset = "rotate/12"
min-snapshots = 3

[job.quick]
kind = "check"
repositories = ["clean"]
"#,
            pw = pw.display()
        ),
    )
}

#[test]
fn run_profile_job_checks_every_repository_and_most_serious_outcome_wins() {
    let env = TestEnv::new();
    let p = two_repo_profile(&env);
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&p)
        .arg("weekly")
        .output()
        .expect("run");
    util::assert_exit(&out, 1);
    let recs = env.records();
    let got: Vec<(&str, &str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r["job"].as_str().unwrap_or(""),
                r["repository"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("weekly", "clean", "pass"),
            ("weekly", "missing-pack", "fail")
        ]
    );
    assert_eq!(recs[0]["check"]["read_data_subset"], "1/12");
    let m = std::fs::read_to_string(env.path("prom/restic-verify-weekly.prom")).expect("metrics");
    promtool_check(&m);
    assert_eq!(
        sample(
            &m,
            "restic_verify_success{job=\"weekly\",repository=\"clean\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "restic_verify_success{job=\"weekly\",repository=\"missing-pack\"}"
        ),
        0.0
    );
    assert!(
        !env.path("prom/restic-verify-quick.prom").exists(),
        "only the named job ran"
    );
}

#[test]
/// The known jobs are listed in the order the profile defines them (issue #24).
fn run_unknown_job_is_usage_error_listing_known_jobs() {
    let env = TestEnv::new();
    let p = two_repo_profile(&env);
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&p)
        .arg("weekley")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown job `weekley`") && stderr(&out).contains("weekly, quick"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn validate_prints_plan_with_secrets_redacted_and_touches_nothing() {
    let env = TestEnv::new();
    let p = two_repo_profile(&env);
    let before = util::locks(&env.path("repos/clean")).len();
    let out = env
        .cmd()
        .env("RESTIC_VERIFY_RESTIC", "/nonexistent/restic")
        .arg("validate")
        .arg("--config")
        .arg(&p)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("job weekly (kind check) on clean, missing-pack"),
        "{plan}"
    );
    assert!(
        plan.contains("restic check --read-data-subset=k/12"),
        "{plan}"
    );
    assert!(plan.contains("password: command [redacted]"), "{plan}");
    assert!(!plan.contains("cat "), "password command shown: {plan}");
    assert!(!env.path("results.jsonl").exists());
    assert_eq!(util::locks(&env.path("repos/clean")).len(), before);
}

#[test]
fn validate_shows_the_full_drill_and_the_verification_floor() {
    let env = TestEnv::new();
    env.fixture_repo("clean");
    let pw = env.fixture_password();
    let p = write_profile(
        &env,
        &format!(
            r#"
[defaults]
password-file = "{pw}"
results = "results.jsonl"

[repository.clean]
url = "repos/clean"

[job.drill]
kind = "restore-test"
repositories = ["clean"]
full = true

[job.sampled]
kind = "restore-test"
repositories = ["clean"]
sample = 10
min-verified = 7

[job.defaulted]
kind = "restore-test"
repositories = ["clean"]
"#,
            pw = pw.display()
        ),
    );
    let out = env
        .cmd()
        .arg("validate")
        .arg("--config")
        .arg(&p)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let plan = String::from_utf8_lossy(&out.stdout);
    let job = |name: &str| {
        let start = plan.find(&format!("job {name} ")).expect("job shown");
        let rest = &plan[start + 4..];
        rest[..rest.find("\njob ").unwrap_or(rest.len())].to_owned()
    };
    assert!(job("drill").contains("full drill"), "{plan}");
    assert!(!job("sampled").contains("full drill"), "{plan}");
    assert!(
        job("sampled").contains("--include <sampled files>"),
        "{plan}"
    );
    assert!(
        job("sampled").contains("at least 7 file(s) restored and compared"),
        "{plan}"
    );
    assert!(
        job("defaulted").contains("at least half the files drawn, at least 1"),
        "{plan}"
    );
}

#[test]
fn shipped_profiles_all_validate() {
    let dir = util::manifest_dir().join("profiles");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("profiles/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            n += 1;
            let env = TestEnv::new();
            let out = env
                .cmd()
                .arg("validate")
                .arg("--config")
                .arg(&path)
                .output()
                .expect("run");
            // Examples name their password files under $CREDENTIALS_DIRECTORY (as the
            // shipped units do), which is unset here: validate says it cannot look.
            let err = stderr(&out);
            assert!(out.status.code() == Some(0), "{}: {err}", path.display(),);
        }
    }
    assert!(n >= 2, "expected at least two shipped profiles, found {n}");
    // See: issue #24, item 5: the audit had no example profile.
    let audit = std::fs::read_to_string(dir.join("audit.toml")).expect("profiles/audit.toml");
    assert!(audit.contains("kind = \"audit\""), "{audit}");
}

#[test]
fn run_profile_restore_test_job_uses_its_profile_keys() {
    let env = TestEnv::new();
    env.fixture_repo("clean");
    let src = env.source_tree();
    let pw = env.fixture_password();
    std::fs::create_dir_all(env.path("prom")).expect("mkdir");
    std::fs::create_dir_all(env.path("tests")).expect("mkdir");
    let p = write_profile(
        &env,
        &format!(
            r#"
[defaults]
password-file = "{pw}"
results = "results.jsonl"
metrics-dir = "prom"

[repository.clean]
url = "repos/{{name}}"

[job.monthly-restore]
kind = "restore-test"
repositories = ["clean"]
sample = 3
seed = 11
sample-by = "bytes"
max-bytes = "2M"
exclude = ["/source/tricky/**"]
always = ["/source/data/a.txt"]
map = ["/source={src}"]
test-dir = "tests"
verbose-results = true
"#,
            pw = pw.display(),
            src = src.display()
        ),
    );
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["job"], "monthly-restore");
    assert_eq!(r["restore_test"]["seed"], 11);
    let files: Vec<&str> = r["restore_test"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(files.len(), 4, "3 sampled + 1 always: {files:?}");
    assert!(files.contains(&"/source/data/a.txt"));
    assert!(
        !files.iter().any(|f| f.starts_with("/source/tricky/")),
        "{files:?}"
    );
    assert_eq!(std::fs::read_dir(env.path("tests")).expect("ls").count(), 0);
    let m = std::fs::read_to_string(env.path("prom/restic-verify-monthly-restore.prom"))
        .expect("metrics");
    promtool_check(&m);
    assert_eq!(sample(&m, "restic_verify_restore_test_files{job=\"monthly-restore\",repository=\"clean\",class=\"match\"}"), 4.0);
}

#[test]
fn check_repository_from_repo_file_or_environment_passes() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let file = env.path("repo-url");
    std::fs::write(&file, format!("{}\n", repo.display())).expect("write");
    let pw = env.fixture_password();
    let out = env
        .cmd()
        .args(["check", "--repo-file"])
        .arg(&file)
        .arg("--password-file")
        .arg(&pw)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let out = env
        .cmd()
        .env("RESTIC_VERIFY_REPOSITORY", &repo)
        .args(["check", "--password-file"])
        .arg(&pw)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let out = env
        .cmd()
        .args(["check", "--password-file"])
        .arg(&pw)
        .output()
        .expect("run");
    util::assert_exit(&out, 2);
    assert!(stderr(&out).contains("--repo"), "{}", stderr(&out));
}

#[test]
fn check_credentials_in_a_repo_file_url_appear_nowhere() {
    let env = TestEnv::new();
    let secret = "s3cretPassw0rd";
    let file = env.path("repo-url");
    std::fs::write(
        &file,
        format!("rest:http://backup:{secret}@127.0.0.1:1/nas\n"),
    )
    .expect("write");
    let pw = env.fixture_password();
    let out = env
        .cmd()
        .args(["-v", "check", "--repo-file"])
        .arg(&file)
        .arg("--password-file")
        .arg(&pw)
        .args(["--retries", "0", "--timeout", "20s", "--results"])
        .arg(env.path("results.jsonl"))
        .arg("--metrics")
        .arg(env.path("metrics.prom"))
        .output()
        .expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["error"]["category"], "network", "{r}");
    assert_eq!(r["repository"], "nas");
    let everything = format!(
        "{}{}{}{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(env.path("results.jsonl")).expect("jsonl"),
        std::fs::read_to_string(env.path("metrics.prom")).expect("prom"),
    );
    assert!(!everything.contains(secret), "secret leaked:\n{everything}");
}
