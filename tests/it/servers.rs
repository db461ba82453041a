//! Real servers on loopback, each stopped when dropped: for the notifier tests an
//! HTTP server that records requests (tests/servers/http_recorder.py), an SMTP server
//! that stores messages (tests/servers/smtp_server.py, Debian's aiosmtpd), Prometheus'
//! Pushgateway and node_exporter (Debian's packages); for the backend tests a restic
//! REST server (Debian's rclone) and an SFTP server (Debian's openssh-server) with a
//! generated host key and user key. A missing server fails the test.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{self, TestEnv};

/// Debian's python, which has `aiosmtpd` (a pyenv python on PATH may not).
fn system_python() -> PathBuf {
    std::env::var_os("RESTIC_VERIFY_TEST_PYTHON")
        .map_or_else(|| "/usr/bin/python3".into(), PathBuf::from)
}

/// Polls `ready` until it gives a value; fails when `child` exits first (with its
/// stderr) or after 30 s.
fn wait_up<T>(child: &mut Child, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = ready() {
            return v;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited ({status}) before listening:\n{err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_file(path: &Path, child: &mut Child, what: &str) -> String {
    wait_up(child, what, || std::fs::read_to_string(path).ok())
}

fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The HTTP recorder.
pub struct HttpRecorder {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl HttpRecorder {
    /// Starts it with extra `http_recorder.py` arguments (e.g. `--status 500`).
    pub fn start(env: &TestEnv, name: &str, extra: &[&str]) -> HttpRecorder {
        let port_file = env.path(&format!("{name}.port"));
        let log = env.path(&format!("{name}.requests.jsonl"));
        let mut child = StdCommand::new("python3")
            .arg(util::manifest_dir().join("tests/servers/http_recorder.py"))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 for tests/servers/http_recorder.py");
        let port = wait_for_file(&port_file, &mut child, "http_recorder.py")
            .trim()
            .parse()
            .expect("port");
        HttpRecorder { child, port, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Value> {
        util::read_jsonl(&self.log)
    }
}

impl Drop for HttpRecorder {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The SMTP server.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Starts it; with `auth`, AUTH is required and only these credentials pass.
    pub fn start(env: &TestEnv, auth: Option<(&str, &str)>) -> SmtpServer {
        SmtpServer::start_with(env, auth, None)
    }

    /// Starts it with STARTTLS required, serving `cert`/`key` (PEM files).
    pub fn start_with(
        env: &TestEnv,
        auth: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
    ) -> SmtpServer {
        let port_file = env.path("smtp.port");
        let maildir = env.path("maildir");
        let mut c = StdCommand::new(system_python());
        c.arg(util::manifest_dir().join("tests/servers/smtp_server.py"))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--maildir")
            .arg(&maildir);
        if let Some((u, p)) = auth {
            c.args(["--user", u, "--password", p]);
        }
        if let Some((cert, key)) = tls {
            c.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("/usr/bin/python3 with aiosmtpd (Debian's python3-aiosmtpd; scripts/setup.sh installs it)");
        let port = wait_for_file(
            &port_file,
            &mut child,
            "smtp_server.py (needs python3-aiosmtpd)",
        )
        .trim()
        .parse()
        .expect("port");
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// Messages received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for n in 1.. {
            match std::fs::read_to_string(self.maildir.join(format!("{n}.json"))) {
                Ok(t) => out.push(serde_json::from_str(&t).expect("message json")),
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A plain HTTP GET on loopback; the body of a 200 answer.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_owned()))
}

/// A Prometheus exporter-like server started from a Debian binary.
pub struct Exporter {
    child: Child,
    pub port: u16,
}

impl Exporter {
    fn start(bin: &str, args: &[String], package: &str) -> Exporter {
        let port = free_port();
        let mut child = StdCommand::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{bin}: {e}; install Debian's `{package}` (scripts/setup.sh does)")
            });
        wait_up(&mut child, bin, || http_get(port, "/metrics"));
        Exporter { child, port }
    }

    /// Prometheus' Pushgateway, keeping what is pushed in memory only: Debian's
    /// build persists to /var/lib/prometheus/pushgateway.data by default, so every
    /// test's Pushgateway would start with the groups earlier ones pushed (the same
    /// job and instance names) and write outside the test's directory.
    pub fn pushgateway() -> Exporter {
        Exporter::start(
            "prometheus-pushgateway",
            &["--persistence.file=".to_owned()],
            "prometheus-pushgateway",
        )
    }

    /// node_exporter with only the textfile collector, reading `dir`.
    pub fn node_exporter(dir: &Path) -> Exporter {
        Exporter::start(
            "prometheus-node-exporter",
            &[
                "--collector.disable-defaults".to_owned(),
                "--collector.textfile".to_owned(),
                format!("--collector.textfile.directory={}", dir.display()),
            ],
            "prometheus-node-exporter",
        )
    }

    pub fn metrics(&self) -> String {
        http_get(self.port, "/metrics").expect("/metrics")
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A private CA and a certificate for 127.0.0.1 signed by it (openssl), for TLS
/// tests: returns (ca.pem, cert.pem, key.pem).
pub fn test_ca(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    let d = env.path("pki");
    std::fs::create_dir_all(&d).unwrap();
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=restic-verify test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout key.pem -out req.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile ext.cnf 2>/dev/null
"#;
    let st = StdCommand::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(&d)
        .status()
        .expect("openssl (Debian's `openssl`; scripts/setup.sh installs it)");
    assert!(st.success(), "openssl could not make the test CA");
    (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"))
}

/// Waits until something accepts TCP connections on `port`; fails when `child` exits
/// first (with the log it wrote) or after 30 s.
fn wait_listening(child: &mut Child, port: u16, what: &str, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited ({status}) before listening:\n{text}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not start listening on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A restic REST server: Debian's `rclone serve restic` on loopback, serving every
/// repository under `dir` as `rest:http://127.0.0.1:PORT/NAME`.
pub struct RestServer {
    child: Child,
    pub port: u16,
}

impl RestServer {
    /// Serves `dir` (e.g. the env's `repos/`, where `fixture_repo` unpacks), with
    /// extra rclone flags (e.g. `--bwlimit 100k`).
    pub fn start(env: &TestEnv, dir: &Path, extra: &[&str]) -> RestServer {
        let port = free_port();
        let log = env.path(&format!("rclone-{port}.log"));
        let mut child = StdCommand::new("rclone")
            .args(["serve", "restic", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .arg(dir)
            // No rclone.conf is needed; keep rclone from reading the caller's.
            .env("RCLONE_CONFIG", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("rclone log"))
            .spawn()
            .expect("rclone not found: install Debian's `rclone` (scripts/setup.sh does)");
        wait_listening(&mut child, port, "rclone serve restic", &log);
        RestServer { child, port }
    }

    /// restic's URL of the repository `name` under the served directory.
    pub fn url(&self, name: &str) -> String {
        format!("rest:http://127.0.0.1:{}/{name}", self.port)
    }

    /// SIGKILL: the server dies as a crashed or unplugged one would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// An SFTP server: Debian's openssh-server (`sshd -D`) on a loopback port with its
/// own host key, accepting one generated user key for this machine's user (`root`
/// in CI), sftp served by `internal-sftp`. The restic repository is reached with
/// `-o sftp.command=…` (`option()`), as a user with a non-default port would.
pub struct SftpServer {
    child: Child,
    pub port: u16,
    /// The private key the server accepts.
    pub key: PathBuf,
    log: PathBuf,
}

impl SftpServer {
    pub fn start(env: &TestEnv) -> SftpServer {
        use std::os::unix::fs::PermissionsExt;
        let d = env.path("sshd");
        std::fs::create_dir_all(&d).expect("mkdir sshd");
        for key in ["host_key", "user_key"] {
            let st = StdCommand::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .expect("ssh-keygen not found: install Debian's `openssh-client` (scripts/setup.sh does)");
            assert!(st.success(), "ssh-keygen failed");
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        std::fs::set_permissions(
            d.join("authorized_keys"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        // sshd refuses to start without its privilege separation directory.
        if !Path::new("/run/sshd").is_dir() {
            std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd (run as root)");
            std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755))
                .expect("chmod /run/sshd");
        }
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 AuthorizedKeysFile {auth}\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PidFile none\n\
                 Subsystem sftp internal-sftp\n",
                host = d.join("host_key").display(),
                auth = d.join("authorized_keys").display(),
            ),
        )
        .expect("sshd_config");
        let port = free_port();
        let log = d.join(format!("sshd-{port}.log"));
        let mut server = SftpServer {
            child: SftpServer::spawn(&config, port, &log),
            port,
            key: d.join("user_key"),
            log,
        };
        wait_listening(&mut server.child, port, "sshd", &server.log);
        server
    }

    fn spawn(config: &Path, port: u16, log: &Path) -> Child {
        // sshd must be started by its absolute path (it re-executes itself).
        StdCommand::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(config)
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("sshd log"))
            .spawn()
            .expect("/usr/sbin/sshd not found: install Debian's `openssh-server` (scripts/setup.sh does)")
    }

    /// restic's URL of the repository at `path` on this server.
    pub fn url(&self, path: &Path) -> String {
        format!("sftp:127.0.0.1:{}", path.display())
    }

    /// The `sftp.command` option restic needs for this server: restic runs it as
    /// given and appends nothing, so it names the host and `-s sftp` itself.
    pub fn option(&self) -> String {
        format!(
            "sftp.command=ssh -p {} -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR 127.0.0.1 -s sftp",
            self.port,
            self.key.display()
        )
    }

    /// Stops the server; connections refused from now on.
    pub fn stop(&mut self) {
        stop(&mut self.child);
    }

    /// What sshd logged (for messages of failed tests).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// An S3 API on loopback: moto's server mode (PyPI `moto[server]`, installed by
/// scripts/setup.sh), in memory, gone when dropped. It accepts any keys unless
/// started `checking_keys`: then it refuses every request whose access key it
/// never issued (moto's `INITIAL_NO_AUTH_ACTION_COUNT=0`).
pub struct MotoServer {
    child: Child,
    pub port: u16,
}

impl MotoServer {
    pub fn start(env: &TestEnv, checking_keys: bool) -> MotoServer {
        let port = free_port();
        let log = env.path(&format!("moto-{port}.log"));
        let mut cmd = StdCommand::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p"]).arg(port.to_string());
        if checking_keys {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("moto log"))
            .spawn()
            .expect("moto_server not found: `pip install 'moto[server]'` (scripts/setup.sh does)");
        wait_listening(&mut child, port, "moto_server", &log);
        MotoServer { child, port }
    }

    /// restic's URL of `bucket/prefix` on this server.
    pub fn url(&self, bucket_and_prefix: &str) -> String {
        format!("s3:http://127.0.0.1:{}/{bucket_and_prefix}", self.port)
    }

    /// Stops the server (a server down, as the operator would find it).
    pub fn stop(&mut self) {
        stop(&mut self.child);
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
