//! Why a restic call failed, from its exit code and stderr (pure): restic's exit
//! codes as an enum, stderr classified into a `Category`, the line that says best
//! what went wrong, who holds a lock, and which `check` lines report damage.

use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

use super::json;
use crate::finding::Category;

/// How much of stderr an error message quotes.
const STDERR_TAIL: usize = 8 * 1024;

/// restic's exit status, as its scripting documentation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResticExit {
    Success,
    /// 1: fatal error (0.14 uses it for nearly everything).
    Fatal,
    /// 2: Go runtime error; also `dump` with a missing path.
    Runtime,
    /// 3: backup could not read some source data.
    PartialRead,
    /// 10 (≥ 0.17): repository does not exist.
    RepositoryMissing,
    /// 11 (≥ 0.17): failed to lock the repository.
    LockFailed,
    /// 12 (≥ 0.17.1): wrong password.
    WrongPassword,
    /// 130: interrupted (SIGINT).
    Interrupted,
    /// Killed by a signal (SIGTERM, SIGKILL, SIGPIPE).
    Signal(i32),
    /// Anything else; restic's docs say it MUST be treated as a failure.
    Other(i32),
}

impl ResticExit {
    pub fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match status.code() {
            Some(0) => ResticExit::Success,
            Some(1) => ResticExit::Fatal,
            Some(2) => ResticExit::Runtime,
            Some(3) => ResticExit::PartialRead,
            Some(10) => ResticExit::RepositoryMissing,
            Some(11) => ResticExit::LockFailed,
            Some(12) => ResticExit::WrongPassword,
            Some(130) => ResticExit::Interrupted,
            Some(c) => ResticExit::Other(c),
            None => ResticExit::Signal(status.signal().unwrap_or(0)),
        }
    }
}

impl fmt::Display for ResticExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResticExit::Success => f.write_str("exit 0"),
            ResticExit::Fatal => f.write_str("exit 1"),
            ResticExit::Runtime => f.write_str("exit 2"),
            ResticExit::PartialRead => f.write_str("exit 3"),
            ResticExit::RepositoryMissing => f.write_str("exit 10"),
            ResticExit::LockFailed => f.write_str("exit 11"),
            ResticExit::WrongPassword => f.write_str("exit 12"),
            ResticExit::Interrupted => f.write_str("exit 130"),
            ResticExit::Signal(s) => write!(f, "killed by signal {s}"),
            ResticExit::Other(c) => write!(f, "exit {c}"),
        }
    }
}

/// What `restic snapshots` prints on stderr for a snapshot file it cannot load
/// before leaving it out of its output and exiting 0: 0.14 says `could not load
/// snapshot <id>: …`, 0.18 says `Ignoring "<id>": failed to load snapshot <id>: …`.
pub const SNAPSHOT_LOAD_MARKERS: [&str; 3] = [
    "could not load snapshot",
    "unable to load snapshot",
    "failed to load snapshot",
];

/// Text restic prints when it found damage while loading what it needs.
const CORRUPTION_MARKERS: [&str; 10] = [
    "failed to load snapshot",
    "repository contains errors",
    "LoadIndex returned errors",
    "error loading index",
    "ciphertext verification failed",
    "Pack ID does not match",
    "could not load snapshot",
    "unexpected end of JSON input",
    "invalid data returned",
    "load <snapshot/",
];

pub(super) const NETWORK_MARKERS: [&str; 10] = [
    "connection refused",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "connection reset",
    "TLS handshake timeout",
    "no route to host",
    "dial tcp",
    "server misbehaving",
    "context deadline exceeded",
];

/// What restic and the ssh or rclone it starts print when an SFTP or rclone backend
/// cannot be reached (ssh capitalises `Connection refused`). 0.14 ends with
/// `unable to start the sftp session, error: EOF`, 0.18 with `error receiving
/// version packet from server: server unexpectedly closed connection`; whether the
/// `subprocess ssh:` line before it is printed at all depends on timing.
const BACKEND_NETWORK_MARKERS: [&str; 10] = [
    "unable to start the sftp session",
    "error receiving version packet from server",
    "server unexpectedly closed connection",
    "ssh: connect to host",
    "ssh: Could not resolve hostname",
    "Connection refused",
    "Connection timed out",
    "Connection closed by",
    "connection lost",
    "error talking HTTP to rclone",
];

/// What the backend's own program prints when it is set up wrong: a missing
/// `sftp.command`/`rclone.program` binary, ssh refusing the host key, an rclone
/// remote that its config does not define. Retrying does not help. (The server
/// refusing ssh's login, `Permission denied (publickey)`, is `auth`.)
const BACKEND_CONFIG_MARKERS: [&str; 4] = [
    "fork/exec ",
    "executable file not found",
    "Host key verification failed",
    "didn't find section in config file",
];

/// What an object store says when it refuses the keys (S3 and S3-compatible: a
/// HEAD answered 403 is minio-go's `Access Denied.`; Azure, GCS: 401/403 texts).
const BACKEND_AUTH_MARKERS: [&str; 8] = [
    "Access Denied",
    "AccessDenied",
    "InvalidAccessKeyId",
    "The AWS Access Key Id you provided does not exist",
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match",
    "AuthenticationFailed",
    "AuthorizationFailure",
];

/// How the line restic-verify adds to restic's stderr begins when it started ssh
/// again to see why restic could not start the SFTP session (`ssh_reason_lost`);
/// the category `backend::sftp` gave ssh's answer (`auth`, `config`, `network`),
/// a colon and ssh's words follow.
pub const SSH_ASKED: &str = "restic-verify started ssh again to see why:";

/// The category of a line restic-verify added after asking ssh (`SSH_ASKED`).
fn ssh_asked_category(line: &str) -> Option<Category> {
    let rest = line.strip_prefix(SSH_ASKED)?.trim_start();
    match rest.split(':').next()? {
        "auth" => Some(Category::Auth),
        "config" => Some(Category::Config),
        "network" => Some(Category::Network),
        _ => None,
    }
}

/// Whether restic failed to start an SFTP session without printing why: restic
/// copies ssh's stderr (`subprocess ssh: …`) from a goroutine that its exit does
/// not wait for, so a refused login can end as a bare `unable to start the sftp
/// session`, which reads like a network failure.
pub fn ssh_reason_lost(stderr: &str) -> bool {
    stderr.contains("unable to start the sftp session")
        && !stderr.lines().any(|l| {
            l.starts_with(SSH_ASKED)
                || (l.starts_with("subprocess ssh:") && !l.contains("Warning: Permanently added"))
        })
}

/// Whether restic found the `version` file of its cache empty: another restic of
/// the same run, started at the same moment on the same fresh cache, had created
/// it and not yet written it. restic 0.19 stops there (0.14 and 0.18 go on
/// without the cache); the call is worth starting again.
pub fn cache_version_race(stderr: &str) -> bool {
    stderr.contains("readVersion") && stderr.contains("strconv.ParseUint")
}

/// The credential variables of an object-store URL that stderr names, for the hint.
pub fn backend_auth_hint(stderr: &str) -> Option<&'static str> {
    let has = |m: &str| stderr.contains(m);
    let ssh_refused = || {
        stderr
            .lines()
            .any(|l| ssh_asked_category(l.trim()) == Some(Category::Auth))
    };
    if has("Permission denied (") || ssh_refused() {
        Some("; the SFTP server refused ssh's login: ssh must log in without a prompt, with the key or agent of the user restic-verify runs as (its ~/.ssh/config, or `-i KEY` in `options = [\"sftp.command=ssh -p PORT -i KEY HOST -s sftp\"]`)")
    } else if has("s3:") {
        Some("; the object store refused the keys: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN, AWS_PROFILE) in the repository's env file")
    } else if has("azure:") {
        Some("; the object store refused the keys: check AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY (or AZURE_ACCOUNT_SAS) in the repository's env file")
    } else if has("gs:") {
        Some("; the object store refused the keys: check GOOGLE_APPLICATION_CREDENTIALS in the repository's env file")
    } else if has("b2:") {
        Some("; the object store refused the keys: check B2_ACCOUNT_ID and B2_ACCOUNT_KEY in the repository's env file")
    } else {
        BACKEND_AUTH_MARKERS
            .iter()
            .any(|m| has(m))
            .then_some("; the backend refused the credentials: check the variables of the repository's env file")
    }
}

/// A hint for a failure of an SFTP or rclone backend, when stderr shows one.
pub fn backend_hint(stderr: &str) -> Option<&'static str> {
    let has = |m: &str| stderr.contains(m);
    if has("sftp session") || has("subprocess ssh:") || has("version packet") {
        Some("; for SFTP, `ssh` must log in without a prompt: give the port, key and host in `options = [\"sftp.command=ssh -p PORT -i KEY HOST -s sftp\"]`")
    } else if has("rclone") {
        Some("; for rclone, check the remote in rclone's config and `options = [\"rclone.program=…\"]`")
    } else {
        None
    }
}

/// Decides why a restic call failed, from its exit code and stderr.
///
/// restic ≥ 0.17 says it with exit codes 10/11/12; 0.14 says everything with exit 1,
/// so its stderr is read too, line by line: each line gets a category and the most
/// telling one wins: a refused password or a held lock (nothing ran), then
/// integrity (damage was seen: never retried as a network failure), then transport,
/// then the rest. Unknown failures are `Internal`, never success.
pub fn classify(exit: ResticExit, stderr: &str) -> Category {
    match exit {
        ResticExit::WrongPassword => return Category::Auth,
        ResticExit::LockFailed => return Category::Locked,
        ResticExit::RepositoryMissing => return Category::NotFound,
        ResticExit::Interrupted => return Category::Interrupted,
        _ => {}
    }
    let lines: Vec<&str> = stderr.lines().collect();
    // "Is there a repository…" follows the line that says why on its own line.
    let not_found = stderr.contains("Is there a repository at the following location?")
        || stderr.contains("repository does not exist")
        || (stderr.contains("unable to open config file")
            && stderr.contains("no such file or directory"));
    lines
        .iter()
        .filter_map(|l| classify_line(l))
        .chain(not_found.then_some((Category::NotFound, 6)))
        .min_by_key(|(_, rank)| *rank)
        .map_or(Category::Internal, |(c, _)| c)
}

/// What one stderr line says, if anything, with its precedence (lower wins): a
/// refused password or a held lock (nothing ran), integrity, a backend set up wrong
/// (ssh key, missing program: retrying does not help), transport, a full disk, a
/// missing repository, a malformed location.
fn classify_line(line: &str) -> Option<(Category, u8)> {
    let has = |m: &str| line.contains(m);
    if let Some(c) = ssh_asked_category(line.trim()) {
        // What ssh said when asked again, sorted by `backend::sftp` already.
        let rank = match c {
            Category::Auth => 0,
            Category::Config => 3,
            _ => 4,
        };
        Some((c, rank))
    } else if has("wrong password or no key found")
        || has("an empty password is not a password")
        || has("Resolving password failed")
        || has("password command failed")
        // ssh: the SFTP server refused the login (`user@host: Permission denied
        // (publickey).`); restic's own permission errors are lower case.
        || has("Permission denied (")
    {
        Some((Category::Auth, 0))
    } else if has("unable to create lock")
        && (has("permission denied") || has("read-only file system"))
    {
        // Not a lock held by someone: this user cannot write the repository's locks/.
        Some((Category::Permission, 1))
    } else if BACKEND_AUTH_MARKERS.iter().any(|m| has(m)) {
        // Refused keys: before "Is there a repository…", which restic adds.
        Some((Category::Auth, 0))
    } else if has("repository is already locked") || has("unable to create lock") {
        Some((Category::Locked, 1))
    } else if CORRUPTION_MARKERS.iter().any(|m| has(m)) {
        Some((Category::Corruption, 2))
    } else if BACKEND_CONFIG_MARKERS.iter().any(|m| has(m)) {
        Some((Category::Config, 3))
    } else if NETWORK_MARKERS.iter().any(|m| has(m))
        || BACKEND_NETWORK_MARKERS.iter().any(|m| has(m))
    {
        Some((Category::Network, 4))
    } else if has("no space left on device") {
        Some((Category::NoSpace, 5))
    } else if has("parsing repository location failed") || has("invalid backend") {
        Some((Category::Config, 7))
    } else {
        None
    }
}

/// The line of stderr that says best what went wrong, followed by what ssh said
/// when started again (`SSH_ASKED`), if it was.
pub fn key_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let key = restic_message(&lines);
    match lines.iter().find(|l| l.starts_with(SSH_ASKED)) {
        Some(asked) if **asked != key => format!("{key}; {asked}"),
        _ => key,
    }
}

/// The line restic's own output says best what went wrong in.
fn restic_message(lines: &[&str]) -> String {
    // restic ≥ 0.18 with --json: {"message_type":"exit_error","message":"..."}
    for l in lines.iter().rev() {
        if let Ok(json::Message::ExitError { message, .. }) = serde_json::from_str(l) {
            return one_line(&message);
        }
    }
    let pick = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Fatal:"))
        .or_else(|| lines.iter().find(|l| l.contains("already locked")))
        .or_else(|| lines.iter().rev().find(|l| !l.starts_with('{')))
        .copied()
        .unwrap_or("restic printed nothing on stderr");
    pick.to_owned()
}

/// Joins a multi-line restic message into one line.
pub(super) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The last stderr line that names a network failure, if any.
pub fn network_line(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .rev()
        .find(|l| {
            NETWORK_MARKERS
                .iter()
                .chain(BACKEND_NETWORK_MARKERS.iter())
                .any(|m| l.contains(m))
        })
        .map(|l| l.trim().to_owned())
}

/// Who holds a lock, as restic describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub age: Option<Duration>,
}

impl LockHolder {
    /// Parses `… already locked [exclusively ]by PID 1234 on HOST by USER …` and
    /// `lock was created at … (1h2m3s ago)`.
    pub fn parse(stderr: &str) -> Option<LockHolder> {
        let after = stderr.split("by PID ").nth(1)?;
        let mut words = after.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        if words.next()? != "on" {
            return None;
        }
        let host = words.next()?.to_owned();
        let age = stderr
            .split("lock was created at ")
            .nth(1)
            .and_then(|s| s.split('(').nth(1))
            .and_then(|s| s.split(" ago)").next())
            .and_then(parse_go_duration);
        Some(LockHolder { pid, host, age })
    }

    /// restic's own rule: a lock is stale when it is older than 30 minutes, or when it
    /// was made on this host by a process that no longer exists.
    pub fn is_stale(&self, this_host: &str, pid_alive: impl Fn(u32) -> bool) -> bool {
        self.age.is_some_and(|a| a > Duration::from_secs(30 * 60))
            || (self.host == this_host && !pid_alive(self.pid))
    }
}

/// Parses Go's `time.Duration` text (`1h2m3.5s`, `350ms`, `2.1µs`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' {
                break;
            }
            unit.push(n);
            chars.next();
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += v * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        any = true;
    }
    // A value too large for a Duration (or NaN) is no duration, not a panic.
    (any && num.is_empty())
        .then(|| Duration::try_from_secs_f64(total).ok())
        .flatten()
}

/// The last `STDERR_TAIL` bytes of stderr, cut at a character boundary.
pub fn tail(stderr: &str) -> &str {
    let start = stderr.len().saturating_sub(STDERR_TAIL);
    let start = (start..stderr.len())
        .find(|i| stderr.is_char_boundary(*i))
        .unwrap_or(stderr.len());
    &stderr[start..]
}

/// Lines of `restic check` output that report a problem (text output, restic < 0.18).
pub fn is_check_error_line(line: &str) -> bool {
    const MARKERS: [&str; 10] = [
        "error",
        "Error",
        "does not exist",
        "does not match",
        "not referenced in any index",
        "contains errors",
        "invalid",
        "unexpected",
        "is damaged",
        "failed",
    ];
    !line.is_empty()
        && !line.starts_with("no errors were found")
        // The summary line, and restic's own retries of a missing file, add nothing.
        && line != "Fatal: repository contains errors"
        && !line.contains("returned error, retrying after")
        && !line.contains("check snapshots, trees and blobs")
        && MARKERS.iter().any(|m| line.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        ResticExit::Fatal,
        "Fatal: wrong password or no key found\n",
        Category::Auth
    )]
    #[case(ResticExit::WrongPassword, "", Category::Auth)]
    #[case(
        ResticExit::Fatal,
        "Resolving password failed: Fatal: /x does not exist\n",
        Category::Auth
    )]
    #[case(ResticExit::Fatal, "Fatal: unable to open config file: stat /r/config: no such file or directory\nIs there a repository at the following location?\n/r\n", Category::NotFound)]
    #[case(ResticExit::RepositoryMissing, "", Category::NotFound)]
    #[case(ResticExit::Fatal, "unable to create lock in backend: repository is already locked exclusively by PID 7 on h by u (UID 0, GID 0)\n", Category::Locked)]
    #[case(ResticExit::LockFailed, "", Category::Locked)]
    #[case(
        ResticExit::Fatal,
        "Fatal: repository contains errors\n",
        Category::Corruption
    )]
    #[case(ResticExit::Fatal, "Fatal: unable to open config file: Head \"http://127.0.0.1:1/config\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\n", Category::Network)]
    #[case(
        ResticExit::Fatal,
        "write /tmp/x: no space left on device\n",
        Category::NoSpace
    )]
    #[case(
        ResticExit::Interrupted,
        "signal interrupt received, cleaning up\n",
        Category::Interrupted
    )]
    #[case(ResticExit::Fatal, "Fatal: parsing repository location failed: invalid backend\nIf the repository is in a local directory, you need to add a `local:` prefix\n", Category::Config)]
    #[case(ResticExit::Fatal, "{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: parsing repository location failed: s3: invalid format\"}\n", Category::Config)]
    #[case(ResticExit::Other(42), "", Category::Internal)]
    #[case(
        ResticExit::Fatal,
        "unable to create lock in backend: open /srv/repo/locks/1a2b: permission denied\n",
        Category::Permission
    )]
    #[case(ResticExit::Fatal, "Load(<data/3f2a9c1d>, 0, 0) returned error, retrying after 720ms: read tcp 127.0.0.1:40112->127.0.0.1:8000: read: connection reset by peer\npack 3f2a9c1d: Pack ID does not match, want 3f2a9c1d, got 77aa0b12\nFatal: repository contains errors\n", Category::Corruption)]
    #[case(ResticExit::Fatal, "error: load <snapshot/1a2b3c>: ciphertext verification failed\nFatal: unable to open config file: Get \"http://127.0.0.1:1/config\": dial tcp 127.0.0.1:1: connect: connection refused\n", Category::Corruption)]
    #[case(ResticExit::Signal(9), "", Category::Internal)]
    fn classify_maps_exit_codes_and_0_14_texts(
        #[case] exit: ResticExit,
        #[case] stderr: &str,
        #[case] want: Category,
    ) {
        assert_eq!(classify(exit, stderr), want);
    }

    // Captured from restic 0.14.0 and 0.18.0 against Debian's openssh-server and
    // rclone 1.60 on loopback (sftp.command given with `-o`).
    #[rstest]
    #[case::sshd_down_0_14(
        "subprocess ssh: ssh: connect to host 127.0.0.1 port 2299: Connection refused\nFatal: unable to open repository at sftp:127.0.0.1:/tmp/bk-probe/clean: unable to start the sftp session, error: EOF\n",
        Category::Network
    )]
    #[case::sshd_down_0_18(
        "subprocess ssh: ssh: connect to host 127.0.0.1 port 2299: Connection refused\nFatal: unable to open repository at sftp:127.0.0.1:/tmp/bk-probe/clean: unable to start the sftp session, error: error receiving version packet from server: server unexpectedly closed connection: unexpected EOF\n",
        Category::Network
    )]
    #[case::sshd_down_0_14_without_the_ssh_line(
        "Fatal: unable to open repository at sftp:127.0.0.1:/srv/r: unable to start the sftp session, error: EOF\n",
        Category::Network
    )]
    #[case::unresolvable_0_18(
        "subprocess ssh: ssh: Could not resolve hostname nosuchhost.invalid: Name or service not known\nFatal: unable to open repository at sftp:nosuchhost.invalid:/x: unable to start the sftp session, error: error receiving version packet from server: server unexpectedly closed connection: unexpected EOF\n",
        Category::Network
    )]
    #[case::wrong_key_0_14(
        "subprocess ssh: Warning: Permanently added '[127.0.0.1]:2299' (ED25519) to the list of known hosts.\nsubprocess ssh: root@127.0.0.1: Permission denied (publickey).\nFatal: unable to open repository at sftp:127.0.0.1:/tmp/bk-probe/clean: unable to start the sftp session, error: EOF\n",
        Category::Auth
    )]
    #[case::changed_host_key_0_18(
        "subprocess ssh: Host key for [127.0.0.1]:2299 has changed and you have requested strict checking.\nsubprocess ssh: Host key verification failed.\nFatal: unable to open repository at sftp:127.0.0.1:/tmp/bk-probe/clean: unable to start the sftp session, error: error receiving version packet from server: server unexpectedly closed connection: unexpected EOF\n",
        Category::Config
    )]
    #[case::ssh_program_missing_0_14(
        "Fatal: unable to open repository at sftp:127.0.0.1:/tmp/bk-probe/clean: cmd.Start: fork/exec /nonexistent/ssh: no such file or directory\n",
        Category::Config
    )]
    #[case::sftp_repository_missing_0_14(
        "Fatal: unable to open config file: Lstat: file does not exist\nIs there a repository at the following location?\nsftp:127.0.0.1:/tmp/bk-probe/nope\n",
        Category::NotFound
    )]
    #[case::sftp_url_malformed(
        "Fatal: parsing repository location failed: sftp: invalid format, hostname or path not found\n",
        Category::Config
    )]
    #[case::sftp_url_without_path(
        "Fatal: parsing repository location failed: invalid backend \"sftp://\", no directory specified\n",
        Category::Config
    )]
    #[case::rclone_remote_unknown_0_18(
        "rclone: 2026/12/01 15:33:35 Failed to create file system for \"nosuchremote:clean\": didn't find section in config file\nFatal: unable to open repository at rclone:nosuchremote:clean: error talking HTTP to rclone: exit status 1\n",
        Category::Config
    )]
    #[case::rclone_failed_0_14(
        "Fatal: unable to open repository at rclone:nosuchremote:clean: error talking HTTP to rclone: context canceled\n",
        Category::Network
    )]
    #[case::rclone_program_missing(
        "Fatal: unable to open repository at rclone:x:clean: fork/exec /nonexistent/rclone: no such file or directory\n",
        Category::Config
    )]
    #[case::s3_refused_keys_0_14(
        "Fatal: unable to open config file: Stat: Access Denied.\nIs there a repository at the following location?\ns3:http://127.0.0.1:45124/bkt/repo\n",
        Category::Auth
    )]
    #[case::s3_refused_keys_0_18(
        "Stat(<config/>) failed: Stat: Access Denied.\n{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: unable to open config file: Stat: Access Denied.\\nIs there a repository at the following location?\\ns3:http://127.0.0.1:45124/bkt/repo\"}\n",
        Category::Auth
    )]
    #[case::s3_bad_signature(
        "Fatal: The request signature we calculated does not match the signature you provided. Check your key and signing method.\n",
        Category::Auth
    )]
    fn classify_sftp_and_rclone_backend_failures(#[case] stderr: &str, #[case] want: Category) {
        assert_eq!(classify(ResticExit::Fatal, stderr), want);
    }

    #[test]
    fn backend_hint_names_sftp_command_for_ssh_failures() {
        let sftp = "Fatal: unable to open repository at sftp:h:/r: unable to start the sftp session, error: EOF\n";
        assert!(backend_hint(sftp).is_some_and(|h| h.contains("sftp.command=ssh -p PORT")));
        assert!(network_line(sftp).is_some());
        assert_eq!(
            backend_hint("Fatal: wrong password or no key found\n"),
            None
        );
    }

    // restic 0.18 when ssh's `Permission denied` came after restic's exit.
    const SFTP_LOST_0_18: &str = "Fatal: unable to open repository at sftp:nas:/srv/r: unable to start the sftp session, error: error receiving version packet from server: server unexpectedly closed connection: unexpected EOF\n";

    #[test]
    fn cache_version_race_is_restic_0_19_reading_an_empty_version_file() {
        // restic 0.19.1, captured with an empty `<cache>/<repository ID>/version`.
        let stderr = "unable to open cache: readVersion: readVersion: strconv.ParseUint: parsing \"\": invalid syntax\n{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"strconv.ParseUint: parsing \\\"\\\": invalid syntax\"}\n";
        assert!(cache_version_race(stderr));
        assert!(!cache_version_race(
            "Fatal: wrong password or no key found\n"
        ));
    }

    #[test]
    fn ssh_reason_lost_only_when_no_ssh_line_says_why() {
        assert!(ssh_reason_lost(SFTP_LOST_0_18));
        let warned = format!("subprocess ssh: Warning: Permanently added 'nas' (ED25519) to the list of known hosts.\n{SFTP_LOST_0_18}");
        assert!(ssh_reason_lost(&warned));
        let said =
            format!("subprocess ssh: restic@nas: Permission denied (publickey).\n{SFTP_LOST_0_18}");
        assert!(!ssh_reason_lost(&said));
        let asked = format!("{SFTP_LOST_0_18}{SSH_ASKED} auth: ssh's login was refused\n");
        assert!(!ssh_reason_lost(&asked));
        assert!(!ssh_reason_lost("Fatal: wrong password or no key found\n"));
    }

    #[test]
    fn what_ssh_said_when_asked_again_decides_and_is_shown() {
        assert_eq!(
            classify(ResticExit::Fatal, SFTP_LOST_0_18),
            Category::Network
        );
        let refused = format!("{SFTP_LOST_0_18}{SSH_ASKED} auth: ssh's login was refused; ssh said: restic@nas: Permission denied (publickey).\n");
        assert_eq!(classify(ResticExit::Fatal, &refused), Category::Auth);
        let message = key_message(&refused);
        assert!(message.starts_with("Fatal: unable to open"), "{message}");
        assert!(
            message.ends_with("Permission denied (publickey)."),
            "{message}"
        );
        // restic ≥ 0.18 says its error in JSON.
        let json = format!("{{\"message_type\":\"exit_error\",\"code\":1,\"message\":\"Fatal: unable to open repository at sftp:nas:/srv/r: unable to start the sftp session\"}}\n{SSH_ASKED} auth: ssh said: restic@nas: Permission denied (publickey).\n");
        assert_eq!(classify(ResticExit::Fatal, &json), Category::Auth);
        let message = key_message(&json);
        assert!(message.starts_with("Fatal: unable to open"), "{message}");
        assert!(
            message.ends_with("Permission denied (publickey)."),
            "{message}"
        );
        assert!(backend_auth_hint(&refused).is_some_and(|h| h.contains("-i KEY")));
        // The category is the one backend::sftp gave, whatever ssh's words.
        let options = format!("{SFTP_LOST_0_18}{SSH_ASKED} config: ssh rejected its configuration or arguments; ssh said: command-line: line 0: Bad configuration option: nosuch\n");
        assert_eq!(classify(ResticExit::Fatal, &options), Category::Config);
        let down = format!("{SFTP_LOST_0_18}{SSH_ASKED} network: ssh could not connect; ssh said: ssh: connect to host nas port 22: Connection refused\n");
        assert_eq!(classify(ResticExit::Fatal, &down), Category::Network);
        assert!(backend_auth_hint(&down).is_none());
    }

    #[test]
    fn backend_auth_hint_names_the_schemes_variables() {
        let s3 = "Fatal: unable to open config file: Stat: Access Denied.\ns3:http://h/b/r\n";
        assert!(backend_auth_hint(s3).is_some_and(|h| h.contains("AWS_SECRET_ACCESS_KEY")));
        assert_eq!(
            backend_auth_hint("Fatal: wrong password or no key found\n"),
            None
        );
    }

    #[test]
    fn key_message_prefers_json_exit_error_then_fatal_line() {
        assert_eq!(
            key_message("noise\n{\"message_type\":\"exit_error\",\"code\":12,\"message\":\"Fatal: wrong password or no key found\\n\"}\n"),
            "Fatal: wrong password or no key found"
        );
        assert_eq!(key_message("a\nFatal: boom\nb\n"), "Fatal: boom");
        assert_eq!(key_message(""), "restic printed nothing on stderr");
    }

    #[test]
    fn lock_holder_parses_0_14_message_and_judges_staleness() {
        let stderr = "unable to create lock in backend: repository is already locked exclusively by PID 4242 on myhost by root (UID 0, GID 0)\nlock was created at 2024-01-01 10:00:00 (1h2m3.5s ago)\nstorage ID 1a2b3c4d\n";
        let h = LockHolder::parse(stderr).expect("parsed");
        assert_eq!(h.pid, 4242);
        assert_eq!(h.host, "myhost");
        assert_eq!(h.age, Some(Duration::from_secs_f64(3723.5)));
        assert!(h.is_stale("otherhost", |_| true), "older than 30 min");
        let young = LockHolder {
            age: Some(Duration::from_secs(5)),
            ..h
        };
        assert!(!young.is_stale("myhost", |_| true), "live process");
        assert!(
            young.is_stale("myhost", |_| false),
            "dead process on this host"
        );
        assert!(!young.is_stale("otherhost", |_| false), "other host, young");
    }

    // Restore stderr below is real, captured here from restic 0.14.0 and 0.18.0
    // (paths shortened only where marked `/T` = the restore target).

    #[rstest]
    #[case("1h2m3.5s", Some(3723.5))]
    #[case("350ms", Some(0.35))]
    #[case("2m0s", Some(120.0))]
    #[case("soon", None)]
    #[case("99999999999999999999999h", None)]
    fn parse_go_duration_reads_go_format(#[case] s: &str, #[case] secs: Option<f64>) {
        assert_eq!(parse_go_duration(s).map(|d| d.as_secs_f64()), secs);
    }
}
