//! `restic-verify report`: one self-contained HTML file from a history of real runs
//! (see `status::real_history`), checked as text (no external resource, every
//! record string escaped) and rendered by headless Chromium (Debian's `chromium`):
//! the DOM it builds has the charts drawn, a screenshot and a PDF come out.
//!
//! Chromium runs with no network features and a private profile directory. Without
//! it the rendering test fails under CI=true and is skipped (with a message)
//! elsewhere. RESTIC_VERIFY_TEST_SCREENSHOT=FILE keeps the screenshot to look at.

use std::path::{Path, PathBuf};

use crate::status::{self, MARKUP_NAME};
use crate::util::{self, TestEnv};

/// A job name that is markup, as another writer might record it.
const MARKUP_JOB: &str = "<script>alert('job')</script>";

/// Chromium on PATH; `None` (with a message) when it is missing outside CI.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium not found: install Debian's `chromium` (scripts/setup.sh does)"
        );
        eprintln!("SKIPPED: chromium not found; install Debian's `chromium` (scripts/setup.sh does) to render the report");
    }
    found
}

/// Runs headless Chromium on `page` with `args`; returns stdout.
fn run_chromium(bin: &Path, env: &TestEnv, page: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir_in(env.dir.path()).expect("profile dir");
    let out = assert_cmd::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("chromium");
    assert!(
        out.status.success(),
        "chromium failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No way for the page to load anything: no script, no stylesheet link, no
/// `src`/`href` to a URL, no CSS `url()` or `@import`.
fn assert_self_contained(html: &str) {
    let lower = html.to_lowercase();
    for bad in [
        "<script", "<link", "<iframe", "<img", "<object", "<embed", "@import", "url(",
    ] {
        assert!(!lower.contains(bad), "`{bad}` in the page");
    }
    for attr in ["src=", "href="] {
        for (i, _) in lower.match_indices(attr) {
            let value = lower[i + attr.len()..].trim_start_matches(['"', '\'']);
            for scheme in ["http:", "https:", "file:", "//", "data:", "ftp:"] {
                assert!(
                    !value.starts_with(scheme),
                    "`{attr}{}` loads a resource",
                    &value[..value.len().min(40)]
                );
            }
        }
    }
    // A URL in a record's text (restic 0.18 points at its troubleshooting guide) is
    // text, not a resource: only attributes and CSS could load one, checked above.
}

/// Every `<svg …>…</svg>` element of a document.
fn svgs(doc: &str) -> Vec<&str> {
    doc.match_indices("<svg")
        .map(|(i, _)| {
            let end = doc[i..].find("</svg>").map_or(doc.len(), |e| i + e + 6);
            &doc[i..end]
        })
        .collect()
}

#[test]
fn report_of_a_real_history_is_one_self_contained_page_that_chromium_renders() {
    let env = TestEnv::new();
    let h = status::real_history(&env);
    // A record from another writer with a markup job name and a damage recipe.
    let mut text = std::fs::read_to_string(&h.results).expect("read");
    text.push_str(&format!(
        "{}\n",
        serde_json::json!({
            "v": 1, "ts": chrono::Utc::now().to_rfc3339(), "job": MARKUP_JOB, "kind": "audit",
            "repository": "clean", "outcome": "fail", "audit": {"files": 12},
            "findings": [{"severity": "fail", "kind": "audit_mismatch", "detail": "1 file differs"}],
            "damage": {"recipe": ["restic repair packs d8adb733", "restic repair snapshots --forget"]}
        })
    ));
    std::fs::write(&h.results, text).expect("write");

    let out_dir = env.path("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let page = out_dir.join("report.html");
    let out = env
        .cmd()
        .args(["report", "--config"])
        .arg(&h.profile)
        .arg("--output")
        .arg(&page)
        .output()
        .expect("report");
    // The profile's `never-run` job never ran: as `status`, exit 3.
    util::assert_exit(&out, 3);
    // One file, written atomically: no temp file left beside it.
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("report.html")]);
    let html = std::fs::read_to_string(&page).expect("read report");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_self_contained(&html);
    // The DOM serialises text with &, < and > escaped; the page escapes quotes too.
    let markup_text = MARKUP_NAME
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        html.contains(&markup_text.replace('"', "&quot;")),
        "file name not shown as text"
    );
    assert!(
        html.contains("&lt;script&gt;alert(&#39;job&#39;)&lt;/script&gt;"),
        "job name not shown as text"
    );
    assert!(
        html.contains("<pre>restic repair packs d8adb733</pre>"),
        "recipe missing"
    );
    for repository in ["clean", "flipped-byte", "markup"] {
        assert!(
            html.contains(&format!("Repository {repository} ")),
            "{repository} missing"
        );
    }
    assert!(html.contains("Period covered:"));
    assert!(
        html.contains("Check coverage")
            && html.contains("Restore throughput")
            && html.contains("RTO estimate")
    );
    // Charts: a timeline per repository, coverage for the checks, throughput and
    // RTO for clean's restore test.
    let charts = svgs(&html);
    assert!(charts.len() >= 3 + 2 + 2, "{} charts", charts.len());

    let Some(bin) = chromium() else { return };
    let dom = run_chromium(&bin, &env, &page, &["--dump-dom".to_owned()]);
    assert!(dom.contains("restic-verify report"), "{dom}");
    assert!(
        !dom.to_lowercase().contains("<script"),
        "a script element was created:\n{dom}"
    );
    assert!(
        dom.contains(&markup_text),
        "the markup file name is not text in the DOM"
    );
    let drawn = svgs(&dom);
    assert_eq!(drawn.len(), charts.len(), "chromium dropped charts");
    for svg in &drawn {
        assert!(
            ["<path", "<rect", "<circle"]
                .iter()
                .any(|shape| svg.contains(shape)),
            "an empty chart: {svg}"
        );
    }
    assert!(
        drawn.iter().any(|s| s.contains("<circle")),
        "no data points drawn"
    );
    assert!(
        drawn.iter().any(|s| s.contains("class=\"run\"")),
        "no run bars drawn"
    );

    let png = env.path("report.png");
    run_chromium(
        &bin,
        &env,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1000,2400".to_owned(),
            "--hide-scrollbars".to_owned(),
        ],
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("IHDR"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("IHDR"));
    assert_eq!((width, height), (1000, 2400));
    assert!(
        bytes.len() > 30_000,
        "a {}-byte screenshot is blank",
        bytes.len()
    );
    // For a person to look at: RESTIC_VERIFY_TEST_SCREENSHOT=/tmp/report.png.
    if let Some(keep) = std::env::var_os("RESTIC_VERIFY_TEST_SCREENSHOT") {
        std::fs::copy(&png, keep).expect("copy the screenshot");
    }

    let pdf = env.path("report.pdf");
    run_chromium(
        &bin,
        &env,
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_owned(),
        ],
    );
    let bytes = std::fs::read(&pdf).expect("PDF written");
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    assert!(bytes.len() > 10_000, "a {}-byte PDF is blank", bytes.len());
}

#[test]
fn report_with_since_and_bad_inputs() {
    let env = TestEnv::new();
    let results = env.path("r.jsonl");
    let now = chrono::Utc::now();
    let line = |days: i64, outcome: &str| {
        format!(
            "{{\"v\":1,\"ts\":\"{}\",\"job\":\"weekly\",\"kind\":\"check\",\"repository\":\"nas\",\"outcome\":\"{outcome}\",\"findings\":[]}}\n",
            (now - chrono::Duration::days(days)).to_rfc3339()
        )
    };
    std::fs::write(
        &results,
        format!("{}{}not json\n", line(100, "fail"), line(1, "pass")),
    )
    .expect("write");
    let page = env.path("r.html");
    let out = env
        .cmd()
        .args(["report", "--since", "30d", "--results"])
        .arg(&results)
        .arg("-o")
        .arg(&page)
        .output()
        .expect("report");
    util::assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3 skipped"));
    let html = std::fs::read_to_string(&page).expect("read");
    assert!(
        html.contains("1 run(s) on 1 repository: 1 pass, 0 fail"),
        "{html}"
    );
    assert!(
        html.contains("1 older run(s) before the period are left out"),
        "{html}"
    );
    assert!(html.contains("1 line(s) skipped"), "{html}");

    let bad = env
        .cmd()
        .args(["report", "--since", "soon", "--results"])
        .arg(&results)
        .arg("-o")
        .arg(&page)
        .output()
        .expect("report");
    util::assert_exit(&bad, 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));
    let missing = env
        .cmd()
        .args(["report", "--results", "nope.jsonl", "-o"])
        .arg(&page)
        .output()
        .expect("report");
    util::assert_exit(&missing, 2);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.jsonl"));
    let no_dir = env
        .cmd()
        .args(["report", "--results"])
        .arg(&results)
        .arg("-o")
        .arg(env.path("no/such/dir/r.html"))
        .output()
        .expect("report");
    util::assert_exit(&no_dir, 3);
    assert!(String::from_utf8_lossy(&no_dir.stderr).contains("no/such/dir"));
}

/// A profile of three jobs on two repositories whose results file does not exist.
fn unrun_profile(env: &TestEnv) -> PathBuf {
    let profile = env.path("profile.toml");
    std::fs::write(
        &profile,
        format!(
            "[defaults]\npassword-file = \"/etc/pw\"\nresults = \"{}\"\n\n[repository.nas]\nurl = \"/srv/nas\"\n[repository.b2]\nurl = \"/srv/b2\"\n\n[job.weekly-check]\nkind = \"check\"\nrepositories = [\"nas\", \"b2\"]\n\n[job.monthly-restore]\nkind = \"restore-test\"\nrepositories = [\"nas\"]\n\n[job.nightly-audit]\nkind = \"audit\"\nrepositories = [\"nas\"]\n",
            env.path("results.jsonl").display()
        ),
    )
    .expect("profile");
    profile
}

#[test]
fn report_config_with_no_runs_lists_every_job_and_exits_3() {
    let env = TestEnv::new();
    let profile = unrun_profile(&env);
    let page = env.path("r.html");
    let out = env
        .cmd()
        .args(["report", "--config"])
        .arg(&profile)
        .arg("-o")
        .arg(&page)
        .output()
        .expect("report");
    // As `status` on the same profile: jobs that never ran verified nothing.
    util::assert_exit(&out, 3);
    let status = env
        .cmd()
        .args(["status", "--config"])
        .arg(&profile)
        .output()
        .expect("status");
    util::assert_exit(&status, 3);
    let html = std::fs::read_to_string(&page).expect("read");
    let table = html
        .split(r#"<table id="profile-jobs">"#)
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("no table of the profile's jobs:\n{html}"));
    for (job, repository) in [
        ("weekly-check", "nas"),
        ("weekly-check", "b2"),
        ("monthly-restore", "nas"),
        ("nightly-audit", "nas"),
    ] {
        assert!(
            table.contains(&format!("<td>{job}</td>"))
                && table
                    .split("<tr>")
                    .any(|r| r.contains(&format!("<td>{job}</td>"))
                        && r.contains(&format!("<td>{repository}</td>"))
                        && r.contains("never ran")),
            "{job} on {repository} not listed as never ran:\n{table}"
        );
    }
    assert!(html.contains("4 never ran"), "{html}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("never ran"), "{stderr}");

    // Once every job ran and passed, the same report exits 0.
    let now = chrono::Utc::now().to_rfc3339();
    let lines: String = [
        ("weekly-check", "check", "nas"),
        ("weekly-check", "check", "b2"),
        ("monthly-restore", "restore-test", "nas"),
        ("nightly-audit", "audit", "nas"),
    ]
    .iter()
    .map(|(j, k, r)| {
        format!("{{\"v\":1,\"ts\":\"{now}\",\"job\":\"{j}\",\"kind\":\"{k}\",\"repository\":\"{r}\",\"outcome\":\"pass\",\"findings\":[]}}\n")
    })
    .collect();
    std::fs::write(env.path("results.jsonl"), lines).expect("write");
    let out = env
        .cmd()
        .args(["report", "--config"])
        .arg(&profile)
        .arg("-o")
        .arg(&page)
        .output()
        .expect("report");
    util::assert_exit(&out, 0);
}

#[test]
fn report_period_begins_at_the_first_run() {
    let env = TestEnv::new();
    let results = env.path("r.jsonl");
    let first = chrono::Utc::now() - chrono::Duration::minutes(10);
    let line = |t: chrono::DateTime<chrono::Utc>| {
        format!(
            "{{\"v\":1,\"ts\":\"{}\",\"job\":\"weekly\",\"kind\":\"check\",\"repository\":\"nas\",\"outcome\":\"pass\",\"findings\":[]}}\n",
            t.to_rfc3339()
        )
    };
    std::fs::write(
        &results,
        line(first) + &line(first + chrono::Duration::minutes(5)),
    )
    .expect("write");
    let page = env.path("r.html");
    let out = env
        .cmd()
        .args(["report", "--results"])
        .arg(&results)
        .arg("-o")
        .arg(&page)
        .output()
        .expect("report");
    util::assert_exit(&out, 0);
    let html = std::fs::read_to_string(&page).expect("read");
    let want = format!(
        "Period covered: <strong>{}</strong>",
        first.format("%Y-%m-%d %H:%M UTC")
    );
    assert!(html.contains(&want), "want {want:?} in:\n{html}");
}

#[test]
fn report_memory_does_not_grow_with_the_length_of_the_history() {
    let env = TestEnv::new();
    let small = env.path("small.jsonl");
    let large = env.path("large.jsonl");
    status::synthetic_history(&small, 1_000);
    status::synthetic_history(&large, 100_000);
    let run = |p: &Path, out: &str| {
        let args: Vec<std::ffi::OsString> = vec![
            "report".into(),
            "--results".into(),
            p.into(),
            "-o".into(),
            env.path(out).into(),
        ];
        status::peak_kib(
            &env,
            &args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>(),
        )
    };
    let small_kib = run(&small, "small.html");
    let large_kib = run(&large, "large.html");
    assert!(
        large_kib < small_kib + 8 * 1024,
        "report used {large_kib} KiB on 100,000 records and {small_kib} KiB on 1,000"
    );
    let html = std::fs::read_to_string(env.path("large.html")).expect("read");
    assert!(
        html.contains("100000 run(s)"),
        "{}",
        &html[..html.len().min(3000)]
    );
    // Bounded: fixed bins per chart, each distinct finding once.
    assert!(html.len() < 2 << 20, "a {}-byte page", html.len());
}
