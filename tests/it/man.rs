//! Man pages generated from the clap definitions render with groff and `man -l`
//! and mention every subcommand (read from `--help`, so a new subcommand is covered
//! without touching this file).

use std::process::Command as StdCommand;

use crate::util::{self, TestEnv};

/// The subcommands `--help` lists (without `help`).
fn subcommands(env: &TestEnv) -> Vec<String> {
    let out = env.cmd().arg("--help").output().expect("--help");
    util::assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut subs = Vec::new();
    let mut on = false;
    for line in text.lines() {
        if line.starts_with("Commands:") {
            on = true;
        } else if line.trim().is_empty() {
            on = false;
        } else if on && line.starts_with("  ") && !line.starts_with("   ") {
            let name = line.split_whitespace().next().expect("name");
            if name != "help" {
                subs.push(name.to_owned());
            }
        }
    }
    assert!(subs.len() >= 9, "{subs:?} from:\n{text}");
    subs
}

fn stdout(env: &TestEnv, args: &[&str]) -> String {
    let out = env.cmd().args(args).output().expect("run");
    util::assert_exit(&out, 0);
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn man_pages_render_and_mention_every_subcommand() {
    let env = TestEnv::new();
    let subs = subcommands(&env);
    let page = env.path("restic-verify.1");
    std::fs::write(&page, stdout(&env, &["man"])).expect("write");
    let render = |path: &std::path::Path| {
        let out = StdCommand::new("groff")
            // -k: UTF-8 input through preconv, as man-db renders pages.
            .args(["-k", "-man", "-Tutf8", "-P", "-cbou", "-ww"])
            .arg(path)
            .output()
            .expect("groff not found: install Debian's `groff-base` (scripts/setup.sh does)");
        assert!(
            out.status.success(),
            "groff: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            warnings.trim().is_empty(),
            "groff warns about {}:\n{warnings}",
            path.display()
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let text = render(&page);
    assert!(text.contains("restic-verify"), "{text}");
    for sub in &subs {
        assert!(
            text.contains(&format!("restic-verify-{sub}(1)")),
            "the man page does not mention {sub}:\n{text}"
        );
    }
    assert!(text.contains("Exit codes"), "{text}");
    // man-db reads it as a local file too.
    let out = StdCommand::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man not found: install Debian's `man-db` (scripts/setup.sh does)");
    assert!(
        out.status.success(),
        "man -l: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUBCOMMANDS"));
    // Every subcommand's own page, with its flags.
    for sub in &subs {
        let path = env.path(&format!("restic-verify-{sub}.1"));
        std::fs::write(&path, stdout(&env, &["man", sub])).expect("write");
        let text = render(&path);
        assert!(text.contains(&format!("restic-verify-{sub}")), "{text}");
    }
    let status = render(&env.path("restic-verify-status.1"));
    assert!(
        status.contains("--results") && status.contains("--json"),
        "{status}"
    );
    let bad = env.cmd().args(["man", "nope"]).output().expect("run");
    util::assert_exit(&bad, 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no subcommand `nope`"));
}
