//! `restic-verify drill <job>` against the real restic on the clean fixture: a
//! restore-test job and a check job each fail on purpose (exit 1), the record and
//! the falsified finding say `drill: true`, a notifier receives DRILL, the drill's
//! metrics go to their own file (never the job's), and no state is saved.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::servers::HttpRecorder;
use crate::util::{self, sample, TestEnv};

/// A profile with one job `nightly` of `kind` on `repo` (extra job keys as given),
/// notifying `hook` (its table appended).
fn profile(env: &TestEnv, repo: &Path, kind: &str, job_keys: &str, hook: &str) -> PathBuf {
    let text = format!(
        r#"[defaults]
password-file = "{pw}"
results = "{results}"
metrics-dir = "{metrics}"
state-dir = "{state}"

[repository.clean]
url = "{repo}"

[job.nightly]
kind = "{kind}"
repositories = ["clean"]
notify = ["hook"]
{job_keys}

{hook}
"#,
        pw = env.fixture_password().display(),
        results = env.path("results.jsonl").display(),
        metrics = env.path("metrics").display(),
        state = env.path("state").display(),
        repo = repo.display(),
    );
    std::fs::create_dir_all(env.path("metrics")).unwrap();
    let p = env.path("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn drill(env: &TestEnv, profile: &Path) -> std::process::Output {
    env.cmd()
        .args(["drill", "nightly", "--config"])
        .arg(profile)
        .output()
        .expect("drill")
}

fn drill_findings(r: &Value) -> Vec<&Value> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["drill"] == true)
        .collect()
}

#[test]
fn drill_of_a_restore_test_job_fails_on_purpose_marked_drill_and_ntfy_hears_drill() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let (repo_before, src_before) = (util::tree_digest(&repo), util::tree_digest(&src));
    let ntfy = HttpRecorder::start(&env, "ntfy", &[]);
    std::fs::create_dir_all(env.path("test-dir")).unwrap();
    let p = profile(
        &env,
        &repo,
        "restore-test",
        &format!(
            "sample = 10\nmap = [\"/source={}\"]\ntest-dir = \"{}\"",
            src.display(),
            env.path("test-dir").display()
        ),
        &format!(
            "[notify.hook]\ntype = \"ntfy\"\nurl = \"{}\"\nstates = [\"start\", \"failure\", \"success\"]\n",
            ntfy.url("/drills")
        ),
    );
    let out = drill(&env, &p);
    util::assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DRILL FAIL restore-test `nightly`"),
        "{stderr}"
    );

    let r = env.last_record();
    assert_eq!(r["drill"], true, "{r}");
    assert_eq!(r["outcome"], "fail");
    let falsified = drill_findings(&r);
    assert_eq!(falsified.len(), 1, "{r}");
    assert_eq!(falsified[0]["kind"], "restore_mismatch");
    assert!(falsified[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("DRILL: /source/"));
    assert_eq!(
        r["findings"].as_array().unwrap().len(),
        1,
        "nothing real went wrong: {r}"
    );
    let files = r["restore_test"]["files"].as_array().unwrap();
    let mismatched: Vec<&Value> = files.iter().filter(|f| f["class"] == "mismatch").collect();
    assert_eq!(mismatched.len(), 1, "{files:?}");
    assert_ne!(
        mismatched[0]["expected_sha256"],
        mismatched[0]["restored_sha256"]
    );
    assert!(mismatched[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("DRILL"));

    // Every notification says DRILL.
    let reqs = ntfy.requests();
    assert_eq!(reqs.len(), 2, "start and failure: {reqs:#?}");
    for q in &reqs {
        let title = q["headers"]["x-title"].as_str().unwrap();
        assert!(title.contains("DRILL"), "{title}");
    }
    assert_eq!(
        reqs[1]["headers"]["x-title"],
        "restic-verify DRILL FAIL: nightly on clean"
    );
    let body = reqs[1]["body"].as_str().unwrap();
    assert!(body.starts_with("DRILL: a fire drill"), "{body}");
    assert!(body.contains("DRILL FAIL restore-test"), "{body}");
    assert!(reqs[1]["headers"]["x-tags"]
        .as_str()
        .unwrap()
        .contains("drill"));

    // Metrics: the drill's own file; the job's file is never written by a drill.
    let metrics = env.path("metrics");
    assert!(!metrics.join("restic-verify-nightly.prom").exists());
    let text = std::fs::read_to_string(metrics.join("restic-verify-nightly.drill.prom"))
        .expect("drill metrics");
    util::promtool_check(&text);
    assert_eq!(
        sample(
            &text,
            "restic_verify_drill{job=\"nightly\",repository=\"clean\"}"
        ),
        1.0
    );
    assert!(!text.contains("restic_verify_success"), "{text}");
    // No state: the next real run's recovery and catch-up see no drill.
    assert!(
        !env.path("state").exists()
            || std::fs::read_dir(env.path("state"))
                .unwrap()
                .next()
                .is_none(),
        "a drill saved state"
    );
    // Nothing in the repository or the source changed; nothing left in test-dir.
    assert_eq!(util::tree_digest(&repo), repo_before);
    assert_eq!(util::tree_digest(&src), src_before);
    assert!(env.test_dir_entries().is_empty());
}

#[test]
fn drill_of_a_check_job_adds_one_synthetic_finding_and_a_real_run_ends_the_drill() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let hc = HttpRecorder::start(&env, "hc", &[]);
    let uuid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let p = profile(
        &env,
        &repo,
        "check",
        "",
        &format!(
            "[notify.hook]\ntype = \"healthchecks\"\nurl = \"{}\"\n",
            hc.url(&format!("/ping/{uuid}"))
        ),
    );
    let out = drill(&env, &p);
    util::assert_exit(&out, 1);
    let r = env.last_record();
    assert_eq!(r["drill"], true);
    assert_eq!(r["outcome"], "fail");
    assert!(
        r["check"]["errors"].as_array().unwrap().is_empty(),
        "restic found nothing"
    );
    let falsified = drill_findings(&r);
    assert_eq!(falsified.len(), 1, "{r}");
    assert_eq!(falsified[0]["kind"], "check_error");
    assert!(falsified[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("DRILL: "));

    let reqs = hc.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(reqs[0]["path"], format!("/ping/{uuid}/start"));
    assert!(reqs[0]["body"].as_str().unwrap().contains("DRILL"));
    assert_eq!(reqs[1]["path"], format!("/ping/{uuid}/1"));
    let body = reqs[1]["body"].as_str().unwrap();
    assert!(body.contains("DRILL FAIL check `nightly`"), "{body}");

    let drill_file = env.path("metrics/restic-verify-nightly.drill.prom");
    assert!(drill_file.exists());
    // A real run writes the job's file and removes the drill's.
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = env.last_record();
    assert!(r.get("drill").is_none(), "{r}");
    assert_eq!(r["outcome"], "pass");
    assert!(!drill_file.exists(), "the real run ends the drill");
    let text = std::fs::read_to_string(env.path("metrics/restic-verify-nightly.prom")).unwrap();
    assert_eq!(
        sample(
            &text,
            "restic_verify_success{job=\"nightly\",repository=\"clean\"}"
        ),
        1.0
    );
    let last = hc.requests().pop().unwrap();
    assert_eq!(last["path"], format!("/ping/{uuid}/0"));
    assert!(!last["body"].as_str().unwrap().contains("DRILL"));
}

#[test]
fn drill_of_an_unknown_job_is_a_usage_error() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let p = profile(
        &env,
        &repo,
        "check",
        "",
        "[notify.hook]\ntype = \"ntfy\"\nurl = \"http://127.0.0.1:9/x\"\n",
    );
    let out = env
        .cmd()
        .args(["drill", "nope", "--config"])
        .arg(&p)
        .output()
        .expect("drill");
    util::assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown job `nope`"));
}
