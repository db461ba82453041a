//! A file name made of terminal control sequences, backed up with the real restic
//! and failing an audit: the run summary, `status` and a notification show it
//! escaped (`\r`, `\x1b`), never raw, while JSONL keeps the raw name.
//! See: issue #20, item 4.

use std::path::Path;
use std::process::Command as StdCommand;

use crate::servers::HttpRecorder;
use crate::util::{self, TestEnv};

/// Carriage return, erase line, cursor up, a fake verdict, a window title, a bell.
const HOSTILE: &str = "x\r\x1b[2K\x1b[1APASS all good\x1b]0;pwned\x07";
/// How it must be shown.
const ESCAPED: &str = "x\\r\\x1b[2K\\x1b[1APASS all good\\x1b]0;pwned\\x07";

/// Flips one byte and puts the mtime back: the audit reads it as bit rot.
fn flip_keep_mtime(env: &TestEnv, f: &Path) {
    let reference = env.path("mtime-ref");
    let touch = |from: &Path, to: &Path| {
        let st = StdCommand::new("touch")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()
            .expect("touch");
        assert!(st.success());
    };
    touch(f, &reference);
    let mut bytes = std::fs::read(f).expect("read");
    bytes[3] ^= 0xff;
    std::fs::write(f, &bytes).expect("write");
    touch(&reference, f);
}

fn assert_no_raw_control(what: &str, text: &str) {
    assert!(
        !text.contains('\r') && !text.contains('\x1b') && !text.contains('\x07'),
        "raw control character in {what}: {text:?}"
    );
}

#[test]
fn audit_control_character_file_name_is_escaped_in_summary_status_and_notification() {
    let env = TestEnv::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let hostile = src.join(HOSTILE);
    std::fs::write(&hostile, b"some bytes that rot").expect("write");
    std::fs::write(src.join("plain.txt"), b"fine").expect("write");
    let repo = env.path("repo");
    for args in [vec!["init"], vec!["backup", "--host", "h", "."]] {
        let st = env
            .restic(&repo)
            .args(&args)
            .current_dir(&src)
            .output()
            .expect("restic");
        assert!(st.status.success(), "{st:?}");
    }
    flip_keep_mtime(&env, &hostile);
    let ntfy = HttpRecorder::start(&env, "ntfy", &[]);
    let pw = env.fixture_password();
    let profile = env.path("config.toml");
    std::fs::write(
        &profile,
        format!(
            "[defaults]\npassword-file = \"{}\"\nresults = \"{}\"\n\n[repository.r]\nurl = \"{}\"\n\n[job.audit]\nkind = \"audit\"\nrepositories = [\"r\"]\nnotify = [\"phone\"]\nmap = [\"{}={}\"]\n\n[notify.phone]\ntype = \"ntfy\"\nurl = \"{}\"\n",
            pw.display(),
            env.path("results.jsonl").display(),
            repo.display(),
            src.display(),
            src.display(),
            ntfy.url("/topic"),
        ),
    )
    .expect("profile");
    let out = env
        .cmd()
        .args(["run", "--config"])
        .arg(&profile)
        .output()
        .expect("run");
    util::assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_raw_control("the run's stderr", &stderr);
    assert!(
        stderr.contains(ESCAPED) && stderr.contains("FAIL audit `audit`"),
        "{stderr}"
    );

    // JSONL keeps the raw name (JSON escapes it).
    let r = env.last_record();
    assert_eq!(r["outcome"], "fail", "{r}");
    let files = r["audit"]["files"].as_array().expect("files");
    assert!(
        files.iter().any(|e| e["class"] == "mismatch"
            && e["path"].as_str().is_some_and(|p| p.ends_with(HOSTILE))),
        "{r}"
    );

    let reqs = ntfy.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let body = reqs[0]["body"].as_str().expect("body");
    assert_no_raw_control("the ntfy body", body);
    assert!(body.contains(ESCAPED), "{body}");

    // Wide enough that the reason is not wrapped inside the escaped name.
    let out = env
        .cmd()
        .env("COLUMNS", "400")
        .args(["status", "--color", "never", "--results"])
        .arg(env.path("results.jsonl"))
        .output()
        .expect("status");
    util::assert_exit(&out, 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_no_raw_control("status", &stdout);
    assert!(stdout.contains(ESCAPED), "{stdout}");
}

#[test]
fn status_log_line_naming_a_control_character_path_is_escaped() {
    let env = TestEnv::new();
    let dir = env.path(HOSTILE);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let results = dir.join("results.jsonl");
    std::fs::write(&results, "not a record\n").expect("write");
    let out = env
        .cmd()
        .args(["status", "--color", "never", "--results"])
        .arg(&results)
        .output()
        .expect("status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains(&format!("{ESCAPED}/results.jsonl")),
        "{stderr}"
    );
    assert_no_raw_control("the log", &stderr);
}
