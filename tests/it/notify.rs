//! Notifiers against real servers on loopback: Healthchecks, ntfy and Uptime Kuma
//! against an HTTP server that records requests, email against an SMTP server that
//! stores messages, Pushgateway and node_exporter as Debian ships them. Each test
//! asserts the documented fields, that no secret travels, and that a notifier that
//! fails never changes the exit code.

use crate::servers::{Exporter, HttpRecorder, SmtpServer};
use crate::util::{self, sample, TestEnv, FIXTURE_PASSWORD};

/// A profile with one check job `nightly` on `repo`, notifying `notify` (TOML
/// tables appended as given).
fn profile(
    env: &TestEnv,
    repo: &std::path::Path,
    notify_names: &[&str],
    tables: &str,
) -> std::path::PathBuf {
    let pw = env.fixture_password();
    let names: Vec<String> = notify_names.iter().map(|n| format!("\"{n}\"")).collect();
    let text = format!(
        r#"[defaults]
password-file = "{pw}"
results = "{results}"
metrics-dir = "{metrics}"
state-dir = "{state}"

[repository.{name}]
url = "{repo}"

[job.nightly]
kind = "check"
repositories = ["{name}"]
notify = [{names}]

{tables}
"#,
        pw = pw.display(),
        results = env.path("results.jsonl").display(),
        metrics = env.dir.path().display(),
        state = env.path("state").display(),
        name = repo.file_name().unwrap().to_string_lossy(),
        repo = repo.display(),
        names = names.join(", "),
    );
    let p = env.path("config.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `[notify.mail]` for the loopback SMTP server, logging in as `rv` with the
/// password in `smtp-pw`; `extra` lines appended.
fn mail_table(env: &TestEnv, smtp: &SmtpServer, tls: &str, extra: &str) -> String {
    format!(
        "[notify.mail]\ntype = \"email\"\nsmtp-host = \"127.0.0.1\"\nsmtp-port = {}\ntls = \"{tls}\"\nusername = \"rv\"\npassword-file = \"{}\"\n{extra}",
        smtp.port,
        env.path("smtp-pw").display()
    )
}

fn run(env: &TestEnv, profile: &std::path::Path) -> std::process::Output {
    env.cmd()
        .arg("run")
        .arg("--config")
        .arg(profile)
        .output()
        .expect("run")
}

fn job_metrics(env: &TestEnv) -> String {
    std::fs::read_to_string(env.path("restic-verify-nightly.prom"))
        .expect("metrics file of job nightly")
}

fn query<'a>(req: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    req["query"]
        .as_array()?
        .iter()
        .find(|kv| kv[0] == key)
        .and_then(|kv| kv[1].as_str())
}

fn assert_no_secret(haystack: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !haystack.contains(s),
            "secret {s:?} leaked into:\n{haystack}"
        );
    }
}

#[test]
fn healthchecks_gets_start_and_exit_status_with_same_rid_and_log_cut_to_body_limit() {
    let env = TestEnv::new();
    let hc = HttpRecorder::start(&env, "hc", &["--header", "Ping-Body-Limit: 300"]);
    let uuid = "5f0b8a55-2c1e-4e7b-9d3f-0a1b2c3d4e5f";
    let url_file = env.path("hc-url");
    std::fs::write(&url_file, format!("{}\n", hc.url(&format!("/ping/{uuid}")))).unwrap();
    let repo = env.fixture_repo("missing-pack");
    let p = profile(
        &env,
        &repo,
        &["hc"],
        &format!(
            "[notify.hc]\ntype = \"healthchecks\"\nurl-file = \"{}\"\n",
            url_file.display()
        ),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 1);
    let reqs = hc.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(reqs[0]["method"], "POST");
    assert_eq!(reqs[0]["path"], format!("/ping/{uuid}/start"));
    assert_eq!(
        reqs[1]["path"],
        format!("/ping/{uuid}/1"),
        "exit status 1 for damage"
    );
    let rid = query(&reqs[0], "rid").expect("rid on start");
    assert_eq!(rid.len(), 36);
    assert_eq!(
        query(&reqs[1], "rid"),
        Some(rid),
        "start and finish share the rid"
    );
    let body = reqs[1]["body"].as_str().unwrap();
    assert!(
        body.len() <= 300,
        "body of {} bytes beyond Ping-Body-Limit",
        body.len()
    );
    assert!(
        body.contains("FAIL check `nightly` on repository `missing-pack`"),
        "{body}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_secret(&format!("{stderr}{body}"), &[uuid, FIXTURE_PASSWORD]);
    assert_eq!(
        sample(
            &job_metrics(&env),
            "restic_verify_notification_failures{job=\"nightly\",notifier=\"hc\"}"
        ),
        0.0
    );
}

#[test]
fn ntfy_failure_then_recovery_with_title_priority_tags_and_token() {
    let env = TestEnv::new();
    let ntfy = HttpRecorder::start(&env, "ntfy", &[]);
    let token = "tk_secret_token_0123456789";
    let token_file = env.path("ntfy-token");
    std::fs::write(&token_file, token).unwrap();
    let repo = env.fixture_repo("clean");
    let p = profile(
        &env,
        &repo,
        &["phone"],
        &format!(
            "[notify.phone]\ntype = \"ntfy\"\nurl = \"{}\"\ntoken-file = \"{}\"\n",
            ntfy.url("/backups-topic"),
            token_file.display()
        ),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 0);
    let reqs = ntfy.requests();
    assert!(
        reqs.is_empty(),
        "a pass with no earlier failure sends nothing: {reqs:#?}"
    );

    // A wrong password: the run could not verify (exit 3), a failure for ntfy.
    std::fs::write(env.path("password"), "wrong-password-xyz\n").unwrap();
    let out = run(&env, &p);
    util::assert_exit(&out, 3);
    std::fs::write(env.path("password"), format!("{FIXTURE_PASSWORD}\n")).unwrap();
    let out = run(&env, &p);
    util::assert_exit(&out, 0);

    let reqs = ntfy.requests();
    assert_eq!(reqs.len(), 2, "failure and recovery: {reqs:#?}");
    let (fail, rec) = (&reqs[0], &reqs[1]);
    for r in [fail, rec] {
        assert_eq!(r["method"], "POST");
        assert_eq!(r["path"], "/backups-topic");
        assert_eq!(r["headers"]["authorization"], format!("Bearer {token}"));
    }
    assert_eq!(
        fail["headers"]["x-title"],
        "restic-verify ERROR: nightly on clean"
    );
    assert_eq!(fail["headers"]["x-priority"], "4");
    assert!(fail["headers"]["x-tags"]
        .as_str()
        .unwrap()
        .contains("warning"));
    assert!(
        fail["body"].as_str().unwrap().contains("wrong password"),
        "{}",
        fail["body"]
    );
    assert_eq!(
        rec["headers"]["x-title"],
        "restic-verify PASS: nightly on clean (recovered)"
    );
    assert_eq!(rec["headers"]["x-priority"], "3");
    assert!(rec["headers"]["x-tags"]
        .as_str()
        .unwrap()
        .contains("recovery"));
    let all = serde_json::to_string(&reqs).unwrap();
    assert_no_secret(&all, &[FIXTURE_PASSWORD, "wrong-password-xyz"]);
}

#[test]
fn uptime_kuma_push_says_up_or_down_with_msg_and_ping() {
    let env = TestEnv::new();
    let kuma = HttpRecorder::start(&env, "kuma", &[]);
    let token = "kumaPushToken42";
    let repo = env.fixture_repo("clean");
    // The push URL as Kuma's UI shows it, example parameters included.
    let p = profile(
        &env,
        &repo,
        &["kuma"],
        &format!(
            "[notify.kuma]\ntype = \"uptime-kuma\"\nurl = \"{}\"\n",
            kuma.url(&format!("/api/push/{token}?status=up&msg=OK&ping="))
        ),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 0);
    std::fs::write(env.path("password"), "wrong\n").unwrap();
    let out = run(&env, &p);
    util::assert_exit(&out, 3);
    let reqs = kuma.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(reqs[0]["path"], format!("/api/push/{token}"));
    assert_eq!(query(&reqs[0], "status"), Some("up"));
    assert!(query(&reqs[0], "msg")
        .unwrap()
        .starts_with("PASS check `nightly`"));
    assert!(query(&reqs[0], "ping").unwrap().parse::<u64>().is_ok());
    assert_eq!(
        reqs[0]["query"].as_array().unwrap().len(),
        3,
        "example parameters replaced"
    );
    assert_eq!(query(&reqs[1], "status"), Some("down"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(token),
        "token logged"
    );
}

#[test]
fn email_failure_reaches_smtp_server_with_subject_and_failing_details() {
    let env = TestEnv::new();
    let smtp = SmtpServer::start(&env, Some(("rv", "smtp-secret-pw")));
    std::fs::write(env.path("smtp-pw"), "smtp-secret-pw\n").unwrap();
    let repo = env.fixture_repo("missing-pack");
    let p = profile(
        &env,
        &repo,
        &["mail"],
        &mail_table(
            &env,
            &smtp,
            "none",
            "from = \"restic-verify <rv@example.org>\"\nto = [\"admin@example.org\", \"oncall@example.org\"]\n",
        ),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 1);
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    let m = &msgs[0];
    assert_eq!(m["mail_from"], "rv@example.org");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["admin@example.org", "oncall@example.org"])
    );
    assert_eq!(m["auth_user"], "rv");
    let data = m["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: restic-verify FAIL: nightly on missing-pack"),
        "{data}"
    );
    assert!(
        data.contains("FAIL check `nightly` on repository `missing-pack`"),
        "{data}"
    );
    assert!(
        data.contains("does not exist") || data.contains("not found"),
        "{data}"
    );
    // The damage report: the snapshot using the missing pack, its files, the recipe.
    assert!(data.contains("affected snapshot(s):"), "{data}");
    assert!(data.contains("/source/changes/added-in-3.txt"), "{data}");
    assert!(data.contains("restic check --read-data"), "{data}");
    assert_no_secret(data, &["smtp-secret-pw", FIXTURE_PASSWORD]);
}

#[test]
fn email_over_starttls_verifies_the_server_certificate() {
    let env = TestEnv::new();
    let (ca, cert, key) = crate::servers::test_ca(&env);
    let smtp = SmtpServer::start_with(&env, Some(("rv", "tls-pw")), Some((&cert, &key)));
    std::fs::write(env.path("smtp-pw"), "tls-pw\n").unwrap();
    let repo = env.fixture_repo("clean");
    let table = |ca_line: &str| {
        mail_table(
            &env,
            &smtp,
            "starttls",
            &format!(
                "from = \"rv@example.org\"\nto = \"admin@example.org\"\nstates = [\"success\"]\n{ca_line}"
            ),
        )
    };
    // Without the private CA the certificate is not trusted: nothing is sent, and
    // the run still passes.
    let p = profile(&env, &repo, &["mail"], &table(""));
    let out = run(&env, &p);
    util::assert_exit(&out, 0);
    assert!(smtp.messages().is_empty());
    assert_eq!(
        sample(
            &job_metrics(&env),
            "restic_verify_notification_failures{job=\"nightly\",notifier=\"mail\"}"
        ),
        1.0
    );
    // With it, the message goes through STARTTLS.
    let p = profile(
        &env,
        &repo,
        &["mail"],
        &table(&format!("ca-file = \"{}\"\n", ca.display())),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 0);
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(msgs[0]["tls"], true);
    assert_eq!(msgs[0]["auth_user"], "rv");
    assert!(msgs[0]["data"]
        .as_str()
        .unwrap()
        .contains("Subject: restic-verify PASS: nightly on clean"));
}

#[test]
fn email_refused_login_keeps_exit_code_counts_failure_and_fails_validate() {
    let env = TestEnv::new();
    let smtp = SmtpServer::start(&env, Some(("rv", "right-password")));
    std::fs::write(env.path("smtp-pw"), "wrong-smtp-password\n").unwrap();
    let repo = env.fixture_repo("clean");
    let p = profile(
        &env,
        &repo,
        &["mail"],
        &mail_table(
            &env,
            &smtp,
            "none",
            "from = \"rv@example.org\"\nto = \"admin@example.org\"\nstates = [\"success\", \"failure\"]\n",
        ),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retrying once"), "{stderr}");
    assert!(
        stderr.contains("the run's outcome is unchanged"),
        "{stderr}"
    );
    assert!(smtp.messages().is_empty());
    assert_eq!(
        sample(
            &job_metrics(&env),
            "restic_verify_notification_failures{job=\"nightly\",notifier=\"mail\"}"
        ),
        1.0
    );
    util::promtool_check(&job_metrics(&env));
    assert_no_secret(&stderr, &["wrong-smtp-password"]);

    let v = env
        .cmd()
        .args(["validate", "--check-notifiers", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    util::assert_exit(&v, 2);
    let verr = String::from_utf8_lossy(&v.stderr);
    assert!(verr.contains("[notify.mail] cannot be reached"), "{verr}");
    assert!(
        verr.to_lowercase().contains("auth") || verr.contains("535"),
        "{verr}"
    );
}

#[test]
fn dead_and_erroring_notifiers_leave_exit_code_and_are_counted() {
    let env = TestEnv::new();
    let failing = HttpRecorder::start(&env, "err", &["--status", "500"]);
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let repo = env.fixture_repo("missing-pack");
    let p = profile(
        &env,
        &repo,
        &["dead", "err"],
        &format!(
            "[notify.dead]\ntype = \"healthchecks\"\nurl = \"http://127.0.0.1:{dead_port}/ping/x\"\ntimeout = \"2s\"\n\n[notify.err]\ntype = \"ntfy\"\nurl = \"{}\"\n",
            failing.url("/topic")
        ),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 1);
    let m = job_metrics(&env);
    util::promtool_check(&m);
    // healthchecks: start and finish each failed after one retry.
    assert_eq!(
        sample(
            &m,
            "restic_verify_notification_failures{job=\"nightly\",notifier=\"dead\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &m,
            "restic_verify_notification_failures{job=\"nightly\",notifier=\"err\"}"
        ),
        1.0
    );
    assert_eq!(failing.requests().len(), 2, "one delivery and one retry");
    let r = env.last_record();
    assert_eq!(r["outcome"], "fail");

    // validate --check-notifiers tells the dead one apart before any run.
    let v = env
        .cmd()
        .args(["validate", "--check-notifiers", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    util::assert_exit(&v, 2);
    let verr = String::from_utf8_lossy(&v.stderr);
    assert!(
        verr.contains(&format!(
            "[notify.dead] cannot be reached: http://127.0.0.1:{dead_port}/..."
        )),
        "{verr}"
    );
    assert!(
        !verr.contains("[notify.err]"),
        "the erroring server is reachable: {verr}"
    );
}

#[test]
fn pushgateway_shows_pushed_series_under_job_restic_verify() {
    let env = TestEnv::new();
    let pg = Exporter::pushgateway();
    let repo = env.fixture_repo("clean");
    let p = profile(
        &env,
        &repo,
        &["pg"],
        &format!(
            "[notify.pg]\ntype = \"pushgateway\"\nurl = \"http://127.0.0.1:{}\"\ninstance = \"backup-host\"\n",
            pg.port
        ),
    );
    let out = run(&env, &p);
    util::assert_exit(&out, 0);
    let m = pg.metrics();
    let line = m
        .lines()
        .find(|l| l.starts_with("restic_verify_success{"))
        .unwrap_or_else(|| panic!("no restic_verify_success in the Pushgateway:\n{m}"));
    for label in [
        "instance=\"backup-host\"",
        "job=\"restic_verify\"",
        "repository=\"clean\"",
        "restic_verify_job=\"nightly\"",
    ] {
        assert!(line.contains(label), "{label} missing in {line}");
    }
    assert!(line.ends_with(" 1"), "{line}");
    assert!(m.contains("push_time_seconds{instance=\"backup-host\",job=\"restic_verify\",restic_verify_job=\"nightly\"}"), "{m}");
}

#[test]
fn node_exporter_textfile_collector_reads_job_metrics_without_error() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let p = profile(&env, &repo, &[], "");
    let out = run(&env, &p);
    util::assert_exit(&out, 0);
    let ne = Exporter::node_exporter(env.dir.path());
    let m = ne.metrics();
    assert!(m.contains("node_textfile_scrape_error 0"), "{m}");
    assert!(
        m.lines()
            .any(|l| l == "restic_verify_success{job=\"nightly\",repository=\"clean\"} 1"),
        "{m}"
    );
}
