//! `restic-verify audit` and `kind = "audit"` jobs end to end: the real binary on
//! the fixture repositories (made by restic 0.14, read in process) and the fixture
//! source tree, with the verdict, the JSONL `audit` object and the metrics.
//! (tests/it/audit.rs drives the engine itself on repositories both restic
//! versions build.)

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;

use crate::util::{self, TestEnv};

fn audit(env: &TestEnv, repo: &Path, source: &Path) -> Command {
    let pw = env.fixture_password();
    let mut c = env.cmd();
    c.arg("audit")
        .arg("--repo")
        .arg(repo)
        .arg("--password-file")
        .arg(pw)
        .arg("--map")
        .arg(format!("/source={}", source.display()))
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .arg("--metrics")
        .arg(env.path("metrics.prom"));
    c
}

#[test]
fn audit_clean_snapshot_against_its_source_passes_with_every_file_match() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let out = audit(&env, &repo, &src).output().expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["kind"], "audit");
    assert_eq!(r["outcome"], "pass", "{r}");
    let a = &r["audit"];
    assert!(a["files_verified"].as_u64().expect("n") >= 30, "{r}");
    assert_eq!(a["counts"]["mismatch"], 0, "{r}");
    assert_eq!(a["counts"]["not_in_backup"], 0, "{r}");
    assert_eq!(a["source"], "live");
    let m = env.metrics();
    assert!(
        m.contains(
            "restic_verify_audit_files{job=\"audit\",repository=\"clean\",class=\"mismatch\"} 0\n"
        ),
        "{m}"
    );
    assert!(m.contains("restic_verify_success{job=\"audit\",repository=\"clean\"} 1\n"));
    util::promtool_check(&m);
}

#[test]
fn audit_bit_rot_in_the_source_fails_naming_the_file() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    // Flip a byte and put the mtime back: size and mtime equal, bytes differ.
    let f = src.join("docs/lorem.txt");
    let reference = env.path("mtime-ref");
    StdCommand::new("touch")
        .arg("-r")
        .arg(&f)
        .arg(&reference)
        .status()
        .expect("touch");
    let mut bytes = std::fs::read(&f).expect("read");
    bytes[10] ^= 0xff;
    std::fs::write(&f, &bytes).expect("write");
    StdCommand::new("touch")
        .arg("-r")
        .arg(&reference)
        .arg(&f)
        .status()
        .expect("touch");
    let out = audit(&env, &repo, &src).output().expect("run");
    util::assert_exit(&out, 1);
    let r = env.last_record();
    assert_eq!(r["outcome"], "fail");
    assert_eq!(r["audit"]["counts"]["mismatch"], 1, "{r}");
    let files = r["audit"]["files"].as_array().expect("files");
    assert!(
        files
            .iter()
            .any(|e| e["class"] == "mismatch" && e["path"] == "/source/docs/lorem.txt"),
        "{r}"
    );
    assert_eq!(r["findings"][0]["kind"], "audit_mismatch", "{r}");
}

#[test]
fn audit_unmounted_source_is_not_verified_never_pass() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let empty = env.path("not-mounted");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = audit(&env, &repo, &empty).output().expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["outcome"], "error");
    assert_eq!(r["error"]["category"], "not_verified", "{r}");
}

#[test]
fn audit_job_in_a_profile_runs_from_run_and_validate_shows_it() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let pw = env.fixture_password();
    let profile = env.path("config.toml");
    std::fs::write(
        &profile,
        format!(
            "[defaults]\npassword-file = \"{}\"\nresults = \"{}\"\n\n[repository.clean]\nurl = \"{}\"\n\n[job.nightly-audit]\nkind = \"audit\"\nrepositories = [\"clean\"]\nmap = [\"/source={}\"]\n",
            pw.display(),
            env.path("results.jsonl").display(),
            repo.display(),
            src.display()
        ),
    )
    .expect("profile");
    let out = env
        .cmd()
        .args(["validate", "--config"])
        .arg(&profile)
        .output()
        .expect("validate");
    util::assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("job nightly-audit (kind audit)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["job"], "nightly-audit");
    assert_eq!(r["kind"], "audit");
    assert_eq!(r["outcome"], "pass", "{r}");
}
