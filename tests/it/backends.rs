//! restic-verify against real backends and as the real service user, on whichever
//! restic RESTIC_VERIFY_TEST_RESTIC names: a REST server (Debian's `rclone serve
//! restic`) and an SFTP server on a non-default port (Debian's openssh-server, reached
//! through `--option sftp.command=…`), a REST server killed mid-restore, a loopback
//! proxy that breaks connections in front of a damaged repository, a stale lock left
//! on the REST server by a SIGKILLed restic, and the binary run as an unprivileged
//! user with CAP_DAC_READ_SEARCH, as the shipped units run it. Every server is
//! started here on loopback; a missing one fails the test (scripts/setup.sh installs
//! them).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::servers::{RestServer, SftpServer};
use crate::util::{self, TestEnv};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn error_message(r: &Value) -> &str {
    r["error"]["message"].as_str().unwrap_or_default()
}

/// Asserts a run passed and that it left nothing in the test dir nor a lock in `repo`.
fn assert_pass(env: &TestEnv, out: &std::process::Output, repo: &Path) -> Value {
    util::assert_exit(out, 0);
    let r = env.last_record();
    assert_eq!(r["outcome"], "pass", "{r}");
    assert!(
        env.test_dir_entries().is_empty(),
        "left in the test dir: {:?}",
        env.test_dir_entries()
    );
    assert!(
        util::locks(repo).is_empty(),
        "locks left: {:?}",
        util::locks(repo)
    );
    r
}

#[test]
fn backends_rest_check_read_data_and_restore_test_pass() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let server = RestServer::start(&env, &env.path("repos"), &[]);
    let url = server.url("clean");
    let out = env.check(Path::new(&url)).output().expect("run");
    let r = assert_pass(&env, &out, &repo);
    assert_eq!(r["repository"], "clean");
    assert_eq!(r["check"]["snapshots"], 3, "{r}");
    let out = env
        .check(Path::new(&url))
        .arg("--read-data")
        .output()
        .expect("run");
    assert_pass(&env, &out, &repo);
    let src = env.source_tree();
    let out = env
        .restore_test(Path::new(&url), &src)
        .args(["--sample", "1000"])
        .output()
        .expect("run");
    let r = assert_pass(&env, &out, &repo);
    assert_eq!(r["restore_test"]["sampled"], 38, "{r}");
}

#[test]
fn backends_sftp_on_a_non_default_port_is_reached_through_sftp_command() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let mut sshd = SftpServer::start(&env);
    let url = sshd.url(&repo);
    let option = sshd.option();
    let out = env
        .check(Path::new(&url))
        .args(["--name", "nas", "--option", &option])
        .output()
        .expect("run");
    assert!(out.status.success(), "sshd log:\n{}", sshd.log());
    assert_pass(&env, &out, &repo);
    let out = env
        .check(Path::new(&url))
        .args(["--name", "nas", "--option", &option, "--read-data"])
        .output()
        .expect("run");
    assert_pass(&env, &out, &repo);
    let src = env.source_tree();
    let out = env
        .restore_test(Path::new(&url), &src)
        .args(["--name", "nas", "--option", &option, "--sample", "1000"])
        .output()
        .expect("run");
    let r = assert_pass(&env, &out, &repo);
    assert_eq!(r["restore_test"]["sampled"], 38, "{r}");

    // Without the option restic runs plain `ssh 127.0.0.1 -s sftp`: port 22, where
    // nothing listens (`network`; a host with its own sshd refuses the key: `auth`).
    let out = env
        .check(Path::new(&url))
        .args(["--name", "nas", "--retries", "0", "--timeout", "60s"])
        .output()
        .expect("run");
    let r = env.last_record();
    assert_eq!(r["outcome"], "error", "{r}");
    let category = r["error"]["category"].as_str().unwrap_or_default();
    assert!(["network", "auth"].contains(&category), "{r}");
    util::assert_exit(&out, 3);

    // The server gone: a network error that says how restic reaches it.
    sshd.stop();
    let out = env
        .check(Path::new(&url))
        .args(["--name", "nas", "--option", &option, "--retries", "0"])
        .args(["--timeout", "60s"])
        .output()
        .expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["outcome"], "error", "{r}");
    assert_eq!(r["error"]["category"], "network", "{r}");
    assert!(error_message(&r).contains("sftp.command"), "{r}");
    assert!(util::locks(&repo).is_empty());
}

/// A stand-in for ssh (a fake: it makes restic's race certain) that refuses the
/// login the way ssh does, but prints `Permission denied` only after closing its
/// stdout: restic sees the SFTP session end and exits before it copies ssh's stderr.
/// Each start is counted in `starts`.
fn late_refusing_ssh(env: &TestEnv) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let starts = env.path("ssh-starts");
    let script = env.path("late-refusing-ssh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# A fake ssh: refuses the login after closing stdout.\necho started >> '{}'\nexec 1>&-\nsleep 0.3\necho 'restic@nas.example: Permission denied (publickey).' >&2\nexit 255\n",
            starts.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, starts)
}

#[test]
fn backends_sftp_refused_login_restic_did_not_print_is_auth_and_not_retried() {
    let env = TestEnv::new();
    let (ssh, starts) = late_refusing_ssh(&env);
    let out = env
        .check(Path::new("sftp:nas.example:/srv/restic"))
        .args(["--name", "nas", "--retries", "2", "--option"])
        .arg(format!(
            "sftp.command={} nas.example -s sftp",
            ssh.display()
        ))
        .output()
        .expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["error"]["category"], "auth", "{r}");
    let message = error_message(&r);
    assert!(message.contains("Permission denied (publickey)"), "{r}");
    assert!(message.contains("ssh again"), "{r}");
    assert!(
        message.contains("`-i KEY`"),
        "the hint names ssh's key: {r}"
    );
    // restic once, ssh asked once; a refused key is not retried.
    let started = std::fs::read_to_string(&starts).expect("starts");
    assert_eq!(started.lines().count(), 2, "{r}");
}

#[test]
fn backends_rest_server_killed_mid_restore_is_an_error_and_leaves_nothing() {
    let env = TestEnv::new();
    env.fixture_repo("clean");
    // 100 KiB/s: the 1 MiB file takes about 10 s to arrive.
    let mut server = RestServer::start(&env, &env.path("repos"), &["--bwlimit", "100k"]);
    let url = server.url("clean");
    let src = env.source_tree();
    let test_dir = env.path("test-dir");
    std::fs::create_dir_all(&test_dir).expect("mkdir");
    let child = StdCommand::new(assert_cmd::cargo::cargo_bin("restic-verify"))
        .env("RESTIC_VERIFY_RESTIC", util::restic_bin())
        .env("RESTIC_VERIFY_RUNTIME_DIR", env.dir.path())
        .arg("restore-test")
        .args(["--repo", &url, "--password-file"])
        .arg(env.fixture_password())
        .arg("--map")
        .arg(format!("/source={}", src.display()))
        .args(["--always", "/source/big/random-1m.bin", "--sample", "1"])
        .args(["--timeout", "15s", "--retries", "0", "--test-dir"])
        .arg(&test_dir)
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    // The private restore directory exists from just before restic restores into it.
    while env.test_dir_entries().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the restore never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    server.kill();
    let killed_at = Instant::now();
    let out = child.wait_with_output().expect("wait");
    eprintln!(
        "restic-verify ended {:?} after the server was killed:\n{}",
        killed_at.elapsed(),
        stderr(&out)
    );
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["outcome"], "error", "{r}");
    let category = r["error"]["category"].as_str().unwrap_or_default();
    assert!(
        ["network", "timeout"].contains(&category),
        "category {category}: {r}\n{}",
        stderr(&out)
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(90),
        "the run outlived its timeout by far"
    );
    assert!(
        env.test_dir_entries().is_empty(),
        "left in the test dir: {:?}",
        env.test_dir_entries()
    );
}

/// A loopback TCP proxy in front of `upstream` that breaks connections where a
/// flaky network would hurt most, while packs are read: the first `RESETS`
/// requests for a pack (`GET …/data/…`) get their connection reset before they are
/// answered (the request is left unread, so closing the socket sends a RST), and
/// the first response longer than `CUT_AFTER` bytes is cut there. A broken request
/// for the repository's `config` would be fatal to restic 0.14 at once (it does not
/// retry that one), so those pass.
struct FlakyProxy {
    port: u16,
    state: Arc<ProxyState>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct ProxyState {
    stop: AtomicBool,
    resets_left: AtomicUsize,
    cut_done: AtomicBool,
    broken: AtomicUsize,
}

const RESETS: usize = 3;
const CUT_AFTER: usize = 300 * 1024;

impl FlakyProxy {
    fn start(upstream: u16) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(ProxyState {
            resets_left: AtomicUsize::new(RESETS),
            ..ProxyState::default()
        });
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let state = shared.clone();
                std::thread::spawn(move || FlakyProxy::serve(client, upstream, &state));
            }
        });
        FlakyProxy {
            port,
            state,
            thread: Some(thread),
        }
    }

    fn serve(client: TcpStream, upstream: u16, state: &Arc<ProxyState>) {
        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        let reset = Arc::new(AtomicBool::new(false));
        let (mut c_read, mut s_write) = (
            client.try_clone().expect("clone"),
            server.try_clone().expect("clone"),
        );
        let (up_state, up_reset) = (state.clone(), reset.clone());
        let up = std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            // Requests are looked at before they are read (peek), so that a pack
            // request can be left unread and the connection reset.
            while let Ok(n) = c_read.peek(&mut buf) {
                if n == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf[..n.min(512)]).into_owned();
                let pack_read = line.starts_with("GET ")
                    && line.lines().next().is_some_and(|l| l.contains("/data/"));
                if pack_read
                    && up_state
                        .resets_left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                        .is_ok()
                {
                    up_reset.store(true, Ordering::SeqCst);
                    up_state.broken.fetch_add(1, Ordering::SeqCst);
                    let _ = s_write.shutdown(Shutdown::Both);
                    return;
                }
                let Ok(k) = c_read.read(&mut buf[..n]) else {
                    break;
                };
                if s_write.write_all(&buf[..k]).is_err() {
                    break;
                }
            }
            let _ = s_write.shutdown(Shutdown::Write);
        });
        let (mut s_read, mut c_write) = (server, client);
        let mut sent = 0usize;
        let mut buf = [0u8; 16 * 1024];
        while let Ok(k) = s_read.read(&mut buf) {
            if k == 0 {
                break;
            }
            let cut = sent + k > CUT_AFTER
                && state
                    .cut_done
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
            let k = if cut { CUT_AFTER - sent } else { k };
            if c_write.write_all(&buf[..k]).is_err() {
                break;
            }
            sent += k;
            if cut {
                state.broken.fetch_add(1, Ordering::SeqCst);
                break;
            }
        }
        let _ = s_read.shutdown(Shutdown::Both);
        // A reset connection is closed with its request unread: the kernel sends a
        // RST (a shutdown would send a FIN first). The flag is set before the
        // server side is shut down, so it is seen here.
        if !reset.load(Ordering::SeqCst) {
            let _ = c_write.shutdown(Shutdown::Both);
        }
        let _ = up.join();
    }

    fn broken(&self) -> usize {
        self.state.broken.load(Ordering::SeqCst)
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn backends_rest_behind_a_resetting_proxy_flipped_byte_still_fails_read_data() {
    let env = TestEnv::new();
    env.fixture_repo("flipped-byte");
    let server = RestServer::start(&env, &env.path("repos"), &[]);
    let proxy = FlakyProxy::start(server.port);
    let url = format!("rest:http://127.0.0.1:{}/flipped-byte", proxy.port);
    let out = env
        .check(Path::new(&url))
        .args(["--read-data", "--timeout", "5m"])
        .output()
        .expect("run");
    let r = env.last_record();
    eprintln!(
        "the proxy broke {} connections; restic-verify said:\n{}",
        proxy.broken(),
        stderr(&out)
    );
    assert!(proxy.broken() > 0, "the proxy broke no connection");
    assert_eq!(
        r["outcome"],
        "fail",
        "damage behind a flaky network must still be `fail` (broken connections: {}): {r}\n{}",
        proxy.broken(),
        stderr(&out)
    );
    util::assert_exit(&out, 1);
}

#[test]
fn backends_rest_stale_lock_of_a_sigkilled_restic_is_locked_with_the_unlock_hint() {
    let env = TestEnv::new();
    let repo = env.fixture_repo("clean");
    let server = RestServer::start(&env, &env.path("repos"), &[]);
    let url = server.url("clean");
    // `backup --stdin` takes a lock and waits on its stdin.
    let mut holder = env
        .restic(Path::new(&url))
        .args(["backup", "--stdin", "--stdin-filename", "held"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("restic backup --stdin");
    let start = Instant::now();
    let written = |p: &PathBuf| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    while util::locks(&repo).is_empty() || !util::locks(&repo).iter().all(written) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "restic took no lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    holder.kill().expect("SIGKILL");
    holder.wait().expect("wait");
    assert_eq!(util::locks(&repo).len(), 1, "the stale lock stays behind");

    let begun = Instant::now();
    let out = env
        .check(Path::new(&url))
        .args(["--lock-wait", "2s", "--timeout", "2m"])
        .output()
        .expect("run");
    util::assert_exit(&out, 3);
    let r = env.last_record();
    assert_eq!(r["outcome"], "error", "{r}");
    assert_eq!(r["error"]["category"], "locked", "{r}\n{}", stderr(&out));
    assert!(error_message(&r).contains("restic unlock"), "{r}");
    assert!(
        begun.elapsed() < Duration::from_secs(60),
        "a lock-wait of 2s took {:?}",
        begun.elapsed()
    );
    assert_eq!(
        util::locks(&repo).len(),
        1,
        "not removed without unlock-stale"
    );
}

/// `setpriv` as the shipped units run the service: an unprivileged user whose only
/// privilege is CAP_DAC_READ_SEARCH (read every file, search every directory).
const SERVICE_USER: [&str; 6] = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
];
const NOBODY: u32 = 65534;

/// A source tree with what a real one has and a service user cannot own: files of
/// root and of another user, mode 0600 files, a 0700 directory of another user, and
/// setuid/setgid executables.
fn foreign_source(env: &TestEnv) -> PathBuf {
    use std::os::unix::fs::{chown, PermissionsExt};
    let src = env.path("srv-data");
    let sub = src.join("alice-private");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let files: [(&str, &[u8], u32, u32); 7] = [
        ("root-owned.txt", b"owned by root\n", 0, 0o644),
        ("other-owned.txt", b"owned by uid 4242\n", 4242, 0o644),
        ("private-0600.txt", b"root's secret\n", 0, 0o600),
        ("setuid-tool", b"#!/bin/sh\necho setuid\n", 0, 0o4755),
        ("setgid-tool", b"#!/bin/sh\necho setgid\n", 0, 0o2755),
        ("setuid-other", b"#!/bin/sh\necho other\n", 4242, 0o6750),
        ("alice-private/notes.txt", b"alice's notes\n", 4242, 0o600),
    ];
    for (name, content, uid, mode) in files {
        let p = src.join(name);
        std::fs::write(&p, content).expect("write");
        chown(&p, Some(uid), Some(uid)).expect("chown (run as root)");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    chown(&sub, Some(4242), Some(4242)).expect("chown");
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    src
}

#[test]
fn backends_service_user_with_dac_read_search_passes_restore_test_check_and_audit() {
    let env = TestEnv::new();
    if !nix::unistd::Uid::effective().is_root() {
        assert!(
            !util::ci(),
            "the service-user test needs root (chown, setpriv); CI runs as root"
        );
        eprintln!("skipping the service-user test: not root");
        return;
    }
    let setpriv = StdCommand::new("setpriv").arg("--version").output();
    assert!(
        setpriv.is_ok_and(|o| o.status.success()),
        "setpriv not found: install Debian's `util-linux` (scripts/setup.sh does)"
    );
    let src = foreign_source(&env);
    let repo = env.path("service-repo");
    for args in [vec!["init"], vec!["backup", src.to_str().expect("utf-8")]] {
        let out = env.restic(&repo).args(&args).output().expect("restic");
        assert!(out.status.success(), "restic {args:?}: {}", stderr(&out));
    }
    // The service user writes its locks into the repository, its results into its
    // own directories (as StateDirectory=/RuntimeDirectory= give it).
    let st = StdCommand::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(&repo)
        .status()
        .expect("chmod");
    assert!(st.success());
    let mine = |name: &str| {
        let d = env.path(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::os::unix::fs::chown(&d, Some(NOBODY), Some(NOBODY)).expect("chown");
        d
    };
    let (test_dir, out_dir, run_dir) = (mine("test-dir"), mine("out"), mine("run"));
    let src_before = util::tree_digest(&src);

    let out = env
        .cmd_via(&SERVICE_USER)
        .env("RESTIC_VERIFY_RUNTIME_DIR", &run_dir)
        .arg("restore-test")
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .args(["--sample", "100", "--verbose-results", "--test-dir"])
        .arg(&test_dir)
        .arg("--results")
        .arg(out_dir.join("results.jsonl"))
        .output()
        .expect("run");
    let records = util::read_jsonl(&out_dir.join("results.jsonl"));
    let r = records.last().expect("a record");
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(out_dir.join("results.jsonl")).expect("results"),
    );
    assert_eq!(owner, NOBODY, "the run was not the service user's");
    // Metadata a non-root restic cannot restore (owners, setuid/setgid) is not damage.
    assert_eq!(r["outcome"], "pass", "{r}\n{}", stderr(&out));
    util::assert_exit(&out, 0);
    let files = r["restore_test"]["files"].as_array().expect("files");
    assert_eq!(files.len(), 7, "{r}");
    for f in files {
        assert_eq!(f["class"], "match", "{f}");
    }
    assert!(
        env.test_dir_entries().is_empty(),
        "left in the test dir: {:?}",
        env.test_dir_entries()
    );
    assert_eq!(
        util::tree_digest(&src),
        src_before,
        "the source was written"
    );

    // The audit reads every file as the service user: it may not open other owners'
    // files with O_NOATIME (EPERM), and reads them without it.
    let out = env
        .cmd_via(&SERVICE_USER)
        .env("RESTIC_VERIFY_RUNTIME_DIR", &run_dir)
        .arg("audit")
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .arg("--results")
        .arg(out_dir.join("results.jsonl"))
        .output()
        .expect("run");
    let r = util::read_jsonl(&out_dir.join("results.jsonl"))
        .pop()
        .expect("record");
    assert_eq!(r["kind"], "audit", "{r}");
    assert_eq!(r["outcome"], "pass", "{r}\n{}", stderr(&out));
    util::assert_exit(&out, 0);
    assert_eq!(r["audit"]["files_verified"], 7, "{r}");
    assert_eq!(
        util::tree_digest(&src),
        src_before,
        "the audit wrote the source"
    );

    let out = env
        .cmd_via(&SERVICE_USER)
        .env("RESTIC_VERIFY_RUNTIME_DIR", &run_dir)
        .arg("check")
        .arg("--repo")
        .arg(&repo)
        .arg("--password-file")
        .arg(env.fixture_password())
        .arg("--results")
        .arg(out_dir.join("results.jsonl"))
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let r = util::read_jsonl(&out_dir.join("results.jsonl"))
        .pop()
        .expect("record");
    assert_eq!(r["outcome"], "pass", "{r}");
    assert!(
        util::locks(&repo).is_empty(),
        "the service user's lock is gone"
    );
}

#[test]
fn backends_validate_shows_options_and_refuses_secrets_in_them() {
    let env = TestEnv::new();
    let profile = env.path("profile.toml");
    let pw = env.fixture_password();
    let text = format!(
        r#"[defaults]
password-file = "{pw}"
options = ["sftp.command=ssh -p 2222 -i /etc/restic-verify/id_ed25519 nas -s sftp"]
limit-download = 2048

[repository.nas]
url = "sftp:nas:/srv/restic"

[repository.offsite]
url = "s3:s3.example.com/bucket"
options = ["s3.storage-class=STANDARD_IA"]

[job.weekly]
kind = "check"
repositories = ["nas", "offsite"]
"#,
        pw = pw.display()
    );
    std::fs::write(&profile, &text).expect("write");
    let out = env
        .cmd()
        .arg("validate")
        .arg("--config")
        .arg(&profile)
        .output()
        .expect("run");
    util::assert_exit(&out, 0);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains(
            "  option: -o sftp.command=ssh -p 2222 -i /etc/restic-verify/id_ed25519 nas -s sftp"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("  option: -o s3.storage-class=STANDARD_IA"),
        "{plan}"
    );
    assert!(plan.contains("  limit-download: 2048 KiB/s"), "{plan}");

    std::fs::write(
        &profile,
        text.replace("s3.storage-class=STANDARD_IA", "s3.secret-key=hunter2"),
    )
    .expect("write");
    let out = env
        .cmd()
        .arg("validate")
        .arg("--config")
        .arg(&profile)
        .output()
        .expect("run");
    util::assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(
            "[repository.offsite] `options`: `s3.secret-key` looks like it carries a secret"
        ) && err.contains("`env-file`"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
