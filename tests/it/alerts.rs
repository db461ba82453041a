//! The shipped Prometheus alert rules and Grafana dashboard (contrib/): promtool accepts
//! the rules and their unit tests pass; every alert is unit-tested firing and resolving;
//! every PromQL expression of the dashboard passes promtool; every metric either uses is
//! written by real runs of the binary (or is listed as belonging to a feature not yet
//! landed); and a real Prometheus, scraping a real node_exporter that reads the files of
//! real runs with the scrape configuration the rules document, raises exactly the
//! expected alerts and has data for every panel.
//!
//! A missing promtool, prometheus or node_exporter fails the tests (Debian's
//! `prometheus` and `prometheus-node-exporter`; scripts/setup.sh installs them).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::servers::{http_get, Exporter};
use crate::util::{self, TestEnv};

/// Metrics the rules or the dashboard use that no released restic-verify writes yet.
/// The rules stay quiet until they appear; each name must still be referenced, and must
/// not be emitted (then it leaves this list, and its real name is checked).
const NOT_YET_EMITTED: &[&str] = &[];

/// Names with a metric prefix that are label names, not metrics: the Pushgateway
/// notifier's label for the restic-verify job (docs/config.md).
const LABELS_NOT_METRICS: &[&str] = &["restic_verify_job"];

fn contrib(rel: &str) -> PathBuf {
    util::manifest_dir().join("contrib").join(rel)
}

fn rules_file() -> PathBuf {
    contrib("prometheus/restic-verify.rules.yml")
}

fn dashboard() -> Value {
    let p = contrib("grafana/restic-verify.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

/// Every `*.test.yml` promtool unit-test file next to the rules.
fn rule_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(contrib("prometheus"))
        .expect("contrib/prometheus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.yml in contrib/prometheus");
    files
}

fn promtool(args: &[&std::ffi::OsStr]) -> Output {
    StdCommand::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool: {e}; install Debian's `prometheus` package (scripts/setup.sh does)")
        })
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------------ the rules file

/// The alert names of the rules file (`- alert: Name` lines).
fn alert_names() -> Vec<String> {
    let text = std::fs::read_to_string(rules_file()).expect("rules");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_owned())
        .collect()
}

/// The `expr:` values of a rules file: inline, or the more-indented lines after `expr: |`.
fn rule_exprs(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        if let Some(rest) = line.trim().strip_prefix("expr:") {
            let rest = rest.trim();
            if rest == "|" || rest == ">" || rest == "|-" || rest == ">-" {
                let mut block = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let next_indent = next.len() - next.trim_start().len();
                    if !next.trim().is_empty() && next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    i += 1;
                }
                out.push(block.join("\n"));
            } else {
                out.push(rest.to_owned());
            }
        }
        i += 1;
    }
    out
}

#[test]
fn alerts_rules_file_passes_promtool_check_rules() {
    let out = promtool(&["check".as_ref(), "rules".as_ref(), rules_file().as_os_str()]);
    assert_success(&out, "promtool check rules");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let names = alert_names();
    assert!(names.len() >= 10, "alerts found: {names:?}");
    // Every rule is an alert this module can see (no recording rule, no scanning slip).
    assert!(
        stdout.contains(&format!("SUCCESS: {} rules found", names.len())),
        "promtool counted other rules than the {} alerts {names:?}:\n{stdout}",
        names.len()
    );
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "duplicate alert names: {names:?}"
    );
    for n in &names {
        assert!(n.starts_with("ResticVerify"), "alert {n} lacks the prefix");
    }
}

#[test]
fn alerts_rules_unit_tests_pass_under_promtool_test_rules() {
    let files = rule_test_files();
    let mut args: Vec<&std::ffi::OsStr> = vec!["test".as_ref(), "rules".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = promtool(&args);
    assert_success(&out, "promtool test rules");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("SUCCESS").count(),
        files.len(),
        "one SUCCESS per test file expected:\n{stdout}"
    );
}

/// One `exp_alerts` of a promtool test file.
#[derive(Debug)]
struct Expectation {
    file: String,
    group: usize,
    eval_seconds: u64,
    alert: String,
    fires: bool,
}

/// A Prometheus duration such as `16m`, `101d` or `1h30m`, in seconds.
fn duration_seconds(s: &str) -> u64 {
    let mut total = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().unwrap_or_else(|_| panic!("bad duration {s:?}"));
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            _ => panic!("unit {c:?} of {s:?} not understood"),
        };
    }
    assert!(num.is_empty(), "duration {s:?} lacks a unit");
    total
}

/// Reads the alert expectations of a promtool test file, in the layout its header
/// describes (`- eval_time:`, `alertname:`, `exp_alerts:` each on a line of its own).
fn scan_expectations(path: &Path) -> Vec<Expectation> {
    let text = std::fs::read_to_string(path).expect("test file");
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    let (mut in_tests, mut group) = (false, 0);
    let (mut eval, mut alert): (Option<u64>, Option<String>) = (None, None);
    for (n, line) in text.lines().enumerate() {
        let where_ = format!("{file}:{}", n + 1);
        if line.starts_with("tests:") {
            in_tests = true;
            continue;
        }
        if in_tests && line.starts_with("  - ") {
            group += 1;
        }
        let t = line.trim();
        if let Some(v) = t.strip_prefix("- eval_time:") {
            eval = Some(duration_seconds(v.trim()));
            alert = None;
        } else if let Some(v) = t.strip_prefix("alertname:") {
            alert = Some(v.trim().to_owned());
        } else if let Some(v) = t.strip_prefix("exp_alerts:") {
            let fires = match v.trim() {
                "[]" => false,
                "" => true,
                other => {
                    panic!("{where_}: write exp_alerts as `[]` or a list below, not {other:?}")
                }
            };
            out.push(Expectation {
                file: file.clone(),
                group,
                eval_seconds: eval
                    .unwrap_or_else(|| panic!("{where_}: exp_alerts without eval_time")),
                alert: alert
                    .take()
                    .unwrap_or_else(|| panic!("{where_}: exp_alerts without alertname")),
                fires,
            });
        }
    }
    out
}

#[test]
fn alerts_every_alert_is_unit_tested_firing_and_then_resolving() {
    let alerts = alert_names();
    let exps: Vec<Expectation> = rule_test_files()
        .iter()
        .flat_map(|f| scan_expectations(f))
        .collect();
    assert!(exps.len() > alerts.len(), "too few expectations: {exps:#?}");
    // An expectation on an alert the rules lack passes vacuously when it is empty.
    for e in &exps {
        assert!(
            alerts.contains(&e.alert),
            "{} tests alert {} that the rules file does not define",
            e.file,
            e.alert
        );
    }
    let mut untested = Vec::new();
    for a in &alerts {
        let fires_then_resolves = exps.iter().any(|f| {
            f.alert == *a
                && f.fires
                && exps.iter().any(|r| {
                    r.alert == *a
                        && !r.fires
                        && r.file == f.file
                        && r.group == f.group
                        && r.eval_seconds > f.eval_seconds
                })
        });
        if !fires_then_resolves {
            untested.push(a.as_str());
        }
    }
    assert!(
        untested.is_empty(),
        "alerts not shown to fire and later resolve in one test group: {untested:?}"
    );
}

// ---------------------------------------------------------------- the dashboard

/// Every string under an `expr` key anywhere in the dashboard, with its JSON path.
fn collect_exprs(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{path}.{k}");
                if k == "expr" {
                    let s = child
                        .as_str()
                        .unwrap_or_else(|| panic!("{p} is not a string: {child}"));
                    out.push((p.clone(), s.to_owned()));
                }
                collect_exprs(child, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_exprs(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The PromQL of a query variable: the selector of `label_values(SELECTOR, label)` or
/// the expression of `query_result(EXPR)`.
fn variable_promql(query: &str) -> String {
    let q = query.trim();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (selector, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("label_values without a label: {q}"));
        assert!(!label.trim().is_empty(), "{q}");
        return selector.trim().to_owned();
    }
    if let Some(inner) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return inner.to_owned();
    }
    panic!("variable query {q:?} is neither label_values(...) nor query_result(...): teach this test to check it");
}

/// Every PromQL expression of the dashboard: each `expr`, and each query variable's.
fn dashboard_promql(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    collect_exprs(d, "$", &mut out);
    for (i, var) in d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .enumerate()
    {
        if var["type"] != "query" {
            continue;
        }
        let path = format!("$.templating.list[{i}]");
        let query = match &var["query"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o["query"].as_str().expect("query.query").to_owned(),
            other => panic!("{path}.query: {other}"),
        };
        out.push((format!("{path}.query"), variable_promql(&query)));
        if let Some(def) = var["definition"].as_str() {
            out.push((format!("{path}.definition"), variable_promql(def)));
        }
    }
    out
}

fn dashboard_variables(d: &Value) -> BTreeSet<String> {
    d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| v["name"].as_str().expect("variable name").to_owned())
        .collect()
}

/// Replaces Grafana variables as Grafana would before sending the query: `$__range`,
/// `$__interval` and `$__rate_interval` by a duration, the dashboard's own variables by
/// `value`. `$1` (a label_replace group) stays. Any other variable is an error.
fn interpolate(expr: &str, vars: &BTreeSet<String>, value: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {expr}"));
            let inner = &braced[..end];
            (inner.split(':').next().unwrap_or(inner), end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let replacement = match name {
            "__interval" | "__rate_interval" | "__range" => "5m".to_owned(),
            "__interval_ms" | "__range_ms" => "300000".to_owned(),
            "__range_s" => "300".to_owned(),
            n if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => format!("${n}"),
            n if vars.contains(n) => value.to_owned(),
            n => panic!(
                "{expr}: Grafana variable ${n} is neither built in nor defined by the dashboard"
            ),
        };
        out.push_str(&replacement);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[test]
fn alerts_dashboard_every_promql_expression_passes_promtool() {
    let d = dashboard();
    let vars = dashboard_variables(&d);
    let exprs = dashboard_promql(&d);
    // Every query of every panel has an expression (none empty, none missed).
    let mut targets = 0;
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            targets += 1;
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {:?} has a query without an expr: {t}",
                p["title"]
            );
        }
    }
    assert!(targets >= 10, "only {targets} queries in the dashboard");
    assert!(
        exprs.len() >= targets,
        "{} expressions found for {targets} queries",
        exprs.len()
    );
    // Each expression becomes a recording rule in a group named after its JSON path, so
    // promtool parses (and type-checks) it and names the culprit when it cannot.
    let groups: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (path, e))| {
            json!({
                "name": path,
                "rules": [{"record": format!("grafana_dashboard_expr_{i}"), "expr": interpolate(e, &vars, ".*")}],
            })
        })
        .collect();
    let env = TestEnv::new();
    let file = env.path("dashboard.rules.yml");
    // JSON is YAML: promtool reads it as a rules file.
    std::fs::write(&file, json!({ "groups": groups }).to_string()).unwrap();
    let out = promtool(&["check".as_ref(), "rules".as_ref(), file.as_os_str()]);
    assert_success(&out, "promtool check rules on the dashboard's expressions");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{stdout}"
    );
}

#[test]
fn alerts_dashboard_takes_its_datasource_from_a_variable() {
    let d = dashboard();
    let ds_vars: Vec<&Value> = d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter(|v| v["type"] == "datasource")
        .collect();
    assert_eq!(ds_vars.len(), 1, "one datasource variable expected");
    assert_eq!(ds_vars[0]["query"], "prometheus");
    let want = format!("${{{}}}", ds_vars[0]["name"].as_str().expect("name"));
    // Every datasource reference anywhere (panels, targets, variables) is that variable.
    fn walk(v: &Value, path: &str, want: &str, seen: &mut usize) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = format!("{path}.{k}");
                    if k == "datasource" {
                        *seen += 1;
                        assert_eq!(child["uid"], want, "{p} is not the datasource variable");
                        assert_eq!(child["type"], "prometheus", "{p}");
                    } else {
                        walk(child, &p, want, seen);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), want, seen);
                }
            }
            _ => {}
        }
    }
    let mut seen = 0;
    walk(&d["panels"], "$.panels", &want, &mut seen);
    for (i, v) in d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        if v["type"] == "query" {
            walk(v, &format!("$.templating.list[{i}]"), &want, &mut seen);
        }
    }
    assert!(seen >= 20, "only {seen} datasource references");
}

// ------------------------------------------------------------ real runs, real names

/// Metric names (restic_*, node_textfile_*) in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    for prefix in ["restic_", "node_textfile_"] {
        let mut from = 0;
        while let Some(pos) = expr[from..].find(prefix) {
            let start = from + pos;
            let boundary = start == 0 || {
                let c = bytes[start - 1];
                !(c.is_ascii_alphanumeric() || c == b'_')
            };
            let end = expr[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |e| start + e);
            if boundary && !LABELS_NOT_METRICS.contains(&&expr[start..end]) {
                out.insert(expr[start..end].to_owned());
            }
            from = end;
        }
    }
    out
}

/// Runs the binary as a timer would: `restic-verify run` of a profile with check jobs
/// (rotating, full read) on a clean, a damaged and a missing repository, a notifier
/// that cannot be reached, a passing restore test and one whose source differs, and
/// a passing audit.
/// Returns the textfile directory.
fn real_runs(env: &TestEnv) -> PathBuf {
    let clean = env.fixture_repo("clean");
    let damaged = env.fixture_repo("missing-pack");
    let source = env.source_tree();
    // A second copy of the source with one file's bytes changed, size and mtime kept:
    // a mismatch, as bit rot or a damaged pack would give.
    let edited = env.path("edited");
    std::fs::create_dir_all(&edited).unwrap();
    let st = StdCommand::new("tar")
        .arg("xzf")
        .arg(util::manifest_dir().join("fixtures/source.tar.gz"))
        .arg("-C")
        .arg(&edited)
        .status()
        .expect("tar");
    assert!(st.success());
    let victim = edited.join("source/README.txt");
    let meta = std::fs::metadata(&victim).expect("README.txt in the source fixture");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&victim, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let textfiles = env.path("textfiles");
    std::fs::create_dir_all(&textfiles).unwrap();
    let profile = format!(
        r#"[defaults]
password-file = "{pw}"
results = "{results}"
metrics-dir = "{textfiles}"
state-dir = "{state}"

[repository.clean]
url = "{clean}"

[repository.missing-pack]
url = "{damaged}"

[repository.absent]
url = "{absent}"

[job.weekly]
kind = "check"
repositories = ["clean", "missing-pack", "absent"]
read-data-subset = "rotate/2"
notify = ["dead"]

[job.full]
kind = "check"
repositories = ["clean"]
read-data = true

[job.restore]
kind = "restore-test"
repositories = ["clean"]
map = ["/source={source}"]
sample = 5

[job.audit]
kind = "audit"
repositories = ["clean"]
map = ["/source={source}"]

[job.restore-bad]
kind = "restore-test"
repositories = ["clean"]
map = ["/source={edited}/source"]
sample = 1000

[notify.dead]
type = "healthchecks"
url = "http://127.0.0.1:{dead_port}/ping/x"
timeout = "2s"
"#,
        pw = env.fixture_password().display(),
        results = env.path("results.jsonl").display(),
        textfiles = textfiles.display(),
        state = env.path("state").display(),
        clean = clean.display(),
        damaged = damaged.display(),
        absent = env.path("repos/absent").display(),
        source = source.display(),
        edited = edited.display(),
    );
    let config = env.path("config.toml");
    std::fs::write(&config, profile).unwrap();
    let out = env
        .cmd()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    // Damage found (1) beats could not verify (3).
    util::assert_exit(&out, 1);
    let outcomes: BTreeMap<(String, String), String> = env
        .records()
        .iter()
        .map(|r| {
            (
                (
                    r["job"].as_str().unwrap().to_owned(),
                    r["repository"].as_str().unwrap().to_owned(),
                ),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeMap<(String, String), String> = [
        ("audit", "clean", "pass"),
        ("full", "clean", "pass"),
        ("restore", "clean", "pass"),
        ("restore-bad", "clean", "fail"),
        ("weekly", "absent", "error"),
        ("weekly", "clean", "pass"),
        ("weekly", "missing-pack", "fail"),
    ]
    .into_iter()
    .map(|(j, r, o)| ((j.to_owned(), r.to_owned()), o.to_owned()))
    .collect();
    assert_eq!(
        outcomes,
        want,
        "the runs did not end as the scenario needs:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    textfiles
}

/// Metric names in a text exposition.
fn exposed_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

#[test]
fn alerts_every_metric_the_rules_and_dashboard_use_is_written_by_real_runs() {
    let env = TestEnv::new();
    let textfiles = real_runs(&env);
    for f in util::walk(&textfiles) {
        util::promtool_check(&std::fs::read_to_string(&f).unwrap());
    }
    // node_exporter adds node_textfile_mtime_seconds and node_textfile_scrape_error.
    let exporter = Exporter::node_exporter(&textfiles);
    let exposed = exposed_names(&exporter.metrics());

    let rules_text = std::fs::read_to_string(rules_file()).unwrap();
    let rule_exprs = rule_exprs(&rules_text);
    assert_eq!(
        rule_exprs.len(),
        alert_names().len(),
        "one expr per alert expected"
    );
    let d = dashboard();
    let mut used: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for e in &rule_exprs {
        for n in metric_names(e) {
            used.entry(n).or_default().insert("rules");
        }
    }
    for (_, e) in dashboard_promql(&d) {
        for n in metric_names(&e) {
            used.entry(n).or_default().insert("dashboard");
        }
    }
    assert!(
        used.len() >= 15,
        "too few metric names found, is the scan broken? {used:?}"
    );
    let missing: Vec<String> = used
        .iter()
        .filter(|(n, _)| !exposed.contains(*n) && !NOT_YET_EMITTED.contains(&n.as_str()))
        .map(|(n, by)| format!("{n} (used by {by:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics used but written by no real run: {missing:#?}\nwritten: {exposed:#?}"
    );
    for n in NOT_YET_EMITTED {
        assert!(
            used.contains_key(*n),
            "{n} is listed as not yet emitted but nothing uses it"
        );
        assert!(
            !exposed.contains(*n),
            "{n} is written now: take it off NOT_YET_EMITTED"
        );
    }
    // The dashboard shows every metric the binary writes (the legacy names excepted).
    let legacy = ["restic_verification_status", "restic_restore_test_status"];
    let unshown: Vec<&String> = exposed
        .iter()
        .filter(|n| n.starts_with("restic_") && !legacy.contains(&n.as_str()))
        .filter(|n| !used.get(*n).is_some_and(|by| by.contains("dashboard")))
        .collect();
    assert!(
        unshown.is_empty(),
        "metrics the dashboard does not show: {unshown:?}"
    );
}

// ------------------------------------------------------------ a real Prometheus

/// Prometheus from Debian's `prometheus` package, on loopback, stopped on drop.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prometheus {
    fn start(env: &TestEnv, config: &str) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = env.path("prometheus.yml");
        std::fs::write(&cfg, config).unwrap();
        let log = env.path("prometheus.log");
        let mut child = StdCommand::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                env.path("prometheus-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus: {e}; install Debian's `prometheus` (scripts/setup.sh does)")
            });
        let start = Instant::now();
        while http_get(port, "/-/ready").is_none() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "prometheus exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "prometheus did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Prometheus { child, port, log }
    }

    fn api(&self, path: &str) -> Value {
        let body = http_get(self.port, path)
            .unwrap_or_else(|| panic!("GET {path} failed; prometheus log:\n{}", self.log_text()));
        let v: Value = serde_json::from_str(&body).expect("prometheus JSON");
        assert_eq!(v["status"], "success", "{path}: {v}");
        v["data"].clone()
    }

    fn query(&self, promql: &str) -> Value {
        self.api(&format!("/api/v1/query?query={}", url_encode(promql)))
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// (alertname, textfile job, repository or notifier, category) of an active alert.
type AlertKey = (String, String, String, String);

fn alert_key(a: &Value) -> AlertKey {
    let l = &a["labels"];
    let s = |k: &str| l[k].as_str().unwrap_or("").to_owned();
    let target = if l["notifier"].is_string() {
        format!("notifier={}", s("notifier"))
    } else {
        s("repository")
    };
    (s("alertname"), s("exported_job"), target, s("category"))
}

#[test]
fn alerts_real_prometheus_on_real_runs_raises_the_expected_alerts_and_fills_every_panel() {
    let env = TestEnv::new();
    let textfiles = real_runs(&env);
    let exporter = Exporter::node_exporter(&textfiles);
    // The scrape configuration the rules file documents: no honor_labels.
    let prom = Prometheus::start(
        &env,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            rules = rules_file().display(),
            port = exporter.port
        ),
    );
    let want: BTreeSet<AlertKey> = [
        ("ResticVerifyFailed", "weekly", "missing-pack", ""),
        // The check named the missing pack (the damage report).
        ("ResticVerifyDamagedPacks", "weekly", "missing-pack", ""),
        ("ResticVerifyRestoreTestFailed", "restore-bad", "clean", ""),
        (
            "ResticVerifyCouldNotVerify",
            "weekly",
            "absent",
            "not_found",
        ),
        (
            "ResticVerifyNotificationsFailing",
            "weekly",
            "notifier=dead",
            "",
        ),
        // The fixture's snapshots are years old.
        ("ResticVerifyNewestSnapshotTooOld", "weekly", "clean", ""),
        (
            "ResticVerifyNewestSnapshotTooOld",
            "weekly",
            "missing-pack",
            "",
        ),
        ("ResticVerifyNewestSnapshotTooOld", "full", "clean", ""),
        // Half the packs read by the rotation, never all (clean: `full` read them).
        ("ResticVerifyPacksNeverFullyRead", "", "missing-pack", ""),
        // Nothing read: the repository does not exist.
        ("ResticVerifyPacksNotRead", "", "absent", ""),
    ]
    .into_iter()
    .map(|(a, j, r, c)| (a.to_owned(), j.to_owned(), r.to_owned(), c.to_owned()))
    .collect();
    let start = Instant::now();
    let alerts = loop {
        let alerts = prom.api("/api/v1/alerts")["alerts"]
            .as_array()
            .expect("alerts")
            .clone();
        let got: BTreeSet<AlertKey> = alerts.iter().map(alert_key).collect();
        if got == want {
            break alerts;
        }
        if start.elapsed() > Duration::from_secs(60) {
            assert_eq!(
                got, want,
                "active alerts (pending or firing) after 60 s:\n{alerts:#?}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    // The scrape renamed the file's `job`, and every message names the textfile's job
    // and the repository (or notifier), not the scrape job.
    for a in &alerts {
        let l = &a["labels"];
        // Alerts per job carry the scrape job; those per repository drop all jobs.
        assert!(l["job"] == "node" || l["job"].is_null(), "{a}");
        let text = format!(
            "{} {}",
            a["annotations"]["summary"].as_str().unwrap(),
            a["annotations"]["description"].as_str().unwrap()
        );
        for key in ["exported_job", "repository", "notifier", "category"] {
            if let Some(v) = l[key].as_str() {
                assert!(text.contains(v), "{key}={v} not named in {text:?}");
            }
        }
        assert!(!text.contains("job node"), "the scrape job named: {text:?}");
    }
    let failed = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "ResticVerifyFailed")
        .unwrap();
    assert_eq!(
        failed["annotations"]["summary"],
        "restic-verify job weekly failed on repository missing-pack"
    );

    // Every expression of the dashboard returns data for these runs (a misspelt label
    // or matcher passes promtool and shows an empty panel). Variables become `.+`, not
    // Grafana's `.*` for "All", which an absent (misspelt) label would match.
    let d = dashboard();
    let vars = dashboard_variables(&d);
    let mut empty = Vec::new();
    for (path, e) in dashboard_promql(&d) {
        let q = interpolate(&e, &vars, ".+");
        let data = prom.query(&q);
        let has_data = match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                !data["result"].as_array().expect("result").is_empty()
            }
            Some("scalar") => true,
            other => panic!("{path}: result type {other:?} for {q}"),
        };
        if !has_data {
            empty.push(format!("{path}: {q}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries with no data for real runs:\n{}",
        empty.join("\n")
    );
}
