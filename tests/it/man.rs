//! Man pages: restic-verify(1), one page per subcommand (read from `--help`, so a
//! new subcommand is covered without touching this file) and restic-verify.toml(5)
//! render with groff (`-ww`: every warning) and `man -l` without a warning, each
//! with its sections; the exit codes are a list; there is no page for `help`; the
//! profile page documents every key docs/config.md lists.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use crate::util::{self, stdout, subcommands, TestEnv};

/// Writes the page `restic-verify man ARGS` prints to `file`.
fn write_page(env: &TestEnv, args: &[&str], file: &str) -> PathBuf {
    let path = env.path(file);
    let mut all = vec!["man"];
    all.extend_from_slice(args);
    std::fs::write(&path, stdout(env, &all)).expect("write");
    path
}

/// The page as man-db shows it; fails on any warning of groff or man.
fn render(path: &Path) -> String {
    let out = StdCommand::new("groff")
        // -k: UTF-8 input through preconv, as man-db renders pages; -ww: all warnings.
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .arg(path)
        .output()
        .expect("groff not found: install Debian's `groff-base` (scripts/setup.sh does)");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.trim().is_empty(),
        "groff warns about {}:\n{warnings}",
        path.display()
    );
    let out = StdCommand::new("man")
        .arg("-l")
        .arg(path)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .env("MANROFFOPT", "-ww")
        .output()
        .expect("man not found: install Debian's `man-db` (scripts/setup.sh does)");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.trim().is_empty(),
        "man -l {}:\n{warnings}",
        path.display()
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The section headings of a rendered page, in order.
fn sections(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            l.chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || c == '[')
        })
        .filter(|l| !l.contains("restic-verify manual"))
        .map(|l| l.trim().to_owned())
        .collect()
}

const COMMAND_SECTIONS: [&str; 8] = [
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "EXIT STATUS",
    "ENVIRONMENT",
    "FILES",
    "SEE ALSO",
];

#[test]
fn man_pages_of_every_command_render_without_warnings_with_every_section() {
    let env = TestEnv::new();
    let subs = subcommands(&env);
    let main = render(&write_page(&env, &[], "restic-verify.1"));
    let got = sections(&main);
    let want: Vec<&str> = COMMAND_SECTIONS[..4]
        .iter()
        .chain(&["SUBCOMMANDS"])
        .chain(&COMMAND_SECTIONS[4..])
        .copied()
        .collect();
    assert_eq!(got, want, "{main}");
    for sub in &subs {
        assert!(
            main.contains(&format!("restic-verify-{sub}(1)")),
            "the man page does not mention {sub}:\n{main}"
        );
    }
    assert!(!main.contains("restic-verify-help"), "{main}");
    // The exit codes are a list: each code starts its own line.
    for code in ["0", "1", "2", "3", "130"] {
        assert!(
            main.lines()
                .any(|l| l.trim_start().starts_with(&format!("{code}  "))),
            "exit code {code} has no line of its own:\n{main}"
        );
    }
    for needle in [
        "RESTIC_VERIFY_CONFIG",
        "RESTIC_VERIFY_REPOSITORY",
        "RESTIC_VERIFY_RESTIC",
        "RESTIC_VERIFY_LOG",
        "RESTIC_VERIFY_RUNTIME_DIR",
        "RESTIC_VERIFY_RESTORE_CALL_SECONDS",
        "RESTIC_PASSWORD",
        "/etc/restic-verify/config.toml",
        "/var/lib/restic-verify",
        "/run/restic-verify",
        "restic-verify.toml(5)",
        "restic(1)",
        "restic-verify-check@.service",
    ] {
        assert!(
            main.contains(needle),
            "the main page lacks {needle}:\n{main}"
        );
    }
    for sub in &subs {
        let text = render(&write_page(&env, &[sub], &format!("restic-verify-{sub}.1")));
        assert_eq!(
            sections(&text),
            COMMAND_SECTIONS,
            "restic-verify-{sub}(1):\n{text}"
        );
        // The synopsis, whose spaces man justifies.
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(&format!("restic-verify {sub} ")), "{text}");
        assert!(text.contains("restic-verify(1)"), "{text}");
    }
    let status = render(&env.path("restic-verify-status.1"));
    assert!(
        status.contains("--results") && status.contains("--json"),
        "{status}"
    );
}

#[test]
fn man_page_of_the_profile_documents_every_key_of_docs_config() {
    let env = TestEnv::new();
    let text = render(&write_page(
        &env,
        &["restic-verify.toml"],
        "restic-verify.toml.5",
    ));
    let got = sections(&text);
    for want in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "[defaults]",
        "[repository.NAME]",
        "[job.NAME]",
        "[notify.NAME]",
        "EXAMPLE",
        "FILES",
        "SEE ALSO",
    ] {
        assert!(got.iter().any(|s| s == want), "no {want} in {got:?}");
    }
    assert!(text.starts_with("RESTIC-VERIFY.TOML(5)"), "{text}");
    // Every key in the first column of docs/config.md's key tables.
    let docs = std::fs::read_to_string(util::manifest_dir().join("docs/config.md")).expect("docs");
    let mut keys = 0;
    for line in docs.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).expect("cell");
        for key in cell.split('`').skip(1).step_by(2) {
            if key.starts_with("RESTIC_VERIFY_") {
                continue;
            }
            keys += 1;
            assert!(
                text.lines()
                    .any(|l| l.trim() == key || l.trim_start().starts_with(&format!("{key} "))),
                "restic-verify.toml(5) does not document `{key}`:\n{text}"
            );
        }
    }
    assert!(keys > 60, "only {keys} keys read from docs/config.md");
}

#[test]
fn man_has_no_page_for_help_or_an_unknown_name() {
    let env = TestEnv::new();
    for name in ["help", "nope"] {
        let out = env.cmd().args(["man", name]).output().expect("run");
        util::assert_exit(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("no man page `{name}`")), "{err}");
        assert!(err.contains("restic-verify.toml"), "{err}");
    }
}
