//! `restic-verify init` against real repositories: the starter profile validates
//! and every job it wrote passes with `run`; backup sets whose sources are absent
//! get their audit and restore test commented out; restic's own environment
//! stands in for the flags; an existing profile is never overwritten without
//! `--force`; the profile is 0600 and never holds the password.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::util::{self, TestEnv, FIXTURE_PASSWORD};

/// A repository holding one snapshot of the fixture source unpacked in `env`, so
/// that the backup set's path exists on this host.
fn repo_of_local_source(env: &TestEnv) -> (PathBuf, PathBuf) {
    let source = env.source_tree();
    let repo = env.path("local-repo");
    for args in [vec!["init"], vec!["backup", "--host", "here"]] {
        let mut c = env.restic(&repo);
        c.args(&args);
        if args[0] == "backup" {
            c.arg(&source);
        }
        let out = c.output().expect("restic");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (repo, source)
}

/// `restic-verify init` writing `config.toml` with this env's paths.
fn init(env: &TestEnv) -> assert_cmd::Command {
    let mut c = env.cmd();
    c.arg("init")
        .arg("--config")
        .arg(env.path("config.toml"))
        .arg("--state-dir")
        .arg(env.path("state"))
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .arg("--metrics")
        .arg(env.dir.path());
    c
}

fn profile(env: &TestEnv) -> String {
    std::fs::read_to_string(env.path("config.toml")).expect("written profile")
}

fn validate(env: &TestEnv, config: &Path) -> String {
    let out = env
        .cmd()
        .arg("validate")
        .arg("--config")
        .arg(config)
        .output()
        .expect("validate");
    util::assert_exit(&out, 0);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn init_with_the_source_on_this_host_writes_a_profile_whose_every_job_passes() {
    let env = TestEnv::new();
    let (repo, _) = repo_of_local_source(&env);
    let out = init(&env)
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .output()
        .expect("init");
    util::assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for unit in [
        "restic-verify-check@weekly-check.timer",
        "restic-verify-audit@weekly-audit.timer",
        "restic-verify-restore-test@monthly-restore-test.timer",
    ] {
        assert!(stdout.contains(unit), "next steps lack {unit}:\n{stdout}");
    }
    let text = profile(&env);
    assert!(text.contains("read-data-subset = \"rotate/4\""), "{text}");
    validate(&env, &env.path("config.toml"));
    for (job, kind) in [
        ("weekly-check", "check"),
        ("weekly-audit", "audit"),
        ("monthly-restore-test", "restore-test"),
    ] {
        let out = env
            .cmd()
            .arg("run")
            .arg("--config")
            .arg(env.path("config.toml"))
            .arg(job)
            .output()
            .expect("run");
        util::assert_exit(&out, 0);
        let r = env.last_record();
        assert_eq!(
            (r["job"].as_str(), r["kind"].as_str()),
            (Some(job), Some(kind))
        );
        assert_eq!(r["outcome"], "pass", "{r}");
    }
}

#[test]
fn init_with_the_source_absent_comments_out_audit_and_restore_test_and_validates() {
    let env = TestEnv::new();
    let (repo, source) = repo_of_local_source(&env);
    std::fs::remove_dir_all(&source).expect("remove the source");
    let before = util::tree_digest(&repo);
    let out = init(&env)
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .output()
        .expect("init");
    util::assert_exit(&out, 0);
    // It writes only the profile: the repository is untouched (no lock), and the
    // state dir and results file it names do not exist yet.
    assert_eq!(
        util::tree_digest(&repo),
        before,
        "init changed the repository"
    );
    assert!(!env.path("state").exists() && !env.path("results.jsonl").exists());
    let text = profile(&env);
    let why = format!(
        "# Commented out: nothing to compare with, as this host lacks {}.",
        source.display()
    );
    assert!(text.contains(&why), "{text}");
    assert!(
        text.contains("\n# [job.weekly-audit]\n# kind = \"audit\""),
        "{text}"
    );
    assert!(text.contains("\n# [job.monthly-restore-test]\n"), "{text}");
    let plan = validate(&env, &env.path("config.toml"));
    assert!(plan.contains("weekly-check"), "{plan}");
    assert!(!plan.contains("weekly-audit"), "{plan}");
    assert!(!plan.contains("monthly-restore-test"), "{plan}");
}

#[test]
fn init_without_flags_uses_restics_environment_and_says_so() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let pw = env.fixture_password();
    let out = init(&env)
        .env("RESTIC_REPOSITORY", &repo)
        .env("RESTIC_PASSWORD_FILE", &pw)
        .output()
        .expect("init");
    util::assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "using restic's RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE from the environment"
        ),
        "{stderr}"
    );
    let text = profile(&env);
    assert!(
        text.contains(&format!("url = \"{}\"", repo.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("password-file = \"{}\"", pw.display())),
        "{text}"
    );
    validate(&env, &env.path("config.toml"));
}

#[test]
fn init_over_an_existing_profile_refuses_without_force_and_replaces_with_it() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    std::fs::write(env.path("config.toml"), "# mine\n").expect("write");
    let run = |force: bool| {
        let mut c = init(&env);
        c.arg("--repo")
            .arg(&repo)
            .arg("--password-file")
            .arg(env.fixture_password());
        if force {
            c.arg("--force");
        }
        c.output().expect("init")
    };
    let out = run(false);
    util::assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(profile(&env), "# mine\n");
    util::assert_exit(&run(true), 0);
    assert!(profile(&env).contains("[job.weekly-check]"));
}

#[test]
fn init_profile_is_private_and_never_holds_the_password() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let out = init(&env)
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        // restic's own variable is never read into the profile either.
        .env("RESTIC_PASSWORD", FIXTURE_PASSWORD)
        .output()
        .expect("init");
    util::assert_exit(&out, 0);
    let mode = std::fs::metadata(env.path("config.toml"))
        .expect("profile")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    let mut all = profile(&env);
    all.push_str(&String::from_utf8_lossy(&out.stdout));
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(
        !all.contains(FIXTURE_PASSWORD),
        "the password leaked:\n{all}"
    );
}
