//! An SFTP repository read in process (`backend::sftp`), on whichever restic
//! RESTIC_VERIFY_TEST_RESTIC names (run on every restic version: restic itself
//! writes the repository over SFTP here). Debian's openssh-server on a loopback
//! port is reached only through an ssh config alias in a test home's
//! `~/.ssh/config` (port, user, key, known host): ssh reads that from the passwd
//! entry's home, not `$HOME`, so the test gives restic and restic-verify a passwd
//! entry of their own through nss_wrapper (Debian's `libnss-wrapper`,
//! `LD_PRELOAD`), which the ssh they start inherits like any user's environment.
//! No `sftp.command` anywhere: restic and restic-verify both run `ssh ALIAS -s sftp`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use serde_json::Value;

use crate::packread::{data_pack, pack_path};
use crate::servers::SftpServer;
use crate::util::{self, TestEnv};

/// The ssh config alias of the test server.
const ALIAS: &str = "rvsftp";

/// A repository that restic made over SFTP through the alias, and how to reach it.
struct Sftp {
    env: TestEnv,
    sshd: SftpServer,
    home: PathBuf,
    /// nss_wrapper and the test home, for every process that runs ssh.
    vars: Vec<(&'static str, OsString)>,
    /// The repository's directory as sshd serves it (local to this machine).
    repo: PathBuf,
    url: String,
    source: PathBuf,
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A passwd entry for this user whose home is `home`, and the variables that make
/// every dynamically linked program (ssh) see it.
fn nss_wrapper(env: &TestEnv, home: &Path) -> Vec<(&'static str, OsString)> {
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid)
        .expect("getpwuid")
        .expect("this user has a passwd entry");
    let passwd = env.path("passwd");
    std::fs::write(
        &passwd,
        format!(
            "{}:x:{}:{}:{}:{}:/bin/sh\n",
            user.name,
            uid,
            user.gid,
            user.name,
            home.display()
        ),
    )
    .expect("passwd");
    assert!(
        Path::new("/usr/lib/x86_64-linux-gnu/libnss_wrapper.so").exists()
            || Path::new("/usr/lib/aarch64-linux-gnu/libnss_wrapper.so").exists(),
        "libnss_wrapper.so not found: install Debian's `libnss-wrapper` (scripts/setup.sh does)"
    );
    vec![
        ("LD_PRELOAD", "libnss_wrapper.so".into()),
        ("NSS_WRAPPER_PASSWD", passwd.into()),
        ("NSS_WRAPPER_GROUP", "/etc/group".into()),
        ("HOME", home.into()),
    ]
}

/// The test home's `~/.ssh`: the alias, the user key where ssh looks by default,
/// the server's host key as the only known host.
fn ssh_home(env: &TestEnv, sshd: &SftpServer) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let home = env.path("home");
    let dot = home.join(".ssh");
    std::fs::create_dir_all(&dot).expect("mkdir");
    std::fs::set_permissions(&dot, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let key = std::fs::read_to_string(&sshd.key).expect("user key");
    write_private(&dot.join("id_ed25519"), &key);
    let host_key = sshd.key.with_file_name("host_key.pub");
    let host_key = std::fs::read_to_string(host_key).expect("host key");
    write_private(
        &dot.join("known_hosts"),
        &format!("[127.0.0.1]:{} {}", sshd.port, host_key.trim()),
    );
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .expect("getpwuid")
        .expect("user");
    write_private(
        &dot.join("config"),
        &format!(
            "Host {ALIAS}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
            sshd.port, user.name
        ),
    );
    home
}

impl Sftp {
    /// sshd, the test home, and a repository that restic inits and fills with a
    /// backup of the fixture source over SFTP through the alias.
    fn new() -> Sftp {
        let env = TestEnv::new();
        let sshd = SftpServer::start(&env);
        let home = ssh_home(&env, &sshd);
        let vars = nss_wrapper(&env, &home);
        let repo = env.path("repo");
        let url = format!("sftp:{ALIAS}:{}", repo.display());
        let source = env.source_tree();
        let s = Sftp {
            env,
            sshd,
            home,
            vars,
            repo,
            url,
            source,
        };
        s.restic(&["init"]);
        let src = s.source.display().to_string();
        s.restic(&["backup", "--no-scan", &src]);
        s
    }

    /// restic over SFTP (test setup); it must succeed.
    fn restic(&self, args: &[&str]) {
        let mut c: StdCommand = self.env.restic(Path::new(&self.url));
        c.env_remove("SSH_AUTH_SOCK")
            .envs(self.vars.iter().cloned());
        // 0.14 has no --no-scan.
        let args: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| *a != "--no-scan" || util::restic_version() >= (0, 15))
            .collect();
        let out = c.args(&args).output().expect("restic");
        assert!(
            out.status.success(),
            "restic {args:?}: {}\nsshd log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.sshd.log()
        );
    }

    /// `restic-verify SUB --repo sftp:ALIAS:… --name nas` with the fixture password,
    /// JSONL and metrics; no `sftp.command`.
    fn rv(&self, sub: &str) -> assert_cmd::Command {
        let mut c = self.env.cmd();
        c.env_remove("SSH_AUTH_SOCK")
            .envs(self.vars.iter().cloned());
        c.arg(sub)
            .args(["--repo", &self.url, "--name", "nas", "--password-file"])
            .arg(self.env.fixture_password())
            .arg("--results")
            .arg(self.env.path("results.jsonl"))
            .arg("--metrics")
            .arg(self.env.path("metrics.prom"));
        c
    }

    /// Runs `c`, asserts its exit code, returns the record it wrote.
    fn ran(&self, c: &mut assert_cmd::Command, code: i32) -> Value {
        let out = c.output().expect("run");
        if out.status.code() != Some(code) {
            eprintln!("sshd log:\n{}", self.sshd.log());
        }
        util::assert_exit(&out, code);
        self.env.last_record()
    }
}

/// A file's bytes changed with its size and mtime kept (bit rot).
fn rot(path: &Path) {
    let mtime = std::fs::metadata(path)
        .expect("stat")
        .modified()
        .expect("mtime");
    let mut bytes = std::fs::read(path).expect("read");
    bytes[0] ^= 0x55;
    std::fs::write(path, &bytes).expect("write");
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(mtime)
        .expect("touch");
}

#[test]
fn backends_sftp_alias_check_ledger_restore_test_and_audit() {
    let s = Sftp::new();
    // Check with rotation and a state dir: the ledger knows every pack's size,
    // listed over SFTP, equal to the file sshd serves.
    let r = s.ran(
        s.rv("check")
            .args(["--read-data-subset", "rotate/2", "--state-dir"])
            .arg(s.env.path("state")),
        0,
    );
    assert_eq!(r["outcome"], "pass", "{r}");
    let ledger: Value = serde_json::from_slice(
        &std::fs::read(s.env.path("state/ledger-nas.json")).expect("ledger"),
    )
    .expect("json");
    let packs = ledger["packs"].as_object().expect("packs");
    let on_disk: Vec<PathBuf> = util::walk(&s.repo.join("data"))
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(packs.len(), on_disk.len(), "{ledger}");
    for file in &on_disk {
        let name = file.file_name().expect("name").to_string_lossy();
        let size = std::fs::metadata(file).expect("stat").len();
        assert_eq!(packs[&name[..16]]["size"], size, "{name}: {ledger}");
    }
    let unread = util::sample(
        &s.env.metrics(),
        "restic_verify_unread_bytes{job=\"check\",repository=\"nas\"}",
    );
    assert!(unread.is_finite(), "unread bytes unknown");

    // A 10-file restore test.
    let test_dir = s.env.path("test-dir");
    std::fs::create_dir_all(&test_dir).expect("mkdir");
    let r = s.ran(
        s.rv("restore-test")
            .args(["--sample", "10", "--test-dir"])
            .arg(&test_dir),
        0,
    );
    assert_eq!(r["restore_test"]["sampled"], 10, "{r}");

    // The audit: every file of the snapshot matches its source.
    let r = s.ran(&mut s.rv("audit"), 0);
    assert_eq!(r["outcome"], "pass", "{r}");
    let counts = r["audit"]["counts"].as_object().expect("counts");
    for (class, n) in counts {
        if class != "match" {
            assert_eq!(n, 0, "{class}: {r}");
        }
    }
    assert!(counts["match"].as_u64().expect("match") >= 38, "{r}");

    // Bit rot in the source: the audit fails naming the file.
    rot(&s.source.join("docs/lorem.txt"));
    let r = s.ran(&mut s.rv("audit"), 1);
    assert_eq!(r["audit"]["counts"]["mismatch"], 1, "{r}");
    assert!(r.to_string().contains("docs/lorem.txt"), "{r}");

    // Another key where ssh looks: the server refuses the login, `auth`, exit 3,
    // for the audit and the check alike.
    let other = s.env.path("other_key");
    let st = StdCommand::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    write_private(
        &s.home.join(".ssh/id_ed25519"),
        &std::fs::read_to_string(&other).expect("key"),
    );
    for sub in ["audit", "check"] {
        let r = s.ran(s.rv(sub).args(["--retries", "0"]), 3);
        assert_eq!(r["error"]["category"], "auth", "{sub}: {r}");
    }
}

#[test]
fn backends_sftp_flipped_pack_byte_is_named_and_a_stopped_server_is_network() {
    let mut s = Sftp::new();
    let (pack, blobs) = data_pack(&s.env, &s.repo, &|_| true);
    let offset = blobs[0]["offset"].as_u64().expect("offset") + 20;
    let path = pack_path(&s.repo, &pack);
    let mut bytes = std::fs::read(&path).expect("pack");
    bytes[offset as usize] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let names = |r: &Value| {
        r["damage"]["packs"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == pack.as_str()))
    };
    // restic's check --read-data over SFTP names the pack …
    let r = s.ran(s.rv("check").arg("--read-data"), 1);
    assert!(names(&r), "{pack}: {r}");
    // … and so does the in-process read of never-read packs, over SFTP.
    let r = s.ran(
        s.rv("check")
            .args(["--read-data-subset", "new", "--state-dir"])
            .arg(s.env.path("state")),
        1,
    );
    assert!(names(&r), "{pack}: {r}");
    assert_eq!(r["check"]["read"]["broken"], 1, "{r}");

    // The server stopped: `network`, exit 3, for the check and the audit alike.
    s.sshd.stop();
    for sub in ["check", "audit"] {
        let r = s.ran(s.rv(sub).args(["--retries", "0", "--timeout", "60s"]), 3);
        assert_eq!(r["error"]["category"], "network", "{sub}: {r}");
        let message = r["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&s.url), "{sub}: {r}");
    }
}
