//! Secrets a run is given, end to end with the real restic: a short URL password
//! appears in no output, a secret inside a restic `-o` option is refused before
//! anything runs, and `RESTIC_*` variables of the caller's environment (which
//! restic never sees) are named in a warning, never quoted.
//! See: issue #20, items 6 and 7 and the inherited-variable note.

use std::path::Path;

use rstest::rstest;

use crate::servers::RestServer;
use crate::util::{self, TestEnv, FIXTURE_PASSWORD};

/// Five characters: shorter than the redactor scrubs anywhere in text.
const SHORT: &str = "abc12";

/// Every file under `dir`, as text (state files, metrics, results).
fn all_files(dir: &Path) -> String {
    util::walk(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(&p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `check` on the URL in a repo file, with results, metrics and a state dir, at
/// debug level; returns the exit code and everything the run put out or wrote.
fn check_url(env: &TestEnv, url: &str) -> (Option<i32>, String) {
    let repo_file = env.path("repo-url");
    std::fs::write(&repo_file, format!("{url}\n")).expect("write");
    let out = env
        .cmd()
        .args(["check", "--retries", "0", "--name", "r", "-v"])
        .arg("--password-file")
        .arg(env.fixture_password())
        .arg("--repo-file")
        .arg(&repo_file)
        .arg("--state-dir")
        .arg(env.path("out/state"))
        .arg("--results")
        .arg(env.path("out/results.jsonl"))
        .arg("--metrics")
        .arg(env.path("out/metrics.prom"))
        .output()
        .expect("run");
    std::fs::remove_file(&repo_file).expect("rm repo file");
    let text = format!(
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        all_files(&env.path("out"))
    );
    (out.status.code(), text)
}

// restic masks the password itself where it can reach the server; it echoes a
// URL it cannot parse as given, so the redactor must scrub it there.
#[rstest]
#[case::unparsable_host("rest:http://alice:abc12@[::1:1/r/")]
#[case::no_scheme("rest:alice:abc12@127.0.0.1:1/r/")]
#[case::refused_connection("rest:http://alice:abc12@127.0.0.1:1/r/")]
fn check_short_url_password_of_an_unreachable_repository_appears_in_no_output(#[case] url: &str) {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("out")).expect("mkdir");
    let (code, text) = check_url(&env, url);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("alice"),
        "the run said nothing about it: {text}"
    );
    assert!(!text.contains(SHORT), "password {SHORT:?} leaked:\n{text}");
}

#[test]
fn check_over_rest_with_a_short_password_passes_and_shows_it_nowhere() {
    let env = TestEnv::new();
    env.fixture_repo("clean");
    let server = RestServer::start(
        &env,
        &env.path("repos"),
        &["--user", "alice", "--pass", SHORT],
    );
    std::fs::create_dir_all(env.path("out")).expect("mkdir");
    let url = format!("rest:http://alice:{SHORT}@127.0.0.1:{}/clean/", server.port);
    let (code, text) = check_url(&env, &url);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("alice:[redacted]@"), "{text}");
    assert!(!text.contains(SHORT), "password {SHORT:?} leaked:\n{text}");
}

/// Secret-bearing `-o` values and the secret each carries.
const SECRET_OPTIONS: [(&str, &str); 6] = [
    (
        "rclone.args=serve restic --stdio --b2-hard-delete --b2-key K005deadbeefcafe",
        "K005deadbeefcafe",
    ),
    (
        "rclone.args=serve restic --stdio --sftp-pass=Xyzzy9",
        "Xyzzy9",
    ),
    (
        "sftp.command=sshpass -p hunter22 ssh nas -s sftp",
        "hunter22",
    ),
    (
        "sftp.command=ssh -o Password=hunter23 nas -s sftp",
        "hunter23",
    ),
    (
        "rclone.args=serve restic --stdio --azureblob-sas-url https://acct/c?sig=Zx9",
        "sig=Zx9",
    ),
    (
        "rclone.args=serve restic --stdio --webdav-url http://bob:pw7@dav/",
        "pw7",
    ),
];

#[rstest]
fn validate_profile_with_a_secret_in_options_is_refused_without_the_value(
    #[values(0, 1, 2, 3, 4, 5)] i: usize,
) {
    let (option, secret) = SECRET_OPTIONS[i];
    let env = TestEnv::new();
    let pw = env.fixture_password();
    let profile = env.path("config.toml");
    let option_toml = option.replace('\\', "\\\\").replace('"', "\\\"");
    std::fs::write(
        &profile,
        format!(
            "[defaults]\npassword-file = \"{}\"\n\n[repository.nas]\nurl = \"/srv/restic\"\noptions = [\"{option_toml}\"]\n\n[job.weekly]\nkind = \"check\"\nrepositories = [\"nas\"]\n",
            pw.display()
        ),
    )
    .expect("profile");
    for command in ["validate", "run"] {
        let out = env
            .cmd()
            .args([command, "--config"])
            .arg(&profile)
            .arg("-v")
            .output()
            .expect("run");
        util::assert_exit(&out, 2);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("[repository.nas] `options`") && text.contains("env-file"),
            "{command}: {text}"
        );
        assert!(
            !text.contains(secret),
            "{command}: {secret:?} shown:\n{text}"
        );
    }
}

#[rstest]
fn check_option_flag_with_a_secret_is_refused_without_the_value(
    #[values(0, 1, 2, 3, 4, 5)] i: usize,
) {
    let (option, secret) = SECRET_OPTIONS[i];
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let out = env
        .check(&repo)
        .arg("--option")
        .arg(option)
        .output()
        .expect("run");
    util::assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--option") && stderr.contains("env-file"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret), "{secret:?} shown:\n{stderr}");
    assert!(
        !env.path("results.jsonl").exists(),
        "a refused option ran nothing"
    );
}

#[test]
fn check_with_restic_variables_inherited_warns_once_naming_them_never_their_values() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let out = env
        .check(&repo)
        .env("RESTIC_PASSWORD", FIXTURE_PASSWORD)
        .env("RESTIC_CACERT", "/etc/ssl/private-ca.pem")
        .env("RESTIC_REST_PASSWORD", "pw42")
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("RESTIC_"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("RESTIC_CACERT, RESTIC_PASSWORD, RESTIC_REST_PASSWORD")
            && warnings[0].contains("env-file")
            && warnings[0].contains("password-file"),
        "{stderr}"
    );
    for value in [FIXTURE_PASSWORD, "private-ca.pem", "pw42"] {
        assert!(!stderr.contains(value), "{value:?} shown:\n{stderr}");
    }
}
