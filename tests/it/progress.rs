//! Progress bars: never on a stderr that is not a terminal (every other test runs
//! so), never with `--log-format json` or `-q` (on a terminal too), and drawn under
//! a pseudo-terminal (`script` from util-linux), with the log lines intact.

use std::process::Command as StdCommand;

use crate::util::{self, restic_bin, TestEnv};

/// `'…'` for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The restore test's command line (as `TestEnv::restore_test` builds it).
fn restore_test_args(env: &TestEnv, repo: &std::path::Path, src: &std::path::Path) -> Vec<String> {
    std::fs::create_dir_all(env.path("test-dir")).unwrap();
    vec![
        "restore-test".into(),
        "--repo".into(),
        repo.display().to_string(),
        "--password-file".into(),
        env.fixture_password().display().to_string(),
        "--map".into(),
        format!("/source={}", src.display()),
        "--test-dir".into(),
        env.path("test-dir").display().to_string(),
        "--sample".into(),
        "10".into(),
    ]
}

#[test]
fn progress_is_never_drawn_on_a_stderr_that_is_not_a_terminal() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    for json in [false, true] {
        let mut c = env.cmd();
        if json {
            c.args(["--log-format", "json"]);
        }
        let out = c
            .args(restore_test_args(&env, &repo, &src))
            .args(["--state-dir", env.path("state").to_str().unwrap()])
            .output()
            .expect("run");
        util::assert_exit(&out, 0);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\u{1b}'),
            "escape sequence in stderr:\n{stderr:?}"
        );
        assert!(
            !stderr.contains('\r'),
            "carriage return in stderr:\n{stderr:?}"
        );
        assert!(!stderr.contains("listing the snapshot"), "{stderr}");
    }
}

/// Runs the restore test (global flags `global` first) on a pseudo-terminal
/// (`script` from util-linux) and returns what the terminal received.
fn under_pty(env: &TestEnv, global: &[&str]) -> String {
    let repo = env.fixture_repo("clean");
    let src = env.source_tree();
    let bin = assert_cmd::cargo::cargo_bin("restic-verify");
    let mut line = vec![quote(&bin.display().to_string())];
    line.extend(global.iter().map(|a| quote(a)));
    line.extend(restore_test_args(env, &repo, &src).iter().map(|a| quote(a)));
    let mut c = StdCommand::new("script");
    c.args(["-qfec", &line.join(" "), "/dev/null"]);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            c.env_remove(k);
        }
    }
    c.env("RESTIC_VERIFY_RESTIC", restic_bin())
        .env("RESTIC_VERIFY_LOG", "info")
        .env("TERM", "xterm")
        .env("COLUMNS", "160")
        .current_dir(env.dir.path());
    let out = c.output().expect("script (util-linux)");
    let tty = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{tty}");
    tty
}

#[test]
fn progress_under_a_pseudo_terminal_shows_a_bar_and_keeps_log_lines_whole() {
    let env = TestEnv::new();
    let tty = under_pty(&env, &[]);
    assert!(
        tty.contains("listing the snapshot:"),
        "no progress line:\n{tty:?}"
    );
    assert!(
        tty.contains("restoring the sample") || tty.contains("comparing"),
        "no restore or hashing bar:\n{tty:?}"
    );
    // Log lines and the verdict come out whole, not torn by a bar.
    let plain = strip_escapes(&tty);
    assert!(
        plain
            .lines()
            .any(|l| l.starts_with("PASS restore-test `restore-test` on repository `clean`")),
        "{plain:?}"
    );
    assert!(
        plain
            .lines()
            .any(|l| l.contains("INFO") && l.contains("restore-test")),
        "{plain:?}"
    );
}

#[test]
fn progress_on_a_terminal_is_not_drawn_with_json_logs_or_quiet() {
    for global in [&["--log-format", "json"][..], &["-q"][..]] {
        let env = TestEnv::new();
        let tty = under_pty(&env, global);
        // What the bars' templates draw (a log line may name the same work, but
        // not as `prefix: N entries` or `prefix [bar]`).
        for bar in [
            "listing the snapshot:",
            "restoring the sample [",
            "comparing [",
            "calibrating the RTO model [",
        ] {
            assert!(!tty.contains(bar), "{global:?}: `{bar}` drawn:\n{tty:?}");
        }
        // The run did write to the terminal: its verdict, whole (with JSON logs, as
        // the message of a JSON line).
        let verdict = "PASS restore-test `restore-test` on repository `clean`";
        assert!(
            strip_escapes(&tty).lines().any(|l| l.starts_with(verdict)
                || (global[0] == "--log-format"
                    && serde_json::from_str::<serde_json::Value>(l)
                        .is_ok_and(|v| v["fields"]["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with(verdict))))),
            "{global:?}: {tty:?}"
        );
    }
}

/// The text without terminal control: CSI sequences (`ESC [ … letter`) and the
/// carriage returns that redraw a line; what remains of a redrawn line is its last
/// drawing, as a terminal would show it.
fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            // A terminal's line end.
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => {
                // Back to the start of the line: what follows overwrites it.
                let start = out.rfind('\n').map_or(0, |i| i + 1);
                out.truncate(start);
            }
            c => out.push(c),
        }
    }
    out
}
