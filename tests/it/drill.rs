//! `restic-verify restore-test --full` (the full restore drill) against the real
//! restic: a clean snapshot matches file by file, a flipped pack byte fails naming
//! the file, a deleted source file is `source_missing`, an include subset is
//! restored by directory, too little space stops before any restore, and the test
//! dir is empty afterwards, also after SIGTERM mid-drill.

use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::restore_test::SmallFs;
use crate::util::{self, promtool_check, sample, TestEnv};

fn class_of<'a>(r: &'a Value, path: &str) -> Option<&'a str> {
    r["restore_test"]["files"]
        .as_array()?
        .iter()
        .find(|f| f["path"] == path)
        .and_then(|f| f["class"].as_str())
}

fn count(r: &Value, class: &str) -> u64 {
    r["restore_test"]["counts"][class].as_u64().unwrap_or(0)
}

#[test]
fn restore_test_full_drill_of_a_clean_snapshot_matches_every_file_and_records_the_restore() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let out = env
        .restore_test(&repo, &src)
        .args(["--full", "--verbose-results"])
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["outcome"], "pass", "{r}");
    let t = &r["restore_test"];
    // Every regular file of snapshot 3, tricky names (newline, glob characters,
    // backslash) and both names of the hard link included.
    assert_eq!(count(&r, "match"), 38, "{t}");
    assert_eq!(t["sampled"], 38);
    assert_eq!(t["verified"], 38);
    for f in t["files"].as_array().expect("files") {
        assert_eq!(f["class"], "match", "{f}");
        assert_eq!(f["restored_sha256"], f["expected_sha256"], "{f}");
    }
    for tricky in ["/source/tricky/new\nline.txt", "/source/tricky/a[b].txt"] {
        assert_eq!(class_of(&r, tricky), Some("match"), "{tricky:?}");
    }
    let full = &t["full"];
    assert!(full["seconds"].as_f64().expect("seconds") > 0.0, "{t}");
    assert_eq!(full["whole_snapshot"], true);
    assert_eq!(full["files"], 38);
    // The hard link's two names count twice (restic's `stats` counts it once: 1,836,247).
    assert_eq!(full["bytes"], 1_836_280);
    assert!(
        env.test_dir_entries().is_empty(),
        "{:?}",
        env.test_dir_entries()
    );
    let m = env.metrics();
    promtool_check(&m);
    assert!(
        sample(
            &m,
            "restic_verify_restore_test_full_restore_seconds{job=\"restore-test\",repository=\"clean\"}"
        ) > 0.0
    );
    // Without --verbose-results the matches are counted, not listed.
    let out = env
        .restore_test(&repo, &src)
        .arg("--full")
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(count(&r, "match"), 38);
    assert_eq!(r["restore_test"]["sampled"], 38);
    assert!(r["restore_test"]["files"]
        .as_array()
        .expect("files")
        .is_empty());
}

#[test]
fn restore_test_full_drill_with_a_flipped_pack_byte_fails_naming_the_file() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("flipped-byte");
    let src = env.source_tree();
    let out = env
        .restore_test(&repo, &src)
        .arg("--full")
        .output()
        .expect("run");
    util::assert_exit(&out, 1);
    let r = env.last_record();
    assert_eq!(r["outcome"], "fail");
    let class = class_of(&r, "/source/big/random-1m.bin");
    assert!(
        matches!(class, Some("restore_failed" | "mismatch")),
        "{class:?}: {r}"
    );
    // Every other file came back intact.
    assert_eq!(count(&r, "match"), 37, "{r}");
    let named = r["findings"].as_array().expect("findings").iter().any(|f| {
        f["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/source/big/random-1m.bin"))
    });
    assert!(named, "no finding names the file: {r}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("random-1m.bin")
            || String::from_utf8_lossy(&out.stderr).contains("random-1m.bin")
    );
    assert!(
        env.test_dir_entries().is_empty(),
        "{:?}",
        env.test_dir_entries()
    );
}

#[test]
fn restore_test_full_drill_deleted_source_file_is_source_missing_not_a_failure() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    std::fs::remove_file(src.join("data/b.txt")).expect("rm");
    let out = env
        .restore_test(&repo, &src)
        .arg("--full")
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(r["outcome"], "pass", "{r}");
    assert_eq!(class_of(&r, "/source/data/b.txt"), Some("source_missing"));
    assert_eq!(count(&r, "source_missing"), 1);
    assert_eq!(count(&r, "match"), 37);
    assert!(env.test_dir_entries().is_empty());
}

#[test]
fn restore_test_full_drill_of_an_include_subset_restores_directories_not_files() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let out = env
        .restore_test(&repo, &src)
        .env("RESTIC_VERIFY_LOG", "debug")
        .args([
            "--full",
            "--include",
            "/source/big/**",
            "--include",
            "/source/deep/**",
        ])
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    // big/ holds 3 files, deep/ 3.
    assert_eq!(count(&r, "match"), 6, "{r}");
    assert_eq!(r["restore_test"]["full"]["whole_snapshot"], false);
    let log = String::from_utf8_lossy(&out.stderr);
    let restores: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("running restic") && l.contains(" restore "))
        .collect();
    assert_eq!(restores.len(), 1, "one restic restore call: {restores:?}");
    // No include (the subtree or snapshot whole: cheapest here) or one per
    // directory; never one per file.
    assert!(
        restores[0].contains("(2 includes)")
            || restores[0].contains("(1 include)")
            || !restores[0].contains("include"),
        "directory includes, not file includes: {restores:?}"
    );
    assert!(env.test_dir_entries().is_empty());
}

#[test]
fn restore_test_full_drill_too_little_space_is_no_space_before_any_restore() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let small = SmallFs::mount_sized(env.path("small"), "1m");
    let out = env
        .restore_test(&repo, &src)
        .arg("--test-dir")
        .arg(&small.0)
        .env("RESTIC_VERIFY_LOG", "debug")
        .arg("--full")
        .output()
        .expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["error"]["category"], "no_space", "{r}");
    let msg = r["error"]["message"].as_str().expect("message");
    assert!(msg.contains("a full restore of snapshot"), "{msg}");
    assert!(msg.contains("needs"), "{msg}");
    assert!(msg.contains("nothing was restored"), "{msg}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.lines()
            .any(|l| l.contains("running restic") && l.contains(" restore ")),
        "a restore was started: {log}"
    );
    assert_eq!(std::fs::read_dir(&small.0).expect("ls").count(), 0);
}

#[test]
fn restore_test_full_sample_percent_100_is_planned_as_a_full_drill() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let out = env
        .restore_test(&repo, &src)
        .args(["--sample-percent", "100"])
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert_eq!(count(&r, "match"), 38, "{r}");
    assert_eq!(r["restore_test"]["full"]["whole_snapshot"], true, "{r}");
}

#[test]
fn restore_test_full_and_sample_flags_conflict() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let out = env
        .restore_test(&repo, &src)
        .args(["--full", "--sample", "5"])
        .output()
        .expect("run");
    util::assert_exit(&out, 2);
}

#[test]
fn restore_test_full_sigterm_mid_drill_leaves_nothing_and_records_interrupted() {
    let env = TestEnv::new();
    let repo = util::big_repo(&env);
    let test_dir = env.path("test-dir");
    std::fs::create_dir_all(&test_dir).expect("mkdir");
    let child = StdCommand::new(assert_cmd::cargo::cargo_bin("restic-verify"))
        .env("RESTIC_VERIFY_RESTIC", util::restic_bin())
        .arg("restore-test")
        .arg("--full")
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .arg("--test-dir")
        .arg(&test_dir)
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while !util::walk(&test_dir).iter().any(|p| p.is_file()) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the restore never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let out = child.wait_with_output().expect("wait");
    util::assert_exit(&out, 130);
    let r = util::read_jsonl(&env.path("results.jsonl"))
        .pop()
        .expect("record");
    assert_eq!(r["error"]["category"], "interrupted");
    let left: Vec<_> = std::fs::read_dir(&test_dir)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "restored data left behind: {left:?}");
    assert!(util::locks(&repo).is_empty(), "restic's lock is gone");
}
