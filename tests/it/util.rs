//! TestEnv: a private temp dir, fixture repositories unpacked into it (never used in
//! place), the restic binary under test, and a hermetic command builder.
//!
//! The restic binary comes from `RESTIC_VERIFY_TEST_RESTIC` (default: `restic` on
//! PATH). A missing restic or promtool fails the test: nothing is skipped silently.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

/// The fixture repositories' password (see fixtures/README.md).
pub const FIXTURE_PASSWORD: &str = "fixture-password";

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The restic binary the suite runs against.
pub fn restic_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = std::env::var_os("RESTIC_VERIFY_TEST_RESTIC")
            .map(PathBuf::from)
            .unwrap_or_else(|| "restic".into());
        let ok = StdCommand::new(&bin).arg("version").output().map(|o| o.status.success());
        assert!(
            matches!(ok, Ok(true)),
            "restic not runnable at {} (set RESTIC_VERIFY_TEST_RESTIC, or run scripts/setup.sh); integration tests need the real restic",
            bin.display()
        );
        bin
    })
    .clone()
}

/// (major, minor) of the restic under test.
pub fn restic_version() -> (u32, u32) {
    static V: OnceLock<(u32, u32)> = OnceLock::new();
    *V.get_or_init(|| {
        let out = StdCommand::new(restic_bin())
            .arg("version")
            .output()
            .expect("restic version");
        let text = String::from_utf8_lossy(&out.stdout);
        let v = text.split_whitespace().nth(1).expect("version word");
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    })
}

/// A private directory with helpers to set up repositories and run the binary.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        TestEnv {
            dir: tempfile::Builder::new()
                .prefix("rv-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Unpacks `fixtures/repos/<name>.tar.gz` into this env and returns the repository path.
    pub fn fixture_repo(&self, name: &str) -> PathBuf {
        let tarball = manifest_dir()
            .join("fixtures/repos")
            .join(format!("{name}.tar.gz"));
        assert!(tarball.exists(), "missing fixture {}", tarball.display());
        let dest = self.path("repos");
        std::fs::create_dir_all(&dest).expect("mkdir");
        let st = StdCommand::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&dest)
            .status()
            .expect("tar");
        assert!(st.success(), "unpacking {}", tarball.display());
        dest.join(name)
    }

    /// Writes a password file with mode 0600.
    pub fn password_file(&self, name: &str, content: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path(name);
        std::fs::write(&p, content).expect("write password");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }

    pub fn fixture_password(&self) -> PathBuf {
        self.password_file("password", &format!("{FIXTURE_PASSWORD}\n"))
    }

    /// The binary under test, sealed from the caller's restic environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("restic-verify").expect("binary");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("RESTIC_") {
                c.env_remove(&k);
            }
        }
        c.env("RESTIC_VERIFY_RESTIC", restic_bin());
        c.env("RESTIC_VERIFY_LOG", "info");
        c.current_dir(self.dir.path());
        c.timeout(std::time::Duration::from_secs(300));
        c
    }

    /// `restic-verify check` on `repo` with the fixture password, JSONL and metrics.
    pub fn check(&self, repo: &Path) -> Command {
        let pw = self.fixture_password();
        let mut c = self.cmd();
        c.arg("check")
            .arg("--repo")
            .arg(repo)
            .arg("--password-file")
            .arg(pw)
            .arg("--results")
            .arg(self.path("results.jsonl"))
            .arg("--metrics")
            .arg(self.path("metrics.prom"));
        c
    }

    /// A plain restic command on `repo` with the fixture password (test setup only).
    pub fn restic(&self, repo: &Path) -> StdCommand {
        let mut c = StdCommand::new(restic_bin());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RESTIC_") {
                c.env_remove(k);
            }
        }
        c.env("RESTIC_REPOSITORY", repo)
            .env("RESTIC_PASSWORD", FIXTURE_PASSWORD)
            .env("RESTIC_CACHE_DIR", self.path("test-restic-cache"));
        c
    }

    pub fn records(&self) -> Vec<Value> {
        read_jsonl(&self.path("results.jsonl"))
    }

    pub fn last_record(&self) -> Value {
        self.records().pop().expect("at least one JSONL record")
    }

    pub fn metrics(&self) -> String {
        std::fs::read_to_string(self.path("metrics.prom")).expect("metrics file")
    }
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line {l:?}: {e}")))
        .collect()
}

/// Runs `promtool check metrics` on a textfile; panics with its output when it objects.
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = StdCommand::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect(
            "promtool not found: install Debian's `prometheus` package (scripts/setup.sh does)",
        );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool rejected the metrics:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of one sample in a textfile.
pub fn sample(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("series {series} not in:\n{text}"));
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("value")
}

/// Every path below `dir` (not following symlinks); nothing for a missing `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// Lists the lock files of a repository.
pub fn locks(repo: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(repo.join("locks"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A repository with ~400 MiB of incompressible data, so `check --read-data` runs
/// long enough to be interrupted mid-way. Built with the restic under test.
pub fn big_repo(env: &TestEnv) -> PathBuf {
    let src = env.path("big-src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let st = StdCommand::new("sh")
        .arg("-c")
        .arg("head -c 400M /dev/urandom > big-src/data.bin")
        .current_dir(env.dir.path())
        .status()
        .expect("generate data");
    assert!(st.success());
    let repo = env.path("big-repo");
    let init = env.restic(&repo).arg("init").output().expect("init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let backup = env
        .restic(&repo)
        .args(["backup", "--host", "big"])
        .arg(&src)
        .output()
        .expect("backup");
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    repo
}

impl TestEnv {
    /// Unpacks `fixtures/source.tar.gz` (the tree of snapshot 3, mtimes preserved)
    /// and returns the `source` directory.
    pub fn source_tree(&self) -> PathBuf {
        let dest = self.path("live");
        std::fs::create_dir_all(&dest).expect("mkdir");
        let st = StdCommand::new("tar")
            .arg("xzf")
            .arg(manifest_dir().join("fixtures/source.tar.gz"))
            .arg("-C")
            .arg(&dest)
            .status()
            .expect("tar");
        assert!(st.success());
        dest.join("source")
    }

    /// `restic-verify restore-test` on `repo`, comparing with `source`, restoring
    /// into this env's `test-dir`.
    pub fn restore_test(&self, repo: &Path, source: &Path) -> Command {
        let pw = self.fixture_password();
        let test_dir = self.path("test-dir");
        std::fs::create_dir_all(&test_dir).expect("mkdir");
        let mut c = self.cmd();
        c.arg("restore-test")
            .arg("--repo")
            .arg(repo)
            .arg("--password-file")
            .arg(pw)
            .arg("--map")
            .arg(format!("/source={}", source.display()))
            .arg("--test-dir")
            .arg(&test_dir)
            .arg("--results")
            .arg(self.path("results.jsonl"))
            .arg("--metrics")
            .arg(self.path("metrics.prom"));
        c
    }

    /// Entries left in the test dir.
    pub fn test_dir_entries(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path("test-dir"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

/// A digest of every path, mode, size, file mtime and file content under `dir`:
/// equal before and after a run proves the run wrote nothing there. A repository's
/// `locks/` is left out: restic itself takes (and removes) a lock while it restores.
pub fn tree_digest(dir: &Path) -> String {
    let out = StdCommand::new("sh")
        .arg("-c")
        .arg("find . -path ./locks -prune -o -printf '%p %m %s\\n' | LC_ALL=C sort | sha256sum; find . -path ./locks -prune -o -type f -printf '%p %T@\\n' | LC_ALL=C sort | sha256sum; find . -path ./locks -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum")
        .current_dir(dir)
        .output()
        .expect("digest");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts the exit code of a finished run, showing its stderr when it differs.
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the suite runs under CI (`CI=true`), where nothing may be skipped.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestEnv {
    /// The binary under test started through `wrapper` (e.g. `setpriv … --`), with
    /// the same sealed environment as `cmd`.
    pub fn cmd_via(&self, wrapper: &[&str]) -> Command {
        let (program, args) = wrapper.split_first().expect("a wrapper program");
        let mut c = Command::new(program);
        c.args(args)
            .arg(assert_cmd::cargo::cargo_bin("restic-verify"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("RESTIC_") {
                c.env_remove(&k);
            }
        }
        c.env("RESTIC_VERIFY_RESTIC", restic_bin());
        c.env("RESTIC_VERIFY_LOG", "info");
        c.current_dir(self.dir.path());
        c.timeout(std::time::Duration::from_secs(300));
        c
    }
}

/// The subcommands `--help` lists (without `help`).
pub fn subcommands(env: &TestEnv) -> Vec<String> {
    let text = stdout(env, &["--help"]);
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

/// The stdout of a run that must exit 0.
pub fn stdout(env: &TestEnv, args: &[&str]) -> String {
    let out = env.cmd().args(args).output().expect("run");
    assert_exit(&out, 0);
    String::from_utf8(out.stdout).expect("utf-8")
}
