//! `restic-verify drill <job>` against the real restic on the clean fixture: a
//! restore-test job and a check job each fail on purpose (exit 1), the record and
//! the falsified finding say `drill: true`, every notifier type (ntfy, Healthchecks,
//! email, Uptime Kuma, Pushgateway) receives DRILL, the drill's metrics go to their
//! own file and Pushgateway group (never the job's), no state is saved and no
//! calibration call made, and `status` and `report` never take a drill's record
//! for the job's latest outcome. A job that cannot run keeps its error and exit code.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::servers::{Exporter, HttpRecorder, SmtpServer};
use crate::util::{self, sample, TestEnv};

/// A profile with one job `nightly` of `kind` on `repo` (extra job keys as given),
/// notifying `hook` (its table appended).
fn profile(env: &TestEnv, repo: &Path, kind: &str, job_keys: &str, hook: &str) -> PathBuf {
    profile_notifying(env, repo, kind, job_keys, &["hook"], hook)
}

/// The same, notifying `notify` (their tables in `tables`).
fn profile_notifying(
    env: &TestEnv,
    repo: &Path,
    kind: &str,
    job_keys: &str,
    notify: &[&str],
    tables: &str,
) -> PathBuf {
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
notify = {notify:?}
{job_keys}

{tables}
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
    // A drill makes no calibration calls, even with a state dir (which would have
    // the clean fixture restored whole and measured): only the sample's calls.
    let calls = r["restore_test"]["calls"].as_array().unwrap();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|c| c["kind"] == "sample"), "{calls:?}");

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

    // A drill after real runs: the state (last run, last success) and the job's
    // metrics file stay byte for byte as the real run left them.
    let state_before = dir_contents(&env.path("state"));
    assert!(!state_before.is_empty(), "the real run saved state");
    let job_prom = env.path("metrics/restic-verify-nightly.prom");
    let prom_before = std::fs::read(&job_prom).unwrap();
    util::assert_exit(&drill(&env, &p), 1);
    assert_eq!(
        dir_contents(&env.path("state")),
        state_before,
        "a drill saved state"
    );
    assert_eq!(std::fs::read(&job_prom).unwrap(), prom_before);
    assert!(drill_file.exists());
    assert_eq!(env.last_record()["drill"], true);

    // `status` and `report` skip drill records: the latest outcome is the real
    // pass, and no drill finding shows.
    let out = env
        .cmd()
        .args(["status", "--json", "--config"])
        .arg(&p)
        .output()
        .expect("status");
    util::assert_exit(&out, 0);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["outcome"], "pass", "{rows}");
    let real_ts = util::read_jsonl(&env.path("results.jsonl"))
        .into_iter()
        .rfind(|r| r.get("drill").is_none())
        .unwrap()["ts"]
        .clone();
    assert_eq!(rows[0]["last_run"], real_ts, "{rows}");
    let page = env.path("report.html");
    let out = env
        .cmd()
        .args(["report", "--config"])
        .arg(&p)
        .arg("--output")
        .arg(&page)
        .output()
        .expect("report");
    util::assert_exit(&out, 0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("DRILL"), "a drill record in the report");
    assert!(
        !html.contains("check_error"),
        "a drill finding in the report"
    );
}

/// Every file under `dir` with its text (state files are JSON), sorted by path.
fn dir_contents(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = util::walk(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (p, text)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn drill_says_drill_to_every_notifier_type_and_pushes_to_the_drills_own_group() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let smtp = SmtpServer::start(&env, None);
    let kuma = HttpRecorder::start(&env, "kuma", &[]);
    let pg = Exporter::pushgateway();
    let p = profile_notifying(
        &env,
        &repo,
        "check",
        "",
        &["mail", "kuma", "pg"],
        &format!(
            "[notify.mail]\ntype = \"email\"\nsmtp-host = \"127.0.0.1\"\nsmtp-port = {}\ntls = \"none\"\nfrom = \"rv@example.org\"\nto = [\"oncall@example.org\"]\nstates = [\"start\", \"failure\", \"success\"]\n\n[notify.kuma]\ntype = \"uptime-kuma\"\nurl = \"{}\"\n\n[notify.pg]\ntype = \"pushgateway\"\nurl = \"http://127.0.0.1:{}\"\ninstance = \"backup-host\"\n",
            smtp.port,
            kuma.url("/api/push/kumaToken"),
            pg.port
        ),
    );
    util::assert_exit(&drill(&env, &p), 1);

    // Email: the start and the failure, both marked in subject and body.
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    let start = msgs[0]["data"].as_str().unwrap();
    assert!(
        start.contains("Subject: restic-verify DRILL started: nightly on clean"),
        "{start}"
    );
    assert!(start.contains("DRILL: a fire drill"), "{start}");
    let fail = msgs[1]["data"].as_str().unwrap();
    assert!(
        fail.contains("Subject: restic-verify DRILL FAIL: nightly on clean"),
        "{fail}"
    );
    assert!(fail.contains("DRILL: a fire drill"), "{fail}");
    assert!(fail.contains("DRILL FAIL check `nightly`"), "{fail}");

    // Uptime Kuma: down, with the DRILL summary as its message.
    let reqs = kuma.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let query = |key: &str| {
        reqs[0]["query"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv[0] == key)
            .and_then(|kv| kv[1].as_str())
            .map(str::to_owned)
    };
    assert_eq!(query("status").as_deref(), Some("down"));
    assert!(
        query("msg")
            .unwrap()
            .starts_with("DRILL FAIL check `nightly`"),
        "{reqs:#?}"
    );

    // Pushgateway: only the drill families, in the drill's own group.
    let m = pg.metrics();
    let line = m
        .lines()
        .find(|l| l.starts_with("restic_verify_drill{"))
        .unwrap_or_else(|| panic!("no restic_verify_drill in the Pushgateway:\n{m}"));
    for label in [
        "drill=\"true\"",
        "instance=\"backup-host\"",
        "repository=\"clean\"",
        "restic_verify_job=\"nightly\"",
    ] {
        assert!(line.contains(label), "{label} missing in {line}");
    }
    assert!(line.ends_with(" 1"), "{line}");
    assert!(
        !m.lines().any(|l| l.starts_with("restic_verify_success")),
        "a drill pushed the job's series:\n{m}"
    );
}

#[test]
fn drill_of_a_job_that_cannot_run_keeps_its_error_and_exit_code_marked_drill() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let ntfy = HttpRecorder::start(&env, "ntfy", &[]);
    let p = profile(
        &env,
        &repo,
        "check",
        "",
        &format!(
            "[notify.hook]\ntype = \"ntfy\"\nurl = \"{}\"\n",
            ntfy.url("/drills")
        ),
    );
    std::fs::write(env.path("password"), "wrong-password\n").unwrap();
    let out = drill(&env, &p);
    // Could not verify (wrong password): exit 3, never the drill's 1.
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["drill"], true, "{r}");
    assert_eq!(r["outcome"], "error");
    assert!(drill_findings(&r).is_empty(), "nothing to falsify: {r}");
    let reqs = ntfy.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert!(
        reqs[0]["headers"]["x-title"]
            .as_str()
            .unwrap()
            .starts_with("restic-verify DRILL ERROR"),
        "{reqs:#?}"
    );
    let text =
        std::fs::read_to_string(env.path("metrics/restic-verify-nightly.drill.prom")).unwrap();
    assert_eq!(
        sample(
            &text,
            "restic_verify_drill{job=\"nightly\",repository=\"clean\"}"
        ),
        0.0
    );
    assert!(!env.path("metrics/restic-verify-nightly.prom").exists());
    assert!(
        dir_contents(&env.path("state")).is_empty(),
        "a drill saved state"
    );
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
