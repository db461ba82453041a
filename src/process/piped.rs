//! Long-lived children that a client talks to over their stdin and stdout (the
//! `ssh … -s sftp` of an SFTP repository), through the same door as every other
//! child: their own process group, the environment sealed as for restic (inherited
//! variables with the reserved prefix removed, then the caller's own, never
//! logged), and stderr drained for their whole life into a capped tail the caller
//! reads for its error messages (a full stderr pipe would stall the child).
//!
//! stdin and stdout are handed to the caller (`Piped::take_io`). There is no
//! deadline of its own: the child lives as long as the `Piped`; the caller bounds
//! each request it makes. Dropping a `Piped` kills its process group with SIGKILL
//! (a ProxyCommand of ssh included); `exited` tells whether the child is gone and
//! how, without waiting longer than asked.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{ChildStdin, ChildStdout};

use super::child::{signal_group, spawn_error, Error};
use crate::secret::Secret;

/// The child's stdin and stdout as `take_io` hands them over.
pub type PipedStdin = ChildStdin;
pub type PipedStdout = ChildStdout;

/// How much of the end of a piped child's stderr is kept.
const TAIL_KEEP: usize = 16 * 1024;

/// What to start with piped stdin and stdout.
#[derive(Debug)]
pub struct PipedSpec<'a> {
    pub program: &'a Path,
    pub args: &'a [OsString],
    /// Inherited variables whose names start with this are removed (`RESTIC_`).
    pub sealed_prefix: Option<&'a str>,
    /// Variables for this child only (never logged).
    pub env: &'a [(String, Secret)],
}

/// A running child with piped stdin and stdout. Dropping it kills its group.
#[derive(Debug)]
pub struct Piped {
    child: tokio::process::Child,
    pid: Option<u32>,
    program: PathBuf,
    io: Option<(ChildStdin, ChildStdout)>,
    tail: Arc<Mutex<String>>,
    /// The task reading stderr into `tail`; ends at the pipe's end.
    stderr_reader: Option<tokio::task::JoinHandle<()>>,
    /// Its exit was collected: the process ID may belong to someone else now.
    reaped: bool,
}

/// Starts `spec` with piped stdin and stdout. Must be called within a tokio
/// runtime (the child and its stderr reader belong to it).
///
/// # Errors
/// The program is missing or cannot be started.
pub fn spawn_piped(spec: PipedSpec<'_>) -> Result<Piped, Error> {
    let mut cmd = tokio::process::Command::new(spec.program);
    cmd.args(spec.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(prefix) = spec.sealed_prefix {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with(prefix) {
                cmd.env_remove(key);
            }
        }
    }
    for (k, v) in spec.env {
        cmd.env(k, v.expose());
    }
    let program = spec.program.to_owned();
    let mut child = cmd.spawn().map_err(|e| spawn_error(&program, e))?;
    let tail = Arc::new(Mutex::new(String::new()));
    let stderr_reader = child
        .stderr
        .take()
        .map(|err| tokio::spawn(keep_tail(err, Arc::clone(&tail))));
    let io = match (child.stdin.take(), child.stdout.take()) {
        (Some(i), Some(o)) => Some((i, o)),
        _ => None,
    };
    let pid = child.id();
    let Some(io) = io else {
        signal_group(pid, Signal::SIGKILL);
        return Err(Error::Io {
            program,
            source: std::io::Error::other("stdin or stdout pipe was not set up"),
        });
    };
    Ok(Piped {
        child,
        pid,
        program,
        io: Some(io),
        tail,
        stderr_reader,
        reaped: false,
    })
}

impl Piped {
    /// Its stdin and stdout, once.
    pub fn take_io(&mut self) -> Option<(ChildStdin, ChildStdout)> {
        self.io.take()
    }

    /// The program it runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The end of what it wrote to stderr so far (unredacted).
    pub fn stderr_tail(&self) -> String {
        self.tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How it ended, if it ends within `within` (`None`: still running). Once it
    /// has ended, also waits (up to `within` again) until its stderr is read to the
    /// end, so that `stderr_tail` holds its last words: the reason ssh gave for
    /// giving up comes last, and is what `classify` reads.
    pub async fn exited(&mut self, within: Duration) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        self.reaped = status.is_some();
        if self.reaped {
            if let Some(reader) = self.stderr_reader.take() {
                // A grandchild (ssh's ProxyCommand) may hold the pipe open: bounded.
                let _ = tokio::time::timeout(within, reader).await;
            }
        }
        status
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        // Not reaped: its process ID still names it (a zombie at worst).
        if !self.reaped {
            signal_group(self.pid, Signal::SIGKILL);
        }
    }
}

/// Reads `pipe` to its end, keeping the last `TAIL_KEEP` bytes or so in `tail`.
async fn keep_tail(mut pipe: impl AsyncRead + Unpin, tail: Arc<Mutex<String>>) {
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut t = tail
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                t.push_str(&String::from_utf8_lossy(&buf[..n]));
                if t.len() > TAIL_KEEP {
                    let mut cut = t.len() - TAIL_KEEP;
                    while !t.is_char_boundary(cut) {
                        cut += 1;
                    }
                    t.drain(..cut);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::tests::sh;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    fn spec<'a>(args: &'a [OsString], env: &'a [(String, Secret)]) -> PipedSpec<'a> {
        PipedSpec {
            program: Path::new("/bin/sh"),
            args,
            sealed_prefix: Some("RVTEST_PIPED_"),
            env,
        }
    }

    fn dead(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    #[tokio::test]
    async fn piped_child_talks_over_its_pipes_with_a_sealed_environment() {
        std::env::set_var("RVTEST_PIPED_LEAK", "inherited");
        let args =
            sh("read x; echo \"$x ${RVTEST_PIPED_LEAK:-unset} $RVTEST_PIPED_MINE\"; echo oops >&2");
        let env = [("RVTEST_PIPED_MINE".to_owned(), Secret::new("given"))];
        let mut p = spawn_piped(spec(&args, &env)).expect("spawn");
        let (mut stdin, mut stdout) = p.take_io().expect("io");
        stdin.write_all(b"hello\n").await.expect("write");
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.expect("read");
        assert_eq!(out, "hello unset given\n");
        let status = p.exited(Duration::from_secs(30)).await.expect("exited");
        assert!(status.success());
        // stderr is read by its own task: wait for it, not for a time.
        let start = std::time::Instant::now();
        while p.stderr_tail() != "oops\n" {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{:?}",
                p.stderr_tail()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn piped_child_dropped_is_killed_with_its_group() {
        // It ignores SIGINT and SIGTERM, and starts a grandchild in its group.
        let args = sh("trap '' INT TERM; sleep 60 & echo $!; wait");
        let mut p = spawn_piped(spec(&args, &[])).expect("spawn");
        let pid = p.child.id().expect("pid");
        let (_stdin, stdout) = p.take_io().expect("io");
        let mut line = String::new();
        tokio::io::BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("read line");
        let grandchild: u32 = line.trim().parse().expect("grandchild pid");
        assert!(p.exited(Duration::from_millis(1)).await.is_none());
        drop(p);
        let start = std::time::Instant::now();
        while !(dead(pid) && dead(grandchild)) {
            assert!(start.elapsed() < Duration::from_secs(30), "not killed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn piped_child_exited_has_read_its_stderr_to_the_end() {
        // The last words come after the child itself is gone (from a grandchild
        // holding the pipe, as ssh's ProxyCommand may): `exited` waits for the
        // pipe's end, not only for the exit.
        let args = sh("(sleep 0.3; echo 'Permission denied (publickey).' >&2) & exit 255");
        let mut p = spawn_piped(spec(&args, &[])).expect("spawn");
        let status = p.exited(Duration::from_secs(30)).await.expect("exited");
        assert_eq!(status.code(), Some(255));
        assert_eq!(p.stderr_tail(), "Permission denied (publickey).\n");
    }

    #[tokio::test]
    async fn piped_missing_program_is_not_found() {
        let r = spawn_piped(PipedSpec {
            program: Path::new("/nonexistent/ssh"),
            args: &[],
            sealed_prefix: None,
            env: &[],
        });
        assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    }
}
