//! The global `--json`: `check`, `restore-test`, `audit`, `run`, `drill`,
//! `validate` and `status` print only JSON on stdout (every line parses; the runs'
//! lines are the JSONL records), with the exit codes of the text output.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, TestEnv};

/// Every line of stdout, parsed; panics on text or an empty stdout.
fn json_lines(out: &std::process::Output) -> Vec<Value> {
    let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8");
    assert!(
        !stdout.trim().is_empty(),
        "nothing on stdout; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "stdout line is not JSON ({e}): {l:?}\nstdout:\n{stdout}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        })
        .collect()
}

/// A profile with a check, a restore test and an audit of the clean fixture.
fn profile(env: &TestEnv, source: &Path) -> PathBuf {
    let path = env.path("profile.toml");
    std::fs::create_dir_all(env.path("test-dir")).expect("mkdir");
    std::fs::write(
        &path,
        format!(
            r#"[defaults]
password-file = "{pw}"
results = "{results}"
test-dir = "{test_dir}"

[repository.clean]
url = "{clean}"

[job.weekly-check]
kind = "check"
repositories = ["clean"]
schedule = "0 3 * * 0"

[job.monthly-restore]
kind = "restore-test"
repositories = ["clean"]
sample = 5
map = ["/source={source}"]

[job.nightly-audit]
kind = "audit"
repositories = ["clean"]
map = ["/source={source}"]
"#,
            pw = env.fixture_password().display(),
            results = env.path("profile.jsonl").display(),
            test_dir = env.path("test-dir").display(),
            clean = env.fixture_repo("clean").display(),
            source = source.display(),
        ),
    )
    .expect("profile");
    path
}

#[test]
fn json_of_one_off_runs_is_the_jsonl_record_and_nothing_else() {
    let env = TestEnv::new();
    let clean = env.fixture_repo("clean");
    let source = env.source_tree();
    let mut seen = 0;
    let runs: [(&str, assert_cmd::Command, i32); 4] = [
        ("check", env.check(&clean), 0),
        ("restore-test", env.restore_test(&clean, &source), 0),
        (
            "audit",
            {
                let mut c = env.cmd();
                c.arg("audit")
                    .arg("--repo")
                    .arg(&clean)
                    .arg("--password-file")
                    .arg(env.fixture_password())
                    .arg("--map")
                    .arg(format!("/source={}", source.display()))
                    .arg("--results")
                    .arg(env.path("results.jsonl"));
                c
            },
            0,
        ),
        (
            "damaged check",
            {
                let mut c = env.check(&env.fixture_repo("flipped-byte"));
                c.arg("--read-data");
                c
            },
            1,
        ),
    ];
    for (what, mut cmd, code) in runs {
        // Text logs and JSON logs alike: stdout holds only the records.
        for log_format in ["text", "json"] {
            let out = cmd
                .args(["--json", "--log-format", log_format])
                .output()
                .expect("run");
            util::assert_exit(&out, code);
            let lines = json_lines(&out);
            assert_eq!(lines.len(), 1, "{what}: {lines:#?}");
            let records = env.records();
            seen += 1;
            assert_eq!(records.len(), seen, "{what}");
            assert_eq!(lines[0], records[seen - 1], "{what}: not the JSONL record");
            assert_eq!(lines[0]["v"], 1, "{what}");
            // The run's summary stays on stderr; with JSON logs, as a JSON line.
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("PASS") || stderr.contains("FAIL"),
                "{what}: {stderr}"
            );
            if log_format == "json" {
                for l in stderr.lines().filter(|l| !l.trim().is_empty()) {
                    assert!(
                        serde_json::from_str::<Value>(l).is_ok(),
                        "{what}: a text line among JSON logs: {l:?}\n{stderr}"
                    );
                }
            }
        }
    }
}

#[test]
fn json_of_run_and_drill_prints_one_record_per_line() {
    let env = TestEnv::new();
    let source = env.source_tree();
    let profile = profile(&env, &source);
    let out = env
        .cmd()
        .arg("--json")
        .args(["run", "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let lines = json_lines(&out);
    let records = util::read_jsonl(&env.path("profile.jsonl"));
    assert_eq!(lines, records);
    let jobs: Vec<&str> = lines.iter().filter_map(|l| l["job"].as_str()).collect();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    for job in ["weekly-check", "monthly-restore", "nightly-audit"] {
        assert!(jobs.contains(&job), "{job} missing from {jobs:?}");
    }

    let out = env
        .cmd()
        .args(["drill", "--json", "--config"])
        .arg(&profile)
        .arg("weekly-check")
        .output()
        .expect("drill");
    util::assert_exit(&out, 1);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["drill"], true, "{}", lines[0]);
    assert_eq!(lines[0]["outcome"], "fail", "{}", lines[0]);

    // status: the rows, on one line, with the status exit code.
    let out = env
        .cmd()
        .args(["--json", "status", "--config"])
        .arg(&profile)
        .output()
        .expect("status");
    util::assert_exit(&out, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].as_array().map(Vec::len), Some(3), "{}", lines[0]);
}

#[test]
fn validate_json_prints_the_plan_redacted_or_every_problem() {
    let env = TestEnv::new();
    let source = env.source_tree();
    let path = profile(&env, &source);
    // A URL with credentials, to see them redacted.
    let text = std::fs::read_to_string(&path).expect("read")
        + "\n[repository.remote]\nurl = \"rest:https://alice:hunter2secret@backup.example:8000/photos\"\n\n[job.remote-check]\nkind = \"check\"\nrepositories = [\"remote\"]\n";
    std::fs::write(&path, text).expect("write");
    let out = env
        .cmd()
        .args(["validate", "--json", "--config"])
        .arg(&path)
        .output()
        .expect("validate");
    util::assert_exit(&out, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let plan = &lines[0];
    assert_eq!(plan["valid"], true, "{plan}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("hunter2secret"), "{stdout}");
    let jobs = plan["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 4, "{plan}");
    let weekly = jobs
        .iter()
        .find(|j| j["name"] == "weekly-check")
        .expect("weekly-check");
    assert_eq!(weekly["kind"], "check");
    assert_eq!(weekly["next_fire_times"].as_array().map(Vec::len), Some(5));
    let remote = plan["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .find(|r| r["name"] == "remote")
        .expect("remote");
    assert!(
        remote["url"]
            .as_str()
            .is_some_and(|u| u.contains("backup.example")),
        "{remote}"
    );

    // An invalid profile: exit 2, every problem as JSON with its place.
    std::fs::write(
        &path,
        "[repository.r]\nurl = \"/srv/r\"\npassword-file = \"/pw\"\n\n[job.a]\nkind = \"check\"\nrepositories = [\"r\"]\nschedule = \"0 25 * * 0\"\n\n[job.b]\nkind = \"check\"\nrepositories = [\"r\"]\nbogus-key = 1\n",
    )
    .expect("write");
    let out = env
        .cmd()
        .args(["--json", "validate", "--config"])
        .arg(&path)
        .output()
        .expect("validate");
    util::assert_exit(&out, 2);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["valid"], false);
    let problems = lines[0]["problems"].as_array().expect("problems");
    assert!(!problems.is_empty(), "{}", lines[0]);
    assert!(
        problems
            .iter()
            .all(|p| p["message"].is_string() && p["file"].is_string()),
        "{}",
        lines[0]
    );
    assert!(problems.iter().any(|p| p["line"].is_u64()), "{}", lines[0]);
    // A profile that cannot be read: still JSON, still exit 2.
    let out = env
        .cmd()
        .args(["--json", "validate", "--config"])
        .arg(env.path("absent.toml"))
        .output()
        .expect("validate");
    util::assert_exit(&out, 2);
    assert_eq!(json_lines(&out)[0]["valid"], false);
}

#[test]
fn json_on_a_command_without_json_output_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["--json", "report", "--results", "r.jsonl", "-o", "r.html"])
        .output()
        .expect("report");
    util::assert_exit(&out, 2);
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`report` has no JSON output"), "{stderr}");
}
